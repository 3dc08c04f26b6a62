#!/usr/bin/env bash
# examples/gcp-rolling.yaml on real hosts (root): an instance template and
# a managed instance group of two instances in the target pool of a
# network load balancer whose health check hits the page the startup
# script serves.
#  1. up: the group's instances are HEALTHY in the pool.
#  2. a new image: the group is replaced while a probe polling getHealth
#     sees at least one HEALTHY member at every poll; afterwards only the
#     new group remains, on the new image.
#  3. a startup script that serves nothing: the up fails by the deadline,
#     the replacement is gone, and the old group is still there and HEALTHY.
#  4. a run killed with SIGKILL mid-replacement: the next run converges on
#     one group, without leaking the other.
# Beside the web tier, the workers' managed group (instance_group_manager):
# up makes it with 2 members whose hosts ran the template's startup script
# as root; the state holds only the script's hash; a smaller size resizes it
# to 1; each new image rolls its member onto the new template; down leaves
# nothing of it.
#   usage: rolling.sh INFRA_BINARY BUILD_DIR      (exit 77 when not root)
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "the rolling scenario needs real hosts (root)"
pool_create 5
emulator_start --operation-seconds 0.2 --time-scale 0.1 --hosts "$pool_dir/hosts.json"
# The workers note their boot where the test sees it (a host's /tmp is its own).
boot_log=$(mktemp -d /var/tmp/infra-gcp-workers.XXXXXX)
# cleanup exits with the status it is entered with: the script's, not the rm's.
trap 'st=$?; rm -rf "$boot_log"; (exit $st); cleanup' EXIT
topo=$work/gcp-rolling.yaml
sed "s|boot_log: { default: \"[^\"]*\"|boot_log: { default: \"$boot_log\"|" \
  "$root/examples/gcp-rolling.yaml" >"$topo"
grep -q "$boot_log" "$topo" || fail "boot_log not set in the copy of the example"
a() { attr "$topo" "$1" "$2"; }
zone=europe-west1-b
# The web tier's groups (the workers' group aside).
groups() {
  api GET "$(compute_path "zones/$zone/instanceGroupManagers")" |
    jq -r '[.items[]?.name | select(test("instance-group-manager-workers$") | not)] | sort | join(" ")'
}
# workers_group: the workers' group as Compute has it.
workers_group() { api GET "$(compute_path "zones/$zone/instanceGroupManagers/$(a instance_group_manager.workers name)")"; }
# worker_booted NAME: the member's host ran the startup script (its address noted).
worker_booted() {
  local ip
  ip=$(api GET "$(compute_path "zones/$zone/instances/$1")" | jq -r '.networkInterfaces[0].networkIP')
  for _ in $(seq 1 300); do [ -s "$boot_log/$ip" ] && return 0; sleep 0.1; done
  fail "worker $1 ($ip) did not run its startup script"
}
healthy() {
  local pool=$1 n=0 link
  for link in $(api GET "$pool" | jq -r '.instances[]?'); do
    api POST "$pool/getHealth" "{\"instance\": \"$link\"}" |
      jq -e '.healthStatus[0].healthState == "HEALTHY"' >/dev/null && n=$((n + 1))
  done
  echo $n
}

# 1. The first group.
run 0 "$infra" up "$topo"
pool=$(compute_path "$(a load_balancer.web target_pool | sed 's|^projects/infra-test/||')")
g0=$(a instance_group.web name)
[ "$(a instance_group.web generation)" = 0 ] || fail "the first group is not generation 0"
[ "$(groups)" = "$g0" ] || fail "groups are '$(groups)', expected $g0"
[ "$(healthy "$pool")" -ge 2 ] || fail "the first group is not HEALTHY in the pool"
t1=$(a instance_template.web name)

# The workers: two members, each booted by the startup script as root.
[ "$(workers_group | jq -r '.targetSize, .status.isStable' | tr '\n' ' ')" = "2 true " ] ||
  fail "the workers' group is not 2 and stable: $(workers_group)"
workers=$(a instance_group_manager.workers 'instance_names[]')
[ "$(wc -w <<<"$workers")" = 2 ] || fail "the state names workers '$workers'"
for w in $workers; do worker_booted "$w"; done
[ -z "$(find "$boot_log" -type f ! -user root)" ] || fail "the startup script did not run as root"
state_json "$topo" | jq -e '.resources["instance_template.worker"].attributes |
  (has("startup_script") | not) and (.startup_script_sha256 | length == 64)' >/dev/null ||
  fail "the state holds the workers' startup script, or no hash of it"
if state_json "$topo" | grep -q 'hostname -I'; then fail "the startup script is in the state"; fi
# Resized to 1 (the copy's default from now on): one member left, stable.
sed -i 's/workers: { default: 2,/workers: { default: 1,/' "$topo"
run 0 "$infra" up "$topo"
[ "$(workers_group | jq -r '.targetSize, .status.isStable' | tr '\n' ' ')" = "1 true " ] ||
  fail "the workers' group was not resized to 1: $(workers_group)"
