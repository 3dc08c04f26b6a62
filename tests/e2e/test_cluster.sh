#!/usr/bin/env bash
# A cluster through the engine: nodes become instances, then agents are
# bootstrapped, regions waited for, regions federated and jobs submitted,
# in that order, through a real scheduler plugin ("testsched", which logs
# to the test provider's calls.log). A second up changes nothing; a new
# image replaces nodes one at a time, each drained before its instance
# goes; removing a node drains it first; editing a job resubmits it;
# removing it stops it; down undoes everything, the secrets file included.
source "$(dirname "$0")/lib.sh"
log=$INFRA_TEST_DIR/calls.log
mkdir -p "$work/jobs"
printf '{"Job": {"ID": "web"}}\n' >"$work/jobs/web.json"
mkdir -p "$INFRA_TEST_DIR/catalog/images"
echo '{"id": "img-base-1", "name": "base-1", "created": "2026-01-01T00:00:00Z"}' \
  >"$INFRA_TEST_DIR/catalog/images/base-1.json"

# cluster IMAGE CLIENTS [JOBS_YAML] [SCHED_EXTRA]
cluster() {
  local image=$1 clients=$2 jobs=${3-} extra=${4-}
  cat >"$topo" <<YAML
name: e2e
providers:
  test: { dir: "\${env.INFRA_TEST_DIR}" }
images:
  base: { name: "base-*" }
clusters:
  main:
    scheduler: testsched
    dir: "\${env.INFRA_TEST_DIR}"
$extra
    regions:
      eu:
        datacenters:
          dc-a: { provider: test, servers: 3, clients: $clients, image: $image, size: small }
      us:
        datacenters:
          dc-b: { provider: test, servers: 1, clients: 1, image: "\${image.base.id}" }
    federate: [eu, us]
$jobs
outputs:
  servers: "\${cluster.main.servers[*].private_ip}"
YAML
}
job_yaml='jobs:
  web:
    cluster: main
    file: jobs/web.json
    set: { image_tag: "1.0" }'

# first_line PATTERN: line number of the first log line matching PATTERN.
first_line() { grep -n -- "$1" "$log" | head -n 1 | cut -d: -f1; }
last_line() { grep -n -- "$1" "$log" | tail -n 1 | cut -d: -f1; }
before() { # A B: the first line matching A comes before the first matching B
  local a b
  a=$(first_line "$1"); b=$(first_line "$2")
  [ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ] || { cat "$log" >&2; fail "expected '$1' before '$2'"; }
}

# 1. up: every node bootstrapped with its region's servers, then ready, federate, submit.
cluster img-1 2 "$job_yaml"
run 0 "$infra" validate "$topo"
run 0 "$infra" up "$topo"
[ "$(grep -c '^bootstrap ' "$log")" -eq 7 ] || { cat "$log" >&2; fail "expected 7 bootstraps"; }
eu_servers=$(jq -r '[.resources | to_entries[] | select(.key | startswith("cluster.main.eu.dc-a.server"))
  | .value.attributes.private_ip] | sort | join(",")' "$(state_doc)")
grep '^bootstrap main-eu-dc-a-client-1 ' "$log" | grep -q "servers=" || fail "client bootstrap lacks servers"
got=$(grep '^bootstrap main-eu-dc-a-client-1 ' "$log" | sed 's/.*servers=//' | tr ',' '\n' | sort | paste -sd,)
[ "$got" = "$eu_servers" ] || fail "client bootstrapped with servers $got, expected $eu_servers"
before "^create cluster.main.eu.dc-a.server\[0\]" "^bootstrap main-eu-dc-a-server-0 "
[ "$(last_line '^bootstrap main-eu-')" -lt "$(first_line '^ready eu ')" ] || fail "eu ready before all its nodes"
grep -q '^ready eu servers=3 clients=2$' "$log" || { cat "$log" >&2; fail "eu not ready with 3+2 nodes"; }
grep -q '^ready us servers=1 clients=1$' "$log" || fail "us not ready"
[ "$(first_line '^ready eu')" -lt "$(first_line '^federate eu us')" ] || fail "federated before ready"
[ "$(first_line '^ready us')" -lt "$(first_line '^federate eu us')" ] || fail "federated before ready"
before "^federate eu us" "^submit web regions=eu,us "
grep -q '^submit web regions=eu,us sha=[0-9a-f]\{64\} set={"image_tag": *"1.0"}$' "$log" ||
  { cat "$log" >&2; fail "job submitted with the wrong request"; }
