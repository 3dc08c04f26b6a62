/* Background writer: every change synced by many threads reaches the store,
 * concurrent syncs share writes (group commit), and write errors reach the
 * callers of state_sync and state_writer_stop. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state_test.h"

#define THREADS 8
/* Fewer on a server, where a commit is a few round trips. */
#define PUTS_PER_THREAD (test_backend_is_local() ? 1000 : 200)

static state *open_app(const char *dir)
{
    return open_ok(dir, "app", "prod");
}

static json_t *load_resources(const char *dir)
{
    return stored_resources(dir, "app", "prod");
}

/* A backend that forwards to the real one and fails commits on demand,
 * so that the writer's error paths run on every backend. */
typedef struct faulty {
    state_backend base;
    state_backend *real;
    atomic_int fail;
} faulty;

static int faulty_load(state_backend *b, state_loaded *out, char **err)
{
    return state_backend_load(((faulty *)b)->real, out, err);
}

static int faulty_commit(state_backend *b, const state_commit *c, char **err)
{
    faulty *f = (faulty *)b;
    if (atomic_load(&f->fail)) {
        *err = util_printf("state %s: the store refused the commit (injected)", b->where);
        return INFRA_EINTERNAL;
    }
    return state_backend_commit(f->real, c, err);
}

static int faulty_lock(state_backend *b, const char *holder, char **err)
{
    return 0;
}

static void faulty_unlock(state_backend *b)
{
}

static int faulty_break_lock(state_backend *b, int force, char **err)
{
    return 0;
}

static void faulty_free(state_backend *b)
{
    faulty *f = (faulty *)b;
    state_backend_free(f->real);
    free(f->base.where);
    free(f);
}

static state *open_faulty(const char *dir, faulty **out)
{
    faulty *f = util_calloc(1, sizeof(*f));
    char *err = NULL;
    if (test_backend_open(dir, "app", "prod", &f->real, &err) < 0)
        fail_msg("backend: %s", err);
    f->base = (state_backend){STATE_BACKEND_VERSION,
                              "faulty",
                              util_strdup(f->real->where),
                              0,
                              faulty_load,
                              faulty_commit,
                              faulty_lock,
                              faulty_unlock,
                              faulty_break_lock,
                              faulty_free};
    f->base.whole_document = f->real->whole_document;
    state *st = NULL;
    if (state_open_backend(&f->base, "app", "prod", &st, &err) < 0)
        fail_msg("state_open_backend: %s", err);
    *out = f;
    return st;
}

/* ------------------------------------------------------------------ */
/* Group commit                                                       */

typedef struct worker {
    state *st;
    int index;
    int failures;
    char *first_error;
} worker;

static void *put_and_sync(void *arg)
{
    worker *w = arg;
    char address[64];
    for (int i = 0; i < PUTS_PER_THREAD; i++) {
        snprintf(address, sizeof(address), "thread%d.resource[%d]", w->index, i);
        state_put(w->st, address, json_pack("{s:i, s:i}", "thread", w->index, "i", i));
        char *err = NULL;
        if (state_sync(w->st, &err) < 0) {
            if (!w->first_error)
                w->first_error = err;
            else
                free(err);
            w->failures++;
        }
    }
    return NULL;
}

static atomic_int readers_stop;

/* Reads while the writers write, so the sanitizers see the getters race. */
static void *read_while_writing(void *arg)
{
    state *st = arg;
    while (!atomic_load(&readers_stop)) {
        json_t *addresses = state_addresses(st);
        json_t *e = state_get(st, "thread0.resource[0]");
        json_decref(e);
        json_decref(addresses);
        (void)state_serial(st);
    }
    return NULL;
}

