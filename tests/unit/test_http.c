/* The HTTP client against a scripted server on 127.0.0.1 running in a
 * thread of the test: retries, Retry-After, idempotency, cancellation,
 * redaction and TLS verification. */
#define _GNU_SOURCE /* strcasestr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "plugin/host.h"
#include "services/http.h"
#include "services/log.h"
#include "base/util.h"

/* ------------------------------------------------------------------ */
/* libssl, loaded at run time: the test binary links libcrypto only.  */

static struct {
    void *lib;
    const SSL_METHOD *(*server_method)(void);
    SSL_CTX *(*ctx_new)(const SSL_METHOD *);
    void (*ctx_free)(SSL_CTX *);
    int (*use_cert)(SSL_CTX *, X509 *);
    int (*use_key)(SSL_CTX *, EVP_PKEY *);
    SSL *(*ssl_new)(SSL_CTX *);
    void (*ssl_free)(SSL *);
    int (*set_fd)(SSL *, int);
    int (*accept)(SSL *);
    int (*read)(SSL *, void *, int);
    int (*write)(SSL *, const void *, int);
    int (*shutdown)(SSL *);
} ssl;

static int ssl_load(void)
{
    if (ssl.lib)
        return 0;
    ssl.lib = dlopen("libssl.so.3", RTLD_NOW);
    if (!ssl.lib)
        ssl.lib = dlopen("libssl.so", RTLD_NOW);
    if (!ssl.lib)
        return -1;
#define SYM(field, name)                                                                           \
    do {                                                                                           \
        *(void **)(&ssl.field) = dlsym(ssl.lib, name);                                             \
        if (!ssl.field)                                                                            \
            return -1;                                                                             \
    } while (0)
    SYM(server_method, "TLS_server_method");
    SYM(ctx_new, "SSL_CTX_new");
    SYM(ctx_free, "SSL_CTX_free");
    SYM(use_cert, "SSL_CTX_use_certificate");
    SYM(use_key, "SSL_CTX_use_PrivateKey");
    SYM(ssl_new, "SSL_new");
    SYM(ssl_free, "SSL_free");
    SYM(set_fd, "SSL_set_fd");
    SYM(accept, "SSL_accept");
    SYM(read, "SSL_read");
    SYM(write, "SSL_write");
    SYM(shutdown, "SSL_shutdown");
#undef SYM
    return 0;
}

/* ------------------------------------------------------------------ */
/* The scripted server                                                */

typedef struct step {
    int status;          /* 0: close the connection without answering */
    const char *headers; /* extra "Name: value\r\n" lines, or NULL */
    const char *body;    /* or NULL */
} step;

#define MAX_REQUESTS 64

typedef struct server {
    int fd;
    int port;
    pthread_t thread;
    int stop;
    const step *steps;
    size_t nsteps;
    SSL_CTX *tls; /* NULL: plain HTTP */
    pthread_mutex_t lock;
    size_t served;
    char *requests[MAX_REQUESTS];
    size_t request_lens[MAX_REQUESTS];
} server;

typedef struct conn {
    int fd;
    SSL *tls;
} conn;

static ssize_t conn_read(conn *c, char *buf, size_t n)
{
    if (c->tls)
        return ssl.read(c->tls, buf, (int)n);
    return recv(c->fd, buf, n, 0);
}

static void conn_write(conn *c, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = c->tls ? ssl.write(c->tls, buf, (int)n) : send(c->fd, buf, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        buf += w;
        n -= (size_t)w;
    }
}

