/* Credentials, region and endpoints, found the way the openstack CLI
 * finds them.
 *
 * The cloud: the provider setting `cloud`, else OS_CLOUD. Its entry is
 * read from the first clouds.yaml (or clouds.yml) of OS_CLIENT_CONFIG_FILE,
 * the current directory, ~/.config/openstack and /etc/openstack, with the
 * same entry of the first secure.yaml of OS_CLIENT_SECURE_FILE and the same
 * directories merged into it (where passwords usually are).
 *
 * Then the OS_* variables of an openrc file override what the entry says,
 * as the CLI's --os-* options (whose defaults they are) do; without a cloud
 * they are the whole configuration. Last, the provider settings `region`,
 * `interface`, `cacert` and `endpoints` override both. */
#include "os_config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Vendor profiles (clouds.yaml `profile:`): what they imply. */
static const struct {
    const char *name;
    const char *auth_url;
} profiles[] = {
    {"ovh", "https://auth.cloud.ovh.net/v3"},
    {"ovh-us", "https://auth.cloud.ovh.us/v3"},
};

typedef struct resolver {
    os_getenv_fn getenv_fn;
    void *ud;
    os_yaml_doc clouds;
    os_yaml_doc secure;
    infra_json *cloud; /* the entry, secure values merged in (own copy) */
    const char *cloud_name;
    pu_buf env_used; /* OS_* names that were applied over a cloud */
} resolver;

static const char *env(const resolver *r, const char *name)
{
    const char *v = r->getenv_fn(r->ud, name);
    return v != NULL && *v != '\0' ? v : NULL;
}

static char *home_path(const resolver *r, const char *rest)
{
    const char *home = env(r, "HOME");
    return pu_printf("%s/%s", home ? home : "", rest);
}

/* Loads the first file of the search path that exists into *doc. 0 with
 * doc->file set, INFRA_ENOTFOUND when none exists, INFRA_EINVALID. */
static int load_first(resolver *r, const char *var, const char *base, os_yaml_doc *doc, char **err)
{
    const char *set = env(r, var);
    if (set != NULL) {
        int error = os_yaml_load(set, doc, err);
        if (error == INFRA_ENOTFOUND)
            *err = pu_printf("%s names %s, which does not exist", var, set);
        return error == INFRA_ENOTFOUND ? INFRA_EINVALID : error;
    }
    char *candidates[6];
    candidates[0] = pu_printf("./%s.yaml", base);
    candidates[1] = pu_printf("./%s.yml", base);
    char *rel = pu_printf(".config/openstack/%s.yaml", base);
    candidates[2] = home_path(r, rel);
    free(rel);
    rel = pu_printf(".config/openstack/%s.yml", base);
    candidates[3] = home_path(r, rel);
    free(rel);
    candidates[4] = pu_printf("/etc/openstack/%s.yaml", base);
    candidates[5] = pu_printf("/etc/openstack/%s.yml", base);
    int error = INFRA_ENOTFOUND;
    for (size_t i = 0; i < 6 && error == INFRA_ENOTFOUND; i++)
        error = os_yaml_load(candidates[i], doc, err);
    for (size_t i = 0; i < 6; i++)
        free(candidates[i]);
    return error;
}

/* Deep merge of src's members into dst (src wins). */
static void merge(infra_json *dst, const infra_json *src)
{
    void *iter = NULL;
    const char *key;
    const infra_json *value;
    while (OJ->type(src) == INFRA_JSON_OBJECT && OJ->next(src, &iter, &key, &value)) {
        const infra_json *mine = OJ->get(dst, key);
        if (mine != NULL && OJ->type(mine) == INFRA_JSON_OBJECT &&
            OJ->type(value) == INFRA_JSON_OBJECT) {
            infra_json *both = OJ->copy(mine);
            merge(both, value);
            OJ->set(dst, key, both);
        } else {
            OJ->set(dst, key, OJ->copy(value));
        }
    }
}

static char *cloud_names(const infra_json *clouds)
{
    pu_buf b = {0};
    void *iter = NULL;
    const char *key;
    const infra_json *value;
    while (OJ->type(clouds) == INFRA_JSON_OBJECT && OJ->next(clouds, &iter, &key, &value))
        pu_buf_printf(&b, "%s%s", b.len ? ", " : "", key);
    return b.data ? pu_buf_take(&b) : pu_strdup("none");
}

