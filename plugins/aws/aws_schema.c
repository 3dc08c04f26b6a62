/* The aws provider's schema: settings, resource types and their
 * attributes; validate() (offline checks) and plan(). */
#include "aws_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_bake.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define R PU_ATTR_REQUIRED
#define C PU_ATTR_COMPUTED
#define FN PU_ATTR_FORCE_NEW
#define OC PU_ATTR_OPTIONAL_COMPUTED

/* Rows several types share, each kept where its tables list it. */
/* clang-format off */
/* The Name tag and the user's other tags of an EC2 object. */
#define NAME_TAGS_ATTRS {"name", "string", 0, "Name tag"}, {"tags", "map", 0, "more tags"}
/* The VPC an EC2 object lives in, under either key. */
#define VPC_ATTRS(description) \
    {"network", "string", FN, description}, {"vpc", "string", FN, "same as network"}
/* An instance type under its three names. */
#define SIZE_ATTRS(flags, description) \
    {"size", "string", flags, description}, {"machine", "string", flags, "same as size"}, \
    {"instance_type", "string", flags, "same as size"}
/* clang-format on */

static const pu_attr settings_attrs[] = {
    {"region", "string", 0,
     "AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region)"},
    {"profile", "string", 0,
     "profile of ~/.aws/credentials and ~/.aws/config to use (default: AWS_PROFILE, then "
     "\"default\"; the environment's keys win unless this is set)"},
    {"endpoint", "string", 0, "one URL for every service (tests, proxies)"},
    {"endpoints", "map", 0, "URL per service: {ec2, elb, autoscaling, route53}"},
};

static const pu_attr network_attrs[] = {
    {"id", "string", C, "VPC id"},
    {"cidr", "string", R | FN, "IPv4 range of the VPC, /16 to /28"},
    NAME_TAGS_ATTRS,
};

static const pu_attr subnet_attrs[] = {
    {"id", "string", C, "subnet id"},
    VPC_ATTRS("VPC id (\"${network.NAME.id}\")"),
    {"cidr", "string", R | FN, "IPv4 range inside the VPC's"},
    {"availability_zone", "string", OC | FN, "zone (default: the region's first)"},
    {"public", "bool", 0, "instances get a public address (MapPublicIpOnLaunch)"},
    NAME_TAGS_ATTRS,
};

static const pu_attr internet_gateway_attrs[] = {
    {"id", "string", C, "internet gateway id"},
    VPC_ATTRS("VPC id it is attached to"),
    NAME_TAGS_ATTRS,
};

static const pu_attr nat_gateway_attrs[] = {
    {"id", "string", C, "NAT gateway id"},
    {"subnet", "string", R | FN, "public subnet it lives in"},
    NAME_TAGS_ATTRS,
    {"allocation_id", "string", C, "its Elastic IP, allocated and released with it"},
    {"public_ip", "string", C, "address of the Elastic IP"},
    {"network", "string", C, "VPC id"},
};

static const pu_attr route_table_attrs[] = {
    {"id", "string", C, "route table id"},
    VPC_ATTRS("VPC id"),
    {"routes", "list", 0, "[{cidr, gateway | nat_gateway | instance}]"},
    {"subnets", "list", 0, "subnet ids associated with the table"},
    NAME_TAGS_ATTRS,
    {"associations", "map", C, "association id of each subnet"},
};

static const pu_attr firewall_attrs[] = {
    {"id", "string", C, "security group id"},
    VPC_ATTRS("VPC id"),
    {"name", "string", OC | FN, "group name (default: derived from the address)"},
    {"description", "string", FN, "group description"},
    {"allow", "list", 0,
     "ingress: a port, \"FROM-TO\", or {port, proto: tcp|udp|icmp|all, from: CIDR|any|sg-id}"},
    {"ingress", "list", 0, "ingress rules {from_port, to_port, protocol, cidr | security_group}"},
    {"egress", "list", 0,
     "egress rules like ingress; when absent the group keeps AWS's allow-all egress"},
    {"tags", "map", 0, "more tags"},
};

static const pu_attr key_pair_attrs[] = {
    {"id", "string", C, "key pair id"},
    {"name", "string", OC | FN, "key name (default: derived from the address)"},
    {"public_key", "string", FN, "OpenSSH public key text"},
    {"public_key_file", "string", FN, "path of an OpenSSH public key file"},
    {"tags", "map", 0, "more tags"},
    {"fingerprint", "string", C, "fingerprint EC2 computed"},
};

