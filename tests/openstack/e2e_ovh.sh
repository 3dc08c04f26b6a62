#!/usr/bin/env bash
# examples/ovh-nomad.yaml against the real OpenStack services of the test
# world: network, subnet, router with its Ext-Net gateway, a security group
# opening only SSH, HTTP and the Nomad and Consul ports, a key pair, three
# servers from the newest nomad-host-* image and two Designate records,
# credentials from clouds.yaml + secure.yaml. The subnet has the range of a
# host pool, so the servers are real SSH hosts whose host keys the console
# shows. up -> everything exists, checked through the APIs; up again and
# plan -> no changes; down -> nothing of it is left.
#   usage: e2e_ovh.sh INFRA_BINARY BUILD_DIR WORLD_DIR
source "$(dirname "$0")/lib.sh"

nodes=3
pool_create $nodes
ssh-keygen -q -t ed25519 -N "" -C infra-os-test -f "$work/id_ed25519"
export INFRA_SSH_PUBLIC_KEY=$work/id_ed25519.pub INFRA_SSH_PRIVATE_KEY=$work/id_ed25519
topo=$work/ovh-nomad.yaml
cp "$root/examples/ovh-nomad.yaml" "$topo"
env=$suffix
args=(-e "$env" --var "cidr=$pool_cidr" --var "key_name=nomad-deploy-$suffix"
  --var "dns_name=nomad-$suffix")
down_args=("${args[@]}")
cleanup_topologies+=("$topo")

# 1. up
run 0 "$infra" up "$topo" "${args[@]}"
out_has "Apply: 11 done, 0 failed, 0 skipped."
st=$(state_doc "$topo" -e "$env")
attr() { jq -r ".resources[\"$1\"].attributes.$2" "$st"; }

nets=$(tagged networks network /networks ovh-nomad "$env")
[ "$(echo "$nets" | jq length)" -eq 1 ] || fail "expected one tagged network, got $nets"
net=$(attr network.nomad id)
[ "$(echo "$nets" | jq -r '.[0].id')" = "$net" ] || fail "the tagged network is not $net"
echo "$nets" | jq -e '.[0].tags | index("infra:address=network.nomad")' >/dev/null ||
  fail "network $net lacks its infra:address tag"
echo "$nets" | jq -e '.[0].tags | map(select(startswith("infra:token="))) | length == 1' >/dev/null ||
  fail "network $net lacks its infra:token tag"

subnet=$(attr subnet.nomad id)
osctl get network "/subnets/$subnet" | jq -e --arg c "$pool_cidr" --arg n "$net" \
  '.subnet | .cidr == $c and .network_id == $n and .dns_nameservers == ["213.186.33.99"]' >/dev/null ||
  fail "subnet $subnet is not $pool_cidr in $net with its DNS server"

ext=$(osctl get network '/networks?name=Ext-Net' | jq -r '.networks[0].id')
router=$(attr router.nomad id)
osctl get network "/routers/$router" | jq -e --arg e "$ext" '.router.external_gateway_info.network_id == $e' >/dev/null ||
  fail "router $router has no gateway on Ext-Net"
osctl get network "/ports?device_id=$router&device_owner=network%3Arouter_interface" |
  jq -e --arg s "$subnet" '[.ports[].fixed_ips[].subnet_id] == [$s]' >/dev/null ||
  fail "router $router has no interface on $subnet (only)"

