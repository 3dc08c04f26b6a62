/* Small helpers of the aws provider beyond plugin_util.h: string arrays,
 * cancellation and sleeps, randomness, digests and base64 (libcrypto),
 * JSON lists, addresses, names and tokens. */
#include "aws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

void aws_strv_free(char **v)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

size_t aws_strv_len(char *const *v)
{
    size_t n = 0;
    while (v != NULL && v[n] != NULL)
        n++;
    return n;
}

void aws_strv_push(char ***v, const char *s)
{
    size_t n = aws_strv_len(*v);
    char **grown = pu_realloc(*v, (n + 2) * sizeof(char *));
    grown[n] = pu_strdup(s);
    grown[n + 1] = NULL;
    *v = grown;
}

int aws_strv_has(char *const *v, const char *s)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++)
        if (strcmp(v[i], s) == 0)
            return 1;
    return 0;
}

int aws_strv_same_set(char *const *x, char *const *y)
{
    if (aws_strv_len(x) != aws_strv_len(y))
        return 0;
    for (size_t i = 0; x != NULL && x[i] != NULL; i++)
        if (!aws_strv_has(y, x[i]))
            return 0;
    return 1;
}

int aws_check_cancel(infra_provider *p, infra_call *call)
{
    if ((p != NULL && atomic_load(&p->stopped)) || pu_host->cancelled(call))
        return INFRA_ECANCELLED;
    return 0;
}

int aws_sleep(infra_provider *p, infra_call *call, int64_t ms)
{
    int error = aws_check_cancel(p, call);
    if (error < 0)
        return error;
    /* In slices, so that stop() from another thread is seen soon. */
    while (ms > 0) {
        int64_t slice = ms > 200 ? 200 : ms;
        if ((error = pu_host->sleep_ms(call, slice)) < 0 || (error = aws_check_cancel(p, call)) < 0)
            return error;
        ms -= slice;
    }
    return 0;
}

int64_t aws_random_below(int64_t bound)
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

char *aws_base64_encode(const void *data, size_t len)
{
    char *out = pu_malloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

int aws_base64_decode(const char *text, char **out, size_t *len)
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

char *aws_json_to_text(const infra_json *v)
{
    switch (AJ->type(v)) {
    case INFRA_JSON_STRING:
        return pu_strdup(AJ->string(v));
    case INFRA_JSON_INT:
        return pu_printf("%lld", (long long)AJ->integer(v));
    case INFRA_JSON_REAL:
        return pu_printf("%g", AJ->real(v));
    default:
        return NULL;
    }
}

int aws_json_strv(const infra_json *v, char ***out)
{
    char **list = pu_calloc(1, sizeof(char *));
    *out = NULL;
    if (v == NULL || AJ->type(v) == INFRA_JSON_NULL) {
        *out = list;
        return 0;
    }
    if (AJ->type(v) != INFRA_JSON_ARRAY) {
        char *one = aws_json_to_text(v);
        if (one == NULL) {
            free(list);
            return INFRA_EINVALID;
        }
        aws_strv_push(&list, one);
        free(one);
        *out = list;
        return 0;
    }
    for (size_t i = 0; i < AJ->length(v); i++) {
        const infra_json *m = AJ->at(v, i);
        if (AJ->type(m) == INFRA_JSON_NULL)
            continue;
        char *s = aws_json_to_text(m);
        if (s == NULL) {
            aws_strv_free(list);
            return INFRA_EINVALID;
        }
        aws_strv_push(&list, s);
        free(s);
    }
    *out = list;
    return 0;
}

int aws_json_set_strv(infra_json *obj, const char *key, char *const *v)
{
    infra_json *list = AJ->new_array();
    if (list == NULL)
        return INFRA_EINTERNAL;
    for (size_t i = 0; v != NULL && v[i] != NULL; i++) {
        infra_json *s = AJ->new_string(v[i]);
        if (s == NULL || AJ->append(list, s) < 0) {
            AJ->release(list);
            return INFRA_EINTERNAL;
        }
    }
    return AJ->set(obj, key, list) < 0 ? INFRA_EINTERNAL : 0;
}

int aws_is_ipv4(const char *s)
{
    struct in_addr a;
    return s != NULL && inet_pton(AF_INET, s, &a) == 1;
}

int aws_is_cidr(const char *s)
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
    return aws_is_ipv4(ip) && slash[1] != '\0' && *end == '\0' && errno == 0 && len >= 0 &&
           len <= 32;
}

char *aws_call_name(infra_call *call, size_t max)
{
    const char *topo = INFRA_HAS_SLOT(pu_host, call_topology) ? pu_host->call_topology(call) : "";
    const char *env =
        INFRA_HAS_SLOT(pu_host, call_environment) ? pu_host->call_environment(call) : "";
    const char *addr = pu_host->call_address(call);
    pu_buf b = {0};
    if (topo && *topo)
        pu_buf_printf(&b, "%s-", topo);
    if (env && *env && strcmp(env, "default") != 0)
        pu_buf_printf(&b, "%s-", env);
    pu_buf_puts(&b, addr && *addr ? addr : "infra");
    char *s = pu_buf_take(&b);
    size_t w = 0;
    for (size_t r = 0; s[r] && w < max; r++) {
        char c = s[r];
        int keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (keep)
            s[w++] = c;
        else if (c != ']' && w > 0 && s[w - 1] != '-')
            s[w++] = '-';
    }
    while (w > 0 && s[w - 1] == '-')
        w--;
    s[w] = '\0';
    return s;
}

void aws_token_hex(const char *token, size_t n, char *out)
{
    char hex[65];
    aws_sha256_hex(token ? token : "", token ? strlen(token) : 0, hex);
    if (n > 64)
        n = 64;
    memcpy(out, hex, n);
    out[n] = '\0';
}

void aws_client_token(const char *token, const char *salt, char out[65])
{
    size_t n = token ? strlen(token) : 0;
    int plain = salt == NULL && n > 0 && n <= 64;
    for (size_t i = 0; plain && i < n; i++)
        if (token[i] < 33 || token[i] > 126)
            plain = 0;
    if (plain) {
        memcpy(out, token, n + 1);
        return;
    }
    char *mixed = pu_printf("%s|%s", token ? token : "", salt ? salt : "");
    aws_sha256_hex(mixed, strlen(mixed), out);
    free(mixed);
}
