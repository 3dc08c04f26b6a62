#!/usr/bin/env bash
# examples/hybrid-nomad.yaml end to end, through the infra binary: one
# Nomad cluster whose region europe runs on local namespace hosts (3
# servers, 1 client) and whose region us runs on the aws provider against
# the AWS emulator, whose instances are real SSH hosts of a host pool (3
# servers, 1 client, the newest nomad-host-* image, a public subnet, a
# security group, a key pair, the client behind an ELB). The stand-in
# nomad and consul agents run on both. The regions are federated and the
# web job runs in both.
#
# The local network and the pool's network are two bridges of this
# machine, which does not forward between them. For the time of the test
# it routes between exactly those two subnets: net.ipv4.ip_forward is set
# (its value saved) after a table of the test's own, inet
# infra_hybrid_test, whose forward chain drops everything but
#   - traffic from one test subnet to the other (both directions), and
#   - frames switched inside one bridge: with br_netfilter
#     (net.bridge.bridge-nf-call-iptables=1) bridged IPv4 crosses the
#     forward hook too; a packet that came in on a bridge and whose route
#     goes back out of that same bridge never leaves it, and dropping it
#     would cut every bridge of the machine (other tests' as well).
# The table is deleted and ip_forward restored at the end, on failure and
# on INT/TERM as well.
#
# up -> both regions have a leader, /v1/regions lists both, the job runs
# and answers in both, the ELB reports the us client InService; up again
# -> "No changes.", plan exits 0; down --yes -> nothing left in the
# emulator, no namespace or process of the run, no secrets file.
#   usage: hybrid.sh INFRA_BINARY [BUILD_DIR]    (exit 77 = skipped)
# shellcheck source=SCRIPTDIR/../aws/lib.sh
source "$(cd "$(dirname "$0")/../aws" && pwd)/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "local hosts, the host pool and forwarding need root"
export PATH=$PATH:/usr/sbin:/sbin
for tool in ip nft sshd ssh ssh-keygen ssh-keyscan busybox; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/deps.sh installs it)"
done

nodes_per_region=4 # 3 servers + 1 client
prefix=h$(printf '%04x' $(($$ % 65536)))
topo=$work/hybrid-nomad.yaml
# state_doc: the state document, pulled (see pull_state); prints its path.
state_doc() { pull_state "$infra" "$topo"; }
secrets=$work/.infra/hybrid-nomad.default.secrets.json
nft_table=infra_hybrid_test
forward_saved=
forward_before=
forward_conf=
standins=
mkdir -p "$work/jobs"
cp "$root/examples/hybrid-nomad.yaml" "$topo"
cp "$root/examples/jobs/web-static.json" "$work/jobs/web-static.json"
export INFRA_LOCAL_RUN_DIR=$work/run INFRA_LOCAL_PREFIX=$prefix

# connectivity_down: no more forwarding between the test subnets (idempotent).
connectivity_down() {
  if [ -n "$forward_saved" ]; then
    echo "$forward_saved" >/proc/sys/net/ipv4/ip_forward || true
    # Writing ip_forward sets every interface's forwarding: give each
    # interface that was there its own value back.
    local f v
    while IFS=: read -r f v; do
      [ -e "$f" ] && [ "$(cat "$f")" != "$v" ] && { echo "$v" >"$f" || true; }
    done <<<"$forward_conf"
    forward_saved=
  fi
  nft delete table inet "$nft_table" 2>/dev/null || true
}

# run STATUS COMMAND...: lib.sh's run, COMMAND in the background so that
# INT and TERM reach the traps at once (the cleanup then stops it).
child=
run() {
  local want=$1
  shift
  local rc=0
  "$@" >"$work/out" 2>"$work/err" </dev/null &
  child=$!
  wait "$child" || rc=$?
  child=
  [ "$rc" -eq "$want" ] || run_failed "$rc" "$want" "$@"
}

# Everything of the run, on success and failure alike; then lib.sh's
# cleanup (emulator, host pool, $work).
hybrid_cleanup() {
  local rc=$?
  trap - EXIT
  set +e
  connectivity_down
  # An infra interrupted by INT/TERM: the first TERM lets it save its
  # state, a second one stops it at once.
  if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
    kill -TERM "$child" 2>/dev/null
    local i
    for i in $(seq 1 100); do kill -0 "$child" 2>/dev/null || break; sleep 0.2; done
    kill -TERM "$child" 2>/dev/null
    wait "$child" 2>/dev/null
  fi
  if [ -f "$topo" ] && [ -n "${AWS_ENDPOINT_URL:-}" ]; then
    "$infra" down "$topo" --yes </dev/null >"$work/down-cleanup.log" 2>&1 || true
  fi
  local_leftovers_remove "$prefix" "$work"
  [ -z "$standins" ] || rm -rf "$(dirname "$standins")"
  (exit $rc) # cleanup takes the status from $?
  cleanup
}
trap hybrid_cleanup EXIT

