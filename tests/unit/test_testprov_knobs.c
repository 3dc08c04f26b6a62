/* The "test" provider plugin, loaded from the build tree with dlopen and
 * driven through its ops with the real host table (testprov_test.h): image
 * lookup, and the knobs the other tests use to inject faults (failures,
 * crashes before and after an object is written, latency and stop) and
 * concurrency. The objects' life cycle: test_testprov.c. */
#define _GNU_SOURCE /* nftw */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "plugin/host.h"

#include "testprov_test.h"

static void write_image(const fixture *fx, const char *file, const char *text)
{
    char path[PATH_MAX];
    fx_path(fx, path, "catalog");
    mkdir(path, 0755);
    fx_path(fx, path, "catalog/images");
    mkdir(path, 0755);
    fx_path(fx, path, "catalog/images/%s", file);
    write_text(path, text);
}

static void test_testprov_image_lookup_picks_newest_match(void **state)
{
    fixture *fx = *state;
    int error;
    diags d;
    json_t *cfg = json_pack("{s:s}", "name", "nomad-host-*");
    json_t *none = json_pack("{s:s}", "name", "consul-*");
    json_t *st, *again;

    write_image(
        fx, "a.json",
        "{\"id\":\"img-1\",\"name\":\"nomad-host-1\",\"created\":\"2024-01-05T10:00:00Z\"}");
    write_image(
        fx, "b.json",
        "{\"id\":\"img-2\",\"name\":\"nomad-host-2\",\"created\":\"2024-03-01T10:00:00Z\"}");
    write_image(fx, "c.json",
                "{\"id\":\"img-3\",\"name\":\"other-3\",\"created\":\"2025-01-01T00:00:00Z\"}");
    write_image(fx, "d.json", "not json");

    st = do_apply(fx, "image", "image.nomad-host", NULL, NULL, cfg, NULL, &error);
    assert_int_equal(error, 0);
    assert_string_equal(str(st, "id"), "img-2");
    assert_string_equal(str(st, "image_name"), "nomad-host-2");
    assert_string_equal(str(st, "created"), "2024-03-01T10:00:00Z");
    assert_string_equal(str(st, "name"), "nomad-host-*");
    again = do_read(fx, "image", NULL, st, &error);
    assert_int_equal(error, 0);
    assert_true(json_equal(again, st));

    assert_null(do_apply(fx, "image", "image.consul", NULL, NULL, none, &d, &error));
    assert_int_equal(error, INFRA_ENOTFOUND);
    assert_true(diag_on(&d, "name"));

    /* a data source is never deleted, and no lookup counts as a mutation */
    assert_null(do_apply(fx, "image", "image.nomad-host", NULL, st, NULL, NULL, &error));
    assert_int_equal(error, 0);
    char *log = calls_log(fx);
    assert_int_equal(count_lines(log), 0);
    free(log);
    json_decref(again);
    json_decref(st);
    json_decref(cfg);
    json_decref(none);
}

static void test_testprov_fail_knobs_inject_permanent_and_transient_failures(void **state)
{
    fixture *fx = *state;
    int error;
    diags d;
    json_t *cfg = json_pack("{s:s}", "size", "small");
    json_t *st;

    assert_int_equal(configure(fx,
                               json_pack("{s:[s], s:[s]}", "fail", "instance.bad", "fail_transient",
                                         "instance.flaky"),
                               NULL),
                     0);
    assert_null(do_apply(fx, "instance", "instance.bad", TOKEN_A, NULL, cfg, &d, &error));
    assert_int_equal(error, INFRA_EINVALID);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.messages[0], "injected failure");
    assert_int_equal(count_objects(fx, "instance"), 0);
    assert_null(do_apply(fx, "instance", "instance.bad", TOKEN_A, NULL, cfg, &d, &error));
    assert_int_equal(error, INFRA_EINVALID);

    assert_null(do_apply(fx, "instance", "instance.flaky", TOKEN_B, NULL, cfg, &d, &error));
    assert_int_equal(error, INFRA_ETRANSIENT);
    st = do_apply(fx, "instance", "instance.flaky", TOKEN_B, NULL, cfg, &d, &error);
    assert_int_equal(error, 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(count_objects(fx, "instance"), 1);

    json_decref(st);
    st = create(fx, "instance", "instance.good", "good-token", cfg);
    char *log = calls_log(fx);
    assert_non_null(strstr(log, "create instance.bad tp-0123456789abcdef failed\n"));
    assert_non_null(strstr(log, "create instance.flaky tp-fedcba9876543210 transient\n"));
    assert_int_equal(count_lines(log), 5);
    free(log);
    json_decref(st);
    json_decref(cfg);
}

/* In a child: configure with crash_at=2, create two networks; returns how
 * the child ended. */