# The security group opens exactly SSH, HTTP and the Nomad and Consul
# ports, from anywhere; egress stays Neutron's default.
sg=$(attr firewall.nomad id)
rules=$(osctl get network "/security-groups/$sg" |
  jq -r '.security_group.security_group_rules[] | select(.direction == "ingress")
         | "\(.protocol) \(.port_range_min)-\(.port_range_max) \(.remote_ip_prefix)"' | sort | tr '\n' ';')
want="tcp 22-22 0.0.0.0/0;tcp 4646-4648 0.0.0.0/0;tcp 80-80 0.0.0.0/0;tcp 8300-8302 0.0.0.0/0;tcp 8500-8500 0.0.0.0/0;udp 4648-4648 0.0.0.0/0;udp 8301-8302 0.0.0.0/0;udp 8600-8600 0.0.0.0/0;"
[ "$rules" = "$want" ] || fail "security group rules are '$rules', expected '$want'"
[ "$(osctl get network "/security-groups/$sg" | jq '[.security_group.security_group_rules[] | select(.direction == "egress")] | length')" -eq 2 ] ||
  fail "the default egress rules of $sg are not kept"

osctl get compute "/os-keypairs/nomad-deploy-$suffix" |
  jq -e --arg k "$(cut -d' ' -f1-2 "$work/id_ed25519.pub")" '.keypair.public_key | startswith($k)' >/dev/null ||
  fail "key pair nomad-deploy-$suffix does not hold the public key"

# Three ACTIVE servers of the newest nomad-host image, tagged, on pool hosts
# whose SSH host keys the state pins.
image=$(osctl get image '/images?name=nomad-host-2026-11-02' | jq -r '.images[0].id')
servers=$(tagged servers compute /servers/detail ovh-nomad "$env")
[ "$(echo "$servers" | jq '[.[] | select(.status == "ACTIVE")] | length')" -eq $nodes ] ||
  fail "expected $nodes ACTIVE servers, got $(echo "$servers" | jq -c 'map(.status)')"
[ "$(echo "$servers" | jq -r '[.[].image.id] | unique | join(",")')" = "$image" ] ||
  fail "the servers do not run the newest nomad-host image $image"
for i in $(seq 0 $((nodes - 1))); do
  id=$(attr "instance.node[$i]" id)
  echo "$servers" | jq -e --arg id "$id" --arg a "infra:address=instance.node[$i]" \
    '.[] | select(.id == $id) | .tags | index($a)' >/dev/null || fail "server $id lacks its infra:address tag"
  ip=$(attr "instance.node[$i]" private_ip)
  fp=$(attr "instance.node[$i]" ssh_host_key_fingerprint)
  jq -e --arg ip "$ip" --arg fp "$fp" '.[] | select(.address == $ip and .ssh_host_key_fingerprint == $fp)' \
    "$pool_dir/hosts.json" >/dev/null || fail "node $i ($ip, $fp) is not a pool host with that host key"
  [ "$(attr "instance.node[$i]" ssh_user)" = root ] || fail "node $i has no ssh_user"
done
ip=$(attr "instance.node[0]" private_ip)
key=$(jq -r --arg ip "$ip" '.[] | select(.address == $ip) | .ssh_private_key' "$pool_dir/hosts.json")
fp=$(attr "instance.node[0]" ssh_host_key_fingerprint)
ssh-keyscan -T 10 "$ip" 2>/dev/null >"$work/known_hosts"
ssh-keygen -l -f "$work/known_hosts" | grep -qF "$fp" || fail "$ip does not present the host key $fp"
ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$work/known_hosts" \
  -o ConnectTimeout=10 -i "$key" "root@$ip" true || fail "ssh to node 0 ($ip) with its pinned host key failed"

# Designate: the nodes' A record (served by BIND) and the wildcard CNAME.
zone=$(osctl get dns '/zones?name=example.org.' | jq -r '.zones[0].id')
rs=$(osctl get dns "/zones/$zone/recordsets?name=nomad-$suffix.example.org.")
want_ips=$(jq -r '[.resources | to_entries[] | select(.key | startswith("instance.node")) | .value.attributes.private_ip] | sort | join(",")' "$st")
[ "$(echo "$rs" | jq -r '.recordsets[0] | select(.type == "A" and .status == "ACTIVE") | .records | sort | join(",")')" = "$want_ips" ] ||
  fail "record nomad-$suffix.example.org. is not A $want_ips: $rs"
osctl get dns "/zones/$zone/recordsets?name=%2A.app.nomad-$suffix.example.org." |
  jq -e --arg t "nomad-$suffix.example.org." '.recordsets[0] | .type == "CNAME" and .records == [$t]' >/dev/null ||
  fail "no CNAME *.app.nomad-$suffix.example.org."
bind_port=$(awk -F= '/^BIND_PORT=/ {print $2}' "$world/world.env")
answer=$(/usr/bin/python3 - "$bind_port" "nomad-$suffix.example.org." <<'PY'
import sys
import dns.message, dns.query, dns.rdatatype
q = dns.message.make_query(sys.argv[2], dns.rdatatype.A)
a = dns.query.udp(q, "127.0.0.1", port=int(sys.argv[1]), timeout=5)
print(",".join(sorted(r.address for s in a.answer for r in s if s.rdtype == dns.rdatatype.A)))
PY
)
[ "$answer" = "$want_ips" ] || fail "BIND answers '$answer' for nomad-$suffix.example.org., not $want_ips"

run 0 "$infra" output "$topo" "${args[@]}" --json
[ "$(jq '[.node_fingerprints[] | select(startswith("SHA256:"))] | length' "$work/out")" -eq $nodes ] ||
  fail "output node_fingerprints"
[ "$(jq -r .router_ip "$work/out")" != null ] || fail "output router_ip"

# 2. Nothing to do on a second run.
run 0 "$infra" up "$topo" "${args[@]}"
out_has "No changes."
run 0 "$infra" plan "$topo" "${args[@]}"

# 3. down: nothing of it is left in the cloud.
run 0 "$infra" down "$topo" "${args[@]}" --yes
for kind in "networks network /networks" "subnets network /subnets" "routers network /routers" \
  "security_groups network /security-groups" "ports network /ports" \
  "floatingips network /floatingips" "servers compute /servers"; do
  read -r key service path <<<"$kind"
  [ "$(tagged "$key" "$service" "$path" ovh-nomad "$env" | jq length)" -eq 0 ] ||
    fail "after down, $key tagged with this run are left"
done
osctl get compute "/os-keypairs/nomad-deploy-$suffix" >/dev/null 2>&1 && fail "after down the key pair is left"
[ "$(osctl get dns "/zones/$zone/recordsets?name=nomad-$suffix.example.org." | jq '.recordsets | length')" -eq 0 ] ||
  fail "after down the A record is left"
[ "$(osctl get network "/networks/$net" >/dev/null 2>&1; echo $?)" -eq 3 ] || fail "network $net still exists"
st=$(state_doc "$topo" -e "$env")
[ "$(jq '.resources | length' "$st")" -eq 0 ] || fail "after down the state still names resources"
echo "ok: ovh-nomad up (checked through the APIs, servers on pool hosts), no-op, down"
