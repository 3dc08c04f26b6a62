/* The resource graph of a topology (and of its state): one node per
 * resource, per resource only in the state, per pending intent and per
 * group (topology.h: the servers of a region, "cluster.C.R.servers[*]",
 * which its members point to and its dependents wait for), an edge
 * dependency -> dependent. A cycle is reported naming it. */
#ifndef INFRA_RESOURCE_GRAPH_H
#define INFRA_RESOURCE_GRAPH_H

#include "base/diag.h"
#include "engine/engine.h"
#include "engine/graph.h"

/* Builds the graph of the topology's resources (with_topology) and, with
 * st, of the resources and intents only in the state (their edges from
 * the deps and groups recorded in their entries). A cycle is an error "dependency
 * cycle: a -> b -> a" at the first resource of the cycle, added to diags.
 * 0 or INFRA_EINVALID; *out is set in both cases (free with graph_free). */
int rgraph_build(engine *e, state *st, int with_topology, graph **out, diag_list *diags);

#endif
