#!/usr/bin/env bash
# Where the instructions of a zero-latency `infra up` go: the engine, the
# state store, the plugin. Runs the apply of a generated N-resource
# topology (default 10,000) once normally, for its CPU time, and once under
# valgrind --tool=callgrind, for the instruction counts; the engine's CPU
# time is the run's CPU time in the engine's share of the instructions.
# The state is on tmpfs, so what the state costs is its own work.
#   bench/profile.sh                 # N=10000 (several minutes under valgrind)
#   N=2000 bench/profile.sh
#   INFRA_BIN=build-prof/infra bench/profile.sh   # a binary built elsewhere (no rebuild)
#   KEEP=cg.txt bench/profile.sh     # keep callgrind_annotate's listing
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
PARALLELISM=${PARALLELISM:-100}
command -v valgrind >/dev/null || { echo "profile.sh needs valgrind (apt-get install valgrind)" >&2; exit 1; }
if [ -n "${INFRA_BIN:-}" ]; then
  infra=$(realpath "$INFRA_BIN")
else
  scripts/build.sh
  infra=$PWD/build/infra
fi
work=$(mktemp -d)
shm=$(mktemp -d /dev/shm/infra-bench.XXXXXX)
trap 'rm -rf "$work" "$shm"' EXIT
bench/gen-topology.sh "$N" >"$work/bench.yaml"
export INFRA_PLUGIN_PATH= BENCH_LATENCY_MS=0

up() { # ...: infra up of the topology on fresh objects and state, prefixed by the arguments
  rm -rf "$shm"/*
  BENCH_DIR=$shm/objects "$@" "$infra" up "$work/bench.yaml" --parallelism "$PARALLELISM" \
    --state-dir "$shm/state" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
}

up /usr/bin/time -f "%e %U %S" -o "$work/time"
read -r wall user sys <"$work/time"
up valgrind --tool=callgrind --callgrind-out-file="$work/cg.out"
callgrind_annotate --inclusive=yes --threshold=100 "$work/cg.out" 2>/dev/null >"$work/cg.txt"
[ -z "${KEEP:-}" ] || cp "$work/cg.txt" "$KEEP"

# Inclusive counts of the entry points of the state store and of the plugin
# (the lines naming a function, not the "=>" call lines).
sum() {
  # A function may be listed twice (absolute and relative path): once each.
  { grep -E "^ *[0-9,]+ \([ 0-9.]+%\)  [^ ]*($1)\.c:($2)( |\$)" "$work/cg.txt" || true; } |
    awk '{gsub(",", "", $1); v = $1 + 0; for (i = 2; i <= NF; i++) if ($i ~ /\.c:/) f = $i
          sub(/.*:/, "", f); if (v > best[f] + 0) best[f] = v}
         END {for (f in best) s += best[f]; printf "%.0f\n", s}'
}
total=$(grep "PROGRAM TOTALS" "$work/cg.txt" | awk '{gsub(",", "", $1); print $1}')
state=$(sum "state/state|state/state_file|state/state_lock|state/state_writer|state/state_commit" \
  "writer_main|state_put|state_get|state_remove|state_intent_put|state_intent_get|state_intent_remove|state_sync|state_free|state_open|state_write|state_writer_stop|state_addresses|state_intent_addresses|state_set_outputs|state_lock_acquire|state_lock_release")
plugin=$(sum "tests/provider/testprov[a-z_]*" \
  "testprov_schema|testprov_validate|testprov_configure|testprov_plan|testprov_apply|testprov_read|testprov_read_many|testprov_import|testprov_close")
engine=$((total - state - plugin))
awk -v n="$N" -v t="$total" -v s="$state" -v p="$plugin" -v e="$engine" -v u="$user" -v y="$sys" -v w="$wall" 'BEGIN {
  cpu = u + y
  printf "apply of %d resources at zero latency: %.2f s wall, %.2f s CPU (state on tmpfs)\n", n, w, cpu
  printf "  instructions: %.2f G in all\n", t / 1e9
  printf "  engine  %5.1f%%  %.2f G  ~%.2f s CPU\n", 100 * e / t, e / 1e9, cpu * e / t
  printf "  state   %5.1f%%  %.2f G  ~%.2f s CPU\n", 100 * s / t, s / 1e9, cpu * s / t
  printf "  plugin  %5.1f%%  %.2f G  ~%.2f s CPU\n", 100 * p / t, p / 1e9, cpu * p / t
}'
