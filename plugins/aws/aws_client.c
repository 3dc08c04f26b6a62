/* Signed calls to the AWS APIs through host->http, and the plugin's retry
 * policy on top of the host's.
 *
 * Two layers retry, each for what it can judge. infra's HTTP client repeats
 * an attempt that failed in transport (and 503/429), up to HOST_ATTEMPTS
 * times; a POST only when the request is marked safe to repeat. This file
 * reads the AWS error and repeats the call on throttling and server errors
 * with exponential backoff and full jitter inside the provider's budget
 * (aws_retry_policy), waits out Invalid*.NotFound right after a create and
 * DependencyViolation on deletes for a bounded time, and reports anything
 * else once, with its code, at the attribute it concerns. */
#include "aws_api.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Attempts of infra's HTTP client per try of the plugin. */
#define HOST_ATTEMPTS 3
#define REQUEST_TIMEOUT_MS 60000L
#define FORM_CONTENT_TYPE "application/x-www-form-urlencoded; charset=utf-8"

const char *aws_signing_region(const infra_provider *p, aws_service svc)
{
    return svc == AWS_R53 ? "us-east-1" : p->region;
}

/* The authority ("host[:port]") and path prefix of an endpoint URL. */
static void split_url(const char *url, char **authority, const char **path)
{
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    const char *slash = strchr(host, '/');
    size_t n = slash ? (size_t)(slash - host) : strlen(host);
    const char *at = memchr(host, '@', n); /* never sign user info */
    if (at != NULL) {
        n -= (size_t)(at + 1 - host);
        host = at + 1;
    }
    *authority = pu_strndup(host, n);
    *path = slash ? slash : "/";
}

int aws_sign_headers(const infra_provider *p, aws_service svc, const char *method, const char *url,
                     const aws_kv *query, size_t nquery, const char *body, size_t body_len,
                     const char *content_type, long long now, char ***lines)
{
    char date[17];
    char *authority = NULL;
    const char *path = NULL;
    const char *token = p->session_token ? pu_host->secrets->value(p->session_token) : NULL;
    aws_kv headers[4];
    size_t nh = 0;

    aws_sigv4_date(now, date);
    split_url(url, &authority, &path);
    headers[nh++] = (aws_kv){"Host", authority};
    headers[nh++] = (aws_kv){"X-Amz-Date", date};
    if (content_type != NULL)
        headers[nh++] = (aws_kv){"Content-Type", content_type};
    if (token != NULL)
        headers[nh++] = (aws_kv){"X-Amz-Security-Token", token};

    aws_sigv4_request r = {
        .method = method,
        .path = path,
        .query = query,
        .nquery = nquery,
        .headers = headers,
        .nheaders = nh,
        .body = body,
        .body_len = body_len,
        .amz_date = date,
        .region = aws_signing_region(p, svc),
        .service = aws_service_signing_name(svc),
        .access_key_id = p->access_key_id,
        .secret_key = pu_host->secrets->value(p->secret_key),
    };
    char *authz = aws_sigv4_authorization(&r);
    char **out = NULL;
    for (size_t i = 0; i < nh; i++) {
        char *line = pu_printf("%s: %s", headers[i].key, headers[i].value);
        aws_strv_push(&out, line);
        aws_free_secret_copy(line);
    }
    char *line = pu_printf("Authorization: %s", authz);
    aws_strv_push(&out, line);
    free(line);
    free(authz);
    free(authority);
    *lines = out;
    return 0;
}

void aws_resp_free(aws_resp *r)
{
    if (r == NULL)
        return;
    if (r->doc != NULL)
        xmlFreeDoc(r->doc);
    free(r->code);
    free(r->message);
    free(r);
}

static const char *where(const infra_provider *p, aws_service svc)
{
    return svc == AWS_R53 ? "Route 53" : p->region;
}

