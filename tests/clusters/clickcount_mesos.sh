#!/usr/bin/env bash
# examples/clickcount-mesos.yaml end to end, through the infra binary, on
# the aws provider against the AWS emulator, whose instances are real SSH
# hosts of a host pool (tests/aws/lib.sh pool_create): Debian's ZooKeeper
# and haproxy, and the stand-in mesos-master, mesos-agent and marathon of
# tests/standins installed on the nodes by the plugin (launchers given as
# files with their SHA-256, Mesos' two in one .zip), their tasks processes
# on the agents.
#
# -e prod: up -> a ZooKeeper ensemble of one leader and two followers whose
# myid files agree with zoo.cfg, a Mesos leader with the staging and prod
# agents and their attributes, a Marathon leader; the prod variant of
# click-count healthy and answering through the load balancer for its
# Route 53 name (followed through Route 53's API, tests/aws/lib.sh
# curl_by_name); every Route 53
# record in the emulator pointing at its node; no security group opening
# SSH, ZooKeeper, Mesos, Marathon or the task ports to 0.0.0.0/0, only the
# load balancer's 80 open to the world; every node presenting the SSH host
# key whose fingerprint the state holds. A second up -> "No changes.".
# down -> nothing of it in the emulator, nothing but sshd on the pool's
# hosts. -e staging on the same hosts: the staging variant answers for the
# staging name with its own image tag; down -> nothing left.
#   usage: clickcount_mesos.sh INFRA_BINARY [BUILD_DIR]    (exit 77 = skipped: not root)
# shellcheck source=SCRIPTDIR/../aws/lib.sh
source "$(cd "$(dirname "$0")/../aws" && pwd)/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "the host pool needs root"
export PATH=$PATH:/usr/sbin:/sbin
for tool in ip sshd ssh ssh-keygen ssh-keyscan busybox haproxy java; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/deps.sh installs it)"
done
[ -f /usr/share/java/zookeeper.jar ] || skip "zookeeper is not installed (scripts/deps.sh installs it)"

nodes=6 # 3 masters, a staging agent, a prod agent, the load balancer
zone_id=Z0123456789ABC
topo=$work/clickcount-mesos.yaml
mkdir -p "$work/apps"
cp "$root/examples/clickcount-mesos.yaml" "$topo"
# A pool host's /usr/local/bin is the machine's; its /opt is its own.
sed -i 's|^    install:$|&\n      bin_dir: /opt/bin|' "$topo"
grep -q '^      bin_dir: /opt/bin$' "$topo" || fail "could not set install.bin_dir in the test's copy"
cp "$root/examples/apps/clickcount.json" "$work/apps/clickcount.json"
standins=
envs_up=

# The shared seed, plus the nodes' image and the zone.
seed_write() {
  cat >"$work/seed.json" <<'JSON'
{"account_id": "123456789012",
 "availability_zones": {"us-east-1": ["us-east-1a", "us-east-1b"]},
 "images": [
  {"ImageId": "ami-0c1c2c3c4c5c60001", "Name": "mesos-host-2026-11-01",
   "CreationDate": "2026-11-01T10:00:00.000Z", "OwnerId": "123456789012",
   "Architecture": "x86_64", "State": "available", "Region": "us-east-1"}],
 "hosted_zones": [{"Id": "Z0123456789ABC", "Name": "example.org."}]}
JSON
}

# Whatever a failed run left up, then lib.sh's cleanup (emulator, pool, $work).
clickcount_cleanup() {
  local rc=$?
  trap - EXIT
  set +e
  local e
  for e in $envs_up; do
    "$infra" down "$topo" -e "$e" --yes </dev/null >"$work/down-cleanup-$e.log" 2>&1
  done
  [ -z "$standins" ] || rm -rf "$(dirname "$standins")"
  (exit $rc)
  cleanup
}
trap clickcount_cleanup EXIT

