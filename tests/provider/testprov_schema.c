/* The test provider's schema: settings, resource types and their
 * attributes, and the offline checks of validate(). */
#include "testprov.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static const testprov_attr settings_attrs[] = {
    {"dir", "string", TP_REQUIRED, "directory holding the objects (created if missing)"},
    {"latency_ms", "integer", 0, "sleep this long in every apply and read call"},
    {"fail", "list", 0, "addresses whose create/update fails with an injected error"},
    {"fail_transient", "list", 0,
     "addresses whose first create/update fails as transient, then succeeds"},
    {"crash_at", "integer", 0, "the Nth mutating call of the process kills it with SIGKILL"},
    {"crash_when", "string", 0, "\"before\" the work or \"after\" it is written (default)"},
    {"max_parallel", "integer", 0, "informational: concurrency the test expects"},
};

static const testprov_attr network_attrs[] = {
    {"id", "string", TP_COMPUTED, "object id"},
    {"cidr", "string", TP_REQUIRED | TP_FORCE_NEW, "address range a.b.c.d/n"},
    {"name", "string", 0, "display name"},
};

static const testprov_attr firewall_attrs[] = {
    {"id", "string", TP_COMPUTED, "object id"},
    {"network", "string", TP_REQUIRED | TP_FORCE_NEW, "network id"},
    {"allow", "list", 0, "allowed ports or rules"},
};

static const testprov_attr instance_attrs[] = {
    {"id", "string", TP_COMPUTED, "object id"},
    {"image", "string", TP_FORCE_NEW, "image id"},
    {"size", "string", 0, "small, medium or large"},
    {"network", "string", 0, "network id"},
    {"tags", "map", 0, "free-form labels"},
    {"user_data", "string", 0, "boot script"},
    {"password", "string", TP_SENSITIVE, "initial password"},
    {"role", "string", 0, "cluster node role"},
    {"cluster", "string", 0, "cluster name"},
    {"region", "string", 0, "cluster region"},
    {"datacenter", "string", 0, "cluster datacenter"},
    {"private_ip", "string", TP_COMPUTED, "private address, derived from the id"},
    {"public_ip", "string", TP_COMPUTED, "public address, derived from the id"},
};

static const testprov_attr load_balancer_attrs[] = {
    {"id", "string", TP_COMPUTED, "object id"},
    {"targets", "list", 0, "target addresses"},
    {"listen", "list", 0, "listening ports"},
    {"health", "string", 0, "health check, e.g. http:8080/health"},
    {"dns_name", "string", TP_COMPUTED, "DNS name of the balancer"},
};

static const testprov_attr dns_record_attrs[] = {
    {"id", "string", TP_COMPUTED, "object id"},
    {"zone", "string", TP_REQUIRED | TP_FORCE_NEW, "DNS zone"},
    {"name", "string", TP_REQUIRED | TP_FORCE_NEW, "record name inside the zone"},
    {"target", "string", 0, "what the record points at"},
    {"fqdn", "string", TP_COMPUTED, "name.zone"},
};

static const testprov_attr image_attrs[] = {
    {"id", "string", TP_COMPUTED, "id of the matched image"},
    {"name", "string", TP_REQUIRED, "fnmatch pattern; the newest match wins"},
    {"owners", "list", 0, "accepted for compatibility; the catalog has one owner"},
    {"image_name", "string", TP_COMPUTED, "name of the matched image"},
    {"created", "string", TP_COMPUTED, "creation date of the matched image"},
};

static const testprov_type types[] = {
    {"network", 0, network_attrs, N_ELEMS(network_attrs)},
    {"firewall", 0, firewall_attrs, N_ELEMS(firewall_attrs)},
    {"instance", 0, instance_attrs, N_ELEMS(instance_attrs)},
    {"load_balancer", 0, load_balancer_attrs, N_ELEMS(load_balancer_attrs)},
    {"dns_record", 0, dns_record_attrs, N_ELEMS(dns_record_attrs)},
    {"image", 1, image_attrs, N_ELEMS(image_attrs)},
};

const testprov_type *testprov_type_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < N_ELEMS(types); i++)
        if (strcmp(types[i].name, name) == 0)
            return &types[i];
    return NULL;
}

const testprov_attr *testprov_attr_find(const testprov_type *t, const char *name)
{
    for (size_t i = 0; i < t->nattrs; i++)
        if (strcmp(t->attrs[i].name, name) == 0)
            return &t->attrs[i];
    return NULL;
}

const char *testprov_str(const infra_json *obj, const char *key)
{
    if (obj == NULL || TPJ->type(obj) != INFRA_JSON_OBJECT)
        return NULL;
    return TPJ->string(TPJ->get(obj, key)); /* NULL unless a string */
}

int testprov_is_unknown(const char *s)
{
    return s != NULL && (strstr(s, "${") != NULL || strstr(s, "(known after apply)") != NULL);
}

static int set_bool(infra_json *obj, const char *key, int value)
{
    return TPJ->set(obj, key, TPJ->new_bool(value));
}

