#!/usr/bin/env bash
# `infra graph` prints the resource DAG in DOT, dependency -> dependent.
source "$(dirname "$0")/lib.sh"
topology 2
run 0 "$infra" graph "$topo"
out_has 'digraph "e2e" {'
out_has '"network.main" -> "firewall.web";'
out_has '"firewall.web" -> "instance.web[0]";'
out_has '"instance.web[1]" -> "load_balancer.web";'
out_has '"load_balancer.web" -> "dns_record.www";'
if command -v dot >/dev/null; then
  dot -Tsvg "$work/out" >/dev/null || fail "dot rejects the graph"
fi
echo "graph is DOT"
