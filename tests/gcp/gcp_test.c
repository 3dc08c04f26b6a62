/* The fake host of the gcp unit tests: infra's host table with its HTTP
 * service replaced by a scripted server and call_resuming settable. */
#define _GNU_SOURCE
#include "gcp_test.h"
#include "gcp_res.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

typedef struct route {
    int fallback; /* gct_reset's: dropped when a test routes the same match */
    char *match;
    long status;
    char *body;
    int used;
    struct route *next;
} route;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static route *routes;
static gct_request *reqs;
static size_t nreqs;
static infra_host fake_host;
static infra_http_api fake_http;
static int resuming = -1;
static char *private_pem;

static char *dupstr(const char *s)
{
    return s ? strdup(s) : NULL;
}

static route *find_route(const char *line)
{
    /* The longest match wins; among equals, the first unused, else the last. */
    size_t best_len = 0;
    for (route *r = routes; r != NULL; r = r->next)
        if (strstr(line, r->match) != NULL && strlen(r->match) > best_len)
            best_len = strlen(r->match);
    route *fresh = NULL, *last = NULL;
    for (route *r = routes; r != NULL; r = r->next) {
        if (strstr(line, r->match) == NULL || strlen(r->match) != best_len)
            continue;
        if (!r->used && fresh == NULL)
            fresh = r;
        last = r;
    }
    return fresh ? fresh : last;
}

static int fake_request(infra_call *call, const infra_http_request *req, infra_http_response **out)
{
    (void)call;
    pthread_mutex_lock(&lock);
    gct_request *grown = realloc(reqs, (nreqs + 1) * sizeof(*reqs));
    assert_non_null(grown);
    reqs = grown;
    gct_request *r = &reqs[nreqs++];
    memset(r, 0, sizeof(*r));
    r->method = dupstr(req->method);
    r->url = dupstr(req->url);
    r->body = req->body ? strndup(req->body, req->body_len) : NULL;
    size_t nh = 0;
    while (req->headers && req->headers[nh])
        nh++;
    r->headers = calloc(nh + 1, sizeof(char *));
    for (size_t i = 0; i < nh; i++)
        r->headers[i] = strdup(req->headers[i]);
    char *line = NULL;
    if (asprintf(&line, "%s %s", req->method, req->url) < 0)
        line = NULL;
    route *rt = line ? find_route(line) : NULL;
    free(line);
    long status = rt ? rt->status : 404;
    char *body = strdup(rt ? rt->body
                           : "{\"error\": {\"code\": 404, \"message\": \"no canned answer\", "
                             "\"errors\": [{\"reason\": \"notFound\", \"message\": \"no canned "
                             "answer\"}]}}");
    if (rt != NULL)
        rt->used = 1;
    pthread_mutex_unlock(&lock);
    if (status == 0) {
        free(body);
        return INFRA_ETRANSIENT;
    }
    infra_http_response *resp = calloc(1, sizeof(*resp));
    resp->size = sizeof(*resp);
    resp->status = status;
    resp->body = body;
    resp->body_len = strlen(body);
    resp->headers = calloc(1, sizeof(char *));
    resp->attempts = 1;
    *out = resp;
    return 0;
}

static void fake_response_free(infra_http_response *resp)
{
    if (resp == NULL)
        return;
    free(resp->body);
    free(resp->headers);
    free(resp);
}

static const char *fake_header(const infra_http_response *resp, const char *name)
{
    (void)resp;
    (void)name;
    return NULL;
}

static int fake_resuming(infra_call *call)
{
    (void)call;
    return resuming;
}

static const char *fake_topology(infra_call *call)
{
    return call && call->topology ? call->topology : "";
}

static const char *fake_environment(infra_call *call)
{
    return call && call->environment ? call->environment : "";
}

static void route_add(const char *match, long status, const char *body, int fallback);

void gct_set_resuming(int r)
{
    resuming = r;
    fake_host.call_resuming = r < 0 ? NULL : fake_resuming;
}

