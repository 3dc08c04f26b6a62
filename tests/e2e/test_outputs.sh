#!/usr/bin/env bash
# Outputs after apply, as text, one by name, and as JSON.
source "$(dirname "$0")/lib.sh"
topology 2
run 0 "$infra" up "$topo"
out_has "Outputs:"
lb=$(jq -r '.resources["load_balancer.web"].attributes.dns_name' "$(state_doc)")
run 0 "$infra" output "$topo"
out_has "lb_dns = \"$lb\""
run 0 "$infra" output "$topo" lb_dns
[ "$(cat "$work/out")" = "$lb" ] || fail "output lb_dns printed $(cat "$work/out")"
run 0 "$infra" output "$topo" --json
jq -e --arg lb "$lb" '.lb_dns == $lb and (.web_ips | length) == 2' "$work/out" >/dev/null ||
  fail "output --json: $(cat "$work/out")"
run 0 "$infra" output "$topo" web_ips --json
jq -e 'length == 2' "$work/out" >/dev/null || fail "web_ips --json"
run 1 "$infra" output "$topo" nope
err_has "no output named \"nope\""
echo "outputs as text and JSON"
