/* The wire: Query parameters, signed HTTP calls through host->http with
 * the plugin's retry policy, AWS error decoding and classification, the
 * Query protocol (EC2, ELB, Auto Scaling) and the Route 53 REST-XML calls
 * the provider makes. */
#ifndef AWS_API_H
#define AWS_API_H

#include "aws.h"
#include "aws_sigv4.h"
#include "aws_xml.h"

/* ------------------------------------------------------------------ */
/* aws_params.c: Query parameters                                      */

/* An ordered list of Query parameters (copies). */
typedef struct aws_params {
    char **keys;
    char **values;
    size_t n;
    size_t cap;
} aws_params;

/* How a list member is named: EC2's "Name.N" or the Query services'
 * "Name.member.N" (N from 1). */
typedef enum aws_list_style { AWS_LIST_EC2, AWS_LIST_MEMBER } aws_list_style;

void aws_params_add(aws_params *p, const char *key, const char *value);
/* Adds value under the key made from key_fmt. */
void aws_params_addk(aws_params *p, const char *value, const char *key_fmt, ...)
    __attribute__((format(printf, 3, 4)));
void aws_params_add_int(aws_params *p, const char *key, long value);
void aws_params_add_bool(aws_params *p, const char *key, int value);
/* NAME.1=v1&NAME.2=v2 (EC2) or NAME.member.1=v1... (Query). */
void aws_params_list(aws_params *p, aws_list_style style, const char *name, char *const *values);
/* The key prefix of list element i (0-based) of name: "Name.3" or "Name.member.3" (caller frees).
 */
char *aws_params_elem(aws_list_style style, const char *name, size_t i);
/* Filter.N.Name=name, Filter.N.Value.M=values (EC2 filters); N is the next free index. */
void aws_params_filter(aws_params *p, const char *name, char *const *values);
/* The same with one value. */
void aws_params_filter1(aws_params *p, const char *name, const char *value);
/* The value of key, or NULL (borrowed). */
const char *aws_params_get(const aws_params *p, const char *key);
/* The form body "Action=A&Version=V&k=v..." percent-encoded as AWS SDKs
 * encode it (caller frees). */
char *aws_params_form(const char *action, const char *version, const aws_params *p);
void aws_params_free(aws_params *p);

/* ------------------------------------------------------------------ */
/* aws_error.c: what an answer means                                   */

/* What the retry loop does with an error answer. */
typedef enum aws_retry_kind {
    AWS_RETRY_NONE = 0,   /* final: report it */
    AWS_RETRY_BACKOFF,    /* throttling or a server error: back off and try again */
    AWS_RETRY_FRESH,      /* Invalid*.NotFound for ids just created: try again for a while */
    AWS_RETRY_DEPENDENCY, /* dependents still going away: try again for a while */
} aws_retry_kind;

/* Flags of a call. */
#define AWS_SAFE                                                                                   \
    1u               /* repeating the request is harmless (a read, an idempotent change, a token)  \
                      */
#define AWS_FRESH 2u /* the request names ids created moments ago */
#define AWS_DEPENDENT 4u /* a delete that may wait for dependents to go away */

/* 1 for the codes AWS uses for throttling. */
int aws_error_is_throttling(const char *code);
/* The INFRA_E* category of an error answer (code may be NULL). */
int aws_error_category(const char *code, long status);
/* What to do with an error answer for a call with flags. */
aws_retry_kind aws_error_retry(const char *code, long status, unsigned flags);
/* 1 when code matches one of the space-separated patterns; a pattern may
 * start or end with '*' ("*.NotFound", "InvalidPermission.*"). */
int aws_code_matches(const char *code, const char *patterns);
/* The upper bound of the random backoff before try attempt + 1 (attempt
 * from 1): base doubling per try, at most cap. */
int64_t aws_backoff_cap_ms(const aws_retry_policy *policy, int attempt);
/* The policy documented in docs/aws.md. */
void aws_retry_policy_default(aws_retry_policy *policy);

/* ------------------------------------------------------------------ */
/* aws_client.c: signed calls with retries                             */

/* One API call. Borrowed fields. */
typedef struct aws_op {
    aws_service service;
    const char *action;  /* the operation name, for messages */
    const char *method;  /* "POST", "GET" */
    const char *path;    /* below the endpoint: "/" or "/2013-04-01/..." (wire form) */
    const aws_kv *query; /* query parameters (not encoded), or NULL */
    size_t nquery;
    const char *body; /* or NULL */
    size_t body_len;
    const char *content_type; /* with a body */
    const char *attr;         /* attribute path of diagnostics ("" = the resource) */
    unsigned flags;           /* AWS_SAFE, AWS_FRESH, AWS_DEPENDENT */
    const char *quiet;        /* error codes returned without a diagnostic (aws_code_matches) */
} aws_op;

