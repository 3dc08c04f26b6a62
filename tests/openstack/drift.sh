#!/usr/bin/env bash
# Drift of every resource type against the real services: a topology with a
# network, subnet, router, firewall, port, floating IP, key pair, instance,
# Octavia load balancer and Designate record set; then one change made
# outside infra to each object, through the APIs. `infra status` names each
# resource drifted (or missing) with the attribute concerned, `infra plan`
# plans to repair each, `infra up` repairs them, and the next plan has
# nothing to do. Then down leaves nothing.
#   usage: drift.sh INFRA_BINARY BUILD_DIR WORLD_DIR
source "$(dirname "$0")/lib.sh"

ssh-keygen -q -t ed25519 -N "" -C infra-os-drift -f "$work/id_ed25519"
env=$suffix
topo=$work/drift.yaml
cat >"$topo" <<YAML
name: osdrift
providers:
  ovh: { plugin: openstack, cloud: ovh }
networks:
  net: { name: "drift-$suffix" }
resources:
  subnet:
    sub: { network: "\${network.net.id}", cidr: 10.79.0.0/24, dns_servers: [213.186.33.99] }
  router:
    gw: { external_network: Ext-Net, subnets: ["\${subnet.sub.id}"] }
  port:
    vip: { network: "\${network.net.id}", subnet: "\${subnet.sub.id}", firewalls: ["\${firewall.fw.id}"] }
  floating_ip:
    vip: { network: Ext-Net, port: "\${port.vip.id}", depends_on: [router.gw] }
  key_pair:
    deploy: { name: "osdrift-$suffix", public_key_file: "$work/id_ed25519.pub" }
firewalls:
  fw: { allow: [22, 80] }
instances:
  node:
    image: Debian 12
    size: s1-2
    subnet: "\${subnet.sub.id}"
    firewalls: ["\${firewall.fw.id}"]
    key_pair: "\${key_pair.deploy.name}"
    role: web
load_balancers:
  lb:
    subnet: "\${subnet.sub.id}"
    listen: [80]
    health: "http:80/health"
    targets: ["\${instance.node.id}"]
dns_records:
  node: { zone: example.org, name: "osdrift-$suffix", target: "\${instance.node.private_ip}", ttl: 60 }
YAML
args=(-e "$env")
down_args=("${args[@]}")
cleanup_topologies+=("$topo")

run 0 "$infra" up "$topo" "${args[@]}"
out_has "Apply: 10 done, 0 failed, 0 skipped."
run 0 "$infra" plan "$topo" "${args[@]}"
st=$(state_doc "$topo" -e "$env")
id() { jq -r ".resources[\"$1\"].attributes.id" "$st"; }

# One change outside infra to each object.
osctl call PUT network "/networks/$(id network.net)" '{"network": {"name": "renamed"}}' >/dev/null
osctl call PUT network "/subnets/$(id subnet.sub)" '{"subnet": {"dns_nameservers": ["9.9.9.9"]}}' >/dev/null
osctl call PUT network "/floatingips/$(id floating_ip.vip)" '{"floatingip": {"port_id": null}}' >/dev/null
osctl call PUT network "/routers/$(id router.gw)/remove_router_interface" \
  "{\"subnet_id\": \"$(id subnet.sub)\"}" >/dev/null
rule=$(osctl get network "/security-group-rules?security_group_id=$(id firewall.fw)&port_range_min=80" |
  jq -r '.security_group_rules[0].id')
osctl call DELETE network "/security-group-rules/$rule" >/dev/null
osctl call PUT network "/ports/$(id port.vip)" '{"port": {"security_groups": []}}' >/dev/null
osctl call DELETE compute "/os-keypairs/osdrift-$suffix" >/dev/null
osctl call PUT compute "/servers/$(id instance.node)/metadata" '{"metadata": {"role": "db"}}' >/dev/null
lb=$(id load_balancer.lb)
lb_status() { osctl get load-balancer "/lbaas/loadbalancers/$lb" | jq -r .loadbalancer.provisioning_status; }
for _ in $(seq 1 300); do [ "$(lb_status)" = ACTIVE ] && break; sleep 0.2; done
[ "$(lb_status)" = ACTIVE ] || fail "load balancer $lb is $(lb_status), not ACTIVE"
pool=$(osctl get load-balancer "/lbaas/pools?loadbalancer_id=$lb" | jq -r '.pools[0].id')
osctl call PUT load-balancer "/lbaas/pools/$pool/members" '{"members": []}' >/dev/null
zone=$(jq -r '.resources["dns_record.node"].attributes.zone_id' "$st")
osctl call PUT dns "/zones/$zone/recordsets/$(id dns_record.node)" '{"records": ["192.0.2.99"]}' >/dev/null

