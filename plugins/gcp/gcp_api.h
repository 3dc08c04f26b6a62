/* The wire: Google's error answers and what they mean, OAuth access
 * tokens (service-account JWTs, authorized-user refresh tokens, the
 * metadata server), JSON calls through host->http with the plugin's retry
 * policy, and Compute Engine operations waited for in batches. */
#ifndef GCP_API_H
#define GCP_API_H

#include "gcp.h"

/* ------------------------------------------------------------------ */
/* gcp_error.c: what an error answer means                             */

/* An error: of a call ({"error": {"code", "message", "errors": [{"reason"}],
 * "status"}}), of the token endpoint ({"error", "error_description"}), or
 * of an operation that ended DONE with error.errors[{code, message}]. */
typedef struct gcp_error {
    long status;   /* HTTP status (an operation's httpErrorStatusCode) */
    char *reason;  /* errors[0].reason ("notFound"), an operation's errors[0].code
                      ("QUOTA_EXCEEDED"), or the OAuth error ("invalid_grant") */
    char *message; /* the text Google gave */
    char *rpc;     /* "status" ("RESOURCE_EXHAUSTED"), or NULL */
} gcp_error;

void gcp_error_clear(gcp_error *e);
/* Reads an error body; a body that is not Google's shape becomes
 * "HTTP status N". Always fills *out (free with gcp_error_clear). */
void gcp_error_parse(const char *body, size_t len, long status, gcp_error *out);
/* The error of a DONE operation, or 0 when it has none (then *out is empty). */
int gcp_error_from_operation(const infra_json *op, gcp_error *out);
/* The INFRA_E* category of an error. */
int gcp_error_category(const gcp_error *e);
/* 1 for rateLimitExceeded, userRateLimitExceeded, 429 and 5xx: worth another try. */
int gcp_error_retryable(const gcp_error *e);
/* 1 when e's reason is one of the space-separated reasons. */
int gcp_error_is(const gcp_error *e, const char *reasons);
/* The quota named by a quota error ("CPUS" of "Quota 'CPUS' exceeded. ..."),
 * or NULL (caller frees). */
char *gcp_quota_name(const gcp_error *e);
/* Reports e as every message of the plugin reads:
 * "gcp: WHAT in PROJECT: REASON: MESSAGE" (quota errors name the quota). */
void gcp_error_diag(infra_provider *p, infra_call *call, const char *attr, const char *what,
                    const gcp_error *e);

/* The upper bound of the random backoff before try attempt + 1 (attempt
 * from 1): base doubling per try, at most cap. */
int64_t gcp_backoff_cap_ms(const gcp_retry_policy *policy, int attempt);
/* The policy documented in docs/gcp.md. */
void gcp_retry_policy_default(gcp_retry_policy *policy);

/* ------------------------------------------------------------------ */
/* gcp_jwt.c: the service-account assertion                            */

/* The claims of a JWT bearer grant. */
typedef struct gcp_jwt_claims {
    const char *iss;   /* client_email */
    const char *scope; /* space-separated scopes */
    const char *aud;   /* the token endpoint */
    const char *kid;   /* private_key_id, or NULL */
    int64_t iat;       /* seconds since the epoch */
    int64_t lifetime;  /* seconds until exp, at most 3600 */
} gcp_jwt_claims;

/* header.claims.signature, RS256 (RSASSA-PKCS1-v1_5 with SHA-256) with
 * the PEM private key, base64url without padding (caller frees). 0, or
 * INFRA_EINVALID with *why (caller frees) when the key cannot sign. */
int gcp_jwt_sign(const char *pem_key, const gcp_jwt_claims *claims, char **out, char **why);

/* ------------------------------------------------------------------ */
/* gcp_auth.c: where the access token comes from                       */

typedef enum gcp_cred_kind {
    GCP_CRED_SERVICE_ACCOUNT = 1, /* a key file: JWT bearer grant */
    GCP_CRED_AUTHORIZED_USER,     /* application default credentials: refresh-token grant */
    GCP_CRED_METADATA,            /* the metadata server of the instance infra runs on */
} gcp_cred_kind;

/* Credentials as read from a key file or the metadata server's address.
 * Secrets are wrapped (host->secrets) the moment they are read. */
typedef struct gcp_credentials {
    gcp_cred_kind kind;
    char *
        source; /* where they came from, for messages: "GOOGLE_APPLICATION_CREDENTIALS (/k.json)" */
    char *client_email;   /* service account */
    char *private_key_id; /* service account, or NULL */
    infra_secret *private_key;
    char *token_uri; /* the token endpoint of the key file */
    char *client_id; /* authorized user */
    infra_secret *client_secret;
    infra_secret *refresh_token;
    char *metadata_host; /* "host[:port]" of the metadata server */
    char *project_id;    /* project_id (or quota_project_id) of the file, or NULL */
} gcp_credentials;

