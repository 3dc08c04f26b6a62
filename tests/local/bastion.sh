#!/usr/bin/env bash
# `infra ssh` through a bastion with the local provider: the target sits
# on a private network only (no address of this machine on its bridge, its
# range unreachable from here), the bastion on the public network and the
# private one. A direct connection to the target fails, yet `infra up`
# provisions it and `infra ssh` reaches it through the bastion (the target
# sees the bastion's private address as its client), both host keys
# pinned; a wrong pinned key of the target, or of the bastion, is refused
# and named. down leaves no bridge, veth or route. Every object has a
# prefix and /24s of this run only.
#   usage: bastion.sh INFRA_BINARY      (exit 77 = skipped: not root or a tool missing)
set -euo pipefail
infra=$1
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
source "$here/../lib.sh"
[ "$(id -u)" -eq 0 ] || skip "the local provider needs root"
export PATH=$PATH:/usr/sbin:/sbin
for tool in ip sshd ssh ssh-keyscan ssh-keygen jq; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/deps.sh installs it)"
done

work=$(mktemp -d /tmp/infra-local-bastion.XXXXXX)
prefix=j$(printf '%04x' $(($$ % 65536)))
topo=$work/bastion.yaml
export INFRA_PLUGIN_PATH
INFRA_PLUGIN_PATH=$(dirname "$infra")/plugins
cidr=$(free_test_cidr 20 15)
pcidr=$(free_test_cidr 35 15)
[ -n "$cidr" ] && [ -n "$pcidr" ] || skip "no free 10.213.x.0/24 for the test networks"

