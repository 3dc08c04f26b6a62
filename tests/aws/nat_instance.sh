#!/usr/bin/env bash
# A NAT instance (the private subnet's default route leads to an instance
# whose source/destination check is off): routes: [{instance}] and
# source_dest_check: false are created, read back and drift-detected; a
# route with a key no call sends, or with two targets, is refused at
# validate with file:line:key; dropping source_dest_check turns the check
# back on.
#   usage: nat_instance.sh INFRA_BINARY BUILD_DIR
source "$(dirname "$0")/lib.sh"

emulator_start --pending-seconds 0.2
topo=$work/nat.yaml
state_doc() { pull_state "$infra" "$topo"; }
attr() { jq -r ".resources[\"$1\"].attributes.$2" "$(state_doc)"; }

# topology CHECK_LINE PRIVATE_ROUTE
topology() {
  cat >"$topo" <<YAML
name: nat
providers:
  aws: { region: us-east-1 }
networks:
  main: { cidr: 10.41.0.0/16 }
resources:
  subnet:
    public: { vpc: "\${network.main.id}", cidr: 10.41.1.0/24, public: true }
    private: { vpc: "\${network.main.id}", cidr: 10.41.2.0/24 }
  internet_gateway:
    gw: { vpc: "\${network.main.id}" }
  route_table:
    public:
      vpc: "\${network.main.id}"
      routes: [{ cidr: 0.0.0.0/0, gateway: "\${internet_gateway.gw.id}" }]
      subnets: ["\${subnet.public.id}"]
    private:
      vpc: "\${network.main.id}"
      routes: [$2]
      subnets: ["\${subnet.private.id}"]
instances:
  nat:
    image: "nomad-host-2026-11*"
    size: t3.micro
    subnet: "\${subnet.public.id}"
    public_ip: true
$1
YAML
}
nat_route='{ cidr: 0.0.0.0/0, instance: "${instance.nat.id}" }'
describe_nat() {
  awsctl call ec2 DescribeInstances "{\"InstanceIds\": [\"$(attr instance.nat id)\"]}" |
    jq -r '.Reservations[0].Instances[0].SourceDestCheck'
}
private_target() {
  awsctl call ec2 DescribeRouteTables "{\"RouteTableIds\": [\"$(attr route_table.private id)\"]}" |
    jq -r '.RouteTables[0].Routes[] | select(.DestinationCidrBlock == "0.0.0.0/0") | .InstanceId // .GatewayId'
}

# 1. Refused at validate: a key no call sends, two targets.
topology "    source_dest_check: false" '{ cidr: 0.0.0.0/0, instanse: "${instance.nat.id}" }'
run 1 "$infra" validate "$topo"
err_has "nat.yaml:19:45: error: resources.route_table.private.routes[0].instanse:"
err_has "not supported by the aws provider"
topology "    source_dest_check: false" \
  '{ cidr: 0.0.0.0/0, instance: "${instance.nat.id}", gateway: "${internet_gateway.gw.id}" }'
run 1 "$infra" validate "$topo"
err_has "a route is {cidr: a.b.c.d/n, gateway: igw-... | nat_gateway: nat-... | instance: i-...}"

# 2. Up: the route leads to the instance, its check is off; plan is clean.
topology "    source_dest_check: false" "$nat_route"
run 0 "$infra" up "$topo"
nat=$(attr instance.nat id)
[ "$(private_target)" = "$nat" ] || fail "the private route leads to $(private_target), not $nat"
[ "$(describe_nat)" = false ] || fail "the NAT instance's source/destination check is on"
[ "$(attr instance.nat source_dest_check)" = false ] || fail "the state lacks source_dest_check"
run 0 "$infra" plan "$topo"

# 3. Drift: the check turned on and the route moved to the gateway behind
# infra's back; plan shows both, up puts them back in place.
igw=$(attr internet_gateway.gw id)
awsctl call ec2 ModifyInstanceAttribute "{\"InstanceId\": \"$nat\", \"SourceDestCheck\": {\"Value\": true}}" >/dev/null
awsctl call ec2 ReplaceRoute "{\"RouteTableId\": \"$(attr route_table.private id)\", \"DestinationCidrBlock\": \"0.0.0.0/0\", \"GatewayId\": \"$igw\"}" >/dev/null
run 2 "$infra" plan "$topo"
out_has "~ instance.nat  (update in place: source_dest_check; changed outside infra)"
out_has "~ route_table.private  (update in place: routes; changed outside infra)"
run 0 "$infra" up "$topo"
[ "$(private_target)" = "$nat" ] || fail "the route was not put back to $nat"
[ "$(describe_nat)" = false ] || fail "the source/destination check was not turned off again"
[ "$(attr instance.nat id)" = "$nat" ] || fail "the NAT instance was replaced"
run 0 "$infra" plan "$topo"

# 4. source_dest_check dropped from the config: EC2's default (on) again.
topology "" "$nat_route"
run 0 "$infra" up "$topo"
[ "$(describe_nat)" = true ] || fail "the source/destination check is still off"
run 0 "$infra" plan "$topo"
run 0 "$infra" down "$topo" --yes
echo "ok: a NAT instance: its route and its source/destination check applied, read back, repaired"
