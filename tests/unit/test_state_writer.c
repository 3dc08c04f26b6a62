/* Background writer: every change synced by many threads reaches the disk,
 * concurrent syncs share writes (group commit), and write errors reach the
 * callers of state_sync and state_writer_stop. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "infra/plugin.h"
#include "state/state.h"
#include "base/util.h"

#define THREADS 8
#define PUTS_PER_THREAD 1000

static char *make_tmpdir(void)
{
    char *dir = util_strdup("/tmp/infra-test-state-writer-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return dir;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void remove_tree(char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

static state *open_ok(const char *dir)
{
    state *st = NULL;
    char *err = NULL;
    if (state_open(dir, "app", "prod", &st, &err) < 0)
        fail_msg("state_open: %s", err);
    return st;
}

static json_t *load_resources(const char *path)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    if (!doc)
        fail_msg("%s does not parse: %s (line %d)", path, jerr.text, jerr.line);
    json_t *resources = json_incref(json_object_get(doc, "resources"));
    json_decref(doc);
    return resources;
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
    state *st = open_ok(dir);
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
    json_t *resources = load_resources(state_path(st));
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
    state_free(st);

    st = open_ok(dir);
    json_t *addresses = state_addresses(st);
    assert_int_equal(json_array_size(addresses), THREADS * PUTS_PER_THREAD);
    json_decref(addresses);
    json_t *e = state_get(st, "thread7.resource[999]");
    assert_int_equal(json_integer_value(json_object_get(e, "i")), 999);
    json_decref(e);
    state_free(st);
    remove_tree(dir);
}

/* ------------------------------------------------------------------ */
/* Errors and flushing                                                */

static void test_state_sync_reports_write_errors_and_recovers(void **unused)
{
    char *dir = make_tmpdir();
    state *st = open_ok(dir);
    char *err = NULL;
    assert_int_equal(state_writer_start(st), 0);
    assert_int_equal(state_sync(st, &err), 0);
    assert_int_equal(state_serial(st), 1);

    /* A directory in the temp file's place makes every write fail. */
    char *tmp = util_printf("%s.tmp", state_path(st));
    assert_int_equal(mkdir(tmp, 0700), 0);
    state_put(st, "a", json_pack("{s:i}", "n", 1));
    assert_true(state_sync(st, &err) < 0);
    assert_non_null(err);
    assert_non_null(strstr(err, state_path(st)));
    assert_non_null(strstr(err, strerror(EISDIR)));
    free(err);
    err = NULL;
    /* Asking again tries again, and fails again while the cause remains. */
    assert_true(state_sync(st, &err) < 0);
    free(err);
    err = NULL;
    assert_int_equal(state_serial(st), 1);

    /* With the cause gone, a sync with no new change retries and succeeds. */
    assert_int_equal(rmdir(tmp), 0);
    assert_int_equal(state_sync(st, &err), 0);
    assert_int_equal(state_serial(st), 2);
    json_t *resources = load_resources(state_path(st));
    assert_non_null(json_object_get(resources, "a"));
    json_decref(resources);

    /* A failure that is still there at stop is reported by stop. */
    assert_int_equal(mkdir(tmp, 0700), 0);
    state_put(st, "b", json_pack("{s:i}", "n", 2));
    assert_true(state_writer_stop(st, &err) < 0);
    assert_non_null(strstr(err, state_path(st)));
    free(err);
    err = NULL;
    assert_int_equal(rmdir(tmp), 0);
    assert_int_equal(state_write(st, &err), 0);
    resources = load_resources(state_path(st));
    assert_non_null(json_object_get(resources, "b"));
    json_decref(resources);

    state_free(st);
    free(tmp);
    remove_tree(dir);
}

static void test_state_writer_stop_flushes_pending_changes(void **unused)
{
    char *dir = make_tmpdir();
    state *st = open_ok(dir);
    char *err = NULL;
    char address[32];

    assert_int_equal(state_writer_start(st), 0);
    for (int i = 0; i < 500; i++) {
        snprintf(address, sizeof(address), "r[%d]", i);
        state_put(st, address, json_pack("{s:i}", "i", i));
    }
    state_intent_put(st, "r[500]", json_pack("{s:s, s:s}", "token", "t-500", "action", "create"));
    assert_int_equal(state_writer_stop(st, &err), 0);
    json_t *resources = load_resources(state_path(st));
    assert_int_equal(json_object_size(resources), 500);
    json_decref(resources);
    long long serial = state_serial(st);
    state_free(st);

    st = open_ok(dir);
    assert_int_equal(state_serial(st), serial);
    json_t *intent = state_intent_get(st, "r[500]");
    assert_string_equal(json_string_value(json_object_get(intent, "token")), "t-500");
    json_decref(intent);

    /* Without the writer, state_write is synchronous. */
    state_put(st, "sync", json_pack("{s:b}", "now", 1));
    assert_int_equal(state_write(st, &err), 0);
    resources = load_resources(state_path(st));
    assert_non_null(json_object_get(resources, "sync"));
    json_decref(resources);
    state_free(st);
    remove_tree(dir);
}

static void test_state_free_with_a_running_writer_writes_everything(void **unused)
{
    char *dir = make_tmpdir();
    state *st = open_ok(dir);
    assert_int_equal(state_writer_start(st), 0);
    assert_int_equal(state_writer_start(st), 0); /* starting twice is harmless */
    state_put(st, "last", json_pack("{s:i}", "n", 1));
    state_free(st);

    st = open_ok(dir);
    json_t *e = state_get(st, "last");
    assert_non_null(e);
    json_decref(e);
    state_free(st);
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
