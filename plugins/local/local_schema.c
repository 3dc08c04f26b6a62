/* The local provider's schema: settings, resource types, their attributes,
 * and the offline checks of validate(). */
#include "local_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define R PU_ATTR_REQUIRED
#define C PU_ATTR_COMPUTED
#define FN PU_ATTR_FORCE_NEW
#define OC PU_ATTR_OPTIONAL_COMPUTED

static const pu_attr settings_attrs[] = {
    {"prefix", "string", 0,
     "short prefix of every kernel object name (default \"inf\", at most 8 of a-z0-9)"},
    {"run_dir", "string", 0,
     "where the provider records what it made (default /var/lib/infra-local)"},
    {"ssh_public_key", "string", 0,
     "public key allowed to log in as root (default ~/.ssh/id_ed25519.pub, id_ecdsa.pub, "
     "id_rsa.pub, else a key generated in RUN_DIR/ssh)"},
};

static const pu_attr network_attrs[] = {
    {"id", "string", C, "network id"},
    {"cidr", "string", R | FN,
     "IPv4 range a.b.c.d/n (n from 8 to 30); the first address "
     "is the gateway on the bridge"},
    {"name", "string", 0, "display name"},
    {"private", "bool", FN,
     "true: the bridge has no address of this machine and the range is unreachable from it "
     "(hosts on it are reached through a bastion)"},
    {"bridge", "string", C, "name of the bridge interface"},
    {"gateway", "string", C, "address of the bridge"},
    {"status", "string", C, "\"ready\", or \"incomplete\" when the bridge is missing"},
};

static const pu_attr instance_attrs[] = {
    {"id", "string", C, "host id"},
    {"network", "string", R | FN, "id of the network (\"${network.NAME.id}\")"},
    {"extra_networks", "list", FN,
     "ids of at most 2 further networks (eth1, eth2), e.g. a bastion's private one"},
    {"image", "string", FN, "informational: hosts share this machine's file system"},
    {"size", "string", 0, "informational"},
    {"user_data", "string", FN,
     "shell script run once after sshd starts; output in /var/log/user-data.log"},
    {"hostname", "string", OC | FN, "host name (default from the resource address)"},
    {"role", "string", 0, "cluster node role"},
    {"cluster", "string", 0, "cluster name"},
    {"region", "string", 0, "cluster region"},
    {"datacenter", "string", 0, "cluster datacenter"},
    {"tags", "map", 0, "free-form labels"},
    {"private_ip", "string", C, "address on the network"},
    {"public_ip", "string", C, "same as private_ip; none on a private network"},
    {"extra_ips", "list", C, "addresses on extra_networks, in their order"},
    {"ssh_user", "string", C, "\"root\""},
    {"ssh_port", "integer", C, "22"},
    {"ssh_host_key_fingerprint", "string", C, "SHA256 fingerprint of sshd's host key"},
    {"ssh_private_key", "string", C, "path of the private key that logs in"},
    {"netns", "string", C, "`ip netns` name of the host"},
    {"sshd", "string", C, "\"running\" or \"stopped\""},
};

static const pu_attr firewall_attrs[] = {
    {"id", "string", C, "firewall id"},
    {"network", "string", R | FN, "id of the network"},
    {"targets", "list", 0, "instance addresses or ids the rules apply to"},
    {"allow", "list", 0,
     "allowed traffic: {port: N | \"LOW-HIGH\", proto: tcp|udp|icmp|all, from: CIDR|any}, or a "
     "bare port or range; icmp and all take no port"},
    {"status", "string", C, "\"ready\", or \"incomplete\" when a target lacks its rules"},
};

static const pu_attr load_balancer_attrs[] = {
    {"id", "string", C, "load balancer id"},
    {"network", "string", R | FN, "id of the network"},
    {"targets", "list", 0, "backend addresses (on the network) or host ids"},
    {"listen", "list", R, "ports to listen on"},
    {"backend_port", "integer", 0, "port of the targets (default: the listen port)"},
    {"health", "string", 0, "health check: \"http:PORT/PATH\" or \"tcp:PORT\""},
    {"address", "string", C, "address of the balancer"},
    {"private_ip", "string", C, "same as address"},
    {"dns_name", "string", C, "name in the hosts file: lb-ID.local"},
    {"netns", "string", C, "`ip netns` name of the balancer"},
    {"haproxy", "string", C, "\"running\" or \"stopped\""},
};

static const pu_attr dns_record_attrs[] = {
    {"id", "string", C, "record id"},
    {"zone", "string", R | FN, "DNS zone"},
    {"name", "string", R | FN, "name inside the zone (\"@\" = the zone itself)"},
    {"target", "string", R, "IPv4 address, or a name this provider knows (dns_name)"},
    {"fqdn", "string", C, "name.zone"},
    {"address", "string", C, "the address the name resolves to"},
    {"status", "string", C, "\"ready\", or \"incomplete\" when missing from the file"},
};

static const pu_type types[] = {
    {"network", network_attrs, N_ELEMS(network_attrs), 0},
    {"instance", instance_attrs, N_ELEMS(instance_attrs), 0},
    {"firewall", firewall_attrs, N_ELEMS(firewall_attrs), 0},
    {"load_balancer", load_balancer_attrs, N_ELEMS(load_balancer_attrs), 0},
    {"dns_record", dns_record_attrs, N_ELEMS(dns_record_attrs), 0},
};

static const pu_type settings_type = {"settings", settings_attrs, N_ELEMS(settings_attrs), 0};

