/* The local provider's schema: settings, resource types, their attributes,
 * and the offline checks of validate(). */
#include "local_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define R LOCAL_ATTR_REQUIRED
#define C LOCAL_ATTR_COMPUTED
#define FN LOCAL_ATTR_FORCE_NEW
#define OC LOCAL_ATTR_OPTIONAL_COMPUTED

static const local_attr settings_attrs[] = {
    {"prefix", "string", 0, NULL,
     "short prefix of every kernel object name (default \"inf\", at most 8 of a-z0-9)"},
    {"run_dir", "string", 0, NULL,
     "where the provider records what it made (default /var/lib/infra-local)"},
    {"ssh_public_key", "string", 0, NULL,
     "public key allowed to log in as root (default ~/.ssh/id_ed25519.pub, id_ecdsa.pub, "
     "id_rsa.pub, else a key generated in RUN_DIR/ssh)"},
};

static const local_attr network_attrs[] = {
    {"id", "string", C, NULL, "network id"},
    {"cidr", "string", R | FN, NULL,
     "IPv4 range a.b.c.d/n (n from 8 to 30); the first address "
     "is the gateway on the bridge"},
    {"name", "string", 0, NULL, "display name"},
    {"bridge", "string", C, NULL, "name of the bridge interface"},
    {"gateway", "string", C, NULL, "address of the bridge"},
    {"status", "string", C, "ready", "\"ready\", or \"incomplete\" when the bridge is missing"},
};

static const local_attr instance_attrs[] = {
    {"id", "string", C, NULL, "host id"},
    {"network", "string", R | FN, NULL, "id of the network (\"${network.NAME.id}\")"},
    {"image", "string", FN, NULL, "informational: hosts share this machine's file system"},
    {"size", "string", 0, NULL, "informational"},
    {"user_data", "string", FN, NULL,
     "shell script run once after sshd starts; output in /var/log/user-data.log"},
    {"hostname", "string", OC | FN, NULL, "host name (default from the resource address)"},
    {"role", "string", 0, NULL, "cluster node role"},
    {"cluster", "string", 0, NULL, "cluster name"},
    {"region", "string", 0, NULL, "cluster region"},
    {"datacenter", "string", 0, NULL, "cluster datacenter"},
    {"tags", "map", 0, NULL, "free-form labels"},
    {"private_ip", "string", C, NULL, "address on the network"},
    {"public_ip", "string", C, NULL, "same as private_ip"},
    {"ssh_user", "string", C, NULL, "\"root\""},
    {"ssh_port", "integer", C, NULL, "22"},
    {"ssh_host_key_fingerprint", "string", C, NULL, "SHA256 fingerprint of sshd's host key"},
    {"ssh_private_key", "string", C, NULL, "path of the private key that logs in"},
    {"netns", "string", C, NULL, "`ip netns` name of the host"},
    {"sshd", "string", C, "running", "\"running\" or \"stopped\""},
};

static const local_attr firewall_attrs[] = {
    {"id", "string", C, NULL, "firewall id"},
    {"network", "string", R | FN, NULL, "id of the network"},
    {"targets", "list", 0, NULL, "instance addresses or ids the rules apply to"},
    {"allow", "list", 0, NULL,
     "allowed traffic: {port: N, proto: tcp|udp, from: CIDR|any}, or a bare port"},
    {"status", "string", C, "ready", "\"ready\", or \"incomplete\" when a target lacks its rules"},
};

static const local_attr load_balancer_attrs[] = {
    {"id", "string", C, NULL, "load balancer id"},
    {"network", "string", R | FN, NULL, "id of the network"},
    {"targets", "list", 0, NULL, "backend addresses (on the network) or host ids"},
    {"listen", "list", R, NULL, "ports to listen on"},
    {"backend_port", "integer", 0, NULL, "port of the targets (default: the listen port)"},
    {"health", "string", 0, NULL, "health check: \"http:PORT/PATH\" or \"tcp:PORT\""},
    {"address", "string", C, NULL, "address of the balancer"},
    {"private_ip", "string", C, NULL, "same as address"},
    {"dns_name", "string", C, NULL, "name in the hosts file: lb-ID.local"},
    {"netns", "string", C, NULL, "`ip netns` name of the balancer"},
    {"haproxy", "string", C, "running", "\"running\" or \"stopped\""},
};

static const local_attr dns_record_attrs[] = {
    {"id", "string", C, NULL, "record id"},
    {"zone", "string", R | FN, NULL, "DNS zone"},
    {"name", "string", R | FN, NULL, "name inside the zone (\"@\" = the zone itself)"},
    {"target", "string", R, NULL, "IPv4 address, or a name this provider knows (dns_name)"},
    {"fqdn", "string", C, NULL, "name.zone"},
    {"address", "string", C, NULL, "the address the name resolves to"},
    {"status", "string", C, "ready", "\"ready\", or \"incomplete\" when missing from the file"},
};

