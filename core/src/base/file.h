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

/* Opens path the way every file of a state directory is opened: never
 * through a symbolic link (O_NOFOLLOW), never blocking on a FIFO, and only
 * a regular file with a single link that belongs to the user running
 * infra, so that nothing planted in the directory (a link to /etc/shadow,
 * a hard link, a FIFO, another user's file) is read, truncated or written
 * as root. flags and mode as for open(2); O_CLOEXEC is added. `what` names
 * the file in errors ("lock file"). Returns the descriptor, or -1 with
 * *err "cannot open WHAT PATH: why" (caller frees) and errno set. */
int util_open_private(const char *path, int flags, mode_t mode, const char *what, char **err);

/* The same, for a file that may rightly have up to max_links names (a
 * state between its backup link and the rename over it has two); any more
 * is refused. */
int util_open_private_links(const char *path, int flags, mode_t mode, unsigned max_links,
                            const char *what, char **err);

/* Refuses a directory others can write to (mode o+w), where anyone could
 * plant or swap the files infra keeps there. 0, or INFRA_EAUTH with *err
 * "WHAT DIR is writable by others (mode 0777); run chmod o-w DIR";
 * a directory that does not exist is 0 (it is created private). */
int util_dir_check_private(const char *dir, const char *what, char **err);

/* Reads a whole regular file of at most max bytes: 0 with *out
 * (NUL-terminated, caller frees) and *len, or -1 with *err (caller frees)
 * naming the file: "cannot read: No such file", "not a regular file (a
 * character device)", "larger than 16 MiB". A FIFO or a device is refused
 * before anything is read from it, so /dev/zero neither fills memory nor a
 * FIFO blocks. */
int util_read_regular_file(const char *path, size_t max, char **out, size_t *len, char **err);

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
