#!/usr/bin/env bash
# kill -9 `infra up` (and `infra down`) at every mutating provider call, before
# and after the call takes effect, and from outside at random instants; after
# each crash the state must parse and a rerun must converge with no duplicate
# and no orphan object.
#   usage: crash.sh INFRA_BINARY
# On another backend: INFRA_TEST_BACKEND_YAML is appended to the topology
# (tests/state/with-postgres.sh and with-s3.sh set it); it may name
# ${env.INFRA_TEST_STATE_ID}, which changes with every fresh start.
set -euo pipefail
infra=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export INFRA_PLUGIN_PATH=
resources=24
points=0

fail() { echo "FAIL: $*" >&2; exit 1; }

# The state document (infra state pull, whatever the backend) in a file.
state_file() {
  "$infra" state pull "$work/run/crash.yaml" >"$work/state.json" 2>"$work/pull.err" ||
    { cat "$work/pull.err" >&2; echo "$work/pull.err"; return; }
  echo "$work/state.json"
}

# The objects the provider holds, as "ADDRESS ID" lines, sorted.
objects() {
  local dir=$1
  find "$dir" -mindepth 2 -maxdepth 2 -name '*.json' -path '*/*/*' ! -path '*/catalog/*' \
    -exec jq -r '"\(.address) \(.id)"' {} + 2>/dev/null | sort
}

# State must parse; its resources and the provider's objects must match one to one.
check_converged() {
  local label=$1
  local st; st=$(state_file)
  jq -e . "$st" >/dev/null || fail "$label: state does not parse"
  local in_state; in_state=$(jq -r '.resources | to_entries[] | "\(.key) \(.value.attributes.id)"' "$st" | sort)
  local in_cloud; in_cloud=$(objects "$work/objects")
  [ "$(echo "$in_state" | grep -c .)" -eq "$resources" ] || fail "$label: state has $(echo "$in_state" | grep -c .) resources, expected $resources"
  [ "$in_state" = "$in_cloud" ] || { diff <(echo "$in_state") <(echo "$in_cloud") >&2 || true; fail "$label: state and provider objects differ (duplicate or orphan)"; }
  [ "$(jq '.intents | length' "$st")" -eq 0 ] || fail "$label: intents left after a converged run"
  "$infra" plan "$work/run/crash.yaml" >/dev/null 2>&1 || { rc=$?; [ $rc -eq 0 ] || fail "$label: plan after convergence exits $rc"; }
}

check_empty() {
  local label=$1
  local st; st=$(state_file)
  jq -e . "$st" >/dev/null || fail "$label: state does not parse"
  [ "$(jq '.resources | length' "$st")" -eq 0 ] || fail "$label: state not empty after down"
  [ -z "$(objects "$work/objects")" ] || fail "$label: objects left after down: $(objects "$work/objects")"
}

reset() {
  rm -rf "$work/run" "$work/objects"
  mkdir -p "$work/run"
  cp "$here/crash.yaml" "$work/run/crash.yaml"
  printf '%s\n' "${INFRA_TEST_BACKEND_YAML:-}" >>"$work/run/crash.yaml"
  export CRASH_DIR=$work/objects INFRA_TEST_STATE_ID="$$_$points"
}

# run_crashing LABEL COMMAND...: the command must die by SIGKILL or finish.
run_crashing() {
  local label=$1; shift
  set +e
  "$@" >"$work/out" 2>&1
  local rc=$?
  set -e
  if [ $rc -ne 137 ] && [ $rc -ne 0 ]; then
    cat "$work/out" >&2
    fail "$label: exit $rc (expected a SIGKILL or success)"
  fi
  if [ -f "$(state_file)" ]; then
    jq -e . "$(state_file)" >/dev/null || fail "$label: state does not parse right after the crash"
  fi
}

# 1. up killed at each of the 24 mutating calls, before and after the effect.
for when in before after; do
  for at in $(seq 1 $resources); do
    reset
    CRASH_AT=$at CRASH_WHEN=$when run_crashing "up crash $when #$at" "$infra" up "$work/run/crash.yaml"
    CRASH_AT=0 "$infra" up "$work/run/crash.yaml" >"$work/out" 2>&1 || { cat "$work/out" >&2; fail "rerun after up crash $when #$at"; }
    check_converged "up crash $when #$at"
    points=$((points + 1))
  done
done

# 2. down killed at several calls; a second down finishes the job.
for when in before after; do
  for at in 1 5 12 24; do
    reset
    "$infra" up "$work/run/crash.yaml" >/dev/null 2>&1 || fail "setup for down crash"
    CRASH_AT=$at CRASH_WHEN=$when run_crashing "down crash $when #$at" "$infra" down --yes "$work/run/crash.yaml"
    "$infra" down --yes "$work/run/crash.yaml" >"$work/out" 2>&1 || { cat "$work/out" >&2; fail "rerun of down after crash $when #$at"; }
    check_empty "down crash $when #$at"
    points=$((points + 1))
  done
done

# 3. kill -9 from outside at varying instants while calls are slow.
for delay in 0.05 0.15 0.3 0.45 0.6 0.8; do
  reset
  CRASH_LATENCY_MS=100 "$infra" up "$work/run/crash.yaml" --parallelism 4 >"$work/out" 2>&1 &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ -f "$(state_file)" ] && { jq -e . "$(state_file)" >/dev/null || fail "external kill at ${delay}s: state does not parse"; }
  "$infra" up "$work/run/crash.yaml" >"$work/out" 2>&1 || { cat "$work/out" >&2; fail "rerun after external kill at ${delay}s"; }
  check_converged "external kill at ${delay}s"
  points=$((points + 1))
done

echo "crash points: $points, every rerun converged"
[ $points -ge 50 ] || fail "only $points crash points"
