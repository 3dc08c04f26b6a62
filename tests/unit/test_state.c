/* State file: round trip, serial and lineage, modes, backup, crash safety at
 * every step of the atomic write, and refusal of files that are corrupt or
 * belong to another state. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "infra/plugin.h"
#include "state/state.h"
#include "base/util.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                            */

static char *make_tmpdir(void)
{
    char *dir = util_strdup("/tmp/infra-test-state-XXXXXX");
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

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    util_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        util_buf_put(&b, chunk, n);
    fclose(f);
    return util_buf_take(&b);
}

static void write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static int exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static state *open_ok(const char *dir, const char *name, const char *env)
{
    state *st = NULL;
    char *err = NULL;
    int rc = state_open(dir, name, env, &st, &err);
    if (rc < 0)
        fail_msg("state_open: %s", err);
    assert_non_null(st);
    return st;
}

static void write_ok(state *st)
{
    char *err = NULL;
    int rc = state_write(st, &err);
    if (rc < 0)
        fail_msg("state_write: %s", err);
}

static json_t *entry(const char *id, int n)
{
    return json_pack("{s:s, s:{s:s, s:i, s:[i, i]}}", "type", "test_object", "attributes", "id", id,
                     "n", n, "ports", 80, 443);
}

static long long file_serial(const char *path)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    if (!doc)
        fail_msg("%s does not parse: %s", path, jerr.text);
    long long serial = (long long)json_integer_value(json_object_get(doc, "serial"));
    json_decref(doc);
    return serial;
}

/* ------------------------------------------------------------------ */
/* Round trip, serial, lineage                                        */

static void test_state_round_trip_keeps_resources_intents_and_outputs(void **unused)
{
    char *dir = make_tmpdir();
    state *st = open_ok(dir, "app", NULL);
    const char *odd = "net.\"quoted\" \\ é/[0]";
    json_t *intent = json_pack("{s:s, s:s, s:s}", "token", "tok-1", "action", "create", "time",
                               "2024-01-01T00:00:00Z");
    json_t *outputs =
        json_pack("{s:s, s:[s, s]}", "lb_dns", "lb.example.org", "ips", "10.0.0.1", "10.0.0.2");

    state_put(st, "b.second", entry("i-2", 2));
    state_put(st, "a.first", entry("i-1", 1));
    state_put(st, odd, entry("i-3", 3));
    state_intent_put(st, "c.pending", json_incref(intent));
    state_set_outputs(st, json_incref(outputs));
    write_ok(st);
    char *path = util_strdup(state_path(st));
    char *lineage = util_strdup(state_lineage(st));
    state_free(st);

    char *expected = util_printf("%s/app.default.json", dir);
    assert_string_equal(path, expected);

    json_t *doc = json_load_file(path, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "version")), 1);
    assert_int_equal(json_integer_value(json_object_get(doc, "serial")), 1);
    assert_string_equal(json_string_value(json_object_get(doc, "topology")), "app");
    assert_string_equal(json_string_value(json_object_get(doc, "environment")), "default");
    assert_string_equal(json_string_value(json_object_get(doc, "lineage")), lineage);
    json_decref(doc);

    st = open_ok(dir, "app", NULL);
    assert_int_equal(state_serial(st), 1);
    assert_string_equal(state_lineage(st), lineage);
    json_t *want = entry("i-1", 1), *got = state_get(st, "a.first");
    assert_true(json_equal(want, got));
    json_decref(want);
    json_decref(got);
    want = entry("i-3", 3);
    got = state_get(st, odd);
    assert_true(json_equal(want, got));
    json_decref(want);
    json_decref(got);
    assert_null(state_get(st, "missing"));

    json_t *addresses = state_addresses(st);
    assert_int_equal(json_array_size(addresses), 3);
    assert_string_equal(json_string_value(json_array_get(addresses, 0)), "a.first");
    assert_string_equal(json_string_value(json_array_get(addresses, 1)), "b.second");
    assert_string_equal(json_string_value(json_array_get(addresses, 2)), odd);
    json_decref(addresses);

    got = state_intent_get(st, "c.pending");
    assert_true(json_equal(intent, got));
    json_decref(got);
    json_t *intents = state_intent_addresses(st);
    assert_int_equal(json_array_size(intents), 1);
    json_decref(intents);
    got = state_get_outputs(st);
    assert_true(json_equal(outputs, got));
    json_decref(got);

    state_remove(st, "b.second");
    state_intent_remove(st, "c.pending");
    write_ok(st);
    state_free(st);
    st = open_ok(dir, "app", NULL);
    assert_null(state_get(st, "b.second"));
    assert_null(state_intent_get(st, "c.pending"));
    assert_int_equal(state_serial(st), 2);
    state_free(st);

    json_decref(intent);
    json_decref(outputs);
    free(expected);
    free(path);
    free(lineage);
    remove_tree(dir);
}