# The stand-in agents, where namespace hosts see them.
standins=$("$root/tests/standins/stage.sh")
export INFRA_NOMAD_BINARY=$standins/nomad INFRA_CONSUL_BINARY=$standins/consul

# The us region's hosts, and the europe network's range (not one the
# machine routes, not one of the pools').
pool_create $nodes_per_region
pool_cidr=$(awk '$1 == "cidr:" {print $2}' "$pool_dir/pool.yaml")
pool_prefix=$(awk '$1 == "prefix:" {print $2}' "$pool_dir/pool.yaml")
[[ $pool_cidr =~ ^10\.213\.[0-9]+\.0/24$ ]] || fail "unexpected host pool range '$pool_cidr'"
cidr=$(free_test_cidr 180 20)
[ -n "$cidr" ] || skip "no free 10.213.x.0/24 for the europe network"
export INFRA_LOCAL_CIDR=$cidr

# Forwarding between exactly the two subnets: the table first (in one
# transaction, replacing a table a killed run left), then ip_forward.
nft -f - <<NFT || fail "could not add the nftables table $nft_table"
table inet $nft_table
delete table inet $nft_table
table inet $nft_table {
  chain forward {
    type filter hook forward priority filter; policy drop;
    meta iifkind "bridge" fib daddr . iif oif exists accept comment "switched inside one bridge (br_netfilter), not routed"
    ip saddr $cidr ip daddr $pool_cidr accept comment "europe -> us"
    ip saddr $pool_cidr ip daddr $cidr accept comment "us -> europe"
  }
}
NFT
forward_conf=$(grep -H . /proc/sys/net/ipv4/conf/*/forwarding)
forward_saved=$(cat /proc/sys/net/ipv4/ip_forward)
forward_before=$forward_saved
echo 1 >/proc/sys/net/ipv4/ip_forward

emulator_start --pending-seconds 0.3 --time-scale 0.1 --hosts "$pool_dir/hosts.json"
ssh-keygen -q -t ed25519 -N "" -C infra-hybrid-test -f "$work/id_ed25519"
export INFRA_SSH_PUBLIC_KEY=$work/id_ed25519.pub INFRA_SSH_PRIVATE_KEY=$work/id_ed25519

secret() { jq -r --arg k "$1" '.[$k]' "$secrets"; }
attr() { jq -r --arg a "$1" --arg k "$2" '.resources[$a].attributes[$k]' "$(state_doc)"; }
# The CA and the tokens go to files of $work (mode 0700), never to a
# command line or the output.
api_files() {
  umask 077
  secret nomad.main.ca.cert >"$work/ca.pem"
  printf 'X-Nomad-Token: %s\n' "$(secret nomad.main.nomad_management_token)" >"$work/nomad.hdr"
  printf 'X-Consul-Token: %s\n' "$(secret nomad.main.consul_management_token)" >"$work/consul.hdr"
  secret nomad.main.nomad_management_token >"$work/tokens"
  secret nomad.main.consul_management_token >>"$work/tokens"
  umask 022
}
# nomad IP PATH / consul IP PATH: GET on that agent's HTTPS API.
nomad() { curl -sf --max-time 10 --cacert "$work/ca.pem" -H @"$work/nomad.hdr" "https://$1:4646$2"; }
consul() { curl -sf --max-time 10 --cacert "$work/ca.pem" -H @"$work/consul.hdr" "https://$1:8501$2"; }

# 1. up
run 0 "$infra" up "$topo"
out_has "0 failed, 0 skipped."
[ "$(stat -c %a "$secrets")" = 600 ] || fail "the secrets file is not 0600"
api_files
! grep -qFf "$work/tokens" "$work/out" "$work/err" "$(state_doc)" "$work/.infra/hybrid-nomad.default.db" || fail "a token reached the output or the state"
run 0 "$infra" output "$topo" --json
cp "$work/out" "$work/outputs.json"
declare -A servers clients
servers[europe]=$(jq -r '.europe_servers | join(" ")' "$work/outputs.json")
servers[us]=$(jq -r '.us_servers | join(" ")' "$work/outputs.json")
clients[europe]=$(jq -r '.europe_clients[0]' "$work/outputs.json")
clients[us]=$(jq -r '.us_clients[0]' "$work/outputs.json")
in_cidr() { # IP PREFIX24: 10.213.N.x in 10.213.N.0/24
  [ "${1%.*}" = "${2%.0/24}" ]
}
for ip in ${servers[europe]} ${clients[europe]}; do in_cidr "$ip" "$cidr" || fail "europe node $ip is not on $cidr"; done
for ip in ${servers[us]} ${clients[us]}; do
  jq -e --arg ip "$ip" '.[] | select(.address == $ip)' "$pool_dir/hosts.json" >/dev/null ||
    fail "us node $ip is not a host of the pool"
done

# The us nodes are instances of the newest x86_64 nomad-host image in the
# public subnet, with the security group and the key pair.
subnet=$(attr subnet.public id)
sg=$(attr firewall.nomad id)
running=$(awsctl call ec2 DescribeInstances \
  '{"Filters": [{"Name": "instance-state-name", "Values": ["running"]}]}' | jq '[.Reservations[].Instances[]]')
[ "$(echo "$running" | jq length)" -eq $nodes_per_region ] || fail "expected $nodes_per_region running instances"
echo "$running" | jq -e --arg s "$subnet" --arg g "$sg" 'all(.ImageId == "ami-0a1b2c3d4e5f60002" and
    .SubnetId == $s and .KeyName == "hybrid-deploy" and ([.SecurityGroups[].GroupId] | index($g)))' >/dev/null ||
  fail "the us instances are not of the newest nomad-host image in $subnet with $sg and the key pair: $(echo "$running" | jq -c '[.[] | [.ImageId, .SubnetId, .KeyName, [.SecurityGroups[].GroupId]]]')"
rules=$(awsctl call ec2 DescribeSecurityGroups "{\"GroupIds\": [\"$sg\"]}" |
  jq -r '.SecurityGroups[0].IpPermissions[] | "\(.IpProtocol) \(.FromPort)-\(.ToPort)"' | sort | tr '\n' ';')
want="tcp 22-22;tcp 4646-4648;tcp 8080-8080;tcp 8300-8302;tcp 8501-8501;udp 4648-4648;udp 8301-8302;"
[ "$rules" = "$want" ] || fail "security group ports are '$rules', expected '$want'"

# Both regions have a leader every server agrees on, and know each other.
for region in europe us; do
  leaders=()
  for ip in ${servers[$region]}; do
    leaders+=("$(nomad "$ip" /v1/status/leader | jq -r . || true)")
  done
  [ ${#leaders[@]} -eq 3 ] && [ -n "${leaders[0]}" ] && [ "$(printf '%s\n' "${leaders[@]}" | sort -u | wc -l)" -eq 1 ] ||
    fail "region $region: the servers do not agree on a leader: ${leaders[*]}"
  ip=${servers[$region]%% *}
  nomad "$ip" /v1/regions | jq -e 'sort == ["europe", "us"]' >/dev/null ||
    fail "region $region: /v1/regions does not list europe and us"
  consul "$ip" /v1/catalog/datacenters | jq -e 'sort == ["europe", "us"]' >/dev/null ||
    fail "region $region: Consul does not list both datacenters"
done

# The job runs in both regions (asked through the other region's servers
# too: requests are forwarded across the federation) and answers.
for region in europe us; do
  for ip in ${servers[europe]%% *} ${servers[us]%% *}; do
    nomad "$ip" "/v1/job/web?region=$region" | jq -e --arg r "$region" '.Status == "running" and .Region == $r' >/dev/null ||
      fail "job web is not running in $region (asked $ip)"
  done
  ip=${servers[$region]%% *}
  nomad "$ip" "/v1/job/web/allocations?region=$region" |
    jq -e '[.[] | select(.ClientStatus == "running")] | length == 1' >/dev/null ||
    fail "job web has no running allocation in $region"
  answer=$(curl -sf --max-time 5 "http://${clients[$region]}:8080/") || fail "the web job does not answer on ${clients[$region]}:8080"
  [[ $answer == "web "*" in $region on "* ]] || fail "the web job on ${clients[$region]} answers '$answer'"
done

# The ELB sees the us client InService (its health check is the job).
lb=$(attr load_balancer.web id)
client_id=$(attr 'cluster.main.us.us-east-1.client[0]' id)
ok=
for _ in $(seq 1 100); do
  health=$(awsctl call elb DescribeInstanceHealth "{\"LoadBalancerName\": \"$lb\"}" || echo '{}')
  if echo "$health" | jq -e --arg i "$client_id" \
    '.InstanceStates | length == 1 and .[0].InstanceId == $i and .[0].State == "InService"' >/dev/null; then
    ok=1
    break
  fi
  sleep 0.3
done
[ -n "$ok" ] || fail "the us client $client_id is not InService behind $lb: $(echo "$health" | jq -c .InstanceStates)"

# 2. Nothing to do on a second run.
run 0 "$infra" up "$topo"
out_has "No changes."
run 0 "$infra" plan "$topo"

# 3. down: nothing left.
inodes=$(for ns in $(ip netns list | awk -v p="$prefix-" 'index($1, p) == 1 {print $1}'); do stat -L -c %i "/run/netns/$ns"; done)
# A deleted namespace's inode number can be given to a namespace another
# test makes meanwhile: only a process that ran before down began counts.
down_began=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%d", $1 * hz}' /proc/uptime)
[ -n "$inodes" ] || fail "no namespace host of the run found"
run 0 "$infra" down "$topo" --yes
r=$(emu_state | jq '.regions["us-east-1"]')
for kind in vpcs subnets internet_gateways route_tables security_groups key_pairs load_balancers \
  nat_gateways addresses auto_scaling_groups launch_templates; do
  [ "$(echo "$r" | jq ".$kind | length")" -eq 0 ] || fail "after down the emulator still holds $kind"
done
[ "$(echo "$r" | jq '[.instances[] | select(.State.Name != "terminated")] | length')" -eq 0 ] ||
  fail "after down some instances are not terminated"
free=
for _ in $(seq 1 50); do
  free=$(emu_state | jq '.hosts.free | length')
  [ "$free" -eq $nodes_per_region ] && break
  sleep 0.2
done
[ "$free" -eq $nodes_per_region ] || fail "after down only $free of the pool's hosts are free"
[ "$(jq '.resources | length' "$(state_doc)")" -eq 0 ] || fail "after down the state still names resources"
[ ! -e "$secrets" ] || fail "secrets file left after down"
[ -z "$(ip netns list | awk -v p="$prefix-" 'index($1, p) == 1')" ] || fail "namespaces left after down"
for ino in $inodes; do
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/ns/net" 2>/dev/null)" = "net:[$ino]" ] || continue
    started=$(sed 's/.*) //' "$p/stat" 2>/dev/null | awk '{print $20}')
    [ -n "$started" ] && [ "$started" -lt "$down_began" ] &&
      fail "process ${p#/proc/} ($(tr '\0' ' ' <"$p/cmdline")) left in a deleted host"
  done
done
[ -z "$(find "$work/run" -mindepth 1 ! -path "$work/run/ssh" ! -path "$work/run/ssh/*" 2>/dev/null)" ] ||
  fail "files left after down"
# On the pool's hosts the agents and the job are gone: only their sshd is left.
for ns in $(ip netns list | awk -v p="$pool_prefix-" 'index($1, p) == 1 {print $1}'); do
  for pid in $(ip netns pids "$ns"); do
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
    [[ $cmd == *sshd* ]] || fail "process $pid ($cmd) left on pool host $ns after down"
  done
done
INFRA=$infra "$root/tests/harness/hostpool.sh" destroy "$pool_dir" >"$work/pool-destroy.log" 2>&1 ||
  { cat "$work/pool-destroy.log" >&2; fail "hostpool.sh destroy failed"; }
[ -z "$(ip netns list | awk -v p="$pool_prefix-" 'index($1, p) == 1')" ] || fail "pool namespaces left"
connectivity_down
[ "$(cat /proc/sys/net/ipv4/ip_forward)" = "$forward_before" ] ||
  fail "net.ipv4.ip_forward was not restored"
while IFS=: read -r f v; do
  [ ! -e "$f" ] || [ "$(cat "$f")" = "$v" ] || fail "$f was not restored"
done <<<"$forward_conf"
! nft list table inet "$nft_table" >/dev/null 2>&1 || fail "the nftables table $nft_table is left"
echo "hybrid: europe on local hosts, us on aws, federated, the job in both behind an ELB, idempotent, nothing left"
