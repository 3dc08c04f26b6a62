# shellcheck shell=bash
# The world's processes (sourced by world.sh): starting each service in its
# own session with its output in DIR/log, finding and stopping them again,
# schema setup and readiness waits. Needs $site, $tools, die and note.

# Every process of a world carries OSWORLD_PROCESS_OF=DIR in its environment
# (children inherit it, daemons that detach too, such as epmd), so a stop
# finds them all without a broad name match.
svc_marker() { echo "OSWORLD_PROCESS_OF=$1"; }

# svc_spawn DIR NAME COMMAND...: COMMAND in a new session, output to
# DIR/log/NAME.log, its pid (= the session's process group) in DIR/run/NAME.pid.
svc_spawn() {
  local dir=$1 name=$2
  shift 2
  env "$(svc_marker "$dir")" PYTHONPATH="$site" PYTHONDONTWRITEBYTECODE=1 \
    setsid "$@" >"$dir/log/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/run/$name.pid"
  disown $!
}

# svc_py DIR NAME MODULE:FUNCTION ARGS...: an OpenStack console script run
# through its Python entry point (Debian's python3-* packages ship the code,
# the daemon packages the scripts, which the world does not install).
svc_py() {
  local dir=$1 name=$2 target=$3
  shift 3
  svc_spawn "$dir" "$name" /usr/bin/python3 -m infra_osworld.run "$target" "$name" "$@"
}

# svc_run DIR NAME MODULE:FUNCTION ARGS...: the same in the foreground, its
# output appended to DIR/log/setup-NAME.log; fails showing the log's end.
svc_run() {
  local dir=$1 name=$2 target=$3 log
  shift 3
  log=$dir/log/setup-$name.log
  # Each step's wall and CPU seconds go to DIR/log/setup-times.log.
  if ! env "$(svc_marker "$dir")" PYTHONPATH="$site" PYTHONDONTWRITEBYTECODE=1 \
    /usr/bin/time -a -o "$dir/log/setup-times.log" -f "%e s wall %U s user %S s sys: $name $*" \
    /usr/bin/python3 -m infra_osworld.run "$target" "$name" "$@" >>"$log" 2>&1 </dev/null; then
    tail -n 30 "$log" >&2
    echo "world.sh: $name $* failed (log: $log)" >&2
    return 1
  fi
}

# world_pids DIR: the pids of every running process of the world in DIR.
world_pids() {
  local marker
  marker=$(svc_marker "$1")
  grep -lzxF -- "$marker" /proc/[0-9]*/environ 2>/dev/null |
    sed -e 's|^/proc/||' -e 's|/environ$||' | grep -vx -e "$$" -e "${BASHPID:-$$}" || true
}

world_any_running() { [ -n "$(world_pids "$1")" ]; }

