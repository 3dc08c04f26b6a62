#!/usr/bin/env bash
# examples/cluster-scripts.yaml (-e test) through the infra binary, on the
# AWS emulator's real hosts (a host pool): a VPC of three zones with a
# public and a private subnet each and a NAT gateway per zone, a bastion,
# three Nomad and Consul servers in the private subnets bootstrapped through
# the bastion, and the workers: a Nomad client pool as an Auto Scaling
# group (clients: {pool: autoscaling_group.workers}) whose instances
# configure themselves from the user data the nomad plugin supplies
# (cloud-init) and join by themselves (Consul's cloud auto-join on the
# servers' infra:join tag, Nomad through Consul), behind a Classic load
# balancer, with Route 53's *.app.example.org on it.
#
# up -> the network as declared; 2 pool clients ready in Nomad; nothing
# logged in to the pool's hosts but the emulator's cloud-init, and infra's
# key into the servers from the bastion only; the launch template's user
# data only as a hash in the state; the pool's Consul token in no plan,
# output or state; the router (a system job) on the workers only, the
# front end answering through the balancer by name (curl_by_name
# frontend.app.example.org), the back end's allocations on the pool; only
# the balancer's port 80 open to the world. desired 1 -> the client of the
# instance that goes is drained (its allocation moved), then the instance
# is terminated with TerminateInstanceInAutoScalingGroup
# (ShouldDecrementDesiredCapacity, checked by the emulator against
# botocore's model); no allocation lost. A second up -> "No changes.".
# plan -e int and -e prod (no apply): the other regions and sizes. down ->
# nothing left.
#   usage: asg_pools.sh INFRA_BINARY [BUILD_DIR]    (exit 77 = skipped: not root)
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "the host pool needs root"
export PATH=$PATH:/usr/sbin:/sbin
command -v haproxy >/dev/null || skip "haproxy is not installed (scripts/deps.sh installs it)"
command -v busybox >/dev/null || skip "busybox is not installed (scripts/deps.sh installs it)"
log() { echo "asg-pools: $SECONDS s: $*"; }
# eventually COMMAND...: true once COMMAND succeeds, trying for about 60 s.
eventually() {
  local i
  for i in $(seq 1 120); do
    "$@" && return 0
    sleep 0.5
  done
  return 1
}

# The shared seed plus a third zone, the int and prod regions (eu-central-1,
# eu-west-1) with their own nomad-host images, and Debian's bastion image.
eval "$(declare -f seed_write | sed '1s/seed_write/seed_write_shared/')"
seed_write() {
  seed_write_shared
  jq '.availability_zones = {"us-east-1": ["us-east-1a", "us-east-1b", "us-east-1c"],
        "eu-central-1": ["eu-central-1a", "eu-central-1b", "eu-central-1c"],
        "eu-west-1": ["eu-west-1a", "eu-west-1b", "eu-west-1c"]}
      | .images += [
    {"ImageId": "ami-0a1b2c3d4e5f60031", "Name": "nomad-host-2026-11-01",
     "CreationDate": "2026-11-01T10:00:00.000Z", "OwnerId": "123456789012",
     "Architecture": "x86_64", "State": "available", "Region": "eu-central-1"},
    {"ImageId": "ami-0a1b2c3d4e5f60041", "Name": "nomad-host-2026-11-01",
     "CreationDate": "2026-11-01T10:00:00.000Z", "OwnerId": "123456789012",
     "Architecture": "x86_64", "State": "available", "Region": "eu-west-1"},
    {"ImageId": "ami-0a1b2c3d4e5f60022", "Name": "debian-12-amd64-20261101-1919",
     "CreationDate": "2026-11-01T10:00:00.000Z", "OwnerId": "136693071363",
     "Architecture": "x86_64", "State": "available"}]' \
    "$work/seed.json" >"$work/seed.json.new"
  mv "$work/seed.json.new" "$work/seed.json"
}

