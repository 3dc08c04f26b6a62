/* What a Google error answer means: its INFRA_E* category and whether the
 * call is worth another try. Compute's own errors carry a reason
 * (errors[0].reason: notFound, alreadyExists, invalid, conditionNotMet,
 * resourceInUseByAnotherResource), the API front end's a status
 * (RESOURCE_EXHAUSTED, UNAVAILABLE); failed operations a code
 * (QUOTA_EXCEEDED, ZONE_RESOURCE_POOL_EXHAUSTED); the token endpoint an
 * OAuth error (invalid_grant). All four land in gcp_error. */
#include "gcp_api.h"

#include <stdlib.h>
#include <string.h>

void gcp_error_clear(gcp_error *e)
{
    if (e == NULL)
        return;
    free(e->reason);
    free(e->message);
    free(e->rpc);
    memset(e, 0, sizeof(*e));
}

static char *dup_or_null(const char *s)
{
    return s != NULL && *s ? pu_strdup(s) : NULL;
}

void gcp_error_parse(const char *body, size_t len, long status, gcp_error *out)
{
    memset(out, 0, sizeof(*out));
    out->status = status;
    infra_json *doc = body != NULL && len > 0 ? GJ->parse(body, len) : NULL;
    const infra_json *err = GJ->get(doc, "error");
    if (err != NULL && GJ->type(err) == INFRA_JSON_OBJECT) {
        const infra_json *first = GJ->at(GJ->get(err, "errors"), 0);
        out->reason = dup_or_null(pu_json_str(first, "reason"));
        out->message = dup_or_null(pu_json_str(err, "message"));
        if (out->message == NULL)
            out->message = dup_or_null(pu_json_str(first, "message"));
        out->rpc = dup_or_null(pu_json_str(err, "status"));
        long code = gcp_json_long(err, "code", 0);
        if (code > 0)
            out->status = code;
    } else if (err != NULL && GJ->type(err) == INFRA_JSON_STRING) {
        /* OAuth: {"error": "invalid_grant", "error_description": "..."} */
        out->reason = dup_or_null(GJ->string(err));
        out->message = dup_or_null(pu_json_str(doc, "error_description"));
    }
    if (out->message == NULL)
        out->message = pu_printf("HTTP status %ld", status);
    GJ->release(doc);
}

int gcp_error_from_operation(const infra_json *op, gcp_error *out)
{
    memset(out, 0, sizeof(*out));
    const infra_json *errors = gcp_json_path(op, "error.errors");
    if (errors == NULL || GJ->type(errors) != INFRA_JSON_ARRAY || GJ->length(errors) == 0)
        return 0;
    const infra_json *first = GJ->at(errors, 0);
    out->status = gcp_json_long(op, "httpErrorStatusCode", 400);
    out->reason = dup_or_null(pu_json_str(first, "code"));
    out->message = dup_or_null(pu_json_str(first, "message"));
    if (out->message == NULL)
        out->message = dup_or_null(pu_json_str(op, "httpErrorMessage"));
    if (out->message == NULL)
        out->message = pu_strdup("the operation failed");
    return 1;
}

int gcp_error_is(const gcp_error *e, const char *reasons)
{
    if (e == NULL || e->reason == NULL || reasons == NULL)
        return 0;
    size_t n = strlen(e->reason);
    for (const char *s = reasons; *s;) {
        while (*s == ' ')
            s++;
        size_t len = strcspn(s, " ");
        if (len == n && strncmp(s, e->reason, n) == 0)
            return 1;
        s += len;
    }
    return 0;
}

int gcp_error_retryable(const gcp_error *e)
{
    if (gcp_error_is(e, "rateLimitExceeded userRateLimitExceeded backendError internalError "
                        "RATE_LIMIT_EXCEEDED"))
        return 1;
    return e->status == 429 || e->status == 500 || e->status == 502 || e->status == 503 ||
           e->status == 504;
}

