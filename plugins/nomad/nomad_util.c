/* Small helpers of the nomad plugin: memory, text, diagnostics, JSON
 * through the host, hashes and random ids from libcrypto. */
#include "nomad.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void out_of_memory(void)
{
    fputs("nomad plugin: out of memory\n", stderr);
    abort();
}

void *nomad_malloc(size_t len)
{
    void *p = malloc(len ? len : 1);
    if (p == NULL)
        out_of_memory();
    return p;
}

void *nomad_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        out_of_memory();
    return p;
}

void *nomad_realloc(void *ptr, size_t len)
{
    void *p = realloc(ptr, len ? len : 1);
    if (p == NULL)
        out_of_memory();
    return p;
}

char *nomad_strdup(const char *s)
{
    size_t n = strlen(s ? s : "") + 1;
    return memcpy(nomad_malloc(n), s ? s : "", n);
}

static char *vprintf_new(const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        n = 0;
    char *out = nomad_malloc((size_t)n + 1);
    vsnprintf(out, (size_t)n + 1, fmt, ap);
    return out;
}

char *nomad_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = vprintf_new(fmt, ap);
    va_end(ap);
    return out;
}

void nomad_buf_put(nomad_buf *b, const char *s, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len + 1)
            cap *= 2;
        b->data = nomad_realloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void nomad_buf_puts(nomad_buf *b, const char *s)
{
    nomad_buf_put(b, s, strlen(s));
}

void nomad_buf_printf(nomad_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vprintf_new(fmt, ap);
    va_end(ap);
    nomad_buf_put(b, s, strlen(s));
    free(s);
}

char *nomad_buf_take(nomad_buf *b)
{
    char *out = b->data ? b->data : nomad_strdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return out;
}

void nomad_strs_add(nomad_strs *l, const char *s)
{
    l->v = nomad_realloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = nomad_strdup(s);
}

void nomad_strs_addf(nomad_strs *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vprintf_new(fmt, ap);
    va_end(ap);
    l->v = nomad_realloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = s;
}

int nomad_strs_has(const nomad_strs *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return 1;
    return 0;
}

char *nomad_strs_join(const nomad_strs *l)
{
    if (l->n == 0)
        return nomad_strdup("none");
    nomad_buf b = {0};
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            nomad_buf_puts(&b, ", ");
        nomad_buf_puts(&b, l->v[i]);
    }
    return nomad_buf_take(&b);
}

