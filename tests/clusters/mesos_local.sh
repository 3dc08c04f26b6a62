#!/usr/bin/env bash
# examples/mesos-local.yaml end to end, through the infra binary, on real
# namespace hosts with sshd, Debian's ZooKeeper and haproxy, and the
# stand-in mesos-master, mesos-agent and marathon, installed on the hosts
# by the plugin (launchers of the stand-ins, given as files with their
# SHA-256: mesos-master and mesos-agent in one .zip): 3 masters, agents in
# the staging and prod pools, a load balancer. Then: the ensemble has one
# leader and ids agreeing with zoo.cfg, Mesos and Marathon have leaders, the
# prod variant of web answers through haproxy; each master got mesos-master
# and marathon, each agent mesos-agent, the load balancer nothing, each
# uploaded once; a second up changes nothing, and a later one that
# bootstraps every node again uploads nothing;
# -e prod plans the same variant; a new version rolls out while a
# probe through the load balancer never fails; a version whose health
# check never passes is reported and rolled back while the old tasks keep
# serving; a wrong Marathon password is refused clearly and disturbs
# nothing; a ZooKeeper member that never joins is named while the rest keeps
# running; the prod agents replaced one after the other, each drained,
# without a failed request; the masters replaced one at a time keeping
# ZooKeeper's majority; down leaves nothing. Then -e staging, a cluster of
# its own: the staging variant through its haproxy; its down leaves nothing.
#   usage: mesos_local.sh INFRA_BINARY     (exit 77 = skipped: not root)
set -euo pipefail
infra=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

# shellcheck source=SCRIPTDIR/../lib.sh
source "$root/tests/lib.sh"
[ "$(id -u)" -eq 0 ] || skip "local hosts need root"
export PATH=$PATH:/usr/sbin:/sbin
for tool in ip sshd busybox curl jq haproxy java; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/deps.sh installs it)"
done
[ -f /usr/share/java/zookeeper.jar ] || skip "zookeeper is not installed (scripts/deps.sh installs it)"

work=$(mktemp -d /tmp/infra-mesos-e2e.XXXXXX)
prefix=m$(printf '%04x' $(($$ % 65536)))
mkdir -p "$work/apps"
cp "$root/examples/mesos-local.yaml" "$work/cluster.yaml"
cp "$root/examples/apps/web.json" "$work/apps/web.json"
topo=$work/cluster.yaml
state=$work/.infra/mesos-local.default.db # sqlite
secrets=$work/.infra/mesos-local.default.secrets.json
export INFRA_PLUGIN_PATH
INFRA_PLUGIN_PATH=$(dirname "$infra")/plugins
export INFRA_LOCAL_RUN_DIR=$work/run INFRA_LOCAL_PREFIX=$prefix NO_COLOR=1
standins=$("$root/tests/standins/stage.sh")
# The files the plugin installs: launchers of the stand-ins (which must run
# from where stage.sh put them), Mesos' two in one .zip as Mesos ships both.
# launcher NAME: writes $work/dist/NAME.
launcher() {
  mkdir -p "$work/dist"
  printf '#!/bin/sh\n# %s: the stand-in of tests/standins\nexec %s "$@"\n' "$1" "$standins/$1" >"$work/dist/$1"
}
launcher mesos-master
launcher mesos-agent
launcher marathon
/usr/bin/python3 - "$work/dist" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1] + "/mesos-1.11.zip", "w") as z:
    for name in ("mesos-master", "mesos-agent"):
        z.write(sys.argv[1] + "/" + name, "mesos-1.11/bin/" + name)
PY
export INFRA_VAR_mesos_file=$work/dist/mesos-1.11.zip INFRA_VAR_marathon_file=$work/dist/marathon
INFRA_VAR_mesos_sha256=$(sha256sum "$INFRA_VAR_mesos_file" | cut -c1-64)
INFRA_VAR_marathon_sha256=$(sha256sum "$INFRA_VAR_marathon_file" | cut -c1-64)
export INFRA_VAR_mesos_sha256 INFRA_VAR_marathon_sha256
cidr=$(free_test_cidr 200 30)
[ -n "$cidr" ] || skip "no free 10.213.x.0/24 for the test network"
export INFRA_LOCAL_CIDR=$cidr
probe_pid=
watch_pid=
envargs=() # the environment the helpers below act on: () is the default, prod's variant

