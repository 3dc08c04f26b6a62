#!/usr/bin/env bash
# examples/nomad-local.yaml end to end, through the infra binary, on real
# namespace hosts with sshd, the stand-in nomad and consul agents installed
# on them by the plugin (launchers of the stand-ins, given as files with
# their SHA-256): two regions (europe = dc-a + dc-b, us = dc-c), 3 servers
# each, 2 clients per datacenter, federated, the web job in both. Then: a
# second up changes nothing; a new nomad for dc-b rolls its agents one node
# at a time and uploads nothing else; a wrong hash is refused before
# anything starts; a node that never comes up,
# a wrong ACL token and a job whose deployment fails each fail with a
# clear message while the rest keeps running; down leaves nothing.
#   usage: nomad_local.sh INFRA_BINARY     (exit 77 = skipped: not root)
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

work=$(mktemp -d /tmp/infra-nomad-e2e.XXXXXX)
prefix=n$(printf '%04x' $(($$ % 65536)))
mkdir -p "$work/jobs"
cp "$root/examples/nomad-local.yaml" "$work/cluster.yaml"
cp "$root/examples/jobs/web.json" "$work/jobs/web.json"
topo=$work/cluster.yaml
secrets=$work/.infra/nomad-local.default.secrets.json
export INFRA_PLUGIN_PATH
INFRA_PLUGIN_PATH=$(dirname "$infra")/plugins
export INFRA_LOCAL_RUN_DIR=$work/run INFRA_LOCAL_PREFIX=$prefix NO_COLOR=1
standins=$("$root/tests/standins/stage.sh")
# The files the plugin installs: launchers of the stand-ins (which must run
# from where stage.sh put them), each with its hash.
# launcher NAME VERSION: writes $work/dist/NAME-VERSION, prints its SHA-256.
launcher() {
  mkdir -p "$work/dist"
  printf '#!/bin/sh\n# %s %s: the stand-in of tests/standins\nexec %s "$@"\n' "$1" "$2" \
    "$standins/$1" >"$work/dist/$1-$2"
  sha256sum "$work/dist/$1-$2" | cut -d' ' -f1
}
export INFRA_VAR_nomad_file=$work/dist/nomad-1 INFRA_VAR_consul_file=$work/dist/consul-1
INFRA_VAR_nomad_sha256=$(launcher nomad 1) INFRA_VAR_consul_sha256=$(launcher consul 1)
export INFRA_VAR_nomad_sha256 INFRA_VAR_consul_sha256
cidr=$(free_test_cidr 150 30)
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

# up [ARGS...]: infra up, output in $work/out; fails the test unless it succeeds.
up() { "$infra" up "$topo" "$@" >"$work/out" 2>&1 || { cat "$work/out" >&2; fail "infra up $* failed"; }; }
# up_fails [ARGS...]: infra up that must fail.
up_fails() { ! "$infra" up "$topo" "$@" >"$work/out" 2>&1 || { cat "$work/out" >&2; fail "infra up $* succeeded"; }; }
out() { "$infra" output "$topo" --json "$@"; }
secret() { jq -r --arg k "$1" '.[$k]' "$secrets"; }

# nomad REGION PATH: GET on a server of REGION with the cluster CA and token.
nomad() {
  local region=$1 path=$2 ip
  ip=$(out | jq -r ".${region}_servers[0]")
  secret nomad.main.ca.cert >"$work/ca.pem"
  local try
  for try in 1 2 3 4 5; do
    curl -sf --max-time 10 --cacert "$work/ca.pem" \
      -H "X-Nomad-Token: $(secret nomad.main.nomad_management_token)" "https://$ip:4646$path" && return 0
    sleep 2
  done
  return 1
}

