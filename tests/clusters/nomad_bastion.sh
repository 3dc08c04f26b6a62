#!/usr/bin/env bash
# A Nomad cluster whose nodes are bootstrapped through a bastion: the
# datacenter's `bastion: instance.bastion` makes every SSH session of the
# plugin (install, configuration, agents) go through the bastion, which the
# nodes' sshd logs show as their only SSH client. One server and one client
# with the stand-in agents the plugin installs (as nomad_local.sh); the
# region has a leader and the job runs. The nodes share the bastion's
# network: the plugin calls the agents' HTTP APIs at their addresses
# directly, so they cannot be on a private network yet (see
# docs/local-provider.md). down leaves nothing.
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
secrets=$work/.infra/nomad-bastion.default.secrets.json
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
cidr=$(free_test_cidr 210 30)
[ -n "$cidr" ] || skip "no free 10.213.x.0/24 for the test network"

cleanup() {
  local rc=$?
  "$infra" down "$topo" --yes >/dev/null 2>&1 || true
  local_leftovers_remove "$prefix" "$work"
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
instances:
  bastion: { network: "\${network.main.id}", image: debian-12 }
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
            network: "\${network.main.id}"
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

secret() { jq -r --arg k "$1" '.[$k]' "$secrets"; }
nomad() { # PATH: GET on the server with the cluster CA and token
  local ip
  ip=$("$infra" output "$topo" --json | jq -r '.servers[0]')
  secret nomad.main.ca.cert >"$work/ca.pem"
  curl -sf --max-time 10 --cacert "$work/ca.pem" \
    -H "X-Nomad-Token: $(secret nomad.main.nomad_management_token)" "https://$ip:4646$1"
}
eventually() {
  local _
  for _ in $(seq 1 15); do
    "$@" && return 0
    sleep 2
  done
  return 1
}
job_running() { nomad "/v1/job/web?region=europe" | jq -e '.Status == "running"' >/dev/null; }

# 1. up: the region has a leader and the job runs.
cd "$work"
"$infra" up "$topo" >"$work/out" 2>&1 || { cat "$work/out" >&2; fail "infra up failed"; }
[ -n "$(nomad /v1/status/leader | jq -r .)" ] || fail "the region has no leader"
eventually job_running || fail "job web is not running"

# 2. Every node's sshd saw the bastion as its only client: the plugin's
#    sessions all went through it.
state=$(pull_state "$infra" "$topo")
bastion_ip=$(jq -r '.resources["instance.bastion"].attributes.private_ip' "$state")
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

# 3. down leaves nothing.
"$infra" down "$topo" --yes >"$work/out" 2>&1 || { cat "$work/out" >&2; fail "down failed"; }
[ -z "$(ip netns list | awk -v p="$prefix-" 'index($1, p) == 1')" ] || fail "namespaces left after down"
echo "nomad-bastion: 1 server and 1 client bootstrapped through the bastion, leader, job running, nothing left"