cleanup() {
  local rc=$?
  if [ $rc -ne 0 ] && [ -n "${KEEP:-}" ]; then # KEEP=1: a failed run's cluster stays
    echo "kept: $work (prefix $prefix); infra down $topo --yes with INFRA_LOCAL_RUN_DIR=$work/run" >&2
    exit $rc
  fi
  [ -z "$probe_pid" ] || kill "$probe_pid" 2>/dev/null || true
  [ -z "$watch_pid" ] || kill "$watch_pid" 2>/dev/null || true
  "$infra" down "$topo" --yes >/dev/null 2>&1 || true
  "$infra" down "$topo" -e staging --yes >/dev/null 2>&1 || true
  local_leftovers_remove "$prefix" "$work"
  [ $rc -eq 0 ] || { echo "--- last output" >&2; tail -n 60 "$work/out" >&2 2>/dev/null || true; }
  rm -rf "$work" "$(dirname "$standins")"
  exit $rc
}
trap cleanup EXIT

# up [ARGS...]: infra up, output in $work/out; fails the test unless it succeeds.
up() { "$infra" up "$topo" "${envargs[@]}" "$@" >"$work/out" 2>&1 || { cat "$work/out" >&2; fail "infra up $* failed"; }; }
# up_fails [ARGS...]: infra up that must fail.
up_fails() { ! "$infra" up "$topo" "${envargs[@]}" "$@" >"$work/out" 2>&1 || { cat "$work/out" >&2; fail "infra up $* succeeded"; }; }
out() { "$infra" output "$topo" "${envargs[@]}" --json "$@"; }
password() { jq -r '.["marathon.mesos.http_password"]' "$secrets"; }

