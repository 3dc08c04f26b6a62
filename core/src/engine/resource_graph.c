/* The resource graph (see resource_graph.h). */
#include "engine/resource_graph.h"

#include <stdlib.h>

#include "base/util.h"

/* Edges into node from what the entry records: its deps (resources or
 * groups) and the groups it was a member of. A group only the state still
 * names gets its node here. */
static void add_entry_edges(graph *g, size_t node, const json_t *entry)
{
    size_t k;
    json_t *v;
    json_array_foreach(json_object_get(entry, "deps"), k, v) {
        const char *address = json_string_value(v);
        size_t from = !address                      ? GRAPH_NONE
                      : topology_is_group(address) ? graph_add_node(g, address)
                                                    : graph_find(g, address);
        if (from != GRAPH_NONE)
            graph_add_edge(g, from, node);
    }
    json_array_foreach(json_object_get(entry, "groups"), k, v) {
        const char *address = json_string_value(v);
        if (address && topology_is_group(address))
            graph_add_edge(g, node, graph_add_node(g, address));
    }
}

int rgraph_build(engine *e, state *st, int with_topology, graph **out, diag_list *diags)
{
    const topology *t = e->topo;
    graph *g = graph_new();
    size_t ntopo = with_topology ? t->nresources : 0;

    for (size_t i = 0; i < ntopo; i++)
        graph_add_node(g, t->resources[i].address);
    /* A dependency on a group is one edge from its node, which waits for
     * every member: linear where an edge per member per dependent would
     * be quadratic (every agent of a region waits for all its servers). */
    for (size_t i = 0; with_topology && i < t->ngroups; i++) {
        const topo_group *grp = &t->groups[i];
        size_t node = graph_add_node(g, grp->address);
        for (size_t k = 0; k < grp->nmembers; k++) {
            size_t member = graph_find(g, grp->members[k]);
            if (member != GRAPH_NONE)
                graph_add_edge(g, member, node);
        }
    }
    size_t first_state = graph_count(g);
    if (st) {
        json_t *addresses = state_addresses(st);
        size_t k;
        json_t *a;
        json_array_foreach(addresses, k, a)
            graph_add_node(g, json_string_value(a));
        json_decref(addresses);
        addresses = state_intent_addresses(st);
        json_array_foreach(addresses, k, a)
            graph_add_node(g, json_string_value(a));
        json_decref(addresses);
    }
    size_t last_state = graph_count(g);
    for (size_t i = 0; i < ntopo; i++) {
        const topo_resource *r = &t->resources[i];
        for (size_t k = 0; k < r->ndeps; k++) {
            size_t from = graph_find(g, r->deps[k]);
            if (from != GRAPH_NONE)
                graph_add_edge(g, from, i);
        }
    }
    for (size_t i = first_state; st && i < last_state; i++) {
        json_t *entry = state_get(st, graph_address(g, i));
        if (entry)
            add_entry_edges(g, i, entry);
        json_decref(entry);
    }

    size_t *order = NULL, *cycle = NULL, ncycle = 0;
    int error = 0;
    /* A resource naming itself waits for its own values: a cycle of one,
     * which the topology keeps out of its deps. */
    for (size_t i = 0; i < ntopo; i++) {
        const topo_resource *r = &t->resources[i];
        if (!r->self_ref)
            continue;
        char *key = engine_resource_key(r, NULL);
        diag_add(diags, DIAG_ERROR, &r->loc, key, "dependency cycle: %s -> %s", r->address,
                 r->address);
        free(key);
        error = INFRA_EINVALID;
    }
    if (error < 0) {
        *out = g;
        return error;
    }
    error = graph_order(g, &order, &cycle, &ncycle);
    if (error < 0) {
        char *text = graph_cycle_text(g, cycle, ncycle);
        const topo_resource *r = topology_resource(t, graph_address(g, cycle[0]));
        char *key = r ? engine_resource_key(r, NULL) : NULL;
        diag_add(diags, DIAG_ERROR, r ? &r->loc : NULL, key, "dependency cycle: %s", text);
        free(key);
        free(text);
        free(cycle);
    }
    free(order);
    *out = g;
    return error;
}