topo=$work/cluster-scripts.yaml
scenario_env="test"
standins=
is_up=
trap scenario_cleanup EXIT
mkdir -p "$work/jobs"
cp "$root/examples/cluster-scripts.yaml" "$topo"
cp "$root/examples/jobs/worker-router.json" "$root/examples/jobs/frontend.nomad.hcl" \
  "$root/examples/jobs/backend.nomad.hcl" "$work/jobs/"

# The stand-ins where the pool hosts see them: the servers' agents and the
# pool's user data start them from there (the images' own agents).
standins=$("$root/tests/standins/stage.sh")
export INFRA_VAR_nomad_binary=$standins/nomad INFRA_VAR_consul_binary=$standins/consul
# bastion, 3 servers, 2 workers
pool_create 6
log "6 pool hosts"
pool_cidr=$(awk '$1 == "cidr:" {print $2}' "$pool_dir/pool.yaml")
gateway=${pool_cidr%.0/24}.1
# infra reaches the bastion from the pool bridge's gateway: the admin source.
export INFRA_VAR_admin_cidr=$gateway/32
emulator_start --pending-seconds 0.2 --time-scale 0.05 --hosts "$pool_dir/hosts.json" \
  --instance-endpoint "$gateway"
ssh-keygen -q -t ed25519 -N "" -C infra-asg-pools-test -f "$work/id_ed25519"
export INFRA_SSH_PUBLIC_KEY=$work/id_ed25519.pub INFRA_SSH_PRIVATE_KEY=$work/id_ed25519

# Validation names the file, line and key of a pool that is no group.
sed 's/clients: { pool: autoscaling_group.workers }/clients: { pool: autoscaling_group.worker }/' \
  "$topo" >"$work/bad.yaml"
run 1 "$infra" validate "$work/bad.yaml" -e test
cat "$work/err" >>"$work/out"
grep -q 'bad.yaml:[0-9]*.*clusters.main.regions.main.datacenters.workers.clients.pool.*unknown resource "autoscaling_group.worker" (did you mean "autoscaling_group.workers"?)' \
  "$work/out" || fail "the bad pool's error: $(cat "$work/out")"

t0=$(date +%s)
is_up=1
run 0 "$infra" up "$topo" -e test
cp "$work/out" "$work/up1.txt"
log "up in $(($(date +%s) - t0)) s"

secrets=$work/.infra/cluster-scripts.test.secrets.json
secret() { jq -r --arg k "$1" '.[$k] // empty' "$secrets"; }
pool_token=$(secret nomad.main.consul_pool_token)
[ -n "$pool_token" ] || fail "no pool token in the secrets file"
state_doc() { pull_state "$infra" "$topo" -e test; }
doc=$(state_doc)
attr() { jq -r ".resources[\"$1\"].attributes.$2" "$doc"; }
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

# The network: three zones, each private subnet out through its zone's NAT
# gateway; the servers one per private subnet, without a public address.
r=$(emu_state | jq '.regions["us-east-1"]')
awsctl call ec2 DescribeInstances '{"Filters": [{"Name": "tag:role", "Values": ["server"]},
  {"Name": "instance-state-name", "Values": ["running"]}]}' | jq '[.Reservations[].Instances[]]' >"$work/servers.json"
for z in a b c; do
  sub=$(attr "subnet.private_$z" id) nat=$(attr "nat_gateway.$z" id)
  [ "$(jq -r --arg s "$sub" '.subnets[$s].AvailabilityZone' <<<"$r")" = "us-east-1$z" ] ||
    fail "subnet.private_$z is not in us-east-1$z"
  jq -e --arg s "$sub" --arg n "$nat" '[.route_tables[] | select(any(.Associations[]; .SubnetId == $s))
      | any(.Routes[]; .DestinationCidrBlock == "0.0.0.0/0" and .NatGatewayId == $n)] == [true]' <<<"$r" >/dev/null ||
    fail "subnet.private_$z does not route to its NAT gateway $nat"
  [ "$(jq -r --arg n "$nat" '.nat_gateways[$n].SubnetId' <<<"$r")" = "$(attr "subnet.public_$z" id)" ] ||
    fail "nat_gateway.$z is not in subnet.public_$z"
  jq -e --arg s "$sub" '[.[] | select(.SubnetId == $s)] | length == 1 and all(.[]; .PublicIpAddress == null)' \
    "$work/servers.json" >/dev/null || fail "subnet.private_$z does not hold one server without a public address"