static const pu_attr instance_attrs[] = {
    {"id", "string", C, "instance id"},
    {"image", "string", R | FN, "AMI id, or a name pattern among the account's images"},
    SIZE_ATTRS(FN, "instance type (t3.micro, ...)"),
    {"subnet", "string", FN, "subnet id"},
    {"firewalls", "list", 0, "security group ids"},
    {"key_pair", "string", FN, "key pair name"},
    {"user_data", "string", FN, "cloud-init user data (sent base64)"},
    {"ssh_host_key", "string", FN,
     "generate (default): a host key infra derives, given in the user data, its fingerprint "
     "known before boot; console: the instance's own, its fingerprint read from the console"},
    {"public_ip", "any", 0,
     "true/false: ask for a public address (default: the subnet's setting); then its address"},
    {"source_dest_check", "bool", 0,
     "false: the instance forwards traffic not addressed to it (a NAT instance, a router); "
     "default true"},
    NAME_TAGS_ATTRS,
    {"ssh_user", "string", OC, "login user (default root)"},
    {"ssh_private_key", "string", 0, "path of the private key that logs in (passed through)"},
    {"role", "string", 0, "cluster node role (a tag)"},
    {"cluster", "string", 0, "cluster name (a tag)"},
    {"region", "string", 0, "cluster region (a tag)"},
    {"datacenter", "string", 0, "cluster datacenter (a tag)"},
    {"availability_zone", "string", OC | FN, "zone (default: the subnet's)"},
    {"private_ip", "string", C, "private address"},
    {"private_dns", "string", C, "private DNS name"},
    {"public_dns", "string", C, "public DNS name, or null"},
    {"state", "string", C, "EC2 state"},
    {"network", "string", C, "VPC id"},
    {"ssh_port", "integer", C, "22"},
    {"ssh_host_key_fingerprint", "string", C,
     "SHA256 fingerprint of the host key (the one infra gave, or the console's), or null"},
    {"associate_public_ip", "bool", C, "what was asked of public_ip at launch"},
};

static const pu_attr image_attrs[] = {
    {"owners", "list", 0, "account ids, \"self\" or \"amazon\" (default [self]); a lookup"},
    {"name", "string", 0,
     "a lookup: name pattern (* and ?), the newest match wins; a build: the AMI names' prefix"},
    {"architecture", "string", 0, "x86_64 or arm64; a lookup"},
    {"build", "map", 0,
     "make the image: {base, size, subnet, firewalls, public_ip, user, key_pair, private_key, "
     "steps} (docs/images.md)"},
    {"keep", "integer", 0, "generations of a built image kept (default 3)"},
    {"tags", "map", 0, "more tags of a built image"},
    {"id", "string", C, "AMI id"},
    {"creation_date", "string", C, "when the image was made"},
    {"owner_id", "string", C, "account that owns it"},
    {"image_name", "string", C, "AMI name of a built image: NAME-HASH"},
    {"build_hash", "string", C, "SHA-256 of the base image id and the steps (a built image)"},
    {"base_id", "string", C, "the base AMI a built image was made from"},
    {"generations", "list", C, "AMI ids of the generations kept, newest first"},
    {"build_instance", "string", C,
     "a build instance an interrupted create left (found by its token; its delete terminates it)"},
};

static const pu_attr load_balancer_attrs[] = {
    {"id", "string", C, "load balancer name"},
    {"name", "string", OC | FN, "name, at most 32 of A-Za-z0-9- (default: from the token)"},
    {"subnets", "list", 0, "subnet ids"},
    {"firewalls", "list", 0, "security group ids"},
    {"listen", "list", 0, "ports to listen on"},
    {"backend_port", "integer", 0, "instance port for listen (default: the same)"},
    {"listeners", "list", 0, "[{port, protocol, instance_port, instance_protocol}]"},
    {"health", "string", 0, "health check: \"http:PORT/PATH\" or \"tcp:PORT\""},
    {"health_interval", "integer", 0, "seconds between checks (default 10)"},
    {"health_timeout", "integer", 0, "seconds a check may take (default 5)"},
    {"healthy_threshold", "integer", 0, "successes to be InService (default 2)"},
    {"unhealthy_threshold", "integer", 0, "failures to be OutOfService (default 2)"},
    {"targets", "list", 0, "instance ids (or their private addresses)"},
    {"internal", "bool", FN, "internal scheme"},
    {"connection_draining", "map", 0,
     "{enabled, timeout}: a deregistered instance's open connections get timeout seconds"},
    {"tags", "map", 0, "more tags"},
    {"dns_name", "string", C, "DNS name of the balancer"},
    {"zone_id", "string", C, "hosted zone of its DNS name (for alias records)"},
    {"instances", "list", C, "registered instance ids"},
};