void gct_reset(void)
{
    pthread_mutex_lock(&lock);
    if (fake_host.size == 0) {
        fake_host = *host_table();
        fake_http.size = sizeof(fake_http);
        fake_http.request = fake_request;
        fake_http.response_free = fake_response_free;
        fake_http.header = fake_header;
        fake_host.http = &fake_http;
        fake_host.call_topology = fake_topology;
        fake_host.call_environment = fake_environment;
    }
    pu_init(&fake_host, "gcp provider");
    while (routes != NULL) {
        route *next = routes->next;
        free(routes->match);
        free(routes->body);
        free(routes);
        routes = next;
    }
    for (size_t i = 0; i < nreqs; i++) {
        free(reqs[i].method);
        free(reqs[i].url);
        free(reqs[i].body);
        for (size_t k = 0; reqs[i].headers && reqs[i].headers[k]; k++)
            free(reqs[i].headers[k]);
        free(reqs[i].headers);
    }
    free(reqs);
    reqs = NULL;
    nreqs = 0;
    pthread_mutex_unlock(&lock);
    gct_set_resuming(-1);
    route_add("POST http://gcp.test/token", 200,
              "{\"access_token\": \"ya29.test-token\", \"expires_in\": 3599, \"token_type\": "
              "\"Bearer\"}",
              1);
}

static void route_add(const char *match, long status, const char *body, int fallback)
{
    route *r = calloc(1, sizeof(*r));
    r->match = strdup(match);
    r->status = status;
    r->body = strdup(body ? body : "");
    r->fallback = fallback;
    pthread_mutex_lock(&lock);
    for (route **pp = &routes; *pp != NULL;) {
        if ((*pp)->fallback && strcmp((*pp)->match, match) == 0) {
            route *gone = *pp;
            *pp = gone->next;
            free(gone->match);
            free(gone->body);
            free(gone);
            continue;
        }
        pp = &(*pp)->next;
    }
    route **tail = &routes;
    while (*tail)
        tail = &(*tail)->next;
    *tail = r;
    pthread_mutex_unlock(&lock);
}

void gct_route(const char *match, long status, const char *body)
{
    route_add(match, status, body, 0);
}

void gct_routef(const char *match, long status, const char *fmt, ...)
{
    va_list ap;
    char *body = NULL;
    va_start(ap, fmt);
    if (vasprintf(&body, fmt, ap) < 0)
        body = NULL;
    va_end(ap);
    gct_route(match, status, body);
    free(body);
}

size_t gct_nrequests(void)
{
    pthread_mutex_lock(&lock);
    size_t n = nreqs;
    pthread_mutex_unlock(&lock);
    return n;
}

const gct_request *gct_requests(size_t i)
{
    return i < nreqs ? &reqs[i] : NULL;
}

static int matches(const gct_request *r, const char *match)
{
    char *line = NULL;
    if (asprintf(&line, "%s %s", r->method, r->url) < 0)
        return 0;
    int hit = strstr(line, match) != NULL;
    free(line);
    return hit;
}

size_t gct_count(const char *match)
{
    size_t n = 0;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nreqs; i++)
        if (matches(&reqs[i], match))
            n++;
    pthread_mutex_unlock(&lock);
    return n;
}

const gct_request *gct_last(const char *match)
{
    const gct_request *found = NULL;
    for (size_t i = 0; i < nreqs; i++)
        if (matches(&reqs[i], match))
            found = &reqs[i];
    return found;
}

infra_json *gct_body(const gct_request *r)
{
    if (r == NULL || r->body == NULL)
        return NULL;
    return pu_host->json->parse(r->body, strlen(r->body));
}

const char *gct_header(const gct_request *r, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; r != NULL && r->headers[i] != NULL; i++)
        if (strncasecmp(r->headers[i], name, n) == 0 && r->headers[i][n] == ':')
            return r->headers[i] + n + 2;
    return NULL;
}

const char *gct_private_pem(void)
{
    if (private_pem == NULL) {
        EVP_PKEY *key = EVP_RSA_gen(2048);
        assert_non_null(key);
        BIO *bio = BIO_new(BIO_s_mem());
        assert_int_equal(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL), 1);
        char *data = NULL;
        long len = BIO_get_mem_data(bio, &data);
        private_pem = strndup(data, (size_t)len);
        BIO_free(bio);
        EVP_PKEY_free(key);
    }
    return private_pem;
}

