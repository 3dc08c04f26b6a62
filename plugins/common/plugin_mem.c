/* The host table every pu_* function uses, and memory and text helpers
 * that abort when memory runs out. */
#include "plugin_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const infra_host *pu_host;

/* Names the plugin in the out-of-memory message; set by pu_init. */
static const char *pu_who = "plugin";

void pu_init(const infra_host *host, const char *who)
{
    pu_host = host;
    if (who != NULL)
        pu_who = who;
}

static void out_of_memory(void)
{
    fprintf(stderr, "%s: out of memory\n", pu_who);
    abort();
}

void *pu_malloc(size_t len)
{
    void *p = malloc(len ? len : 1);
    if (p == NULL)
        out_of_memory();
    return p;
}

void *pu_calloc(size_t n, size_t len)
{
    void *p = calloc(n ? n : 1, len ? len : 1);
    if (p == NULL)
        out_of_memory();
    return p;
}

void *pu_realloc(void *ptr, size_t len)
{
    void *p = realloc(ptr, len ? len : 1);
    if (p == NULL)
        out_of_memory();
    return p;
}

char *pu_strdup(const char *s)
{
    size_t n = strlen(s ? s : "") + 1;
    return memcpy(pu_malloc(n), s ? s : "", n);
}

char *pu_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *out = pu_malloc(len + 1);
    memcpy(out, s, len);
    out[len] = '\0';
    return out;
}

char *pu_vprintf(const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        n = 0;
    char *out = pu_malloc((size_t)n + 1);
    if (vsnprintf(out, (size_t)n + 1, fmt, ap) < 0)
        out[0] = '\0';
    return out;
}

char *pu_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = pu_vprintf(fmt, ap);
    va_end(ap);
    return out;
}
