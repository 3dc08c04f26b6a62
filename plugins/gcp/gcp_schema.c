/* The gcp provider's schema: settings, resource types and their
 * attributes; validate() (offline checks) and plan(). */
#include "gcp_schema.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gcp_res.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define R PU_ATTR_REQUIRED
#define C PU_ATTR_COMPUTED
#define FN PU_ATTR_FORCE_NEW
#define OC PU_ATTR_OPTIONAL_COMPUTED

/* Rows several types share, each kept where its tables list it. */
/* clang-format off */
#define IDS_ATTRS(what) \
    {"id", "string", C, what " as projects/PROJECT/.../NAME"}, \
    {"self_link", "string", C, "its full URL"}
#define NAME_ATTR(what) {"name", "string", OC | FN, what " (default: from topology, environment and address)"}
#define MACHINE_ATTRS(flags) \
    {"machine", "string", flags, "machine type (e2-small, n1-standard-2, ...)"}, \
    {"size", "string", flags, "same as machine"}, {"machine_type", "string", flags, "same as machine"}
#define INSTANCE_PROPS_ATTRS(FNF, SCRIPT) \
    {"image", "string", R | FNF, "image: a family (projects/debian-cloud/global/images/family/debian-12), " \
     "an image id, family/NAME or a name pattern among the project's images (newest wins)"}, \
    {"disk_size", "integer", FNF, "boot disk size in GB (default: the image's)"}, \
    {"disk_type", "string", FNF, "pd-standard, pd-balanced or pd-ssd"}, \
    {"subnetwork", "string", FNF, "subnetwork id"}, {"subnet", "string", FNF, "same as subnetwork"}, \
    {"network", "string", OC | FNF, "network id (default: the subnetwork's)"}, \
    {"public_ip", "any", FNF, "true/false: an external address (default true); then the address"}, \
    {"address", "string", FNF, "static external address (an address id or an IP) for public_ip"}, \
    {"network_tags", "list", 0, "network tags firewall rules target"}, \
    {"tags", "any", 0, "a map: more labels (as the aws provider's tags); a list: network tags"}, \
    {"labels", "map", 0, "labels"}, \
    {"metadata", "map", 0, "more metadata items"}, \
    {"startup_script", "string", FNF | SCRIPT, "startup-script metadata, run at boot"}, \
    {"user_data", "string", FNF | SCRIPT, "same as startup_script"}, \
    {"ssh_user", "string", OC, "login user of ssh_public_key (default infra; sudo without password)"}, \
    {"ssh_public_key", "string", 0, "OpenSSH public key put in ssh-keys metadata"}, \
    {"ssh_public_key_file", "string", 0, "path of an OpenSSH public key file"}, \
    {"service_account", "string", FNF, "service account email, or default"}, \
    {"scopes", "list", FNF, "OAuth scopes of the service account (default cloud-platform)"}, \
    {"role", "string", 0, "cluster node role (a label)"}, {"cluster", "string", 0, "cluster name (a label)"}, \
    {"region", "string", 0, "cluster region (a label)"}, {"datacenter", "string", 0, "cluster datacenter (a label)"}
/* clang-format on */

static const pu_attr settings_attrs[] = {
    {"project", "string", 0,
     "project id (default: GOOGLE_CLOUD_PROJECT, CLOUDSDK_CORE_PROJECT, the credentials')"},
    {"region", "string", 0, "region (default: CLOUDSDK_COMPUTE_REGION, the zone's)"},
    {"zone", "string", 0, "default zone (default: CLOUDSDK_COMPUTE_ZONE, the region's first)"},
    {"credentials_file", "string", 0,
     "service account key or authorized_user file (default: GOOGLE_APPLICATION_CREDENTIALS, "
     "gcloud's application default credentials, the metadata server)"},
    {"endpoint", "string", 0, "root URL of every API (tests, private endpoints)"},
    {"endpoints", "map", 0, "URL per API: {compute, dns, token}"},
};

static const pu_attr network_attrs[] = {
    IDS_ATTRS("network"),
    NAME_ATTR("network name"),
    {"routing_mode", "string", FN, "REGIONAL (default) or GLOBAL"},
};

