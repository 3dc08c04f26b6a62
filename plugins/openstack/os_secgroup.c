/* Firewalls are Neutron security groups. Rules come in the portable form
 * of the other providers (allow: [22, "8300-8302", {port, proto, from}])
 * or in OpenStack's (ingress / egress: [{protocol, port_range_min,
 * port_range_max, remote_ip_prefix | remote_group_id, ethertype}]); both
 * become one list of normalised rules, and an apply creates and deletes
 * only the difference with what the group holds. Without egress the
 * group keeps Neutron's default allow-all egress rules. */
#include "os_res.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int os_rule_cmp(const void *x, const void *y)
{
    const os_rule *a = x, *b = y;
    int c;
    if ((c = strcmp(a->direction, b->direction)) != 0 ||
        (c = strcmp(a->ethertype, b->ethertype)) != 0 || (c = strcmp(a->protocol, b->protocol)))
        return c;
    if (a->port_min != b->port_min)
        return a->port_min < b->port_min ? -1 : 1;
    if (a->port_max != b->port_max)
        return a->port_max < b->port_max ? -1 : 1;
    if ((c = strcmp(a->remote_ip, b->remote_ip)) != 0)
        return c;
    return strcmp(a->remote_group, b->remote_group);
}

/* "tcp", "udp", "icmp", or "" for any protocol. */
static int parse_proto(const char *s, char out[8])
{
    if (s == NULL || strcmp(s, "tcp") == 0 || strcmp(s, "6") == 0)
        snprintf(out, 8, "tcp");
    else if (strcmp(s, "udp") == 0 || strcmp(s, "17") == 0)
        snprintf(out, 8, "udp");
    else if (strcmp(s, "icmp") == 0 || strcmp(s, "1") == 0)
        snprintf(out, 8, "icmp");
    else if (strcmp(s, "all") == 0 || strcmp(s, "any") == 0 || strcmp(s, "-1") == 0)
        out[0] = '\0';
    else
        return INFRA_EINVALID;
    return 0;
}

/* A port "N" or range "N-M" (or an integer) into *from and *to. */
static int parse_ports(const infra_json *v, long *from, long *to)
{
    long n;
    if (pu_json_to_int(v, &n) == 0) {
        *from = *to = n;
    } else {
        const char *s = OJ->string(v);
        char *end = NULL;
        if (s == NULL)
            return INFRA_EINVALID;
        errno = 0;
        *from = strtol(s, &end, 10);
        if (end == s || *end != '-' || errno != 0)
            return INFRA_EINVALID;
        const char *second = end + 1;
        *to = strtol(second, &end, 10);
        if (end == second || *end != '\0' || errno != 0)
            return INFRA_EINVALID;
    }
    return *from >= 0 && *to <= 65535 && *from <= *to ? 0 : INFRA_EINVALID;
}

/* "any", an address, a CIDR, "self" or a security group id. */
static int parse_remote(const char *s, int group_only, os_rule *r)
{
    r->remote_ip[0] = r->remote_group[0] = '\0';
    if (s == NULL || strcmp(s, "any") == 0) {
        snprintf(r->remote_ip, sizeof(r->remote_ip), "%s",
                 strcmp(r->ethertype, "IPv6") == 0 ? "::/0" : "0.0.0.0/0");
        return group_only ? INFRA_EINVALID : 0;
    }
    if (strcmp(s, "self") == 0 || os_is_uuid(s)) {
        snprintf(r->remote_group, sizeof(r->remote_group), "%s", s);
        return 0;
    }
    if (group_only)
        return INFRA_EINVALID;
    if (os_is_ipv4(s) || os_is_ipv6(s)) {
        snprintf(r->remote_ip, sizeof(r->remote_ip), "%s/%s", s, os_is_ipv4(s) ? "32" : "128");
    } else if (os_is_cidr(s) && strlen(s) < sizeof(r->remote_ip)) {
        snprintf(r->remote_ip, sizeof(r->remote_ip), "%s", s);
    } else {
        return INFRA_EINVALID;
    }
    snprintf(r->ethertype, sizeof(r->ethertype), "%s", strchr(s, ':') ? "IPv6" : "IPv4");
    return 0;
}

