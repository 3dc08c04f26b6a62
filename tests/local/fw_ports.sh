#!/usr/bin/env bash
# Local firewall rules beyond single TCP ports, on one real namespace host:
# a port range ("20000-20010": a port inside answers, one outside does
# not), ICMP closed until {proto: icmp} opens it, the rules read back from
# nftables (a rule flushed behind infra's back is drift that up repairs),
# and bad ranges or keys refused at validate with file:line:key.
#   usage: fw_ports.sh INFRA_BINARY      (exit 77 = skipped: not root or a tool missing)
set -euo pipefail
infra=$1
here=$(cd "$(dirname "$0")" && pwd)

# shellcheck source=SCRIPTDIR/../lib.sh
source "$here/../lib.sh"
[ "$(id -u)" -eq 0 ] || skip "the local provider needs root"
export PATH=$PATH:/usr/sbin:/sbin
for tool in ip sshd ssh-keygen nft busybox jq timeout; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/deps.sh installs it)"
done

work=$(mktemp -d /tmp/infra-local-fwports.XXXXXX)
prefix=f$(printf '%04x' $(($$ % 65536)))
topo=$work/fw.yaml
export INFRA_PLUGIN_PATH
INFRA_PLUGIN_PATH=$(dirname "$infra")/plugins
export INFRA_LOCAL_RUN_DIR=$work/run INFRA_LOCAL_PREFIX=$prefix
cidr=$(free_test_cidr 200 50)
[ -n "$cidr" ] || skip "no free 10.213.x.0/24 for the test network"
listeners=()

cleanup() {
  local rc=$?
  for pid in "${listeners[@]}"; do kill "$pid" 2>/dev/null || true; done
  "$infra" down "$topo" --yes >/dev/null 2>&1 || true
  local_leftovers_remove "$prefix" "$work"
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT

# topology ALLOW: one host behind a firewall allowing ALLOW (YAML list items).
topology() {
  cat >"$topo" <<YAML
name: fwports
providers:
  local: { prefix: "$prefix", run_dir: "$work/run" }
networks:
  main: { cidr: "$cidr" }
instances:
  host: { network: "\${network.main.id}", image: debian-12, size: small }
firewalls:
  ports:
    network: "\${network.main.id}"
    targets: ["\${instance.host.private_ip}"]
    allow:
$1
YAML
}

# 1. Refused at validate, each at its file:line:key.
topology '      - "32000-20000"
      - "20000-70000"
      - { port: 22, proto: icmp }
      - { port: 22, colour: red }'
run 1 "$infra" validate "$topo"
err_has 'fw.yaml:13:9: error: firewalls.ports.allow[0]: the range "32000-20000" starts above its end: give the low port first'
err_has 'fw.yaml:14:9: error: firewalls.ports.allow[1]: "20000-70000" is not a port range: LOW-HIGH, both from 1 to 65535'
err_has 'fw.yaml:15:9: error: firewalls.ports.allow[2]: proto icmp takes no port: it opens every ICMP type'
err_has 'fw.yaml:16:29: error: firewalls.ports.allow[3].colour: "colour" is not supported by the local provider here'

# 2. A range: a port inside it answers, one just outside does not; no ICMP.
topology '      - 22
      - "20000-20010"'
run 0 "$infra" up "$topo"
state=$(pull_state "$infra" "$topo")
ip=$(jq -r '.resources["instance.host"].attributes.private_ip' "$state")
ns=$prefix-$(jq -r '.resources["instance.host"].attributes.id' "$state")
for port in 20010 20011; do
  ip netns exec "$ns" busybox nc -l -p $port >/dev/null 2>&1 &
  listeners+=($!)
done
for _ in $(seq 1 50); do
  [ "$(ip netns exec "$ns" ss -ltn | grep -cE ':2001[01] ')" -eq 2 ] && break
  sleep 0.1
done
[ "$(ip netns exec "$ns" ss -ltn | grep -cE ':2001[01] ')" -eq 2 ] || fail "the test listeners did not start"
timeout 5 bash -c "exec 3<>/dev/tcp/$ip/20010" || fail "port 20010, inside the range, is not reachable"
if timeout 3 bash -c "exec 3<>/dev/tcp/$ip/20011" 2>/dev/null; then
  fail "port 20011, outside the range, is reachable"
fi
if busybox ping -c 1 -W 2 "$ip" >/dev/null 2>&1; then fail "ICMP passes without a rule for it"; fi
run 0 "$infra" plan "$topo"

# 3. Read back: the rules flushed inside the host are drift; up puts them back.
ip netns exec "$ns" nft flush chain inet infra input
run 2 "$infra" plan "$topo"
out_has "~ firewall.ports  (update in place: status; changed outside infra)"
run 0 "$infra" up "$topo"
# The listing is read whole before it is searched: grep -q stops at the
# first match, and under pipefail an nft still writing would fail the pipe.
listing=$(ip netns exec "$ns" nft list table inet infra)
grep -qF "tcp dport 20000-20010 accept" <<<"$listing" ||
  { cat "$work/out" "$work/err"; echo "$listing"; fail "the range rule is not back"; }
run 0 "$infra" plan "$topo"

# 4. {proto: icmp} opens ICMP.
topology '      - 22
      - "20000-20010"
      - { proto: icmp }'
run 0 "$infra" up "$topo"
busybox ping -c 1 -W 5 "$ip" >/dev/null 2>&1 || fail "ICMP is closed although a rule opens it"
run 0 "$infra" plan "$topo"
echo "local firewall: a port range, ICMP, read back and validate's refusals"
