/* HTTP client over libcurl with the retry policy of docs/internals/retry.md.
 *
 * Each attempt borrows an easy handle from a small pool, so that threads
 * reuse live connections, DNS and TLS session caches without sharing a
 * handle. Headers and bodies are never logged: they carry tokens. */
#include "services/http.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "plugin/host.h"
#include "services/curl_lib.h"
#include "services/log.h"
#include "services/ssh.h"
#include "base/util.h"

#ifndef INFRA_VERSION
#define INFRA_VERSION "unknown"
#endif

#define HTTP_POOL_MAX 8
#define HTTP_BODY_MAX                                                                              \
    ((size_t)512 * 1024 * 1024) /* refuse bigger answers instead of aborting on OOM */

static pthread_once_t http_once = PTHREAD_ONCE_INIT;
/* libcurl once loaded and initialised; else NULL and why in http_init_error
 * (kept until exit). */
static const curl_lib *curl;
static char *http_init_error;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static CURL *pool[HTTP_POOL_MAX];
static size_t npool;

/* libcurl is loaded here, at the first use of HTTP, not at program start:
 * most commands never make a request (base/lazylib.h). */
static void http_global_init(void)
{
    const curl_lib *lib = curl_lib_get(&http_init_error);
    if (!lib)
        return;
    if (lib->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        http_init_error = util_strdup("libcurl could not be initialised");
        return;
    }
    curl = lib;
}

static CURL *pool_get(void)
{
    CURL *h = NULL;
    pthread_mutex_lock(&pool_lock);
    if (npool > 0)
        h = pool[--npool];
    pthread_mutex_unlock(&pool_lock);
    if (h) {
        /* Keeps live connections and caches, forgets every option. */
        curl->easy_reset(h);
        return h;
    }
    return curl->easy_init();
}

static void pool_put(CURL *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&pool_lock);
    if (npool < HTTP_POOL_MAX) {
        pool[npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&pool_lock);
    if (h)
        curl->easy_cleanup(h);
}

void http_shutdown(void)
{
    pthread_mutex_lock(&pool_lock);
    while (npool > 0)
        curl->easy_cleanup(pool[--npool]);
    pthread_mutex_unlock(&pool_lock);
}

/* ------------------------------------------------------------------ */
/* Retry policy                                                       */

int64_t http_backoff_cap_ms(int attempt)
{
    int64_t cap = HTTP_BACKOFF_BASE_MS;
    for (int i = 1; i < attempt && cap < HTTP_BACKOFF_MAX_MS; i++)
        cap *= 2;
    return cap < HTTP_BACKOFF_MAX_MS ? cap : HTTP_BACKOFF_MAX_MS;
}

/* Full jitter: uniform in [0, cap], so that many clients throttled at the
 * same moment do not come back at the same moment. */
static int64_t backoff_delay_ms(int attempt)
{
    uint64_t r = 0;
    int64_t cap = http_backoff_cap_ms(attempt);
    if (util_random(&r, sizeof(r)) < 0)
        return cap;
    return (int64_t)(r % (uint64_t)(cap + 1));
}

int64_t http_retry_after_ms(const char *value, time_t now)
{
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (!*value)
        return -1;
    int64_t ms;
    if (isdigit((unsigned char)*value)) {
        char *end;
        errno = 0;
        long long secs = strtoll(value, &end, 10);
        while (*end == ' ' || *end == '\t')
            end++;
        if (*end)
            return -1;
        if (errno == ERANGE || secs > HTTP_RETRY_AFTER_MAX_MS / 1000)
            return HTTP_RETRY_AFTER_MAX_MS;
        ms = (int64_t)secs * 1000;
    } else {
        pthread_once(&http_once, http_global_init);
        if (!curl)
            return -1;
        time_t when = curl->getdate(value, NULL);
        if (when == (time_t)-1)
            return -1;
        if (when <= now)
            return 0;
        if (when - now > HTTP_RETRY_AFTER_MAX_MS / 1000)
            return HTTP_RETRY_AFTER_MAX_MS;
        ms = (int64_t)(when - now) * 1000;
    }
    return ms < HTTP_RETRY_AFTER_MAX_MS ? ms : HTTP_RETRY_AFTER_MAX_MS;
}

