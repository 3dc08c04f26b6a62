/* State lock: a second process is refused with the holder's details, a
 * lock whose holder was killed is taken over with a warning, and `infra
 * unlock` refuses a live holder but removes a dead one's file. */
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
#include "services/log.h"
#include "state/state.h"
#include "base/file.h"
#include "base/util.h"

static char *make_tmpdir(void)
{
    char *dir = util_strdup("/tmp/infra-test-state-lock-XXXXXX");
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

static char *this_host(void)
{
    char buf[256];
    assert_int_equal(gethostname(buf, sizeof(buf)), 0);
    buf[sizeof(buf) - 1] = '\0';
    return util_strdup(buf);
}

/* A child process that takes the lock as "alice@test" and holds it until
 * killed. Returns its pid once it holds the lock. */
static pid_t spawn_holder(const char *dir)
{
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        state_lock *lock = NULL;
        if (state_lock_acquire(dir, "app", "prod", "alice@test", &lock, NULL) < 0)
            _exit(3);
        char ok = 'y';
        if (write(ready[1], &ok, 1) != 1)
            _exit(4);
        for (;;)
            pause();
    }
    close(ready[1]);
    char c = 0;
    ssize_t n = read(ready[0], &c, 1);
    close(ready[0]);
    if (n != 1 || c != 'y')
        fail_msg("the holder process could not take the lock");
    return pid;
}

static void kill_holder(pid_t pid)
{
    int status;
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
}

/* Runs with stderr sent to a file; returns what was logged. */
typedef struct capture {
    int saved;
    char *path;
} capture;

static void capture_begin(capture *c, const char *dir)
{
    c->path = util_printf("%s/stderr.txt", dir);
    fflush(stderr);
    c->saved = dup(2);
    int fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    dup2(fd, 2);
    close(fd);
}

static char *capture_end(capture *c)
{
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    char *text = read_text(c->path);
    unlink(c->path);
    free(c->path);
    return text;
}

static void test_state_lock_second_acquire_in_another_process_is_refused(void **unused)
{
    char *dir = make_tmpdir(), *host = this_host();
    pid_t holder = spawn_holder(dir);

    state_lock *lock = NULL;
    char *err = NULL;
    assert_int_equal(state_lock_acquire(dir, "app", "prod", "bob@test", &lock, &err),
                     INFRA_ECONFLICT);
    assert_null(lock);
    char *expected =
        util_printf("state is locked by alice@test (pid %d on %s) since ", (int)holder, host);
    if (strncmp(err, expected, strlen(expected)) != 0)
        fail_msg("unexpected refusal: %s", err);
    assert_non_null(strstr(err, "another infra run is in progress on this environment"));
    assert_non_null(strstr(err, "if that process is gone run: infra unlock app -e prod"));
    free(err);
    free(expected);

    /* The file itself says who holds the lock, in JSON. */
    char *path = util_printf("%s/app.prod.lock", dir);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    json_t *doc = json_load_file(path, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "owner")), "alice@test");
    assert_int_equal(json_integer_value(json_object_get(doc, "pid")), holder);
    assert_string_equal(json_string_value(json_object_get(doc, "host")), host);
    const char *when = json_string_value(json_object_get(doc, "time"));
    assert_non_null(when);
    assert_int_equal(strlen(when), 20); /* 2024-01-02T03:04:05Z */
    assert_int_equal(when[10], 'T');
    assert_int_equal(when[19], 'Z');
    assert_non_null(json_string_value(json_object_get(doc, "command")));
    json_decref(doc);

    kill_holder(holder);
    free(path);
    free(host);
    remove_tree(dir);
}

static void test_state_lock_of_a_killed_holder_is_taken_over_with_a_warning(void **unused)
{
    char *dir = make_tmpdir();
    pid_t holder = spawn_holder(dir);
    kill_holder(holder);

    capture c;
    state_lock *lock = NULL;
    char *err = NULL;
    capture_begin(&c, dir);
    int rc = state_lock_acquire(dir, "app", "prod", "bob@test", &lock, &err);
    char *logged = capture_end(&c);
    if (rc < 0)
        fail_msg("acquire after kill -9: %s", err);
    char *pid_text = util_printf("pid %d", (int)holder);
    assert_non_null(strstr(logged, "warning"));
    assert_non_null(strstr(logged, pid_text));
    assert_non_null(strstr(logged, "no longer running"));

    char *path = util_printf("%s/app.prod.lock", dir);
    json_t *doc = json_load_file(path, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(doc, "pid")), getpid());
    assert_string_equal(json_string_value(json_object_get(doc, "owner")), "bob@test");
    json_decref(doc);

    /* A release leaves an empty file, so the next taker has nothing to warn about. */
    state_lock_release(lock);
    char *text = read_text(path);
    assert_string_equal(text, "");
    free(text);
    capture_begin(&c, dir);
    rc = state_lock_acquire(dir, "app", "prod", "bob@test", &lock, &err);
    free(logged);
    logged = capture_end(&c);
    assert_int_equal(rc, 0);
    assert_null(strstr(logged, "taking over"));
    state_lock_release(lock);

    free(logged);
    free(pid_text);
    free(path);
    remove_tree(dir);
}

