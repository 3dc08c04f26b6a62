#!/usr/bin/env bash
# examples/nomad-combined.yaml end to end, through the infra binary, on
# local namespace hosts with the stand-in agents the plugin installs: three
# nodes that are each a server and a client run the job; the region's name
# comes from a variable and its Consul datacenter has a name of its own; a
# sensitive value given to the job through `set` reaches Nomad but never
# the plan, the state or the logs; a new nomad restarts the combined nodes
# one at a time, keeping the leader and the job. down leaves nothing.
#   usage: nomad_combined.sh INFRA_BINARY     (exit 77 = skipped: not root)
set -euo pipefail
infra=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

# shellcheck source=SCRIPTDIR/../lib.sh
source "$root/tests/lib.sh"
[ "$(id -u)" -eq 0 ] || skip "local hosts need root"
export PATH=$PATH:/usr/sbin:/sbin
for tool in ip sshd busybox curl jq; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/deps.sh installs it)"
done

work=$(mktemp -d /tmp/infra-nomad-combined.XXXXXX)
prefix=c$(printf '%04x' $(($$ % 65536)))
mkdir -p "$work/jobs"
cp "$root/examples/nomad-combined.yaml" "$work/cluster.yaml"
cp "$root/examples/jobs/web.json" "$work/jobs/web.json"
topo=$work/cluster.yaml
secrets=$work/.infra/nomad-combined.default.secrets.json
export INFRA_PLUGIN_PATH
INFRA_PLUGIN_PATH=$(dirname "$infra")/plugins
export INFRA_LOCAL_RUN_DIR=$work/run INFRA_LOCAL_PREFIX=$prefix NO_COLOR=1
standins=$("$root/tests/standins/stage.sh")
launcher() { # NAME VERSION: writes $work/dist/NAME-VERSION, prints its SHA-256
  mkdir -p "$work/dist"
  printf '#!/bin/sh\n# %s %s: the stand-in of tests/standins\nexec %s "$@"\n' "$1" "$2" \
    "$standins/$1" >"$work/dist/$1-$2"
  sha256sum "$work/dist/$1-$2" | cut -d' ' -f1
}
export INFRA_VAR_nomad_file=$work/dist/nomad-1 INFRA_VAR_consul_file=$work/dist/consul-1
INFRA_VAR_nomad_sha256=$(launcher nomad 1) INFRA_VAR_consul_sha256=$(launcher consul 1)
export INFRA_VAR_nomad_sha256 INFRA_VAR_consul_sha256
# The sensitive value: long and unlike anything else, so a grep finds any copy.
token=tok-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
export INFRA_VAR_api_token=$token
export INFRA_VAR_region=cc-e2e INFRA_VAR_consul_datacenter=cc-e2e-consul
cidr=$(free_test_cidr 180 30)
[ -n "$cidr" ] || skip "no free 10.213.x.0/24 for the test network"
export INFRA_LOCAL_CIDR=$cidr

cleanup() {
  local rc=$?
  "$infra" down "$topo" --yes >/dev/null 2>&1 || true
  local_leftovers_remove "$prefix" "$work"
  [ $rc -eq 0 ] || { echo "--- last output" >&2; tail -n 60 "$work/out" >&2 2>/dev/null || true; }
  rm -rf "$work" "$(dirname "$standins")"
  exit $rc
}
trap cleanup EXIT

up() { "$infra" up "$topo" "$@" >"$work/out" 2>&1 || { cat "$work/out" >&2; fail "infra up $* failed"; }; }
secret() { jq -r --arg k "$1" '.[$k]' "$secrets"; }
# no_token FILE...: the sensitive value is in none of them.
no_token() { ! grep -qF "$token" "$@" || fail "the sensitive value reached $(grep -lF "$token" "$@")"; }
nomad() { # PATH: GET on the first server with the cluster CA and token
  local ip
  ip=$("$infra" output "$topo" --json | jq -r '.servers[0]')
  secret nomad.main.ca.cert >"$work/ca.pem"
  curl -sf --max-time 10 --cacert "$work/ca.pem" \
    -H "X-Nomad-Token: $(secret nomad.main.nomad_management_token)" "https://$ip:4646$1"
}
consul() { # PATH
  local ip
  ip=$("$infra" output "$topo" --json | jq -r '.servers[0]')
  curl -sf --max-time 10 --cacert "$work/ca.pem" \
    -H "X-Consul-Token: $(secret nomad.main.consul_management_token)" "https://$ip:8501$1"
}
eventually() {
  local try
  for try in $(seq 1 15); do
    "$@" && return 0
    sleep 2
  done
  return 1
}
job_running() { nomad "/v1/job/clickcount?region=cc-e2e" | jq -e '.Status == "running"' >/dev/null; }
has_leader() { nomad /v1/status/leader | jq -e '. != ""' >/dev/null; }

# 1. The plan names the region from the variable, the combined nodes, and
#    hides the sensitive value (the whole `set` that holds it).
"$infra" plan "$topo" >"$work/plan.txt" 2>&1 || [ $? -eq 2 ] || { cat "$work/plan.txt" >&2; fail "plan failed"; }
grep -q "cluster_region.main.cc-e2e " "$work/plan.txt" || fail "the region is not named from the variable"
[ "$(grep -c "^ *+ client = true" "$work/plan.txt")" -eq 3 ] || fail "the plan does not show 3 combined nodes"
grep -q "^ *+ set = (sensitive)" "$work/plan.txt" || fail "the plan does not mask the job's set"
no_token "$work/plan.txt"