static void test_state_serial_increments_on_every_write_and_only_when_changed(void **unused)
{
    char *dir = make_tmpdir();
    state *st = open_ok(dir, "app", "int");
    assert_int_equal(state_serial(st), 0);
    write_ok(st); /* a new state is written even before its first change */
    assert_int_equal(state_serial(st), 1);
    assert_int_equal(file_serial(state_path(st)), 1);

    for (int i = 2; i <= 5; i++) {
        state_put(st, "x", entry("i-x", i));
        write_ok(st);
        assert_int_equal(state_serial(st), i);
        assert_int_equal(file_serial(state_path(st)), i);
    }
    unsigned long writes = state_write_count(st);
    write_ok(st);                        /* nothing changed */
    state_put(st, "x", entry("i-x", 5)); /* an equal entry is no change */
    write_ok(st);
    assert_int_equal(state_write_count(st), writes);
    assert_int_equal(state_serial(st), 5);
    state_free(st);
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
    state_free(st);
    st = open_ok(dir, "app", "prod");
    assert_string_equal(state_lineage(st), lineage);
    state_free(st);

    state *other = open_ok(other_dir, "app", "prod");
    assert_string_not_equal(state_lineage(other), lineage);
    state_free(other);
    free(lineage);
    remove_tree(dir);
    remove_tree(other_dir);
}