static const local_type types[] = {
    {"network", network_attrs, N_ELEMS(network_attrs)},
    {"instance", instance_attrs, N_ELEMS(instance_attrs)},
    {"firewall", firewall_attrs, N_ELEMS(firewall_attrs)},
    {"load_balancer", load_balancer_attrs, N_ELEMS(load_balancer_attrs)},
    {"dns_record", dns_record_attrs, N_ELEMS(dns_record_attrs)},
};

static const local_type settings_type = {"settings", settings_attrs, N_ELEMS(settings_attrs)};

const local_type *local_type_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < N_ELEMS(types); i++)
        if (strcmp(types[i].name, name) == 0)
            return &types[i];
    return NULL;
}

const local_type *local_settings_type(void)
{
    return &settings_type;
}

const local_attr *local_attr_find(const local_type *t, const char *name)
{
    for (size_t i = 0; i < t->nattrs; i++)
        if (strcmp(t->attrs[i].name, name) == 0)
            return &t->attrs[i];
    return NULL;
}

static int set_bool(infra_json *obj, const char *key, int value)
{
    return LJ->set(obj, key, LJ->new_bool(value));
}

/* An optional attribute with a computed default (hostname) is described as
 * settable: "computed" tells the engine the user may not set it. */
static int attrs_json(const local_type *t, infra_json **out)
{
    infra_json *obj = LJ->new_object();
    if (obj == NULL)
        return INFRA_EINTERNAL;
    for (size_t i = 0; i < t->nattrs; i++) {
        const local_attr *a = &t->attrs[i];
        infra_json *o = LJ->new_object();
        if (o == NULL || LJ->set(obj, a->name, o) < 0 ||
            local_json_set_str(o, "type", a->type) < 0 ||
            set_bool(o, "required", (a->flags & R) != 0) < 0 ||
            set_bool(o, "computed", (a->flags & C) != 0) < 0 ||
            set_bool(o, "force_new", (a->flags & FN) != 0) < 0 || set_bool(o, "sensitive", 0) < 0 ||
            local_json_set_str(o, "description", a->description) < 0) {
            LJ->release(obj);
            return INFRA_EINTERNAL;
        }
    }
    *out = obj;
    return 0;
}

int local_schema(infra_call *call, infra_json **out)
{
    infra_json *doc = LJ->new_object(), *resources = LJ->new_object(), *attrs = NULL;
    (void)call;
    if (doc == NULL || resources == NULL || attrs_json(&settings_type, &attrs) < 0 ||
        LJ->set(doc, "settings", attrs) < 0 || LJ->set(doc, "resources", resources) < 0)
        goto fail;
    for (size_t i = 0; i < N_ELEMS(types); i++) {
        infra_json *rt = LJ->new_object();
        if (rt == NULL || LJ->set(resources, types[i].name, rt) < 0 ||
            attrs_json(&types[i], &attrs) < 0 || LJ->set(rt, "attributes", attrs) < 0)
            goto fail;
    }
    *out = doc;
    return 0;
fail:
    LJ->release(doc);
    return INFRA_EINTERNAL;
}

/* 1 when v holds a value the engine does not know yet, anywhere inside. */
int local_json_has_unknown(const infra_json *v)
{
    switch (LJ->type(v)) {
    case INFRA_JSON_STRING:
        return local_is_unknown(LJ->string(v));
    case INFRA_JSON_ARRAY:
        for (size_t i = 0; i < LJ->length(v); i++)
            if (local_json_has_unknown(LJ->at(v, i)))
                return 1;
        return 0;
    case INFRA_JSON_OBJECT: {
        void *iter = NULL;
        const char *key;
        infra_json *member;
        while (LJ->next(v, &iter, &key, &member))
            if (local_json_has_unknown(member))
                return 1;
        return 0;
    }
    default:
        return 0;
    }
}

static int type_matches(const local_attr *a, const infra_json *v)
{
    int t = LJ->type(v);
    if (t == INFRA_JSON_NULL || (t == INFRA_JSON_STRING && local_is_unknown(LJ->string(v))))
        return 1;
    if (strcmp(a->type, "string") == 0)
        return t == INFRA_JSON_STRING || t == INFRA_JSON_INT || t == INFRA_JSON_REAL;
    if (strcmp(a->type, "integer") == 0) {
        long n;
        return local_json_to_int(v, &n) == 0;
    }
    if (strcmp(a->type, "list") == 0)
        return t == INFRA_JSON_ARRAY;
    if (strcmp(a->type, "map") == 0)
        return t == INFRA_JSON_OBJECT;
    return 1;
}

