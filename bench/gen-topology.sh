#!/usr/bin/env bash
# Writes a topology of exactly N resources on the test provider (default
# 10,000): groups of one network, one firewall on it and instances on both,
# so the dependency depth is 3.
#   usage: gen-topology.sh [N] > bench.yaml
set -euo pipefail
total=${1:-10000}
per_group=100
awk -v total="$total" -v per="$per_group" 'BEGIN {
  groups = int((total + per - 1) / per)
  print "name: bench"
  print "providers:"
  print "  test:"
  print "    dir: \"${env.BENCH_DIR}\""
  print "    latency_ms: \"${env.BENCH_LATENCY_MS:-0}\""
  print "networks:"
  for (g = 0; g < groups; g++) {
    printf "  n%d: { cidr: \"10.%d.%d.0/24\" }\n", g, int(g / 256), g % 256
  }
  print "firewalls:"
  for (g = 0; g < groups; g++) {
    printf "  f%d: { network: \"${network.n%d.id}\", allow: [22, 80] }\n", g, g
  }
  print "instances:"
  left = total - 2 * groups
  for (g = 0; g < groups; g++) {
    n = per - 2
    if (n > left) n = left
    left -= n
    if (n <= 0) continue
    printf "  i%d: { count: %d, size: small, image: img-1, network: \"${network.n%d.id}\", depends_on: [firewall.f%d] }\n", g, n, g, g
  }
}'
