#!/usr/bin/env bash
# The OpenStack test world: real OpenStack services from Debian's packages,
# run as plain processes on loopback, everything they write in one private
# directory. See README.md beside this script.
#
#   world.sh install        the Debian packages (tests/openstack/deps.sh)
#   world.sh start DIR      configure, create the databases, start, seed; DIR
#                           must be absent or a world that was stopped (exit
#                           77 when not root: a test skip)
#   world.sh env DIR [WHAT] writes DIR/clouds.yaml, DIR/secure.yaml, DIR/openrc
#                           and prints WHAT: openrc (the OS_* variables; the
#                           default), clouds or secure
#   world.sh status DIR     each process, running or not; exit 1 if one is not
#   world.sh stop DIR       stops every process the world started, removes DIR
#
# Environment for start: OSWORLD_TOKEN_CACHE_TIME (seconds a service
# trusts a token it validated, keystonemiddleware's token_cache_time;
# default 300: a revoked token is refused that long after), OSWORLD_TOKEN_EXPIRATION (keystone [token]
# expiration, seconds; default 3600), OSWORLD_DESIGNATE=0 / OSWORLD_OCTAVIA=0
# (leave those services out), OSWORLD_START_TIMEOUT (seconds each readiness
# wait may take; default 180), OSWORLD_CACHE (where schema templates are kept,
# default /var/cache/infra-osworld; "none": run every migration each start).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
site=$here/site
tools=$here/tools
# shellcheck source=lib/services.sh
. "$here/lib/services.sh"
# shellcheck source=lib/config.sh
. "$here/lib/config.sh"

usage() {
  echo "usage: world.sh install | start DIR | env DIR [openrc|clouds|secure] | status DIR | stop DIR" >&2
  exit 2
}
die() { echo "world.sh: $*" >&2; exit 1; }
note() { printf '[%s] %s\n' "$(date +%T)" "$*"; }

abs_dir() { mkdir -p "$1" && (cd "$1" && pwd); }

world_start() {
  local dir
  if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: world.sh start needs root (the services run as root in DIR)"
    exit 77
  fi
  dir=$(abs_dir "$1")
  if [ -f "$dir/world.env" ] && world_any_running "$dir"; then
    die "$dir: a world is running there; stop it first"
  fi
  # A start that failed half way left processes or files; begin from nothing.
  world_kill_all "$dir"
  find "$dir" -mindepth 1 -delete
  chmod 700 "$dir"
  mkdir -p "$dir"/{etc,log,run,state,pools}
  export OSWORLD_DIR=$dir
  local started=$SECONDS
  config_world_env "$dir"
  # shellcheck disable=SC1091
  . "$dir/world.env"
  config_write_all "$dir"
  # A start that fails stops what it started; DIR stays, with the logs.
  trap 'world_kill_all "$dir"; echo "world.sh: start failed; logs in $dir/log" >&2' EXIT

  local template
  template=$(svc_schema_template)
  note "databases and messaging"
  if [ -n "$template" ] && [ -d "$template" ]; then
    svc_mariadb_start "$dir" "$template"
    note "schemas from $template"
  else
    svc_mariadb_start "$dir"
  fi
  svc_rabbitmq_start "$dir"
  /usr/bin/python3 "$tools/world.py" databases "$dir"
  if [ -z "$template" ] || [ ! -d "$template" ]; then
    note "schemas"
    svc_db_sync_all "$dir"
    svc_schema_save "$dir" "$template"
  fi

  note "services"
  svc_start_keystone "$dir"
  # Services that find no broker retry with growing pauses: wait for it.
  /usr/bin/python3 "$tools/world.py" wait-tcp "$RABBIT_PORT" "$START_TIMEOUT" "$dir"
  svc_start_services "$dir"
  svc_keystone_ready "$dir"
  # The services authenticate with the users this creates.
  /usr/bin/python3 "$tools/world.py" seed-identity "$dir" >>"$dir/log/seed.log" 2>&1 ||
    { cat "$dir/log/seed.log" >&2; die "seed failed (log: $dir/log/seed.log)"; }
  note "keystone ready"
  svc_start_nova_workers "$dir"
  svc_wait_apis "$dir"

  note "seed"
  /usr/bin/python3 "$tools/world.py" seed "$dir" >>"$dir/log/seed.log" 2>&1 ||
    { cat "$dir/log/seed.log" >&2; die "seed failed (log: $dir/log/seed.log)"; }
  /usr/bin/python3 "$tools/world.py" wait-compute "$dir" "$START_TIMEOUT"
  /usr/bin/python3 "$tools/world.py" env "$dir" >/dev/null
  trap - EXIT
  note "$(/usr/bin/python3 "$tools/world.py" memory "$dir")"
  note "world ready in $((SECONDS - started)) s: $dir (world.sh env $dir)"
}

world_env_cmd() {
  local dir
  dir=$(cd "$1" && pwd) || die "$1: no such directory"
  [ -f "$dir/seed.env" ] || die "$dir: no started world there"
  /usr/bin/python3 "$tools/world.py" env "$dir" "${2:-openrc}"
}

world_status() {
  local dir rc=0 name pid
  dir=$(cd "$1" && pwd) || die "$1: no such directory"
  [ -d "$dir/run" ] || die "$dir: no world there"
  for pidfile in "$dir"/run/*.pid; do
    [ -e "$pidfile" ] || continue
    name=$(basename "$pidfile" .pid)
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      printf '%-22s running (pid %s)\n' "$name" "$pid"
    else
      printf '%-22s NOT RUNNING (log: %s)\n' "$name" "$dir/log/$name.log"
      rc=1
    fi
  done
  /usr/bin/python3 "$tools/world.py" memory "$dir"
  return $rc
}

world_stop() {
  local dir
  dir=$(cd "$1" 2>/dev/null && pwd) || { echo "world.sh: $1: nothing to stop"; return 0; }
  [ -d "$dir/run" ] || [ -f "$dir/world.env" ] || die "$dir holds no world (no run/ or world.env)"
  world_kill_all "$dir"
  rm -rf "$dir"
}

main() {
  case "${1:-}" in
    install) [ $# -eq 1 ] || usage; exec "$here/deps.sh" ;;
    start) [ $# -eq 2 ] || usage; world_start "$2" ;;
    env) [ $# -eq 2 ] || [ $# -eq 3 ] || usage; world_env_cmd "$2" "${3:-}" ;;
    status) [ $# -eq 2 ] || usage; world_status "$2" ;;
    stop) [ $# -eq 2 ] || usage; world_stop "$2" ;;
    *) usage ;;
  esac
}

# One line, parsed whole before it runs: editing this file while a start
# runs cannot change what that start does next.
main "$@"; exit $?
