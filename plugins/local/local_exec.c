/* Running the tools the local provider drives (ip, sshd, ssh-keygen, nft,
 * haproxy): fork + execve with an argument vector, never a shell over
 * interpolated text, a minimal environment (no secret of infra's reaches a
 * host), no inherited descriptors (a daemon must not keep infra's state
 * lock), namespaces entered with setns() in the child. Also the process
 * and port checks built on /proc and sockets. */
#define _GNU_SOURCE
#include "local.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

/* What a child reports through its close-on-exec pipe when it fails. */
enum child_stage { STAGE_OPEN_NS = 1, STAGE_SETNS, STAGE_FORK, STAGE_LOG, STAGE_EXEC };

static char *const child_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "USER=root",
    "LOGNAME=root",
    "LANG=C",
    NULL,
};

static const struct {
    const char *name;
    const char *package;
} tool_info[LOCAL_TOOL_COUNT] = {
    [LOCAL_TOOL_IP] = {"ip", "iproute2"},
    [LOCAL_TOOL_SSHD] = {"sshd", "openssh-server"},
    [LOCAL_TOOL_SSH_KEYGEN] = {"ssh-keygen", "openssh-client"},
    [LOCAL_TOOL_NFT] = {"nft", "nftables"},
    [LOCAL_TOOL_HAPROXY] = {"haproxy", "haproxy"},
    [LOCAL_TOOL_SH] = {"sh", "dash"},
};

static char *find_in_dirs(const char *name)
{
    static const char fallback[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    const char *env = getenv("PATH");
    char *dirs = pu_printf("%s:%s", env ? env : "", fallback);
    char *found = NULL;
    char *save = NULL;

    for (char *d = strtok_r(dirs, ":", &save); d != NULL && found == NULL;
         d = strtok_r(NULL, ":", &save)) {
        if (d[0] != '/')
            continue; /* a relative PATH entry would depend on the cwd */
        char *path = pu_printf("%s/%s", d, name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0)
            found = path;
        else
            free(path);
    }
    free(dirs);
    return found;
}

int local_tool_path(infra_provider *p, infra_call *call, local_tool tool, const char **path)
{
    int error = 0;
    pthread_mutex_lock(&p->tool_lock);
    if (p->tools[tool] == NULL)
        p->tools[tool] = find_in_dirs(tool_info[tool].name);
    if (p->tools[tool] == NULL) {
        pu_diagf(call, "",
                 "%s is not installed (looked in PATH, /usr/sbin, /sbin): install the Debian "
                 "package %s",
                 tool_info[tool].name, tool_info[tool].package);
        error = INFRA_ENOTSUP;
    } else {
        *path = p->tools[tool];
    }
    pthread_mutex_unlock(&p->tool_lock);
    return error;
}

void local_child_reset_signals(void)
{
    sigset_t all;
    struct sigaction dfl;

    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL); /* fails harmlessly for reserved signals */
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
}

static void close_range_compat(unsigned lo, unsigned hi)
{
    if (lo > hi)
        return;
    if (close_range(lo, hi, 0) == 0)
        return;
    struct rlimit rl;
    unsigned max = 65536;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < max)
        max = (unsigned)rl.rlim_cur;
    for (unsigned fd = lo; fd <= hi && fd < max; fd++)
        close((int)fd);
}

void local_child_close_fds(int keep_a, int keep_b)
{
    int lo = keep_a < keep_b ? keep_a : keep_b;
    int hi = keep_a < keep_b ? keep_b : keep_a;
    unsigned next = 3;

    if (lo >= 3) {
        close_range_compat(next, (unsigned)lo - 1);
        next = (unsigned)lo + 1;
    }
    if (hi >= 3 && hi != lo) {
        close_range_compat(next, (unsigned)hi - 1);
        next = (unsigned)hi + 1;
    }
    close_range_compat(next, ~0u);
}

