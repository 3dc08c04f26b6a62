#!/usr/bin/env bash
# examples/gcp-cluster.yaml end to end: a Nomad datacenter whose nodes are
# gcp instances (3 servers, 1 client) against the GCP emulator, on real
# SSH hosts of a host pool, with the stand-in nomad and consul agents.
# The scheduler logs in as the ssh-keys user the guest agent made, with
# sudo. up -> the region has a leader every server agrees on, the web job
# runs and answers on the client, the client is HEALTHY in the target
# pool, the DNS record names the balancer. Beside it a second datacenter
# is a client pool: a managed instance group of 2 (clients: {pool:
# instance_group_manager.workers}) whose members configure themselves from
# the startup script the nomad plugin supplies and join by themselves
# (Consul's gce auto-join on the servers' network tag, through the
# emulator's metadata server; Nomad through Consul): both ready in Nomad
# and running a job, infra's key logged in to the listed nodes only, the
# script a hash in the state, the pool token in no output or state file.
# size 1 -> the leaving member's client is drained, then exactly that
# member is deleted (deleteInstances). up again -> "No changes."; down ->
# nothing left in the emulator, no agent on the hosts.
#   usage: cluster.sh INFRA_BINARY BUILD_DIR      (exit 77 when not root)
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "the host pool needs root"
command -v busybox >/dev/null || skip "busybox is not installed"
nodes=4 # listed nodes; and 2 pool members
standins=$("$root/tests/standins/stage.sh")
# cleanup exits with the status it is entered with: the script's, not the rm's.
trap 'st=$?; rm -rf "$(dirname "$standins")"; (exit $st); cleanup' EXIT
export INFRA_NOMAD_BINARY=$standins/nomad INFRA_CONSUL_BINARY=$standins/consul
pool_create $((nodes + 2))
pool_cidr=$(awk '$1 == "cidr:" {print $2}' "$pool_dir/pool.yaml")
# The pool's members reach the metadata server and Compute there.
emulator_start --operation-seconds 0.2 --time-scale 0.1 --hosts "$pool_dir/hosts.json" \
  --instance-endpoint "${pool_cidr%.0/24}.1"
ssh-keygen -q -t ed25519 -N "" -C infra-gcp-cluster -f "$work/id_ed25519"
export INFRA_SSH_PUBLIC_KEY=$work/id_ed25519.pub INFRA_SSH_PRIVATE_KEY=$work/id_ed25519
topo=$work/gcp-cluster.yaml
mkdir -p "$work/jobs"
cp "$root/examples/gcp-cluster.yaml" "$topo"
cp "$root/examples/jobs/web-static.json" "$work/jobs/"
# The client pool: a template (its startup script the scheduler's), a
# group of ${workers} members, a datacenter whose clients they are, a job there.
sed -i -e 's/^variables:$/variables:\n  workers: { default: 2 }/' \
  -e 's|^      cidr: 10.40.0.0/24$|&\
  instance_template:\
    workers:\
      image: "${image}"\
      machine: "${machine}"\
      subnetwork: "${subnetwork.nodes.id}"\
      network_tags: [nomad]\
      service_account: default  # the metadata server'"'"'s token, for the auto-join\
  instance_group_manager:\
    workers:\
      template: "${instance_template.workers.id}"\
      size: "${workers}"|' \
  -e 's|^            depends_on: \[firewall.agents\]$|&\
          europe-west1-pool:\
            provider: gcp\
            clients: { pool: instance_group_manager.workers }|' \
  -e 's|^    file: jobs/web-static.json$|&\
    set: { datacenters: [europe-west1] }  # the balancer'"'"'s client, not the pool\
  sleep:\
    cluster: main\
    file: jobs/sleep.json|' "$topo"
cat >"$work/jobs/sleep.json" <<'JSON'
{"Job": {"ID": "sleep", "Name": "sleep", "Type": "service", "Datacenters": ["europe-west1-pool"],
 "TaskGroups": [{"Name": "g", "Count": 2, "Tasks": [{"Name": "t", "Driver": "raw_exec",
   "Config": {"command": "/bin/sleep", "args": ["3600"]},
   "Resources": {"CPU": 10, "MemoryMB": 10}}]}]}}
