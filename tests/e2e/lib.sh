# Shared by the e2e scenarios (sourced). Arguments of the scenario:
#   $1 = the infra binary, $2 = the build directory (unused by most).
# Gives: $infra, $work (a temp dir removed on exit), $topo (the topology
# path), INFRA_TEST_DIR (the test provider's objects), and helpers.
set -euo pipefail
infra=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export INFRA_PLUGIN_PATH=
export NO_COLOR=1
export INFRA_TEST_DIR=$work/objects
topo=$work/e2e.yaml
# state_doc [-e ENV]: the state document, pulled (see pull_state); prints its path.
state_doc() { pull_state "$infra" "$topo" "$@"; }

# shellcheck source=SCRIPTDIR/../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"

# objects [TYPE]: how many objects the test provider holds.
objects() {
  local dir=$INFRA_TEST_DIR/${1:-*}
  find $dir -maxdepth 1 -name '*.json' 2>/dev/null | grep -v '/catalog/' | wc -l
}

# object_file ADDRESS: the provider's file for the object made for ADDRESS.
object_file() {
  grep -lF "\"address\":\"$1\"" "$INFRA_TEST_DIR"/*/*.json 2>/dev/null | head -n 1 ||
    grep -lF "\"address\": \"$1\"" "$INFRA_TEST_DIR"/*/*.json 2>/dev/null | head -n 1
}

# topology [WEB_COUNT] [SIZE] [IMAGE] [FAIL_ADDRESS] [EXTRA_YAML]: writes $topo.
# network -> firewall -> instance.web[*] -> load_balancer -> dns_record.
topology() {
  local count=${1:-3} size=${2:-small} image=${3:-img-1} failing=${4:-} extra=${5:-}
  local fail_list=""
  [ -n "$failing" ] && fail_list="\"$failing\""
  cat >"$topo" <<YAML
name: e2e
providers:
  test:
    dir: "\${env.INFRA_TEST_DIR}"
    fail: [$fail_list]
networks:
  main: { cidr: 10.20.0.0/24, name: e2e }
firewalls:
  web: { network: "\${network.main.id}", allow: [22, 80] }
instances:
  web:
    count: $count
    size: $size
    image: $image
    network: "\${network.main.id}"
    depends_on: [firewall.web]
load_balancers:
  web:
    targets: "\${instance.web[*].private_ip}"
    listen: [80]
dns_records:
  www: { zone: e2e.test, name: www, target: "\${load_balancer.web.dns_name}" }
outputs:
  lb_dns: "\${load_balancer.web.dns_name}"
  web_ips: "\${instance.web[*].private_ip}"
$extra
YAML
}
