/* The resource graph: lookups, topological order, the cycle message and
 * DOT output. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <infra/plugin.h>

#include "engine/graph.h"
#include "base/util.h"

/* Adds "dependent depends on dependency" as the edge dependency -> dependent. */
static void depends(graph *g, const char *dependent, const char *dependency)
{
    size_t from = graph_add_node(g, dependency);
    size_t to = graph_add_node(g, dependent);
    graph_add_edge(g, from, to);
}

static size_t position(const size_t *order, size_t n, size_t node)
{
    for (size_t i = 0; i < n; i++)
        if (order[i] == node)
            return i;
    fail_msg("node %zu missing from the order", node);
    return 0;
}

static void test_graph_find_returns_insertion_index_and_none_for_unknown(void **state)
{
    graph *g = graph_new();
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "instance.web[%d]", i);
        assert_int_equal(graph_add_node(g, name), (size_t)i);
    }
    assert_int_equal(graph_add_node(g, "instance.web[7]"), 7);
    assert_int_equal(graph_count(g), 1000);
    assert_int_equal(graph_find(g, "instance.web[999]"), 999);
    assert_string_equal(graph_address(g, 42), "instance.web[42]");
    assert_int_equal(graph_find(g, "instance.web[1000]"), GRAPH_NONE);
    graph_free(g);
}

static void test_graph_order_puts_every_dependency_before_its_dependents(void **state)
{
    graph *g = graph_new();
    graph_add_node(g, "dns_record.www");
    depends(g, "dns_record.www", "load_balancer.web");
    depends(g, "load_balancer.web", "instance.web[0]");
    depends(g, "load_balancer.web", "instance.web[1]");
    depends(g, "instance.web[0]", "network.main");
    depends(g, "instance.web[1]", "network.main");
    depends(g, "instance.web[0]", "firewall.main");
    depends(g, "firewall.main", "network.main");
    graph_add_node(g, "network.other");

    size_t *order = NULL, *cycle = NULL, ncycle = 0;
    assert_int_equal(graph_order(g, &order, &cycle, &ncycle), 0);
    assert_null(cycle);
    size_t n = graph_count(g);
    for (size_t i = 0; i < n; i++) {
        size_t npred = 0;
        const size_t *pred = graph_predecessors(g, i, &npred);
        for (size_t k = 0; k < npred; k++)
            assert_true(position(order, n, pred[k]) < position(order, n, i));
    }
    free(order);
    graph_free(g);
}

static void test_graph_order_names_the_cycle_from_its_first_node(void **state)
{
    graph *g = graph_new();
    graph_add_node(g, "network.main");
    graph_add_node(g, "instance.a");
    graph_add_node(g, "instance.b");
    depends(g, "instance.a", "network.main");
    depends(g, "instance.a", "instance.b");
    depends(g, "instance.b", "instance.a");
    depends(g, "dns_record.x", "instance.b"); /* downstream of the cycle, not on it */

    size_t *order = NULL, *cycle = NULL, ncycle = 0;
    assert_int_equal(graph_order(g, &order, &cycle, &ncycle), INFRA_EINVALID);
    assert_null(order);
    assert_int_equal(ncycle, 2);
    char *text = graph_cycle_text(g, cycle, ncycle);
    assert_string_equal(text, "instance.a -> instance.b -> instance.a");
    free(text);
    free(cycle);
    graph_free(g);
}

static void test_graph_order_finds_a_three_node_cycle_in_dependency_direction(void **state)
{
    graph *g = graph_new();
    graph_add_node(g, "x.first");
    depends(g, "x.third", "x.first");  /* third depends on first */
    depends(g, "x.first", "x.second"); /* first depends on second */
    depends(g, "x.second", "x.third"); /* second depends on third */

    size_t *order = NULL, *cycle = NULL, ncycle = 0;
    assert_int_equal(graph_order(g, &order, &cycle, &ncycle), INFRA_EINVALID);
    char *text = graph_cycle_text(g, cycle, ncycle);
    assert_string_equal(text, "x.first -> x.second -> x.third -> x.first");
    free(text);
    free(cycle);
    graph_free(g);
}

static void test_graph_self_dependency_is_a_cycle(void **state)
{
    graph *g = graph_new();
    depends(g, "instance.a", "instance.a");
    size_t *order = NULL, *cycle = NULL, ncycle = 0;
    assert_int_equal(graph_order(g, &order, &cycle, &ncycle), INFRA_EINVALID);
    char *text = graph_cycle_text(g, cycle, ncycle);
    assert_string_equal(text, "instance.a -> instance.a");
    free(text);
    free(cycle);
    graph_free(g);
}

static void test_graph_order_of_a_long_chain_is_linear_and_complete(void **state)
{
    graph *g = graph_new();
    char a[32], b[32];
    size_t n = 50000;
    for (size_t i = 1; i < n; i++) {
        snprintf(a, sizeof(a), "n.x[%zu]", i);
        snprintf(b, sizeof(b), "n.x[%zu]", i - 1);
        depends(g, a, b);
    }
    size_t *order = NULL;
    assert_int_equal(graph_order(g, &order, NULL, NULL), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(order[i], i);
    free(order);
    graph_free(g);
}

static const char *style_first(void *ud, size_t node)
{
    return node == 0 ? "color=green" : NULL;
}

static void test_graph_dot_has_nodes_and_dependency_to_dependent_edges(void **state)
{
    graph *g = graph_new();
    depends(g, "instance.web", "network.\"main\"");
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    graph_write_dot(g, out, "demo", style_first, NULL);
    fclose(out);
    assert_non_null(strstr(text, "digraph \"demo\" {"));
    assert_non_null(strstr(text, "  \"network.\\\"main\\\"\" [color=green];\n"));
    assert_non_null(strstr(text, "  \"instance.web\";\n"));
    assert_non_null(strstr(text, "  \"network.\\\"main\\\"\" -> \"instance.web\";\n"));
    assert_string_equal(text + len - 2, "}\n");
    free(text);
    graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_graph_find_returns_insertion_index_and_none_for_unknown),
        cmocka_unit_test(test_graph_order_puts_every_dependency_before_its_dependents),
        cmocka_unit_test(test_graph_order_names_the_cycle_from_its_first_node),
        cmocka_unit_test(test_graph_order_finds_a_three_node_cycle_in_dependency_direction),
        cmocka_unit_test(test_graph_self_dependency_is_a_cycle),
        cmocka_unit_test(test_graph_order_of_a_long_chain_is_linear_and_complete),
        cmocka_unit_test(test_graph_dot_has_nodes_and_dependency_to_dependent_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