void gcp_credentials_clear(gcp_credentials *c);
/* Reads a key file's JSON text (service_account or authorized_user) into
 * *out; source names the file in messages. 0, or INFRA_EINVALID with *why
 * (caller frees) naming what is missing. The text is not kept. */
int gcp_credentials_parse(const char *text, size_t len, const char *source, gcp_credentials *out,
                          char **why);

/* An access token source with its cache. token_url overrides where the
 * grant is sent (NULL: the key file's token_uri, else Google's). */
gcp_auth *gcp_auth_new(gcp_credentials *creds_take, const char *token_url, const char *scope);
void gcp_auth_free(gcp_auth *a);
/* Where the credentials came from (borrowed). */
const char *gcp_auth_source(const gcp_auth *a);
/* The current access token, a wrapped copy (free with
 * host->secrets->free): cached until shortly before it expires, fetched
 * again when refresh is 1 (after a 401) or it is about to expire. Errors
 * (INFRA_EAUTH for refused credentials) come with a diagnostic at attr. */
int gcp_auth_token(infra_provider *p, infra_call *call, const char *attr, int refresh,
                   infra_secret **out);
/* How many tokens were fetched (for tests). */
long gcp_auth_fetches(const gcp_auth *a);
/* The seconds before expiry at which a token of lifetime seconds is
 * refreshed: a tenth of it, at least 1 s and at most 300 s. */
int64_t gcp_auth_margin_ms(int64_t lifetime_ms);

/* ------------------------------------------------------------------ */
/* gcp_client.c: one JSON call with retries                            */

/* Flags of a call. */
#define GCP_SAFE 1u      /* repeating the request is harmless (a read, or a requestId) */
#define GCP_DEPENDENT 2u /* a delete that may wait for the resource's users to go */

/* One API call. Borrowed fields. */
typedef struct gcp_req {
    gcp_service service;
    const char *method;     /* "GET", "POST", "PATCH", "PUT", "DELETE" */
    const char *path;       /* below the service's endpoint: "projects/P/global/networks" */
    const char *query;      /* "filter=...&maxResults=500", already encoded, or NULL */
    const infra_json *body; /* or NULL */
    const char *what;       /* the method for messages: "instances.insert" */
    const char *attr;       /* attribute path of diagnostics ("" = the resource) */
    unsigned flags;         /* GCP_SAFE */
    const char *quiet;      /* reasons returned without a diagnostic ("notFound alreadyExists") */
} gcp_req;

/* An answer. */
typedef struct gcp_resp {
    long status;
    infra_json *json; /* the parsed body, or NULL */
    gcp_error err;    /* filled for an error answer */
    int attempts;
} gcp_resp;

/* Sends req with an access token, retrying rate limits and server errors
 * as the policy says and fetching a new token once on a 401. 0 with *out
 * (a 2xx answer). On a Google error: its category, *out holding it, and a
 * diagnostic at req->attr unless the reason is quiet. On a transport
 * failure: the host's error (it reported it), *out NULL. Free *out with
 * gcp_resp_free in every case. */
int gcp_call(infra_provider *p, infra_call *call, const gcp_req *req, gcp_resp **out);
void gcp_resp_free(gcp_resp *r);
/* GET path (with query) and hand back the JSON (caller releases). Errors
 * as gcp_call; quiet reasons without a diagnostic. */
int gcp_get(infra_provider *p, infra_call *call, gcp_service svc, const char *path,
            const char *query, const char *what, const char *attr, const char *quiet,
            infra_json **out);
/* "projects/PROJECT/" + fmt (caller frees). */
char *gcp_path(const infra_provider *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------ */
/* gcp_op.c: Compute Engine operations                                 */

/* Waits until op (an Operation answer) is DONE, with the other waits of
 * the provider: each poll round lists the operations of each scope once,
 * filtered on the names of every operation still waited on. *done is the
 * final operation (caller releases; may be NULL). INFRA_ETRANSIENT at the
 * deadline, with a diagnostic. The operation's own error is not judged. */
int gcp_op_wait(infra_provider *p, infra_call *call, const char *attr, const infra_json *op,
                int64_t timeout_ms, infra_json **done);
/* A mutation: the call, then its operation waited for; an operation that
 * ended with an error is that error (its category; a diagnostic unless
 * the reason is quiet). *err (may be NULL) receives the error either way,
 * *done (may be NULL) the final operation. */
int gcp_mutate(infra_provider *p, infra_call *call, const gcp_req *req, int64_t timeout_ms,
               gcp_error *err, infra_json **done);
gcp_waiter *gcp_waiter_new(void);
void gcp_waiter_free(gcp_waiter *w);
/* How many operations lists the waiter has made (for tests). */
long gcp_waiter_polls(const gcp_waiter *w);
/* The filter of one poll: (name = "a") OR (name = "b") ... (caller frees). */
char *gcp_op_filter(char *const *names);

#endif
