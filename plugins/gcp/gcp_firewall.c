/* Firewall rules. One resource is one Compute firewall: the traffic it
 * allows (or denies) given in the portable form the other providers take
 * (22, "8300-8302", {port, proto: tcp|udp|icmp|all, from: CIDR|any|TAG}),
 * its sources (source_ranges, source_tags, or the entries' from), its
 * targets (target_tags), priority and direction. A change is one
 * firewalls.update with the whole rule; network, name and direction
 * replace it. The rule takes no labels: infra's marks go in its
 * description. */
#include "gcp_res.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const gcp_kind firewall_kind = {"firewalls", GCP_GLOBAL, 0};

static int rule_cmp(const void *x, const void *y)
{
    const gcp_rule *a = x, *b = y;
    int c = strcmp(a->proto, b->proto);
    return c ? c : strcmp(a->ports, b->ports);
}

static int proto_ok(const char *p)
{
    static const char *const names[] = {"tcp", "udp", "icmp", "esp", "ah", "sctp", "ipip", "all"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(p, names[i]) == 0)
            return 1;
    char *end = NULL;
    long n = strtol(p, &end, 10);
    return *p && *end == '\0' && n >= 0 && n <= 255;
}

static int ported(const char *p)
{
    return strcmp(p, "tcp") == 0 || strcmp(p, "udp") == 0 || strcmp(p, "sctp") == 0;
}

/* "22" or "8000-8100" within 0..65535, into out. */
static int port_text(const infra_json *v, char *out, size_t size)
{
    char *s = gcp_json_text(v);
    int ok = 0;
    if (s != NULL) {
        long lo = -1, hi = -1;
        char *end = NULL;
        lo = strtol(s, &end, 10);
        if (end != s && *end == '\0')
            hi = lo;
        else if (end != s && *end == '-') {
            char *e2 = NULL;
            hi = strtol(end + 1, &e2, 10);
            if (e2 == end + 1 || *e2 != '\0')
                hi = -1;
        }
        ok = lo >= 0 && hi >= lo && hi <= 65535;
        if (ok && lo == hi)
            snprintf(out, size, "%ld", lo);
        else if (ok)
            snprintf(out, size, "%ld-%ld", lo, hi);
    }
    free(s);
    return ok;
}

/* from: "any" (0.0.0.0/0), an address (/32), a range, or a network tag. */
static int source_of(const char *from, char *out, size_t size)
{
    if (strcmp(from, "any") == 0 || strcmp(from, "0.0.0.0/0") == 0)
        snprintf(out, size, "0.0.0.0/0");
    else if (gcp_is_cidr(from))
        snprintf(out, size, "%s", from);
    else if (gcp_is_ipv4(from))
        snprintf(out, size, "%s/32", from);
    else if (gcp_name_valid(from))
        snprintf(out, size, "tag:%s", from);
    else
        return 0;
    return 1;
}

