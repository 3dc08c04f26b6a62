#!/usr/bin/env bash
# A plugin cannot hang infra, end it silently or have garbage recorded:
#  - a create that outlives the provider's `timeout:` sees host->cancelled,
#    is abandoned after the grace period and fails naming the plugin, the
#    operation and the resource; nothing new starts, the intent stays, the
#    run ends with the summary and status 1, and a rerun converges;
#  - a read that hangs fails the plan the same way;
#  - exit() inside a create ends infra with status 1 and a line naming the
#    plugin and the resource, the state flushed and whole;
#  - a result that is not a map, or an attribute of the wrong type, is an
#    error naming the plugin, the type and the attribute, never stored.
source "$(dirname "$0")/lib.sh"

# topo_with LATENCY_MS EXTRA_SETTINGS: 12 instances on the test provider.
topo_with() {
  cat >"$topo" <<YAML
name: e2e
providers:
  test: { dir: "\${env.INFRA_TEST_DIR}", latency_ms: $1 ${2:-} }
instances:
  web: { count: 12, size: small, image: img-1 }
YAML
}

# A create that never returns.
topo_with 400 ', timeout: 1s, misbehave: ["hang create instance.web[1]"]'
run 1 "$infra" up "$topo" --parallelism 2
err_has 'instance.web[1]: plugin "test" did not return from create of instance.web[1] within 1s'
err_has "stopped because a plugin call did not return"
out_has "1 failed"
out_has "not started"
grep -q "create instance.web\[1\] - cancelled" "$INFRA_TEST_DIR/calls.log" ||
  fail "the hung call never saw host->cancelled"
[ "$(jq -r '.intents | keys[]' "$(state_doc)")" = "instance.web[1]" ] ||
  fail "the abandoned create's intent is not kept"
[ "$(objects instance)" -eq "$(jq '.resources | length' "$(state_doc)")" ] ||
  fail "what was made is not what the state records"
topo_with 0
run 0 "$infra" up "$topo" --parallelism 4
[ "$(objects instance)" -eq 12 ] || fail "the rerun left $(objects instance) instances"

# A read that never returns fails the plan: the test provider reads the
# twelve in one read_many call.
topo_with 0 ', timeout: 1s, misbehave: ["hang read instance.web[5]"]'
run 1 "$infra" plan "$topo"
err_has 'instances.web: refresh failed: plugin "test" did not return from read_many of 12 instance resources within 1s'

# exit() inside a create.
run 0 "$infra" down --yes "$topo"
topo_with 100 ', misbehave: ["exit create instance.web[3]"]'
run 1 "$infra" up "$topo" --parallelism 2
err_has 'plugin "test" ended the process during create of instance.web[3]'
jq -e '.intents["instance.web[3]"]' "$(state_doc)" >/dev/null || fail "the create's intent is lost"
topo_with 0
run 0 "$infra" up "$topo" --parallelism 4
[ "$(objects instance)" -eq 12 ] || fail "after exit() the rerun left $(objects instance) instances"

# Results that do not match the schema.
run 0 "$infra" down --yes "$topo"
topo_with 0 ', misbehave: ["garbage create instance.web[0]", "bad_type read instance.web[2]"]'
run 1 "$infra" up "$topo"
err_has 'plugin "test" returned a string for the create of instance.web[0] (type instance): expected a map of attributes'
! grep -q garbage "$(state_doc)" || fail "garbage was stored"
run 1 "$infra" plan "$topo"
err_has 'instances.web.size: refresh failed: plugin "test" returned attribute "size" as an integer for the read of instance.web[2] (type instance); its schema declares a string'
echo "hangs, exit() and garbage are contained"
