#!/usr/bin/env bash
# kill -9 `infra up` at every mutating API call, before the call reaches the
# service and after the service carried it out, against the real services:
# a reverse proxy (tools/osproxy.py) between the plugin and them SIGKILLs
# infra at the first mutating request of a run. The runs follow each other
# without a reset: each rerun first meets what the last one was killed in
# (the request it never sent, then the object it never learnt about), so
# that every mutating call of a whole `up` is killed once before and once
# after it takes effect. The killed runs skip the refresh (--refresh=false):
# the intents and their tokens alone must lead them to what the interrupted
# run made. Then the last run converges with no duplicate
# server, port, floating IP or other object (each object is created with a
# description naming its token: exactly one per token), `plan` has nothing
# to do, and `down` leaves nothing.
#   usage: crash.sh INFRA_BINARY BUILD_DIR WORLD_DIR
source "$(dirname "$0")/lib.sh"

proxy_start
ssh-keygen -q -t ed25519 -N "" -C infra-os-crash -f "$work/id_ed25519"
env=$suffix
topo=$work/crash.yaml
cat >"$topo" <<YAML
name: oscrash
providers:
  ovh:
    plugin: openstack
    cloud: ovh
    endpoints: $proxy_endpoints
networks:
  net: {}
resources:
  subnet:
    sub: { network: "\${network.net.id}", cidr: 10.77.0.0/24 }
  router:
    gw: { external_network: Ext-Net, subnets: ["\${subnet.sub.id}"] }
  port:
    extra: { network: "\${network.net.id}", subnet: "\${subnet.sub.id}" }
  floating_ip:
    node: { network: Ext-Net, instance: "\${instance.node.id}", depends_on: [router.gw] }
  key_pair:
    deploy: { name: "oscrash-$suffix", public_key_file: "$work/id_ed25519.pub" }
firewalls:
  fw:
    allow: [22, { port: 4648, proto: udp }]
instances:
  node:
    image: Debian 12
    size: s1-2
    subnet: "\${subnet.sub.id}"
    firewalls: ["\${firewall.fw.id}"]
    key_pair: "\${key_pair.deploy.name}"
dns_records:
  node: { zone: example.org, name: "oscrash-$suffix", target: "\${instance.node.private_ip}" }
YAML
args=(-e "$env" --parallelism 1)
down_args=(-e "$env")
cleanup_topologies+=("$topo")

# run_killed: one up through the proxy, armed to kill it at its first
# mutating request that was not yet killed before it took effect (before
# forwarding it), or not yet after (after its answer); returns 0 when it was
# killed, 1 when it finished (every mutating request it made was killed both
# ways in earlier runs).
run_killed() {
  proxy_arm "{\"when\": \"each\", \"action\": \"kill\", \"pidfile\": \"$work/infra.pid\"}"
  local rc=0
  bash -c 'echo $$ >"$0"; exec "$@"' "$work/infra.pid" "$infra" up "$topo" "${args[@]}" --refresh=false \
    >"$work/out" 2>"$work/err" </dev/null || rc=$?
  if [ $rc -eq 137 ]; then
    return 0
  fi
  [ $rc -eq 0 ] || run_failed $rc "0 or 137" infra up
  return 1
}

points=0
while run_killed; do
  points=$((points + 1))
  st=$(state_doc "$topo" -e "$env")
  jq -e . "$st" >/dev/null || fail "the state does not parse after crash $points"
  [ $points -le 80 ] || fail "still crashing after $points runs"
done
# Disarmed: what follows (plan, down) goes through the proxy untouched.
proxy_arm null
rm -f "$work/infra.pid"
fired=$(grep -c '"killed"' "$work/proxy.log")
[ "$fired" -eq $points ] || fail "$points runs died but the proxy killed $fired times"
# Every mutating request was killed both before and after it took effect.
proxy_state | jq -r '.fired[] | "\(.when) \(.method) \(.path)"' >"$work/fired"
unpaired=$(proxy_state | jq '[.fired | group_by(.key)[]
  | select((map(.when) | sort) != ["after", "before"])] | length')
[ "$unpaired" -eq 0 ] || { cat "$work/fired" >&2; fail "a call was not killed both before and after"; }
out_has "Apply:"

# Converged: every resource recorded, no intent left, nothing to plan.
st=$(state_doc "$topo" -e "$env")
[ "$(jq '.resources | length' "$st")" -eq 9 ] || fail "the state has $(jq '.resources | length' "$st") resources, expected 9"
[ "$(jq '.intents // {} | length' "$st")" -eq 0 ] || fail "intents left after convergence"
run 0 "$infra" plan "$topo" "${args[@]}"
out_has "No changes."

# One object per create: Neutron objects by the marker that names their
# token, servers by their token tag, and the ports of the network.
token() { jq -r ".resources[\"$1\"].token" "$st"; }
marker_count() {
  local kind=$1 path=$2 address=$3 m
  m=$(jq -rn --arg m "infra $address $(token "$address")" '$m | @uri')
  osctl get network "$path?description=$m" | jq ".$kind | length"
}
for r in "networks /networks network.net" "subnets /subnets subnet.sub" \
  "routers /routers router.gw" "security_groups /security-groups firewall.fw" \
  "ports /ports port.extra" "floatingips /floatingips floating_ip.node"; do
  read -r kind path address <<<"$r"
  n=$(marker_count "$kind" "$path" "$address")
  [ "$n" -eq 1 ] || fail "$address: $n objects made with its token, expected 1"
done
tag=$(jq -rn --arg t "infra:token=$(token instance.node)" '$t | @uri')
[ "$(osctl get compute "/servers/detail?tags=$tag" | jq '.servers | length')" -eq 1 ] ||
  fail "more than one server carries the token of instance.node"
net=$(jq -r '.resources["network.net"].attributes.id' "$st")
[ "$(osctl get network "/ports?network_id=$net" | jq '.ports | length')" -eq 3 ] ||
  fail "the network has $(osctl get network "/ports?network_id=$net" | jq '.ports | length') ports, expected 3 (router, port.extra, the server's)"
[ "$(tagged floatingips network /floatingips oscrash "$env" | jq length)" -eq 1 ] ||
  fail "more than one floating IP is tagged with this run"
rules=$(osctl get network "/security-groups/$(jq -r '.resources["firewall.fw"].attributes.id' "$st")" |
  jq '[.security_group.security_group_rules[] | select(.direction == "ingress")] | length')
[ "$rules" -eq 2 ] || fail "the security group has $rules ingress rules, expected 2"

run 0 "$infra" down "$topo" "${down_args[@]}" --yes
for kind in "networks network /networks" "subnets network /subnets" "routers network /routers" \
  "security_groups network /security-groups" "ports network /ports" \
  "floatingips network /floatingips" "servers compute /servers"; do
  read -r key service path <<<"$kind"
  [ "$(tagged "$key" "$service" "$path" oscrash "$env" | jq length)" -eq 0 ] ||
    fail "after down, $key tagged with this run are left"
done
sed 's/^/# /' "$work/fired"
echo "ok: $points crash points (every mutating call of an up killed before and after it took effect), converged without duplicates, down left nothing"
