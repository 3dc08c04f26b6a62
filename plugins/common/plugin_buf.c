/* A growable NUL-terminated string (the shape of curl's dynbuf). */
#include "plugin_util.h"

#include <stdlib.h>
#include <string.h>

void pu_buf_put(pu_buf *b, const char *s, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len + 1)
            cap *= 2;
        b->data = pu_realloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void pu_buf_puts(pu_buf *b, const char *s)
{
    pu_buf_put(b, s, strlen(s));
}

void pu_buf_printf(pu_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = pu_vprintf(fmt, ap);
    va_end(ap);
    pu_buf_put(b, s, strlen(s));
    free(s);
}

char *pu_buf_take(pu_buf *b)
{
    char *out = b->data ? b->data : pu_strdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return out;
}
