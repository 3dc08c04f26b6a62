/* Small helpers of the openstack provider beyond plugin_util.h: string
 * arrays, cancellation and sleeps, randomness, digests and base64
 * (libcrypto), URL encoding, times, globs, JSON lists, addresses, names. */
#include "os.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

void os_strv_free(char **v)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

size_t os_strv_len(char *const *v)
{
    size_t n = 0;
    while (v != NULL && v[n] != NULL)
        n++;
    return n;
}

char **os_strv_new(void)
{
    return pu_calloc(1, sizeof(char *));
}

void os_strv_push(char ***v, const char *s)
{
    size_t n = os_strv_len(*v);
    char **grown = pu_realloc(*v, (n + 2) * sizeof(char *));
    grown[n] = pu_strdup(s);
    grown[n + 1] = NULL;
    *v = grown;
}

int os_strv_has(char *const *v, const char *s)
{
    for (size_t i = 0; v != NULL && s != NULL && v[i] != NULL; i++)
        if (strcmp(v[i], s) == 0)
            return 1;
    return 0;
}

int os_strv_same_set(char *const *x, char *const *y)
{
    for (size_t i = 0; x != NULL && x[i] != NULL; i++)
        if (!os_strv_has(y, x[i]))
            return 0;
    for (size_t i = 0; y != NULL && y[i] != NULL; i++)
        if (!os_strv_has(x, y[i]))
            return 0;
    return 1;
}

void os_free_secret(char *s)
{
    if (s == NULL)
        return;
    volatile char *p = s;
    while (*p)
        *p++ = '\0';
    free(s);
}

int os_check_cancel(infra_provider *p, infra_call *call)
{
    if ((p != NULL && atomic_load(&p->stopped)) || pu_host->cancelled(call))
        return INFRA_ECANCELLED;
    return 0;
}

int os_sleep(infra_provider *p, infra_call *call, int64_t ms)
{
    int error = os_check_cancel(p, call);
    if (error < 0)
        return error;
    /* In slices, so that stop() from another thread is seen soon. */
    while (ms > 0) {
        int64_t slice = ms > 200 ? 200 : ms;
        if ((error = pu_host->sleep_ms(call, slice)) < 0 || (error = os_check_cancel(p, call)) < 0)
            return error;
        ms -= slice;
    }
    return 0;
}

int64_t os_random_below(int64_t bound)
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

void os_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    pu_hex_encode(md, 32, out);
}

char *os_base64_encode(const void *data, size_t len)
{
    char *out = pu_malloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

char *os_url_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    pu_buf b = {0};
    for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c; c++) {
        if (isalnum(*c) || *c == '-' || *c == '_' || *c == '.' || *c == '~') {
            pu_buf_put(&b, (const char *)c, 1);
        } else {
            char e[3] = {'%', hex[*c >> 4], hex[*c & 15]};
            pu_buf_put(&b, e, 3);
        }
    }
    return pu_buf_take(&b);
}

int os_iso8601(const char *s, time_t *out)
{
    struct tm tm;
    int n = 0;
    memset(&tm, 0, sizeof(tm));
    if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                            &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
        return INFRA_EINVALID;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    const char *rest = s + n;
    if (*rest == '.')
        for (rest++; isdigit((unsigned char)*rest); rest++)
            ;
    long offset = 0;
    if (*rest == '+' || *rest == '-') {
        int hh = 0, mm = 0;
        if (sscanf(rest + 1, "%2d:%2d", &hh, &mm) < 1)
            return INFRA_EINVALID;
        offset = (hh * 3600L + mm * 60L) * (*rest == '-' ? -1 : 1);
    } else if (*rest != 'Z' && *rest != '\0') {
        return INFRA_EINVALID;
    }
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return INFRA_EINVALID;
    *out = t - offset;
    return 0;
}