static void test_state_files_are_mode_0600_and_directory_0700(void **unused)
{
    char *top = make_tmpdir();
    char *dir = util_printf("%s/nested/.infra", top);
    struct stat sb;
    /* With no umask at all, the modes must come from the code. */
    mode_t saved = umask(0);
    state *st = open_ok(dir, "app", NULL);
    umask(saved);

    assert_int_equal(stat(dir, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    umask(0);
    write_ok(st);
    state_put(st, "x", entry("i-x", 1));
    write_ok(st);
    umask(saved);
    assert_int_equal(stat(state_path(st), &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    char *backup = util_printf("%s.backup", state_path(st));
    assert_int_equal(stat(backup, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    /* A state copied in with a lax mode is made private when opened. */
    char *path = util_strdup(state_path(st));
    state_free(st);
    assert_int_equal(chmod(path, 0644), 0);
    st = open_ok(dir, "app", NULL);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    free(path);

    state_free(st);
    free(backup);
    free(dir);
    remove_tree(top);
}

static void test_state_backup_holds_the_previous_serial(void **unused)
{
    char *dir = make_tmpdir();
    state *st = open_ok(dir, "app", NULL);
    char *backup = util_printf("%s.backup", state_path(st));
    write_ok(st);
    assert_false(exists(backup)); /* nothing to back up on the first write */
    for (int i = 1; i <= 3; i++) {
        state_put(st, "x", entry("i-x", i));
        write_ok(st);
    }
    assert_int_equal(file_serial(state_path(st)), 4);
    assert_int_equal(file_serial(backup), 3);
    json_t *doc = json_load_file(backup, 0, NULL);
    json_t *want = entry("i-x", 2);
    assert_true(json_equal(json_object_get(json_object_get(doc, "resources"), "x"), want));
    json_decref(want);
    json_decref(doc);
    state_free(st);
    free(backup);
    remove_tree(dir);
}

static void test_state_large_state_round_trips(void **unused)
{
    char *dir = make_tmpdir();
    state *st = open_ok(dir, "big", NULL);
    char address[64], id[64];
    for (int i = 0; i < 10000; i++) {
        snprintf(address, sizeof(address), "aws_instance.web[%d]", i);
        snprintf(id, sizeof(id), "i-%017d", i);
        state_put(st, address,
                  json_pack("{s:s, s:{s:s, s:s, s:i, s:s}}", "type", "aws_instance", "attributes",
                            "id", id, "ip", "10.1.2.3", "port", i, "blob",
                            "0123456789abcdef0123456789abcdef0123456789"
                            "abcdef0123456789abcdef0123456789abcdef"));
    }
    write_ok(st);
    state_free(st);

    st = open_ok(dir, "big", NULL);
    json_t *addresses = state_addresses(st);
    assert_int_equal(json_array_size(addresses), 10000);
    json_decref(addresses);
    json_t *e = state_get(st, "aws_instance.web[9999]");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(e, "attributes"), "port")),
                     9999);
    json_decref(e);
    state_free(st);
    remove_tree(dir);
}

/* ------------------------------------------------------------------ */
/* Crash safety                                                       */

static const char *crash_step;

static void crash_at(const char *step)
{
    if (strcmp(step, crash_step) == 0)
        raise(SIGKILL);
}

static void test_state_write_survives_crash_between_fsync_and_rename(void **unused)
{
    static const char *const steps[] = {"temp-written", "temp-synced", "backup-linked", "renamed",
                                        "dir-synced"};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        char *dir = make_tmpdir();
        state *st = open_ok(dir, "app", NULL);
        state_put(st, "a", entry("i-a", 1));
        write_ok(st);
        state_put(st, "b", entry("i-b", 2));
        write_ok(st);
        char *path = util_strdup(state_path(st));
        char *tmp = util_printf("%s.tmp", path);
        char *backup = util_printf("%s.backup", path);
        state_free(st);

        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            state *child;
            if (state_open(dir, "app", NULL, &child, NULL) < 0)
                _exit(10);
            state_put(child, "c", entry("i-c", 3));
            crash_step = steps[i];
            state_test_set_crash_hook(crash_at);
            state_write(child, NULL);
            _exit(11); /* the hook was never called */
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
            fail_msg("writer did not die at %s (status %d)", steps[i], status);
        if (strcmp(steps[i], "temp-written") == 0)
            assert_true(exists(tmp)); /* the case of a leftover temp file is exercised */

        /* The state parses and is the old or the new one, by step. */
        int renamed = i >= 3;
        st = open_ok(dir, "app", NULL);
        assert_int_equal(state_serial(st), renamed ? 3 : 2);
        json_t *c = state_get(st, "c");
        assert_true(renamed ? c != NULL : c == NULL);
        json_decref(c);
        json_t *a = state_get(st, "a");
        assert_non_null(a);
        json_decref(a);
        if (exists(backup)) {
            long long b = file_serial(backup);
            assert_true(b == 1 || b == 2);
        }

        /* The next write is not confused by what the crash left. */
        state_put(st, "d", entry("i-d", 4));
        write_ok(st);
        long long serial = state_serial(st);
        assert_int_equal(serial, renamed ? 4 : 3);
        assert_false(exists(tmp));
        assert_int_equal(file_serial(backup), serial - 1);
        state_free(st);
        st = open_ok(dir, "app", NULL);
        json_t *d = state_get(st, "d");
        assert_non_null(d);
        json_decref(d);
        assert_int_equal(state_serial(st), serial);
        state_free(st);

        free(path);
        free(tmp);
        free(backup);
        remove_tree(dir);
    }
}

static void test_state_failed_write_leaves_old_file_and_names_the_cause(void **unused)
{
    char *dir = make_tmpdir();
    state *st = open_ok(dir, "app", NULL);
    state_put(st, "a", entry("i-a", 1));
    write_ok(st);
    char *before = read_text(state_path(st));
    /* A directory where the temp file goes makes the write fail, even as root. */
    char *tmp = util_printf("%s.tmp", state_path(st));
    assert_int_equal(mkdir(tmp, 0700), 0);

    state_put(st, "b", entry("i-b", 2));
    char *err = NULL;
    assert_true(state_write(st, &err) < 0);
    assert_non_null(err);
    assert_non_null(strstr(err, state_path(st)));
    assert_non_null(strstr(err, strerror(EISDIR)));
    assert_int_equal(state_serial(st), 1);
    char *after = read_text(state_path(st));
    assert_string_equal(before, after);
    free(err);
    free(after);

    /* Once the cause is gone, the pending change is written. */
    assert_int_equal(rmdir(tmp), 0);
    write_ok(st);
    assert_int_equal(state_serial(st), 2);
    assert_int_equal(file_serial(state_path(st)), 2);
    state_free(st);
    free(before);
    free(tmp);
    remove_tree(dir);
}

/* ------------------------------------------------------------------ */
/* Refusals                                                           */

static void test_state_corrupt_file_is_reported_with_line_and_left_untouched(void **unused)
{
    char *dir = make_tmpdir();
    state *st = open_ok(dir, "app", NULL);
    write_ok(st);
    state_put(st, "a", entry("i-a", 1));
    write_ok(st); /* now a backup exists */
    char *path = util_strdup(state_path(st));
    char *backup = util_printf("%s.backup", path);
    state_free(st);

    const char *corrupt = "{\n  \"version\": 1,\n  \"serial\": 3,\n  oops\n}\n";
    write_text(path, corrupt);
    state *bad = NULL;
    char *err = NULL;
    assert_int_equal(state_open(dir, "app", NULL, &bad, &err), INFRA_EINVALID);
    assert_null(bad);
    assert_non_null(err);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "line 4"));
    assert_non_null(strstr(err, "column"));
    assert_non_null(strstr(err, backup));
    free(err);
    char *now = read_text(path);
    assert_string_equal(now, corrupt);
    free(now);
    assert_int_equal(file_serial(backup), 1); /* the backup is left alone too */

    /* Without a backup the message says so. */
    assert_int_equal(unlink(backup), 0);
    err = NULL;
    assert_int_equal(state_open(dir, "app", NULL, &bad, &err), INFRA_EINVALID);
    assert_non_null(strstr(err, "no backup"));
    free(err);

    /* A truncated file is corrupt, not empty. */
    write_text(path, "");
    err = NULL;
    assert_int_equal(state_open(dir, "app", NULL, &bad, &err), INFRA_EINVALID);
    assert_non_null(strstr(err, path));
    free(err);

    free(path);
    free(backup);
    remove_tree(dir);
}