# Octavia and Designate finish their changes in the background.
for _ in $(seq 1 300); do
  ready=$(osctl get load-balancer "/lbaas/loadbalancers/$lb" | jq -r .loadbalancer.provisioning_status)
  rs=$(osctl get dns "/zones/$zone/recordsets/$(id dns_record.node)" | jq -r .status)
  [ "$ready" = ACTIVE ] && [ "$rs" = ACTIVE ] && break
  sleep 0.2
done

run 0 "$infra" status "$topo" "${args[@]}"
for want in "network.net drifted (name)" "subnet.sub drifted (dns_servers)" \
  "router.gw drifted (subnets)" "firewall.fw drifted (allow)" "port.vip drifted (firewalls)" \
  "floating_ip.vip drifted (port)" "key_pair.deploy missing" "instance.node drifted (role)" \
  "load_balancer.lb drifted (targets)" "dns_record.node drifted (target)"; do
  address=${want%% *}
  state=${want#* }
  if [ "$state" = missing ]; then pattern=" missing$"; else
    attr=${state#drifted (}
    attr=${attr%)}
    pattern="drifted \\(([^)]*, )?$attr(,|\\))"
  fi
  grep -F " $address " "$work/out" | grep -qE "$pattern" ||
    { cat "$work/out" >&2; fail "status does not say $address is $state"; }
done
run 2 "$infra" plan "$topo" "${args[@]}"
for address in network.net subnet.sub router.gw firewall.fw port.vip floating_ip.vip key_pair.deploy \
  instance.node load_balancer.lb dns_record.node; do
  grep -qF " $address  (" "$work/out" || { cat "$work/out" >&2; fail "plan does not repair $address"; }
done

run 0 "$infra" up "$topo" "${args[@]}"
run 0 "$infra" plan "$topo" "${args[@]}"
out_has "No changes."
# Repaired in the cloud, not only in the state.
st=$(state_doc "$topo" -e "$env")
[ "$(osctl get network "/networks/$(id network.net)" | jq -r .network.name)" = "drift-$suffix" ] ||
  fail "the network's name is not repaired"
[ "$(osctl get network "/routers/$(id router.gw)" >/dev/null; osctl get network \
  "/ports?device_id=$(id router.gw)&device_owner=network%3Arouter_interface" | jq '.ports | length')" -eq 1 ] ||
  fail "the router's interface is not repaired"
[ "$(osctl get network "/floatingips/$(id floating_ip.vip)" | jq -r .floatingip.port_id)" = "$(id port.vip)" ] ||
  fail "the floating IP is not forwarded to its port again"
[ "$(osctl get compute "/servers/$(id instance.node)/metadata" | jq -r .metadata.role)" = web ] ||
  fail "the server's metadata is not repaired"
[ "$(osctl get load-balancer "/lbaas/pools/$pool/members" | jq '.members | length')" -eq 1 ] ||
  fail "the load balancer's member is not repaired"
osctl get compute "/os-keypairs/osdrift-$suffix" >/dev/null || fail "the key pair is not made again"

run 0 "$infra" down "$topo" "${args[@]}" --yes
for kind in "networks network /networks" "subnets network /subnets" "routers network /routers" \
  "security_groups network /security-groups" "ports network /ports" \
  "floatingips network /floatingips" "servers compute /servers"; do
  read -r key service path <<<"$kind"
  [ "$(tagged "$key" "$service" "$path" osdrift "$env" | jq length)" -eq 0 ] ||
    fail "after down, $key tagged with this run are left"
done
[ "$(osctl get load-balancer "/lbaas/loadbalancers/$lb" >/dev/null 2>&1; echo $?)" -eq 3 ] ||
  [ "$(osctl get load-balancer "/lbaas/loadbalancers/$lb" | jq -r .loadbalancer.provisioning_status)" = DELETED ] ||
  fail "the load balancer is left"
echo "ok: drift of every type seen by status and plan, repaired by up"