static const pu_attr subnetwork_attrs[] = {
    IDS_ATTRS("subnetwork"),
    NAME_ATTR("subnetwork name"),
    {"network", "string", R | FN, "network id (\"${network.NAME.id}\")"},
    {"cidr", "string", R | FN, "IPv4 range, /8 to /29"},
    {"region", "string", OC | FN, "region (default: the provider's)"},
    {"private_google_access", "bool", 0, "reach Google APIs without external addresses"},
    {"gateway", "string", C, "the range's gateway address"},
};

static const pu_attr firewall_attrs[] = {
    IDS_ATTRS("firewall rule"),
    NAME_ATTR("rule name"),
    {"network", "string", R | FN, "network id"},
    {"allow", "list", 0,
     "allowed traffic: a port, \"FROM-TO\", or {port, proto: tcp|udp|icmp|all, from: "
     "any|CIDR|TAG}"},
    {"deny", "list", 0, "denied traffic, in the same form (instead of allow)"},
    {"source_ranges", "list", 0, "source ranges (default 0.0.0.0/0 unless tags are given)"},
    {"source_tags", "list", 0, "network tags of the sources"},
    {"target_tags", "list", 0, "network tags of the instances it applies to (default: all)"},
    {"priority", "integer", 0, "0 (first) to 65535, default 1000"},
    {"direction", "string", FN, "INGRESS (default) or EGRESS"},
    {"destination_ranges", "list", 0, "EGRESS: destination ranges"},
};

static const pu_attr router_attrs[] = {
    IDS_ATTRS("router"),
    NAME_ATTR("router name"),
    {"network", "string", R | FN, "network id"},
    {"region", "string", OC | FN, "region (default: the provider's)"},
    {"nat", "bool", 0, "Cloud NAT for the instances without external addresses"},
    {"nat_subnetworks", "list", 0, "only these subnetworks (default: all of the region)"},
    {"nat_addresses", "list", 0, "static addresses the NAT uses (default: allocated)"},
    {"nat_name", "string", C, "name of the NAT"},
};

static const pu_attr address_attrs[] = {
    IDS_ATTRS("address"),
    NAME_ATTR("address name"),
    {"region", "string", OC | FN, "region (default: the provider's)"},
    {"subnetwork", "string", FN, "an internal address in this subnetwork (default: external)"},
    {"address", "string", C, "the IP address"},
};

static const pu_attr instance_attrs[] = {
    IDS_ATTRS("instance"),
    NAME_ATTR("instance name"),
    {"zone", "string", OC | FN, "zone (default: the provider's)"},
    MACHINE_ATTRS(FN),
    INSTANCE_PROPS_ATTRS(FN, 0),
    {"ssh_private_key", "string", 0, "path of the private key that logs in (passed through)"},
    {"private_ip", "string", C, "internal address"},
    {"status", "string", C, "Compute status (RUNNING, ...)"},
    {"ssh_port", "integer", C, "22"},
    {"ssh_host_key_fingerprint", "string", C,
     "SHA256 fingerprint of the host key from the serial port, or null"},
    {"associate_public_ip", "bool", C, "what was asked of public_ip at creation"},
};

static const pu_attr image_attrs[] = {
    {"name", "string", 0,
     "image name, or a pattern (* and ?): the newest match wins; then its name"},
    {"family", "string", 0, "image family: its newest image that is not deprecated"},
    {"project", "string", 0, "project of the image (default: the provider's; debian-cloud, ...)"},
    {"build", "map", 0,
     "make the image: {base, machine, zone, network, subnetwork, public_ip, network_tags, user, "
     "private_key, public_key, disk_size, steps} (docs/images.md)"},
    {"keep", "integer", 0, "generations of a built image kept (default 3)"},
    {"labels", "map", 0, "more labels of a built image"},
    IDS_ATTRS("image"),
    {"image", "string", C, "image name"},
    {"creation_timestamp", "string", C, "when it was made"},
    {"build_hash", "string", C, "SHA-256 of the base image and the steps (a built image)"},
    {"base_id", "string", C, "the base image a built image was made from"},
    {"generations", "list", C, "ids of the generations kept, newest first"},
    {"build_instance", "string", C,
     "a build instance an interrupted create left (found by its token; its delete removes it)"},
};

