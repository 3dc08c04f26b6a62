/* Access tokens, as Google's client libraries get them:
 *
 *  - a service account's key file: a JWT signed with its private key,
 *    exchanged at the key's token_uri (JWT bearer grant);
 *  - application default credentials of type authorized_user (what
 *    `gcloud auth application-default login` writes): the refresh-token
 *    grant with its client id and secret;
 *  - the metadata server of the instance infra runs on.
 *
 * One token is cached per provider and fetched again shortly before it
 * expires, or at once after a 401. Every secret (private key, client
 * secret, refresh token, assertion, access token) is wrapped with
 * host->secrets the moment it exists, so the host masks it in every line
 * it prints; none is put in a message. */
#include "gcp_api.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JWT_GRANT "urn:ietf:params:oauth:grant-type:jwt-bearer"
#define GOOGLE_TOKEN_URL "https://oauth2.googleapis.com/token"
#define TOKEN_TIMEOUT_MS 30000L

struct gcp_auth {
    gcp_credentials creds;
    char *token_url; /* where grants go */
    char *scope;
    pthread_mutex_t lock; /* one fetch at a time; guards the cache */
    infra_secret *token;
    int64_t expires_ms; /* now_ms() instant the cached token is refreshed at */
    long fetches;
};

void gcp_credentials_clear(gcp_credentials *c)
{
    if (c == NULL)
        return;
    free(c->source);
    free(c->client_email);
    free(c->private_key_id);
    free(c->token_uri);
    free(c->client_id);
    free(c->metadata_host);
    free(c->project_id);
    if (pu_host != NULL && pu_host->secrets != NULL) {
        pu_host->secrets->free(c->private_key);
        pu_host->secrets->free(c->client_secret);
        pu_host->secrets->free(c->refresh_token);
    }
    memset(c, 0, sizeof(*c));
}

static char *member(const infra_json *doc, const char *key)
{
    const char *s = pu_json_str(doc, key);
    return s != NULL && *s ? pu_strdup(s) : NULL;
}

static infra_secret *secret_member(const infra_json *doc, const char *key)
{
    const char *s = pu_json_str(doc, key);
    return s != NULL && *s ? pu_host->secrets->wrap(s) : NULL;
}

int gcp_credentials_parse(const char *text, size_t len, const char *source, gcp_credentials *out,
                          char **why)
{
    infra_json *doc = GJ->parse(text, len);
    const char *type = pu_json_str(doc, "type");
    int error = 0;

    memset(out, 0, sizeof(*out));
    *why = NULL;
    if (doc == NULL || GJ->type(doc) != INFRA_JSON_OBJECT) {
        *why = pu_printf("%s is not a JSON key file", source);
        error = INFRA_EINVALID;
        goto done;
    }
    out->source = pu_strdup(source);
    out->project_id = member(doc, "project_id");
    if (out->project_id == NULL)
        out->project_id = member(doc, "quota_project_id");
    if (type != NULL && strcmp(type, "service_account") == 0) {
        out->kind = GCP_CRED_SERVICE_ACCOUNT;
        out->client_email = member(doc, "client_email");
        out->private_key_id = member(doc, "private_key_id");
        out->private_key = secret_member(doc, "private_key");
        out->token_uri = member(doc, "token_uri");
        if (out->client_email == NULL || out->private_key == NULL) {
            *why =
                pu_printf("%s: a service_account key needs client_email and private_key", source);
            error = INFRA_EINVALID;
        }
    } else if (type != NULL && strcmp(type, "authorized_user") == 0) {
        out->kind = GCP_CRED_AUTHORIZED_USER;
        out->client_id = member(doc, "client_id");
        out->client_secret = secret_member(doc, "client_secret");
        out->refresh_token = secret_member(doc, "refresh_token");
        out->token_uri = member(doc, "token_uri");
        if (out->client_id == NULL || out->client_secret == NULL || out->refresh_token == NULL) {
            *why = pu_printf("%s: authorized_user credentials need client_id, client_secret "
                             "and refresh_token",
                             source);
            error = INFRA_EINVALID;
        }
    } else {
        *why = pu_printf("%s: credentials of type \"%s\" are not supported (service_account or "
                         "authorized_user)",
                         source, type ? type : "(none)");
        error = INFRA_EINVALID;
    }
done:
    gcp_json_wipe(doc);
    GJ->release(doc);
    if (error < 0)
        gcp_credentials_clear(out);
    return error;
}

