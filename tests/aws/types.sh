#!/usr/bin/env bash
# The forms examples/ do not use, against the emulator: a NAT gateway with
# its Elastic IP and a private route, security group rules in the AWS form
# (egress, a group as source), a key pair from text, an instance found by
# image pattern without a public address, an internal balancer with
# listeners, TXT and multi-value records, a launch template. up -> plan is
# clean; a second set of values is applied in place where AWS can
# (listeners, egress, tags, routes); down leaves nothing.
#   usage: types.sh INFRA_BINARY BUILD_DIR
source "$(dirname "$0")/lib.sh"

emulator_start --pending-seconds 0.2
ssh-keygen -q -t ed25519 -N "" -C infra-aws-test -f "$work/id_ed25519"
topo=$work/types.yaml
# state_doc: the state document, pulled (see pull_state); prints its path.
state_doc() { pull_state "$infra" "$topo"; }
attr() { jq -r ".resources[\"$1\"].attributes.$2" "$(state_doc)"; }

# topology EGRESS_PORT LISTENER_PORT TAG
topology() {
  cat >"$topo" <<YAML
name: types
providers:
  aws: { region: us-east-1 }
networks:
  main: { cidr: 10.40.0.0/16, tags: { team: "$3" } }
resources:
  subnet:
    public: { vpc: "\${network.main.id}", cidr: 10.40.1.0/24, public: true }
    private: { vpc: "\${network.main.id}", cidr: 10.40.2.0/24, availability_zone: us-east-1b }
  internet_gateway:
    gw: { vpc: "\${network.main.id}" }
  nat_gateway:
    nat: { subnet: "\${subnet.public.id}", depends_on: [internet_gateway.gw] }
  route_table:
    private:
      vpc: "\${network.main.id}"
      routes: [{ cidr: 0.0.0.0/0, nat_gateway: "\${nat_gateway.nat.id}" }]
      subnets: ["\${subnet.private.id}"]
  key_pair:
    text: { public_key: "$(cat "$work/id_ed25519.pub")" }
  launch_template:
    lt: { image: "nomad-host-*", instance_type: t3.small, user_data: "#!/bin/sh\ntrue\n" }
firewalls:
  lb:
    vpc: "\${network.main.id}"
    ingress: [{ from_port: 443, to_port: 443, protocol: tcp, cidr: 10.0.0.0/8 }]
    egress: [{ from_port: $1, to_port: $1, protocol: tcp, cidr: 10.40.0.0/16 }]
  app:
    vpc: "\${network.main.id}"
    ingress: [{ from_port: 8443, to_port: 8443, protocol: tcp, security_group: "\${firewall.lb.id}" }]
instances:
  app:
    image: "nomad-host-2026-11*"
    machine: t3.small
    subnet: "\${subnet.private.id}"
    firewalls: ["\${firewall.app.id}"]
    key_pair: "\${key_pair.text.name}"
    public_ip: false
    depends_on: [route_table.private]
load_balancers:
  internal:
    subnets: ["\${subnet.private.id}"]
    firewalls: ["\${firewall.lb.id}"]
    internal: true
    listeners: [{ port: $2, protocol: tcp, instance_port: 8443 }]
    health: "tcp:8443"
    targets: ["\${instance.app.private_ip}"]
dns_records:
  txt: { zone: example.org, name: "_check", type: TXT, target: ["v=1 infra", "second"] }
  many: { zone: example.org, name: many.example.org., target: ["192.0.2.1", "192.0.2.2"], ttl: 30 }
  app: { zone: example.org, name: app, target: "\${load_balancer.internal.dns_name}" }
outputs:
  nat_ip: "\${nat_gateway.nat.public_ip}"
  app_ip: "\${instance.app.private_ip}"
YAML
}

topology 5432 443 blue
run 0 "$infra" up "$topo"
nat=$(attr nat_gateway.nat id)
alloc=$(attr nat_gateway.nat allocation_id)
awsctl call ec2 DescribeNatGateways "{\"NatGatewayIds\": [\"$nat\"]}" |
  jq -e '.NatGateways[0] | select(.State == "available")' >/dev/null || fail "the NAT gateway is not available"
awsctl call ec2 DescribeAddresses "{\"AllocationIds\": [\"$alloc\"]}" |
  jq -e '.Addresses[0].Tags[] | select(.Key == "infra:address" and .Value == "nat_gateway.nat")' >/dev/null ||
  fail "the NAT gateway's address is not tagged"
rtb=$(attr route_table.private id)
awsctl call ec2 DescribeRouteTables "{\"RouteTableIds\": [\"$rtb\"]}" |
  jq -e ".RouteTables[0].Routes[] | select(.NatGatewayId == \"$nat\")" >/dev/null || fail "no route to the NAT gateway"