int gcp_rules_parse(infra_call *call, const infra_json *list, const char *attr, gcp_rule **out,
                    size_t *n, char ***sources)
{
    gcp_rule *rules = NULL;
    size_t count = 0;
    char **from_all = NULL;
    int first_from = 1, error = 0;

    *out = NULL;
    *n = 0;
    *sources = gcp_strv_new();
    if (list == NULL || GJ->type(list) == INFRA_JSON_NULL)
        return 0;
    if (GJ->type(list) != INFRA_JSON_ARRAY) {
        pu_diagf(call, attr, "%s must be a list of ports or {port, proto, from}", attr);
        return INFRA_EINVALID;
    }
    for (size_t i = 0; i < GJ->length(list); i++) {
        const infra_json *e = GJ->at(list, i);
        char where[48];
        snprintf(where, sizeof(where), "%s[%zu]", attr, i);
        gcp_rule r;
        memset(&r, 0, sizeof(r));
        snprintf(r.proto, sizeof(r.proto), "tcp");
        char **froms = gcp_strv_new();
        int ok = 1;
        if (GJ->type(e) == INFRA_JSON_OBJECT) {
            static const char *const keys[] = {"port", "ports", "proto", "protocol", "from", NULL};
            if (pu_check_keys(call, "gcp", where, e, keys) < 0)
                error = INFRA_EINVALID;
            const char *proto = pu_json_str(e, "proto");
            if (proto == NULL)
                proto = pu_json_str(e, "protocol");
            if (proto != NULL)
                snprintf(r.proto, sizeof(r.proto), "%s", strcmp(proto, "-1") == 0 ? "all" : proto);
            const infra_json *port = GJ->get(e, "port");
            if (port == NULL)
                port = GJ->get(e, "ports");
            if (port != NULL && !port_text(port, r.ports, sizeof(r.ports)))
                ok = 0;
            const infra_json *from = GJ->get(e, "from");
            char **fl = NULL;
            if (from != NULL && gcp_json_strv(from, &fl) == 0) {
                for (size_t k = 0; fl[k] != NULL && ok; k++) {
                    char src[80];
                    if (!source_of(fl[k], src, sizeof(src))) {
                        pu_diagf(call, where,
                                 "from \"%s\" is not \"any\", an address, a range "
                                 "or a network tag",
                                 fl[k]);
                        error = INFRA_EINVALID;
                    } else if (!gcp_strv_has(froms, src)) {
                        gcp_strv_push(&froms, src);
                    }
                }
            } else if (from != NULL) {
                ok = 0;
            }
            gcp_strv_free(fl);
        } else if (!port_text(e, r.ports, sizeof(r.ports))) {
            ok = 0;
        }
        if (!ok) {
            pu_diagf(call, where,
                     "a rule is a port (22), a range (\"8300-8302\") or {port, proto: "
                     "tcp|udp|icmp|all, from: any|CIDR|TAG}");
            error = INFRA_EINVALID;
        } else if (!proto_ok(r.proto)) {
            pu_diagf(call, where,
                     "proto \"%s\" is not tcp, udp, icmp, esp, ah, sctp, ipip, all "
                     "or a protocol number",
                     r.proto);
            error = INFRA_EINVALID;
        } else if (r.ports[0] && !ported(r.proto)) {
            pu_diagf(call, where, "ports are only for tcp, udp and sctp, not %s", r.proto);
            error = INFRA_EINVALID;
        }
        /* One firewall has one set of sources: the entries must agree. */
        if (error == 0 && (gcp_strv_len(froms) > 0 || !first_from)) {
            if (first_from) {
                from_all = froms;
                froms = NULL;
                first_from = 0;
            } else if (!gcp_strv_same_set(from_all, froms)) {
                pu_diagf(call, where,
                         "every entry of one firewall takes traffic from the same "
                         "sources; use a firewall per set of sources");
                error = INFRA_EINVALID;
            }
        }
        gcp_strv_free(froms);
        if (error == 0) {
            rules = pu_realloc(rules, (count + 1) * sizeof(*rules));
            rules[count++] = r;
        }
    }
    if (error < 0) {
        free(rules);
        gcp_strv_free(from_all);
        return error;
    }
    if (count > 0)
        qsort(rules, count, sizeof(*rules), rule_cmp);
    /* Duplicates out; a protocol without ports swallows its ported entries. */
    size_t w = 0;
    for (size_t i = 0; i < count; i++) {
        int dup = 0;
        for (size_t k = 0; k < w && !dup; k++)
            dup = strcmp(rules[k].proto, rules[i].proto) == 0 &&
                  (strcmp(rules[k].ports, rules[i].ports) == 0 || rules[k].ports[0] == '\0');
        if (!dup)
            rules[w++] = rules[i];
    }
    if (from_all != NULL) {
        gcp_strv_free(*sources);
        *sources = from_all;
    }
    *out = rules;
    *n = w;
    return 0;
}

infra_json *gcp_rules_json(const gcp_rule *rules, size_t n)
{
    infra_json *list = GJ->new_array();
    for (size_t i = 0; list != NULL && i < n;) {
        infra_json *e = GJ->new_object();
        infra_json *ports = GJ->new_array();
        pu_json_set_str(e, "IPProtocol", rules[i].proto);
        size_t k = i;
        for (; k < n && strcmp(rules[k].proto, rules[i].proto) == 0; k++)
            if (rules[k].ports[0])
                GJ->append(ports, GJ->new_string(rules[k].ports));
        if (GJ->length(ports) > 0)
            pu_json_set(e, "ports", ports);
        else
            GJ->release(ports);
        GJ->append(list, e);
        i = k;
    }
    return list;
}

/* What the configuration asks of the firewall, in Compute's terms. */
typedef struct fw_want {
    const char *kind;    /* "allowed" or "denied" */
    const char *cfg_key; /* "allow" or "deny" */
    gcp_rule *rules;
    size_t nrules;
    char **ranges;
    char **source_tags;
    char **target_tags;
    char **destinations;
    long priority;
    const char *direction;
} fw_want;

static void want_clear(fw_want *w)
{
    free(w->rules);
    gcp_strv_free(w->ranges);
    gcp_strv_free(w->source_tags);
    gcp_strv_free(w->target_tags);
    gcp_strv_free(w->destinations);
    memset(w, 0, sizeof(*w));
}

