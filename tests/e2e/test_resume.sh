#!/usr/bin/env bash
# host->call_resuming: a create whose token comes from an intent of an
# interrupted run is told so (the test provider then notes "resumed" in
# calls.log after looking for the object first); a create new in this run
# is not.
source "$(dirname "$0")/lib.sh"
cat >"$topo" <<YAML
name: e2e
providers:
  test: { dir: "\${env.INFRA_TEST_DIR}", crash_at: 2, crash_when: before }
instances:
  web: { count: 3, size: small, image: img-1 }
YAML
rc=0
"$infra" up "$topo" --parallelism 1 >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 137 ] || fail "the crash did not happen (exit $rc)"
sed -i 's/, crash_at: 2, crash_when: before//' "$topo"
run 0 "$infra" up "$topo" --parallelism 1
[ "$(grep -c ' resumed$' "$INFRA_TEST_DIR/calls.log")" -eq 1 ] ||
  { cat "$INFRA_TEST_DIR/calls.log" >&2; fail "expected exactly one resumed create"; }
[ "$(grep -c '^create ' "$INFRA_TEST_DIR/calls.log")" -eq 3 ] || fail "expected 3 creates in all"
[ "$(objects instance)" -eq 3 ] || fail "expected 3 instances"
echo "resumed creates are told so, new ones are not"
