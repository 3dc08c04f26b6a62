/* The openstack provider's descriptor, configure() and the op dispatch.
 *
 * configure() resolves the cloud the way the openstack CLI does
 * (clouds.yaml, secure.yaml, the OS_* variables of an openrc file, the
 * provider settings), wraps the password or application credential secret
 * at once (so that the host masks it in every line it prints), and gets a
 * first token: refused credentials become one error naming where they came
 * from before any resource is touched, and the token's catalog gives the
 * endpoints. */
#include "os_config.h"
#include "os_res.h"
#include "os_schema.h"

#include <stdlib.h>
#include <string.h>

#define OS_VERSION "0.1.0"
/* Renew a token when less than this remains of it (at most a quarter of its life). */
#define RENEW_MARGIN_S 300

static const char *const types[OS_NSERVICES] = {"compute", "network", "image", "dns",
                                                "load-balancer"};
static const char *const projects[OS_NSERVICES] = {"nova", "neutron", "glance", "designate",
                                                   "octavia"};
static const char *const setting_keys[OS_NSERVICES] = {"compute", "network", "image", "dns",
                                                       "load_balancer"};

const char *os_service_type(os_service s)
{
    return s < OS_NSERVICES ? types[s] : "";
}

const char *os_service_project(os_service s)
{
    return s < OS_NSERVICES ? projects[s] : "";
}

const char *os_service_setting_key(os_service s)
{
    return s < OS_NSERVICES ? setting_keys[s] : "";
}

int os_service_by_name(const char *name)
{
    for (int i = 0; name != NULL && i < OS_NSERVICES; i++)
        if (strcmp(name, setting_keys[i]) == 0 || strcmp(name, types[i]) == 0 ||
            strcmp(name, projects[i]) == 0)
            return i;
    return -1;
}

static const os_handler *const handlers[] = {
    &os_network_handler, &os_subnet_handler,        &os_router_handler,     &os_firewall_handler,
    &os_port_handler,    &os_floating_ip_handler,   &os_key_pair_handler,   &os_instance_handler,
    &os_image_handler,   &os_load_balancer_handler, &os_dns_record_handler,
};

const os_handler *os_handler_find(const char *type)
{
    for (size_t i = 0; type != NULL && i < sizeof(handlers) / sizeof(handlers[0]); i++)
        if (strcmp(handlers[i]->type, type) == 0)
            return handlers[i];
    return NULL;
}

infra_provider *os_provider_new(void)
{
    infra_provider *p = pu_calloc(1, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->token.lock, NULL);
    p->token.renew_margin_s = RENEW_MARGIN_S;
    p->octavia_minor = -1;
    os_retry_policy_default(&p->retry);
    p->waiter = os_waiter_new();
    return p;
}

void os_provider_free(infra_provider *p)
{
    if (p == NULL)
        return;
    free(p->auth_url);
    free(p->username);
    free(p->user_id);
    free(p->user_domain_name);
    free(p->user_domain_id);
    free(p->project_name);
    free(p->project_id);
    free(p->project_domain_name);
    free(p->project_domain_id);
    free(p->app_cred_id);
    free(p->app_cred_name);
    pu_host->secrets->free(p->secret);
    free(p->region);
    free(p->interface);
    free(p->cacert);
    free(p->source);
    pu_host->secrets->free(p->token.value);
    OJ->release(p->catalog);
    free(p->token_project_id);
    for (int i = 0; i < OS_NSERVICES; i++) {
        free(p->override[i]);
        free(p->endpoint[i]);
    }
    OJ->release(p->flavors);
    OJ->release(p->external_networks);
    os_strv_free(p->zone_cache);
    os_waiter_free(p->waiter);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->token.lock);
    free(p);
}

static const char *process_getenv(void *ud, const char *name)
{
    (void)ud;
    return getenv(name);
}

/* The settings the resolution needs; diagnostics for a bad endpoints map. */
static int read_settings(infra_call *call, const infra_json *settings, os_settings *s)
{
    memset(s, 0, sizeof(*s));
    s->cloud = os_json_known_str(settings, "cloud");
    s->region = os_json_known_str(settings, "region");
    s->interface = os_json_known_str(settings, "interface");
    s->cacert = os_json_known_str(settings, "cacert");
    const infra_json *eps = OJ->get(settings, "endpoints");
    void *iter = NULL;
    const char *key;
    const infra_json *value;
    int error = 0;
    while (eps != NULL && OJ->type(eps) == INFRA_JSON_OBJECT &&
           OJ->next(eps, &iter, &key, &value)) {
        int found = os_service_by_name(key);
        if (found < 0 || OJ->type(value) != INFRA_JSON_STRING) {
            pu_diagf(call, "endpoints",
                     "endpoints.%s: expected one of compute, network, image, dns, load_balancer "
                     "with a URL",
                     key);
            error = INFRA_EINVALID;
            continue;
        }
        s->endpoints[found] = OJ->string(value);
    }
    return error;
}

static void take_config(infra_provider *p, os_config *c)
{
#define TAKE(f)                                                                                    \
    do {                                                                                           \
        p->f = c->f;                                                                               \
        c->f = NULL;                                                                               \
    } while (0)
    TAKE(auth_url);
    TAKE(username);
    TAKE(user_id);
    TAKE(user_domain_name);
    TAKE(user_domain_id);
    TAKE(project_name);
    TAKE(project_id);
    TAKE(project_domain_name);
    TAKE(project_domain_id);
    TAKE(app_cred_id);
    TAKE(app_cred_name);
    TAKE(region);
    TAKE(interface);
    TAKE(cacert);
    TAKE(source);
#undef TAKE
    p->auth_kind = c->auth_kind;
    p->secret = pu_host->secrets->wrap(c->secret ? c->secret : "");
    for (int i = 0; i < OS_NSERVICES; i++) {
        p->override[i] = c->endpoint[i];
        c->endpoint[i] = NULL;
    }
}

