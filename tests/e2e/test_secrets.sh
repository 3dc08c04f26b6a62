#!/usr/bin/env bash
# A password attribute's value never reaches the state file, the plan, the
# progress, status, outputs or logs.
source "$(dirname "$0")/lib.sh"
secret="Sup3r-Secret-Value-42"
topology 1
sed -i "s/^    depends_on: \[firewall.web\]/    depends_on: [firewall.web]\n    password: \"$secret\"/" "$topo"
grep -q "$secret" "$topo" || fail "the topology does not hold the password"
logs=$work/logs
: >"$logs"
keep() { cat "$work/out" "$work/err" >>"$logs"; }
run 2 "$infra" plan "$topo" -v; keep
run 2 "$infra" plan "$topo" --json; keep
run 0 "$infra" up "$topo" -v; keep
run 0 "$infra" status "$topo"; keep
run 0 "$infra" output "$topo" --json; keep
sed -i "s/$secret/Another-Secret-Value-43/" "$topo"
run 2 "$infra" plan "$topo"; keep
out_has "~ password = (sensitive) -> (sensitive)"
run 0 "$infra" up "$topo" -v; keep
! grep -qF "$secret" "$logs" || fail "the password appears in the output"
! grep -qF "Another-Secret-Value-43" "$logs" || fail "the new password appears in the output"
! grep -qF "$secret" "$work/.infra/"* || fail "the password appears in the state"
! grep -qF "Another-Secret-Value-43" "$work/.infra/"* || fail "the new password appears in the state"
jq -e '.resources["instance.web[0]"].config.password | startswith("sha256:")' "$(state_doc)" >/dev/null ||
  fail "the state should hold the password's hash"
echo "secrets stay secret"
