/* The local provider plugin (local_world.h) with a world of one network
 * and no host of its own: a create killed midway and completed by a
 * retry, configure refusing a user that is not root, and validate naming
 * the bad attribute. Skipped when not root or when sshd is not installed. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "local_world.h"
#include "plugin/host.h"

static int world_setup(void **state)
{
    return local_world_setup(0);
}

static void test_create_killed_midway_is_completed_by_a_retry(void **state)
{
    (void)state;
    SKIP_UNLESS_ROOT();
    static const int delays_ms[] = {20, 60, 150, 400};
    for (size_t i = 0; i < sizeof(delays_ms) / sizeof(delays_ms[0]); i++) {
        char token[40], address[32];
        snprintf(token, sizeof(token), "d%zu%030d", i, 0);
        snprintf(address, sizeof(address), "instance.killed[%zu]", i);
        json_t *config = host_config(str(w.net, "id"), "echo ran >> /opt/runs\n");
        int before = count_netns();
        pid_t pid = fork();
        if (pid == 0) {
            int error;
            json_decref(converge("instance", address, token, NULL, config, &error));
            _exit(0);
        }
        usleep((useconds_t)delays_ms[i] * 1000);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);

        /* What a lookup by token finds is either nothing yet or this host. */
        int error;
        json_t *found = do_read("instance", token, NULL, &error);
        assert_true(error == 0 || error == INFRA_ENOTFOUND);
        json_decref(found);

        json_t *st = converge("instance", address, token, NULL, config, NULL);
        assert_string_equal(str(st, "sshd"), "running");
        assert_int_equal(count_netns(), before + 1);
        char banner[16];
        assert_true(talk(str(st, "private_ip"), 22, NULL, banner, 9) >= 8);
        char mnt[PATH_MAX], runs[64];
        snprintf(mnt, sizeof(mnt), "%s/%s/ns/%s.mnt", w.run_dir, w.prefix, str(st, "id"));
        for (int k = 0; k < 300 && sh(runs, sizeof(runs), "nsenter --mount=%s cat /opt/runs", mnt);
             k++)
            usleep(100000);
        assert_string_equal(runs, "ran"); /* user_data ran exactly once */
        assert_int_equal(destroy("instance", st), 0);
        assert_int_equal(count_netns(), before);
        json_decref(st);
        json_decref(config);
    }
}

/* The hosts' /opt/runs through the host's mount namespace, once it has
 * want lines (waiting up to 30 s); its line count. */
static int runs_lines(json_t *st, int want)
{
    char mnt[PATH_MAX], out[64] = "";
    snprintf(mnt, sizeof(mnt), "%s/%s/ns/%s.mnt", w.run_dir, w.prefix, str(st, "id"));
    for (int k = 0; k < 300; k++) {
        if (sh(out, sizeof(out), "nsenter --mount=%s sh -c 'wc -l < /opt/runs' 2>/dev/null", mnt) ==
                0 &&
            atoi(out) >= want)
            break;
        usleep(100000);
    }
    return atoi(out);
}

/* A crash after the script was written but before the host's shell claimed
 * the run: the retry starts it (and a host whose run was claimed is left
 * alone, as the test above shows by counting one run). */
static void test_user_data_not_yet_claimed_is_started_by_a_retry(void **state)
{
    (void)state;
    SKIP_UNLESS_ROOT();
    const char *token = "u0000000000000000000000000000001";
    json_t *config = host_config(str(w.net, "id"), "echo ran >> /opt/runs\n");
    json_t *st = converge("instance", "instance.unclaimed", token, NULL, config, NULL);
    assert_int_equal(runs_lines(st, 1), 1);
    char mnt[PATH_MAX];
    snprintf(mnt, sizeof(mnt), "%s/%s/ns/%s.mnt", w.run_dir, w.prefix, str(st, "id"));
    assert_int_equal(sh(NULL, 0, "nsenter --mount=%s rmdir /run/infra/user-data.once", mnt), 0);
    json_t *again = converge("instance", "instance.unclaimed", token, NULL, config, NULL);
    assert_string_equal(str(again, "id"), str(st, "id"));
    assert_int_equal(runs_lines(again, 2), 2);
    assert_int_equal(destroy("instance", again), 0);
    json_decref(again);
    json_decref(st);
    json_decref(config);
}

static void test_configure_refuses_a_non_root_user_naming_the_fix(void **state)
{
    (void)state;
    SKIP_UNLESS_ROOT();
    pid_t pid = fork();
    if (pid == 0) {
        if (setgid(65534) < 0 || setuid(65534) < 0)
            _exit(2);
        infra_call call;
        diags d;
        infra_provider *prov = NULL;
        json_t *settings = json_pack("{s:s}", "run_dir", "/nonexistent/infra-local");
        call_setup(&call, "", NULL, &d);
        int error = ops->configure(&call, host_json(settings), &prov);
        int ok = error == INFRA_EAUTH && prov == NULL &&
                 strstr(d.text, "creates namespaces and bridges: run infra as root") != NULL;
        if (!ok)
            fprintf(stderr, "configure as nobody: %d %s\n", error, d.text);
        _exit(ok ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_validate_names_the_bad_attribute(void **state)
{
    (void)state;
    if (ops == NULL)
        skip(); /* not loaded: not root */
    infra_call call;
    diags d;
    json_t *bad = json_pack("{s:s, s:s}", "cidr", "10.213.0.0/33", "colour", "red");
    call_setup(&call, "", NULL, &d);
    assert_int_equal(ops->validate(&call, "network", host_json(bad)), INFRA_EINVALID);
    assert_non_null(strstr(d.text, "[cidr]"));
    assert_non_null(strstr(d.text, "[colour]"));
    json_decref(bad);
    memset(&d, 0, sizeof(d));
    bad =
        json_pack("{s:s, s:[s], s:[i]}", "network", "n0000000000", "targets", "x", "listen", 70000);
    assert_int_equal(ops->validate(&call, "load_balancer", host_json(bad)), INFRA_EINVALID);
    assert_non_null(strstr(d.text, "[listen[0]]"));
    json_decref(bad);
    assert_int_equal(ops->validate(&call, "bucket", NULL), INFRA_ENOTSUP);
    host_call_clear(&call);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_killed_midway_is_completed_by_a_retry),
        cmocka_unit_test(test_user_data_not_yet_claimed_is_started_by_a_retry),
        cmocka_unit_test(test_configure_refuses_a_non_root_user_naming_the_fix),
        cmocka_unit_test(test_validate_names_the_bad_attribute),
    };
    return cmocka_run_group_tests(tests, world_setup, local_world_teardown);
}
