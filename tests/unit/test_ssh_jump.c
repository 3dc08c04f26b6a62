/* SSH through a bastion against two real OpenSSH servers in network
 * namespaces (ssh_jump_hosts.sh makes the network, sshd_fixture.h the
 * servers): the target sits on a private link that only the bastion's
 * namespace reaches. Commands and uploads go through the jump; a wrong key
 * of either hop is refused and the message names the hop; an address the
 * bastion cannot reach is named; a route makes plain ssh_connect (what
 * plugins call) take the jump. Tunnels (host->ssh->tunnel) carry TCP and
 * the HTTP service's requests to the target through the bastion, and leave
 * no thread or descriptor once closed. Needs root. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "plugin/host.h"
#include "services/http.h"
#include "services/ssh.h"
#include "sshd_fixture.h"

#define SCRIPT TEST_SOURCE_DIR "/unit/ssh_jump_hosts.sh"

static struct {
    int available;
    sshd_fixture sshd; /* host_key is the bastion's, other_key's fingerprint the wrong one */
    char *target_key;
    char *bastion_fp, *target_fp, *wrong_fp;
    char bastion[32], target[32], spare[32];
    char bastion_ns[32], target_ns[32];
    pid_t servers[2];
} fx;

/* The two servers, in the namespaces the script made. */
static int start_servers(void)
{
    sshd_fixture_conf bastion = {.port = 22, .host_keys = {fx.sshd.host_key}};
    sshd_fixture_conf target = {.port = 22, .host_keys = {fx.target_key}, .no_forwarding = 1};
    char *bastion_conf = sshd_fixture_config(&fx.sshd, "bastion.conf", &bastion);
    char *target_conf = sshd_fixture_config(&fx.sshd, "target.conf", &target);
    fx.servers[0] = sshd_fixture_spawn(&fx.sshd, fx.bastion_ns, bastion_conf, 0);
    fx.servers[1] = sshd_fixture_spawn(&fx.sshd, fx.target_ns, target_conf, 0);
    int error = 0;
    if (sshd_fixture_wait(&fx.sshd, bastion_conf) < 0 ||
        sshd_fixture_wait(&fx.sshd, target_conf) < 0)
        error = -1;
    free(bastion_conf);
    free(target_conf);
    return error;
}