static int os_configure(infra_call *call, const infra_json *settings, infra_provider **out)
{
    infra_provider *p = os_provider_new();
    os_settings s;
    os_config cfg;
    char *err = NULL, *token = NULL;
    const char *attr = "";
    int error = 0;

    memset(&cfg, 0, sizeof(cfg));
    if (settings != NULL &&
        (error = pu_check_attrs(call, &os_schema_table, os_schema_table.settings, settings, 0)) < 0)
        goto done;
    if ((error = read_settings(call, settings, &s)) < 0)
        goto done;
    if ((error = os_config_resolve(&s, process_getenv, NULL, &cfg, &err, &attr)) < 0) {
        pu_diagf(call, attr, "openstack: %s", err);
        goto done;
    }
    for (size_t i = 0; cfg.warnings && cfg.warnings[i] != NULL; i++)
        pu_warnf(call, "", "openstack: %s", cfg.warnings[i]);
    take_config(p, &cfg);
    pu_logf(call, INFRA_LOG_DEBUG, "region %s, interface %s, credentials from %s (%s)",
            p->region, p->interface, p->source,
            p->auth_kind == OS_AUTH_APPCRED ? "application credential" : "password");
    /* Refused credentials are one error now, before any resource. */
    if ((error = os_auth_token(p, call, -1, &token, NULL)) < 0)
        goto done;
    *out = p;
    p = NULL;
done:
    os_free_secret(token);
    free(err);
    os_config_free(&cfg);
    os_provider_free(p);
    return error;
}

static int os_apply_op(infra_provider *self, infra_call *call, const char *type,
                       const infra_json *prior, const infra_json *planned, const void *private_in,
                       size_t private_in_len, infra_json **new_state, void **private_out,
                       size_t *private_out_len)
{
    const os_handler *h = os_handler_find(type);
    (void)private_in;
    (void)private_in_len;
    if (private_out != NULL)
        *private_out = NULL;
    if (private_out_len != NULL)
        *private_out_len = 0;
    if (h == NULL) {
        pu_diagf(call, "", "the openstack provider has no resource type \"%s\"", type ? type : "");
        return INFRA_ENOTSUP;
    }
    int error = os_check_cancel(self, call);
    if (error < 0)
        return error;
    os_act a = {self, call, prior, planned, NULL, new_state};
    if (planned == NULL)
        return h->remove(&a);
    return h->apply(&a);
}

static int os_read_op(infra_provider *self, infra_call *call, const char *type,
                      const infra_json *state, const void *private_in, size_t private_in_len,
                      infra_json **out)
{
    const os_handler *h = os_handler_find(type);
    (void)private_in;
    (void)private_in_len;
    if (h == NULL) {
        pu_diagf(call, "", "the openstack provider has no resource type \"%s\"", type ? type : "");
        return INFRA_ENOTSUP;
    }
    if (state == NULL && pu_host->call_token(call) == NULL)
        return INFRA_ENOTFOUND;
    os_act a = {self, call, NULL, NULL, state, out};
    return h->read(&a);
}

static int os_upgrade_state(infra_provider *self, infra_call *call, const char *type,
                            int from_version, const infra_json *state, infra_json **out)
{
    (void)self;
    (void)call;
    (void)type;
    (void)from_version;
    return (*out = OJ->copy(state)) == NULL ? INFRA_EINTERNAL : 0;
}

static void os_stop(infra_provider *self)
{
    if (self != NULL)
        atomic_store(&self->stopped, 1);
}

static void os_close(infra_provider *self)
{
    os_provider_free(self);
}

static const infra_provider_ops os_ops = {
    .size = sizeof(infra_provider_ops),
    .schema = os_schema,
    .validate = os_validate,
    .configure = os_configure,
    .plan = os_plan,
    .apply = os_apply_op,
    .read = os_read_op,
    .import = NULL,
    .upgrade_state = os_upgrade_state,
    .stop = os_stop,
    .close = os_close,
    .read_many = os_read_many,
};

static const infra_plugin os_plugin = {
    INFRA_PLUGIN_MAGIC,
    INFRA_ABI_MAJOR,
    INFRA_ABI_MINOR,
    sizeof(infra_plugin),
    INFRA_PLUGIN_PROVIDER,
    "openstack",
    OS_VERSION,
    INFRA_BUILD_SIG_INIT,
    INFRA_CAP_TOKEN_CREATE | INFRA_CAP_READ_BY_TOKEN | INFRA_CAP_CONCURRENT |
        INFRA_CAP_HOST_SLOTS_CHECKED,
    &os_ops,
    NULL,
};

INFRA_PLUGIN_EXPORT int infra_plugin_entry(const infra_host *host, const infra_plugin **out)
{
    if (!INFRA_HAS_SLOT(host, diag) || !INFRA_HAS_SLOT(host, json) || !INFRA_HAS_SLOT(host, http) ||
        !INFRA_HAS_SLOT(host, secrets) || !INFRA_HAS_SLOT(host, sleep_ms) ||
        !INFRA_HAS_SLOT(host->http, header))
        return INFRA_ENOTSUP;
    pu_init(host, "openstack provider");
    *out = &os_plugin;
    return 0;
}
