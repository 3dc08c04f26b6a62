/* The openstack provider's schema: settings, resource types and their
 * attributes; validate() (offline checks) and plan(). */
#include "os_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "os_res.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define R PU_ATTR_REQUIRED
#define C PU_ATTR_COMPUTED
#define FN PU_ATTR_FORCE_NEW
#define OC PU_ATTR_OPTIONAL_COMPUTED

/* clang-format off */
#define NAME_TAGS_ATTRS \
    {"name", "string", OC, "name (default: TOPOLOGY-ENV-ADDRESS)"}, \
    {"tags", "any", 0, "more tags: a list of strings, or a map (KEY=VALUE tags)"}
/* clang-format on */

static const pu_attr settings_attrs[] = {
    {"cloud", "string", 0,
     "the entry of clouds.yaml to use (default OS_CLOUD; without either, the OS_* variables of "
     "an openrc file)"},
    {"region", "string", 0, "region (GRA7, SBG5, ...; default OS_REGION_NAME, then clouds.yaml)"},
    {"interface", "string", 0, "endpoint interface: public (default), internal or admin"},
    {"cacert", "string", 0,
     "CA bundle that signs the cloud's certificates (as cacert in "
     "clouds.yaml)"},
    {"endpoints", "map", 0,
     "URL per service instead of the catalog's: {compute, network, image, dns, load_balancer}"},
};

static const pu_attr network_attrs[] = {
    {"id", "string", C, "network id"},
    NAME_TAGS_ATTRS,
    {"mtu", "integer", 0, "MTU (default: the cloud's)"},
    {"status", "string", C, "ACTIVE, DOWN, ..."},
};

static const pu_attr subnet_attrs[] = {
    {"id", "string", C, "subnet id"},
    {"network", "string", R | FN, "network id (\"${network.NAME.id}\")"},
    {"cidr", "string", R | FN, "address range (IPv4 or IPv6)"},
    {"ip_version", "integer", OC | FN, "4 or 6 (default: the cidr's)"},
    {"gateway", "string", OC, "gateway address, or \"none\" (default: the range's first)"},
    {"dns_servers", "list", 0, "DNS servers handed out by DHCP"},
    {"allocation_pools", "list", 0, "address pools: \"FIRST-LAST\" or {start, end}"},
    {"dhcp", "bool", 0, "DHCP on the subnet (default true)"},
    NAME_TAGS_ATTRS,
};

static const pu_attr router_attrs[] = {
    {"id", "string", C, "router id"},
    NAME_TAGS_ATTRS,
    {"external_network", "string", 0, "external network of the gateway, by name or id (Ext-Net)"},
    {"subnets", "list", 0, "subnet ids the router has an interface on"},
    {"external_ip", "string", C, "the gateway's address on the external network"},
    {"status", "string", C, "ACTIVE, ..."},
};

static const pu_attr firewall_attrs[] = {
    {"id", "string", C, "security group id"},
    NAME_TAGS_ATTRS,
    {"description", "string", 0, "group description"},
    {"network", "string", 0, "accepted for portability; Neutron groups belong to no network"},
    {"allow", "list", 0,
     "ingress: a port, \"FROM-TO\", or {port, proto: tcp|udp|icmp|all, from: any|CIDR|self|group "
     "id}"},
    {"ingress", "list", 0,
     "ingress rules {protocol, port_range_min, port_range_max, remote_ip_prefix | "
     "remote_group_id, ethertype}"},
    {"egress", "list", 0,
     "egress rules like ingress; when absent the group keeps Neutron's allow-all egress"},
};

static const pu_attr port_attrs[] = {
    {"id", "string", C, "port id"},
    {"network", "string", R | FN, "network id"},
    {"subnet", "string", FN, "subnet id of its address"},
    {"fixed_ip", "string", FN, "its address (default: one Neutron picks)"},
    {"firewalls", "list", 0, "security group ids"},
    NAME_TAGS_ATTRS,
    {"private_ip", "string", C, "its address"},
    {"mac_address", "string", C, "its MAC address"},
    {"status", "string", C, "ACTIVE, DOWN, ..."},
    {"device_id", "string", C, "the server using it, or \"\""},
};

