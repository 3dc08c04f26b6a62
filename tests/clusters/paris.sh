#!/usr/bin/env bash
# examples/paris.yaml end to end, through the infra binary: one Nomad
# cluster on three clouds. Region europe: datacenter europe-west1 on the
# gcp provider against the GCE emulator (3 servers, 1 client) and
# datacenter gra7 on the openstack provider against the real OpenStack
# services of the test world (1 client); region us: datacenter us-east-1
# on the aws provider against the AWS emulator (3 servers, 1 client, behind
# an ELB). Each cloud's instances are real SSH hosts of a host pool of its
# own (the emulators' --hosts, the world's pool registration), running the
# stand-in nomad and consul agents. The regions are federated.
#
# The three pools are three bridges of this machine, which does not
# forward between them. For the time of the test it routes between those
# subnets: net.ipv4.ip_forward is set (its value saved) after a table of
# the test's own, inet infra_paris_test, whose forward chain drops
# everything but
#   - traffic from one test subnet to another, and
#   - traffic that comes in on a bridge and goes out on a bridge: with
#     br_netfilter (net.bridge.bridge-nf-call-iptables=1) frames switched
#     inside one bridge cross the forward hook too, with that bridge as
#     both ends, also on the private networks of other tests, whose
#     unreachable routes no route lookup can match. Dropping them would
#     cut every bridge of the machine. Nothing is routed out of the
#     machine: its own interfaces are no bridges.
# The table is deleted and ip_forward restored at the end, on failure and
# on INT/TERM as well.
#
# up -> both regions have a leader, /v1/regions lists both, Consul lists
# both datacenters, the app runs in europe-west1 only and answers there,
# the us app answers and its client is InService behind the ELB; up again
# -> "No changes."; the app's datacenters and count widened in the
# topology, up -> one allocation in each europe datacenter, each answers;
# up again -> "No changes.", plan exits 0; down --yes -> nothing left in
# either emulator nor in the OpenStack world, no agent on any host, no
# secrets file.
#   usage: paris.sh INFRA_BINARY BUILD_DIR WORLD_DIR   (exit 77 = skipped)
set -euo pipefail
infra=$(realpath "$1")
build=$(realpath "$2")
world=$(realpath -m "$3")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d /tmp/infra-paris.XXXXXX)
chmod 755 "$work"
export INFRA_PLUGIN_PATH=$build/plugins NO_COLOR=1 PYTHONDONTWRITEBYTECODE=1
# Nothing of the user's own cloud setups may leak in.
export HOME=$work/home
mkdir -p "$HOME"
for v in $(env | awk -F= '/^(OS_|AWS_|GOOGLE_|CLOUDSDK_|GCE_)/ {print $1}'); do unset "$v"; done
# shellcheck source=SCRIPTDIR/../lib.sh
source "$root/tests/lib.sh"

gcp_pid=
aws_pid=
forward_saved=
forward_before=
forward_conf=
standins=
child=
nft_table=infra_paris_test
declare -A pool_dir
suffix=p$$

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

# pool_destroy CLOUD: that cloud's host pool (and the world's registration).
pool_destroy() {
  local dir=${pool_dir[$1]:-}
  [ -n "$dir" ] && [ -f "$dir/pool.yaml" ] || return 0
  [ "$1" != ovh ] || rm -f "$world/pools/$suffix.json"
  INFRA=$infra "$root/tests/harness/hostpool.sh" destroy "$dir" >"$work/pool-destroy.log" 2>&1 ||
    { cat "$work/pool-destroy.log" >&2; return 1; }
}

