#!/usr/bin/env bash
# infra import adopts an existing object through the plugin's import op
# (and a read) and records it; it is refused for an address already in the
# state, one not in the topology, and a plugin without import. infra state
# rm forgets a resource or an interrupted create. A create interrupted in
# a plugin that can neither repeat it safely nor look it up stops there,
# telling the user about both commands, instead of being repeated.
source "$(dirname "$0")/lib.sh"
cat >"$topo" <<YAML
name: e2e
providers:
  test: { dir: "\${env.INFRA_TEST_DIR}" }
  basic: { plugin: test-basic, dir: "\${env.INFRA_TEST_DIR}/basic" }
instances:
  web: { provider: test, count: 2, size: small, image: img-1 }
  other: { provider: basic, size: small, image: img-1 }
YAML

run 0 "$infra" up "$topo" -e a
id=$(jq -r '.resources["instance.web[0]"].attributes.id' "$(state_doc -e a)")
run 0 "$infra" import "$topo" 'instance.web[0]' "$id" -e b
out_has "Imported $id as instance.web[0]"
[ "$(jq -r '.resources["instance.web[0]"].attributes.id' "$(state_doc -e b)")" = "$id" ] ||
  fail "the imported object is not in the state"
run 2 "$infra" plan "$topo" -e b
out_has "Plan: 2 to create, 0 to update"
out_lacks "instance.web[0]  (create)"

run 1 "$infra" import "$topo" 'instance.web[0]' "$id" -e b
err_has "instance.web[0] is already in the state of e2e (b)"
run 1 "$infra" import "$topo" 'instance.nope' "$id" -e b
err_has "instance.nope is not a resource of"
run 1 "$infra" import "$topo" 'instance.other' "$id" -e b
err_has 'plugin "test-basic" of provider "basic" cannot import existing objects'
run 1 "$infra" import "$topo" 'instance.web[1]' tp-0000000000000000 -e b
err_has "importing tp-0000000000000000 as instance.web[1]: no such object"

run 0 "$infra" state rm "$topo" 'instance.web[0]' -e b
out_has "Removed instance.web[0]"
[ "$(jq '.resources | length' "$(state_doc -e b)")" -eq 0 ] || fail "state rm left the entry"
run 1 "$infra" state rm "$topo" 'instance.web[0]' -e b
err_has "the state of e2e (b) has no instance.web[0]"

# A create of the plugin without token creates, killed after it made its
# object: the rerun stops at it.
cat >"$topo" <<YAML
name: e2e
providers:
  basic: { plugin: test-basic, dir: "\${env.INFRA_TEST_DIR}/basic", crash_at: 1 }
instances:
  other: { provider: basic, size: small, image: img-1 }
YAML
rc=0
"$infra" up "$topo" -e c >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 137 ] || fail "the crash did not happen (exit $rc)"
sed -i 's/, crash_at: 1//' "$topo"
made=$(grep -c "^create instance.other" "$INFRA_TEST_DIR/basic/calls.log")
run 1 "$infra" up "$topo" -e c
err_has 'a create of instance.other by plugin "test-basic" was interrupted, and the plugin can neither repeat it safely nor look its object up'
err_has "infra import $topo instance.other ID -e c"
err_has "infra state rm $topo instance.other -e c"
[ "$(grep -c "^create instance.other" "$INFRA_TEST_DIR/basic/calls.log")" -eq "$made" ] ||
  fail "the interrupted create was repeated"
run 0 "$infra" state rm "$topo" instance.other -e c
out_has "Removed the unfinished create of instance.other"
run 0 "$infra" up "$topo" -e c
echo "import adopts, refusals are clear, interrupted creates are not repeated blindly"