# The programs the plugin installs: launchers of the stand-ins (which run
# from where stage.sh put them, a place the pool's hosts see).
standins=$("$root/tests/standins/stage.sh")
mkdir -p "$work/dist"
for name in mesos-master mesos-agent marathon; do
  printf '#!/bin/sh\n# %s: the stand-in of tests/standins\nexec %s "$@"\n' "$name" "$standins/$name" >"$work/dist/$name"
done
/usr/bin/python3 - "$work/dist" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1] + "/mesos-1.11.zip", "w") as z:
    for name in ("mesos-master", "mesos-agent"):
        z.write(sys.argv[1] + "/" + name, "mesos-1.11/bin/" + name)
PY
export INFRA_VAR_mesos_file=$work/dist/mesos-1.11.zip INFRA_VAR_marathon_file=$work/dist/marathon
INFRA_VAR_mesos_sha256=$(sha256sum "$INFRA_VAR_mesos_file" | cut -c1-64)
INFRA_VAR_marathon_sha256=$(sha256sum "$INFRA_VAR_marathon_file" | cut -c1-64)
export INFRA_VAR_mesos_sha256 INFRA_VAR_marathon_sha256

pool_create $nodes
pool_cidr=$(awk '$1 == "cidr:" {print $2}' "$pool_dir/pool.yaml")
pool_prefix=$(awk '$1 == "prefix:" {print $2}' "$pool_dir/pool.yaml")
# infra reaches the nodes from the pool bridge's gateway: the admin source.
export INFRA_VAR_admin_cidr=${pool_cidr%.0/24}.1/32
emulator_start --pending-seconds 0.3 --time-scale 0.1 --hosts "$pool_dir/hosts.json"
ssh-keygen -q -t ed25519 -N "" -C infra-clickcount-test -f "$work/id_ed25519"
export INFRA_SSH_PUBLIC_KEY=$work/id_ed25519.pub INFRA_SSH_PRIVATE_KEY=$work/id_ed25519

env=
state_doc() { pull_state "$infra" "$topo" -e "$env"; }
secrets() { echo "$work/.infra/clickcount-mesos.$env.secrets.json"; }
password() { jq -r '.["marathon.mesos.http_password"]' "$(secrets)"; }
outputs() { "$infra" output "$topo" -e "$env" --json </dev/null; }

