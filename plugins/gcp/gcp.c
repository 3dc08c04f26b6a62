/* The gcp provider's descriptor, configure() and the op dispatch.
 *
 * configure() finds credentials, project, region and endpoints the way
 * gcloud and Google's client libraries do, wraps key material at once (so
 * the host masks it in every line it prints), and makes one regions.get
 * call: it learns the zones instances default to, and a credential
 * problem becomes one clear error naming where the credentials came from
 * before any resource is touched. */
#include "gcp_config.h"
#include "gcp_res.h"
#include "gcp_schema.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define GCP_VERSION "0.1.0"
#define SCOPE "https://www.googleapis.com/auth/cloud-platform"

static const gcp_handler *const handlers[] = {
    &gcp_network_handler,        &gcp_subnetwork_handler,    &gcp_firewall_handler,
    &gcp_router_handler,         &gcp_address_handler,       &gcp_instance_handler,
    &gcp_image_handler,          &gcp_load_balancer_handler, &gcp_instance_template_handler,
    &gcp_instance_group_handler, &gcp_dns_record_handler,    &gcp_instance_group_manager_handler,
};

const gcp_handler *gcp_handler_find(const char *type)
{
    for (size_t i = 0; type != NULL && i < sizeof(handlers) / sizeof(handlers[0]); i++)
        if (strcmp(handlers[i]->type, type) == 0)
            return handlers[i];
    return NULL;
}

void gcp_provider_free(infra_provider *p)
{
    if (p == NULL)
        return;
    free(p->project);
    free(p->region);
    free(p->zone);
    gcp_strv_free(p->zones);
    for (int i = 0; i < GCP_NSERVICES; i++)
        free(p->endpoint[i]);
    gcp_auth_free(p->auth);
    gcp_waiter_free(p->waiter);
    gcp_strv_free(p->zone_cache);
    pthread_mutex_destroy(&p->cache_lock);
    free(p);
}

/* ------------------------------------------------------------------ */
/* The process environment                                            */

static const char *process_getenv(void *ud, const char *name)
{
    (void)ud;
    return getenv(name);
}