static const pu_attr floating_ip_attrs[] = {
    {"id", "string", C, "floating IP id"},
    {"network", "string", FN, "external network, by name or id (default: the only one)"},
    {"port", "string", 0, "port id it forwards to"},
    {"instance", "string", 0, "server id it forwards to (its first port)"},
    {"fixed_ip", "string", OC, "address of the port it forwards to"},
    {"tags", "any", 0, "more tags: a list of strings, or a map (KEY=VALUE tags)"},
    {"address", "string", C, "the floating address"},
    {"port_id", "string", C, "the port it forwards to"},
    {"status", "string", C, "ACTIVE, DOWN"},
};

static const pu_attr key_pair_attrs[] = {
    {"id", "string", C, "key pair name"},
    {"name", "string", OC | FN, "key name (default: derived from the address)"},
    {"public_key", "string", FN, "OpenSSH public key text"},
    {"public_key_file", "string", FN, "path of an OpenSSH public key file"},
    {"fingerprint", "string", C, "fingerprint Nova computed"},
};

static const pu_attr instance_attrs[] = {
    {"id", "string", C, "server id"},
    {"image", "string", R | FN, "image id, name, or name pattern (the newest match wins)"},
    {"size", "string", FN, "flavor name or id (s1-2, b2-7, ...)"},
    {"machine", "string", FN, "same as size"},
    {"flavor", "string", FN, "same as size"},
    {"subnet", "string", FN, "subnet id: the server gets a port on its network"},
    {"network", "string", OC | FN,
     "network id (Ext-Net's for a public address); then the "
     "network of its first port"},
    {"networks", "list", FN, "network ids"},
    {"ports", "list", FN, "port ids to boot with"},
    {"fixed_ip", "string", FN, "address on the first network"},
    {"firewalls", "list", 0, "security group ids"},
    {"key_pair", "string", FN, "key pair name"},
    {"user_data", "string", FN, "cloud-init user data (sent base64)"},
    {"metadata", "map", 0, "server metadata"},
    {"availability_zone", "string", OC | FN, "zone (default: the cloud's)"},
    {"config_drive", "bool", FN, "attach a config drive"},
    NAME_TAGS_ATTRS,
    {"ssh_user", "string", OC, "login user (default root; OVH images: debian, ubuntu, ...)"},
    {"ssh_private_key", "string", 0, "path of the private key that logs in (passed through)"},
    {"role", "string", 0, "cluster node role (metadata)"},
    {"cluster", "string", 0, "cluster name (metadata)"},
    {"region", "string", 0, "cluster region (metadata)"},
    {"datacenter", "string", 0, "cluster datacenter (metadata)"},
    {"private_ip", "string", C, "fixed address (not on an external network, if it has one)"},
    {"public_ip", "string", C, "floating address, else its address on an external network"},
    {"hostname", "string", C, "server name"},
    {"status", "string", C, "Nova status"},
    {"ssh_port", "integer", C, "22"},
    {"ssh_host_key_fingerprint", "string", C,
     "SHA256 fingerprint of the host key from the console log, or null"},
    {"flavor_id", "string", C, "flavor id"},
    {"image_id", "string", C, "image id"},
};

static const pu_attr image_attrs[] = {
    {"name", "string", R,
     "a lookup: name, or pattern (* and ?), the newest match wins; a build: the names' prefix"},
    {"build", "map", 0,
     "make the image: {base, size, subnet, network, firewalls, key_pair, user, private_key, "
     "steps} (docs/images.md)"},
    {"keep", "integer", 0, "generations of a built image kept (default 3)"},
    {"id", "string", C, "image id"},
    {"created_at", "string", C, "when the image was made"},
    {"visibility", "string", C, "public, private, shared, community"},
    {"image_name", "string", C, "Glance name of a built image: NAME-HASH"},
    {"build_hash", "string", C, "SHA-256 of the base image id and the steps (a built image)"},
    {"base_id", "string", C, "the base image a built image was made from"},
    {"generations", "list", C, "image ids of the generations kept, newest first"},
    {"build_instance", "string", C,
     "a build server an interrupted create left (found by its token; its delete removes it)"},
};

