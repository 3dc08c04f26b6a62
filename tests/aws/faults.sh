#!/usr/bin/env bash
# Faults: examples/aws-nomad.yaml brought up while the emulator throttles,
# fails with 500, adds latency and drops connections (half of the drops
# after the operation took effect) on 20 % of the requests, after a first
# run killed with SIGKILL in the middle of the instance launches (the
# emulator holds every RunInstances a while, so that the kill lands while
# they are in flight however loaded the machine is). A few
# reruns converge: one live instance per address, no object the state
# does not name, a clean plan, and a down that leaves nothing.
#   usage: faults.sh INFRA_BINARY BUILD_DIR
source "$(dirname "$0")/lib.sh"

emulator_start --pending-seconds 0.3 --fault-seed 11
ssh-keygen -q -t ed25519 -N "" -C infra-aws-test -f "$work/id_ed25519"
export INFRA_SSH_PUBLIC_KEY=$work/id_ed25519.pub INFRA_SSH_PRIVATE_KEY=$work/id_ed25519
topo=$work/aws-nomad.yaml
cp "$root/examples/aws-nomad.yaml" "$topo"
# state_doc: the state document, pulled (see pull_state); prints its path.
state_doc() { pull_state "$infra" "$topo"; }
nodes=3

# 1. Killed with SIGKILL while instances launch: each RunInstances is
# counted when it arrives and carried out LAUNCH_HOLD_MS later, so the kill
# lands while they wait and they take effect after it; the reruns find what
# they made by the intents' tokens.
curl -sf -X POST -d "{\"rate\": 1, \"kinds\": [\"latency\"], \"latency_ms\": ${LAUNCH_HOLD_MS:-3000}, \"actions\": [\"RunInstances\"]}" \
  "$AWS_ENDPOINT_URL/_emulator/faults" >/dev/null
"$infra" up "$topo" >"$work/killed.out" 2>&1 </dev/null &
pid=$!
for _ in $(seq 1 300); do
  n=$(emu_calls | jq '.ec2.RunInstances // 0')
  [ "$n" -ge 1 ] && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.05
done
{ kill -9 $pid; wait $pid; } 2>/dev/null || true
killed_at=$(date -u +%H:%M:%S.%N)

# 2. Reruns under 20 % faults until one succeeds.
emu_faults "${FAULT_RATE:-0.2}" "${FAULT_SEED:-7}"
ok=
for attempt in 1 2 3 4 5; do
  if "$infra" up "$topo" >"$work/out" 2>"$work/err" </dev/null; then
    ok=$attempt
    break
  fi
  echo "up $attempt under faults failed:" >&2
  grep -E 'error|failed' "$work/err" | head -n 5 >&2 || true
done
[ -n "$ok" ] || { cat "$work/err" >&2; fail "infra up did not converge in 5 runs under faults"; }
echo "converged on run $ok under faults"
emu_faults 0
faults_seen=$(grep -c 'fault=' "$work/emulator.log" || true)
[ "$faults_seen" -gt 10 ] || fail "only $faults_seen faults were injected"

