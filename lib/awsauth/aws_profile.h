/* Where AWS credentials, the region and service endpoints come from, as
 * the AWS CLI finds them: environment variables, the shared credentials
 * and config files (INI) and the caller's settings. Pure resolution with
 * the environment passed in, so that every precedence rule is testable.
 *
 * Part of the awsauth static library, linked by the core (the S3 state
 * backend) and by the aws plugin: one credential chain for both. The
 * services are the caller's: the aws plugin asks for EC2, ELB, Auto
 * Scaling and Route 53, the S3 backend for S3. */
#ifndef AWS_PROFILE_H
#define AWS_PROFILE_H

#include <stddef.h>

#include <infra/plugin.h>

/* ------------------------------------------------------------------ */
/* INI files                                                          */

/* One "key = value" of a section. A nested block
 *     ec2 =
 *       endpoint_url = http://...
 * gives the key "ec2.endpoint_url". Keys are lowercased, section names and
 * values are kept as written (trimmed). */
typedef struct aws_ini_entry {
    char *section;
    char *key;
    char *value;
} aws_ini_entry;

typedef struct aws_ini {
    aws_ini_entry *entries;
    size_t n;
} aws_ini;

/* Parses INI text. Lines that are neither a section, a key nor a comment
 * are ignored, as the AWS CLI ignores them. Never fails. */
void aws_ini_parse(const char *text, aws_ini *out);
/* Reads and parses path. 0, INFRA_ENOTFOUND when the file does not exist,
 * INFRA_EINVALID when it cannot be read. */
int aws_ini_load(const char *path, aws_ini *out);
/* The value of key in section (the last one given), or NULL (borrowed). */
const char *aws_ini_get(const aws_ini *ini, const char *section, const char *key);
/* 1 when the file has that section. */
int aws_ini_has_section(const aws_ini *ini, const char *section);
void aws_ini_free(aws_ini *ini);

/* ------------------------------------------------------------------ */
/* Resolution                                                         */

#define AWS_PROFILE_MAX_SERVICES 8

/* How one service is named in each place an endpoint can be configured. */
typedef struct aws_service_info {
    const char *env_suffix;      /* AWS_ENDPOINT_URL_<SUFFIX>: "EC2", "S3" */
    const char *config_id;       /* key of the config file's services section: "ec2", "s3" */
    const char *setting_key;     /* the caller's endpoints.<key> setting: "ec2", "s3" */
    const char *host_prefix;     /* public endpoint https://PREFIX.REGION.amazonaws.com */
    const char *global_endpoint; /* a region-less public endpoint instead, or NULL */
} aws_service_info;

/* Reads an environment variable; NULL when unset. */
typedef const char *(*aws_getenv_fn)(void *ud, const char *name);

/* What the caller's settings say (borrowed, each may be NULL). */
typedef struct aws_profile_settings {
    const char *region;
    const char *profile;
    const char *endpoint;                            /* one URL for every service */
    const char *endpoints[AWS_PROFILE_MAX_SERVICES]; /* per service, as services[] */
    const aws_service_info *services;                /* the services wanted */
    size_t nservices;                                /* at most AWS_PROFILE_MAX_SERVICES */
    const char
        *setting_prefix; /* how sources name settings: "provider setting", "backend setting" */
} aws_profile_settings;

/* What was found. Free with aws_profile_free, which zeroises the secrets. */
typedef struct aws_profile {
    char *region;
    char *region_source; /* "provider setting region", "AWS_REGION", ... */
    char *profile;       /* the profile consulted for files */
    char *access_key_id;
    char *secret_key;
    char *session_token; /* or NULL */
    char *
        credentials_source; /* "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", "profile \"x\" in FILE" */
    char *endpoint[AWS_PROFILE_MAX_SERVICES];        /* base URL, no trailing '/' */
    char *endpoint_source[AWS_PROFILE_MAX_SERVICES]; /* where each came from */
} aws_profile;

/* Resolves credentials, region and the endpoint of every service of
 * settings. On error returns INFRA_EAUTH (no usable credentials) or
 * INFRA_EINVALID (no region, a bad URL, a missing profile), with *err
 * (caller frees) saying what to do and *attr the setting concerned ("" for
 * none). Never puts a secret in *err. */
int aws_profile_resolve(const aws_profile_settings *settings, aws_getenv_fn getenv_fn, void *ud,
                        aws_profile *out, char **err, const char **attr);
void aws_profile_free(aws_profile *p);

/* Zeroises and frees s (a copy of a secret); NULL is ignored. */
void aws_free_secret_copy(char *s);

#endif
