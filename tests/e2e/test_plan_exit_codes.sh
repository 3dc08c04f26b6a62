#!/usr/bin/env bash
# `infra plan` exits 2 with changes, 0 without, 1 on an error.
source "$(dirname "$0")/lib.sh"
topology 2
run 2 "$infra" plan "$topo"
out_has "Plan: 6 to create, 0 to update, 0 to replace, 0 to delete."
out_has "+ instance.web[1]"
run 2 "$infra" plan "$topo" --json
jq -e 'length == 6 and all(.[]; .action == "create")' "$work/out" >/dev/null ||
  fail "plan --json should list 6 creates"
run 0 "$infra" up "$topo"
run 0 "$infra" plan "$topo"
run 0 "$infra" plan "$topo" --refresh=false
run 0 "$infra" plan "$topo" --json
[ "$(jq length "$work/out")" -eq 0 ] || fail "plan --json should be empty without changes"
echo "name: e2e" >"$work/broken.yaml"
echo "instances: { web: { size: small, provider: nowhere } }" >>"$work/broken.yaml"
run 1 "$infra" plan "$work/broken.yaml"
echo "plan exit codes are 2, 0 and 1"
