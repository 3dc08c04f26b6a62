/* The aws provider's descriptor, configure() and the op dispatch.
 *
 * configure() resolves credentials, region and endpoints the way the AWS
 * CLI does, wraps the secret key at once (so the host masks it in every
 * line it prints), and makes one DescribeAvailabilityZones call: it
 * learns the zones subnets default to, and a credential problem becomes
 * one clear error naming the service and region before any resource is
 * touched. */
#include "aws_config.h"
#include "aws_res.h"
#include "aws_schema.h"

#include <stdlib.h>
#include <string.h>

#define AWS_VERSION "0.1.0"

static const char *const signing_names[AWS_NSERVICES] = {"ec2", "elasticloadbalancing",
                                                         "autoscaling", "route53"};
static const char *const api_versions[AWS_NSERVICES] = {"2016-11-15", "2012-06-01", "2011-01-01",
                                                        "2013-04-01"};
static const char *const setting_keys[AWS_NSERVICES] = {"ec2", "elb", "autoscaling", "route53"};
/* Other spellings accepted in `endpoints`. */
static const char *const setting_aliases[AWS_NSERVICES][3] = {
    {"ec2", NULL, NULL},
    {"elasticloadbalancing", "elastic_load_balancing", NULL},
    {"auto_scaling", NULL, NULL},
    {"route_53", NULL, NULL},
};

const char *aws_service_signing_name(aws_service s)
{
    return s < AWS_NSERVICES ? signing_names[s] : "";
}

const char *aws_service_api_version(aws_service s)
{
    return s < AWS_NSERVICES ? api_versions[s] : "";
}

const char *aws_service_setting_key(aws_service s)
{
    return s < AWS_NSERVICES ? setting_keys[s] : "";
}

static const aws_handler *const handlers[] = {
    &aws_network_handler,       &aws_subnet_handler,          &aws_internet_gateway_handler,
    &aws_nat_gateway_handler,   &aws_route_table_handler,     &aws_firewall_handler,
    &aws_key_pair_handler,      &aws_instance_handler,        &aws_image_handler,
    &aws_load_balancer_handler, &aws_launch_template_handler, &aws_autoscaling_group_handler,
    &aws_dns_record_handler,
};

const aws_handler *aws_handler_find(const char *type)
{
    for (size_t i = 0; type != NULL && i < sizeof(handlers) / sizeof(handlers[0]); i++)
        if (strcmp(handlers[i]->type, type) == 0)
            return handlers[i];
    return NULL;
}

static const char *process_getenv(void *ud, const char *name)
{
    (void)ud;
    return getenv(name);
}

void aws_provider_free(infra_provider *p)
{
    if (p == NULL)
        return;
    free(p->region);
    for (int i = 0; i < AWS_NSERVICES; i++)
        free(p->endpoint[i]);
    free(p->access_key_id);
    pu_host->secrets->free(p->secret_key);
    pu_host->secrets->free(p->session_token);
    free(p->credentials_source);
    aws_strv_free(p->zones);
    aws_strv_free(p->zone_cache);
    aws_waiter_free(p->waiter);
    aws_lookups_free(p->lookups);
    aws_strv_free(p->tried);
    pthread_mutex_destroy(&p->cache_lock);
    pthread_mutex_destroy(&p->tried_lock);
    free(p);
}

/* The settings the resolution needs; diagnostics for a bad endpoints map. */
static int read_settings(infra_call *call, const infra_json *settings, aws_config_settings *s)
{
    memset(s, 0, sizeof(*s));
    s->region = pu_json_str(settings, "region");
    s->profile = pu_json_str(settings, "profile");
    s->endpoint = pu_json_str(settings, "endpoint");
    const infra_json *eps = AJ->get(settings, "endpoints");
    void *iter = NULL;
    const char *key;
    const infra_json *value;
    int error = 0;
    while (eps != NULL && AJ->type(eps) == INFRA_JSON_OBJECT &&
           AJ->next(eps, &iter, &key, &value)) {
        int found = -1;
        for (int i = 0; i < AWS_NSERVICES && found < 0; i++) {
            if (strcmp(key, setting_keys[i]) == 0)
                found = i;
            for (int k = 0; k < 3 && setting_aliases[i][k] != NULL && found < 0; k++)
                if (strcmp(key, setting_aliases[i][k]) == 0)
                    found = i;
        }
        if (found < 0 || AJ->type(value) != INFRA_JSON_STRING) {
            pu_diagf(call, "endpoints",
                     "endpoints.%s: expected one of ec2, elb, autoscaling, route53 with a URL",
                     key);
            error = INFRA_EINVALID;
            continue;
        }
        s->endpoints[found] = AJ->string(value);
    }
    return error;
}

static int load_zones(infra_provider *p, infra_call *call)
{
    aws_params q = {0};
    aws_resp *r = NULL;
    int error =
        aws_query(p, call, AWS_EC2, "DescribeAvailabilityZones", &q, "", AWS_SAFE, NULL, &r);
    if (error == 0) {
        p->zones = pu_calloc(1, sizeof(char *));
        xmlNode *set = aws_xml_child(r->result, "availabilityZoneInfo");
        for (xmlNode *it = aws_xml_child(set, "item"); it != NULL; it = aws_xml_next(it)) {
            char *name = aws_xml_get(it, "zoneName");
            char *state = aws_xml_get(it, "zoneState");
            if (name != NULL && *name && (state == NULL || strcmp(state, "available") == 0))
                aws_strv_push(&p->zones, name);
            free(name);
            free(state);
        }
        p->nzones = aws_strv_len(p->zones);
    }
    aws_resp_free(r);
    return error;
}

