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
# The state holds a hash keyed with the state's own key, kept in the
# secrets file beside it (never in the state), not a plain SHA-256 that
# could be matched against guesses offline.
secrets_file=$work/.infra/e2e.default.secrets.json
doc=$(state_doc)
hash=$(jq -r '.resources["instance.web[0]"].config.password' "$doc")
[[ $hash == hmac-sha256:* ]] || fail "the state should hold the password's keyed hash, not $hash"
legacy="sha256:$(printf '%s' '"Another-Secret-Value-43"' | sha256sum | cut -d' ' -f1)"
[[ $hash != "$legacy" ]] || fail "the hash is the unkeyed SHA-256 of the password"
key=$(jq -r '."infra.state-hash-key"' "$secrets_file")
[[ ${#key} == 64 ]] || fail "no hash key in $secrets_file"
! grep -qF "$key" "$work/.infra/"e2e.default.* "$doc" --exclude='*.secrets.json' 2>/dev/null ||
  fail "the hash key appears in the state"
run 0 "$infra" plan "$topo"
out_has "No changes."

# A state written with the unkeyed hash still compares equal, and the next
# up rewrites it keyed without changing the instance.
jq --arg h "$legacy" '.resources["instance.web[0]"].config.password = $h' "$doc" >"$work/old.json"
run 0 "$infra" state push "$topo" "$work/old.json" --force
run 0 "$infra" plan "$topo"
out_has "No changes."
run 0 "$infra" up "$topo"
out_has "Apply: 0 done, 0 failed, 0 skipped."
now=$(jq -r '.resources["instance.web[0]"].config.password' "$(state_doc)")
[ "$now" = "$hash" ] || fail "the unkeyed hash was not rewritten keyed: $now"
echo "secrets stay secret"
