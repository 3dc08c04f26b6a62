# Shared by the gcp scenarios (sourced). Arguments of a scenario:
#   $1 = the infra binary, $2 = the build directory.
# Gives: $infra, $work (a temp dir removed on exit), $here (tests/gcp),
# emulator_start / emulator_stop, a service account key the emulator
# trusts in GOOGLE_APPLICATION_CREDENTIALS, the gcloud-style endpoint
# overrides pointing Compute and Cloud DNS at the emulator, gcpctl (calls
# through Google's own client library), state_json (the state as JSON) and
# the host pool helpers.
set -euo pipefail
infra=$1
build=${2:-$(dirname "$infra")}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
emulator=$root/tests/emulators/gcp/emulator.py
work=$(mktemp -d /tmp/infra-gcp.XXXXXX)
emulator_pid=
pool_dir=
export INFRA_PLUGIN_PATH=$build/plugins
export NO_COLOR=1
export PYTHONDONTWRITEBYTECODE=1
# Nothing of the user's own Google setup may leak in.
export HOME=$work/home
mkdir -p "$HOME"
unset GOOGLE_CLOUD_PROJECT CLOUDSDK_CORE_PROJECT CLOUDSDK_CONFIG CLOUDSDK_COMPUTE_ZONE \
  CLOUDSDK_AUTH_TOKEN_HOST GCE_METADATA_HOST GCE_METADATA_ROOT \
  CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE CLOUDSDK_API_ENDPOINT_OVERRIDES_DNS
export CLOUDSDK_COMPUTE_REGION=europe-west1
# Never the metadata server of a machine the tests may run on.
export NO_GCE_CHECK=true
export GCP_TEST_EMAIL=infra@infra-test.iam.gserviceaccount.com

# shellcheck source=SCRIPTDIR/../lib.sh
source "$root/tests/lib.sh"

[ -f "$emulator" ] || skip "the GCP emulator is not in this tree"
/usr/bin/python3 -c 'import jwt, cryptography' 2>/dev/null || skip "python3-jwt / python3-cryptography are not installed"
/usr/bin/python3 -c 'import googleapiclient' 2>/dev/null || skip "python3-googleapi is not installed"
command -v jq >/dev/null || skip "jq is not installed"
command -v curl >/dev/null || skip "curl is not installed"
command -v openssl >/dev/null || skip "openssl is not installed"

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

# seed_write: the project the scenarios share (a region, images of the
# project's own nomad-host family, a managed zone).
seed_write() {
  cat >"$work/seed.json" <<'JSON'
{"project": "infra-test", "project_number": "123456789012",
 "regions": {"europe-west1": ["europe-west1-b", "europe-west1-c", "europe-west1-d"]},
 "quotas": {"CPUS": 64.0},
 "images": [
  {"project": "debian-cloud", "name": "debian-12-bookworm-v20261001", "family": "debian-12",
   "creationTimestamp": "2026-10-01T10:00:00.000+00:00"},
  {"project": "debian-cloud", "name": "debian-12-bookworm-v20261101", "family": "debian-12",
   "creationTimestamp": "2026-11-01T10:00:00.000+00:00"},
  {"project": "infra-test", "name": "nomad-host-2026-10-01", "family": "nomad-host",
   "creationTimestamp": "2026-10-01T10:00:00.000+00:00"},
  {"project": "infra-test", "name": "nomad-host-2026-11-01", "family": "nomad-host",
   "creationTimestamp": "2026-11-01T10:00:00.000+00:00"},
  {"project": "infra-test", "name": "web-v1", "creationTimestamp": "2026-09-01T10:00:00.000+00:00"},
  {"project": "infra-test", "name": "web-v2", "creationTimestamp": "2026-09-02T10:00:00.000+00:00"}],
 "managed_zones": [{"name": "example-org", "dnsName": "example.org.", "description": "tests"}]}
JSON
}

# key_write: a service account key (RSA 2048, PKCS#8) and its public half.
key_write() {
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/sa.pem" 2>/dev/null
  openssl pkey -in "$work/sa.pem" -pubout -out "$work/sa.pub" 2>/dev/null
}

# emulator_start [ARGS...]: starts the emulator on a free loopback port
# trusting the test key; sets $port, $endpoint and the key file whose
# token_uri is the emulator's token endpoint.
emulator_start() {
  seed_write
  [ -f "$work/sa.pem" ] || key_write
  rm -f "$work/port"
  /usr/bin/python3 "$emulator" --listen 127.0.0.1:0 --port-file "$work/port" \
    --service-account "$GCP_TEST_EMAIL=$work/sa.pub" --seed "$work/seed.json" \
    --log "$work/emulator.log" "$@" >"$work/emulator.out" 2>&1 &
  emulator_pid=$!
  for _ in $(seq 1 200); do
    [ -s "$work/port" ] && break
    kill -0 "$emulator_pid" 2>/dev/null || { cat "$work/emulator.out" >&2; fail "the emulator did not start"; }
    sleep 0.1
  done
  [ -s "$work/port" ] || fail "the emulator wrote no port"
  port=$(tr -d '\n' <"$work/port")
  endpoint=http://127.0.0.1:$port
  jq -n --arg key "$(cat "$work/sa.pem")" --arg email "$GCP_TEST_EMAIL" --arg uri "$endpoint/token" \
    '{type: "service_account", project_id: "infra-test", private_key_id: "0123abcd",
      private_key: $key, client_email: $email, client_id: "1234567890",
      auth_uri: "https://accounts.google.com/o/oauth2/auth", token_uri: $uri}' >"$work/key.json"
  chmod 600 "$work/key.json"
  export GOOGLE_APPLICATION_CREDENTIALS=$work/key.json
  export CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE=$endpoint/compute/v1/
  export CLOUDSDK_API_ENDPOINT_OVERRIDES_DNS=$endpoint/dns/v1/
  export GCP_EMULATOR=$endpoint
}

