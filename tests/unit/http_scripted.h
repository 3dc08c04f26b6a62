/* A scripted HTTP server for the HTTP client's tests (test_http,
 * test_http_wire): a thread of the test listening on 127.0.0.1 that
 * answers its N-th request with the N-th step of a script (the last step
 * for any further one), keeps what it received, and speaks TLS when given
 * a context. libssl is loaded at run time: the test binaries link
 * libcrypto only. Also the diagnostics of one call collected as text.
 *
 * Include after cmocka.h. */
#ifndef HTTP_SCRIPTED_H
#define HTTP_SCRIPTED_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <stddef.h>

#include "base/util.h"
#include "plugin/host.h"
#include "services/http.h"

/* One answer of the script. */
typedef struct scripted_step {
    int status;          /* 0: close the connection without answering */
    const char *headers; /* extra "Name: value\r\n" lines, or NULL */
    const char *body;    /* or NULL */
} scripted_step;

#define SCRIPTED_MAX_REQUESTS 64

typedef struct scripted_server {
    int fd;
    int port; /* where it listens on 127.0.0.1 */
    pthread_t thread;
    int stop;
    const scripted_step *steps;
    size_t nsteps;
    SSL_CTX *tls; /* NULL: plain HTTP */
    pthread_mutex_t lock;
    size_t served;                         /* requests read so far */
    char *requests[SCRIPTED_MAX_REQUESTS]; /* each one as received */
    size_t request_lens[SCRIPTED_MAX_REQUESTS];
} scripted_server;

/* The libssl functions the server and the TLS tests use (scripted_ssl_load). */
struct scripted_ssl {
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
};
extern struct scripted_ssl scripted_ssl;

/* Fills scripted_ssl from libssl; 0, or -1 when it cannot be loaded. */
int scripted_ssl_load(void);

/* Starts s answering with steps (borrowed until scripted_stop) over TLS
 * context tls (NULL: plain HTTP); fails the test on an error. */
void scripted_start(scripted_server *s, const scripted_step *steps, size_t nsteps, SSL_CTX *tls);

/* How many requests s has read. */
size_t scripted_served(scripted_server *s);

/* Stops s and frees what it kept. */
void scripted_stop(scripted_server *s);

/* "SCHEME://127.0.0.1:PORT/PATH" of s; caller frees. */
char *scripted_url(scripted_server *s, const char *scheme, const char *path);

/* A port on 127.0.0.1 that nobody listens on. */
int scripted_closed_port(void);

/* Diagnostics received on a call. */
typedef struct scripted_diags {
    util_buf text; /* the messages, one a line */
    int count;
} scripted_diags;

/* Sets call up (for instance.web[0]) with its diagnostics going to c; the
 * caller clears call and frees c->text. */
void scripted_call_begin(infra_call *call, scripted_diags *c);

/* A request of method for url, everything else left at its default. */
infra_http_request scripted_request(const char *method, const char *url);

/* Unsets the proxy variables of the environment: requests go to 127.0.0.1
 * directly, whatever the environment says. */
void scripted_no_proxy(void);

#endif
