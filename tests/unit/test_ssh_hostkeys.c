/* SSH client against a real OpenSSH sshd that the test starts on 127.0.0.1
 * (sshd_fixture.h): host key pinning of either of the server's key types,
 * known_hosts (plain and hashed, missing, mismatched), refused user keys,
 * ssh-agent login, and connecting with deadlines, retries and
 * cancellation. Runs as root (sshd needs it); skipped when /usr/sbin/sshd
 * is not installed. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/util.h"
#include "plugin/host.h"
#include "services/ssh.h"
#include "sshd_fixture.h"

static sshd_fixture fx;

static int group_setup(void **state)
{
    if (access(SSHD_FIXTURE_SSHD, X_OK) != 0)
        return 0;
    sshd_fixture_init(&fx, "ssh-hostkeys", SSHD_FIXTURE_ECDSA);
    return sshd_fixture_start(&fx, NULL);
}

static int group_teardown(void **state)
{
    sshd_fixture_free(&fx);
    return 0;
}

/* Lines of sshd's log reporting a successful login. */
static int logins_accepted(void)
{
    char *log = sshd_fixture_read_file(fx.log);
    int count = 0;
    for (const char *p = log; (p = strstr(p, "Accepted publickey")) != NULL; p++)
        count++;
    free(log);
    return count;
}

/* The line of key's KEY.pub; caller frees. */
static char *pub_key_line(const char *key)
{
    char *path = util_printf("%s.pub", key);
    char *line = sshd_fixture_read_file(path);
    free(path);
    return line;
}

/* ------------------------------------------------------------------ */
/* Host keys and login                                                */

static void test_ssh_connect_accepts_the_pinned_fingerprint(void **state)
{
    SSHD_FIXTURE_REQUIRE(&fx);
    infra_call call;
    sshd_fixture_diags c;
    infra_ssh *ssh = NULL;
    int before = logins_accepted();
    sshd_fixture_call_begin(&call, &c);
    infra_ssh_target t =
        sshd_fixture_target("127.0.0.1", fx.port, fx.fingerprint, fx.user_key, 5000);
    assert_int_equal(ssh_api()->connect(&call, &t, &ssh), 0);
    assert_non_null(ssh);
    assert_int_equal(c.count, 0);
    /* The log check used by the refusal tests does see a login. */
    assert_int_equal(logins_accepted(), before + 1);
    char *out = sshd_fixture_remote(ssh, "whoami");
    assert_string_equal(out, "root\n");
    free(out);
    ssh_close(ssh);

    /* The fingerprint with base64 padding and blanks still matches. */
    char *padded = util_printf(" %s= ", fx.fingerprint);
    t.host_key_sha256 = padded;
    assert_int_equal(ssh_connect(&call, &t, &ssh), 0);
    ssh_close(ssh);
    free(padded);
    sshd_fixture_call_end(&call, &c);
}

static void test_ssh_connect_accepts_a_pin_of_the_servers_other_key_type(void **state)
{
    SSHD_FIXTURE_REQUIRE(&fx);
    infra_call call;
    sshd_fixture_diags c;
    infra_ssh *ssh = NULL;
    char *ecdsa_fp = sshd_fixture_fingerprint(fx.host_ecdsa);
    sshd_fixture_call_begin(&call, &c);
    /* The server offers ed25519 first; a pin of its ECDSA key still works. */
    infra_ssh_target t = sshd_fixture_target("127.0.0.1", fx.port, ecdsa_fp, fx.user_key, 5000);
    assert_int_equal(ssh_connect(&call, &t, &ssh), 0);
    char *out = sshd_fixture_remote(ssh, "echo ecdsa");
    assert_string_equal(out, "ecdsa\n");
    free(out);
    ssh_close(ssh);
    assert_int_equal(c.count, 0);
    sshd_fixture_call_end(&call, &c);
    free(ecdsa_fp);
}

