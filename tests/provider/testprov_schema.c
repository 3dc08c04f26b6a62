/* The test provider's schema: settings, resource types and their
 * attributes, and the offline checks of validate(). */
#include "testprov.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define R PU_ATTR_REQUIRED
#define C PU_ATTR_COMPUTED
#define FN PU_ATTR_FORCE_NEW
#define S PU_ATTR_SENSITIVE

static const pu_attr settings_attrs[] = {
    {"dir", "string", R, "directory holding the objects (created if missing)"},
    {"latency_ms", "integer", 0, "sleep this long in every apply and read call"},
    {"fail", "list", 0, "addresses whose create/update fails with an injected error"},
    {"fail_transient", "list", 0,
     "addresses whose first create/update fails as transient, then succeeds"},
    {"crash_at", "integer", 0, "the Nth mutating call of the process kills it with SIGKILL"},
    {"crash_when", "string", 0, "\"before\" the work or \"after\" it is written (default)"},
    {"max_parallel", "integer", 0, "informational: concurrency the test expects"},
    {"largest_size", "string", 0,
     "the largest instance size this account may run: plan refuses bigger ones"},
    {"misbehave", "list", 0,
     "\"MODE OP ADDRESS\": hang, exit, garbage or bad_type in create, update, delete, read "
     "or plan"},
};

static const pu_attr network_attrs[] = {
    {"id", "string", C, "object id"},
    {"cidr", "string", R | FN, "address range a.b.c.d/n"},
    {"name", "string", 0, "display name"},
};

static const pu_attr firewall_attrs[] = {
    {"id", "string", C, "object id"},
    {"network", "string", R | FN, "network id"},
    {"allow", "list", 0, "allowed ports or rules"},
};

static const pu_attr instance_attrs[] = {
    {"id", "string", C, "object id"},
    {"image", "string", FN, "image id"},
    {"size", "string", 0, "small, medium or large"},
    {"network", "string", 0, "network id"},
    {"tags", "map", 0, "free-form labels"},
    {"user_data", "string", 0, "boot script"},
    {"password", "string", S, "initial password"},
    {"role", "string", 0, "cluster node role"},
    {"cluster", "string", 0, "cluster name"},
    {"region", "string", 0, "cluster region"},
    {"datacenter", "string", 0, "cluster datacenter"},
    {"private_ip", "string", C, "private address, derived from the id"},
    {"public_ip", "string", C, "public address, derived from the id"},
    {"status", "string", C, "\"running\"; edit the object to play one that stopped"},
};

static const pu_attr load_balancer_attrs[] = {
    {"id", "string", C, "object id"},
    {"targets", "list", 0, "target addresses"},
    {"listen", "list", 0, "listening ports"},
    {"health", "string", 0, "health check, e.g. http:8080/health"},
    {"dns_name", "string", C, "DNS name of the balancer"},
};

static const pu_attr dns_record_attrs[] = {
    {"id", "string", C, "object id"},
    {"zone", "string", R | FN, "DNS zone"},
    {"name", "string", R | FN, "record name inside the zone"},
    {"target", "string", 0, "what the record points at"},
    {"fqdn", "string", C, "name.zone"},
};

static const pu_attr image_attrs[] = {
    {"id", "string", C, "id of the matched image"},
    {"name", "string", R, "fnmatch pattern; the newest match wins"},
    {"owners", "list", 0, "accepted for compatibility; the catalog has one owner"},
    {"image_name", "string", C, "name of the matched image"},
    {"created", "string", C, "creation date of the matched image"},
};

static const pu_type types[] = {
    {"network", network_attrs, N_ELEMS(network_attrs), 0},
    {"firewall", firewall_attrs, N_ELEMS(firewall_attrs), 0},
    {"instance", instance_attrs, N_ELEMS(instance_attrs), 0},
    {"load_balancer", load_balancer_attrs, N_ELEMS(load_balancer_attrs), 0},
    {"dns_record", dns_record_attrs, N_ELEMS(dns_record_attrs), 0},
    {"image", image_attrs, N_ELEMS(image_attrs), 1},
};

static const pu_type settings_type = {"settings", settings_attrs, N_ELEMS(settings_attrs), 0};

/* validate() makes only the checks README.md lists, not pu_check_attrs's. */
const pu_schema testprov_schema_table = {
    "test", &settings_type, types, N_ELEMS(types), "a test", "a test", PU_SCHEMA_DATA_SOURCE};

int testprov_schema(infra_call *call, infra_json **out)
{
    (void)call;
    int error = pu_schema_build(&testprov_schema_table, out);
    /* INFRA_TEST_SCHEMA_VERSION=N plays a newer release of the plugin whose
     * instances are at version N (the state written before is older). */
    const char *version = getenv("INFRA_TEST_SCHEMA_VERSION");
    if (error == 0 && version != NULL && *version != '\0') {
        infra_json *instance = TPJ->get_mutable(TPJ->get_mutable(*out, "resources"), "instance");
        error = TPJ->set(instance, "version", TPJ->new_integer(strtol(version, NULL, 10)));
    }
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
    const pu_type *t = pu_type_find(&testprov_schema_table, type);
    const char *cidr, *size;

    if (t == NULL) {
        pu_diagf(call, "",
                 "unknown resource type \"%s\" (the test provider has network, "
                 "firewall, instance, load_balancer, dns_record, image)",
                 type ? type : "");
        return INFRA_ENOTSUP;
    }
    if (config != NULL && TPJ->type(config) != INFRA_JSON_OBJECT) {
        pu_diagf(call, "", "the configuration of a %s must be a map", type);
        return INFRA_EINVALID;
    }
    cidr = pu_attr_find(t, "cidr") ? pu_json_str(config, "cidr") : NULL;
    if (cidr != NULL && !cidr_valid(cidr)) {
        pu_diagf(call, "cidr", "\"%s\" is not an IPv4 range a.b.c.d/n", cidr);
        error = INFRA_EINVALID;
    }
    size = pu_attr_find(t, "size") ? pu_json_str(config, "size") : NULL;
    if (size != NULL && strcmp(size, "small") != 0 &&
        strcmp(size, "medium") != 0 && strcmp(size, "large") != 0) {
        pu_diagf(call, "size", "size \"%s\" is not one of small, medium, large", size);
        error = INFRA_EINVALID;
    }
    return error;
}