/* "FILE:LINE: " of a key of clouds.yaml (caller frees). */
static char *where(const resolver *r, const char *path)
{
    int line = os_yaml_line(&r->clouds, path);
    if (line > 0)
        return pu_printf("%s:%d: %s: ", r->clouds.file, line, path);
    return pu_printf("%s: %s: ", r->clouds.file ? r->clouds.file : "clouds.yaml", path);
}

static int load_cloud(resolver *r, char **err)
{
    int error = load_first(r, "OS_CLIENT_CONFIG_FILE", "clouds", &r->clouds, err);
    if (error == INFRA_ENOTFOUND) {
        *err = pu_printf("cloud \"%s\": no clouds.yaml in OS_CLIENT_CONFIG_FILE, ., "
                         "~/.config/openstack or /etc/openstack",
                         r->cloud_name);
        return INFRA_EINVALID;
    }
    if (error < 0)
        return error;
    const infra_json *clouds = OJ->get(r->clouds.root, "clouds");
    const infra_json *entry = OJ->get(clouds, r->cloud_name);
    if (entry == NULL || OJ->type(entry) != INFRA_JSON_OBJECT) {
        char *names = cloud_names(clouds);
        *err = pu_printf("%s: no cloud \"%s\" under clouds: (it has %s)", r->clouds.file,
                         r->cloud_name, names);
        free(names);
        return INFRA_EINVALID;
    }
    r->cloud = OJ->copy(entry);
    char *serr = NULL;
    error = load_first(r, "OS_CLIENT_SECURE_FILE", "secure", &r->secure, &serr);
    if (error == INFRA_ENOTFOUND)
        return 0;
    if (error < 0) {
        *err = serr;
        return error;
    }
    const infra_json *more = OJ->get(OJ->get(r->secure.root, "clouds"), r->cloud_name);
    if (more != NULL)
        merge(r->cloud, more);
    return 0;
}

/* A string of the cloud entry at "auth.KEY" or "KEY", or NULL. */
static const char *cloud_get(const resolver *r, const char *section, const char *key)
{
    const infra_json *base = section ? OJ->get(r->cloud, section) : r->cloud;
    const char *v = pu_json_str(base, key);
    return v != NULL && *v ? v : NULL;
}

/* value = env var (when set, noting its use over a cloud) else current. */
static const char *over(resolver *r, const char *current, const char *var)
{
    const char *v = env(r, var);
    if (v == NULL)
        return current;
    if (r->cloud != NULL && (current == NULL || strcmp(current, v) != 0))
        pu_buf_printf(&r->env_used, "%s%s", r->env_used.len ? ", " : "", var);
    return v;
}

static char *dup_or_null(const char *s)
{
    return s ? pu_strdup(s) : NULL;
}

char *os_auth_url_v3(const char *url)
{
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    if (n >= 3 && strncmp(url + n - 3, "/v3", 3) == 0)
        return pu_strndup(url, n);
    if (n >= 5 && strncmp(url + n - 5, "/v2.0", 5) == 0)
        n -= 5;
    return pu_printf("%.*s/v3", (int)n, url);
}

static int set_interface(const char *in, char **out)
{
    static const char *const names[] = {"public", "internal", "admin"};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(names[i]);
        if (strcasecmp(in, names[i]) == 0 ||
            (strncasecmp(in, names[i], n) == 0 && strcasecmp(in + n, "URL") == 0)) {
            *out = pu_strdup(names[i]);
            return 0;
        }
    }
    return INFRA_EINVALID;
}

static const char *regions_first(const infra_json *regions)
{
    const infra_json *first = OJ->type(regions) == INFRA_JSON_ARRAY ? OJ->at(regions, 0) : NULL;
    if (first == NULL)
        return NULL;
    if (OJ->type(first) == INFRA_JSON_STRING)
        return OJ->string(first);
    return pu_json_str(first, "name");
}

