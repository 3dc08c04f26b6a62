/* JSON calls to the OpenStack services through host->http, and the
 * plugin's retry policy on top of the host's.
 *
 * Two layers retry, each for what it can judge. infra's HTTP client
 * repeats an attempt that failed in transport (and 503/429), up to
 * HOST_ATTEMPTS times; a POST only when the request is marked safe to
 * repeat. This file reads the service's answer: it renews the token once
 * on a 401, backs off and repeats on 429, 503 and 413 with Retry-After
 * (rate limits) and on 500/502/504 when repeating is safe, waits out "in
 * use" conflicts of deletes and Octavia's PENDING_* states for a bounded
 * time, and reports anything else once, decoded, at the attribute it
 * concerns. */
#include "os_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Attempts of infra's HTTP client per try of the plugin. */
#define HOST_ATTEMPTS 3
/* How long one request may take: a read or a repeatable change; a create
 * (not repeatable: a busy cloud may still be making the object when a
 * shorter wait gives up) waits up to its call's deadline, at most
 * CREATE_TIMEOUT_MS. */
#define REQUEST_TIMEOUT_MS 120000L
#define CREATE_TIMEOUT_MS 900000L
#define RETRY_AFTER_MAX_S 120

void os_retry_policy_default(os_retry_policy *policy)
{
    policy->max_attempts = 8;
    policy->budget_ms = 120000;
    policy->base_ms = 500;
    policy->cap_ms = 20000;
    policy->dependency_ms = 300000;
    policy->immutable_ms = 300000;
}

int64_t os_backoff_cap_ms(const os_retry_policy *policy, int attempt)
{
    int64_t cap = policy->base_ms;
    for (int i = 1; i < attempt && cap < policy->cap_ms; i++)
        cap *= 2;
    return cap < policy->cap_ms ? cap : policy->cap_ms;
}

void os_resp_free(os_resp *r)
{
    if (r == NULL)
        return;
    OJ->release(r->body);
    os_error_clear(&r->error);
    free(r);
}

/* The path without its query, for messages. */
static char *path_only(const char *path)
{
    return pu_strndup(path ? path : "", strcspn(path ? path : "", "?"));
}

void os_error_diag(infra_provider *p, infra_call *call, const char *attr, const os_req *r,
                   long status, const os_error *e)
{
    char *path = path_only(r->path);
    const char *msg = e->message ? e->message : "no message";
    if (e->quota != NULL)
        pu_diagf(call, attr, "openstack: %s %s %s in %s: quota exceeded: %s (%s)",
                 os_service_project(r->svc), r->method, path, p->region, e->quota, msg);
    else if (e->code != NULL)
        pu_diagf(call, attr, "openstack: %s %s %s in %s: %ld %s: %s", os_service_project(r->svc),
                 r->method, path, p->region, status, e->code, msg);
    else
        pu_diagf(call, attr, "openstack: %s %s %s in %s: HTTP %ld: %s", os_service_project(r->svc),
                 r->method, path, p->region, status, msg);
    free(path);
}

int os_endpoint(infra_provider *p, infra_call *call, os_service svc, const char *attr,
                const char **base)
{
    int error = 0;
    char *url = NULL, *err = NULL;

    pthread_mutex_lock(&p->lock);
    if (p->endpoint[svc] != NULL) {
        *base = p->endpoint[svc];
        pthread_mutex_unlock(&p->lock);
        return 0;
    }
    pthread_mutex_unlock(&p->lock);
    if (p->override[svc] != NULL) {
        url = pu_strdup(p->override[svc]);
    } else {
        char *token = NULL;
        if ((error = os_auth_token(p, call, -1, &token, NULL)) < 0)
            return error;
        os_free_secret(token);
        pthread_mutex_lock(&p->token.lock);
        error = os_catalog_endpoint(p->catalog, os_service_type(svc), p->region, p->interface, &url,
                                    &err);
        pthread_mutex_unlock(&p->token.lock);
        if (error < 0) {
            pu_diagf(call, attr, "openstack: %s (%s) is not offered by this cloud: %s",
                     os_service_project(svc), os_service_type(svc), err);
            free(err);
            return INFRA_ENOTSUP;
        }
    }
    char *b = os_service_base(svc, url);
    free(url);
    pthread_mutex_lock(&p->lock);
    if (p->endpoint[svc] == NULL)
        p->endpoint[svc] = b;
    else
        free(b);
    *base = p->endpoint[svc];
    pthread_mutex_unlock(&p->lock);
    return 0;
}

