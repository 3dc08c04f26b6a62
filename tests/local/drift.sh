#!/usr/bin/env bash
# Drift of the local provider's hosts repaired by infra up: a killed sshd,
# a killed haproxy and a deleted nftables table. Before each repair infra
# status says drifted (what the provider plans to change), infra up updates
# exactly that resource, and afterwards status says ok and the daemon or
# table is back. One host, a prefix and a /24 of this run only.
#   usage: drift.sh INFRA_BINARY      (exit 77 = skipped: not root or a tool missing)
set -euo pipefail
infra=$1
here=$(cd "$(dirname "$0")" && pwd)

# shellcheck source=SCRIPTDIR/../lib.sh
source "$here/../lib.sh"
[ "$(id -u)" -eq 0 ] || skip "the local provider needs root"
export PATH=$PATH:/usr/sbin:/sbin
for tool in ip sshd ssh-keygen nft haproxy busybox jq; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/deps.sh installs it)"
done

work=$(mktemp -d /tmp/infra-local-drift.XXXXXX)
prefix=d$(printf '%04x' $(($$ % 65536)))
topo=$work/local.yaml
export INFRA_PLUGIN_PATH
INFRA_PLUGIN_PATH=$(dirname "$infra")/plugins
export INFRA_LOCAL_RUN_DIR=$work/run INFRA_LOCAL_PREFIX=$prefix
cidr=$(free_test_cidr 150 50)
[ -n "$cidr" ] || skip "no free 10.213.x.0/24 for the test network"
export INFRA_LOCAL_CIDR=$cidr
cp "$here/../../examples/local.yaml" "$topo"

cleanup() {
  local rc=$?
  "$infra" down "$topo" --yes --var hosts=1 >/dev/null 2>&1 || true
  local_leftovers_remove "$prefix" "$work"
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT

infra_run() { # STATUS COMMAND ARGS...: infra with one host
  local want=$1 cmd=$2
  shift 2
  run "$want" "$infra" "$cmd" "$topo" --var hosts=1 "$@"
}
state_id() { jq -r ".resources[\"$1\"].attributes.id" "$(pull_state "$infra" "$topo")"; }
netns_of() { echo "$prefix-$(state_id "$1")"; }
# pid_in NETNS COMM: the process named COMM in the namespace, or nothing.
pid_in() {
  local p
  for p in $(ip netns pids "$1"); do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$2" ] && echo "$p"
  done
  return 0
}
# repaired ADDRESS ATTR: status says drifted (ATTR) for ADDRESS, up updates
# it in place, status says ok.
repaired() {
  infra_run 0 status
  grep -F "$1 " "$work/out" | grep -qF "drifted ($2)" ||
    { cat "$work/out" >&2; fail "status does not say $1 drifted ($2)"; }
  infra_run 0 up
  out_has "~ $1  (update in place: $2; changed outside infra)"
  out_has "Plan: 0 to create, 1 to update, 0 to replace, 0 to delete."
  infra_run 0 status
  out_lacks "drifted"
  out_lacks "missing"
  infra_run 0 plan
}

infra_run 0 up
host_ns=$(netns_of 'instance.web[0]')
lb_ns=$(netns_of load_balancer.web)

kill "$(pid_in "$host_ns" sshd)"
for _ in $(seq 1 50); do [ -z "$(pid_in "$host_ns" sshd)" ] && break; sleep 0.1; done
repaired 'instance.web[0]' sshd
[ -n "$(pid_in "$host_ns" sshd)" ] || fail "sshd was not started again"

kill "$(pid_in "$lb_ns" haproxy)"
for _ in $(seq 1 50); do [ -z "$(pid_in "$lb_ns" haproxy)" ] && break; sleep 0.1; done
repaired load_balancer.web haproxy
[ -n "$(pid_in "$lb_ns" haproxy)" ] || fail "haproxy was not started again"

ip netns exec "$host_ns" nft delete table inet infra
repaired firewall.web status
# Read whole, then searched: nft writes in small pieces, and grep -q leaving
# at the first match would fail the pipe under pipefail.
tables=$(ip netns exec "$host_ns" nft list tables)
grep -q "inet infra" <<<"$tables" || fail "the nftables table is not back"
echo "local drift: sshd, haproxy and the nftables table repaired by up; status before and after"
