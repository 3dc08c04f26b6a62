#!/usr/bin/env bash
# Benchmark: plan and apply of a generated 10,000-resource topology on the
# test provider. Prints wall time and peak RSS of `infra plan` against an
# up-to-date state, and the apply time with injected latency divided by the
# critical-path bound: max(depth, ceil(N / parallelism)) x latency.
#
#   bench/run.sh                       # N=10000, latency 100 ms, parallelism 100
#   N=2000 LATENCY_MS=50 PARALLELISM=50 bench/run.sh
#
# Targets: plan <= 0.5 s and <= 200 MiB; apply <= 1.15 x bound.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
LATENCY_MS=${LATENCY_MS:-100}
PARALLELISM=${PARALLELISM:-100}
DEPTH=3

if ! command -v /usr/bin/time >/dev/null; then
  scripts/deps.sh
  apt-get install -y -qq time >/dev/null
fi
scripts/build.sh
infra=$PWD/build/infra

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bench/gen-topology.sh "$N" > "$work/bench.yaml"
export BENCH_DIR=$work/objects INFRA_PLUGIN_PATH=

measure() { # label, command...: prints wall seconds and peak RSS MiB
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/out" 2>"$work/err" || {
    local rc=$?
    # plan exits 2 when there are changes; anything else is a failure
    if [ "$rc" -ne 2 ]; then cat "$work/err" >&2; echo "$label failed ($rc)" >&2; exit 1; fi
  }
  read -r wall rss_kb < <(tail -n 1 "$work/time")
  printf '%-28s wall %7.3f s   peak RSS %6.1f MiB\n' "$label" "$wall" "$(awk -v k="$rss_kb" 'BEGIN{print k/1024}')"
  last_wall=$wall
}

echo "topology: $N resources, depth $DEPTH"
BENCH_LATENCY_MS=0 measure "apply (no latency)" "$infra" up "$work/bench.yaml" --parallelism "$PARALLELISM"
measure "plan (refresh)" "$infra" plan "$work/bench.yaml"
measure "plan (--refresh=false)" "$infra" plan "$work/bench.yaml" --refresh=false
BENCH_LATENCY_MS=0 "$infra" down "$work/bench.yaml" --yes --parallelism "$PARALLELISM" >/dev/null 2>&1

BENCH_LATENCY_MS=$LATENCY_MS measure "apply (${LATENCY_MS} ms/call)" \
  "$infra" up "$work/bench.yaml" --parallelism "$PARALLELISM"
levels=$(( (N + PARALLELISM - 1) / PARALLELISM ))
[ "$levels" -lt "$DEPTH" ] && levels=$DEPTH
bound=$(awk -v l="$levels" -v ms="$LATENCY_MS" 'BEGIN{print l*ms/1000}')
printf 'critical-path bound %.3f s (max(depth %d, ceil(%d/%d)) x %d ms); apply / bound = %.3f\n' \
  "$bound" "$DEPTH" "$N" "$PARALLELISM" "$LATENCY_MS" "$(awk -v w="$last_wall" -v b="$bound" 'BEGIN{print w/b}')"
BENCH_LATENCY_MS=0 "$infra" down "$work/bench.yaml" --yes --parallelism "$PARALLELISM" >/dev/null 2>&1
