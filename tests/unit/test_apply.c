/* The worker pool: dependency order, the parallelism and per-group bounds,
 * failure propagation and the stop flag. Node functions synchronise with
 * condition variables and generous deadlines rather than sleeps, so the
 * tests hold on a busy machine. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <infra/plugin.h>

#include "engine/apply.h"
#include "engine/graph.h"
#include "base/util.h"

typedef struct probe {
    const graph *g;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned char *finished;
    size_t *start_seq;      /* order in which nodes started, 1-based */
    int *runs;              /* times each node ran */
    size_t nstarted;
    int running;
    int max_running;
    int *group_running;
    int *group_max;
    const size_t *node_group;
    int order_violations;
    size_t fail_node;       /* node whose run fails, or GRAPH_NONE */
    size_t stop_node;       /* node whose run sets *stop */
    volatile sig_atomic_t *stop;
    int started_after_stop;
    int wait_for_stop;      /* nodes other than stop_node wait until *stop is set */
    int wait_for_running;   /* hold each node until this many run at once (0: no) */
    size_t hold_until_done; /* this node waits until release_node finished */
    size_t release_node;
    int held_timed_out;
} probe;

static void probe_init(probe *p, const graph *g, size_t ngroups)
{
    memset(p, 0, sizeof(*p));
    p->g = g;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->finished = util_calloc(graph_count(g), 1);
    p->start_seq = util_calloc(graph_count(g), sizeof(size_t));
    p->runs = util_calloc(graph_count(g), sizeof(int));
    p->group_running = util_calloc(ngroups + 1, sizeof(int));
    p->group_max = util_calloc(ngroups + 1, sizeof(int));
    p->fail_node = p->stop_node = p->hold_until_done = p->release_node = GRAPH_NONE;
}

static void probe_free(probe *p)
{
    free(p->finished);
    free(p->start_seq);
    free(p->runs);
    free(p->group_running);
    free(p->group_max);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
}

static struct timespec deadline_in(int seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += seconds;
    return ts;
}

static int probe_run(void *ud, size_t node)
{
    probe *p = ud;
    size_t gi = p->node_group ? p->node_group[node] : 0;
    int error = 0;

    pthread_mutex_lock(&p->lock);
    if (p->stop && *p->stop)
        p->started_after_stop++;
    p->start_seq[node] = ++p->nstarted;
    p->runs[node]++;
    size_t npred = 0;
    const size_t *pred = graph_predecessors(p->g, node, &npred);
    for (size_t k = 0; k < npred; k++)
        if (!p->finished[pred[k]])
            p->order_violations++;
    p->running++;
    if (p->running > p->max_running)
        p->max_running = p->running;
    p->group_running[gi]++;
    if (p->group_running[gi] > p->group_max[gi])
        p->group_max[gi] = p->group_running[gi];
    pthread_cond_broadcast(&p->cond);

    struct timespec until = deadline_in(20);
    while (p->wait_for_running && p->max_running < p->wait_for_running) {
        if (pthread_cond_timedwait(&p->cond, &p->lock, &until) != 0)
            break;
    }
    if (node == p->hold_until_done) {
        while (!p->finished[p->release_node]) {
            if (pthread_cond_timedwait(&p->cond, &p->lock, &until) != 0) {
                p->held_timed_out = 1;
                break;
            }
        }
    }
    if (node == p->stop_node) {
        /* Stop only once the other worker's node has started: one picked
         * before the stop may still begin after it, which is allowed. */
        while (p->wait_for_stop && p->running < 2) {
            if (pthread_cond_timedwait(&p->cond, &p->lock, &until) != 0)
                break;
        }
        *p->stop = 1;
        pthread_cond_broadcast(&p->cond);
    }
    while (p->wait_for_stop && node != p->stop_node && !*p->stop) {
        if (pthread_cond_timedwait(&p->cond, &p->lock, &until) != 0)
            break;
    }
    if (node == p->fail_node)
        error = INFRA_EINVALID;
    p->running--;
    p->group_running[gi]--;
    p->finished[node] = 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    return error;
}

static void depends(graph *g, const char *dependent, const char *dependency)
{
    size_t from = graph_add_node(g, dependency);
    size_t to = graph_add_node(g, dependent);
    graph_add_edge(g, from, to);
}

/* A layered DAG: n nodes, each depending on up to three earlier ones. */
static graph *random_dag(size_t n, unsigned seed)
{
    graph *g = graph_new();
    char a[32], b[32];
    srand(seed);
    for (size_t i = 0; i < n; i++) {
        snprintf(a, sizeof(a), "r.n[%zu]", i);
        graph_add_node(g, a);
        for (int k = 0; i > 0 && k < 3; k++) {
            if (rand() % 2)
                continue;
            snprintf(b, sizeof(b), "r.n[%zu]", (size_t)rand() % i);
            depends(g, a, b);
        }
    }
    return g;
}