int os_glob(const char *pattern, const char *name)
{
    /* Iterative with one backtrack point: linear in practice. */
    const char *p = pattern, *s = name, *star = NULL, *resume = NULL;
    while (*s) {
        if (*p == '?' || (*p != '*' && *p == *s)) {
            p++;
            s++;
        } else if (*p == '*') {
            star = p++;
            resume = s;
        } else if (star != NULL) {
            p = star + 1;
            s = ++resume;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

int os_is_uuid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 32) {
        for (size_t i = 0; i < n; i++)
            if (!isxdigit((unsigned char)s[i]))
                return 0;
        return 1;
    }
    if (n != 36)
        return 0;
    for (size_t i = 0; i < n; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return 0;
    }
    return 1;
}

int os_json_unknown(const infra_json *v)
{
    return pu_json_has_unknown(v);
}

char *os_json_text(const infra_json *v)
{
    switch (OJ->type(v)) {
    case INFRA_JSON_STRING:
        return pu_strdup(OJ->string(v));
    case INFRA_JSON_INT:
        return pu_printf("%lld", (long long)OJ->integer(v));
    case INFRA_JSON_REAL:
        return pu_printf("%g", OJ->real(v));
    default:
        return NULL;
    }
}

int os_json_strv(const infra_json *v, char ***out)
{
    char **list = os_strv_new();
    *out = NULL;
    if (v == NULL || OJ->type(v) == INFRA_JSON_NULL) {
        *out = list;
        return 0;
    }
    if (OJ->type(v) != INFRA_JSON_ARRAY) {
        char *one = os_json_text(v);
        if (one == NULL) {
            free(list);
            return INFRA_EINVALID;
        }
        os_strv_push(&list, one);
        free(one);
        *out = list;
        return 0;
    }
    for (size_t i = 0; i < OJ->length(v); i++) {
        const infra_json *m = OJ->at(v, i);
        if (OJ->type(m) == INFRA_JSON_NULL)
            continue;
        char *s = os_json_text(m);
        if (s == NULL) {
            os_strv_free(list);
            return INFRA_EINVALID;
        }
        os_strv_push(&list, s);
        free(s);
    }
    *out = list;
    return 0;
}

infra_json *os_json_from_strv(char *const *v)
{
    infra_json *list = OJ->new_array();
    for (size_t i = 0; list != NULL && v != NULL && v[i] != NULL; i++) {
        infra_json *s = OJ->new_string(v[i]);
        if (s == NULL || OJ->append(list, s) < 0) {
            OJ->release(list);
            return NULL;
        }
    }
    return list;
}

int os_json_set_strv(infra_json *obj, const char *key, char *const *v)
{
    return pu_json_set(obj, key, os_json_from_strv(v));
}

const char *os_json_known_str(const infra_json *obj, const char *key)
{
    const char *s = pu_json_str(obj, key);
    return s != NULL && *s ? s : NULL;
}

int os_is_ipv4(const char *s)
{
    struct in_addr a;
    return s != NULL && inet_pton(AF_INET, s, &a) == 1;
}

int os_is_ipv6(const char *s)
{
    struct in6_addr a;
    return s != NULL && inet_pton(AF_INET6, s, &a) == 1;
}

int os_is_cidr(const char *s)
{
    const char *slash = s ? strchr(s, '/') : NULL;
    if (slash == NULL || slash == s || slash[1] == '\0')
        return 0;
    char ip[64];
    size_t n = (size_t)(slash - s);
    if (n >= sizeof(ip))
        return 0;
    memcpy(ip, s, n);
    ip[n] = '\0';
    char *end = NULL;
    errno = 0;
    long len = strtol(slash + 1, &end, 10);
    if (*end != '\0' || errno != 0 || len < 0)
        return 0;
    if (os_is_ipv4(ip))
        return len <= 32;
    return os_is_ipv6(ip) && len <= 128;
}

const char *os_call_topology(infra_call *call)
{
    const char *t = INFRA_HAS_SLOT(pu_host, call_topology) ? pu_host->call_topology(call) : NULL;
    return t ? t : "";
}

const char *os_call_environment(infra_call *call)
{
    const char *e =
        INFRA_HAS_SLOT(pu_host, call_environment) ? pu_host->call_environment(call) : NULL;
    return e ? e : "";
}

/* The tokens whose create this process began: a create tried again in the
 * same run (the engine repeats a transient failure with the same token and
 * resuming 0) may follow a request that took effect without an answer. */
static pthread_mutex_t begun_lock = PTHREAD_MUTEX_INITIALIZER;
static char **begun;

int os_call_resuming(infra_call *call)
{
    const char *token = pu_host->call_token(call);
    int again = 0;
    if (token != NULL && *token) {
        pthread_mutex_lock(&begun_lock);
        if (begun == NULL)
            begun = os_strv_new();
        for (size_t i = 0; begun[i] != NULL && !again; i++)
            again = strcmp(begun[i], token) == 0;
        if (!again)
            os_strv_push(&begun, token);
        pthread_mutex_unlock(&begun_lock);
    }
    if (again || !INFRA_HAS_SLOT(pu_host, call_resuming))
        return 1;
    return pu_host->call_resuming(call) != 0;
}

char *os_call_name(infra_call *call, size_t max)
{
    const char *topo = os_call_topology(call);
    const char *env = os_call_environment(call);
    const char *addr = pu_host->call_address(call);
    pu_buf b = {0};
    if (*topo)
        pu_buf_printf(&b, "%s-", topo);
    if (*env && strcmp(env, "default") != 0)
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
