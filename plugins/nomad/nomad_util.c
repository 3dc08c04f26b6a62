/* Small helpers of the nomad plugin beyond plugin_util.h: string lists,
 * JSON getters with Nomad's conventions, hashes and random ids from
 * libcrypto, names, cancellation. */
#include "nomad.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void nomad_strs_add(nomad_strs *l, const char *s)
{
    l->v = pu_realloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = pu_strdup(s);
}

void nomad_strs_addf(nomad_strs *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = pu_vprintf(fmt, ap);
    va_end(ap);
    l->v = pu_realloc(l->v, (l->n + 1) * sizeof(*l->v));
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
        return pu_strdup("none");
    pu_buf b = {0};
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            pu_buf_puts(&b, ", ");
        pu_buf_puts(&b, l->v[i]);
    }
    return pu_buf_take(&b);
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
    return pu_json_to_bool(v, out);
}

/* Nomad's documents want a string where a value is missing, not null. */
int nomad_jset_str(infra_json *obj, const char *key, const char *value)
{
    return pu_json_set(obj, key, NJ->new_string(value ? value : ""));
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
    infra_json *v = NJ->get_mutable(obj, key);
    if (v != NULL && NJ->type(v) == INFRA_JSON_OBJECT)
        return v;
    if (pu_json_set(obj, key, NJ->new_object()) < 0)
        return NULL;
    return NJ->get_mutable(obj, key);
}

const infra_json *nomad_jpath(const infra_json *obj, ...)
{
    va_list ap;
    va_start(ap, obj);
    const infra_json *v = obj;
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
    char *out = pu_strdup(text ? text : "null");
    pu_host->free(text);
    return out;
}

void nomad_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32) {
        out[0] = '\0';
        return;
    }
    pu_hex_encode(md, n, out);
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

int nomad_region_name_ok(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
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
    return pu_host->cancelled(call) ? INFRA_ECANCELLED : 0;
}

int nomad_sleep_until(infra_call *call, int64_t ms, int64_t deadline)
{
    int64_t left = deadline - pu_host->now_ms();
    if (left <= 0)
        return nomad_check_cancel(call);
    return pu_host->sleep_ms(call, ms < left ? ms : left);
}