static void test_ssh_connect_refuses_a_wrong_fingerprint_before_login(void **state)
{
    SSHD_FIXTURE_REQUIRE(&fx);
    infra_call call;
    sshd_fixture_diags c;
    infra_ssh *ssh = (infra_ssh *)&c;
    char *marker = util_printf("%s/marker-wrong-fingerprint", fx.dir);
    char *touch = util_printf("touch %s", marker);
    char *wrong = sshd_fixture_fingerprint(fx.other_key);
    int before = logins_accepted();
    sshd_fixture_call_begin(&call, &c);
    infra_ssh_target t = sshd_fixture_target("127.0.0.1", fx.port, wrong, fx.user_key, 5000);
    int rc = ssh_connect(&call, &t, &ssh);
    if (rc == 0) /* what a caller does with a session it gets */
        ssh_exec(ssh, touch, NULL, NULL, NULL);
    assert_int_equal(rc, INFRA_EAUTH);
    assert_null(ssh);
    /* Both of the server's keys were looked at, neither matched. */
    char *ecdsa_fp = sshd_fixture_fingerprint(fx.host_ecdsa);
    char *want = util_printf("host key mismatch for 127.0.0.1:%d: expected %s, got %s or %s "
                             "(refusing to connect)\n",
                             fx.port, wrong, fx.fingerprint, ecdsa_fp);
    assert_string_equal(sshd_fixture_diag_text(&c), want);
    free(ecdsa_fp);
    /* Nothing ran and the server never saw a login. */
    assert_int_equal(access(marker, F_OK), -1);
    assert_int_equal(logins_accepted(), before);
    free(want);
    sshd_fixture_call_end(&call, &c);
    free(wrong);
    free(touch);
    free(marker);
}

/* Points HOME at a directory whose .ssh/known_hosts holds text (NULL: no
 * file); returns the previous HOME (caller restores it with restore_home). */
static char *use_known_hosts(const char *text)
{
    char *old = getenv("HOME") ? util_strdup(getenv("HOME")) : NULL;
    char *home = util_printf("%s/home", fx.dir);
    sshd_fixture_sh("rm -rf %s && mkdir -p %s/.ssh", home, home);
    if (text) {
        char *path = util_printf("%s/.ssh/known_hosts", home);
        sshd_fixture_write_file(path, text);
        free(path);
    }
    setenv("HOME", home, 1);
    free(home);
    return old;
}

static void restore_home(char *old)
{
    if (old)
        setenv("HOME", old, 1);
    else
        unsetenv("HOME");
    free(old);
}

static void test_ssh_connect_accepts_a_host_in_known_hosts(void **state)
{
    SSHD_FIXTURE_REQUIRE(&fx);
    infra_call call;
    sshd_fixture_diags c;
    infra_ssh *ssh = NULL;
    char *pub = pub_key_line(fx.host_key);
    char *other = pub_key_line(fx.other_key);
    /* Another host first, then ours in the [host]:port form for port != 22. */
    char *text = util_printf("[10.9.8.7]:%d %s[127.0.0.1]:%d %s", fx.port, other, fx.port, pub);
    char *old = use_known_hosts(text);
    sshd_fixture_call_begin(&call, &c);
    infra_ssh_target t = sshd_fixture_target("127.0.0.1", fx.port, NULL, fx.user_key, 5000);
    assert_int_equal(ssh_connect(&call, &t, &ssh), 0);
    char *out = sshd_fixture_remote(ssh, "echo known");
    assert_string_equal(out, "known\n");
    free(out);
    ssh_close(ssh);

    /* Hashed host names (HashKnownHosts) are understood as well. */
    sshd_fixture_sh("ssh-keygen -q -H -f %s/.ssh/known_hosts >/dev/null 2>&1", getenv("HOME"));
    char *hashed = util_printf("%s/.ssh/known_hosts", getenv("HOME"));
    char *content = sshd_fixture_read_file(hashed);
    assert_null(strstr(content, "127.0.0.1"));
    assert_int_equal(ssh_connect(&call, &t, &ssh), 0);
    ssh_close(ssh);
    assert_int_equal(c.count, 0);
    sshd_fixture_call_end(&call, &c);
    restore_home(old);
    free(content);
    free(hashed);
    free(text);
    free(other);
    free(pub);
}

static void test_ssh_connect_uses_the_key_type_known_hosts_lists(void **state)
{
    SSHD_FIXTURE_REQUIRE(&fx);
    infra_call call;
    sshd_fixture_diags c;
    infra_ssh *ssh = NULL;
    char *pub = pub_key_line(fx.host_ecdsa);
    char *text = util_printf("[127.0.0.1]:%d %s", fx.port, pub);
    char *old = use_known_hosts(text);
    sshd_fixture_call_begin(&call, &c);
    /* Only the ECDSA key is known: the server must be asked for that one
     * rather than its preferred ed25519 key. */
    infra_ssh_target t = sshd_fixture_target("127.0.0.1", fx.port, NULL, fx.user_key, 5000);
    int rc = ssh_connect(&call, &t, &ssh);
    if (rc != 0)
        fail_msg("connect failed (%d): %s", rc, sshd_fixture_diag_text(&c));
    ssh_close(ssh);
    sshd_fixture_call_end(&call, &c);
    restore_home(old);
    free(text);
    free(pub);
}