static void push_rule(os_rule **v, size_t *n, const os_rule *r)
{
    *v = pu_realloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = *r;
}

/* One element of allow (portable) or of ingress / egress (OpenStack form). */
static int parse_one(infra_call *call, const infra_json *v, const char *attr, int portable,
                     const char *direction, os_rule *r)
{
    const infra_json *ports = v;
    const char *proto = NULL, *remote = NULL;
    int group_only = 0;

    static const char *const keys[] = {
        "port",           "proto",          "protocol",         "ethertype",
        "from",           "cidr",           "remote_ip_prefix", "remote_group_id",
        "security_group", "port_range_min", "port_range_max",   NULL};
    memset(r, 0, sizeof(*r));
    if (pu_check_keys(call, "openstack", attr, v, keys) < 0)
        return INFRA_EINVALID;
    snprintf(r->direction, sizeof(r->direction), "%s", direction);
    snprintf(r->ethertype, sizeof(r->ethertype), "IPv4");
    r->port_min = r->port_max = -1;
    if (OJ->type(v) == INFRA_JSON_OBJECT) {
        proto = pu_json_str(v, portable ? "proto" : "protocol");
        if (proto == NULL)
            proto = pu_json_str(v, portable ? "protocol" : "proto");
        const char *eth = pu_json_str(v, "ethertype");
        if (eth != NULL) {
            if (strcmp(eth, "IPv4") != 0 && strcmp(eth, "IPv6") != 0) {
                pu_diagf(call, attr, "ethertype must be IPv4 or IPv6");
                return INFRA_EINVALID;
            }
            snprintf(r->ethertype, sizeof(r->ethertype), "%s", eth);
        }
        static const char *const ip_keys[] = {"from", "cidr", "remote_ip_prefix", NULL};
        for (size_t i = 0; ip_keys[i] != NULL && remote == NULL; i++)
            remote = pu_json_str(v, ip_keys[i]);
        const char *group = pu_json_str(v, "remote_group_id");
        if (group == NULL)
            group = pu_json_str(v, "security_group");
        if (group != NULL) {
            if (remote != NULL) {
                pu_diagf(call, attr, "a rule names a remote address or a remote group, not both");
                return INFRA_EINVALID;
            }
            remote = group;
            group_only = 1;
        }
        ports = OJ->get(v, "port");
        const infra_json *lo = OJ->get(v, "port_range_min"), *hi = OJ->get(v, "port_range_max");
        if (ports == NULL && lo != NULL) {
            if (pu_json_to_int(lo, &r->port_min) < 0 ||
                pu_json_to_int(hi ? hi : lo, &r->port_max) < 0 || r->port_min > r->port_max) {
                pu_diagf(call, attr,
                         "port_range_min and port_range_max must be numbers, the smaller first");
                return INFRA_EINVALID;
            }
        }
    } else if (!(OJ->type(v) == INFRA_JSON_INT || OJ->type(v) == INFRA_JSON_STRING)) {
        pu_diagf(call, attr, "a rule is a port, \"FROM-TO\" or a map");
        return INFRA_EINVALID;
    }
    if (parse_proto(proto, r->protocol) < 0) {
        pu_diagf(call, attr, "protocol must be tcp, udp, icmp or all");
        return INFRA_EINVALID;
    }
    /* ICMP has types, not ports: {proto: icmp} is every type (the
     * OpenStack form's port_range_min and port_range_max give a type and a
     * code); all is every port of every protocol. */
    if (OJ->type(v) == INFRA_JSON_OBJECT && ports != NULL &&
        (r->protocol[0] == '\0' || strcmp(r->protocol, "icmp") == 0)) {
        pu_diagf(call, attr, "proto %s takes no port: it opens every %s",
                 r->protocol[0] ? "icmp" : "all",
                 r->protocol[0] ? "ICMP type" : "port of every protocol");
        return INFRA_EINVALID;
    }
    if (ports != NULL && r->protocol[0] != '\0' &&
        parse_ports(ports, &r->port_min, &r->port_max) < 0) {
        pu_diagf(call, attr, "a port is a number from 0 to 65535, or a range \"FROM-TO\"");
        return INFRA_EINVALID;
    }
    if (r->protocol[0] == '\0') {
        r->port_min = r->port_max = -1;
    } else if (strcmp(r->protocol, "icmp") != 0 && r->port_min < 0) {
        pu_diagf(call, attr, "a %s rule needs a port (or port_range_min and port_range_max)",
                 r->protocol);
        return INFRA_EINVALID;
    }
    if (parse_remote(remote, group_only, r) < 0) {
        pu_diagf(call, attr,
                 "the remote end must be any, an address or range (IPv4 or IPv6), self, or a "
                 "security group id");
        return INFRA_EINVALID;
    }
    return 0;
}