# eventually COMMAND...: true once COMMAND succeeds, trying for about 60 s.
eventually() {
  local try
  for try in $(seq 1 60); do
    "$@" && return 0
    sleep 1
  done
  return 1
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

# marathon PATH: GET on Marathon through the masters, with its credentials.
marathon() {
  local ip
  for ip in $(out | jq -r '.masters[]'); do
    curl -sf --max-time 10 -u "infra:$(password)" "http://$ip:8080$1" && return 0
  done
  return 1
}
mesos_state() { # the leading master's /master/state (a master redirects to it)
  local ip
  for ip in $(out | jq -r '.masters[]'); do
    curl -sfL --max-time 10 "http://$ip:5050/master/state" && return 0
  done
  return 1
}
zk_mode() { # IP: the Mode: line of ZooKeeper's srvr
  local reply
  reply=$(exec 3<>"/dev/tcp/$1/2181" && printf srvr >&3 && cat <&3) || return 1
  sed -n 's/^Mode: //p' <<<"$reply"
}
# zk_ids_agree: each member's myid is the id zoo.cfg gives its address.
zk_ids_agree() {
  local h id ip
  for h in "$work/run/$prefix/hosts"/*; do
    [ -f "$h/root/var/lib/zookeeper/myid" ] || continue
    id=$(cat "$h/root/var/lib/zookeeper/myid")
    ip=$(jq -r .address "$h/host.json")
    grep -qx "server\.$id=$ip:2888:3888" "$h/root/etc/zookeeper/conf/zoo.cfg" ||
      fail "ZooKeeper member $ip has myid $id, which zoo.cfg does not give it"
  done
}
# lb HOST: GET / through the load balancer with Host: HOST.
lb() { curl -sf --max-time 5 -H "Host: $1" "http://$(out | jq -r .lb)/"; }
web_is() { lb web.prod | grep -q "^web $1 on "; }
lb_is() { lb "$1" | grep -q "^web $2 on "; } # HOST TAG
app_healthy() {
  marathon "/v2/apps$1" | jq -e '.app | .tasksHealthy == .instances and .tasksRunning == .instances' >/dev/null
}
# probe_start / probe_stop: GETs through the load balancer, none may fail.
probe_start() {
  local lbip
  lbip=$(out | jq -r .lb)
  : >"$work/probe"
  (
    n=0 bad=0
    trap 'echo "probe n=$n fails=$bad" >>"$work/probe"; exit 0' TERM
    while :; do
      n=$((n + 1))
      curl -sf --max-time 5 -H "Host: web.prod" "http://$lbip/" >/dev/null || {
        bad=$((bad + 1))
        echo "failed at $(date +%T.%N)" >>"$work/probe"
      }
      sleep 0.1
    done
  ) &
  probe_pid=$!
}
probe_stop() {
  kill "$probe_pid"
  wait "$probe_pid" || true
  probe_pid=
  grep -q "^probe n=[1-9][0-9]* fails=0$" "$work/probe" || { cat "$work/probe" >&2; fail "a request through the load balancer failed during $1"; }
}

# 1. up: ZooKeeper, Mesos and Marathon each have a leader, the agents
#    their attributes, and web (prod: tag 1.0, 2 instances) answers
#    through haproxy by its name.
up
grep -q "Apply: .* 0 failed, 0 skipped" "$work/out" || fail "the apply reported failures"
[ "$(stat -c %a "$secrets")" = 600 ] || fail "secrets file is not 0600"
pw=$(password)
[ ${#pw} -ge 32 ] || fail "the Marathon password is not a generated secret"
! grep -rqF "$pw" "$work/out" "$state" || fail "the Marathon password reached the output or the state"
modes=$(for ip in $(out | jq -r '.masters[]'); do zk_mode "$ip"; done | sort | tr '\n' ' ')
[ "$modes" = "follower follower leader " ] || fail "the ZooKeeper ensemble's modes are: $modes"
zk_ids_agree
mesos_state | jq -e '.leader != null and .leader != ""' >/dev/null || fail "Mesos has no leader"
mesos_state | jq -e '[.slaves[] | select(.active) | .attributes.env] | sort == ["prod","prod","staging"]' >/dev/null ||
  fail "the agents registered are: $(mesos_state | jq -c '[.slaves[] | [.hostname, .active, .attributes]]')"
marathon /v2/leader | jq -e '.leader != null' >/dev/null || fail "Marathon has no leader"
curl -s -o /dev/null -w '%{http_code}' "http://$(out | jq -r '.masters[0]'):8080/v2/apps" | grep -qx 401 ||
  fail "Marathon answers without credentials"
eventually app_healthy /prod/web || fail "/prod/web is not healthy: $(marathon /v2/apps/prod/web | jq -c .app)"
marathon /v2/apps/prod/web | jq -e '.app.instances == 2 and .app.labels.version == "1.0" and
  (.app.constraints | any(. == ["env","CLUSTER","prod"]))' >/dev/null ||
  fail "/prod/web is not the prod variant: $(marathon /v2/apps/prod/web | jq -c '.app | [.instances, .labels, .constraints]')"
eventually web_is 1.0 || fail "web.prod does not answer through the load balancer"
"$infra" status "$topo" >"$work/status.txt" 2>&1 || { cat "$work/status.txt" >&2; fail "status failed"; }
grep -q "/prod/web .*2/2 healthy" "$work/status.txt" || { cat "$work/status.txt" >&2; fail "status does not show web's tasks"; }

# 1b. Installed: each master got mesos-master and marathon, each agent
#     mesos-agent, the load balancer nothing, each uploaded once, in
#     /opt/bin (the hosts' PATH has none of them).
[ "$(grep -c "node mesos-local-masters-.*: mesos: uploaded 1 file .* installed" "$work/out")" -eq 3 ] &&
  [ "$(grep -c "node mesos-local-masters-.*: marathon: uploaded 1 file .* installed" "$work/out")" -eq 3 ] &&
  [ "$(grep -c "node mesos-local-\(staging\|prod\)-.*: mesos: uploaded 1 file .* installed" "$work/out")" -eq 3 ] &&
  [ "$(grep -c "node mesos-local-.*: \(mesos\|marathon\|zookeeper\): " "$work/out")" -eq 9 ] ||
  { grep ": \(mesos\|marathon\|zookeeper\): " "$work/out" >&2; fail "the masters and agents were not each given their programs once"; }
installed() { # NAME: how many hosts hold the launcher NAME in /opt/bin
  local d n=0
  for d in "$work/run/$prefix/hosts"/*/root/opt/bin; do
    [ -f "$d/$1" ] || continue
    [ "$(stat -c %a "$d/$1")" = 755 ] && cmp -s "$d/$1" "$work/dist/$1" || fail "$d/$1 is not the launcher"
    n=$((n + 1))
  done
  echo $n
}
[ "$(installed mesos-master)" = 3 ] && [ "$(installed marathon)" = 3 ] && [ "$(installed mesos-agent)" = 3 ] ||
  fail "hosts holding mesos-master, marathon, mesos-agent: $(installed mesos-master), $(installed marathon), $(installed mesos-agent)"

# 2. A second up changes nothing.
up
grep -q "^No changes\.$" "$work/out" || fail "second up planned changes"

# 3. -e prod is the default's variant (planned only: its own state).
"$infra" plan "$topo" -e prod --json >"$work/plan.json" 2>"$work/err" || [ $? -eq 2 ] || fail "prod plan failed"
jq -e '.[] | select(.address == "app.web") | .after.set | .id == "/prod/web" and .instances == 2 and
  .version == "1.0" and (.constraints | any(. == ["env","CLUSTER","prod"]))' "$work/plan.json" >/dev/null ||
  fail "-e prod does not plan the prod variant of web"

# 4. A new version rolls out while a probe through the load balancer never fails.
probe_start
up --var web_tag=2.0
eventually web_is 2.0 || fail "web.prod does not answer with version 2.0"
probe_stop "the rollout of 2.0"

# 5. A version whose health check never passes: reported with the task's
#    last status and rolled back; the old tasks keep serving throughout.
cp "$topo" "$work/cluster.yaml.orig"
topo_edit 'd["apps"]["web"]["set"]["healthChecks"] = [{"protocol": "HTTP", "path": "/missing", "portIndex": 0,
    "gracePeriodSeconds": 2, "intervalSeconds": 1, "timeoutSeconds": 1, "maxConsecutiveFailures": 2}]'
