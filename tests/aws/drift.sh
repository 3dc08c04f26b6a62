#!/usr/bin/env bash
# Drift: changes made behind infra's back with signed API calls. An
# instance terminated outside -> plan shows it to create (exit 2) and up
# brings it back (and registers the new one with the balancer); a rule
# revoked from the security group and a tag removed -> plan shows an
# update, up restores them in place; then one change of every other type
# at once (a tag, a subnet setting, a route, a key pair, a health check
# and connection draining, a record), seen by one batched read per type; then plan is clean again.
#   usage: drift.sh INFRA_BINARY BUILD_DIR
source "$(dirname "$0")/lib.sh"

emulator_start --pending-seconds 0.2
ssh-keygen -q -t ed25519 -N "" -C infra-aws-test -f "$work/id_ed25519"
export INFRA_SSH_PUBLIC_KEY=$work/id_ed25519.pub INFRA_SSH_PRIVATE_KEY=$work/id_ed25519
topo=$work/aws-nomad.yaml
cp "$root/examples/aws-nomad.yaml" "$topo"
# The balancer drains connections too (its attribute drifts in step 3).
sed -i 's/^    health_interval: 10$/&\n    connection_draining: { enabled: true, timeout: 60 }/' "$topo"
grep -q "connection_draining" "$topo" || fail "the balancer of $topo was not found"
# state_doc: the state document, pulled (see pull_state); prints its path.
state_doc() { pull_state "$infra" "$topo"; }
attr() { jq -r ".resources[\"$1\"].attributes.$2" "$(state_doc)"; }

run 0 "$infra" up "$topo" --var nodes=2
run 0 "$infra" plan "$topo" --var nodes=2

# 1. An instance terminated outside infra.
victim=$(attr 'instance.node[1]' id)
awsctl call ec2 TerminateInstances "{\"InstanceIds\": [\"$victim\"]}" >/dev/null
run 2 "$infra" plan "$topo" --var nodes=2
out_has "instance.node[1]: deleted"
out_has "+ instance.node[1]  (create; deleted outside infra)"
run 0 "$infra" up "$topo" --var nodes=2
out_has "instance.node[1]: created"
fresh=$(attr 'instance.node[1]' id)
[ "$fresh" != "$victim" ] || fail "instance.node[1] was not replaced"
state_of() {
  awsctl call ec2 DescribeInstances "{\"InstanceIds\": [\"$1\"]}" | jq -r '.Reservations[0].Instances[0].State.Name'
}
[ "$(state_of "$fresh")" = running ] || fail "the new instance.node[1] is not running"
lb=$(attr load_balancer.web id)
registered=$(awsctl call elb DescribeLoadBalancers "{\"LoadBalancerNames\": [\"$lb\"]}" |
  jq -r '[.LoadBalancerDescriptions[0].Instances[].InstanceId] | sort | join(",")')
want=$(printf '%s\n' "$(attr 'instance.node[0]' id)" "$fresh" | sort | paste -sd, -)
[ "$registered" = "$want" ] || fail "the balancer holds $registered, expected $want"
run 0 "$infra" plan "$topo" --var nodes=2

# 2. A rule revoked and a tag removed outside infra: updated in place.
sg=$(attr firewall.nomad id)
awsctl call ec2 RevokeSecurityGroupIngress "{\"GroupId\": \"$sg\", \"IpPermissions\": [{\"IpProtocol\": \"tcp\", \"FromPort\": 8500, \"ToPort\": 8500, \"IpRanges\": [{\"CidrIp\": \"0.0.0.0/0\"}]}]}" >/dev/null
node0=$(attr 'instance.node[0]' id)
awsctl call ec2 DeleteTags "{\"Resources\": [\"$node0\"], \"Tags\": [{\"Key\": \"role\"}]}" >/dev/null
run 2 "$infra" plan "$topo" --var nodes=2
out_has "~ firewall.nomad  (update in place"
out_has "~ instance.node[0]  (update in place: tags"
run 0 "$infra" up "$topo" --var nodes=2
awsctl call ec2 DescribeSecurityGroups "{\"GroupIds\": [\"$sg\"]}" |
  jq -e '.SecurityGroups[0].IpPermissions[] | select(.FromPort == 8500 and .ToPort == 8500)' >/dev/null ||
  fail "port 8500 was not authorized again"
