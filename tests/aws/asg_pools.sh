#!/usr/bin/env bash
# A Nomad client pool as an Auto Scaling group, declared in the topology
# (clients: {pool: autoscaling_group.workers}) and run through the infra
# binary, on the AWS emulator's real hosts (a host pool): one fixed server
# bootstrapped over SSH, and a group of 2 whose instances configure
# themselves from the user data the nomad plugin supplies (cloud-init) and
# join by themselves (Consul's cloud auto-join on the servers' infra:join
# tag, Nomad through Consul).
#
# up -> 2 pool clients ready in Nomad; nothing logged in to the pool's
# hosts but the emulator's cloud-init; the launch template's user data only
# as a hash in the state; the pool's Consul token in no plan, output or
# state. A job runs on the pool. desired 1 -> the client of the instance
# that goes is drained (its allocation moved), then the instance is
# terminated with TerminateInstanceInAutoScalingGroup
# (ShouldDecrementDesiredCapacity, checked by the emulator against
# botocore's model); no allocation lost. A second up -> "No changes."; down
# -> nothing left.
#   usage: asg_pools.sh INFRA_BINARY [BUILD_DIR]    (exit 77 = skipped: not root)
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "the host pool needs root"
export PATH=$PATH:/usr/sbin:/sbin
log() { echo "asg-pools: $*"; }
# eventually COMMAND...: true once COMMAND succeeds, trying for about 60 s.
eventually() {
  local i
  for i in $(seq 1 120); do
    "$@" && return 0
    sleep 0.5
  done
  return 1
}

topo=$work/asg-pools.yaml
standins=
is_up=
trap scenario_cleanup EXIT

# The stand-ins where the pool hosts see them: the server's agents and the
# pool's user data start them from there.
standins=$("$root/tests/standins/stage.sh")
pool_create 3
pool_cidr=$(awk '$1 == "cidr:" {print $2}' "$pool_dir/pool.yaml")
gateway=${pool_cidr%.0/24}.1
emulator_start --pending-seconds 0.2 --time-scale 0.05 --hosts "$pool_dir/hosts.json" \
  --instance-endpoint "$gateway"
ssh-keygen -q -t ed25519 -N "" -C infra-asg-pools-test -f "$work/id_ed25519"

mkdir -p "$work/jobs"
cat >"$work/jobs/sleep.json" <<'JSON'
{"Job": {"ID": "sleep", "Name": "sleep", "Type": "service", "Datacenters": ["dc-pool"],
 "TaskGroups": [{"Name": "g", "Count": 2, "Tasks": [{"Name": "t", "Driver": "raw_exec",
   "Config": {"command": "/bin/sleep", "args": ["3600"]},
   "Resources": {"CPU": 10, "MemoryMB": 10}}]}]}}
JSON
cat >"$topo" <<YAML
name: asg-pools
variables:
  workers: { default: 2 }
providers:
  aws:
    region: us-east-1
networks:
  main:
    cidr: 10.9.0.0/16
resources:
  subnet:
    a: { network: "\${network.main.id}", cidr: 10.9.1.0/24 }
  key_pair:
    deploy: { name: asg-pools, public_key_file: "$work/id_ed25519.pub" }
  launch_template:
    workers:
      image: "\${image.host.id}"
      size: t3.small
      instance_profile: consul-join
  autoscaling_group:
    workers:
      launch_template: "\${launch_template.workers.id}"
      version: "\${launch_template.workers.latest_version}"
      subnets: ["\${subnet.a.id}"]
      min: 1
      max: 2
      desired: "\${workers}"
      health_check_type: EC2
images:
  host:
    owners: [self]
    name: "nomad-host-*"
    architecture: x86_64
clusters:
  main:
    scheduler: nomad
    acl: true
    tls: false
    gossip_encryption: true
    consul_binary: $standins/consul
    nomad_binary: $standins/nomad
    regions:
      europe:
        datacenters:
          dc-a:
            provider: aws
            servers: 1
            image: "\${image.host.id}"
            size: t3.small
            subnet: "\${subnet.a.id}"
            key_pair: "\${key_pair.deploy.name}"
            ssh_private_key: $work/id_ed25519
          dc-pool:
            provider: aws
            clients: { pool: autoscaling_group.workers }
jobs:
  sleep:
    cluster: main
    file: jobs/sleep.json
YAML

# Validation names the file, line and key of a pool that is no group.
sed 's/clients: { pool: autoscaling_group.workers }/clients: { pool: autoscaling_group.worker }/' \
  "$topo" >"$work/bad.yaml"
run 1 "$infra" validate "$work/bad.yaml"
cat "$work/err" >>"$work/out"
grep -q 'bad.yaml:[0-9]*.*clusters.main.regions.europe.datacenters.dc-pool.clients.pool.*unknown resource "autoscaling_group.worker" (did you mean "autoscaling_group.workers"?)' \
  "$work/out" || fail "the bad pool's error: $(cat "$work/out")"

t0=$(date +%s)
is_up=1
run 0 "$infra" up "$topo"
cp "$work/out" "$work/up1.txt"
log "up in $(($(date +%s) - t0)) s"

