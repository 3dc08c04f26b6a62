#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite. Every build
# turns warnings into errors (-DINFRA_WERROR=ON), so each compiler and
# optimisation level below also checks the tree is warning-free:
#   1. clang, Release: the whole tree built (no tests run on it), and the
#      topology loader fuzzer run for a short while (libFuzzer);
#   2. gcc, Debug, AddressSanitizer + UBSan: every ctest test of infra's own
#      code but the slow ones (the stand-ins' and emulators' own tests run
#      no infra code and run once, in step 3);
#   3. gcc, Release: every ctest test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
jobs=$(nproc)
fuzz_seconds=${INFRA_FUZZ_SECONDS:-60}

echo "== clang Release build (warnings are errors) and the topology loader fuzzer"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Release \
  -DINFRA_WERROR=ON -DINFRA_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"$jobs"
echo "== fuzz the topology loader for ${fuzz_seconds}s"
mkdir -p build-fuzz/corpus
build-fuzz/tests/fuzz/fuzz_topology -max_total_time="$fuzz_seconds" -timeout=10 \
  build-fuzz/corpus tests/fuzz/corpus 2>&1 | tail -n 3

echo "== tests under AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DINFRA_SANITIZE=ON \
  -DINFRA_WERROR=ON >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs" -LE "slow|standins|emulator"

echo "== gcc Release build (warnings are errors)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DINFRA_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
echo "== tests"
ctest --test-dir build --output-on-failure -j"$jobs"