emulator_stop() {
  if [ -n "$emulator_pid" ]; then kill "$emulator_pid" 2>/dev/null || true; wait "$emulator_pid" 2>/dev/null || true; fi
  emulator_pid=
}

# emu_state: what the emulator holds, as JSON on stdout.
emu_state() { curl -sf "$endpoint/_emulator/state"; }
# emu_objects: every object of the project (seeded images aside) as
# "COLLECTION NAME" lines, sorted, and the record sets of the managed zones
# (their apex SOA and NS aside) as "rrsets NAME/TYPE".
emu_objects() {
  emu_state | jq -r '
    ([.projects["infra-test"] // {} | to_entries[] | select(.key != "operations" and .key != "images")
       | .key as $c | .value | .[][] | "\($c) \(.name)"]
     + [.dns // {} | .[] | .rrsets[] | select(.type != "SOA" and .type != "NS") | "rrsets \(.name)/\(.type)"])
    | sort | .[]'
}
# state_objects TOPOLOGY: the objects its state names, as emu_objects lists them.
state_objects() {
  state_json "$1" | jq -r '
    def last: split("/") | .[-1];
    [.resources[] | .type as $t | .attributes as $a |
      if $t == "network" then "networks \($a.name)"
      elif $t == "subnetwork" then "subnetworks \($a.name)"
      elif $t == "firewall" then "firewalls \($a.name)"
      elif $t == "router" then "routers \($a.name)"
      elif $t == "address" then "addresses \($a.name)"
      elif $t == "instance" then ("instances \($a.name)", "disks \($a.name)")
      elif $t == "instance_template" then
        ("instanceTemplates \($a.name)", ($a.retired[]? | "instanceTemplates \(last)"))
      elif $t == "instance_group" then
        ("instanceGroupManagers \($a.name)", ($a.instances[] | last | "instances \(.)", "disks \(.)"))
      elif $t == "instance_group_manager" then
        ("instanceGroupManagers \($a.name)", ($a.instance_names[] | "instances \(.)", "disks \(.)"))
      elif $t == "load_balancer" then
        ("httpHealthChecks \($a.health_check | last)", "targetPools \($a.target_pool | last)",
         "forwardingRules \($a.forwarding_rule | last)")
      elif $t == "dns_record" then "rrsets \($a.fqdn)./\($a.type)"
      else empty end] | sort | .[]'
}

# emu_calls: authenticated API calls per method.
emu_calls() { curl -sf "$endpoint/_emulator/calls"; }
# emu_faults RATE [SEED]: sets the fault rate (every kind).
emu_faults() {
  curl -sf -X POST -d "{\"rate\": $1, \"kinds\": [\"ratelimit\", \"userratelimit\", \"500\", \"503\", \"latency\", \"drop\"], \"latency_ms\": 100, \"seed\": ${2:-7}}" \
    "$endpoint/_emulator/faults" >/dev/null
}
# gcpctl ARGS...: calls through googleapiclient (see gcpctl.py).
gcpctl() { /usr/bin/python3 "$here/gcpctl.py" "$@"; }

# api METHOD PATH [BODY]: one authenticated API call with curl (PATH below
# the emulator's root: "compute/v1/projects/..."), the answer on stdout; a
# token of google-auth's is fetched once. Quicker than gcpctl for the many
# changes the scenarios make behind infra's back.
api() {
  local method=$1 path=$2 body=${3:-}
  [ -s "$work/api-token" ] || gcpctl token >"$work/api-token"
  local args=(-sS --fail-with-body -X "$method" -H "Authorization: Bearer $(cat "$work/api-token")")
  [ -z "$body" ] || args+=(-H "Content-Type: application/json" -d "$body")
  curl "${args[@]}" "$endpoint/$path"
}
# api_wait METHOD PATH [BODY]: a mutation, waited for until its operation is
# DONE; fails when the operation ended with an error.
api_wait() {
  local op link
  op=$(api "$@") || { echo "$op" >&2; return 1; }
  link=$(echo "$op" | jq -r .selfLink | sed 's|^https://www.googleapis.com/||')
  for _ in $(seq 1 400); do
    echo "$op" | jq -e '.status == "DONE"' >/dev/null && break
    sleep 0.05
    op=$(api GET "$link")
  done
  echo "$op" | jq -e '.status == "DONE" and (.error | not)' >/dev/null || { echo "$op" >&2; return 1; }
}
# compute_path REST: "compute/v1/projects/infra-test/REST".
compute_path() { echo "compute/v1/projects/infra-test/$1"; }

# state_json TOPOLOGY [ENV]: the state of TOPOLOGY as JSON on stdout. The
# only place that knows where and how the state is kept.
state_json() {
  "$infra" state pull "$1" -e "${2:-default}"
}
# attr TOPOLOGY ADDRESS KEY: one attribute of a resource in the state.
attr() { state_json "$1" | jq -r ".resources[\"$2\"].attributes.$3"; }

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
