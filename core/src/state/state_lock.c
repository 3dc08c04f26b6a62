/* The state lock: DIR/NAME.ENV.lock held with flock(2).
 *
 * flock is released by the kernel when its holder dies, even by kill -9, so
 * a stale lock never blocks anyone: the file only tells who holds it (or
 * last held it), for the refusal message and for the warning when a lock
 * left by a dead process is taken over. The file is never removed by its
 * holder, because a process waiting on the old inode would then lock a file
 * nobody else can see; state_unlock removes it, and acquirers check that
 * the file they locked is still the one at the path. */
#define _GNU_SOURCE
#include "state/state.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "infra/plugin.h"
#include "services/log.h"
#include "base/file.h"
#include "base/util.h"

struct state_lock {
    int fd;
    char *path;
};

/* What a lock file says about its holder. */
typedef struct lock_holder {
    int present; /* the file held parseable details */
    char *owner;
    long long pid;
    char *host;
    char *time;
} lock_holder;

static void holder_free(lock_holder *h)
{
    free(h->owner);
    free(h->host);
    free(h->time);
    memset(h, 0, sizeof(*h));
}

static char *field(json_t *doc, const char *key)
{
    const char *s = json_string_value(json_object_get(doc, key));
    return util_strdup(s && *s ? s : "unknown");
}

