#!/usr/bin/env bash
# SIGINT during up: the first one starts nothing new, has the provider's
# stop op end the calls in flight (the test provider honours it), saves the
# state and exits 130; a rerun adopts or finishes every create. A second
# SIGINT aborts at once, and the state file is still whole.
source "$(dirname "$0")/lib.sh"
cat >"$topo" <<YAML
name: e2e
providers:
  test: { dir: "\${env.INFRA_TEST_DIR}", latency_ms: 400 }
instances:
  web: { count: 12, size: small, image: img-1 }
YAML

# interrupt SIGNALS...: starts up, waits for the first create to start, then
# sends one SIGINT per argument (20 ms apart: the provider's stop ends the
# calls in flight within a tenth of a second); leaves its status in $rc.
interrupt() {
  rm -f "$work/up.out"
  "$infra" up "$topo" --parallelism 2 >"$work/up.out" 2>"$work/up.err" </dev/null &
  local pid=$!
  for _ in $(seq 1 100); do
    grep -q "creating" "$work/up.out" 2>/dev/null && break
    sleep 0.05
  done
  for _ in "$@"; do
    kill -INT "$pid" 2>/dev/null || true
    sleep 0.02
  done
  rc=0
  wait "$pid" || rc=$?
}

interrupt once
[ "$rc" -eq 130 ] || { cat "$work/up.out" "$work/up.err" >&2; fail "first SIGINT: exit $rc, expected 130"; }
grep -q "interrupted; the state is saved" "$work/up.err" || fail "no interruption notice"
grep -q "not started" "$work/up.out" || fail "the summary does not count what was not started"
doc=$(state_doc)
jq -e . "$doc" >/dev/null || fail "state does not parse after SIGINT"
done_now=$(jq '.resources | length' "$doc")
[ "$done_now" -lt 12 ] || fail "expected not all instances, got $done_now"
[ "$(objects instance)" -eq "$done_now" ] || fail "the calls in flight were not recorded: $(objects instance) objects, $done_now in the state"
grep -q "stopped by the interrupt" "$work/up.err" || fail "the calls in flight were not stopped"
[ "$(jq '.intents | length' "$doc")" -le 2 ] || fail "more intents than calls in flight"

run 0 "$infra" up "$topo" --parallelism 12
[ "$(jq '.resources | length' "$(state_doc)")" -eq 12 ] || fail "rerun did not finish"
[ "$(objects instance)" -eq 12 ] || fail "rerun left $(objects instance) objects"
run 0 "$infra" down --yes "$topo"

interrupt twice twice
[ "$rc" -ne 0 ] || fail "a second SIGINT did not abort"
jq -e . "$(state_doc)" >/dev/null || fail "state does not parse after a second SIGINT"
run 0 "$infra" up "$topo" --parallelism 12
[ "$(objects instance)" -eq 12 ] || fail "after an abort the rerun left $(objects instance) objects, expected 12"
run 0 "$infra" plan "$topo"
echo "first SIGINT stops cleanly, second aborts, reruns converge"