JSON
grep -q 'pool: instance_group_manager.workers' "$topo" || fail "the pool is not in the copy of the example"
# Validation names the file, line and key of a pool that is no group.
sed 's/pool: instance_group_manager.workers/pool: instance_group_manager.worker/' "$topo" >"$work/bad.yaml"
run 1 "$infra" validate "$work/bad.yaml"
grep -q 'bad.yaml:[0-9]*.*clusters.main.regions.europe.datacenters.europe-west1-pool.clients.pool.*unknown resource "instance_group_manager.worker" (did you mean "instance_group_manager.workers"?)' \
  "$work/out" "$work/err" || fail "the bad pool's error: $(cat "$work/out" "$work/err")"
secrets=$work/.infra/gcp-cluster.default.secrets.json
secret() { jq -r --arg k "$1" '.[$k]' "$secrets"; }
nomad() { curl -sf --max-time 10 --cacert "$work/ca.pem" -H @"$work/nomad.hdr" "https://$1:4646$2"; }

# 1. up
run 0 "$infra" up "$topo"
cp "$work/out" "$work/up1.txt"
out_has "0 failed, 0 skipped."
umask 077
secret nomad.main.ca.cert >"$work/ca.pem"
printf 'X-Nomad-Token: %s\n' "$(secret nomad.main.nomad_management_token)" >"$work/nomad.hdr"
umask 022
run 0 "$infra" output "$topo" --json
cp "$work/out" "$work/outputs.json"
servers=$(jq -r '.servers | join(" ")' "$work/outputs.json")
client=$(jq -r '.clients[0]' "$work/outputs.json")
for ip in $servers $client; do
  jq -e --arg ip "$ip" '.[] | select(.address == $ip)' "$pool_dir/hosts.json" >/dev/null ||
    fail "node $ip is not a host of the pool"
done
# Every node is an instance labelled with its cluster, region, datacenter and role.
inst=$(emu_state | jq '[.projects["infra-test"].instances[][]]')
[ "$(echo "$inst" | jq '[.[] | select(.labels.cluster == "main" and .labels.region == "europe" and .labels.datacenter == "europe-west1")] | length')" -eq $nodes ] ||
  fail "the instances do not carry the cluster's labels"
[ "$(echo "$inst" | jq '[.[] | select(.labels.role == "server")] | length')" -eq 3 ] || fail "expected 3 servers"