static int resolve_auth_kind(resolver *r, os_config *out, const char *type, char **err)
{
    if (type == NULL) {
        out->auth_kind = (out->app_cred_id || out->app_cred_name) && out->secret == NULL
                             ? OS_AUTH_APPCRED
                             : OS_AUTH_PASSWORD;
        return 0;
    }
    if (strcmp(type, "password") == 0 || strcmp(type, "v3password") == 0) {
        out->auth_kind = OS_AUTH_PASSWORD;
        return 0;
    }
    if (strcmp(type, "v3applicationcredential") == 0 ||
        strcmp(type, "applicationcredential") == 0 || strcmp(type, "application_credential") == 0) {
        out->auth_kind = OS_AUTH_APPCRED;
        return 0;
    }
    if (r->cloud != NULL && cloud_get(r, NULL, "auth_type") != NULL &&
        strcmp(cloud_get(r, NULL, "auth_type"), type) == 0) {
        char *path = pu_printf("clouds.%s.auth_type", r->cloud_name);
        char *w = where(r, path);
        *err = pu_printf("%s\"%s\" is not supported (use password or v3applicationcredential)", w,
                         type);
        free(w);
        free(path);
    } else {
        *err = pu_printf("OS_AUTH_TYPE \"%s\" is not supported (use password or "
                         "v3applicationcredential)",
                         type);
    }
    return INFRA_EINVALID;
}

/* What a cloud entry or the environment is missing, said once. */
static int missing(resolver *r, const char *what, const char *key, const char *var, char **err)
{
    if (r->cloud != NULL) {
        char *path = pu_printf("clouds.%s", r->cloud_name);
        char *w = where(r, path);
        *err =
            pu_printf("%shas no %s (%s in clouds.yaml or secure.yaml, or %s)", w, what, key, var);
        free(w);
        free(path);
    } else {
        *err = pu_printf("no %s: set %s (an openrc file does), or name a cloud of clouds.yaml "
                         "with the setting cloud or OS_CLOUD",
                         what, var);
    }
    return INFRA_EAUTH;
}