static int aws_configure(infra_call *call, const infra_json *settings, infra_provider **out)
{
    infra_provider *p = pu_calloc(1, sizeof(*p));
    aws_config_settings s;
    aws_config cfg;
    char *err = NULL;
    const char *attr = "";
    int error = 0;

    memset(&cfg, 0, sizeof(cfg));
    pthread_mutex_init(&p->cache_lock, NULL);
    pthread_mutex_init(&p->tried_lock, NULL);
    aws_retry_policy_default(&p->retry);
    p->waiter = aws_waiter_new();
    p->lookups = aws_lookups_new();
    if (settings != NULL && (error = pu_check_attrs(call, &aws_schema_table,
                                                    aws_schema_table.settings, settings, 0)) < 0)
        goto done;
    if ((error = read_settings(call, settings, &s)) < 0)
        goto done;
    if ((error = aws_config_resolve(&s, process_getenv, NULL, &cfg, &err, &attr)) < 0) {
        pu_diagf(call, attr, "aws: %s", err);
        goto done;
    }
    p->region = pu_strdup(cfg.region);
    for (int i = 0; i < AWS_NSERVICES; i++)
        p->endpoint[i] = pu_strdup(cfg.endpoint[i]);
    p->access_key_id = pu_strdup(cfg.access_key_id);
    p->secret_key = pu_host->secrets->wrap(cfg.secret_key);
    p->session_token = cfg.session_token ? pu_host->secrets->wrap(cfg.session_token) : NULL;
    p->credentials_source = pu_strdup(cfg.credentials_source);
    pu_logf(call, INFRA_LOG_DEBUG, "region %s (from %s), credentials from %s, ec2 at %s (%s)",
            cfg.region, cfg.region_source, cfg.credentials_source, cfg.endpoint[AWS_EC2],
            cfg.endpoint_source[AWS_EC2]);
    if ((error = load_zones(p, call)) < 0)
        goto done;
    *out = p;
    p = NULL;
done:
    free(err);
    aws_config_free(&cfg);
    aws_provider_free(p);
    return error;
}

static int aws_apply(infra_provider *self, infra_call *call, const char *type,
                     const infra_json *prior, const infra_json *planned, const void *private_in,
                     size_t private_in_len, infra_json **new_state, void **private_out,
                     size_t *private_out_len)
{
    const aws_handler *h = aws_handler_find(type);
    if (private_out != NULL)
        *private_out = NULL;
    if (private_out_len != NULL)
        *private_out_len = 0;
    if (h == NULL) {
        pu_diagf(call, "", "the aws provider has no resource type \"%s\"", type ? type : "");
        return INFRA_ENOTSUP;
    }
    int error = aws_check_cancel(self, call);
    if (error < 0)
        return error;
    aws_act a = {self,       call,           prior,     planned,     NULL,
                 private_in, private_in_len, new_state, private_out, private_out_len};
    if (planned == NULL)
        return h->remove(&a);
    return h->apply(&a);
}

static int aws_read(infra_provider *self, infra_call *call, const char *type,
                    const infra_json *state, const void *private_in, size_t private_in_len,
                    infra_json **out)
{
    const aws_handler *h = aws_handler_find(type);
    if (h == NULL) {
        pu_diagf(call, "", "the aws provider has no resource type \"%s\"", type ? type : "");
        return INFRA_ENOTSUP;
    }
    if (state == NULL && pu_host->call_token(call) == NULL)
        return INFRA_ENOTFOUND;
    aws_act a = {self, call, NULL, NULL, state, private_in, private_in_len, out, NULL, NULL};
    return h->read(&a);
}

static int aws_upgrade_state(infra_provider *self, infra_call *call, const char *type,
                             int from_version, const infra_json *state, infra_json **out)
{
    (void)self;
    (void)call;
    (void)type;
    (void)from_version;
    return (*out = AJ->copy(state)) == NULL ? INFRA_EINTERNAL : 0;
}

static void aws_stop(infra_provider *self)
{
    if (self != NULL)
        atomic_store(&self->stopped, 1);
}

static void aws_close(infra_provider *self)
{
    aws_provider_free(self);
}

static const infra_provider_ops aws_ops = {
    .size = sizeof(infra_provider_ops),
    .schema = aws_schema,
    .validate = aws_validate,
    .configure = aws_configure,
    .plan = aws_plan,
    .apply = aws_apply,
    .read = aws_read,
    .import = NULL,
    .upgrade_state = aws_upgrade_state,
    .stop = aws_stop,
    .close = aws_close,
    .read_many = aws_read_many,
};

static const infra_plugin aws_plugin = {
    .magic = INFRA_PLUGIN_MAGIC,
    .abi_major = INFRA_ABI_MAJOR,
    .abi_minor = INFRA_ABI_MINOR,
    .size = sizeof(infra_plugin),
    .kind = INFRA_PLUGIN_PROVIDER,
    .name = "aws",
    .version = AWS_VERSION,
    .build = INFRA_BUILD_SIG_INIT,
    .capabilities = INFRA_CAP_TOKEN_CREATE | INFRA_CAP_READ_BY_TOKEN | INFRA_CAP_CONCURRENT,
    .provider = &aws_ops,
    .scheduler = NULL,
};

INFRA_PLUGIN_EXPORT int infra_plugin_entry(const infra_host *host, const infra_plugin **out)
{
    if (host == NULL || out == NULL || host->abi_major != INFRA_ABI_MAJOR ||
        !INFRA_HAS_SLOT(host, secrets) || host->json == NULL || host->http == NULL ||
        host->secrets == NULL ||
        host->json->size < offsetof(infra_json_api, equal) + sizeof(host->json->equal) ||
        !INFRA_HAS_SLOT(host->http, header))
        return INFRA_ENOTSUP;
    pu_init(host, "aws provider");
    aws_xml_init();
    *out = &aws_plugin;
    return 0;
}
