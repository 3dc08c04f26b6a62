/* The wire: Keystone tokens and the service catalog, API versions, JSON
 * calls through host->http with the plugin's retry policy, and the errors
 * of every service decoded from their own shapes. */
#ifndef OS_API_H
#define OS_API_H

#include "os.h"

/* ------------------------------------------------------------------ */
/* os_error.c: what an answer means                                   */

/* An error answer, decoded. */
typedef struct os_error {
    char
        *code; /* "itemNotFound", "OverQuota", "duplicate_recordset", "Unauthorized", ... or NULL */
    char *message; /* the service's words, or a line of the body, or NULL */
    char *quota;   /* the quota named by a quota error ("cores", "network"), or NULL */
} os_error;

/* Decodes an error body in any of the shapes the services use: Nova's
 * {"badRequest": {"code", "message"}}, Neutron's {"NeutronError": {"type",
 * "message", "detail"}}, Keystone's {"error": {"code", "title",
 * "message"}}, Octavia's {"faultcode", "faultstring"}, Designate's {"code",
 * "type", "message"}, the API working group's {"errors": [{"title",
 * "detail"}]}, and plain text or HTML (Glance, proxies). Quota errors
 * (Neutron OverQuota, "Quota exceeded for ...", Octavia "Quota has been
 * met", Designate over_quota) fill quota. Never fails; free with
 * os_error_clear. */
void os_error_decode(long status, const char *body, size_t len, os_error *out);
void os_error_clear(os_error *e);
/* The INFRA_E* category of an error answer. */
int os_error_category(long status, const os_error *e);

/* ------------------------------------------------------------------ */
/* os_catalog.c: endpoints                                            */

/* The URL of the endpoint of service type in region for interface
 * ("public", "internal", "admin"; "publicURL" forms accepted) in a
 * Keystone v3 catalog. 0 with *url (caller frees); INFRA_ENOTFOUND with
 * *err (caller frees) naming the regions and interfaces that do have it. */
int os_catalog_endpoint(const infra_json *catalog, const char *type, const char *region,
                        const char *interface, char **url, char **err);
/* The base URL the plugin appends its paths to, from a catalog or
 * override URL: compute as given (".../v2.1[/PROJECT]"), network with
 * "/v2.0", image, dns and load-balancer with "/v2" unless already there
 * (caller frees). */
char *os_service_base(os_service s, const char *url);
/* The URL of the service's version document (the base without its
 * project id: ".../v2.1") and of its root version list (caller frees). */
char *os_service_version_url(os_service s, const char *base);
char *os_service_root_url(const char *base);

/* ------------------------------------------------------------------ */
/* os_version.c: microversions                                        */

/* The Nova microversion 2.N to speak, from a version document ({"version":
 * {...}} of .../v2.1, or {"versions": [...]} of the root): the newest both
 * sides support, at most max_minor, at least min_minor. 0 with *minor;
 * INFRA_ENOTSUP with *err (caller frees) when the server's range does not
 * reach min_minor; INFRA_EINTERNAL when the document has no v2.1. */
int os_nova_microversion(const infra_json *doc, int min_minor, int max_minor, int *minor,
                         char **err);
/* The newest Octavia API version 2.N the version list ({"versions": [{"id":
 * "v2.5", "status": "SUPPORTED"|"CURRENT"}, ...]}) offers: 0 with *minor,
 * INFRA_ENOTFOUND when it lists no v2. */
int os_octavia_version(const infra_json *doc, int *minor);

/* ------------------------------------------------------------------ */
/* os_auth.c: Keystone                                                */

/* The body of POST /v3/auth/tokens for the provider's identity (password,
 * scoped to its project; or application credential, scoped by itself).
 * New value; it holds the secret: release it at once after use. */
infra_json *os_auth_body(const infra_provider *p);
/* A copy of the current token (caller frees with os_free_secret) and its
 * generation. Authenticates when there is none, when it expires within
 * the renewal margin (at most a quarter of its life), or when it is the
 * generation stale_generation (a token a service refused). 0, or
 * INFRA_EAUTH / INFRA_ETRANSIENT with a diagnostic. */
