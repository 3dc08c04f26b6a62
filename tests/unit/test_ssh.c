/* SSH client against a real OpenSSH sshd that the test starts on 127.0.0.1
 * with its own host key, user key and configuration in a temporary
 * directory: exec, ssh_run diagnostics, atomic uploads, host key pinning,
 * known_hosts, ssh-agent login, retries and timeouts. Runs as root (sshd
 * needs it); skipped when /usr/sbin/sshd is not installed. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"
#include "plugin/host.h"
#include "services/ssh.h"
#include "services/ssh_int.h" /* to play a login user other than root */

#define SSHD "/usr/sbin/sshd"
/* libssh2 1.10 reads OpenSSH-format ed25519 keys and speaks ssh-ed25519. */
#define KEY_TYPE "ed25519"

typedef struct fixture {
    int available;
    char *dir;         /* mktemp -d */
    char *host_key;    /* the server's ed25519 host key, the one it prefers */
    char *host_ecdsa;  /* its second host key, ECDSA P-256 */
    char *user_key;    /* the client's private key, listed in authorized_keys */
    char *other_key;   /* a client key the server does not know */
    char *fingerprint; /* of the host key, as ssh-keygen -lf prints it */
    char *log;         /* sshd's stderr */
    int port;
    pid_t children[8]; /* other processes started by a test, stopped at the end even
                          when that test fails half-way */
} fixture;

static fixture fx;

/* ------------------------------------------------------------------ */
/* Helpers                                                            */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs a shell command and returns its stdout; fails the test unless it
 * exits 0. */
