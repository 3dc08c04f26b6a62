# Shared by the aws scenarios (sourced). Arguments of a scenario:
#   $1 = the infra binary, $2 = the build directory.
# Gives: $infra, $work (a temp dir removed on exit), $here (tests/aws),
# emulator_start / emulator_stop, the AWS_* environment pointing every
# service at the emulator, and helpers to look at what the emulator holds.
set -euo pipefail
infra=$1
build=${2:-$(dirname "$infra")}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
emulator=$root/tests/emulators/aws/emulator.py
work=$(mktemp -d /tmp/infra-aws.XXXXXX)
emulator_pid=
pool_dir=
export INFRA_PLUGIN_PATH=$build/plugins
export NO_COLOR=1
export PYTHONDONTWRITEBYTECODE=1
# Nothing of the user's own AWS setup may leak in.
export HOME=$work/home
mkdir -p "$HOME"
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_CONFIG_FILE \
  AWS_SHARED_CREDENTIALS_FILE AWS_DEFAULT_REGION AWS_IGNORE_CONFIGURED_ENDPOINT_URLS \
  AWS_ENDPOINT_URL_EC2 AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING AWS_ENDPOINT_URL_AUTO_SCALING \
  AWS_ENDPOINT_URL_ROUTE_53
export AWS_ACCESS_KEY_ID=AKIAINFRATEST0000001
export AWS_SECRET_ACCESS_KEY=emulatorSecretKey0000000000000000000000
export AWS_REGION=us-east-1

# shellcheck source=SCRIPTDIR/../lib.sh
source "$root/tests/lib.sh"

[ -f "$emulator" ] || skip "the AWS emulator is not in this tree"
/usr/bin/python3 -c 'import botocore' 2>/dev/null || skip "python3-botocore is not installed"
command -v jq >/dev/null || skip "jq is not installed"
command -v curl >/dev/null || skip "curl is not installed"

# scenario_cleanup: cleanup for a scenario through the infra binary: down
# (when $is_up is set) of $topo, in the environment $scenario_env when one
# is set, the staged stand-ins ($standins) removed, then cleanup. A
# scenario sets topo, is_up and standins (and scenario_env), then
#   trap scenario_cleanup EXIT
scenario_cleanup() {
  local rc=$?
  trap - EXIT
  set +e
  if [ -n "${is_up:-}" ]; then
    "$infra" down "${topo:-}" ${scenario_env:+-e "$scenario_env"} --yes </dev/null >"$work/down-cleanup.log" 2>&1
  fi
  [ -z "${standins:-}" ] || rm -rf "$(dirname "$standins")"
  (exit $rc)
  cleanup
}