# 3. One live instance per address, tagged; the state names them.
emu_state >"$work/emulator-state.json"
for i in $(seq 0 $((nodes - 1))); do
  n=$(awsctl count-instances "$work/emulator-state.json" "instance.node[$i]")
  [ "$n" -eq 1 ] || fail "the emulator holds $n live instances tagged instance.node[$i]"
  live=$(awsctl call ec2 DescribeInstances "{\"Filters\": [
      {\"Name\": \"tag:infra:address\", \"Values\": [\"instance.node[$i]\"]},
      {\"Name\": \"instance-state-name\", \"Values\": [\"pending\", \"running\", \"stopping\", \"stopped\"]}]}" |
    jq -r '[.Reservations[].Instances[].InstanceId] | join(" ")')
  [ "$(echo "$live" | wc -w)" -eq 1 ] || fail "instance.node[$i] has live instances '$live' (expected one)"
  [ "$live" = "$(jq -r ".resources[\"instance.node[$i]\"].attributes.id" "$(state_doc)")" ] ||
    fail "the state does not name the live instance of instance.node[$i]"
done
[ "$(jq '.intents | length' "$(state_doc)")" -eq 0 ] || fail "intents are left in the state"

# 4. No orphan: every object the emulator holds is named by the state.
ids=$(jq -r '[.resources[].attributes | (.id, .allocation_id) | select(. != null)] | .[]' "$(state_doc)" | sort -u)
named() { echo "$ids" | grep -qxF "$1"; }
# orphan_report ID: what the emulator and the state say of an instance the
# state does not name (when it was launched, under which token and address,
# and which tokens the state holds), so that a failure says where it came
# from.
orphan_report() {
  echo "--- instance $1 as the emulator holds it:" >&2
  awsctl call ec2 DescribeInstances "{\"InstanceIds\": [\"$1\"]}" |
    jq -c '.Reservations[].Instances[] | {InstanceId, State: .State.Name, LaunchTime, ClientToken,
      address: ([.Tags[]? | select(.Key == "infra:address") | .Value] | first),
      token: ([.Tags[]? | select(.Key == "infra:token") | .Value] | first)}' >&2 || true
  echo "--- tokens of the state's instances and intents:" >&2
  jq -c '[.resources | to_entries[] | select(.key | startswith("instance.")) | {(.key): .value.token}],
    .intents' "$(state_doc)" >&2 || true
  echo "--- RunInstances calls (the run killed at $killed_at):" >&2
  grep -E ' RunInstances ' "$work/emulator.log" >&2 || true
}
check_all() {
  local what=$1 list=$2
  for id in $list; do
    if ! named "$id"; then
      [ "$what" != instance ] || orphan_report "$id"
      fail "$what $id is in the emulator but not in the state"
    fi
  done
}
check_all VPC "$(awsctl call ec2 DescribeVpcs | jq -r '.Vpcs[].VpcId')"
check_all subnet "$(awsctl call ec2 DescribeSubnets | jq -r '.Subnets[].SubnetId')"
check_all "internet gateway" "$(awsctl call ec2 DescribeInternetGateways | jq -r '.InternetGateways[].InternetGatewayId')"
check_all "route table" "$(awsctl call ec2 DescribeRouteTables | jq -r '.RouteTables[] | select([.Associations[]? | .Main] | any | not) | .RouteTableId')"
check_all "security group" "$(awsctl call ec2 DescribeSecurityGroups | jq -r '.SecurityGroups[] | select(.GroupName != "default") | .GroupId')"
check_all "key pair" "$(awsctl call ec2 DescribeKeyPairs | jq -r '.KeyPairs[].KeyPairId')"
check_all instance "$(awsctl call ec2 DescribeInstances '{"Filters": [{"Name": "instance-state-name", "Values": ["pending", "running"]}]}' | jq -r '.Reservations[].Instances[].InstanceId')"
check_all "load balancer" "$(awsctl call elb DescribeLoadBalancers | jq -r '.LoadBalancerDescriptions[].LoadBalancerName')"
records=$(awsctl call route53 ListResourceRecordSets '{"HostedZoneId": "Z0123456789ABC"}' |
  jq '[.ResourceRecordSets[] | select(.Type != "NS" and .Type != "SOA")] | length')
[ "$records" -eq 2 ] || fail "the hosted zone holds $records records, expected 2"

# 5. Converged: nothing to do, and down removes everything.
run 0 "$infra" plan "$topo"
run 0 "$infra" down "$topo" --yes
r=$(emu_state | jq '.regions["us-east-1"]')
for kind in vpcs subnets internet_gateways route_tables security_groups key_pairs load_balancers; do
  [ "$(echo "$r" | jq ".$kind | length")" -eq 0 ] || fail "after down the emulator still holds $kind"
done
[ "$(echo "$r" | jq '[.instances[] | select(.State.Name != "terminated")] | length')" -eq 0 ] ||
  fail "after down some instances are not terminated"
echo "ok: converged under faults without duplicates or orphans"