probe_start
up_fails --var web_tag=3.0
grep -q "app /prod/web: version .* failed" "$work/out" || fail "the failed version is not reported"
grep -q "rolled back, the previous version keeps serving" "$work/out" || fail "the rollback is not said"
web_is 2.0 || fail "web.prod no longer answers with version 2.0"
probe_stop "the failed deployment"
cp "$work/cluster.yaml.orig" "$topo"
eventually app_healthy /prod/web || fail "/prod/web is not healthy after the rollback"
up --var web_tag=2.0
grep -q "^No changes\.$" "$work/out" || fail "the rolled back version is not the one in state"

# 6. A wrong Marathon password: a clear refusal, nothing printed, nothing disturbed.
cp "$secrets" "$work/secrets.good"
jq '.["marathon.mesos.http_password"] = "wrong-password-0123456789abcdef"' "$work/secrets.good" >"$work/secrets.bad"
install -m 0600 "$work/secrets.bad" "$secrets"
up_fails --var web_tag=2.0 --var web_instances=1
grep -qi "401\|password\|credentials" "$work/out" || fail "a wrong password is not reported as such"
! grep -qF "wrong-password-0123456789abcdef" "$work/out" || fail "the password was printed"
install -m 0600 "$work/secrets.good" "$secrets"
app_healthy /prod/web || fail "web is disturbed by the refused apply"
web_is 2.0 || fail "web.prod stopped answering"

# 6b. A ZooKeeper member that never joins: a region of its own whose one
#     master answers SSH but sends nothing else (its user data cuts it off
#     with nftables). The error names the node and ZooKeeper; region local
#     keeps its leaders and web keeps answering.
topo_edit 'd["clusters"]["mesos"]["node_deadline"] = 20
d["clusters"]["mesos"]["regions"]["cut"] = {"datacenters": {"cut-masters": {
    "provider": "local", "servers": 1, "network": "${network.main.id}", "image": "debian-12",
    "user_data": "nft -f /dev/stdin <<EOF\ntable inet cut {\n chain out {\n  type filter hook output priority 0; policy drop;\n  oif lo accept\n  tcp sport 22 accept\n }\n}\nEOF\n"}}}'
up_fails --var web_tag=2.0
grep -q "mesos-cut-cut-masters-server-0" "$work/out" || fail "the node that never joins is not named"
grep -qi "zookeeper" "$work/out" || fail "the message does not say ZooKeeper is what is missing"
mesos_state | jq -e '.leader != null and .leader != ""' >/dev/null || fail "region local lost its Mesos leader"
web_is 2.0 || fail "web.prod stopped answering"
cp "$work/cluster.yaml.orig" "$topo"
up --var web_tag=2.0
app_healthy /prod/web || fail "web is not healthy once the cut region is gone"
# node_deadline is back: every node of region local was bootstrapped
# again, and none had anything uploaded
[ "$(grep -c "node mesos-local-.*: \(mesos\|marathon\): already installed .* nothing uploaded" "$work/out")" -eq 9 ] &&
  ! grep -q ": \(mesos\|marathon\): uploaded" "$work/out" ||
  { grep ": \(mesos\|marathon\): " "$work/out" >&2; fail "a bootstrap of installed nodes uploaded files again"; }

