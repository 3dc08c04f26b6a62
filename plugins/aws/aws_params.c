/* Query parameters and their form encoding. EC2 names list members
 * "Name.N", the other Query services "Name.member.N"; nested structures
 * join their member names with '.' (IpPermissions.1.IpRanges.1.CidrIp).
 * Values are percent-encoded like names, as the SDKs do: unreserved
 * characters kept, everything else %XX, so that the body is also what
 * SigV4 would canonicalise. */
#include "aws_api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void aws_params_add(aws_params *p, const char *key, const char *value)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        char **keys = realloc(p->keys, cap * sizeof(char *));
        char **values = realloc(p->values, cap * sizeof(char *));
        if (keys == NULL || values == NULL)
            abort();
        p->keys = keys;
        p->values = values;
        p->cap = cap;
    }
    p->keys[p->n] = pu_strdup(key);
    p->values[p->n] = pu_strdup(value ? value : "");
    p->n++;
}

void aws_params_addk(aws_params *p, const char *value, const char *key_fmt, ...)
{
    va_list ap;
    va_start(ap, key_fmt);
    char key[512];
    vsnprintf(key, sizeof(key), key_fmt, ap);
    va_end(ap);
    aws_params_add(p, key, value);
}

void aws_params_add_int(aws_params *p, const char *key, long value)
{
    char text[32];
    snprintf(text, sizeof(text), "%ld", value);
    aws_params_add(p, key, text);
}

void aws_params_add_bool(aws_params *p, const char *key, int value)
{
    aws_params_add(p, key, value ? "true" : "false");
}

char *aws_params_elem(aws_list_style style, const char *name, size_t i)
{
    if (style == AWS_LIST_EC2)
        return pu_printf("%s.%zu", name, i + 1);
    return pu_printf("%s.member.%zu", name, i + 1);
}

void aws_params_list(aws_params *p, aws_list_style style, const char *name, char *const *values)
{
    for (size_t i = 0; values != NULL && values[i] != NULL; i++) {
        char *key = aws_params_elem(style, name, i);
        aws_params_add(p, key, values[i]);
        free(key);
    }
}

/* The next free N of Filter.N. */
static size_t next_filter(const aws_params *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++) {
        size_t k = 0;
        if (sscanf(p->keys[i], "Filter.%zu.Name", &k) == 1 && k > n)
            n = k;
    }
    return n + 1;
}

void aws_params_filter(aws_params *p, const char *name, char *const *values)
{
    size_t k = next_filter(p);
    aws_params_addk(p, name, "Filter.%zu.Name", k);
    for (size_t i = 0; values != NULL && values[i] != NULL; i++)
        aws_params_addk(p, values[i], "Filter.%zu.Value.%zu", k, i + 1);
}

void aws_params_filter1(aws_params *p, const char *name, const char *value)
{
    char *values[] = {(char *)value, NULL};
    aws_params_filter(p, name, values);
}

const char *aws_params_get(const aws_params *p, const char *key)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->keys[i], key) == 0)
            return p->values[i];
    return NULL;
}

static void put_pair(pu_buf *b, const char *key, const char *value)
{
    char *k = aws_uri_encode(key, 0);
    char *v = aws_uri_encode(value, 0);
    pu_buf_printf(b, "%s%s=%s", b->len ? "&" : "", k, v);
    free(k);
    free(v);
}

char *aws_params_form(const char *action, const char *version, const aws_params *p)
{
    pu_buf b = {0};
    put_pair(&b, "Action", action);
    put_pair(&b, "Version", version);
    for (size_t i = 0; p != NULL && i < p->n; i++)
        put_pair(&b, p->keys[i], p->values[i]);
    return pu_buf_take(&b);
}

void aws_params_free(aws_params *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->keys[i]);
        free(p->values[i]);
    }
    free(p->keys);
    free(p->values);
    memset(p, 0, sizeof(*p));
}
