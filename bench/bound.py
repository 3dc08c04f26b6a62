#!/usr/bin/env python3
"""Critical-path bounds of applying a resource graph with p workers when
every resource takes the same time L.

Reads `infra graph` (DOT, dependency -> dependent) on stdin and prints, for
each parallelism given, in units of L:

  naive   max(depth, ceil(N / p)): a lower bound, often not reachable
  lower   the larger of that and, for every k, the nodes at height >= k
          spread over p workers plus the k - 1 levels that must follow them
          (Hu's bound for unit tasks)
  list    the length of the schedule "highest remaining path first" list
          scheduling makes: an achievable schedule (within a small factor
          of optimal in general, optimal for this benchmark's graphs)

Group nodes ("...[*]") and other nodes taking no time are passed through:
they cost nothing and need no worker.

  usage: infra graph TOPOLOGY | bound.py P [P...]
"""
import re
import sys
from collections import defaultdict

EDGE = re.compile(r'^\s*"((?:[^"\\]|\\.)*)" -> "((?:[^"\\]|\\.)*)";')
NODE = re.compile(r'^\s*"((?:[^"\\]|\\.)*)"( \[.*\])?;')


def read_graph(lines):
    nodes, succ, pred = [], defaultdict(list), defaultdict(list)
    seen = set()
    for line in lines:
        m = EDGE.match(line)
        if m:
            a, b = m.group(1), m.group(2)
            succ[a].append(b)
            pred[b].append(a)
            continue
        m = NODE.match(line)
        if m and m.group(1) not in seen:
            seen.add(m.group(1))
            nodes.append(m.group(1))
    return nodes, succ, pred


def free(node):
    return node.endswith("[*]")


def heights(nodes, succ):
    """Longest path (in costing nodes) from each node to the end."""
    order, indeg = [], {n: 0 for n in nodes}
    for n in nodes:
        for s in succ[n]:
            indeg[s] += 1
    ready = [n for n in nodes if indeg[n] == 0]
    while ready:
        n = ready.pop()
        order.append(n)
        for s in succ[n]:
            indeg[s] -= 1
            if indeg[s] == 0:
                ready.append(s)
    h = {}
    for n in reversed(order):
        below = max((h[s] for s in succ[n]), default=0)
        h[n] = below + (0 if free(n) else 1)
    return h


def list_schedule(nodes, succ, pred, h, p):
    """Rounds of unit time; each round runs at most p ready costing nodes,
    highest first; free nodes complete as soon as they are ready."""
    left = {n: len(pred[n]) for n in nodes}
    ready = [n for n in nodes if left[n] == 0]
    done, rounds = 0, 0
    costing = sum(1 for n in nodes if not free(n))

    def release(n, out):
        for s in succ[n]:
            left[s] -= 1
            if left[s] == 0:
                out.append(s)

    while done < costing:
        # free nodes pass through at once
        while any(free(n) for n in ready):
            passing = [n for n in ready if free(n)]
            ready = [n for n in ready if not free(n)]
            for n in passing:
                release(n, ready)
        ready.sort(key=lambda n: -h[n])
        run, ready = ready[:p], ready[p:]
        rounds += 1
        newly = []
        for n in run:
            done += 1
            release(n, newly)
        ready.extend(newly)
    return rounds


def main():
    ps = [int(a) for a in sys.argv[1:]] or [10]
    nodes, succ, pred = read_graph(sys.stdin)
    h = heights(nodes, succ)
    costing = [n for n in nodes if not free(n)]
    depth = max(h.values(), default=0)
    by_height = defaultdict(int)
    for n in costing:
        by_height[h[n]] += 1
    for p in ps:
        naive = max(depth, -(-len(costing) // p))
        lower, at_least = naive, 0
        for k in sorted(by_height, reverse=True):
            at_least += by_height[k]
            lower = max(lower, -(-at_least // p) + k - 1)
        sched = list_schedule(nodes, succ, pred, h, p)
        print(f"p={p} nodes={len(costing)} depth={depth} naive={naive} lower={lower} list={sched}")


if __name__ == "__main__":
    main()
