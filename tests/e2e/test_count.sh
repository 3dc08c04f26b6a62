#!/usr/bin/env bash
# count 3 -> 5 creates exactly web[3] and web[4] (the balancer follows);
# 5 -> 3 deletes exactly those two.
source "$(dirname "$0")/lib.sh"
topology 3
run 0 "$infra" up "$topo"
ids_before=$(jq -r '[.resources["instance.web[0]","instance.web[1]","instance.web[2]"].attributes.id] | join(" ")' "$(state_doc)")

topology 5
run 2 "$infra" plan "$topo" --json
[ "$(jq -r '[.[] | select(.action == "create") | .address] | sort | join(" ")' "$work/out")" = "instance.web[3] instance.web[4]" ] ||
  fail "count 3 -> 5 should create web[3] and web[4]: $(cat "$work/out")"
[ "$(jq -r '[.[] | select(.action == "update") | .address] | join(" ")' "$work/out")" = "load_balancer.web" ] ||
  fail "the balancer should be updated"
run 0 "$infra" up "$topo"
[ "$(objects instance)" -eq 5 ] || fail "expected 5 instances"
[ "$(jq -r '.resources["load_balancer.web"].attributes.targets | length' "$(state_doc)")" -eq 5 ] ||
  fail "the balancer should target 5 instances"

topology 3
run 2 "$infra" plan "$topo" --json
[ "$(jq -r '[.[] | select(.action == "delete") | .address] | sort | join(" ")' "$work/out")" = "instance.web[3] instance.web[4]" ] ||
  fail "count 5 -> 3 should delete web[3] and web[4]"
run 0 "$infra" up "$topo"
[ "$(objects instance)" -eq 3 ] || fail "expected 3 instances"
ids_after=$(jq -r '[.resources["instance.web[0]","instance.web[1]","instance.web[2]"].attributes.id] | join(" ")' "$(state_doc)")
[ "$ids_before" = "$ids_after" ] || fail "the first three instances were touched"
run 0 "$infra" plan "$topo"
echo "count changes add and remove exactly the right instances"