static void child_fail(int report_fd, int stage)
{
    int msg[2] = {stage, errno};
    if (write(report_fd, msg, sizeof(msg)) < 0) {
        /* nothing left to tell it with */
    }
    _exit(127);
}

typedef struct spawn_spec {
    pid_t parent; /* the forking process, to notice its death */
    char *const *argv;
    const local_ns *ns;
    int out_fd;           /* capture pipe for stdout, or -1 */
    int err_fd;           /* capture pipe for stderr, or -1 */
    const char *log_path; /* stdout+stderr appended here, opened inside the ns */
    int detach;           /* fork again and start a new session */
    int report_fd;        /* close-on-exec pipe for failures */
} spawn_spec;

/* Runs in the child: only async-signal-safe calls until execve. */
static void child_exec(const spawn_spec *s)
{
    int nsfd[3] = {-1, -1, -1};
    const char *paths[3] = {s->ns ? s->ns->net : NULL, s->ns ? s->ns->uts : NULL,
                            s->ns ? s->ns->mnt : NULL};
    static const int types[3] = {CLONE_NEWNET, CLONE_NEWUTS, CLONE_NEWNS};

    local_child_reset_signals();
    /* A tool must not outlive a killed infra: a retry would race with it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != s->parent)
        _exit(127);
    for (int i = 0; i < 3; i++)
        if (paths[i] != NULL && (nsfd[i] = open(paths[i], O_RDONLY | O_CLOEXEC)) < 0)
            child_fail(s->report_fd, STAGE_OPEN_NS);
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    /* The mount namespace last: the other files are paths of this one. */
    for (int i = 0; i < 3; i++)
        if (nsfd[i] >= 0 && setns(nsfd[i], types[i]) < 0)
            child_fail(s->report_fd, STAGE_SETNS);
    if (s->detach) {
        pid_t pid = fork();
        if (pid < 0)
            child_fail(s->report_fd, STAGE_FORK);
        if (pid > 0)
            _exit(0);
        setsid();
    }
    int log_fd = -1;
    if (s->log_path != NULL &&
        (log_fd = open(s->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) < 0)
        child_fail(s->report_fd, STAGE_LOG);
    int out = s->out_fd >= 0 ? s->out_fd : log_fd >= 0 ? log_fd : devnull;
    int err = s->err_fd >= 0 ? s->err_fd : log_fd >= 0 ? log_fd : devnull;
    if (devnull >= 0)
        dup2(devnull, 0);
    if (out >= 0)
        dup2(out, 1);
    if (err >= 0)
        dup2(err, 2);
    if (chdir("/") < 0) {
        /* the root always exists */
    }
    local_child_close_fds(s->report_fd, -1);
    execve(s->argv[0], s->argv, child_env);
    child_fail(s->report_fd, STAGE_EXEC);
}

static char *command_text(char *const *argv)
{
    pu_buf b = {0};
    for (size_t i = 0; argv[i] != NULL; i++) {
        const char *a = i == 0 && strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[i];
        if (i > 0)
            pu_buf_put(&b, " ", 1);
        pu_buf_put(&b, a, strlen(a));
    }
    return b.data ? b.data : pu_strdup("");
}

static const char *stage_text(int stage)
{
    switch (stage) {
    case STAGE_OPEN_NS:
        return "cannot open a namespace file";
    case STAGE_SETNS:
        return "cannot enter the namespaces";
    case STAGE_FORK:
        return "cannot fork";
    case STAGE_LOG:
        return "cannot open the log file";
    default:
        return "cannot execute";
    }
}

/* Reads the capture pipes until both close or the deadline passes. */
static int drain(int out_fd, int err_fd, pu_buf *out, pu_buf *err, int64_t deadline)
{
    struct pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
    pu_buf *bufs[2] = {out, err};
    char chunk[4096];

    while (fds[0].fd >= 0 || fds[1].fd >= 0) {
        int64_t left = deadline - pu_host->now_ms();
        if (left <= 0)
            return -1;
        int n = poll(fds, 2, left > 1000 ? 1000 : (int)left);
        if (n < 0 && errno != EINTR)
            return -1;
        for (int i = 0; i < 2 && n > 0; i++) {
            if (fds[i].fd < 0 || fds[i].revents == 0)
                continue;
            ssize_t r = read(fds[i].fd, chunk, sizeof(chunk));
            if (r > 0) {
                if (bufs[i]->len < 1 << 20) /* keep at most 1 MiB */
                    pu_buf_put(bufs[i], chunk, (size_t)r);
            } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
                close(fds[i].fd);
                fds[i].fd = -1;
            }
        }
    }
    return 0;
}

