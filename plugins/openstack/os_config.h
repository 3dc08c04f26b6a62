/* Where the provider's credentials, region and endpoints come from, as the
 * openstack CLI finds them: clouds.yaml and secure.yaml (libyaml), the OS_*
 * variables of an openrc file, and the provider settings. Pure resolution
 * with the environment passed in, so that every precedence rule is
 * testable. */
#ifndef OS_CONFIG_H
#define OS_CONFIG_H

#include "os.h"

/* ------------------------------------------------------------------ */
/* os_yaml.c: YAML files as JSON values, with the line of every key     */

typedef struct os_yaml_doc {
    infra_json *root; /* NULL for an empty document */
    char **paths;     /* dotted path of every mapping key: "clouds.ovh.auth" */
    int *lines;       /* its line (from 1) */
    size_t n;
    char *file; /* the path it was read from (os_yaml_load) */
} os_yaml_doc;

/* Parses YAML text into *out. 0, or INFRA_EINVALID with *err (caller
 * frees) "LINE: problem". */
int os_yaml_parse(const char *text, size_t len, os_yaml_doc *out, char **err);
/* Reads and parses the file at path (its text is zeroised afterwards: it
 * may hold passwords). 0; INFRA_ENOTFOUND when there is no such file;
 * INFRA_EINVALID with *err "PATH:LINE: problem". */
int os_yaml_load(const char *path, os_yaml_doc *out, char **err);
/* The line of the key at path, or 0. */
int os_yaml_line(const os_yaml_doc *d, const char *path);
void os_yaml_free(os_yaml_doc *d);

/* ------------------------------------------------------------------ */
/* os_config.c: resolution                                             */

/* Reads an environment variable; NULL when unset. */
typedef const char *(*os_getenv_fn)(void *ud, const char *name);

/* Provider settings that matter here (borrowed, each may be NULL). */
typedef struct os_settings {
    const char *cloud;
    const char *region;
    const char *interface;
    const char *cacert;
    const char *endpoints[OS_NSERVICES];
} os_settings;

/* What was found. Free with os_config_free, which zeroises the secret. */
typedef struct os_config {
    char *auth_url; /* ends in /v3 */
    os_auth_kind auth_kind;
    char *username, *user_id, *user_domain_name, *user_domain_id;
    char *project_name, *project_id, *project_domain_name, *project_domain_id;
    char *app_cred_id, *app_cred_name;
    char *secret; /* password or application credential secret */
    char *region;
    char *interface;              /* public, internal or admin */
    char *cacert;                 /* NULL: the system's trust store */
    char *endpoint[OS_NSERVICES]; /* overrides, or NULL */
    char *source;                 /* "cloud \"ovh\" of FILE" or "the OS_* variables" */
    char **warnings;              /* things worth saying that did not stop it */
} os_config;

/* Resolves everything. On error returns INFRA_EAUTH (no usable
 * credentials) or INFRA_EINVALID (no region, a missing cloud, a bad
 * file), with *err (caller frees) saying what to do and *attr the setting
 * concerned ("" for none). Never puts a secret in *err. */
int os_config_resolve(const os_settings *settings, os_getenv_fn getenv_fn, void *ud, os_config *out,
                      char **err, const char **attr);
void os_config_free(os_config *c);

/* "/v3" put on a Keystone URL as clients do: "https://h/" and "https://h"
 * give "https://h/v3", "https://h/v2.0" gives "https://h/v3" (caller
 * frees). */
char *os_auth_url_v3(const char *url);

#endif