static void test_apply_runs_every_node_after_all_its_dependencies(void **state)
{
    graph *g = random_dag(300, 7);
    probe p;
    probe_init(&p, g, 1);
    apply_options opts = {.parallelism = 6};
    apply_result res;
    assert_int_equal(apply_run(g, &opts, probe_run, &p, &res), 0);
    assert_int_equal(p.order_violations, 0);
    assert_int_equal(res.done, 300);
    assert_int_equal(p.nstarted, 300);
    for (size_t i = 0; i < 300; i++)
        assert_int_equal(res.status[i], APPLY_DONE);
    apply_result_free(&res);
    probe_free(&p);
    graph_free(g);
}

static void test_apply_reaches_but_never_exceeds_parallelism(void **state)
{
    graph *g = graph_new();
    char name[32];
    for (int i = 0; i < 24; i++) {
        snprintf(name, sizeof(name), "i.n[%d]", i);
        graph_add_node(g, name);
    }
    probe p;
    probe_init(&p, g, 1);
    p.wait_for_running = 4; /* the first nodes wait until 4 run together */
    apply_options opts = {.parallelism = 4};
    apply_result res;
    assert_int_equal(apply_run(g, &opts, probe_run, &p, &res), 0);
    assert_int_equal(p.max_running, 4);
    assert_int_equal(res.max_running, 4);
    assert_int_equal(res.done, 24);
    apply_result_free(&res);
    probe_free(&p);
    graph_free(g);
}

static void test_apply_starts_a_node_when_its_own_dependencies_finish_not_its_level(void **state)
{
    /* slow -> after_slow, fast -> after_fast: after_fast must run while
     * slow is still running. */
    graph *g = graph_new();
    depends(g, "x.after_slow", "x.slow");
    depends(g, "x.after_fast", "x.fast");
    probe p;
    probe_init(&p, g, 1);
    p.hold_until_done = graph_find(g, "x.slow");
    p.release_node = graph_find(g, "x.after_fast");
    apply_options opts = {.parallelism = 2};
    apply_result res;
    assert_int_equal(apply_run(g, &opts, probe_run, &p, &res), 0);
    assert_int_equal(p.held_timed_out, 0);
    assert_true(p.start_seq[graph_find(g, "x.after_fast")] <
                p.start_seq[graph_find(g, "x.after_slow")]);
    apply_result_free(&res);
    probe_free(&p);
    graph_free(g);
}

static void test_apply_failure_skips_only_dependents_transitively(void **state)
{
    graph *g = graph_new();
    depends(g, "instance.web[0]", "network.main");
    depends(g, "load_balancer.web", "instance.web[0]");
    depends(g, "dns_record.www", "load_balancer.web");
    depends(g, "instance.db", "network.other");
    graph_add_node(g, "instance.alone");
    probe p;
    probe_init(&p, g, 1);
    p.fail_node = graph_find(g, "instance.web[0]");
    apply_options opts = {.parallelism = 3};
    apply_result res;
    assert_int_equal(apply_run(g, &opts, probe_run, &p, &res), INFRA_EINTERNAL);
    assert_int_equal(res.status[graph_find(g, "network.main")], APPLY_DONE);
    assert_int_equal(res.status[graph_find(g, "instance.web[0]")], APPLY_FAILED);
    assert_int_equal(res.error[graph_find(g, "instance.web[0]")], INFRA_EINVALID);
    assert_int_equal(res.status[graph_find(g, "load_balancer.web")], APPLY_SKIPPED);
    assert_int_equal(res.status[graph_find(g, "dns_record.www")], APPLY_SKIPPED);
    assert_int_equal(res.blocked_by[graph_find(g, "dns_record.www")],
                     graph_find(g, "instance.web[0]"));
    assert_int_equal(res.status[graph_find(g, "instance.db")], APPLY_DONE);
    assert_int_equal(res.status[graph_find(g, "instance.alone")], APPLY_DONE);
    assert_int_equal(res.done, 4);
    assert_int_equal(res.failed, 1);
    assert_int_equal(res.skipped, 2);
    assert_int_equal(p.start_seq[graph_find(g, "load_balancer.web")], 0);
    assert_int_equal(p.start_seq[graph_find(g, "dns_record.www")], 0);
    apply_result_free(&res);
    probe_free(&p);
    graph_free(g);
}