static void test_state_lock_is_exclusive_within_one_process_too(void **unused)
{
    char *dir = make_tmpdir();
    state_lock *first = NULL, *second = NULL;
    char *err = NULL;
    assert_int_equal(state_lock_acquire(dir, "app", "prod", NULL, &first, &err), 0);
    assert_int_equal(state_lock_acquire(dir, "app", "prod", NULL, &second, &err), INFRA_ECONFLICT);
    char *pid_text = util_printf("(pid %d on ", (int)getpid());
    assert_non_null(strstr(err, pid_text));
    free(err);
    /* Another environment has its own lock. */
    assert_int_equal(state_lock_acquire(dir, "app", "int", NULL, &second, &err), 0);
    state_lock_release(second);
    state_lock_release(first);

    /* Released: another process gets it. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        state_lock *lock = NULL;
        _exit(state_lock_acquire(dir, "app", "prod", "child", &lock, NULL) == 0 ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    free(pid_text);
    remove_tree(dir);
}

static void test_state_unlock_refuses_a_live_holder_and_removes_a_dead_ones(void **unused)
{
    char *dir = make_tmpdir();
    char *path = util_printf("%s/app.prod.lock", dir);
    char *err = NULL;
    capture c;

    /* Live holder, no force: refused, file kept. */
    pid_t holder = spawn_holder(dir);
    assert_int_equal(state_unlock(dir, "app", "prod", 0, &err), INFRA_ECONFLICT);
    char *pid_text = util_printf("pid %d", (int)holder);
    assert_non_null(strstr(err, pid_text));
    assert_non_null(strstr(err, "alice@test"));
    free(err);
    err = NULL;
    assert_int_equal(access(path, F_OK), 0);

    /* Live holder, force: removed, and a new run can lock again. */
    capture_begin(&c, dir);
    int rc = state_unlock(dir, "app", "prod", 1, &err);
    char *logged = capture_end(&c);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(logged, pid_text));
    assert_int_equal(access(path, F_OK), -1);
    state_lock *lock = NULL;
    assert_int_equal(state_lock_acquire(dir, "app", "prod", NULL, &lock, &err), 0);
    state_lock_release(lock);
    kill_holder(holder);
    free(logged);
    free(pid_text);

    /* Dead holder: removed without force, saying what was removed. */
    holder = spawn_holder(dir);
    kill_holder(holder);
    pid_text = util_printf("pid %d", (int)holder);
    capture_begin(&c, dir);
    rc = state_unlock(dir, "app", "prod", 0, &err);
    logged = capture_end(&c);
    if (rc < 0)
        fail_msg("unlock of a dead holder: %s", err);
    assert_non_null(strstr(logged, path));
    assert_non_null(strstr(logged, pid_text));
    assert_int_equal(access(path, F_OK), -1);
    free(logged);

    /* Nothing to unlock is not an error. */
    assert_int_equal(state_unlock(dir, "app", "prod", 0, &err), 0);

    free(pid_text);
    free(path);
    remove_tree(dir);
}

/* What a planted lock file must never do: truncate what it points at. */
static void assert_untouched(const char *path, const char *text)
{
    char *now = read_text(path);
    assert_string_equal(now, text);
    free(now);
}

static void test_state_lock_never_follows_a_link_planted_as_the_lock_file(void **unused)
{
    char *dir = make_tmpdir();
    char *victim = util_printf("%s/precious", dir);
    char *lock_path = util_printf("%s/app.prod.lock", dir);
    FILE *f = fopen(victim, "w");
    assert_non_null(f);
    fputs("do not truncate me\n", f);
    fclose(f);
    assert_int_equal(symlink(victim, lock_path), 0);
    state_lock *lock = NULL;
    char *err = NULL;

    assert_int_equal(state_lock_acquire(dir, "app", "prod", "me", &lock, &err), INFRA_EINTERNAL);
    assert_null(lock);
    char *expected = util_printf("cannot open lock file %s: it is a symbolic link, which infra "
                                 "never follows in a state directory; remove it",
                                 lock_path);
    assert_string_equal(err, expected);
    assert_untouched(victim, "do not truncate me\n");
    free(expected);
    free(err);

    /* infra unlock does not follow it either (it only removes the link). */
    assert_int_equal(state_unlock(dir, "app", "prod", 0, &err), INFRA_EINTERNAL);
    assert_non_null(strstr(err, "it is a symbolic link"));
    assert_untouched(victim, "do not truncate me\n");
    free(err);

    free(lock_path);
    free(victim);
    remove_tree(dir);
}