static int wait_child(pid_t pid, int64_t deadline, int *status)
{
    int st = 0;
    struct timespec nap = {0, 2000000};

    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            return -1;
        if (pu_host->now_ms() > deadline) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
            }
            return -1;
        }
        nanosleep(&nap, NULL);
        if (nap.tv_nsec < 50000000)
            nap.tv_nsec *= 2;
    }
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 255;
    return 0;
}

/* Forks, runs s in the child and waits for it. */
static int spawn(infra_call *call, spawn_spec *s, int capture, int timeout_ms, int *status,
                 char **out, char **err)
{
    int error = 0;
    int report[2] = {-1, -1}, po[2] = {-1, -1}, pe[2] = {-1, -1};
    pu_buf ob = {0}, eb = {0};
    int64_t deadline = pu_host->now_ms() + (timeout_ms > 0 ? timeout_ms : 120000);
    char *cmd = command_text(s->argv);

    if (pipe2(report, O_CLOEXEC) < 0 ||
        (capture && (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0))) {
        pu_diagf(call, "", "%s: cannot create a pipe: %s", cmd, strerror(errno));
        error = INFRA_EINTERNAL;
        goto done;
    }
    s->report_fd = report[1];
    s->parent = getpid();
    s->out_fd = po[1];
    s->err_fd = pe[1];
    pid_t pid = fork();
    if (pid < 0) {
        pu_diagf(call, "", "%s: cannot fork: %s", cmd, strerror(errno));
        error = INFRA_EINTERNAL;
        goto done;
    }
    if (pid == 0)
        child_exec(s);
    close(report[1]);
    report[1] = -1;
    if (capture) {
        close(po[1]);
        close(pe[1]);
        po[1] = pe[1] = -1;
        int drained = drain(po[0], pe[0], &ob, &eb, deadline);
        po[0] = pe[0] = -1; /* drain closed them */
        if (drained < 0)
            deadline = 0; /* kill it below */
    }
    int st = 0;
    if (wait_child(pid, deadline, &st) < 0) {
        pu_diagf(call, "", "%s: did not finish within %d s and was killed", cmd,
                 (timeout_ms > 0 ? timeout_ms : 120000) / 1000);
        error = INFRA_EINTERNAL;
        goto done;
    }
    int msg[2] = {0, 0};
    ssize_t r;
    while ((r = read(report[0], msg, sizeof(msg))) < 0 && errno == EINTR) {
    }
    if (r == (ssize_t)sizeof(msg)) {
        pu_diagf(call, "", "%s: %s: %s", cmd, stage_text(msg[0]), strerror(msg[1]));
        error = INFRA_EINTERNAL;
        goto done;
    }
    *status = st;
    if (out != NULL) {
        *out = ob.data ? ob.data : pu_strdup("");
        ob.data = NULL;
    }
    if (err != NULL) {
        *err = eb.data ? eb.data : pu_strdup("");
        eb.data = NULL;
    }
done:
    for (int i = 0; i < 2; i++) {
        if (report[i] >= 0)
            close(report[i]);
        if (po[i] >= 0)
            close(po[i]);
        if (pe[i] >= 0)
            close(pe[i]);
    }
    free(ob.data);
    free(eb.data);
    free(cmd);
    return error;
}