static int parse_list(infra_call *call, const infra_json *list, const char *name, int portable,
                      const char *direction, os_rule **v, size_t *n)
{
    int error = 0;
    if (list == NULL || OJ->type(list) == INFRA_JSON_NULL)
        return 0;
    if (OJ->type(list) != INFRA_JSON_ARRAY) {
        pu_diagf(call, name, "%s must be a list of rules", name);
        return INFRA_EINVALID;
    }
    for (size_t i = 0; i < OJ->length(list); i++) {
        char attr[48];
        os_rule r;
        snprintf(attr, sizeof(attr), "%s[%zu]", name, i);
        if (parse_one(call, OJ->at(list, i), attr, portable, direction, &r) < 0)
            error = INFRA_EINVALID;
        else
            push_rule(v, n, &r);
    }
    return error;
}

int os_rules_parse(infra_call *call, const infra_json *allow, const infra_json *ingress,
                   const infra_json *egress, os_rule **out, size_t *n)
{
    os_rule *v = NULL;
    size_t count = 0;
    int error = 0;
    if (parse_list(call, allow, "allow", 1, "ingress", &v, &count) < 0 ||
        parse_list(call, ingress, "ingress", 0, "ingress", &v, &count) < 0 ||
        parse_list(call, egress, "egress", 0, "egress", &v, &count) < 0)
        error = INFRA_EINVALID;
    if (error < 0) {
        free(v);
        return error;
    }
    if (count > 0) {
        qsort(v, count, sizeof(*v), os_rule_cmp);
        size_t w = 1;
        for (size_t i = 1; i < count; i++)
            if (os_rule_cmp(&v[i], &v[w - 1]) != 0)
                v[w++] = v[i];
        count = w;
    }
    *out = v;
    *n = count;
    return 0;
}

void os_rule_from_json(const infra_json *obj, const char *self_id, os_rule *out)
{
    const char *s;
    memset(out, 0, sizeof(*out));
    snprintf(out->direction, sizeof(out->direction), "%s",
             (s = pu_json_str(obj, "direction")) ? s : "ingress");
    snprintf(out->ethertype, sizeof(out->ethertype), "%s",
             (s = pu_json_str(obj, "ethertype")) ? s : "IPv4");
    s = pu_json_str(obj, "protocol");
    if (s == NULL || parse_proto(s, out->protocol) < 0)
        snprintf(out->protocol, sizeof(out->protocol), "%s", s ? s : "");
    long n;
    out->port_min = pu_json_to_int(OJ->get(obj, "port_range_min"), &n) == 0 ? n : -1;
    out->port_max = pu_json_to_int(OJ->get(obj, "port_range_max"), &n) == 0 ? n : -1;
    s = pu_json_str(obj, "remote_group_id");
    if (s != NULL)
        snprintf(out->remote_group, sizeof(out->remote_group), "%s",
                 self_id && strcmp(s, self_id) == 0 ? "self" : s);
    s = pu_json_str(obj, "remote_ip_prefix");
    if (s != NULL)
        snprintf(out->remote_ip, sizeof(out->remote_ip), "%s", s);
    else if (out->remote_group[0] == '\0')
        snprintf(out->remote_ip, sizeof(out->remote_ip), "%s",
                 strcmp(out->ethertype, "IPv6") == 0 ? "::/0" : "0.0.0.0/0");
}