static int group_setup(void **state)
{
    if (geteuid() != 0 || access(SSHD_FIXTURE_SSHD, X_OK) != 0 ||
        sshd_fixture_run("command -v ip >/dev/null"))
        return 0;
    sshd_fixture_init(&fx.sshd, "jump", 0);
    fx.target_key = sshd_fixture_keygen(&fx.sshd, "target_key", "ed25519");
    fx.bastion_fp = util_strdup(fx.sshd.fingerprint);
    fx.target_fp = sshd_fixture_fingerprint(fx.target_key);
    fx.wrong_fp = sshd_fixture_fingerprint(fx.sshd.other_key);
    if (sshd_fixture_run("%s create %s", SCRIPT, fx.sshd.dir))
        return -1;
    char *path = util_printf("%s/hosts.env", fx.sshd.dir);
    FILE *f = fopen(path, "r");
    free(path);
    if (!f || fscanf(f, "BASTION=%31s TARGET=%31s SPARE=%31s BASTION_NS=%31s TARGET_NS=%31s",
                     fx.bastion, fx.target, fx.spare, fx.bastion_ns, fx.target_ns) != 5) {
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    if (start_servers() < 0)
        return -1;
    fx.available = 1;
    return 0;
}

static int group_teardown(void **state)
{
    if (fx.sshd.dir) {
        /* The servers go before their namespaces. */
        sshd_fixture_stop(&fx.sshd, fx.servers[0]);
        sshd_fixture_stop(&fx.sshd, fx.servers[1]);
        sshd_fixture_run("%s destroy %s", SCRIPT, fx.sshd.dir);
    }
    sshd_fixture_free(&fx.sshd);
    free(fx.target_key);
    free(fx.bastion_fp);
    free(fx.target_fp);
    free(fx.wrong_fp);
    memset(&fx, 0, sizeof(fx));
    return 0;
}

#define REQUIRE_HOSTS()                                                                            \
    do {                                                                                           \
        if (!fx.available)                                                                         \
            skip();                                                                                \
    } while (0)

static infra_ssh_target target_at(const char *host, const char *pin, long deadline_ms)
{
    return sshd_fixture_target(host, 22, pin, fx.sshd.user_key, deadline_ms);
}

/* One connection to target (pinning target_pin) through bastion (pinning
 * bastion_pin; NULL: straight to target): what it returned, the session
 * (NULL unless it succeeded) and its diagnostics (owned). */
typedef struct attempt {
    int rc;
    infra_ssh *ssh;
    char *diags;
} attempt;

static attempt connect_through(const char *bastion, const char *bastion_pin, const char *target,
                               const char *target_pin, long deadline_ms)
{
    infra_call call;
    sshd_fixture_diags d;
    attempt a = {0};
    sshd_fixture_call_begin(&call, &d);
    infra_ssh_target b = target_at(bastion, bastion_pin, 0);
    infra_ssh_target t = target_at(target, target_pin, deadline_ms);
    a.rc = ssh_connect_via(&call, &t, bastion ? &b : NULL, &a.ssh);
    a.diags = util_strdup(sshd_fixture_diag_text(&d));
    sshd_fixture_call_end(&call, &d);
    return a;
}

/* Fails unless the attempt returned rc without a session and its
 * diagnostics are want (exact) or hold it; frees want and the attempt. */
static void assert_refused(attempt *a, int rc, char *want, int exact)
{
    assert_int_equal(a->rc, rc);
    assert_null(a->ssh);
    if (exact)
        assert_string_equal(a->diags, want);
    else
        assert_non_null(strstr(a->diags, want));
    free(want);
    free(a->diags);
}

/* ------------------------------------------------------------------ */

static void test_ssh_jump_target_is_unreachable_without_the_bastion(void **state)
{
    REQUIRE_HOSTS();
    attempt a = connect_through(NULL, NULL, fx.target, fx.target_fp, 1000);
    assert_refused(&a, INFRA_ETRANSIENT, util_strdup(""), 0);
}

static void test_ssh_jump_runs_commands_and_uploads_on_the_target(void **state)
{
    REQUIRE_HOSTS();
    attempt a = connect_through(fx.bastion, fx.bastion_fp, fx.target, fx.target_fp, 10000);
    assert_int_equal(a.rc, 0);
    assert_string_equal(a.diags, "");
    free(a.diags);
    infra_ssh *ssh = a.ssh;

    /* The command ran in the target's namespace: it holds the target's
     * address and not the bastion's. */
    char *out = NULL;
    int status = -1;
    assert_int_equal(ssh_exec(ssh, "ip -4 -o addr show", &status, &out, NULL), 0);
    assert_int_equal(status, 0);
    char *want = util_printf(" %s/", fx.target);
    assert_non_null(strstr(out, want));
    free(want);
    want = util_printf(" %s/", fx.bastion);
    assert_null(strstr(out, want));
    free(want);
    free(out);

    /* An upload of 1 MiB crosses both hops intact. */
    size_t len = 1 << 20;
    unsigned char *data = util_malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(i * 7 + i / 251);
    char *path = util_printf("%s/uploaded", fx.sshd.dir);
    assert_int_equal(ssh_upload(ssh, path, data, len, 0640), 0);
    char *cmd = util_printf("stat -c %%a:%%s %s", path);
    assert_int_equal(ssh_exec(ssh, cmd, &status, &out, NULL), 0);
    assert_string_equal(out, "640:1048576\n");
    free(out);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *back = util_malloc(len);
    assert_int_equal(fread(back, 1, len, f), len);
    fclose(f);
    assert_memory_equal(back, data, len);
    free(back);
    free(cmd);
    free(path);
    free(data);

    /* Several commands on the one session, through the one channel. */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ssh_exec(ssh, "echo one; echo two >&2; exit 3", &status, &out, NULL), 0);
        assert_int_equal(status, 3);
        assert_string_equal(out, "one\n");
        free(out);
    }
    ssh_close(ssh);
}

static void test_ssh_jump_refuses_a_wrong_bastion_key_and_names_the_bastion(void **state)
{
    REQUIRE_HOSTS();
    attempt a = connect_through(fx.bastion, fx.wrong_fp, fx.target, fx.target_fp, 5000);
    assert_refused(&a, INFRA_EAUTH,
                   util_printf("bastion %s:22 (for %s:22): host key mismatch for %s:22: expected "
                               "%s, got %s (refusing to connect)\n",
                               fx.bastion, fx.target, fx.bastion, fx.wrong_fp, fx.bastion_fp),
                   1);
}

