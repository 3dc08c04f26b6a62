/* Where the gcp provider's credentials, project, region, zone and
 * endpoints come from: the provider settings, then the environment and
 * files gcloud and Google's client libraries read. Pure: the environment
 * and the file system are reached through callbacks, so the unit tests
 * can hand in their own. */
#ifndef GCP_CONFIG_H
#define GCP_CONFIG_H

#include "gcp.h"

/* The settings the resolution reads (borrowed; NULL when absent). */
typedef struct gcp_config_settings {
    const char *project;
    const char *region;
    const char *zone;
    const char *credentials_file;
    const char *endpoint;          /* root URL of every API ("https://www.googleapis.com/") */
    const char *endpoints_compute; /* base URL of Compute Engine v1 */
    const char *endpoints_dns;     /* base URL of Cloud DNS v1 */
    const char *endpoints_token;   /* the OAuth token endpoint */
} gcp_config_settings;

/* The environment and the file system as the resolution sees them. */
typedef struct gcp_config_env {
    const char *(*getenv)(void *ud, const char *name); /* NULL when unset */
    int (*exists)(void *ud, const char *path);         /* 1 when a regular file is there */
    int on_gce;                                        /* infra runs on a Compute Engine instance */
    void *ud;
} gcp_config_env;

/* What the resolution found. Every string is owned. */
typedef struct gcp_config {
    char *project;        /* NULL: from the credentials (key file, metadata server) */
    char *project_source; /* "the setting project", "GOOGLE_CLOUD_PROJECT", ... */
    char *region;         /* NULL only with an error */
    char *region_source;
    char *zone; /* NULL: the region's first zone */
    char *endpoint[GCP_NSERVICES];
    char *endpoint_source[GCP_NSERVICES];
    char *token_url;          /* NULL: the key file's token_uri, else Google's */
    char *credentials_path;   /* the key file to read, or NULL for the metadata server */
    char *credentials_source; /* "GOOGLE_APPLICATION_CREDENTIALS (/k.json)", ... */
    char *metadata_host;      /* "host[:port]" when the metadata server is used */
} gcp_config;

/* Resolves s against env into *out. 0, or INFRA_EINVALID with *err
 * (caller frees) and *attr (the setting to point at, static). */
int gcp_config_resolve(const gcp_config_settings *s, const gcp_config_env *env, gcp_config *out,
                       char **err, const char **attr);
void gcp_config_free(gcp_config *c);
/* The region of a zone ("europe-west1" of "europe-west1-b"), caller frees; NULL if not a zone. */
char *gcp_zone_region(const char *zone);

#endif
