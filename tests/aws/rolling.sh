#!/usr/bin/env bash
# examples/aws-rolling.yaml on real hosts (root): a launch template and an
# Auto Scaling group of two instances behind a load balancer whose health
# check hits the page the user data serves.
#  1. up: the group's instances are InService.
#  2. a new image: the group is replaced while a probe polling
#     DescribeInstanceHealth sees at least one InService instance at every
#     poll; afterwards only the new group remains, on the new image.
#  3. user data that serves nothing: the up fails by the deadline, the
#     replacement is gone, and the old group is still there and InService.
#  4. a run killed with SIGKILL mid-replacement: the next run converges on
#     one group, without leaking the other.
#   usage: rolling.sh INFRA_BINARY BUILD_DIR      (exit 77 when not root)
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "the rolling scenario needs real hosts (root)"
pool_create 6
emulator_start --pending-seconds 0.3 --time-scale 0.1 --hosts "$pool_dir/hosts.json"
topo=$work/aws-rolling.yaml
cp "$root/examples/aws-rolling.yaml" "$topo"
# state_doc: the state document, pulled (see pull_state); prints its path.
state_doc() { pull_state "$infra" "$topo"; }
attr() { jq -r ".resources[\"$1\"].attributes.$2" "$(state_doc)"; }
groups() {
  awsctl call autoscaling DescribeAutoScalingGroups |
    jq -r '[.AutoScalingGroups[] | select((.Status // "") == "") | .AutoScalingGroupName] | sort | join(" ")'
}
in_service() {
  awsctl call elb DescribeInstanceHealth "{\"LoadBalancerName\": \"$1\"}" |
    jq '[.InstanceStates[] | select(.State == "InService")] | length'
}

# 1. The first group.
run 0 "$infra" up "$topo"
lb=$(attr load_balancer.web id)
g0=$(attr autoscaling_group.web id)
[ "$(attr autoscaling_group.web generation)" = 0 ] || fail "the first group is not generation 0"
[ "$(groups)" = "$g0" ] || fail "groups are '$(groups)', expected $g0"
[ "$(in_service "$lb")" -ge 2 ] || fail "the first group is not InService on $lb"
[ "$(attr launch_template.web latest_version)" = 1 ] || fail "the template should be at version 1"

# 2. A new image: replaced with a probe watching the balancer.
probe=$work/probe.log
awsctl probe-health "$lb" 300 "$probe" &
probe_pid=$!
sleep 1
run 0 "$infra" up "$topo" --var image=web-v2
touch "$probe.stop"
wait $probe_pid || true
g1=$(attr autoscaling_group.web id)
[ "$g1" != "$g0" ] || fail "the group was not replaced"
[ "$(attr autoscaling_group.web generation)" = 1 ] || fail "the new group is not generation 1"
[ "$(attr launch_template.web latest_version)" = 2 ] || fail "the template should be at version 2"
[ "$(groups)" = "$g1" ] || fail "after the replacement groups are '$(groups)', expected only $g1"
polls=$(wc -l <"$probe")
[ "$polls" -ge 5 ] || fail "the probe polled only $polls times"
if grep -q error "$probe"; then fail "some probes failed: $(grep error "$probe" | head -n 3)"; fi
awk '$2 < 1 {bad++} END {exit bad > 0}' "$probe" ||
  fail "the probe saw no InService instance at some point: $(awk '$2 < 1' "$probe" | head -n 3)"
images=$(awsctl call autoscaling DescribeAutoScalingGroups "{\"AutoScalingGroupNames\": [\"$g1\"]}" |
  jq -r '.AutoScalingGroups[0].Instances[].InstanceId' |
  while read -r id; do
    awsctl call ec2 DescribeInstances "{\"InstanceIds\": [\"$id\"]}" | jq -r '.Reservations[0].Instances[0].ImageId'
  done | sort -u | tr '\n' ' ')
[ "$images" = "ami-0a1b2c3d4e5f60012 " ] || fail "the new group runs images '$images', expected web-v2"
[ "$(in_service "$lb")" -ge 2 ] || fail "the new group is not InService"
run 0 "$infra" plan "$topo" --var image=web-v2
echo "replaced $g0 by $g1 over $polls probes, never without an InService instance"

# 3. A template whose user data serves nothing: fails by the deadline.
start=$(date +%s)
run 1 "$infra" up "$topo" --var image=web-v2 --var page= --var deadline=25
took=$(( $(date +%s) - start ))
err_has "was not healthy within 25 s"
err_has "$g1 keeps serving"
[ "$took" -lt 120 ] || fail "the failed replacement took $took s"
[ "$(groups)" = "$g1" ] || fail "after the failed replacement groups are '$(groups)', expected only $g1"
[ "$(attr autoscaling_group.web id)" = "$g1" ] || fail "the state no longer names $g1"
[ "$(in_service "$lb")" -ge 2 ] || fail "$g1 is not InService any more"

# 4. Back to a good template, killed with SIGKILL while both groups exist:
#    the next run adopts the new group and removes the old one.
#    Watched in the emulator's own state (one local request, not a signed
#    call through botocore), so that a replacement quicker than a
#    botocore start on a loaded machine is still seen.
live_groups() {
  emu_state | jq '[.regions["us-east-1"].auto_scaling_groups // {} | .[] | select((.Status // "") == "")] | length'
}
"$infra" up "$topo" --var image=web-v2 >"$work/killed.out" 2>&1 </dev/null &
pid=$!
both=0
for _ in $(seq 1 1200); do
  [ "$(live_groups)" -ge 2 ] && { both=1; break; }
  kill -0 $pid 2>/dev/null || break
  sleep 0.05
done
[ "$both" -eq 1 ] || { cat "$work/killed.out" >&2; fail "no replacement group appeared"; }
{ kill -9 $pid; wait $pid; } 2>/dev/null || true
run 0 "$infra" up "$topo" --var image=web-v2
g2=$(attr autoscaling_group.web id)
[ "$(groups)" = "$g2" ] || fail "after the crash and a rerun groups are '$(groups)', expected only $g2"
[ "$g2" != "$g1" ] || fail "the rerun did not finish the replacement"
[ "$(in_service "$lb")" -ge 2 ] || fail "$g2 is not InService"
run 0 "$infra" plan "$topo" --var image=web-v2
run 0 "$infra" down "$topo" --var image=web-v2 --yes
[ -z "$(groups)" ] || fail "after down groups are left: $(groups)"
r=$(emu_state | jq '.regions["us-east-1"]')
for kind in vpcs load_balancers launch_templates auto_scaling_groups; do
  [ "$(echo "$r" | jq ".$kind | length")" -eq 0 ] || fail "after down the emulator still holds $kind"
done
echo "ok: rolling replacement without downtime, failed replacement rolled back"
