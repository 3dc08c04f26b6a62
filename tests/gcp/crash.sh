#!/usr/bin/env bash
# kill -9 `infra up` at every mutating API call it makes, before and after
# the call takes effect: the emulator's crash point SIGKILLs the infra
# process from inside the request. After each crash the state must parse
# and a rerun must converge: the objects the emulator holds are exactly
# those the state names (no duplicate, no orphan), no intent is left and
# plan is clean. tests/gcp/data/types.yaml has every resource type.
#   usage: crash.sh INFRA_BINARY BUILD_DIR
source "$(dirname "$0")/lib.sh"

emulator_start --operation-seconds 0.1 --time-scale 0.05 --loopback-addresses
topo=$work/run/types.yaml
points=0

reset() {
  curl -sf -X POST "$endpoint/_emulator/reset" >/dev/null
  rm -rf "$work/run"
  mkdir -p "$work/run"
  cp "$here/data/types.yaml" "$topo"
}

check_converged() {
  local label=$1 st
  st=$(state_json "$topo") || fail "$label: no state"
  echo "$st" | jq -e . >/dev/null || fail "$label: state does not parse"
  [ "$(echo "$st" | jq '.intents | length')" -eq 0 ] || fail "$label: intents left after a converged run"
  local named held
  named=$(state_objects "$topo")
  held=$(emu_objects)
  [ "$named" = "$held" ] || {
    diff <(echo "$named") <(echo "$held") >&2 || true
    fail "$label: the state and the emulator's objects differ (a duplicate or an orphan)"
  }
  run 0 "$infra" plan "$topo"
}

# crash_up AT WHEN: infra up, killed by the emulator at its AT-th mutating
# call; the shell registers its own pid and becomes infra (exec).
crash_up() {
  local at=$1 when=$2 rc=0
  { bash -c 'curl -sf -X POST -d "{\"pid\": $$, \"at\": $1, \"when\": \"$2\"}" "$3/_emulator/crash-point" >/dev/null &&
             exec "$4" up "$5"' crash "$at" "$when" "$endpoint" "$infra" "$topo" \
      >"$work/crash.out" 2>&1 </dev/null || rc=$?; } 2>/dev/null
  if [ $rc -ne 137 ] && [ $rc -ne 0 ]; then
    cat "$work/crash.out" >&2
    fail "up crashing at #$at $when: exit $rc (expected a SIGKILL or success)"
  fi
  if state_json "$topo" >/dev/null 2>&1; then
    state_json "$topo" | jq -e . >/dev/null || fail "crash at #$at $when: the state does not parse"
  fi
}

# How many mutating calls a clean up makes.
reset
run 0 "$infra" up "$topo"
check_converged "clean up"
total=$(grep -cE ' (compute|dns) [^ ]+\.(insert|delete|patch|update|set[A-Za-z]*|add[A-Za-z]*|remove[A-Za-z]*|resize|create) ' "$work/emulator.log")
[ "$total" -ge 15 ] || fail "a clean up made only $total mutating calls"
echo "a clean up makes $total mutating calls"

for when in before after; do
  for at in $(seq 1 "$total"); do
    reset
    crash_up "$at" "$when"
    fired=$(curl -sf "$endpoint/_emulator/crash-point" | jq -r '.fired // "nothing"')
    run 0 "$infra" up "$topo"
    check_converged "crash $when #$at ($fired)"
    points=$((points + 1))
  done
done

# A down killed midway is finished by the next one.
for when in before after; do
  reset
  run 0 "$infra" up "$topo"
  { bash -c 'curl -sf -X POST -d "{\"pid\": $$, \"at\": 4, \"when\": \"$1\"}" "$2/_emulator/crash-point" >/dev/null &&
             exec "$3" down --yes "$4"' crash "$when" "$endpoint" "$infra" "$topo" >"$work/crash.out" 2>&1 </dev/null || true; } 2>/dev/null
  run 0 "$infra" down --yes "$topo"
  [ -z "$(emu_objects)" ] || fail "down after a crashed down ($when) left: $(emu_objects)"
  points=$((points + 1))
done
echo "ok: $points crash points, every rerun converged without a duplicate or an orphan"