static long request_timeout_ms(infra_call *call, const os_req *r)
{
    if (r->flags & OS_SAFE)
        return REQUEST_TIMEOUT_MS;
    long ms = CREATE_TIMEOUT_MS;
    int64_t deadline = INFRA_HAS_SLOT(pu_host, call_deadline_ms) && call != NULL
                           ? pu_host->call_deadline_ms(call)
                           : 0;
    if (deadline > 0 && deadline - pu_host->now_ms() < ms)
        ms = (long)(deadline - pu_host->now_ms());
    return ms < REQUEST_TIMEOUT_MS ? REQUEST_TIMEOUT_MS : ms;
}

/* One try: send, decode. 0 when an HTTP answer came; *retry_after is the
 * Retry-After seconds it asked for, or -1. */
static int send_once(infra_provider *p, infra_call *call, const os_req *r, const char *url,
                     const char *token, int microversion, os_resp **out, long *retry_after)
{
    char *auth = pu_printf("X-Auth-Token: %s", token);
    char mv1[64], mv2[64];
    const char *headers[7];
    size_t nh = 0;
    char *text = r->body ? OJ->dump(r->body) : NULL;
    infra_http_response *hr = NULL;

    headers[nh++] = auth;
    headers[nh++] = "Accept: application/json";
    if (text != NULL)
        headers[nh++] = "Content-Type: application/json";
    if (microversion > 0) {
        snprintf(mv1, sizeof(mv1), "OpenStack-API-Version: compute 2.%d", microversion);
        snprintf(mv2, sizeof(mv2), "X-OpenStack-Nova-API-Version: 2.%d", microversion);
        headers[nh++] = mv1;
        headers[nh++] = mv2;
    }
    headers[nh] = NULL;

    infra_http_request req;
    memset(&req, 0, sizeof(req));
    req.size = sizeof(req);
    req.method = r->method;
    req.url = url;
    req.headers = headers;
    req.body = text;
    req.body_len = text ? strlen(text) : 0;
    req.timeout_ms = request_timeout_ms(call, r);
    req.max_attempts = HOST_ATTEMPTS;
    req.retry_non_idempotent = (r->flags & OS_SAFE) != 0;
    req.ca_file = p->cacert;
    req.redact = token;
    *out = NULL;
    *retry_after = -1;
    int error = pu_host->http->request(call, &req, &hr);
    os_free_secret(auth);
    free(text);
    if (error < 0)
        return error;

    os_resp *resp = pu_calloc(1, sizeof(*resp));
    resp->status = hr->status;
    resp->attempts = hr->attempts;
    if (hr->status >= 200 && hr->status < 300) {
        if (hr->body != NULL && hr->body_len > 0)
            resp->body = OJ->parse(hr->body, hr->body_len);
    } else {
        os_error_decode(hr->status, hr->body, hr->body_len, &resp->error);
        const char *ra = pu_host->http->header(hr, "Retry-After");
        char *end = NULL;
        long secs = ra ? strtol(ra, &end, 10) : -1;
        if (ra != NULL && end != ra && secs >= 0)
            *retry_after = secs > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : secs;
    }
    pu_host->http->response_free(hr);
    *out = resp;
    return 0;
}

static int idempotent(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "PUT") == 0 ||
           strcmp(method, "DELETE") == 0 || strcmp(method, "HEAD") == 0;
}

