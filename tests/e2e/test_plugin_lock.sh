#!/usr/bin/env bash
# A plugin without INFRA_CAP_CONCURRENT is called from one thread at a time
# per plugin, not per provider block: two blocks of "test-basic" (which
# logs "overlap" when two of its calls ever run at once) under a high
# --parallelism still never overlap, and everything is made.
source "$(dirname "$0")/lib.sh"
cat >"$topo" <<YAML
name: e2e
providers:
  a: { plugin: test-basic, dir: "\${env.INFRA_TEST_DIR}/a", latency_ms: 40 }
  b: { plugin: test-basic, dir: "\${env.INFRA_TEST_DIR}/b", latency_ms: 40 }
instances:
  one: { provider: a, count: 4, size: small, image: img-1 }
  two: { provider: b, count: 4, size: small, image: img-1 }
YAML

run 0 "$infra" up "$topo" --parallelism 8
[ "$(objects 'a/instance')" -eq 4 ] && [ "$(objects 'b/instance')" -eq 4 ] ||
  fail "expected 4 + 4 instances"
run 0 "$infra" plan "$topo"
if grep -h overlap "$INFRA_TEST_DIR"/a/calls.log "$INFRA_TEST_DIR"/b/calls.log; then
  fail "two calls of one plugin that is not thread-safe ran at once"
fi
run 0 "$infra" down --yes "$topo" --parallelism 8
if grep -h overlap "$INFRA_TEST_DIR"/a/calls.log "$INFRA_TEST_DIR"/b/calls.log; then
  fail "two deletes of one plugin that is not thread-safe ran at once"
fi
echo "one call at a time per plugin across provider blocks"
