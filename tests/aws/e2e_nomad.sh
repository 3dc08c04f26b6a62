#!/usr/bin/env bash
# examples/aws-nomad.yaml against the AWS emulator: VPC, public subnet,
# internet gateway and route, a security group opening only the Nomad and
# Consul ports, a key pair, three instances from the newest nomad-host-*
# image, a load balancer with a health check in front of them and two
# Route 53 records. As root the instances are real SSH hosts of a host pool
# (each presents the host key infra gave it in its user data, whose
# fingerprint the state holds, and their user data serves the health
# check); otherwise the emulator gives them addresses only. up -> everything
# exists; up again and plan -> no changes; down -> the emulator holds
# nothing of it, and the pool's hosts present their own keys again.
#   usage: e2e_nomad.sh INFRA_BINARY BUILD_DIR
source "$(dirname "$0")/lib.sh"

nodes=3
hosts_args=()
if [ "$(id -u)" -eq 0 ] && [ -x /usr/sbin/sshd ]; then
  pool_create $nodes
  hosts_args=(--hosts "$pool_dir/hosts.json")
fi
emulator_start --pending-seconds 0.3 --time-scale 0.1 "${hosts_args[@]}"

ssh-keygen -q -t ed25519 -N "" -C infra-aws-test -f "$work/id_ed25519"
export INFRA_SSH_PUBLIC_KEY=$work/id_ed25519.pub INFRA_SSH_PRIVATE_KEY=$work/id_ed25519
topo=$work/aws-nomad.yaml
cp "$root/examples/aws-nomad.yaml" "$topo"
# state_doc: the state document, pulled (see pull_state); prints its path.
state_doc() { pull_state "$infra" "$topo"; }
region() { emu_state | jq ".regions[\"us-east-1\"]"; }