secrets=$work/.infra/asg-pools.default.secrets.json
secret() { jq -r --arg k "$1" '.[$k] // empty' "$secrets"; }
pool_token=$(secret nomad.main.consul_pool_token)
[ -n "$pool_token" ] || fail "no pool token in the secrets file"
doc=$(pull_state "$infra" "$topo")
# The template's user data (the pool token, the CA, the gossip key) is
# recorded as a hash only, and the token is nowhere but the secrets file.
jq -e '.resources["launch_template.workers"] | (.config.user_data | startswith("hmac-sha256:"))
  and (.attributes.user_data == null)' "$doc" >/dev/null ||
  fail "the template's user data is not only a hash in the state: $(jq -c '.resources["launch_template.workers"].config' "$doc")"
check_token_absent() {
  for f in "$work/up1.txt" "$work/out" "$work/err" "$doc" $(find "$work/.infra" -type f ! -name '*.secrets.json'); do
    if grep -qF "$pool_token" "$f"; then fail "the pool token is in $f"; fi
  done
}
check_token_absent

server=$(jq -r '.resources["cluster.main.europe.dc-a.server[0]"].attributes.private_ip' "$doc")
ntoken=$(secret nomad.main.nomad_management_token)
nomad() { curl -sf -H "X-Nomad-Token: $ntoken" "http://$server:4646$1"; }
pool_ips() { jq -c '[.resources["autoscaling_group.workers"].attributes.instance_addresses[].private_ip] | sort' "$1"; }
ready_ips() { nomad /v1/nodes | jq -c '[.[] | select(.Datacenter == "dc-pool" and .Status == "ready" and (.Drain | not)) | .Address] | sort'; }
[ "$(pool_ips "$doc" | jq length)" -eq 2 ] || fail "the group has not 2 instances: $(pool_ips "$doc")"
[ "$(ready_ips)" = "$(pool_ips "$doc")" ] ||
  fail "the pool's clients in Nomad $(ready_ips) are not the group's instances $(pool_ips "$doc")"
running() { nomad /v1/job/sleep/allocations | jq '[.[] | select(.ClientStatus == "running")] | length'; }
two_running() { [ "$(running)" -eq 2 ]; }
eventually two_running || fail "the job's 2 allocations are not running: $(nomad /v1/job/sleep/allocations | jq -c '[.[] | [.NodeID[:8], .ClientStatus]]')"
log "up: 2 pool clients registered by themselves ($(ready_ips)), the job running on them"

# Nothing but the emulator's cloud-init logged in to the pool's hosts:
# infra's key logged in to one host only, the server's.
fp=$(ssh-keygen -lf "$work/id_ed25519" | awk '{print $2}')
with_key=0
for f in "$pool_dir"/run/*/hosts/*/root/var/log/sshd.log; do
  [ -f "$f" ] || continue
  if grep "Accepted " "$f" | grep -qF "$fp"; then with_key=$((with_key + 1)); fi
done
[ "$with_key" -eq 1 ] || fail "infra's key logged in to $with_key hosts, not only the server's"

# Scale in: the client of the instance that goes is drained, then exactly
# that instance is terminated with the desired capacity decremented.
t0=$(date +%s)
run 0 "$infra" up "$topo" --var workers=1
cp "$work/out" "$work/up2.txt"
log "scale-in in $(($(date +%s) - t0)) s"
terminations=$(emu_calls | jq '[.[] | .TerminateInstanceInAutoScalingGroup // 0] | add')
[ "$terminations" -eq 1 ] || fail "TerminateInstanceInAutoScalingGroup called $terminations times"
doc=$(pull_state "$infra" "$topo")
[ "$(pool_ips "$doc" | jq length)" -eq 1 ] || fail "the group has not 1 instance: $(pool_ips "$doc")"
drained=$(nomad /v1/nodes | jq -r --argjson keep "$(pool_ips "$doc")" \
  '[.[] | select(.Datacenter == "dc-pool" and ((.Address as $a | $keep | index($a)) | not))] | .[0].ID')
if [ -z "$drained" ] || [ "$drained" = null ]; then fail "the removed instance's client is not in Nomad's list"; fi
nomad "/v1/node/$drained" | jq -e '.LastDrain.Status == "complete"' >/dev/null ||
  fail "the removed client was not drained: $(nomad "/v1/node/$drained" | jq -c '{Status, Drain, LastDrain}')"
lost=$(nomad /v1/job/sleep/allocations | jq '[.[] | select(.ClientStatus == "lost" or .ClientStatus == "failed")] | length')
[ "$lost" -eq 0 ] || fail "$lost allocations lost or failed"
eventually two_running || fail "the job's 2 allocations are not running after the scale-in"
check_token_absent
log "scaled in to 1: drained, then terminated; no allocation lost"

run 0 "$infra" up "$topo" --var workers=1
out_has "No changes."
check_token_absent

run 0 "$infra" down "$topo" --var workers=1 --yes
is_up=
r=$(emu_state | jq '.regions["us-east-1"]')
for kind in vpcs subnets launch_templates auto_scaling_groups key_pairs; do
  [ "$(echo "$r" | jq "[.$kind // {} | .[]] | length")" -eq 0 ] || fail "after down the emulator still holds $kind"
done
[ "$(echo "$r" | jq '[.instances // {} | .[] | select(.State.Name != "terminated")] | length')" -eq 0 ] ||
  fail "after down instances are not terminated"
log "down: nothing left"