void aws_error_diag(infra_provider *p, infra_call *call, const char *attr, aws_service svc,
                    const char *action, const char *code, const char *message)
{
    const char *m = message && *message ? message : "no message";
    if (aws_error_category(code, 0) == INFRA_EAUTH)
        pu_diagf(call, attr, "aws: %s in %s: %s: %s (%s refused the credentials of %s)", action,
                 where(p, svc), code, m, aws_service_signing_name(svc), p->credentials_source);
    else
        pu_diagf(call, attr, "aws: %s in %s: %s: %s", action, where(p, svc), code ? code : "error",
                 m);
}

/* The OpResult child of ELB and Auto Scaling answers; the root otherwise. */
static xmlNode *result_of(xmlNode *root, aws_service svc)
{
    if (svc != AWS_ELB && svc != AWS_ASG)
        return root;
    for (xmlNode *c = root ? root->children : NULL; c != NULL; c = c->next) {
        size_t n = c->type == XML_ELEMENT_NODE ? strlen((const char *)c->name) : 0;
        if (n > 6 && strcmp((const char *)c->name + n - 6, "Result") == 0)
            return c;
    }
    return root;
}

/* One try: sign, send, parse. 0 when an HTTP answer came. */
static int send_once(infra_provider *p, infra_call *call, const aws_op *op, aws_resp **out)
{
    const char *base = p->endpoint[op->service];
    pu_buf url = {0};
    char **headers = NULL;
    infra_http_response *hr = NULL;
    int error;

    *out = NULL;
    pu_buf_printf(&url, "%s%s", base, op->path ? op->path : "/");
    for (size_t i = 0; i < op->nquery; i++) {
        char *k = aws_uri_encode(op->query[i].key, 0);
        char *v = aws_uri_encode(op->query[i].value ? op->query[i].value : "", 0);
        pu_buf_printf(&url, "%c%s=%s", i ? '&' : '?', k, v);
        free(k);
        free(v);
    }
    /* The signed path is the endpoint's path prefix plus op->path. */
    char *path_only = pu_printf("%s%s", base, op->path ? op->path : "/");
    aws_sign_headers(p, op->service, op->method, path_only, op->query, op->nquery, op->body,
                     op->body_len, op->body ? op->content_type : NULL, (long long)time(NULL),
                     &headers);
    free(path_only);

    infra_http_request req;
    memset(&req, 0, sizeof(req));
    req.size = sizeof(req);
    req.method = op->method;
    req.url = url.data;
    req.headers = (const char *const *)headers;
    req.body = op->body;
    req.body_len = op->body_len;
    req.timeout_ms = REQUEST_TIMEOUT_MS;
    req.max_attempts = HOST_ATTEMPTS;
    req.retry_non_idempotent = (op->flags & AWS_SAFE) != 0;
    req.redact = p->session_token ? pu_host->secrets->value(p->session_token) : NULL;
    error = pu_host->http->request(call, &req, &hr);
    aws_strv_free(headers);
    free(url.data);
    if (error < 0)
        return error;

    aws_resp *r = pu_calloc(1, sizeof(*r));
    r->status = hr->status;
    r->attempts = hr->attempts;
    if (hr->body != NULL && hr->body_len > 0)
        r->doc = aws_xml_parse(hr->body, hr->body_len);
    xmlNode *root = r->doc ? xmlDocGetRootElement(r->doc) : NULL;
    if (r->status >= 200 && r->status < 300) {
        r->result = result_of(root, op->service);
    } else if (root == NULL || aws_xml_error(root, &r->code, &r->message) < 0) {
        /* No AWS error document: a proxy or a bare server error. */
        r->message = pu_printf("HTTP status %ld", r->status);
    }
    pu_host->http->response_free(hr);
    *out = r;
    return 0;
}

