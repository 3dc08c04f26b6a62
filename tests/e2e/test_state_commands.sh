#!/usr/bin/env bash
# infra state list|show|rm|mv|pull|push, the migration of a JSON state file
# of an earlier version, --backend-config errors, --lock-timeout and unlock.
source "$(dirname "$0")/lib.sh"
topology 3
run 0 "$infra" up "$topo"

# list and show
run 0 "$infra" state list "$topo"
[ "$(wc -l <"$work/out")" -eq 7 ] || fail "state list shows $(wc -l <"$work/out") addresses, expected 7"
out_has "instance.web[2]"
run 0 "$infra" state list "$topo" --json
[ "$(jq '.resources | length' "$work/out")" -eq 7 ] || fail "state list --json"
run 0 "$infra" state show "$topo" "instance.web[0]"
[ "$(jq -r .type "$work/out")" = instance ] || fail "state show"
run 1 "$infra" state show "$topo" instance.web
err_has "is not one entry: it names 3"

# mv renames every instance, index by index, without touching the objects.
id0=$(jq -r '.resources["instance.web[0]"].attributes.id' "$(state_doc)")
calls=$(wc -l <"$INFRA_TEST_DIR/calls.log")
run 0 "$infra" state mv "$topo" instance.web instance.app
out_has "Moved instance.web[0] to instance.app[0]"
[ "$(jq -r '.resources["instance.app[0]"].attributes.id' "$(state_doc)")" = "$id0" ] ||
  fail "the moved entry lost its id"
[ "$(wc -l <"$INFRA_TEST_DIR/calls.log")" -eq "$calls" ] || fail "state mv called the provider"
run 1 "$infra" state mv "$topo" instance.app network.app
err_has "same type"
run 0 "$infra" state mv "$topo" instance.app instance.web

# rm forgets; the object stays; the next plan creates it again.
run 0 "$infra" state rm "$topo" dns_record.www
out_has "Removed dns_record.www"
[ "$(objects dns_record)" -eq 1 ] || fail "state rm deleted the object"
run 2 "$infra" plan "$topo"
out_has "1 to create"
run 1 "$infra" state rm "$topo" dns_record.nope
err_has "has no dns_record.nope"

# pull, then push back: refused as older once the state moved on, taken
# with --force; a newer serial is taken as is.
run 0 "$infra" state pull "$topo"
cp "$work/out" "$work/pulled.json"
serial=$(jq .serial "$work/pulled.json")
run 0 "$infra" up "$topo"
run 1 "$infra" state push "$topo" "$work/pulled.json"
err_has "older than the serial"
jq ".serial = $((serial + 100))" "$work/pulled.json" >"$work/newer.json"
run 0 "$infra" state push "$topo" "$work/newer.json"
out_has "(serial $((serial + 100)))"
jq '.lineage = "00000000000000000000000000000000"' "$work/newer.json" >"$work/other.json"
run 1 "$infra" state push "$topo" "$work/other.json"
err_has "another state, not a version of this one"
"$infra" state push "$topo" - <"$work/newer.json" >"$work/out" 2>&1 || { cat "$work/out" >&2; fail "push from stdin"; }

# A JSON state file of an earlier version is migrated once, and kept.
rm -rf "$work/.infra"
jq '.serial = 5' "$work/pulled.json" >"$work/.infra.json"
mkdir -p "$work/.infra"
mv "$work/.infra.json" "$work/.infra/e2e.default.json"
run 0 "$infra" state list "$topo"
err_has "migrated the state"
err_has "e2e.default.json.migrated"
[ -f "$work/.infra/e2e.default.json.migrated" ] || fail "the JSON file was not kept"
[ "$(jq .serial "$(state_doc)")" -eq 5 ] || fail "the migrated serial changed"
run 0 "$infra" state list "$topo"
[ ! -s "$work/err" ] || { cat "$work/err" >&2; fail "the migration was announced twice"; }

# Backend settings: errors name the key.
run 1 "$infra" plan "$topo" --backend-config type=s4
err_has "--backend-config type: unknown backend type \"s4\""
run 1 "$infra" plan "$topo" --backend-config type=s3 --backend-config buckt=x
err_has "--backend-config buckt: unknown setting of the s3 backend (did you mean \"bucket\"?)"
topology 3 small img-1 "" "backend: { type: postgres, scheme_name: x }"
run 1 "$infra" plan "$topo"
err_has "e2e.yaml:"
err_has "backend.scheme_name: unknown setting of the postgres backend (did you mean \"schema_name\"?)"
topology 3

# The lock: waiting with --lock-timeout, and unlock.
exec 9>"$work/.infra/e2e.default.lock"
flock 9 # held by this shell: a holder without details
run 1 "$infra" up "$topo" --lock-timeout 2s
err_has "waiting up to 2s for the state lock"
err_has "locked by"
flock -u 9
exec 9>&-
run 0 "$infra" up "$topo" --lock-timeout 5s
run 1 "$infra" up "$topo" --lock-timeout 5x
err_has "expected a duration"
run 0 "$infra" unlock "$topo"
out_has "Unlocked e2e (default)."
echo "state commands, migration, backend settings and lock waiting behave"