int gcp_error_category(const gcp_error *e)
{
    if (gcp_error_retryable(e))
        return INFRA_ETRANSIENT;
    /* Operation codes. */
    if (gcp_error_is(e, "ZONE_RESOURCE_POOL_EXHAUSTED ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS "
                        "RESOURCE_NOT_READY RESOURCE_OPERATION_RATE_EXCEEDED"))
        return INFRA_ETRANSIENT;
    if (gcp_error_is(e, "RESOURCE_NOT_FOUND"))
        return INFRA_ENOTFOUND;
    if (gcp_error_is(e, "RESOURCE_ALREADY_EXISTS RESOURCE_IN_USE_BY_ANOTHER_RESOURCE "
                        "CONDITION_NOT_MET"))
        return INFRA_ECONFLICT;
    if (gcp_error_is(e, "QUOTA_EXCEEDED INVALID_USAGE IP_SPACE_EXHAUSTED"))
        return INFRA_EINVALID;
    /* Call reasons and OAuth errors. */
    if (e->status == 401 ||
        gcp_error_is(e, "invalid_grant invalid_client unauthorized_client invalid_scope") ||
        (e->status == 403 && !gcp_error_is(e, "quotaExceeded limitExceeded")))
        return INFRA_EAUTH;
    if (gcp_error_is(e, "notFound"))
        return INFRA_ENOTFOUND;
    if (gcp_error_is(e, "alreadyExists conditionNotMet resourceInUseByAnotherResource "
                        "resourceNotReady"))
        return INFRA_ECONFLICT;
    if (gcp_error_is(e, "notImplemented"))
        return INFRA_ENOTSUP;
    if (e->status == 401 || e->status == 403)
        return INFRA_EAUTH;
    if (e->status == 404)
        return INFRA_ENOTFOUND;
    if (e->status == 409 || e->status == 412)
        return INFRA_ECONFLICT;
    if (e->status == 501)
        return INFRA_ENOTSUP;
    return e->status >= 400 && e->status < 500 ? INFRA_EINVALID : INFRA_EINTERNAL;
}

char *gcp_quota_name(const gcp_error *e)
{
    const char *m = e != NULL ? e->message : NULL;
    const char *q = m != NULL ? strstr(m, "Quota '") : NULL;
    if (q == NULL)
        return NULL;
    q += 7;
    const char *end = strchr(q, '\'');
    return end != NULL && end > q ? pu_strndup(q, (size_t)(end - q)) : NULL;
}

void gcp_error_diag(infra_provider *p, infra_call *call, const char *attr, const char *what,
                    const gcp_error *e)
{
    const char *project = p != NULL && p->project != NULL ? p->project : "-";
    const char *reason = e->reason ? e->reason : e->rpc ? e->rpc : "error";
    const char *m = e->message ? e->message : "no message";
    char *quota = gcp_quota_name(e);
    if (quota != NULL && gcp_error_is(e, "QUOTA_EXCEEDED quotaExceeded"))
        pu_diagf(call, attr,
                 "gcp: %s in %s: quota %s exceeded: %s (raise the quota or ask for "
                 "less)",
                 what, project, quota, m);
    else if (gcp_error_category(e) == INFRA_EAUTH && p != NULL && p->auth != NULL)
        pu_diagf(call, attr, "gcp: %s in %s: %s: %s (the credentials of %s were refused)", what,
                 project, reason, m, gcp_auth_source(p->auth));
    else
        pu_diagf(call, attr, "gcp: %s in %s: %s: %s", what, project, reason, m);
    free(quota);
}

int64_t gcp_backoff_cap_ms(const gcp_retry_policy *policy, int attempt)
{
    int64_t cap = policy->base_ms;
    for (int i = 1; i < attempt && cap < policy->cap_ms; i++)
        cap *= 2;
    return cap > policy->cap_ms ? policy->cap_ms : cap;
}

void gcp_retry_policy_default(gcp_retry_policy *policy)
{
    policy->max_attempts = 8;
    policy->budget_ms = 120000;
    policy->base_ms = 500;
    policy->cap_ms = 20000;
    policy->in_use_ms = 300000;
    policy->poll_first_ms = 500;
    policy->poll_max_ms = 5000;
}