int os_config_resolve(const os_settings *s, os_getenv_fn getenv_fn, void *ud, os_config *out,
                      char **err, const char **attr)
{
    resolver r;
    int error = 0;
    const char *v;

    memset(out, 0, sizeof(*out));
    memset(&r, 0, sizeof(r));
    r.getenv_fn = getenv_fn;
    r.ud = ud;
    *err = NULL;
    *attr = "";
    out->warnings = os_strv_new();

    r.cloud_name = s->cloud ? s->cloud : env(&r, "OS_CLOUD");
    if (r.cloud_name != NULL) {
        *attr = s->cloud ? "cloud" : "";
        if ((error = load_cloud(&r, err)) < 0)
            goto done;
        *attr = "";
    }

    /* The identity. */
    const char *profile = cloud_get(&r, NULL, "profile");
    const char *auth_url = cloud_get(&r, "auth", "auth_url");
    for (size_t i = 0; profile != NULL && i < sizeof(profiles) / sizeof(profiles[0]); i++)
        if (strcmp(profile, profiles[i].name) == 0 && auth_url == NULL)
            auth_url = profiles[i].auth_url;
    auth_url = over(&r, auth_url, "OS_AUTH_URL");
    const char *api =
        over(&r, cloud_get(&r, NULL, "identity_api_version"), "OS_IDENTITY_API_VERSION");
    if (api != NULL && strcmp(api, "3") != 0 && strcmp(api, "3.0") != 0) {
        *err = pu_printf("identity API version %s is not supported: infra speaks Keystone v3", api);
        error = INFRA_EINVALID;
        goto done;
    }
    out->username = dup_or_null(over(&r, cloud_get(&r, "auth", "username"), "OS_USERNAME"));
    out->user_id = dup_or_null(over(&r, cloud_get(&r, "auth", "user_id"), "OS_USER_ID"));
    v = cloud_get(&r, "auth", "project_name");
    v = over(&r, v ? v : cloud_get(&r, "auth", "tenant_name"), "OS_TENANT_NAME");
    out->project_name = dup_or_null(over(&r, v, "OS_PROJECT_NAME"));
    v = cloud_get(&r, "auth", "project_id");
    v = over(&r, v ? v : cloud_get(&r, "auth", "tenant_id"), "OS_TENANT_ID");
    out->project_id = dup_or_null(over(&r, v, "OS_PROJECT_ID"));
    const char *domain_name = cloud_get(&r, "auth", "domain_name");
    const char *domain_id = cloud_get(&r, "auth", "domain_id");
    out->user_domain_name =
        dup_or_null(over(&r, cloud_get(&r, "auth", "user_domain_name"), "OS_USER_DOMAIN_NAME"));
    out->user_domain_id =
        dup_or_null(over(&r, cloud_get(&r, "auth", "user_domain_id"), "OS_USER_DOMAIN_ID"));
    out->project_domain_name = dup_or_null(
        over(&r, cloud_get(&r, "auth", "project_domain_name"), "OS_PROJECT_DOMAIN_NAME"));
    out->project_domain_id =
        dup_or_null(over(&r, cloud_get(&r, "auth", "project_domain_id"), "OS_PROJECT_DOMAIN_ID"));
    out->app_cred_id = dup_or_null(over(&r, cloud_get(&r, "auth", "application_credential_id"),
                                        "OS_APPLICATION_CREDENTIAL_ID"));
    out->app_cred_name = dup_or_null(over(&r, cloud_get(&r, "auth", "application_credential_name"),
                                          "OS_APPLICATION_CREDENTIAL_NAME"));
    const char *password = over(&r, cloud_get(&r, "auth", "password"), "OS_PASSWORD");
    const char *app_secret = over(&r, cloud_get(&r, "auth", "application_credential_secret"),
                                  "OS_APPLICATION_CREDENTIAL_SECRET");
    out->secret = dup_or_null(password);
    if ((error = resolve_auth_kind(
             &r, out, over(&r, cloud_get(&r, NULL, "auth_type"), "OS_AUTH_TYPE"), err)) < 0)
        goto done;
    if (out->auth_kind == OS_AUTH_APPCRED) {
        os_free_secret(out->secret);
        out->secret = dup_or_null(app_secret);
    }

    if (auth_url == NULL) {
        error = missing(&r, "Keystone URL", "auth.auth_url", "OS_AUTH_URL", err);
        goto done;
    }
    if (strncmp(auth_url, "https://", 8) != 0 && strncmp(auth_url, "http://", 7) != 0) {
        *err = pu_printf("the Keystone URL \"%s\" is not an http(s) URL", auth_url);
        error = INFRA_EINVALID;
        goto done;
    }
    out->auth_url = os_auth_url_v3(auth_url);

    if (out->auth_kind == OS_AUTH_PASSWORD) {
        if (out->username == NULL && out->user_id == NULL) {
            error = missing(&r, "user", "auth.username", "OS_USERNAME", err);
            goto done;
        }
        if (out->secret == NULL) {
            error = missing(&r, "password", "auth.password", "OS_PASSWORD", err);
            goto done;
        }
        if (out->project_id == NULL && out->project_name == NULL) {
            error = missing(&r, "project", "auth.project_id or auth.project_name",
                            "OS_PROJECT_ID or OS_PROJECT_NAME", err);
            goto done;
        }
    } else {
        if (out->app_cred_id == NULL && out->app_cred_name == NULL) {
            error = missing(&r, "application credential", "auth.application_credential_id",
                            "OS_APPLICATION_CREDENTIAL_ID", err);
            goto done;
        }
        if (out->app_cred_id == NULL && out->username == NULL && out->user_id == NULL) {
            error = missing(&r, "user for the application credential named by name",
                            "auth.username", "OS_USERNAME", err);
            goto done;
        }
        if (out->secret == NULL) {
            error =
                missing(&r, "application credential secret", "auth.application_credential_secret",
                        "OS_APPLICATION_CREDENTIAL_SECRET", err);
            goto done;
        }
    }
    /* Keystone needs a domain with every name; OVH's is "Default". */
    if (out->user_domain_name == NULL && out->user_domain_id == NULL) {
        out->user_domain_id = dup_or_null(domain_id);
        out->user_domain_name = dup_or_null(domain_id     ? NULL
                                            : domain_name ? domain_name
                                                          : "Default");
    }
    if (out->project_domain_name == NULL && out->project_domain_id == NULL) {
        out->project_domain_id = dup_or_null(domain_id ? domain_id : out->user_domain_id);
        out->project_domain_name = dup_or_null(out->project_domain_id ? NULL
                                               : domain_name          ? domain_name
                                                                      : out->user_domain_name);
    }

    /* Region, interface, CA bundle. */
    v = cloud_get(&r, NULL, "region_name");
    if (v == NULL)
        v = regions_first(OJ->get(r.cloud, "regions"));
    v = over(&r, v, "OS_REGION_NAME");
    if (s->region != NULL)
        v = s->region;
    if (v == NULL || *v == '\0') {
        *err = pu_printf("no region: set region in the provider, OS_REGION_NAME, or region_name "
                         "in clouds.yaml (OVH: GRA7, SBG5, DE1, BHS5, ...)");
        *attr = "region";
        error = INFRA_EINVALID;
        goto done;
    }
    out->region = pu_strdup(v);
    v = cloud_get(&r, NULL, "interface");
    v = over(&r, v ? v : cloud_get(&r, NULL, "endpoint_type"), "OS_ENDPOINT_TYPE");
    v = over(&r, v, "OS_INTERFACE");
    if (s->interface != NULL)
        v = s->interface;
    if ((error = set_interface(v ? v : "public", &out->interface)) < 0) {
        *err = pu_printf("interface \"%s\" is none of public, internal, admin", v);
        *attr = s->interface ? "interface" : "";
        goto done;
    }
    v = over(&r, cloud_get(&r, NULL, "cacert"), "OS_CACERT");
    if (s->cacert != NULL)
        v = s->cacert;
    out->cacert = dup_or_null(v);
    const char *verify = cloud_get(&r, NULL, "verify");
    if ((verify != NULL && strcasecmp(verify, "false") == 0) ||
        (cloud_get(&r, NULL, "insecure") != NULL &&
         strcasecmp(cloud_get(&r, NULL, "insecure"), "true") == 0) ||
        (env(&r, "OS_INSECURE") != NULL && strcasecmp(env(&r, "OS_INSECURE"), "true") == 0))
        os_strv_push(&out->warnings, "TLS verification cannot be turned off (verify: false, "
                                     "insecure): infra verifies every certificate; give the "
                                     "cloud's CA with cacert");

    /* Endpoint overrides: the setting, then clouds.yaml's <type>_endpoint_override. */
    for (int i = 0; i < OS_NSERVICES; i++) {
        char *key = pu_printf("%s_endpoint_override", os_service_setting_key((os_service)i));
        v = s->endpoints[i] ? s->endpoints[i] : cloud_get(&r, NULL, key);
        free(key);
        if (v != NULL && strncmp(v, "https://", 8) != 0 && strncmp(v, "http://", 7) != 0) {
            *err = pu_printf("the %s endpoint \"%s\" is not an http(s) URL",
                             os_service_setting_key((os_service)i), v);
            *attr = "endpoints";
            error = INFRA_EINVALID;
            goto done;
        }
        out->endpoint[i] = dup_or_null(v);
    }

    if (r.cloud != NULL) {
        pu_buf src = {0};
        pu_buf_printf(&src, "cloud \"%s\" of %s", r.cloud_name, r.clouds.file);
        if (r.secure.file != NULL &&
            OJ->get(OJ->get(r.secure.root, "clouds"), r.cloud_name) != NULL)
            pu_buf_printf(&src, " and %s", r.secure.file);
        if (r.env_used.len)
            pu_buf_printf(&src, ", with %s", r.env_used.data);
        out->source = pu_buf_take(&src);
    } else {
        out->source = pu_strdup("the OS_* variables");
    }
done:
    free(r.env_used.data);
    OJ->release(r.cloud);
    os_yaml_free(&r.clouds);
    os_yaml_free(&r.secure);
    if (error < 0)
        os_config_free(out);
    return error;
}

void os_config_free(os_config *c)
{
    if (c == NULL)
        return;
    free(c->auth_url);
    free(c->username);
    free(c->user_id);
    free(c->user_domain_name);
    free(c->user_domain_id);
    free(c->project_name);
    free(c->project_id);
    free(c->project_domain_name);
    free(c->project_domain_id);
    free(c->app_cred_id);
    free(c->app_cred_name);
    os_free_secret(c->secret);
    free(c->region);
    free(c->interface);
    free(c->cacert);
    for (int i = 0; i < OS_NSERVICES; i++)
        free(c->endpoint[i]);
    free(c->source);
    os_strv_free(c->warnings);
    memset(c, 0, sizeof(*c));
}
