#!/usr/bin/env bash
# Benchmark: `infra plan` against an up-to-date state of 10,000 and 100,000
# resources (test provider, no latency): wall time and peak memory, with and
# without reading the objects back (--refresh=false).
#
#   bench/state-plan.sh                  # SIZES="10000 100000"
#   INFRA=build-rel/infra SIZES=10000 bench/state-plan.sh
#
# Targets: 10k <= 0.3 s and <= 100 MiB; 100k <= 3 s.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-10000 100000}

if [ -z "${INFRA:-}" ]; then
  scripts/build.sh
  INFRA=build/infra
fi
infra=$(cd "$(dirname "$INFRA")" && pwd)/$(basename "$INFRA")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export INFRA_PLUGIN_PATH= BENCH_LATENCY_MS=0

measure() { # label, command...: wall, CPU and peak RSS; plan exits 0 (no changes)
  local label=$1
  shift
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" >"$work/out" 2>&1 ||
    { tail -n 20 "$work/out" >&2; echo "$label failed" >&2; exit 1; }
  read -r wall user sys rss < <(tail -n 1 "$work/time")
  awk -v l="$label" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
    printf "%-34s wall %7.3f s  cpu %7.3f s  peak RSS %7.1f MiB\n", l, w, u + s, r / 1024 }'
}

for n in $SIZES; do
  rm -rf "$work/run" && mkdir -p "$work/run"
  bench/gen-topology.sh "$n" >"$work/run/bench.yaml"
  export BENCH_DIR=$work/run/objects
  "$infra" up "$work/run/bench.yaml" --parallelism 100 >"$work/out" 2>&1 ||
    { tail -n 20 "$work/out" >&2; echo "apply of $n failed" >&2; exit 1; }
  measure "plan $n (refresh)" "$infra" plan "$work/run/bench.yaml"
  measure "plan $n (--refresh=false)" "$infra" plan "$work/run/bench.yaml" --refresh=false
  measure "state list $n (open the state)" "$infra" state list "$work/run/bench.yaml"
  measure "validate $n (no state)" "$infra" validate "$work/run/bench.yaml"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores: more than 2 means other work shares them)"
