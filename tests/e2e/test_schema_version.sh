#!/usr/bin/env bash
# The state records each resource's schema version (the type's "version"
# in the plugin's schema, 0 by default). A plugin release writing a newer
# version gets the older attributes through upgrade_state before anything
# reads them, and the state then records the new version; a plugin without
# upgrade_state is refused clearly.
source "$(dirname "$0")/lib.sh"
cat >"$topo" <<YAML
name: e2e
providers:
  test: { dir: "\${env.INFRA_TEST_DIR}" }
instances:
  web: { count: 2, size: small, image: img-1 }
YAML
run 0 "$infra" up "$topo"
[ "$(jq '[.resources[].schema_version] | unique' -c "$(state_doc)")" = "[0]" ] ||
  fail "the state does not record version 0"

export INFRA_TEST_SCHEMA_VERSION=2
run 0 "$infra" plan "$topo"
[ "$(grep -c '^upgrade instance.web\[[01]\] 0$' "$INFRA_TEST_DIR/calls.log")" -eq 2 ] ||
  fail "plan did not upgrade both instances from version 0"
run 0 "$infra" up "$topo"
[ "$(jq '[.resources[].schema_version] | unique' -c "$(state_doc)")" = "[2]" ] ||
  fail "the state does not record version 2 after up"
before=$(grep -c '^upgrade ' "$INFRA_TEST_DIR/calls.log")
run 0 "$infra" plan "$topo"
[ "$(grep -c '^upgrade ' "$INFRA_TEST_DIR/calls.log")" -eq "$before" ] ||
  fail "a state at the current version was upgraded again"

# A newer state than the plugin knows.
INFRA_TEST_SCHEMA_VERSION=1 run 1 "$infra" plan "$topo"
err_has 'the state of instance.web[0] was written by version 2 of the instance schema of plugin "test", which only knows version 1'

# A plugin without upgrade_state.
basic=$work/basic.yaml
cat >"$basic" <<YAML
name: basic
providers:
  test: { plugin: test-basic, dir: "\${env.INFRA_TEST_DIR}/basic" }
instances:
  one: { size: small, image: img-1 }
YAML
INFRA_TEST_SCHEMA_VERSION= run 0 "$infra" up "$basic"
run 1 "$infra" plan "$basic"
err_has 'the state of instance.one was written by version 0 of the instance schema of plugin "test-basic", which now writes version 2 and has no upgrade_state operation to convert it'
echo "schema versions are recorded and upgraded"
