/* Real OpenSSH servers for the SSH tests (sshd_fixture.h). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
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

#include "sshd_fixture.h"

#define NCHILDREN (sizeof(((sshd_fixture *)0)->children) / sizeof(pid_t))

int64_t sshd_fixture_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ */
/* Shell and files                                                    */

static char *output_of(char *cmd)
{
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
    char *out = util_buf_take(&b);
    return out ? out : util_strdup("");
}

char *sshd_fixture_sh_output(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *cmd = util_vprintf(fmt, ap);
    va_end(ap);
    return output_of(cmd);
}

char *sshd_fixture_sh_line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *cmd = util_vprintf(fmt, ap);
    va_end(ap);
    char *out = output_of(cmd);
    out[strcspn(out, "\n")] = '\0';
    return out;
}

void sshd_fixture_sh(const char *fmt, ...)
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

int sshd_fixture_run(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *cmd = util_vprintf(fmt, ap);
    va_end(ap);
    int status = system(cmd);
    free(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

char *sshd_fixture_read_file(const char *path)
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
    char *text = util_buf_take(&b);
    return text ? text : util_strdup("");
}

void sshd_fixture_write_file(const char *path, const char *text)
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

void sshd_fixture_remove_tree(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------------ */
/* Ports                                                              */

int sshd_fixture_free_port(void)
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

int sshd_fixture_port_accepts(int port)
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

/* ------------------------------------------------------------------ */
/* Keys and configuration                                             */

char *sshd_fixture_keygen(const sshd_fixture *fx, const char *name, const char *type)
{
    char *path = util_printf("%s/%s", fx->dir, name);
    if (strcmp(type, "ecdsa") == 0)
        sshd_fixture_sh("ssh-keygen -q -t ecdsa -b 256 -N '' -C infra-test -f '%s'", path);
    else
        sshd_fixture_sh("ssh-keygen -q -t %s -N '' -C infra-test -f '%s'", type, path);
    return path;
}

char *sshd_fixture_fingerprint(const char *key)
{
    char *line = sshd_fixture_sh_output("ssh-keygen -lf '%s.pub' -E sha256", key);
    char *start = strchr(line, ' ');
    assert_non_null(start);
    start++;
    char *fp = util_strndup(start, strcspn(start, " "));
    free(line);
    assert_true(strncmp(fp, "SHA256:", 7) == 0);
    return fp;
}

void sshd_fixture_init(sshd_fixture *fx, const char *name, int flags)
{
    memset(fx, 0, sizeof(*fx));
    char *tmpl = util_printf("/tmp/infra-test-%s-XXXXXX", name);
    if (!mkdtemp(tmpl))
        fail_msg("mkdtemp %s failed", tmpl);
    /* The servers' users read keys and authorized_keys below it. */
    chmod(tmpl, 0755);
    fx->dir = tmpl;
    fx->log = util_printf("%s/sshd.log", fx->dir);
    mkdir("/run/sshd", 0755); /* sshd's privilege separation directory */
    /* libssh2 1.10 reads OpenSSH-format ed25519 keys and speaks ssh-ed25519. */
    fx->host_key = sshd_fixture_keygen(fx, "host_key", "ed25519");
    if (flags & SSHD_FIXTURE_ECDSA)
        fx->host_ecdsa = sshd_fixture_keygen(fx, "host_ecdsa", "ecdsa");
    fx->user_key = sshd_fixture_keygen(fx, "user_key", "ed25519");
    fx->other_key = sshd_fixture_keygen(fx, "other_key", "ed25519");
    sshd_fixture_sh("cp '%s.pub' '%s/authorized_keys'", fx->user_key, fx->dir);
    fx->fingerprint = sshd_fixture_fingerprint(fx->host_key);
}

char *sshd_fixture_config(const sshd_fixture *fx, const char *name, const sshd_fixture_conf *conf)
{
    util_buf text = {0};
    if (conf->listen)
        util_buf_printf(&text, "ListenAddress %s\n", conf->listen);
    util_buf_printf(&text, "Port %d\n", conf->port);
    for (size_t i = 0; i < 3 && conf->host_keys[i]; i++)
        util_buf_printf(&text, "HostKey %s\n", conf->host_keys[i]);
    util_buf_printf(&text,
                    "AuthorizedKeysFile %s/authorized_keys\n"
                    "PidFile %s/%s.pid\n"
                    "StrictModes no\n"
                    "UsePAM no\n"
                    "PermitRootLogin prohibit-password\n"
                    "PasswordAuthentication no\n"
                    "KbdInteractiveAuthentication no\n"
                    "AllowTcpForwarding %s\n"
                    "Subsystem sftp internal-sftp\n",
                    fx->dir, fx->dir, name, conf->no_forwarding ? "no" : "yes");
    if (conf->path_dir)
        util_buf_printf(&text,
                        "SetEnv PATH=%s/%s:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                        "/sbin:/bin\n",
                        fx->dir, conf->path_dir);
    char *path = util_printf("%s/%s", fx->dir, name);
    sshd_fixture_write_file(path, text.data);
    util_buf_free(&text);
    return path;
}

/* ------------------------------------------------------------------ */
/* Servers                                                            */

pid_t sshd_fixture_remember(sshd_fixture *fx, pid_t pid)
{
    for (size_t i = 0; i < NCHILDREN; i++) {
        if (fx->children[i] == 0) {
            fx->children[i] = pid;
            return pid;
        }
    }
    fail_msg("too many child processes");
    return pid;
}

pid_t sshd_fixture_spawn(sshd_fixture *fx, const char *netns, const char *config, int delay_s)
{
    char *script = util_printf("mkdir -p '%s/home' && mount --bind '%s/home' /root && sleep %d && "
                               "exec %s -D -e -f '%s' 2>>'%s'",
                               fx->dir, fx->dir, delay_s, SSHD_FIXTURE_SSHD, config, fx->log);
    char *unshare[] = {"unshare", "--mount", "--propagation", "private",
                       "/bin/sh", "-c",      script,          NULL};
    char *in_netns[] = {"ip",      "netns",   "exec",          (char *)netns,
                        "unshare", "--mount", "--propagation", "private",
                        "/bin/sh", "-c",      script,          NULL};
    char **argv = netns ? in_netns : unshare;
    pid_t pid = 0;
    assert_int_equal(posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ), 0);
    free(script);
    return sshd_fixture_remember(fx, pid);
}

int sshd_fixture_wait(const sshd_fixture *fx, const char *config)
{
    char *pidfile = util_printf("%s.pid", config);
    struct stat st;
    int ok = 0;
    for (int i = 0; i < 300 && !ok; i++) {
        ok = stat(pidfile, &st) == 0 && st.st_size > 0;
        if (!ok)
            usleep(50000);
    }
    free(pidfile);
    if (!ok) {
        char *log = sshd_fixture_read_file(fx->log);
        fprintf(stderr, "sshd on %s did not come up:\n%s", config, log);
        free(log);
    }
    return ok ? 0 : -1;
}

int sshd_fixture_start(sshd_fixture *fx, const char *path_dir)
{
    fx->port = sshd_fixture_free_port();
    sshd_fixture_conf conf = {.listen = "127.0.0.1",
                              .port = fx->port,
                              .host_keys = {fx->host_key, fx->host_ecdsa},
                              .path_dir = path_dir};
    char *config = sshd_fixture_config(fx, "sshd_config", &conf);
    sshd_fixture_sh("%s -t -f '%s'", SSHD_FIXTURE_SSHD, config);
    sshd_fixture_spawn(fx, NULL, config, 0);
    int error = sshd_fixture_wait(fx, config);
    free(config);
    if (error == 0 && !sshd_fixture_port_accepts(fx->port))
        error = -1;
    return error;
}

void sshd_fixture_stop(sshd_fixture *fx, pid_t pid)
{
    if (pid <= 0)
        return;
    for (size_t i = 0; i < NCHILDREN; i++)
        if (fx->children[i] == pid)
            fx->children[i] = 0;
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

void sshd_fixture_free(sshd_fixture *fx)
{
    for (size_t i = 0; i < NCHILDREN; i++)
        sshd_fixture_stop(fx, fx->children[i]);
    if (fx->dir)
        sshd_fixture_remove_tree(fx->dir);
    free(fx->dir);
    free(fx->user_key);
    free(fx->other_key);
    free(fx->host_key);
    free(fx->host_ecdsa);
    free(fx->fingerprint);
    free(fx->log);
    memset(fx, 0, sizeof(*fx));
}

/* ------------------------------------------------------------------ */
/* Sessions and diagnostics                                           */

static void collect(void *ud, infra_call *call, int severity, const char *attr, const char *message)
{
    sshd_fixture_diags *d = ud;
    assert_int_equal(severity, INFRA_DIAG_ERROR);
    util_buf_printf(&d->text, "%s\n", message);
    d->count++;
}

void sshd_fixture_call_begin(infra_call *call, sshd_fixture_diags *d)
{
    memset(d, 0, sizeof(*d));
    host_call_init(call, "test", "ssh");
    call->diag = collect;
    call->diag_ud = d;
}

void sshd_fixture_call_end(infra_call *call, sshd_fixture_diags *d)
{
    host_call_clear(call);
    util_buf_free(&d->text);
}

const char *sshd_fixture_diag_text(const sshd_fixture_diags *d)
{
    return d->text.data ? d->text.data : "";
}

infra_ssh_target sshd_fixture_target(const char *host, int port, const char *pin, const char *key,
                                     long deadline_ms)
{
    infra_ssh_target t = {.size = sizeof(infra_ssh_target),
                          .host = host,
                          .port = port,
                          .user = "root",
                          .private_key = key,
                          .host_key_sha256 = pin,
                          .deadline_ms = deadline_ms};
    return t;
}

infra_ssh *sshd_fixture_session(const sshd_fixture *fx)
{
    infra_call call;
    sshd_fixture_diags d;
    infra_ssh *ssh = NULL;
    sshd_fixture_call_begin(&call, &d);
    infra_ssh_target t =
        sshd_fixture_target("127.0.0.1", fx->port, fx->fingerprint, fx->user_key, 10000);
    int rc = ssh_connect(&call, &t, &ssh);
    if (rc != 0)
        fail_msg("connect failed (%d): %s", rc, sshd_fixture_diag_text(&d));
    sshd_fixture_call_end(&call, &d);
    return ssh;
}

char *sshd_fixture_remote(infra_ssh *ssh, const char *command)
{
    int status = -1;
    char *out = NULL, *err = NULL;
    assert_int_equal(ssh_exec(ssh, command, &status, &out, &err), 0);
    if (status != 0)
        fail_msg("remote command exited %d: %s: %s", status, command, err);
    free(err);
    return out;
}
