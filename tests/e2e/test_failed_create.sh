#!/usr/bin/env bash
# A create the plugin answers with a failure is not an interrupted one:
# with a plugin that looks objects up by token, the failure says nothing
# was created and leaves no intent, so the next plan and down say nothing
# of an interrupted create; with one that cannot (test-basic), the intent
# is kept marked failed and every later message says the create failed and
# that whether it left an object is unknown.
source "$(dirname "$0")/lib.sh"

topology 2 small img-1 'instance.web[1]'
run 1 "$infra" up "$topo"
err_has "instance.web[1]: create failed: injected failure; nothing was created"
[ "$(jq '.intents | length' "$(state_doc)")" -eq 0 ] || fail "a failed create left an intent: $(jq -c .intents "$(state_doc)")"
topology 2
run 2 "$infra" plan "$topo"
! grep -q "interrupted" "$work/out" "$work/err" || fail "plan calls the failed create interrupted"
run 0 "$infra" down "$topo" --yes
! grep -q "interrupted" "$work/out" "$work/err" || fail "down calls the failed create interrupted"

# test-basic: no token, no lookup by token
cat >"$topo" <<YAML
name: e2e
providers:
  basic: { plugin: test-basic, dir: "\${env.INFRA_TEST_DIR}/basic", fail: [instance.one] }
instances:
  one: { size: small, image: img-1 }
YAML
run 1 "$infra" up "$topo"
err_has "instance.one: create failed: injected failure; the plugin cannot look objects up by token, so whether it left an object is unknown: check by hand"
jq -e '.intents["instance.one"].failed == true' "$(state_doc)" >/dev/null || fail "the intent is not marked failed"
sed -i 's/, fail: \[instance.one\]//' "$topo"
run 2 "$infra" plan "$topo"
out_has "retrying a failed create"
! grep -q "interrupted" "$work/out" "$work/err" || fail "plan calls the failed create interrupted"
run 1 "$infra" up "$topo"
err_has 'a create of instance.one by plugin "test-basic" failed, and the plugin can neither'
run 0 "$infra" down "$topo" --yes
err_has 'instance.one: its last create failed and plugin "test-basic" cannot look objects up by token'
! grep -q "interrupted" "$work/err" || fail "down calls the failed create interrupted"
echo "failed creates are told from interrupted ones"
