/* The fake host of the openstack unit tests: infra's host table with its
 * HTTP service replaced by a scripted server. */
#define _GNU_SOURCE
#include "ost.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

typedef struct route {
    char *method;
    char *part;
    long status;
    char *headers;
    char *body;
    int used;
    struct route *next;
} route;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static route *routes;
static ost_request *reqs;
static size_t nreqs;
static infra_host fake_host;
static infra_http_api fake_http;
static int resuming = -1;

static route *find_route(const char *method, const char *url)
{
    route *best = NULL;
    for (route *r = routes; r != NULL; r = r->next) {
        if (strcmp(r->method, method) != 0 || strstr(url, r->part) == NULL)
            continue;
        if (!r->used)
            return r;
        best = r; /* the last used one repeats */
    }
    return best;
}

/* "name: value" lines, names lower-cased, NULL-terminated. */
static char **header_lines(const char *text)
{
    char **out = calloc(16, sizeof(char *));
    size_t n = 0;
    char *copy = strdup(text ? text : "");
    for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line && n < 15;
         line = strtok_r(NULL, "\n", &save)) {
        char *l = strdup(line);
        for (char *c = l; *c && *c != ':'; c++)
            *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
        out[n++] = l;
    }
    free(copy);
    return out;
}

static int fake_request(infra_call *call, const infra_http_request *req, infra_http_response **out)
{
    (void)call;
    pthread_mutex_lock(&lock);
    ost_request *grown = realloc(reqs, (nreqs + 1) * sizeof(*reqs));
    assert_non_null(grown);
    reqs = grown;
    ost_request *r = &reqs[nreqs++];
    memset(r, 0, sizeof(*r));
    r->method = strdup(req->method);
    r->url = strdup(req->url);
    r->body = req->body ? strndup(req->body, req->body_len) : NULL;
    size_t nh = 0;
    while (req->headers && req->headers[nh])
        nh++;
    r->headers = calloc(nh + 1, sizeof(char *));
    for (size_t i = 0; i < nh; i++)
        r->headers[i] = strdup(req->headers[i]);
    route *rt = find_route(req->method, req->url);
    long status = rt ? rt->status : 404;
    char *body = strdup(rt ? rt->body : "{\"itemNotFound\": {\"code\": 404, \"message\": \"no canned answer\"}}");
    char **headers = header_lines(rt ? rt->headers : NULL);
    if (rt != NULL)
        rt->used = 1;
    pthread_mutex_unlock(&lock);
    if (status == 0) {
        free(body);
        for (size_t i = 0; headers[i]; i++)
            free(headers[i]);
        free(headers);
        return INFRA_ETRANSIENT;
    }
    infra_http_response *resp = calloc(1, sizeof(*resp));
    resp->size = sizeof(*resp);
    resp->status = status;
    resp->body = body;
    resp->body_len = strlen(body);
    resp->headers = headers;
    resp->attempts = 1;
    *out = resp;
    return 0;
}

static void fake_response_free(infra_http_response *resp)
{
    if (resp == NULL)
        return;
    free(resp->body);
    for (size_t i = 0; resp->headers && resp->headers[i]; i++)
        free(resp->headers[i]);
    free(resp->headers);
    free(resp);
}

static const char *fake_header(const infra_http_response *resp, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; resp->headers && resp->headers[i]; i++)
        if (strncasecmp(resp->headers[i], name, n) == 0 && resp->headers[i][n] == ':') {
            const char *v = resp->headers[i] + n + 1;
            while (*v == ' ')
                v++;
            return v;
        }
    return NULL;
}

static int fake_resuming(infra_call *call)
{
    (void)call;
    return resuming;
}

void ost_set_resuming(int value)
{
    resuming = value;
    fake_host.call_resuming = value < 0 ? NULL : fake_resuming;
}

void ost_reset(void)
{
    pthread_mutex_lock(&lock);
    if (fake_host.size == 0) {
        fake_host = *host_table();
        fake_http.size = sizeof(fake_http);
        fake_http.request = fake_request;
        fake_http.response_free = fake_response_free;
        fake_http.header = fake_header;
        fake_host.http = &fake_http;
    }
    pu_init(&fake_host, "openstack provider");
    while (routes != NULL) {
        route *next = routes->next;
        free(routes->method);
        free(routes->part);
        free(routes->headers);
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
    ost_set_resuming(-1);
}

void ost_route(const char *method, const char *part, long status, const char *headers,
               const char *body)
{
    route *r = calloc(1, sizeof(*r));
    r->method = strdup(method);
    r->part = strdup(part);
    r->status = status;
    r->headers = headers ? strdup(headers) : NULL;
    r->body = strdup(body ? body : "");
    pthread_mutex_lock(&lock);
    route **tail = &routes;
    while (*tail)
        tail = &(*tail)->next;
    *tail = r;
    pthread_mutex_unlock(&lock);
}

size_t ost_nrequests(void)
{
    pthread_mutex_lock(&lock);
    size_t n = nreqs;
    pthread_mutex_unlock(&lock);
    return n;
}

const ost_request *ost_requests(size_t i)
{
    return i < nreqs ? &reqs[i] : NULL;
}

size_t ost_count(const char *method, const char *part)
{
    size_t n = 0;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nreqs; i++)
        if (strcmp(reqs[i].method, method) == 0 && strstr(reqs[i].url, part) != NULL)
            n++;
    pthread_mutex_unlock(&lock);
    return n;
}

const ost_request *ost_last(const char *method, const char *part)
{
    const ost_request *found = NULL;
    for (size_t i = 0; i < nreqs; i++)
        if (strcmp(reqs[i].method, method) == 0 && strstr(reqs[i].url, part) != NULL)
            found = &reqs[i];
    return found;
}

