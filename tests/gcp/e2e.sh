#!/usr/bin/env bash
# examples/gcp-nomad.yaml against the GCP emulator: a custom-mode network
# and its subnetwork, a firewall rule opening only SSH, HTTP and the Nomad
# and Consul ports, three instances from an image family, a network load
# balancer (health check, target pool, forwarding rule) in front of them
# and two Cloud DNS records. As root the instances are real SSH hosts of a
# host pool (the guest agent's ssh-keys user logs in, fingerprints come
# from the serial port, the startup script serves the health check);
# otherwise they get loopback addresses only. up -> everything exists; up
# again and plan -> no changes; down -> the emulator holds nothing of it.
#   usage: e2e.sh INFRA_BINARY BUILD_DIR
source "$(dirname "$0")/lib.sh"

nodes=3
hosts_args=(--loopback-addresses)
if [ "$(id -u)" -eq 0 ] && [ -x /usr/sbin/sshd ]; then
  pool_create $nodes
  hosts_args=(--hosts "$pool_dir/hosts.json")
fi
emulator_start --operation-seconds 0.2 --time-scale 0.1 "${hosts_args[@]}"

ssh-keygen -q -t ed25519 -N "" -C infra-gcp-test -f "$work/id_ed25519"
export INFRA_SSH_PUBLIC_KEY=$work/id_ed25519.pub INFRA_SSH_PRIVATE_KEY=$work/id_ed25519
topo=$work/gcp-nomad.yaml
cp "$root/examples/gcp-nomad.yaml" "$topo"
project() { emu_state | jq '.projects["infra-test"]'; }
items() { jq -r "[.$1 // {} | .[][] | .name] | sort | join(\" \")"; }

# 1. up
run 0 "$infra" up "$topo"
out_has "Apply: 9 done, 0 failed, 0 skipped."
pr=$(project)
[ "$(echo "$pr" | items networks)" = nomad ] || fail "expected the network nomad"
echo "$pr" | jq -e '.networks.global[0] | select(.autoCreateSubnetworks == false)' >/dev/null ||
  fail "the network is not in custom subnet mode"
echo "$pr" | jq -e '.subnetworks["regions/europe-west1"][] | select(.name == "nomad-hosts" and .ipCidrRange == "10.20.1.0/24")' >/dev/null ||
  fail "no subnetwork nomad-hosts 10.20.1.0/24 in europe-west1"

# The rule opens exactly 22, 80, 4646-4648, 8300-8302 (tcp and udp
# 8301-8302) and 8500, from anywhere, to the nomad hosts.
fw=$(echo "$pr" | jq '.firewalls.global[0]')
rules=$(echo "$fw" | jq -r '[.allowed[] | "\(.IPProtocol) \(.ports | join(","))"] | join(";")')
[ "$rules" = "tcp 22,4646-4648,80,8300-8302,8500;udp 8301-8302" ] || fail "firewall rules are '$rules'"
[ "$(echo "$fw" | jq -r '.sourceRanges | join(",")')" = 0.0.0.0/0 ] || fail "firewall sources"
[ "$(echo "$fw" | jq -r '.targetTags | join(",")')" = nomad ] || fail "firewall targets"

# Three RUNNING instances of the newest debian-12 image, labelled, tagged.
inst=$(echo "$pr" | jq '[.instances[][]]')
[ "$(echo "$inst" | jq length)" -eq $nodes ] || fail "expected $nodes instances"
[ "$(echo "$inst" | jq -r '[.[].status] | unique | join(",")')" = RUNNING ] || fail "not all RUNNING"
[ "$(echo "$pr" | jq -r '[.disks[][] | .sourceImage | split("/") | last] | unique | join(",")')" = debian-12-bookworm-v20261101 ] ||
  fail "the boot disks are not of the newest debian-12 image"
state=$(state_json "$topo")
for i in $(seq 0 $((nodes - 1))); do
  id=$(echo "$state" | jq -r ".resources[\"instance.node[$i]\"].attributes.name")
  echo "$inst" | jq -e ".[] | select(.name == \"$id\") | .labels | select(.\"infra-address\" == \"instance_2enode_5b${i}_5d\" and .\"infra-token\" != null and .role == \"nomad\")" >/dev/null ||
    fail "instance $id lacks its labels"
  echo "$inst" | jq -e ".[] | select(.name == \"$id\") | .tags.items | index(\"nomad\")" >/dev/null ||
    fail "instance $id lacks its network tag"
