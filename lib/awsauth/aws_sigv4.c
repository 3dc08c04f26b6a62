/* AWS Signature Version 4. The canonical request follows the rules every
 * AWS SDK applies: for services other than S3 the path is normalised (dot
 * segments removed, empty segments collapsed) and encoded once more, for
 * S3 it is signed exactly as sent; query parameters are encoded and sorted
 * by name then value, header values are trimmed with inner whitespace runs
 * collapsed and repeated headers joined with ',' in the order sent. S3
 * signs the payload hash it sends in x-amz-content-sha256. */
#include "aws_sigv4.h"

#include "aws_profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "awsauth_util.h"

#define ALGORITHM "AWS4-HMAC-SHA256"

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

char *aws_uri_encode(const char *s, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    awsauth_buf b = {0};
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (unreserved(*p) || (keep_slash && *p == '/')) {
            awsauth_buf_put(&b, (const char *)p, 1);
        } else {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            awsauth_buf_put(&b, esc, 3);
        }
    }
    return awsauth_buf_take(&b);
}

/* The path with "." and ".." segments resolved and empty segments dropped;
 * a trailing '/' is kept. */
static char *normalize_path(const char *path)
{
    size_t n = strlen(path);
    char **segs = awsauth_calloc(n + 1, sizeof(char *));
    size_t nsegs = 0;
    const char *s = path;

    while (*s) {
        while (*s == '/')
            s++;
        const char *end = strchr(s, '/');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        if (len == 0)
            break;
        if (len == 1 && s[0] == '.') {
            /* nothing */
        } else if (len == 2 && s[0] == '.' && s[1] == '.') {
            if (nsegs > 0)
                free(segs[--nsegs]);
        } else {
            segs[nsegs++] = awsauth_strndup(s, len);
        }
        s += len;
    }
    awsauth_buf b = {0};
    for (size_t i = 0; i < nsegs; i++) {
        awsauth_buf_printf(&b, "/%s", segs[i]);
        free(segs[i]);
    }
    free(segs);
    if (b.len == 0 || (n > 0 && path[n - 1] == '/'))
        awsauth_buf_puts(&b, "/");
    return awsauth_buf_take(&b);
}

typedef struct enc_pair {
    char *key;
    char *value;
} enc_pair;

static int pair_cmp(const void *a, const void *b)
{
    const enc_pair *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : strcmp(x->value, y->value);
}

static char *canonical_query(const aws_sigv4_request *r)
{
    enc_pair *pairs = awsauth_calloc(r->nquery + 1, sizeof(*pairs));
    for (size_t i = 0; i < r->nquery; i++) {
        pairs[i].key = aws_uri_encode(r->query[i].key, 0);
        pairs[i].value = aws_uri_encode(r->query[i].value ? r->query[i].value : "", 0);
    }
    qsort(pairs, r->nquery, sizeof(*pairs), pair_cmp);
    awsauth_buf b = {0};
    for (size_t i = 0; i < r->nquery; i++) {
        awsauth_buf_printf(&b, "%s%s=%s", i ? "&" : "", pairs[i].key, pairs[i].value);
        free(pairs[i].key);
        free(pairs[i].value);
    }
    free(pairs);
    return awsauth_buf_take(&b);
}

typedef struct canon_header {
    char *name; /* lowercase */
    awsauth_buf value;
    size_t order;
} canon_header;

static int header_cmp(const void *a, const void *b)
{
    const canon_header *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* The value trimmed, with runs of spaces and tabs turned into one space. */
static void put_trimmed(awsauth_buf *b, const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    int pending_space = 0;
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r') {
            pending_space = 1;
            continue;
        }
        if (pending_space && b->len > 0)
            awsauth_buf_put(b, " ", 1);
        pending_space = 0;
        awsauth_buf_put(b, v, 1);
    }
}

/* The headers merged by lowercase name, sorted; *n is their count. */
static canon_header *canonical_headers(const aws_sigv4_request *r, size_t *n)
{
    canon_header *all = awsauth_calloc(r->nheaders + 1, sizeof(*all));
    size_t count = 0;
    for (size_t i = 0; i < r->nheaders; i++) {
        char *name = awsauth_strdup(r->headers[i].key);
        for (char *c = name; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        canon_header *h = NULL;
        for (size_t k = 0; k < count; k++)
            if (strcmp(all[k].name, name) == 0)
                h = &all[k];
        if (h != NULL) {
            free(name);
            awsauth_buf_put(&h->value, ",", 1);
        } else {
            h = &all[count];
            h->name = name;
            h->order = count++;
        }
        put_trimmed(&h->value, r->headers[i].value ? r->headers[i].value : "");
    }
    qsort(all, count, sizeof(*all), header_cmp);
    *n = count;
    return all;
}

static void headers_free(canon_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        free(h[i].value.data);
    }
    free(h);
}

