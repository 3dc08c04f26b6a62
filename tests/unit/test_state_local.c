/* The local backend's files: modes, nothing created by reading, a kill at
 * every step of a commit, a corrupt or foreign file refused and left
 * alone, a file replaced while in use, and the migration of the JSON
 * state file of earlier versions. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "services/log.h"
#include "state_test.h"

static json_t *entry(const char *id, int n)
{
    return json_pack("{s:s, s:{s:s, s:i}}", "type", "test_object", "attributes", "id", id, "n", n);
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

static state *open_local(const char *dir, const char *name, const char *env)
{
    state *st = NULL;
    char *err = NULL;
    if (state_open(dir, name, env, &st, &err) < 0)
        fail_msg("state_open: %s", err);
    return st;
}

/* ------------------------------------------------------------------ */
/* Files                                                              */

static void test_state_local_files_are_mode_0600_and_directory_0700(void **unused)
{
    char *parent = make_tmpdir();
    char *dir = util_printf("%s/deep/.infra", parent);
    mode_t old = umask(022);
    state *st = open_local(dir, "app", "prod");
    /* Opening a state nothing was stored for creates nothing. */
    assert_false(exists(dir));
    state_put(st, "x", entry("i-x", 1));
    write_ok(st);
    umask(old);
    struct stat sb;
    assert_int_equal(stat(dir, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_int_equal(stat(state_path(st), &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    char *wal = util_printf("%s-wal", state_path(st));
    assert_int_equal(stat(wal, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    char *expected = util_printf("%s/app.prod.db", dir);
    assert_string_equal(state_path(st), expected);
    state_free(st);

    /* A state file copied in with a lax mode is made private again. */
    assert_int_equal(chmod(expected, 0644), 0);
    st = open_local(dir, "app", "prod");
    assert_int_equal(stat(expected, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    state_free(st);
    free(wal);
    free(expected);
    free(dir);
    remove_tree(parent);
}

/* ------------------------------------------------------------------ */
/* Crashes                                                            */

static const char *crash_step;

static void crash_at(const char *step)
{
    if (crash_step && !strcmp(step, crash_step))
        kill(getpid(), SIGKILL);
}

static void test_state_local_commit_survives_a_kill_at_every_step(void **unused)
{
    static const char *const steps[] = {"begun", "rows-written", "committed"};
    for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
        char *dir = make_tmpdir();
        state *st = open_local(dir, "app", NULL);
        state_put(st, "a", entry("i-a", 1));
        write_ok(st);
        state_put(st, "b", entry("i-b", 2));
        write_ok(st);
        state_free(st);

        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            state *child = NULL;
            if (state_open(dir, "app", NULL, &child, NULL) < 0)
                _exit(3);
            state_put(child, "c", entry("i-c", 3));
            state_remove(child, "a");
            crash_step = steps[s];
            state_test_set_crash_hook(crash_at);
            state_write(child, NULL);
            _exit(4); /* the hook should have killed us */
        }
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        /* Whole before or whole after, never in between. */
        st = open_local(dir, "app", NULL);
        int committed = !strcmp(steps[s], "committed");
        assert_int_equal(state_serial(st), committed ? 3 : 2);
        json_t *c = state_get(st, "c"), *a = state_get(st, "a");
        assert_true(committed ? c != NULL : c == NULL);
        assert_true(committed ? a == NULL : a != NULL);
        json_decref(c);
        json_decref(a);
        /* And the next commit goes on from there. */
        state_put(st, "d", entry("i-d", 4));
        write_ok(st);
        long long serial = state_serial(st);
        state_free(st);
        st = open_local(dir, "app", NULL);
        assert_int_equal(state_serial(st), serial);
        state_free(st);
        remove_tree(dir);
    }
}

/* ------------------------------------------------------------------ */
/* Files that are not this state                                      */

static void test_state_local_corrupt_file_is_reported_and_left_untouched(void **unused)
{
    char *dir = make_tmpdir();
    char *path = util_printf("%s/app.default.db", dir);
    write_text(path, "this is not a database, but it is long enough to look like a header "
                     "of one; SQLite reads the first hundred bytes to decide............");
    char *before = read_text(path);
    state *st = NULL;
    char *err = NULL;
    assert_true(state_open(dir, "app", NULL, &st, &err) < 0);
    assert_null(st);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "left untouched"));
    free(err);
    char *after = read_text(path);
    assert_string_equal(before, after);
    free(before);
    free(after);
    free(path);
    remove_tree(dir);
}

static void test_state_local_file_of_another_environment_is_refused(void **unused)
{
    char *dir = make_tmpdir();
    state *st = open_local(dir, "app", "int");
    write_ok(st);
    char *from = util_strdup(state_path(st));
    state_free(st);
    char *to = util_printf("%s/app.prod.db", dir);
    assert_int_equal(rename(from, to), 0);
    char *err = NULL;
    st = NULL;
    assert_int_equal(state_open(dir, "app", "prod", &st, &err), INFRA_ECONFLICT);
    assert_non_null(strstr(err, "\"int\""));
    assert_non_null(strstr(err, "\"prod\""));
    free(err);
    free(from);
    free(to);
    remove_tree(dir);
}

static void test_state_local_file_replaced_while_in_use_is_not_written(void **unused)
{
    char *dir = make_tmpdir(), *elsewhere = make_tmpdir();
    state *mine = open_local(dir, "app", NULL);
    write_ok(mine);
    state *theirs = open_local(elsewhere, "app", NULL);
    state_put(theirs, "t", entry("i-t", 9));
    write_ok(theirs);
    char *their_lineage = util_strdup(state_lineage(theirs));
    state_free(theirs);
    char *replacement = util_printf("%s/app.default.db", elsewhere);
    assert_int_equal(rename(replacement, state_path(mine)), 0);

    state_put(mine, "a", entry("i-a", 1));
    char *err = NULL;
    assert_int_equal(state_write(mine, &err), INFRA_ECONFLICT);
    assert_non_null(strstr(err, state_path(mine)));
    assert_non_null(strstr(err, state_lineage(mine)));
    assert_non_null(strstr(err, "replaced"));
    free(err);
    state_free(mine);
    /* What was put in its place is untouched. */
    state *now = open_local(dir, "app", NULL);
    assert_string_equal(state_lineage(now), their_lineage);
    assert_null(state_get(now, "a"));
    state_free(now);
    free(their_lineage);
    free(replacement);
    remove_tree(dir);
    remove_tree(elsewhere);
}

/* ------------------------------------------------------------------ */
/* Migration                                                          */

static const char json_state[] =
    "{\"version\":1,\"serial\":12,\"lineage\":\"00112233445566778899aabbccddeeff\","
    "\"topology\":\"app\",\"environment\":\"prod\","
    "\"resources\":{\"network.main\":{\"type\":\"network\",\"attributes\":{\"id\":\"n-1\"}},"
    "\"instance.web[0]\":{\"type\":\"instance\",\"attributes\":{\"id\":\"i-1\"}}},"
    "\"intents\":{\"instance.web[1]\":{\"token\":\"tok\",\"action\":\"create\"}},"
    "\"outputs\":{\"ip\":\"10.0.0.1\"}}";

typedef struct captured {
    int fd;
    int saved;
    char *path;
} captured;

static void capture_begin(captured *c, const char *dir)
{
    c->path = util_printf("%s/log", dir);
    fflush(stderr);
    c->saved = dup(STDERR_FILENO);
    c->fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(c->fd, STDERR_FILENO);
}

static char *capture_end(captured *c)
{
    fflush(stderr);
    dup2(c->saved, STDERR_FILENO);
    close(c->saved);
    close(c->fd);
    char *text = read_text(c->path);
    unlink(c->path);
    free(c->path);
    return text;
}

static void test_state_local_json_file_is_migrated_once_and_kept(void **unused)
{
    char *dir = make_tmpdir();
    char *json = util_printf("%s/app.prod.json", dir);
    char *migrated = util_printf("%s.migrated", json);
    write_text(json, json_state);

    captured cap;
    capture_begin(&cap, dir);
    state *st = open_local(dir, "app", "prod");
    char *log = capture_end(&cap);
    assert_non_null(strstr(log, "migrated"));
    assert_non_null(strstr(log, migrated));
    free(log);
    assert_false(exists(json));
    assert_true(exists(migrated));
    assert_int_equal(state_serial(st), 12);
    assert_string_equal(state_lineage(st), "00112233445566778899aabbccddeeff");
    json_t *web = state_get(st, "instance.web[0]");
    assert_non_null(web);
    json_decref(web);
    json_t *intent = state_intent_get(st, "instance.web[1]");
    assert_non_null(intent);
    json_decref(intent);
    /* The next change commits on top of the migrated serial. */
    state_put(st, "dns.www", entry("d-1", 1));
    write_ok(st);
    assert_int_equal(state_serial(st), 13);
    state_free(st);

    /* The message is given once. */
    capture_begin(&cap, dir);
    st = open_local(dir, "app", "prod");
    log = capture_end(&cap);
    assert_null(strstr(log, "migrated"));
    free(log);
    assert_int_equal(state_serial(st), 13);
    json_t *doc = state_export(st);
    json_t *old = json_loads(json_state, 0, NULL);
    assert_true(json_equal(json_object_get(doc, "outputs"), json_object_get(old, "outputs")));
    assert_int_equal(json_object_size(json_object_get(doc, "resources")), 3);
    json_decref(old);
    json_decref(doc);
    state_free(st);
    free(json);
    free(migrated);
    remove_tree(dir);
}

static void test_state_local_json_file_that_does_not_parse_is_not_migrated(void **unused)
{
    char *dir = make_tmpdir();
    char *json = util_printf("%s/app.default.json", dir);
    write_text(json, "{\"version\": 1,\n \"serial\": 3,\n oops}");
    state *st = NULL;
    char *err = NULL;
    assert_int_equal(state_open(dir, "app", NULL, &st, &err), INFRA_EINVALID);
    assert_non_null(strstr(err, json));
    assert_non_null(strstr(err, "line 3"));
    free(err);
    assert_true(exists(json));
    char *db = util_printf("%s/app.default.db", dir);
    assert_false(exists(db)); /* nothing was made from it */
    free(db);
    free(json);
    remove_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_local_files_are_mode_0600_and_directory_0700),
        cmocka_unit_test(test_state_local_commit_survives_a_kill_at_every_step),
        cmocka_unit_test(test_state_local_corrupt_file_is_reported_and_left_untouched),
        cmocka_unit_test(test_state_local_file_of_another_environment_is_refused),
        cmocka_unit_test(test_state_local_file_replaced_while_in_use_is_not_written),
        cmocka_unit_test(test_state_local_json_file_is_migrated_once_and_kept),
        cmocka_unit_test(test_state_local_json_file_that_does_not_parse_is_not_migrated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