# 1. up
run 0 "$infra" up "$topo"
out_has "Apply: 13 done, 0 failed, 0 skipped."
r=$(region)
[ "$(echo "$r" | jq '.vpcs | length')" -eq 1 ] || fail "expected one VPC"
vpc=$(jq -r '.resources["network.main"].attributes.id' "$(state_doc)")
[ "$(echo "$r" | jq -r ".vpcs[\"$vpc\"].CidrBlock")" = 10.20.0.0/16 ] || fail "VPC $vpc has the wrong CIDR"
subnet=$(jq -r '.resources["subnet.public"].attributes.id' "$(state_doc)")
[ "$(echo "$r" | jq -r ".subnets[\"$subnet\"].MapPublicIpOnLaunch")" = true ] || fail "subnet is not public"
igw=$(jq -r '.resources["internet_gateway.gw"].attributes.id' "$(state_doc)")
echo "$r" | jq -e ".internet_gateways[\"$igw\"].Attachments[] | select(.VpcId == \"$vpc\")" >/dev/null ||
  fail "internet gateway $igw is not attached to $vpc"
rtb=$(jq -r '.resources["route_table.public"].attributes.id' "$(state_doc)")
echo "$r" | jq -e ".route_tables[\"$rtb\"].Routes[] | select(.DestinationCidrBlock == \"0.0.0.0/0\" and .GatewayId == \"$igw\")" >/dev/null ||
  fail "route table $rtb has no default route to $igw"
echo "$r" | jq -e ".route_tables[\"$rtb\"].Associations[] | select(.SubnetId == \"$subnet\")" >/dev/null ||
  fail "route table $rtb is not associated with $subnet"

# The security group opens exactly 22, 80, 4646-4648, 8300-8302 (tcp and
# udp 8301-8302) and 8500, from anywhere.
sg=$(jq -r '.resources["firewall.nomad"].attributes.id' "$(state_doc)")
rules=$(awsctl call ec2 DescribeSecurityGroups "{\"GroupIds\": [\"$sg\"]}" |
  jq -r '.SecurityGroups[0].IpPermissions[] | "\(.IpProtocol) \(.FromPort)-\(.ToPort) \([.IpRanges[].CidrIp] | join(","))"' |
  sort | tr '\n' ';')
want="tcp 22-22 0.0.0.0/0;tcp 4646-4648 0.0.0.0/0;tcp 80-80 0.0.0.0/0;tcp 8300-8302 0.0.0.0/0;tcp 8500-8500 0.0.0.0/0;udp 8301-8302 0.0.0.0/0;"
[ "$rules" = "$want" ] || fail "security group rules are '$rules', expected '$want'"

[ "$(echo "$r" | jq '.key_pairs | length')" -eq 1 ] || fail "expected one key pair"
[ "$(echo "$r" | jq -r '.key_pairs | to_entries[0].value.KeyName')" = nomad-deploy ] || fail "key pair name"

# Three running instances of the newest x86_64 nomad-host image, tagged.
running=$(awsctl call ec2 DescribeInstances \
  '{"Filters": [{"Name": "instance-state-name", "Values": ["running"]}]}' | jq '[.Reservations[].Instances[]]')
[ "$(echo "$running" | jq length)" -eq $nodes ] || fail "expected $nodes running instances"
[ "$(echo "$running" | jq -r '[.[].ImageId] | unique | join(",")')" = ami-0a1b2c3d4e5f60002 ] ||
  fail "instances do not run the newest x86_64 nomad-host image"
for i in $(seq 0 $((nodes - 1))); do
  id=$(jq -r ".resources[\"instance.node[$i]\"].attributes.id" "$(state_doc)")
  echo "$running" | jq -e ".[] | select(.InstanceId == \"$id\") | .Tags[] | select(.Key == \"infra:address\" and .Value == \"instance.node[$i]\")" >/dev/null ||
    fail "instance $id lacks its infra:address tag"
  echo "$running" | jq -e ".[] | select(.InstanceId == \"$id\") | .Tags[] | select(.Key == \"infra:token\")" >/dev/null ||
    fail "instance $id lacks its infra:token tag"
done

# The load balancer: listener 80, health check on /health, the three instances.
lb=$(jq -r '.resources["load_balancer.web"].attributes.id' "$(state_doc)")
elb=$(echo "$r" | jq ".load_balancers[\"$lb\"]")
[ "$(echo "$elb" | jq -r '.HealthCheck.Target')" = "HTTP:80/health" ] || fail "health check target"
[ "$(echo "$elb" | jq '.Instances | length')" -eq $nodes ] || fail "the balancer does not have $nodes instances"
dns=$(echo "$elb" | jq -r .DNSName)
run 0 "$infra" output "$topo" --json
[ "$(jq -r .lb_dns "$work/out")" = "$dns" ] || fail "output lb_dns is not $dns"
[ "$(jq '.node_private_ips | length' "$work/out")" -eq $nodes ] || fail "output node_private_ips"
[ "$(jq '[.node_public_ips[] | select(. != null)] | length' "$work/out")" -eq $nodes ] ||
  fail "every node should have a public address (public subnet)"
[ "$(jq '[.node_fingerprints[] | select(startswith("SHA256:"))] | length' "$work/out")" -eq $nodes ] ||
  fail "every node should have an SSH host key fingerprint"
[ "$(grep -c ' ec2 GetConsoleOutput ' "$work/emulator.log" || true)" -eq 0 ] ||
  fail "a create read the console for a fingerprint infra gave"

# presented IP: the fingerprints of the host keys the sshd at IP presents.
presented() { ssh-keyscan -T 5 "$1" 2>/dev/null | ssh-keygen -l -f - | awk '{print $2}' | sort -u | paste -sd, -; }
if [ -n "$pool_dir" ]; then
  # Each host presents the key infra gave its instance, not the pool's own;
  # the balancer sees them healthy.
  for i in $(seq 0 $((nodes - 1))); do
    ip=$(jq -r ".node_private_ips[$i]" "$work/out")
    fp=$(jq -r ".node_fingerprints[$i]" "$work/out")
    [ "$(presented "$ip")" = "$fp" ] || fail "$ip presents $(presented "$ip"), the state holds $fp"
    ! jq -e --arg fp "$fp" '.[] | select(.ssh_host_key_fingerprint == $fp)' "$pool_dir/hosts.json" >/dev/null ||
      fail "fingerprint $fp is the pool's own, not one infra gave"
  done
  ok=
  for _ in $(seq 1 100); do
    up=$(awsctl call elb DescribeInstanceHealth "{\"LoadBalancerName\": \"$lb\"}" |
      jq '[.InstanceStates[] | select(.State == "InService")] | length')
    [ "$up" -eq $nodes ] && { ok=1; break; }
    sleep 0.3
  done
  [ -n "$ok" ] || fail "the instances never became InService behind $lb"
  # The key pair logs in as root.
  ip=$(jq -r '.node_private_ips[0]' "$work/out")
  ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 \
    -i "$work/id_ed25519" "root@$ip" true 2>/dev/null || fail "the key pair does not log in to $ip"
fi

# Route 53: an alias to the balancer and a wildcard CNAME.
zone=$(emu_state | jq '.route53.zones.Z0123456789ABC.records')
echo "$zone" | jq -e ".[] | select(.Name == \"nomad.example.org.\" and .Type == \"A\") | .AliasTarget | select(.DNSName | ascii_downcase | startswith(\"$(echo "$dns" | tr 'A-Z' 'a-z')\"))" >/dev/null ||
  fail "no alias A record nomad.example.org -> $dns"
echo "$zone" | jq -e '.[] | select(.Name == "\\052.app.example.org." and .Type == "CNAME" and .TTL == 60)' >/dev/null ||
  fail "no CNAME record *.app.example.org"

# 2. Nothing to do on a second run.
run 0 "$infra" up "$topo"
out_has "No changes."
run 0 "$infra" plan "$topo"

# 3. down: the emulator holds nothing of it.
run 0 "$infra" down "$topo" --yes
r=$(region)
for kind in vpcs subnets internet_gateways route_tables security_groups key_pairs load_balancers \
  nat_gateways addresses auto_scaling_groups launch_templates; do
  [ "$(echo "$r" | jq ".$kind | length")" -eq 0 ] || fail "after down the emulator still holds $kind"
done
[ "$(echo "$r" | jq '[.instances[] | select(.State.Name != "terminated")] | length')" -eq 0 ] ||
  fail "after down some instances are not terminated"
[ "$(emu_state | jq '[.route53.zones.Z0123456789ABC.records[] | select(.Type != "NS" and .Type != "SOA")] | length')" -eq 0 ] ||
  fail "after down records are left in the hosted zone"
[ "$(jq '.resources | length' "$(state_doc)")" -eq 0 ] || fail "after down the state still names resources"
if [ -n "$pool_dir" ]; then
  for ip in $(jq -r '.[].address' "$pool_dir/hosts.json"); do
    want=$(jq -r --arg ip "$ip" '.[] | select(.address == $ip) | .ssh_host_key_fingerprint' "$pool_dir/hosts.json")
    [ "$(presented "$ip")" = "$want" ] || fail "after down $ip presents $(presented "$ip"), not its own $want"
  done
fi
echo "ok: aws-nomad up, no-op, down"