int aws_call(infra_provider *p, infra_call *call, const aws_op *op, aws_resp **out)
{
    const aws_retry_policy *policy = &p->retry;
    int64_t start = pu_host->now_ms();
    int tries = 0, backoffs = 0, waits = 0;
    aws_resp *r = NULL;
    int error;

    *out = NULL;
    for (;;) {
        if ((error = aws_check_cancel(p, call)) < 0)
            return error;
        tries++;
        aws_resp_free(r);
        r = NULL;
        error = send_once(p, call, op, &r);
        int64_t elapsed = pu_host->now_ms() - start;
        if (error == INFRA_ECANCELLED)
            return error;
        if (error < 0) {
            /* The host reported it; a safe request gets the budget's tries. */
            if (error == INFRA_ETRANSIENT && (op->flags & AWS_SAFE) &&
                backoffs + 1 < policy->max_attempts && elapsed < policy->budget_ms) {
                backoffs++;
                int64_t delay = aws_random_below(aws_backoff_cap_ms(policy, backoffs));
                pu_logf(call, INFRA_LOG_DEBUG, "%s %s: no answer, retrying in %lld ms",
                        aws_service_signing_name(op->service), op->action, (long long)delay);
                if ((error = aws_sleep(p, call, delay)) < 0)
                    return error;
                continue;
            }
            return error;
        }
        if (r->status >= 200 && r->status < 300) {
            if (r->doc == NULL && op->service != AWS_R53) {
                pu_diagf(call, op->attr, "aws: %s in %s: the answer is not XML (HTTP %ld)",
                         op->action, where(p, op->service), r->status);
                aws_resp_free(r);
                return INFRA_EINTERNAL;
            }
            *out = r;
            return 0;
        }
        aws_retry_kind kind = aws_error_retry(r->code, r->status, op->flags);
        int64_t delay = -1;
        if (kind == AWS_RETRY_BACKOFF && backoffs + 1 < policy->max_attempts &&
            elapsed < policy->budget_ms) {
            backoffs++;
            delay = aws_random_below(aws_backoff_cap_ms(policy, backoffs));
        } else if (kind == AWS_RETRY_FRESH && elapsed < policy->fresh_ms) {
            waits++;
            delay = waits < 5 ? 500L * waits : 3000;
        } else if (kind == AWS_RETRY_DEPENDENCY && elapsed < policy->dependency_ms) {
            waits++;
            delay = waits < 5 ? 1000L * waits : 5000;
        }
        if (delay >= 0) {
            pu_logf(call, INFRA_LOG_DEBUG, "%s %s: %s, retrying in %lld ms (try %d)",
                    aws_service_signing_name(op->service), op->action,
                    r->code ? r->code : r->message, (long long)delay, tries + 1);
            if ((error = aws_sleep(p, call, delay)) < 0) {
                aws_resp_free(r);
                return error;
            }
            continue;
        }
        int category = aws_error_category(r->code, r->status);
        if (kind == AWS_RETRY_BACKOFF) {
            char *m = pu_printf("%s (gave up after %d tries in %lld s)",
                                r->message ? r->message : "", tries, (long long)(elapsed / 1000));
            aws_error_diag(p, call, op->attr, op->service, op->action, r->code ? r->code : "error",
                           m);
            free(m);
            category = INFRA_ETRANSIENT;
        } else if (!aws_code_matches(r->code, op->quiet)) {
            aws_error_diag(p, call, op->attr, op->service, op->action, r->code, r->message);
        }
        *out = r;
        return category;
    }
}

int aws_query(infra_provider *p, infra_call *call, aws_service svc, const char *action,
              const aws_params *params, const char *attr, unsigned flags, const char *quiet,
              aws_resp **out)
{
    char *body = aws_params_form(action, aws_service_api_version(svc), params);
    aws_op op = {
        .service = svc,
        .action = action,
        .method = "POST",
        .path = "/",
        .body = body,
        .body_len = strlen(body),
        .content_type = FORM_CONTENT_TYPE,
        .attr = attr ? attr : "",
        .flags = flags,
        .quiet = quiet,
    };
    int error = aws_call(p, call, &op, out);
    free(body);
    return error;
}
