/* The gcp provider's configuration, found as gcloud and Google's client
 * libraries find it (docs/gcp.md, "Credentials, project, endpoints"):
 *
 *  credentials  the setting credentials_file, GOOGLE_APPLICATION_CREDENTIALS,
 *               gcloud's application default credentials
 *               ($CLOUDSDK_CONFIG or ~/.config/gcloud,
 *               application_default_credentials.json), then the metadata
 *               server (GCE_METADATA_HOST, or on a Compute Engine instance
 *               unless NO_GCE_CHECK is true);
 *  project      the setting, GOOGLE_CLOUD_PROJECT, CLOUDSDK_CORE_PROJECT,
 *               then the credentials' own project;
 *  region/zone  the settings, CLOUDSDK_COMPUTE_REGION / CLOUDSDK_COMPUTE_ZONE,
 *               one from the other;
 *  endpoints    CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE / _DNS, the setting
 *               endpoints.compute / .dns, the setting endpoint (a root URL),
 *               Google's; the token endpoint from endpoints.token, then
 *               CLOUDSDK_AUTH_TOKEN_HOST, then the key file's token_uri. */
#include "gcp_config.h"

#include <stdlib.h>
#include <string.h>

static const char *const default_base[GCP_NSERVICES] = {
    "https://compute.googleapis.com/compute/v1/", "https://dns.googleapis.com/dns/v1/"};
static const char *const root_path[GCP_NSERVICES] = {"compute/v1/", "dns/v1/"};
static const char *const override_env[GCP_NSERVICES] = {"CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE",
                                                        "CLOUDSDK_API_ENDPOINT_OVERRIDES_DNS"};
static const char *const service_key[GCP_NSERVICES] = {"compute", "dns"};

static const char *env_get(const gcp_config_env *env, const char *name)
{
    const char *v = env->getenv(env->ud, name);
    return v != NULL && *v ? v : NULL;
}

void gcp_config_free(gcp_config *c)
{
    if (c == NULL)
        return;
    free(c->project);
    free(c->project_source);
    free(c->region);
    free(c->region_source);
    free(c->zone);
    for (int i = 0; i < GCP_NSERVICES; i++) {
        free(c->endpoint[i]);
        free(c->endpoint_source[i]);
    }
    free(c->token_url);
    free(c->credentials_path);
    free(c->credentials_source);
    free(c->metadata_host);
    memset(c, 0, sizeof(*c));
}

char *gcp_zone_region(const char *zone)
{
    const char *dash = zone ? strrchr(zone, '-') : NULL;
    if (dash == NULL || dash == zone || dash[1] == '\0' || strchr(zone, '-') == dash)
        return NULL;
    return pu_strndup(zone, (size_t)(dash - zone));
}

/* url with a '/' at the end (caller frees). */
static char *with_slash(const char *url)
{
    size_t n = strlen(url);
    return n > 0 && url[n - 1] == '/' ? pu_strdup(url) : pu_printf("%s/", url);
}

