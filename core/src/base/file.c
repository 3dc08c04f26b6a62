/* Files: see file.h. */
#define _GNU_SOURCE
#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "infra/plugin.h"

char *util_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return util_strdup(".");
    if (slash == path)
        return util_strdup("/");
    return util_strndup(path, (size_t)(slash - path));
}

int util_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int util_read_file(const char *path, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    util_buf b = {0};
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        util_buf_put(&b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        util_buf_free(&b);
        errno = EIO;
        return -1;
    }
    *len = b.len;
    *out = b.data ? util_buf_take(&b) : util_strdup("");
    return 0;
}

/* What kind of file st is, for an error. */
static const char *file_kind(const struct stat *st)
{
    if (S_ISDIR(st->st_mode))
        return "a directory";
    if (S_ISFIFO(st->st_mode))
        return "a FIFO";
    if (S_ISCHR(st->st_mode))
        return "a character device";
    if (S_ISBLK(st->st_mode))
        return "a block device";
    if (S_ISSOCK(st->st_mode))
        return "a socket";
    if (S_ISLNK(st->st_mode))
        return "a symbolic link";
    return "not a regular file";
}

int util_open_private(const char *path, int flags, mode_t mode, const char *what, char **err)
{
    return util_open_private_links(path, flags, mode, 1, what, err);
}

int util_open_private_links(const char *path, int flags, mode_t mode, unsigned max_links,
                            const char *what, char **err)
{
    struct stat st;
    int fd = open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode);
    if (fd < 0) {
        int saved = errno;
        if (saved == ELOOP)
            *err = util_printf("cannot open %s %s: it is a symbolic link, which infra never "
                               "follows in a state directory; remove it",
                               what, path);
        else
            *err = util_printf("cannot open %s %s: %s", what, path, strerror(saved));
        errno = saved;
        return -1;
    }
    /* fstat on the descriptor: the file checked is the file used. */
    if (fstat(fd, &st) < 0) {
        int saved = errno;
        *err = util_printf("cannot open %s %s: %s", what, path, strerror(saved));
        close(fd);
        errno = saved;
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        *err = util_printf("cannot open %s %s: it is %s, not a regular file; remove it", what, path,
                           file_kind(&st));
        close(fd);
        errno = EINVAL;
        return -1;
    }
    if (st.st_nlink > max_links) {
        *err = util_printf("cannot open %s %s: it has %lu hard links, so it is also another "
                           "file; remove it",
                           what, path, (unsigned long)st.st_nlink);
        close(fd);
        errno = EMLINK;
        return -1;
    }
    if (st.st_uid != geteuid()) {
        *err = util_printf("cannot open %s %s: it belongs to uid %u, not to the user running "
                           "infra (uid %u); remove it or run chown %u %s",
                           what, path, (unsigned)st.st_uid, (unsigned)geteuid(),
                           (unsigned)geteuid(), path);
        close(fd);
        errno = EPERM;
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

int util_dir_check_private(const char *dir, const char *what, char **err)
{
    struct stat st;
    if (stat(dir, &st) < 0)
        return 0;
    if (st.st_mode & S_IWOTH) {
        *err = util_printf("%s %s is writable by others (mode %04o), who could plant files "
                           "there; run chmod o-w %s",
                           what, dir, (unsigned)(st.st_mode & 07777), dir);
        return INFRA_EAUTH;
    }
    return 0;
}

int util_read_regular_file(const char *path, size_t max, char **out, size_t *len, char **err)
{
    struct stat st;
    util_buf b = {0};
    *out = NULL;
    *len = 0;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        *err = util_printf("cannot read: %s", strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0) {
        *err = util_printf("cannot read: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        *err = util_printf("not a regular file (%s)", file_kind(&st));
        close(fd);
        return -1;
    }
    if ((unsigned long long)st.st_size > max) {
        *err = util_printf("larger than %zu MiB", max >> 20);
        close(fd);
        return -1;
    }
    /* The size is checked while reading too: the file may grow meanwhile. */
    for (;;) {
        char chunk[65536];
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            *err = util_printf("cannot read: %s", strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        if (b.len + (size_t)n > max) {
            *err = util_printf("larger than %zu MiB", max >> 20);
            goto fail;
        }
        util_buf_put(&b, chunk, (size_t)n);
    }
    close(fd);
    *len = b.len;
    *out = b.data ? util_buf_take(&b) : util_strdup("");
    return 0;
fail:
    close(fd);
    util_buf_free(&b);
    return -1;
}

/* Sets *err to "cannot write WHAT PATH: STEP: strerror(errno)". */
static int fail_errno(char **err, const char *what, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_errno(char **err, const char *what, const char *path, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    char *step = util_vprintf(fmt, ap);
    va_end(ap);
    if (err)
        *err = util_printf("cannot write %s %s: %s: %s", what, path, step, strerror(saved));
    free(step);
    return INFRA_EINTERNAL;
}

static void step_done(const util_replace_opts *opts, const char *step)
{
    if (opts && opts->step)
        opts->step(step);
}

int util_file_replace(const char *path, const char *what, const void *data, size_t len,
                      int newline, mode_t mode, const util_replace_opts *opts,
                      struct stat *written, char **err)
{
    int error = 0, fd = -1, dfd = -1, renamed = 0;
    char *tmp = util_printf("%s.tmp", path);
    char *dir = util_dir_of(path);
    struct stat sb;

    if (err)
        *err = NULL;
    /* Writers hold a lock, so a temporary file already there was left by a
     * writer that died: it is garbage, and O_EXCL below needs it gone.
     * unlink removes a planted symbolic link itself, never its target. */
    if (unlink(tmp) < 0 && errno != ENOENT) {
        error = fail_errno(err, what, path, "removing stale %s", tmp);
        goto done;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
        error = fail_errno(err, what, path, "creating %s", tmp);
        goto done;
    }
    /* The umask may only remove bits; this makes the mode exact. */
    if (fchmod(fd, mode) < 0) {
        error = fail_errno(err, what, path, "chmod %s", tmp);
        goto done;
    }
    if (util_write_all(fd, data, len) < 0 || (newline && util_write_all(fd, "\n", 1) < 0)) {
        error = fail_errno(err, what, path, "writing %s", tmp);
        goto done;
    }
    step_done(opts, "temp-written");
    if (fsync(fd) < 0) {
        error = fail_errno(err, what, path, "fsync %s", tmp);
        goto done;
    }
    if (fstat(fd, &sb) < 0) {
        error = fail_errno(err, what, path, "stat %s", tmp);
        goto done;
    }
    if (close(fd) < 0) {
        fd = -1;
        error = fail_errno(err, what, path, "closing %s", tmp);
        goto done;
    }
    fd = -1;
    step_done(opts, "temp-synced");
    if (opts && opts->before_rename && (error = opts->before_rename(opts->ud, err)) < 0)
        goto done;
    if (rename(tmp, path) < 0) {
        error = fail_errno(err, what, path, "renaming %s over it", tmp);
        goto done;
    }
    renamed = 1;
    if (written)
        *written = sb;
    step_done(opts, "renamed");
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0) {
        int saved = errno;
        if (err)
            *err = util_printf("%s %s was replaced but its directory %s could not be synced: %s",
                               what, path, dir, strerror(saved));
        error = INFRA_EINTERNAL;
        goto done;
    }
    step_done(opts, "dir-synced");
done:
    if (fd >= 0)
        close(fd);
    if (dfd >= 0)
        close(dfd);
    if (error < 0 && !renamed)
        unlink(tmp);
    free(tmp);
    free(dir);
    return error;
}
