#!/usr/bin/env bash
# Benchmark: what a command costs before it does any work. `infra version`
# and `infra --help` (no topology, no plugin: starting the binary alone),
# `infra validate` and `infra plan` of a small topology (examples/test.yaml,
# one provider, an empty state). hyperfine runs each RUNS times after a
# warm-up; the median wall time is what counts (the mean of a shared
# machine is pulled up by the runs that waited for a core). The CPU
# column (user + system, mean) is the steadier figure under load.
#
#   bench/startup.sh                    # build/ from scripts/build.sh
#   INFRA=/opt/infra/bin/infra bench/startup.sh
#   RUNS=50 bench/startup.sh
#
# Target: validate <= 15 ms. validate and plan open only the plugin the
# topology names (test.so), version and --help none; libcurl, libpq and
# libxml2 are not mapped by any of them (core/src/base/lazylib.h).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${INFRA:-}" ]; then
  command -v hyperfine >/dev/null || scripts/deps.sh
  scripts/build.sh
  INFRA=$PWD/build/infra
fi
RUNS=${RUNS:-200}
TARGET_MS=15
topology=$PWD/examples/test.yaml
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export INFRA_PLUGIN_PATH= INFRA_TEST_DIR=$work/objects
"$INFRA" validate "$topology" >/dev/null
plan="$INFRA plan $topology --state-dir $work/state"

# plan exits 2 when something would change (here: everything).
hyperfine -N -i --warmup 10 --runs "$RUNS" --export-json "$work/times.json" \
  -n version "$INFRA version" -n help "$INFRA --help" \
  -n validate "$INFRA validate $topology" -n plan "$plan" >"$work/hyperfine.log" 2>&1 ||
  { cat "$work/hyperfine.log" >&2; exit 1; }

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)   runs: $RUNS"
python3 - "$work/times.json" "$TARGET_MS" <<'PY'
import json, sys
target = float(sys.argv[2])
for r in json.load(open(sys.argv[1]))["results"]:
    median, cpu = r["median"] * 1e3, (r["user"] + r["system"]) * 1e3
    line = f"{r['command']:<10} median {median:6.1f} ms   CPU {cpu:5.1f} ms"
    if r["command"] == "validate":
        line += f"   target <= {target:.0f} ms: {'met' if median <= target else 'NOT met'}"
    print(line)
PY

echo "libraries mapped at start: $(ldd "$INFRA" | grep -c '=>')"
# Which plugins each command opens: validate and plan the one named, the
# others none.
if command -v strace >/dev/null; then
  for cmd in version --help validate plan; do
    case $cmd in
    validate) args=(validate "$topology") ;;
    plan) args=(plan "$topology" --state-dir "$work/state") ;;
    *) args=("$cmd") ;;
    esac
    opened=$(strace -f -e trace=openat "$INFRA" "${args[@]}" 2>&1 >/dev/null |
      grep -v ENOENT | grep -o '"[^"]*/plugins/[^"]*\.so"' | tr -d '"' | xargs -r -n1 basename |
      tr '\n' ' ' || true)
    echo "plugins opened by $cmd: ${opened:-none}"
  done
fi
