#!/usr/bin/env bash
# examples/clickcount.yaml end to end, through the infra binary, on the aws
# provider against the AWS emulator, whose instances are real SSH hosts of
# a host pool (pool_create), running the stand-in nomad and consul of
# tests/standins installed by the plugin, the jobs' tasks as processes and
# the router job as Debian's haproxy.
#
# up -> the network (VPC, public subnet, internet gateway and route), a key
# pair that logs in as root, three instances of the newest x86_64 nomad-host image tagged with
# their address and token, each presenting the SSH host key whose
# fingerprint the state holds; a Nomad leader and the three nodes as
# servers and as ready clients; the router on every node, clickcount on
# two, clickcount-staging on one. The balancer has listeners 80 and 8080
# on the same instance ports and its three instances InService (its /health
# is the router's). Route 53: nomad.example.org an alias of the balancer,
# *.app.example.org a CNAME to it. Through the balancer, by those names
# (curl_by_name: followed through the emulator's Route 53 to its
# forwarding listener, which takes each node in turn):
# clickcount.app.example.org answers with the prod image's tag and
# clickcount-staging.app.example.org with the staging one, a name of no
# job 503; nomad.example.org:8080 refuses the Nomad API without the
# X-Auth-Token or with a wrong one and answers with it. Security groups: only the
# balancer's 80 and 8080 open to the world; SSH and the APIs from the
# admin source only; the router's ports from the balancer's group only.
# The token is absent from the plan, the output, the state and the
# emulator's log. A second up -> "No changes.", plan -> nothing to do.
# down -> nothing of it in the emulator, nothing but sshd on the pool's
# hosts, which present their own host keys again.
#   usage: clickcount.sh INFRA_BINARY [BUILD_DIR]    (exit 77 = skipped: not root)
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "the host pool needs root"
export PATH=$PATH:/usr/sbin:/sbin
for tool in ip sshd ssh ssh-keygen ssh-keyscan busybox haproxy; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/deps.sh installs it)"
done

nodes=3
zone_id=Z0123456789ABC
topo=$work/clickcount.yaml
mkdir -p "$work/jobs"
cp "$root/examples/clickcount.yaml" "$topo"
cp "$root/examples/jobs/router.json" "$root/examples/jobs/clickcount.nomad.hcl" "$work/jobs/"
# A pool host's /usr/local/bin is the machine's; its /opt is its own.
export INFRA_VAR_bin_dir=/opt/bin
token=tok-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
export INFRA_VAR_api_token=$token
standins=
is_up=

trap scenario_cleanup EXIT

# The agents the plugin installs: launchers of the stand-ins.
standins=$("$root/tests/standins/stage.sh")
mkdir -p "$work/dist"
for name in nomad consul; do
  printf '#!/bin/sh\n# %s: the stand-in of tests/standins\nexec %s "$@"\n' "$name" "$standins/$name" >"$work/dist/$name"
done
export INFRA_VAR_nomad_file=$work/dist/nomad INFRA_VAR_consul_file=$work/dist/consul
INFRA_VAR_nomad_sha256=$(sha256sum "$INFRA_VAR_nomad_file" | cut -c1-64)
INFRA_VAR_consul_sha256=$(sha256sum "$INFRA_VAR_consul_file" | cut -c1-64)
export INFRA_VAR_nomad_sha256 INFRA_VAR_consul_sha256

pool_create $nodes
pool_cidr=$(awk '$1 == "cidr:" {print $2}' "$pool_dir/pool.yaml")
pool_prefix=$(awk '$1 == "prefix:" {print $2}' "$pool_dir/pool.yaml")
# infra reaches the nodes from the pool bridge's gateway: the admin source.
export INFRA_VAR_admin_cidr=${pool_cidr%.0/24}.1/32
emulator_start --pending-seconds 0.3 --time-scale 0.1 --hosts "$pool_dir/hosts.json"
ssh-keygen -q -t ed25519 -N "" -C infra-clickcount-test -f "$work/id_ed25519"
export INFRA_SSH_PUBLIC_KEY=$work/id_ed25519.pub INFRA_SSH_PRIVATE_KEY=$work/id_ed25519

