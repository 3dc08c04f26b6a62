/* The run lock of any backend (state_test.h chooses it): a second holder is
 * refused with the first's details or waits for it, a killed holder's lock
 * is taken over, and `infra unlock` refuses a live holder unless forced. */
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "state_test.h"

/* A holder in another process: takes the lock, says so on ready, and
 * keeps it until release is readable (or forever). */
typedef struct holder {
    pid_t pid;
    int release; /* write end: a byte (or closing it) lets the holder go */
} holder;

static holder hold_lock(const char *dir, const char *owner)
{
    int ready[2], release[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(release), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        test_after_fork();
        close(ready[0]);
        close(release[1]);
        state_backend *b = NULL;
        char *err = NULL;
        if (test_backend_open(dir, "app", "prod", &b, &err) < 0 ||
            state_backend_lock(b, owner, 0, &err) < 0) {
            fprintf(stderr, "holder: %s\n", err ? err : "?");
            _exit(2);
        }
        if (write(ready[1], "1", 1) != 1)
            _exit(3);
        char c;
        ssize_t n = read(release[0], &c, 1);
        (void)n;
        state_backend_unlock(b);
        state_backend_free(b);
        _exit(0);
    }
    close(ready[1]);
    close(release[0]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    return (holder){pid, release[1]};
}

static void let_go(holder *h)
{
    int status = 0;
    close(h->release);
    assert_int_equal(waitpid(h->pid, &status, 0), h->pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static state_backend *backend_ok(const char *dir)
{
    state_backend *b = NULL;
    char *err = NULL;
    if (test_backend_open(dir, "app", "prod", &b, &err) < 0)
        fail_msg("backend: %s", err);
    return b;
}

static void test_state_backend_lock_second_holder_is_refused_naming_the_first(void **unused)
{
    char *dir = make_tmpdir();
    holder h = hold_lock(dir, "alice (infra up)");
    state_backend *b = backend_ok(dir);
    char *err = NULL;
    assert_int_equal(state_backend_lock(b, "bob (infra up)", 0, &err), INFRA_ECONFLICT);
    assert_non_null(strstr(err, "alice (infra up)"));
    char *pid = util_printf("pid %d on ", (int)h.pid);
    if (!strstr(err, pid))
        fail_msg("the refusal does not name %s: %s", pid, err);
    assert_non_null(strstr(err, "infra unlock app -e prod"));
    free(pid);
    free(err);
    let_go(&h);
    /* Released: the next one gets it. */
    assert_int_equal(state_backend_lock(b, "bob (infra up)", 0, &err), 0);
    state_backend_unlock(b);
    state_backend_free(b);
    remove_tree(dir);
}

static void test_state_backend_lock_waits_for_the_holder_with_a_timeout(void **unused)
{
    char *dir = make_tmpdir();
    holder h = hold_lock(dir, "alice (infra up)");
    state_backend *b = backend_ok(dir);
    char *err = NULL;
    /* A short wait ends with the refusal... */
    assert_int_equal(state_backend_lock(b, "bob", 300, &err), INFRA_ECONFLICT);
    assert_non_null(strstr(err, "alice"));
    free(err);
    err = NULL;
    /* ... a long one gets the lock as soon as the holder lets go. */
    pid_t releaser = fork();
    assert_true(releaser >= 0);
    if (releaser == 0) {
        struct timespec pause = {0, 300 * 1000 * 1000};
        nanosleep(&pause, NULL);
        close(h.release);
        _exit(0);
    }
    close(h.release);
    assert_int_equal(state_backend_lock(b, "bob", 60000, &err), 0);
    int status = 0;
    waitpid(h.pid, &status, 0);
    waitpid(releaser, &status, 0);
    state_backend_unlock(b);
    state_backend_free(b);
    remove_tree(dir);
}

static void test_state_backend_lock_of_a_killed_holder_is_taken_over(void **unused)
{
    char *dir = make_tmpdir();
    holder h = hold_lock(dir, "alice (infra up)");
    kill(h.pid, SIGKILL);
    int status = 0;
    assert_int_equal(waitpid(h.pid, &status, 0), h.pid);
    close(h.release);
    state_backend *b = backend_ok(dir);
    char *err = NULL;
    /* The server may take a moment to see a dead client's connection end. */
    if (state_backend_lock(b, "bob", 30000, &err) < 0)
        fail_msg("the lock of a killed holder was not taken over: %s", err);
    state_backend_unlock(b);
    state_backend_free(b);
    remove_tree(dir);
}

static void test_state_backend_unlock_refuses_a_live_holder_unless_forced(void **unused)
{
    char *dir = make_tmpdir();
    state_backend *b = backend_ok(dir);
    char *err = NULL;
    /* Nobody holds it: unlock is harmless. */
    assert_int_equal(state_backend_break_lock(b, 0, &err), 0);

    holder h = hold_lock(dir, "alice (infra up)");
    assert_int_equal(state_backend_break_lock(b, 0, &err), INFRA_ECONFLICT);
    assert_non_null(strstr(err, "alice"));
    assert_non_null(strstr(err, "still holds"));
    free(err);
    err = NULL;
    if (state_backend_break_lock(b, 1, &err) < 0)
        fail_msg("unlock --force: %s", err);
    /* Forced: another run may take it now. */
    if (state_backend_lock(b, "bob", 30000, &err) < 0)
        fail_msg("lock after unlock --force: %s", err);
    state_backend_unlock(b);
    close(h.release);
    int status = 0;
    waitpid(h.pid, &status, 0);
    state_backend_free(b);
    remove_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_backend_lock_second_holder_is_refused_naming_the_first),
        cmocka_unit_test(test_state_backend_lock_waits_for_the_holder_with_a_timeout),
        cmocka_unit_test(test_state_backend_lock_of_a_killed_holder_is_taken_over),
        cmocka_unit_test(test_state_backend_unlock_refuses_a_live_holder_unless_forced),
    };
    printf("state backend: %s\n", test_backend());
    return cmocka_run_group_tests(tests, NULL, NULL);
}
