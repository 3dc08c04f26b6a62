#!/usr/bin/env bash
# The network of test_ssh_jump's two hosts, each a network namespace: a
# bastion that this machine reaches over a veth pair, and a target on a
# private link behind it that only the bastion's namespace reaches (no
# route from here, no forwarding in the bastion), with an HTTP server
# (busybox httpd, port 8080, DIR/www) for the tunnels. The test starts a
# real sshd in each (sshd_fixture.h). Needs root, iproute2 and busybox.
#
#   ssh_jump_hosts.sh create DIR   DIR/hosts.env: BASTION=, TARGET=, SPARE= (an
#                                  address of the private link nobody has),
#                                  BASTION_NS=, TARGET_NS= (the namespaces)
#   ssh_jump_hosts.sh destroy DIR  removes what create made
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"

create() {
  local dir=$1 cidr net prefix
  cidr=$(free_test_cidr 130 20)
  [ -n "$cidr" ] || { echo "no free 10.213.N.0/24" >&2; exit 1; }
  net=${cidr%.0/24}
  prefix=ij$(printf '%05x' $(($$ % 1048576)))
  echo "PREFIX=$prefix NET=$net" >"$dir/names.env"
  ip netns add "$prefix-b"
  ip netns add "$prefix-t"
  ip link add "${prefix}h" type veth peer name "${prefix}b" netns "$prefix-b"
  ip link add "${prefix}p" netns "$prefix-b" type veth peer name "${prefix}t" netns "$prefix-t"
  ip addr add "$net.1/30" dev "${prefix}h"
  ip link set "${prefix}h" up
  # The private link has no way out from here: an immediate "unreachable"
  # rather than a packet to the default gateway.
  ip route add unreachable "$net.64/26"
  ip -n "$prefix-b" addr add "$net.2/30" dev "${prefix}b"
  ip -n "$prefix-b" addr add "$net.65/26" dev "${prefix}p"
  ip -n "$prefix-t" addr add "$net.66/26" dev "${prefix}t"
  for ns in b t; do
    ip -n "$prefix-$ns" link set lo up
    ip netns exec "$prefix-$ns" sysctl -qw net.ipv4.ip_forward=0
  done
  ip -n "$prefix-b" link set "${prefix}b" up
  ip -n "$prefix-b" link set "${prefix}p" up
  ip -n "$prefix-t" link set "${prefix}t" up
  # An HTTP server on the target for the tunnels (port 8080); busybox
  # httpd listens before it goes to the background.
  mkdir -p "$dir/www"
  echo "hello from the target" >"$dir/www/hello.txt"
  ip netns exec "$prefix-t" busybox httpd -p 8080 -h "$dir/www"
  echo "BASTION=$net.2 TARGET=$net.66 SPARE=$net.67 BASTION_NS=$prefix-b TARGET_NS=$prefix-t" \
    >"$dir/hosts.env.tmp"
  mv "$dir/hosts.env.tmp" "$dir/hosts.env"
}

destroy() {
  local dir=$1 PREFIX= NET=
  [ -f "$dir/names.env" ] && . "$dir/names.env"
  [ -n "$PREFIX" ] || return 0
  local pid
  for pid in $(ip netns pids "$PREFIX-t" 2>/dev/null); do
    kill "$pid" 2>/dev/null || true # the HTTP server
  done
  [ -n "$NET" ] && ip route del unreachable "$NET.64/26" 2>/dev/null || true
  ip link del "${PREFIX}h" 2>/dev/null || true
  ip netns del "$PREFIX-b" 2>/dev/null || true
  ip netns del "$PREFIX-t" 2>/dev/null || true
}

case ${1:-} in
  create) create "$2" ;;
  destroy) destroy "$2" ;;
  *) echo "usage: ssh_jump_hosts.sh create DIR | destroy DIR" >&2; exit 2 ;;
esac
