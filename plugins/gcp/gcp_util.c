/* Small helpers of the gcp provider beyond plugin_util.h: string arrays,
 * cancellation and sleeps, randomness, digests and base64 (libcrypto),
 * request ids, URL encoding, JSON lists and paths, addresses. */
#include "gcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

void gcp_strv_free(char **v)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

size_t gcp_strv_len(char *const *v)
{
    size_t n = 0;
    while (v != NULL && v[n] != NULL)
        n++;
    return n;
}

void gcp_strv_push(char ***v, const char *s)
{
    size_t n = gcp_strv_len(*v);
    char **grown = pu_realloc(*v, (n + 2) * sizeof(char *));
    grown[n] = pu_strdup(s);
    grown[n + 1] = NULL;
    *v = grown;
}

int gcp_strv_has(char *const *v, const char *s)
{
    for (size_t i = 0; v != NULL && s != NULL && v[i] != NULL; i++)
        if (strcmp(v[i], s) == 0)
            return 1;
    return 0;
}

int gcp_strv_same_set(char *const *x, char *const *y)
{
    if (gcp_strv_len(x) != gcp_strv_len(y))
        return 0;
    for (size_t i = 0; x != NULL && x[i] != NULL; i++)
        if (!gcp_strv_has(y, x[i]))
            return 0;
    return 1;
}

char **gcp_strv_new(void)
{
    return pu_calloc(1, sizeof(char *));
}

void gcp_free_secret(char *s)
{
    if (s == NULL)
        return;
    volatile char *c = s;
    while (*c)
        *c++ = '\0';
    free(s);
}

int gcp_check_cancel(infra_provider *p, infra_call *call)
{
    if ((p != NULL && atomic_load(&p->stopped)) || pu_host->cancelled(call))
        return INFRA_ECANCELLED;
    return 0;
}

int gcp_sleep(infra_provider *p, infra_call *call, int64_t ms)
{
    int error = gcp_check_cancel(p, call);
    if (error < 0)
        return error;
    /* In slices, so that stop() from another thread is seen soon. */
    while (ms > 0) {
        int64_t slice = ms > 200 ? 200 : ms;
        if ((error = pu_host->sleep_ms(call, slice)) < 0 || (error = gcp_check_cancel(p, call)) < 0)
            return error;
        ms -= slice;
    }
    return 0;
}

int64_t gcp_random_below(int64_t bound)
{
    uint64_t r = 0;
    if (bound <= 0)
        return 0;
    if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1) {
        /* No entropy source: a poor spread is still a valid backoff. */
        static atomic_uint_fast64_t fallback = 88172645463325252u;
        uint64_t x = atomic_fetch_add(&fallback, 0x9e3779b97f4a7c15u);
        x ^= x >> 31;
        r = x * 0xbf58476d1ce4e5b9u;
    }
    return (int64_t)(r % ((uint64_t)bound + 1));
}

int64_t gcp_call_deadline(infra_call *call)
{
    return INFRA_HAS_SLOT(pu_host, call_deadline_ms) ? pu_host->call_deadline_ms(call) : 0;
}

void gcp_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    pu_hex_encode(md, 32, out);
}