void nomad_strs_free(nomad_strs *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

const char *nomad_agent_name(nomad_agent agent)
{
    return agent == NOMAD_AGENT_CONSUL ? "consul" : "nomad";
}

void nomad_diagf(infra_call *call, const char *attr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = vprintf_new(fmt, ap);
    va_end(ap);
    nomad_host->diag(call, INFRA_DIAG_ERROR, attr ? attr : "", msg);
    free(msg);
}

void nomad_warnf(infra_call *call, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = vprintf_new(fmt, ap);
    va_end(ap);
    nomad_host->diag(call, INFRA_DIAG_WARNING, "", msg);
    free(msg);
}

void nomad_logf(infra_call *call, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = vprintf_new(fmt, ap);
    va_end(ap);
    nomad_host->log(call, level, msg);
    free(msg);
}

const char *nomad_jstr(const infra_json *obj, const char *key)
{
    if (obj == NULL || NJ->type(obj) != INFRA_JSON_OBJECT)
        return NULL;
    return NJ->string(NJ->get(obj, key));
}

int nomad_jvalue_int(const infra_json *v, int64_t *out)
{
    switch (NJ->type(v)) {
    case INFRA_JSON_INT:
        *out = NJ->integer(v);
        return 0;
    case INFRA_JSON_REAL: {
        double d = NJ->real(v);
        if (d != (double)(int64_t)d)
            return INFRA_EINVALID;
        *out = (int64_t)d;
        return 0;
    }
    case INFRA_JSON_STRING: {
        const char *s = NJ->string(v);
        char *end = NULL;
        long long n = strtoll(s, &end, 10);
        if (*s == '\0' || *end != '\0')
            return INFRA_EINVALID;
        *out = (int64_t)n;
        return 0;
    }
    default:
        return INFRA_EINVALID;
    }
}

int nomad_jint(const infra_json *obj, const char *key, int64_t *out)
{
    const infra_json *v = obj ? NJ->get(obj, key) : NULL;
    return v ? nomad_jvalue_int(v, out) : INFRA_EINVALID;
}

int nomad_jbool(const infra_json *obj, const char *key, int def, int *out)
{
    const infra_json *v = obj ? NJ->get(obj, key) : NULL;
    if (v == NULL || NJ->type(v) == INFRA_JSON_NULL) {
        *out = def;
        return 0;
    }
    if (NJ->type(v) == INFRA_JSON_BOOL) {
        *out = NJ->boolean(v);
        return 0;
    }
    const char *s = NJ->string(v);
    if (s && strcmp(s, "true") == 0) {
        *out = 1;
        return 0;
    }
    if (s && strcmp(s, "false") == 0) {
        *out = 0;
        return 0;
    }
    return INFRA_EINVALID;
}

int nomad_jset(infra_json *obj, const char *key, infra_json *value)
{
    if (value == NULL)
        return INFRA_EINTERNAL;
    return NJ->set(obj, key, value) < 0 ? INFRA_EINTERNAL : 0;
}

int nomad_jset_str(infra_json *obj, const char *key, const char *value)
{
    return nomad_jset(obj, key, NJ->new_string(value ? value : ""));
}

int nomad_jset_int(infra_json *obj, const char *key, int64_t value)
{
    return nomad_jset(obj, key, NJ->new_integer(value));
}

int nomad_jset_bool(infra_json *obj, const char *key, int value)
{
    return nomad_jset(obj, key, NJ->new_bool(value));
}

int nomad_jappend_str(infra_json *arr, const char *value)
{
    infra_json *v = NJ->new_string(value ? value : "");
    if (v == NULL)
        return INFRA_EINTERNAL;
    return NJ->append(arr, v) < 0 ? INFRA_EINTERNAL : 0;
}

infra_json *nomad_jobj(infra_json *obj, const char *key)
{
    infra_json *v = NJ->get(obj, key);
    if (v != NULL && NJ->type(v) == INFRA_JSON_OBJECT)
        return v;
    if (nomad_jset(obj, key, NJ->new_object()) < 0)
        return NULL;
    return NJ->get(obj, key);
}

infra_json *nomad_jpath(const infra_json *obj, ...)
{
    va_list ap;
    va_start(ap, obj);
    infra_json *v = (infra_json *)obj;
    for (const char *key = va_arg(ap, const char *); key != NULL && v != NULL;
         key = va_arg(ap, const char *))
        v = NJ->type(v) == INFRA_JSON_OBJECT ? NJ->get(v, key) : NULL;
    va_end(ap);
    return v;
}

infra_json *nomad_jparse(const char *text)
{
    return text ? NJ->parse(text, strlen(text)) : NULL;
}

char *nomad_jdump(const infra_json *v)
{
    char *text = NJ->dump(v);
    char *out = nomad_strdup(text ? text : "null");
    nomad_host->free(text);
    return out;
}

void nomad_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1)
        n = 0;
    for (unsigned int i = 0; i < n && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[n ? 64 : 0] = '\0';
}

int nomad_uuid(char out[37])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof(b)) != 1)
        return INFRA_EINTERNAL;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    OPENSSL_cleanse(b, sizeof(b));
    return 0;
}

char *nomad_shell_quote(const char *text)
{
    nomad_buf b = {0};
    nomad_buf_puts(&b, "'");
    for (const char *p = text; *p; p++) {
        if (*p == '\'')
            nomad_buf_puts(&b, "'\\''");
        else
            nomad_buf_put(&b, p, 1);
    }
    nomad_buf_puts(&b, "'");
    return nomad_buf_take(&b);
}

int nomad_name_ok(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

int nomad_path_ok(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-' || *p == '/' || *p == '+'))
            return 0;
    /* a relative path with a slash would depend on the login directory */
    return s[0] == '/' || strchr(s, '/') == NULL;
}

int nomad_ip_ok(const char *s)
{
    unsigned char buf[16];
    return s != NULL && (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1);
}

int nomad_check_cancel(infra_call *call)
{
    return nomad_host->cancelled(call) ? INFRA_ECANCELLED : 0;
}

int nomad_sleep_until(infra_call *call, int64_t ms, int64_t deadline)
{
    int64_t left = deadline - nomad_host->now_ms();
    if (left <= 0)
        return nomad_check_cancel(call);
    return nomad_host->sleep_ms(call, ms < left ? ms : left);
}
