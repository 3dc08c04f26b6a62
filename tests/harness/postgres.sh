#!/usr/bin/env bash
# A real PostgreSQL server for tests (Debian's postgresql package), run as a
# plain process in a private directory, listening on loopback only, with a
# role and a database for infra and password (SCRAM) authentication.
#
#   postgres.sh start DIR   starts it; DIR/env holds what clients need:
#                           PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE
#   postgres.sh stop DIR    stops it and removes DIR
#
# As root, the server runs as the postgres user (initdb refuses root). The
# port is a free one found at start (retried when another process takes it
# first). With INFRA_PG_TEMPLATE=PATH, the cluster initdb makes is kept in
# PATH the first time and copied afterwards (initdb takes 10 s or more on a
# loaded machine; a copy, well under one).
set -euo pipefail

usage() { echo "usage: postgres.sh start DIR | stop DIR" >&2; exit 2; }
die() { echo "postgres.sh: $*" >&2; exit 1; }

bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  command -v initdb >/dev/null && { dirname "$(command -v initdb)"; return; }
  return 1
}

# as_server CMD...: runs CMD as the server's user.
as_server() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# init_cluster BIN DIR: DIR/data, a new cluster whose superuser postgres has
# the password in DIR/pwfile.
init_cluster() {
  local bin=$1 dir=$2
  rm -rf "$dir"
  mkdir -p "$dir"
  chmod 0700 "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
  head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$dir/pwfile"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir/pwfile"
  chmod 0600 "$dir/pwfile"
  as_server "$bin/initdb" -N -D "$dir/data" -U postgres --auth=scram-sha-256 \
    --pwfile="$dir/pwfile" -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; die "initdb failed"; }
}

start() {
  local dir=$1 bin password port
  bin=$(bindir) || die "no initdb: install the postgresql package (scripts/deps.sh)"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  chmod 0700 "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
  local template=${INFRA_PG_TEMPLATE:-}
  if [ -n "$template" ]; then
    mkdir -p "$(dirname "$template")"
    (
      flock 9
      [ -f "$template/data/PG_VERSION" ] || init_cluster "$bin" "$template"
    ) 9>"$template.lock"
    cp -a "$template/data" "$dir/data"
    cp -a "$template/pwfile" "$dir/pwfile"
  else
    init_cluster "$bin" "$dir"
  fi
  password=$(cat "$dir/pwfile")
  mkdir -p "$dir/sock"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir/sock"
  local started=""
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    if as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir/sock" \
      start >/dev/null 2>&1; then
      started=1
      break
    fi
    grep -q "could not bind\|Address already in use" "$dir/server.log" 2>/dev/null ||
      { cat "$dir/server.log" >&2; die "the server did not start"; }
  done
  [ -n "$started" ] || die "no free port after 5 tries"
  local infra_password
  infra_password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  PGPASSWORD=$password "$bin/psql" -qX -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres \
    -d postgres >"$dir/setup.log" 2>&1 <<SQL || { cat "$dir/setup.log" >&2; die "setup failed"; }
CREATE ROLE infra LOGIN PASSWORD '$infra_password';
CREATE DATABASE infra OWNER infra;
SQL
  cat >"$dir/env" <<ENV
PGHOST=127.0.0.1
PGPORT=$port
PGUSER=infra
PGPASSWORD=$infra_password
PGDATABASE=infra
PGSSLMODE=disable
PGCONNECT_TIMEOUT=10
ENV
  printf '%s\n' "$port" >"$dir/port"
}

stop() {
  local dir=$1 bin
  [ -d "$dir" ] || return 0
  bin=$(bindir) || true
  if [ -n "$bin" ] && [ -f "$dir/data/postmaster.pid" ]; then
    as_server "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

[ $# -eq 2 ] || usage
case $1 in
  start) start "$2" ;;
  stop) stop "$2" ;;
  *) usage ;;
esac