/* An answer. */
typedef struct aws_resp {
    long status;
    xmlDoc *doc; /* the parsed body, or NULL */
    xmlNode
        *result; /* EC2: the OpResponse element; ELB/ASG: its OpResult child; Route 53: the root */
    char *code;  /* error code, or NULL */
    char *message; /* error message, or NULL */
    int attempts;
} aws_resp;

/* Signs and sends op, retrying as the policy says. 0 with *out (a 2xx
 * answer). On an AWS error: its category, with *out holding the code and
 * message, and a diagnostic at op->attr unless the code is quiet. On a
 * transport failure: the host's error (it reported it), *out NULL.
 * Free *out with aws_resp_free in every case. */
int aws_call(infra_provider *p, infra_call *call, const aws_op *op, aws_resp **out);
void aws_resp_free(aws_resp *r);

/* Reports an AWS error the way every message of the plugin reads:
 * "aws: ACTION in REGION: CODE: MESSAGE". */
void aws_error_diag(infra_provider *p, infra_call *call, const char *attr, aws_service svc,
                    const char *action, const char *code, const char *message);

/* A Query call (EC2, ELB, Auto Scaling): POST / with the form body. */
int aws_query(infra_provider *p, infra_call *call, aws_service svc, const char *action,
              const aws_params *params, const char *attr, unsigned flags, const char *quiet,
              aws_resp **out);

/* Builds the headers of a signed request into *lines (NULL-terminated,
 * free with aws_strv_free): Host, X-Amz-Date, Content-Type,
 * X-Amz-Security-Token and Authorization. url is the endpoint + path;
 * exposed for tests. */
int aws_sign_headers(const infra_provider *p, aws_service svc, const char *method, const char *url,
                     const aws_kv *query, size_t nquery, const char *body, size_t body_len,
                     const char *content_type, long long now, char ***lines);

/* The region a service is signed for (Route 53: us-east-1). */
const char *aws_signing_region(const infra_provider *p, aws_service svc);

/* ------------------------------------------------------------------ */
/* aws_route53.c: hosted zones, record sets, changes                   */

/* One record set. */
typedef struct aws_rrset {
    char *name;       /* absolute, with the trailing dot, '*' unescaped */
    char *type;       /* "A", "CNAME", ... */
    long ttl;         /* -1 for an alias */
    char **values;    /* NULL-terminated; empty for an alias */
    char *alias_zone; /* alias target hosted zone id, or NULL */
    char *alias_dns;  /* alias target DNS name, or NULL */
    int alias_health; /* EvaluateTargetHealth */
} aws_rrset;
void aws_rrset_free(aws_rrset *r);

/* The id ("Z...") of the hosted zone called zone (with or without the
 * trailing dot), cached per provider. INFRA_ENOTFOUND with a diagnostic. */
int aws_r53_zone_id(infra_provider *p, infra_call *call, const char *attr, const char *zone,
                    char **id);
/* The record set called name of type, or INFRA_ENOTFOUND (no diagnostic). */
int aws_r53_get(infra_provider *p, infra_call *call, const char *attr, const char *zone_id,
                const char *name, const char *type, aws_rrset *out);
/* Every record set of the hosted zone, in Route 53's order, 300 a call:
 * each(ud, rrset) may take what rrset holds (it is freed afterwards); its
 * error stops the walk. 0, or the first error. */
int aws_r53_list(infra_provider *p, infra_call *call, const char *attr, const char *zone_id,
                 int (*each)(void *ud, aws_rrset *rrset), void *ud);
/* "Name." lowercased with exactly one trailing dot and Route 53's \NNN
 * escapes undone: how names are compared (caller frees). */
char *aws_r53_dotted(const char *name);
/* One change (CREATE, UPSERT, DELETE) of rrset; *change_id is the change
 * to wait for (caller frees). */
int aws_r53_change(infra_provider *p, infra_call *call, const char *attr, const char *zone_id,
                   const char *action, const aws_rrset *rrset, const char *comment,
                   char **change_id);
/* Waits until change_id is INSYNC, with backoff, at most deadline_ms. */
int aws_r53_wait(infra_provider *p, infra_call *call, const char *attr, const char *change_id,
                 int64_t deadline_ms);
/* The ChangeResourceRecordSetsRequest body for one change (caller frees). */
char *aws_r53_change_body(const char *action, const aws_rrset *rrset, const char *comment);
/* Parses the record sets of a ListResourceRecordSets answer into *out
 * (array of *n, caller frees each with aws_rrset_free and the array). */
int aws_r53_parse_rrsets(const xmlNode *result, aws_rrset **out, size_t *n);
/* "\052" (and other \NNN escapes Route 53 uses) turned back into characters (caller frees). */
char *aws_r53_unescape(const char *name);

#endif