static const pu_attr load_balancer_attrs[] = {
    {"id", "string", C, "load balancer id"},
    NAME_TAGS_ATTRS,
    {"subnet", "string", FN, "subnet of the VIP"},
    {"subnets", "list", FN, "same as subnet (the first)"},
    {"members_subnet", "string", 0, "subnet of the members (default: the VIP's)"},
    {"listen", "list", 0, "ports to listen on (80 is HTTP, the others TCP)"},
    {"backend_port", "integer", 0, "member port for listen (default: the same)"},
    {"listeners", "list", 0, "[{port, protocol: HTTP|HTTPS|TCP|UDP, backend_port}]"},
    {"health", "string", 0, "health check: \"http:PORT/PATH\" or \"tcp:PORT\""},
    {"health_interval", "integer", 0, "seconds between checks (default 10)"},
    {"health_timeout", "integer", 0, "seconds a check may take (default 5)"},
    {"healthy_threshold", "integer", 0, "successes to be healthy (default 2)"},
    {"unhealthy_threshold", "integer", 0, "failures to be unhealthy (default 2)"},
    {"targets", "list", 0, "server ids or addresses"},
    {"algorithm", "string", 0, "ROUND_ROBIN (default), LEAST_CONNECTIONS, SOURCE_IP"},
    {"address", "string", C, "VIP address"},
    {"dns_name", "string", C, "VIP address (what a DNS record points at)"},
    {"vip_port_id", "string", C, "VIP port (for a floating IP)"},
    {"members", "list", C, "member addresses"},
    {"status", "string", C, "provisioning status"},
};

static const pu_attr dns_record_attrs[] = {
    {"id", "string", C, "record set id"},
    {"zone", "string", R | FN, "Designate zone name (example.org)"},
    {"name", "string", R | FN, "name inside the zone (\"www\", \"*.app\", \"@\") or absolute"},
    {"type", "string", OC | FN,
     "A, AAAA, CNAME, TXT, MX, ... (default: A for addresses, else "
     "CNAME)"},
    {"target", "any", R, "a value or a list"},
    {"ttl", "integer", 0, "seconds (default 300)"},
    {"allow_overwrite", "bool", 0, "take over a record set that exists already"},
    {"fqdn", "string", C, "the absolute name, without the final dot"},
    {"zone_id", "string", C, "zone id"},
    {"status", "string", C, "ACTIVE, PENDING, ERROR"},
};

static const pu_type types[] = {
    {"network", network_attrs, N_ELEMS(network_attrs), 0},
    {"subnet", subnet_attrs, N_ELEMS(subnet_attrs), 0},
    {"router", router_attrs, N_ELEMS(router_attrs), 0},
    {"firewall", firewall_attrs, N_ELEMS(firewall_attrs), 0},
    {"port", port_attrs, N_ELEMS(port_attrs), 0},
    {"floating_ip", floating_ip_attrs, N_ELEMS(floating_ip_attrs), 0},
    {"key_pair", key_pair_attrs, N_ELEMS(key_pair_attrs), 0},
    {"instance", instance_attrs, N_ELEMS(instance_attrs), 0},
    {"image", image_attrs, N_ELEMS(image_attrs), 1},
    {"load_balancer", load_balancer_attrs, N_ELEMS(load_balancer_attrs), 0},
    {"dns_record", dns_record_attrs, N_ELEMS(dns_record_attrs), 0},
};

static const pu_type settings_type = {"settings", settings_attrs, N_ELEMS(settings_attrs), 0};

const pu_schema os_schema_table = {"openstack",    &settings_type, types, N_ELEMS(types),
                                   "an openstack", "an openstack", 0};

const char *os_type_names(void)
{
    return "network, subnet, router, firewall, port, floating_ip, key_pair, instance, image, "
           "load_balancer, dns_record";
}

