#!/usr/bin/env bash
# A resource removed from the topology is deleted, and only it.
source "$(dirname "$0")/lib.sh"
topology 2
run 0 "$infra" up "$topo"
dns_id=$(jq -r '.resources["dns_record.www"].attributes.id' "$(state_doc)")
sed -i '/^dns_records:/,/^  www:/d' "$topo"
run 2 "$infra" plan "$topo"
out_has "- dns_record.www  (delete)"
out_has "Plan: 0 to create, 0 to update, 0 to replace, 1 to delete."
run 0 "$infra" up "$topo"
[ ! -e "$INFRA_TEST_DIR/dns_record/$dns_id.json" ] || fail "the dns record still exists"
[ "$(objects)" -eq 5 ] || fail "expected 5 objects, found $(objects)"
jq -e '.resources | has("dns_record.www") | not' "$(state_doc)" >/dev/null ||
  fail "the state still holds dns_record.www"
run 0 "$infra" plan "$topo"
echo "removed resource deleted"