static int want_load(infra_call *call, const infra_json *cfg, fw_want *w)
{
    char **from = NULL;
    int error;
    memset(w, 0, sizeof(*w));
    w->cfg_key = GJ->get(cfg, "deny") != NULL ? "deny" : "allow";
    w->kind = GJ->get(cfg, "deny") != NULL ? "denied" : "allowed";
    if ((error = gcp_rules_parse(call, GJ->get(cfg, w->cfg_key), w->cfg_key, &w->rules, &w->nrules,
                                 &from)) < 0)
        return error;
    if (gcp_json_strv(GJ->get(cfg, "source_ranges"), &w->ranges) < 0 ||
        gcp_json_strv(GJ->get(cfg, "source_tags"), &w->source_tags) < 0 ||
        gcp_json_strv(GJ->get(cfg, "target_tags"), &w->target_tags) < 0 ||
        gcp_json_strv(GJ->get(cfg, "destination_ranges"), &w->destinations) < 0) {
        gcp_strv_free(from);
        pu_diagf(call, "source_ranges",
                 "source_ranges, source_tags, target_tags and "
                 "destination_ranges are lists");
        return INFRA_EINVALID;
    }
    for (size_t i = 0; from[i] != NULL; i++) {
        if (strncmp(from[i], "tag:", 4) == 0) {
            if (!gcp_strv_has(w->source_tags, from[i] + 4))
                gcp_strv_push(&w->source_tags, from[i] + 4);
        } else if (!gcp_strv_has(w->ranges, from[i])) {
            gcp_strv_push(&w->ranges, from[i]);
        }
    }
    gcp_strv_free(from);
    w->priority = gcp_json_long(cfg, "priority", 1000);
    w->direction = pu_json_str(cfg, "direction");
    if (w->direction == NULL)
        w->direction = "INGRESS";
    /* Compute's default: traffic from anywhere when no source is named. */
    if (strcmp(w->direction, "INGRESS") == 0 && gcp_strv_len(w->ranges) == 0 &&
        gcp_strv_len(w->source_tags) == 0)
        gcp_strv_push(&w->ranges, "0.0.0.0/0");
    if (strcmp(w->direction, "EGRESS") == 0 && gcp_strv_len(w->destinations) == 0)
        gcp_strv_push(&w->destinations, "0.0.0.0/0");
    return 0;
}

static int body_build(gcp_act *a, const infra_json *cfg, const fw_want *w, const char *name,
                      const char *token, infra_json **out)
{
    infra_json *body = GJ->new_object();
    char *desc = gcp_description(a->call, token);
    char *net = gcp_ref(a->p, pu_json_str(cfg, "network"), "networks", "global");
    int error;
    int ingress = strcmp(w->direction, "INGRESS") == 0;
    if ((error = pu_json_set_str(body, "name", name)) < 0 ||
        (error = pu_json_set_str(body, "description", desc)) < 0 ||
        (error = pu_json_set_str(body, "network", net)) < 0 ||
        (error = pu_json_set_str(body, "direction", w->direction)) < 0 ||
        (error = pu_json_set_int(body, "priority", w->priority)) < 0 ||
        (error = pu_json_set(body, w->kind, gcp_rules_json(w->rules, w->nrules))) < 0)
        goto done;
    if (ingress && gcp_strv_len(w->ranges) > 0)
        error = gcp_json_set_strv(body, "sourceRanges", w->ranges);
    if (error == 0 && ingress && gcp_strv_len(w->source_tags) > 0)
        error = gcp_json_set_strv(body, "sourceTags", w->source_tags);
    if (error == 0 && !ingress)
        error = gcp_json_set_strv(body, "destinationRanges", w->destinations);
    if (error == 0 && gcp_strv_len(w->target_tags) > 0)
        error = gcp_json_set_strv(body, "targetTags", w->target_tags);
done:
    free(desc);
    free(net);
    if (error < 0) {
        GJ->release(body);
        return error;
    }
    *out = body;
    return 0;
}

/* The rules of a firewall object (allowed or denied), sorted. */
static void object_rules(const infra_json *list, gcp_rule **out, size_t *n)
{
    gcp_rule *rules = NULL;
    size_t count = 0;
    for (size_t i = 0; list != NULL && i < GJ->length(list); i++) {
        const infra_json *e = GJ->at(list, i);
        const infra_json *ports = GJ->get(e, "ports");
        size_t np = ports ? GJ->length(ports) : 0;
        for (size_t k = 0; k < (np ? np : 1); k++) {
            gcp_rule r;
            memset(&r, 0, sizeof(r));
            snprintf(r.proto, sizeof(r.proto), "%s",
                     pu_json_str(e, "IPProtocol") ? pu_json_str(e, "IPProtocol") : "");
            if (np)
                snprintf(r.ports, sizeof(r.ports), "%s",
                         GJ->string(GJ->at(ports, k)) ? GJ->string(GJ->at(ports, k)) : "");
            rules = pu_realloc(rules, (count + 1) * sizeof(*rules));
            rules[count++] = r;
        }
    }
    if (count > 0)
        qsort(rules, count, sizeof(*rules), rule_cmp);
    *out = rules;
    *n = count;
}

