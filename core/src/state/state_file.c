/* Files of the local state: its directory, the names in it, and reading
 * a state document kept as JSON (the format of earlier versions, migrated
 * on first use, and the files `infra state push` loads). */
#define _GNU_SOURCE
#include "state/state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "infra/plugin.h"
#include "services/log.h"
#include "base/util.h"

/* Sets *err to "PREFIX: strerror(errno)" and returns INFRA_EINTERNAL. */
static int fail_errno(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail_errno(char **err, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    char *what = util_vprintf(fmt, ap);
    va_end(ap);
    if (err)
        *err = util_printf("%s: %s", what, strerror(saved));
    free(what);
    return INFRA_EINTERNAL;
}

int state_dir_create(const char *dir, char **err)
{
    int error = 0;
    char *p = util_strdup(dir);
    size_t len = strlen(p);
    struct stat sb;

    /* Walk every prefix ending before a '/', then the whole path. */
    for (size_t i = 1; i <= len; i++) {
        if (i < len && p[i] != '/')
            continue;
        char saved = p[i];
        p[i] = '\0';
        if (mkdir(p, 0700) == 0) {
            /* mkdir's mode is filtered by the umask; the state must be private. */
            if (chmod(p, 0700) < 0) {
                error = fail_errno(err, "cannot set mode 0700 on state directory %s", p);
                goto done;
            }
        } else if (errno != EEXIST) {
            error = fail_errno(err, "cannot create state directory %s", p);
            goto done;
        } else if (stat(p, &sb) < 0) {
            error = fail_errno(err, "cannot create state directory %s", p);
            goto done;
        } else if (!S_ISDIR(sb.st_mode)) {
            errno = ENOTDIR;
            error = fail_errno(err, "cannot create state directory %s", p);
            goto done;
        }
        p[i] = saved;
    }
done:
    free(p);
    return error;
}

/* A name that is safe as one path component and cannot hide a file. */
static int usable_in_file_name(const char *s)
{
    if (!s || !*s || s[0] == '.')
        return 0;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '/' || *c < 0x20 || *c == 0x7f)
            return 0;
    }
    return 1;
}

int state_file_name(const char *dir, const char *name, const char *env, const char *suffix,
                    char **out, char **err)
{
    if (!env)
        env = "default";
    if (!usable_in_file_name(name)) {
        if (err)
            *err = util_printf("topology name \"%s\" cannot be used in a state file name",
                               name ? name : "");
        return INFRA_EINVALID;
    }
    if (!usable_in_file_name(env)) {
        if (err)
            *err = util_printf("environment \"%s\" cannot be used in a state file name", env);
        return INFRA_EINVALID;
    }
    *out = util_printf("%s/%s.%s%s", dir, name, env, suffix);
    return 0;
}

/* Reads fd to its end into b; size is a hint. 0 or -1 with errno. */
static int read_all(int fd, size_t size, util_buf *b)
{
    char chunk[65536];
    if (size > 0) {
        b->data = util_malloc(size + 1);
        b->cap = size + 1;
    }
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        util_buf_put(b, chunk, (size_t)n);
    }
}

int state_file_read(const char *path, const char *backup, int private_file, json_t **out,
                    char **err)
{
    int error = 0;
    struct stat sb;
    json_error_t jerr;
    json_t *doc = NULL;
    util_buf text = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *out = NULL;
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return fail_errno(err, "cannot open state %s", path);
    }
    if (fstat(fd, &sb) < 0) {
        error = fail_errno(err, "cannot read state %s", path);
        goto done;
    }
    /* A state is private even when it was copied in with a lax mode. */
    if (private_file && (sb.st_mode & 077) && fchmod(fd, 0600) == 0)
        log_msg(LOG_WARN, "state file %s was readable by others (mode %03o); it is now 0600", path,
                (unsigned)(sb.st_mode & 0777));
    /* json_loadfd reads one byte per read(2): a 3 MB state took a second. */
    if ((error = read_all(fd, (size_t)sb.st_size, &text)) < 0) {
        error = fail_errno(err, "cannot read state %s", path);
        goto done;
    }
    doc = json_loadb(text.data ? text.data : "", text.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        int have_backup = backup && access(backup, F_OK) == 0;
        if (err)
            *err = util_printf(
                "state file %s does not parse: line %d, column %d: %s. It was left untouched; "
                "%s%s%s",
                path, jerr.line, jerr.column, jerr.text,
                have_backup ? "the previous copy is in " : "no backup exists at ",
                backup ? backup : path,
                have_backup ? " (check it, then copy it over the state file to recover)" : "");
        error = INFRA_EINVALID;
        goto done;
    }
    *out = doc;
done:
    close(fd);
    util_buf_free(&text);
    return error;
}