static int attrs_to_json(const testprov_attr *attrs, size_t n, infra_json **out)
{
    int error = 0;
    infra_json *obj = TPJ->new_object();

    if (obj == NULL)
        return INFRA_EINTERNAL;
    for (size_t i = 0; i < n; i++) {
        infra_json *a = TPJ->new_object();
        if (a == NULL) {
            error = INFRA_EINTERNAL;
            goto done;
        }
        if ((error = TPJ->set(obj, attrs[i].name, a)) < 0)
            goto done;
        if ((error = TPJ->set(a, "type", TPJ->new_string(attrs[i].type))) < 0 ||
            (error = set_bool(a, "required", (attrs[i].flags & TP_REQUIRED) != 0)) < 0 ||
            (error = set_bool(a, "computed", (attrs[i].flags & TP_COMPUTED) != 0)) < 0 ||
            (error = set_bool(a, "force_new", (attrs[i].flags & TP_FORCE_NEW) != 0)) < 0 ||
            (error = set_bool(a, "sensitive", (attrs[i].flags & TP_SENSITIVE) != 0)) < 0 ||
            (error = TPJ->set(a, "description", TPJ->new_string(attrs[i].description))) < 0)
            goto done;
    }
    *out = obj;
    obj = NULL;
done:
    TPJ->release(obj);
    return error;
}

int testprov_schema(infra_call *call, infra_json **out)
{
    int error = 0;
    infra_json *doc = TPJ->new_object();
    infra_json *resources = TPJ->new_object();
    infra_json *settings = NULL;

    (void)call;
    if (doc == NULL || resources == NULL) {
        error = INFRA_EINTERNAL;
        goto done;
    }
    if ((error = attrs_to_json(settings_attrs, N_ELEMS(settings_attrs), &settings)) < 0)
        goto done;
    if ((error = TPJ->set(doc, "settings", settings)) < 0)
        goto done;
    for (size_t i = 0; i < N_ELEMS(types); i++) {
        infra_json *attrs = NULL;
        infra_json *rt = TPJ->new_object();
        if (rt == NULL) {
            error = INFRA_EINTERNAL;
            goto done;
        }
        if ((error = TPJ->set(resources, types[i].name, rt)) < 0)
            goto done;
        if ((error = attrs_to_json(types[i].attrs, types[i].nattrs, &attrs)) < 0)
            goto done;
        if ((error = TPJ->set(rt, "attributes", attrs)) < 0 ||
            (error = set_bool(rt, "data_source", types[i].data_source)) < 0)
            goto done;
    }
    if ((error = TPJ->set(doc, "resources", resources)) < 0) {
        resources = NULL; /* set took it */
        goto done;
    }
    resources = NULL;
    *out = doc;
    doc = NULL;
done:
    TPJ->release(resources);
    TPJ->release(doc);
    return error;
}

/* a.b.c.d/n with n in 0..32; the address part goes through inet_pton. */
static int cidr_valid(const char *s)
{
    char addr[16];
    const char *slash = strchr(s, '/');
    struct in_addr in;
    char *end = NULL;
    long prefix;

    if (slash == NULL || (size_t)(slash - s) >= sizeof(addr) || slash[1] == '\0')
        return 0;
    memcpy(addr, s, (size_t)(slash - s));
    addr[slash - s] = '\0';
    if (inet_pton(AF_INET, addr, &in) != 1)
        return 0;
    prefix = strtol(slash + 1, &end, 10);
    return *end == '\0' && slash[1] >= '0' && slash[1] <= '9' && prefix >= 0 && prefix <= 32;
}

int testprov_validate(infra_call *call, const char *type, const infra_json *config)
{
    int error = 0;
    const testprov_type *t = testprov_type_find(type);
    const char *cidr, *size;

    if (t == NULL) {
        testprov_diagf(call, "", "unknown resource type \"%s\" (the test provider has network, "
                                 "firewall, instance, load_balancer, dns_record, image)",
                       type ? type : "");
        return INFRA_ENOTSUP;
    }
    if (config != NULL && TPJ->type(config) != INFRA_JSON_OBJECT) {
        testprov_diagf(call, "", "the configuration of a %s must be a map", type);
        return INFRA_EINVALID;
    }
    cidr = testprov_attr_find(t, "cidr") ? testprov_str(config, "cidr") : NULL;
    if (cidr != NULL && !testprov_is_unknown(cidr) && !cidr_valid(cidr)) {
        testprov_diagf(call, "cidr", "\"%s\" is not an IPv4 range a.b.c.d/n", cidr);
        error = INFRA_EINVALID;
    }
    size = testprov_attr_find(t, "size") ? testprov_str(config, "size") : NULL;
    if (size != NULL && !testprov_is_unknown(size) && strcmp(size, "small") != 0 &&
        strcmp(size, "medium") != 0 && strcmp(size, "large") != 0) {
        testprov_diagf(call, "size", "size \"%s\" is not one of small, medium, large", size);
        error = INFRA_EINVALID;
    }
    return error;
}