static void test_ssh_jump_refuses_a_wrong_target_key_and_names_the_target(void **state)
{
    REQUIRE_HOSTS();
    attempt a = connect_through(fx.bastion, fx.bastion_fp, fx.target, fx.wrong_fp, 5000);
    assert_refused(&a, INFRA_EAUTH,
                   util_printf("%s:22 through the bastion %s:22: host key mismatch for %s:22: "
                               "expected %s, got %s (refusing to connect)\n",
                               fx.target, fx.bastion, fx.target, fx.wrong_fp, fx.target_fp),
                   1);
}

static void test_ssh_jump_names_a_target_the_bastion_cannot_reach(void **state)
{
    REQUIRE_HOSTS();
    attempt a = connect_through(fx.bastion, fx.bastion_fp, fx.spare, fx.target_fp, 1500);
    assert_null(strstr(a.diags, "PRIVATE KEY"));
    assert_refused(&a, INFRA_ETRANSIENT,
                   util_printf("%s:22 through the bastion %s:22: ssh: %s:22 did not answer within "
                               "1.5 s (last error: the bastion %s:22 cannot open a connection to "
                               "%s:22",
                               fx.spare, fx.bastion, fx.spare, fx.bastion, fx.spare),
                   0);
}

static void test_ssh_jump_names_an_unreachable_bastion(void **state)
{
    REQUIRE_HOSTS();
    attempt a = connect_through(fx.spare, fx.bastion_fp, fx.target, fx.target_fp, 1000);
    assert_refused(&a, INFRA_ETRANSIENT,
                   util_printf("bastion %s:22 (for %s:22): ssh: %s:22 did not answer within",
                               fx.spare, fx.target, fx.spare),
                   0);
}

static void test_ssh_jump_route_makes_plain_connect_go_through_the_bastion(void **state)
{
    REQUIRE_HOSTS();
    infra_call call;
    sshd_fixture_diags c;
    infra_ssh *ssh = NULL;
    sshd_fixture_call_begin(&call, &c);
    infra_ssh_target b = target_at(fx.bastion, fx.bastion_fp, 0);
    ssh_route_set(fx.target, 22, fx.target_fp, &b);
    /* What a scheduler plugin does: the host table's connect, nothing more. */
    infra_ssh_target t = target_at(fx.target, fx.target_fp, 10000);
    assert_int_equal(ssh_api()->connect(&call, &t, &ssh), 0);
    char *out = NULL;
    int status = -1;
    assert_int_equal(
        ssh_exec(ssh, "cat /proc/sys/kernel/hostname >/dev/null && echo ok", &status, &out, NULL),
        0);
    assert_string_equal(out, "ok\n");
    free(out);
    ssh_close(ssh);
    ssh = NULL;
    /* Another pinned key at the same address is another host: no route. */
    infra_ssh_target other = target_at(fx.target, fx.wrong_fp, 1000);
    assert_int_equal(ssh_connect(&call, &other, &ssh), INFRA_ETRANSIENT);
    ssh_route_set(fx.target, 22, fx.target_fp, NULL);
    ssh_routes_clear();
    sshd_fixture_call_end(&call, &c);
}

static void test_ssh_jump_host_key_line_is_the_pinned_key(void **state)
{
    REQUIRE_HOSTS();
    infra_ssh *ssh = NULL;
    infra_ssh_target b = target_at(fx.bastion, fx.bastion_fp, 0);
    infra_ssh_target t = target_at(fx.target, fx.target_fp, 10000);
    assert_int_equal(ssh_connect_via(NULL, &t, &b, &ssh), 0);
    char *line = ssh_host_key_line(ssh);
    assert_non_null(line);
    char *path = util_printf("%s.pub", fx.target_key);
    FILE *f = fopen(path, "r");
    char pub[512] = "";
    assert_non_null(fgets(pub, sizeof(pub), f));
    fclose(f);
    /* "ssh-ed25519 AAAA... comment": the line is its first two fields. */
    assert_int_equal(strncmp(pub, line, strlen(line)), 0);
    assert_int_equal(pub[strlen(line)], ' ');
    free(path);
    free(line);
    ssh_close(ssh);
}

/* ------------------------------------------------------------------ */
/* Tunnels                                                            */

/* Entries of a /proc/self directory: open descriptors, threads. */
static int proc_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* The first bytes 127.0.0.1:port sends, within 10 s. */
static char *loopback_greeting(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char buf[64] = "";
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 10000) == 1 && recv(fd, buf, sizeof(buf) - 1, 0) < 0)
            buf[0] = '\0';
    }
    if (fd >= 0)
        close(fd);
    return util_strdup(buf);
}

