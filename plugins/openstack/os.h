/* The "openstack" provider: Neutron networks, subnets, routers, security
 * groups, ports and floating IPs, Nova servers and key pairs, Glance
 * images, Octavia load balancers and Designate record sets, on any
 * OpenStack cloud (OVH Public Cloud among them), with Keystone v3 tokens.
 *
 * Shared between the plugin's files only; the plugin sees nothing of infra
 * but <infra/plugin.h>. All HTTP goes through host->http, all JSON through
 * host->json, YAML through libyaml. See docs/openstack.md. */
#ifndef OS_H
#define OS_H

#include <infra/plugin.h>

#include "plugin_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The host's JSON service (pu_host is the host table, plugin_util.h). */
#define OJ (pu_host->json)

/* The services the plugin talks to (Keystone aside). */
typedef enum os_service {
    OS_COMPUTE = 0,
    OS_NETWORK,
    OS_IMAGE,
    OS_DNS,
    OS_LB,
    OS_NSERVICES
} os_service;

/* Catalog service type: "compute", "network", "image", "dns", "load-balancer". */
const char *os_service_type(os_service s);
/* Project name for messages: "nova", "neutron", "glance", "designate", "octavia". */
const char *os_service_project(os_service s);
/* Key of the provider setting `endpoints` ("compute", ..., "load_balancer"). */
const char *os_service_setting_key(os_service s);
/* The service whose setting key or catalog type is name, or -1. */
int os_service_by_name(const char *name);

/* The Nova microversions the plugin speaks: at least 2.52 (tags given at
 * create), at most the newest it was written against. */
#define OS_NOVA_MIN_MINOR 52
#define OS_NOVA_MAX_MINOR 90
/* Octavia's API version from which load balancers carry tags. */
#define OS_OCTAVIA_TAGS_MINOR 5

/* How the provider authenticates to Keystone. */
typedef enum os_auth_kind { OS_AUTH_PASSWORD = 0, OS_AUTH_APPCRED } os_auth_kind;

/* The retry budget of one API call (docs/openstack.md, "Retries"). */
typedef struct os_retry_policy {
    int max_attempts;      /* tries on throttling and 5xx, the first included */
    int64_t budget_ms;     /* no new try once this much time has passed */
    int64_t base_ms;       /* backoff cap before the second try; doubles per try */
    int64_t cap_ms;        /* backoff cap never exceeds this */
    int64_t dependency_ms; /* how long "in use" is retried on deletes */
    int64_t immutable_ms;  /* how long Octavia's "immutable" (PENDING_*) is retried */
} os_retry_policy;

/* The Keystone token: one per provider, shared by its threads. */
typedef struct os_token {
    pthread_mutex_t lock;
    infra_secret *value; /* wrapped at once: masked in every line infra prints */
    time_t issued_at;
    time_t expires_at;
    long generation; /* bumped at every new token */
    int64_t
        renew_margin_s; /* renew when less than this remains (capped at a quarter of the life) */
    long issued;        /* tokens obtained so far (tests, logs) */
} os_token;

/* One waiter shared by every server wait of a provider (os_server_wait.c). */
typedef struct os_waiter os_waiter;

struct infra_provider {
    /* Identity, from os_config_resolve; the secret is wrapped. */
    char *auth_url; /* ends in /v3 */
    os_auth_kind auth_kind;
    char *username, *user_id, *user_domain_name, *user_domain_id;
    char *project_name, *project_id, *project_domain_name, *project_domain_id;
    char *app_cred_id, *app_cred_name;
    infra_secret *secret; /* password or application credential secret */
    char *region;
    char *interface; /* public, internal, admin */
    char *cacert;    /* CA bundle path, or NULL */
    char *source;    /* where the credentials came from, for messages */

    os_token token;
    infra_json *catalog; /* the token's catalog (for endpoints), guarded by token.lock */
    char *token_project_id;
    char *override[OS_NSERVICES]; /* endpoint overrides, or NULL */

    pthread_mutex_t lock;          /* guards everything below */
    char *endpoint[OS_NSERVICES];  /* resolved base URLs, with their version path */
    int nova_minor;                /* negotiated Nova microversion 2.N, 0 = not yet */
    int octavia_minor;             /* newest Octavia API 2.N, -1 = not yet */
    infra_json *flavors;           /* GET /flavors/detail, cached */
    infra_json *external_networks; /* GET /networks?router:external=true, cached */
    char **zone_cache;             /* Designate zone name, id, name, id, ... */

