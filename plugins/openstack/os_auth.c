/* Keystone v3 tokens: password (scoped to the project) or application
 * credential authentication, one token per provider shared by its
 * threads, kept wrapped as a secret so that infra masks it in every line
 * it prints. A token is renewed before it expires (the renewal margin, at
 * most a quarter of its life) and when a service refuses it with 401 (the
 * caller names the generation that was refused, so that threads refused
 * at once renew it once). */
#include "os_api.h"

#include <stdlib.h>
#include <string.h>

#define AUTH_ATTEMPTS 4
#define AUTH_TIMEOUT_MS 30000L

/* {"id": id} or {"name": name, "domain": {"id"|"name": ...}}. */
static infra_json *named(const char *id, const char *name, const char *domain_id,
                         const char *domain_name)
{
    infra_json *o = OJ->new_object();
    if (id != NULL) {
        pu_json_set_str(o, "id", id);
        return o;
    }
    pu_json_set_str(o, "name", name);
    infra_json *d = OJ->new_object();
    if (domain_id != NULL)
        pu_json_set_str(d, "id", domain_id);
    else
        pu_json_set_str(d, "name", domain_name ? domain_name : "Default");
    pu_json_set(o, "domain", d);
    return o;
}

infra_json *os_auth_body(const infra_provider *p)
{
    infra_json *identity = OJ->new_object(), *methods = OJ->new_array();
    const char *secret = pu_host->secrets->value(p->secret);
    infra_json *scope = NULL;

    if (p->auth_kind == OS_AUTH_APPCRED) {
        OJ->append(methods, OJ->new_string("application_credential"));
        infra_json *cred = OJ->new_object();
        if (p->app_cred_id != NULL) {
            pu_json_set_str(cred, "id", p->app_cred_id);
        } else {
            pu_json_set_str(cred, "name", p->app_cred_name);
            pu_json_set(cred, "user",
                        named(p->user_id, p->username, p->user_domain_id, p->user_domain_name));
        }
        pu_json_set_str(cred, "secret", secret);
        pu_json_set(identity, "application_credential", cred);
    } else {
        OJ->append(methods, OJ->new_string("password"));
        infra_json *user = named(p->user_id, p->username, p->user_domain_id, p->user_domain_name);
        pu_json_set_str(user, "password", secret);
        infra_json *pw = OJ->new_object();
        pu_json_set(pw, "user", user);
        pu_json_set(identity, "password", pw);
        scope = OJ->new_object();
        pu_json_set(
            scope, "project",
            named(p->project_id, p->project_name, p->project_domain_id, p->project_domain_name));
    }
    pu_json_set(identity, "methods", methods);
    infra_json *auth = OJ->new_object();
    pu_json_set(auth, "identity", identity);
    if (scope != NULL)
        pu_json_set(auth, "scope", scope);
    infra_json *body = OJ->new_object();
    pu_json_set(body, "auth", auth);
    return body;
}

int os_auth_accept(infra_provider *p, const char *token, const infra_json *body)
{
    const infra_json *t = OJ->get(body, "token");
    time_t expires = 0, issued = 0;
    if (token == NULL || *token == '\0' || t == NULL ||
        os_iso8601(pu_json_str(t, "expires_at"), &expires) < 0)
        return INFRA_EINTERNAL;
    if (os_iso8601(pu_json_str(t, "issued_at"), &issued) < 0)
        issued = time(NULL);
    const infra_json *catalog = OJ->get(t, "catalog");
    if (catalog != NULL && OJ->type(catalog) == INFRA_JSON_ARRAY) {
        OJ->release(p->catalog);
        p->catalog = OJ->copy(catalog);
    }
    const char *project = pu_json_str(OJ->get(t, "project"), "id");
    if (project != NULL) {
        free(p->token_project_id);
        p->token_project_id = pu_strdup(project);
    }
    pu_host->secrets->free(p->token.value);
    p->token.value = pu_host->secrets->wrap(token);
    p->token.issued_at = issued;
    p->token.expires_at = expires;
    p->token.generation++;
    p->token.issued++;
    return 0;
}