done

server=$(attr "cluster.main.main.zone-a.server[0]" private_ip)
bastion_ip=$(attr instance.bastion private_ip)
secret nomad.main.ca.cert >"$work/ca.pem"
ntoken=$(secret nomad.main.nomad_management_token)
nomad() { curl -sf --max-time 10 --cacert "$work/ca.pem" -H "X-Nomad-Token: $ntoken" "https://$server:4646$1"; }
pool_ips() { jq -c '[.resources["autoscaling_group.workers"].attributes.instance_addresses[].private_ip] | sort' "$1"; }
ready_ips() { nomad /v1/nodes | jq -c '[.[] | select(.Datacenter == "workers" and .Status == "ready" and (.Drain | not)) | .Address] | sort'; }
[ "$(pool_ips "$doc" | jq length)" -eq 2 ] || fail "the group has not 2 instances: $(pool_ips "$doc")"
[ "$(ready_ips)" = "$(pool_ips "$doc")" ] ||
  fail "the pool's clients in Nomad $(ready_ips) are not the group's instances $(pool_ips "$doc")"
nomad /v1/agent/members | jq -e '[.Members[] | select(.Status == "alive")] | length == 3' >/dev/null ||
  fail "not 3 Nomad servers: $(nomad /v1/agent/members | jq -c '[.Members[] | [.Name, .Status]]')"
running() { nomad "/v1/job/$1/allocations" | jq '[.[] | select(.ClientStatus == "running")] | length'; }
two_running() { [ "$(running backend)" -eq 2 ]; }
eventually two_running || fail "the back end's 2 allocations are not running: $(nomad /v1/job/backend/allocations | jq -c '[.[] | [.NodeID[:8], .ClientStatus]]')"
log "up: 3 servers, 2 pool clients registered by themselves ($(ready_ips)), the back end running on them"

# The router and the front end run on the workers, and nowhere else; the
# front end answers through the balancer by its name.
pool_nodes=$(nomad /v1/nodes | jq -c '[.[] | select(.Datacenter == "workers") | .ID] | sort')
for job in router frontend; do
  nomad "/v1/job/$job" | jq -e '.Type == "system"' >/dev/null || fail "$job is not a system job"
  on_pool() { nomad "/v1/job/$1/allocations" | jq -e --argjson p "$pool_nodes" \
    '[.[] | select(.ClientStatus == "running") | .NodeID] | sort == $p' >/dev/null; }
  eventually on_pool "$job" || fail "$job does not run on the workers only: $(nomad "/v1/job/$job/allocations" | jq -c '[.[] | [.NodeID[:8], .ClientStatus]]')"
done
lb=$(attr load_balancer.web id)
in_service() {
  awsctl call elb DescribeInstanceHealth "{\"LoadBalancerName\": \"$lb\"}" |
    jq -e --argjson n "$1" '[.InstanceStates[] | select(.State == "InService")] | length == $n' >/dev/null
}
eventually in_service 2 || fail "the workers are not InService behind $lb"
answers() { # twice per worker: the balancer takes each in turn
  local to _
  to=$(connect_to frontend.app.example.org) || return 1
  for _ in 1 2 3 4; do
    curl -sf --max-time 10 --connect-to "$to" http://frontend.app.example.org/ | grep -q "^frontend 1 on " || return 1
  done
}
eventually answers || fail "frontend.app.example.org: $(curl_by_name frontend.app.example.org /)"
[ "$("$infra" output "$topo" -e test url </dev/null)" = http://frontend.app.example.org/ ] || fail "the url output"
log "the router and the front end on the workers; frontend.app.example.org answers through the balancer"

# Security groups: only the balancer's 80 open to the world, the bastion's
# SSH to the admin source, the servers' SSH and APIs to the bastion.
sg() { attr "firewall.$1" id; }
awsctl call ec2 DescribeSecurityGroups "{\"GroupIds\": [$(for g in members lb bastion servers workers; do
  printf '"%s",' "$(sg $g)"; done | sed 's/,$//')]}" >"$work/sgs.json" || fail "DescribeSecurityGroups: $(cat "$work/sgs.json")"
