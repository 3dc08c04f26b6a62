/* Whole-file reads and complete writes. */
#include "plugin_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int pu_read_file(const char *path, unsigned flags, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? INFRA_ENOTFOUND : INFRA_EINTERNAL;
    pu_buf b = {0};
    char chunk[4096];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int saved = errno;
            close(fd);
            if (b.data != NULL && (flags & PU_FILE_SECRET))
                memset(b.data, 0, b.len);
            free(b.data);
            errno = saved;
            return INFRA_EINTERNAL;
        }
        if (n == 0)
            break;
        pu_buf_put(&b, chunk, (size_t)n);
    }
    close(fd);
    if (len != NULL)
        *len = b.len;
    *out = pu_buf_take(&b);
    return 0;
}

int pu_write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) { /* no progress and no error: never loop on it */
            errno = EIO;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}
