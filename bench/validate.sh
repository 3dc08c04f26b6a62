#!/usr/bin/env bash
# Benchmark: the start-up cost of a command, `infra validate` of a small
# topology (examples/test.yaml, one provider), beside `infra version` (no
# topology, no plugin: what starting the binary alone costs). hyperfine
# runs each many times after a warm-up; the mean wall time is what counts.
#
#   bench/validate.sh                   # build/ from scripts/build.sh
#   INFRA=/opt/infra/bin/infra bench/validate.sh
#
# Target: validate <= 15 ms. validate loads only the plugin the topology
# names (test.so), none of the others the build tree holds.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${INFRA:-}" ]; then
  command -v hyperfine >/dev/null || scripts/deps.sh
  scripts/build.sh
  INFRA=$PWD/build/infra
fi
topology=$PWD/examples/test.yaml
export INFRA_PLUGIN_PATH=
"$INFRA" validate "$topology" >/dev/null
hyperfine -N --warmup 10 --runs "${RUNS:-200}" \
  "$INFRA version" "$INFRA validate $topology"
# Which files a validate opens besides the topology: one plugin, no other.
if command -v strace >/dev/null; then
  echo "plugins opened by validate:"
  strace -f -e trace=openat "$INFRA" validate "$topology" 2>&1 >/dev/null |
    grep -v ENOENT | grep -o '"[^"]*/plugins/[^"]*"' || echo "  none"
fi
