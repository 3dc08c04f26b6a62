#!/usr/bin/env bash
# examples/clicamos.yaml on real hosts (root): a web tier (launch template,
# Auto Scaling group, Classic load balancer) rolled without downtime, and a
# private subnet routed through a NAT instance.
#  1. up: in the emulator as declared: the private default route leads to
#     the NAT instance, its source/destination check is off, the security
#     groups hold exactly the declared rules, the worker has no public
#     address, the group's instances are InService and the page answers
#     through the balancer, by the DNS name of the url output (curl_by_name:
#     the emulator's forwarding listener, which sends each connection to
#     an InService instance).
#  2. a new image: the group is replaced while the probe through the
#     balancer never fails; the page then says the new image, only the new
#     group remains, on it.
#  3. user data that serves no /health: the up fails by the deadline, the
#     replacement is gone, the old group still InService and serving
#     through the balancer throughout.
#  4. a run killed with SIGKILL mid-replacement: the next run converges on
#     one group, without leaking the other.
#  5. a second up: "No changes."; down: nothing left in the emulator.
#   usage: clicamos.sh INFRA_BINARY BUILD_DIR      (exit 77 when not root)
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "the clicamos scenario needs real hosts (root)"

# The shared seed plus the NAT and worker images, owned as on AWS.
eval "$(declare -f seed_write | sed '1s/seed_write/seed_write_shared/')"
seed_write() {
  seed_write_shared
  jq '.images += [
    {"ImageId": "ami-0a1b2c3d4e5f60021", "Name": "amzn-ami-vpc-nat-2018.03.0.20231001-x86_64-ebs",
     "CreationDate": "2023-10-01T10:00:00.000Z", "OwnerId": "137112412989",
     "ImageOwnerAlias": "amazon", "Architecture": "x86_64", "State": "available", "Region": "us-east-1"},
    {"ImageId": "ami-0a1b2c3d4e5f60022", "Name": "debian-12-amd64-20261101-1919",
     "CreationDate": "2026-11-01T10:00:00.000Z", "OwnerId": "136693071363",
     "Architecture": "x86_64", "State": "available", "Region": "us-east-1"}]' \
    "$work/seed.json" >"$work/seed.json.new"
  mv "$work/seed.json.new" "$work/seed.json"
}

t0=$(date +%s)
# step TEXT: what was done, with the seconds since the start.
step() { echo "$(( $(date +%s) - t0 )) s: $*"; }
pool_create 8
step "8 pool hosts"
emulator_start --pending-seconds 0.3 --time-scale 0.1 --hosts "$pool_dir/hosts.json"
topo=$work/clicamos.yaml
cp "$root/examples/clicamos.yaml" "$topo"
export INFRA_VAR_admin_cidr=198.51.100.7/32
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
instance() {
  awsctl call ec2 DescribeInstances "{\"InstanceIds\": [\"$1\"]}" | jq '.Reservations[0].Instances[0]'
}
# rules GROUP_ID: the group's ingress as sorted "PROTO FROM-TO SOURCE" lines,
# SOURCE a CIDR or the address of the firewall whose group it is, from
# $work/groups.json (one DescribeSecurityGroups of every group).
rules() {
  jq -r --arg id "$1" '.SecurityGroups[] | select(.GroupId == $id) | .IpPermissions[] |
      "\(.IpProtocol) \(.FromPort // "-")-\(.ToPort // "-")" as $p |
      ((.IpRanges[] | "\($p) \(.CidrIp)"), (.UserIdGroupPairs[] | "\($p) \(.GroupId)"))' "$work/groups.json" |
    sed -e "s/$elb_sg/firewall.elb/; s/$web_sg/firewall.web/; s/$nat_sg/firewall.nat/" | sort | paste -sd ';'
}
# page_probe_start / page_probe_stop: the page through the balancer by its
# name, polled (the name resolved once, as a client caching DNS would),
# "TIME ok BODY" or "TIME error CURL_EXIT" per request, for at most 600 s.
probe=$work/probe.log
page_probe_start() {
  local to
  rm -f "$probe" "$probe.stop"
  to=$(connect_to "$lb_name") || fail "$lb_name does not lead to the balancer"
  (
    end=$((SECONDS + 600))
    while [ ! -e "$probe.stop" ] && [ -d "$work" ] && [ $SECONDS -lt $end ]; do
      rc=0
      body=$(curl -sf --max-time 5 --connect-to "$to" "http://$lb_name/") || rc=$?
      if [ $rc -eq 0 ]; then echo "$(date +%s.%N) ok $body"; else echo "$(date +%s.%N) error curl exit $rc"; fi
      sleep 0.2
    done
  ) >>"$probe" 2>/dev/null &
  probe_pid=$!
  for _ in $(seq 1 200); do [ -s "$probe" ] && break; sleep 0.1; done
}
page_probe_stop() {
  touch "$probe.stop"
  wait "$probe_pid" || true
  polls=$(wc -l <"$probe")
  [ "$polls" -ge "$1" ] || fail "the probe sent only $polls requests"
  if grep -q " error " "$probe"; then fail "requests through the balancer failed: $(grep " error " "$probe" | head -n 3)"; fi
}