state_doc() { pull_state "$infra" "$topo"; }
secrets=$work/.infra/clickcount.default.secrets.json
secret() { jq -r --arg k "$1" '.[$k]' "$secrets"; }
region() { emu_state | jq '.regions["us-east-1"]'; }
records() { emu_state | jq ".route53.zones.$zone_id.records"; }
no_token() { ! grep -qF "$token" "$@" || fail "the API token reached $(grep -lF "$token" "$@" | paste -sd' ' -)"; }
# eventually COMMAND...: true once COMMAND succeeds, trying for about 60 s.
eventually() {
  local _
  for _ in $(seq 1 60); do
    "$@" && return 0
    sleep 1
  done
  return 1
}
nomad() { # PATH: GET on the nodes' Nomad API with the cluster CA and the management token
  local ip
  for ip in $node_ips; do
    curl -sf --max-time 10 --cacert "$work/ca.pem" -H "X-Nomad-Token: $(secret nomad.main.nomad_management_token)" \
      "https://$ip:4646$1" && return 0
  done
  return 1
}
# answers_all NAME TEXT: GET / for NAME through the balancer answers TEXT
# twice per node (the balancer takes the InService nodes in turn).
answers_all() {
  local to _
  to=$(connect_to "$1") || return 1
  for _ in $(seq 1 $((2 * nodes))); do
    curl -sf --max-time 10 --connect-to "$to" "http://$1/" | grep -q "^$2 on " || return 1
  done
}
presented() { ssh-keyscan -T 5 "$1" 2>/dev/null | ssh-keygen -l -f - | awk '{print $2}' | sort -u | paste -sd, -; }

# 1. plan: the token is masked.
rc=0
"$infra" plan "$topo" >"$work/plan.txt" 2>&1 || rc=$?
[ $rc -eq 2 ] || { cat "$work/plan.txt" >&2; fail "plan exited $rc, not 2 (changes)"; }
grep -q "^ *+ set = (sensitive)" "$work/plan.txt" || fail "the plan does not mask the router's set"
[ "$(grep -c "^ *+ client = true" "$work/plan.txt")" -eq $nodes ] || fail "the plan does not show $nodes combined nodes"
no_token "$work/plan.txt"

# 2. up
is_up=1
run 0 "$infra" up "$topo"
out_has "0 failed, 0 skipped."
no_token "$work/out" "$work/err"
run 0 "$infra" output "$topo" --json
cp "$work/out" "$work/outputs.json"
node_ips=$(jq -r '.node_private_ips | join(" ")' "$work/outputs.json")
[ "$(wc -w <<<"$node_ips")" -eq $nodes ] || fail "output node_private_ips: $node_ips"
secret nomad.main.ca.cert >"$work/ca.pem"
doc=$(state_doc)

