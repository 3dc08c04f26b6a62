#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite:
#   1. the topology loader fuzzer for a short while (clang libFuzzer);
#   2. an AddressSanitizer + UBSan build, every ctest test but the slow ones;
#   3. the normal build, every ctest test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
jobs=$(nproc)
fuzz_seconds=${INFRA_FUZZ_SECONDS:-60}

echo "== fuzz the topology loader for ${fuzz_seconds}s"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DINFRA_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"$jobs" --target fuzz_topology
mkdir -p build-fuzz/corpus
build-fuzz/tests/fuzz/fuzz_topology -max_total_time="$fuzz_seconds" -timeout=10 \
  build-fuzz/corpus tests/fuzz/corpus 2>&1 | tail -n 3

echo "== tests under AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DINFRA_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs" -LE slow

echo "== build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
echo "== tests"
ctest --test-dir build --output-on-failure -j"$jobs"