open=$(jq -r '.SecurityGroups[] | .GroupId as $g | .IpPermissions[] | .IpRanges[] as $r |
  "\($g) \(.FromPort) \($r.CidrIp)"' "$work/sgs.json" | sort | paste -sd';' -)
[ "$open" = "$(printf '%s\n' "$(sg lb) 80 0.0.0.0/0" "$(sg bastion) 22 $INFRA_VAR_admin_cidr" | sort | paste -sd';' -)" ] ||
  fail "rules with addresses: '$open' (only the balancer's 80 and the bastion's 22 from the admin source)"
from() { # GROUP PORT: the groups the port of GROUP admits
  jq -c --arg s "$(sg "$1")" --argjson p "$2" '[.SecurityGroups[] | select(.GroupId == $s) | .IpPermissions[] |
    select(.IpProtocol == "tcp" and .FromPort <= $p and .ToPort >= $p) | .UserIdGroupPairs[].GroupId] | sort' "$work/sgs.json"
}
[ "$(from servers 22)" = "[\"$(sg bastion)\"]" ] || fail "the servers' SSH admits $(from servers 22), not the bastion only"
[ "$(from workers 80)" = "[\"$(sg lb)\"]" ] || fail "the workers' port 80 admits $(from workers 80), not the balancer only"
[ "$(from workers 22)" = "[]" ] || fail "the workers' SSH is open to $(from workers 22)"

# Nothing but the emulator's cloud-init logged in to the pool's hosts:
# infra's key logged in to the bastion from here and to the three servers
# from the bastion only.
fp=$(ssh-keygen -lf "$work/id_ed25519" | awk '{print $2}')
via_bastion=0 direct=0
for f in "$pool_dir"/run/*/hosts/*/root/var/log/sshd.log; do
  [ -f "$f" ] || continue
  from_ips=$(awk -v fp="$fp" 'index($0, fp) && /Accepted / {for (i = 1; i < NF; i++) if ($i == "from") print $(i + 1)}' "$f" |
    sort -u | paste -sd, -)
  case $from_ips in
    "") ;;
    "$bastion_ip") via_bastion=$((via_bastion + 1)) ;;
    "$gateway") direct=$((direct + 1)) ;;
    *) fail "infra's key logged in to $(dirname "$f") from $from_ips" ;;
  esac
done
{ [ "$direct" -eq 1 ] && [ "$via_bastion" -eq 3 ]; } ||
  fail "infra's key logged in directly to $direct hosts (the bastion only) and through the bastion to $via_bastion (the 3 servers)"
log "servers reached through the bastion only; least-privilege groups"

# Scale in: the client of the instance that goes is drained, then exactly
# that instance is terminated with the desired capacity decremented.
t0=$(date +%s)
run 0 "$infra" up "$topo" -e test --var workers=1
cp "$work/out" "$work/up2.txt"
log "scale-in in $(($(date +%s) - t0)) s"
terminations=$(emu_calls | jq '[.[] | .TerminateInstanceInAutoScalingGroup // 0] | add')
[ "$terminations" -eq 1 ] || fail "TerminateInstanceInAutoScalingGroup called $terminations times"
doc=$(state_doc)
[ "$(pool_ips "$doc" | jq length)" -eq 1 ] || fail "the group has not 1 instance: $(pool_ips "$doc")"
drained=$(nomad /v1/nodes | jq -r --argjson keep "$(pool_ips "$doc")" \
  '[.[] | select(.Datacenter == "workers" and ((.Address as $a | $keep | index($a)) | not))] | .[0].ID')