static char *sh_output(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *sh_output(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *cmd = util_vprintf(fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    util_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
        util_buf_put(&b, chunk, n);
    int status = pclose(p);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("command failed (%d): %s", status, cmd);
    free(cmd);
    return util_buf_take(&b);
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *cmd = util_vprintf(fmt, ap);
    va_end(ap);
    int status = system(cmd);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("command failed (%d): %s", status, cmd);
    free(cmd);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    util_buf b = {0};
    char chunk[4096];
    size_t n;
    if (!f)
        return util_strdup("");
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        util_buf_put(&b, chunk, n);
    fclose(f);
    return util_buf_take(&b);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* A port on 127.0.0.1 nobody listens on (the kernel picked it). */
static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static int port_accepts(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static void wait_port(int port)
{
    for (int i = 0; i < 200 && !port_accepts(port); i++)
        usleep(50000);
    assert_true(port_accepts(port));
}

/* Writes an sshd_config for port into the fixture directory. */
static char *write_config(int port, const char *name)
{
    char *path = util_printf("%s/%s", fx.dir, name);
    char *text = util_printf("ListenAddress 127.0.0.1\n"
                             "Port %d\n"
                             "HostKey %s\n"
                             "HostKey %s\n"
                             "AuthorizedKeysFile %s/authorized_keys\n"
                             "PidFile %s/%s.pid\n"
                             "StrictModes no\n"
                             "UsePAM no\n"
                             "PermitRootLogin prohibit-password\n"
                             "PasswordAuthentication no\n"
                             "KbdInteractiveAuthentication no\n"
                             "SetEnv PATH=%s/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
                             "Subsystem sftp internal-sftp\n",
                             port, fx.host_key, fx.host_ecdsa, fx.dir, fx.dir, name, fx.dir);
    write_file(path, text);
    free(text);
    return path;
}

static pid_t remember_child(pid_t pid)
{
    for (size_t i = 0; i < sizeof(fx.children) / sizeof(fx.children[0]); i++) {
        if (fx.children[i] == 0) {
            fx.children[i] = pid;
            return pid;
        }
    }
    fail_msg("too many child processes");
    return pid;
}

/* Starts sshd on config after delay_s seconds; its stderr goes to fx.log.
 * It runs in a mount namespace of its own where /root is an empty
 * directory: the commands it runs for root start root's login shell,
 * which must not read this machine's own ~/.bashrc. */
static pid_t start_sshd(const char *config, int delay_s)
{
    char *script = util_printf("mkdir -p %s/home && mount --bind %s/home /root && sleep %d && "
                               "exec %s -D -e -f %s 2>>%s",
                               fx.dir, fx.dir, delay_s, SSHD, config, fx.log);
    char *argv[] = {"unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script,
                    NULL};
    pid_t pid = 0;
    assert_int_equal(posix_spawnp(&pid, "unshare", NULL, NULL, argv, environ), 0);
    free(script);
    return remember_child(pid);
}

static void stop_child(pid_t pid)
{
    if (pid <= 0)
        return;
    for (size_t i = 0; i < sizeof(fx.children) / sizeof(fx.children[0]); i++)
        if (fx.children[i] == pid)
            fx.children[i] = 0;
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* Lines of sshd's log reporting a successful login. */
static int logins_accepted(void)
{
    char *log = read_file(fx.log);
    int count = 0;
    for (const char *p = log; (p = strstr(p, "Accepted publickey")) != NULL; p++)
        count++;
    free(log);
    return count;
}

static char *pub_key_line(const char *key)
{
    char *path = util_printf("%s.pub", key);
    char *line = read_file(path);
    free(path);
    return line;
}

static char *fingerprint_of(const char *key)
{
    char *line = sh_output("ssh-keygen -lf %s.pub -E sha256", key);
    char *start = strchr(line, ' ');
    assert_non_null(start);
    start++;
    char *fp = util_strndup(start, strcspn(start, " "));
    free(line);
    assert_true(strncmp(fp, "SHA256:", 7) == 0);
    return fp;
}

/* Diagnostics received on a call. */
typedef struct captured {
    util_buf text;
    int count;
} captured;

static void capture_diag(void *ud, infra_call *call, int severity, const char *attr,
                         const char *message)
{
    captured *c = ud;
    assert_int_equal(severity, INFRA_DIAG_ERROR);
    util_buf_printf(&c->text, "%s\n", message);
    c->count++;
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

static infra_ssh_target target_for(int port, const char *pin, const char *key, long deadline_ms)
{
    infra_ssh_target t = {.size = sizeof(infra_ssh_target),
                          .host = "127.0.0.1",
                          .port = port,
                          .user = "root",
                          .private_key = key,
                          .host_key_sha256 = pin,
                          .deadline_ms = deadline_ms};
    return t;
}

/* A session to the fixture's sshd with the pinned, correct fingerprint. */
static infra_ssh *open_session(void)
{
    infra_call call;
    captured c;
    infra_ssh *ssh = NULL;
    call_begin(&call, &c);
    infra_ssh_target t = target_for(fx.port, fx.fingerprint, fx.user_key, 10000);
    int rc = ssh_connect(&call, &t, &ssh);
    if (rc != 0)
        fail_msg("connect failed (%d): %s", rc, diag_text(&c));
    call_end(&call, &c);
    return ssh;
}

/* Runs command and returns its stdout, requiring exit status 0. */
static char *remote(infra_ssh *ssh, const char *command)
{
    int status = -1;
    char *out = NULL, *err = NULL;
    assert_int_equal(ssh_exec(ssh, command, &status, &out, &err), 0);
    if (status != 0)
        fail_msg("remote command exited %d: %s: %s", status, command, err);
    free(err);
    return out;
}

#define REQUIRE_SSHD()                                                                             \
    do {                                                                                           \
        if (!fx.available)                                                                         \
            skip();                                                                                \
    } while (0)

/* ------------------------------------------------------------------ */
/* Fixture                                                            */

static int group_setup(void **state)
{
    if (access(SSHD, X_OK) != 0)
        return 0;
    char tmpl[] = "/tmp/infra-test-ssh-XXXXXX";
    if (!mkdtemp(tmpl))
        return -1;
    fx.dir = util_strdup(tmpl);
    fx.host_key = util_printf("%s/host_key", fx.dir);
    fx.host_ecdsa = util_printf("%s/host_ecdsa", fx.dir);
    fx.user_key = util_printf("%s/user_key", fx.dir);
    fx.other_key = util_printf("%s/other_key", fx.dir);
    fx.log = util_printf("%s/sshd.log", fx.dir);
    mkdir("/run/sshd", 0755); /* sshd's privilege separation directory */
    const char *keys[] = {fx.host_key, fx.user_key, fx.other_key};
    for (size_t i = 0; i < 3; i++)
        sh("ssh-keygen -q -t %s -N '' -C infra-test -f %s", KEY_TYPE, keys[i]);
    sh("ssh-keygen -q -t ecdsa -b 256 -N '' -C infra-test -f %s", fx.host_ecdsa);
    sh("cp %s.pub %s/authorized_keys", fx.user_key, fx.dir);
    /* Commands see DIR/bin first: a stand-in "sudo" that refuses like a
     * sudo without rights for the login user (a second user and a sudoers
     * policy would change this machine); root never needs sudo. */
    sh("mkdir -p %s/bin && printf '#!/bin/sh\\necho \"sudo: a password is required\" >&2\\n"
       "exit 1\\n' > %s/bin/sudo && chmod 755 %s/bin/sudo",
       fx.dir, fx.dir, fx.dir);
    fx.fingerprint = fingerprint_of(fx.host_key);
    fx.port = free_port();
    char *config = write_config(fx.port, "sshd_config");
    sh("%s -t -f %s", SSHD, config);
    start_sshd(config, 0);
    free(config);
    wait_port(fx.port);
    fx.available = 1;
    return 0;
}

static int group_teardown(void **state)
{
    for (size_t i = 0; i < sizeof(fx.children) / sizeof(fx.children[0]); i++)
        stop_child(fx.children[i]);
    if (fx.dir)
        nftw(fx.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx.dir);
    free(fx.host_key);
    free(fx.host_ecdsa);
    free(fx.user_key);
    free(fx.other_key);
    free(fx.fingerprint);
    free(fx.log);
    memset(&fx, 0, sizeof(fx));
    return 0;
}

/* ------------------------------------------------------------------ */
/* The table                                                          */

static void test_ssh_api_table_has_every_slot(void **state)
{
    const infra_ssh_api *api = ssh_api();
    assert_non_null(api);
    assert_int_equal(api->size, sizeof(infra_ssh_api));
    assert_true(INFRA_HAS_SLOT(api, connect));
    assert_true(INFRA_HAS_SLOT(api, exec));
    assert_true(INFRA_HAS_SLOT(api, upload));
    assert_true(INFRA_HAS_SLOT(api, close));
    assert_true(INFRA_HAS_SLOT(api, exec_sudo));
    assert_true(INFRA_HAS_SLOT(api, run));
    assert_true(INFRA_HAS_SLOT(api, write_file));
    api->close(NULL); /* NULL is ignored */
}

static void test_ssh_connect_rejects_a_target_without_host_or_user(void **state)
{
    infra_call call;
    captured c;
    infra_ssh *ssh = (infra_ssh *)&c;
    call_begin(&call, &c);
    infra_ssh_target t = target_for(22, NULL, NULL, 0);
    t.user = NULL;
    assert_int_equal(ssh_connect(&call, &t, &ssh), INFRA_EINVALID);
    assert_null(ssh);
    t = target_for(22, "MD5:aa:bb", NULL, 0);
    assert_int_equal(ssh_connect(&call, &t, &ssh), INFRA_EINVALID);
    assert_non_null(strstr(diag_text(&c), "must look like SHA256:"));
    assert_int_equal(c.count, 2);
    call_end(&call, &c);
}

/* ------------------------------------------------------------------ */
/* Exec                                                               */

static void test_ssh_exec_returns_stdout_stderr_and_exit_status(void **state)
{
    REQUIRE_SSHD();
    infra_ssh *ssh = open_session();
    int status = -1;
    char *out = NULL, *err = NULL;
    assert_int_equal(ssh_api()->exec(ssh, "printf 'hello\\n'; printf 'oops\\n' >&2; exit 3",
                                     &status, &out, &err),
                     0);
    assert_int_equal(status, 3);
    assert_string_equal(out, "hello\n");
    assert_string_equal(err, "oops\n");
    free(out);
    free(err);

    /* Outputs are optional, and a command that succeeds reports 0. */
    assert_int_equal(ssh_exec(ssh, "true", &status, NULL, NULL), 0);
    assert_int_equal(status, 0);
    ssh_api()->close(ssh);
}

static void test_ssh_exec_reads_large_interleaved_stdout_and_stderr(void **state)
{
    REQUIRE_SSHD();
    infra_ssh *ssh = open_session();
    int status = -1;
    char *out = NULL, *err = NULL;
    /* Far more than one channel window on each stream, written alternately:
     * reading one stream to its end first would stall the command. */
    assert_int_equal(ssh_exec(ssh,
                              "i=0; while [ $i -lt 30000 ]; do echo \"out $i\"; "
                              "echo \"err $i\" >&2; i=$((i+1)); done",
                              &status, &out, &err),
                     0);
    assert_int_equal(status, 0);
    size_t out_lines = 0, err_lines = 0;
    for (const char *p = out; *p; p++)
        out_lines += *p == '\n';
    for (const char *p = err; *p; p++)
        err_lines += *p == '\n';
    assert_int_equal(out_lines, 30000);
    assert_int_equal(err_lines, 30000);
    assert_true(strncmp(out, "out 0\nout 1\n", 12) == 0);
    assert_non_null(strstr(out, "\nout 29999\n"));
    assert_non_null(strstr(err, "\nerr 29999\n"));
    free(out);
    free(err);
    ssh_close(ssh);
}

static void test_ssh_exec_reports_death_by_signal_and_closes_stdin(void **state)
{
    REQUIRE_SSHD();
    infra_ssh *ssh = open_session();
    int status = -1;
    char *out = NULL;
    assert_int_equal(ssh_exec(ssh, "kill -TERM $$", &status, NULL, NULL), 0);
    assert_int_equal(status, 128 + SIGTERM);
    /* cat reads stdin: it ends at once because stdin is closed. */
    assert_int_equal(ssh_exec(ssh, "cat; echo done", &status, &out, NULL), 0);
    assert_int_equal(status, 0);
    assert_string_equal(out, "done\n");
    free(out);
    ssh_close(ssh);
}

static void test_ssh_exec_times_out_instead_of_hanging(void **state)
{
    REQUIRE_SSHD();
    infra_ssh *ssh = open_session();
    int status = 7;
    char *out = (char *)"unset";
    ssh_set_timeouts(0, 0, 1000);
    int64_t start = now_ms();
    int rc = ssh_exec(ssh, "exec sleep 30", &status, &out, NULL);
    int64_t elapsed = now_ms() - start;
    ssh_set_timeouts(0, 0, 0);
    assert_int_equal(rc, INFRA_ETRANSIENT);
    assert_int_equal(status, -1);
    assert_null(out);
    assert_true(elapsed >= 1000);
    assert_true(elapsed < 1000 + 5000);
    assert_non_null(strstr(ssh_last_error(ssh), "timed out after 1 s"));
    /* The session itself survives a command that took too long. */
    out = remote(ssh, "echo still here");
    assert_string_equal(out, "still here\n");
    free(out);
    ssh_close(ssh);
}

static void test_ssh_run_returns_stdout_of_a_successful_command(void **state)
{
    REQUIRE_SSHD();
    infra_ssh *ssh = open_session();
    infra_call call;
    captured c;
    char *out = NULL;
    call_begin(&call, &c);
    assert_int_equal(ssh_run(&call, ssh, "echo ready; echo noise >&2", &out), 0);
    assert_string_equal(out, "ready\n");
    assert_int_equal(c.count, 0);
    assert_string_equal(ssh_last_error(ssh), "");
    free(out);
    call_end(&call, &c);
    ssh_close(ssh);
}

static void test_ssh_run_reports_exit_code_and_last_stderr_lines(void **state)
{
    REQUIRE_SSHD();
    infra_ssh *ssh = open_session();
    infra_call call;
    captured c;
    char *out = (char *)"unset";
    const char *command = "for i in $(seq 1 30); do echo \"line $i\" >&2; done; exit 4";
    call_begin(&call, &c);
    assert_int_equal(ssh_run(&call, ssh, command, &out), INFRA_EINTERNAL);
    assert_null(out);
    assert_int_equal(c.count, 1);
    assert_int_equal(call.errors, 1);
    util_buf want = {0};
    util_buf_printf(&want, "command failed with exit code 4 on 127.0.0.1: %s\n", command);
    for (int i = 11; i <= 30; i++)
        util_buf_printf(&want, "line %d\n", i);
    assert_string_equal(diag_text(&c), want.data);
    assert_string_equal(call.first_error, "command failed with exit code 4 on 127.0.0.1: "
                                          "for i in $(seq 1 30); do echo \"line $i\" >&2; "
                                          "done; exit 4\nline 11\nline 12\nline 13\nline 14\n"
                                          "line 15\nline 16\nline 17\nline 18\nline 19\nline 20\n"
                                          "line 21\nline 22\nline 23\nline 24\nline 25\nline 26\n"
                                          "line 27\nline 28\nline 29\nline 30");
    util_buf_free(&want);
    call_end(&call, &c);
    ssh_close(ssh);
}

static void test_ssh_exec_sudo_runs_unchanged_for_root(void **state)
{
    REQUIRE_SSHD();
    infra_ssh *ssh = open_session();
    int status = -1;
    char *out = NULL;
    /* No sudo is needed as root: a prefixed command would fail where sudo
     * is not installed, and would print nothing but "0" either way. */
    assert_int_equal(ssh_exec_sudo(ssh, "id -u; echo \"$0\"", &status, &out, NULL), 0);
    assert_int_equal(status, 0);
    assert_true(strncmp(out, "0\n", 2) == 0);
    assert_null(strstr(out, "sudo"));
    free(out);
    char *plain = ssh_sudo_command("root", "id -u");
    assert_string_equal(plain, "id -u");
    free(plain);
    ssh_close(ssh);
}

static void test_ssh_sudo_command_wraps_and_quotes_for_other_users(void **state)
{
    REQUIRE_SSHD();
    const char *command = "echo \"it's $((1+1))\"; echo 'a  b'";
    char *line = ssh_sudo_command("deploy", command);
    assert_string_equal(line, "sudo -n -- sh -c 'echo \"it'\\''s $((1+1))\"; echo '\\''a  b'\\'''");
    /* A remote shell parses it back to the original command: a stand-in
     * sudo checks its options and runs the rest. */
    char *script = util_printf("sudo() { [ \"$1\" = -n ] && [ \"$2\" = -- ] || exit 99; "
                               "shift 2; \"$@\"; }; %s",
                               line);
    infra_ssh *ssh = open_session();
    char *out = remote(ssh, script);
    assert_string_equal(out, "it's 2\na  b\n");
    free(out);
    free(script);
    free(line);
    ssh_close(ssh);
}

/* ------------------------------------------------------------------ */
/* Upload                                                             */

static void test_ssh_upload_writes_file_with_mode_and_replaces_it_atomically(void **state)
{
    REQUIRE_SSHD();
    infra_ssh *ssh = open_session();
    char *path = util_printf("%s/uploaded.conf", fx.dir);
    char *cmd = util_printf("stat -c %%a %s; cat %s", path, path);
    const char *first = "bind_addr = \"0.0.0.0\"\nports { http = 4646 }\n";
    assert_int_equal(ssh_api()->upload(ssh, path, first, strlen(first), 0640), 0);
    char *out = remote(ssh, cmd);
    char *want = util_printf("640\n%s", first);
    assert_string_equal(out, want);
    free(out);
    free(want);

    /* Over an existing file, with a mode the server's umask would cut. */
    const char *second = "replaced\n";
    assert_int_equal(ssh_upload(ssh, path, second, strlen(second), 0666), 0);
    out = remote(ssh, cmd);
    assert_string_equal(out, "666\nreplaced\n");
    free(out);
    char *leftover = util_printf("ls -a %s", fx.dir);
    out = remote(ssh, leftover);
    assert_null(strstr(out, "uploaded.conf.tmp"));
    free(out);

    /* Empty content is a valid file. */
    assert_int_equal(ssh_upload(ssh, path, "", 0, 0600), 0);
    out = remote(ssh, cmd);
    assert_string_equal(out, "600\n");
    free(out);
    free(leftover);
    free(cmd);
    free(path);
    ssh_close(ssh);
}

static void test_ssh_upload_sends_large_binary_data_intact(void **state)
{
    REQUIRE_SSHD();
    infra_ssh *ssh = open_session();
    size_t len = 300 * 1024 + 7;
    unsigned char *data = util_malloc(len);
    assert_int_equal(util_random(data, len), 0);
    data[0] = 0; /* NUL bytes travel too */
    unsigned char digest[32];
    unsigned int dlen = 0;
    assert_int_equal(EVP_Digest(data, len, digest, &dlen, EVP_sha256(), NULL), 1);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    char *path = util_printf("%s/blob.bin", fx.dir);
    assert_int_equal(ssh_upload(ssh, path, data, len, 0600), 0);
    char *cmd = util_printf("stat -c %%s %s; sha256sum < %s", path, path);
    char *out = remote(ssh, cmd);
    char *want = util_printf("%zu\n%s  -\n", len, hex);
    assert_string_equal(out, want);
    free(want);
    free(out);
    free(cmd);
    free(path);
    free(data);
    ssh_close(ssh);
}

static void test_ssh_upload_into_missing_directory_fails_with_enotfound(void **state)
{
    REQUIRE_SSHD();
    infra_ssh *ssh = open_session();
    char *path = util_printf("%s/no/such/dir/file", fx.dir);
    assert_int_equal(ssh_upload(ssh, path, "x", 1, 0644), INFRA_ENOTFOUND);
    assert_non_null(strstr(ssh_last_error(ssh), "no/such/dir/file.tmp"));
    /* Uploading onto a directory is refused rather than moved into it. */
    assert_int_equal(ssh_upload(ssh, fx.dir, "x", 1, 0644), INFRA_EINVALID);
    assert_non_null(strstr(ssh_last_error(ssh), "is a directory"));
    free(path);
    ssh_close(ssh);
}

/* ------------------------------------------------------------------ */
/* Within a call: host->ssh->run and host->ssh->write_file             */

static void test_ssh_run_slot_runs_as_root_and_hands_back_any_exit_status(void **state)
{
    REQUIRE_SSHD();
    infra_ssh *ssh = open_session();
    infra_call call;
    captured c;
    int status = -1;
    char *out = NULL, *err = NULL;
    call_begin(&call, &c);
    call.deadline_ms = host_now_ms() + 30000;
    assert_int_equal(ssh_api()->run(&call, ssh, "id -u; echo bad >&2; exit 3", 1, &status, &out,
                                    &err),
                     0);
    assert_int_equal(status, 3);
    assert_string_equal(out, "0\n");
    assert_string_equal(err, "bad\n");
    assert_int_equal(c.count, 0);
    free(out);
    free(err);
    call_end(&call, &c);
    ssh_close(ssh);
}

static void test_ssh_run_slot_stops_at_the_calls_deadline_and_says_so(void **state)
{
    REQUIRE_SSHD();
    infra_ssh *ssh = open_session();
    infra_call call;
    captured c;
    int status = 7;
    call_begin(&call, &c);
    int64_t start = now_ms();
    call.deadline_ms = host_now_ms() + 500;
    assert_int_equal(ssh_api()->run(&call, ssh, "exec sleep 30", 0, &status, NULL, NULL),
                     INFRA_ECANCELLED);
    int64_t elapsed = now_ms() - start;
    assert_true(elapsed >= 450);
    assert_true(elapsed < 5000);
    assert_int_equal(status, -1);
    assert_int_equal(c.count, 1);
    assert_non_null(strstr(diag_text(&c), "stopped: the call's deadline passed"));
    call_end(&call, &c);
    ssh_close(ssh);
}

static void test_ssh_run_slot_reports_a_broken_connection_with_the_stderr_tail(void **state)
{
    REQUIRE_SSHD();
    infra_ssh *ssh = open_session();
    infra_call call;
    captured c;
    call_begin(&call, &c);
    call.deadline_ms = host_now_ms() + 30000;
    /* The command kills its own session: the connection drops under it. */
    int rc = ssh_api()->run(&call, ssh, "echo 'about to go' >&2; sleep 0.3; kill -9 $PPID; sleep 5",
                            0, NULL, NULL, NULL);
    assert_true(rc == INFRA_ETRANSIENT || rc == INFRA_EINTERNAL);
    assert_int_equal(c.count, 1);
    assert_true(strncmp(diag_text(&c), "ssh: ", 5) == 0);
    assert_non_null(strstr(diag_text(&c), "on 127.0.0.1: "));
    assert_non_null(strstr(diag_text(&c), "the command's last lines of stderr:\nabout to go"));
    call_end(&call, &c);
    ssh_close(ssh);
}

static void test_ssh_run_slot_quotes_the_refusal_of_sudo(void **state)
{
    REQUIRE_SSHD();
    infra_ssh *ssh = open_session();
    infra_call call;
    captured c;
    int status = 5;
    call_begin(&call, &c);
    free(ssh->user);
    ssh->user = util_strdup("deploy"); /* as if logged in as a user needing sudo */
    assert_int_equal(ssh_api()->run(&call, ssh, "systemctl restart nomad", 1, &status, NULL, NULL),
                     INFRA_EAUTH);
    assert_int_equal(status, -1);
    assert_string_equal(diag_text(&c), "sudo on 127.0.0.1 refused to run a command as root for "
                                       "deploy: sudo: a password is required\n");
    call_end(&call, &c);
    ssh_close(ssh);
}

static void test_ssh_write_file_slot_writes_and_explains_a_failure(void **state)
{
    REQUIRE_SSHD();
    infra_ssh *ssh = open_session();
    infra_call call;
    captured c;
    call_begin(&call, &c);
    call.deadline_ms = host_now_ms() + 30000;
    char *path = util_printf("%s/written.conf", fx.dir);
    assert_int_equal(ssh_api()->write_file(&call, ssh, path, "a = 1\n", 6, 0600), 0);
    char *cmd = util_printf("stat -c %%a %s; cat %s", path, path);
    char *out = remote(ssh, cmd);
    assert_string_equal(out, "600\na = 1\n");
    free(out);
    assert_int_equal(c.count, 0);
    char *missing = util_printf("%s/no/such/dir/file", fx.dir);
    assert_int_equal(ssh_api()->write_file(&call, ssh, missing, "x", 1, 0644), INFRA_ENOTFOUND);
    assert_int_equal(c.count, 1);
    assert_non_null(strstr(diag_text(&c), "no/such/dir/file.tmp on 127.0.0.1"));
    /* A call whose deadline has passed writes nothing. */
    call.deadline_ms = host_now_ms() - 1;
    assert_int_equal(ssh_api()->write_file(&call, ssh, path, "b = 2\n", 6, 0600),
                     INFRA_ECANCELLED);
    assert_non_null(strstr(diag_text(&c), "deadline passed"));
    out = remote(ssh, cmd);
    assert_string_equal(out, "600\na = 1\n");
    free(out);
    free(missing);
    free(cmd);
    free(path);
    call_end(&call, &c);
    ssh_close(ssh);
}

/* ------------------------------------------------------------------ */
/* Host keys and login                                                */

static void test_ssh_connect_accepts_the_pinned_fingerprint(void **state)
{
    REQUIRE_SSHD();
    infra_call call;
    captured c;
    infra_ssh *ssh = NULL;
    int before = logins_accepted();
    call_begin(&call, &c);
    infra_ssh_target t = target_for(fx.port, fx.fingerprint, fx.user_key, 5000);
    assert_int_equal(ssh_api()->connect(&call, &t, &ssh), 0);
    assert_non_null(ssh);
    assert_int_equal(c.count, 0);
    /* The log check used by the refusal tests does see a login. */
    assert_int_equal(logins_accepted(), before + 1);
    char *out = remote(ssh, "whoami");
    assert_string_equal(out, "root\n");
    free(out);
    ssh_close(ssh);

    /* The fingerprint with base64 padding and blanks still matches. */
    char *padded = util_printf(" %s= ", fx.fingerprint);
    t.host_key_sha256 = padded;
    assert_int_equal(ssh_connect(&call, &t, &ssh), 0);
    ssh_close(ssh);
    free(padded);
    call_end(&call, &c);
}

static void test_ssh_connect_accepts_a_pin_of_the_servers_other_key_type(void **state)
{
    REQUIRE_SSHD();
    infra_call call;
    captured c;
    infra_ssh *ssh = NULL;
    char *ecdsa_fp = fingerprint_of(fx.host_ecdsa);
    call_begin(&call, &c);
    /* The server offers ed25519 first; a pin of its ECDSA key still works. */
    infra_ssh_target t = target_for(fx.port, ecdsa_fp, fx.user_key, 5000);
    assert_int_equal(ssh_connect(&call, &t, &ssh), 0);
    char *out = remote(ssh, "echo ecdsa");
    assert_string_equal(out, "ecdsa\n");
    free(out);
    ssh_close(ssh);
    assert_int_equal(c.count, 0);
    call_end(&call, &c);
    free(ecdsa_fp);
}

static void test_ssh_connect_refuses_a_wrong_fingerprint_before_login(void **state)
{
    REQUIRE_SSHD();
    infra_call call;
    captured c;
    infra_ssh *ssh = (infra_ssh *)&c;
    char *marker = util_printf("%s/marker-wrong-fingerprint", fx.dir);
    char *touch = util_printf("touch %s", marker);
    char *wrong = fingerprint_of(fx.other_key);
    int before = logins_accepted();
    call_begin(&call, &c);
    infra_ssh_target t = target_for(fx.port, wrong, fx.user_key, 5000);
    int rc = ssh_connect(&call, &t, &ssh);
    if (rc == 0) /* what a caller does with a session it gets */
        ssh_exec(ssh, touch, NULL, NULL, NULL);
    assert_int_equal(rc, INFRA_EAUTH);
    assert_null(ssh);
    /* Both of the server's keys were looked at, neither matched. */
    char *ecdsa_fp = fingerprint_of(fx.host_ecdsa);
    char *want = util_printf("host key mismatch for 127.0.0.1:%d: expected %s, got %s or %s "
                             "(refusing to connect)\n",
                             fx.port, wrong, fx.fingerprint, ecdsa_fp);
    assert_string_equal(diag_text(&c), want);
    free(ecdsa_fp);
    /* Nothing ran and the server never saw a login. */
    assert_int_equal(access(marker, F_OK), -1);
    assert_int_equal(logins_accepted(), before);
    free(want);
    call_end(&call, &c);
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
    sh("rm -rf %s && mkdir -p %s/.ssh", home, home);
    if (text) {
        char *path = util_printf("%s/.ssh/known_hosts", home);
        write_file(path, text);
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
    REQUIRE_SSHD();
    infra_call call;
    captured c;
    infra_ssh *ssh = NULL;
    char *pub = pub_key_line(fx.host_key);
    char *other = pub_key_line(fx.other_key);
    /* Another host first, then ours in the [host]:port form for port != 22. */
    char *text = util_printf("[10.9.8.7]:%d %s[127.0.0.1]:%d %s", fx.port, other, fx.port, pub);
    char *old = use_known_hosts(text);
    call_begin(&call, &c);
    infra_ssh_target t = target_for(fx.port, NULL, fx.user_key, 5000);
    assert_int_equal(ssh_connect(&call, &t, &ssh), 0);
    char *out = remote(ssh, "echo known");
    assert_string_equal(out, "known\n");
    free(out);
    ssh_close(ssh);

    /* Hashed host names (HashKnownHosts) are understood as well. */
    sh("ssh-keygen -q -H -f %s/.ssh/known_hosts >/dev/null 2>&1", getenv("HOME"));
    char *hashed = util_printf("%s/.ssh/known_hosts", getenv("HOME"));
    char *content = read_file(hashed);
    assert_null(strstr(content, "127.0.0.1"));
    assert_int_equal(ssh_connect(&call, &t, &ssh), 0);
    ssh_close(ssh);
    assert_int_equal(c.count, 0);
    call_end(&call, &c);
    restore_home(old);
    free(content);
    free(hashed);
    free(text);
    free(other);
    free(pub);
}

static void test_ssh_connect_uses_the_key_type_known_hosts_lists(void **state)
{
    REQUIRE_SSHD();
    infra_call call;
    captured c;
    infra_ssh *ssh = NULL;
    char *pub = pub_key_line(fx.host_ecdsa);
    char *text = util_printf("[127.0.0.1]:%d %s", fx.port, pub);
    char *old = use_known_hosts(text);
    call_begin(&call, &c);
    /* Only the ECDSA key is known: the server must be asked for that one
     * rather than its preferred ed25519 key. */
    infra_ssh_target t = target_for(fx.port, NULL, fx.user_key, 5000);
    int rc = ssh_connect(&call, &t, &ssh);
    if (rc != 0)
        fail_msg("connect failed (%d): %s", rc, diag_text(&c));
    ssh_close(ssh);
    call_end(&call, &c);
    restore_home(old);
    free(text);
    free(pub);
}

static void test_ssh_connect_refuses_a_host_missing_from_known_hosts(void **state)
{
    REQUIRE_SSHD();
    infra_call call;
    captured c;
    infra_ssh *ssh = (infra_ssh *)&c;
    char *pub = pub_key_line(fx.host_key);
    char *text = util_printf("[127.0.0.2]:%d %s", fx.port, pub);
    int before = logins_accepted();
    char *old = use_known_hosts(text);
    call_begin(&call, &c);
    infra_ssh_target t = target_for(fx.port, NULL, fx.user_key, 5000);
    assert_int_equal(ssh_connect(&call, &t, &ssh), INFRA_EAUTH);
    assert_null(ssh);
    char *want = util_printf("host key of 127.0.0.1:%d is not in %s/.ssh/known_hosts (the "
                             "server offers ssh-ed25519 %s)",
                             fx.port, getenv("HOME"), fx.fingerprint);
    assert_non_null(strstr(diag_text(&c), "(refusing to connect)"));
    free(want);

    /* No known_hosts file at all: refused the same way, never trusted. */
    restore_home(old);
    old = use_known_hosts(NULL);
    assert_int_equal(ssh_connect(&call, &t, &ssh), INFRA_EAUTH);
    assert_int_equal(c.count, 2);
    assert_int_equal(logins_accepted(), before);
    call_end(&call, &c);
    restore_home(old);
    free(text);
    free(pub);
}

static void test_ssh_connect_refuses_a_known_hosts_mismatch(void **state)
{
    REQUIRE_SSHD();
    infra_call call;
    captured c;
    infra_ssh *ssh = (infra_ssh *)&c;
    char *other = pub_key_line(fx.other_key);
    char *other_fp = fingerprint_of(fx.other_key);
    char *text = util_printf("[127.0.0.1]:%d %s", fx.port, other);
    int before = logins_accepted();
    char *old = use_known_hosts(text);
    call_begin(&call, &c);
    infra_ssh_target t = target_for(fx.port, NULL, fx.user_key, 5000);
    assert_int_equal(ssh_connect(&call, &t, &ssh), INFRA_EAUTH);
    assert_null(ssh);
    char *want = util_printf("host key mismatch for 127.0.0.1:%d: expected %s, got %s "
                             "(refusing to connect",
                             fx.port, other_fp, fx.fingerprint);
    assert_non_null(strstr(diag_text(&c), want));
    assert_int_equal(logins_accepted(), before);
    free(want);
    call_end(&call, &c);
    restore_home(old);
    free(text);
    free(other_fp);
    free(other);
}

static void test_ssh_connect_refuses_an_unknown_user_key_with_eauth(void **state)
{
    REQUIRE_SSHD();
    infra_call call;
    captured c;
    infra_ssh *ssh = (infra_ssh *)&c;
    call_begin(&call, &c);
    infra_ssh_target t = target_for(fx.port, fx.fingerprint, fx.other_key, 5000);
    int64_t start = now_ms();
    assert_int_equal(ssh_connect(&call, &t, &ssh), INFRA_EAUTH);
    assert_true(now_ms() - start < 5000); /* a refusal is final, not retried */
    assert_null(ssh);
    char *want = util_printf("authentication failed for root@127.0.0.1:%d with public key %s",
                             fx.port, fx.other_key);
    assert_non_null(strstr(diag_text(&c), want));
    free(want);

    char *missing = util_printf("%s/no_such_key", fx.dir);
    t.private_key = missing;
    assert_int_equal(ssh_connect(&call, &t, &ssh), INFRA_EAUTH);
    assert_non_null(strstr(diag_text(&c), "cannot read private key"));
    free(missing);
    call_end(&call, &c);
}

static void test_ssh_connect_logs_in_with_the_ssh_agent(void **state)
{
    REQUIRE_SSHD();
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
    remember_child(agent);
    for (int i = 0; i < 100 && access(sock, F_OK) != 0; i++)
        usleep(50000);
    char *old_sock = getenv("SSH_AUTH_SOCK") ? util_strdup(getenv("SSH_AUTH_SOCK")) : NULL;
    setenv("SSH_AUTH_SOCK", sock, 1);
    sh("ssh-add -q %s 2>/dev/null", fx.user_key);

    infra_call call;
    captured c;
    infra_ssh *ssh = NULL;
    call_begin(&call, &c);
    infra_ssh_target t = target_for(fx.port, fx.fingerprint, NULL, 5000);
    assert_int_equal(ssh_connect(&call, &t, &ssh), 0);
    char *out = remote(ssh, "echo agent");
    assert_string_equal(out, "agent\n");
    free(out);
    ssh_close(ssh);

    /* An agent holding only a key the server does not accept. */
    sh("ssh-add -q -D 2>/dev/null && ssh-add -q %s 2>/dev/null", fx.other_key);
    assert_int_equal(ssh_connect(&call, &t, &ssh), INFRA_EAUTH);
    char *want = util_printf("authentication failed for root@127.0.0.1:%d with the ssh-agent "
                             "(1 key tried)",
                             fx.port);
    assert_non_null(strstr(diag_text(&c), want));
    free(want);

    /* No agent at all. */
    unsetenv("SSH_AUTH_SOCK");
    assert_int_equal(ssh_connect(&call, &t, &ssh), INFRA_EAUTH);
    assert_non_null(strstr(diag_text(&c), "SSH_AUTH_SOCK is not set"));
    call_end(&call, &c);

    if (old_sock)
        setenv("SSH_AUTH_SOCK", old_sock, 1);
    free(old_sock);
    stop_child(agent);
    free(sock);
}

/* ------------------------------------------------------------------ */
/* Deadlines and retries                                              */

static void test_ssh_connect_gives_up_with_etransient_at_the_deadline(void **state)
{
    infra_call call;
    captured c;
    infra_ssh *ssh = (infra_ssh *)&c;
    int port = free_port();
    call_begin(&call, &c);
    infra_ssh_target t = target_for(port, "SHA256:unused", NULL, 1500);
    int64_t start = now_ms();
    assert_int_equal(ssh_connect(&call, &t, &ssh), INFRA_ETRANSIENT);
    int64_t elapsed = now_ms() - start;
    assert_null(ssh);
    assert_true(elapsed >= 1500);
    assert_true(elapsed < 1500 + 5000);
    char *want = util_printf("ssh: 127.0.0.1:%d did not answer within 1.5 s (last error: "
                             "connect: Connection refused)\n",
                             port);
    assert_string_equal(diag_text(&c), want);
    free(want);
    call_end(&call, &c);
}

static void test_ssh_connect_times_out_on_a_server_that_never_speaks(void **state)
{
    infra_call call;
    captured c;
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
    call_begin(&call, &c);
    infra_ssh_target t = target_for(port, "SHA256:unused", NULL, 1000);
    int64_t start = now_ms();
    int rc = ssh_connect(&call, &t, &ssh);
    int64_t elapsed = now_ms() - start;
    ssh_set_timeouts(0, 0, 0);
    close(fd);
    assert_int_equal(rc, INFRA_ETRANSIENT);
    assert_null(ssh);
    assert_true(elapsed >= 1000);
    assert_true(elapsed < 1000 + 1000 + 5000);
    assert_non_null(strstr(diag_text(&c), "did not answer within 1 s"));
    assert_non_null(strstr(diag_text(&c), "no SSH handshake within 1 s"));
    call_end(&call, &c);
}

static void test_ssh_connect_retries_until_a_late_sshd_starts(void **state)
{
    REQUIRE_SSHD();
    int port = free_port();
    char *config = write_config(port, "sshd_late_config");
    infra_call call;
    captured c;
    infra_ssh *ssh = NULL;
    call_begin(&call, &c);
    int64_t start = now_ms();
    pid_t late = start_sshd(config, 1);
    infra_ssh_target t = target_for(port, fx.fingerprint, fx.user_key, 30000);
    int rc = ssh_connect(&call, &t, &ssh);
    int64_t elapsed = now_ms() - start;
    if (rc != 0)
        fail_msg("connect failed (%d): %s", rc, diag_text(&c));
    assert_true(elapsed >= 900); /* it really had to wait for sshd */
    char *out = remote(ssh, "echo late");
    assert_string_equal(out, "late\n");
    free(out);
    ssh_close(ssh);
    call_end(&call, &c);
    stop_child(late);
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
    captured c;
    infra_ssh *ssh = (infra_ssh *)&c;
    pthread_t thread;
    int port = free_port();
    cancel_flag = 0;
    call_begin(&call, &c);
    call.cancel = &cancel_flag;
    infra_ssh_target t = target_for(port, "SHA256:unused", NULL, 60000);
    assert_int_equal(pthread_create(&thread, NULL, raise_cancel, NULL), 0);
    int64_t start = now_ms();
    assert_int_equal(ssh_connect(&call, &t, &ssh), INFRA_ECANCELLED);
    assert_true(now_ms() - start < 5000);
    assert_null(ssh);
    pthread_join(thread, NULL);
    call_end(&call, &c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ssh_api_table_has_every_slot),
        cmocka_unit_test(test_ssh_connect_rejects_a_target_without_host_or_user),
        cmocka_unit_test(test_ssh_exec_returns_stdout_stderr_and_exit_status),
        cmocka_unit_test(test_ssh_exec_reads_large_interleaved_stdout_and_stderr),
        cmocka_unit_test(test_ssh_exec_reports_death_by_signal_and_closes_stdin),
        cmocka_unit_test(test_ssh_exec_times_out_instead_of_hanging),
        cmocka_unit_test(test_ssh_run_returns_stdout_of_a_successful_command),
        cmocka_unit_test(test_ssh_run_reports_exit_code_and_last_stderr_lines),
        cmocka_unit_test(test_ssh_exec_sudo_runs_unchanged_for_root),
        cmocka_unit_test(test_ssh_sudo_command_wraps_and_quotes_for_other_users),
        cmocka_unit_test(test_ssh_upload_writes_file_with_mode_and_replaces_it_atomically),
        cmocka_unit_test(test_ssh_upload_sends_large_binary_data_intact),
        cmocka_unit_test(test_ssh_upload_into_missing_directory_fails_with_enotfound),
        cmocka_unit_test(test_ssh_run_slot_runs_as_root_and_hands_back_any_exit_status),
        cmocka_unit_test(test_ssh_run_slot_stops_at_the_calls_deadline_and_says_so),
        cmocka_unit_test(test_ssh_run_slot_reports_a_broken_connection_with_the_stderr_tail),
        cmocka_unit_test(test_ssh_run_slot_quotes_the_refusal_of_sudo),
        cmocka_unit_test(test_ssh_write_file_slot_writes_and_explains_a_failure),
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