# 6c. A new image for the prod agents: they are replaced one after the
#     other, each drained first (Mesos' DRAIN_AGENT: its task killed and
#     started by Marathon on another agent) and only once web is at full
#     strength again; a probe through the load balancer never fails.
topo_edit 'd["clusters"]["mesos"]["regions"]["local"]["datacenters"]["prod"]["image"] = "debian-12-v2"'
cp "$topo" "$work/cluster.yaml.orig"
probe_start
up --var web_tag=2.0
probe_stop "the replacement of the prod agents"
first_done=$(grep -n "cluster_agent.mesos.local.prod.client\[0\]: replaced" "$work/out" | cut -d: -f1)
second_start=$(grep -n "cluster_agent.mesos.local.prod.client\[1\]: replacing" "$work/out" | cut -d: -f1)
[ -n "$first_done" ] && [ -n "$second_start" ] && [ "$first_done" -lt "$second_start" ] ||
  { grep "prod.client\|prod-client" "$work/out" >&2; fail "the prod agents were not replaced one at a time"; }
[ "$(grep -c "node mesos-local-prod-client-[01]: drained; Marathon moves its tasks" "$work/out")" -eq 2 ] ||
  { grep "prod-client" "$work/out" >&2; fail "the replaced prod agents were not both drained"; }
eventually app_healthy /prod/web || fail "/prod/web is not healthy after the prod agents were replaced"
mesos_state | jq -e '[.slaves[] | select(.active) | .attributes.env] | sort == ["prod","prod","staging"]' >/dev/null ||
  fail "the agents active after the replacement: $(mesos_state | jq -c '[.slaves[] | [.hostname, .active, .attributes]]')"

# 6d. A new image for the masters: replaced one at a time while a watcher
#     asks every ZooKeeper member four times a second. A majority of the
#     ensemble runs at every look; the looks without one ZooKeeper leader
#     and a Marathon naming a leader are only the elections held when a
#     leading master itself goes (at most one per master, each short).
topo_edit 'd["clusters"]["mesos"]["regions"]["local"]["datacenters"]["masters"]["image"] = "debian-12-v2"'
cp "$topo" "$work/cluster.yaml.orig"
password >"$work/pw"
: >"$work/quorum"
/usr/bin/python3 "$here/mesos_quorum_watch.py" "$work/run/$prefix/hosts" 3 "$work/pw" "$work/quorum" &
watch_pid=$!
eventually grep -q "^ok " "$work/quorum" || { cat "$work/quorum" >&2; fail "the watcher sees no quorum before the masters are replaced"; }
up --var web_tag=2.0
kill "$watch_pid"
wait "$watch_pid" || true
watch_pid=
summary=$(tail -n 1 "$work/quorum")
grep -q "^looks=[1-9][0-9]* bad=[0-9]* minority=0 stretches=[0-3] longest=\([0-9]\|1[0-4]\)\.[0-9]$" <<<"$summary" ||
  { grep -v "^ok " "$work/quorum" | head -n 40 >&2; fail "ZooKeeper lost its majority or stayed without a leader while the masters were replaced: $summary"; }
echo "while the masters were replaced: $summary" >&2
for i in 0 1; do
  done_at=$(grep -n "cluster_agent.mesos.local.masters.server\[$i\]: replaced" "$work/out" | cut -d: -f1)
  next_at=$(grep -n "cluster_agent.mesos.local.masters.server\[$((i + 1))\]: replacing" "$work/out" | cut -d: -f1)
  [ -n "$done_at" ] && [ -n "$next_at" ] && [ "$done_at" -lt "$next_at" ] ||
    { grep "masters" "$work/out" >&2; fail "the masters were not replaced one at a time"; }
done
modes=$(for ip in $(out | jq -r '.masters[]'); do zk_mode "$ip"; done | sort | tr '\n' ' ')
[ "$modes" = "follower follower leader " ] || fail "after the masters' replacement the modes are: $modes"
zk_ids_agree
eventually app_healthy /prod/web || fail "/prod/web is not healthy after the masters were replaced"
web_is 2.0 || fail "web.prod does not answer after the masters were replaced"