static int process_exists(void *ud, const char *path)
{
    struct stat st;
    (void)ud;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Google's images name the machine in the DMI product name, as
 * google-auth checks before it asks the metadata server. */
static int running_on_gce(void)
{
    char *text = NULL;
    int on = pu_read_file("/sys/class/dmi/id/product_name", 0, &text, NULL) == 0 &&
             strncmp(text, "Google", 6) == 0;
    free(text);
    return on;
}

static int read_settings(infra_call *call, const infra_json *settings, gcp_config_settings *s)
{
    memset(s, 0, sizeof(*s));
    s->project = pu_json_str(settings, "project");
    s->region = pu_json_str(settings, "region");
    s->zone = pu_json_str(settings, "zone");
    s->credentials_file = pu_json_str(settings, "credentials_file");
    s->endpoint = pu_json_str(settings, "endpoint");
    const infra_json *eps = GJ->get(settings, "endpoints");
    void *iter = NULL;
    const char *key;
    const infra_json *value;
    int error = 0;
    while (eps != NULL && GJ->type(eps) == INFRA_JSON_OBJECT &&
           GJ->next(eps, &iter, &key, &value)) {
        const char *url = GJ->string(value);
        if (url != NULL && strcmp(key, "compute") == 0)
            s->endpoints_compute = url;
        else if (url != NULL && strcmp(key, "dns") == 0)
            s->endpoints_dns = url;
        else if (url != NULL && strcmp(key, "token") == 0)
            s->endpoints_token = url;
        else {
            pu_diagf(call, "endpoints",
                     "endpoints.%s: expected one of compute, dns, token with a "
                     "URL",
                     key);
            error = INFRA_EINVALID;
        }
    }
    return error;
}

/* The credentials cfg names: a key file read (and forgotten), or the metadata server. */
static int load_credentials(infra_call *call, const gcp_config *cfg, gcp_credentials *out)
{
    memset(out, 0, sizeof(*out));
    if (cfg->credentials_path == NULL) {
        out->kind = GCP_CRED_METADATA;
        out->source = pu_strdup(cfg->credentials_source);
        out->metadata_host = pu_strdup(cfg->metadata_host);
        return 0;
    }
    char *text = NULL, *why = NULL;
    size_t len = 0;
    if (pu_read_file(cfg->credentials_path, PU_FILE_SECRET, &text, &len) < 0) {
        pu_diagf(call, "credentials_file", "gcp: cannot read %s", cfg->credentials_source);
        return INFRA_EAUTH;
    }
    int error = gcp_credentials_parse(text, len, cfg->credentials_source, out, &why);
    memset(text, 0, len);
    free(text);
    if (error < 0) {
        pu_diagf(call, "credentials_file", "gcp: %s", why);
        free(why);
        return INFRA_EAUTH;
    }
    return 0;
}

/* The project the metadata server says this instance belongs to. */
static int metadata_project(infra_call *call, const char *host, char **out)
{
    static const char *const headers[] = {"Metadata-Flavor: Google", NULL};
    char *url = pu_printf("http://%s/computeMetadata/v1/project/project-id", host);
    infra_http_request req;
    infra_http_response *hr = NULL;
    memset(&req, 0, sizeof(req));
    req.size = sizeof(req);
    req.method = "GET";
    req.url = url;
    req.headers = headers;
    req.timeout_ms = 10000;
    req.max_attempts = 3;
    int error = pu_host->http->request(call, &req, &hr);
    free(url);
    *out = NULL;
    if (error == 0 && hr->status == 200 && hr->body_len > 0)
        *out = pu_strndup(hr->body, hr->body_len);
    pu_host->http->response_free(hr);
    return *out != NULL ? 0 : INFRA_EINVALID;
}

/* The zones of the region (regions.get), which also proves the credentials. */
static int load_zones(infra_provider *p, infra_call *call)
{
    char *path = pu_printf("projects/%s/regions/%s", p->project, p->region);
    infra_json *region = NULL;
    int error = gcp_get(p, call, GCP_COMPUTE, path, NULL, "regions.get", "region", NULL, &region);
    free(path);
    if (error < 0)
        return error;
    p->zones = gcp_strv_new();
    const infra_json *zones = GJ->get(region, "zones");
    for (size_t i = 0; zones != NULL && i < GJ->length(zones); i++) {
        const char *z = gcp_last_segment(GJ->string(GJ->at(zones, i)));
        if (z != NULL && *z)
            gcp_strv_push(&p->zones, z);
    }
    GJ->release(region);
    if (p->zone != NULL && !gcp_strv_has(p->zones, p->zone)) {
        pu_diagf(call, "zone", "gcp: the zone %s is not one of region %s", p->zone, p->region);
        return INFRA_EINVALID;
    }
    if (p->zone == NULL) {
        if (gcp_strv_len(p->zones) == 0) {
            pu_diagf(call, "region", "gcp: region %s lists no zones", p->region);
            return INFRA_EINVALID;
        }
        p->zone = pu_strdup(p->zones[0]);
    }
    return 0;
}

static int gcp_configure(infra_call *call, const infra_json *settings, infra_provider **out)
{
    infra_provider *p = pu_calloc(1, sizeof(*p));
    gcp_config_settings s;
    gcp_config cfg;
    gcp_credentials creds;
    gcp_config_env env = {process_getenv, process_exists, 0, NULL};
    char *err = NULL;
    const char *attr = "";
    int error = 0;

    memset(&cfg, 0, sizeof(cfg));
    memset(&creds, 0, sizeof(creds));
    pthread_mutex_init(&p->cache_lock, NULL);
    gcp_retry_policy_default(&p->retry);
    p->waiter = gcp_waiter_new();
    if (settings != NULL && (error = pu_check_attrs(call, &gcp_schema_table,
                                                    gcp_schema_table.settings, settings, 0)) < 0)
        goto done;
    if ((error = read_settings(call, settings, &s)) < 0)
        goto done;
    env.on_gce = running_on_gce();
    if ((error = gcp_config_resolve(&s, &env, &cfg, &err, &attr)) < 0) {
        pu_diagf(call, attr, "gcp: %s", err);
        goto done;
    }
    if ((error = load_credentials(call, &cfg, &creds)) < 0)
        goto done;
    if (cfg.project != NULL)
        p->project = pu_strdup(cfg.project);
    else if (creds.project_id != NULL)
        p->project = pu_strdup(creds.project_id);
    else if (creds.kind == GCP_CRED_METADATA)
        metadata_project(call, creds.metadata_host, &p->project);
    if (p->project == NULL) {
        pu_diagf(call, "project",
                 "gcp: no project: set the provider setting project, "
                 "GOOGLE_CLOUD_PROJECT or CLOUDSDK_CORE_PROJECT (the credentials of %s name none)",
                 cfg.credentials_source);
        error = INFRA_EINVALID;
        goto done;
    }
    p->region = pu_strdup(cfg.region);
    p->zone = cfg.zone ? pu_strdup(cfg.zone) : NULL;
    for (int i = 0; i < GCP_NSERVICES; i++)
        p->endpoint[i] = pu_strdup(cfg.endpoint[i]);
    pu_logf(call, INFRA_LOG_DEBUG,
            "gcp: project %s, region %s (from %s), credentials from %s, compute at %s (%s)",
            p->project, p->region, cfg.region_source, cfg.credentials_source,
            cfg.endpoint[GCP_COMPUTE], cfg.endpoint_source[GCP_COMPUTE]);
    p->auth = gcp_auth_new(&creds, cfg.token_url, SCOPE);
    if ((error = load_zones(p, call)) < 0)
        goto done;
    *out = p;
    p = NULL;
done:
    free(err);
    gcp_credentials_clear(&creds);
    gcp_config_free(&cfg);
    gcp_provider_free(p);
    return error;
}

static int gcp_apply(infra_provider *self, infra_call *call, const char *type,
                     const infra_json *prior, const infra_json *planned, const void *private_in,
                     size_t private_in_len, infra_json **new_state, void **private_out,
                     size_t *private_out_len)
{
    const gcp_handler *h = gcp_handler_find(type);
    if (private_out != NULL)
        *private_out = NULL;
    if (private_out_len != NULL)
        *private_out_len = 0;
    if (h == NULL) {
        pu_diagf(call, "", "the gcp provider has no resource type \"%s\"", type ? type : "");
        return INFRA_ENOTSUP;
    }
    int error = gcp_check_cancel(self, call);
    if (error < 0)
        return error;
    gcp_act a = {self,       call,           prior,     planned,     NULL,
                 private_in, private_in_len, new_state, private_out, private_out_len};
    if (planned == NULL)
        return h->remove(&a);
    return h->apply(&a);
}

static int gcp_read(infra_provider *self, infra_call *call, const char *type,
                    const infra_json *state, const void *private_in, size_t private_in_len,
                    infra_json **out)
{
    const gcp_handler *h = gcp_handler_find(type);
    if (h == NULL) {
        pu_diagf(call, "", "the gcp provider has no resource type \"%s\"", type ? type : "");
        return INFRA_ENOTSUP;
    }
    if (state == NULL && pu_host->call_token(call) == NULL)
        return INFRA_ENOTFOUND;
    gcp_act a = {self, call, NULL, NULL, state, private_in, private_in_len, out, NULL, NULL};
    return h->read(&a);
}

static int gcp_upgrade_state(infra_provider *self, infra_call *call, const char *type,
                             int from_version, const infra_json *state, infra_json **out)
{
    (void)self;
    (void)call;
    (void)type;
    (void)from_version;
    return (*out = GJ->copy(state)) == NULL ? INFRA_EINTERNAL : 0;
}

static void gcp_stop(infra_provider *self)
{
    if (self != NULL)
        atomic_store(&self->stopped, 1);
}

static void gcp_close(infra_provider *self)
{
    gcp_provider_free(self);
}

static const infra_provider_ops gcp_ops = {
    .size = sizeof(infra_provider_ops),
    .schema = gcp_schema,
    .validate = gcp_validate,
    .configure = gcp_configure,
    .plan = gcp_plan,
    .apply = gcp_apply,
    .read = gcp_read,
    .import = NULL,
    .upgrade_state = gcp_upgrade_state,
    .stop = gcp_stop,
    .close = gcp_close,
    .read_many = gcp_read_many,
};

static const infra_plugin gcp_plugin = {
    .magic = INFRA_PLUGIN_MAGIC,
    .abi_major = INFRA_ABI_MAJOR,
    .abi_minor = INFRA_ABI_MINOR,
    .size = sizeof(infra_plugin),
    .kind = INFRA_PLUGIN_PROVIDER,
    .name = "gcp",
    .version = GCP_VERSION,
    .build = INFRA_BUILD_SIG_INIT,
    .capabilities = INFRA_CAP_TOKEN_CREATE | INFRA_CAP_READ_BY_TOKEN | INFRA_CAP_CONCURRENT |
                    INFRA_CAP_HOST_SLOTS_CHECKED,
    .provider = &gcp_ops,
    .scheduler = NULL,
};

int gcp_host_usable(const infra_host *h)
{
    /* Every slot the plugin calls without a check of its own; the optional
     * ones (call_topology, call_environment, call_deadline_ms,
     * call_resuming, json->new_unknown) are checked where they are used. */
    if (h == NULL || h->abi_major != INFRA_ABI_MAJOR || !INFRA_HAS_SLOT(h, alloc) ||
        !INFRA_HAS_SLOT(h, free) || !INFRA_HAS_SLOT(h, strdup) || !INFRA_HAS_SLOT(h, log) ||
        !INFRA_HAS_SLOT(h, diag) || !INFRA_HAS_SLOT(h, cancelled) ||
        !INFRA_HAS_SLOT(h, call_address) || !INFRA_HAS_SLOT(h, call_token) ||
        !INFRA_HAS_SLOT(h, now_ms) || !INFRA_HAS_SLOT(h, sleep_ms) || !INFRA_HAS_SLOT(h, json) ||
        !INFRA_HAS_SLOT(h, http) || !INFRA_HAS_SLOT(h, secrets))
        return 0;
    const infra_json_api *j = h->json;
    if (!INFRA_HAS_SLOT(j, parse) || !INFRA_HAS_SLOT(j, dump) || !INFRA_HAS_SLOT(j, release) ||
        !INFRA_HAS_SLOT(j, type) || !INFRA_HAS_SLOT(j, get) || !INFRA_HAS_SLOT(j, length) ||
        !INFRA_HAS_SLOT(j, at) || !INFRA_HAS_SLOT(j, next) || !INFRA_HAS_SLOT(j, string) ||
        !INFRA_HAS_SLOT(j, integer) || !INFRA_HAS_SLOT(j, real) || !INFRA_HAS_SLOT(j, boolean) ||
        !INFRA_HAS_SLOT(j, new_object) || !INFRA_HAS_SLOT(j, new_array) ||
        !INFRA_HAS_SLOT(j, new_string) || !INFRA_HAS_SLOT(j, new_integer) ||
        !INFRA_HAS_SLOT(j, new_bool) || !INFRA_HAS_SLOT(j, new_null) || !INFRA_HAS_SLOT(j, set) ||
        !INFRA_HAS_SLOT(j, append) || !INFRA_HAS_SLOT(j, remove) || !INFRA_HAS_SLOT(j, copy) ||
        !INFRA_HAS_SLOT(j, equal))
        return 0;
    return INFRA_HAS_SLOT(h->http, request) && INFRA_HAS_SLOT(h->http, response_free) &&
           INFRA_HAS_SLOT(h->http, header) && INFRA_HAS_SLOT(h->secrets, wrap) &&
           INFRA_HAS_SLOT(h->secrets, value) && INFRA_HAS_SLOT(h->secrets, free);
}

INFRA_PLUGIN_EXPORT int infra_plugin_entry(const infra_host *host, const infra_plugin **out)
{
    if (out == NULL || !gcp_host_usable(host))
        return INFRA_ENOTSUP;
    pu_init(host, "gcp provider");
    *out = &gcp_plugin;
    return 0;
}
