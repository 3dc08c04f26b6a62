/* The resource graph of a topology: what depends on a group (every agent
 * of a region waits for all its servers) goes through one group node, so
 * that a datacenter of N servers costs a number of edges linear in N. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <infra/plugin.h>

#include "base/util.h"
#include "engine/engine.h"
#include "engine/graph.h"
#include "engine/resource_graph.h"
#include "topology/topology.h"

#define SERVERS 4000
#define CLIENTS 2

static topology *cluster_topology(int servers, int clients)
{
    char *yaml = util_printf("name: big\n"
                             "providers:\n"
                             "  test: { dir: /nonexistent }\n"
                             "clusters:\n"
                             "  main:\n"
                             "    scheduler: testsched\n"
                             "    regions:\n"
                             "      eu:\n"
                             "        datacenters:\n"
                             "          dc1: { provider: test, servers: %d, clients: %d }\n",
                             servers, clients);
    topology *t = NULL;
    diag_list d = {0};
    int rc = topology_load_buffer("big.yaml", yaml, strlen(yaml), NULL, &t, &d);
    if (rc < 0) {
        diag_print(&d, stderr);
        fail_msg("the topology does not load");
    }
    diag_list_free(&d);
    free(yaml);
    return t;
}

static size_t edge_count(const graph *g)
{
    size_t total = 0;
    for (size_t i = 0; i < graph_count(g); i++) {
        size_t n = 0;
        graph_successors(g, i, &n);
        total += n;
    }
    return total;
}

static int has_predecessor(const graph *g, size_t node, size_t pred)
{
    size_t n = 0;
    const size_t *preds = graph_predecessors(g, node, &n);
    for (size_t k = 0; k < n; k++)
        if (preds[k] == pred)
            return 1;
    return 0;
}

static void test_rgraph_4000_servers_cost_a_linear_number_of_edges(void **unused)
{
    topology *t = cluster_topology(SERVERS, CLIENTS);
    size_t nodes = SERVERS + CLIENTS;
    /* instances, agents, the region */
    assert_int_equal(t->nresources, 2 * nodes + 1);
    engine e = {.topo = t};
    diag_list d = {0};
    graph *g = NULL;
    assert_int_equal(rgraph_build(&e, NULL, 1, &g, &d), 0);
    assert_int_equal(d.errors, 0);
    assert_int_equal(graph_count(g), t->nresources + 1); /* and the servers' group */

    /* Each agent: its instance and the group; the group: each server; the
     * region: every instance and every agent. An edge per agent per server
     * would be SERVERS * nodes = 16 million. */
    size_t edges = edge_count(g);
    assert_int_equal(edges, 2 * nodes + SERVERS + 2 * nodes);
    assert_true(edges < 6 * nodes);

    /* Still correct: every agent waits for every server through the group. */
    size_t group = graph_find(g, "cluster.main.eu.servers[*]");
    assert_true(group != GRAPH_NONE);
    size_t n = 0;
    graph_predecessors(g, group, &n);
    assert_int_equal(n, SERVERS);
    size_t server = graph_find(g, "cluster.main.eu.dc1.server[3999]");
    assert_true(has_predecessor(g, group, server));
    size_t client_agent = graph_find(g, "cluster_agent.main.eu.dc1.client[1]");
    assert_true(has_predecessor(g, client_agent, group));
    assert_true(has_predecessor(g, client_agent, graph_find(g, "cluster.main.eu.dc1.client[1]")));
    size_t *order = NULL;
    assert_int_equal(graph_order(g, &order, NULL, NULL), 0);
    size_t at_server = 0, at_group = 0, at_agent = 0;
    for (size_t i = 0; i < graph_count(g); i++) {
        at_server = order[i] == server ? i : at_server;
        at_group = order[i] == group ? i : at_group;
        at_agent = order[i] == client_agent ? i : at_agent;
    }
    assert_true(at_server < at_group && at_group < at_agent);
    free(order);
    graph_free(g);
    diag_list_free(&d);
    topology_free(t);
}

static void test_rgraph_records_group_members_on_their_resources(void **unused)
{
    topology *t = cluster_topology(3, 1);
    const topo_resource *server = topology_resource(t, "cluster.main.eu.dc1.server[1]");
    const topo_resource *client = topology_resource(t, "cluster.main.eu.dc1.client[0]");
    const topo_resource *agent = topology_resource(t, "cluster_agent.main.eu.dc1.client[0]");
    assert_non_null(server);
    assert_int_equal(server->ngroups, 1);
    assert_string_equal(server->groups[0], "cluster.main.eu.servers[*]");
    assert_int_equal(client->ngroups, 0);
    assert_int_equal(agent->ndeps, 2);
    assert_string_equal(agent->deps[0], "cluster.main.eu.dc1.client[0]");
    assert_string_equal(agent->deps[1], "cluster.main.eu.servers[*]");
    assert_true(topology_is_group(agent->deps[1]));
    assert_false(topology_is_group(agent->deps[0]));
    topology_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rgraph_4000_servers_cost_a_linear_number_of_edges),
        cmocka_unit_test(test_rgraph_records_group_members_on_their_resources),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