int os_auth_token(infra_provider *p, infra_call *call, long stale_generation, char **token,
                  long *generation);
/* Reads a token answer: expiry, issue time, catalog, project. Exposed for tests. */
int os_auth_accept(infra_provider *p, const char *token, const infra_json *body);

/* ------------------------------------------------------------------ */
/* os_client.c: calls                                                 */

/* Flags of a call. */
#define OS_SAFE 1u       /* repeating the request is harmless (a read, an idempotent change) */
#define OS_DEPENDENT 2u  /* a delete that may wait for dependents to go (409 "in use") */
#define OS_IMMUTABLE 4u  /* an Octavia change that waits out PENDING_* (409 "immutable") */
#define OS_QUIET_404 8u  /* a 404 is INFRA_ENOTFOUND without a diagnostic */
#define OS_QUIET_409 16u /* a 409 is INFRA_ECONFLICT without a diagnostic */

/* One API call. Borrowed fields. */
typedef struct os_req {
    os_service svc;
    const char *method;     /* "GET", "POST", "PUT", "DELETE" */
    const char *path;       /* below the service base, encoded: "/networks?name=x" */
    const infra_json *body; /* or NULL */
    const char *attr;       /* attribute path of diagnostics ("" = the resource) */
    unsigned flags;         /* OS_* above */
} os_req;

/* An answer. */
typedef struct os_resp {
    long status;
    infra_json *body; /* parsed JSON, or NULL */
    os_error error;   /* for an error status */
    int attempts;
} os_resp;

/* Sends r with the token, retrying as the policy says; a 401 renews the
 * token and repeats the request once. 0 with *out (a 2xx answer). On an
 * error answer: its category, *out holding the decoded error, and a
 * diagnostic at r->attr unless the flags make it quiet. On a transport
 * failure: the host's error (it reported it), *out NULL. Free *out with
 * os_resp_free in every case. */
int os_call(infra_provider *p, infra_call *call, const os_req *r, os_resp **out);
void os_resp_free(os_resp *r);
/* os_call, keeping only the body (caller releases) or nothing. */
int os_get(infra_provider *p, infra_call *call, os_service svc, const char *path, unsigned flags,
           infra_json **body);
int os_send(infra_provider *p, infra_call *call, os_service svc, const char *method,
            const char *path, const infra_json *body, const char *attr, unsigned flags,
            infra_json **answer);
/* Every page of a list: GET path, then the "next" links of the answer
 * (Neutron's "<key>_links", Glance's "next", Octavia's "<key>_links",
 * Designate's "links.next"), collecting the elements of key into a new
 * array *out. */
int os_list(infra_provider *p, infra_call *call, os_service svc, const char *path, const char *key,
            infra_json **out);

/* The base URL of a service (from the override or the catalog), resolved
 * once: 0 with *base borrowed for the provider's life; INFRA_ENOTSUP with
 * a diagnostic at attr when the cloud offers no such service. */
int os_endpoint(infra_provider *p, infra_call *call, os_service svc, const char *attr,
                const char **base);
/* The Nova microversion minor, negotiated once (0 on failure, with a diagnostic). */
int os_nova_minor(infra_provider *p, infra_call *call, int *minor);
/* The newest Octavia minor, read once (0 when the list is unavailable). */
int os_octavia_minor(infra_provider *p, infra_call *call, int *minor);

/* Reports an error answer the way every message of the plugin reads:
 * "openstack: SERVICE METHOD PATH in REGION: CODE: MESSAGE" (the quota
 * named for quota errors). */
void os_error_diag(infra_provider *p, infra_call *call, const char *attr, const os_req *r,
                   long status, const os_error *e);

/* The upper bound of the random backoff before try attempt + 1. */
int64_t os_backoff_cap_ms(const os_retry_policy *policy, int attempt);
/* The policy documented in docs/openstack.md. */
void os_retry_policy_default(os_retry_policy *policy);

#endif