static const pu_attr load_balancer_attrs[] = {
    IDS_ATTRS("target pool"),
    NAME_ATTR("name of the pool, rule and health check"),
    {"region", "string", OC | FN, "region (default: the provider's)"},
    {"listen", "list", R | FN, "ports forwarded: one, or consecutive ones"},
    {"protocol", "string", FN, "TCP (default) or UDP"},
    {"address", "string", OC | FN,
     "static external address (an address id or an IP); then the "
     "address"},
    {"health", "string", 0, "health check: \"http:PORT/PATH\""},
    {"health_interval", "integer", 0, "seconds between checks (default 5)"},
    {"health_timeout", "integer", 0, "seconds a check may take (default 5, at most the interval)"},
    {"healthy_threshold", "integer", 0, "successes to be HEALTHY (default 2)"},
    {"unhealthy_threshold", "integer", 0, "failures to be UNHEALTHY (default 2)"},
    {"targets", "list", 0, "instance ids; without targets the members are left to others"},
    {"target_pool", "string", C, "target pool id (for instance groups)"},
    {"forwarding_rule", "string", C, "forwarding rule id"},
    {"health_check", "string", C, "HTTP health check id"},
    {"dns_name", "string", C, "null: point DNS records at address"},
    {"instances", "list", C, "member instance ids"},
};

static const pu_attr instance_template_attrs[] = {
    IDS_ATTRS("template (the current version)"),
    {"name", "string", OC, "name prefix of the versions (default: from the address)"},
    MACHINE_ATTRS(0),
    /* A pool's startup script holds its secrets: the state keeps a hash. */
    INSTANCE_PROPS_ATTRS(0, PU_ATTR_SENSITIVE),
    {"startup_script_sha256", "string", C, "SHA-256 of the startup script (the state's only trace of it)"},
    {"retired", "list", C, "earlier versions still in use, deleted once unused"},
};

static const pu_attr instance_group_attrs[] = {
    IDS_ATTRS("instance group manager (the current generation)"),
    {"name", "string", OC, "name prefix of the generations (default: from the address)"},
    {"template", "string", R, "instance template id; a change replaces the group's instances"},
    {"zone", "string", OC | FN, "zone (default: the provider's)"},
    {"size", "integer", R, "instances of the group"},
    {"target_pools", "list", 0, "target pool ids (a load balancer's target_pool)"},
    {"replace_deadline", "integer", 0,
     "seconds a replacement group has to be healthy (default 600)"},
    {"generation", "integer", C, "how many replacements made the current group"},
    {"instances", "list", C, "instance ids of the group"},
};

static const pu_attr instance_group_manager_attrs[] = {
    IDS_ATTRS("instance group manager"),
    NAME_ATTR("name of the group"),
    {"zone", "string", OC | FN, "zone (default: the provider's)"},
    {"template", "string", R, "instance template id; a change rolls the members onto it"},
    {"size", "integer", R, "target size"},
    {"base_instance_name", "string", OC | FN, "prefix of the members' names (default: the name)"},
    {"max_unavailable", "integer", 0, "members recreated at a time by a template change (default 1)"},
    {"remove_instances", "list", 0,
     "members (names or ids) a scale-in deletes first, drained beforehand by their owner"},
    {"stable_deadline", "integer", 0, "seconds a change has for the group to be stable (default 600)"},
    {"instances", "list", C, "instance ids of the members"},
    {"instance_names", "list", C, "names of the members"},
    {"instance_addresses", "list", C,
     "[{id, private_ip}] of the running members (with scheduler_pool)"},
    {"scheduler_pool", "bool", 0,
     "runs a scheduler's client pool (set by the cluster): instance_addresses listed"},
    {"terminate_first", "list", 0,
     "members a scale-in deletes (drained first; set by a scheduler's client pool)"},
};

static const pu_attr dns_record_attrs[] = {
    {"id", "string", C, "MANAGED_ZONE/FQDN./TYPE"},
    {"zone", "string", R | FN, "the managed zone's DNS name (example.org) or its name"},
    {"name", "string", R | FN, "name inside the zone (\"www\", \"*.app\", \"@\") or absolute"},
    {"type", "string", OC | FN, "A, AAAA, CNAME or TXT (default: A for addresses, else CNAME)"},
    {"target", "any", R, "a value or a list"},
    {"ttl", "integer", 0, "seconds (default 300)"},
    {"allow_overwrite", "bool", 0, "take over a record set that already exists"},
    {"fqdn", "string", C, "the absolute name, without the final dot"},
    {"managed_zone", "string", C, "the managed zone's name"},
};

