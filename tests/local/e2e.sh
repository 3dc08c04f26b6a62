#!/usr/bin/env bash
# The local provider end to end through the infra binary, on
# examples/local.yaml: real namespace hosts with sshd, a busybox web server
# started by user_data, an nftables firewall, an haproxy load balancer and
# a hosts-file DNS record. Every object has a prefix and a /24 of this run
# only; traffic stays on the bridge the run creates.
#   usage: e2e.sh INFRA_BINARY      (exit 77 = skipped: not root or a tool missing)
set -euo pipefail
infra=$1
here=$(cd "$(dirname "$0")" && pwd)
example=$here/../../examples/local.yaml

# shellcheck source=SCRIPTDIR/../lib.sh
source "$here/../lib.sh"
[ "$(id -u)" -eq 0 ] || skip "the local provider needs root"
export PATH=$PATH:/usr/sbin:/sbin
for tool in ip sshd ssh-keygen nft haproxy busybox curl jq nsenter; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/deps.sh installs it)"
done

work=$(mktemp -d /tmp/infra-local-e2e.XXXXXX)
prefix=e$(printf '%04x' $(($$ % 65536)))
topo=$work/local.yaml
# state_doc: the state document, pulled (see pull_state); prints its path.
state_doc() { pull_state "$infra" "$topo"; }
export INFRA_PLUGIN_PATH
INFRA_PLUGIN_PATH=$(dirname "$infra")/plugins
export INFRA_LOCAL_RUN_DIR=$work/run INFRA_LOCAL_PREFIX=$prefix
hosts=3
cidr=$(free_test_cidr 100 50)
[ -n "$cidr" ] || skip "no free 10.213.x.0/24 for the test network"
export INFRA_LOCAL_CIDR=$cidr
cp "$example" "$topo"
listener=