int local_exec(infra_call *call, char *const *argv, const local_ns *ns, int timeout_ms, int *status,
               char **out, char **err)
{
    spawn_spec s = {0, argv, ns, -1, -1, NULL, 0, -1};
    return spawn(call, &s, 1, timeout_ms, status, out, err);
}

/* The last non-empty line of text, without its newline (borrowed copy). */
static char *last_lines(const char *text, int lines)
{
    size_t len = strlen(text);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
        len--;
    size_t start = len;
    while (start > 0 && lines > 0) {
        start--;
        if (text[start] == '\n' && --lines == 0) {
            start++;
            break;
        }
    }
    char *s = pu_malloc(len - start + 1);
    memcpy(s, text + start, len - start);
    s[len - start] = '\0';
    for (char *c = s; *c; c++)
        if (*c == '\n')
            *c = ' ';
    return s;
}

int local_run(infra_call *call, const char *attr, char *const *argv, const local_ns *ns, char **out)
{
    int status = 0;
    char *o = NULL, *e = NULL;
    int error = local_exec(call, argv, ns, 0, &status, &o, &e);
    if (error < 0)
        return error;
    if (status != 0) {
        char *cmd = command_text(argv);
        char *why = last_lines(*e ? e : o, 3);
        pu_diagf(call, attr, "%s: %s", cmd, *why ? why : "failed");
        if (*why == '\0' || status > 128)
            pu_diagf(call, attr, "%s: exit status %d", cmd, status);
        free(why);
        free(cmd);
        error = INFRA_EINTERNAL;
    }
    if (out != NULL && error == 0) {
        *out = o;
        o = NULL;
    }
    free(o);
    free(e);
    return error;
}

int local_run_quiet(infra_call *call, char *const *argv, const local_ns *ns)
{
    int status = 0;
    int error = local_exec(call, argv, ns, 0, &status, NULL, NULL);
    return error < 0 ? error : status != 0 ? INFRA_EINTERNAL : 0;
}

int local_start_daemon(infra_call *call, const char *attr, char *const *argv, const local_ns *ns,
                       const char *log_path)
{
    int status = 0;
    spawn_spec s = {0, argv, ns, -1, -1, log_path, 0, -1};
    int error = spawn(call, &s, 0, 60000, &status, NULL, NULL);
    if (error < 0 || status == 0)
        return error;
    char *cmd = command_text(argv);
    pu_diagf(call, attr, "%s: exit status %d (its messages are in %s inside the host)", cmd, status,
             log_path);
    free(cmd);
    return INFRA_EINTERNAL;
}

int local_start_detached(infra_call *call, char *const *argv, const local_ns *ns,
                         const char *log_path)
{
    int status = 0;
    spawn_spec s = {0, argv, ns, -1, -1, log_path, 1, -1};
    int error = spawn(call, &s, 0, 60000, &status, NULL, NULL);
    if (error == 0 && status != 0) {
        pu_diagf(call, "", "cannot start %s in the background", argv[0]);
        error = INFRA_EINTERNAL;
    }
    return error;
}

uint64_t local_ns_inode(const char *path)
{
    struct statfs sfs;
    struct stat st;
    if (statfs(path, &sfs) < 0 || (unsigned long)sfs.f_type != (unsigned long)NSFS_MAGIC)
        return 0;
    if (stat(path, &st) < 0)
        return 0;
    return (uint64_t)st.st_ino;
}

/* The inode of /proc/PID/ns/KIND, 0 when unreadable (gone, zombie). */
static uint64_t proc_ns_inode(const char *pid, const char *kind)
{
    char link[64];
    char *path = pu_printf("/proc/%s/ns/%s", pid, kind);
    ssize_t n = readlink(path, link, sizeof(link) - 1);
    free(path);
    if (n <= 0)
        return 0;
    link[n] = '\0';
    char *open = strchr(link, '[');
    return open ? strtoull(open + 1, NULL, 10) : 0;
}