static const pu_type types[] = {
    {"network", network_attrs, N_ELEMS(network_attrs), 0},
    {"subnetwork", subnetwork_attrs, N_ELEMS(subnetwork_attrs), 0},
    {"firewall", firewall_attrs, N_ELEMS(firewall_attrs), 0},
    {"router", router_attrs, N_ELEMS(router_attrs), 0},
    {"address", address_attrs, N_ELEMS(address_attrs), 0},
    {"instance", instance_attrs, N_ELEMS(instance_attrs), 0},
    {"image", image_attrs, N_ELEMS(image_attrs), 1},
    {"load_balancer", load_balancer_attrs, N_ELEMS(load_balancer_attrs), 0},
    {"instance_template", instance_template_attrs, N_ELEMS(instance_template_attrs), 0},
    {"instance_group", instance_group_attrs, N_ELEMS(instance_group_attrs), 0},
    {"instance_group_manager", instance_group_manager_attrs, N_ELEMS(instance_group_manager_attrs),
     0},
    {"dns_record", dns_record_attrs, N_ELEMS(dns_record_attrs), 0},
};

static const pu_type settings_type = {"settings", settings_attrs, N_ELEMS(settings_attrs), 0};

const pu_schema gcp_schema_table = {"gcp",   &settings_type, types, N_ELEMS(types),
                                    "a gcp", "a gcp",        0};

const char *gcp_type_names(void)
{
    return "network, subnetwork, firewall, router, address, instance, image, load_balancer, "
           "instance_template, instance_group, instance_group_manager, dns_record";
}

int gcp_schema(infra_call *call, infra_json **out)
{
    (void)call;
    return pu_schema_build(&gcp_schema_table, out);
}

/* ------------------------------------------------------------------ */
/* Value checks                                                       */

static const char *known_str(const infra_json *config, const char *key)
{
    const infra_json *v = GJ->get(config, key);
    const char *s = v != NULL && !gcp_json_unknown(v) ? GJ->string(v) : NULL;
    return s;
}

static int check_int_range(infra_call *call, const infra_json *config, const char *key, long lo,
                           long hi)
{
    const infra_json *v = GJ->get(config, key);
    long n;
    if (v == NULL || gcp_json_unknown(v))
        return 0;
    if (pu_json_to_int(v, &n) < 0 || n < lo || n > hi) {
        pu_diagf(call, key, "%s must be a number from %ld to %ld", key, lo, hi);
        return INFRA_EINVALID;
    }
    return 0;
}

static int check_name(infra_call *call, const infra_json *config, size_t max)
{
    const char *s = known_str(config, "name");
    if (s != NULL && (!gcp_name_valid(s) || strlen(s) > max)) {
        pu_diagf(call, "name",
                 "\"%s\" is not a Compute name: a lowercase letter, then up to %zu "
                 "lowercase letters, digits and '-', not ending in '-'",
                 s, max - 1);
        return INFRA_EINVALID;
    }
    return 0;
}

static int check_cidr(infra_call *call, const infra_json *config)
{
    const char *s = known_str(config, "cidr");
    if (s == NULL)
        return 0;
    const char *slash = strchr(s, '/');
    int len = slash ? atoi(slash + 1) : -1;
    if (!gcp_is_cidr(s) || len < 8 || len > 29) {
        pu_diagf(call, "cidr", "\"%s\" is not an IPv4 range a.b.c.d/n with n from 8 to 29", s);
        return INFRA_EINVALID;
    }
    return 0;
}

static int check_one_of(infra_call *call, const infra_json *config, const char *const *keys,
                        const char *what, int required)
{
    int n = 0;
    for (size_t i = 0; keys[i] != NULL; i++)
        n += GJ->get(config, keys[i]) != NULL;
    if (n > 1) {
        pu_diagf(call, keys[1], "%s: give one of them", what);
        return INFRA_EINVALID;
    }
    if (n == 0 && required) {
        pu_diagf(call, keys[0], "a gcp resource of this type needs %s", keys[0]);
        return INFRA_EINVALID;
    }
    return 0;
}

