#!/usr/bin/env bash
# Benchmark on the test provider with a generated topology of N resources
# (default 10,000; groups of a network, a firewall on it and instances on
# both, so the dependency depth is 3):
#
#  1. apply at zero latency: wall and CPU time of `infra up`, the state on
#     disk and on tmpfs (the state's own writes dominate; bench/profile.sh
#     splits the instructions between engine, state and plugin);
#  2. plan against an up-to-date state: wall time and peak RSS, with and
#     without refresh;
#  3. apply with LATENCY_MS per provider call at each parallelism of
#     PARALLELISMS, the state on tmpfs (on a disk each intent waits for
#     the state file's fsyncs: STATE_DIR=/some/disk measures that), against
#     two bounds from bench/bound.py: the naive
#     max(depth, ceil(N / p)) x latency, which the graph does not always
#     allow, and the length of the highest-level-first list schedule, an
#     achievable schedule (optimal for this graph); the ratio is to the
#     latter.
#
#   bench/run.sh
#   N=2000 LATENCY_MS=50 PARALLELISMS="10 50" bench/run.sh
#   INFRA_BIN=build-rel/infra bench/run.sh      # a binary built elsewhere (no rebuild)
#
# Targets: engine <= 1 s of CPU for the zero-latency apply, excluding the
# state's writes (bench/profile.sh); plan <= 0.5 s and <= 200 MiB; apply
# with latency <= 1.15 x the list-schedule bound.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
LATENCY_MS=${LATENCY_MS:-100}
PARALLELISMS=${PARALLELISMS:-10 50 200}

if ! command -v /usr/bin/time >/dev/null; then
  scripts/deps.sh
  apt-get install -y -qq time >/dev/null
fi
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
export INFRA_PLUGIN_PATH=

measure() { # label, command...: prints wall seconds, CPU seconds and peak RSS MiB
  local label=$1
  shift
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" >"$work/out" 2>"$work/err" || {
    local rc=$?
    # plan exits 2 when there are changes; anything else is a failure
    if [ "$rc" -ne 2 ]; then cat "$work/err" >&2; echo "$label failed ($rc)" >&2; exit 1; fi
  }
  read -r wall user sys rss_kb < <(tail -n 1 "$work/time")
  printf '%-34s wall %7.3f s   CPU %6.2f s   peak RSS %6.1f MiB\n' "$label" "$wall" \
    "$(awk -v u="$user" -v s="$sys" 'BEGIN{print u + s}')" "$(awk -v k="$rss_kb" 'BEGIN{print k/1024}')"
  last_wall=$wall
}

echo "topology: $N resources, depth 3"
export BENCH_LATENCY_MS=0
BENCH_DIR=$work/objects measure "apply, no latency (state on disk)" \
  "$infra" up "$work/bench.yaml" --state-dir "$work/state" --parallelism 100
BENCH_DIR=$work/objects measure "plan (refresh)" \
  "$infra" plan "$work/bench.yaml" --state-dir "$work/state"
BENCH_DIR=$work/objects measure "plan (--refresh=false)" \
  "$infra" plan "$work/bench.yaml" --state-dir "$work/state" --refresh=false
BENCH_DIR=$shm/objects measure "apply, no latency (state on tmpfs)" \
  "$infra" up "$work/bench.yaml" --state-dir "$shm/state" --parallelism 100
rm -rf "${shm:?}"/* "$work/objects" "$work/state"

BENCH_DIR=$work/objects "$infra" graph "$work/bench.yaml" >"$work/bench.dot"
# shellcheck disable=SC2086
python3 bench/bound.py $PARALLELISMS <"$work/bench.dot" >"$work/bounds"
export BENCH_LATENCY_MS=$LATENCY_MS
for p in $PARALLELISMS; do
  states=${STATE_DIR:-$shm}
  BENCH_DIR=$work/p$p/objects measure "apply, ${LATENCY_MS} ms/call, parallelism $p" \
    "$infra" up "$work/bench.yaml" --state-dir "$states/p$p" --parallelism "$p"
  read -r naive list < <(awk -v p="p=$p" '$1 == p {
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      print v["naive"], v["list"] }' "$work/bounds")
  awk -v w="$last_wall" -v n="$naive" -v l="$list" -v ms="$LATENCY_MS" 'BEGIN {
    printf "  bounds: naive %.2f s (%d rounds), list schedule %.2f s (%d rounds); apply / list = %.3f\n",
      n * ms / 1000, n, l * ms / 1000, l, w / (l * ms / 1000) }'
  rm -rf "$work/p$p" "${states:?}/p$p"
done