[ -f "$work/.infra/e2e.default.db" ] || fail "no state"
jq -e '.resources["cluster_agent.main.eu.dc-a.server[0]"].attributes.id == "main-eu-dc-a-server-0"' \
  "$(state_doc)" >/dev/null || fail "agent not recorded"
jq -e '.resources["job.web"].attributes.status.status == "running"' "$(state_doc)" >/dev/null ||
  fail "job status not recorded"
# A datacenter setting may refer to a resource: the us nodes use the image found.
jq -e '.resources["cluster.main.us.dc-b.client[0]"].attributes.image == "img-base-1"' "$(state_doc)" \
  >/dev/null || fail "the datacenter's image reference was not resolved"

# 2. A second up changes nothing and calls nothing; the cluster key stays.
key1=$(jq -r '.["testsched.cluster_key"]' "$work/.infra/e2e.default.secrets.json")
lines=$(wc -l <"$log")
run 0 "$infra" plan "$topo"
run 0 "$infra" up "$topo"
[ "$(wc -l <"$log")" -eq "$lines" ] || { tail -n +$((lines + 1)) "$log" >&2; fail "a second up made calls"; }
[ "$(jq -r '.["testsched.cluster_key"]' "$work/.infra/e2e.default.secrets.json")" = "$key1" ] ||
  fail "the cluster key changed between runs"

# status shows the scheduler's view of each region.
run 0 "$infra" status "$topo"
out_has "Cluster main:"
out_has "region eu: leader "
out_has "client main-eu-dc-a-client-1"

# 3. A new image for dc-a: its 5 nodes are replaced one at a time, each
#    removed (drained) before its instance is deleted and re-bootstrapped
#    before the next one is removed; us is untouched.
: >"$log"
cluster img-2 2 "$job_yaml"
run 2 "$infra" plan "$topo"
out_has "-/+ cluster.main.eu.dc-a.server[0]  (replace: image)"
out_has "-/+ cluster_agent.main.eu.dc-a.server[0]"
run 0 "$infra" up "$topo"
mapfile -t seq < <(grep -E '^(remove|bootstrap|delete cluster|create cluster)' "$log" | awk '{print $1, $2}')
nodes=(server-0 server-1 server-2 client-0 client-1)
# 20 steps of replacement, then the region brings all 5 agents up to date.
[ "${#seq[@]}" -eq 25 ] || { cat "$log" >&2; fail "expected 25 steps for 5 rolling replacements, got ${#seq[@]}"; }
for k in 0 1 2 3 4; do
  n=${nodes[$k]}
  inst="cluster.main.eu.dc-a.${n%-*}[${n##*-}]"
  want="remove main-eu-dc-a-$n|delete $inst|create $inst|bootstrap main-eu-dc-a-$n"
  got="${seq[$((4 * k))]}|${seq[$((4 * k + 1))]}|${seq[$((4 * k + 2))]}|${seq[$((4 * k + 3))]}"
  [ "$got" = "$want" ] || { cat "$log" >&2; fail "step $k of the rolling replacement: $got, expected $want"; }
done
new_servers=$(jq -r '[.resources | to_entries[] | select(.key | startswith("cluster.main.eu.dc-a.server"))
  | .value.attributes.private_ip] | sort | join(",")' "$(state_doc)")
for n in "${nodes[@]}"; do
  got=$(grep "^bootstrap main-eu-dc-a-$n " "$log" | tail -n 1 | sed 's/.*servers=//' | tr ',' '\n' | sort | paste -sd,)
  [ "$got" = "$new_servers" ] || fail "$n was last bootstrapped with servers $got, expected $new_servers"