/* The loop of os_call for an absolute url. */
static int call_url(infra_provider *p, infra_call *call, const os_req *r, const char *url,
                    int microversion, os_resp **out)
{
    const os_retry_policy *policy = &p->retry;
    int64_t start = pu_host->now_ms();
    int tries = 0, backoffs = 0, waits = 0, renewed = 0;
    long stale = -1;
    int safe = (r->flags & OS_SAFE) || idempotent(r->method);
    os_resp *resp = NULL;
    int error;

    *out = NULL;
    for (;;) {
        char *token = NULL;
        long generation = 0, retry_after = -1;
        if ((error = os_check_cancel(p, call)) < 0 ||
            (error = os_auth_token(p, call, stale, &token, &generation)) < 0)
            break;
        tries++;
        os_resp_free(resp);
        resp = NULL;
        error = send_once(p, call, r, url, token, microversion, &resp, &retry_after);
        os_free_secret(token);
        int64_t elapsed = pu_host->now_ms() - start;
        if (error == INFRA_ECANCELLED)
            break;
        if (error < 0) {
            /* The host reported it; a safe request gets the budget's tries. */
            if (error == INFRA_ETRANSIENT && safe && backoffs + 1 < policy->max_attempts &&
                elapsed < policy->budget_ms) {
                backoffs++;
                if ((error = os_sleep(p, call,
                                      os_random_below(os_backoff_cap_ms(policy, backoffs)))) < 0)
                    break;
                continue;
            }
            break;
        }
        long st = resp->status;
        if (st >= 200 && st < 300) {
            *out = resp;
            return 0;
        }
        if (st == 401 && !renewed) {
            /* Expired or revoked: a new token, the same request, once. */
            renewed = 1;
            stale = generation;
            pu_logf(call, INFRA_LOG_INFO, "%s refused the token (401); renewing it",
                    os_service_project(r->svc));
            continue;
        }
        int64_t delay = -1;
        int throttled =
            st == 429 || st == 503 || (st == 413 && retry_after >= 0 && resp->error.quota == NULL);
        int server = st == 500 || st == 502 || st == 504;
        if ((throttled || (server && safe)) && backoffs + 1 < policy->max_attempts &&
            elapsed < policy->budget_ms) {
            backoffs++;
            delay = os_random_below(os_backoff_cap_ms(policy, backoffs));
            if (retry_after * 1000 > delay)
                delay = retry_after * 1000;
        } else if (st == 409 && (r->flags & OS_DEPENDENT) && elapsed < policy->dependency_ms) {
            waits++;
            delay = waits < 5 ? 1000L * waits : 5000;
        } else if (st == 409 && (r->flags & OS_IMMUTABLE) && elapsed < policy->immutable_ms) {
            waits++;
            delay = waits < 5 ? 500L * waits : 3000;
        }
        if (delay >= 0) {
            pu_logf(call, INFRA_LOG_DEBUG, "%s %s: HTTP %ld, again in %lld ms (try %d)",
                    os_service_project(r->svc), r->method, st, (long long)delay, tries + 1);
            if ((error = os_sleep(p, call, delay)) < 0)
                break;
            continue;
        }
        error = os_error_category(st, &resp->error);
        if (throttled || server) {
            char *m = pu_printf("%s (gave up after %d tries in %lld s)",
                                resp->error.message ? resp->error.message : "", tries,
                                (long long)(elapsed / 1000));
            free(resp->error.message);
            resp->error.message = m;
            if (error != INFRA_EINVALID)
                error = INFRA_ETRANSIENT;
        }
        int quiet =
            (st == 404 && (r->flags & OS_QUIET_404)) || (st == 409 && (r->flags & OS_QUIET_409));
        if (!quiet)
            os_error_diag(p, call, r->attr ? r->attr : "", r, st, &resp->error);
        *out = resp;
        return error;
    }
    os_resp_free(resp);
    return error;
}

int os_call(infra_provider *p, infra_call *call, const os_req *r, os_resp **out)
{
    const char *base = NULL;
    int minor = 0, error;

    *out = NULL;
    if ((error = os_endpoint(p, call, r->svc, r->attr ? r->attr : "", &base)) < 0)
        return error;
    if (r->svc == OS_COMPUTE && (error = os_nova_minor(p, call, &minor)) < 0)
        return error;
    char *url = pu_printf("%s%s", base, r->path ? r->path : "");
    error = call_url(p, call, r, url, minor, out);
    free(url);
    return error;
}

int os_get(infra_provider *p, infra_call *call, os_service svc, const char *path, unsigned flags,
           infra_json **body)
{
    os_req r = {svc, "GET", path, NULL, "", flags | OS_SAFE};
    os_resp *resp = NULL;
    int error = os_call(p, call, &r, &resp);
    *body = NULL;
    if (error == 0) {
        *body = resp->body;
        resp->body = NULL;
        if (*body == NULL) {
            pu_diagf(call, "", "openstack: %s GET %s in %s: the answer is not JSON",
                     os_service_project(svc), path, p->region);
            error = INFRA_EINTERNAL;
        }
    }
    os_resp_free(resp);
    return error;
}

int os_send(infra_provider *p, infra_call *call, os_service svc, const char *method,
            const char *path, const infra_json *body, const char *attr, unsigned flags,
            infra_json **answer)
{
    os_req r = {svc, method, path, body, attr, flags};
    os_resp *resp = NULL;
    int error = os_call(p, call, &r, &resp);
    if (answer != NULL) {
        *answer = NULL;
        if (error == 0) {
            *answer = resp->body;
            resp->body = NULL;
        }
    }
    os_resp_free(resp);
    return error;
}