/* Methods a server must treat as idempotent (RFC 9110 9.2.2). */
static int method_idempotent(const char *method)
{
    static const char *const methods[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", NULL};
    for (size_t i = 0; methods[i]; i++)
        if (strcasecmp(method, methods[i]) == 0)
            return 1;
    return 0;
}

/* 429 and 503 say the request was not processed; after 500, 502 or 504 it
 * may have been, so only a request that is safe to repeat goes again. */
int http_status_retryable(long status, const char *method, int retry_non_idempotent)
{
    if (status == 429 || status == 503)
        return 1;
    if (status == 500 || status == 502 || status == 504)
        return retry_non_idempotent || method_idempotent(method ? method : "GET");
    return 0;
}

/* What a failed curl_easy_perform means for the caller. */
typedef enum {
    FAIL_UNSENT,     /* nothing reached the server: safe to retry any method */
    FAIL_MAYBE_SENT, /* the server may have acted: retry only repeatable requests */
    FAIL_TLS_VERIFY, /* the peer's certificate is not trusted */
    FAIL_TLS,        /* TLS could not be set up for another reason */
    FAIL_INVALID,    /* the request itself is wrong */
    FAIL_CANCELLED,  /* the call was cancelled mid-transfer */
    FAIL_TOO_LARGE,  /* the answer exceeded HTTP_BODY_MAX */
    FAIL_OTHER,      /* an answer curl could not make sense of */
} fail_kind;

static fail_kind classify(CURL *h, CURLcode rc, int cancelled, int too_large)
{
    long os_errno = 0, sent = 0;
    curl->easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
    curl->easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent);
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return FAIL_UNSENT;
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return sent > 0 ? FAIL_MAYBE_SENT : FAIL_UNSENT;
    case CURLE_SSL_CONNECT_ERROR:
        /* A reset or timeout in the handshake is the network; anything else
         * (wrong protocol, no shared cipher) will fail the same way again. */
        if (os_errno == ECONNRESET || os_errno == ETIMEDOUT || os_errno == EPIPE ||
            os_errno == ECONNABORTED)
            return FAIL_UNSENT;
        return FAIL_TLS;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_ISSUER_ERROR:
        return FAIL_TLS_VERIFY;
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_FUNCTION_ARGUMENT:
        return FAIL_INVALID;
    case CURLE_ABORTED_BY_CALLBACK:
        return cancelled ? FAIL_CANCELLED : FAIL_OTHER;
    case CURLE_WRITE_ERROR:
        return too_large ? FAIL_TOO_LARGE : FAIL_OTHER;
    default:
        return FAIL_OTHER;
    }
}

/* ------------------------------------------------------------------ */
/* One transfer                                                       */

typedef struct transfer {
    infra_call *call;
    util_buf body;
    char **headers;
    size_t nheaders;
    int too_large;
} transfer;

static void transfer_headers_free(transfer *t)
{
    for (size_t i = 0; i < t->nheaders; i++)
        free(t->headers[i]);
    free(t->headers);
    t->headers = NULL;
    t->nheaders = 0;
}

static void transfer_free(transfer *t)
{
    util_buf_free(&t->body);
    transfer_headers_free(t);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    transfer *t = ud;
    size_t n = size * nmemb;
    if (t->body.len + n > HTTP_BODY_MAX) {
        t->too_large = 1;
        return 0;
    }
    util_buf_put(&t->body, data, n);
    return n;
}

/* Keeps "name: value" lines of the final answer, names lower-cased. */
static size_t on_header(char *data, size_t size, size_t nitems, void *ud)
{
    transfer *t = ud;
    size_t n = size * nitems;
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* A new status line: interim (1xx) answers' headers are dropped. */
        transfer_headers_free(t);
        return n;
    }
    const char *colon = memchr(data, ':', n);
    if (!colon || colon == data || *data == ' ' || *data == '\t')
        return n;
    size_t name_len = (size_t)(colon - data);
    const char *v = colon + 1;
    const char *end = data + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    util_buf line = {0};
    for (size_t i = 0; i < name_len; i++) {
        char c = (char)tolower((unsigned char)data[i]);
        util_buf_put(&line, &c, 1);
    }
    util_buf_puts(&line, ": ");
    util_buf_put(&line, v, (size_t)(end - v));
    t->headers = util_realloc(t->headers, (t->nheaders + 2) * sizeof(*t->headers));
    t->headers[t->nheaders++] = util_buf_take(&line);
    t->headers[t->nheaders] = NULL;
    return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    transfer *t = ud;
    return host_table()->cancelled(t->call) ? 1 : 0;
}