done
[ "$(last_line '^bootstrap main-eu-')" -lt "$(first_line '^ready eu ')" ] || fail "eu ready before its nodes were refreshed"
! grep -q 'main-us-' "$log" || fail "region us was touched"
grep -q '^ready eu ' "$log" || fail "eu not checked after the replacement"
grep -q '^federate eu us' "$log" || fail "not federated again after the servers changed"
! grep -q '^submit ' "$log" || fail "the job was resubmitted although it did not change"
run 0 "$infra" plan "$topo"

# 4. One client fewer: it is drained before its instance is deleted.
: >"$log"
cluster img-2 1 "$job_yaml"
run 0 "$infra" up "$topo"
before "^remove main-eu-dc-a-client-1 " "^delete cluster.main.eu.dc-a.client\[1\]"
[ "$(grep -c '^bootstrap ' "$log")" -eq 0 ] || fail "removing a client re-bootstrapped nodes"

# 5. An edited job is resubmitted; a job stopped behind our back is planned again.
: >"$log"
cluster img-2 1 "${job_yaml/1.0/1.1}"
run 2 "$infra" plan "$topo"
out_has "~ job.web"
run 0 "$infra" up "$topo"
grep -q '^submit web regions=eu,us sha=[0-9a-f]* set={"image_tag": *"1.1"}$' "$log" || { cat "$log" >&2; fail "job not resubmitted"; }
rm "$INFRA_TEST_DIR/jobs/web"
run 2 "$infra" plan "$topo"
out_has "+ job.web"
run 0 "$infra" up "$topo"

# 6. Removing the job from the topology stops it.
: >"$log"
cluster img-2 1 ""
run 0 "$infra" up "$topo"
grep -q '^stop web$' "$log" || { cat "$log" >&2; fail "removed job not stopped"; }

# 7. A node that never comes up fails its region, not the other one.
: >"$log"
cluster img-2 1 "$job_yaml" "    fail_node: main-eu-dc-a-client-0"
"$infra" down --yes "$topo" >/dev/null
run 1 "$infra" up "$topo"
err_has "cluster_agent.main.eu.dc-a.client[0]"
err_has "node main-eu-dc-a-client-0"
grep -q '^ready us ' "$log" || fail "region us did not come up beside the failed node"
! grep -q '^ready eu ' "$log" || fail "region eu reported ready with a failed node"
out_has "cluster_region.main.eu: skipped (cluster_agent.main.eu.dc-a.client[0] failed)"

# 8. down: job stopped, every node removed before its instance, nothing left.
cluster img-2 1 "$job_yaml"
run 0 "$infra" up "$topo"
secrets=$work/.infra/e2e.default.secrets.json
[ "$(stat -c %a "$secrets")" = 600 ] || fail "the secrets file is not mode 0600"
key=$(jq -r '.["testsched.cluster_key"]' "$secrets")
[ ${#key} -eq 32 ] || fail "no generated cluster key in the secrets file"
! grep -rqF "$key" "$work/.infra/e2e.default.db" "$(state_doc)" "$work/out" "$work/err" || fail "a secret reached the state or the output"
: >"$log"
run 0 "$infra" down --yes "$topo"
before "^stop web" "^remove main-eu-dc-a-server-0 "
before "^remove main-eu-dc-a-server-0 " "^delete cluster.main.eu.dc-a.server\[0\]"
# Every node of a region is drained while all its servers still run: the
# agents depend on the servers as a group (one node of the graph).
last_remove=$(grep -n '^remove main-eu-' "$log" | tail -n 1 | cut -d: -f1)
first_server=$(grep -n '^delete cluster.main.eu.dc-a.server' "$log" | head -n 1 | cut -d: -f1)
[ "$last_remove" -lt "$first_server" ] || { cat "$log" >&2; fail "a server of eu went before every node of eu was removed"; }
[ "$(objects instance)" -eq 0 ] || fail "instances left after down"
[ "$(jq '.resources | length' "$(state_doc)")" -eq 0 ] || fail "state not empty after down"
[ ! -e "$work/.infra/e2e.default.secrets.json" ] || fail "secrets file left after down"
echo "cluster: bootstrap order, idempotent up, rolling replacement, drain, jobs and down behave"
