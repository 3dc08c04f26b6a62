/* A scripted HTTP(S) server on 127.0.0.1 in a thread of the test, for the
 * HTTP client's tests (http_scripted.h). */
#define _GNU_SOURCE /* strcasestr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "http_scripted.h"

/* ------------------------------------------------------------------ */
/* libssl, loaded at run time: the test binary links libcrypto only.  */

struct scripted_ssl scripted_ssl;

int scripted_ssl_load(void)
{
    if (scripted_ssl.lib)
        return 0;
    scripted_ssl.lib = dlopen("libssl.so.3", RTLD_NOW);
    if (!scripted_ssl.lib)
        scripted_ssl.lib = dlopen("libssl.so", RTLD_NOW);
    if (!scripted_ssl.lib)
        return -1;
#define SYM(field, name)                                                                           \
    do {                                                                                           \
        *(void **)(&scripted_ssl.field) = dlsym(scripted_ssl.lib, name);                           \
        if (!scripted_ssl.field)                                                                   \
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

typedef struct conn {
    int fd;
    SSL *tls;
} conn;

static ssize_t conn_read(conn *c, char *buf, size_t n)
{
    if (c->tls)
        return scripted_ssl.read(c->tls, buf, (int)n);
    return recv(c->fd, buf, n, 0);
}

static void conn_write(conn *c, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w =
            c->tls ? scripted_ssl.write(c->tls, buf, (int)n) : send(c->fd, buf, n, MSG_NOSIGNAL);
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

static int server_stopped(scripted_server *s)
{
    return __atomic_load_n(&s->stop, __ATOMIC_SEQ_CST);
}

static void serve_one(scripted_server *s, int fd)
{
    conn c = {fd, NULL};
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (s->tls) {
        c.tls = scripted_ssl.ssl_new(s->tls);
        scripted_ssl.set_fd(c.tls, fd);
        if (scripted_ssl.accept(c.tls) != 1) {
            scripted_ssl.ssl_free(c.tls);
            return;
        }
    }
    size_t len = 0;
    char *request = read_request(&c, &len);
    if (request) {
        pthread_mutex_lock(&s->lock);
        size_t i = s->served++;
        if (i < SCRIPTED_MAX_REQUESTS) {
            s->requests[i] = request;
            s->request_lens[i] = len;
            request = NULL;
        }
        pthread_mutex_unlock(&s->lock);
        free(request);
        const scripted_step *st = &s->steps[i < s->nsteps ? i : s->nsteps - 1];
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
        scripted_ssl.shutdown(c.tls);
        scripted_ssl.ssl_free(c.tls);
    }
}

static void *server_main(void *arg)
{
    scripted_server *s = arg;
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

void scripted_start(scripted_server *s, const scripted_step *steps, size_t nsteps, SSL_CTX *tls)
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

size_t scripted_served(scripted_server *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->served;
    pthread_mutex_unlock(&s->lock);
    return n;
}

void scripted_stop(scripted_server *s)
{
    __atomic_store_n(&s->stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(s->thread, NULL);
    close(s->fd);
    for (size_t i = 0; i < SCRIPTED_MAX_REQUESTS; i++)
        free(s->requests[i]);
    pthread_mutex_destroy(&s->lock);
}

char *scripted_url(scripted_server *s, const char *scheme, const char *path)
{
    return util_printf("%s://127.0.0.1:%d%s", scheme, s->port, path);
}

/* A port on 127.0.0.1 that nobody listens on. */
int scripted_closed_port(void)
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

static void collect_diag(void *ud, infra_call *call, int severity, const char *attr,
                         const char *message)
{
    scripted_diags *c = ud;
    util_buf_printf(&c->text, "%s\n", message);
    c->count++;
}

void scripted_call_begin(infra_call *call, scripted_diags *c)
{
    memset(c, 0, sizeof(*c));
    host_call_init(call, "instance.web[0]", "test");
    call->diag = collect_diag;
    call->diag_ud = c;
}

infra_http_request scripted_request(const char *method, const char *url)
{
    infra_http_request req = {0};
    req.size = sizeof(req);
    req.method = method;
    req.url = url;
    return req;
}

void scripted_no_proxy(void)
{
    static const char *const proxies[] = {"http_proxy",  "HTTP_PROXY", "https_proxy",
                                          "HTTPS_PROXY", "all_proxy",  "ALL_PROXY"};
    for (size_t i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
        unsetenv(proxies[i]);
}
