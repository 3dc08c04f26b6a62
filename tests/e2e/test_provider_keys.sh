#!/usr/bin/env bash
# What a provider accepts it applies, or validate refuses: the keys inside
# the maps of list attributes (a route, a firewall rule, a listener, an
# allocation pool) are checked by each provider's validate, known values
# or not, and every provider refuses a port on {proto: icmp} (ICMP has
# types: {proto: icmp} opens all of them) and on {proto: all}.
#
# The audit behind it, per attribute whose elements are maps (the other
# attributes are checked by name and type against the schema by the core):
#
# | provider  | attribute                          | element keys applied                         | refused / applied in      |
# |-----------|------------------------------------|----------------------------------------------|---------------------------|
# | aws       | route_table.routes                 | cidr, gateway, nat_gateway, instance         | here; aws/nat-instance    |
# | aws       | firewall.allow / ingress / egress  | port, proto, protocol, from, cidr,           | here; aws/types           |
# |           |                                    | security_group, from_port, to_port           |                           |
# | aws       | load_balancer.listeners            | port, protocol, instance_port,               | here; aws/types           |
# |           |                                    | instance_protocol                            |                           |
# | aws       | image.build (map)                  | checked by aws_bake_validate                 | aws/test_aws_bake         |
# | aws       | instance.source_dest_check         | ModifyInstanceAttribute, read back           | aws/nat-instance          |
# | gcp       | firewall.allow / deny              | port, ports, proto, protocol, from           | here; gcp unit tests      |
# | openstack | firewall.allow / ingress / egress  | port, proto, protocol, ethertype, from, cidr,| here; openstack unit tests|
# |           |                                    | remote_ip_prefix, remote_group_id,           |                           |
# |           |                                    | security_group, port_range_min/max           |                           |
# | openstack | load_balancer.listeners            | port, protocol, backend_port, instance_port  | here                      |
# | openstack | subnet.allocation_pools            | start, end (or "FIRST-LAST")                 | here                      |
# | openstack | load_balancer.subnets              | one id (the VIP subnet); more are refused    | here                      |
# | local     | firewall.allow                     | port (N or "LOW-HIGH"), proto, from          | here; local/fw-ports      |
# | all       | settings endpoints                 | the provider's service names                 | each provider's configure |
#
# Free-form maps (tags, metadata) take any key; local's instance image and
# size are documented as informational (hosts share this machine's files).
#   usage: test_provider_keys.sh INFRA_BINARY BUILD_DIR
source "$(dirname "$0")/lib.sh"
export INFRA_PLUGIN_PATH=$2/plugins
for p in aws gcp openstack local; do
  [ -f "$2/plugins/$p.so" ] || fail "the $p plugin is not built"
done

# refused FILE EXPECTED...: validate FILE fails and prints each EXPECTED line.
refused() {
  local file=$1
  shift
  run 1 "$infra" validate "$file"
  for line in "$@"; do err_has "$line"; done
}

cd "$work"
cat >aws.yaml <<'YAML'
name: keys
providers:
  aws: { region: us-east-1 }
resources:
  route_table:
    t: { vpc: vpc-1, routes: [{ cidr: 0.0.0.0/0, instanse: i-1 }] }
  load_balancer:
    lb: { subnets: [subnet-1], listeners: [{ port: 443, protocol: TCP, backend: 8443 }] }
firewalls:
  web:
    vpc: vpc-1
    allow: [{ port: 22, to: any }, { proto: icmp, port: 8 }, { proto: all, port: 22 }]
    egress: [{ from_port: 53, to_port: 53, protocol: udp, cidr: 10.0.0.0/8, description: dns }]
YAML
refused aws.yaml \
  'aws.yaml:6:60: error: resources.route_table.t.routes[0].instanse: "instanse" is not supported by the aws provider here' \
  'aws.yaml:8:81: error: load_balancers.lb.listeners[0].backend: "backend" is not supported by the aws provider here' \
  'aws.yaml:12:29: error: firewalls.web.allow[0].to: "to" is not supported by the aws provider here' \
  'aws.yaml:12:36: error: firewalls.web.allow[1]: proto icmp takes no port: it opens every ICMP type' \
  'aws.yaml:12:62: error: firewalls.web.allow[2]: proto all takes no port: it opens every port of every protocol' \
  'aws.yaml:13:90: error: firewalls.web.egress[0].description: "description" is not supported by the aws provider here'

cat >gcp.yaml <<'YAML'
name: keys
providers:
  gcp: { project: p, region: europe-west1 }
firewalls:
  web:
    network: net-1
    allow: [{ port: 22, form: any }, { proto: icmp, port: 8 }]
YAML
refused gcp.yaml \
  'gcp.yaml:7:31: error: firewalls.web.allow[0].form: "form" is not supported by the gcp provider here' \
  'gcp.yaml:7:38: error: firewalls.web.allow[1]: ports are only for tcp, udp and sctp, not icmp'

cat >openstack.yaml <<'YAML'
name: keys
providers:
  openstack: {}
resources:
  subnet:
    s: { network: net-1, cidr: 10.0.0.0/24, allocation_pools: [{ start: 10.0.0.5, end: 10.0.0.9, size: 3 }] }
  load_balancer:
    lb: { subnet: subnet-1, listeners: [{ port: 443, protocol: TCP, backend: 8443 }] }
    two: { subnets: [subnet-1, subnet-2], listen: [80] }
firewalls:
  web:
    network: net-1
    allow: [{ port: 22, form: any }, { proto: icmp, port: 8 }, { proto: all, port: 22 }]
YAML
refused openstack.yaml \
  'openstack.yaml:6:104: error: resources.subnet.s.allocation_pools[0].size: "size" is not supported by the openstack provider here' \
  'openstack.yaml:8:78: error: load_balancers.lb.listeners[0].backend: "backend" is not supported by the openstack provider here' \
  'load_balancers.two.subnets: a load balancer has one VIP subnet: give subnet, or subnets with one id; more are not supported by the openstack provider' \
  'openstack.yaml:13:31: error: firewalls.web.allow[0].form: "form" is not supported by the openstack provider here' \
  'firewalls.web.allow[1]: proto icmp takes no port: it opens every ICMP type' \
  'firewalls.web.allow[2]: proto all takes no port: it opens every port of every protocol'

cat >local.yaml <<'YAML'
name: keys
providers:
  local: {}
firewalls:
  web:
    network: net-1
    allow: [{ port: 22, form: any }, { proto: icmp, port: 8 }, { proto: all, port: 22 }, "20-10"]
YAML
refused local.yaml \
  'local.yaml:7:31: error: firewalls.web.allow[0].form: "form" is not supported by the local provider here' \
  'firewalls.web.allow[1]: proto icmp takes no port: it opens every ICMP type' \
  'firewalls.web.allow[2]: proto all takes no port: it opens every port of every protocol' \
  'firewalls.web.allow[3]: the range "20-10" starts above its end: give the low port first'

# The forms that open ICMP, ranges and everything are accepted by each.
for p in aws gcp openstack local; do
  net=network
  [ $p = aws ] && net=vpc
  settings='{}'
  [ $p = aws ] && settings='{ region: us-east-1 }'
  [ $p = gcp ] && settings='{ project: p, region: europe-west1 }'
  cat >good-$p.yaml <<YAML
name: keys
providers:
  $p: $settings
firewalls:
  web:
    $net: net-1
    allow: [22, "20000-32000", { port: "8300-8302", proto: udp }, { proto: icmp }, { proto: all }]
YAML
  run 0 "$infra" validate good-$p.yaml
done
echo "ok: every provider refuses keys it would not apply, and ports on icmp and all"