static const pu_attr launch_template_attrs[] = {
    {"id", "string", C, "launch template id"},
    {"name", "string", OC | FN, "template name (default: from the token)"},
    {"image", "string", R, "AMI id, or a name pattern among the account's images"},
    SIZE_ATTRS(0, "instance type"),
    {"firewalls", "list", 0, "security group ids"},
    {"key_pair", "string", 0, "key pair name"},
    {"user_data", "string", 0, "cloud-init user data"},
    {"instance_profile", "string", 0, "IAM instance profile of the instances: ARN or name"},
    {"tags", "map", 0, "tags of the template and of the instances it launches"},
    {"latest_version", "string", C, "newest version (a change of the data adds one)"},
    {"image_id", "string", C, "AMI id of the newest version"},
};

static const pu_attr autoscaling_group_attrs[] = {
    {"id", "string", C, "name of the current group"},
    {"name", "string", C, "same as id; a replacement gets a new name"},
    {"launch_template", "string", R, "launch template id"},
    {"version", "string", 0, "template version (default $Latest); a change replaces the group"},
    {"subnets", "list", R, "subnet ids"},
    {"min", "integer", R, "minimum size"},
    {"max", "integer", R, "maximum size"},
    {"desired", "integer", 0, "desired capacity (default min)"},
    {"load_balancers", "list", 0, "Classic load balancer names"},
    {"health_check_type", "string", 0, "EC2 or ELB (default: ELB with load_balancers)"},
    {"health_check_grace_period", "integer", 0, "seconds (default 60)"},
    {"replace_deadline", "integer", 0,
     "seconds a replacement group has to be InService (default 600)"},
    {"tags", "map", 0, "tags of the group and its instances"},
    {"generation", "integer", C, "how many replacements made the current group"},
    {"instances", "list", C, "instance ids of the group"},
    {"instance_addresses", "list", C,
     "[{id, private_ip}] of its running instances (with scheduler_pool)"},
    {"scheduler_pool", "bool", 0,
     "runs a scheduler's client pool (set by the cluster): instance_addresses listed"},
    {"terminate_first", "list", 0,
     "instance ids a scale-in terminates (drained first; set by a scheduler's client pool)"},
};

static const pu_attr dns_record_attrs[] = {
    {"id", "string", C, "ZONEID/FQDN/TYPE"},
    {"zone", "string", R | FN, "hosted zone name (example.org)"},
    {"name", "string", R | FN, "name inside the zone (\"www\", \"*.app\", \"@\") or absolute"},
    {"type", "string", OC | FN, "A, AAAA, CNAME or TXT (default: A for addresses, else CNAME)"},
    {"target", "any", R, "a value or a list; a load balancer's dns_name with alias: true"},
    {"ttl", "integer", 0, "seconds (default 300)"},
    {"alias", "bool", 0, "an alias record to the load balancer named by target"},
    {"alias_zone_id", "string", 0, "hosted zone of the alias target (default: looked up)"},
    {"allow_overwrite", "bool", 0, "take over a record that already exists"},
    {"fqdn", "string", C, "the absolute name, without the final dot"},
    {"zone_id", "string", C, "hosted zone id"},
};

static const pu_type types[] = {
    {"network", network_attrs, N_ELEMS(network_attrs), 0},
    {"subnet", subnet_attrs, N_ELEMS(subnet_attrs), 0},
    {"internet_gateway", internet_gateway_attrs, N_ELEMS(internet_gateway_attrs), 0},
    {"nat_gateway", nat_gateway_attrs, N_ELEMS(nat_gateway_attrs), 0},
    {"route_table", route_table_attrs, N_ELEMS(route_table_attrs), 0},
    {"firewall", firewall_attrs, N_ELEMS(firewall_attrs), 0},
    {"key_pair", key_pair_attrs, N_ELEMS(key_pair_attrs), 0},
    {"instance", instance_attrs, N_ELEMS(instance_attrs), 0},
    {"image", image_attrs, N_ELEMS(image_attrs), 1},
    {"load_balancer", load_balancer_attrs, N_ELEMS(load_balancer_attrs), 0},
    {"launch_template", launch_template_attrs, N_ELEMS(launch_template_attrs), 0},
    {"autoscaling_group", autoscaling_group_attrs, N_ELEMS(autoscaling_group_attrs), 0},
    {"dns_record", dns_record_attrs, N_ELEMS(dns_record_attrs), 0},
};

