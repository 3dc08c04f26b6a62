/* SSH through a bastion against two real OpenSSH servers in network
 * namespaces (ssh_jump_hosts.sh): the target sits on a private link that
 * only the bastion's namespace reaches. Commands and uploads go through
 * the jump; a wrong key of either hop is refused and the message names the
 * hop; an address the bastion cannot reach is named; a route makes plain
 * ssh_connect (what plugins call) take the jump. Tunnels (host->ssh->tunnel)
 * carry TCP and the HTTP service's requests to the target through the
 * bastion, and leave no thread or descriptor once closed. Needs root. */
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/util.h"
#include "plugin/host.h"
#include "services/http.h"
#include "services/ssh.h"

#define SCRIPT TEST_SOURCE_DIR "/unit/ssh_jump_hosts.sh"

typedef struct fixture {
    int available;
    char *dir;
    char *user_key;
    char *bastion_fp, *target_fp, *wrong_fp;
    char bastion[32], target[32], spare[32];
} fixture;

static fixture fx;

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *cmd = util_vprintf(fmt, ap);
    va_end(ap);
    int status = system(cmd);
    free(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* "SHA256:..." of the public half of key. */
static char *fingerprint_of(const char *key)
{
    char *cmd = util_printf("ssh-keygen -lf %s.pub -E sha256", key);
    FILE *p = popen(cmd, "r");
    char line[512] = "";
    if (p && !fgets(line, sizeof(line), p))
        line[0] = '\0';
    if (p)
        pclose(p);
    free(cmd);
    char *start = strchr(line, ' ');
    return start ? util_strndup(start + 1, strcspn(start + 1, " ")) : util_strdup("SHA256:?");
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int group_setup(void **state)
{
    if (geteuid() != 0 || access("/usr/sbin/sshd", X_OK) != 0 || run("command -v ip >/dev/null"))
        return 0;
    char tmpl[] = "/tmp/infra-test-jump-XXXXXX";
    if (!mkdtemp(tmpl))
        return -1;
    chmod(tmpl, 0755);
    fx.dir = util_strdup(tmpl);
    fx.user_key = util_printf("%s/user_key", fx.dir);
    const char *names[] = {"bastion_key", "target_key", "user_key", "other_key"};
    for (size_t i = 0; i < 4; i++)
        if (run("ssh-keygen -q -t ed25519 -N '' -C infra-test -f %s/%s", fx.dir, names[i]))
            return -1;
    if (run("cp %s.pub %s/authorized_keys", fx.user_key, fx.dir))
        return -1;
    char *path = util_printf("%s/bastion_key", fx.dir);
    fx.bastion_fp = fingerprint_of(path);
    free(path);
    path = util_printf("%s/target_key", fx.dir);
    fx.target_fp = fingerprint_of(path);
    free(path);
    path = util_printf("%s/other_key", fx.dir);
    fx.wrong_fp = fingerprint_of(path);
    free(path);
    if (run("%s create %s", SCRIPT, fx.dir))
        return -1;
    path = util_printf("%s/hosts.env", fx.dir);
    FILE *f = fopen(path, "r");
    free(path);
    if (!f ||
        fscanf(f, "BASTION=%31s TARGET=%31s SPARE=%31s", fx.bastion, fx.target, fx.spare) != 3) {
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    fx.available = 1;
    return 0;
}

static int group_teardown(void **state)
{
    if (fx.dir) {
        run("%s destroy %s", SCRIPT, fx.dir);
        nftw(fx.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    free(fx.dir);
    free(fx.user_key);
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

typedef struct captured {
    util_buf text;
} captured;

static void capture_diag(void *ud, infra_call *call, int severity, const char *attr,
                         const char *message)
{
    captured *c = ud;
    util_buf_printf(&c->text, "%s\n", message);
}

static void call_begin(infra_call *call, captured *c)
{
    memset(c, 0, sizeof(*c));
    host_call_init(call, "test", "ssh");
    call->diag = capture_diag;
    call->diag_ud = c;
}

static void call_end(infra_call *call, captured *c)
{
    host_call_clear(call);
    util_buf_free(&c->text);
}

static const char *diag_text(captured *c)
{
    return c->text.data ? c->text.data : "";
}

static infra_ssh_target target_at(const char *host, const char *pin, long deadline_ms)
{
    infra_ssh_target t = {.size = sizeof(infra_ssh_target),
                          .host = host,
                          .port = 22,
                          .user = "root",
                          .private_key = fx.user_key,
                          .host_key_sha256 = pin,
                          .deadline_ms = deadline_ms};
    return t;
}

/* ------------------------------------------------------------------ */

static void test_ssh_jump_target_is_unreachable_without_the_bastion(void **state)
{
    REQUIRE_HOSTS();
    infra_call call;
    captured c;
    infra_ssh *ssh = NULL;
    call_begin(&call, &c);
    infra_ssh_target t = target_at(fx.target, fx.target_fp, 1000);
    assert_int_equal(ssh_connect_via(&call, &t, NULL, &ssh), INFRA_ETRANSIENT);
    assert_null(ssh);
    call_end(&call, &c);
}

static void test_ssh_jump_runs_commands_and_uploads_on_the_target(void **state)
{
    REQUIRE_HOSTS();
    infra_call call;
    captured c;
    infra_ssh *ssh = NULL;
    call_begin(&call, &c);
    infra_ssh_target b = target_at(fx.bastion, fx.bastion_fp, 0);
    infra_ssh_target t = target_at(fx.target, fx.target_fp, 10000);
    assert_int_equal(ssh_connect_via(&call, &t, &b, &ssh), 0);
    assert_string_equal(diag_text(&c), "");

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
    char *path = util_printf("%s/uploaded", fx.dir);
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
    call_end(&call, &c);
}

static void test_ssh_jump_refuses_a_wrong_bastion_key_and_names_the_bastion(void **state)
{
    REQUIRE_HOSTS();
    infra_call call;
    captured c;
    infra_ssh *ssh = NULL;
    call_begin(&call, &c);
    infra_ssh_target b = target_at(fx.bastion, fx.wrong_fp, 0);
    infra_ssh_target t = target_at(fx.target, fx.target_fp, 5000);
    assert_int_equal(ssh_connect_via(&call, &t, &b, &ssh), INFRA_EAUTH);
    assert_null(ssh);
    char *want = util_printf("bastion %s:22 (for %s:22): host key mismatch for %s:22: expected %s, "
                             "got %s (refusing to connect)\n",
                             fx.bastion, fx.target, fx.bastion, fx.wrong_fp, fx.bastion_fp);
    assert_string_equal(diag_text(&c), want);
    free(want);
    call_end(&call, &c);
}

static void test_ssh_jump_refuses_a_wrong_target_key_and_names_the_target(void **state)
{
    REQUIRE_HOSTS();
    infra_call call;
    captured c;
    infra_ssh *ssh = NULL;
    call_begin(&call, &c);
    infra_ssh_target b = target_at(fx.bastion, fx.bastion_fp, 0);
    infra_ssh_target t = target_at(fx.target, fx.wrong_fp, 5000);
    assert_int_equal(ssh_connect_via(&call, &t, &b, &ssh), INFRA_EAUTH);
    assert_null(ssh);
    char *want = util_printf("%s:22 through the bastion %s:22: host key mismatch for %s:22: "
                             "expected %s, got %s (refusing to connect)\n",
                             fx.target, fx.bastion, fx.target, fx.wrong_fp, fx.target_fp);
    assert_string_equal(diag_text(&c), want);
    free(want);
    call_end(&call, &c);
}

static void test_ssh_jump_names_a_target_the_bastion_cannot_reach(void **state)
{
    REQUIRE_HOSTS();
    infra_call call;
    captured c;
    infra_ssh *ssh = NULL;
    call_begin(&call, &c);
    infra_ssh_target b = target_at(fx.bastion, fx.bastion_fp, 0);
    infra_ssh_target t = target_at(fx.spare, fx.target_fp, 1500);
    assert_int_equal(ssh_connect_via(&call, &t, &b, &ssh), INFRA_ETRANSIENT);
    assert_null(ssh);
    char *want = util_printf("%s:22 through the bastion %s:22: ssh: %s:22 did not answer within "
                             "1.5 s (last error: the bastion %s:22 cannot open a connection to "
                             "%s:22",
                             fx.spare, fx.bastion, fx.spare, fx.bastion, fx.spare);
    assert_non_null(strstr(diag_text(&c), want));
    free(want);
    assert_null(strstr(diag_text(&c), "PRIVATE KEY"));
    call_end(&call, &c);
}

static void test_ssh_jump_names_an_unreachable_bastion(void **state)
{
    REQUIRE_HOSTS();
    infra_call call;
    captured c;
    infra_ssh *ssh = NULL;
    call_begin(&call, &c);
    infra_ssh_target b = target_at(fx.spare, fx.bastion_fp, 0);
    infra_ssh_target t = target_at(fx.target, fx.target_fp, 1000);
    assert_int_equal(ssh_connect_via(&call, &t, &b, &ssh), INFRA_ETRANSIENT);
    char *want = util_printf("bastion %s:22 (for %s:22): ssh: %s:22 did not answer within",
                             fx.spare, fx.target, fx.spare);
    assert_non_null(strstr(diag_text(&c), want));
    free(want);
    call_end(&call, &c);
}

static void test_ssh_jump_route_makes_plain_connect_go_through_the_bastion(void **state)
{
    REQUIRE_HOSTS();
    infra_call call;
    captured c;
    infra_ssh *ssh = NULL;
    call_begin(&call, &c);
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
    call_end(&call, &c);
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
    char *path = util_printf("%s/target_key.pub", fx.dir);
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
    captured c;
    infra_http_response *resp = NULL;
    int port = -1;
    call_begin(&call, &c);
    assert_int_equal(ssh_api()->tunnel(&call, fx.target, 8080, &port), INFRA_ENOTFOUND);
    assert_int_equal(port, 0);
    assert_string_equal(diag_text(&c), "");
    /* Without a route the HTTP service goes to the address itself, which
     * this machine has no route to. */
    char *url = util_printf("http://%s:8080/hello.txt", fx.target);
    assert_int_equal(http_get(&call, url, &resp), INFRA_ETRANSIENT);
    assert_null(resp);
    free(url);
    call_end(&call, &c);
}

static void test_ssh_jump_tunnel_carries_tcp_and_http_to_the_target(void **state)
{
    REQUIRE_HOSTS();
    infra_call call;
    captured c;
    infra_http_response *resp = NULL;
    http_shutdown(); /* pooled handles of earlier tests hold descriptors */
    int fds = proc_entries("/proc/self/fd"), threads = proc_entries("/proc/self/task");
    call_begin(&call, &c);
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
    assert_string_equal(diag_text(&c), "");

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
    assert_non_null(strstr(diag_text(&c), want));
    free(want);
    free(url);

    /* Closed at the end of the run: no thread, no descriptor left. */
    http_shutdown();
    ssh_tunnels_close();
    ssh_routes_clear();
    assert_int_equal(proc_entries("/proc/self/fd"), fds);
    assert_int_equal(proc_entries("/proc/self/task"), threads);
    call_end(&call, &c);
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