[ "$(a instance_group_manager.workers 'instance_names | length')" = 1 ] || fail "the state names more than one worker"
[ "$(api GET "$(compute_path "zones/$zone/instances")" | jq '[.items[]?.name | select(startswith("'"$(a instance_group_manager.workers base_instance_name)"'-"))] | length')" = 1 ] ||
  fail "more than one worker instance is left"

# 2. A new image: replaced with a probe watching the pool.
probe=$work/probe.log
gcpctl probe-health "$(a load_balancer.web target_pool)" 300 "$probe" &
probe_pid=$!
for _ in $(seq 1 100); do [ -s "$probe" ] && break; sleep 0.1; done
run 0 "$infra" up "$topo" --var image=web-v2
touch "$probe.stop"
wait $probe_pid || true
g1=$(a instance_group.web name)
[ "$g1" != "$g0" ] || fail "the group was not replaced"
[ "$(a instance_group.web generation)" = 1 ] || fail "the new group is not generation 1"
[ "$(a instance_template.web name)" != "$t1" ] || fail "no new template was made"
[ "$(groups)" = "$g1" ] || fail "after the replacement groups are '$(groups)', expected only $g1"
polls=$(wc -l <"$probe")
[ "$polls" -ge 5 ] || fail "the probe polled only $polls times"
if grep -q error "$probe"; then fail "some probes failed: $(grep error "$probe" | head -n 3)"; fi
awk '$2 < 1 {bad++} END {exit bad > 0}' "$probe" ||
  fail "the probe saw no HEALTHY member at some point: $(awk '$2 < 1' "$probe" | head -n 3)"
images=$(for i in $(a instance_group.web 'instances[]'); do
  api GET "compute/v1/$i" | jq -r '.disks[0].source' | sed 's|^https://www.googleapis.com/||' |
    xargs -I{} curl -sf -H "Authorization: Bearer $(cat "$work/api-token")" "$endpoint/{}" | jq -r '.sourceImage | split("/") | last'
done | sort -u | tr '\n' ' ')
[ "$images" = "web-v2 " ] || fail "the new group runs images '$images', expected web-v2"
# The worker was recreated from the new template, and ran its script again.
w=$(a instance_group_manager.workers 'instance_names[0]')
api GET "$(compute_path "zones/$zone/instances/$w")" |
  jq -e --arg t "$(a instance_template.worker name)" '.metadata.items[] | select(.key == "instance-template") | .value | endswith("/" + $t)' >/dev/null ||
  fail "worker $w is not on the new template $(a instance_template.worker name)"
worker_booted "$w"
run 0 "$infra" plan "$topo" --var image=web-v2
echo "replaced $g0 by $g1 over $polls probes, never without a HEALTHY member"

# 3. A startup script that serves nothing: fails by the deadline.
start=$(date +%s)
run 1 "$infra" up "$topo" --var image=web-v2 --var page= --var deadline=20
took=$(( $(date +%s) - start ))
err_has "was not healthy within 20 s"
err_has "$g1 keeps serving"
[ "$took" -lt 120 ] || fail "the failed replacement took $took s"
[ "$(groups)" = "$g1" ] || fail "after the failed replacement groups are '$(groups)', expected only $g1"
[ "$(a instance_group.web name)" = "$g1" ] || fail "the state no longer names $g1"
[ "$(healthy "$pool")" -ge 2 ] || fail "$g1 is not HEALTHY any more"

# 4. Back to a good template, killed with SIGKILL while both groups exist:
#    the next run adopts the new group and removes the old one.
"$infra" up "$topo" --var image=web-v1 >"$work/killed.out" 2>&1 </dev/null &
pid=$!
for _ in $(seq 1 600); do
  [ "$(groups | wc -w)" -ge 2 ] && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.1
done
[ "$(groups | wc -w)" -ge 2 ] || { cat "$work/killed.out" >&2; fail "no replacement group appeared"; }
{ kill -9 $pid; wait $pid; } 2>/dev/null || true
run 0 "$infra" up "$topo" --var image=web-v1
g2=$(a instance_group.web name)
[ "$(groups)" = "$g2" ] || fail "after the crash and a rerun groups are '$(groups)', expected only $g2"
[ "$g2" != "$g1" ] || fail "the rerun did not finish the replacement"
[ "$(healthy "$pool")" -ge 2 ] || fail "$g2 is not HEALTHY"
run 0 "$infra" plan "$topo" --var image=web-v1
named=$(state_objects "$topo")
held=$(emu_objects)
[ "$named" = "$held" ] || {
  diff <(echo "$named") <(echo "$held") >&2 || true
  echo "workers in the state: $(a instance_group_manager.workers 'instance_names | join(" ")')" >&2
  api POST "$(compute_path "zones/$zone/instanceGroupManagers/$(a instance_group_manager.workers name)/listManagedInstances")" >&2 || true
  fail "the state and the emulator's objects differ after the crash"
}
run 0 "$infra" down "$topo" --var image=web-v1 --yes
[ -z "$(emu_objects)" ] || fail "after down the emulator still holds: $(emu_objects)"
echo "ok: rolling replacement without downtime, failed replacement rolled back, a crash midway repaired"