static void test_state_lock_refuses_a_hard_link_or_a_fifo_as_the_lock_file(void **unused)
{
    char *dir = make_tmpdir();
    char *victim = util_printf("%s/precious", dir);
    char *lock_path = util_printf("%s/app.prod.lock", dir);
    FILE *f = fopen(victim, "w");
    assert_non_null(f);
    fputs("do not truncate me\n", f);
    fclose(f);
    assert_int_equal(link(victim, lock_path), 0);
    state_lock *lock = NULL;
    char *err = NULL;

    assert_int_equal(state_lock_acquire(dir, "app", "prod", "me", &lock, &err), INFRA_EINTERNAL);
    char *expected = util_printf("cannot open lock file %s: it has 2 hard links, so it is also "
                                 "another file; remove it",
                                 lock_path);
    assert_string_equal(err, expected);
    assert_untouched(victim, "do not truncate me\n");
    free(expected);
    free(err);
    /* A file that may rightly have two names (a state beside its backup
     * link) is opened with util_open_private_links; a third name is not. */
    int fd = util_open_private_links(lock_path, O_RDONLY, 0, 2, "state", &err);
    assert_true(fd >= 0);
    close(fd);
    char *third = util_printf("%s/third", dir);
    assert_int_equal(link(victim, third), 0);
    assert_int_equal(util_open_private_links(lock_path, O_RDONLY, 0, 2, "state", &err), -1);
    assert_non_null(strstr(err, "it has 3 hard links"));
    free(err);
    unlink(third);
    free(third);

    /* A FIFO is refused at once; nothing waits for a writer. */
    assert_int_equal(unlink(lock_path), 0);
    assert_int_equal(mkfifo(lock_path, 0600), 0);
    assert_int_equal(state_lock_acquire(dir, "app", "prod", "me", &lock, &err), INFRA_EINTERNAL);
    expected = util_printf("cannot open lock file %s: it is a FIFO, not a regular file; remove it",
                           lock_path);
    assert_string_equal(err, expected);
    free(expected);
    free(err);

    free(lock_path);
    free(victim);
    remove_tree(dir);
}

static void test_state_lock_refuses_a_state_directory_others_can_write(void **unused)
{
    char *dir = make_tmpdir();
    assert_int_equal(chmod(dir, 01777), 0);
    state_lock *lock = NULL;
    char *err = NULL;

    assert_int_equal(state_lock_acquire(dir, "app", "prod", "me", &lock, &err), INFRA_EAUTH);
    char *expected = util_printf("state directory %s is writable by others (mode 1777), who could "
                                 "plant files there; run chmod o-w %s",
                                 dir, dir);
    assert_string_equal(err, expected);
    free(expected);
    free(err);
    char *lock_path = util_printf("%s/app.prod.lock", dir);
    assert_int_equal(access(lock_path, F_OK), -1); /* nothing was created */
    free(lock_path);

    assert_int_equal(chmod(dir, 0700), 0);
    assert_int_equal(state_lock_acquire(dir, "app", "prod", "me", &lock, &err), 0);
    state_lock_release(lock);
    remove_tree(dir);
}

/* With --hold-lock DIR as its first arguments this binary takes the lock
 * and holds it (the rest of the command line is what the lock records). */
static int hold_lock_main(const char *dir)
{
    state_lock *lock = NULL;
    if (state_lock_acquire(dir, "app", "prod", "bob@test", &lock, NULL) < 0)
        return 3;
    if (write(STDOUT_FILENO, "y", 1) != 1)
        return 4;
    for (;;)
        pause();
}

/* The lock says which command holds it, but never a --var value: a
 * password given that way is not left in a file. */
static void test_state_lock_records_the_command_without_variable_values(void **unused)
{
    char *dir = make_tmpdir();
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(ready[1], STDOUT_FILENO);
        close(ready[0]);
        execl("/proc/self/exe", "test_state_lock", "--hold-lock", dir, "up", "t.yaml", "--var",
              "db_password=hunter2-in-argv", "--var=token=abc-in-argv", "-e", "prod", (char *)NULL);
        _exit(5);
    }
    close(ready[1]);
    char c = 0;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);

    char *path = util_printf("%s/app.prod.lock", dir);
    char *text = read_text(path);
    json_t *doc = json_loads(text, 0, NULL);
    assert_non_null(doc);
    char *expected = util_printf("test_state_lock --hold-lock %s up t.yaml --var "
                                 "db_password=(value hidden) --var=token=(value hidden) -e prod",
                                 dir);
    assert_string_equal(json_string_value(json_object_get(doc, "command")), expected);
    assert_null(strstr(text, "in-argv"));

    kill_holder(pid);
    free(expected);
    json_decref(doc);
    free(text);
    free(path);
    remove_tree(dir);
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "--hold-lock"))
        return hold_lock_main(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_lock_second_acquire_in_another_process_is_refused),
        cmocka_unit_test(test_state_lock_of_a_killed_holder_is_taken_over_with_a_warning),
        cmocka_unit_test(test_state_lock_is_exclusive_within_one_process_too),
        cmocka_unit_test(test_state_unlock_refuses_a_live_holder_and_removes_a_dead_ones),
        cmocka_unit_test(test_state_lock_never_follows_a_link_planted_as_the_lock_file),
        cmocka_unit_test(test_state_lock_refuses_a_hard_link_or_a_fifo_as_the_lock_file),
        cmocka_unit_test(test_state_lock_refuses_a_state_directory_others_can_write),
        cmocka_unit_test(test_state_lock_records_the_command_without_variable_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
