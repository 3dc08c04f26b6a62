/* JSON calls to Compute Engine and Cloud DNS through host->http, and the
 * plugin's retry policy on top of the host's.
 *
 * Two layers retry, each for what it can judge. infra's HTTP client
 * repeats an attempt that failed in transport (and 429/503), up to
 * HOST_ATTEMPTS times; a POST only when the request is marked safe to
 * repeat, which every mutation of this plugin is (it carries a requestId
 * or a clientOperationId). This file reads Google's error and repeats the
 * call on rateLimitExceeded, userRateLimitExceeded, 429 and 5xx with
 * exponential backoff and full jitter inside the provider's budget
 * (gcp_retry_policy), fetches a new access token once on a 401, and
 * reports anything else once, with its reason, at the attribute it
 * concerns. */
#include "gcp_api.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Attempts of infra's HTTP client per try of the plugin. */
#define HOST_ATTEMPTS 3
#define REQUEST_TIMEOUT_MS 60000L

void gcp_resp_free(gcp_resp *r)
{
    if (r == NULL)
        return;
    GJ->release(r->json);
    gcp_error_clear(&r->err);
    free(r);
}

char *gcp_path(const infra_provider *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *rest = pu_vprintf(fmt, ap);
    va_end(ap);
    char *out = pu_printf("projects/%s/%s", p->project, rest);
    free(rest);
    return out;
}

/* One try: token, send, parse. 0 when an HTTP answer came. */
static int send_once(infra_provider *p, infra_call *call, const gcp_req *req, int refresh,
                     gcp_resp **out)
{
    infra_secret *token = NULL;
    infra_http_response *hr = NULL;
    char *body = NULL, *auth_line = NULL;
    pu_buf url = {0};
    int error;

    *out = NULL;
    if ((error = gcp_auth_token(p, call, req->attr, refresh, &token)) < 0)
        return error;
    pu_buf_printf(&url, "%s%s", p->endpoint[req->service], req->path);
    if (req->query != NULL && *req->query)
        pu_buf_printf(&url, "?%s", req->query);
    if (req->body != NULL && (body = GJ->dump(req->body)) == NULL) {
        pu_host->secrets->free(token);
        free(url.data);
        return INFRA_EINTERNAL;
    }
    auth_line = pu_printf("Authorization: Bearer %s", pu_host->secrets->value(token));
    const char *headers[] = {auth_line, "Accept: application/json",
                             body ? "Content-Type: application/json; charset=utf-8" : NULL, NULL};

    infra_http_request hreq;
    memset(&hreq, 0, sizeof(hreq));
    hreq.size = sizeof(hreq);
    hreq.method = req->method;
    hreq.url = url.data;
    hreq.headers = headers;
    hreq.body = body;
    hreq.body_len = body ? strlen(body) : 0;
    hreq.timeout_ms = REQUEST_TIMEOUT_MS;
    hreq.max_attempts = HOST_ATTEMPTS;
    hreq.retry_non_idempotent = (req->flags & GCP_SAFE) != 0;
    hreq.redact = pu_host->secrets->value(token);
    error = pu_host->http->request(call, &hreq, &hr);
    gcp_free_secret(auth_line);
    pu_host->secrets->free(token);
    if (body != NULL)
        pu_host->free(body);
    free(url.data);
    if (error < 0)
        return error;

    gcp_resp *r = pu_calloc(1, sizeof(*r));
    r->status = hr->status;
    r->attempts = hr->attempts;
    if (r->status >= 200 && r->status < 300) {
        if (hr->body != NULL && hr->body_len > 0)
            r->json = GJ->parse(hr->body, hr->body_len);
    } else {
        gcp_error_parse(hr->body, hr->body_len, hr->status, &r->err);
    }
    pu_host->http->response_free(hr);
    *out = r;
    return 0;
}