static int check_instance_props(infra_call *call, const infra_json *config)
{
    static const char *const machine[] = {"machine", "size", "machine_type", NULL};
    static const char *const subnet[] = {"subnetwork", "subnet", NULL};
    static const char *const script[] = {"startup_script", "user_data", NULL};
    static const char *const keyv[] = {"ssh_public_key", "ssh_public_key_file", NULL};
    int error = 0;
    const infra_json *v;
    if (check_one_of(call, config, machine, "machine, size and machine_type are the same", 1) < 0 ||
        check_one_of(call, config, subnet, "subnetwork and subnet are the same", 0) < 0 ||
        check_one_of(call, config, script, "startup_script and user_data are the same", 0) < 0 ||
        check_one_of(call, config, keyv, "ssh_public_key and ssh_public_key_file", 0) < 0)
        error = INFRA_EINVALID;
    if ((v = GJ->get(config, "public_ip")) != NULL && !gcp_json_unknown(v)) {
        int b;
        if (pu_json_to_bool(v, &b) < 0) {
            pu_diagf(call, "public_ip", "public_ip must be true or false");
            error = INFRA_EINVALID;
        }
    }
    /* read at apply (gcp_body.c): a file that is not there is said now */
    const char *key_file = known_str(config, "ssh_public_key_file");
    if (key_file != NULL) {
        const char *home = getenv("HOME");
        char *full = strncmp(key_file, "~/", 2) == 0 && home != NULL
                         ? pu_printf("%s/%s", home, key_file + 2)
                         : pu_strdup(key_file);
        if (access(full, R_OK) != 0) {
            pu_diagf(call, "ssh_public_key_file", "cannot read the public key file %s: %s", full,
                     strerror(errno));
            error = INFRA_EINVALID;
        }
        free(full);
    }
    const char *s = known_str(config, "startup_script");
    if (s == NULL)
        s = known_str(config, "user_data");
    if (s != NULL && strlen(s) > 256 * 1024) {
        pu_diagf(call, "startup_script", "a metadata value holds at most 256 KiB");
        error = INFRA_EINVALID;
    }
    if ((v = GJ->get(config, "tags")) != NULL && !gcp_json_unknown(v) &&
        GJ->type(v) != INFRA_JSON_OBJECT && GJ->type(v) != INFRA_JSON_ARRAY) {
        pu_diagf(call, "tags", "tags is a map (labels) or a list (network tags)");
        error = INFRA_EINVALID;
    }
    char **tags = NULL;
    if (!gcp_json_unknown(GJ->get(config, "network_tags")) &&
        !gcp_json_unknown(GJ->get(config, "tags")) && gcp_network_tags(config, &tags) == 0) {
        for (size_t i = 0; tags[i] != NULL; i++) {
            if (!gcp_name_valid(tags[i])) {
                pu_diagf(call, "network_tags", "network tag \"%s\" is not a Compute name", tags[i]);
                error = INFRA_EINVALID;
            }
        }
    }
    gcp_strv_free(tags);
    error |= check_int_range(call, config, "disk_size", 10, 65536);
    if ((s = known_str(config, "disk_type")) != NULL && strcmp(s, "pd-standard") != 0 &&
        strcmp(s, "pd-balanced") != 0 && strcmp(s, "pd-ssd") != 0) {
        pu_diagf(call, "disk_type", "disk_type must be pd-standard, pd-balanced or pd-ssd");
        error = INFRA_EINVALID;
    }
    return error < 0 ? INFRA_EINVALID : 0;
}