# eventually COMMAND...: true once COMMAND succeeds, trying for about 30 s
# (the cluster settles after a change: a node going down, an allocation moving).
eventually() {
  local try
  for try in $(seq 1 15); do
    "$@" && return 0
    sleep 2
  done
  return 1
}
job_running() { nomad "$1" "/v1/job/${2:-web}?region=$1" | jq -e '.Status == "running"' >/dev/null; }
has_leader() { nomad "$1" /v1/status/leader | jq -e '. != ""' >/dev/null; }
ready_clients() { # REGION COUNT: exactly COUNT ready, eligible clients
  [ "$(nomad "$1" "/v1/nodes?region=$1" |
    jq '[.[] | select(.Status == "ready" and .SchedulingEligibility == "eligible")] | length')" -eq "$2" ]
}

# topo_edit PYTHON: runs PYTHON on the topology as a dict `d` and writes it back.
topo_edit() {
  /usr/bin/python3 - "$topo" "$1" <<'PY'
import sys, yaml
path, code = sys.argv[1], sys.argv[2]
d = yaml.safe_load(open(path))
exec(code)
open(path, "w").write(yaml.safe_dump(d, sort_keys=False))
PY
}

# The nodes' image carries what HashiCorp's Debian packages install in the
# agents' configuration directories (nomad.hcl: server and client, alone,
# with 127.0.0.1 as a server; consul.hcl: another data_dir): the user data
# puts them there when the host starts, before any agent runs. Their text
# goes in the user data itself: a host's /tmp is its own, so a checkout
# under /tmp is not visible from it.
pkg=$root/tests/conformance/package-defaults
topo_edit "seed = 'mkdir -p /etc/nomad.d /etc/consul.d\n'
for name, where in (('nomad.hcl', '/etc/nomad.d'), ('consul.hcl', '/etc/consul.d')):
    seed += 'cat >%s/%s <<\'INFRA_PKG\'\n%sINFRA_PKG\n' % (where, name, open('$pkg/' + name).read())
for dc in ('dc-a', 'dc-b', 'dc-c'):
    r = 'us' if dc == 'dc-c' else 'europe'
    d['clusters']['main']['regions'][r]['datacenters'][dc]['user_data'] = seed"

# nomad_at IP PATH: GET on the Nomad agent at IP.
nomad_at() {
  curl -sf --max-time 10 --cacert "$work/ca.pem" \
    -H "X-Nomad-Token: $(secret nomad.main.nomad_management_token)" "https://$1:4646$2"
}
# consul_at IP METHOD PATH [TOKEN [BODY]]: a Consul API call at IP.
consul_at() {
  curl -sf --max-time 10 --cacert "$work/ca.pem" -X "$2" \
    -H "X-Consul-Token: ${4:-$(secret nomad.main.consul_management_token)}" ${5:+--data "$5"} "https://$1:8501$3"
}

# 1. up: both regions have a leader, are federated, and the job runs in both.
up
grep -q "Apply: .* 0 failed, 0 skipped" "$work/out" || fail "the apply reported failures"
[ "$(stat -c %a "$secrets")" = 600 ] || fail "secrets file is not 0600"
! grep -qF "$(secret nomad.main.nomad_management_token)" "$work/out" "$work/.infra/nomad-local.default.db" ||
  fail "a token reached the output or the state"
for region in europe us; do
  leader=$(nomad "$region" /v1/status/leader | jq -r .)
  [ -n "$leader" ] || fail "region $region has no leader"
  eventually job_running "$region" || fail "job web is not running in $region"
done
nomad europe /v1/regions | jq -e 'sort == ["europe","us"]' >/dev/null || fail "regions are not federated"
eventually ready_clients europe 4 || fail "europe does not have 4 ready clients"
# The service answers on a client.
alloc=$(nomad us '/v1/job/web/allocations?region=us' | jq -r '[.[] | select(.ClientStatus == "running")][0].ID')
[ -n "$alloc" ] && [ "$alloc" != null ] || fail "no running allocation in us"
addr=$(nomad us "/v1/allocation/$alloc?region=us" | jq -r '.Resources.Networks[0] // .AllocatedResources.Shared.Networks[0] | "\(.IP):\(.DynamicPorts[0].Value)"')
curl -sf --max-time 5 "http://$addr/" | grep -q "^web " || fail "the web job does not answer at $addr"

