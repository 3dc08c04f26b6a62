/* The state on any backend (state_test.h chooses it): round trip, serial
 * and lineage, a large state, refusal of a store changed by another
 * process (in sequence and in a race of two processes), and the document
 * exchanged by `infra state pull/push`. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "state_test.h"

static json_t *entry(const char *id, int n)
{
    return json_pack("{s:s, s:{s:s, s:i, s:[i, i]}}", "type", "test_object", "attributes", "id", id,
                     "n", n, "ports", 80, 443);
}

/* ------------------------------------------------------------------ */
/* Round trip, serial, lineage                                        */

static void test_state_round_trip_keeps_resources_intents_and_outputs(void **unused)
{
    char *dir = make_tmpdir();
    state *st = open_ok(dir, "app", "prod");
    const char *odd = "instance.web[\"a b\"]";
    json_t *intent = json_pack("{s:s, s:s, s:s}", "token", "tok-1", "action", "create", "time",
                               "2024-01-01T00:00:00Z");
    json_t *outputs = json_pack("{s:s, s:[i, i]}", "lb", "lb.example.org", "ports", 80, 443);

    state_put(st, "b.second", entry("i-2", 2));
    state_put(st, "a.first", entry("i-1", 1));
    state_put(st, odd, entry("i-3", 3));
    state_intent_put(st, "c.pending", json_incref(intent));
    state_set_outputs(st, json_incref(outputs));
    write_ok(st);
    char *lineage = util_strdup(state_lineage(st));
    close_state(st);

    st = open_ok(dir, "app", "prod");
    assert_int_equal(state_serial(st), 1);
    assert_string_equal(state_lineage(st), lineage);
    json_t *want = entry("i-1", 1), *got = state_get(st, "a.first");
    assert_true(json_equal(want, got));
    json_decref(want);
    json_decref(got);
    got = state_get(st, odd);
    assert_non_null(got);
    json_decref(got);
    assert_null(state_get(st, "missing"));
    json_t *addresses = state_addresses(st);
    assert_int_equal(json_array_size(addresses), 3);
    assert_string_equal(json_string_value(json_array_get(addresses, 0)), "a.first");
    json_decref(addresses);
    got = state_intent_get(st, "c.pending");
    assert_true(json_equal(got, intent));
    json_decref(got);
    got = state_get_outputs(st);
    assert_true(json_equal(got, outputs));
    json_decref(got);

    /* The exchange format keeps the order resources were first put. */
    json_t *doc = state_export(st);
    void *it = json_object_iter(json_object_get(doc, "resources"));
    assert_string_equal(json_object_iter_key(it), "b.second");
    assert_int_equal(json_integer_value(json_object_get(doc, "serial")), 1);
    assert_string_equal(json_string_value(json_object_get(doc, "environment")), "prod");
    json_decref(doc);

    state_remove(st, "b.second");
    state_intent_remove(st, "c.pending");
    write_ok(st);
    close_state(st);
    st = open_ok(dir, "app", "prod");
    assert_null(state_get(st, "b.second"));
    assert_null(state_intent_get(st, "c.pending"));
    assert_int_equal(state_serial(st), 2);
    close_state(st);
    json_decref(intent);
    json_decref(outputs);
    free(lineage);
    remove_tree(dir);
}

static void test_state_serial_increments_on_every_write_and_only_when_changed(void **unused)
{
    char *dir = make_tmpdir();
    state *st = open_ok(dir, "app", "int");
    assert_int_equal(state_serial(st), 0);
    write_ok(st); /* a new state is stored even before its first change */
    assert_int_equal(state_serial(st), 1);
    assert_int_equal(stored_serial(dir, "app", "int"), 1);

    for (int i = 2; i <= 5; i++) {
        state_put(st, "x", entry("i-x", i));
        write_ok(st);
        assert_int_equal(state_serial(st), i);
        assert_int_equal(stored_serial(dir, "app", "int"), i);
    }
    unsigned long writes = state_write_count(st);
    write_ok(st);                        /* nothing changed */
    state_put(st, "x", entry("i-x", 5)); /* an equal entry is no change */
    write_ok(st);
    assert_int_equal(state_write_count(st), writes);
    assert_int_equal(state_serial(st), 5);
    close_state(st);
    remove_tree(dir);
}

