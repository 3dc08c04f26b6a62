#!/usr/bin/env bash
# -e int and -e prod have separate state files and separate objects; one
# environment's down leaves the other's objects alone.
source "$(dirname "$0")/lib.sh"
topology 2
run 0 "$infra" up "$topo" -e int
run 2 "$infra" plan "$topo" -e prod
out_has "Plan: 6 to create"
run 0 "$infra" up "$topo" -e prod
[ -f "$work/.infra/e2e.int.db" ] || fail "no int state"
[ -f "$work/.infra/e2e.prod.db" ] || fail "no prod state"
[ "$(objects)" -eq 12 ] || fail "expected 12 objects, found $(objects)"
int_ids=$(jq -r '[.resources[].attributes.id] | sort | join(" ")' "$(state_doc -e int)")
prod_ids=$(jq -r '[.resources[].attributes.id] | sort | join(" ")' "$(state_doc -e prod)")
[ -z "$(comm -12 <(tr ' ' '\n' <<<"$int_ids") <(tr ' ' '\n' <<<"$prod_ids"))" ] ||
  fail "int and prod share objects"
run 0 "$infra" down "$topo" -e int --yes
[ "$(objects)" -eq 6 ] || fail "down -e int should leave prod's 6 objects"
run 0 "$infra" plan "$topo" -e prod
echo "environments are separate"