inst=$(awsctl call ec2 DescribeInstances "{\"InstanceIds\": [\"$(attr instance.app id)\"]}" | jq '.Reservations[0].Instances[0]')
[ "$(echo "$inst" | jq -r .ImageId)" = ami-0a1b2c3d4e5f60002 ] || fail "the image pattern chose $(echo "$inst" | jq -r .ImageId)"
[ "$(echo "$inst" | jq -r '.PublicIpAddress // "none"')" = none ] || fail "the instance got a public address"
[ "$(echo "$inst" | jq -r .Placement.AvailabilityZone)" = us-east-1b ] || fail "the instance is not in the subnet's zone"
sg_app=$(attr firewall.app id)
awsctl call ec2 DescribeSecurityGroups "{\"GroupIds\": [\"$sg_app\"]}" |
  jq -e ".SecurityGroups[0].IpPermissions[] | select(.FromPort == 8443) | .UserIdGroupPairs[] | select(.GroupId == \"$(attr firewall.lb id)\")" >/dev/null ||
  fail "the group reference rule is missing"
lb=$(attr load_balancer.internal id)
elb=$(awsctl call elb DescribeLoadBalancers "{\"LoadBalancerNames\": [\"$lb\"]}" | jq '.LoadBalancerDescriptions[0]')
[ "$(echo "$elb" | jq -r .Scheme)" = internal ] || fail "the balancer is not internal"
[ "$(echo "$elb" | jq -r '.Instances[0].InstanceId')" = "$(attr instance.app id)" ] ||
  fail "the target given by address was not registered"
records=$(awsctl call route53 ListResourceRecordSets '{"HostedZoneId": "Z0123456789ABC"}')
echo "$records" | jq -e '.ResourceRecordSets[] | select(.Name == "_check.example.org." and .Type == "TXT") | select([.ResourceRecords[].Value] == ["\"v=1 infra\"", "\"second\""])' >/dev/null ||
  fail "the TXT record is not there, quoted"
echo "$records" | jq -e '.ResourceRecordSets[] | select(.Name == "many.example.org." and .Type == "A" and .TTL == 30 and (.ResourceRecords | length) == 2)' >/dev/null ||
  fail "the two-value A record is not there"
echo "$records" | jq -e '.ResourceRecordSets[] | select(.Name == "app.example.org." and .Type == "CNAME")' >/dev/null ||
  fail "the CNAME to the balancer is not there"
run 0 "$infra" plan "$topo"

# In place: egress port, listener port, a tag.
topology 5433 8443 green
run 2 "$infra" plan "$topo"
out_has "~ firewall.lb  (update in place: egress)"
out_has "~ load_balancer.internal  (update in place: listeners)"
out_has "~ network.main  (update in place: tags)"
run 0 "$infra" up "$topo"
awsctl call elb DescribeLoadBalancers "{\"LoadBalancerNames\": [\"$lb\"]}" |
  jq -e '[.LoadBalancerDescriptions[0].ListenerDescriptions[].Listener.LoadBalancerPort] == [8443]' >/dev/null ||
  fail "the listener was not moved to 8443"
awsctl call ec2 DescribeSecurityGroups "{\"GroupIds\": [\"$(attr firewall.lb id)\"]}" |
  jq -e '[.SecurityGroups[0].IpPermissionsEgress[].FromPort] == [5433]' >/dev/null ||
  fail "the egress rule is not exactly port 5433 (the default allow-all must be gone)"
awsctl call ec2 DescribeVpcs "{\"VpcIds\": [\"$(attr network.main id)\"]}" |
  jq -e '.Vpcs[0].Tags[] | select(.Key == "team" and .Value == "green")' >/dev/null || fail "the tag was not changed"
[ "$(attr nat_gateway.nat id)" = "$nat" ] || fail "the NAT gateway was replaced"
run 0 "$infra" plan "$topo"

# down: the NAT gateway's address is released too.
run 0 "$infra" down "$topo" --yes
[ "$(awsctl call ec2 DescribeAddresses | jq '.Addresses | length')" -eq 0 ] || fail "an Elastic IP is left"
awsctl call ec2 DescribeNatGateways "{\"NatGatewayIds\": [\"$nat\"]}" |
  jq -e '.NatGateways[0] | select(.State == "deleted")' >/dev/null || fail "the NAT gateway is not deleted"
r=$(emu_state | jq '.regions["us-east-1"]')
for kind in vpcs subnets internet_gateways route_tables security_groups key_pairs load_balancers launch_templates; do
  [ "$(echo "$r" | jq ".$kind | length")" -eq 0 ] || fail "after down the emulator still holds $kind"
done
[ "$(awsctl call route53 ListResourceRecordSets '{"HostedZoneId": "Z0123456789ABC"}' | jq '[.ResourceRecordSets[] | select(.Type != "NS" and .Type != "SOA")] | length')" -eq 0 ] ||
  fail "records are left"
echo "ok: every resource form up, updated in place and down"