static int crash_child(fixture *fx, const char *when)
{
    pid_t pid = fork();
    int status = 0;

    assert_true(pid >= 0);
    if (pid == 0) {
        json_t *cfg = json_pack("{s:s}", "cidr", "10.0.0.0/16");
        int error;
        if (configure(fx, json_pack("{s:i, s:s}", "crash_at", 2, "crash_when", when), NULL) < 0)
            _exit(2);
        json_decref(do_apply(fx, "network", "network.a", TOKEN_A, NULL, cfg, NULL, &error));
        if (error < 0)
            _exit(3);
        json_decref(do_apply(fx, "network", "network.b", TOKEN_B, NULL, cfg, NULL, &error));
        _exit(4); /* the second create should never return */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void test_testprov_crash_at_after_kills_process_once_object_is_written(void **state)
{
    fixture *fx = *state;
    int status = crash_child(fx, "after");

    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    assert_true(object_exists(fx, "network", "tp-0123456789abcdef"));
    assert_true(object_exists(fx, "network", "tp-fedcba9876543210"));
    char *log = calls_log(fx);
    assert_int_equal(count_lines(log), 2);
    free(log);

    /* the retried create adopts what the killed call made */
    json_t *cfg = json_pack("{s:s}", "cidr", "10.0.0.0/16");
    assert_int_equal(configure(fx, NULL, NULL), 0);
    json_t *st = create(fx, "network", "network.b", TOKEN_B, cfg);
    assert_string_equal(str(st, "id"), "tp-fedcba9876543210");
    assert_int_equal(count_objects(fx, "network"), 2);
    json_decref(st);
    json_decref(cfg);
}

static void test_testprov_crash_at_before_kills_process_before_object_is_written(void **state)
{
    fixture *fx = *state;
    int status = crash_child(fx, "before");

    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    assert_true(object_exists(fx, "network", "tp-0123456789abcdef"));
    assert_false(object_exists(fx, "network", "tp-fedcba9876543210"));
    char *log = calls_log(fx);
    assert_int_equal(count_lines(log), 1);
    free(log);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void test_testprov_latency_knob_delays_apply_and_read(void **state)
{
    fixture *fx = *state;
    int error;
    json_t *cfg = json_pack("{s:s}", "cidr", "10.0.0.0/16");
    json_t *st, *got;
    double t0;

    assert_int_equal(configure(fx, json_pack("{s:i}", "latency_ms", 120), NULL), 0);
    t0 = now_ms();
    st = create(fx, "network", "network.slow", TOKEN_A, cfg);
    assert_true(now_ms() - t0 >= 119.0); /* the host clock counts whole milliseconds */
    t0 = now_ms();
    got = do_read(fx, "network", NULL, st, &error);
    assert_int_equal(error, 0);
    assert_true(now_ms() - t0 >= 119.0);
    json_decref(got);
    json_decref(st);
    json_decref(cfg);
}

typedef struct stop_job {
    fixture *fx;
    int error;
} stop_job;

static void *slow_create(void *arg)
{
    stop_job *job = arg;
    json_t *cfg = json_pack("{s:s}", "cidr", "10.0.0.0/16");
    json_decref(
        do_apply(job->fx, "network", "network.slow", TOKEN_A, NULL, cfg, NULL, &job->error));
    json_decref(cfg);
    return NULL;
}

static void test_testprov_stop_cancels_call_sleeping_in_latency(void **state)
{
    fixture *fx = *state;
    stop_job job = {fx, 1};
    pthread_t th;

    /* a latency no test would wait for: only stop() can end the call */
    assert_int_equal(configure(fx, json_pack("{s:i}", "latency_ms", 600000), NULL), 0);
    assert_int_equal(pthread_create(&th, NULL, slow_create, &job), 0);
    usleep(50 * 1000);
    ops->stop(fx->prov);
    pthread_join(th, NULL);
    assert_int_equal(job.error, INFRA_ECANCELLED);
    assert_int_equal(count_objects(fx, "network"), 0);
}

#define THREADS 8
#define CREATES_PER_THREAD 25

typedef struct create_job {
    fixture *fx;
    int index;
    int failures;
} create_job;

static void *create_many(void *arg)
{
    create_job *job = arg;
    json_t *cfg = json_pack("{s:s}", "size", "small");
    for (int i = 0; i < CREATES_PER_THREAD; i++) {
        char token[33], address[64];
        int error;
        snprintf(token, sizeof(token), "%08x%08x0000000000000000", (unsigned)job->index & 0xffu,
                 (unsigned)i & 0xffu);
        snprintf(address, sizeof(address), "instance.t%d[%d]", job->index, i);
        json_t *st = do_apply(job->fx, "instance", address, token, NULL, cfg, NULL, &error);
        job->failures += error != 0 || st == NULL;
        json_decref(st);
    }
    json_decref(cfg);
    return NULL;
}

static void test_testprov_concurrent_creates_are_all_recorded(void **state)
{
    fixture *fx = *state;
    pthread_t th[THREADS];
    create_job jobs[THREADS];

    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (create_job){fx, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, create_many, &jobs[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].failures, 0);
    }
    assert_int_equal(count_objects(fx, "instance"), THREADS * CREATES_PER_THREAD);
    char *log = calls_log(fx);
    assert_int_equal(count_lines(log), THREADS * CREATES_PER_THREAD);
    assert_non_null(strstr(log, "create instance.t7[24] tp-0000000700000018\n"));
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define FX(t, setup) cmocka_unit_test_setup_teardown(t, setup, fixture_teardown)
        FX(test_testprov_image_lookup_picks_newest_match, fixture_setup_configured),
        FX(test_testprov_fail_knobs_inject_permanent_and_transient_failures, fixture_setup),
        FX(test_testprov_crash_at_after_kills_process_once_object_is_written, fixture_setup),
        FX(test_testprov_crash_at_before_kills_process_before_object_is_written, fixture_setup),
        FX(test_testprov_latency_knob_delays_apply_and_read, fixture_setup),
        FX(test_testprov_stop_cancels_call_sleeping_in_latency, fixture_setup),
        FX(test_testprov_concurrent_creates_are_all_recorded, fixture_setup_configured),
#undef FX
    };
    return cmocka_run_group_tests(tests, load_plugin, unload_plugin);
}