# 7. down: nothing left.
# down_leaves_nothing: infra down of the environment envargs names, then
# no namespace, process, secrets file or host file of it is left. A
# deleted namespace's inode number can be given to a namespace another
# test makes meanwhile, so only a process that already ran before down
# began counts as left behind.
down_leaves_nothing() {
  local inodes down_began hz in_hosts pid cmd
  inodes=$(for ns in $(ip netns list | awk -v p="$prefix-" 'index($1, p) == 1 {print $1}'); do stat -L -c %i "/run/netns/$ns"; done)
  hz=$(getconf CLK_TCK)
  down_began=$(awk -v hz="$hz" '{printf "%d", $1 * hz}' /proc/uptime)
  "$infra" down "$topo" "${envargs[@]}" --yes >"$work/out" 2>&1 || { cat "$work/out" >&2; fail "down failed"; }
  [ -z "$(ip netns list | awk -v p="$prefix-" 'index($1, p) == 1')" ] || fail "namespaces left after down"
  # every process's network namespace in one stat: the ones in a deleted host
  in_hosts=$({ stat -L -c '%i %n' /proc/[0-9]*/ns/net 2>/dev/null || true; } |
    awk -v want=" $(echo $inodes) " 'index(want, " " $1 " ") {split($2, a, "/"); print a[3]}')
  # leftover PID: PID runs and started before down began
  leftover() {
    local started
    started=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $20}' || true)
    [ -n "$started" ] && [ "$started" -lt "$down_began" ]
  }
  gone() { ! leftover "$1"; }
  for pid in $in_hosts; do
    if leftover "$pid"; then
      cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
      echo "process $pid ($cmd) of a deleted host still ends after down" >&2
      eventually gone "$pid" || fail "process $pid ($cmd) left in a deleted host"
    fi
  done
  [ ! -e "$secrets" ] || fail "secrets file left after down"
  [ -z "$(find "$work/run" -mindepth 1 ! -path "$work/run/ssh" ! -path "$work/run/ssh/*" 2>/dev/null)" ] ||
    fail "files left after down"
}
down_leaves_nothing

# 8. infra up -e staging: every environment has its own state and
#    secrets, so staging is a cluster of its own (made once the default's
#    is down: one cluster at a time on the test machine). It runs the
#    staging variant of web, tag 1.1-rc1, one instance, on the staging
#    agent, answering through haproxy as web.staging, and no prod
#    variant; down leaves nothing again.
envargs=(-e staging)
secrets=$work/.infra/mesos-local.staging.secrets.json
up
grep -q "Apply: .* 0 failed, 0 skipped" "$work/out" || fail "the staging apply reported failures"
eventually app_healthy /staging/web || fail "/staging/web is not healthy: $(marathon /v2/apps/staging/web | jq -c .app)"
marathon /v2/apps/staging/web | jq -e '.app.instances == 1 and .app.labels.version == "1.1-rc1" and
  (.app.constraints | any(. == ["env","CLUSTER","staging"]))' >/dev/null ||
  fail "/staging/web is not the staging variant: $(marathon /v2/apps/staging/web | jq -c '.app | [.instances, .labels, .constraints]')"
staging_agent=$(mesos_state | jq -r '.slaves[] | select(.active and .attributes.env == "staging") | .hostname')
[ "$(marathon /v2/apps/staging/web | jq -r '.app.tasks[].host')" = "$staging_agent" ] ||
  fail "/staging/web does not run on the staging agent $staging_agent"
[ "$(marathon /v2/apps | jq -c '[.apps[].id]')" = '["/staging/web"]' ] ||
  fail "the staging cluster runs: $(marathon /v2/apps | jq -c '[.apps[].id]')"
eventually lb_is web.staging 1.1-rc1 || fail "web.staging does not answer through the load balancer with 1.1-rc1"
! lb web.prod >/dev/null || fail "the staging load balancer answers for web.prod"
down_leaves_nothing
echo "mesos-local: ZooKeeper, Mesos and Marathon led, web through haproxy, idempotent up, rollout and agents replaced without a failed request, masters replaced keeping the quorum, failures contained, staging's variant in its own cluster, nothing left"