# world_kill_all DIR: TERM to every session the world started, then to any
# process left with its marker; KILL what is still there after 10 s (the
# world's data is thrown away, and some services, such as octavia's health
# manager, do not end on TERM at all).
world_kill_all() {
  local dir=$1 pidfile pid pids deadline
  for pidfile in "$dir"/run/*.pid; do
    [ -e "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  pids=$(world_pids "$dir")
  [ -z "$pids" ] || kill -TERM $pids 2>/dev/null || true
  deadline=$((SECONDS + 10))
  while pids=$(world_pids "$dir") && [ -n "$pids" ]; do
    if [ $SECONDS -ge $deadline ]; then
      kill -KILL $pids 2>/dev/null || true
    fi
    sleep 0.2
  done
}

# -- MariaDB and RabbitMQ -----------------------------------------------------

# svc_mariadb_start DIR [TEMPLATE]: MariaDB with its data in DIR/state/mysql,
# a copy of the data directory TEMPLATE if given, else a new one.
svc_mariadb_start() {
  local dir=$1 template=${2:-} data=$1/state/mysql
  [ ${#DB_SOCKET} -lt 100 ] || die "$DB_SOCKET: too long for a unix socket; use a shorter DIR"
  if [ -n "$template" ]; then
    cp -a "$template" "$data" || die "could not copy the schema template $template"
  elif [ ! -d "$data" ]; then
    mkdir -p "$data"
    mariadb-install-db --no-defaults --datadir="$data" --user=root --skip-test-db \
      --auth-root-authentication-method=socket >"$dir/log/setup-mariadb.log" 2>&1 ||
      { tail -n 20 "$dir/log/setup-mariadb.log" >&2; die "mariadb-install-db failed"; }
  fi
  # No TCP at all: the services reach it through its socket in DIR. The data
  # is thrown away at stop, so durability settings are off for speed.
  svc_spawn "$dir" mariadb mariadbd --no-defaults --datadir="$data" --user=root \
    --socket="$DB_SOCKET" --pid-file="$data/mariadbd.pid" --skip-networking \
    --log-error="$dir/log/mariadb-error.log" --skip-log-bin --skip-name-resolve \
    --character-set-server=utf8mb4 --max-connections=500 \
    --innodb-buffer-pool-size=128M --innodb-log-file-size=16M \
    --innodb-flush-log-at-trx-commit=0 \
    --innodb-doublewrite=0 --innodb-flush-method=nosync --sync-binlog=0
}

svc_rabbitmq_start() {
  local dir=$1 state=$1/state/rabbitmq etc=$1/etc/rabbitmq
  mkdir -p "$state/mnesia" "$etc"
  cat >"$etc/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$RABBIT_PORT
loopback_users.guest = true
log.console = true
log.console.level = warning
log.file = false
EOF
  echo '[].' >"$etc/enabled_plugins"
  : >"$etc/rabbitmq-env.conf"
  # The distribution port and epmd are private to this world and bound to
  # loopback (Erlang would otherwise listen on every address, and on the
  # machine-wide epmd port 4369).
  svc_spawn "$dir" rabbitmq env HOME="$state" \
    RABBITMQ_CONF_ENV_FILE="$etc/rabbitmq-env.conf" RABBITMQ_CONFIG_FILE="$etc/rabbitmq.conf" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$etc/enabled_plugins" RABBITMQ_MNESIA_BASE="$state/mnesia" \
    RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_PID_FILE="$state/rabbitmq.pid" \
    RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT="$RABBIT_PORT" RABBITMQ_DIST_PORT="$RABBIT_DIST_PORT" \
    ERL_EPMD_PORT="$EPMD_PORT" ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    /usr/lib/rabbitmq/bin/rabbitmq-server
}

# -- schemas ----------------------------------------------------------------

# The cell mappings are templates that each service fills from its own
# configuration, so the schema template holds no port or password.
svc_db_sync_nova() {
  local dir=$1 conf=(--config-file "$1/etc/nova/nova.conf")
  local db='{scheme}://{username}:{password}@{hostname}/' mq='{scheme}://{username}:{password}@{hostname}:{port}/{path}'
  svc_run "$dir" nova-manage nova.cmd.manage:main "${conf[@]}" api_db sync &&
    svc_run "$dir" nova-manage nova.cmd.manage:main "${conf[@]}" cell_v2 map_cell0 \
      --database_connection "${db}nova_cell0?{query}" &&
    svc_run "$dir" nova-manage nova.cmd.manage:main "${conf[@]}" cell_v2 create_cell \
      --name cell1 --transport-url "$mq" --database_connection "${db}{path}?{query}" &&
    svc_run "$dir" nova-manage nova.cmd.manage:main "${conf[@]}" db sync
}

# svc_db_sync_all DIR: every schema, the independent ones side by side.
svc_db_sync_all() {
  local dir=$1 pids=() names=() i rc=0
  svc_run "$dir" keystone-manage keystone.cmd.manage:main \
    --config-file "$dir/etc/keystone/keystone.conf" db_sync & pids+=($!); names+=(keystone)
  svc_db_sync_nova "$dir" & pids+=($!); names+=(nova)
  svc_run "$dir" glance-manage glance.cmd.manage:main \
    --config-file "$dir/etc/glance/glance-api.conf" db_sync & pids+=($!); names+=(glance)
  svc_run "$dir" placement-manage placement.cmd.manage:main \
    --config-file "$dir/etc/placement/placement.conf" db sync & pids+=($!); names+=(placement)
  svc_run "$dir" neutron-db-manage neutron.db.migration.cli:main \
    --config-file "$dir/etc/neutron/neutron.conf" upgrade heads & pids+=($!); names+=(neutron)
  if [ "$DESIGNATE" = 1 ]; then
    svc_run "$dir" designate-manage designate.cmd.manage:main \
      --config-file "$dir/etc/designate/designate.conf" database sync & pids+=($!)
    names+=(designate)
  fi
  if [ "$OCTAVIA" = 1 ]; then
    svc_run "$dir" octavia-db-manage octavia.db.migration.cli:main \
      --config-file "$dir/etc/octavia/octavia.conf" upgrade head & pids+=($!)
    names+=(octavia)
  fi
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { echo "world.sh: schema of ${names[$i]} failed" >&2; rc=1; }
  done
  [ $rc -eq 0 ] || die "schema setup failed"
}

# svc_schema_template: where the data directory of a MariaDB holding every
# schema (no world's data, passwords or ports) is kept for these packages and
# this harness, so that a start copies it instead of running every migration
# again. Empty when OSWORLD_CACHE=none.
svc_schema_template() {
  local cache=${OSWORLD_CACHE:-/var/cache/infra-osworld} key
  [ "$cache" != none ] || return 0
  key=$({
    dpkg-query -W -f '${Package} ${Version}\n' mariadb-server-core python3-keystone \
      python3-placement python3-glance python3-nova python3-neutron python3-neutron-lib \
      python3-designate python3-octavia python3-oslo.db python3-alembic python3-sqlalchemy \
      2>/dev/null
    echo "designate=$DESIGNATE octavia=$OCTAVIA"
    declare -f svc_db_sync_all svc_db_sync_nova svc_run svc_mariadb_start
    grep -A3 '^DATABASES' "$tools/world.py"
  } | sha256sum | cut -c1-16)
  echo "$cache/schema-$key"
}

# svc_schema_save DIR TEMPLATE: MariaDB stopped cleanly, its data directory
# copied to TEMPLATE (whole or not at all), MariaDB started again.
svc_schema_save() {
  local dir=$1 template=$2 pid tmp
  [ -n "$template" ] || return 0
  pid=$(cat "$dir/run/mariadb.pid")
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  mkdir -p "$(dirname "$template")"
  chmod 700 "$(dirname "$template")"
  tmp=$(mktemp -d "$template.tmp.XXXXXX")
  if cp -a "$dir/state/mysql/." "$tmp/" && rm -f "$tmp"/*.pid && mv -T "$tmp" "$template" 2>/dev/null; then
    note "schemas kept for the next start in $template"
    # The three newest templates stay (other package sets, other checkouts).
    ls -1dt "$(dirname "$template")"/schema-* | grep -v '\.tmp\.' | tail -n +4 | xargs -r rm -rf
  else
    rm -rf "$tmp"
  fi
  svc_mariadb_start "$dir"
  /usr/bin/python3 "$tools/world.py" databases "$dir"
}

# -- services -----------------------------------------------------------------

# svc_uwsgi DIR NAME PORT: the WSGI application NAME of infra_osworld.wsgi on
# 127.0.0.1:PORT, one process. Connection: close on every answer: uwsgi's
# http-socket does not keep client connections alive reliably.
svc_uwsgi() {
  local dir=$1 name=$2 port=$3
  svc_spawn "$dir" "$name" env OSWORLD_APP="$name" OSWORLD_ETC="$dir/etc" \
    uwsgi --plugin python3 --http-socket "127.0.0.1:$port" --module infra_osworld.wsgi \
    --callable application --master --die-on-term --processes 1 --threads 4 \
    --need-app --buffer-size 65535 --add-header "Connection: close" --disable-logging
}

# svc_start_keystone DIR: keystone's keys, keystone loading in uwsgi.
svc_start_keystone() {
  /usr/bin/python3 "$tools/world.py" keystone-keys "$1" || die "keystone keys failed"
  svc_uwsgi "$1" keystone "$KEYSTONE_PORT"
}

# svc_keystone_ready DIR: keystone bootstrapped (admin user, project, roles,
# region, its own endpoints) and answering.
svc_keystone_ready() {
  local dir=$1
  OS_BOOTSTRAP_PASSWORD=$ADMIN_PASSWORD svc_run "$dir" keystone-manage \
    keystone.cmd.manage:main --config-file "$dir/etc/keystone/keystone.conf" bootstrap \
    --bootstrap-username admin --bootstrap-project-name admin --bootstrap-role-name admin \
    --bootstrap-region-id "$REGION" --bootstrap-admin-url "$KEYSTONE_URL" \
    --bootstrap-public-url "$KEYSTONE_URL" --bootstrap-internal-url "$KEYSTONE_URL" ||
    die "keystone bootstrap failed"
  /usr/bin/python3 "$tools/world.py" wait-http "$KEYSTONE_URL" "$START_TIMEOUT" "$dir"
}

# svc_start_services DIR: the services that need keystone only when a request
# comes (their API middleware authenticates then), so they load while
# keystone does.
svc_start_services() {
  local dir=$1 etc=$1/etc
  svc_uwsgi "$dir" placement "$PLACEMENT_PORT"
  svc_py "$dir" glance-api glance.cmd.api:main --config-file "$etc/glance/glance-api.conf"
  svc_py "$dir" nova-api nova.cmd.api:main --config-file "$etc/nova/nova.conf"
  svc_py "$dir" neutron-server neutron.cmd.eventlet.server:main \
    --config-file "$etc/neutron/neutron.conf"
  if [ "$DESIGNATE" = 1 ]; then
    svc_spawn "$dir" named named -f -c "$etc/bind/named.conf"
    local d
    for d in api central worker producer mdns; do
      svc_py "$dir" "designate-$d" "designate.cmd.$d:main" \
        --config-file "$etc/designate/designate.conf"
    done
  fi
  if [ "$OCTAVIA" = 1 ]; then
    local o=(--config-file "$etc/octavia/octavia.conf")
    svc_py "$dir" octavia-api octavia.cmd.api:main "${o[@]}"
    svc_py "$dir" octavia-worker octavia.cmd.octavia_worker:main "${o[@]}"
    svc_py "$dir" octavia-health-manager octavia.cmd.health_manager:main "${o[@]}"
    svc_py "$dir" octavia-housekeeping octavia.cmd.house_keeping:main "${o[@]}"
  fi
}

# svc_start_nova_workers DIR: the nova services that call other services as
# soon as they start (placement, with their service user).
svc_start_nova_workers() {
  local dir=$1 nova=(--config-file "$1/etc/nova/nova.conf")
  svc_py "$dir" nova-conductor nova.cmd.conductor:main "${nova[@]}"
  svc_py "$dir" nova-scheduler nova.cmd.scheduler:main "${nova[@]}"
  svc_spawn "$dir" nova-compute env OSWORLD_POOLS="$dir/pools" /usr/bin/python3 -m infra_osworld.run \
    infra_osworld.nova_compute:main nova-compute --config-file "$dir/etc/nova/nova-compute.conf"
}

# svc_check_alive DIR: fails naming the first process that already exited.
svc_check_alive() {
  local dir=$1 pidfile name
  for pidfile in "$dir"/run/*.pid; do
    name=$(basename "$pidfile" .pid)
    kill -0 "$(cat "$pidfile")" 2>/dev/null ||
      { tail -n 30 "$dir/log/$name.log" >&2; die "$name exited (log: $dir/log/$name.log)"; }
  done
}

svc_wait_apis() {
  local dir=$1 port
  for port in $PLACEMENT_PORT $GLANCE_PORT $NOVA_PORT $NEUTRON_PORT \
    $([ "$DESIGNATE" = 1 ] && echo "$DESIGNATE_PORT") $([ "$OCTAVIA" = 1 ] && echo "$OCTAVIA_PORT"); do
    /usr/bin/python3 "$tools/world.py" wait-http "http://127.0.0.1:$port/" "$START_TIMEOUT" "$dir" ||
      { svc_check_alive "$dir"; die "no API on port $port"; }
  done
  svc_check_alive "$dir"
  if [ "$DESIGNATE" = 1 ]; then
    # The pool (BIND as target, designate-mdns as its master) goes through
    # designate-central, so this waits for central to answer RPC as well.
    svc_run "$dir" designate-manage designate.cmd.manage:main \
      --config-file "$dir/etc/designate/designate.conf" pool update \
      --file "$dir/etc/designate/pools.yaml" || die "designate pool update failed"
  fi
}