static int path_is(const char *url, const char *path)
{
    size_t n = strcspn(url, "?"), k = strlen(path);
    return n >= k && strncmp(url + n - k, path, k) == 0;
}

size_t ost_count_path(const char *method, const char *path)
{
    size_t n = 0;
    for (size_t i = 0; i < nreqs; i++)
        n += strcmp(reqs[i].method, method) == 0 && path_is(reqs[i].url, path);
    return n;
}

const ost_request *ost_last_path(const char *method, const char *path)
{
    const ost_request *found = NULL;
    for (size_t i = 0; i < nreqs; i++)
        if (strcmp(reqs[i].method, method) == 0 && path_is(reqs[i].url, path))
            found = &reqs[i];
    return found;
}

const char *ost_header(const ost_request *r, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; r && r->headers && r->headers[i]; i++)
        if (strncasecmp(r->headers[i], name, n) == 0 && r->headers[i][n] == ':') {
            const char *v = r->headers[i] + n + 1;
            while (*v == ' ')
                v++;
            return v;
        }
    return NULL;
}

infra_json *ost_body(const ost_request *r)
{
    assert_non_null(r);
    assert_non_null(r->body);
    return ost_json(r->body);
}

infra_provider *ost_provider(void)
{
    infra_provider *p = os_provider_new();
    p->auth_url = strdup("http://keystone.test/v3");
    p->auth_kind = OS_AUTH_PASSWORD;
    p->username = strdup("user-test");
    p->user_domain_name = strdup("Default");
    p->project_name = strdup("9d5e5ad1c4b84f5a");
    p->project_domain_name = strdup("Default");
    p->secret = pu_host->secrets->wrap("s3cret-password");
    p->region = strdup("GRA7");
    p->interface = strdup("public");
    p->source = strdup("cloud \"ovh\" of clouds.yaml");
    p->retry.base_ms = 1;
    p->retry.cap_ms = 4;
    p->retry.max_attempts = 4;
    p->retry.budget_ms = 5000;
    p->retry.dependency_ms = 1500;
    p->retry.immutable_ms = 1500;
    return p;
}

static void iso(time_t t, char out[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%S.000000Z", &tm);
}

void ost_route_token(const char *token, long life, long issued_ago)
{
    char issued[32], expires[32];
    time_t now = time(NULL);
    iso(now - issued_ago, issued);
    iso(now - issued_ago + life, expires);
    char *headers = NULL, *body = NULL;
    if (asprintf(&headers, "X-Subject-Token: %s\nContent-Type: application/json", token) < 0 ||
        asprintf(&body,
                 "{\"token\": {\"issued_at\": \"%s\", \"expires_at\": \"%s\", \"methods\": "
                 "[\"password\"], \"project\": {\"id\": \"c06cb3aaf13d4978b1b98871f9f0b207\", "
                 "\"name\": \"9d5e5ad1c4b84f5a\"}, \"catalog\": ["
                 "{\"type\": \"compute\", \"endpoints\": [{\"interface\": \"public\", "
                 "\"region_id\": \"GRA7\", \"url\": \"http://nova.test/v2.1\"}]},"
                 "{\"type\": \"network\", \"endpoints\": [{\"interface\": \"public\", "
                 "\"region_id\": \"GRA7\", \"url\": \"http://neutron.test\"}]},"
                 "{\"type\": \"image\", \"endpoints\": [{\"interface\": \"public\", "
                 "\"region_id\": \"GRA7\", \"url\": \"http://glance.test\"}]},"
                 "{\"type\": \"dns\", \"endpoints\": [{\"interface\": \"public\", "
                 "\"region_id\": \"GRA7\", \"url\": \"http://designate.test/\"}]},"
                 "{\"type\": \"load-balancer\", \"endpoints\": [{\"interface\": \"public\", "
                 "\"region_id\": \"GRA7\", \"url\": \"http://octavia.test\"}]}]}}",
                 issued, expires) < 0)
        fail_msg("asprintf");
    ost_route("POST", "/auth/tokens", 201, headers, body);
    free(headers);
    free(body);
}

static void collect(void *ud, infra_call *call, int severity, const char *attr, const char *message)
{
    ost_call *c = ud;
    (void)call;
    size_t len = strlen(c->diags);
    snprintf(c->diags + len, sizeof(c->diags) - len, "%s[%s] %s\n",
             severity >= INFRA_DIAG_ERROR ? "error" : "warning", attr, message);
    if (severity >= INFRA_DIAG_ERROR) {
        c->ndiags++;
        snprintf(c->last_attr, sizeof(c->last_attr), "%s", attr);
    }
}

void ost_call_init(ost_call *c, const char *address, const char *token)
{
    memset(c, 0, sizeof(*c));
    host_call_init(&c->call, address, "openstack");
    c->call.token = token;
    c->call.topology = "web";
    c->call.environment = "test";
    c->call.diag = collect;
    c->call.diag_ud = c;
}

void ost_call_clear(ost_call *c)
{
    host_call_clear(&c->call);
}

infra_json *ost_json(const char *text)
{
    infra_json *v = pu_host->json->parse(text, strlen(text));
    assert_non_null(v);
    return v;
}

char *ost_dump(const infra_json *v)
{
    return pu_host->json->dump(v);
}

char *ost_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

infra_json *ost_sample(const char *path)
{
    char *full = NULL;
    if (asprintf(&full, "%s/openstack/%s", OST_CONFORMANCE_DIR, path) < 0)
        fail_msg("asprintf");
    char *text = ost_read_file(full);
    infra_json *v = ost_json(text);
    free(text);
    free(full);
    return v;
}