infra_provider *gct_provider(void)
{
    infra_provider *p = calloc(1, sizeof(*p));
    p->project = strdup("infra-test");
    p->region = strdup("europe-west1");
    p->zone = strdup("europe-west1-b");
    p->zones = gcp_strv_new();
    gcp_strv_push(&p->zones, "europe-west1-b");
    gcp_strv_push(&p->zones, "europe-west1-c");
    p->endpoint[GCP_COMPUTE] = strdup("http://gcp.test/compute/v1/");
    p->endpoint[GCP_DNS] = strdup("http://gcp.test/dns/v1/");
    gcp_retry_policy_default(&p->retry);
    p->retry.base_ms = 1;
    p->retry.cap_ms = 4;
    p->retry.max_attempts = 4;
    p->retry.budget_ms = 5000;
    p->retry.in_use_ms = 50;
    p->retry.poll_first_ms = 2;
    p->retry.poll_max_ms = 5;
    p->waiter = gcp_waiter_new();
    pthread_mutex_init(&p->cache_lock, NULL);
    gcp_credentials c;
    memset(&c, 0, sizeof(c));
    c.kind = GCP_CRED_SERVICE_ACCOUNT;
    c.source = strdup("GOOGLE_APPLICATION_CREDENTIALS (/test/key.json)");
    c.client_email = strdup("infra@infra-test.iam.gserviceaccount.com");
    c.private_key_id = strdup("0123abcd");
    c.private_key = pu_host->secrets->wrap(gct_private_pem());
    c.token_uri = strdup("http://gcp.test/token");
    p->auth = gcp_auth_new(&c, NULL, "https://www.googleapis.com/auth/cloud-platform");
    return p;
}

void gct_provider_free(infra_provider *p)
{
    gcp_provider_free(p);
}

static void collect(void *ud, infra_call *call, int severity, const char *attr, const char *message)
{
    gct_call *c = ud;
    (void)call;
    size_t len = strlen(c->diags);
    snprintf(c->diags + len, sizeof(c->diags) - len, "%s[%s] %s\n",
             severity >= INFRA_DIAG_ERROR ? "error" : "warning", attr, message);
    if (severity >= INFRA_DIAG_ERROR) {
        c->ndiags++;
        snprintf(c->last_attr, sizeof(c->last_attr), "%s", attr);
    }
}

void gct_call_init(gct_call *c, const char *address, const char *token)
{
    memset(c, 0, sizeof(*c));
    host_call_init(&c->call, address, "gcp");
    c->call.token = token;
    c->call.topology = "web";
    c->call.environment = "test";
    c->call.diag = collect;
    c->call.diag_ud = c;
}

void gct_call_clear(gct_call *c)
{
    host_call_clear(&c->call);
}

infra_json *gct_json(const char *text)
{
    infra_json *v = pu_host->json->parse(text, strlen(text));
    assert_non_null(v);
    return v;
}

char *gct_dump(const infra_json *v)
{
    return pu_host->json->dump(v);
}

char *gct_op(const char *scope, const char *name, const char *status)
{
    char *out = NULL;
    const char *key = strncmp(scope, "zones/", 6) == 0     ? "zone"
                      : strncmp(scope, "regions/", 8) == 0 ? "region"
                                                           : NULL;
    if (asprintf(&out,
                 "{\"kind\": \"compute#operation\", \"name\": \"%s\", \"status\": \"%s\", "
                 "\"selfLink\": \"https://www.googleapis.com/compute/v1/projects/infra-test/%s/"
                 "operations/%s\"%s%s%s%s%s}",
                 name, status, scope, name, key ? ", \"" : "", key ? key : "",
                 key ? "\": \"https://www.googleapis.com/compute/v1/projects/infra-test/" : "",
                 key ? scope : "", key ? "\"" : "") < 0)
        return NULL;
    return out;
}

int gct_act(infra_provider *p, const char *type, gct_call *c, const infra_json *prior,
            const infra_json *planned, const infra_json *read_state, infra_json **out)
{
    void *priv_out = NULL;
    size_t priv_out_len = 0;
    gcp_act a = {p, &c->call, prior, planned, read_state, NULL, 0, out, &priv_out, &priv_out_len};
    const gcp_handler *h = gcp_handler_find(type);
    assert_non_null(h);
    int rc = read_state != NULL ? h->read(&a) : planned == NULL ? h->remove(&a) : h->apply(&a);
    if (priv_out != NULL)
        pu_host->free(priv_out);
    return rc;
}
