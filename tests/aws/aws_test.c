/* The fake host of the aws unit tests: infra's host table with its HTTP
 * service replaced by a scripted server. */
#define _GNU_SOURCE
#include "aws_test.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_sigv4.h"

typedef struct route {
    char *action;
    long status;
    char *body;
    int used;
    struct route *next;
} route;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static route *routes;
static awt_request *reqs;
static size_t nreqs;
static infra_host fake_host;
static infra_http_api fake_http;
static int resuming_answer;

static char *dupstr(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* The Action of a form body, or the path of the URL. */
static char *action_of(const char *url, const char *body)
{
    const char *a = body ? strstr(body, "Action=") : NULL;
    if (a != NULL && (a == body || a[-1] == '&')) {
        a += 7;
        size_t n = strcspn(a, "&");
        return strndup(a, n);
    }
    const char *path = strstr(url, "://");
    path = path ? strchr(path + 3, '/') : url;
    return strdup(path ? path : "/");
}

static route *find_route(const char *action, const char *url)
{
    route *best = NULL;
    for (route *r = routes; r != NULL; r = r->next) {
        int match = strcmp(r->action, action) == 0 || (url && strstr(url, r->action) != NULL);
        if (!match)
            continue;
        if (!r->used)
            return r;
        best = r; /* the last used one repeats */
    }
    return best;
}

static int fake_request(infra_call *call, const infra_http_request *req, infra_http_response **out)
{
    (void)call;
    pthread_mutex_lock(&lock);
    awt_request *grown = realloc(reqs, (nreqs + 1) * sizeof(*reqs));
    assert_non_null(grown);
    reqs = grown;
    awt_request *r = &reqs[nreqs++];
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
    r->action = action_of(req->url, r->body);
    route *rt = find_route(r->action, req->url);
    long status = rt ? rt->status : 404;
    char *body = strdup(rt ? rt->body
                           : "<ErrorResponse><Error><Code>NoRoute</Code>"
                             "<Message>no canned answer</Message></Error>"
                             "</ErrorResponse>");
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

static int fake_call_resuming(infra_call *call)
{
    (void)call;
    return resuming_answer;
}

void awt_set_resuming(int answer)
{
    pthread_mutex_lock(&lock);
    resuming_answer = answer;
    fake_host.call_resuming = answer < 0 ? NULL : fake_call_resuming;
    pthread_mutex_unlock(&lock);
}

void awt_reset(void)
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
    /* Like a host of ABI 1.1 by default: no word on resumed creates. */
    fake_host.call_resuming = NULL;
    pu_init(&fake_host, "aws provider");
    while (routes != NULL) {
        route *next = routes->next;
        free(routes->action);
        free(routes->body);
        free(routes);
        routes = next;
    }
    for (size_t i = 0; i < nreqs; i++) {
        free(reqs[i].method);
        free(reqs[i].url);
        free(reqs[i].action);
        free(reqs[i].body);
        for (size_t k = 0; reqs[i].headers && reqs[i].headers[k]; k++)
            free(reqs[i].headers[k]);
        free(reqs[i].headers);
    }
    free(reqs);
    reqs = NULL;
    nreqs = 0;
    pthread_mutex_unlock(&lock);
    aws_xml_init();
}

void awt_route(const char *action, long status, const char *body)
{
    route *r = calloc(1, sizeof(*r));
    r->action = strdup(action);
    r->status = status;
    r->body = strdup(body ? body : "");
    pthread_mutex_lock(&lock);
    route **tail = &routes;
    while (*tail)
        tail = &(*tail)->next;
    *tail = r;
    pthread_mutex_unlock(&lock);
}

void awt_routef(const char *action, long status, const char *fmt, ...)
{
    va_list ap;
    char *body = NULL;
    va_start(ap, fmt);
    if (vasprintf(&body, fmt, ap) < 0)
        body = NULL;
    va_end(ap);
    awt_route(action, status, body);
    free(body);
}

size_t awt_nrequests(void)
{
    pthread_mutex_lock(&lock);
    size_t n = nreqs;
    pthread_mutex_unlock(&lock);
    return n;
}

const awt_request *awt_requests(size_t i)
{
    return i < nreqs ? &reqs[i] : NULL;
}

size_t awt_count(const char *action)
{
    size_t n = 0;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nreqs; i++)
        if (strcmp(reqs[i].action, action) == 0)
            n++;
    pthread_mutex_unlock(&lock);
    return n;
}