char *aws_sigv4_signed_headers(const aws_sigv4_request *r)
{
    size_t n = 0;
    canon_header *h = canonical_headers(r, &n);
    awsauth_buf b = {0};
    for (size_t i = 0; i < n; i++)
        awsauth_buf_printf(&b, "%s%s", i ? ";" : "", h[i].name);
    headers_free(h, n);
    return awsauth_buf_take(&b);
}

char *aws_sigv4_canonical_request(const aws_sigv4_request *r)
{
    char *norm = normalize_path(r->path && *r->path ? r->path : "/");
    char *uri =
        r->s3 ? awsauth_strdup(r->path && *r->path ? r->path : "/") : aws_uri_encode(norm, 1);
    char *query = canonical_query(r);
    char *signed_headers = aws_sigv4_signed_headers(r);
    char body_hash[65];
    size_t n = 0;
    canon_header *h = canonical_headers(r, &n);
    awsauth_buf b = {0};

    if (r->payload_hash != NULL)
        snprintf(body_hash, sizeof(body_hash), "%s", r->payload_hash);
    else
        aws_sha256_hex(r->body ? r->body : "", r->body ? r->body_len : 0, body_hash);
    awsauth_buf_printf(&b, "%s\n%s\n%s\n", r->method, uri, query);
    for (size_t i = 0; i < n; i++)
        awsauth_buf_printf(&b, "%s:%s\n", h[i].name, h[i].value.data ? h[i].value.data : "");
    awsauth_buf_printf(&b, "\n%s\n%s", signed_headers, body_hash);
    headers_free(h, n);
    free(norm);
    free(uri);
    free(query);
    free(signed_headers);
    return awsauth_buf_take(&b);
}

static char *scope(const aws_sigv4_request *r)
{
    return awsauth_printf("%.8s/%s/%s/aws4_request", r->amz_date, r->region, r->service);
}

char *aws_sigv4_string_to_sign(const aws_sigv4_request *r, const char *canonical_request)
{
    char hash[65];
    char *sc = scope(r);
    aws_sha256_hex(canonical_request, strlen(canonical_request), hash);
    char *out = awsauth_printf(ALGORITHM "\n%s\n%s\n%s", r->amz_date, sc, hash);
    free(sc);
    return out;
}

static void hmac(const unsigned char *key, size_t key_len, const char *data, unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)data, strlen(data), out, &n);
}

char *aws_sigv4_signature(const aws_sigv4_request *r, const char *string_to_sign)
{
    unsigned char k[32], sig[32];
    char date[9];
    char *secret = awsauth_printf("AWS4%s", r->secret_key);

    snprintf(date, sizeof(date), "%.8s", r->amz_date);
    hmac((const unsigned char *)secret, strlen(secret), date, k);
    aws_free_secret_copy(secret);
    hmac(k, 32, r->region, k);
    hmac(k, 32, r->service, k);
    hmac(k, 32, "aws4_request", k);
    hmac(k, 32, string_to_sign, sig);
    char *out = awsauth_malloc(65);
    awsauth_hex_encode(sig, sizeof(sig), out);
    volatile unsigned char *wipe = k;
    for (int i = 0; i < 32; i++)
        wipe[i] = 0;
    return out;
}

char *aws_sigv4_authorization(const aws_sigv4_request *r)
{
    char *creq = aws_sigv4_canonical_request(r);
    char *sts = aws_sigv4_string_to_sign(r, creq);
    char *sig = aws_sigv4_signature(r, sts);
    char *sc = scope(r);
    char *signed_headers = aws_sigv4_signed_headers(r);
    char *out = awsauth_printf(ALGORITHM " Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                               r->access_key_id, sc, signed_headers, sig);
    free(creq);
    free(sts);
    free(sig);
    free(sc);
    free(signed_headers);
    return out;
}

void aws_sigv4_date(long long epoch_seconds, char out[17])
{
    time_t t = (time_t)epoch_seconds;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}