/* The query of the "next" link of a list answer ("?marker=..."), or NULL. */
static const char *next_query(const infra_json *body, const char *key)
{
    char *links_key = pu_printf("%s_links", key);
    const infra_json *links = OJ->get(body, links_key);
    free(links_key);
    const char *href = NULL;
    for (size_t i = 0; i < OJ->length(links); i++) {
        const char *rel = pu_json_str(OJ->at(links, i), "rel");
        if (rel != NULL && strcmp(rel, "next") == 0)
            href = pu_json_str(OJ->at(links, i), "href");
    }
    if (href == NULL)
        href = pu_json_str(body, "next"); /* Glance */
    if (href == NULL)
        href = pu_json_str(OJ->get(body, "links"), "next"); /* Designate */
    return href ? strchr(href, '?') : NULL;
}

/* The encoded value of marker= in a query "?a=b&marker=X", or NULL (caller frees). */
static char *marker_of(const char *query)
{
    for (const char *s = query; s != NULL && *s; s = strchr(s, '&')) {
        s++; /* past '?' or '&' */
        if (strncmp(s, "marker=", 7) == 0)
            return pu_strndup(s + 7, strcspn(s + 7, "&#"));
    }
    return NULL;
}

int os_list(infra_provider *p, infra_call *call, os_service svc, const char *path, const char *key,
            infra_json **out)
{
    infra_json *all = OJ->new_array();
    char *page = pu_strdup(path);
    int error = 0;

    *out = NULL;
    for (int pages = 0; page != NULL && pages < 1000; pages++) {
        infra_json *body = NULL;
        if ((error = os_get(p, call, svc, page, OS_QUIET_404, &body)) < 0)
            break;
        free(page);
        page = NULL;
        const infra_json *items = OJ->get(body, key);
        for (size_t i = 0; i < OJ->length(items); i++)
            OJ->append(all, OJ->copy(OJ->at(items, i)));
        /* The next page is this query from the next link's marker on
         * (some services' links drop the filters). */
        char *marker = OJ->length(items) > 0 ? marker_of(next_query(body, key)) : NULL;
        if (marker != NULL)
            page = pu_printf("%s%cmarker=%s", path, strchr(path, '?') ? '&' : '?', marker);
        free(marker);
        OJ->release(body);
    }
    free(page);
    if (error < 0) {
        OJ->release(all);
        return error;
    }
    *out = all;
    return 0;
}

int os_nova_minor(infra_provider *p, infra_call *call, int *minor)
{
    const char *base = NULL;
    int error;

    pthread_mutex_lock(&p->lock);
    *minor = p->nova_minor;
    pthread_mutex_unlock(&p->lock);
    if (*minor > 0)
        return 0;
    if ((error = os_endpoint(p, call, OS_COMPUTE, "", &base)) < 0)
        return error;
    char *url = os_service_version_url(OS_COMPUTE, base);
    os_req r = {OS_COMPUTE, "GET", "/", NULL, "", OS_SAFE};
    os_resp *resp = NULL;
    char *err = NULL;
    error = call_url(p, call, &r, url, 0, &resp);
    if (error == 0 && resp->body == NULL)
        error = INFRA_EINTERNAL;
    if (error == 0 && (error = os_nova_microversion(resp->body, OS_NOVA_MIN_MINOR,
                                                    OS_NOVA_MAX_MINOR, minor, &err)) < 0)
        pu_diagf(call, "", "openstack: nova at %s in %s: %s", url, p->region, err);
    os_resp_free(resp);
    free(err);
    free(url);
    if (error < 0)
        return error;
    pthread_mutex_lock(&p->lock);
    p->nova_minor = *minor;
    pthread_mutex_unlock(&p->lock);
    return 0;
}

int os_octavia_minor(infra_provider *p, infra_call *call, int *minor)
{
    const char *base = NULL;
    int error;

    pthread_mutex_lock(&p->lock);
    *minor = p->octavia_minor;
    pthread_mutex_unlock(&p->lock);
    if (*minor >= 0)
        return 0;
    if ((error = os_endpoint(p, call, OS_LB, "", &base)) < 0)
        return error;
    char *url = os_service_root_url(base);
    os_req r = {OS_LB, "GET", "/", NULL, "", OS_SAFE | OS_QUIET_404};
    os_resp *resp = NULL;
    error = call_url(p, call, &r, url, 0, &resp);
    *minor = 0;
    if (error == 0 && (resp->body == NULL || os_octavia_version(resp->body, minor) < 0))
        pu_logf(call, INFRA_LOG_INFO,
                "octavia at %s lists no versions: load balancers are not tagged", url);
    os_resp_free(resp);
    free(url);
    if (error < 0 && error != INFRA_ENOTFOUND)
        return error;
    pthread_mutex_lock(&p->lock);
    p->octavia_minor = *minor;
    pthread_mutex_unlock(&p->lock);
    return 0;
}