/* Moves what the transfer collected into a new response. */
static infra_http_response *response_take(transfer *t, long status, int attempts)
{
    infra_http_response *resp = util_calloc(1, sizeof(*resp));
    resp->size = sizeof(*resp);
    resp->status = status;
    resp->body_len = t->body.len;
    resp->body = util_buf_take(&t->body);
    if (!t->headers)
        t->headers = util_calloc(1, sizeof(*t->headers));
    resp->headers = t->headers;
    t->headers = NULL;
    t->nheaders = 0;
    resp->attempts = attempts;
    return resp;
}

void http_response_free(infra_http_response *resp)
{
    if (!resp)
        return;
    for (size_t i = 0; resp->headers && resp->headers[i]; i++)
        free(resp->headers[i]);
    free(resp->headers);
    free(resp->body);
    free(resp);
}

const char *http_header(const infra_http_response *resp, const char *name)
{
    if (!resp || !resp->headers || !name)
        return NULL;
    size_t n = strlen(name);
    for (size_t i = 0; resp->headers[i]; i++) {
        const char *line = resp->headers[i];
        if (strncasecmp(line, name, n) == 0 && line[n] == ':')
            return line[n + 1] == ' ' ? line + n + 2 : line + n + 1;
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Request preparation                                                */

/* text with every occurrence of what replaced by "[redacted]". */
static char *replace_all(const char *text, const char *what)
{
    size_t n = what ? strlen(what) : 0;
    if (n == 0)
        return util_strdup(text);
    util_buf b = {0};
    const char *p = text, *hit;
    while ((hit = strstr(p, what)) != NULL) {
        util_buf_put(&b, p, (size_t)(hit - p));
        util_buf_puts(&b, "[redacted]");
        p = hit + n;
    }
    util_buf_puts(&b, p);
    return util_buf_take(&b);
}

/* Text fit for logs and diagnostics: the request's own secret (raw and
 * URL-encoded) and every registered secret removed. */
static char *scrub(const char *text, const char *redact)
{
    char *a = replace_all(text ? text : "", redact);
    char *escaped = redact && *redact ? curl->easy_escape(NULL, redact, 0) : NULL;
    char *b = replace_all(a, escaped);
    curl->free(escaped);
    free(a);
    char *c = log_redact(b);
    free(b);
    return c;
}

static int header_line_ok(const char *line)
{
    const char *colon = strchr(line, ':');
    if (!colon || colon == line)
        return 0;
    for (const char *p = line; *p; p++)
        if (*p == '\r' || *p == '\n')
            return 0;
    return 1;
}

static int method_ok(const char *method)
{
    if (!*method)
        return 0;
    for (const char *p = method; *p; p++)
        if (!isalpha((unsigned char)*p) && *p != '-' && *p != '_')
            return 0;
    return 1;
}

static int has_header(const char *const *headers, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; headers && headers[i]; i++)
        if (strncasecmp(headers[i], name, n) == 0 && headers[i][n] == ':')
            return 1;
    return 0;
}

/* Everything about a request that does not change between attempts. */
typedef struct prepared {
    infra_http_request req; /* a copy widened to the host's size */
    struct curl_slist *headers;
    char *shown_url;               /* URL without password or secrets, for messages */
    char *host;                    /* host name, for TLS messages */
    struct curl_slist *connect_to; /* the tunnel through a bastion, or NULL */
    char *via;                     /* that bastion "B:P", for messages, or NULL */
} prepared;

static void prepared_free(prepared *p)
{
    curl->slist_free_all(p->connect_to);
    free(p->via);
    curl->slist_free_all(p->headers);
    free(p->shown_url);
    free(p->host);
}

static void report(infra_call *call, const prepared *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(infra_call *call, const prepared *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *raw = util_vprintf(fmt, ap);
    va_end(ap);
    char *clean = scrub(raw, p->req.redact);
    host_table()->diag(call, INFRA_DIAG_ERROR, "", clean);
    free(clean);
    free(raw);
}

static struct curl_slist *slist_add(struct curl_slist *list, const char *line, int *failed)
{
    struct curl_slist *next = curl->slist_append(list, line);
    if (!next)
        *failed = 1;
    return next ? next : list;
}

/* A node behind a bastion (a route of the SSH service) is reached through
 * a tunnel: curl connects to its loopback port while the URL, the Host
 * header and the name TLS verifies stay the node's. */
static int route(CURLU *u, prepared *p)
{
    char *port_text = NULL;
    int error = 0;
    size_t n = strlen(p->host);
    char *bare = n > 2 && p->host[0] == '[' && p->host[n - 1] == ']'
                     ? util_strndup(p->host + 1, n - 2)
                     : util_strdup(p->host);
    curl->url_get(u, CURLUPART_PORT, &port_text, CURLU_DEFAULT_PORT);
    int port = port_text ? atoi(port_text) : 0;
    int local = port > 0 ? ssh_tunnel_port(bare, port, &p->via) : 0;
    if (local > 0) {
        char *line = util_printf("%s:%d:127.0.0.1:%d", p->host, port, local);
        int failed = 0;
        p->connect_to = slist_add(NULL, line, &failed);
        free(line);
        if (failed)
            error = INFRA_EINTERNAL;
    }
    curl->free(port_text);
    free(bare);
    return error;
}

static int prepare(infra_call *call, const infra_http_request *in, prepared *p)
{
    int error = 0, failed = 0;
    CURLU *u = NULL;
    char *scheme = NULL, *bare = NULL;

    memset(p, 0, sizeof(*p));
    if (!in || in->size < offsetof(infra_http_request, url) + sizeof(in->url) || !in->url) {
        host_table()->diag(call, INFRA_DIAG_ERROR, "", "http: request without a URL");
        return INFRA_EINVALID;
    }
    memcpy(&p->req, in, in->size < sizeof(p->req) ? in->size : sizeof(p->req));
    p->req.size = sizeof(p->req);
    if (!p->req.method)
        p->req.method = "GET";
    if (p->req.timeout_ms <= 0)
        p->req.timeout_ms = HTTP_DEFAULT_TIMEOUT_MS;
    if (p->req.max_attempts <= 0)
        p->req.max_attempts = HTTP_DEFAULT_ATTEMPTS;

    if (!(u = curl->url()))
        return INFRA_EINTERNAL;
    CURLUcode uc = curl->url_set(u, CURLUPART_URL, p->req.url, 0);
    if (uc != CURLUE_OK) {
        char *shown = scrub(p->req.url, p->req.redact);
        report(call, p, "http: malformed URL '%s': %s", shown, curl->url_strerror(uc));
        free(shown);
        error = INFRA_EINVALID;
        goto done;
    }
    curl->url_get(u, CURLUPART_SCHEME, &scheme, 0);
    curl->url_get(u, CURLUPART_HOST, &bare, 0);
    p->host = util_strdup(bare ? bare : "");
    curl->free(bare);
    bare = NULL;
    /* A password in the URL never reaches a message. */
    curl->url_set(u, CURLUPART_PASSWORD, NULL, 0);
    curl->url_get(u, CURLUPART_URL, &bare, 0);
    p->shown_url = scrub(bare ? bare : p->req.url, p->req.redact);

    if (!scheme || (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
        report(call, p, "http: %s: only http:// and https:// URLs are supported", p->shown_url);
        error = INFRA_EINVALID;
        goto done;
    }
    if ((error = route(u, p)) < 0)
        goto done;
    if (!method_ok(p->req.method)) {
        report(call, p, "http: %s: invalid method '%s'", p->shown_url, p->req.method);
        error = INFRA_EINVALID;
        goto done;
    }
    if (!p->req.body && p->req.body_len > 0) {
        report(call, p, "http: %s %s: body_len is set without a body", p->req.method, p->shown_url);
        error = INFRA_EINVALID;
        goto done;
    }
    for (size_t i = 0; p->req.headers && p->req.headers[i]; i++) {
        if (!header_line_ok(p->req.headers[i])) {
            /* The line itself is not shown: it may hold a credential. */
            report(call, p, "http: %s %s: header %zu is not a single 'Name: value' line",
                   p->req.method, p->shown_url, i + 1);
            error = INFRA_EINVALID;
            goto done;
        }
        p->headers = slist_add(p->headers, p->req.headers[i], &failed);
    }
    /* curl would add "Expect: 100-continue" to large bodies and a form
     * content type to every body; neither is what an API client means. */
    if (!has_header(p->req.headers, "Expect"))
        p->headers = slist_add(p->headers, "Expect:", &failed);
    if (p->req.body && !has_header(p->req.headers, "Content-Type"))
        p->headers = slist_add(p->headers, "Content-Type:", &failed);
    if (failed)
        error = INFRA_EINTERNAL;

done:
    curl->free(bare);
    curl->free(scheme);
    curl->url_cleanup(u);
    return error;
}

static CURLcode setup(CURL *h, const prepared *p, transfer *t, char *errbuf)
{
    const infra_http_request *r = &p->req;
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl->easy_setopt(h, opt, val);                                                   \
    } while (0)
    SET(CURLOPT_URL, r->url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_ERRORBUFFER, errbuf);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (r->ca_file)
        SET(CURLOPT_CAINFO, r->ca_file); /* the system CA directory stays trusted */
    if (r->ca_pem) {
        struct curl_blob blob = {(void *)r->ca_pem, strlen(r->ca_pem), CURL_BLOB_COPY};
        SET(CURLOPT_CAINFO_BLOB, &blob);
    }
    if (p->connect_to) {
        SET(CURLOPT_CONNECT_TO, p->connect_to);
        SET(CURLOPT_PROXY, ""); /* the tunnel is the way: no proxy from the environment */
    }
    SET(CURLOPT_CONNECTTIMEOUT_MS, HTTP_CONNECT_TIMEOUT_MS);
    SET(CURLOPT_TIMEOUT_MS, r->timeout_ms);
    SET(CURLOPT_USERAGENT, "infra/" INFRA_VERSION);
    SET(CURLOPT_ACCEPT_ENCODING, "");
    SET(CURLOPT_HTTPHEADER, p->headers);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, t);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, t);
    SET(CURLOPT_NOPROGRESS, 0L);
    SET(CURLOPT_XFERINFOFUNCTION, on_progress);
    SET(CURLOPT_XFERINFODATA, t);

    int is_get = strcasecmp(r->method, "GET") == 0;
    if (strcasecmp(r->method, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
    } else if (is_get && !r->body) {
        SET(CURLOPT_HTTPGET, 1L);
    } else {
        SET(CURLOPT_CUSTOMREQUEST, r->method);
        int wants_body = strcasecmp(r->method, "POST") == 0 || strcasecmp(r->method, "PUT") == 0 ||
                         strcasecmp(r->method, "PATCH") == 0;
        if (r->body || wants_body) {
            SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
            SET(CURLOPT_POSTFIELDS, r->body ? r->body : "");
        }
    }
#undef SET
    return rc;
}

/* ------------------------------------------------------------------ */
/* The request loop                                                   */

static int fail_error(fail_kind kind)
{
    switch (kind) {
    case FAIL_UNSENT:
    case FAIL_MAYBE_SENT:
        return INFRA_ETRANSIENT;
    case FAIL_TLS_VERIFY:
    case FAIL_TLS:
    case FAIL_INVALID:
        return INFRA_EINVALID;
    case FAIL_CANCELLED:
        return INFRA_ECANCELLED;
    case FAIL_TOO_LARGE:
    case FAIL_OTHER:
    default:
        return INFRA_EINTERNAL;
    }
}

static void report_failure(infra_call *call, const prepared *p, fail_kind kind, int attempts,
                           const char *reason)
{
    const char *m = p->req.method;
    switch (kind) {
    case FAIL_TLS_VERIFY:
        report(call, p, "http: TLS certificate verification failed for %s: %s (%s %s)", p->host,
               reason, m, p->shown_url);
        break;
    case FAIL_TLS:
        report(call, p, "http: TLS handshake with %s failed: %s (%s %s)", p->host, reason, m,
               p->shown_url);
        break;
    case FAIL_TOO_LARGE:
        report(call, p, "http: %s %s: answer larger than %zu MiB", m, p->shown_url,
               HTTP_BODY_MAX >> 20);
        break;
    default:
        report(call, p, "http: %s %s failed after %d attempt%s: %s%s%s%s", m, p->shown_url,
               attempts, attempts == 1 ? "" : "s", reason, p->via ? " (through the bastion " : "",
               p->via ? p->via : "", p->via ? ")" : "");
        break;
    }
}

int http_request(infra_call *call, const infra_http_request *req, infra_http_response **out)
{
    int error = 0;
    prepared p;
    transfer t = {0};
    CURL *h = NULL;
    const infra_host *host = host_table();
    char errbuf[CURL_ERROR_SIZE];

    if (out)
        *out = NULL;
    pthread_once(&http_once, http_global_init);
    if (!out)
        return INFRA_EINVALID;
    if (!curl) {
        char *msg = util_printf("http: %s", http_init_error);
        host->diag(call, INFRA_DIAG_ERROR, "", msg);
        free(msg);
        return INFRA_EINTERNAL;
    }
    if ((error = prepare(call, req, &p)) < 0)
        goto done;

    for (int attempt = 1;; attempt++) {
        int last = attempt >= p.req.max_attempts;
        int64_t delay;

        if (host->cancelled(call)) {
            error = INFRA_ECANCELLED;
            goto done;
        }
        if (!(h = pool_get())) {
            report(call, &p, "http: out of connection handles");
            error = INFRA_EINTERNAL;
            goto done;
        }
        transfer_free(&t);
        t = (transfer){.call = call};
        errbuf[0] = '\0';
        int64_t start = host->now_ms();
        CURLcode rc = setup(h, &p, &t, errbuf);
        if (rc == CURLE_OK)
            rc = curl->easy_perform(h);
        long elapsed = (long)(host->now_ms() - start);

        if (rc == CURLE_OK) {
            long status = 0;
            curl->easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
            log_msg(LOG_DEBUG, "http: %s %s -> %ld (%ld ms, attempt %d/%d)", p.req.method,
                    p.shown_url, status, elapsed, attempt, p.req.max_attempts);
            infra_http_response *resp = response_take(&t, status, attempt);
            if (last || !http_status_retryable(status, p.req.method, p.req.retry_non_idempotent)) {
                *out = resp;
                goto done;
            }
            delay = backoff_delay_ms(attempt);
            if (status == 429 || status == 503) {
                int64_t ra = http_retry_after_ms(http_header(resp, "retry-after"), time(NULL));
                if (ra > delay)
                    delay = ra;
            }
            http_response_free(resp);
        } else {
            fail_kind kind = classify(h, rc, host->cancelled(call), t.too_large);
            char *reason = scrub(errbuf[0] ? errbuf : curl->easy_strerror(rc), p.req.redact);
            log_msg(LOG_DEBUG, "http: %s %s -> %s (%ld ms, attempt %d/%d)", p.req.method,
                    p.shown_url, reason, elapsed, attempt, p.req.max_attempts);
            int retry = kind == FAIL_UNSENT ||
                        (kind == FAIL_MAYBE_SENT &&
                         (p.req.retry_non_idempotent || method_idempotent(p.req.method)));
            if (kind == FAIL_CANCELLED) {
                free(reason);
                error = INFRA_ECANCELLED;
                goto done;
            }
            if (last || !retry) {
                report_failure(call, &p, kind, attempt, reason);
                free(reason);
                error = fail_error(kind);
                goto done;
            }
            free(reason);
            delay = backoff_delay_ms(attempt);
        }
        pool_put(h);
        h = NULL;
        log_msg(LOG_DEBUG, "http: %s %s: retrying in %lld ms", p.req.method, p.shown_url,
                (long long)delay);
        if ((error = host->sleep_ms(call, delay)) < 0)
            goto done;
    }

done:
    pool_put(h);
    transfer_free(&t);
    prepared_free(&p);
    return error;
}

static const infra_http_api http_table = {
    .size = sizeof(infra_http_api),
    .request = http_request,
    .response_free = http_response_free,
    .header = http_header,
};

const infra_http_api *http_api(void)
{
    return &http_table;
}