static void test_state_lineage_is_created_once_and_kept(void **unused)
{
    char *dir = make_tmpdir(), *other_dir = make_tmpdir();
    state *st = open_ok(dir, "app", "prod");
    char *lineage = util_strdup(state_lineage(st));
    assert_int_equal(strlen(lineage), 32);
    assert_int_equal(strspn(lineage, "0123456789abcdef"), 32);
    for (int i = 0; i < 3; i++) {
        state_put(st, "x", entry("i-x", i));
        write_ok(st);
        assert_string_equal(state_lineage(st), lineage);
    }
    close_state(st);
    st = open_ok(dir, "app", "prod");
    assert_string_equal(state_lineage(st), lineage);
    close_state(st);

    state *other = open_ok(other_dir, "app", "prod");
    assert_string_not_equal(state_lineage(other), lineage);
    close_state(other);
    free(lineage);
    remove_tree(dir);
    remove_tree(other_dir);
}

static void test_state_large_state_round_trips(void **unused)
{
    char *dir = make_tmpdir();
    state *st = open_ok(dir, "app", NULL);
    char address[64];
    for (int i = 0; i < 10000; i++) {
        snprintf(address, sizeof(address), "aws_instance.web[%d]", i);
        state_put(st, address,
                  json_pack("{s:s, s:{s:s, s:i, s:s}}", "type", "instance", "attributes", "id",
                            address, "n", i, "zone", "eu-1a"));
    }
    write_ok(st);
    /* A later commit of one change carries one row. */
    state_put(st, "aws_instance.web[9999]", json_pack("{s:s}", "type", "changed"));
    write_ok(st);
    close_state(st);

    st = open_ok(dir, "app", NULL);
    json_t *addresses = state_addresses(st);
    assert_int_equal(json_array_size(addresses), 10000);
    json_decref(addresses);
    json_t *e = state_get(st, "aws_instance.web[9998]");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(e, "attributes"), "n")),
                     9998);
    json_decref(e);
    e = state_get(st, "aws_instance.web[9999]");
    assert_string_equal(json_string_value(json_object_get(e, "type")), "changed");
    json_decref(e);
    assert_int_equal(state_serial(st), 2);
    close_state(st);
    remove_tree(dir);
}

/* ------------------------------------------------------------------ */
/* Another writer                                                     */

static void test_state_written_by_another_handle_is_not_overwritten(void **unused)
{
    char *dir = make_tmpdir();
    state *first = open_ok(dir, "app", NULL);
    write_ok(first);
    state *second = open_ok(dir, "app", NULL);
    state_put(second, "b", entry("i-b", 2));
    write_ok(second);

    state_put(first, "a", entry("i-a", 1));
    char *err = NULL;
    assert_int_equal(state_write(first, &err), INFRA_ECONFLICT);
    /* The refusal names the serials and who wrote the newer one. */
    assert_non_null(strstr(err, "serial 2"));
    assert_non_null(strstr(err, "serial 1"));
    char *pid = util_printf("pid %d on ", (int)getpid());
    assert_non_null(strstr(err, pid));
    free(pid);
    free(err);
    assert_int_equal(stored_serial(dir, "app", NULL), 2);
    json_t *resources = stored_resources(dir, "app", NULL);
    assert_null(json_object_get(resources, "a"));
    assert_non_null(json_object_get(resources, "b"));
    json_decref(resources);
    close_state(first);
    close_state(second);
    remove_tree(dir);
}

#define RACE_WRITERS 2
#define RACE_WRITES 60

/* One racing writer: commits RACE_WRITES changes of its own, reopening
 * after each refusal, and reports each commit's serial on fd. */