static const pu_type settings_type = {"settings", settings_attrs, N_ELEMS(settings_attrs), 0};

const pu_schema aws_schema_table = {"aws",    &settings_type, types, N_ELEMS(types),
                                    "an aws", "an aws",       0};

const char *aws_type_names(void)
{
    return "network, subnet, internet_gateway, nat_gateway, route_table, firewall, key_pair, "
           "instance, image, load_balancer, launch_template, autoscaling_group, dns_record";
}

int aws_schema(infra_call *call, infra_json **out)
{
    (void)call;
    return pu_schema_build(&aws_schema_table, out);
}

/* ------------------------------------------------------------------ */
/* Value checks                                                       */

/* The string value of key, or NULL (missing, not a string, unknown). */
static const char *known_str(const infra_json *config, const char *key)
{
    return pu_json_str(config, key);
}

static int need_one_of(infra_call *call, const char *type, const infra_json *config, const char *a,
                       const char *b)
{
    int has_a = AJ->get(config, a) != NULL, has_b = AJ->get(config, b) != NULL;
    if (!has_a && !has_b) {
        pu_diagf(call, a, "an aws %s needs \"%s\" (or \"%s\")", type, a, b);
        return INFRA_EINVALID;
    }
    if (has_a && has_b) {
        pu_diagf(call, b, "give either \"%s\" or \"%s\", not both", a, b);
        return INFRA_EINVALID;
    }
    return 0;
}

static int check_cidr(infra_call *call, const infra_json *config, int min_len, int max_len)
{
    const char *s = known_str(config, "cidr");
    if (s == NULL)
        return 0;
    const char *slash = strchr(s, '/');
    int len = slash ? atoi(slash + 1) : -1;
    if (!aws_is_cidr(s) || len < min_len || len > max_len) {
        pu_diagf(call, "cidr", "\"%s\" is not an IPv4 range a.b.c.d/n with n from %d to %d", s,
                 min_len, max_len);
        return INFRA_EINVALID;
    }
    return 0;
}

static int check_int_range(infra_call *call, const infra_json *config, const char *key, long lo,
                           long hi)
{
    const infra_json *v = AJ->get(config, key);
    long n;
    if (v == NULL || pu_is_unknown(v))
        return 0;
    if (pu_json_to_int(v, &n) < 0 || n < lo || n > hi) {
        pu_diagf(call, key, "%s must be a number from %ld to %ld", key, lo, hi);
        return INFRA_EINVALID;
    }
    return 0;
}

static int name_chars_ok(const char *s, const char *extra)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr(extra, *s) != NULL))
            return 0;
    return 1;
}

