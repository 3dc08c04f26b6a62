/* Where the provider's credentials, region and endpoints come from, as the
 * AWS CLI finds them: environment variables, the shared credentials and
 * config files (INI), and the provider settings. Pure resolution with the
 * environment passed in, so that every precedence rule is testable. */
#ifndef AWS_CONFIG_H
#define AWS_CONFIG_H

#include "aws.h"

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

/* Reads an environment variable; NULL when unset. */
typedef const char *(*aws_getenv_fn)(void *ud, const char *name);

/* Provider settings that matter here (borrowed, each may be NULL). */
typedef struct aws_config_settings {
    const char *region;
    const char *profile;
    const char *endpoint;                 /* one URL for every service */
    const char *endpoints[AWS_NSERVICES]; /* per service */
} aws_config_settings;

/* What was found. Free with aws_config_free, which zeroises the secrets. */
typedef struct aws_config {
    char *region;
    char *region_source; /* "provider setting region", "AWS_REGION", ... */
    char *profile;       /* the profile consulted for files */
    char *access_key_id;
    char *secret_key;
    char *session_token; /* or NULL */
    char *
        credentials_source; /* "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", "profile \"x\" in FILE" */
    char *endpoint[AWS_NSERVICES];        /* base URL, no trailing '/' */
    char *endpoint_source[AWS_NSERVICES]; /* where each came from */
} aws_config;

/* Resolves everything. On error returns INFRA_EAUTH (no usable
 * credentials) or INFRA_EINVALID (no region, a bad URL, a missing
 * profile), with *err (caller frees) saying what to do and *attr the
 * setting concerned ("" for none). Never puts a secret in *err. */
int aws_config_resolve(const aws_config_settings *settings, aws_getenv_fn getenv_fn, void *ud,
                       aws_config *out, char **err, const char **attr);
void aws_config_free(aws_config *c);

/* The suffix of AWS_ENDPOINT_URL_<SUFFIX> for s ("EC2", "ELASTIC_LOAD_BALANCING", ...). */
const char *aws_service_env_suffix(aws_service s);
/* The service id of config files' services sections ("ec2", "elastic_load_balancing", ...). */
const char *aws_service_config_id(aws_service s);

#endif
