/* Small shared helpers. */
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static void out_of_memory(void)
{
    fputs("infra: out of memory\n", stderr);
    abort();
}

void *util_malloc(size_t len)
{
    void *p = malloc(len ? len : 1);
    if (!p)
        out_of_memory();
    return p;
}

void *util_calloc(size_t n, size_t len)
{
    void *p = calloc(n ? n : 1, len ? len : 1);
    if (!p)
        out_of_memory();
    return p;
}

void *util_realloc(void *ptr, size_t len)
{
    void *p = realloc(ptr, len ? len : 1);
    if (!p)
        out_of_memory();
    return p;
}

char *util_strdup(const char *s)
{
    return util_strndup(s, strlen(s));
}

char *util_strndup(const char *s, size_t n)
{
    char *p = util_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *util_vprintf(const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        return util_strdup("");
    char *p = util_malloc((size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *util_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = util_vprintf(fmt, ap);
    va_end(ap);
    return p;
}

void util_buf_put(util_buf *b, const void *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + len + 1)
            cap *= 2;
        b->data = util_realloc(b->data, cap);
        b->cap = cap;
    }
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void util_buf_puts(util_buf *b, const char *s)
{
    util_buf_put(b, s, strlen(s));
}

void util_buf_printf(util_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = util_vprintf(fmt, ap);
    va_end(ap);
    util_buf_puts(b, s);
    free(s);
}

char *util_buf_take(util_buf *b)
{
    char *s = b->data ? b->data : util_strdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return s;
}

void util_buf_free(util_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

size_t util_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t *row = util_malloc((lb + 1) * sizeof(*row));
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    size_t d = row[lb];
    free(row);
    return d;
}

const char *util_did_you_mean(const char *word, const char *const *candidates)
{
    size_t limit = strlen(word) / 3;
    if (limit < 2)
        limit = 2;
    const char *best = NULL;
    size_t best_d = limit + 1;
    for (size_t i = 0; candidates && candidates[i]; i++) {
        size_t d = util_edit_distance(word, candidates[i]);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    return best;
}

int util_random(void *out, size_t n)
{
    unsigned char *p = out;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

char *util_random_hex(void)
{
    unsigned char raw[16];
    static const char hex[] = "0123456789abcdef";
    if (util_random(raw, sizeof(raw)) < 0)
        abort();
    char *s = util_malloc(33);
    for (size_t i = 0; i < sizeof(raw); i++) {
        s[2 * i] = hex[raw[i] >> 4];
        s[2 * i + 1] = hex[raw[i] & 15];
    }
    s[32] = '\0';
    return s;
}

void util_zero(void *ptr, size_t len)
{
    volatile unsigned char *p = ptr;
    while (len--)
        *p++ = 0;
}

/* Length of the UTF-8 sequence at p (2..4), or 0 when it is not one. */
static size_t utf8_sequence(const unsigned char *p)
{
    size_t n;
    unsigned int cp;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
        cp = p[0] & 0x1fu;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        cp = p[0] & 0x0fu;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        cp = p[0] & 0x07u;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3fu);
    }
    /* Overlong forms, surrogates and code points past U+10FFFF. */
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

char *util_escape_controls(const char *text)
{
    util_buf b = {0};
    const unsigned char *p = (const unsigned char *)(text ? text : "");
    while (*p) {
        if (*p == '\n') {
            util_buf_puts(&b, "\\n");
            p++;
        } else if (*p == '\t') {
            util_buf_puts(&b, "\\t");
            p++;
        } else if (*p == '\r') {
            util_buf_puts(&b, "\\r");
            p++;
        } else if (*p < 0x20 || *p == 0x7f) {
            util_buf_printf(&b, "\\x%02x", *p);
            p++;
        } else if (*p < 0x80) {
            util_buf_put(&b, p, 1);
            p++;
        } else {
            size_t n = utf8_sequence(p);
            if (n == 0) {
                util_buf_printf(&b, "\\x%02x", *p);
                p++;
            } else if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) {
                util_buf_printf(&b, "\\u%04x", (unsigned)p[1]); /* C1: U+0080..U+009F */
                p += 2;
            } else {
                util_buf_put(&b, p, n);
                p += n;
            }
        }
    }
    return util_buf_take(&b);
}
