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
# What depends on a group (every agent on the servers of its region) goes
# through one node of the group.
cat >"$work/cluster.yaml" <<YAML
name: e2e
providers:
  test: { dir: "\${env.INFRA_TEST_DIR}" }
clusters:
  main:
    scheduler: testsched
    dir: "\${env.INFRA_TEST_DIR}"
    regions:
      eu:
        datacenters:
          dc: { provider: test, servers: 3, clients: 2 }
YAML
run 0 "$infra" graph "$work/cluster.yaml"
out_has '"cluster.main.eu.servers[*]" [shape=diamond'
out_has '"cluster.main.eu.dc.server[2]" -> "cluster.main.eu.servers[*]";'
out_has '"cluster.main.eu.servers[*]" -> "cluster_agent.main.eu.dc.client[1]";'
out_lacks '"cluster.main.eu.dc.server[2]" -> "cluster_agent.main.eu.dc.client[1]";'
if command -v dot >/dev/null; then
  dot -Tsvg "$work/out" >/dev/null || fail "dot rejects the graph"
fi
echo "graph is DOT"