cleanup() {
  local rc=$?
  "$infra" down "$topo" --yes >/dev/null 2>&1 || true
  local_leftovers_remove "$prefix" "$work"
  ip route del unreachable "$pcidr" 2>/dev/null || true
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT

cat >"$topo" <<YAML
name: bastion-test
providers:
  local: { prefix: $prefix, run_dir: $work/run }
networks:
  main: { cidr: $cidr }
  inner: { cidr: $pcidr, private: true }
instances:
  bastion:
    network: "\${network.main.id}"
    extra_networks: ["\${network.inner.id}"]
    image: debian-12
  private:
    count: 1
    network: "\${network.inner.id}"
    image: debian-12
    bastion: "\${instance.bastion}"
YAML
cd "$work"
run 0 "$infra" up "$topo"
state=$(pull_state "$infra" "$topo")
bastion_ip=$(jq -r '.resources["instance.bastion"].attributes.private_ip' "$state")
private_ip=$(jq -r '.resources["instance.private[0]"].attributes.private_ip' "$state")
bastion_inner=$(jq -r '.resources["instance.bastion"].attributes.extra_ips[0]' "$state")
[ -n "$bastion_ip" ] && [ "$bastion_ip" != null ] || fail "no bastion address in the state"
[ "${private_ip%.*}.0/24" = "$pcidr" ] || fail "the target's address $private_ip is not on $pcidr"
[ "${bastion_inner%.*}.0/24" = "$pcidr" ] || fail "the bastion has no address on $pcidr: $bastion_inner"
[ "$(jq -r '.resources["instance.private[0]"].attributes.public_ip' "$state")" = null ] ||
  fail "a host on a private network has a public_ip"

# 0. This machine cannot reach the target: no address on the private
# bridge, the range unreachable (a connect fails at once, nothing leaves by
# the default route), while the bastion reaches it from its namespace.
pbridge=$(jq -r '.resources["network.inner"].attributes.bridge' "$state")
[ -z "$(ip -4 -o addr show dev "$pbridge")" ] || fail "the private bridge $pbridge has an address"
route=$(ip route get "$private_ip" 2>&1 || true)
grep -Eq "unreachable|No route to host" <<<"$route" || fail "$private_ip is routable from this machine: $route"
if timeout 10 bash -c "exec 3<>/dev/tcp/$private_ip/22" 2>/dev/null; then
  fail "this machine connected to $private_ip:22 directly"
fi
bastion_ns=$(jq -r '.resources["instance.bastion"].attributes.netns' "$state")
timeout 10 ip netns exec "$bastion_ns" bash -c "exec 3<>/dev/tcp/$private_ip/22" ||
  fail "the bastion cannot connect to $private_ip:22"
run 0 "$infra" plan "$topo"
# The unreachable route removed outside infra: the network reads back as
# drifted, and up puts the route back.
ip route del unreachable "$pcidr"
run 0 "$infra" status "$topo"
grep -F "network.inner " "$work/out" | grep -qF "drifted (status)" ||
  { cat "$work/out" >&2; fail "status does not say network.inner drifted (status)"; }
run 0 "$infra" up "$topo"
out_has "~ network.inner  (update in place: status; changed outside infra)"
[ -n "$(ip -4 route show type unreachable "$pcidr")" ] || fail "up did not put the unreachable route of $pcidr back"
run 0 "$infra" plan "$topo"

# 1. Through the bastion: the target's sshd sees the bastion as the client.
run 0 "$infra" ssh "$topo" 'instance.private[0]' -- 'echo "client=${SSH_CONNECTION%% *} me=$(hostname)"'
out_has "client=$bastion_inner me=private-0"
run 0 "$infra" ssh "$topo" 'instance.private[0]' -- hostname
out_has "private-0"
# The bastion itself is reached directly (from the bridge's gateway).
run 0 "$infra" ssh "$topo" instance.bastion -- 'echo "client=${SSH_CONNECTION%% *}"'
out_lacks "client=$bastion_ip"
kh=$(find "$work" -name 'known_hosts.infra-instance.private_0_' | head -n1)
[ -f "$kh" ] || fail "no known_hosts file for instance.private[0]"
grep -q '^infra-instance.private_0_ ' "$kh" || fail "known_hosts lacks the target's key"
grep -q '^infra-instance.bastion ' "$kh" || fail "known_hosts lacks the bastion's key"

# 2. A wrong pinned key of the target: refused, naming the target.
ssh-keygen -q -t ed25519 -N '' -C infra-test -f "$work/other"
wrong=$(ssh-keygen -lf "$work/other.pub" | awk '{print $2}')
jq --arg fp "$wrong" '.serial += 1 | .resources["instance.private[0]"].attributes.ssh_host_key_fingerprint = $fp' "$state" >"$work/wrong-target.json"
run 0 "$infra" state push "$topo" "$work/wrong-target.json"
run 1 "$infra" ssh "$topo" 'instance.private[0]' -- true
err_has "$private_ip:22 through the bastion $bastion_ip:22: host key mismatch for $private_ip:22"
err_has "instance.private[0]: its host key could not be verified through the bastion instance.bastion"

# 3. A wrong pinned key of the bastion: refused before anything reaches the target.
state=$(pull_state "$infra" "$topo")
jq --arg fp "$wrong" '.serial += 1 | .resources["instance.bastion"].attributes.ssh_host_key_fingerprint = $fp' "$state" >"$work/wrong-bastion.json"
run 0 "$infra" state push "$topo" "$work/wrong-bastion.json"
run 1 "$infra" ssh "$topo" 'instance.private[0]' -- true
err_has "offers no key with the fingerprint $wrong"

# 4. down leaves no bridge, veth, namespace or route.
run 0 "$infra" down "$topo" --yes
links=$(ip -o link show | awk -F': ' -v p="$prefix" 'index($2, p) == 1 {print $2}')
[ -z "$links" ] || fail "links left after down: $links"
[ -z "$(ip netns list | grep "^$prefix-" || true)" ] || fail "namespaces left after down"
[ -z "$(ip -4 route show type unreachable "$pcidr")" ] || fail "the unreachable route of $pcidr is left after down"

echo "local bastion: private network unreachable from here, infra up and infra ssh through the bastion, wrong keys of either hop refused, down leaves nothing: passed"
