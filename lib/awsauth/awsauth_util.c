/* The awsauth library's helpers (awsauth_util.h) and its two small public
 * functions that are not about signing or profiles: the SHA-256 of a body
 * and the disposal of a copied secret. */
#include "awsauth_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <infra/plugin.h>

#include "aws_profile.h"
#include "aws_sigv4.h"

static void out_of_memory(void)
{
    static const char msg[] = "aws: out of memory\n";
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void)ignored;
    abort();
}

void *awsauth_malloc(size_t len)
{
    void *p = malloc(len ? len : 1);
    if (p == NULL)
        out_of_memory();
    return p;
}

void *awsauth_calloc(size_t n, size_t len)
{
    void *p = calloc(n ? n : 1, len ? len : 1);
    if (p == NULL)
        out_of_memory();
    return p;
}

void *awsauth_realloc(void *ptr, size_t len)
{
    void *p = realloc(ptr, len ? len : 1);
    if (p == NULL)
        out_of_memory();
    return p;
}

char *awsauth_strdup(const char *s)
{
    return awsauth_strndup(s ? s : "", s ? strlen(s) : 0);
}

char *awsauth_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *out = awsauth_malloc(len + 1);
    memcpy(out, s, len);
    out[len] = '\0';
    return out;
}

__attribute__((format(printf, 1, 0))) static char *vprintf_new(const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        n = 0;
    char *out = awsauth_malloc((size_t)n + 1);
    vsnprintf(out, (size_t)n + 1, fmt, ap);
    return out;
}

char *awsauth_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = vprintf_new(fmt, ap);
    va_end(ap);
    return out;
}

void awsauth_buf_put(awsauth_buf *b, const char *s, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->len + len + 1)
            cap *= 2;
        b->data = awsauth_realloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void awsauth_buf_puts(awsauth_buf *b, const char *s)
{
    awsauth_buf_put(b, s, strlen(s));
}

void awsauth_buf_printf(awsauth_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = vprintf_new(fmt, ap);
    va_end(ap);
    awsauth_buf_puts(b, text);
    free(text);
}

char *awsauth_buf_take(awsauth_buf *b)
{
    char *out = b->data ? b->data : awsauth_strdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return out;
}

void awsauth_hex_encode(const void *data, size_t len, char *out)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex[p[i] >> 4];
        out[2 * i + 1] = hex[p[i] & 15];
    }
    out[2 * len] = '\0';
}

int awsauth_read_secret_file(const char *path, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? INFRA_ENOTFOUND : INFRA_EINVALID;
    awsauth_buf b = {0};
    char chunk[4096];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            close(fd);
            aws_free_secret_copy(b.data);
            return INFRA_EINVALID;
        }
        if (n == 0)
            break;
        /* Grown by hand so that no copy of a key is left behind by realloc. */
        if (b.len + (size_t)n + 1 > b.cap) {
            size_t cap = b.cap ? b.cap * 2 : 4096;
            while (cap < b.len + (size_t)n + 1)
                cap *= 2;
            char *bigger = awsauth_malloc(cap);
            if (b.data) {
                memcpy(bigger, b.data, b.len + 1);
                aws_free_secret_copy(b.data);
            }
            b.data = bigger;
            b.cap = cap;
        }
        memcpy(b.data + b.len, chunk, (size_t)n);
        b.len += (size_t)n;
        b.data[b.len] = '\0';
    }
    memset(chunk, 0, sizeof(chunk));
    close(fd);
    if (len != NULL)
        *len = b.len;
    *out = awsauth_buf_take(&b);
    return 0;
}

void aws_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    awsauth_hex_encode(md, 32, out);
}

void aws_free_secret_copy(char *s)
{
    if (s == NULL)
        return;
    volatile char *p = s;
    while (*p)
        *p++ = '\0';
    free(s);
}
