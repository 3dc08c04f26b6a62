/* Files: the directory of a path, reading a whole file, and replacing a
 * file durably (temporary file, fsync, rename, fsync of the directory).
 * The state and the secrets store both write through util_file_replace, so
 * there is one place where "a crash leaves the old or the new file, never a
 * torn one" is implemented. */
#ifndef INFRA_FILE_H
#define INFRA_FILE_H

#include <stddef.h>
#include <sys/stat.h>

/* The directory part of path ("." when there is none, "/" for "/x").
 * New string; caller frees. */
char *util_dir_of(const char *path);

/* Writes len bytes to fd, retrying short writes and EINTR; 0 or -1 (errno). */
int util_write_all(int fd, const void *data, size_t len);

/* Reads a whole file: 0 with *out (NUL-terminated, caller frees) and *len,
 * or -1 (errno set) when it cannot be opened or read. */
int util_read_file(const char *path, char **out, size_t *len);

/* What util_file_replace does besides the write itself; all optional. */
typedef struct util_replace_opts {
    /* Called after the temporary file is synced and before the rename: the
     * place to link a backup name or to check that nobody else replaced
     * the file meanwhile. A negative return aborts (the temporary file is
     * removed) and is returned; set *err. */
    int (*before_rename)(void *ud, char **err);
    void *ud;
    /* For crash tests: called after each step ("temp-written",
     * "temp-synced", "renamed", "dir-synced"). */
    void (*step)(const char *step);
} util_replace_opts;

/* Replaces path by data (plus a final newline when newline is set) with
 * mode bits `mode`, atomically and durably: PATH.tmp is created with
 * O_EXCL | O_NOFOLLOW (a stale one left by a dead writer is removed
 * first; callers hold a lock), written, fsynced, renamed over path, and
 * the directory is fsynced. *written, when not NULL, receives the stat of
 * the new file. `what` names the file in errors ("state", "secrets
 * file"). 0, or a negative INFRA_E* with *err (caller frees). */
int util_file_replace(const char *path, const char *what, const void *data, size_t len,
                      int newline, mode_t mode, const util_replace_opts *opts,
                      struct stat *written, char **err);

#endif