char *gcp_base64url(const void *data, size_t len)
{
    char *out = pu_malloc(4 * ((len + 2) / 3) + 1);
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (int i = 0; i < n; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
    return out;
}

int gcp_base64_decode(const char *text, char **out, size_t *len)
{
    pu_buf clean = {0};
    for (const char *s = text; *s; s++) {
        if (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')
            continue;
        int ok = (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
                 *s == '+' || *s == '/' || *s == '=';
        if (!ok) {
            free(clean.data);
            return INFRA_EINVALID;
        }
        pu_buf_put(&clean, s, 1);
    }
    if (clean.len % 4 != 0) {
        free(clean.data);
        return INFRA_EINVALID;
    }
    size_t pad = 0;
    if (clean.len >= 1 && clean.data[clean.len - 1] == '=')
        pad++;
    if (clean.len >= 2 && clean.data[clean.len - 2] == '=')
        pad++;
    char *bytes = pu_malloc(clean.len / 4 * 3 + 1);
    int n = clean.len ? EVP_DecodeBlock((unsigned char *)bytes, (unsigned char *)clean.data,
                                        (int)clean.len)
                      : 0;
    free(clean.data);
    if (n < 0 || (size_t)n < pad) {
        free(bytes);
        return INFRA_EINVALID;
    }
    n -= (int)pad;
    bytes[n] = '\0';
    *out = bytes;
    if (len != NULL)
        *len = (size_t)n;
    return 0;
}

void gcp_request_id(const char *token, const char *salt, char out[37])
{
    char *mixed = pu_printf("%s|%s", token ? token : "", salt ? salt : "");
    char hex[65];
    gcp_sha256_hex(mixed, strlen(mixed), hex);
    free(mixed);
    /* xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx, y in 8..b: a valid version-4 UUID
     * that is never the zero UUID Compute refuses. */
    hex[12] = '4';
    hex[16] = "89ab"[(hex[16] >= 'a' ? hex[16] - 'a' + 10 : hex[16] - '0') & 3];
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

void gcp_short_hash(const char *text, size_t n, char *out)
{
    char hex[65];
    gcp_sha256_hex(text ? text : "", text ? strlen(text) : 0, hex);
    if (n > 64)
        n = 64;
    memcpy(out, hex, n);
    out[n] = '\0';
}

char *gcp_url_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    pu_buf b = {0};
    for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c; c++) {
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
            *c == '-' || *c == '_' || *c == '.' || *c == '~') {
            pu_buf_put(&b, (const char *)c, 1);
        } else {
            char esc[3] = {'%', hex[*c >> 4], hex[*c & 15]};
            pu_buf_put(&b, esc, 3);
        }
    }
    return pu_buf_take(&b);
}

char *gcp_json_text(const infra_json *v)
{
    switch (GJ->type(v)) {
    case INFRA_JSON_STRING:
        return pu_strdup(GJ->string(v));
    case INFRA_JSON_INT:
        return pu_printf("%lld", (long long)GJ->integer(v));
    case INFRA_JSON_REAL:
        return pu_printf("%g", GJ->real(v));
    default:
        return NULL;
    }
}

int gcp_json_unknown(const infra_json *v)
{
    return v != NULL && pu_json_has_unknown(v);
}

int gcp_json_strv(const infra_json *v, char ***out)
{
    char **list = gcp_strv_new();
    *out = NULL;
    if (v == NULL || GJ->type(v) == INFRA_JSON_NULL) {
        *out = list;
        return 0;
    }
    if (GJ->type(v) != INFRA_JSON_ARRAY) {
        char *one = gcp_json_text(v);
        if (one == NULL) {
            free(list);
            return INFRA_EINVALID;
        }
        gcp_strv_push(&list, one);
        free(one);
        *out = list;
        return 0;
    }
    for (size_t i = 0; i < GJ->length(v); i++) {
        const infra_json *m = GJ->at(v, i);
        if (GJ->type(m) == INFRA_JSON_NULL)
            continue;
        char *s = gcp_json_text(m);
        if (s == NULL) {
            gcp_strv_free(list);
            return INFRA_EINVALID;
        }
        gcp_strv_push(&list, s);
        free(s);
    }
    *out = list;
    return 0;
}

infra_json *gcp_json_strv_new(char *const *v)
{
    infra_json *list = GJ->new_array();
    for (size_t i = 0; list != NULL && v != NULL && v[i] != NULL; i++) {
        infra_json *s = GJ->new_string(v[i]);
        if (s == NULL || GJ->append(list, s) < 0) {
            GJ->release(list);
            return NULL;
        }
    }
    return list;
}

int gcp_json_set_strv(infra_json *obj, const char *key, char *const *v)
{
    return pu_json_set(obj, key, gcp_json_strv_new(v));
}

long gcp_json_long(const infra_json *obj, const char *key, long dflt)
{
    long n;
    const infra_json *v = GJ->get(obj, key);
    return v != NULL && pu_json_to_int(v, &n) == 0 ? n : dflt;
}

const infra_json *gcp_json_path(const infra_json *obj, const char *path)
{
    const infra_json *cur = obj;
    const char *s = path;
    while (cur != NULL && *s) {
        const char *dot = strchr(s, '.');
        size_t n = dot ? (size_t)(dot - s) : strlen(s);
        char part[64];
        if (n >= sizeof(part))
            return NULL;
        memcpy(part, s, n);
        part[n] = '\0';
        if (GJ->type(cur) == INFRA_JSON_ARRAY) {
            char *end = NULL;
            unsigned long i = strtoul(part, &end, 10);
            cur = end && *end == '\0' && n > 0 ? GJ->at(cur, i) : NULL;
        } else {
            cur = GJ->type(cur) == INFRA_JSON_OBJECT ? GJ->get(cur, part) : NULL;
        }
        s += n + (dot ? 1 : 0);
    }
    return cur;
}

const char *gcp_json_path_str(const infra_json *obj, const char *path)
{
    const infra_json *v = gcp_json_path(obj, path);
    return v != NULL ? GJ->string(v) : NULL;
}

int gcp_is_ipv4(const char *s)
{
    struct in_addr a;
    return s != NULL && inet_pton(AF_INET, s, &a) == 1;
}

int gcp_is_cidr(const char *s)
{
    const char *slash = s ? strchr(s, '/') : NULL;
    if (slash == NULL || slash == s)
        return 0;
    char ip[16];
    size_t n = (size_t)(slash - s);
    if (n >= sizeof(ip))
        return 0;
    memcpy(ip, s, n);
    ip[n] = '\0';
    char *end = NULL;
    errno = 0;
    long len = strtol(slash + 1, &end, 10);
    return gcp_is_ipv4(ip) && slash[1] != '\0' && *end == '\0' && errno == 0 && len >= 0 &&
           len <= 32;
}

const char *gcp_last_segment(const char *url)
{
    if (url == NULL)
        return NULL;
    const char *slash = strrchr(url, '/');
    return slash ? slash + 1 : url;
}

char *gcp_relative_name(const char *url)
{
    if (url == NULL)
        return NULL;
    const char *p = strstr(url, "projects/");
    return pu_strdup(p != NULL ? p : url);
}

void gcp_json_wipe(infra_json *v)
{
    if (v == NULL)
        return;
    switch (GJ->type(v)) {
    case INFRA_JSON_STRING: {
        /* The host's JSON frees without clearing; a secret is cleared first. */
        char *s = (char *)GJ->string(v);
        if (s != NULL)
            memset(s, 0, strlen(s));
        break;
    }
    case INFRA_JSON_ARRAY:
        for (size_t i = 0; i < GJ->length(v); i++)
            gcp_json_wipe((infra_json *)GJ->at(v, i));
        break;
    case INFRA_JSON_OBJECT: {
        void *iter = NULL;
        const char *key;
        const infra_json *member;
        while (GJ->next(v, &iter, &key, &member))
            gcp_json_wipe((infra_json *)member);
        break;
    }
    default:
        break;
    }
}