cleanup() {
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
  if [ $rc -ne 0 ] && [ -f "${topo:-}" ] && [ -n "$gcp_pid" ] && [ -n "$aws_pid" ]; then
    "$infra" down "$topo" --yes </dev/null >"$work/down-cleanup.log" 2>&1 ||
      { echo "--- down after the failure:" >&2; tail -n 20 "$work/down-cleanup.log" >&2; }
  fi
  for p in $gcp_pid $aws_pid; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  local cloud
  for cloud in gcp ovh aws; do pool_destroy "$cloud" || [ $rc -ne 0 ] || rc=1; done
  [ -z "$standins" ] || rm -rf "$(dirname "$standins")"
  if [ $rc -ne 0 ]; then
    for f in gcp-emulator.log aws-emulator.log; do
      [ -f "$work/$f" ] && { echo "--- $f (last 30 lines)" >&2; tail -n 30 "$work/$f" >&2; }
    done
  fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

[ "$(id -u)" -eq 0 ] || skip "the host pools and forwarding need root"
export PATH=$PATH:/usr/sbin:/sbin
for tool in ip nft sshd ssh ssh-keygen ssh-keyscan busybox jq curl openssl; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/deps.sh installs it)"
done
/usr/bin/python3 -c 'import botocore, googleapiclient, jwt' 2>/dev/null ||
  skip "python3-botocore / python3-googleapi / python3-jwt are not installed"
[ -f "$world/seed.env" ] || skip "no OpenStack world in $world (the openstack_world fixture starts it, as root)"

# run STATUS COMMAND...: lib.sh's run, COMMAND in the background so that
# INT and TERM reach the traps at once (the cleanup then stops it).
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

# The stand-in agents, where the pools' hosts see them.
standins=$("$root/tests/standins/stage.sh")
export INFRA_NOMAD_BINARY=$standins/nomad INFRA_CONSUL_BINARY=$standins/consul

# One host pool per cloud: gcp 3 servers + 1 client, ovh 1 client, aws 3
# servers + 1 client.
declare -A pool_cidr pool_prefix
for spec in gcp:4 ovh:1 aws:4; do
  cloud=${spec%:*}
  pool_dir[$cloud]=$work/pool-$cloud
  INFRA=$infra "$root/tests/harness/hostpool.sh" create "${spec#*:}" "${pool_dir[$cloud]}" >/dev/null ||
    fail "hostpool.sh create for $cloud failed"
  pool_cidr[$cloud]=$(awk '$1 == "cidr:" {print $2}' "${pool_dir[$cloud]}/pool.yaml")
  pool_prefix[$cloud]=$(awk '$1 == "prefix:" {print $2}' "${pool_dir[$cloud]}/pool.yaml")
  [[ ${pool_cidr[$cloud]} =~ ^10\.213\.[0-9]+\.0/24$ ]] || fail "unexpected host pool range '${pool_cidr[$cloud]}'"
done
subnets="${pool_cidr[gcp]}, ${pool_cidr[ovh]}, ${pool_cidr[aws]}"

