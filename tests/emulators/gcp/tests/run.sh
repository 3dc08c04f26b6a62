#!/bin/sh
# run.sh test_MODULE: one unittest module; exits 77 (ctest SKIP) when nothing ran
# because everything was skipped (e.g. not root).
cd "$(dirname "$0")" || exit 1
export PYTHONDONTWRITEBYTECODE=1  # keep the source tree clean
out=$(mktemp)
/usr/bin/python3 -m unittest -v "$@" > "$out" 2>&1
status=$?
cat "$out"
if [ $status -eq 0 ] && grep -q 'skipped' "$out" && ! grep -q ' \.\.\. ok$' "$out"; then
  status=77
fi
rm -f "$out"
exit $status