leaders=()
for ip in $servers; do leaders+=("$(nomad "$ip" /v1/status/leader | jq -r . || true)"); done
[ ${#leaders[@]} -eq 3 ] && [ -n "${leaders[0]}" ] && [ "$(printf '%s\n' "${leaders[@]}" | sort -u | wc -l)" -eq 1 ] ||
  fail "the servers do not agree on a leader: ${leaders[*]}"
nomad "${servers%% *}" "/v1/job/web" | jq -e '.Status == "running"' >/dev/null || fail "job web is not running"
answer=$(curl -sf --max-time 5 "http://$client:8080/") || fail "the web job does not answer on $client:8080"
[[ $answer == "web "*" in europe on "* ]] || fail "the web job answers '$answer'"

# The balancer sees the client HEALTHY (its health check is the job).
pool_id=$(attr "$topo" load_balancer.web target_pool)
ok=
for _ in $(seq 1 100); do
  gcpctl probe-health "$pool_id" 0.1 "$work/health.log"
  tail -n 1 "$work/health.log" | grep -q '^[0-9.]* 1 1$' && { ok=1; break; }
  sleep 0.3
done
[ -n "$ok" ] || fail "the client never became HEALTHY in the target pool"
api GET "dns/v1/projects/infra-test/managedZones/example-org/rrsets?name=web.example.org.&type=A" |
  jq -e ".rrsets[0].rrdatas == [\"$(jq -r .web_address "$work/outputs.json")\"]" >/dev/null ||
  fail "web.example.org does not name the balancer"
grep -qFf <(secret nomad.main.nomad_management_token) "$work/out" "$work/err" && fail "a token reached the output"

# 2. The client pool: 2 members registered by themselves, the job on them.
pool_token=$(secret nomad.main.consul_pool_token)
[ -n "$pool_token" ] && [ "$pool_token" != null ] || fail "no pool token in the secrets file"
check_token_absent() {
  for f in "$work/up1.txt" "$work/out" "$work/err" $(find "$work/.infra" -type f ! -name '*.secrets.json'); do
    if grep -qF "$pool_token" "$f"; then fail "the pool token is in $f"; fi
  done
  if state_json "$topo" | grep -qF "$pool_token"; then fail "the pool token is in the state"; fi
}
check_token_absent
grep -q 'startup_script.*(sensitive)\|user_data.*(sensitive)' "$work/up1.txt" ||
  fail "the plan does not show the pool's startup script as (sensitive)"
state_json "$topo" | jq -e '.resources["instance_template.workers"] |
  (.attributes.user_data == null) and (.attributes.startup_script == null) and
  (.attributes.startup_script_sha256 | length == 64)' >/dev/null ||
  fail "the pool's startup script is not only a hash in the state"
server=${servers%% *}
pool_ips() { attr "$topo" instance_group_manager.workers 'instance_addresses | map(.private_ip) | sort'; }
ready_ips() {
  nomad "$server" /v1/nodes | jq -c '[.[] | select(.Datacenter == "europe-west1-pool" and .Status == "ready" and (.Drain | not)) | .Address] | sort'
}
[ "$(pool_ips | jq length)" -eq 2 ] || fail "the group has not 2 members: $(pool_ips)"
[ "$(ready_ips)" = "$(pool_ips | jq -c .)" ] ||
  fail "the pool's clients in Nomad $(ready_ips) are not the group's members $(pool_ips)"
running() { nomad "$server" /v1/job/sleep/allocations | jq '[.[] | select(.ClientStatus == "running")] | length'; }
two_running() { [ "$(running)" -eq 2 ]; }
eventually() { for _ in $(seq 1 120); do "$@" && return 0; sleep 0.5; done; return 1; }
eventually two_running || fail "the pool job's 2 allocations are not running"
# Nothing of infra logged in to the members: its key only to the listed nodes.
fp=$(ssh-keygen -lf "$work/id_ed25519" | awk '{print $2}')
with_key=0
for f in "$pool_dir"/run/*/hosts/*/root/var/log/sshd.log; do
  [ -f "$f" ] || continue
  if grep "Accepted " "$f" | grep -qF "$fp"; then with_key=$((with_key + 1)); fi
done
[ "$with_key" -eq $nodes ] || fail "infra's key logged in to $with_key hosts, not the $nodes listed nodes only"
echo "pool: 2 members registered by themselves ($(ready_ips)), the job running on them"

# size 1: the leaving member's client drained, then exactly it deleted.
run 0 "$infra" up "$topo" --var workers=1
deletes=$(emu_calls | jq '.compute["compute.instanceGroupManagers.deleteInstances"] // 0')
[ "$deletes" -eq 1 ] || fail "deleteInstances called $deletes times"
[ "$(pool_ips | jq length)" -eq 1 ] || fail "the group has not 1 member: $(pool_ips)"
drained=$(nomad "$server" /v1/nodes | jq -r --argjson keep "$(pool_ips)" \
  '[.[] | select(.Datacenter == "europe-west1-pool" and ((.Address as $a | $keep | index($a)) | not))] | .[0].ID')
[ -n "$drained" ] && [ "$drained" != null ] || fail "the deleted member's client is not in Nomad's list"
nomad "$server" "/v1/node/$drained" | jq -e '.LastDrain.Status == "complete"' >/dev/null ||
  fail "the deleted member's client was not drained: $(nomad "$server" "/v1/node/$drained" | jq -c '{Status, Drain, LastDrain}')"
eventually two_running || fail "the pool job's 2 allocations are not running after the scale-in"
check_token_absent
echo "pool: scaled in to 1: drained, then deleted"

# 3. Nothing to do on a second run.
run 0 "$infra" up "$topo" --var workers=1
out_has "No changes."
run 0 "$infra" plan "$topo" --var workers=1

# 4. down: nothing left in the emulator, no agent on the hosts.
run 0 "$infra" down "$topo" --var workers=1 --yes
[ -z "$(emu_objects)" ] || fail "after down the emulator still holds: $(emu_objects)"
pool_prefix=$(awk '$1 == "prefix:" {print $2}' "$pool_dir/pool.yaml")
for ns in $(ip netns list | awk -v p="$pool_prefix-" 'index($1, p) == 1 {print $1}'); do
  for pid in $(ip netns pids "$ns"); do
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
    [[ $cmd == *sshd* ]] || fail "process $pid ($cmd) left on pool host $ns after down"
  done
done
echo "ok: a Nomad datacenter on gcp instances: leader, job, balancer, DNS; a client pool that joins by itself and drains before a scale-in; idempotent; nothing left"