# 1. Up: everything as declared.
run 0 "$infra" validate "$topo"
run 0 "$infra" up "$topo"
step "first up"
lb=$(attr load_balancer.web id)
# The name a user would curl: the host of the url output, the balancer's.
lb_name=$("$infra" output "$topo" --json </dev/null | jq -r .url | sed -E 's|^http://([^/]*)/$|\1|')
[ "$lb_name" = "$(attr load_balancer.web dns_name)" ] || fail "the url output names '$lb_name', not the balancer"
g0=$(attr autoscaling_group.web id)
nat=$(attr instance.nat id)
worker=$(attr instance.worker id)
elb_sg=$(attr firewall.elb id) web_sg=$(attr firewall.web id) nat_sg=$(attr firewall.nat id)
[ "$(attr autoscaling_group.web generation)" = 0 ] || fail "the first group is not generation 0"
[ "$(attr launch_template.web latest_version)" = 1 ] || fail "the template should be at version 1"
[ "$(groups)" = "$g0" ] || fail "groups are '$(groups)', expected $g0"
[ "$(in_service "$lb")" -ge 2 ] || fail "the first group is not InService on $lb"
route=$(awsctl call ec2 DescribeRouteTables "{\"RouteTableIds\": [\"$(attr route_table.private id)\"]}" |
  jq -r '.RouteTables[0] | (.Routes[] | select(.DestinationCidrBlock == "0.0.0.0/0") | "\(.InstanceId // .GatewayId) \(.State)"),
         (.Associations[] | .SubnetId)' | paste -sd ' ')
[ "$route" = "$nat active $(attr subnet.private id)" ] ||
  fail "the private table is '$route', expected the default route to $nat, associated with the private subnet"
awsctl call ec2 DescribeInstances "{\"InstanceIds\": [\"$nat\", \"$worker\"]}" >"$work/instances.json"
# one INSTANCE_ID JQ_EXPRESSION: of that instance in $work/instances.json.
one() { jq -r --arg id "$1" ".Reservations[].Instances[] | select(.InstanceId == \$id) | $2" "$work/instances.json"; }
[ "$(one "$nat" .SourceDestCheck)" = false ] || fail "the NAT instance's source/destination check is on"
[ "$(one "$nat" .ImageId)" = ami-0a1b2c3d4e5f60021 ] || fail "the NAT instance is not on the NAT image"
[ "$(one "$nat" '.PublicIpAddress // ""')" != "" ] || fail "the NAT instance has no public address"
[ "$(one "$worker" '.SubnetId + " " + (.PublicIpAddress // "none")')" = "$(attr subnet.private id) none" ] ||
  fail "the worker is not a private instance of the private subnet"
worker_sg=$(attr firewall.worker id)
awsctl call ec2 DescribeSecurityGroups "{\"GroupIds\": [\"$elb_sg\", \"$web_sg\", \"$nat_sg\", \"$worker_sg\"]}" >"$work/groups.json"
want="tcp 80-80 0.0.0.0/0"
[ "$(rules "$elb_sg")" = "$want" ] || fail "the balancer's group holds '$(rules "$elb_sg")', expected '$want'"
want="tcp 22-22 198.51.100.7/32;tcp 80-80 firewall.elb"
[ "$(rules "$web_sg")" = "$want" ] || fail "the web group holds '$(rules "$web_sg")', expected '$want'"
want="-1 --- 10.32.10.0/24;tcp 22-22 198.51.100.7/32"
[ "$(rules "$nat_sg")" = "$want" ] || fail "the NAT group holds '$(rules "$nat_sg")', expected '$want'"
want="tcp 22-22 firewall.nat;tcp 5432-5432 firewall.web"
[ "$(rules "$worker_sg")" = "$want" ] || fail "the worker group holds '$(rules "$worker_sg")', expected '$want'"
[ "$(awsctl call elb DescribeLoadBalancers "{\"LoadBalancerNames\": [\"$lb\"]}" |
  jq -r '.LoadBalancerDescriptions[0] | "\(.HealthCheck.Target) \(.SecurityGroups | join(","))"')" = "HTTP:80/health $elb_sg" ] ||
  fail "the balancer's health check or groups are not as declared"
page_probe_start
for _ in $(seq 1 100); do [ "$(wc -l <"$probe")" -ge 3 ] && break; sleep 0.1; done
page_probe_stop 3
grep -q " ok clicamos web-v1$" "$probe" || fail "the page does not answer through the balancer: $(head -n 3 "$probe")"
step "up, everything as declared"

# 2. A new image: replaced while the page keeps answering; the old group
#    leaves the balancer (connection draining on) before it is deleted.
[ "$(awsctl call elb DescribeLoadBalancerAttributes "{\"LoadBalancerName\": \"$lb\"}" |
  jq -c '.LoadBalancerAttributes.ConnectionDraining')" = '{"Enabled":true,"Timeout":30}' ] ||
  fail "connection draining is not on as declared"
detached=$(emu_calls | jq '.autoscaling.DetachLoadBalancers // 0')
page_probe_start
run 0 "$infra" up "$topo" --var image=web-v2
page_probe_stop 5
[ "$(emu_calls | jq '.autoscaling.DetachLoadBalancers // 0')" -gt "$detached" ] ||
  fail "the old group was deleted without leaving the balancer first"
g1=$(attr autoscaling_group.web id)
[ "$g1" != "$g0" ] || fail "the group was not replaced"
[ "$(attr autoscaling_group.web generation)" = 1 ] || fail "the new group is not generation 1"
[ "$(attr launch_template.web latest_version)" = 2 ] || fail "the template should be at version 2"
[ "$(groups)" = "$g1" ] || fail "after the replacement groups are '$(groups)', expected only $g1"
images=$(awsctl call autoscaling DescribeAutoScalingGroups "{\"AutoScalingGroupNames\": [\"$g1\"]}" |
  jq -r '.AutoScalingGroups[0].Instances[].InstanceId' |
  while read -r id; do instance "$id" | jq -r .ImageId; done | sort -u | tr '\n' ' ')
[ "$images" = "ami-0a1b2c3d4e5f60012 " ] || fail "the new group runs images '$images', expected web-v2"
[ "$(in_service "$lb")" -ge 2 ] || fail "the new group is not InService"
head -n 1 "$probe" | grep -q " ok clicamos web-v1$" || fail "the page did not say web-v1 before the replacement: $(head -n 1 "$probe")"
tail -n 1 "$probe" | grep -q " ok clicamos web-v2$" || fail "the page does not say web-v2 after the replacement: $(tail -n 1 "$probe")"
[ "$(attr instance.nat id) $(attr instance.worker id)" = "$nat $worker" ] ||
  fail "the NAT instance or the worker was replaced with the web tier"
step "replaced $g0 by $g1 over $polls requests through the balancer, none failed"

# 3. An image whose instances never pass the health check: fails by the
#    deadline, the old group keeps serving.
page_probe_start
start=$(date +%s)
run 1 "$infra" up "$topo" --var image=web-v2 --var page= --var deadline=25
took=$(( $(date +%s) - start ))
page_probe_stop 5
err_has "was not healthy within 25 s"
err_has "$g1 keeps serving"
[ "$took" -lt 120 ] || fail "the failed replacement took $took s"
[ "$(groups)" = "$g1" ] || fail "after the failed replacement groups are '$(groups)', expected only $g1"
[ "$(attr autoscaling_group.web id)" = "$g1" ] || fail "the state no longer names $g1"
[ "$(in_service "$lb")" -ge 2 ] || fail "$g1 is not InService any more"
tail -n 1 "$probe" | grep -q " ok clicamos web-v2$" || fail "$g1 does not serve through the balancer: $(tail -n 1 "$probe")"
step "a replacement never healthy failed in $took s, $g1 serving throughout"

# 4. Killed with SIGKILL while both groups exist (a new version, as a
#    changed page makes one): the next run adopts the new group and removes
#    the old one. Watched in the emulator's own state (one local request),
#    so that a quick replacement is still seen on a loaded machine.
live_groups() {
  emu_state | jq '[.regions["us-east-1"].auto_scaling_groups // {} | .[] | select((.Status // "") == "")] | length'
}
"$infra" up "$topo" --var image=web-v2 --var page=fine >"$work/killed.out" 2>&1 </dev/null &
pid=$!
both=0
for _ in $(seq 1 1200); do
  [ "$(live_groups)" -ge 2 ] && { both=1; break; }
  kill -0 $pid 2>/dev/null || break
  sleep 0.05
done
[ "$both" -eq 1 ] || { cat "$work/killed.out" >&2; fail "no replacement group appeared"; }
{ kill -9 $pid; wait $pid; } 2>/dev/null || true
run 0 "$infra" up "$topo" --var image=web-v2 --var page=fine
g2=$(attr autoscaling_group.web id)
[ "$(groups)" = "$g2" ] || fail "after the crash and a rerun groups are '$(groups)', expected only $g2"
[ "$g2" != "$g1" ] || fail "the rerun did not finish the replacement"
[ "$(in_service "$lb")" -ge 2 ] || fail "$g2 is not InService"
[ "$(curl_by_name "$lb_name" /health -f)" = fine ] || fail "$g2's /health does not answer through the balancer"
step "a run killed midway finished by the next: $g2"

# 5. Nothing to do the second time; down removes everything.
run 0 "$infra" up "$topo" --var image=web-v2 --var page=fine
out_has "No changes."
run 0 "$infra" plan "$topo" --var image=web-v2 --var page=fine
run 0 "$infra" down "$topo" --var image=web-v2 --var page=fine --yes
[ -z "$(groups)" ] || fail "after down groups are left: $(groups)"
r=$(emu_state | jq '.regions["us-east-1"]')
for kind in vpcs subnets route_tables internet_gateways security_groups load_balancers launch_templates auto_scaling_groups; do
  [ "$(echo "$r" | jq "[.$kind // {} | .[]] | length")" -eq 0 ] || fail "after down the emulator still holds $kind"
done
[ "$(echo "$r" | jq '[.instances // {} | .[] | select(.State.Name != "terminated")] | length')" -eq 0 ] ||
  fail "after down instances are not terminated"
step "No changes, then down left nothing"
echo "ok: clicamos: NAT route and check, least-privilege groups, rolling replacement without a failed request, failed replacement rolled back, crash converges, down leaves nothing"
