/* What the awsauth library's own files share: memory that aborts when it
 * runs out, a growable string, hex and whole-file reads. Private to the
 * library (prefix awsauth_), which is linked both into the core and into
 * the aws plugin and so can use neither side's helpers. */
#ifndef AWSAUTH_UTIL_H
#define AWSAUTH_UTIL_H

#include <stdarg.h>
#include <stddef.h>

/* Allocation that aborts the process when memory is out; a zero size is
 * allocated as one byte. */
void *awsauth_malloc(size_t len);
void *awsauth_calloc(size_t n, size_t len);
void *awsauth_realloc(void *ptr, size_t len);
/* A copy of s (caller frees); NULL is copied as "". */
char *awsauth_strdup(const char *s);
/* A copy of at most n bytes of s, NUL-terminated (caller frees). */
char *awsauth_strndup(const char *s, size_t n);
/* printf into a new string (caller frees). */
char *awsauth_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A NUL-terminated string that grows; start it zeroed. */
typedef struct awsauth_buf {
    char *data;
    size_t len;
    size_t cap;
} awsauth_buf;
void awsauth_buf_put(awsauth_buf *b, const char *s, size_t len);
void awsauth_buf_puts(awsauth_buf *b, const char *s);
void awsauth_buf_printf(awsauth_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text ("" when nothing was put), owned by the caller; b is reset. */
char *awsauth_buf_take(awsauth_buf *b);

/* Lowercase hex of len bytes into out (2 * len + 1 bytes). */
void awsauth_hex_encode(const void *data, size_t len, char *out);

/* Reads the whole file at path into *out (NUL-terminated, caller frees,
 * zeroised copies of partial reads: the files hold secret keys). 0;
 * INFRA_ENOTFOUND when path or a parent is missing; INFRA_EINVALID when it
 * cannot be read. */
int awsauth_read_secret_file(const char *path, char **out, size_t *len);

#endif
