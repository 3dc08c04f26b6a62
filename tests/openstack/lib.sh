# shellcheck shell=bash
# Shared by the openstack plugin's scenarios (sourced). Arguments of a
# scenario: $1 = the infra binary, $2 = the build directory, $3 = the world
# directory (the openstack_world fixture's). Gives: $infra, $world, $work
# (a temp dir removed on exit), $here, $root, clouds.yaml and secure.yaml of
# the world found through OS_CLIENT_CONFIG_FILE / OS_CLIENT_SECURE_FILE,
# osctl (API calls, tools/osctl.py), proxy_start (tools/osproxy.py),
# state_doc, and a cleanup that downs what a failed run left.
set -euo pipefail
infra=$1
build=$2
world=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d /tmp/infra-os.XXXXXX)
proxy_pid=
pool_dir=
cleanup_topologies=()
export INFRA_PLUGIN_PATH=$build/plugins
export NO_COLOR=1
export PYTHONDONTWRITEBYTECODE=1
# Nothing of the user's own OpenStack setup may leak in.
export HOME=$work/home
mkdir -p "$HOME"
for v in $(env | awk -F= '/^OS_/ {print $1}'); do unset "$v"; done
export OSCTL_CACHE=$work/osctl.json

# shellcheck source=SCRIPTDIR/../lib.sh
source "$root/tests/lib.sh"

[ -f "$world/seed.env" ] || skip "no OpenStack world in $world (the openstack_world fixture starts it, as root)"
command -v jq >/dev/null || skip "jq is not installed"
"$here/world.sh" env "$world" >/dev/null
export OS_CLIENT_CONFIG_FILE=$world/clouds.yaml OS_CLIENT_SECURE_FILE=$world/secure.yaml
# One suffix for every name this run makes: runs may share the world.
suffix=t$$

# Where each of the world's service logs stood when this run began: a
# failed run shows what the services logged as errors since then.
world_logs=(nova-api nova-compute nova-conductor glance-api neutron-server keystone)
declare -A world_log_start=()
for l in "${world_logs[@]}"; do
  world_log_start[$l]=$(wc -l <"$world/log/$l.log" 2>/dev/null || echo 0)
done
world_log_errors() {
  local l
  for l in "${world_logs[@]}"; do
    [ -f "$world/log/$l.log" ] || continue
    tail -n +"$((world_log_start[$l] + 1))" "$world/log/$l.log" |
      grep -E ' (ERROR|CRITICAL) |Traceback|Error: ' | cut -c1-400 | tail -n 15 >"$work/$l.errors" || true
    if [ -s "$work/$l.errors" ]; then
      echo "--- $l.log: errors while this run ran (the run shares the world with others)" >&2
      cat "$work/$l.errors" >&2
    fi
  done
}

cleanup() {
  local rc=$?
  local t
  [ $rc -eq 0 ] || world_log_errors
  for t in "${cleanup_topologies[@]}"; do
    if [ -f "$t" ] && [ $rc -ne 0 ]; then
      # What a failed run left in the shared world goes.
      "$infra" down "$t" --yes "${down_args[@]}" >"$work/cleanup.log" 2>&1 ||
        { echo "--- down of $t after the failure:" >&2; tail -n 20 "$work/cleanup.log" >&2; }
    fi
  done
  if [ -n "$proxy_pid" ]; then kill "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true; fi
  if [ -n "$pool_dir" ] && [ -f "$pool_dir/pool.yaml" ]; then
    rm -f "$world/pools/$suffix.json"
    INFRA=$infra "$root/tests/harness/hostpool.sh" destroy "$pool_dir" >"$work/pool-destroy.log" 2>&1 || {
      echo "--- hostpool.sh destroy failed:" >&2
      cat "$work/pool-destroy.log" >&2
      [ $rc -ne 0 ] || rc=1
    }
  fi
  if [ $rc -ne 0 ] && [ -f "$work/proxy.log" ]; then
    echo "--- proxy log (last 20 requests)" >&2
    tail -n 20 "$work/proxy.log" >&2
  fi
  rm -rf "$work"
  exit $rc
}
down_args=()
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# osctl ARGS...: API calls as the world's user (tools/osctl.py).
osctl() { /usr/bin/python3 "$here/tools/osctl.py" "$world" "$@"; }

# tagged KIND SERVICE PATH TOPOLOGY ENV: the objects of PATH (a list call)
# tagged with that topology and environment, as a JSON array.
tagged() {
  local key=$1 service=$2 path=$3 topo=$4 env=$5
  local tags
  tags=$(jq -rn --arg t "infra:topology=$topo" --arg e "infra:environment=$env" \
    '[$t, $e] | map(@uri) | join(",")')
  osctl get "$service" "$path?tags=$tags" | jq ".$key"
}

# state_doc TOPOLOGY [-e ENV]: the state document of TOPOLOGY, written to
# $work/state.pulled.json; prints that path. Through `infra state pull`
# where this infra has it (tests/lib.sh pull_state), else the state file.
state_doc() {
  if declare -F pull_state >/dev/null; then
    pull_state "$infra" "$@"
    return
  fi
  local topo=$1 env=default
  [ "${2:-}" = "-e" ] && env=$3
  local name
  name=$(awk '/^name:/ {print $2; exit}' "$topo")
  cp "$(dirname "$topo")/.infra/$name.$env.json" "$work/state.pulled.json" ||
    fail "no state for $name ($env)"
  echo "$work/state.pulled.json"
}

# proxy_start: tools/osproxy.py on a free port; sets $proxy and
# $proxy_endpoints (the provider setting that routes every service through it).
proxy_start() {
  rm -f "$work/proxy.port"
  /usr/bin/python3 "$here/tools/osproxy.py" "$world" "$work/proxy.port" "$work/proxy.log" \
    >"$work/proxy.out" 2>&1 &
  proxy_pid=$!
  local i
  for i in $(seq 1 200); do
    [ -s "$work/proxy.port" ] && break
    kill -0 "$proxy_pid" 2>/dev/null || { cat "$work/proxy.out" >&2; fail "the proxy did not start"; }
    sleep 0.1
  done
  [ -s "$work/proxy.port" ] || fail "the proxy wrote no port"
  proxy=http://127.0.0.1:$(cat "$work/proxy.port")
  proxy_endpoints="{ compute: \"$proxy/compute/v2.1\", network: \"$proxy/network\", image: \"$proxy/image\", dns: \"$proxy/dns\", load_balancer: \"$proxy/load-balancer\" }"
}

# proxy_arm JSON / proxy_state: the proxy's control.
proxy_arm() { curl -sf -X POST -d "$1" "$proxy/_proxy/arm" >/dev/null; }
proxy_state() { curl -sf "$proxy/_proxy/state"; }

# pool_create N: N SSH-reachable namespace hosts (root), registered with the
# world so that servers on a subnet of $pool_cidr are those hosts.
pool_create() {
  [ "$(id -u)" -eq 0 ] || skip "the host pool needs root"
  export PATH=$PATH:/usr/sbin:/sbin
  pool_dir=$work/pool
  INFRA=$infra "$root/tests/harness/hostpool.sh" create "$1" "$pool_dir" >/dev/null ||
    fail "hostpool.sh create $1 failed"
  pool_cidr=$(awk '/cidr:/ {print $2; exit}' "$pool_dir/pool.yaml")
  cp "$pool_dir/hosts.json" "$world/pools/$suffix.json.tmp"
  mv "$world/pools/$suffix.json.tmp" "$world/pools/$suffix.json"
}