static int is_url(const char *s)
{
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

static int endpoints(const gcp_config_settings *s, const gcp_config_env *env, gcp_config *out,
                     char **err, const char **attr)
{
    const char *from_setting[GCP_NSERVICES] = {s->endpoints_compute, s->endpoints_dns};
    for (int i = 0; i < GCP_NSERVICES; i++) {
        const char *v = env_get(env, override_env[i]);
        if (v != NULL) {
            out->endpoint[i] = with_slash(v);
            out->endpoint_source[i] = pu_strdup(override_env[i]);
        } else if (from_setting[i] != NULL && *from_setting[i]) {
            out->endpoint[i] = with_slash(from_setting[i]);
            out->endpoint_source[i] = pu_printf("the setting endpoints.%s", service_key[i]);
        } else if (s->endpoint != NULL && *s->endpoint) {
            char *root = with_slash(s->endpoint);
            out->endpoint[i] = pu_printf("%s%s", root, root_path[i]);
            out->endpoint_source[i] = pu_strdup("the setting endpoint");
            free(root);
        } else {
            out->endpoint[i] = pu_strdup(default_base[i]);
            out->endpoint_source[i] = pu_strdup("Google's");
        }
        if (!is_url(out->endpoint[i])) {
            *err = pu_printf("the %s endpoint \"%s\" (from %s) is not an http:// or https:// URL",
                             service_key[i], out->endpoint[i], out->endpoint_source[i]);
            *attr = "endpoints";
            return INFRA_EINVALID;
        }
    }
    const char *token = s->endpoints_token;
    if (token == NULL || *token == '\0')
        token = env_get(env, "CLOUDSDK_AUTH_TOKEN_HOST");
    if (token != NULL) {
        if (!is_url(token)) {
            *err = pu_printf("the token endpoint \"%s\" is not an http:// or https:// URL", token);
            *attr = "endpoints";
            return INFRA_EINVALID;
        }
        out->token_url = pu_strdup(token);
    }
    return 0;
}

static int credentials(const gcp_config_settings *s, const gcp_config_env *env, gcp_config *out,
                       char **err, const char **attr)
{
    const char *path = NULL;
    if (s->credentials_file != NULL && *s->credentials_file) {
        path = s->credentials_file;
        out->credentials_source = pu_printf("the setting credentials_file (%s)", path);
        *attr = "credentials_file";
    } else if ((path = env_get(env, "GOOGLE_APPLICATION_CREDENTIALS")) != NULL) {
        out->credentials_source = pu_printf("GOOGLE_APPLICATION_CREDENTIALS (%s)", path);
        *attr = "";
    }
    if (path != NULL) {
        if (!env->exists(env->ud, path)) {
            *err = pu_printf("the credentials file %s of %s does not exist or is not a file", path,
                             out->credentials_source);
            return INFRA_EINVALID;
        }
        out->credentials_path = pu_strdup(path);
        return 0;
    }
    /* gcloud's application default credentials. */
    const char *dir = env_get(env, "CLOUDSDK_CONFIG");
    const char *home = env_get(env, "HOME");
    char *adc = dir != NULL ? pu_printf("%s/application_default_credentials.json", dir)
                : home != NULL
                    ? pu_printf("%s/.config/gcloud/application_default_credentials.json", home)
                    : NULL;
    if (adc != NULL && env->exists(env->ud, adc)) {
        out->credentials_path = adc;
        out->credentials_source = pu_printf("application default credentials (%s)", adc);
        return 0;
    }
    const char *meta = env_get(env, "GCE_METADATA_HOST");
    if (meta == NULL)
        meta = env_get(env, "GCE_METADATA_ROOT");
    /* NO_GCE_CHECK, as google-auth reads it: never guess the metadata server. */
    const char *no_check = env_get(env, "NO_GCE_CHECK");
    int on_gce = env->on_gce && !(no_check != NULL &&
                                  (strcmp(no_check, "true") == 0 || strcmp(no_check, "True") == 0 ||
                                   strcmp(no_check, "1") == 0));
    if (meta != NULL || on_gce) {
        out->metadata_host = pu_strdup(meta ? meta : "metadata.google.internal");
        out->credentials_source = pu_printf("the metadata server (%s)", out->metadata_host);
        free(adc);
        return 0;
    }
    *err = pu_printf("no credentials: set the provider setting credentials_file or "
                     "GOOGLE_APPLICATION_CREDENTIALS to a key file, run `gcloud auth "
                     "application-default login` (%s), or run on a Compute Engine instance",
                     adc ? adc : "~/.config/gcloud/application_default_credentials.json");
    *attr = "credentials_file";
    free(adc);
    return INFRA_EINVALID;
}

int gcp_config_resolve(const gcp_config_settings *s, const gcp_config_env *env, gcp_config *out,
                       char **err, const char **attr)
{
    int error = 0;
    const char *v;

    memset(out, 0, sizeof(*out));
    *err = NULL;
    *attr = "";
    if ((error = credentials(s, env, out, err, attr)) < 0 ||
        (error = endpoints(s, env, out, err, attr)) < 0)
        goto done;

    if (s->project != NULL && *s->project) {
        out->project = pu_strdup(s->project);
        out->project_source = pu_strdup("the setting project");
    } else if ((v = env_get(env, "GOOGLE_CLOUD_PROJECT")) != NULL) {
        out->project = pu_strdup(v);
        out->project_source = pu_strdup("GOOGLE_CLOUD_PROJECT");
    } else if ((v = env_get(env, "CLOUDSDK_CORE_PROJECT")) != NULL) {
        out->project = pu_strdup(v);
        out->project_source = pu_strdup("CLOUDSDK_CORE_PROJECT");
    }

    const char *zone = s->zone && *s->zone ? s->zone : NULL;
    const char *zone_from = "the setting zone";
    if (zone == NULL && (zone = env_get(env, "CLOUDSDK_COMPUTE_ZONE")) != NULL)
        zone_from = "CLOUDSDK_COMPUTE_ZONE";
    char *zone_region = zone ? gcp_zone_region(zone) : NULL;
    if (zone != NULL && zone_region == NULL) {
        *err = pu_printf("\"%s\" (%s) is not a zone such as europe-west1-b", zone, zone_from);
        *attr = "zone";
        error = INFRA_EINVALID;
        goto done;
    }
    if (s->region != NULL && *s->region) {
        out->region = pu_strdup(s->region);
        out->region_source = pu_strdup("the setting region");
    } else if ((v = env_get(env, "CLOUDSDK_COMPUTE_REGION")) != NULL) {
        out->region = pu_strdup(v);
        out->region_source = pu_strdup("CLOUDSDK_COMPUTE_REGION");
    } else if (zone_region != NULL) {
        out->region = pu_strdup(zone_region);
        out->region_source = pu_printf("the zone %s (%s)", zone, zone_from);
    }
    if (out->region == NULL) {
        *err = pu_strdup("no region: set the provider setting region (or zone), or "
                         "CLOUDSDK_COMPUTE_REGION");
        *attr = "region";
        error = INFRA_EINVALID;
        free(zone_region);
        goto done;
    }
    /* A zone of another region (an environment default) is not this provider's. */
    if (zone != NULL && strcmp(zone_region, out->region) == 0)
        out->zone = pu_strdup(zone);
    else if (zone != NULL && s->zone != NULL && *s->zone) {
        *err = pu_printf("the zone %s is not in the region %s", zone, out->region);
        *attr = "zone";
        error = INFRA_EINVALID;
    }
    free(zone_region);
done:
    if (error < 0)
        gcp_config_free(out);
    return error;
}
