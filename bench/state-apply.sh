#!/usr/bin/env bash
# Benchmark: `infra up` of generated topologies of growing size on the test
# provider without latency, each into a new state: the time per resource
# must stay flat as the state grows (a commit carries only what changed).
# Prints, per size: wall time, time and CPU per resource, commits' fsyncs
# (fsync + fdatasync, counted by `perf stat` on the syscall tracepoints, which
# does not slow the run down as strace would), peak memory.
#
#   bench/state-apply.sh                      # SIZES="1000 10000 50000 100000"
#   SIZES="1000 10000" PARALLELISM=50 bench/state-apply.sh
#   INFRA=build-rel/infra bench/state-apply.sh  # an infra already built
#
# Targets: ms per resource flat from 1k to 100k; 100k in <= 60 s.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-1000 10000 50000 100000}
PARALLELISM=${PARALLELISM:-100}

if [ -z "${INFRA:-}" ]; then
  scripts/build.sh
  INFRA=build/infra
fi
infra=$(cd "$(dirname "$INFRA")" && pwd)/$(basename "$INFRA")
perf stat -e syscalls:sys_enter_fdatasync -o /dev/null true 2>/dev/null ||
  { echo "bench: perf with syscall tracepoints is needed (linux-perf, as root)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export INFRA_PLUGIN_PATH= BENCH_LATENCY_MS=0

printf '%-8s %9s %11s %11s %8s %9s\n' resources "wall s" "ms/res" "cpu ms/res" fsyncs "RSS MiB"
for n in $SIZES; do
  rm -rf "$work/run" && mkdir -p "$work/run"
  bench/gen-topology.sh "$n" >"$work/run/bench.yaml"
  export BENCH_DIR=$work/run/objects
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" \
    perf stat -x, -e syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync -o "$work/perf" \
    "$infra" up "$work/run/bench.yaml" --parallelism "$PARALLELISM" >"$work/out" 2>&1 ||
    { tail -n 20 "$work/out" >&2; echo "apply of $n failed" >&2; exit 1; }
  read -r wall user sys rss < <(tail -n 1 "$work/time")
  fsyncs=$(awk -F, '$3 ~ /sys_enter_f(data)?sync/ {n += $1} END {print n + 0}' "$work/perf")
  awk -v n="$n" -v w="$wall" -v u="$user" -v s="$sys" -v f="$fsyncs" -v r="$rss" 'BEGIN {
    printf "%-8d %9.2f %11.3f %11.3f %8d %9.1f\n", n, w, 1000 * w / n, 1000 * (u + s) / n, f, r / 1024 }'
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores: more than 2 means other work shares them)"