static void test_state_file_of_another_environment_is_refused(void **unused)
{
    char *dir = make_tmpdir();
    state *st = open_ok(dir, "app", "int");
    write_ok(st);
    char *copy = util_printf("%s/app.prod.json", dir);
    char *text = read_text(state_path(st));
    write_text(copy, text);
    state_free(st);

    state *bad = NULL;
    char *err = NULL;
    assert_int_equal(state_open(dir, "app", "prod", &bad, &err), INFRA_ECONFLICT);
    assert_null(bad);
    assert_non_null(strstr(err, copy));
    assert_non_null(strstr(err, "environment \"int\""));
    assert_non_null(strstr(err, "environment \"prod\""));
    free(err);
    char *now = read_text(copy);
    assert_string_equal(now, text);
    free(now);

    /* Same for a file of another topology. */
    char *other = util_printf("%s/web.int.json", dir);
    write_text(other, text);
    err = NULL;
    assert_int_equal(state_open(dir, "web", "int", &bad, &err), INFRA_ECONFLICT);
    assert_non_null(strstr(err, "topology \"app\""));
    assert_non_null(strstr(err, "topology \"web\""));
    free(err);

    free(other);
    free(text);
    free(copy);
    remove_tree(dir);
}

static void test_state_replaced_by_another_lineage_is_not_overwritten(void **unused)
{
    char *dir = make_tmpdir(), *elsewhere = make_tmpdir();
    state *mine = open_ok(dir, "app", NULL);
    write_ok(mine);
    state *theirs = open_ok(elsewhere, "app", NULL);
    write_ok(theirs);
    char *their_text = read_text(state_path(theirs));
    char *replacement = util_printf("%s/replacement", dir);
    write_text(replacement, their_text);
    assert_int_equal(rename(replacement, state_path(mine)), 0);

    state_put(mine, "a", entry("i-a", 1));
    char *err = NULL;
    assert_int_equal(state_write(mine, &err), INFRA_ECONFLICT);
    assert_non_null(strstr(err, state_lineage(mine)));
    assert_non_null(strstr(err, state_lineage(theirs)));
    assert_non_null(strstr(err, state_path(mine)));
    free(err);
    char *now = read_text(state_path(mine));
    assert_string_equal(now, their_text);
    free(now);

    state_free(mine);
    state_free(theirs);
    free(their_text);
    free(replacement);
    remove_tree(dir);
    remove_tree(elsewhere);
}

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
    assert_non_null(strstr(err, "serial 2"));
    free(err);
    assert_int_equal(file_serial(state_path(second)), 2);
    state_free(first);
    state_free(second);
    remove_tree(dir);
}

static void test_state_names_unusable_in_a_file_name_are_refused(void **unused)
{
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
        cmocka_unit_test(test_state_files_are_mode_0600_and_directory_0700),
        cmocka_unit_test(test_state_backup_holds_the_previous_serial),
        cmocka_unit_test(test_state_large_state_round_trips),
        cmocka_unit_test(test_state_write_survives_crash_between_fsync_and_rename),
        cmocka_unit_test(test_state_failed_write_leaves_old_file_and_names_the_cause),
        cmocka_unit_test(test_state_corrupt_file_is_reported_with_line_and_left_untouched),
        cmocka_unit_test(test_state_file_of_another_environment_is_refused),
        cmocka_unit_test(test_state_replaced_by_another_lineage_is_not_overwritten),
        cmocka_unit_test(test_state_written_by_another_handle_is_not_overwritten),
        cmocka_unit_test(test_state_names_unusable_in_a_file_name_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