# 1b. The package's files were moved aside on every node (not merged):
#     3 servers per region, each client given only its region's servers.
for d in "$work/run/$prefix/hosts"/*/root/etc; do
  [ ! -e "$d/nomad.d/nomad.hcl" ] && [ ! -e "$d/consul.d/consul.hcl" ] ||
    fail "a package default file is still loaded on $(dirname "$(dirname "$d")")"
  [ -e "$d/nomad.d/nomad.hcl.infra-disabled" ] && [ -e "$d/consul.d/consul.hcl.infra-disabled" ] ||
    fail "the package default files were never on $(dirname "$(dirname "$d")")"
done
grep -q "moved aside (renamed \*.infra-disabled): /etc/nomad.d/nomad.hcl" "$work/out" ||
  fail "moving the package files aside is not said"
for region in europe us; do
  servers=$(out | jq -c ".${region}_servers | map(. + \":4647\") | sort")
  [ "$(nomad "$region" "/v1/status/peers?region=$region" | jq -c sort)" = "$servers" ] ||
    fail "region $region's Raft peers are not its 3 servers"
  nomad "$region" /v1/agent/members | jq -e --arg r "$region" \
    '[.Members[] | select(.Tags.region == $r and .Status == "alive")] | length == 3' >/dev/null ||
    fail "region $region does not have exactly 3 Nomad servers"
  for ip in $(nomad "$region" "/v1/nodes?region=$region" | jq -r '.[].Address'); do
    [ "$(nomad_at "$ip" /v1/agent/servers | jq -c sort)" = "$servers" ] ||
      fail "client $ip of $region is given servers $(nomad_at "$ip" /v1/agent/servers)"
  done
done

# 1c. One ACL authority: europe (the first federated region). A Nomad
#     policy made there reaches us; a Consul token made there resolves in us.
eu=$(out | jq -r '.europe_servers[0]') us=$(out | jq -r '.us_servers[0]')
curl -sf --max-time 10 --cacert "$work/ca.pem" -X POST \
  -H "X-Nomad-Token: $(secret nomad.main.nomad_management_token)" \
  --data '{"Name":"e2e-readers","Rules":"namespace \"default\" { policy = \"read\" }"}' \
  "https://$eu:4646/v1/acl/policy/e2e-readers" >/dev/null || fail "cannot make a Nomad policy in europe"
policy_in_us() { nomad_at "$us" /v1/acl/policy/e2e-readers | jq -e '.Name == "e2e-readers"' >/dev/null; }
eventually policy_in_us || fail "the Nomad policy made in europe is not replicated to us"
token=$(consul_at "$eu" PUT /v1/acl/token "" '{"Description":"e2e"}' | jq -r .SecretID)
[ -n "$token" ] && [ "$token" != null ] || fail "cannot make a Consul token in europe"
token_in_us() { consul_at "$us" GET /v1/acl/token/self "$token" | jq -e '.Description == "e2e"' >/dev/null; }
eventually token_in_us || fail "the Consul token made in europe does not resolve in us"
"$infra" status "$topo" --json >"$work/status.json" 2>"$work/err" || fail "status --json failed"
jq -e '.clusters.main.regions.us.replication | .role == "secondary" and .primary == "europe" and
  .tokens_replicated and .consul.running and .consul.source == "europe"' "$work/status.json" >/dev/null ||
  fail "status does not show us replicating from europe: $(jq -c .clusters.main.regions.us.replication "$work/status.json")"
jq -e '.clusters.main.regions.europe.replication.role == "primary"' "$work/status.json" >/dev/null ||
  fail "status does not show europe as the primary"
"$infra" status "$topo" >"$work/status.txt" 2>&1 || fail "status failed"
grep -q "acl    secondary of europe, tokens replicated$" "$work/status.txt" ||
  fail "status does not say us replicates from europe: $(grep "acl " "$work/status.txt")"
! grep -qF "$(secret nomad.main.consul_replication_token)" "$work/out" "$work/status.json" \
  "$(pull_state "$infra" "$topo")" || fail "the replication token reached the output or the state"

# 1d. The cluster's own tools: `eval "$(infra env)"` in the topology's
#     directory gives what nomad and consul read; with them the API answers
#     over TLS verified against the cluster CA (written 0600), and lists
#     both regions. No secret reaches stderr.
(cd "$work" && "$infra" env >"$work/env.sh" 2>"$work/err") || { cat "$work/err" >&2; fail "infra env failed"; }
! grep -qF "$(secret nomad.main.nomad_management_token)" "$work/err" || fail "infra env printed a token on stderr"
(
  eval "$(cat "$work/env.sh")"
  [ "$NOMAD_REGION" = europe ] || fail "NOMAD_REGION is '$NOMAD_REGION', not the first region"
  [ "$(stat -c %a "$NOMAD_CACERT")" = 600 ] || fail "the CA file $NOMAD_CACERT is not 0600"
  [ "$NOMAD_TOKEN" = "$(secret nomad.main.nomad_management_token)" ] || fail "NOMAD_TOKEN is not the management token"
  regions() { curl -sf --max-time 10 --cacert "$NOMAD_CACERT" -H "X-Nomad-Token: $NOMAD_TOKEN" "$NOMAD_ADDR/v1/regions"; }
  regions | jq -e 'sort == ["europe","us"]' >/dev/null || fail "the exported NOMAD_* do not list the regions"
  curl -sf --max-time 10 --cacert "$CONSUL_CACERT" -H "X-Consul-Token: $CONSUL_HTTP_TOKEN" \
    "$CONSUL_HTTP_ADDR/v1/catalog/datacenters" | jq -e 'index("europe") != null' >/dev/null ||
    fail "the exported CONSUL_* do not reach Consul"
) || exit 1
"$infra" env "$topo" main --region us --json >"$work/env.json" 2>"$work/err" || { cat "$work/err" >&2; fail "infra env --region us --json failed"; }
jq -e '.NOMAD_REGION == "us" and (.NOMAD_ADDR | startswith("https://"))' "$work/env.json" >/dev/null ||
  fail "infra env --region us --json: $(jq -c 'del(.NOMAD_TOKEN, .CONSUL_HTTP_TOKEN)' "$work/env.json")"
! "$infra" env "$topo" --region dc-a >/dev/null 2>"$work/err" && grep -q 'no region "dc-a"' "$work/err" ||
  fail "infra env --region with a datacenter is not refused: $(cat "$work/err")"

# 1e. infra ssh: a command on a server, the host key checked strictly
#     against the one recorded; a recorded key that differs is refused.
eu_ip=$(out | jq -r '.europe_servers[0]')
"$infra" ssh "$topo" 'cluster.main.europe.servers[0]' -- ip -o -4 addr show </dev/null >"$work/ssh.out" 2>"$work/err" ||
  { cat "$work/err" >&2; fail "infra ssh to a server failed"; }
grep -qF " $eu_ip/" "$work/ssh.out" || fail "infra ssh did not reach $eu_ip: $(cat "$work/ssh.out")"
[ "$(stat -c %a "$work/.infra/nomad-local.default.files")" = 700 ] || fail "the known_hosts directory is not 0700"
cp -a "$work/.infra" "$work/forged"
jq '.resources["cluster.main.europe.dc-a.server[0]"].attributes.ssh_host_key_fingerprint = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"' \
  "$(pull_state "$infra" "$topo")" >"$work/forged.json"
"$infra" state push "$topo" "$work/forged.json" --state-dir "$work/forged" --force >/dev/null 2>"$work/err" ||
  { cat "$work/err" >&2; fail "cannot write the forged state"; }
! "$infra" ssh "$topo" --state-dir "$work/forged" 'cluster.main.europe.servers[0]' -- true </dev/null 2>"$work/err" ||
  fail "infra ssh connected to a host whose key is not the recorded one"
grep -q "offers no key with the fingerprint" "$work/err" || fail "a host key mismatch is not said: $(cat "$work/err")"
rm -rf "$work/forged"

# 1d. The agents were installed: each node got both launchers, uploaded
#     once, in /opt/bin (the hosts' PATH has no nomad or consul).
[ "$(grep -c "^.*node main-.*: nomad: uploaded 1 file .* installed" "$work/out")" -eq 12 ] &&
  [ "$(grep -c "^.*node main-.*: consul: uploaded 1 file .* installed" "$work/out")" -eq 12 ] ||
  { grep ": \(nomad\|consul\): " "$work/out" >&2; fail "the 12 nodes were not each given nomad and consul once"; }
for d in "$work/run/$prefix/hosts"/*/root/opt/bin; do
  [ "$(stat -c %a "$d/nomad")" = 755 ] && cmp -s "$d/nomad" "$work/dist/nomad-1" &&
    cmp -s "$d/consul" "$work/dist/consul-1" || fail "$d does not hold the installed launchers"