static int check_values(infra_call *call, const char *type, const infra_json *config)
{
    int error = 0;
    const char *s;
    const infra_json *v;

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        if ((expr) < 0)                                                                            \
            error = INFRA_EINVALID;                                                                \
    } while (0)

    int templated = strcmp(type, "instance_template") == 0 || strcmp(type, "instance_group") == 0;
    if (strcmp(type, "dns_record") != 0 && strcmp(type, "image") != 0)
        CHECK(check_name(call, config, templated ? 52 : 63));
    if (strcmp(type, "subnetwork") == 0)
        CHECK(check_cidr(call, config));
    if (strcmp(type, "network") == 0 && (s = known_str(config, "routing_mode")) != NULL &&
        strcmp(s, "REGIONAL") != 0 && strcmp(s, "GLOBAL") != 0) {
        pu_diagf(call, "routing_mode", "routing_mode must be REGIONAL or GLOBAL");
        error = INFRA_EINVALID;
    }
    if (strcmp(type, "firewall") == 0) {
        int allow = GJ->get(config, "allow") != NULL, deny = GJ->get(config, "deny") != NULL;
        if (allow == deny) {
            pu_diagf(call, allow ? "deny" : "allow",
                     "a firewall rule %s: give allow or deny, not both",
                     allow ? "either allows or denies" : "needs allow or deny");
            error = INFRA_EINVALID;
        }
        const char *key = deny ? "deny" : "allow";
        if (!gcp_json_unknown(GJ->get(config, key))) {
            gcp_rule *rules = NULL;
            size_t n = 0;
            char **sources = NULL;
            CHECK(gcp_rules_parse(call, GJ->get(config, key), key, &rules, &n, &sources));
            free(rules);
            gcp_strv_free(sources);
        }
        CHECK(check_int_range(call, config, "priority", 0, 65535));
        if ((s = known_str(config, "direction")) != NULL && strcmp(s, "INGRESS") != 0 &&
            strcmp(s, "EGRESS") != 0) {
            pu_diagf(call, "direction", "direction must be INGRESS or EGRESS");
            error = INFRA_EINVALID;
        }
        char **ranges = NULL;
        if (!gcp_json_unknown(GJ->get(config, "source_ranges")) &&
            gcp_json_strv(GJ->get(config, "source_ranges"), &ranges) == 0)
            for (size_t i = 0; ranges[i] != NULL; i++)
                if (!gcp_is_cidr(ranges[i]) && !gcp_is_ipv4(ranges[i])) {
                    pu_diagf(call, "source_ranges", "\"%s\" is not a range a.b.c.d/n", ranges[i]);
                    error = INFRA_EINVALID;
                }
        gcp_strv_free(ranges);
    }
    if (strcmp(type, "instance") == 0 || strcmp(type, "instance_template") == 0)
        CHECK(check_instance_props(call, config));
    if (strcmp(type, "image") == 0 && gcp_bake_is_build(config)) {
        CHECK(gcp_bake_validate(call, config));
    } else if (strcmp(type, "image") == 0 && GJ->get(config, "keep") != NULL) {
        pu_diagf(call, "keep", "keep counts the generations of a built image: it needs build:");
        error = INFRA_EINVALID;
    } else if (strcmp(type, "image") == 0 && GJ->get(config, "name") == NULL &&
               GJ->get(config, "family") == NULL) {
        pu_diagf(call, "name",
                 "an image lookup needs name (a pattern such as \"nomad-host-*\") "
                 "or family");
        error = INFRA_EINVALID;
    }
    if (strcmp(type, "load_balancer") == 0) {
        if ((v = GJ->get(config, "listen")) != NULL && !gcp_json_unknown(v)) {
            char *range = gcp_port_range(call, v);
            if (range == NULL)
                error = INFRA_EINVALID;
            free(range);
        }
        gcp_health h;
        if ((s = known_str(config, "health")) != NULL && gcp_health_parse(s, &h) < 0) {
            pu_diagf(call, "health",
                     "health must be \"http:PORT/PATH\" (a legacy HTTP health "
                     "check)");
            error = INFRA_EINVALID;
        }
        if ((s = known_str(config, "protocol")) != NULL && strcmp(s, "TCP") != 0 &&
            strcmp(s, "UDP") != 0) {
            pu_diagf(call, "protocol", "protocol must be TCP or UDP");
            error = INFRA_EINVALID;
        }
        CHECK(check_int_range(call, config, "health_interval", 1, 300));
        CHECK(check_int_range(call, config, "health_timeout", 1, 300));
        CHECK(check_int_range(call, config, "healthy_threshold", 1, 10));
        CHECK(check_int_range(call, config, "unhealthy_threshold", 1, 10));
    }
    if (strcmp(type, "instance_group_manager") == 0) {
        CHECK(check_int_range(call, config, "size", 0, 1000));
        CHECK(check_int_range(call, config, "max_unavailable", 1, 1000));
        CHECK(check_int_range(call, config, "stable_deadline", 10, 86400));
        if ((s = known_str(config, "base_instance_name")) != NULL && !gcp_base_name_valid(s)) {
            pu_diagf(call, "base_instance_name",
                     "base_instance_name \"%s\" is not one Compute takes: a lowercase letter, "
                     "then at most 57 lowercase letters, digits or '-'",
                     s);
            error = INFRA_EINVALID;
        }
    }
    if (strcmp(type, "instance_group") == 0) {
        CHECK(check_int_range(call, config, "size", 0, 1000));
        CHECK(check_int_range(call, config, "replace_deadline", 10, 86400));
    }
    if (strcmp(type, "dns_record") == 0) {
        if ((s = known_str(config, "type")) != NULL && strcmp(s, "A") != 0 &&
            strcmp(s, "AAAA") != 0 && strcmp(s, "CNAME") != 0 && strcmp(s, "TXT") != 0) {
            pu_diagf(call, "type", "type must be A, AAAA, CNAME or TXT");
            error = INFRA_EINVALID;
        }
        CHECK(check_int_range(call, config, "ttl", 0, 2147483647));
        if ((v = GJ->get(config, "target")) != NULL && !gcp_json_unknown(v) &&
            GJ->type(v) != INFRA_JSON_STRING && GJ->type(v) != INFRA_JSON_ARRAY) {
            pu_diagf(call, "target", "target must be a value or a list of values");
            error = INFRA_EINVALID;
        }
    }