/* One pass over /proc: kills the matching processes, returns how many. */
static int kill_pass(uint64_t net_ino, uint64_t mnt_ino)
{
    DIR *d = opendir("/proc");
    int killed = 0;
    char self[32];

    if (d == NULL)
        return 0;
    snprintf(self, sizeof(self), "%ld", (long)getpid());
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9' || strcmp(e->d_name, self) == 0)
            continue;
        if ((net_ino != 0 && proc_ns_inode(e->d_name, "net") == net_ino) ||
            (mnt_ino != 0 && proc_ns_inode(e->d_name, "mnt") == mnt_ino)) {
            if (kill((pid_t)atol(e->d_name), SIGKILL) == 0)
                killed++;
        }
    }
    closedir(d);
    return killed;
}

int local_kill_ns_processes(infra_provider *p, infra_call *call, uint64_t net_ino, uint64_t mnt_ino)
{
    (void)p;
    if (net_ino == 0 && mnt_ino == 0)
        return 0;
    for (int round = 0; round < 100; round++) {
        if (kill_pass(net_ino, mnt_ino) == 0)
            return 0;
        struct timespec nap = {0, 50000000};
        nanosleep(&nap, NULL); /* let them die before looking again */
    }
    pu_diagf(call, "", "processes keep appearing in the host's namespaces");
    return INFRA_EINTERNAL;
}

pid_t local_pidfile_alive(const char *pidfile, uint64_t net_ino)
{
    char *text = NULL;
    if (pu_read_file(pidfile, 0, &text, NULL) < 0)
        return 0;
    long pid = strtol(text, NULL, 10);
    free(text);
    if (pid <= 0 || kill((pid_t)pid, 0) < 0)
        return 0;
    char spid[32];
    snprintf(spid, sizeof(spid), "%ld", pid);
    if (net_ino != 0 && proc_ns_inode(spid, "net") != net_ino)
        return 0;
    return (pid_t)pid;
}

static int tcp_connect(const char *addr, int port, int timeout_ms)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
        return 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int ok = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        ok = 1;
    } else if (errno == EINPROGRESS) {
        struct pollfd pfd = {fd, POLLOUT, 0};
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        if (poll(&pfd, 1, timeout_ms) == 1 &&
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0)
            ok = 1;
    }
    close(fd);
    return ok;
}

int local_tcp_probe(const char *addr, int port, const char *netns_path, int timeout_ms)
{
    if (netns_path == NULL)
        return tcp_connect(addr, port, timeout_ms);
    pid_t pid = fork();
    if (pid < 0)
        return 0;
    if (pid == 0) {
        int fd = open(netns_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
            _exit(1);
        _exit(tcp_connect(addr, port, timeout_ms) ? 0 : 1);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int local_wait_port_in(infra_provider *p, infra_call *call, const char *addr, int port,
                       const char *netns, int64_t timeout_ms)
{
    int64_t deadline = pu_host->now_ms() + timeout_ms;
    for (;;) {
        if (local_tcp_probe(addr, port, netns, 1000))
            return 0;
        int error = local_check_cancel(p, call);
        if (error < 0)
            return error;
        if (pu_host->now_ms() > deadline)
            return INFRA_ETRANSIENT;
        if ((error = pu_host->sleep_ms(call, 200)) < 0)
            return error;
    }
}

int local_wait_port(infra_provider *p, infra_call *call, const char *addr, int port,
                    const char *fallback_netns, int64_t timeout_ms)
{
    int64_t deadline = pu_host->now_ms() + timeout_ms;
    for (;;) {
        if (local_tcp_probe(addr, port, NULL, 1000))
            return 0;
        if (fallback_netns != NULL && local_tcp_probe(addr, port, fallback_netns, 1000))
            return 0;
        int error = local_check_cancel(p, call);
        if (error < 0)
            return error;
        if (pu_host->now_ms() > deadline)
            return INFRA_ETRANSIENT;
        if ((error = pu_host->sleep_ms(call, 200)) < 0)
            return error;
    }
}