    os_retry_policy retry;
    atomic_int stopped;
    os_waiter *waiter;
};

/* A provider with nothing resolved yet (locks initialised, default retry
 * policy and renewal margin); free with os_provider_free. */
infra_provider *os_provider_new(void);
/* Frees a provider context and everything it holds; NULL is ignored. */
void os_provider_free(infra_provider *p);

/* ------------------------------------------------------------------ */
/* os_util.c: string arrays, waits, digests, JSON lists, names          */

/* Frees a NULL-terminated array of strings and the array. */
void os_strv_free(char **v);
/* Number of strings of a NULL-terminated array. */
size_t os_strv_len(char *const *v);
/* An empty NULL-terminated array (caller frees with os_strv_free). */
char **os_strv_new(void);
/* Appends a copy of s to the NULL-terminated array *v (may be NULL). */
void os_strv_push(char ***v, const char *s);
/* 1 when the NULL-terminated array v holds s. */
int os_strv_has(char *const *v, const char *s);
/* 1 when x and y hold the same strings, order aside. */
int os_strv_same_set(char *const *x, char *const *y);
/* Zeroises and frees s (a copy of a secret); NULL is ignored. */
void os_free_secret(char *s);

/* INFRA_ECANCELLED when the call was cancelled or the provider stopped. */
int os_check_cancel(infra_provider *p, infra_call *call);
/* Sleeps ms unless cancelled (INFRA_ECANCELLED). */
int os_sleep(infra_provider *p, infra_call *call, int64_t ms);
/* A uniformly random integer in [0, bound] (bound >= 0). Thread-safe. */
int64_t os_random_below(int64_t bound);

/* Lowercase hex SHA-256 of data, into out[65]. */
void os_sha256_hex(const void *data, size_t len, char out[65]);
/* Standard base64 with padding (caller frees). */
char *os_base64_encode(const void *data, size_t len);
/* Percent-encodes s for a URL query value or path segment: everything but
 * RFC 3986 unreserved characters (caller frees). */
char *os_url_encode(const char *s);
/* "2026-11-02T10:00:00Z", with or without fractions or an offset, as a
 * time_t. 0, or INFRA_EINVALID. */
int os_iso8601(const char *s, time_t *out);
/* 1 when name matches the glob pattern (* and ?). */
int os_glob(const char *pattern, const char *name);
/* 1 when s looks like an OpenStack UUID (8-4-4-4-12 hex, or 32 hex). */
int os_is_uuid(const char *s);

/* 1 when v is, or holds anywhere inside, a value known only after apply
 * (INFRA_JSON_UNKNOWN; a string is never one). */
int os_json_unknown(const infra_json *v);
/* A string from a string or a number (its decimal text); NULL otherwise. Caller frees. */
char *os_json_text(const infra_json *v);
/* The strings of a list (or of one string) as a NULL-terminated array
 * (caller frees with os_strv_free); nulls are skipped. 0, or
 * INFRA_EINVALID when v holds something else. A NULL v gives an empty array. */
int os_json_strv(const infra_json *v, char ***out);
/* A new JSON list of the strings of v (NULL-terminated), or NULL. */
infra_json *os_json_from_strv(char *const *v);
/* Sets obj[key] to a list of the strings of v. */
int os_json_set_strv(infra_json *obj, const char *key, char *const *v);
/* A string member that is set and not empty, or NULL (an unknown is no string). */
const char *os_json_known_str(const infra_json *obj, const char *key);
/* IPv4 "a.b.c.d" (1) or not (0); IPv6 likewise; CIDRs of either. */
int os_is_ipv4(const char *s);
int os_is_ipv6(const char *s);
int os_is_cidr(const char *s);

/* A name derived from the call: "TOPOLOGY-ENV-ADDRESS" with every
 * character outside [A-Za-z0-9-] turned into '-', at most max characters
 * (caller frees). The environment is left out when it is "default". */
char *os_call_name(infra_call *call, size_t max);
/* The topology and environment of the call ("" when the host has none). */
const char *os_call_topology(infra_call *call);
const char *os_call_environment(infra_call *call);
/* 1 when the object of this create may exist already: an interrupted run
 * recorded the token, or this process began a create with it before (a
 * retry); always 1 on a host without call_resuming. */
int os_call_resuming(infra_call *call);

#endif