# Forwarding between exactly the three subnets: the table first (in one
# transaction, replacing a table a killed run left), then ip_forward.
nft -f - <<NFT || fail "could not add the nftables table $nft_table"
table inet $nft_table
delete table inet $nft_table
table inet $nft_table {
  chain forward {
    type filter hook forward priority filter; policy drop;
    ip saddr { $subnets } ip daddr { $subnets } accept comment "between the test subnets"
    meta iifkind "bridge" meta oifkind "bridge" accept comment "inside or between the machine's bridges, where other tests' hosts switch their frames (br_netfilter)"
  }
}
NFT
forward_conf=$(grep -H . /proc/sys/net/ipv4/conf/*/forwarding)
forward_saved=$(cat /proc/sys/net/ipv4/ip_forward)
forward_before=$forward_saved
echo 1 >/proc/sys/net/ipv4/ip_forward

# The GCE emulator (tests/gcp/lib.sh has the same seed and key).
export CLOUDSDK_COMPUTE_REGION=europe-west1 NO_GCE_CHECK=true
gcp_email=infra@infra-test.iam.gserviceaccount.com
cat >"$work/gcp-seed.json" <<'JSON'
{"project": "infra-test", "project_number": "123456789012",
 "regions": {"europe-west1": ["europe-west1-b", "europe-west1-c", "europe-west1-d"]},
 "quotas": {"CPUS": 64.0},
 "images": [
  {"project": "debian-cloud", "name": "debian-12-bookworm-v20261101", "family": "debian-12",
   "creationTimestamp": "2026-11-01T10:00:00.000+00:00"}]}
JSON
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/sa.pem" 2>/dev/null
openssl pkey -in "$work/sa.pem" -pubout -out "$work/sa.pub" 2>/dev/null
# The AWS emulator (tests/aws/lib.sh has the same credentials).
export AWS_ACCESS_KEY_ID=AKIAINFRATEST0000001 AWS_SECRET_ACCESS_KEY=emulatorSecretKey0000000000000000000000
export AWS_REGION=us-east-1
cat >"$work/aws-seed.json" <<'JSON'
{"account_id": "123456789012",
 "availability_zones": {"us-east-1": ["us-east-1a", "us-east-1b"]},
 "images": [
  {"ImageId": "ami-0a1b2c3d4e5f60001", "Name": "nomad-host-2026-10-01",
   "CreationDate": "2026-10-01T10:00:00.000Z", "OwnerId": "123456789012",
   "Architecture": "x86_64", "State": "available", "Region": "us-east-1"},
  {"ImageId": "ami-0a1b2c3d4e5f60002", "Name": "nomad-host-2026-11-01",
   "CreationDate": "2026-11-01T10:00:00.000Z", "OwnerId": "123456789012",
   "Architecture": "x86_64", "State": "available", "Region": "us-east-1"}]}
JSON
/usr/bin/python3 "$root/tests/emulators/gcp/emulator.py" --listen 127.0.0.1:0 --port-file "$work/gcp.port" \
  --service-account "$gcp_email=$work/sa.pub" --seed "$work/gcp-seed.json" --log "$work/gcp-emulator.log" \
  --operation-seconds 0.2 --time-scale 0.1 --hosts "${pool_dir[gcp]}/hosts.json" >"$work/gcp.out" 2>&1 &
gcp_pid=$!
/usr/bin/python3 "$root/tests/emulators/aws/emulator.py" --listen 127.0.0.1:0 --port-file "$work/aws.port" \
  --credentials "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" --seed "$work/aws-seed.json" --log "$work/aws-emulator.log" \
  --pending-seconds 0.3 --time-scale 0.1 --hosts "${pool_dir[aws]}/hosts.json" >"$work/aws.out" 2>&1 &
aws_pid=$!
for _ in $(seq 1 200); do
  [ -s "$work/gcp.port" ] && [ -s "$work/aws.port" ] && break
  kill -0 "$gcp_pid" 2>/dev/null || { cat "$work/gcp.out" >&2; fail "the GCE emulator did not start"; }
  kill -0 "$aws_pid" 2>/dev/null || { cat "$work/aws.out" >&2; fail "the AWS emulator did not start"; }
  sleep 0.1
done
if [ ! -s "$work/gcp.port" ] || [ ! -s "$work/aws.port" ]; then fail "an emulator wrote no port"; fi
gcp_endpoint=http://127.0.0.1:$(tr -d '\n' <"$work/gcp.port")
AWS_ENDPOINT_URL=http://127.0.0.1:$(tr -d '\n' <"$work/aws.port")
export AWS_ENDPOINT_URL
jq -n --arg key "$(cat "$work/sa.pem")" --arg email "$gcp_email" --arg uri "$gcp_endpoint/token" \
  '{type: "service_account", project_id: "infra-test", private_key_id: "0123abcd",
    private_key: $key, client_email: $email, client_id: "1234567890",
    auth_uri: "https://accounts.google.com/o/oauth2/auth", token_uri: $uri}' >"$work/key.json"
chmod 600 "$work/key.json"
export GOOGLE_APPLICATION_CREDENTIALS=$work/key.json
export CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE=$gcp_endpoint/compute/v1/
export CLOUDSDK_API_ENDPOINT_OVERRIDES_DNS=$gcp_endpoint/dns/v1/

# The OpenStack world: its clouds.yaml, and the ovh pool registered, so
# that servers on a subnet of its range are its hosts.
"$root/tests/openstack/world.sh" env "$world" >/dev/null
export OS_CLIENT_CONFIG_FILE=$world/clouds.yaml OS_CLIENT_SECURE_FILE=$world/secure.yaml
export OSCTL_CACHE=$work/osctl.json
cp "${pool_dir[ovh]}/hosts.json" "$world/pools/$suffix.json.tmp"
mv "$world/pools/$suffix.json.tmp" "$world/pools/$suffix.json"
osctl() { /usr/bin/python3 "$root/tests/openstack/tools/osctl.py" "$world" "$@"; }
export INFRA_VAR_ovh_cidr=${pool_cidr[ovh]} INFRA_VAR_ovh_key_name=paris-$suffix

ssh-keygen -q -t ed25519 -N "" -C infra-paris-test -f "$work/id_ed25519"
export INFRA_SSH_PUBLIC_KEY=$work/id_ed25519.pub INFRA_SSH_PRIVATE_KEY=$work/id_ed25519
# The emulators install the key pair's key on their hosts as cloud-init
# does; nova's fake driver in the world does not (tests/openstack/README.md),
# so the key goes onto the ovh pool's host here, through its pool key and
# with its host key checked.
ovh_host=$(jq -c '.[0]' "${pool_dir[ovh]}/hosts.json")
ovh_ip=$(echo "$ovh_host" | jq -r .address)
ssh-keyscan -T 10 "$ovh_ip" 2>/dev/null >"$work/ovh_known_hosts"
ssh-keygen -l -f "$work/ovh_known_hosts" | grep -qF "$(echo "$ovh_host" | jq -r .ssh_host_key_fingerprint)" ||
  fail "the ovh pool host $ovh_ip does not present its host key"
ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$work/ovh_known_hosts" \
  -o ConnectTimeout=10 -i "$(echo "$ovh_host" | jq -r .ssh_private_key)" "root@$ovh_ip" \
  'cat >>/etc/ssh/host/authorized_keys' <"$work/id_ed25519.pub" || fail "could not authorize the run's key on $ovh_ip"
topo=$work/paris.yaml
mkdir -p "$work/jobs"
cp "$root/examples/paris.yaml" "$topo"
cp "$root/examples/jobs/web-static.json" "$work/jobs/web-static.json"
secrets=$work/.infra/paris.default.secrets.json

state_doc() { pull_state "$infra" "$topo"; }
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
# in_pool CLOUD IP: IP is a host of that cloud's pool.
in_pool() { jq -e --arg ip "$2" '.[] | select(.address == $ip)' "${pool_dir[$1]}/hosts.json" >/dev/null; }
# app_dcs: the datacenters of the running allocations of the europe app, sorted, comma-separated.
app_dcs() {
  local ip=${servers[europe]%% *}
  nomad "$ip" "/v1/nodes?region=europe" >"$work/nodes.json"
  nomad "$ip" "/v1/job/app/allocations?region=europe" |
    jq -r --slurpfile n "$work/nodes.json" '[.[] | select(.ClientStatus == "running") | .NodeID as $id
      | $n[0][] | select(.ID == $id) | .Datacenter] | sort | join(",")'
}
# answers IP REGION: the app on IP answers as the app of REGION.
answers() {
  local answer
  answer=$(curl -sf --max-time 5 "http://$1:8080/") || fail "the app does not answer on $1:8080"
  [[ $answer == "web "*" in $2 on "* ]] || fail "the app on $1 answers '$answer'"
}

# 1. up: step 1, 3 and 5 of the setup (both regions, federated) and the
# app of step 2 in europe-west1.
run 0 "$infra" up "$topo"
out_has "0 failed, 0 skipped."
[ "$(stat -c %a "$secrets")" = 600 ] || fail "the secrets file is not 0600"
api_files
! grep -qFf "$work/tokens" "$work/out" "$work/err" "$(state_doc)" "$work/.infra/paris.default.db" ||
  fail "a token reached the output or the state"
run 0 "$infra" output "$topo" --json
cp "$work/out" "$work/outputs.json"
declare -A servers
servers[europe]=$(jq -r '.europe_servers | join(" ")' "$work/outputs.json")
servers[us]=$(jq -r '.us_servers | join(" ")' "$work/outputs.json")
gcp_client=$(jq -r '.europe_west1_clients[0]' "$work/outputs.json")
ovh_client=$(jq -r '.gra7_clients[0]' "$work/outputs.json")
us_client=$(jq -r '.us_clients[0]' "$work/outputs.json")
for ip in ${servers[europe]} $gcp_client; do in_pool gcp "$ip" || fail "europe-west1 node $ip is not a GCE host"; done
in_pool ovh "$ovh_client" || fail "gra7 client $ovh_client is not a host of the OpenStack pool"
for ip in ${servers[us]} $us_client; do in_pool aws "$ip" || fail "us node $ip is not an AWS host"; done

# Each cloud holds its part: 4 GCE instances labelled with their
# datacenter, 1 ACTIVE server of the newest nomad-host image on the OVH
# subnet, 4 running EC2 instances of the newest x86_64 nomad-host image.
inst=$(curl -sf "$gcp_endpoint/_emulator/state" | jq '[.projects["infra-test"].instances[][]]')
[ "$(echo "$inst" | jq '[.[] | select(.labels.cluster == "main" and .labels.region == "europe" and .labels.datacenter == "europe-west1")] | length')" -eq 4 ] ||
  fail "the GCE instances are not the 4 nodes of europe-west1"
image=$(osctl get image '/images?name=nomad-host-2026-11-02' | jq -r '.images[0].id')
os_servers=$(osctl get compute "/servers/detail?tags=$(jq -rn '"infra:topology=paris" | @uri')" | jq .servers)
echo "$os_servers" | jq -e --arg i "$image" 'length == 1 and .[0].status == "ACTIVE" and .[0].image.id == $i' >/dev/null ||
  fail "expected one ACTIVE OpenStack server of $image: $(echo "$os_servers" | jq -c 'map([.status, .image.id])')"
running=$(python3 "$root/tests/aws/awsctl.py" call ec2 DescribeInstances \
  '{"Filters": [{"Name": "instance-state-name", "Values": ["running"]}]}' | jq '[.Reservations[].Instances[]]')
echo "$running" | jq -e 'length == 4 and all(.ImageId == "ami-0a1b2c3d4e5f60002" and .KeyName == "paris-deploy")' >/dev/null ||
  fail "the us instances are not 4 of the newest nomad-host image with the key pair"

# Both regions have a leader every server agrees on, and know each other
# (the join the setup made by hand).
for region in europe us; do
  leaders=()
  for ip in ${servers[$region]}; do
    leaders+=("$(nomad "$ip" /v1/status/leader | jq -r . || true)")
  done
  if [ ${#leaders[@]} -ne 3 ] || [ -z "${leaders[0]}" ] || [ "$(printf '%s\n' "${leaders[@]}" | sort -u | wc -l)" -ne 1 ]; then
    fail "region $region: the servers do not agree on a leader: ${leaders[*]}"
  fi
  ip=${servers[$region]%% *}
  nomad "$ip" /v1/regions | jq -e 'sort == ["europe", "us"]' >/dev/null ||
    fail "region $region: /v1/regions does not list europe and us"
  consul "$ip" /v1/catalog/datacenters | jq -e 'sort == ["europe", "us"]' >/dev/null ||
    fail "region $region: Consul does not list both datacenters"
done
# Region europe's clients: one ready in each datacenter.
nomad "${servers[europe]%% *}" "/v1/nodes?region=europe" |
  jq -e '[.[] | select(.Status == "ready") | .Datacenter] | sort == ["europe-west1", "gra7"]' >/dev/null ||
  fail "region europe does not have one ready client in europe-west1 and one in gra7"

# The apps run (asked through the other region's servers too: requests are
# forwarded across the federation) and answer.
for region in europe us; do
  for ip in ${servers[europe]%% *} ${servers[us]%% *}; do
    nomad "$ip" "/v1/job/app?region=$region" | jq -e --arg r "$region" '.Status == "running" and .Region == $r' >/dev/null ||
      fail "job app is not running in $region (asked $ip)"
  done
done
[ "$(app_dcs)" = europe-west1 ] || fail "the europe app runs in '$(app_dcs)', expected europe-west1 only"
answers "$gcp_client" europe
! curl -sf --max-time 5 "http://$ovh_client:8080/" >/dev/null || fail "the app answers in gra7 before it is placed there"
answers "$us_client" us

# The ELB sees the us client InService (its health check is the app).
lb=$(attr load_balancer.app id)
client_id=$(attr 'cluster.main.us.us-east-1.client[0]' id)
ok=
for _ in $(seq 1 100); do
  health=$(python3 "$root/tests/aws/awsctl.py" call elb DescribeInstanceHealth "{\"LoadBalancerName\": \"$lb\"}" || echo '{}')
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

# 3. Step 4 of the setup: the operator widens the app to both europe
# datacenters, and runs up again.
sed -i -e 's/default: \[europe-west1\]/default: [europe-west1, gra7]/' \
  -e 's/app_count: { default: 1,/app_count: { default: 2,/' "$topo"
if ! grep -qF 'default: [europe-west1, gra7]' "$topo" || ! grep -qF 'app_count: { default: 2,' "$topo"; then
  fail "examples/paris.yaml no longer has the app_datacenters and app_count lines this test edits"
fi
# plan exits 2: changes to make, the job's and nothing else.
run 2 "$infra" plan "$topo"
out_has "Plan: 0 to create, 1 to update, 0 to replace, 0 to delete."
out_has "~ job.app  (update in place: set)"
out_lacks "cluster.main"
run 0 "$infra" up "$topo"
out_has "0 failed, 0 skipped."
[ "$(app_dcs)" = europe-west1,gra7 ] || fail "the europe app runs in '$(app_dcs)', expected europe-west1 and gra7"
answers "$gcp_client" europe
answers "$ovh_client" europe
run 0 "$infra" up "$topo"
out_has "No changes."
run 0 "$infra" plan "$topo"

# 4. down: nothing left in any cloud.
run 0 "$infra" down "$topo" --yes
left=$(curl -sf "$gcp_endpoint/_emulator/state" |
  jq -r '[.projects["infra-test"] // {} | to_entries[] | select(.key != "operations" and .key != "images")
    | .key as $c | .value | .[][] | "\($c) \(.name)"] | join(" ")')
[ -z "$left" ] || fail "after down the GCE emulator still holds: $left"
r=$(curl -sf "$AWS_ENDPOINT_URL/_emulator/state" | jq '.regions["us-east-1"]')
for kind in vpcs subnets internet_gateways route_tables security_groups key_pairs load_balancers; do
  [ "$(echo "$r" | jq ".$kind | length")" -eq 0 ] || fail "after down the AWS emulator still holds $kind"
done
[ "$(echo "$r" | jq '[.instances[] | select(.State.Name != "terminated")] | length')" -eq 0 ] ||
  fail "after down some EC2 instances are not terminated"
tags=$(jq -rn '["infra:topology=paris", "infra:environment=default"] | map(@uri) | join(",")')
for kind in "networks network /networks" "subnets network /subnets" "routers network /routers" \
  "security_groups network /security-groups" "ports network /ports" "servers compute /servers"; do
  read -r key service path <<<"$kind"
  [ "$(osctl get "$service" "$path?tags=$tags" | jq ".$key | length")" -eq 0 ] ||
    fail "after down, OpenStack $key of this run are left"
done
! osctl get compute "/os-keypairs/paris-$suffix" >/dev/null 2>&1 || fail "after down the Nova key pair is left"
[ "$(jq '.resources | length' "$(state_doc)")" -eq 0 ] || fail "after down the state still names resources"
[ ! -e "$secrets" ] || fail "secrets file left after down"
# On every pool's hosts the agents and the apps are gone: only sshd is left.
for cloud in gcp ovh aws; do
  for ns in $(ip netns list | awk -v p="${pool_prefix[$cloud]}-" 'index($1, p) == 1 {print $1}'); do
    for pid in $(ip netns pids "$ns"); do
      cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
      [[ $cmd == *sshd* ]] || fail "process $pid ($cmd) left on $cloud host $ns after down"
    done
  done
done
for cloud in gcp ovh aws; do
  pool_destroy "$cloud" || fail "hostpool.sh destroy of the $cloud pool failed"
  [ -z "$(ip netns list | awk -v p="${pool_prefix[$cloud]}-" 'index($1, p) == 1')" ] || fail "$cloud pool namespaces left"
  pool_dir[$cloud]=
done
connectivity_down
[ "$(cat /proc/sys/net/ipv4/ip_forward)" = "$forward_before" ] || fail "net.ipv4.ip_forward was not restored"
while IFS=: read -r f v; do
  [ ! -e "$f" ] || [ "$(cat "$f")" = "$v" ] || fail "$f was not restored"
done <<<"$forward_conf"
! nft list table inet "$nft_table" >/dev/null 2>&1 || fail "the nftables table $nft_table is left"
echo "paris: europe on gcp + openstack, us on aws, federated; the app in one datacenter then two; idempotent; nothing left"