# 2. up, with the logs at -v: one agent per host, 3 servers and 3 clients,
#    the job running on them, in Consul datacenter cc-e2e-consul.
up -v
grep -q "Apply: .* 0 failed, 0 skipped" "$work/out" || fail "the apply reported failures"
no_token "$work/out"
[ "$(ls "$work/run/$prefix/hosts" | wc -l)" -eq 3 ] || fail "not 3 hosts: $(ls "$work/run/$prefix/hosts")"
nomad /v1/agent/members | jq -e '[.Members[] | select(.Tags.region == "cc-e2e" and .Status == "alive")] | length == 3' \
  >/dev/null || fail "not 3 Nomad servers"
ready3() { [ "$(nomad '/v1/nodes?region=cc-e2e' | jq '[.[] | select(.Status == "ready")] | length')" -eq 3 ]; }
eventually ready3 || fail "not 3 ready clients: $(nomad /v1/nodes | jq -c '[.[] | [.Name, .Status]]')"
[ "$(nomad /v1/nodes | jq -c '[.[].Name] | sort')" = '["main-cc-e2e-dc-a-server-0","main-cc-e2e-dc-a-server-1","main-cc-e2e-dc-a-server-2"]' ] ||
  fail "the clients are not the servers: $(nomad /v1/nodes | jq -c '[.[].Name]')"
eventually job_running || fail "the job does not run"
nomad '/v1/job/clickcount?region=cc-e2e' | jq -e --arg t "$token" '.Meta.api_token == $t' >/dev/null ||
  fail "the job did not receive the sensitive value"
consul /v1/catalog/datacenters | jq -e '. == ["cc-e2e-consul"]' >/dev/null ||
  fail "Consul's datacenter is $(consul /v1/catalog/datacenters)"
"$infra" status "$topo" >"$work/status.txt" 2>&1 || { cat "$work/status.txt" >&2; fail "status failed"; }
[ "$(grep -c "^    server main-cc-e2e-dc-a-server-.\(\.cc-e2e\)\? .* alive" "$work/status.txt")" -eq 3 ] &&
  [ "$(grep -c "^    client main-cc-e2e-dc-a-server-. .* ready" "$work/status.txt")" -eq 3 ] ||
  { cat "$work/status.txt" >&2; fail "status does not count each node once as server and once as client"; }

# Only the sensitive value is hidden, not the job's name or the rest of its set.
grep -q "^    job    clickcount  *running" "$work/status.txt" ||
  { cat "$work/status.txt" >&2; fail "status does not name the job"; }
grep -q "job.clickcount: created" "$work/out" && ! grep -q "\[redacted\]" "$work/out" ||
  { grep "redacted" "$work/out" | head >&2; fail "the logs hide more than the sensitive value"; }

# 3. The sensitive value is nowhere infra keeps or shows things.
"$infra" state show "$topo" job.clickcount >"$work/show.txt" 2>&1 || { cat "$work/show.txt" >&2; fail "state show failed"; }
no_token "$work/show.txt" "$work/status.txt" "$(pull_state "$infra" "$topo")"
no_token -r "$work/.infra"

# 4. A second up changes nothing (the hash kept for `set` matches).
up
grep -q "^No changes\.$" "$work/out" || { cat "$work/out" >&2; fail "second up planned changes"; }

# 4b. Another sensitive value is a change of the job, still not shown.
rc=0
INFRA_VAR_api_token=$token-2 "$infra" plan "$topo" >"$work/plan.txt" 2>&1 || rc=$?
[ $rc -eq 2 ] && grep -q "job.clickcount  (update in place: set)" "$work/plan.txt" ||
  { cat "$work/plan.txt" >&2; fail "a new sensitive value does not update the job (plan exits $rc)"; }
no_token "$work/plan.txt"

# 5. A new nomad: the three combined nodes restart one at a time (the
#    region keeps its Raft quorum), and the job keeps running.
v2=$(launcher nomad 2)
export INFRA_VAR_nomad_file=$work/dist/nomad-2 INFRA_VAR_nomad_sha256=$v2
up
grep -E "restart" "$work/out" >"$work/restarts"
[ "$(grep -c "answer again after the restart" "$work/restarts")" -eq 3 ] ||
  { cat "$work/restarts" >&2; fail "the three nodes did not each restart"; }
awk '/restarting its agents/ { if (busy) bad = 1; busy = 1 } /answer again after the restart/ { busy = 0 }
  END { exit bad }' "$work/restarts" || { cat "$work/restarts" >&2; fail "two combined nodes restarted at once"; }
eventually has_leader || fail "the region lost its leader"
eventually ready3 || fail "the clients did not come back"
eventually job_running || fail "the job stopped during the restarts"

# 6. down: nothing left.
"$infra" down "$topo" --yes >"$work/out" 2>&1 || { cat "$work/out" >&2; fail "down failed"; }
[ -z "$(ip netns list | awk -v p="$prefix-" 'index($1, p) == 1')" ] || fail "namespaces left after down"
echo "nomad-combined: 3 combined nodes ran the job, names from variables, the sensitive value kept out, one-at-a-time restarts"
