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
#   usage: rolling.sh INFRA_BINARY BUILD_DIR      (exit 77 when not root)
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "the rolling scenario needs real hosts (root)"
pool_create 5
emulator_start --operation-seconds 0.2 --time-scale 0.1 --hosts "$pool_dir/hosts.json"
topo=$work/gcp-rolling.yaml
cp "$root/examples/gcp-rolling.yaml" "$topo"
a() { attr "$topo" "$1" "$2"; }
zone=europe-west1-b
groups() {
  api GET "$(compute_path "zones/$zone/instanceGroupManagers")" | jq -r '[.items[]?.name] | sort | join(" ")'
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
  fail "the state and the emulator's objects differ after the crash"
}
run 0 "$infra" down "$topo" --var image=web-v1 --yes
[ -z "$(emu_objects)" ] || fail "after down the emulator still holds: $(emu_objects)"
echo "ok: rolling replacement without downtime, failed replacement rolled back, a crash midway repaired"
