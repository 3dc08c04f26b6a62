#!/usr/bin/env bash
# Drift, one kind of object at a time: tests/gcp/data/types.yaml (every
# resource type) is brought up, then each object is changed behind
# infra's back with ordinary authenticated API calls; plan must show it
# (exit 2), up must repair it (in place, or by making it again), and plan
# must be clean afterwards.
#   usage: drift.sh INFRA_BINARY BUILD_DIR
source "$(dirname "$0")/lib.sh"

emulator_start --operation-seconds 0.15 --time-scale 0.05 --loopback-addresses
topo=$work/types.yaml
cp "$here/data/types.yaml" "$topo"
a() { attr "$topo" "$1" "$2"; }
name() { a "$1" name; }
zone=zones/europe-west1-b
region=regions/europe-west1

run 0 "$infra" up "$topo"
run 0 "$infra" plan "$topo"

# expect_repair WHAT LINE: plan shows LINE (exit 2), up repairs, plan is clean.
expect_repair() {
  local what=$1 line=$2
  run 2 "$infra" plan "$topo"
  out_has "$line"
  run 0 "$infra" up "$topo"
  run 0 "$infra" plan "$topo"
  echo "drift repaired: $what ($SECONDS s)"
}

# network: deleted -> made again.
api_wait DELETE "$(compute_path "global/networks/$(name network.spare)")"
expect_repair network "+ network.spare  (create; deleted outside infra)"
api GET "$(compute_path "global/networks/$(name network.spare)")" >/dev/null

# subnetwork: private Google access switched off -> on again, in place.
sub=$(compute_path "$region/subnetworks/$(name subnetwork.hosts)")
api_wait POST "$sub/setPrivateIpGoogleAccess" '{"privateIpGoogleAccess": false}'
expect_repair subnetwork "~ subnetwork.hosts  (update in place: private_google_access"
api GET "$sub" | jq -e '.privateIpGoogleAccess == true' >/dev/null || fail "private Google access not restored"

# firewall: a port removed and the priority changed -> the whole rule put back.
fw=$(compute_path "global/firewalls/$(name firewall.web)")
api_wait PATCH "$fw" "{\"name\": \"$(name firewall.web)\", \"allowed\": [{\"IPProtocol\": \"tcp\", \"ports\": [\"80\"]}], \"priority\": 10}"
expect_repair firewall "~ firewall.web  (update in place"
api GET "$fw" | jq -e '.priority == 1000 and ([.allowed[] | select(.IPProtocol == "tcp") | .ports[]] | sort == ["443", "80"])' >/dev/null ||
  fail "the firewall rule was not put back"
[ "$(grep -c ' compute.firewalls.insert ' "$work/emulator.log")" -eq 1 ] || fail "the firewall was made again instead of updated"

# router: its NAT removed -> added again.
router=$(compute_path "$region/routers/$(name router.nat)")
api_wait PATCH "$router" '{"nats": []}'
expect_repair router "~ router.nat  (update in place: nat"
api GET "$router" | jq -e '.nats | length == 1' >/dev/null || fail "the NAT was not put back"

# address: deleted -> made again.
api_wait DELETE "$(compute_path "$region/addresses/$(name address.spare)")"
expect_repair address "+ address.spare  (create; deleted outside infra)"

# instance: a label, the network tags and the metadata changed -> set back in place.
node=$(compute_path "$zone/instances/$(name instance.node)")
inst=$(api GET "$node")
api_wait POST "$node/setLabels" "$(echo "$inst" | jq -c '{labels: (.labels | del(.tier)), labelFingerprint}')"
api_wait POST "$node/setTags" "$(echo "$inst" | jq -c '{items: ["other"], fingerprint: .tags.fingerprint}')"
api_wait POST "$node/setMetadata" "$(echo "$inst" | jq -c '{items: [{key: "purpose", value: "changed"}], fingerprint: .metadata.fingerprint}')"
expect_repair instance "~ instance.node  (update in place"
api GET "$node" | jq -e '.labels.tier == "front" and .tags.items == ["web"] and (.metadata.items | map(select(.key == "purpose"))[0].value) == "tests"' >/dev/null ||
  fail "labels, tags or metadata were not put back: $(api GET "$node" | jq -c '{labels, tags, metadata}')"
[ "$(grep -c ' compute.instances.insert ' "$work/emulator.log")" -eq 1 ] || fail "the instance was made again instead of updated"

# instance: deleted -> made again, and the load balancer takes the new one.
api_wait DELETE "$node"
expect_repair "deleted instance" "+ instance.node  (create; deleted outside infra)"
pool=$(compute_path "$region/targetPools/$(name load_balancer.web)")
api GET "$pool" | jq -e ".instances == [\"$(a instance.node self_link)\"]" >/dev/null || fail "the pool does not hold the new instance"

# load balancer: a member removed -> added back; its forwarding rule deleted -> made again.
api_wait POST "$pool/removeInstance" "{\"instances\": [{\"instance\": \"$(a instance.node self_link)\"}]}"
expect_repair "load balancer member" "~ load_balancer.web  (update in place: targets"
rule=$(compute_path "$region/forwardingRules/$(name load_balancer.web)")
api_wait DELETE "$rule"
expect_repair "load balancer rule" "-/+ load_balancer.web  (replace"
api GET "$rule" | jq -e ".IPAddress == \"$(a address.lb address)\"" >/dev/null || fail "the forwarding rule is not back on the static address"

# instance template: deleted -> made again.
api_wait DELETE "$(compute_path "global/instanceTemplates/$(name instance_template.spare)")"
expect_repair "instance template" "+ instance_template.spare  (create; deleted outside infra)"

# instance group: resized -> its size put back.
group=$(compute_path "$zone/instanceGroupManagers/$(name instance_group.web)")
api_wait POST "$group/resize?size=3"
expect_repair "instance group" "~ instance_group.web  (update in place: size"
api GET "$group" | jq -e '.targetSize == 1' >/dev/null || fail "the group's size was not put back"

# dns record: its data changed -> set back.
rrsets=dns/v1/projects/infra-test/managedZones/example-org/rrsets
rr=$(api GET "$rrsets?name=www.example.org.&type=A" | jq -c '.rrsets[0]')
api POST dns/v1/projects/infra-test/managedZones/example-org/changes \
  "{\"deletions\": [$rr], \"additions\": [{\"name\": \"www.example.org.\", \"type\": \"A\", \"ttl\": 30, \"rrdatas\": [\"192.0.2.7\"]}]}" >/dev/null
expect_repair "dns record" "~ dns_record.www  (update in place: target"
api GET "$rrsets?name=www.example.org.&type=A" |
  jq -e ".rrsets[0].rrdatas == [\"$(a address.lb address)\"] and .rrsets[0].ttl == 300" >/dev/null || fail "the record was not set back"

run 0 "$infra" down "$topo" --yes
left=$(emu_objects)
[ -z "$left" ] || fail "after down the emulator still holds: $left"
echo "ok: drift of every type detected and repaired"
