#!/usr/bin/env bash
# tests/harness/hostpool.sh: two hosts come up with sshd, hosts.json names
# their addresses, host key fingerprints and the login key (checked with the
# OpenSSH client), and destroy leaves no namespace or file behind.
#   usage: hostpool_test.sh HOSTPOOL_SH INFRA_BINARY   (exit 77 = skipped)
set -euo pipefail
pool=$1
export INFRA=$2
export PATH=$PATH:/usr/sbin:/sbin
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
for tool in ip sshd ssh ssh-keyscan jq; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done
fail() { echo "FAIL: $*" >&2; exit 1; }
work=$(mktemp -d /tmp/infra-hostpool-test.XXXXXX)
cleanup() {
  local rc=$?
  [ -f "$work/pool/pool.yaml" ] && "$pool" destroy "$work/pool" >/dev/null 2>&1 || true
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT

"$pool" create 2 "$work/pool" >/dev/null
hosts=$work/pool/hosts.json
[ "$(jq length "$hosts")" -eq 2 ] || fail "hosts.json does not list 2 hosts: $(cat "$hosts")"
prefix=$(awk '/prefix:/ {print $2}' "$work/pool/pool.yaml")
for i in 0 1; do
  addr=$(jq -r ".[$i].address" "$hosts")
  fp=$(jq -r ".[$i].ssh_host_key_fingerprint" "$hosts")
  key=$(jq -r ".[$i].ssh_private_key" "$hosts")
  [ -f "$key" ] || fail "host $i: private key $key does not exist"
  seen=$(ssh-keyscan -T 5 "$addr" 2>/dev/null | ssh-keygen -lf - | awk '{print $2}' | head -n1)
  [ "$seen" = "$fp" ] || fail "host $i: sshd shows key $seen, hosts.json says $fp"
  name=$(ssh -i "$key" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o ConnectTimeout=10 "root@$addr" hostname 2>/dev/null) || fail "host $i: ssh login as root failed"
  [ "$name" = "pool-$i" ] || fail "host $i: hostname is '$name', expected pool-$i"
done
"$pool" destroy "$work/pool"
[ -z "$(ip netns list | awk -v p="$prefix-" 'index($1, p) == 1')" ] || fail "namespaces left after destroy"
[ -z "$(ls -A "$work/pool")" ] || fail "files left after destroy: $(ls -A "$work/pool")"
echo "hostpool: create 2, ssh into both, destroy: passed"