int local_check_attrs(infra_call *call, const local_type *t, const infra_json *config,
                      int allow_computed)
{
    int error = 0;
    void *iter = NULL;
    const char *key;
    infra_json *value;

    if (config != NULL && LJ->type(config) != INFRA_JSON_OBJECT) {
        local_diagf(call, "", "the configuration of a %s must be a map", t->name);
        return INFRA_EINVALID;
    }
    while (config != NULL && LJ->next(config, &iter, &key, &value)) {
        const local_attr *a = local_attr_find(t, key);
        if (a == NULL) {
            local_buf known = {0};
            for (size_t i = 0; i < t->nattrs; i++)
                if (!(t->attrs[i].flags & C))
                    local_buf_printf(&known, "%s%s", known.len ? ", " : "", t->attrs[i].name);
            local_diagf(call, key, "unknown attribute \"%s\" of a local %s (known: %s)", key,
                        t->name, known.data ? known.data : "");
            free(known.data);
            error = INFRA_EINVALID;
        } else if ((a->flags & C) && !allow_computed) {
            local_diagf(call, key, "\"%s\" is computed by the provider and cannot be set", key);
            error = INFRA_EINVALID;
        } else if (!type_matches(a, value)) {
            local_diagf(call, key, "\"%s\" must be a %s", key, a->type);
            error = INFRA_EINVALID;
        }
    }
    for (size_t i = 0; i < t->nattrs; i++) {
        const local_attr *a = &t->attrs[i];
        if ((a->flags & R) && (config == NULL || LJ->get(config, a->name) == NULL)) {
            local_diagf(call, a->name, "a %s needs \"%s\" (%s)", t->name, a->name, a->description);
            error = INFRA_EINVALID;
        }
    }
    return error;
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

/* The checks of one type beyond the schema; unknown values are skipped. */
static int check_values(infra_call *call, const char *type, const infra_json *config)
{
    int error = 0;
    const char *s;
    const infra_json *v;

    if (strcmp(type, "network") == 0 && (s = local_json_str(config, "cidr")) != NULL &&
        !local_is_unknown(s)) {
        uint32_t net;
        int len;
        if (local_cidr_parse(s, &net, &len) < 0 || len < 8 || len > 30) {
            local_diagf(call, "cidr", "\"%s\" is not an IPv4 range a.b.c.d/n with n from 8 to 30",
                        s);
            error = INFRA_EINVALID;
        }
    }
    if (strcmp(type, "instance") == 0 && (s = local_json_str(config, "hostname")) != NULL &&
        !local_is_unknown(s) && !hostname_valid(s)) {
        local_diagf(call, "hostname",
                    "\"%s\" is not a host name (letters, digits, '-' and '.', "
                    "at most 63)",
                    s);
        error = INFRA_EINVALID;
    }
    if (strcmp(type, "firewall") == 0 && (v = LJ->get(config, "allow")) != NULL &&
        !local_json_has_unknown(v) && local_fw_validate_allow(call, v) < 0)
        error = INFRA_EINVALID;
    if (strcmp(type, "load_balancer") == 0) {
        if ((v = LJ->get(config, "listen")) != NULL && !local_json_has_unknown(v)) {
            long port;
            for (size_t i = 0; LJ->type(v) == INFRA_JSON_ARRAY && i < LJ->length(v); i++) {
                if (local_json_to_int(LJ->at(v, i), &port) < 0 || port < 1 || port > 65535) {
                    char attr[32];
                    snprintf(attr, sizeof(attr), "listen[%zu]", i);
                    local_diagf(call, attr, "a port must be a number from 1 to 65535");
                    error = INFRA_EINVALID;
                }
            }
            if (LJ->type(v) == INFRA_JSON_ARRAY && LJ->length(v) == 0) {
                local_diagf(call, "listen", "listen needs at least one port");
                error = INFRA_EINVALID;
            }
        }
        if ((s = local_json_str(config, "health")) != NULL && !local_is_unknown(s) &&
            strncmp(s, "http:", 5) != 0 && strncmp(s, "tcp:", 4) != 0) {
            local_diagf(call, "health", "health must be \"http:PORT/PATH\" or \"tcp:PORT\"");
            error = INFRA_EINVALID;
        }
    }
    if (strcmp(type, "dns_record") == 0 && (s = local_json_str(config, "name")) != NULL &&
        strchr(s, '*') != NULL) {
        local_diagf(call, "name", "the local provider's hosts file cannot hold wildcard names");
        error = INFRA_EINVALID;
    }
    return error;
}

int local_validate(infra_call *call, const char *type, const infra_json *config)
{
    const local_type *t = local_type_find(type);
    if (t == NULL) {
        local_diagf(call, "",
                    "the local provider has no resource type \"%s\" (it has network, "
                    "instance, firewall, load_balancer, dns_record)",
                    type ? type : "");
        return INFRA_ENOTSUP;
    }
    int error = local_check_attrs(call, t, config, 0);
    if (config != NULL && LJ->type(config) == INFRA_JSON_OBJECT &&
        check_values(call, type, config) < 0)
        error = INFRA_EINVALID;
    return error;
}