static int token_due(const os_token *t)
{
    if (t->value == NULL)
        return 1;
    time_t now = time(NULL);
    int64_t life = (int64_t)(t->expires_at - t->issued_at);
    int64_t margin = t->renew_margin_s;
    if (life > 0 && margin > life / 4)
        margin = life / 4;
    return (int64_t)now >= (int64_t)t->expires_at - margin;
}

static void refused(infra_provider *p, infra_call *call, long status, const os_error *e)
{
    pu_diagf(call, "", "openstack: Keystone at %s refused the credentials of %s: %ld %s: %s",
             p->auth_url, p->source, status, e->code ? e->code : "error",
             e->message ? e->message : "no message");
}

/* POST /v3/auth/tokens; called with the token lock held. */
static int authenticate(infra_provider *p, infra_call *call)
{
    char *url = pu_printf("%s/auth/tokens", p->auth_url);
    infra_json *body = os_auth_body(p);
    char *text = OJ->dump(body);
    OJ->release(body);
    const char *headers[] = {"Content-Type: application/json", "Accept: application/json", NULL};
    int error = 0;

    for (int attempt = 1;; attempt++) {
        infra_http_request req;
        infra_http_response *hr = NULL;
        memset(&req, 0, sizeof(req));
        req.size = sizeof(req);
        req.method = "POST";
        req.url = url;
        req.headers = headers;
        req.body = text;
        req.body_len = strlen(text);
        req.timeout_ms = AUTH_TIMEOUT_MS;
        req.max_attempts = 3;
        req.retry_non_idempotent = 1; /* a token request changes nothing */
        req.ca_file = p->cacert;
        req.redact = pu_host->secrets->value(p->secret);
        error = pu_host->http->request(call, &req, &hr);
        if (error == 0 && hr->status == 201) {
            infra_json *doc = hr->body ? OJ->parse(hr->body, hr->body_len) : NULL;
            const char *token = pu_host->http->header(hr, "X-Subject-Token");
            error = os_auth_accept(p, token, doc);
            if (error < 0)
                pu_diagf(call, "", "openstack: Keystone at %s answered a token without %s",
                         p->auth_url, token ? "an expiry" : "X-Subject-Token");
            OJ->release(doc);
        } else if (error == 0) {
            os_error e;
            long status = hr->status;
            os_error_decode(status, hr->body, hr->body_len, &e);
            error = status >= 500 || status == 429                    ? INFRA_ETRANSIENT
                    : status == 401 || status == 403 || status == 404 ? INFRA_EAUTH
                                                                      : INFRA_EINVALID;
            if (error != INFRA_ETRANSIENT || attempt >= AUTH_ATTEMPTS)
                refused(p, call, status, &e);
            os_error_clear(&e);
        }
        pu_host->http->response_free(hr);
        if (error != INFRA_ETRANSIENT || attempt >= AUTH_ATTEMPTS)
            break;
        if ((error = os_sleep(p, call, os_random_below(os_backoff_cap_ms(&p->retry, attempt)))) < 0)
            break;
    }
    os_free_secret(text);
    free(url);
    if (error == 0)
        pu_logf(call, INFRA_LOG_DEBUG, "new token from %s (%s), valid until %lld",
                p->auth_url, p->source, (long long)p->token.expires_at);
    return error;
}

int os_auth_token(infra_provider *p, infra_call *call, long stale_generation, char **token,
                  long *generation)
{
    int error = 0;
    *token = NULL;
    pthread_mutex_lock(&p->token.lock);
    if (token_due(&p->token) || p->token.generation == stale_generation)
        error = authenticate(p, call);
    if (error == 0) {
        *token = pu_strdup(pu_host->secrets->value(p->token.value));
        if (generation != NULL)
            *generation = p->token.generation;
    }
    pthread_mutex_unlock(&p->token.lock);
    return error;
}
