/* The resource graph (see resource_graph.h). */
#include "engine/resource_graph.h"

#include <stdlib.h>

#include "base/util.h"

static void add_dep_edges(graph *g, size_t node, const json_t *deps)
{
    size_t k;
    json_t *dep;
    json_array_foreach(deps, k, dep) {
        const char *address = json_string_value(dep);
        size_t from = address ? graph_find(g, address) : GRAPH_NONE;
        if (from != GRAPH_NONE)
            graph_add_edge(g, from, node);
    }
}

int rgraph_build(engine *e, state *st, int with_topology, graph **out, diag_list *diags)
{
    const topology *t = e->topo;
    graph *g = graph_new();
    size_t ntopo = with_topology ? t->nresources : 0;

    for (size_t i = 0; i < ntopo; i++)
        graph_add_node(g, t->resources[i].address);
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
    for (size_t i = 0; i < ntopo; i++) {
        const topo_resource *r = &t->resources[i];
        for (size_t k = 0; k < r->ndeps; k++) {
            size_t from = graph_find(g, r->deps[k]);
            if (from != GRAPH_NONE)
                graph_add_edge(g, from, i);
        }
    }
    for (size_t i = first_state; st && i < graph_count(g); i++) {
        json_t *entry = state_get(st, graph_address(g, i));
        if (entry)
            add_dep_edges(g, i, json_object_get(entry, "deps"));
        json_decref(entry);
    }

    size_t *order = NULL, *cycle = NULL, ncycle = 0;
    int error = graph_order(g, &order, &cycle, &ncycle);
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

