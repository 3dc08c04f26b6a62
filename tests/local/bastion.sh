#!/usr/bin/env bash
# `infra ssh` through a bastion with the local provider: an instance
# behind instance.bastion is reached through it (the target sees the
# bastion's address as its client), both host keys pinned; a wrong pinned
# key of the target, or of the bastion, is refused and named. Every object
# has a prefix and a /24 of this run only.
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
cidr=$(free_test_cidr 20 30)
[ -n "$cidr" ] || skip "no free 10.213.x.0/24 for the test network"

cleanup() {
  local rc=$?
  "$infra" down "$topo" --yes >/dev/null 2>&1 || true
  local_leftovers_remove "$prefix" "$work"
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
instances:
  bastion: { network: "\${network.main.id}", image: debian-12 }
  private:
    count: 1
    network: "\${network.main.id}"
    image: debian-12
    bastion: "\${instance.bastion}"
YAML
cd "$work"
run 0 "$infra" up "$topo"
state=$(pull_state "$infra" "$topo")
bastion_ip=$(jq -r '.resources["instance.bastion"].attributes.private_ip' "$state")
private_ip=$(jq -r '.resources["instance.private[0]"].attributes.private_ip' "$state")
[ -n "$bastion_ip" ] && [ "$bastion_ip" != null ] || fail "no bastion address in the state"

# 1. Through the bastion: the target's sshd sees the bastion as the client.
run 0 "$infra" ssh "$topo" 'instance.private[0]' -- 'echo "client=${SSH_CONNECTION%% *} me=$(hostname)"'
out_has "client=$bastion_ip "
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

echo "local bastion: infra ssh through the bastion, wrong keys of either hop refused: passed"
