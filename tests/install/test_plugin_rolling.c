/* plugin_rolling: restarts one node of a group at a time. A node that
 * begins while another of its group is restarting goes on only once that
 * one ends; another group is not held up; a cancelled call stops waiting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "plugin/host.h"
#include "plugin_install.h"

/* What happened, in order, from both threads. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char events[256];

static void note(const char *what)
{
    pthread_mutex_lock(&log_lock);
    strncat(events, what, sizeof(events) - strlen(events) - 1);
    pthread_mutex_unlock(&log_lock);
}

static int noted(const char *what)
{
    pthread_mutex_lock(&log_lock);
    int yes = strstr(events, what) != NULL;
    pthread_mutex_unlock(&log_lock);
    return yes;
}

static pu_rolling rolling;

static void *second_node(void *arg)
{
    infra_call call;
    (void)arg;
    host_call_init(&call, "test", "rolling");
    note("second-trying ");
    if (pu_rolling_begin(&rolling, &call, "europe") == 0) {
        note("second-in ");
        pu_rolling_end(&rolling, "europe");
    }
    host_call_clear(&call);
    return NULL;
}

static void test_one_node_of_a_region_at_a_time(void **state)
{
    (void)state;
    infra_call call;
    pthread_t t;
    host_call_init(&call, "test", "rolling");
    pu_rolling_init(&rolling);
    events[0] = '\0';
    assert_int_equal(pu_rolling_begin(&rolling, &call, "europe"), 0);
    note("first-in ");
    assert_int_equal(pthread_create(&t, NULL, second_node, NULL), 0);
    while (!noted("second-trying"))
        sched_yield();
    /* another region restarts meanwhile */
    assert_int_equal(pu_rolling_begin(&rolling, &call, "us"), 0);
    pu_rolling_end(&rolling, "us");
    note("first-out ");
    pu_rolling_end(&rolling, "europe");
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_string_equal(events, "first-in second-trying first-out second-in ");
    pu_rolling_free(&rolling);
    host_call_clear(&call);
}

static void test_a_cancelled_call_stops_waiting(void **state)
{
    (void)state;
    infra_call call;
    volatile int cancel = 0;
    host_call_init(&call, "test", "rolling");
    pu_rolling_init(&rolling);
    assert_int_equal(pu_rolling_begin(&rolling, &call, "europe"), 0);
    cancel = 1;
    call.cancel = &cancel;
    assert_int_equal(pu_rolling_begin(&rolling, &call, "europe"), INFRA_ECANCELLED);
    call.cancel = NULL;
    pu_rolling_end(&rolling, "europe");
    /* free again */
    assert_int_equal(pu_rolling_begin(&rolling, &call, "europe"), 0);
    pu_rolling_end(&rolling, "europe");
    pu_rolling_free(&rolling);
    host_call_clear(&call);
}

static int setup(void **state)
{
    (void)state;
    pu_init(host_table(), "rolling test");
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_node_of_a_region_at_a_time),
        cmocka_unit_test(test_a_cancelled_call_stops_waiting),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