int os_schema(infra_call *call, infra_json **out)
{
    (void)call;
    return pu_schema_build(&os_schema_table, out);
}

/* ------------------------------------------------------------------ */
/* Value checks                                                       */

static int present(const infra_json *config, const char *key)
{
    const infra_json *v = OJ->get(config, key);
    return v != NULL && OJ->type(v) != INFRA_JSON_NULL;
}

static int check_int_range(infra_call *call, const infra_json *config, const char *key, long lo,
                           long hi)
{
    const infra_json *v = OJ->get(config, key);
    long n;
    if (v == NULL || os_json_unknown(v))
        return 0;
    if (pu_json_to_int(v, &n) < 0 || n < lo || n > hi) {
        pu_diagf(call, key, "%s must be a number from %ld to %ld", key, lo, hi);
        return INFRA_EINVALID;
    }
    return 0;
}

static int one_of(infra_call *call, const char *type, const infra_json *config,
                  const char *const *keys, const char *what)
{
    size_t n = 0;
    const char *second = NULL;
    pu_buf names = {0};
    for (size_t i = 0; keys[i] != NULL; i++) {
        if (present(config, keys[i]) && ++n == 2)
            second = keys[i];
        pu_buf_printf(&names, "%s%s", i ? ", " : "", keys[i]);
    }
    int error = 0;
    if (n == 0) {
        pu_diagf(call, keys[0], "an openstack %s needs %s (%s)", type, keys[0], what);
        error = INFRA_EINVALID;
    } else if (n > 1) {
        pu_diagf(call, second, "%s are the same: give one", names.data);
        error = INFRA_EINVALID;
    }
    free(names.data);
    return error;
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

    if (strcmp(type, "image") == 0 && os_bake_is_build(config)) {
        CHECK(os_bake_validate(call, config));
    } else if (strcmp(type, "image") == 0 && OJ->get(config, "keep") != NULL) {
        pu_diagf(call, "keep", "keep counts the generations of a built image: it needs build:");
        error = INFRA_EINVALID;
    }
    if ((v = OJ->get(config, "tags")) != NULL && !os_json_unknown(v)) {
        char **tags = os_strv_new();
        CHECK(os_tags_user(call, v, &tags));
        os_strv_free(tags);
    }
    if (strcmp(type, "subnet") == 0 && (s = os_json_known_str(config, "cidr")) != NULL &&
        !os_is_cidr(s)) {
        pu_diagf(call, "cidr", "\"%s\" is not an address range a.b.c.d/n (or IPv6)", s);
        error = INFRA_EINVALID;
    }
    if (strcmp(type, "subnet") == 0 && (s = os_json_known_str(config, "gateway")) != NULL &&
        strcmp(s, "none") != 0 && !os_is_ipv4(s) && !os_is_ipv6(s)) {
        pu_diagf(call, "gateway", "gateway is an address or \"none\"");
        error = INFRA_EINVALID;
    }
    if (strcmp(type, "firewall") == 0) {
        const infra_json *allow = OJ->get(config, "allow"), *in = OJ->get(config, "ingress"),
                         *out = OJ->get(config, "egress");
        if (!os_json_unknown(allow) && !os_json_unknown(in) && !os_json_unknown(out)) {
            os_rule *rules = NULL;
            size_t n = 0;
            CHECK(os_rules_parse(call, allow, in, out, &rules, &n));
            free(rules);
        }
    }
    if (strcmp(type, "subnet") == 0) {
        static const char *const pool_keys[] = {"start", "end", NULL};
        CHECK(pu_check_list_keys(call, "openstack", config, "allocation_pools", pool_keys));
    }
    if (strcmp(type, "load_balancer") == 0) {
        static const char *const listener_keys[] = {"port", "protocol", "backend_port",
                                                    "instance_port", NULL};
        CHECK(pu_check_list_keys(call, "openstack", config, "listeners", listener_keys));
    }
    if (strcmp(type, "key_pair") == 0) {
        static const char *const keys[] = {"public_key", "public_key_file", NULL};
        CHECK(one_of(call, type, config, keys, "an OpenSSH public key, or its file"));
    }
    if (strcmp(type, "instance") == 0) {
        static const char *const sizes[] = {"size", "machine", "flavor", NULL};
        CHECK(one_of(call, type, config, sizes, "a flavor such as s1-2 or b2-7"));
        if ((s = os_json_known_str(config, "user_data")) != NULL && strlen(s) > 49149) {
            pu_diagf(call, "user_data", "user_data is limited to 64 KB once base64-encoded");
            error = INFRA_EINVALID;
        }
        if (!present(config, "subnet") && !present(config, "network") &&
            !present(config, "networks") && !present(config, "ports")) {
            pu_diagf(call, "subnet",
                     "an openstack instance needs subnet, network, networks or ports");
            error = INFRA_EINVALID;
        }
    }
    if (strcmp(type, "floating_ip") == 0 && present(config, "port") &&
        present(config, "instance")) {
        pu_diagf(call, "instance", "give port or instance, not both");
        error = INFRA_EINVALID;
    }
    if (strcmp(type, "load_balancer") == 0) {
        if (!present(config, "subnet") && !present(config, "subnets")) {
            pu_diagf(call, "subnet", "a load balancer needs subnet: the subnet of its VIP");
            error = INFRA_EINVALID;
        }
        /* A balancer has one VIP: a second subnet would go unused. */
        if ((v = OJ->get(config, "subnets")) != NULL &&
            ((OJ->type(v) == INFRA_JSON_ARRAY && OJ->length(v) > 1) || present(config, "subnet"))) {
            pu_diagf(call, "subnets",
                     "a load balancer has one VIP subnet: give subnet, or subnets with one id; "
                     "more are not supported by the openstack provider");
            error = INFRA_EINVALID;
        }
        if (!present(config, "listen") && !present(config, "listeners")) {
            pu_diagf(call, "listen", "a load balancer needs listen (ports) or listeners");
            error = INFRA_EINVALID;
        }
        if ((s = os_json_known_str(config, "health")) != NULL) {
            const char *colon = strchr(s, ':');
            size_t n = colon ? (size_t)(colon - s) : 0;
            if (colon == NULL ||
                !((n == 4 && strncmp(s, "http", 4) == 0) ||
                  (n == 5 && strncmp(s, "https", 5) == 0) ||
                  (n == 3 && strncmp(s, "tcp", 3) == 0)) ||
                atol(colon + 1) < 1 || atol(colon + 1) > 65535) {
                pu_diagf(call, "health", "health must be \"http:PORT/PATH\" or \"tcp:PORT\"");
                error = INFRA_EINVALID;
            }
        }
        if ((s = os_json_known_str(config, "algorithm")) != NULL && strcmp(s, "ROUND_ROBIN") != 0 &&
            strcmp(s, "LEAST_CONNECTIONS") != 0 && strcmp(s, "SOURCE_IP") != 0) {
            pu_diagf(call, "algorithm", "algorithm is ROUND_ROBIN, LEAST_CONNECTIONS or SOURCE_IP");
            error = INFRA_EINVALID;
        }
        CHECK(check_int_range(call, config, "health_interval", 1, 3600));
        CHECK(check_int_range(call, config, "health_timeout", 1, 3600));
        CHECK(check_int_range(call, config, "healthy_threshold", 1, 10));
        CHECK(check_int_range(call, config, "unhealthy_threshold", 1, 10));
        CHECK(check_int_range(call, config, "backend_port", 1, 65535));
    }
    if (strcmp(type, "dns_record") == 0) {
        static const char *const known[] = {"A",   "AAAA", "CNAME", "TXT", "MX",
                                            "SRV", "NS",   "PTR",   "CAA", NULL};
        if ((s = os_json_known_str(config, "type")) != NULL) {
            int ok = 0;
            for (size_t i = 0; known[i] != NULL; i++)
                ok = ok || strcmp(s, known[i]) == 0;
            if (!ok) {
                pu_diagf(call, "type", "type must be A, AAAA, CNAME, TXT, MX, SRV, NS, PTR or CAA");
                error = INFRA_EINVALID;
            }
        }
        CHECK(check_int_range(call, config, "ttl", 1, 2147483647));
        if ((v = OJ->get(config, "target")) != NULL && !os_json_unknown(v) &&
            OJ->type(v) != INFRA_JSON_STRING && OJ->type(v) != INFRA_JSON_ARRAY) {
            pu_diagf(call, "target", "target must be a value or a list of values");
            error = INFRA_EINVALID;
        }
    }
#undef CHECK
    return error;
}