# Removes whatever a failed run left with this run's prefix, then the files.
cleanup() {
  local rc=$?
  [ -n "$listener" ] && kill "$listener" 2>/dev/null
  "$infra" down "$topo" --yes >/dev/null 2>&1 || true
  local_leftovers_remove "$prefix" "$work"
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT

# up [HOSTS]: brings the topology up with that many hosts (default $hosts).
up() {
  local n=${1:-$hosts}
  "$infra" up "$topo" --var hosts="$n" >"$work/out" 2>&1 || { cat "$work/out" >&2; fail "infra up with $n hosts failed"; }
}
outputs() { "$infra" output "$topo" --json; }
netns_count() { ip netns list | awk -v p="$prefix-$1" 'index($1, p) == 1' | wc -l; }
host_dirs() { find "$work/run/$prefix/hosts" -mindepth 1 -maxdepth 1 -name "$1*" 2>/dev/null | wc -l; }
state_hosts() { jq '[.resources | keys[] | select(startswith("instance.web["))] | length' "$(state_doc)"; }

# Exactly n hosts everywhere: state, netns, host records, outputs; plus one balancer.
check_hosts() {
  local n=$1 label=$2
  [ "$(state_hosts)" -eq "$n" ] || fail "$label: state has $(state_hosts) hosts, expected $n"
  [ "$(netns_count h)" -eq "$n" ] || fail "$label: $(netns_count h) host namespaces, expected $n"
  [ "$(host_dirs h)" -eq "$n" ] || fail "$label: $(host_dirs h) host records, expected $n"
  [ "$(netns_count l)" -eq 1 ] || fail "$label: $(netns_count l) balancer namespaces, expected 1"
  [ "$(outputs | jq '.host_ips | length')" -eq "$n" ] || fail "$label: host_ips does not list $n hosts"
  [ "$(jq '.intents | length' "$(state_doc)")" -eq 0 ] || fail "$label: intents left in the state"
}

# plan_is_clean LABEL [HOSTS]
plan_is_clean() {
  local rc=0
  "$infra" plan "$topo" --var hosts="${2:-$hosts}" >"$work/plan" 2>&1 || rc=$?
  [ $rc -eq 0 ] || { cat "$work/plan" >&2; fail "$1: plan exits $rc, expected 0 (no changes)"; }
}

# 1. up: three hosts, the balancer answers with one host's name.
up
check_hosts 3 "first up"
lb=$(outputs | jq -r .lb_address)
seen=
for _ in $(seq 1 120); do
  body=$(curl -s --max-time 3 "http://$lb/" || true)
  if [[ $body =~ ^web-[0-9]+$ ]]; then seen="$seen $body"; fi
  [ "$(echo "$seen" | tr ' ' '\n' | sort -u | grep -c .)" -ge 2 ] && break
  sleep 0.25
done
[ -n "$seen" ] || fail "no answer with a host name through the balancer at $lb:80"
[ "$(echo "$seen" | tr ' ' '\n' | sort -u | grep -c .)" -ge 2 ] || fail "the balancer only ever answered from$seen"
echo "balancer answered from:$(echo "$seen" | tr ' ' '\n' | sort -u | tr '\n' ' ')"

# The DNS record resolves inside a host (the one holding the first address).
ip0=$(outputs | jq -r '.host_ips[0]')
ns0=
for ns in $(ip netns list | awk -v p="$prefix-h" 'index($1, p) == 1 {print $1}'); do
  ip -n "$ns" -4 -o addr show dev eth0 | grep -q " $ip0/" && ns0=$ns
done
[ -n "$ns0" ] || fail "no host namespace holds $ip0"
mnt0=$work/run/$prefix/ns/${ns0#"$prefix-"}.mnt
resolved=$(nsenter --mount="$mnt0" getent hosts www.local.test | awk '{print $1}')
[ "$resolved" = "$lb" ] || fail "www.local.test resolves to '$resolved' inside a host, expected $lb"

# 2. The firewall: 8080 answers, a port it does not list does not.
[[ $(curl -s --max-time 3 "http://$ip0:8080/") =~ ^web- ]] || fail "port 8080 of $ip0 is not reachable"
ip netns exec "$ns0" busybox nc -l -p 9000 >/dev/null 2>&1 &
listener=$!
for _ in $(seq 1 50); do ip netns exec "$ns0" ss -ltn | grep -q ':9000 ' && break; sleep 0.1; done
ip netns exec "$ns0" ss -ltn | grep -q ':9000 ' || fail "the test listener did not start"
if timeout 3 bash -c "exec 3<>/dev/tcp/$ip0/9000" 2>/dev/null; then
  fail "port 9000 of $ip0 is reachable although the firewall does not allow it"
fi
kill "$listener" 2>/dev/null || true
listener=

# 3. A second up changes nothing, and plan agrees.
up
plan_is_clean "after a second up"

# 4. 3 -> 5 -> 3 adds and removes exactly those hosts.
before=$(outputs | jq -c '.host_ips')
up 5
check_hosts 5 "count 5"
[ "$(outputs | jq -c '.host_ips[0:3]')" = "$before" ] || fail "growing to 5 changed the first 3 hosts"
up 3
check_hosts 3 "back to 3"
[ "$(outputs | jq -c '.host_ips')" = "$before" ] || fail "shrinking to 3 did not keep the first 3 hosts"
plan_is_clean "after 3 -> 5 -> 3" 3

# 5. kill -9 in the middle of an up (as soon as the 4th or 5th host has a
#    record), then up again with 3 (the new hosts are unwanted) or 5 hosts:
#    converges, nothing leaks.
hits=0
for run in "3 4" "3 5" "5 4" "5 5"; do
  set -- $run
  target=$1 wait_for=$2
  "$infra" up "$topo" --var hosts=5 >"$work/out" 2>&1 &
  pid=$!
  for _ in $(seq 1 400); do
    [ "$(host_dirs h)" -ge "$wait_for" ] && break
    sleep 0.02
  done
  kill -9 "$pid" 2>/dev/null && hits=$((hits + 1))
  wait "$pid" 2>/dev/null || true
  up "$target"
  check_hosts "$target" "rerun with $target hosts after kill -9"
  plan_is_clean "after the kill -9 rerun with $target hosts" "$target"
done
echo "kill -9 landed during $hits of 4 runs of up"
[ $hits -ge 2 ] || fail "kill -9 never caught up running: the test proves nothing"

# 6. down leaves nothing: namespaces, links, mounts, processes, files.
inodes=$(for ns in $(ip netns list | awk -v p="$prefix-" 'index($1, p) == 1 {print $1}'); do stat -L -c %i "/run/netns/$ns"; done)
"$infra" down "$topo" --yes >"$work/out" 2>&1 || { cat "$work/out" >&2; fail "infra down failed"; }
[ "$(netns_count '')" -eq 0 ] || fail "namespaces left after down: $(ip netns list | grep "^$prefix-")"
links=$(ip -o link show | awk -F': ' -v p="$prefix" 'index($2, p) == 1 {print $2}')
[ -z "$links" ] || fail "links left after down: $links"
! grep -qF " $work/" /proc/self/mountinfo || fail "mounts left after down: $(grep -F " $work/" /proc/self/mountinfo)"
for ino in $inodes; do
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/ns/net" 2>/dev/null)" = "net:[$ino]" ] && fail "process ${p#/proc/} left in a deleted host"
  done
done
files=$(find "$work/run" -mindepth 1 ! -path "$work/run/ssh" ! -path "$work/run/ssh/*")
[ -z "$files" ] || fail "files left after down: $files"
echo "local e2e: up, balancer, dns, firewall, idempotent up, 3->5->3, kill -9 recovery and down all passed"