static int check_routes(infra_call *call, const infra_json *routes)
{
    static const char *const keys[] = {"cidr", "gateway", "nat_gateway", "instance", NULL};
    int error = 0;
    if (routes == NULL || pu_is_unknown(routes) || AJ->type(routes) != INFRA_JSON_ARRAY)
        return 0;
    /* The keys are known at validate even where the values are not: a
     * route with a key no call sends, or without its one target, never
     * gets past here. */
    for (size_t i = 0; i < AJ->length(routes); i++) {
        const infra_json *r = AJ->at(routes, i);
        char attr[32];
        snprintf(attr, sizeof(attr), "routes[%zu]", i);
        if (pu_is_unknown(r))
            continue;
        const infra_json *cidr = AJ->get(r, "cidr");
        int ntargets = 0;
        for (size_t k = 1; keys[k] != NULL; k++)
            ntargets += AJ->get(r, keys[k]) != NULL;
        if (AJ->type(r) != INFRA_JSON_OBJECT || cidr == NULL || ntargets != 1 ||
            (!pu_is_unknown(cidr) && !aws_is_cidr(pu_json_str(r, "cidr")))) {
            pu_diagf(call, attr,
                     "a route is {cidr: a.b.c.d/n, gateway: igw-... | nat_gateway: nat-... | "
                     "instance: i-...}");
            error = INFRA_EINVALID;
        }
        if (pu_check_keys(call, "aws", attr, r, keys) < 0)
            error = INFRA_EINVALID;
    }
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

    if (strcmp(type, "network") == 0)
        CHECK(check_cidr(call, config, 16, 28));
    if (strcmp(type, "subnet") == 0) {
        CHECK(check_cidr(call, config, 16, 28));
        CHECK(need_one_of(call, type, config, "network", "vpc"));
    }
    if (strcmp(type, "internet_gateway") == 0 || strcmp(type, "firewall") == 0 ||
        strcmp(type, "route_table") == 0)
        CHECK(need_one_of(call, type, config, "network", "vpc"));
    if (strcmp(type, "route_table") == 0)
        CHECK(check_routes(call, AJ->get(config, "routes")));
    if (strcmp(type, "firewall") == 0) {
        const infra_json *allow = AJ->get(config, "allow"), *ingress = AJ->get(config, "ingress"),
                         *egress = AJ->get(config, "egress");
        aws_rule *rules = NULL;
        size_t n = 0;
        if (!pu_json_has_unknown(allow) && !pu_json_has_unknown(ingress)) {
            CHECK(aws_rules_parse(call, allow, ingress, "ingress", &rules, &n));
            free(rules);
            rules = NULL;
        }
        if (egress != NULL && !pu_json_has_unknown(egress)) {
            CHECK(aws_rules_parse(call, NULL, egress, "egress", &rules, &n));
            free(rules);
        }
        if ((s = known_str(config, "name")) != NULL &&
            (strlen(s) > 255 || strncmp(s, "sg-", 3) == 0)) {
            pu_diagf(call, "name",
                     "a group name has at most 255 characters and does not start "
                     "with sg-");
            error = INFRA_EINVALID;
        }
    }
    if (strcmp(type, "key_pair") == 0)
        CHECK(need_one_of(call, type, config, "public_key", "public_key_file"));
    if (strcmp(type, "instance") == 0 || strcmp(type, "launch_template") == 0) {
        int sizes = (AJ->get(config, "size") != NULL) + (AJ->get(config, "machine") != NULL) +
                    (AJ->get(config, "instance_type") != NULL);
        if (sizes == 0) {
            pu_diagf(call, "size", "an aws %s needs size (an instance type such as t3.micro)",
                     type);
            error = INFRA_EINVALID;
        } else if (sizes > 1) {
            pu_diagf(call, "size", "size, machine and instance_type are the same: give one");
            error = INFRA_EINVALID;
        }
        if (strcmp(type, "instance") == 0 && (s = known_str(config, "ssh_host_key")) != NULL &&
            strcmp(s, "generate") != 0 && strcmp(s, "console") != 0) {
            pu_diagf(call, "ssh_host_key", "ssh_host_key is generate or console");
            error = INFRA_EINVALID;
        }
        if ((s = known_str(config, "user_data")) != NULL && strlen(s) > 12288) {
            pu_diagf(call, "user_data", "user_data is limited to 16 KB once base64-encoded");
            error = INFRA_EINVALID;
        }
        if ((v = AJ->get(config, "public_ip")) != NULL && AJ->type(v) != INFRA_JSON_BOOL &&
            !pu_is_unknown(v)) {
            int b;
            if (pu_json_to_bool(v, &b) < 0) {
                pu_diagf(call, "public_ip", "public_ip must be true or false");
                error = INFRA_EINVALID;
            }
        }
    }
    if (strcmp(type, "launch_template") == 0 && (s = known_str(config, "name")) != NULL &&
        (strlen(s) < 3 || strlen(s) > 128 || !name_chars_ok(s, "().-/_"))) {
        pu_diagf(call, "name", "a launch template name has 3 to 128 of A-Za-z0-9().-/_");
        error = INFRA_EINVALID;
    }
    if (strcmp(type, "load_balancer") == 0) {
        if ((s = known_str(config, "name")) != NULL &&
            (strlen(s) == 0 || strlen(s) > 32 || !name_chars_ok(s, "-") || s[0] == '-' ||
             s[strlen(s) - 1] == '-')) {
            pu_diagf(call, "name",
                     "a load balancer name has 1 to 32 of A-Za-z0-9 and '-', not "
                     "at either end");
            error = INFRA_EINVALID;
        }
        if (!pu_json_has_unknown(AJ->get(config, "listen")) &&
            !pu_json_has_unknown(AJ->get(config, "listeners")) &&
            !pu_json_has_unknown(AJ->get(config, "backend_port"))) {
            aws_listener *l = NULL;
            size_t n = 0;
            CHECK(aws_listeners_parse(call, config, &l, &n));
            free(l);
        }
        if ((s = known_str(config, "health")) != NULL) {
            char *t = aws_health_target(s);
            if (t == NULL) {
                pu_diagf(call, "health", "health must be \"http:PORT/PATH\" or \"tcp:PORT\"");
                error = INFRA_EINVALID;
            }
            free(t);
        }
        if ((v = AJ->get(config, "subnets")) == NULL ||
            (AJ->type(v) == INFRA_JSON_ARRAY && AJ->length(v) == 0)) {
            pu_diagf(call, "subnets", "a load balancer needs subnets: the subnets it serves");
            error = INFRA_EINVALID;
        }
        if (!pu_json_has_unknown(AJ->get(config, "connection_draining"))) {
            aws_draining d;
            CHECK(aws_lb_draining(call, config, &d));
        }
        CHECK(check_int_range(call, config, "health_interval", 5, 300));
        CHECK(check_int_range(call, config, "health_timeout", 2, 60));
        CHECK(check_int_range(call, config, "healthy_threshold", 2, 10));
        CHECK(check_int_range(call, config, "unhealthy_threshold", 2, 10));
        CHECK(check_int_range(call, config, "backend_port", 1, 65535));
    }
    if (strcmp(type, "autoscaling_group") == 0) {
        long mn = 0, mx = 0, want = 0;
        CHECK(check_int_range(call, config, "min", 0, 10000));
        CHECK(check_int_range(call, config, "max", 0, 10000));
        CHECK(check_int_range(call, config, "desired", 0, 10000));
        CHECK(check_int_range(call, config, "health_check_grace_period", 0, 7200));
        CHECK(check_int_range(call, config, "replace_deadline", 10, 86400));
        if (pu_json_to_int(AJ->get(config, "min"), &mn) == 0 &&
            pu_json_to_int(AJ->get(config, "max"), &mx) == 0) {
            if (mn > mx) {
                pu_diagf(call, "min", "min (%ld) is more than max (%ld)", mn, mx);
                error = INFRA_EINVALID;
            }
            if (pu_json_to_int(AJ->get(config, "desired"), &want) == 0 &&
                (want < mn || want > mx)) {
                pu_diagf(call, "desired", "desired (%ld) must be from min (%ld) to max (%ld)", want,
                         mn, mx);
                error = INFRA_EINVALID;
            }
        }
        if ((s = known_str(config, "health_check_type")) != NULL && strcmp(s, "EC2") != 0 &&
            strcmp(s, "ELB") != 0) {
            pu_diagf(call, "health_check_type", "health_check_type must be EC2 or ELB");
            error = INFRA_EINVALID;
        }
    }
    if (strcmp(type, "dns_record") == 0) {
        if ((s = known_str(config, "type")) != NULL && strcmp(s, "A") != 0 &&
            strcmp(s, "AAAA") != 0 && strcmp(s, "CNAME") != 0 && strcmp(s, "TXT") != 0) {
            pu_diagf(call, "type", "type must be A, AAAA, CNAME or TXT");
            error = INFRA_EINVALID;
        }
        int alias = 0;
        if ((v = AJ->get(config, "alias")) != NULL && pu_json_to_bool(v, &alias) == 0 && alias &&
            (s = known_str(config, "type")) != NULL && strcmp(s, "A") != 0 &&
            strcmp(s, "AAAA") != 0) {
            pu_diagf(call, "alias", "an alias record has type A or AAAA");
            error = INFRA_EINVALID;
        }
        CHECK(check_int_range(call, config, "ttl", 0, 2147483647));
        if ((v = AJ->get(config, "target")) != NULL && AJ->type(v) != INFRA_JSON_STRING &&
            AJ->type(v) != INFRA_JSON_ARRAY && !pu_is_unknown(v)) {
            pu_diagf(call, "target", "target must be a value or a list of values");
            error = INFRA_EINVALID;
        }
    }
#undef CHECK
    return error;
}