static void test_state_sync_from_many_threads_shares_writes(void **unused)
{
    char *dir = make_tmpdir();
    state *st = open_app(dir);
    worker workers[THREADS];
    pthread_t threads[THREADS], reader;

    assert_int_equal(state_writer_start(st), 0);
    atomic_store(&readers_stop, 0);
    assert_int_equal(pthread_create(&reader, NULL, read_while_writing, st), 0);
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (worker){.st = st, .index = i};
        assert_int_equal(pthread_create(&threads[i], NULL, put_and_sync, &workers[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        if (workers[i].failures)
            fail_msg("thread %d: %d syncs failed, first: %s", i, workers[i].failures,
                     workers[i].first_error);
    }
    atomic_store(&readers_stop, 1);
    pthread_join(reader, NULL);

    /* Every change was synced before stop: the file already has them all. */
    json_t *resources = load_resources(dir);
    assert_int_equal(json_object_size(resources), THREADS * PUTS_PER_THREAD);
    json_decref(resources);

    unsigned long writes = state_write_count(st);
    char *err = NULL;
    assert_int_equal(state_writer_stop(st, &err), 0);
    assert_int_equal(state_write_count(st), writes); /* nothing left to flush */
    /* Each write serves every thread that was waiting while the previous one
     * ran; without sharing there would be one write per change. */
    print_message("      %d synced changes took %lu writes\n", THREADS * PUTS_PER_THREAD, writes);
    assert_true(writes >= 1);
    assert_true(writes <= THREADS * PUTS_PER_THREAD / 2);
    assert_int_equal(state_serial(st), (long long)writes);
    close_state(st);

    st = open_app(dir);
    json_t *addresses = state_addresses(st);
    assert_int_equal(json_array_size(addresses), THREADS * PUTS_PER_THREAD);
    json_decref(addresses);
    json_t *e = state_get(st, "thread7.resource[199]");
    assert_int_equal(json_integer_value(json_object_get(e, "i")), 199);
    json_decref(e);
    close_state(st);
    remove_tree(dir);
}

/* ------------------------------------------------------------------ */
/* Errors and flushing                                                */

static void test_state_sync_reports_write_errors_and_recovers(void **unused)
{
    char *dir = make_tmpdir();
    faulty *f = NULL;
    state *st = open_faulty(dir, &f);
    char *err = NULL;
    assert_int_equal(state_writer_start(st), 0);
    assert_int_equal(state_sync(st, &err), 0);
    assert_int_equal(state_serial(st), 1);

    atomic_store(&f->fail, 1);
    state_put(st, "a", json_pack("{s:i}", "n", 1));
    assert_true(state_sync(st, &err) < 0);
    assert_non_null(err);
    assert_non_null(strstr(err, state_path(st)));
    assert_non_null(strstr(err, "refused the commit"));
    free(err);
    err = NULL;
    /* Asking again tries again, and fails again while the cause remains. */
    assert_true(state_sync(st, &err) < 0);
    free(err);
    err = NULL;
    assert_int_equal(state_serial(st), 1);

    /* With the cause gone, a sync with no new change retries and succeeds:
     * the failed attempt's rows are committed by the next one. */
    atomic_store(&f->fail, 0);
    assert_int_equal(state_sync(st, &err), 0);
    assert_int_equal(state_serial(st), 2);
    json_t *resources = load_resources(dir);
    assert_non_null(json_object_get(resources, "a"));
    json_decref(resources);

    /* A failure that is still there at stop is reported by stop. */
    atomic_store(&f->fail, 1);
    state_put(st, "b", json_pack("{s:i}", "n", 2));
    state_remove(st, "a");
    assert_true(state_writer_stop(st, &err) < 0);
    assert_non_null(strstr(err, state_path(st)));
    free(err);
    err = NULL;
    atomic_store(&f->fail, 0);
    assert_int_equal(state_write(st, &err), 0);
    resources = load_resources(dir);
    assert_non_null(json_object_get(resources, "b"));
    assert_null(json_object_get(resources, "a"));
    json_decref(resources);

    state_free(st);
    state_backend_free(&f->base);
    remove_tree(dir);
}

static void test_state_writer_stop_flushes_pending_changes(void **unused)
{
    char *dir = make_tmpdir();
    state *st = open_app(dir);
    char *err = NULL;
    char address[32];

    assert_int_equal(state_writer_start(st), 0);
    for (int i = 0; i < 500; i++) {
        snprintf(address, sizeof(address), "r[%d]", i);
        state_put(st, address, json_pack("{s:i}", "i", i));
    }
    state_intent_put(st, "r[500]", json_pack("{s:s, s:s}", "token", "t-500", "action", "create"));
    assert_int_equal(state_writer_stop(st, &err), 0);
    json_t *resources = load_resources(dir);
    assert_int_equal(json_object_size(resources), 500);
    json_decref(resources);
    long long serial = state_serial(st);
    close_state(st);

    st = open_app(dir);
    assert_int_equal(state_serial(st), serial);
    json_t *intent = state_intent_get(st, "r[500]");
    assert_string_equal(json_string_value(json_object_get(intent, "token")), "t-500");
    json_decref(intent);

    /* Without the writer, state_write is synchronous. */
    state_put(st, "sync", json_pack("{s:b}", "now", 1));
    assert_int_equal(state_write(st, &err), 0);
    resources = load_resources(dir);
    assert_non_null(json_object_get(resources, "sync"));
    json_decref(resources);
    close_state(st);
    remove_tree(dir);
}

static void test_state_free_with_a_running_writer_writes_everything(void **unused)
{
    char *dir = make_tmpdir();
    state *st = open_app(dir);
    assert_int_equal(state_writer_start(st), 0);
    assert_int_equal(state_writer_start(st), 0); /* starting twice is harmless */
    state_put(st, "last", json_pack("{s:i}", "n", 1));
    close_state(st);

    st = open_app(dir);
    json_t *e = state_get(st, "last");
    assert_non_null(e);
    json_decref(e);
    close_state(st);
    remove_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_sync_from_many_threads_shares_writes),
        cmocka_unit_test(test_state_sync_reports_write_errors_and_recovers),
        cmocka_unit_test(test_state_writer_stop_flushes_pending_changes),
        cmocka_unit_test(test_state_free_with_a_running_writer_writes_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