done

# The load balancer: a rule on port 80 to a pool of the three, with its check.
pool=$(echo "$pr" | jq '.targetPools["regions/europe-west1"][0]')
[ "$(echo "$pool" | jq '.instances | length')" -eq $nodes ] || fail "the pool does not hold $nodes instances"
[ "$(echo "$pr" | jq -r '.httpHealthChecks.global[0] | "\(.port)\(.requestPath)"')" = "80/health" ] || fail "health check"
rule=$(echo "$pr" | jq '.forwardingRules["regions/europe-west1"][0]')
[ "$(echo "$rule" | jq -r .portRange)" = 80-80 ] || fail "forwarding rule ports"
address=$(echo "$rule" | jq -r .IPAddress)
run 0 "$infra" output "$topo" --json
[ "$(jq -r .lb_address "$work/out")" = "$address" ] || fail "output lb_address is not $address"
[ "$(jq '[.node_public_ips[] | select(. != null)] | length' "$work/out")" -eq $nodes ] ||
  fail "every node should have an external address"
[ "$(jq '[.node_fingerprints[] | select(startswith("SHA256:"))] | length' "$work/out")" -eq $nodes ] ||
  fail "every node should have an SSH host key fingerprint from its serial port"

if [ -n "$pool_dir" ]; then
  # Fingerprints are the real hosts' keys; the pool sees them HEALTHY; the
  # ssh-keys user logs in and has sudo.
  for fp in $(jq -r '.node_fingerprints[]' "$work/out"); do
    jq -e --arg fp "$fp" '.[] | select(.ssh_host_key_fingerprint == $fp)' "$pool_dir/hosts.json" >/dev/null ||
      fail "fingerprint $fp is not the one of a pool host"
  done
  pool_id=$(echo "$state" | jq -r '.resources["load_balancer.web"].attributes.target_pool')
  ok=
  for _ in $(seq 1 100); do
    gcpctl probe-health "$pool_id" 0.1 "$work/health.log"
    tail -n 1 "$work/health.log" | grep -q "^[0-9.]* $nodes $nodes\$" && { ok=1; break; }
    sleep 0.3
  done
  [ -n "$ok" ] || fail "the instances never became HEALTHY in the target pool"
  ip=$(jq -r '.node_public_ips[0]' "$work/out")
  ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 \
    -i "$work/id_ed25519" "infra@$ip" sudo -n true 2>/dev/null || fail "user infra does not log in to $ip with sudo"
fi

# Cloud DNS: two A records to the balancer's address.
rr=$(gcpctl call dns resourceRecordSets list '{"managedZone": "example-org"}')
echo "$rr" | jq -e ".rrsets[] | select(.name == \"nomad.example.org.\" and .type == \"A\" and .rrdatas == [\"$address\"])" >/dev/null ||
  fail "no record nomad.example.org A $address"
echo "$rr" | jq -e ".rrsets[] | select(.name == \"*.app.example.org.\" and .type == \"A\" and .ttl == 60)" >/dev/null ||
  fail "no record *.app.example.org A, ttl 60"

# Nothing secret in the state or the logs.
grep -q "BEGIN PRIVATE KEY" <(state_json "$topo") && fail "the state holds the private key"
grep -q "ya29" <(state_json "$topo") && fail "the state holds an access token"
grep -q "ya29\|PRIVATE KEY" "$work/out" "$work/err" && fail "the output holds a secret"

# 2. Nothing to do on a second run, nor in a plan (with refresh through read_many or read).
run 0 "$infra" up "$topo"
out_has "No changes."
out_lacks "Changed outside infra"
run 0 "$infra" plan "$topo"

# 3. down: the emulator holds nothing of it.
run 0 "$infra" down "$topo" --yes
left=$(emu_objects)
[ -z "$left" ] || fail "after down the emulator still holds: $left"
[ "$(state_json "$topo" | jq '.resources | length')" -eq 0 ] || fail "after down the state still names resources"
echo "ok: gcp-nomad up, no-op, down"
