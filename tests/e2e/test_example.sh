#!/usr/bin/env bash
# examples/test.yaml validates, applies, converges and is destroyed.
source "$(dirname "$0")/lib.sh"
cp "$(dirname "$0")/../../examples/test.yaml" "$work/example.yaml"
run 0 "$infra" validate "$work/example.yaml"
run 0 "$infra" up "$work/example.yaml"
out_has "Apply: 7 done, 0 failed, 0 skipped."
run 0 "$infra" output "$work/example.yaml" url
grep -q '^http://www.example.test/$' "$work/out" || fail "url output: $(cat "$work/out")"
run 0 "$infra" plan "$work/example.yaml"
run 0 "$infra" down "$work/example.yaml" --yes
[ "$(objects)" -eq 0 ] || fail "objects left"
echo "the example works"
