#!/usr/bin/env bash
# examples/gcp-cluster.yaml end to end: a Nomad datacenter whose nodes are
# gcp instances (3 servers, 1 client) against the GCP emulator, on real
# SSH hosts of a host pool, with the stand-in nomad and consul agents.
# The scheduler logs in as the ssh-keys user the guest agent made, with
# sudo. up -> the region has a leader every server agrees on, the web job
# runs and answers on the client, the client is HEALTHY in the target
# pool, the DNS record names the balancer; up again -> "No changes.";
# down -> nothing left in the emulator, no agent on the hosts.
#   usage: cluster.sh INFRA_BINARY BUILD_DIR      (exit 77 when not root)
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "the host pool needs root"
command -v busybox >/dev/null || skip "busybox is not installed"
nodes=4
standins=$("$root/tests/standins/stage.sh")
trap 'rm -rf "$(dirname "$standins")"; cleanup' EXIT
export INFRA_NOMAD_BINARY=$standins/nomad INFRA_CONSUL_BINARY=$standins/consul
pool_create $nodes
emulator_start --operation-seconds 0.2 --time-scale 0.1 --hosts "$pool_dir/hosts.json"
ssh-keygen -q -t ed25519 -N "" -C infra-gcp-cluster -f "$work/id_ed25519"
export INFRA_SSH_PUBLIC_KEY=$work/id_ed25519.pub INFRA_SSH_PRIVATE_KEY=$work/id_ed25519
topo=$work/gcp-cluster.yaml
mkdir -p "$work/jobs"
cp "$root/examples/gcp-cluster.yaml" "$topo"
cp "$root/examples/jobs/web-static.json" "$work/jobs/"
secrets=$work/.infra/gcp-cluster.default.secrets.json
secret() { jq -r --arg k "$1" '.[$k]' "$secrets"; }
nomad() { curl -sf --max-time 10 --cacert "$work/ca.pem" -H @"$work/nomad.hdr" "https://$1:4646$2"; }

# 1. up
run 0 "$infra" up "$topo"
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

# 2. Nothing to do on a second run.
run 0 "$infra" up "$topo"
out_has "No changes."
run 0 "$infra" plan "$topo"

# 3. down: nothing left in the emulator, no agent on the hosts.
run 0 "$infra" down "$topo" --yes
[ -z "$(emu_objects)" ] || fail "after down the emulator still holds: $(emu_objects)"
pool_prefix=$(awk '$1 == "prefix:" {print $2}' "$pool_dir/pool.yaml")
for ns in $(ip netns list | awk -v p="$pool_prefix-" 'index($1, p) == 1 {print $1}'); do
  for pid in $(ip netns pids "$ns"); do
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
    [[ $cmd == *sshd* ]] || fail "process $pid ($cmd) left on pool host $ns after down"
  done
done
echo "ok: a Nomad datacenter on gcp instances: leader, job, balancer, DNS; idempotent; nothing left"