gcp_auth *gcp_auth_new(gcp_credentials *creds_take, const char *token_url, const char *scope)
{
    gcp_auth *a = pu_calloc(1, sizeof(*a));
    a->creds = *creds_take;
    memset(creds_take, 0, sizeof(*creds_take));
    if (token_url != NULL && *token_url)
        a->token_url = pu_strdup(token_url);
    else if (a->creds.token_uri != NULL)
        a->token_url = pu_strdup(a->creds.token_uri);
    else if (a->creds.kind == GCP_CRED_METADATA)
        a->token_url =
            pu_printf("http://%s/computeMetadata/v1/instance/service-accounts/default/"
                      "token",
                      a->creds.metadata_host ? a->creds.metadata_host : "metadata.google.internal");
    else
        a->token_url = pu_strdup(GOOGLE_TOKEN_URL);
    a->scope = pu_strdup(scope);
    pthread_mutex_init(&a->lock, NULL);
    return a;
}

void gcp_auth_free(gcp_auth *a)
{
    if (a == NULL)
        return;
    gcp_credentials_clear(&a->creds);
    free(a->token_url);
    free(a->scope);
    pu_host->secrets->free(a->token);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

const char *gcp_auth_source(const gcp_auth *a)
{
    return a != NULL && a->creds.source != NULL ? a->creds.source : "(no credentials)";
}

long gcp_auth_fetches(const gcp_auth *a)
{
    gcp_auth *m = (gcp_auth *)a;
    pthread_mutex_lock(&m->lock);
    long n = m->fetches;
    pthread_mutex_unlock(&m->lock);
    return n;
}

int64_t gcp_auth_margin_ms(int64_t lifetime_ms)
{
    int64_t margin = lifetime_ms / 10;
    if (margin < 1000)
        margin = 1000;
    if (margin > 300000)
        margin = 300000;
    return margin;
}

/* key=value& with the value URL-encoded; secret values are zeroised. */
static void form_add(pu_buf *b, const char *key, const char *value)
{
    char *v = gcp_url_encode(value);
    pu_buf_printf(b, "%s%s=%s", b->len ? "&" : "", key, v);
    gcp_free_secret(v);
}

/* The body of the grant for these credentials (a secret: caller wraps or zeroises). */
static int grant_body(gcp_auth *a, char **body, char **why)
{
    pu_buf b = {0};
    *body = NULL;
    if (a->creds.kind == GCP_CRED_SERVICE_ACCOUNT) {
        gcp_jwt_claims c = {
            .iss = a->creds.client_email,
            .scope = a->scope,
            .aud = a->token_url,
            .kid = a->creds.private_key_id,
            .iat = (int64_t)time(NULL),
            .lifetime = 3600,
        };
        char *assertion = NULL;
        int error =
            gcp_jwt_sign(pu_host->secrets->value(a->creds.private_key), &c, &assertion, why);
        if (error < 0)
            return error;
        /* Registered with the host, so that no line it prints can show it. */
        pu_host->secrets->free(pu_host->secrets->wrap(assertion));
        form_add(&b, "grant_type", JWT_GRANT);
        form_add(&b, "assertion", assertion);
        gcp_free_secret(assertion);
    } else {
        form_add(&b, "grant_type", "refresh_token");
        form_add(&b, "client_id", a->creds.client_id);
        form_add(&b, "client_secret", pu_host->secrets->value(a->creds.client_secret));
        form_add(&b, "refresh_token", pu_host->secrets->value(a->creds.refresh_token));
    }
    *body = pu_buf_take(&b);
    return 0;
}

/* One token request; fills a->token and a->expires_ms. Called with the lock held. */
static int fetch(infra_provider *p, infra_call *call, const char *attr, gcp_auth *a)
{
    static const char *const form_headers[] = {"Content-Type: application/x-www-form-urlencoded",
                                               "Accept: application/json", NULL};
    static const char *const metadata_headers[] = {"Metadata-Flavor: Google", NULL};
    int metadata = a->creds.kind == GCP_CRED_METADATA;
    char *body = NULL, *why = NULL;
    infra_http_response *hr = NULL;
    infra_json *doc = NULL;
    int error = 0;

    if (!metadata && (error = grant_body(a, &body, &why)) < 0) {
        pu_diagf(call, attr, "gcp: cannot make a token request from %s: %s", a->creds.source,
                 why ? why : "");
        free(why);
        return INFRA_EAUTH;
    }
    infra_http_request req;
    memset(&req, 0, sizeof(req));
    req.size = sizeof(req);
    req.method = metadata ? "GET" : "POST";
    req.url = a->token_url;
    req.headers = metadata ? metadata_headers : form_headers;
    req.body = body;
    req.body_len = req.body ? strlen(req.body) : 0;
    req.timeout_ms = TOKEN_TIMEOUT_MS;
    req.max_attempts = 4;
    req.retry_non_idempotent = 1; /* a grant changes nothing: repeating it is harmless */
    error = pu_host->http->request(call, &req, &hr);
    gcp_free_secret(body);
    if (error < 0) {
        if (error != INFRA_ECANCELLED)
            pu_diagf(call, attr, "gcp: no access token from %s (credentials of %s)", a->token_url,
                     a->creds.source);
        return error;
    }
    if (hr->status < 200 || hr->status >= 300) {
        gcp_error e;
        gcp_error_parse(hr->body, hr->body_len, hr->status, &e);
        error = hr->status >= 500 || hr->status == 429 ? INFRA_ETRANSIENT : INFRA_EAUTH;
        pu_diagf(call, attr, "gcp: the token endpoint %s refused the credentials of %s: %s: %s",
                 a->token_url, a->creds.source, e.reason ? e.reason : "error",
                 e.message ? e.message : "");
        gcp_error_clear(&e);
        goto done;
    }
    doc = GJ->parse(hr->body, hr->body_len);
    const char *token = pu_json_str(doc, "access_token");
    long expires_in = gcp_json_long(doc, "expires_in", 3600);
    if (token == NULL || *token == '\0') {
        pu_diagf(call, attr, "gcp: the token endpoint %s answered no access_token", a->token_url);
        error = INFRA_EAUTH;
        goto done;
    }
    pu_host->secrets->free(a->token);
    a->token = pu_host->secrets->wrap(token);
    int64_t lifetime = (int64_t)(expires_in > 0 ? expires_in : 1) * 1000;
    a->expires_ms = pu_host->now_ms() + lifetime - gcp_auth_margin_ms(lifetime);
    a->fetches++;
    pu_logf(call, INFRA_LOG_DEBUG, "gcp: access token from %s for %ld s", a->creds.source,
            expires_in);
done:
    /* The answer held the token. */
    gcp_json_wipe(doc);
    GJ->release(doc);
    if (hr != NULL && hr->body != NULL)
        memset(hr->body, 0, hr->body_len);
    pu_host->http->response_free(hr);
    (void)p;
    return error;
}

int gcp_auth_token(infra_provider *p, infra_call *call, const char *attr, int refresh,
                   infra_secret **out)
{
    gcp_auth *a = p->auth;
    int error = 0;

    *out = NULL;
    if (a == NULL) {
        pu_diagf(call, attr, "gcp: no credentials");
        return INFRA_EAUTH;
    }
    pthread_mutex_lock(&a->lock);
    int64_t now = pu_host->now_ms();
    if (a->token == NULL || refresh || now >= a->expires_ms)
        error = fetch(p, call, attr, a);
    if (error == 0)
        *out = pu_host->secrets->wrap(pu_host->secrets->value(a->token));
    pthread_mutex_unlock(&a->lock);
    return error;
}