infra_json *os_rule_body(const os_rule *r, const char *group_id)
{
    infra_json *o = OJ->new_object();
    pu_json_set_str(o, "security_group_id", group_id);
    pu_json_set_str(o, "direction", r->direction);
    pu_json_set_str(o, "ethertype", r->ethertype);
    if (r->protocol[0])
        pu_json_set_str(o, "protocol", r->protocol);
    if (r->port_min >= 0) {
        pu_json_set_int(o, "port_range_min", r->port_min);
        pu_json_set_int(o, "port_range_max", r->port_max);
    }
    if (r->remote_group[0])
        pu_json_set_str(o, "remote_group_id",
                        strcmp(r->remote_group, "self") == 0 ? group_id : r->remote_group);
    else if (r->remote_ip[0])
        pu_json_set_str(o, "remote_ip_prefix", r->remote_ip);
    infra_json *body = OJ->new_object();
    pu_json_set(body, "security_group_rule", o);
    return body;
}

/* The rules a group holds, the ids alongside. */
static void group_rules(const infra_json *group, os_rule **rules, char ***ids, size_t *n)
{
    const infra_json *list = OJ->get(group, "security_group_rules");
    const char *self = pu_json_str(group, "id");
    *rules = NULL;
    *ids = os_strv_new();
    *n = 0;
    for (size_t i = 0; i < OJ->length(list); i++) {
        os_rule r;
        os_rule_from_json(OJ->at(list, i), self, &r);
        push_rule(rules, n, &r);
        os_strv_push(ids, pu_json_str(OJ->at(list, i), "id"));
    }
}

static int has_rule(const os_rule *v, size_t n, const os_rule *r)
{
    for (size_t i = 0; i < n; i++)
        if (os_rule_cmp(&v[i], r) == 0)
            return 1;
    return 0;
}

/* Brings the group's rules to want: egress is managed only when configured. */
static int reconcile(os_act *a, const infra_json *group, const os_rule *want, size_t nwant)
{
    const char *id = pu_json_str(group, "id");
    int manage_egress = OJ->get(a->planned, "egress") != NULL;
    os_rule *have = NULL;
    char **ids = NULL;
    size_t nhave = 0;
    int error = 0;

    group_rules(group, &have, &ids, &nhave);
    for (size_t i = 0; error == 0 && i < nwant; i++) {
        if (has_rule(have, nhave, &want[i]))
            continue;
        infra_json *body = os_rule_body(&want[i], id);
        /* A duplicate (409) is a rule an interrupted run made. */
        error = os_send(a->p, a->call, OS_NETWORK, "POST", "/security-group-rules", body, "allow",
                        OS_QUIET_409, NULL);
        if (error == INFRA_ECONFLICT)
            error = 0;
        OJ->release(body);
    }
    for (size_t i = 0; error == 0 && i < nhave; i++) {
        if (has_rule(want, nwant, &have[i]) ||
            (strcmp(have[i].direction, "egress") == 0 && !manage_egress))
            continue;
        char *eid = os_url_encode(ids[i]);
        char *path = pu_printf("/security-group-rules/%s", eid);
        error = os_send(a->p, a->call, OS_NETWORK, "DELETE", path, NULL, "allow",
                        OS_SAFE | OS_QUIET_404, NULL);
        if (error == INFRA_ENOTFOUND)
            error = 0;
        free(path);
        free(eid);
    }
    free(have);
    os_strv_free(ids);
    return error;
}

/* A rule in the portable form, for a state that drifted. */
static infra_json *rule_portable(const os_rule *r)
{
    infra_json *o = OJ->new_object();
    if (r->port_min >= 0) {
        char *ports = r->port_min == r->port_max ? pu_printf("%ld", r->port_min)
                                                 : pu_printf("%ld-%ld", r->port_min, r->port_max);
        pu_json_set_str(o, "port", ports);
        free(ports);
    }
    pu_json_set_str(o, "proto", r->protocol[0] ? r->protocol : "all");
    pu_json_set_str(o, "from", r->remote_group[0] ? r->remote_group : r->remote_ip);
    if (strcmp(r->ethertype, "IPv6") == 0)
        pu_json_set_str(o, "ethertype", "IPv6");
    return o;
}