int aws_validate(infra_call *call, const char *type, const infra_json *config)
{
    const pu_type *t = pu_type_find(&aws_schema_table, type);
    if (t == NULL) {
        pu_diagf(call, "", "the aws provider has no resource type \"%s\" (it has %s)",
                 type ? type : "", aws_type_names());
        return INFRA_ENOTSUP;
    }
    int error = pu_check_attrs(call, &aws_schema_table, t, config, 0);
    if (config != NULL && AJ->type(config) == INFRA_JSON_OBJECT &&
        check_values(call, type, config) < 0)
        error = INFRA_EINVALID;
    if (config != NULL && AJ->type(config) == INFRA_JSON_OBJECT && strcmp(type, "image") == 0 &&
        aws_bake_validate(call, config) < 0)
        error = INFRA_EINVALID;
    return error;
}

/* ------------------------------------------------------------------ */
/* Plan                                                               */

int aws_plan(infra_provider *self, infra_call *call, const char *type, const infra_json *prior,
             const infra_json *desired, infra_json **planned, infra_json **requires_replace)
{
    const pu_type *t = NULL;
    infra_json *plan = NULL, *replace = NULL;
    int error = pu_plan_begin(call, &aws_schema_table, type, desired, &t, &plan, &replace);

    if (error < 0)
        goto done;
    if (desired == NULL)
        goto out;
    for (size_t i = 0; prior != NULL && i < t->nattrs; i++) {
        const pu_attr *a = &t->attrs[i];
        const infra_json *old = AJ->get(prior, a->name);
        if (AJ->get(plan, a->name) != NULL || old == NULL)
            continue;
        if ((a->flags & (C | OC)) && (error = pu_json_set_copy(plan, a->name, old)) < 0)
            goto done;
    }
    /* Computed values an update changes are not known before it runs:
     * unknown in the plan, so that what refers to them waits for them. */
    if (prior != NULL) {
        static const struct {
            const char *type;
            const char *inputs;   /* space-separated: a change of one ... */
            const char *computed; /* ... makes these unknown */
        } volatile_attrs[] = {
            {"launch_template",
             "image size machine instance_type firewalls key_pair user_data tags",
             "latest_version image_id"},
            {"autoscaling_group", "launch_template version",
             "id name generation instances instance_addresses"},
            {"autoscaling_group", "min max desired", "instances instance_addresses"},
            {"load_balancer", "targets", "instances"},
        };
        for (size_t i = 0; i < sizeof(volatile_attrs) / sizeof(volatile_attrs[0]); i++) {
            if (strcmp(type, volatile_attrs[i].type) != 0)
                continue;
            int changed = 0;
            char names[160];
            snprintf(names, sizeof(names), "%s", volatile_attrs[i].inputs);
            for (char *save = NULL, *k = strtok_r(names, " ", &save); k && !changed;
                 k = strtok_r(NULL, " ", &save)) {
                const infra_json *x = AJ->get(desired, k), *y = AJ->get(prior, k);
                changed = (x == NULL) != (y == NULL) || (x != NULL && !AJ->equal(x, y));
            }
            snprintf(names, sizeof(names), "%s", volatile_attrs[i].computed);
            for (char *save = NULL, *k = strtok_r(names, " ", &save); k && changed;
                 k = strtok_r(NULL, " ", &save))
                if ((error = INFRA_HAS_SLOT(AJ, new_unknown) ? AJ->set(plan, k, AJ->new_unknown())
                                                             : (AJ->remove(plan, k), 0)) < 0)
                    goto done;
        }
    }
    if (strcmp(type, "image") == 0 && aws_bake_is_build(desired) &&
        (error = aws_bake_plan(self, call, prior, plan)) < 0)
        goto done;
    /* public_ip is asked as a bool and shown as an address afterwards:
     * what was asked at launch is kept aside to see a change of mind. */
    if (strcmp(type, "instance") == 0) {
        const infra_json *want = AJ->get(desired, "public_ip");
        const infra_json *asked = prior ? AJ->get(prior, "associate_public_ip") : NULL;
        int w = 0, o = 0;
        if (want != NULL && pu_json_to_bool(want, &w) == 0 && asked != NULL &&
            AJ->type(asked) == INFRA_JSON_BOOL && (o = AJ->boolean(asked)) != w &&
            (error = AJ->append(replace, AJ->new_string("public_ip"))) < 0)
            goto done;
        if (pu_json_str(plan, "ssh_user") == NULL &&
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
    AJ->release(plan);
    AJ->release(replace);
    return error;
}
