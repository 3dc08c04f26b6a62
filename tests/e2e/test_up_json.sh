#!/usr/bin/env bash
# infra up --json / down --json: one JSON object a line and nothing else on
# stdout: the plan, each resource's start and end (with its duration, the
# error of a failure), diagnostics, the outputs and the summary.
source "$(dirname "$0")/lib.sh"

# every line of $work/out is a JSON object with a type and a timestamp
json_lines() {
  jq -e -s 'length > 0 and all(.[]; type == "object" and (.type | type == "string") and (."@timestamp" | test("Z$")))' \
    "$work/out" >/dev/null || { cat "$work/out" >&2; fail "stdout is not JSON lines"; }
}
events() { jq -c -s "$1" "$work/out"; }

topology 2 small img-1 'instance.web[1]'
run 1 "$infra" up "$topo" --json
json_lines
[ "$(events '[.[] | select(.type == "plan")][0].changes | length')" = 6 ] || fail "the plan event does not hold 6 changes"
[ "$(events '[.[] | select(.type == "resource_start" and .address == "instance.web[0]")][0].action')" = '"creating"' ] ||
  fail "no resource_start for instance.web[0]"
events '[.[] | select(.type == "resource_done" and .address == "instance.web[0]")][0]' |
  jq -e '.action == "created" and (.duration_s | type == "number")' >/dev/null || fail "no resource_done with a duration"
events '[.[] | select(.type == "resource_failed")][0]' |
  jq -e '.address == "instance.web[1]" and (.error | test("injected failure"))' >/dev/null ||
  fail "the failure is not a resource_failed event with its error: $(events '[.[] | select(.type == "resource_failed")]')"
events '[.[] | select(.type == "diagnostic")][0]' | jq -e '.severity == "error" and (.file | test("e2e.yaml$"))' >/dev/null ||
  fail "the failure's diagnostic is not an event with its file"
events '[.[] | select(.type == "summary")][0]' | jq -e '.done == 3 and .failed == 1 and .skipped == 2' >/dev/null ||
  fail "summary: $(events '[.[] | select(.type == "summary")]')"

topology 2
run 0 "$infra" up "$topo" --json
json_lines
events '[.[] | select(.type == "outputs")][0].outputs.web_ips | length' | grep -qx 2 || fail "no outputs event"
run 0 "$infra" down "$topo" --json --yes
json_lines
events '[.[] | select(.type == "summary")][0]' | jq -e '.operation == "destroy" and .done == 6' >/dev/null ||
  fail "down --json summary: $(events '[.[] | select(.type == "summary")]')"
echo "up --json and down --json: one event a line"