/* Reads one request (head and Content-Length body); NULL on failure. */
static char *read_request(conn *c, size_t *len)
{
    util_buf b = {0};
    char chunk[4096];
    size_t need = 0;
    int have_head = 0;
    for (;;) {
        if (have_head && b.len >= need)
            break;
        ssize_t n = conn_read(c, chunk, sizeof(chunk));
        if (n <= 0) {
            util_buf_free(&b);
            return NULL;
        }
        util_buf_put(&b, chunk, (size_t)n);
        if (!have_head && b.len > 0 && (b.data[0] < 'A' || b.data[0] > 'Z')) {
            /* Not HTTP (a TLS hello): answer the way a plain server does. */
            conn_write(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", 47);
            util_buf_free(&b);
            return NULL;
        }
        char *end = have_head ? NULL : strstr(b.data, "\r\n\r\n");
        if (end) {
            have_head = 1;
            size_t body = 0;
            char *cl = strcasestr(b.data, "\r\nContent-Length:");
            if (cl && cl < end)
                body = strtoul(cl + 17, NULL, 10);
            need = (size_t)(end - b.data) + 4 + body;
        }
    }
    *len = b.len;
    return util_buf_take(&b);
}

static int server_stopped(server *s)
{
    return __atomic_load_n(&s->stop, __ATOMIC_SEQ_CST);
}

static void serve_one(server *s, int fd)
{
    conn c = {fd, NULL};
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (s->tls) {
        c.tls = ssl.ssl_new(s->tls);
        ssl.set_fd(c.tls, fd);
        if (ssl.accept(c.tls) != 1) {
            ssl.ssl_free(c.tls);
            return;
        }
    }
    size_t len = 0;
    char *request = read_request(&c, &len);
    if (request) {
        pthread_mutex_lock(&s->lock);
        size_t i = s->served++;
        if (i < MAX_REQUESTS) {
            s->requests[i] = request;
            s->request_lens[i] = len;
            request = NULL;
        }
        pthread_mutex_unlock(&s->lock);
        free(request);
        const step *st = &s->steps[i < s->nsteps ? i : s->nsteps - 1];
        if (st->status != 0) {
            const char *body = st->body ? st->body : "";
            char *answer =
                util_printf("HTTP/1.1 %d Scripted\r\nContent-Length: %zu\r\n"
                            "Connection: close\r\n%s\r\n%s",
                            st->status, strlen(body), st->headers ? st->headers : "", body);
            conn_write(&c, answer, strlen(answer));
            free(answer);
        }
    }
    if (c.tls) {
        ssl.shutdown(c.tls);
        ssl.ssl_free(c.tls);
    }
}

static void *server_main(void *arg)
{
    server *s = arg;
    while (!server_stopped(s)) {
        struct pollfd pfd = {s->fd, POLLIN, 0};
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        int fd = accept(s->fd, NULL, NULL);
        if (fd < 0)
            continue;
        serve_one(s, fd);
        close(fd);
    }
    return NULL;
}

static void server_start(server *s, const step *steps, size_t nsteps, SSL_CTX *tls)
{
    memset(s, 0, sizeof(*s));
    s->steps = steps;
    s->nsteps = nsteps;
    s->tls = tls;
    pthread_mutex_init(&s->lock, NULL);
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s->fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(s->fd, 64), 0);
    socklen_t alen = sizeof(addr);
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&addr, &alen), 0);
    s->port = ntohs(addr.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static size_t server_served(server *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->served;
    pthread_mutex_unlock(&s->lock);
    return n;
}

static void server_stop(server *s)
{
    __atomic_store_n(&s->stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(s->thread, NULL);
    close(s->fd);
    for (size_t i = 0; i < MAX_REQUESTS; i++)
        free(s->requests[i]);
    pthread_mutex_destroy(&s->lock);
}

static char *server_url(server *s, const char *scheme, const char *path)
{
    return util_printf("%s://127.0.0.1:%d%s", scheme, s->port, path);
}

/* A port on 127.0.0.1 that nobody listens on. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&addr, sizeof(addr));
    socklen_t alen = sizeof(addr);
    getsockname(fd, (struct sockaddr *)&addr, &alen);
    close(fd);
    return ntohs(addr.sin_port);
}

/* ------------------------------------------------------------------ */
/* Helpers                                                            */

typedef struct collected {
    util_buf text;
    int count;
} collected;

static void collect_diag(void *ud, infra_call *call, int severity, const char *attr,
                         const char *message)
{
    collected *c = ud;
    util_buf_printf(&c->text, "%s\n", message);
    c->count++;
}

static void call_collecting(infra_call *call, collected *c)
{
    memset(c, 0, sizeof(*c));
    host_call_init(call, "instance.web[0]", "test");
    call->diag = collect_diag;
    call->diag_ud = c;
}

static infra_http_request request_for(const char *method, const char *url)
{
    infra_http_request req = {0};
    req.size = sizeof(req);
    req.method = method;
    req.url = url;
    return req;
}

static int64_t now_ms(void)
{
    return host_table()->now_ms();
}

/* stderr redirected into a temporary file. */
typedef struct capture {
    int saved;
    FILE *file;
} capture;

static void capture_begin(capture *c)
{
    fflush(stderr);
    c->file = tmpfile();
    assert_non_null(c->file);
    c->saved = dup(2);
    dup2(fileno(c->file), 2);
}

static char *capture_end(capture *c)
{
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    util_buf b = {0};
    char chunk[1024];
    size_t n;
    rewind(c->file);
    while ((n = fread(chunk, 1, sizeof(chunk), c->file)) > 0)
        util_buf_put(&b, chunk, n);
    fclose(c->file);
    return util_buf_take(&b);
}

/* ------------------------------------------------------------------ */
/* Retries                                                            */

static void test_http_retries_503_twice_then_succeeds_on_third_attempt(void **state)
{
    static const step steps[] = {{503, NULL, "busy"}, {503, NULL, "busy"}, {200, NULL, "ok"}};
    server s;
    server_start(&s, steps, 3, NULL);
    char *url = server_url(&s, "http", "/thing");
    infra_call call;
    collected diags;
    call_collecting(&call, &diags);
    infra_http_request req = request_for("GET", url);
    infra_http_response *resp = NULL;

    assert_int_equal(http_request(&call, &req, &resp), 0);
    assert_non_null(resp);
    assert_int_equal(resp->status, 200);
    assert_int_equal(resp->attempts, 3);
    assert_string_equal(resp->body, "ok");
    assert_int_equal(server_served(&s), 3);
    assert_int_equal(diags.count, 0);

    http_response_free(resp);
    host_call_clear(&call);
    util_buf_free(&diags.text);
    free(url);
    server_stop(&s);
}

static void test_http_honours_retry_after_seconds_on_429(void **state)
{
    static const step steps[] = {{429, "Retry-After: 1\r\n", "slow down"}, {200, NULL, "ok"}};
    server s;
    server_start(&s, steps, 2, NULL);
    char *url = server_url(&s, "http", "/throttled");
    infra_http_request req = request_for("GET", url);
    infra_http_response *resp = NULL;

    int64_t start = now_ms();
    assert_int_equal(http_request(NULL, &req, &resp), 0);
    int64_t elapsed = now_ms() - start;
    assert_int_equal(resp->status, 200);
    assert_int_equal(resp->attempts, 2);
    assert_true(elapsed >= 900);

    http_response_free(resp);
    free(url);
    server_stop(&s);
}

static void test_http_post_on_500_is_not_retried_by_default(void **state)
{
    static const step steps[] = {{500, NULL, "oops"}, {200, NULL, "ok"}};
    server s;
    server_start(&s, steps, 2, NULL);
    char *url = server_url(&s, "http", "/create");
    infra_http_request req = request_for("POST", url);
    req.body = "{}";
    req.body_len = 2;
    infra_http_response *resp = NULL;

    assert_int_equal(http_request(NULL, &req, &resp), 0);
    assert_int_equal(resp->status, 500);
    assert_int_equal(resp->attempts, 1);
    assert_int_equal(server_served(&s), 1);

    http_response_free(resp);
    free(url);
    server_stop(&s);
}

static void test_http_post_on_500_is_retried_with_retry_non_idempotent(void **state)
{
    static const step steps[] = {{500, NULL, "oops"}, {200, NULL, "ok"}};
    server s;
    server_start(&s, steps, 2, NULL);
    char *url = server_url(&s, "http", "/create");
    infra_http_request req = request_for("POST", url);
    req.body = "{}";
    req.body_len = 2;
    req.retry_non_idempotent = 1;
    infra_http_response *resp = NULL;

    assert_int_equal(http_request(NULL, &req, &resp), 0);
    assert_int_equal(resp->status, 200);
    assert_int_equal(resp->attempts, 2);
    assert_int_equal(server_served(&s), 2);

    http_response_free(resp);
    free(url);
    server_stop(&s);
}

static void test_http_get_on_500_is_retried(void **state)
{
    static const step steps[] = {{500, NULL, "oops"}, {200, NULL, "ok"}};
    server s;
    server_start(&s, steps, 2, NULL);
    char *url = server_url(&s, "http", "/read");
    infra_http_request req = request_for("GET", url);
    infra_http_response *resp = NULL;

    assert_int_equal(http_request(NULL, &req, &resp), 0);
    assert_int_equal(resp->status, 200);
    assert_int_equal(resp->attempts, 2);

    http_response_free(resp);
    free(url);
    server_stop(&s);
}

static void test_http_404_is_not_retried(void **state)
{
    static const step steps[] = {{404, NULL, "no such thing"}, {200, NULL, "ok"}};
    server s;
    server_start(&s, steps, 2, NULL);
    char *url = server_url(&s, "http", "/missing");
    infra_call call;
    collected diags;
    call_collecting(&call, &diags);
    infra_http_request req = request_for("GET", url);
    infra_http_response *resp = NULL;

    assert_int_equal(http_request(&call, &req, &resp), 0);
    assert_int_equal(resp->status, 404);
    assert_int_equal(resp->attempts, 1);
    assert_string_equal(resp->body, "no such thing");
    assert_int_equal(server_served(&s), 1);
    assert_int_equal(diags.count, 0); /* the caller judges a status, not the client */

    http_response_free(resp);
    host_call_clear(&call);
    util_buf_free(&diags.text);
    free(url);
    server_stop(&s);
}

static void test_http_connection_closed_without_answer_is_retried(void **state)
{
    static const step steps[] = {{0, NULL, NULL}, {200, NULL, "ok"}};
    server s;
    server_start(&s, steps, 2, NULL);
    char *url = server_url(&s, "http", "/flaky");
    infra_http_request req = request_for("GET", url);
    infra_http_response *resp = NULL;

    assert_int_equal(http_request(NULL, &req, &resp), 0);
    assert_int_equal(resp->status, 200);
    assert_int_equal(resp->attempts, 2);
    assert_int_equal(server_served(&s), 2);

    http_response_free(resp);
    free(url);
    server_stop(&s);
}

static void test_http_every_attempt_failing_returns_transient_and_names_url(void **state)
{
    static const step steps[] = {{0, NULL, NULL}};
    server s;
    server_start(&s, steps, 1, NULL);
    char *url = server_url(&s, "http", "/always-closed");
    infra_call call;
    collected diags;
    call_collecting(&call, &diags);
    infra_http_request req = request_for("GET", url);
    req.max_attempts = 3;
    infra_http_response *resp = (infra_http_response *)&req; /* must be reset to NULL */

    assert_int_equal(http_request(&call, &req, &resp), INFRA_ETRANSIENT);
    assert_null(resp);
    assert_int_equal(server_served(&s), 3);
    assert_int_equal(diags.count, 1);
    assert_non_null(strstr(diags.text.data, url));
    assert_non_null(strstr(diags.text.data, "3 attempts"));
    assert_int_equal(call.errors, 1);
    assert_non_null(call.first_error);

    host_call_clear(&call);
    util_buf_free(&diags.text);
    free(url);
    server_stop(&s);
}

static void test_http_connection_refused_returns_transient_after_retries(void **state)
{
    char *url = util_printf("http://127.0.0.1:%d/nobody-home", closed_port());
    infra_call call;
    collected diags;
    call_collecting(&call, &diags);
    infra_http_request req = request_for("PUT", url);
    req.max_attempts = 2;
    infra_http_response *resp = NULL;

    assert_int_equal(http_request(&call, &req, &resp), INFRA_ETRANSIENT);
    assert_null(resp);
    assert_int_equal(diags.count, 1);
    assert_non_null(strstr(diags.text.data, url));
    assert_non_null(strstr(diags.text.data, "2 attempts"));

    host_call_clear(&call);
    util_buf_free(&diags.text);
    free(url);
}

static void test_http_redacted_token_never_reaches_diagnostics_or_logs(void **state)
{
    static const char token[] = "tok-9f8e7d6c5b4a-SECRET";
    static const step steps[] = {{0, NULL, NULL}};
    server s;
    server_start(&s, steps, 1, NULL);
    char *url = util_printf("http://127.0.0.1:%d/v1/things?token=%s", s.port, token);
    char *auth = util_printf("Authorization: Bearer %s", token);
    const char *headers[] = {auth, NULL};
    infra_http_request req = request_for("GET", url);
    req.headers = headers;
    req.redact = token;
    req.max_attempts = 2;
    infra_http_response *resp = NULL;

    /* Once through a diagnostics receiver, once with diagnostics logged. */
    infra_call call;
    collected diags;
    call_collecting(&call, &diags);
    log_level saved_level = log_get_level();
    log_set_level(LOG_DEBUG);
    capture cap;
    capture_begin(&cap);
    int rc1 = http_request(&call, &req, &resp);
    infra_call logged;
    host_call_init(&logged, "instance.web[0]", "test");
    int rc2 = http_request(&logged, &req, &resp);
    char *err = capture_end(&cap);
    log_set_level(saved_level);

    assert_int_equal(rc1, INFRA_ETRANSIENT);
    assert_int_equal(rc2, INFRA_ETRANSIENT);
    assert_int_equal(diags.count, 1);
    assert_null(strstr(diags.text.data, token));
    assert_non_null(strstr(diags.text.data, "token=[redacted]"));
    assert_null(strstr(logged.first_error, token));
    assert_non_null(strstr(err, "attempt 1/2")); /* the debug lines were printed */
    assert_non_null(strstr(err, "token=[redacted]"));
    assert_null(strstr(err, token));
    assert_null(strstr(err, "Bearer"));

    free(err);
    host_call_clear(&logged);
    host_call_clear(&call);
    util_buf_free(&diags.text);
    free(auth);
    free(url);
    server_stop(&s);
}

typedef struct canceller {
    volatile int *flag;
    int delay_ms;
} canceller;

static void *cancel_later(void *arg)
{
    canceller *c = arg;
    usleep((useconds_t)c->delay_ms * 1000);
    *c->flag = 1;
    return NULL;
}

static void test_http_cancellation_during_backoff_returns_promptly(void **state)
{
    static const step steps[] = {{503, "Retry-After: 60\r\n", "later"}, {200, NULL, "ok"}};
    server s;
    server_start(&s, steps, 2, NULL);
    char *url = server_url(&s, "http", "/wait");
    volatile int cancel = 0;
    infra_call call;
    host_call_init(&call, "instance.web[0]", "test");
    call.cancel = &cancel;
    canceller c = {&cancel, 300};
    pthread_t t;
    infra_http_request req = request_for("GET", url);
    infra_http_response *resp = NULL;

    int64_t start = now_ms();
    assert_int_equal(pthread_create(&t, NULL, cancel_later, &c), 0);
    assert_int_equal(http_request(&call, &req, &resp), INFRA_ECANCELLED);
    int64_t elapsed = now_ms() - start;
    pthread_join(t, NULL);
    assert_null(resp);
    assert_int_equal(server_served(&s), 1);
    assert_true(elapsed < 30000); /* far below the 60 s the server asked for */
    assert_int_equal(call.errors, 0);

    host_call_clear(&call);
    free(url);
    server_stop(&s);
}

static void test_http_cancelled_call_sends_nothing(void **state)
{
    static const step steps[] = {{200, NULL, "ok"}};
    server s;
    server_start(&s, steps, 1, NULL);
    char *url = server_url(&s, "http", "/never");
    volatile int cancel = 1;
    infra_call call;
    host_call_init(&call, "", "test");
    call.cancel = &cancel;
    infra_http_request req = request_for("GET", url);
    infra_http_response *resp = NULL;

    assert_int_equal(http_request(&call, &req, &resp), INFRA_ECANCELLED);
    assert_null(resp);
    assert_int_equal(server_served(&s), 0);

    free(url);
    server_stop(&s);
}

/* ------------------------------------------------------------------ */
/* What goes over the wire                                            */

static void test_http_request_body_and_headers_reach_server_intact(void **state)
{
    static const step steps[] = {{201, "X-Reply-Header: Yes\r\nX-Multi:  a b \r\n", "created"}};
    static const char body[] = "{\"name\":\"web\"}\0\x01\xff tail";
    server s;
    server_start(&s, steps, 1, NULL);
    char *url = server_url(&s, "http", "/upload?x=1");
    const char *headers[] = {"X-Infra-Test: hello world", "Content-Type: application/json", NULL};
    infra_http_request req = request_for("POST", url);
    req.headers = headers;
    req.body = body;
    req.body_len = sizeof(body) - 1;
    infra_http_response *resp = NULL;

    assert_int_equal(http_request(NULL, &req, &resp), 0);
    assert_int_equal(resp->status, 201);
    assert_string_equal(resp->body, "created");
    assert_int_equal(resp->body_len, 7);
    assert_string_equal(http_header(resp, "X-REPLY-HEADER"), "Yes");
    assert_string_equal(http_header(resp, "x-multi"), "a b");
    assert_string_equal(http_header(resp, "content-length"), "7");
    assert_null(http_header(resp, "x-absent"));
    int found = 0;
    for (size_t i = 0; resp->headers[i]; i++)
        found += strcmp(resp->headers[i], "x-reply-header: Yes") == 0;
    assert_int_equal(found, 1);

    assert_int_equal(server_served(&s), 1);
    const char *raw = s.requests[0];
    size_t raw_len = s.request_lens[0];
    assert_memory_equal(raw, "POST /upload?x=1 HTTP/1.1\r\n", 27);
    assert_non_null(strstr(raw, "\r\nX-Infra-Test: hello world\r\n"));
    assert_non_null(strstr(raw, "\r\nContent-Type: application/json\r\n"));
    assert_null(strcasestr(raw, "Expect:"));
    char *cl = util_printf("\r\nContent-Length: %zu\r\n", sizeof(body) - 1);
    assert_non_null(strstr(raw, cl));
    free(cl);
    assert_true(raw_len > sizeof(body) - 1);
    assert_memory_equal(raw + raw_len - (sizeof(body) - 1), body, sizeof(body) - 1);

    http_response_free(resp);
    free(url);
    server_stop(&s);
}

static void test_http_put_without_body_sends_empty_body(void **state)
{
    static const step steps[] = {{204, NULL, NULL}};
    server s;
    server_start(&s, steps, 1, NULL);
    char *url = server_url(&s, "http", "/empty");
    infra_http_request req = request_for("PUT", url);
    infra_http_response *resp = NULL;

    assert_int_equal(http_request(NULL, &req, &resp), 0);
    assert_int_equal(resp->status, 204);
    assert_int_equal(resp->body_len, 0);
    assert_string_equal(resp->body, "");
    assert_memory_equal(s.requests[0], "PUT /empty HTTP/1.1\r\n", 21);
    assert_non_null(strstr(s.requests[0], "\r\nContent-Length: 0\r\n"));

    http_response_free(resp);
    free(url);
    server_stop(&s);
}

typedef struct worker {
    const char *url;
    int ok;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 5; i++) {
        infra_http_request req = request_for("GET", w->url);
        infra_http_response *resp = NULL;
        if (http_request(NULL, &req, &resp) == 0 && resp->status == 200 &&
            strcmp(resp->body, "ok") == 0)
            w->ok++;
        http_response_free(resp);
    }
    return NULL;
}

static void test_http_threads_can_request_at_the_same_time(void **state)
{
    static const step steps[] = {{200, NULL, "ok"}};
    server s;
    server_start(&s, steps, 1, NULL);
    char *url = server_url(&s, "http", "/shared");
    worker workers[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        workers[i] = (worker){url, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, worker_main, &workers[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(workers[i].ok, 5);
    }
    assert_int_equal(server_served(&s), 20);
    free(url);
    server_stop(&s);
}

/* ------------------------------------------------------------------ */
/* Invalid requests                                                   */

static void test_http_malformed_or_unsupported_urls_are_invalid(void **state)
{
    const char *urls[] = {"not a url", "ftp://127.0.0.1/file", "http://"};
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        infra_call call;
        collected diags;
        call_collecting(&call, &diags);
        infra_http_request req = request_for("GET", urls[i]);
        infra_http_response *resp = NULL;
        assert_int_equal(http_request(&call, &req, &resp), INFRA_EINVALID);
        assert_null(resp);
        assert_int_equal(diags.count, 1);
        host_call_clear(&call);
        util_buf_free(&diags.text);
    }
}

static void test_http_header_with_line_break_is_refused_without_echoing_it(void **state)
{
    const char *headers[] = {"Authorization: Bearer abcd\r\nX-Evil: 1", NULL};
    infra_call call;
    collected diags;
    call_collecting(&call, &diags);
    infra_http_request req = request_for("GET", "http://127.0.0.1:1/x");
    req.headers = headers;
    infra_http_response *resp = NULL;

    assert_int_equal(http_request(&call, &req, &resp), INFRA_EINVALID);
    assert_int_equal(diags.count, 1);
    assert_null(strstr(diags.text.data, "Bearer"));

    host_call_clear(&call);
    util_buf_free(&diags.text);
}

static void test_http_request_smaller_than_url_field_is_invalid(void **state)
{
    infra_http_request req = request_for("GET", "http://127.0.0.1:1/x");
    req.size = offsetof(infra_http_request, url);
    infra_http_response *resp = NULL;
    infra_call call;
    collected diags;
    call_collecting(&call, &diags);
    assert_int_equal(http_request(&call, &req, &resp), INFRA_EINVALID);
    assert_int_equal(diags.count, 1);
    host_call_clear(&call);
    util_buf_free(&diags.text);
}

/* ------------------------------------------------------------------ */
/* TLS                                                                */

static void test_http_https_to_plain_server_fails_without_retrying(void **state)
{
    static const step steps[] = {{200, NULL, "ok"}};
    server s;
    server_start(&s, steps, 1, NULL);
    char *url = server_url(&s, "https", "/secure");
    infra_call call;
    collected diags;
    call_collecting(&call, &diags);
    infra_http_request req = request_for("GET", url);
    infra_http_response *resp = NULL;

    assert_int_equal(http_request(&call, &req, &resp), INFRA_EINVALID);
    assert_null(resp);
    assert_int_equal(diags.count, 1);
    assert_non_null(strstr(diags.text.data, "TLS"));
    assert_non_null(strstr(diags.text.data, "127.0.0.1"));

    host_call_clear(&call);
    util_buf_free(&diags.text);
    free(url);
    server_stop(&s);
}

/* A throwaway self-signed certificate for 127.0.0.1, written to cert_path. */
static void make_certificate(const char *cert_path, X509 **cert, EVP_PKEY **key)
{
    *key = EVP_EC_gen("P-256");
    assert_non_null(*key);
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
    X509_set_pubkey(x, *key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    const char *exts[][2] = {{"subjectAltName", "IP:127.0.0.1"},
                             {"basicConstraints", "critical,CA:TRUE"}};
    for (size_t i = 0; i < 2; i++) {
        X509_EXTENSION *ext = X509V3_EXT_conf(NULL, &v3, exts[i][0], exts[i][1]);
        assert_non_null(ext);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    assert_true(X509_sign(x, *key, EVP_sha256()) > 0);
    FILE *f = fopen(cert_path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, x), 1);
    fclose(f);
    *cert = x;
}

static void test_http_self_signed_server_is_refused_unless_its_cert_is_given(void **state)
{
    if (ssl_load() < 0) {
        print_message("libssl not loadable: TLS server test skipped\n");
        skip();
    }
    static const step steps[] = {{200, NULL, "secure"}};
    char dir[] = "/tmp/infra-test-http-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *cert_path = util_printf("%s/cert.pem", dir);
    X509 *cert;
    EVP_PKEY *key;
    make_certificate(cert_path, &cert, &key);
    SSL_CTX *ctx = ssl.ctx_new(ssl.server_method());
    assert_non_null(ctx);
    assert_int_equal(ssl.use_cert(ctx, cert), 1);
    assert_int_equal(ssl.use_key(ctx, key), 1);

    server s;
    server_start(&s, steps, 1, ctx);
    char *url = server_url(&s, "https", "/secure");
    infra_call call;
    collected diags;
    call_collecting(&call, &diags);
    infra_http_request req = request_for("GET", url);
    infra_http_response *resp = NULL;

    assert_int_equal(http_request(&call, &req, &resp), INFRA_EINVALID);
    assert_null(resp);
    assert_int_equal(diags.count, 1);
    assert_non_null(strstr(diags.text.data, "TLS certificate verification failed for 127.0.0.1"));
    assert_int_equal(server_served(&s), 0);

    req.ca_file = cert_path;
    assert_int_equal(http_request(&call, &req, &resp), 0);
    assert_int_equal(resp->status, 200);
    assert_string_equal(resp->body, "secure");
    assert_int_equal(server_served(&s), 1);
    http_response_free(resp);

    host_call_clear(&call);
    util_buf_free(&diags.text);
    free(url);
    server_stop(&s);
    ssl.ctx_free(ctx);
    X509_free(cert);
    EVP_PKEY_free(key);
    unlink(cert_path);
    rmdir(dir);
    free(cert_path);
}

/* ------------------------------------------------------------------ */
/* Policy pieces                                                      */

static void test_http_backoff_cap_doubles_from_200ms_up_to_20s(void **state)
{
    assert_int_equal(http_backoff_cap_ms(1), 200);
    assert_int_equal(http_backoff_cap_ms(2), 400);
    assert_int_equal(http_backoff_cap_ms(3), 800);
    assert_int_equal(http_backoff_cap_ms(7), 12800);
    assert_int_equal(http_backoff_cap_ms(8), 20000);
    assert_int_equal(http_backoff_cap_ms(1000), 20000);
}

static void test_http_retry_after_reads_seconds_and_http_dates(void **state)
{
    time_t now = curl_getdate("Sun, 06 Nov 1994 08:49:37 GMT", NULL);
    assert_true(now > 0);
    assert_int_equal(http_retry_after_ms("1", now), 1000);
    assert_int_equal(http_retry_after_ms(" 5 ", now), 5000);
    assert_int_equal(http_retry_after_ms("0", now), 0);
    assert_int_equal(http_retry_after_ms("999", now), 120000);
    assert_int_equal(http_retry_after_ms("99999999999999999999999", now), 120000);
    assert_int_equal(http_retry_after_ms("Sun, 06 Nov 1994 08:49:47 GMT", now), 10000);
    assert_int_equal(http_retry_after_ms("Sun, 06 Nov 1994 08:00:00 GMT", now), 0);
    assert_int_equal(http_retry_after_ms("Mon, 07 Nov 1994 08:49:37 GMT", now), 120000);
    assert_int_equal(http_retry_after_ms("soon", now), -1);
    assert_int_equal(http_retry_after_ms("5s", now), -1);
    assert_int_equal(http_retry_after_ms("", now), -1);
    assert_int_equal(http_retry_after_ms(NULL, now), -1);
}

static void test_http_status_retry_depends_on_method(void **state)
{
    assert_true(http_status_retryable(429, "POST", 0));
    assert_true(http_status_retryable(503, "POST", 0));
    assert_true(http_status_retryable(502, "GET", 0));
    assert_true(http_status_retryable(504, "delete", 0));
    assert_true(http_status_retryable(500, "OPTIONS", 0));
    assert_false(http_status_retryable(500, "POST", 0));
    assert_false(http_status_retryable(502, "PATCH", 0));
    assert_true(http_status_retryable(502, "POST", 1));
    assert_false(http_status_retryable(404, "GET", 1));
    assert_false(http_status_retryable(400, "GET", 0));
    assert_false(http_status_retryable(501, "GET", 0));
    assert_false(http_status_retryable(200, "GET", 0));
}

static void test_http_api_table_is_complete(void **state)
{
    const infra_http_api *api = host_table()->http;
    assert_ptr_equal(api, http_api());
    assert_int_equal(api->size, sizeof(infra_http_api));
    assert_true(INFRA_HAS_SLOT(api, request));
    assert_true(INFRA_HAS_SLOT(api, response_free));
    assert_true(INFRA_HAS_SLOT(api, header));
    api->response_free(NULL);
    assert_null(api->header(NULL, "x"));
}

int main(void)
{
    /* Requests go to 127.0.0.1 directly, whatever the environment says. */
    static const char *const proxies[] = {"http_proxy",  "HTTP_PROXY", "https_proxy",
                                          "HTTPS_PROXY", "all_proxy",  "ALL_PROXY"};
    for (size_t i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
        unsetenv(proxies[i]);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_retries_503_twice_then_succeeds_on_third_attempt),
        cmocka_unit_test(test_http_honours_retry_after_seconds_on_429),
        cmocka_unit_test(test_http_post_on_500_is_not_retried_by_default),
        cmocka_unit_test(test_http_post_on_500_is_retried_with_retry_non_idempotent),
        cmocka_unit_test(test_http_get_on_500_is_retried),
        cmocka_unit_test(test_http_404_is_not_retried),
        cmocka_unit_test(test_http_connection_closed_without_answer_is_retried),
        cmocka_unit_test(test_http_every_attempt_failing_returns_transient_and_names_url),
        cmocka_unit_test(test_http_connection_refused_returns_transient_after_retries),
        cmocka_unit_test(test_http_redacted_token_never_reaches_diagnostics_or_logs),
        cmocka_unit_test(test_http_cancellation_during_backoff_returns_promptly),
        cmocka_unit_test(test_http_cancelled_call_sends_nothing),
        cmocka_unit_test(test_http_request_body_and_headers_reach_server_intact),
        cmocka_unit_test(test_http_put_without_body_sends_empty_body),
        cmocka_unit_test(test_http_threads_can_request_at_the_same_time),
        cmocka_unit_test(test_http_malformed_or_unsupported_urls_are_invalid),
        cmocka_unit_test(test_http_header_with_line_break_is_refused_without_echoing_it),
        cmocka_unit_test(test_http_request_smaller_than_url_field_is_invalid),
        cmocka_unit_test(test_http_https_to_plain_server_fails_without_retrying),
        cmocka_unit_test(test_http_self_signed_server_is_refused_unless_its_cert_is_given),
        cmocka_unit_test(test_http_backoff_cap_doubles_from_200ms_up_to_20s),
        cmocka_unit_test(test_http_retry_after_reads_seconds_and_http_dates),
        cmocka_unit_test(test_http_status_retry_depends_on_method),
        cmocka_unit_test(test_http_api_table_is_complete),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    http_shutdown();
    return failed;
}