#undef CHECK
    return error;
}

/* config without its unknown values (the schema check cannot judge them). */
static infra_json *known_only(const infra_json *config)
{
    infra_json *copy = GJ->copy(config);
    void *iter = NULL;
    const char *key;
    const infra_json *value;
    char **drop = gcp_strv_new();
    while (GJ->next(config, &iter, &key, &value))
        if (GJ->type(value) == INFRA_JSON_UNKNOWN)
            gcp_strv_push(&drop, key);
    for (size_t i = 0; drop[i] != NULL; i++)
        GJ->remove(copy, drop[i]);
    gcp_strv_free(drop);
    return copy;
}

int gcp_validate(infra_call *call, const char *type, const infra_json *config)
{
    const pu_type *t = pu_type_find(&gcp_schema_table, type);
    if (t == NULL) {
        pu_diagf(call, "", "the gcp provider has no resource type \"%s\" (it has %s)",
                 type ? type : "", gcp_type_names());
        return INFRA_ENOTSUP;
    }
    int error = 0;
    if (config != NULL && GJ->type(config) == INFRA_JSON_OBJECT) {
        /* An unknown value stands for the attribute being set: required
         * attributes are present, only the type is not judged. */
        infra_json *known = known_only(config);
        void *iter = NULL;
        const char *key;
        const infra_json *value;
        while (GJ->next(config, &iter, &key, &value))
            if (GJ->type(value) == INFRA_JSON_UNKNOWN)
                pu_json_set_str(known, key, "${unknown}");
        error = pu_check_attrs(call, &gcp_schema_table, t, known, 0);
        GJ->release(known);
        if (check_values(call, type, config) < 0)
            error = INFRA_EINVALID;
    } else {
        error = pu_check_attrs(call, &gcp_schema_table, t, config, 0);
    }
    return error;
}

/* ------------------------------------------------------------------ */
/* Plan                                                               */

static int set_unknown(infra_json *plan, const char *key)
{
    if (INFRA_HAS_SLOT(pu_host->json, new_unknown)) {
        infra_json *u = pu_host->json->new_unknown();
        if (u != NULL)
            return pu_json_set(plan, key, u);
    }
    GJ->remove(plan, key);
    return 0;
}