static void race_writer(const char *dir, int index, int start_fd, int fd)
{
    char go;
    test_after_fork();
    if (read(start_fd, &go, 1) != 1)
        _exit(2);
    state *st = NULL;
    char *err = NULL;
    if (open_state(dir, "app", NULL, &st, &err) < 0) {
        fprintf(stderr, "writer %d: %s\n", index, err);
        _exit(3);
    }
    for (int i = 0; i < RACE_WRITES; i++) {
        char address[64];
        snprintf(address, sizeof(address), "writer%d.r[%d]", index, i);
        state_put(st, address, json_pack("{s:i}", "i", i));
        int rc = state_write(st, &err);
        if (rc == 0) {
            long long record[2] = {state_serial(st), (long long)index * 1000 + i};
            if (write(fd, record, sizeof(record)) != sizeof(record))
                _exit(4);
            continue;
        }
        if (rc != INFRA_ECONFLICT || !strstr(err, "pid ")) {
            fprintf(stderr, "writer %d: %s\n", index, err);
            _exit(5);
        }
        free(err);
        err = NULL;
        /* Refused: read what the other wrote and try again on top of it. */
        close_state(st);
        if (open_state(dir, "app", NULL, &st, &err) < 0) {
            fprintf(stderr, "writer %d: %s\n", index, err);
            _exit(6);
        }
        i--;
    }
    close_state(st);
    _exit(0);
}

static void test_state_concurrent_writers_never_overwrite_a_newer_serial(void **unused)
{
    char *dir = make_tmpdir();
    state *st = open_ok(dir, "app", NULL);
    write_ok(st);
    close_state(st);

    int start[2], results[2];
    pid_t pids[RACE_WRITERS];
    assert_int_equal(pipe(start), 0);
    assert_int_equal(pipe(results), 0);
    for (int w = 0; w < RACE_WRITERS; w++) {
        pids[w] = fork();
        assert_true(pids[w] >= 0);
        if (pids[w] == 0) {
            close(start[1]);
            close(results[0]);
            race_writer(dir, w, start[0], results[1]);
        }
    }
    close(start[0]);
    close(results[1]);
    char go[RACE_WRITERS] = {0};
    assert_int_equal(write(start[1], go, sizeof(go)), (ssize_t)sizeof(go));
    close(start[1]);

    long long record[2];
    long long serials[RACE_WRITERS * RACE_WRITES];
    size_t n = 0;
    while (read(results[0], record, sizeof(record)) == (ssize_t)sizeof(record) &&
           n < RACE_WRITERS * RACE_WRITES)
        serials[n++] = record[0];
    close(results[0]);
    for (int w = 0; w < RACE_WRITERS; w++) {
        int status = 0;
        assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail_msg("writer %d ended with status %d", w, status);
    }
    /* Every commit that succeeded got a serial of its own: none was written
     * over another with the same serial. */
    assert_int_equal(n, RACE_WRITERS * RACE_WRITES);
    for (size_t i = 0; i < n; i++)
        for (size_t k = i + 1; k < n; k++)
            if (serials[i] == serials[k])
                fail_msg("two commits both succeeded with serial %lld", serials[i]);
    assert_int_equal(stored_serial(dir, "app", NULL), 1 + (long long)n);
    json_t *resources = stored_resources(dir, "app", NULL);
    assert_int_equal(json_object_size(resources), RACE_WRITERS * RACE_WRITES);
    json_decref(resources);
    remove_tree(dir);
}

/* ------------------------------------------------------------------ */
/* The exchanged document                                             */

static char *push(state *st, const json_t *doc, int force, int expect)
{
    char *err = NULL;
    int rc = state_import(st, doc, "pushed.json", force, &err);
    if (rc != expect)
        fail_msg("state_import gave %d, expected %d: %s", rc, expect, err ? err : "");
    return err;
}