const pu_schema local_schema_table = {
    "local", &settings_type, types, N_ELEMS(types), "a local", "a", 0};

/* The status attributes: what plan asks for, so that drift (a dead sshd,
 * a missing bridge) plans an update that repairs it. */
static const struct {
    const char *type;
    const char *attr;
    const char *target;
} status_targets[] = {
    {"network", "status", "ready"},    {"instance", "sshd", "running"},
    {"firewall", "status", "ready"},   {"load_balancer", "haproxy", "running"},
    {"dns_record", "status", "ready"},
};

const char *local_status_target(const pu_type *t, const char *attr)
{
    for (size_t i = 0; i < N_ELEMS(status_targets); i++)
        if (strcmp(status_targets[i].type, t->name) == 0 &&
            strcmp(status_targets[i].attr, attr) == 0)
            return status_targets[i].target;
    return NULL;
}

int local_schema(infra_call *call, infra_json **out)
{
    (void)call;
    return pu_schema_build(&local_schema_table, out);
}

static int hostname_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '.'))
            return 0;
    return 1;
}

/* The checks of one type beyond the schema; unknown values are skipped
 * (pu_json_str() gives NULL for them). */
static int check_values(infra_call *call, const char *type, const infra_json *config)
{
    int error = 0;
    const char *s;
    const infra_json *v;

    if (strcmp(type, "network") == 0 && (s = pu_json_str(config, "cidr")) != NULL) {
        uint32_t net;
        int len;
        if (local_cidr_parse(s, &net, &len) < 0 || len < 8 || len > 30) {
            pu_diagf(call, "cidr", "\"%s\" is not an IPv4 range a.b.c.d/n with n from 8 to 30", s);
            error = INFRA_EINVALID;
        }
    }
    if (strcmp(type, "instance") == 0 && (s = pu_json_str(config, "hostname")) != NULL &&
        !hostname_valid(s)) {
        pu_diagf(call, "hostname",
                 "\"%s\" is not a host name (letters, digits, '-' and '.', "
                 "at most 63)",
                 s);
        error = INFRA_EINVALID;
    }
    if (strcmp(type, "instance") == 0 && (v = LJ->get(config, "extra_networks")) != NULL &&
        LJ->type(v) == INFRA_JSON_ARRAY) {
        if (LJ->length(v) > LOCAL_EXTRA_NETS) {
            pu_diagf(call, "extra_networks", "an instance is on at most %d further networks",
                     LOCAL_EXTRA_NETS);
            error = INFRA_EINVALID;
        }
        const char *first = pu_json_str(config, "network");
        for (size_t i = 0; i < LJ->length(v); i++) {
            const char *id = LJ->string(LJ->at(v, i));
            int dup = id != NULL && first != NULL && strcmp(id, first) == 0;
            for (size_t j = 0; j < i && id != NULL && !dup; j++)
                dup = LJ->string(LJ->at(v, j)) != NULL && strcmp(id, LJ->string(LJ->at(v, j))) == 0;
            if (dup) {
                char attr[48];
                snprintf(attr, sizeof(attr), "extra_networks[%zu]", i);
                pu_diagf(call, attr, "the instance is on this network already");
                error = INFRA_EINVALID;
            }
        }
    }
    if (strcmp(type, "firewall") == 0 && (v = LJ->get(config, "allow")) != NULL &&
        !pu_json_has_unknown(v) && local_fw_validate_allow(call, v) < 0)
        error = INFRA_EINVALID;
    if (strcmp(type, "load_balancer") == 0) {
        if ((v = LJ->get(config, "listen")) != NULL && !pu_json_has_unknown(v)) {
            long port;
            for (size_t i = 0; LJ->type(v) == INFRA_JSON_ARRAY && i < LJ->length(v); i++) {
                if (pu_json_to_int(LJ->at(v, i), &port) < 0 || port < 1 || port > 65535) {
                    char attr[32];
                    snprintf(attr, sizeof(attr), "listen[%zu]", i);
                    pu_diagf(call, attr, "a port must be a number from 1 to 65535");
                    error = INFRA_EINVALID;
                }
            }
            if (LJ->type(v) == INFRA_JSON_ARRAY && LJ->length(v) == 0) {
                pu_diagf(call, "listen", "listen needs at least one port");
                error = INFRA_EINVALID;
            }
        }
        if (local_lb_validate(call, config) < 0)
            error = INFRA_EINVALID;
    }
    if (strcmp(type, "dns_record") == 0 && (s = pu_json_str(config, "name")) != NULL &&
        strchr(s, '*') != NULL) {
        pu_diagf(call, "name", "the local provider's hosts file cannot hold wildcard names");
        error = INFRA_EINVALID;
    }
    if (strcmp(type, "dns_record") == 0 && local_dns_validate(call, config) < 0)
        error = INFRA_EINVALID;
    return error;
}

int local_validate(infra_call *call, const char *type, const infra_json *config)
{
    const pu_type *t = pu_type_find(&local_schema_table, type);
    if (t == NULL) {
        pu_diagf(call, "",
                 "the local provider has no resource type \"%s\" (it has network, "
                 "instance, firewall, load_balancer, dns_record)",
                 type ? type : "");
        return INFRA_ENOTSUP;
    }
    int error = pu_check_attrs(call, &local_schema_table, t, config, 0);
    if (config != NULL && LJ->type(config) == INFRA_JSON_OBJECT &&
        check_values(call, type, config) < 0)
        error = INFRA_EINVALID;
    return error;
}