# The network, the key pair, the instances.
r=$(region)
vpc=$(jq -r '.resources["network.main"].attributes.id' "$doc")
[ "$(jq -r ".vpcs[\"$vpc\"].CidrBlock" <<<"$r")" = 10.30.0.0/16 ] || fail "VPC $vpc has the wrong CIDR"
subnet=$(jq -r '.resources["subnet.public"].attributes.id' "$doc")
[ "$(jq -r ".subnets[\"$subnet\"].MapPublicIpOnLaunch" <<<"$r")" = true ] || fail "the subnet is not public"
igw=$(jq -r '.resources["internet_gateway.gw"].attributes.id' "$doc")
jq -e ".internet_gateways[\"$igw\"].Attachments[] | select(.VpcId == \"$vpc\")" <<<"$r" >/dev/null ||
  fail "internet gateway $igw is not attached to $vpc"
rtb=$(jq -r '.resources["route_table.public"].attributes.id' "$doc")
jq -e ".route_tables[\"$rtb\"] | any(.Routes[]; .DestinationCidrBlock == \"0.0.0.0/0\" and .GatewayId == \"$igw\")
  and any(.Associations[]; .SubnetId == \"$subnet\")" <<<"$r" >/dev/null ||
  fail "route table $rtb lacks the default route to $igw or the subnet"
[ "$(jq -r '[.key_pairs[].KeyName] | join(",")' <<<"$r")" = clickcount-deploy ] || fail "the key pair"
awsctl call ec2 DescribeInstances '{"Filters": [{"Name": "instance-state-name", "Values": ["running"]}]}' |
  jq '[.Reservations[].Instances[]]' >"$work/running.json"
[ "$(jq length "$work/running.json")" -eq $nodes ] || fail "expected $nodes running instances"
[ "$(jq -r '[.[].ImageId] | unique | join(",")' "$work/running.json")" = ami-0a1b2c3d4e5f60002 ] ||
  fail "the instances do not run the newest x86_64 nomad-host image"
jq -e 'all(.[]; any(.Tags[]; .Key == "infra:address") and any(.Tags[]; .Key == "infra:token"))' \
  "$work/running.json" >/dev/null || fail "an instance lacks its infra:address or infra:token tag"
[ "$(grep -c ' ec2 GetConsoleOutput ' "$work/emulator.log" || true)" -eq 0 ] ||
  fail "a create read the console for a fingerprint infra gave"
jq -r '.resources | to_entries[] | select(.key | startswith("cluster.main.")) | .value.attributes |
  select(.private_ip != null) | "\(.private_ip) \(.ssh_host_key_fingerprint)"' "$doc" >"$work/fingerprints"
[ "$(wc -l <"$work/fingerprints")" -eq $nodes ] || fail "the state does not hold $nodes nodes"
while read -r ip fp; do
  if [[ $fp != SHA256:* ]] || [ "$(presented "$ip")" != "$fp" ]; then
    fail "$ip presents '$(presented "$ip")', the state holds '$fp'"
  fi
done <"$work/fingerprints"
# The key pair logs in as root, against the host key the state holds.
read -r ip fp <"$work/fingerprints"
ssh-keyscan -T 5 "$ip" 2>/dev/null >"$work/known_hosts"
[ "$(ssh-keygen -l -f "$work/known_hosts" | awk '{print $2}' | sort -u)" = "$fp" ] || fail "$ip: known_hosts"
ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$work/known_hosts" -o ConnectTimeout=5 \
  -i "$work/id_ed25519" "root@$ip" true 2>/dev/null || fail "the key pair does not log in to $ip as root"

# Nomad: a leader, three servers that are also ready clients, the jobs.
nomad /v1/status/leader | jq -e '. != ""' >/dev/null || fail "Nomad has no leader"
nomad /v1/agent/members | jq -e '[.Members[] | select(.Status == "alive")] | length == 3' >/dev/null ||
  fail "not 3 Nomad servers: $(nomad /v1/agent/members | jq -c '[.Members[] | [.Name, .Status]]')"
ready3() { nomad /v1/nodes | jq -e '[.[] | select(.Status == "ready")] | length == 3' >/dev/null; }
eventually ready3 || fail "not 3 ready clients: $(nomad /v1/nodes | jq -c '[.[] | [.Name, .Status]]')"
[ "$(nomad /v1/nodes | jq -c '[.[].Address] | sort')" = "$(tr ' ' '\n' <<<"$node_ips" | jq -Rsc 'split("\n") | map(select(. != "")) | sort')" ] ||
  fail "the clients are not the three servers"
running_allocs() { # JOB N: N allocations of JOB running
  nomad "/v1/job/$1/allocations" | jq -e --argjson n "$2" '[.[] | select(.ClientStatus == "running")] | length == $n' >/dev/null
}
eventually running_allocs router 3 || fail "the router does not run on the three nodes"
eventually running_allocs clickcount 2 || fail "clickcount does not run twice"
eventually running_allocs clickcount-staging 1 || fail "clickcount-staging does not run once"
nomad /v1/job/router | jq -e --arg t "$token" '.Type == "system" and .Meta.api_token == $t' >/dev/null ||
  fail "the router is not a system job holding the token"

# The balancer: two listeners, the router's /health, three instances in service.
lb=$(jq -r '.resources["load_balancer.web"].attributes.id' "$doc")
elb=$(region | jq ".load_balancers[\"$lb\"]")
[ "$(jq -c '[.ListenerDescriptions[].Listener | [.Protocol, .LoadBalancerPort, .InstancePort]] | sort' <<<"$elb")" = \
  '[["HTTP",80,80],["HTTP",8080,8080]]' ] || fail "listeners: $(jq -c '.ListenerDescriptions' <<<"$elb")"
[ "$(jq -r .HealthCheck.Target <<<"$elb")" = HTTP:80/health ] || fail "health check target"
in_service() {
  awsctl call elb DescribeInstanceHealth "{\"LoadBalancerName\": \"$lb\"}" |
    jq -e '[.InstanceStates[] | select(.State == "InService")] | length == 3' >/dev/null
}
eventually in_service || fail "the instances are not all InService behind $lb"
dns=$(jq -r .DNSName <<<"$elb")
[ "$(jq -r .lb_dns "$work/outputs.json")" = "$dns" ] || fail "output lb_dns is not $dns"

# Through the balancer by name: the variants, the API behind the token.
eventually answers_all clickcount.app.example.org "clickcount horgix/click-count:1.0" ||
  fail "clickcount.app.example.org: $(curl_by_name clickcount.app.example.org /)"
eventually answers_all clickcount-staging.app.example.org "clickcount-staging horgix/click-count:1.1-rc1" ||
  fail "clickcount-staging.app.example.org: $(curl_by_name clickcount-staging.app.example.org /)"
# A name of no job: the routers' (haproxy's) 503, not the balancer's.
curl_by_name other.app.example.org / -w '\n%{http_code}' >"$work/other.txt" || true
{ [ "$(tail -n 1 "$work/other.txt")" = 503 ] && grep -q "No server is available" "$work/other.txt"; } ||
  fail "the routers route a name of no job: $(cat "$work/other.txt")"
api=$(connect_to nomad.example.org 8080) || fail "nomad.example.org:8080 does not lead to the balancer"
for _ in $(seq 1 $nodes); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --connect-to "$api" http://nomad.example.org:8080/v1/status/leader)" = 401 ] ||
    fail "nomad.example.org:8080 answers without the token"
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --connect-to "$api" -H "X-Auth-Token: $token-x" \
    http://nomad.example.org:8080/v1/status/leader)" = 401 ] || fail "nomad.example.org:8080 answers a wrong token"
  curl -sf --max-time 10 --connect-to "$api" -H "X-Auth-Token: $token" http://nomad.example.org:8080/v1/status/leader |
    jq -e '. != ""' >/dev/null || fail "nomad.example.org:8080 does not answer the API with the token"
done

# Route 53: the alias and the wildcard.
records >"$work/records.json"
jq -e --arg d "$dns" '.[] | select(.Name == "nomad.example.org." and .Type == "A") |
  .AliasTarget.DNSName | ascii_downcase | startswith($d | ascii_downcase)' "$work/records.json" >/dev/null ||
  fail "no alias A record nomad.example.org -> $dns"
jq -e --arg d "$dns" '.[] | select(.Name == "\\052.app.example.org." and .Type == "CNAME" and .TTL == 60) |
  .ResourceRecords[0].Value == $d' "$work/records.json" >/dev/null || fail "no CNAME *.app.example.org -> $dns"

# Security groups: least privilege.
sg_lb=$(jq -r '.resources["firewall.lb"].attributes.id' "$doc")
sg_nodes=$(jq -r '.resources["firewall.nodes"].attributes.id' "$doc")
awsctl call ec2 DescribeSecurityGroups "{\"GroupIds\": [\"$sg_lb\", \"$sg_nodes\"]}" >"$work/sgs.json"
open=$(jq -r '.SecurityGroups[] | .GroupId as $g | .IpPermissions[] | select(any(.IpRanges[]; .CidrIp == "0.0.0.0/0")) |
  "\($g) \(.IpProtocol) \(.FromPort)-\(.ToPort)"' "$work/sgs.json" | sort | paste -sd';' -)
[ "$open" = "$sg_lb tcp 80-80;$sg_lb tcp 8080-8080" ] || fail "open to 0.0.0.0/0: '$open' (only the balancer's 80 and 8080 may be)"
jq -e --arg s "$sg_nodes" '[.SecurityGroups[] | select(.GroupId == $s) | .IpPermissions[] | .IpRanges[].CidrIp] | unique ==
  [env.INFRA_VAR_admin_cidr]' "$work/sgs.json" >/dev/null || fail "the nodes take addresses other than $INFRA_VAR_admin_cidr"
for port in 80 8080; do
  jq -e --arg s "$sg_nodes" --arg lb "$sg_lb" --argjson p $port '[.SecurityGroups[] | select(.GroupId == $s) |
      .IpPermissions[] | select(.FromPort == $p) | .UserIdGroupPairs[].GroupId] == [$lb]' "$work/sgs.json" >/dev/null ||
    fail "the nodes' port $port is open to more than the balancer's group"
done
sg_members=$(jq -r '.resources["firewall.members"].attributes.id' "$doc")
jq -e --arg s "$sg_nodes" --arg m "$sg_members" 'all(.[]; [.SecurityGroups[].GroupId] | sort == ([$s, $m] | sort))' \
  "$work/running.json" >/dev/null || fail "the nodes do not carry exactly the members' and the nodes' groups"
for port in 4647 8301 9001; do
  jq -e --arg s "$sg_nodes" --arg m "$sg_members" --argjson p $port '[.SecurityGroups[] | select(.GroupId == $s) |
      .IpPermissions[] | select(.FromPort <= $p and .ToPort >= $p and .IpProtocol == "tcp") | .UserIdGroupPairs[].GroupId] == [$m]' \
    "$work/sgs.json" >/dev/null || fail "the nodes' port $port is not open to the members only"
done

# The token: in no log, state or file infra keeps.
no_token "$work/out" "$work/err" "$doc" "$work/emulator.log"
no_token -r "$work/.infra"
# On the nodes: the agents' and the tasks' logs, and the configuration the
# router wrote (which names the token by its environment variable only).
find "$pool_dir/run" \( -path '*/var/log/*' -o -path '*/alloc/logs/*' -o -name haproxy.cfg \) -type f \
  >"$work/node-files" 2>/dev/null || true
[ "$(grep -c '/haproxy.cfg$' "$work/node-files")" -ge $nodes ] || fail "the routers' haproxy.cfg not found on the nodes"
[ "$(grep -c '/var/log/nomad.log$' "$work/node-files")" -ge $nodes ] || fail "the nodes' /var/log/nomad.log not found"
xargs -d '\n' grep -lF "$token" <"$work/node-files" >"$work/token-files" || true
[ ! -s "$work/token-files" ] || fail "the API token is in $(paste -sd' ' "$work/token-files")"
"$infra" state show "$topo" job.router >"$work/show.txt" 2>&1 || { cat "$work/show.txt" >&2; fail "state show failed"; }
no_token "$work/show.txt"

# 3. A second up changes nothing.
run 0 "$infra" up "$topo"
out_has "No changes."
run 0 "$infra" plan "$topo"

# 4. down: nothing left.
run 0 "$infra" down "$topo" --yes
is_up=
r=$(region)
for kind in vpcs subnets internet_gateways route_tables security_groups key_pairs load_balancers; do
  [ "$(jq ".$kind | length" <<<"$r")" -eq 0 ] || fail "after down the emulator still holds $kind"
done
[ "$(jq '[.instances[] | select(.State.Name != "terminated")] | length' <<<"$r")" -eq 0 ] ||
  fail "after down some instances are not terminated"
[ "$(records | jq '[.[] | select(.Type != "NS" and .Type != "SOA")] | length')" -eq 0 ] ||
  fail "after down records are left in the hosted zone"
[ "$(jq '.resources | length' "$(state_doc)")" -eq 0 ] || fail "after down the state still names resources"
for _ in $(seq 1 50); do
  free=$(emu_state | jq '.hosts.free | length')
  [ "$free" -eq $nodes ] && break
  sleep 0.2
done
[ "$free" -eq $nodes ] || fail "after down only $free of the pool's hosts are free"
for ns in $(ip netns list | awk -v p="$pool_prefix-" 'index($1, p) == 1 {print $1}'); do
  for pid in $(ip netns pids "$ns"); do
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
    [[ $cmd == *sshd* ]] || fail "process $pid ($cmd) left on pool host $ns after down"
  done
done
for ip in $(jq -r '.[].address' "$pool_dir/hosts.json"); do
  want=$(jq -r --arg ip "$ip" '.[] | select(.address == $ip) | .ssh_host_key_fingerprint' "$pool_dir/hosts.json")
  [ "$(presented "$ip")" = "$want" ] || fail "after down $ip presents $(presented "$ip"), not its own $want"
done
echo "clickcount: Nomad servers that are clients on AWS nodes, both variants and the guarded API through the balancer by name, least-privilege groups, the token kept out, idempotent up, nothing left"
