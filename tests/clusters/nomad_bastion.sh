#!/usr/bin/env bash
# A Nomad cluster whose nodes sit on a private network that only the
# bastion reaches: the datacenter's `bastion: instance.bastion` makes every
# SSH session of the plugin (install, configuration, agents) go through the
# bastion, which the nodes' sshd logs show as their only SSH client, and
# every HTTP call to the agents (Nomad 4646, Consul 8501) and every probe of
# their ports too: this machine has no route to the nodes' network. One
# server and one client with the stand-in agents the plugin installs (as
# nomad_local.sh); the region has a leader and the job runs, as `infra
# status` shows through the bastion; the agents' TLS certificates are
# verified through it. down leaves nothing.
#   usage: nomad_bastion.sh INFRA_BINARY     (exit 77 = skipped: not root)
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

work=$(mktemp -d /tmp/infra-nomad-bastion.XXXXXX)
prefix=q$(printf '%04x' $(($$ % 65536)))
mkdir -p "$work/jobs"
cp "$root/examples/jobs/web.json" "$work/jobs/web.json"
topo=$work/cluster.yaml
export INFRA_PLUGIN_PATH
INFRA_PLUGIN_PATH=$(dirname "$infra")/plugins
export NO_COLOR=1
standins=$("$root/tests/standins/stage.sh")
launcher() { # NAME VERSION: writes $work/dist/NAME-VERSION, prints its SHA-256
  mkdir -p "$work/dist"
  printf '#!/bin/sh\n# %s %s: the stand-in of tests/standins\nexec %s "$@"\n' "$1" "$2" \
    "$standins/$1" >"$work/dist/$1-$2"
  sha256sum "$work/dist/$1-$2" | cut -d' ' -f1
}
nomad_sha=$(launcher nomad 1) consul_sha=$(launcher consul 1)
cidr=$(free_test_cidr 210 15)
pcidr=$(free_test_cidr 225 15)
[ -n "$cidr" ] && [ -n "$pcidr" ] || skip "no free 10.213.x.0/24 for the test networks"

cleanup() {
  local rc=$?
  "$infra" down "$topo" --yes >/dev/null 2>&1 || true
  local_leftovers_remove "$prefix" "$work"
  ip route del unreachable "$pcidr" 2>/dev/null || true
  [ $rc -eq 0 ] || { echo "--- last output" >&2; tail -n 60 "$work/out" >&2 2>/dev/null || true; }
  rm -rf "$work" "$(dirname "$standins")"
  exit $rc
}
trap cleanup EXIT

cat >"$topo" <<YAML
name: nomad-bastion
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
clusters:
  main:
    scheduler: nomad
    install:
      bin_dir: /opt/bin
      nomad: { file: $work/dist/nomad-1, sha256: $nomad_sha }
      consul: { file: $work/dist/consul-1, sha256: $consul_sha }
    regions:
      europe:
        datacenters:
          dc-a:
            provider: local
            servers: 1
            clients: 1
            network: "\${network.inner.id}"
            image: debian-12
            bastion: instance.bastion
jobs:
  web:
    cluster: main
    regions: [europe]
    file: jobs/web.json
    set: { name: web, count: 1, version: "1.0" }
outputs:
  servers: "\${cluster.main.europe.servers[*].private_ip}"
YAML

status() { "$infra" status "$topo" --json 2>"$work/status.err"; }
eventually() {
  local _
  for _ in $(seq 1 15); do
    "$@" && return 0
    sleep 2
  done
  return 1
}
job_running() {
  status | jq -e '.clusters.main.regions.europe.jobs[] | select(.id == "web") | .status == "running"' >/dev/null
}

# 1. up: the region has a leader and the job runs.
cd "$work"
"$infra" up "$topo" >"$work/out" 2>&1 || { cat "$work/out" >&2; fail "infra up failed"; }
state=$(pull_state "$infra" "$topo")
server_ip=$("$infra" output "$topo" --json | jq -r '.servers[0]')
[ "${server_ip%.*}.0/24" = "$pcidr" ] || fail "the server's address $server_ip is not on $pcidr"

# 2. This machine has no route to the nodes: their agents' APIs answered
#    the plugin through the bastion only.
route=$(ip route get "$server_ip" 2>&1 || true)
grep -Eq "unreachable|No route to host" <<<"$route" || fail "$server_ip is routable from this machine: $route"
if timeout 10 bash -c "exec 3<>/dev/tcp/$server_ip/4646" 2>/dev/null; then
  fail "this machine connected to $server_ip:4646 directly"
fi

# 3. status, through the bastion too: the leader, both nodes, the job.
eventually job_running || { cat "$work/status.err" >&2; fail "status does not show job web running"; }
st=$(status)
[ -n "$(jq -r '.clusters.main.regions.europe.leader // empty' <<<"$st")" ] ||
  fail "status shows no leader: $st"
[ "$(jq '.clusters.main.regions.europe.clients | length' <<<"$st")" -eq 1 ] ||
  fail "status does not list the client: $st"
"$infra" status "$topo" >"$work/out" 2>&1 || { cat "$work/out" >&2; fail "infra status failed"; }
grep -Eq "^    job +web +running" "$work/out" || { cat "$work/out" >&2; fail "status does not print job web running"; }

# 4. Every node's sshd saw the bastion as its only client: the plugin's
#    sessions all went through it.
bastion_ip=$(jq -r '.resources["instance.bastion"].attributes.extra_ips[0]' "$state")
nodes=0
for log in "$work/run/$prefix"/hosts/*/root/var/log/sshd.log; do
  host=$(basename "$(dirname "$(dirname "$(dirname "$(dirname "$log")")")")")
  grep -q "Accepted publickey" "$log" || continue
  clients=$(grep -o "Accepted publickey for root from [0-9.]*" "$log" | awk '{print $NF}' | sort -u)
  if [ "$clients" = "$bastion_ip" ]; then
    nodes=$((nodes + 1))
  elif ! grep -q "Accepted publickey for root from $bastion_ip" "$log"; then
    : # the bastion itself: reached directly from this machine
  else
    fail "host $host had SSH clients other than the bastion: $clients"
  fi
done
[ "$nodes" -eq 2 ] || fail "$nodes nodes were reached through the bastion, expected 2"

# 5. down leaves nothing.
"$infra" down "$topo" --yes >"$work/out" 2>&1 || { cat "$work/out" >&2; fail "down failed"; }
[ -z "$(ip netns list | awk -v p="$prefix-" 'index($1, p) == 1')" ] || fail "namespaces left after down"
[ -z "$(ip -4 route show type unreachable "$pcidr")" ] || fail "the private network's route is left after down"
echo "nomad-bastion: 1 server and 1 client on a private network, bootstrapped and driven through the bastion, leader, job running, nothing left"