done

# 2. A second up changes nothing.
up
grep -q "^No changes\.$" "$work/out" || fail "second up planned changes"
rc=0
"$infra" plan "$topo" >"$work/out" 2>&1 || rc=$?
[ $rc -eq 0 ] || { cat "$work/out" >&2; fail "plan after up exits $rc"; }
"$infra" status "$topo" >"$work/out" 2>&1 || fail "status failed"
grep -q "region europe: leader " "$work/out" || fail "status does not show europe's leader"
grep -q "region us: leader " "$work/out" || fail "status does not show us's leader"

# 3. The same file as staging: web-staging with another count, beside web.
# (staging is an environment of its own, with its own hosts: planned only)
"$infra" plan "$topo" -e staging --json >"$work/plan.json" 2>"$work/err" || [ $? -eq 2 ] || fail "staging plan failed"
jq -e '.[] | select(.address == "job.web") | .after.id == "web-staging"' "$work/plan.json" >/dev/null ||
  fail "staging does not plan web-staging"

# 2b. A new nomad for dc-b only (its node_settings): its two clients
#     get it, their nomad restarts one node at a time, consul stays; no
#     other node is touched.
agent_pids() { # lines "HOST_ROOT NOMAD_PID CONSUL_PID"
  local d
  for d in "$work/run/$prefix/hosts"/*/root/run; do
    [ -f "$d/infra-nomad.pid" ] && echo "$d $(cat "$d/infra-nomad.pid") $(cat "$d/infra-consul.pid")"
  done | sort
}
agent_pids >"$work/pids.before"
v2=$(launcher nomad 2)
topo_edit "d['clusters']['main']['regions']['europe']['datacenters']['dc-b']['node_settings'] = {
    'install': {'nomad': {'file': '$work/dist/nomad-2', 'sha256': '$v2'}}}"
up
grep -E "node main-.*: (nomad|consul): |restart" "$work/out" >"$work/install.log"
[ "$(grep -c ": nomad: uploaded 1 file .* installed" "$work/install.log")" -eq 2 ] &&
  [ "$(grep -c "dc-b-client-.*: consul: already installed .* nothing uploaded" "$work/install.log")" -eq 2 ] &&
  ! grep -q "dc-[ac]" "$work/install.log" ||
  { cat "$work/install.log" >&2; fail "the new nomad did not go to dc-b's two clients alone"; }
awk '/restarting its agents/ { if (busy) bad = 1; busy = 1 } /answer again after the restart/ { busy = 0 }
  END { exit bad }' "$work/install.log" ||
  { cat "$work/install.log" >&2; fail "dc-b's clients restarted at the same time"; }
[ "$(grep -c "answer again after the restart" "$work/install.log")" -eq 2 ] ||
  { cat "$work/install.log" >&2; fail "dc-b's clients did not both restart"; }
agent_pids >"$work/pids.after"
[ "$(comm -13 "$work/pids.before" "$work/pids.after" | wc -l)" -eq 2 ] &&
  [ -z "$(join -v1 "$work/pids.before" "$work/pids.after")" ] ||
  fail "not exactly two nodes restarted: $(comm -3 "$work/pids.before" "$work/pids.after")"
join "$work/pids.before" "$work/pids.after" | awk '$3 != $5 { bad = 1 } END { exit bad }' ||
  fail "consul restarted with nomad"
eventually job_running europe || fail "web stopped during the rolling restart"

# 2c. A file whose hash is not the one given: refused at validate, with its
#     line, before any node is touched.
good=$INFRA_VAR_consul_sha256
INFRA_VAR_consul_sha256=$(printf '%064d' 0)
up_fails
INFRA_VAR_consul_sha256=$good
grep -q "cluster.yaml:[0-9]*:[0-9]*: error: .*install.consul.sha256: .*consul-1 has SHA-256 $good, not 0\{64\}" "$work/out" ||
  { cat "$work/out" >&2; fail "the wrong hash is not refused with its line"; }
! grep -q "Apply:\|uploaded" "$work/out" || fail "something ran despite the wrong hash"
agent_pids >"$work/pids.wrong"
cmp -s "$work/pids.after" "$work/pids.wrong" || fail "agents restarted despite the wrong hash"

cp "$topo" "$work/cluster.yaml.orig"

# 4. A job whose deployment fails: named, and web keeps running.
jq '.Job.ID = "broken" | .Job.Name = "broken" | .Job.TaskGroups[0].Tasks[0].Config.args = ["-c", "exit 1"]' \
  "$work/jobs/web.json" >"$work/jobs/broken.json"
topo_edit 'd["jobs"]["broken"] = {"cluster": "main", "regions": ["europe"], "file": "jobs/broken.json"}'
up_fails
grep -q "job.broken" "$work/out" || fail "the failed deployment does not name the job"
grep -qi "httpd" "$work/out" || fail "the failure does not name the failing task"
eventually job_running europe || fail "web stopped running"
cp "$work/cluster.yaml.orig" "$topo"
up

# 5. A wrong ACL token: a clear refusal, nothing else disturbed.
cp "$secrets" "$work/secrets.good"
jq '.["nomad.main.nomad_management_token"] = "00000000-0000-4000-8000-000000000000"' "$work/secrets.good" \
  >"$work/secrets.bad"
install -m 0600 "$work/secrets.bad" "$secrets"
up_fails --var web_count=3
grep -qi "permission denied\|acl token\|403" "$work/out" || fail "a wrong token is not reported as such"
! grep -q "00000000-0000-4000-8000-000000000000" "$work/out" || fail "the token was printed"
install -m 0600 "$work/secrets.good" "$secrets"
up
nomad europe '/v1/job/web?region=europe' | jq -e '.TaskGroups[0].Count == 2' >/dev/null || fail "web count changed"

# 6. A node that never comes up: SSH reaches it, but nothing it sends
#    except SSH replies leaves it (its user data cuts it off with nftables),
#    so its agents never join. The error names it, the rest keeps running.
topo_edit 'd["clusters"]["main"]["node_deadline"] = 20
d["clusters"]["main"]["regions"]["europe"]["datacenters"]["dc-z"] = {
    "provider": "local", "clients": 1, "network": "${network.main.id}",
    "user_data": "nft -f /dev/stdin <<EOF\ntable inet cut {\n chain out {\n  type filter hook output priority 0; policy drop;\n  oif lo accept\n  tcp sport 22 accept\n }\n}\nEOF\n"}'
up_fails
grep -q "cluster_agent.main.europe.dc-z.client\[0\]" "$work/out" || fail "the failed node is not named"
grep -q "main-europe-dc-z-client-0" "$work/out" || fail "the message does not name the node"
for region in europe us; do
  eventually has_leader "$region" || fail "$region lost its leader"
done
eventually job_running us || fail "web stopped in us"
cp "$work/cluster.yaml.orig" "$topo"
up

# 6b. A datacenter added to a running region joins it; no agent already
#     running is restarted (their pidfiles, in each host's private /run).
agent_pids >"$work/pids.before"
topo_edit 'd["clusters"]["main"]["regions"]["europe"]["datacenters"]["dc-y"] = {
    "provider": "local", "clients": 1, "network": "${network.main.id}", "image": "debian-12"}'
up
agent_pids >"$work/pids.after"
missing=$(comm -23 "$work/pids.before" "$work/pids.after")
[ -z "$missing" ] || fail "agents restarted when a datacenter was added: $missing"
eventually ready_clients europe 5 || fail "the new datacenter's client is not ready"

# 6c. A new image for dc-b: its two clients are replaced one after the
#     other, each drained before its host goes; web keeps running.
topo_edit 'd["clusters"]["main"]["regions"]["europe"]["datacenters"]["dc-b"]["image"] = "debian-12-v2"'
up
grep -n "dc-b.client" "$work/out" >"$work/rolling"
first_done=$(grep -n "cluster_agent.main.europe.dc-b.client\[0\]: replaced" "$work/out" | cut -d: -f1)
second_start=$(grep -n "cluster_agent.main.europe.dc-b.client\[1\]: replacing" "$work/out" | cut -d: -f1)
[ -n "$first_done" ] && [ -n "$second_start" ] && [ "$first_done" -lt "$second_start" ] ||
  { cat "$work/rolling" >&2; fail "dc-b's clients were not replaced one at a time"; }
eventually job_running europe || fail "web stopped during the rolling replacement"
eventually ready_clients europe 5 ||
  fail "europe does not have its 5 clients back: $(nomad europe '/v1/nodes?region=europe' | jq -c '[.[] | [.Name, .Address, .Status, .SchedulingEligibility]]')"
rc=0
"$infra" plan "$topo" >"$work/out" 2>&1 || rc=$?
[ $rc -eq 0 ] || { cat "$work/out" >&2; fail "plan after the rolling replacement exits $rc"; }

# 7. down: nothing left. A deleted namespace's inode number can be given
#    to a namespace another test makes meanwhile, so only a process that
#    already ran before down began counts as left behind.
inodes=$(for ns in $(ip netns list | awk -v p="$prefix-" 'index($1, p) == 1 {print $1}'); do stat -L -c %i "/run/netns/$ns"; done)
hz=$(getconf CLK_TCK)
down_began=$(awk -v hz="$hz" '{printf "%d", $1 * hz}' /proc/uptime)
"$infra" down "$topo" --yes >"$work/out" 2>&1 || { cat "$work/out" >&2; fail "down failed"; }
[ -z "$(ip netns list | awk -v p="$prefix-" 'index($1, p) == 1')" ] || fail "namespaces left after down"
for ino in $inodes; do
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/ns/net" 2>/dev/null)" = "net:[$ino]" ] || continue
    started=$(sed 's/.*) //' "$p/stat" 2>/dev/null | awk '{print $20}')
    [ -n "$started" ] && [ "$started" -lt "$down_began" ] &&
      fail "process ${p#/proc/} ($(tr '\0' ' ' <"$p/cmdline")) left in a deleted host"
  done
done
[ ! -e "$secrets" ] || fail "secrets file left after down"
[ -z "$(find "$work/run" -mindepth 1 ! -path "$work/run/ssh" ! -path "$work/run/ssh/*" 2>/dev/null)" ] ||
  fail "files left after down"
echo "nomad-local: two federated regions, the job in both, idempotent up, failures contained, nothing left"
