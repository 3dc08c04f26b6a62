#!/usr/bin/env bash
# Faults: examples/gcp-nomad.yaml brought up while the emulator answers
# rateLimitExceeded (429), userRateLimitExceeded (403), 500 and 503, adds
# latency and drops connections (half of the drops after the call took
# effect) on 20 % of the requests, after a first run killed with SIGKILL
# in the middle of the instance inserts. A few reruns converge: exactly
# the objects the state names exist (no duplicate, no orphan), no intent
# is left, plan is clean, and down leaves nothing.
#   usage: faults.sh INFRA_BINARY BUILD_DIR
source "$(dirname "$0")/lib.sh"

emulator_start --operation-seconds 0.15 --time-scale 0.05 --loopback-addresses --fault-seed 11
ssh-keygen -q -t ed25519 -N "" -C infra-gcp-test -f "$work/id_ed25519"
export INFRA_SSH_PUBLIC_KEY=$work/id_ed25519.pub INFRA_SSH_PRIVATE_KEY=$work/id_ed25519
topo=$work/gcp-nomad.yaml
cp "$root/examples/gcp-nomad.yaml" "$topo"
nodes=3

# 1. Killed with SIGKILL while the instances are inserted.
emu_faults 0.1 3
"$infra" up "$topo" >"$work/killed.out" 2>&1 </dev/null &
pid=$!
for _ in $(seq 1 600); do
  n=$(emu_calls | jq '.compute["compute.instances.insert"] // 0')
  [ "$n" -ge 1 ] && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.05
done
{ kill -9 $pid; wait $pid; } 2>/dev/null || true

# 2. Reruns under 20 % faults until one succeeds.
emu_faults "${FAULT_RATE:-0.2}" "${FAULT_SEED:-7}"
ok=
for attempt in 1 2 3 4 5; do
  if "$infra" up "$topo" >"$work/out" 2>"$work/err" </dev/null; then
    ok=$attempt
    break
  fi
  echo "up $attempt under faults failed:" >&2
  grep -E 'error|failed' "$work/err" | head -n 5 >&2 || true
done
[ -n "$ok" ] || { cat "$work/err" >&2; fail "infra up did not converge in 5 runs under faults"; }
echo "converged on run $ok under faults"
# More runs under faults change nothing (every kind of fault is met by then).
seen_all() {
  for kind in ratelimit userratelimit 500 503 drop; do
    grep -q "fault=$kind" "$work/emulator.log" || return 1
  done
}
for _ in 1 2 3 4 5; do
  seen_all && break
  run 0 "$infra" up "$topo"
  out_has "No changes."
done
emu_faults 0
faults_seen=$(grep -c 'fault=' "$work/emulator.log" || true)
[ "$faults_seen" -gt 10 ] || fail "only $faults_seen faults were injected"
seen_all || fail "not every kind of fault was injected: $(grep -o 'fault=[a-z0-9-]*' "$work/emulator.log" | sort | uniq -c | tr '\n' ' ')"

# 3. Exactly what the state names: one instance per address, no orphan.
named=$(state_objects "$topo")
held=$(emu_objects)
[ "$named" = "$held" ] || {
  diff <(echo "$named") <(echo "$held") >&2 || true
  fail "the state and the emulator's objects differ (a duplicate or an orphan)"
}
[ "$(echo "$held" | grep -c '^instances ')" -eq $nodes ] || fail "expected $nodes instances"
[ "$(state_json "$topo" | jq '.intents | length')" -eq 0 ] || fail "intents are left in the state"
grep -q "ya29\|PRIVATE KEY" "$work/out" "$work/err" "$work/killed.out" && fail "a secret was printed"

# 4. Converged: nothing to do, and down removes everything.
run 0 "$infra" plan "$topo"
run 0 "$infra" down "$topo" --yes
[ -z "$(emu_objects)" ] || fail "after down the emulator still holds: $(emu_objects)"
echo "ok: converged under faults without duplicates or orphans"