static int firewall_from_object(os_act *a, const infra_json *obj)
{
    infra_json *st = os_state_new(a->state ? a->state : a->planned);
    os_rule *want = NULL, *have = NULL;
    char **ids = NULL;
    size_t nwant = 0, nhave = 0;
    int error;

    if ((error = pu_json_set_str(st, "id", pu_json_str(obj, "id"))) < 0 ||
        (error = pu_json_set_str(st, "name", pu_json_str(obj, "name"))) < 0)
        goto done;
    if (OJ->get(st, "description") != NULL &&
        (error = pu_json_set_str(st, "description", pu_json_str(obj, "description"))) < 0)
        goto done;
    group_rules(obj, &have, &ids, &nhave);
    int manage_egress = OJ->get(st, "egress") != NULL;
    int same = 0;
    if (!os_json_unknown(st) && os_rules_parse(NULL, OJ->get(st, "allow"), OJ->get(st, "ingress"),
                                               OJ->get(st, "egress"), &want, &nwant) == 0) {
        same = 1;
        for (size_t i = 0; i < nwant && same; i++)
            same = has_rule(have, nhave, &want[i]);
        for (size_t i = 0; i < nhave && same; i++)
            same = has_rule(want, nwant, &have[i]) ||
                   (strcmp(have[i].direction, "egress") == 0 && !manage_egress);
    }
    if (!same) {
        /* Drifted: what the group holds, in the portable form. */
        infra_json *in = OJ->new_array(), *out = OJ->new_array();
        for (size_t i = 0; i < nhave; i++)
            OJ->append(strcmp(have[i].direction, "egress") == 0 ? out : in,
                       rule_portable(&have[i]));
        OJ->remove(st, "ingress");
        pu_json_set(st, "allow", in);
        if (manage_egress)
            pu_json_set(st, "egress", out);
        else
            OJ->release(out);
    }
    error = os_state_tags(st, obj);
done:
    free(want);
    free(have);
    os_strv_free(ids);
    return os_state_finish(a, st, error);
}

static int firewall_apply(os_act *a)
{
    os_rule *want = NULL;
    size_t nwant = 0;
    infra_json *f = OJ->new_object(), *obj = NULL;
    const char *name = os_json_known_str(a->planned, "name");
    const char *description = pu_json_str(a->planned, "description");
    char *derived = name ? NULL : os_call_name(a->call, 255);
    int error;

    if ((error =
             os_rules_parse(a->call, OJ->get(a->planned, "allow"), OJ->get(a->planned, "ingress"),
                            OJ->get(a->planned, "egress"), &want, &nwant)) < 0)
        goto done;
    pu_json_set_str(f, "name", name ? name : derived);
    if (description != NULL)
        pu_json_set_str(f, "description", description);
    if (a->prior == NULL) {
        error = os_net_create(a, &os_kind_secgroup, f, "", &obj);
        f = NULL;
    } else {
        error = os_net_update(a, &os_kind_secgroup, os_state_id(a->prior), f, "name", &obj);
        f = NULL;
        if (error == 0 && obj != NULL)
            error = os_net_sync_tags(a, &os_kind_secgroup, obj);
    }
    if (error < 0)
        goto done;
    char *id = pu_strdup(pu_json_str(obj, "id") ? pu_json_str(obj, "id") : os_state_id(a->prior));
    if ((error = reconcile(a, obj, want, nwant)) == 0) {
        OJ->release(obj);
        obj = NULL;
        error = os_net_get(a->p, a->call, &os_kind_secgroup, id, &obj);
    }
    free(id);
    if (error == 0) {
        os_act r = *a;
        r.state = a->planned;
        error = firewall_from_object(&r, obj);
    }
done:
    OJ->release(f);
    OJ->release(obj);
    free(want);
    free(derived);
    return error;
}

static int firewall_remove(os_act *a)
{
    return os_net_delete(a, &os_kind_secgroup, os_state_id(a->prior));
}

static int firewall_read(os_act *a)
{
    infra_json *obj = NULL;
    int error = os_net_read_obj(a, &os_kind_secgroup, &obj);
    if (error == 0)
        error = firewall_from_object(a, obj);
    OJ->release(obj);
    return error;
}

const os_handler os_firewall_handler = {"firewall",    firewall_apply,    firewall_remove,
                                        firewall_read, &os_kind_secgroup, firewall_from_object,
                                        NULL};