static int http_get(infra_call *call, const char *url, infra_http_response **out)
{
    infra_http_request req = {
        .size = sizeof(req), .method = "GET", .url = url, .timeout_ms = 20000, .max_attempts = 1};
    return http_request(call, &req, out);
}

static void test_ssh_jump_tunnel_needs_a_route(void **state)
{
    REQUIRE_HOSTS();
    infra_call call;
    sshd_fixture_diags c;
    infra_http_response *resp = NULL;
    int port = -1;
    sshd_fixture_call_begin(&call, &c);
    assert_int_equal(ssh_api()->tunnel(&call, fx.target, 8080, &port), INFRA_ENOTFOUND);
    assert_int_equal(port, 0);
    assert_string_equal(sshd_fixture_diag_text(&c), "");
    /* Without a route the HTTP service goes to the address itself, which
     * this machine has no route to. */
    char *url = util_printf("http://%s:8080/hello.txt", fx.target);
    assert_int_equal(http_get(&call, url, &resp), INFRA_ETRANSIENT);
    assert_null(resp);
    free(url);
    sshd_fixture_call_end(&call, &c);
}

static void test_ssh_jump_tunnel_carries_tcp_and_http_to_the_target(void **state)
{
    REQUIRE_HOSTS();
    infra_call call;
    sshd_fixture_diags c;
    infra_http_response *resp = NULL;
    http_shutdown(); /* pooled handles of earlier tests hold descriptors */
    int fds = proc_entries("/proc/self/fd"), threads = proc_entries("/proc/self/task");
    sshd_fixture_call_begin(&call, &c);
    infra_ssh_target b = target_at(fx.bastion, fx.bastion_fp, 0);
    ssh_route_set(fx.target, 22, fx.target_fp, &b);

    /* Any port of the target: its sshd greets through the tunnel. */
    int port = 0, again = 0;
    assert_int_equal(ssh_api()->tunnel(&call, fx.target, 22, &port), 0);
    assert_true(port > 0);
    char *greeting = loopback_greeting(port);
    assert_int_equal(strncmp(greeting, "SSH-2.0-", 8), 0);
    free(greeting);
    assert_int_equal(ssh_api()->tunnel(&call, fx.target, 22, &again), 0);
    assert_int_equal(again, port); /* one listener per node and port */

    /* A closed port is no error worth a diagnostic: a probe asks it. */
    assert_int_equal(ssh_api()->tunnel(&call, fx.target, 8081, &again), INFRA_ETRANSIENT);
    assert_string_equal(sshd_fixture_diag_text(&c), "");

    /* The HTTP service routes the target's URL through the bastion by
     * itself, one connection or several. */
    char *url = util_printf("http://%s:8080/hello.txt", fx.target);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(http_get(&call, url, &resp), 0);
        assert_int_equal(resp->status, 200);
        assert_string_equal(resp->body, "hello from the target\n");
        http_response_free(resp);
        resp = NULL;
    }
    free(url);
    /* A failure names the bastion it went through. */
    url = util_printf("http://%s:8081/", fx.target);
    assert_int_not_equal(http_get(&call, url, &resp), 0);
    char *want = util_printf("(through the bastion %s:22)", fx.bastion);
    assert_non_null(strstr(sshd_fixture_diag_text(&c), want));
    free(want);
    free(url);

    /* Closed at the end of the run: no thread, no descriptor left. */
    http_shutdown();
    ssh_tunnels_close();
    ssh_routes_clear();
    assert_int_equal(proc_entries("/proc/self/fd"), fds);
    assert_int_equal(proc_entries("/proc/self/task"), threads);
    sshd_fixture_call_end(&call, &c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ssh_jump_target_is_unreachable_without_the_bastion),
        cmocka_unit_test(test_ssh_jump_runs_commands_and_uploads_on_the_target),
        cmocka_unit_test(test_ssh_jump_refuses_a_wrong_bastion_key_and_names_the_bastion),
        cmocka_unit_test(test_ssh_jump_refuses_a_wrong_target_key_and_names_the_target),
        cmocka_unit_test(test_ssh_jump_names_a_target_the_bastion_cannot_reach),
        cmocka_unit_test(test_ssh_jump_names_an_unreachable_bastion),
        cmocka_unit_test(test_ssh_jump_route_makes_plain_connect_go_through_the_bastion),
        cmocka_unit_test(test_ssh_jump_host_key_line_is_the_pinned_key),
        cmocka_unit_test(test_ssh_jump_tunnel_needs_a_route),
        cmocka_unit_test(test_ssh_jump_tunnel_carries_tcp_and_http_to_the_target),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
