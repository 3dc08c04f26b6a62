#!/usr/bin/env bash
# Runs `infra validate` on every NAME.yaml of a directory (extra arguments
# from NAME.args when present, run from that directory so that diagnostics
# name the file as NAME.yaml) and compares the first line of stderr with
# NAME.expected. Every topology must be refused (exit status 1).
#   usage: bad-topologies.sh INFRA_BINARY DIR
set -euo pipefail
infra=$1
dir=$2
export INFRA_PLUGIN_PATH=${INFRA_PLUGIN_PATH-}
export NO_COLOR=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

total=0
failed=0
cd "$dir"
for yaml in *.yaml; do
  [ -e "$yaml" ] || continue
  name=${yaml%.yaml}
  total=$((total + 1))
  if [ ! -f "$name.expected" ]; then
    echo "FAIL: $yaml: no $name.expected" >&2
    failed=$((failed + 1))
    continue
  fi
  args=()
  if [ -f "$name.args" ]; then
    read -r -a args <"$name.args" || true
  fi
  set +e
  "$infra" validate "$yaml" "${args[@]}" >"$work/out" 2>"$work/err" </dev/null
  rc=$?
  set -e
  expected=$(head -n 1 "$name.expected")
  got=$(head -n 1 "$work/err")
  if [ "$rc" -ne 1 ]; then
    echo "FAIL: $yaml: exit status $rc, expected 1" >&2
    failed=$((failed + 1))
  elif [ "$got" != "$expected" ]; then
    echo "FAIL: $yaml" >&2
    echo "  expected: $expected" >&2
    echo "  got:      $got" >&2
    failed=$((failed + 1))
  fi
done
echo "bad topologies: $total checked, $failed failed"
[ "$total" -gt 0 ] || { echo "FAIL: no topology in $dir" >&2; exit 1; }
[ "$failed" -eq 0 ]