static void test_ssh_connect_refuses_a_host_missing_from_known_hosts(void **state)
{
    SSHD_FIXTURE_REQUIRE(&fx);
    infra_call call;
    sshd_fixture_diags c;
    infra_ssh *ssh = (infra_ssh *)&c;
    char *pub = pub_key_line(fx.host_key);
    char *text = util_printf("[127.0.0.2]:%d %s", fx.port, pub);
    int before = logins_accepted();
    char *old = use_known_hosts(text);
    sshd_fixture_call_begin(&call, &c);
    infra_ssh_target t = sshd_fixture_target("127.0.0.1", fx.port, NULL, fx.user_key, 5000);
    assert_int_equal(ssh_connect(&call, &t, &ssh), INFRA_EAUTH);
    assert_null(ssh);
    char *want = util_printf("host key of 127.0.0.1:%d is not in %s/.ssh/known_hosts (the "
                             "server offers ssh-ed25519 %s)",
                             fx.port, getenv("HOME"), fx.fingerprint);
    assert_non_null(strstr(sshd_fixture_diag_text(&c), "(refusing to connect)"));
    free(want);

    /* No known_hosts file at all: refused the same way, never trusted. */
    restore_home(old);
    old = use_known_hosts(NULL);
    assert_int_equal(ssh_connect(&call, &t, &ssh), INFRA_EAUTH);
    assert_int_equal(c.count, 2);
    assert_int_equal(logins_accepted(), before);
    sshd_fixture_call_end(&call, &c);
    restore_home(old);
    free(text);
    free(pub);
}

static void test_ssh_connect_refuses_a_known_hosts_mismatch(void **state)
{
    SSHD_FIXTURE_REQUIRE(&fx);
    infra_call call;
    sshd_fixture_diags c;
    infra_ssh *ssh = (infra_ssh *)&c;
    char *other = pub_key_line(fx.other_key);
    char *other_fp = sshd_fixture_fingerprint(fx.other_key);
    char *text = util_printf("[127.0.0.1]:%d %s", fx.port, other);
    int before = logins_accepted();
    char *old = use_known_hosts(text);
    sshd_fixture_call_begin(&call, &c);
    infra_ssh_target t = sshd_fixture_target("127.0.0.1", fx.port, NULL, fx.user_key, 5000);
    assert_int_equal(ssh_connect(&call, &t, &ssh), INFRA_EAUTH);
    assert_null(ssh);
    char *want = util_printf("host key mismatch for 127.0.0.1:%d: expected %s, got %s "
                             "(refusing to connect",
                             fx.port, other_fp, fx.fingerprint);
    assert_non_null(strstr(sshd_fixture_diag_text(&c), want));
    assert_int_equal(logins_accepted(), before);
    free(want);
    sshd_fixture_call_end(&call, &c);
    restore_home(old);
    free(text);
    free(other_fp);
    free(other);
}

static void test_ssh_connect_refuses_an_unknown_user_key_with_eauth(void **state)
{
    SSHD_FIXTURE_REQUIRE(&fx);
    infra_call call;
    sshd_fixture_diags c;
    infra_ssh *ssh = (infra_ssh *)&c;
    sshd_fixture_call_begin(&call, &c);
    infra_ssh_target t =
        sshd_fixture_target("127.0.0.1", fx.port, fx.fingerprint, fx.other_key, 5000);
    int64_t start = sshd_fixture_now_ms();
    assert_int_equal(ssh_connect(&call, &t, &ssh), INFRA_EAUTH);
    assert_true(sshd_fixture_now_ms() - start < 5000); /* a refusal is final, not retried */
    assert_null(ssh);
    char *want = util_printf("authentication failed for root@127.0.0.1:%d with public key %s",
                             fx.port, fx.other_key);
    assert_non_null(strstr(sshd_fixture_diag_text(&c), want));
    free(want);

    char *missing = util_printf("%s/no_such_key", fx.dir);
    t.private_key = missing;
    assert_int_equal(ssh_connect(&call, &t, &ssh), INFRA_EAUTH);
    assert_non_null(strstr(sshd_fixture_diag_text(&c), "cannot read private key"));
    free(missing);
    sshd_fixture_call_end(&call, &c);
}

