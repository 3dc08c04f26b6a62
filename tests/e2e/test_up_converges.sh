#!/usr/bin/env bash
# `infra up` creates every resource; a second plan says "No changes." and
# exits 0; a second up changes nothing.
source "$(dirname "$0")/lib.sh"
topology 3
run 0 "$infra" up "$topo"
out_has "Apply: 7 done, 0 failed, 0 skipped."
out_has "network.main: created in"
[ "$(objects)" -eq 7 ] || fail "expected 7 objects, found $(objects)"
[ "$(jq '.resources | length' "$(state_doc)")" -eq 7 ] || fail "state should hold 7 resources"
[ "$(jq '.intents | length' "$(state_doc)")" -eq 0 ] || fail "intents left after a clean run"
run 0 "$infra" plan "$topo"
out_has "No changes."
run 0 "$infra" up "$topo"
out_has "Apply: 0 done, 0 failed, 0 skipped."
[ "$(objects)" -eq 7 ] || fail "a second up changed the objects"
[ "$(wc -l <"$INFRA_TEST_DIR/calls.log")" -eq 7 ] || fail "a second up made provider calls"
echo "up converges"