static void test_state_push_refuses_other_lineages_older_serials_and_diverged_content(void **u)
{
    char *dir = make_tmpdir();
    state *st = open_ok(dir, "app", "prod");
    state_put(st, "a", entry("i-a", 1));
    write_ok(st);
    state_put(st, "b", entry("i-b", 2));
    write_ok(st);
    json_t *doc = state_export(st); /* serial 2 */

    /* Same serial, other content: both sides changed since they parted. */
    json_object_set_new(json_object_get(doc, "resources"), "c", entry("i-c", 3));
    char *err = push(st, doc, 0, INFRA_ECONFLICT);
    assert_non_null(strstr(err, "pushed.json"));
    free(err);
    /* A greater serial is a newer version: taken, in one commit. */
    json_object_set_new(doc, "serial", json_integer(7));
    push(st, doc, 0, 0);
    assert_int_equal(state_serial(st), 7);
    close_state(st);
    st = open_ok(dir, "app", "prod");
    json_t *c = state_get(st, "c");
    assert_non_null(c);
    json_decref(c);
    assert_int_equal(state_serial(st), 7);

    /* An older serial is refused; with force it is taken and the serial
     * still grows. */
    json_object_set_new(doc, "serial", json_integer(3));
    json_object_del(json_object_get(doc, "resources"), "a");
    err = push(st, doc, 0, INFRA_ECONFLICT);
    assert_non_null(strstr(err, "older"));
    free(err);
    push(st, doc, 1, 0);
    assert_int_equal(state_serial(st), 8);
    assert_null(state_get(st, "a"));

    /* Another lineage is another state. */
    const char *mine = state_lineage(st);
    char *theirs = util_strdup("0123456789abcdef0123456789abcdef");
    json_object_set_new(doc, "lineage", json_string(theirs));
    json_object_set_new(doc, "serial", json_integer(20));
    err = push(st, doc, 0, INFRA_ECONFLICT);
    assert_non_null(strstr(err, mine));
    assert_non_null(strstr(err, theirs));
    free(err);
    push(st, doc, 1, 0);
    close_state(st);
    st = open_ok(dir, "app", "prod");
    assert_string_equal(state_lineage(st), theirs);
    assert_int_equal(state_serial(st), 20);

    /* A document of another environment is refused, force or not. */
    json_object_set_new(doc, "environment", json_string("int"));
    err = push(st, doc, 1, INFRA_ECONFLICT);
    assert_non_null(strstr(err, "\"int\""));
    free(err);
    close_state(st);
    json_decref(doc);
    free(theirs);
    remove_tree(dir);
}

static void test_state_push_into_an_empty_store_keeps_the_document(void **unused)
{
    char *dir = make_tmpdir(), *other = make_tmpdir();
    state *src = open_ok(dir, "app", NULL);
    state_put(src, "x", entry("i-x", 1));
    state_intent_put(src, "y", json_pack("{s:s}", "token", "t"));
    state_set_outputs(src, json_pack("{s:s}", "url", "http://x"));
    write_ok(src);
    write_ok(src);
    json_t *doc = state_export(src);
    close_state(src);

    state *dst = open_ok(other, "app", NULL);
    push(dst, doc, 0, 0);
    close_state(dst);
    dst = open_ok(other, "app", NULL);
    json_t *again = state_export(dst);
    json_object_del(again, "serial");
    json_object_del(doc, "serial");
    assert_true(json_equal(again, doc));
    json_decref(again);
    json_decref(doc);
    close_state(dst);
    remove_tree(dir);
    remove_tree(other);
}

static void test_state_names_unusable_in_a_file_name_are_refused(void **unused)
{
    if (!test_backend_is_local())
        skip();
    char *dir = make_tmpdir();
    state *st = NULL;
    char *err = NULL;
    assert_int_equal(state_open(dir, "../escape", NULL, &st, &err), INFRA_EINVALID);
    assert_null(st);
    assert_non_null(strstr(err, "../escape"));
    free(err);
    err = NULL;
    assert_int_equal(state_open(dir, "app", "a/b", &st, &err), INFRA_EINVALID);
    assert_non_null(strstr(err, "a/b"));
    free(err);
    remove_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_round_trip_keeps_resources_intents_and_outputs),
        cmocka_unit_test(test_state_serial_increments_on_every_write_and_only_when_changed),
        cmocka_unit_test(test_state_lineage_is_created_once_and_kept),
        cmocka_unit_test(test_state_large_state_round_trips),
        cmocka_unit_test(test_state_written_by_another_handle_is_not_overwritten),
        cmocka_unit_test(test_state_concurrent_writers_never_overwrite_a_newer_serial),
        cmocka_unit_test(test_state_push_refuses_other_lineages_older_serials_and_diverged_content),
        cmocka_unit_test(test_state_push_into_an_empty_store_keeps_the_document),
        cmocka_unit_test(test_state_names_unusable_in_a_file_name_are_refused),
    };
    printf("state backend: %s\n", test_backend());
    return cmocka_run_group_tests(tests, NULL, NULL);
}