static int same_strs(const infra_json *obj, const char *key, char *const *want)
{
    char **had = NULL;
    int same = gcp_json_strv(GJ->get(obj, key), &had) == 0 && gcp_strv_same_set(had, want);
    gcp_strv_free(had);
    return same;
}

static int firewall_from_object(gcp_act *a, const infra_json *obj)
{
    infra_json *st = gcp_state_new(a->state);
    fw_want w;
    int error = gcp_state_ids(st, obj);

    if (error == 0 && a->state != NULL && want_load(a->call, a->state, &w) == 0) {
        gcp_rule *have = NULL;
        size_t nhave = 0;
        object_rules(GJ->get(obj, w.kind), &have, &nhave);
        int same =
            nhave == w.nrules && (nhave == 0 || memcmp(have, w.rules, nhave * sizeof(*have)) == 0);
        int ingress = strcmp(w.direction, "INGRESS") == 0;
        same = same && (!ingress || (same_strs(obj, "sourceRanges", w.ranges) &&
                                     same_strs(obj, "sourceTags", w.source_tags)));
        same = same && same_strs(obj, "targetTags", w.target_tags);
        same = same && gcp_json_long(obj, "priority", 1000) == w.priority;
        same = same && GJ->get(obj, w.kind) != NULL;
        if (!same) {
            /* Shown as Compute holds it, so that the difference plans an update. */
            const infra_json *held = GJ->get(obj, "allowed");
            error =
                pu_json_set_copy(st, held ? "allow" : "deny", held ? held : GJ->get(obj, "denied"));
            if (error == 0 && GJ->get(obj, held ? "denied" : "allowed") == NULL)
                GJ->remove(st, held ? "deny" : "allow");
            if (error == 0)
                error = pu_json_set_copy(st, "source_ranges", GJ->get(obj, "sourceRanges"));
            if (error == 0 && (GJ->get(obj, "sourceTags") || GJ->get(st, "source_tags")))
                error = pu_json_set_copy(st, "source_tags", GJ->get(obj, "sourceTags"));
            if (error == 0 && (GJ->get(obj, "targetTags") || GJ->get(st, "target_tags")))
                error = pu_json_set_copy(st, "target_tags", GJ->get(obj, "targetTags"));
            if (error == 0)
                error = pu_json_set_int(st, "priority", gcp_json_long(obj, "priority", 1000));
        }
        free(have);
        want_clear(&w);
    }
    if (error == 0)
        error = gcp_state_ref(st, "network", pu_json_str(obj, "network"));
    return gcp_state_finish(a, st, error);
}

static int firewall_apply(gcp_act *a)
{
    fw_want w;
    infra_json *body = NULL, *obj = NULL;
    char *name = NULL;
    int error = want_load(a->call, a->planned, &w);

    if (error < 0)
        return error;
    if (a->prior != NULL) {
        const char *id = gcp_state_id(a->prior);
        if (id == NULL) {
            want_clear(&w);
            return INFRA_ENOTFOUND;
        }
        /* The rule keeps its description (and the token in it). */
        infra_json *now = NULL;
        if ((error = gcp_get_object(a, id, "firewalls.get", &now)) < 0)
            goto done;
        const char *t;
        size_t tn;
        char *token = gcp_object_token(now, &t, &tn) ? pu_strndup(t, tn) : NULL;
        error = body_build(a, a->planned, &w, pu_json_str(now, "name"), token, &body);
        free(token);
        GJ->release(now);
        if (error == 0 &&
            (error = gcp_change(a, "PUT", id, "firewalls.update", body, "allow", NULL)) == 0)
            error = gcp_get_object(a, id, "firewalls.get", &obj);
    } else {
        name = gcp_resource_name(a, a->planned);
        if ((error = body_build(a, a->planned, &w, name, pu_host->call_token(a->call), &body)) == 0)
            error = gcp_insert(a, &firewall_kind, "global", body, "", &obj);
    }
    if (error == 0) {
        const infra_json *keep = a->state;
        a->state = a->planned;
        error = firewall_from_object(a, obj);
        a->state = keep;
    }
done:
    GJ->release(body);
    GJ->release(obj);
    free(name);
    want_clear(&w);
    return error;
}

static int firewall_remove(gcp_act *a)
{
    const char *id = gcp_state_id(a->prior);
    return id == NULL ? 0 : gcp_delete_path(a, id, "firewalls.delete");
}

static int firewall_read(gcp_act *a)
{
    infra_json *obj = NULL;
    int error = gcp_read_object(a, &firewall_kind, "global", "firewalls.get", &obj);
    if (error == 0)
        error = firewall_from_object(a, obj);
    GJ->release(obj);
    return error;
}

const gcp_handler gcp_firewall_handler = {"firewall",    firewall_apply, firewall_remove,
                                          firewall_read, &firewall_kind, firewall_from_object};