const awt_request *awt_last(const char *action)
{
    const awt_request *found = NULL;
    for (size_t i = 0; i < nreqs; i++)
        if (strcmp(reqs[i].action, action) == 0)
            found = &reqs[i];
    return found;
}

char *awt_param(const awt_request *r, const char *key)
{
    if (r == NULL || r->body == NULL)
        return NULL;
    size_t klen = strlen(key);
    for (const char *s = r->body; s && *s;) {
        const char *amp = strchr(s, '&');
        size_t len = amp ? (size_t)(amp - s) : strlen(s);
        const char *eq = memchr(s, '=', len);
        if (eq != NULL) {
            int n = 0;
            char *k = curl_easy_unescape(NULL, s, (int)(eq - s), &n);
            int match = k && (size_t)n == klen && memcmp(k, key, klen) == 0;
            curl_free(k);
            if (match) {
                char *v = curl_easy_unescape(NULL, eq + 1, (int)(s + len - eq - 1), &n);
                char *out = strndup(v, (size_t)n);
                curl_free(v);
                return out;
            }
        }
        s = amp ? amp + 1 : NULL;
    }
    return NULL;
}

infra_provider *awt_provider(void)
{
    infra_provider *p = calloc(1, sizeof(*p));
    p->region = strdup("us-east-1");
    for (int i = 0; i < AWS_NSERVICES; i++)
        p->endpoint[i] = strdup("http://aws.test");
    p->access_key_id = strdup("AKIDEXAMPLE");
    p->secret_key = pu_host->secrets->wrap("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    p->credentials_source = strdup("AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY");
    aws_retry_policy_default(&p->retry);
    p->retry.base_ms = 1;
    p->retry.cap_ms = 4;
    p->retry.max_attempts = 4;
    p->retry.budget_ms = 5000;
    p->retry.fresh_ms = 1500;
    p->retry.dependency_ms = 1500;
    p->zones = calloc(3, sizeof(char *));
    p->zones[0] = strdup("us-east-1a");
    p->zones[1] = strdup("us-east-1b");
    p->nzones = 2;
    p->waiter = aws_waiter_new();
    p->lookups = aws_lookups_new();
    pthread_mutex_init(&p->cache_lock, NULL);
    pthread_mutex_init(&p->tried_lock, NULL);
    return p;
}

void awt_provider_free(infra_provider *p)
{
    aws_provider_free(p);
}

static void collect(void *ud, infra_call *call, int severity, const char *attr, const char *message)
{
    awt_call *c = ud;
    (void)call;
    size_t len = strlen(c->diags);
    snprintf(c->diags + len, sizeof(c->diags) - len, "%s[%s] %s\n",
             severity >= INFRA_DIAG_ERROR ? "error" : "warning", attr, message);
    if (severity >= INFRA_DIAG_ERROR) {
        c->ndiags++;
        snprintf(c->last_attr, sizeof(c->last_attr), "%s", attr);
    }
}

void awt_call_init(awt_call *c, const char *address, const char *token)
{
    memset(c, 0, sizeof(*c));
    host_call_init(&c->call, address, "aws");
    c->call.token = token;
    c->call.topology = "web";
    c->call.environment = "test";
    c->call.diag = collect;
    c->call.diag_ud = c;
}

void awt_call_clear(awt_call *c)
{
    host_call_clear(&c->call);
}

infra_json *awt_json(const char *text)
{
    infra_json *v = pu_host->json->parse(text, strlen(text));
    assert_non_null(v);
    return v;
}

char *awt_dump(const infra_json *v)
{
    return pu_host->json->dump(v);
}

char *awt_read_file(const char *path)
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