[ "$(grep -c ' ec2 CreateSecurityGroup ' "$work/emulator.log")" -eq 1 ] ||
  fail "the security group was recreated instead of updated"
awsctl call ec2 DescribeInstances "{\"InstanceIds\": [\"$node0\"]}" |
  jq -e '.Reservations[0].Instances[0].Tags[] | select(.Key == "role" and .Value == "nomad")' >/dev/null ||
  fail "the role tag of $node0 was not put back"
[ "$(state_of "$node0")" = running ] || fail "instance.node[0] should have been updated in place"
run 0 "$infra" plan "$topo" --var nodes=2

# 3. One change behind infra's back for every other type at once. The
# engine refreshes each type in one batch (read_many): the plan makes one
# Describe call per type, and still sees every change.
vpc=$(attr network.main id)
subnet=$(attr subnet.public id)
igw=$(attr internet_gateway.gw id)
rtb=$(attr route_table.public id)
awsctl call ec2 DeleteTags "{\"Resources\": [\"$vpc\", \"$igw\"], \"Tags\": [{\"Key\": \"Name\"}]}" >/dev/null
awsctl call ec2 ModifySubnetAttribute "{\"SubnetId\": \"$subnet\", \"MapPublicIpOnLaunch\": {\"Value\": false}}" >/dev/null
awsctl call ec2 DeleteRoute "{\"RouteTableId\": \"$rtb\", \"DestinationCidrBlock\": \"0.0.0.0/0\"}" >/dev/null
awsctl call ec2 DeleteKeyPair '{"KeyName": "nomad-deploy"}' >/dev/null
awsctl call elb ConfigureHealthCheck "{\"LoadBalancerName\": \"$lb\", \"HealthCheck\": {\"Target\": \"TCP:80\", \"Interval\": 30, \"Timeout\": 5, \"UnhealthyThreshold\": 2, \"HealthyThreshold\": 2}}" >/dev/null
awsctl call elb ModifyLoadBalancerAttributes "{\"LoadBalancerName\": \"$lb\", \"LoadBalancerAttributes\": {\"ConnectionDraining\": {\"Enabled\": false}}}" >/dev/null
record=$(awsctl call route53 ListResourceRecordSets '{"HostedZoneId": "Z0123456789ABC"}' |
  jq -c '.ResourceRecordSets[] | select(.Name | startswith("\\052.app.")) | .ResourceRecords = [{"Value": "elsewhere.example.net"}]')
[ -n "$record" ] || fail "no record for *.app"
awsctl call route53 ChangeResourceRecordSets "{\"HostedZoneId\": \"Z0123456789ABC\", \"ChangeBatch\": {\"Changes\": [{\"Action\": \"UPSERT\", \"ResourceRecordSet\": $record}]}}" >/dev/null
before=$(wc -l <"$work/emulator.log")
run 2 "$infra" plan "$topo" --var nodes=2
out_has "~ network.main  (update in place"
out_has "~ subnet.public  (update in place"
out_has "~ internet_gateway.gw  (update in place"
out_has "~ route_table.public  (update in place"
out_has "+ key_pair.deploy  (create; deleted outside infra)"
out_has "~ load_balancer.web  (update in place"
out_has "~ dns_record.apps  (update in place"
# One read call per action (one type each), however many resources.
tail -n +"$((before + 1))" "$work/emulator.log" | awk '{print $2, $3}' | sort | uniq -c |
  awk '$1 > 1 && $3 ~ /^(Describe|List)/ {print; bad = 1} END {exit bad}' ||
  fail "the plan read a type with more than one call"
out_has "connection_draining"
run 0 "$infra" up "$topo" --var nodes=2
[ "$(awsctl call elb DescribeLoadBalancerAttributes "{\"LoadBalancerName\": \"$lb\"}" |
  jq -c '.LoadBalancerAttributes.ConnectionDraining')" = '{"Enabled":true,"Timeout":60}' ] ||
  fail "connection draining was not turned back on"
run 0 "$infra" plan "$topo" --var nodes=2

run 0 "$infra" down "$topo" --var nodes=2 --yes
echo "ok: drift detected and repaired"
