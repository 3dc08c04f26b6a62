#!/usr/bin/env bash
# Benchmark: the same apply (test provider, no latency) with the state on
# the local backend and on a PostgreSQL server on this machine
# (tests/harness/postgres.sh: a real server, fsync and synchronous commits
# on, reached over TCP on loopback), and the ratio of the two.
#
#   bench/state-postgres.sh                 # N=10000
#   N=50000 INFRA=build-rel/infra bench/state-postgres.sh
#
# Target: postgres <= 2 x local.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
PARALLELISM=${PARALLELISM:-100}

if [ -z "${INFRA:-}" ]; then
  scripts/build.sh
  INFRA=build/infra
fi
infra=$(cd "$(dirname "$INFRA")" && pwd)/$(basename "$INFRA")

work=$(mktemp -d)
pg=$(mktemp -d /tmp/infra-pg-XXXXXX)
trap 'tests/harness/postgres.sh stop "$pg"; rm -rf "$work"' EXIT
tests/harness/postgres.sh start "$pg"
export INFRA_PLUGIN_PATH= BENCH_LATENCY_MS=0

apply() { # label, extra topology lines: prints the wall time
  local label=$1 extra=$2
  rm -rf "$work/run" && mkdir -p "$work/run"
  bench/gen-topology.sh "$N" >"$work/run/bench.yaml"
  printf '%s\n' "$extra" >>"$work/run/bench.yaml"
  export BENCH_DIR=$work/run/objects
  /usr/bin/time -f "%e %U %S" -o "$work/time" \
    "$infra" up "$work/run/bench.yaml" --parallelism "$PARALLELISM" >"$work/out" 2>&1 ||
    { tail -n 20 "$work/out" >&2; echo "$label apply failed" >&2; exit 1; }
  read -r wall user sys < <(tail -n 1 "$work/time")
  awk -v l="$label" -v n="$N" -v w="$wall" -v u="$user" -v s="$sys" 'BEGIN {
    printf "%-10s %d resources: wall %7.2f s (%.3f ms/resource), cpu %.2f s\n", l, n, w,
      1000 * w / n, u + s }' >&2
  echo "$wall"
}

local_wall=$(apply local "")
pg_wall=$(
  set -a
  . "$pg/env"
  set +a
  apply postgres "backend: { type: postgres, schema_name: bench }"
)
awk -v p="$pg_wall" -v l="$local_wall" 'BEGIN { printf "postgres / local = %.2f\n", p / l }'
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores: more than 2 means other work shares them)"