int gcp_plan(infra_provider *self, infra_call *call, const char *type, const infra_json *prior,
             const infra_json *desired, infra_json **planned, infra_json **requires_replace)
{
    const pu_type *t = NULL;
    infra_json *plan = NULL, *replace = NULL;
    int error = pu_plan_begin(call, &gcp_schema_table, type, desired, &t, &plan, &replace);

    if (error < 0)
        goto done;
    if (desired == NULL)
        goto out;

    for (size_t i = 0; prior != NULL && i < t->nattrs; i++) {
        const pu_attr *a = &t->attrs[i];
        const infra_json *old = GJ->get(prior, a->name);
        if (GJ->get(plan, a->name) != NULL || old == NULL)
            continue;
        if ((a->flags & (C | OC)) && (error = pu_json_set_copy(plan, a->name, old)) < 0)
            goto done;
    }
    if (strcmp(type, "image") == 0 && gcp_bake_is_build(desired)) {
        if ((error = gcp_bake_plan(self, call, prior, plan)) < 0)
            goto done;
        goto out;
    }
    /* Computed values an update changes are not known before it runs, so
     * that what refers to them is planned against "(known after apply)". */
    if (prior != NULL) {
        static const struct {
            const char *type;
            const char *inputs;   /* space-separated: a change of one ... */
            const char *computed; /* ... makes these unknown */
        } volatile_attrs[] = {
            {"instance_template",
             "machine size machine_type image disk_size disk_type subnetwork subnet network "
             "public_ip address network_tags tags labels metadata "
             "ssh_user ssh_public_key ssh_public_key_file service_account scopes role cluster "
             "region datacenter name",
             "id self_link name retired"},
            {"instance_group", "template", "id self_link name generation instances"},
            {"instance_group", "size", "instances"},
            {"load_balancer", "targets", "instances"},
            {"instance_group_manager", "template size remove_instances",
             "instances instance_names instance_addresses"},
        };
        for (size_t i = 0; i < sizeof(volatile_attrs) / sizeof(volatile_attrs[0]); i++) {
            if (strcmp(type, volatile_attrs[i].type) != 0)
                continue;
            int changed = 0;
            char names[512];
            snprintf(names, sizeof(names), "%s", volatile_attrs[i].inputs);
            for (char *save = NULL, *k = strtok_r(names, " ", &save); k && !changed;
                 k = strtok_r(NULL, " ", &save)) {
                const infra_json *x = GJ->get(desired, k), *y = GJ->get(prior, k);
                /* Left out where the plugin computes a value (a name
                 * prefix): what it computed is kept, not changed. */
                const pu_attr *at = pu_attr_find(t, k);
                int kept = x == NULL && at != NULL && (at->flags & OC);
                changed = !kept &&
                          ((x == NULL) != (y == NULL) || (x != NULL && !GJ->equal(x, y)));
            }
            if (!changed && strcmp(type, "instance_template") == 0)
                changed = gcp_template_script_changed(prior, desired);
            snprintf(names, sizeof(names), "%s", volatile_attrs[i].computed);
            for (char *save = NULL, *k = strtok_r(names, " ", &save); k && changed;
                 k = strtok_r(NULL, " ", &save))
                if ((error = set_unknown(plan, k)) < 0)
                    goto done;
        }
    }
    /* public_ip is asked as a bool and shown as an address afterwards:
     * what was asked at creation is kept aside to see a change of mind. */
    if (strcmp(type, "instance") == 0) {
        const infra_json *asked = prior ? GJ->get(prior, "associate_public_ip") : NULL;
        if (asked != NULL && GJ->type(asked) == INFRA_JSON_BOOL &&
            !gcp_json_unknown(GJ->get(desired, "public_ip")) &&
            GJ->boolean(asked) != gcp_want_public(desired) &&
            (error = GJ->append(replace, GJ->new_string("public_ip"))) < 0)
            goto done;
        if (pu_json_str(plan, "ssh_user") == NULL &&
            (error = pu_json_set_str(plan, "ssh_user", gcp_ssh_user(desired))) < 0)
            goto done;
        if ((error = pu_json_set_int(plan, "ssh_port", 22)) < 0)
            goto done;
    }
    /* A load balancer's health check is changed in place, but one added or
     * removed replaces the balancer. */
    if (strcmp(type, "load_balancer") == 0 && prior != NULL &&
        (GJ->get(prior, "health_check") != NULL &&
         GJ->type(GJ->get(prior, "health_check")) == INFRA_JSON_STRING) !=
            (GJ->get(desired, "health") != NULL) &&
        (error = GJ->append(replace, GJ->new_string("health"))) < 0)
        goto done;
out:
    *planned = plan;
    *requires_replace = replace;
    plan = replace = NULL;
done:
    GJ->release(plan);
    GJ->release(replace);
    return error;
}