int gcp_call(infra_provider *p, infra_call *call, const gcp_req *req, gcp_resp **out)
{
    const gcp_retry_policy *policy = &p->retry;
    const char *attr = req->attr ? req->attr : "";
    int64_t start = pu_host->now_ms();
    int tries = 0, backoffs = 0, refreshed = 0;
    gcp_resp *r = NULL;
    int error;

    *out = NULL;
    for (;;) {
        if ((error = gcp_check_cancel(p, call)) < 0)
            return error;
        tries++;
        gcp_resp_free(r);
        r = NULL;
        error = send_once(p, call, req, refreshed == 1, &r);
        if (refreshed == 1)
            refreshed = 2;
        int64_t elapsed = pu_host->now_ms() - start;
        if (error == INFRA_ECANCELLED || error == INFRA_EAUTH)
            return error;
        if (error < 0) {
            /* The host reported it; a safe request gets the budget's tries. */
            if (error == INFRA_ETRANSIENT && (req->flags & GCP_SAFE) &&
                backoffs + 1 < policy->max_attempts && elapsed < policy->budget_ms) {
                backoffs++;
                int64_t delay = gcp_random_below(gcp_backoff_cap_ms(policy, backoffs));
                pu_logf(call, INFRA_LOG_DEBUG, "gcp %s: no answer, retrying in %lld ms", req->what,
                        (long long)delay);
                if ((error = gcp_sleep(p, call, delay)) < 0)
                    return error;
                continue;
            }
            return error;
        }
        if (r->status >= 200 && r->status < 300) {
            if (r->json == NULL && r->status != 204 && strcmp(req->method, "DELETE") != 0) {
                pu_diagf(call, attr, "gcp: %s in %s: the answer is not JSON (HTTP %ld)", req->what,
                         p->project, r->status);
                gcp_resp_free(r);
                return INFRA_EINTERNAL;
            }
            *out = r;
            return 0;
        }
        if (r->status == 401 && refreshed == 0) {
            /* The token was revoked or expired early: one more try with a new one. */
            refreshed = 1;
            pu_logf(call, INFRA_LOG_DEBUG, "gcp %s: 401, fetching a new access token", req->what);
            continue;
        }
        /* 429 and 503 say the request was not carried out; a 500 may have
         * been, so only a request that is harmless to repeat is repeated. */
        int again = gcp_error_retryable(&r->err) &&
                    ((req->flags & GCP_SAFE) || r->status == 429 || r->status == 503 ||
                     gcp_error_is(&r->err, "rateLimitExceeded userRateLimitExceeded"));
        if (again && backoffs + 1 < policy->max_attempts && elapsed < policy->budget_ms) {
            backoffs++;
            int64_t delay = gcp_random_below(gcp_backoff_cap_ms(policy, backoffs));
            pu_logf(call, INFRA_LOG_DEBUG, "gcp %s: %s, retrying in %lld ms (try %d)", req->what,
                    r->err.reason ? r->err.reason : r->err.message, (long long)delay, tries + 1);
            if ((error = gcp_sleep(p, call, delay)) < 0) {
                gcp_resp_free(r);
                return error;
            }
            continue;
        }
        int category = gcp_error_category(&r->err);
        if (again) {
            char *m =
                pu_printf("%s (gave up after %d tries in %lld s)",
                          r->err.message ? r->err.message : "", tries, (long long)(elapsed / 1000));
            free(r->err.message);
            r->err.message = m;
            gcp_error_diag(p, call, attr, req->what, &r->err);
            category = INFRA_ETRANSIENT;
        } else if (!gcp_error_is(&r->err, req->quiet)) {
            gcp_error_diag(p, call, attr, req->what, &r->err);
        }
        *out = r;
        return category;
    }
}

int gcp_get(infra_provider *p, infra_call *call, gcp_service svc, const char *path,
            const char *query, const char *what, const char *attr, const char *quiet,
            infra_json **out)
{
    gcp_req req = {
        .service = svc,
        .method = "GET",
        .path = path,
        .query = query,
        .what = what,
        .attr = attr,
        .flags = GCP_SAFE,
        .quiet = quiet,
    };
    gcp_resp *r = NULL;
    *out = NULL;
    int error = gcp_call(p, call, &req, &r);
    if (error == 0) {
        *out = r->json;
        r->json = NULL;
        if (*out == NULL)
            *out = GJ->new_object();
    }
    gcp_resp_free(r);
    return error;
}