cleanup() {
  local rc=$?
  if [ -n "$emulator_pid" ]; then kill "$emulator_pid" 2>/dev/null || true; wait "$emulator_pid" 2>/dev/null || true; fi
  if [ -n "$pool_dir" ] && [ -f "$pool_dir/pool.yaml" ]; then
    INFRA=$infra "$root/tests/harness/hostpool.sh" destroy "$pool_dir" >"$work/pool-destroy.log" 2>&1 || {
      echo "--- hostpool.sh destroy failed:" >&2
      cat "$work/pool-destroy.log" >&2
      [ $rc -ne 0 ] || rc=1
    }
  fi
  if [ $rc -ne 0 ] && [ -f "$work/emulator.log" ]; then
    echo "--- emulator log (last 40 lines)" >&2
    tail -n 40 "$work/emulator.log" >&2
  fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# seed_write: the seed the scenarios share (account, zones, images, a hosted zone).
seed_write() {
  cat >"$work/seed.json" <<'JSON'
{"account_id": "123456789012",
 "availability_zones": {"us-east-1": ["us-east-1a", "us-east-1b"]},
 "images": [
  {"ImageId": "ami-0a1b2c3d4e5f60001", "Name": "nomad-host-2026-10-01",
   "CreationDate": "2026-10-01T10:00:00.000Z", "OwnerId": "123456789012",
   "Architecture": "x86_64", "State": "available", "Region": "us-east-1"},
  {"ImageId": "ami-0a1b2c3d4e5f60002", "Name": "nomad-host-2026-11-01",
   "CreationDate": "2026-11-01T10:00:00.000Z", "OwnerId": "123456789012",
   "Architecture": "x86_64", "State": "available", "Region": "us-east-1"},
  {"ImageId": "ami-0a1b2c3d4e5f60003", "Name": "nomad-host-2026-12-01",
   "CreationDate": "2026-12-01T10:00:00.000Z", "OwnerId": "123456789012",
   "Architecture": "arm64", "State": "available", "Region": "us-east-1"},
  {"ImageId": "ami-0a1b2c3d4e5f60011", "Name": "web-v1",
   "CreationDate": "2026-09-01T10:00:00.000Z", "OwnerId": "123456789012",
   "Architecture": "x86_64", "State": "available", "Region": "us-east-1"},
  {"ImageId": "ami-0a1b2c3d4e5f60012", "Name": "web-v2",
   "CreationDate": "2026-09-02T10:00:00.000Z", "OwnerId": "123456789012",
   "Architecture": "x86_64", "State": "available", "Region": "us-east-1"}],
 "hosted_zones": [{"Id": "Z0123456789ABC", "Name": "example.org."}]}
JSON
}

# emulator_start [ARGS...]: starts the emulator on a free loopback port with
# the test credentials; sets $port and AWS_ENDPOINT_URL.
emulator_start() {
  seed_write
  rm -f "$work/port"
  /usr/bin/python3 "$emulator" --listen 127.0.0.1:0 --port-file "$work/port" \
    --credentials "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" --seed "$work/seed.json" \
    --log "$work/emulator.log" "$@" >"$work/emulator.out" 2>&1 &
  emulator_pid=$!
  for _ in $(seq 1 100); do
    [ -s "$work/port" ] && break
    kill -0 "$emulator_pid" 2>/dev/null || { cat "$work/emulator.out" >&2; fail "the emulator did not start"; }
    sleep 0.1
  done
  [ -s "$work/port" ] || fail "the emulator wrote no port"
  port=$(tr -d '\n' <"$work/port")
  export AWS_ENDPOINT_URL=http://127.0.0.1:$port
}

emulator_stop() {
  if [ -n "$emulator_pid" ]; then kill "$emulator_pid" 2>/dev/null || true; wait "$emulator_pid" 2>/dev/null || true; fi
  emulator_pid=
}

# emu_state: what the emulator holds, as JSON on stdout.
emu_state() { curl -sf "$AWS_ENDPOINT_URL/_emulator/state"; }
# emu_calls: requests per action.
emu_calls() { curl -sf "$AWS_ENDPOINT_URL/_emulator/calls"; }
# emu_faults RATE: sets the fault rate (every kind).
emu_faults() {
  curl -sf -X POST -d "{\"rate\": $1, \"kinds\": [\"throttle\", \"500\", \"latency\", \"drop\"], \"latency_ms\": 100, \"seed\": ${2:-7}}" \
    "$AWS_ENDPOINT_URL/_emulator/faults" >/dev/null
}
# awsctl ARGS...: signed botocore calls (see awsctl.py).
awsctl() { /usr/bin/python3 "$here/awsctl.py" "$@"; }

# connect_to NAME [PORT]: the curl --connect-to argument that sends a
# connection for NAME:PORT (80) where DNS would: NAME followed through the
# emulator's Route 53 (ListResourceRecordSets: aliases, CNAMEs, wildcards)
# to a load balancer's forwarding listener or to an address. Neither
# /etc/hosts nor a DNS server is involved.
connect_to() {
  local to
  to=$(awsctl resolve "$1" "${2:-80}") || return 1
  echo "$1:${2:-80}:$to"
}

# curl_by_name NAME PATH [PORT] [CURL ARGS...]: GET http://NAME[:PORT]PATH as
# a client resolving NAME through Route 53 would (connect_to); the body on
# stdout, curl's exit status.
curl_by_name() {
  local name=$1 path=$2 port=80 to url
  shift 2
  if [[ ${1:-} =~ ^[0-9]+$ ]]; then port=$1; shift; fi
  to=$(connect_to "$name" "$port") || return 1
  url=http://$name$([ "$port" = 80 ] || echo ":$port")$path
  curl -s --max-time 10 --connect-to "$to" "$@" "$url"
}


# pool_create N: N SSH-reachable namespace hosts (root); sets $pool_dir.
pool_create() {
  [ "$(id -u)" -eq 0 ] || skip "the host pool needs root"
  export PATH=$PATH:/usr/sbin:/sbin
  for tool in ip sshd ssh ssh-keygen ssh-keyscan; do
    command -v "$tool" >/dev/null || skip "$tool is not installed"
  done
  pool_dir=$work/pool
  INFRA=$infra "$root/tests/harness/hostpool.sh" create "$1" "$pool_dir" >/dev/null ||
    fail "hostpool.sh create $1 failed"
}