int os_validate(infra_call *call, const char *type, const infra_json *config)
{
    const pu_type *t = pu_type_find(&os_schema_table, type);
    if (t == NULL) {
        pu_diagf(call, "", "the openstack provider has no resource type \"%s\" (it has %s)",
                 type ? type : "", os_type_names());
        return INFRA_ENOTSUP;
    }
    if (config == NULL || OJ->type(config) != INFRA_JSON_OBJECT)
        return pu_check_attrs(call, &os_schema_table, t, config, 0);
    int error = pu_check_attrs(call, &os_schema_table, t, config, 0);
    if (check_values(call, type, config) < 0)
        error = INFRA_EINVALID;
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
    OJ->remove(plan, key);
    return 0;
}

int os_plan(infra_provider *self, infra_call *call, const char *type, const infra_json *prior,
            const infra_json *desired, infra_json **planned, infra_json **requires_replace)
{
    const pu_type *t = NULL;
    infra_json *plan = NULL, *replace = NULL;
    int error = pu_plan_begin(call, &os_schema_table, type, desired, &t, &plan, &replace);

    if (error < 0)
        goto done;
    if (desired == NULL)
        goto out;
    for (size_t i = 0; prior != NULL && i < t->nattrs; i++) {
        const pu_attr *a = &t->attrs[i];
        const infra_json *old = OJ->get(prior, a->name);
        if (OJ->get(plan, a->name) != NULL || old == NULL)
            continue;
        if ((a->flags & (C | OC)) && (error = pu_json_set_copy(plan, a->name, old)) < 0)
            goto done;
    }
    if (strcmp(type, "image") == 0 && os_bake_is_build(desired)) {
        if ((error = os_bake_plan(self, call, prior, plan)) < 0)
            goto done;
        goto out;
    }
    /* Computed values an update changes are not known before it runs. */
    if (prior != NULL && strcmp(type, "load_balancer") == 0) {
        const infra_json *x = OJ->get(desired, "targets"), *y = OJ->get(prior, "targets");
        if (((x == NULL) != (y == NULL) || (x != NULL && !OJ->equal(x, y))) &&
            (error = set_unknown(plan, "members")) < 0)
            goto done;
    }
    if (prior != NULL && strcmp(type, "floating_ip") == 0) {
        const infra_json *x = OJ->get(desired, "port"), *y = OJ->get(prior, "port");
        const infra_json *u = OJ->get(desired, "instance"), *w = OJ->get(prior, "instance");
        if ((((x == NULL) != (y == NULL) || (x != NULL && !OJ->equal(x, y))) ||
             ((u == NULL) != (w == NULL) || (u != NULL && !OJ->equal(u, w)))) &&
            ((error = set_unknown(plan, "port_id")) < 0 ||
             (error = set_unknown(plan, "fixed_ip")) < 0))
            goto done;
    }
    if (strcmp(type, "instance") == 0) {
        if (pu_json_str(plan, "ssh_user") == NULL && OJ->get(plan, "ssh_user") == NULL &&
            (error = pu_json_set_str(plan, "ssh_user", "root")) < 0)
            goto done;
        if ((error = pu_json_set_int(plan, "ssh_port", 22)) < 0)
            goto done;
    }
out:
    *planned = plan;
    *requires_replace = replace;
    plan = replace = NULL;
done:
    OJ->release(plan);
    OJ->release(replace);
    return error;
}
