#!/usr/bin/env bash
# A changed attribute is an update in place; a changed force_new attribute
# (image) is a replace: a new object, the old one gone.
source "$(dirname "$0")/lib.sh"
topology 2 small img-1
run 0 "$infra" up "$topo"
old_id=$(jq -r '.resources["instance.web[0]"].attributes.id' "$(state_doc)")

topology 2 medium img-1
run 2 "$infra" plan "$topo"
out_has "~ instance.web[0]  (update in place: size)"
out_has '~ size = "small" -> "medium"'
out_has "Plan: 0 to create, 2 to update, 0 to replace, 0 to delete."
run 0 "$infra" up "$topo"
[ "$(jq -r '.resources["instance.web[0]"].attributes.id' "$(state_doc)")" = "$old_id" ] ||
  fail "an update changed the object id"
grep -q '"size":"medium"' "$(object_file 'instance.web[0]')" || fail "object not updated"

topology 2 medium img-2
run 2 "$infra" plan "$topo"
out_has "-/+ instance.web[0]  (replace: image)"
out_has "# forces replacement"
out_has "~ load_balancer.web  (update in place: targets)"
out_has "Plan: 0 to create, 1 to update, 2 to replace, 0 to delete."
run 0 "$infra" up "$topo"
new_id=$(jq -r '.resources["instance.web[0]"].attributes.id' "$(state_doc)")
[ "$new_id" != "$old_id" ] || fail "a replace kept the object id"
[ ! -e "$INFRA_TEST_DIR/instance/$old_id.json" ] || fail "the replaced object still exists"
[ "$(objects instance)" -eq 2 ] || fail "expected 2 instances after the replace"
run 0 "$infra" plan "$topo"
echo "update in place and replace behave"