static void holder_read(int fd, lock_holder *h)
{
    char buf[8192];
    ssize_t n;

    memset(h, 0, sizeof(*h));
    do {
        n = pread(fd, buf, sizeof(buf), 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0)
        return;
    json_t *doc = json_loadb(buf, (size_t)n, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return;
    }
    h->present = 1;
    h->owner = field(doc, "owner");
    h->host = field(doc, "host");
    h->time = field(doc, "time");
    h->pid = (long long)json_integer_value(json_object_get(doc, "pid"));
    json_decref(doc);
}

/* The holder's details; a holder that has taken the lock may not have
 * written them yet, so give it a moment before settling for less. */
static void holder_read_settled(int fd, lock_holder *h)
{
    for (int i = 0; i < 50; i++) {
        holder_read(fd, h);
        if (h->present)
            return;
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
}

static char *holder_describe(const lock_holder *h)
{
    if (!h->present)
        return util_strdup("another process (its details are not readable)");
    return util_printf("%s (pid %lld on %s) since %s", h->owner, h->pid, h->host, h->time);
}

static char *host_name(void)
{
    char buf[256];
    if (gethostname(buf, sizeof(buf)) < 0)
        return util_strdup("unknown");
    buf[sizeof(buf) - 1] = '\0';
    return util_strdup(buf);
}

/* 1 when the holder ran on this host and its pid no longer exists. */
static int holder_is_dead_here(const lock_holder *h)
{
    char *host = host_name();
    int here = strcmp(host, h->host) == 0;
    free(host);
    return here && h->pid > 0 && kill((pid_t)h->pid, 0) < 0 && errno == ESRCH;
}

/* A copy that is printable ASCII and at most max bytes, so the details
 * always make valid JSON and fit what holder_read reads. */
static char *printable(const char *s, size_t max)
{
    size_t n = strlen(s);
    char *out = util_strndup(s, n > max ? max : n);
    for (char *c = out; *c; c++) {
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
            *c = '?';
    }
    return out;
}

static char *time_now_iso(void)
{
    char buf[32];
    struct tm tm;
    time_t now = time(NULL);
    gmtime_r(&now, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return util_strdup(buf);
}

static int fail_errno(char **err, const char *what, const char *path)
{
    int saved = errno;
    if (err)
        *err = util_printf("%s %s: %s", what, path, strerror(saved));
    return INFRA_EINTERNAL;
}

/* Records who holds the lock now. */
static int write_holder(int fd, const char *path, const char *owner, char **err)
{
    int error = 0;
    char *raw_host = host_name(), *raw_command = state_holder_command();
    char *who = printable(owner, 256), *host = printable(raw_host, 256);
    char *command = printable(raw_command, 2048), *when = time_now_iso();
    json_t *doc = json_pack("{s:s, s:I, s:s, s:s, s:s}", "owner", who, "pid", (json_int_t)getpid(),
                            "host", host, "time", when, "command", command);
    char *text = json_dumps(doc, JSON_COMPACT);
    size_t len = text ? strlen(text) : 0, done = 0;

    if (!text) {
        errno = ENOMEM;
        error = fail_errno(err, "cannot record the lock holder in", path);
        goto done;
    }
    if (ftruncate(fd, 0) < 0) {
        error = fail_errno(err, "cannot write lock file", path);
        goto done;
    }
    while (done < len) {
        ssize_t n = pwrite(fd, text + done, len - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            error = fail_errno(err, "cannot write lock file", path);
            goto done;
        }
        done += (size_t)n;
    }
done:
    free(text);
    json_decref(doc);
    free(raw_host);
    free(raw_command);
    free(who);
    free(host);
    free(when);
    free(command);
    return error;
}

static void warn_takeover(const char *path, const lock_holder *h)
{
    char *who = holder_describe(h);
    if (holder_is_dead_here(h))
        log_msg(LOG_WARN, "taking over the state lock %s left by %s, which is no longer running",
                path, who);
    else
        log_msg(LOG_WARN, "taking over the state lock %s left by %s, which no longer holds it",
                path, who);
    free(who);
}

static char *default_owner(void)
{
    const char *user = getenv("USER");
    if (!user || !*user)
        user = getenv("LOGNAME");
    char *host = host_name();
    char *owner = util_printf("%s@%s", user && *user ? user : "unknown", host);
    free(host);
    return owner;
}

int state_lock_acquire(const char *dir, const char *name, const char *env, const char *owner,
                       state_lock **out, char **err)
{
    int error = 0, fd = -1;
    char *path = NULL, *who = NULL, *owner_default = NULL;
    lock_holder previous = {0};
    struct stat held, named;

    *out = NULL;
    if (!env)
        env = "default";
    if ((error = state_file_name(dir, name, env, ".lock", &path, err)) < 0 ||
        (error = util_dir_check_private(dir, "state directory", err)) < 0 ||
        (error = state_dir_create(dir, err)) < 0)
        goto done;

    for (int attempt = 0;; attempt++) {
        /* Never through a link planted in the directory: the file is
         * truncated below, as root. */
        char *why = NULL;
        fd = util_open_private(path, O_RDWR | O_CREAT, 0600, "lock file", &why);
        if (fd < 0) {
            if (err)
                *err = why;
            else
                free(why);
            error = INFRA_EINTERNAL;
            goto done;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            if (errno == EINTR) {
                close(fd);
                continue;
            }
            if (errno != EWOULDBLOCK) {
                error = fail_errno(err, "cannot lock", path);
                goto done;
            }
            lock_holder holder;
            holder_read_settled(fd, &holder);
            who = holder_describe(&holder);
            holder_free(&holder);
            if (err)
                *err = util_printf("state is locked by %s: another infra run is in progress on "
                                   "this environment; wait for it, or if that process is gone "
                                   "run: infra unlock %s -e %s",
                                   who, name, env);
            error = INFRA_ECONFLICT;
            goto done;
        }
        /* state_unlock may have removed the file between open and flock. */
        if (fstat(fd, &held) == 0 && lstat(path, &named) == 0 && held.st_dev == named.st_dev &&
            held.st_ino == named.st_ino)
            break;
        close(fd);
        fd = -1;
        if (attempt >= 100) {
            errno = EAGAIN;
            error = fail_errno(err, "cannot lock (the file keeps being replaced)", path);
            goto done;
        }
    }

    holder_read(fd, &previous);
    if (previous.present)
        warn_takeover(path, &previous);
    if (!owner || !*owner)
        owner = owner_default = default_owner();
    if ((error = write_holder(fd, path, owner, err)) < 0)
        goto done;

    state_lock *lock = util_calloc(1, sizeof(*lock));
    lock->fd = fd;
    lock->path = path;
    *out = lock;
    fd = -1;
    path = NULL;
done:
    if (fd >= 0)
        close(fd); /* releases the flock when taken */
    holder_free(&previous);
    free(owner_default);
    free(who);
    free(path);
    return error;
}

void state_lock_release(state_lock *lock)
{
    if (!lock)
        return;
    /* Empty before unlocking, so nobody reads our details as a leftover. */
    if (ftruncate(lock->fd, 0) < 0)
        log_msg(LOG_WARN, "cannot clear lock file %s: %s", lock->path, strerror(errno));
    flock(lock->fd, LOCK_UN);
    close(lock->fd);
    free(lock->path);
    free(lock);
}

int state_unlock(const char *dir, const char *name, const char *env, int force, char **err)
{
    int error = 0, fd = -1;
    char *path = NULL, *who = NULL;
    lock_holder holder = {0};

    if (!env)
        env = "default";
    if ((error = state_file_name(dir, name, env, ".lock", &path, err)) < 0 ||
        (error = util_dir_check_private(dir, "state directory", err)) < 0)
        goto done;
    char *why = NULL;
    fd = util_open_private(path, O_RDWR, 0, "lock file", &why);
    if (fd < 0) {
        if (errno != ENOENT) {
            if (err)
                *err = why;
            else
                free(why);
            error = INFRA_EINTERNAL;
            goto done;
        }
        free(why);
        log_msg(LOG_INFO, "%s environment %s is not locked (no %s)", name, env, path);
        goto done;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
        holder_read(fd, &holder);
        who = holder_describe(&holder);
        if (unlink(path) < 0 && errno != ENOENT) {
            error = fail_errno(err, "cannot remove lock file", path);
            goto done;
        }
        if (holder.present)
            log_msg(LOG_INFO, "removed lock %s left by %s, which no longer holds it", path, who);
        else
            log_msg(LOG_INFO, "removed lock %s, which nobody held", path);
        goto done;
    }
    if (errno != EWOULDBLOCK) {
        error = fail_errno(err, "cannot lock", path);
        goto done;
    }
    holder_read_settled(fd, &holder);
    who = holder_describe(&holder);
    if (!force) {
        if (err)
            *err = util_printf("state is locked by %s and that process still holds the lock: "
                               "wait for it or stop it (unlock --force removes the lock anyway, "
                               "which lets two runs change this environment at once)",
                               who);
        error = INFRA_ECONFLICT;
        goto done;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        error = fail_errno(err, "cannot remove lock file", path);
        goto done;
    }
    log_msg(LOG_WARN, "removed lock %s held by %s, which is still running (--force)", path, who);
done:
    if (fd >= 0)
        close(fd);
    holder_free(&holder);
    free(who);
    free(path);
    return error;
}
