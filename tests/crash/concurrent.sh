#!/usr/bin/env bash
# Two `infra up` on one environment at once: exactly one runs, the other is
# refused with the lock holder's details; the result has no duplicate.
#   usage: concurrent.sh INFRA_BINARY
# On another backend: INFRA_TEST_BACKEND_YAML is appended to the topology.
set -euo pipefail
infra=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export INFRA_PLUGIN_PATH= CRASH_DIR=$work/objects CRASH_LATENCY_MS=100
cp "$here/crash.yaml" "$work/crash.yaml"
printf '%s\n' "${INFRA_TEST_BACKEND_YAML:-}" >>"$work/crash.yaml"
export INFRA_TEST_STATE_ID="concurrent_$$"

fail() { echo "FAIL: $*" >&2; exit 1; }

set +e
"$infra" up "$work/crash.yaml" >"$work/a.out" 2>&1 &
a=$!
"$infra" up "$work/crash.yaml" >"$work/b.out" 2>&1 &
b=$!
wait $a; rca=$?
wait $b; rcb=$?
set -e

if [ $rca -eq 0 ] && [ $rcb -ne 0 ]; then loser=$work/b.out
elif [ $rcb -eq 0 ] && [ $rca -ne 0 ]; then loser=$work/a.out
else
  cat "$work/a.out" "$work/b.out" >&2
  fail "expected exactly one run to succeed (exit codes $rca and $rcb)"
fi
grep -q "locked by" "$loser" || { cat "$loser" >&2; fail "the refused run does not name the lock holder"; }
grep -q "pid [0-9]" "$loser" || { cat "$loser" >&2; fail "the refusal does not give the holder's pid"; }

count=$(find "$work/objects" -mindepth 2 -maxdepth 2 -name '*.json' ! -path '*/catalog/*' | wc -l)
[ "$count" -eq 24 ] || fail "expected 24 objects, found $count"
"$infra" plan "$work/crash.yaml" >/dev/null 2>&1 || fail "plan after the concurrent runs shows changes or fails"
echo "exactly one of two concurrent runs applied; the other was refused"
