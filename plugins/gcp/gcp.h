/* The "gcp" provider: Compute Engine networks, subnetworks, firewall
 * rules, Cloud Routers with Cloud NAT, static addresses, instances,
 * images, legacy HTTP health checks, target pools and forwarding rules,
 * instance templates and managed instance groups, and Cloud DNS record
 * sets, through the Compute Engine v1 and Cloud DNS v1 JSON REST APIs.
 *
 * Shared between the plugin's files only; the plugin sees nothing of infra
 * but <infra/plugin.h>. All HTTP goes through host->http, all JSON through
 * host->json. See docs/gcp.md. */
#ifndef GCP_H
#define GCP_H

#include <infra/plugin.h>

#include "plugin_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* The host's JSON service (pu_host is the host table, plugin_util.h). */
#define GJ (pu_host->json)

/* The services the plugin talks to. */
typedef enum gcp_service { GCP_COMPUTE = 0, GCP_DNS, GCP_NSERVICES } gcp_service;

/* The retry budget of one API call (docs/gcp.md, "Retries"). */
typedef struct gcp_retry_policy {
    int max_attempts;  /* tries of one call on rate limits and server errors, the first included */
    int64_t budget_ms; /* and no new try once this much time has passed */
    int64_t base_ms;   /* backoff cap before the second try; doubles per try */
    int64_t cap_ms;    /* backoff cap never exceeds this */
    int64_t in_use_ms; /* how long a delete meeting "in use by another resource" is repeated */
    int64_t poll_first_ms; /* first operation poll */
    int64_t poll_max_ms;   /* operation polls back off to this */
} gcp_retry_policy;

typedef struct gcp_auth gcp_auth;     /* credentials and the access token cache (gcp_auth.c) */
typedef struct gcp_waiter gcp_waiter; /* batched operation polls (gcp_op.c) */

struct infra_provider {
    char *project;
    char *region;
    char *zone;                    /* the default zone */
    char **zones;                  /* zones of the region (NULL-terminated) */
    char *endpoint[GCP_NSERVICES]; /* base URL ending in '/'
                                      ("https://compute.googleapis.com/compute/v1/") */
    gcp_auth *auth;
    gcp_retry_policy retry;
    atomic_int stopped;
    gcp_waiter *waiter;
    pthread_mutex_t cache_lock; /* guards the cache below */
    char **zone_cache;          /* Cloud DNS: dnsName, managed zone name, ... */
};

/* Frees a provider context and everything it holds; NULL is ignored. */
void gcp_provider_free(infra_provider *p);

/* ------------------------------------------------------------------ */
/* gcp_util.c: string arrays, waits, digests, JSON, URLs               */

/* Frees a NULL-terminated array of strings and the array. */
void gcp_strv_free(char **v);
/* Number of strings of a NULL-terminated array. */
size_t gcp_strv_len(char *const *v);
/* Appends a copy of s to the NULL-terminated array *v (may be NULL). */
void gcp_strv_push(char ***v, const char *s);
/* 1 when the NULL-terminated array v holds s. */
int gcp_strv_has(char *const *v, const char *s);
/* 1 when x and y hold the same strings, order aside. */
int gcp_strv_same_set(char *const *x, char *const *y);
/* A new empty NULL-terminated array. */
char **gcp_strv_new(void);
/* Zeroises and frees s (a copy of a secret); NULL is ignored. */
void gcp_free_secret(char *s);

/* INFRA_ECANCELLED when the call was cancelled or the provider stopped. */
int gcp_check_cancel(infra_provider *p, infra_call *call);
/* Sleeps ms unless cancelled (INFRA_ECANCELLED). */
int gcp_sleep(infra_provider *p, infra_call *call, int64_t ms);
/* A uniformly random integer in [0, bound] (bound >= 0). Thread-safe. */
int64_t gcp_random_below(int64_t bound);
/* The host's deadline of the call (call_deadline_ms), or 0 when it has none. */
int64_t gcp_call_deadline(infra_call *call);

/* Lowercase hex SHA-256 of data, into out[65]. */
void gcp_sha256_hex(const void *data, size_t len, char out[65]);
/* base64url without padding (JWT), caller frees. */
char *gcp_base64url(const void *data, size_t len);
/* Decodes standard base64 into *out (NUL-terminated, caller frees). 0 or INFRA_EINVALID. */
int gcp_base64_decode(const char *text, char **out, size_t *len);
/* A UUID (version-4 layout) made from SHA-256 of "token|salt": the same
 * inputs give the same requestId, so a repeated insert is recognised. */
void gcp_request_id(const char *token, const char *salt, char out[37]);
/* The first n hex digits of SHA-256(text). */
void gcp_short_hash(const char *text, size_t n, char *out);

/* Percent-encodes s for a URL query value or path segment (caller frees). */
char *gcp_url_encode(const char *s);

/* A string from a string or a number (its decimal text); NULL otherwise. Caller frees. */
char *gcp_json_text(const infra_json *v);
/* 1 when v is or holds a value known only after apply (INFRA_JSON_UNKNOWN). */
int gcp_json_unknown(const infra_json *v);
/* The strings of a list (or of one string) as a NULL-terminated array
 * (caller frees with gcp_strv_free); NULL members are skipped. 0, or
 * INFRA_EINVALID when v holds something else. A NULL v gives an empty array. */
int gcp_json_strv(const infra_json *v, char ***out);
/* Sets obj[key] to a list of the strings of v. */
int gcp_json_set_strv(infra_json *obj, const char *key, char *const *v);
/* A new JSON array of the strings of v (NULL on failure). */
infra_json *gcp_json_strv_new(char *const *v);
/* obj[key] as an integer (a number or a decimal string, as Compute sends
 * int64 values), else dflt. */
long gcp_json_long(const infra_json *obj, const char *key, long dflt);
/* The string at a dotted path ("networkInterfaces.0.networkIP"), borrowed, or NULL. */
const char *gcp_json_path_str(const infra_json *obj, const char *path);
/* The value at a dotted path, borrowed, or NULL. */
const infra_json *gcp_json_path(const infra_json *obj, const char *path);

/* Clears every string inside v (a document that held secrets) before it
 * is released: the host's JSON service frees without clearing. */
void gcp_json_wipe(infra_json *v);

/* IPv4 "a.b.c.d" (1) or not (0); with CIDR "a.b.c.d/n". */
int gcp_is_ipv4(const char *s);
int gcp_is_cidr(const char *s);

/* The last segment of a URL or path ("x" of ".../instances/x"), borrowed. */
const char *gcp_last_segment(const char *url);
/* "projects/P/zones/Z/instances/N" of a selfLink or partial URL (caller frees);
 * a bare name is returned as it is. */
char *gcp_relative_name(const char *url);

#endif