static void test_apply_per_group_limit_is_never_exceeded(void **state)
{
    graph *g = graph_new();
    char name[32];
    size_t groups[40];
    for (size_t i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "i.n[%zu]", i);
        graph_add_node(g, name);
        groups[i] = i % 2;
    }
    probe p;
    probe_init(&p, g, 2);
    p.node_group = groups;
    p.wait_for_running = 5; /* 2 of the limited group + 3 of the other */
    int limits[2] = {2, 0};
    apply_options opts = {.parallelism = 8, .ngroups = 2, .group_limits = limits,
                          .node_group = groups};
    apply_result res;
    assert_int_equal(apply_run(g, &opts, probe_run, &p, &res), 0);
    assert_true(p.group_max[0] <= 2);
    assert_true(p.group_max[1] >= 3);
    assert_true(p.max_running <= 8);
    assert_int_equal(res.done, 40);
    apply_result_free(&res);
    probe_free(&p);
    graph_free(g);
}

static void test_apply_stop_flag_starts_nothing_new_and_lets_running_finish(void **state)
{
    graph *g = graph_new();
    char name[32];
    for (int i = 0; i < 30; i++) {
        snprintf(name, sizeof(name), "i.n[%d]", i);
        graph_add_node(g, name);
    }
    volatile sig_atomic_t stop = 0;
    probe p;
    probe_init(&p, g, 1);
    p.stop = &stop;
    p.stop_node = 0;
    p.wait_for_stop = 1; /* the second worker's node is still running when stop is set */
    apply_options opts = {.parallelism = 2, .stop = &stop};
    apply_result res;
    assert_int_equal(apply_run(g, &opts, probe_run, &p, &res), INFRA_ECANCELLED);
    assert_int_equal(p.started_after_stop, 0);
    assert_int_equal(res.status[0], APPLY_DONE);
    assert_true(res.done <= 2);
    assert_int_equal(res.done + res.not_started, 30);
    assert_int_equal(res.failed, 0);
    apply_result_free(&res);
    probe_free(&p);
    graph_free(g);
}

static void test_apply_inactive_nodes_are_not_run_but_release_dependents(void **state)
{
    graph *g = graph_new();
    depends(g, "b.x", "a.x");
    depends(g, "c.x", "b.x");
    unsigned char active[3] = {0, 1, 0};
    probe p;
    probe_init(&p, g, 1);
    apply_options opts = {.parallelism = 2, .active = active};
    apply_result res;
    assert_int_equal(apply_run(g, &opts, probe_run, &p, &res), 0);
    assert_int_equal(p.nstarted, 1);
    assert_int_equal(p.start_seq[graph_find(g, "b.x")], 1);
    assert_int_equal(res.done, 1);
    assert_int_equal(res.status[graph_find(g, "c.x")], APPLY_DONE);
    apply_result_free(&res);
    probe_free(&p);
    graph_free(g);
}

static void test_apply_runs_a_node_once_when_an_inactive_root_releases_it(void **state)
{
    /* b is released by the inactive root a while the roots are still being
     * queued; c and d keep the run going after b's first run. */
    graph *g = graph_new();
    depends(g, "b.x", "a.x");
    graph_add_node(g, "c.x");
    graph_add_node(g, "d.x");
    unsigned char active[4] = {0, 1, 1, 1};
    probe p;
    probe_init(&p, g, 1);
    apply_options opts = {.parallelism = 1, .active = active};
    apply_result res;
    assert_int_equal(apply_run(g, &opts, probe_run, &p, &res), 0);
    assert_int_equal(p.runs[graph_find(g, "b.x")], 1);
    assert_int_equal(p.runs[graph_find(g, "c.x")], 1);
    assert_int_equal(p.nstarted, 3);
    assert_int_equal(res.done, 3);
    apply_result_free(&res);
    probe_free(&p);
    graph_free(g);
}

static void test_apply_with_nothing_active_starts_no_thread_and_succeeds(void **state)
{
    graph *g = graph_new();
    depends(g, "b.x", "a.x");
    unsigned char active[2] = {0, 0};
    probe p;
    probe_init(&p, g, 1);
    apply_options opts = {.parallelism = 4, .active = active};
    apply_result res;
    assert_int_equal(apply_run(g, &opts, probe_run, &p, &res), 0);
    assert_int_equal(p.nstarted, 0);
    assert_int_equal(res.done, 0);
    apply_result_free(&res);
    probe_free(&p);
    graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apply_runs_every_node_after_all_its_dependencies),
        cmocka_unit_test(test_apply_reaches_but_never_exceeds_parallelism),
        cmocka_unit_test(test_apply_starts_a_node_when_its_own_dependencies_finish_not_its_level),
        cmocka_unit_test(test_apply_failure_skips_only_dependents_transitively),
        cmocka_unit_test(test_apply_per_group_limit_is_never_exceeded),
        cmocka_unit_test(test_apply_stop_flag_starts_nothing_new_and_lets_running_finish),
        cmocka_unit_test(test_apply_inactive_nodes_are_not_run_but_release_dependents),
        cmocka_unit_test(test_apply_runs_a_node_once_when_an_inactive_root_releases_it),
        cmocka_unit_test(test_apply_with_nothing_active_starts_no_thread_and_succeeds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