if [ -z "$drained" ] || [ "$drained" = null ]; then fail "the removed instance's client is not in Nomad's list"; fi
nomad "/v1/node/$drained" | jq -e '.LastDrain.Status == "complete"' >/dev/null ||
  fail "the removed client was not drained: $(nomad "/v1/node/$drained" | jq -c '{Status, Drain, LastDrain}')"
lost=$(nomad /v1/job/backend/allocations | jq '[.[] | select(.ClientStatus == "lost" or .ClientStatus == "failed")] | length')
[ "$lost" -eq 0 ] || fail "$lost allocations lost or failed"
eventually two_running || fail "the back end's 2 allocations are not running after the scale-in"
eventually in_service 1 || fail "the remaining worker is not InService alone behind $lb"
eventually answers || fail "frontend.app.example.org does not answer after the scale-in"
check_token_absent
log "scaled in to 1: drained, then terminated; no allocation lost; the front end still answers"

run 0 "$infra" up "$topo" -e test --var workers=1
out_has "No changes."
check_token_absent

log "second up: no changes"

# The other environments: their own region and sizes, planned only.
# The images are looked up in each region: the seed has one nomad-host
# image per region.
for e in int:eu-central-1:t3.small:1:ami-0a1b2c3d4e5f60031 prod:eu-west-1:m5.xlarge:6:ami-0a1b2c3d4e5f60041; do
  IFS=: read -r name region size workers image <<<"$e"
  rc=0
  "$infra" plan "$topo" -e "$name" >"$work/plan-$name.txt" 2>&1 </dev/null || rc=$?
  [ $rc -eq 2 ] || { cat "$work/plan-$name.txt" >&2; fail "plan -e $name exited $rc, not 2 (changes)"; }
  grep -q "availability_zone *= *\"${region}a\"" "$work/plan-$name.txt" || fail "plan -e $name is not in $region"
  grep -q "size *= *\"$size\"" "$work/plan-$name.txt" || fail "plan -e $name does not size the workers $size"
  grep -q "desired *= *$workers\$" "$work/plan-$name.txt" || fail "plan -e $name does not run $workers workers"
  grep -q "image *= *\"$image\"" "$work/plan-$name.txt" || fail "plan -e $name does not take $region's image $image"
done
[ "$(emu_state | jq '[.regions["eu-central-1", "eu-west-1"] // {} | .vpcs // {} | .[]] | length')" -eq 0 ] ||
  fail "a plan made something"
log "plan -e int and -e prod: their regions and sizes, nothing made"

run 0 "$infra" down "$topo" -e test --var workers=1 --yes
is_up=
r=$(emu_state | jq '.regions["us-east-1"]')
for kind in vpcs subnets route_tables internet_gateways security_groups load_balancers launch_templates \
  auto_scaling_groups key_pairs; do
  [ "$(echo "$r" | jq "[.$kind // {} | .[]] | length")" -eq 0 ] || fail "after down the emulator still holds $kind"
done
[ "$(echo "$r" | jq '[.instances // {} | .[] | select(.State.Name != "terminated")] | length')" -eq 0 ] ||
  fail "after down instances are not terminated"
[ "$(echo "$r" | jq '[.nat_gateways // {} | .[] | select(.State != "deleted")] | length')" -eq 0 ] ||
  fail "after down NAT gateways are left"
[ "$(echo "$r" | jq '[.addresses // {} | .[]] | length')" -eq 0 ] || fail "after down Elastic IPs are left"
[ "$(emu_state | jq '[.route53.zones[].records[] | select(.Type != "NS" and .Type != "SOA")] | length')" -eq 0 ] ||
  fail "after down records are left in the hosted zone"
log "down: nothing left"