# eventually COMMAND...: true once COMMAND succeeds, trying for about 60 s.
eventually() {
  local _
  for _ in $(seq 1 60); do
    "$@" && return 0
    sleep 1
  done
  return 1
}
marathon() { # PATH: GET on Marathon through the masters, with its credentials
  local ip
  for ip in $masters; do
    curl -sf --max-time 10 -u "infra:$(password)" "http://$ip:8080$1" && return 0
  done
  return 1
}
mesos_state() { # the leading master's /master/state (a master redirects to it)
  local ip
  for ip in $masters; do
    curl -sfL --max-time 10 "http://$ip:5050/master/state" && return 0
  done
  return 1
}
zk_mode() { # IP: the Mode: line of ZooKeeper's srvr
  local reply
  reply=$(exec 3<>"/dev/tcp/$1/2181" && printf srvr >&3 && cat <&3) || return 1
  sed -n 's/^Mode: //p' <<<"$reply"
}
records() { emu_state | jq ".route53.zones.$zone_id.records"; }
# record NAME: the values of the A record NAME.example.org., sorted, one line.
record() {
  records | jq -r --arg n "$1.example.org." '.[] | select(.Name == $n and .Type == "A") | .ResourceRecords[].Value' |
    sort | paste -sd' ' -
}
# app_answers NAME WANT: GET / for NAME.example.org, the name followed
# through the emulator's Route 53 (ListResourceRecordSets) to the load
# balancer node as a browser resolving it would (curl_by_name), answers WANT.
app_answers() { curl_by_name "$1.example.org" / -f | grep -q "^$2 on "; }
app_healthy() { # ID INSTANCES
  marathon "/v2/apps$1" | jq -e --argjson n "$2" '.app | .instances == $n and .tasksHealthy == $n and .tasksRunning == $n' >/dev/null
}
# host_root IP: the pool host's own directory tree (its private mounts).
host_root() {
  local h
  for h in "$pool_dir/run/$pool_prefix/hosts"/*; do
    if ip -n "$pool_prefix-$(basename "$h")" -4 -o addr show scope global | grep -q " $1/"; then
      echo "$h/root"
      return 0
    fi
  done
  return 1
}

# up_env ENV: infra up -e ENV, and what every environment must show: the
# leaders, the agents, the records, the security groups.
up_env() {
  env=$1
  envs_up="$envs_up $env"
  run 0 "$infra" up "$topo" -e "$env"
  out_has "0 failed, 0 skipped."
  [ "$(stat -c %a "$(secrets)")" = 600 ] || fail "$env: the secrets file is not 0600"
  local pw
  pw=$(password)
  ! grep -qF "$pw" "$work/out" "$work/err" "$(state_doc)" || fail "$env: the Marathon password reached the output or the state"
  outputs >"$work/outputs.json" || fail "$env: infra output failed"
  masters=$(jq -r '.masters | join(" ")' "$work/outputs.json")
  lb=$(jq -r .lb "$work/outputs.json")

  # ZooKeeper: one leader, two followers, each member's myid the id zoo.cfg
  # gives its address, zoo.cfg the same on all three.
  local modes ip id cfg first_cfg=
  modes=$(for ip in $masters; do zk_mode "$ip"; done | sort | tr '\n' ' ')
  [ "$modes" = "follower follower leader " ] || fail "$env: the ZooKeeper ensemble's modes are: $modes"
  for ip in $masters; do
    cfg=$(host_root "$ip")/etc/zookeeper/conf/zoo.cfg
    id=$(cat "$(host_root "$ip")/var/lib/zookeeper/myid")
    grep -qx "server\.$id=$ip:2888:3888" "$cfg" || fail "$env: ZooKeeper member $ip has myid $id, which zoo.cfg does not give it"
    [ -z "$first_cfg" ] || cmp -s "$first_cfg" "$cfg" || fail "$env: the members' zoo.cfg differ"
    first_cfg=$cfg
  done
  [ "$(grep -c '^server\.[0-9]*=' "$first_cfg")" -eq 3 ] || fail "$env: zoo.cfg does not list three members"

  # Mesos and Marathon lead; the agents carry their env attribute.
  mesos_state | jq -e '.leader != null and .leader != ""' >/dev/null || fail "$env: Mesos has no leader"
  mesos_state | jq -e '[.slaves[] | select(.active) | .attributes.env] | sort == ["prod","staging"]' >/dev/null ||
    fail "$env: the agents registered are: $(mesos_state | jq -c '[.slaves[] | [.hostname, .active, .attributes]]')"
  marathon /v2/leader | jq -e '.leader != null' >/dev/null || fail "$env: Marathon has no leader"

  # Host keys: each node presents the key infra gave it at launch, whose
  # fingerprint the state holds (what every SSH login checks).
  jq -r '.resources | to_entries[] | select(.key | startswith("cluster.mesos.")) | .value.attributes |
    "\(.public_ip) \(.ssh_host_key_fingerprint)"' "$(state_doc)" >"$work/fingerprints"
  [ "$(wc -l <"$work/fingerprints")" -eq $nodes ] || fail "$env: the state does not hold $nodes nodes"
  local fp seen
  while read -r ip fp; do
    seen=$(ssh-keyscan -T 5 "$ip" 2>/dev/null | ssh-keygen -l -f - | awk '{print $2}' | sort -u | paste -sd, -)
    [[ $fp == SHA256:* ]] && [ "$seen" = "$fp" ] || fail "$env: $ip presents '$seen', the state holds '$fp'"
  done <"$work/fingerprints"

  # Route 53: a record per node, the main record, the application's record.
  local want got
  for pair in "master-0:.masters[0]" "master-1:.masters[1]" "master-2:.masters[2]" "lb:.lb"; do
    want=$(jq -r "${pair#*:}" "$work/outputs.json")
    got=$(record "${pair%%:*}.$env")
    [ "$got" = "$want" ] || fail "$env: record ${pair%%:*}.$env.example.org is '$got', not $want"
  done
  for dc in staging prod; do
    want=$(jq -r --arg dc "$dc" '.resources | to_entries[] |
      select(.key | test("^cluster\\.mesos\\.main\\." + $dc + "\\.client\\[0\\]$")) | .value.attributes.public_ip' "$(state_doc)")
    got=$(record "$dc-0.$env")
    [ -n "$want" ] && [ "$got" = "$want" ] || fail "$env: record $dc-0.$env.example.org is '$got', not '$want'"
  done
  want=$(tr ' ' '\n' <<<"$masters" | sort | paste -sd' ' -)
  [ "$(record "mesos.$env")" = "$want" ] || fail "$env: the main record mesos.$env.example.org is '$(record "mesos.$env")', not '$want'"
  [ "$(record "$env")" = "$lb" ] || fail "$env: the application's record $env.example.org is '$(record "$env")', not the load balancer $lb"
  records | jq -e --arg n "$env.example.org." '.[] | select(.Name == $n and .Type == "A" and .TTL == 60)' >/dev/null ||
    fail "$env: the application's record has not the TTL of 60"

  # Security groups: nothing but the load balancer's 80 from the world;
  # SSH and the APIs from the admin source only; the cluster's ports from
  # its members.
  local doc sgs members
  doc=$(state_doc)
  members=$(jq -r '.resources["firewall.members"].attributes.id' "$doc")
  sgs=$(jq -r '[.resources["firewall.members", "firewall.masters", "firewall.agents", "firewall.lb"].attributes.id] | join("\",\"")' "$doc")
  awsctl call ec2 DescribeSecurityGroups "{\"GroupIds\": [\"$sgs\"]}" >"$work/sgs.json"
  [ "$(jq '.SecurityGroups | length' "$work/sgs.json")" -eq 4 ] || fail "$env: expected 4 security groups"
  local open
  open=$(jq -r '.SecurityGroups[] | .GroupName as $g | .IpPermissions[] | select(any(.IpRanges[]; .CidrIp == "0.0.0.0/0")) |
    "\($g) \(.IpProtocol) \(.FromPort)-\(.ToPort)"' "$work/sgs.json")
  [ "$open" = "clickcount-mesos-$env-firewall-lb tcp 80-80" ] ||
    fail "$env: open to 0.0.0.0/0: '$open' (only the load balancer's 80 may be)"
  jq -e '[.SecurityGroups[].IpPermissions[] | select(.FromPort == 22) | .IpRanges[].CidrIp] | unique == [env.INFRA_VAR_admin_cidr]' \
    "$work/sgs.json" >/dev/null || fail "$env: SSH is open to other sources than $INFRA_VAR_admin_cidr"
  for port in 2181 2888 5050 5051 8080 31000; do
    jq -e --argjson p "$port" --arg m "$members" '[.SecurityGroups[].IpPermissions[] | select(.FromPort == $p) |
        .UserIdGroupPairs[].GroupId] | index($m)' "$work/sgs.json" >/dev/null ||
      fail "$env: port $port is not open to the cluster's members"
  done
  [ "$(jq '[.SecurityGroups[] | select(.IpPermissions == [])] | length' "$work/sgs.json")" -eq 1 ] ||
    fail "$env: the members' group should have no rule"
  # every running instance carries the members' group
  awsctl call ec2 DescribeInstances '{"Filters": [{"Name": "instance-state-name", "Values": ["running"]}]}' |
    jq -e --arg m "$members" '[.Reservations[].Instances[]] | length == 6 and
      all([.SecurityGroups[].GroupId] | index($m) and length == 2)' >/dev/null ||
    fail "$env: the six nodes do not each carry the members' group and their own"
}

# down_env: infra down -e $env; the emulator holds nothing, the pool's hosts
# run nothing but their sshd.
down_env() {
  run 0 "$infra" down "$topo" -e "$env" --yes
  envs_up=${envs_up/ $env/}
  local r kind free ns pid cmd
  r=$(emu_state | jq '.regions["us-east-1"]')
  for kind in vpcs subnets internet_gateways route_tables security_groups key_pairs load_balancers; do
    [ "$(echo "$r" | jq ".$kind | length")" -eq 0 ] || fail "$env: after down the emulator still holds $kind"
  done
  [ "$(echo "$r" | jq '[.instances[] | select(.State.Name != "terminated")] | length')" -eq 0 ] ||
    fail "$env: after down some instances are not terminated"
  [ "$(records | jq '[.[] | select(.Type != "NS" and .Type != "SOA")] | length')" -eq 0 ] ||
    fail "$env: after down records are left in the hosted zone"
  [ "$(jq '.resources | length' "$(state_doc)")" -eq 0 ] || fail "$env: after down the state still names resources"
  [ ! -e "$(secrets)" ] || fail "$env: the secrets file is left after down"
  for _ in $(seq 1 50); do
    free=$(emu_state | jq '.hosts.free | length')
    [ "$free" -eq $nodes ] && break
    sleep 0.2
  done
  [ "$free" -eq $nodes ] || fail "$env: after down only $free of the pool's hosts are free"
  for ns in $(ip netns list | awk -v p="$pool_prefix-" 'index($1, p) == 1 {print $1}'); do
    for pid in $(ip netns pids "$ns"); do
      cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
      [[ $cmd == *sshd* ]] || fail "$env: process $pid ($cmd) left on pool host $ns after down"
    done
  done
}

# 1. prod: the cluster, the prod variant through the load balancer by name.
up_env prod
eventually app_healthy /prod/clickcount 2 ||
  fail "/prod/clickcount is not healthy: $(marathon /v2/apps/prod/clickcount | jq -c .app)"
marathon /v2/apps/prod/clickcount | jq -e '.app | .container.docker.image == "horgix/click-count:1.0" and
    (.constraints | any(. == ["env","CLUSTER","prod"])) and .upgradeStrategy.minimumHealthCapacity == 0.5 and
    .labels.HAPROXY_0_VHOST == "prod.example.org"' >/dev/null ||
  fail "/prod/clickcount is not the prod variant: $(marathon /v2/apps/prod/clickcount | jq -c '.app | [.container, .constraints, .upgradeStrategy, .labels]')"
eventually app_answers prod "clickcount horgix/click-count:1.0" ||
  fail "prod.example.org does not answer with the prod variant through the load balancer"

# 2. A second up changes nothing.
run 0 "$infra" up "$topo" -e prod
out_has "No changes."
down_env

# 3. staging on the same hosts: the staging variant for the staging name.
up_env staging
eventually app_healthy /staging/clickcount 1 ||
  fail "/staging/clickcount is not healthy: $(marathon /v2/apps/staging/clickcount | jq -c .app)"
marathon /v2/apps/staging/clickcount | jq -e '.app | .container.docker.image == "horgix/click-count:1.1-rc1" and
    (.constraints | any(. == ["env","CLUSTER","staging"])) and .upgradeStrategy.minimumHealthCapacity == 0' >/dev/null ||
  fail "/staging/clickcount is not the staging variant"
eventually app_answers staging "clickcount horgix/click-count:1.1-rc1" ||
  fail "staging.example.org does not answer with the staging variant through the load balancer"
down_env
echo "clickcount-mesos: ZooKeeper, Mesos and Marathon led on AWS nodes, prod and staging through haproxy by their Route 53 names, least-privilege groups, idempotent up, nothing left"