static void test_ssh_connect_logs_in_with_the_ssh_agent(void **state)
{
    SSHD_FIXTURE_REQUIRE(&fx);
    if (access("/usr/bin/ssh-agent", X_OK) != 0)
        skip();
    char *sock = util_printf("%s/agent.sock", fx.dir);
    char *argv[] = {"/usr/bin/ssh-agent", "-D", "-a", sock, NULL};
    pid_t agent = 0;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    assert_int_equal(posix_spawn(&agent, argv[0], &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    sshd_fixture_remember(&fx, agent);
    for (int i = 0; i < 100 && access(sock, F_OK) != 0; i++)
        usleep(50000);
    char *old_sock = getenv("SSH_AUTH_SOCK") ? util_strdup(getenv("SSH_AUTH_SOCK")) : NULL;
    setenv("SSH_AUTH_SOCK", sock, 1);
    sshd_fixture_sh("ssh-add -q %s 2>/dev/null", fx.user_key);

    infra_call call;
    sshd_fixture_diags c;
    infra_ssh *ssh = NULL;
    sshd_fixture_call_begin(&call, &c);
    infra_ssh_target t = sshd_fixture_target("127.0.0.1", fx.port, fx.fingerprint, NULL, 5000);
    assert_int_equal(ssh_connect(&call, &t, &ssh), 0);
    char *out = sshd_fixture_remote(ssh, "echo agent");
    assert_string_equal(out, "agent\n");
    free(out);
    ssh_close(ssh);

    /* An agent holding only a key the server does not accept. */
    sshd_fixture_sh("ssh-add -q -D 2>/dev/null && ssh-add -q %s 2>/dev/null", fx.other_key);
    assert_int_equal(ssh_connect(&call, &t, &ssh), INFRA_EAUTH);
    char *want = util_printf("authentication failed for root@127.0.0.1:%d with the ssh-agent "
                             "(1 key tried)",
                             fx.port);
    assert_non_null(strstr(sshd_fixture_diag_text(&c), want));
    free(want);

    /* No agent at all. */
    unsetenv("SSH_AUTH_SOCK");
    assert_int_equal(ssh_connect(&call, &t, &ssh), INFRA_EAUTH);
    assert_non_null(strstr(sshd_fixture_diag_text(&c), "SSH_AUTH_SOCK is not set"));
    sshd_fixture_call_end(&call, &c);

    if (old_sock)
        setenv("SSH_AUTH_SOCK", old_sock, 1);
    free(old_sock);
    sshd_fixture_stop(&fx, agent);
    free(sock);
}

/* ------------------------------------------------------------------ */
/* Deadlines and retries                                              */

static void test_ssh_connect_gives_up_with_etransient_at_the_deadline(void **state)
{
    infra_call call;
    sshd_fixture_diags c;
    infra_ssh *ssh = (infra_ssh *)&c;
    int port = sshd_fixture_free_port();
    sshd_fixture_call_begin(&call, &c);
    infra_ssh_target t = sshd_fixture_target("127.0.0.1", port, "SHA256:unused", NULL, 1500);
    int64_t start = sshd_fixture_now_ms();
    assert_int_equal(ssh_connect(&call, &t, &ssh), INFRA_ETRANSIENT);
    int64_t elapsed = sshd_fixture_now_ms() - start;
    assert_null(ssh);
    assert_true(elapsed >= 1500);
    assert_true(elapsed < 1500 + 5000);
    char *want = util_printf("ssh: 127.0.0.1:%d did not answer within 1.5 s (last error: "
                             "connect: Connection refused)\n",
                             port);
    assert_string_equal(sshd_fixture_diag_text(&c), want);
    free(want);
    sshd_fixture_call_end(&call, &c);
}

static void test_ssh_connect_times_out_on_a_server_that_never_speaks(void **state)
{
    infra_call call;
    sshd_fixture_diags c;
    infra_ssh *ssh = (infra_ssh *)&c;
    /* The kernel completes the TCP handshake for a listening socket that
     * nobody accepts on; no SSH banner ever comes. */
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    int port = ntohs(sa.sin_port);

    ssh_set_timeouts(0, 1000, 0);
    sshd_fixture_call_begin(&call, &c);
    infra_ssh_target t = sshd_fixture_target("127.0.0.1", port, "SHA256:unused", NULL, 1000);
    int64_t start = sshd_fixture_now_ms();
    int rc = ssh_connect(&call, &t, &ssh);
    int64_t elapsed = sshd_fixture_now_ms() - start;
    ssh_set_timeouts(0, 0, 0);
    close(fd);
    assert_int_equal(rc, INFRA_ETRANSIENT);
    assert_null(ssh);
    assert_true(elapsed >= 1000);
    assert_true(elapsed < 1000 + 1000 + 5000);
    assert_non_null(strstr(sshd_fixture_diag_text(&c), "did not answer within 1 s"));
    assert_non_null(strstr(sshd_fixture_diag_text(&c), "no SSH handshake within 1 s"));
    sshd_fixture_call_end(&call, &c);
}

static void test_ssh_connect_retries_until_a_late_sshd_starts(void **state)
{
    SSHD_FIXTURE_REQUIRE(&fx);
    int port = sshd_fixture_free_port();
    sshd_fixture_conf conf = {
        .listen = "127.0.0.1", .port = port, .host_keys = {fx.host_key, fx.host_ecdsa}};
    char *config = sshd_fixture_config(&fx, "sshd_late_config", &conf);
    infra_call call;
    sshd_fixture_diags c;
    infra_ssh *ssh = NULL;
    sshd_fixture_call_begin(&call, &c);
    int64_t start = sshd_fixture_now_ms();
    pid_t late = sshd_fixture_spawn(&fx, NULL, config, 1);
    infra_ssh_target t = sshd_fixture_target("127.0.0.1", port, fx.fingerprint, fx.user_key, 30000);
    int rc = ssh_connect(&call, &t, &ssh);
    int64_t elapsed = sshd_fixture_now_ms() - start;
    if (rc != 0)
        fail_msg("connect failed (%d): %s", rc, sshd_fixture_diag_text(&c));
    assert_true(elapsed >= 900); /* it really had to wait for sshd */
    char *out = sshd_fixture_remote(ssh, "echo late");
    assert_string_equal(out, "late\n");
    free(out);
    ssh_close(ssh);
    sshd_fixture_call_end(&call, &c);
    sshd_fixture_stop(&fx, late);
    free(config);
}

static volatile int cancel_flag;

static void *raise_cancel(void *arg)
{
    usleep(300000);
    cancel_flag = 1;
    return NULL;
}

static void test_ssh_connect_stops_waiting_when_cancelled(void **state)
{
    infra_call call;
    sshd_fixture_diags c;
    infra_ssh *ssh = (infra_ssh *)&c;
    pthread_t thread;
    int port = sshd_fixture_free_port();
    cancel_flag = 0;
    sshd_fixture_call_begin(&call, &c);
    call.cancel = &cancel_flag;
    infra_ssh_target t = sshd_fixture_target("127.0.0.1", port, "SHA256:unused", NULL, 60000);
    assert_int_equal(pthread_create(&thread, NULL, raise_cancel, NULL), 0);
    int64_t start = sshd_fixture_now_ms();
    assert_int_equal(ssh_connect(&call, &t, &ssh), INFRA_ECANCELLED);
    assert_true(sshd_fixture_now_ms() - start < 5000);
    assert_null(ssh);
    pthread_join(thread, NULL);
    sshd_fixture_call_end(&call, &c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ssh_connect_accepts_the_pinned_fingerprint),
        cmocka_unit_test(test_ssh_connect_accepts_a_pin_of_the_servers_other_key_type),
        cmocka_unit_test(test_ssh_connect_refuses_a_wrong_fingerprint_before_login),
        cmocka_unit_test(test_ssh_connect_accepts_a_host_in_known_hosts),
        cmocka_unit_test(test_ssh_connect_uses_the_key_type_known_hosts_lists),
        cmocka_unit_test(test_ssh_connect_refuses_a_host_missing_from_known_hosts),
        cmocka_unit_test(test_ssh_connect_refuses_a_known_hosts_mismatch),
        cmocka_unit_test(test_ssh_connect_refuses_an_unknown_user_key_with_eauth),
        cmocka_unit_test(test_ssh_connect_logs_in_with_the_ssh_agent),
        cmocka_unit_test(test_ssh_connect_gives_up_with_etransient_at_the_deadline),
        cmocka_unit_test(test_ssh_connect_times_out_on_a_server_that_never_speaks),
        cmocka_unit_test(test_ssh_connect_retries_until_a_late_sshd_starts),
        cmocka_unit_test(test_ssh_connect_stops_waiting_when_cancelled),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
