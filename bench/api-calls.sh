#!/usr/bin/env bash
# Benchmark: the AWS API calls infra makes for examples/aws-nomad.yaml with N
# Nomad hosts (default 300; the subnet widened to a /22 so that they fit),
# against the AWS emulator of tests/emulators/aws: a create (infra up), an
# idle plan, an idle up, then the down. Calls are counted by the emulator
# itself (/_emulator/calls, every signed request that passed
# authentication) and printed per action and phase, with the wall time of
# each phase.
#
#   bench/api-calls.sh                          # N=300
#   N=50 bench/api-calls.sh
#   INFRA=/other/build/infra bench/api-calls.sh # another build, to compare
#
# Targets (docs/aws.md, "API calls"): an idle up makes at most one read call
# per resource type and zone (12 here, DescribeAvailabilityZones of
# configure included); the create makes no GetConsoleOutput and no
# DescribeInstances per instance. The script prints whether they are met
# and exits 1 when they are not.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-300}
PARALLELISM=${PARALLELISM:-10}
root=$PWD
infra=${INFRA:-$root/build/infra}
if [ ! -x "$infra" ]; then
  scripts/build.sh
  infra=$root/build/infra
fi
for tool in jq curl ssh-keygen /usr/bin/python3; do
  command -v "$tool" >/dev/null || { echo "api-calls: $tool is missing (scripts/deps.sh)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/infra-api-calls.XXXXXX)
emulator_pid=
cleanup() {
  [ -z "$emulator_pid" ] || { kill "$emulator_pid" 2>/dev/null || true; wait "$emulator_pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT

# The emulator, on a free loopback port, with the test account's images and zone.
export HOME=$work/home AWS_REGION=us-east-1 NO_COLOR=1 PYTHONDONTWRITEBYTECODE=1
export AWS_ACCESS_KEY_ID=AKIAINFRABENCH000001 AWS_SECRET_ACCESS_KEY=emulatorBenchSecret000000000000000000000
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE
export INFRA_PLUGIN_PATH=${INFRA_PLUGIN_PATH:-$(dirname "$infra")/plugins}
mkdir -p "$HOME"
cat >"$work/seed.json" <<'JSON'
{"account_id": "123456789012",
 "availability_zones": {"us-east-1": ["us-east-1a", "us-east-1b"]},
 "images": [{"ImageId": "ami-0a1b2c3d4e5f60002", "Name": "nomad-host-2026-11-01",
             "CreationDate": "2026-11-01T10:00:00.000Z", "OwnerId": "123456789012",
             "Architecture": "x86_64", "Region": "us-east-1"}],
 "hosted_zones": [{"Id": "Z0123456789ABC", "Name": "example.org."}]}
JSON
/usr/bin/python3 tests/emulators/aws/emulator.py --listen 127.0.0.1:0 --port-file "$work/port" \
  --credentials "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" --seed "$work/seed.json" \
  --pending-seconds 0.05 --time-scale 0.1 --log "$work/emulator.log" >"$work/emulator.out" 2>&1 &
emulator_pid=$!
for _ in $(seq 1 300); do
  [ -s "$work/port" ] && break
  kill -0 "$emulator_pid" 2>/dev/null || { cat "$work/emulator.out" >&2; exit 1; }
  sleep 0.1
done
[ -s "$work/port" ] || { echo "api-calls: the emulator wrote no port" >&2; exit 1; }
export AWS_ENDPOINT_URL=http://127.0.0.1:$(tr -d '\n' <"$work/port")

ssh-keygen -q -t ed25519 -N "" -C infra-bench -f "$work/id_ed25519"
export INFRA_SSH_PUBLIC_KEY=$work/id_ed25519.pub INFRA_SSH_PRIVATE_KEY=$work/id_ed25519
topo=$work/aws-nomad.yaml
sed 's|cidr: 10.20.1.0/24|cidr: 10.20.0.0/22|' examples/aws-nomad.yaml >"$topo"
grep -q 'cidr: 10.20.0.0/22' "$topo" || { echo "api-calls: the example's subnet moved" >&2; exit 1; }

# phase NAME WANT COMMAND...: runs it (exit status WANT), records the calls
# counted up to then in $work/calls.NAME and its wall time.
declare -A wall
curl -sf "$AWS_ENDPOINT_URL/_emulator/calls" >"$work/calls.start"
last=start
phases=()
phase() {
  local name=$1 want=$2 rc=0 t0 t1
  shift 2
  t0=$(date +%s.%N)
  "$@" >"$work/$name.out" 2>&1 || rc=$?
  t1=$(date +%s.%N)
  if [ "$rc" -ne "$want" ]; then
    tail -n 30 "$work/$name.out" >&2
    echo "api-calls: $name exited $rc, expected $want" >&2
    exit 1
  fi
  curl -sf "$AWS_ENDPOINT_URL/_emulator/calls" >"$work/calls.$name"
  jq -n --slurpfile a "$work/calls.$last" --slurpfile b "$work/calls.$name" '
    [$b[0] | to_entries[] | .key as $s | .value | to_entries[]
     | {key: "\($s) \(.key)", value: (.value - (($a[0][$s] // {})[.key] // 0))}]
    | map(select(.value > 0)) | from_entries' >"$work/diff.$name"
  wall[$name]=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
  phases+=("$name")
  last=$name
}

vars=(--var nodes="$N")
phase create 0 "$infra" up "$topo" "${vars[@]}" --parallelism "$PARALLELISM"
phase plan 0 "$infra" plan "$topo" "${vars[@]}"
phase up 0 "$infra" up "$topo" "${vars[@]}" --parallelism "$PARALLELISM"
phase down 0 "$infra" down "$topo" "${vars[@]}" --yes --parallelism "$PARALLELISM"

# The table: one row per action, one column per phase, totals last.
echo "examples/aws-nomad.yaml, $N nodes, API calls per action ($infra)"
jq -rn '
  [inputs] as $cols
  | ($cols | map(.calls | keys) | add | unique) as $actions
  | (["action"] + ($cols | map(.name))) as $head
  | $head, ($actions[] as $a | [$a] + ($cols | map(.calls[$a] // 0))),
    (["total"] + ($cols | map(.calls | add // 0)))
  | @tsv' < <(for p in "${phases[@]}"; do jq -c --arg name "$p" '{name: $name, calls: .}' "$work/diff.$p"; done) |
  awk -F'\t' '{printf "%-50s", $1; for (i = 2; i <= NF; i++) printf " %8s", $i; printf "\n"}'
printf "%-50s" "wall (s)"
for p in "${phases[@]}"; do printf ' %8s' "${wall[$p]}"; done
printf '\n\n'

# The targets.
count() { jq -r --arg a "$2" '.[$a] // 0' "$work/diff.$1"; }
total() { jq -r '[.[]] | add // 0' "$work/diff.$1"; }
met=1
check() { # description, ok?
  if [ "$2" -eq 1 ]; then echo "met:     $1"; else echo "NOT MET: $1"; met=0; fi
}
check "idle up: at most 12 calls (one read per resource type and zone): $(total up)" \
  "$([ "$(total up)" -le 12 ] && echo 1 || echo 0)"
check "idle plan: at most 12 calls: $(total plan)" "$([ "$(total plan)" -le 12 ] && echo 1 || echo 0)"
check "create: no GetConsoleOutput: $(count create 'ec2 GetConsoleOutput')" \
  "$([ "$(count create 'ec2 GetConsoleOutput')" -eq 0 ] && echo 1 || echo 0)"
check "create: DescribeInstances not per instance ($(count create 'ec2 DescribeInstances') for $N)" \
  "$([ "$(count create 'ec2 DescribeInstances')" -lt $((N / 2)) ] && echo 1 || echo 0)"
[ "$met" -eq 1 ]
