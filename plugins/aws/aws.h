/* The "aws" provider: VPCs, subnets, gateways, route tables, security
 * groups, key pairs, instances, Classic load balancers, launch templates,
 * Auto Scaling groups and Route 53 records, through the EC2, ELB and Auto
 * Scaling Query APIs and the Route 53 REST-XML API.
 *
 * Shared between the plugin's files only; the plugin sees nothing of infra
 * but <infra/plugin.h>. All HTTP goes through host->http, all JSON through
 * host->json. See docs/aws.md. */
#ifndef AWS_H
#define AWS_H

#include <infra/plugin.h>

#include "plugin_util.h"
#include "aws_profile.h" /* aws_free_secret_copy (awsauth) */
#include "aws_sigv4.h"  /* aws_sha256_hex (awsauth) */

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* The host's JSON service (pu_host is the host table, plugin_util.h). */
#define AJ (pu_host->json)

/* The services the plugin talks to. */
typedef enum aws_service { AWS_EC2 = 0, AWS_ELB, AWS_ASG, AWS_R53, AWS_NSERVICES } aws_service;

/* SigV4 signing name: "ec2", "elasticloadbalancing", "autoscaling", "route53". */
const char *aws_service_signing_name(aws_service s);
/* API version sent with Query requests ("2016-11-15", ...). */
const char *aws_service_api_version(aws_service s);
/* The key of the provider setting `endpoints` ("ec2", "elb", "autoscaling", "route53"). */
const char *aws_service_setting_key(aws_service s);

/* The retry budget of one API call (docs/aws.md, "Retries"). */
typedef struct aws_retry_policy {
    int max_attempts;      /* tries of one call on throttling and 5xx, the first included */
    int64_t budget_ms;     /* and no new try once this much time has passed */
    int64_t base_ms;       /* backoff cap before the second try; doubles per try */
    int64_t cap_ms;        /* backoff cap never exceeds this */
    int64_t fresh_ms;      /* how long Invalid*.NotFound is retried for just-created ids */
    int64_t dependency_ms; /* how long DependencyViolation is retried on deletes */
} aws_retry_policy;

/* One waiter shared by every instance wait of a provider, and the
 * instance lookups by token it shares likewise (aws_instance_data.c). */
typedef struct aws_waiter aws_waiter;
typedef struct aws_lookups aws_lookups;

struct infra_provider {
    char *region;
    char *endpoint[AWS_NSERVICES]; /* base URL of each service, no trailing '/' */
    char *access_key_id;           /* not a secret: it names the key */
    infra_secret *secret_key;      /* wrapped at once: masked in every log line */
    infra_secret *session_token;   /* or NULL */
    char *credentials_source;      /* where the credentials came from, for messages */
    aws_retry_policy retry;
    char **zones; /* availability zones of the region, in the order EC2 lists them */
    size_t nzones;
    atomic_int stopped;
    aws_waiter *waiter;
    aws_lookups *lookups;
    pthread_mutex_t tried_lock; /* guards tried */
    char **tried;               /* tokens of the creates this context has attempted */
    pthread_mutex_t cache_lock; /* guards the caches below */
    char **zone_cache;          /* hosted zone name, id, name, id, ... */
    size_t nzone_cache;
};

/* Frees a provider context and everything it holds; NULL is ignored. */
void aws_provider_free(infra_provider *p);

/* ------------------------------------------------------------------ */
/* aws_util.c: string arrays, waits, digests, JSON lists, names         */

/* Frees a NULL-terminated array of strings and the array. */
void aws_strv_free(char **v);
/* Number of strings of a NULL-terminated array. */
size_t aws_strv_len(char *const *v);
/* Appends a copy of s to the NULL-terminated array *v (may be NULL). */
void aws_strv_push(char ***v, const char *s);
/* 1 when the NULL-terminated array v holds s. */
int aws_strv_has(char *const *v, const char *s);
/* 1 when x and y hold the same strings, order aside (as many of each:
 * the lists the plugin compares have no duplicates). */
int aws_strv_same_set(char *const *x, char *const *y);

/* INFRA_ECANCELLED when the call was cancelled or the provider stopped. */
int aws_check_cancel(infra_provider *p, infra_call *call);
/* Sleeps ms unless cancelled (INFRA_ECANCELLED). */
int aws_sleep(infra_provider *p, infra_call *call, int64_t ms);
/* A uniformly random integer in [0, bound] (bound >= 0). Thread-safe. */
int64_t aws_random_below(int64_t bound);

/* Standard base64 with padding (caller frees). */
char *aws_base64_encode(const void *data, size_t len);
/* Decodes standard base64 (whitespace ignored) into *out (NUL-terminated,
 * caller frees). 0, or INFRA_EINVALID when text is not base64. */
int aws_base64_decode(const char *text, char **out, size_t *len);

/* A string from a string or a number (its decimal text); NULL otherwise. Caller frees. */
char *aws_json_to_text(const infra_json *v);
/* The strings of a list (or of one string) as a NULL-terminated array
 * (caller frees with aws_strv_free); NULL members are skipped. 0, or
 * INFRA_EINVALID when v holds something else. A NULL v gives an empty array. */
int aws_json_strv(const infra_json *v, char ***out);
/* Sets obj[key] to a list of the strings of v (NULL-terminated). */
int aws_json_set_strv(infra_json *obj, const char *key, char *const *v);
/* IPv4 "a.b.c.d" (1) or not (0); with CIDR "a.b.c.d/n", the same for ranges. */
int aws_is_ipv4(const char *s);
int aws_is_cidr(const char *s);

/* A name derived from the call: "TOPOLOGY-ENV-ADDRESS" with every character
 * outside [A-Za-z0-9-] turned into '-', at most max characters (caller frees). */
char *aws_call_name(infra_call *call, size_t max);
/* An idempotency token EC2 accepts (at most 64 printable ASCII): token
 * itself when it fits and salt is NULL, else the hex SHA-256 of
 * token|salt (a salt gives each step of one create its own token). */
void aws_client_token(const char *token, const char *salt, char out[65]);
/* The first n hex digits of SHA-256(token), a stable short form of a token. */
void aws_token_hex(const char *token, size_t n, char *out);

#endif
