/* Firewalls of the local provider: nftables rules inside each target
 * host's network namespace. A host has one table, "inet infra", whose
 * input chain drops by default and accepts established traffic, loopback,
 * ICMPv6 (neighbour discovery needs it) and the union of the rules of every firewall that targets
 * the host (as cloud security groups add up). The table is replaced atomically in one `nft -f`
 * transaction whenever one of those firewalls changes. */
#include "local.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *fw_dir(infra_provider *p, const char *id)
{
    return pu_printf("%s/firewalls/%s", p->base, id);
}

/* One normalised rule. */
typedef struct fw_rule {
    long lo, hi;   /* the ports, lo <= hi; 0 for icmp and all */
    char proto[5]; /* tcp, udp, icmp (every ICMP type) or all */
    char from[32]; /* "any" or a canonical a.b.c.d/n (sized for any int n) */
} fw_rule;

/* A port (a number or its text) or "LOW-HIGH" into lo and hi, with a
 * diagnostic at attr when it is not one, or out of 1..65535, or a range
 * whose low end is above its high end. */
static int ports_parse(infra_call *call, const char *attr, const infra_json *v, long *lo, long *hi)
{
    const char *text = LJ->string(v);
    if (text == NULL || strchr(text, '-') == NULL) {
        if (pu_json_to_int(v, lo) < 0 || *lo < 1 || *lo > 65535) {
            pu_diagf(call, attr, "port must be a number from 1 to 65535, or a range \"LOW-HIGH\"");
            return INFRA_EINVALID;
        }
        *hi = *lo;
        return 0;
    }
    char *end = NULL;
    *lo = strtol(text, &end, 10);
    int ok = end != text && *end == '-' && end[1] >= '0' && end[1] <= '9';
    if (ok) {
        const char *high = end + 1;
        *hi = strtol(high, &end, 10);
        ok = *end == '\0';
    }
    if (!ok || *lo < 1 || *lo > 65535 || *hi < 1 || *hi > 65535) {
        pu_diagf(call, attr,
                 "\"%s\" is not a port range: LOW-HIGH, both from 1 to 65535 (\"20000-32000\")",
                 text);
        return INFRA_EINVALID;
    }
    if (*lo > *hi) {
        pu_diagf(call, attr, "the range \"%s\" starts above its end: give the low port first",
                 text);
        return INFRA_EINVALID;
    }
    return 0;
}

/* Parses allow[i] into r: a port, "LOW-HIGH", or {port, proto, from}. */
static int rule_parse(infra_call *call, const infra_json *v, size_t i, fw_rule *r)
{
    static const char *const keys[] = {"port", "proto", "from", NULL};
    char attr[64];
    const infra_json *port = v;
    const char *proto = "tcp", *from = "any";

    memset(r, 0, sizeof(*r));
    snprintf(attr, sizeof(attr), "allow[%zu]", i);
    if (LJ->type(v) == INFRA_JSON_OBJECT) {
        if (pu_check_keys(call, "local", attr, v, keys) < 0)
            return INFRA_EINVALID;
        port = LJ->get(v, "port");
        if (LJ->get(v, "proto") != NULL)
            proto = LJ->string(LJ->get(v, "proto"));
        if (LJ->get(v, "from") != NULL)
            from = LJ->string(LJ->get(v, "from"));
    }
    if (proto == NULL || (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0 &&
                          strcmp(proto, "icmp") != 0 && strcmp(proto, "all") != 0)) {
        pu_diagf(call, attr, "proto must be tcp, udp, icmp or all");
        return INFRA_EINVALID;
    }
    snprintf(r->proto, sizeof(r->proto), "%s", proto);
    if (strcmp(proto, "icmp") == 0 || strcmp(proto, "all") == 0) {
        if (port != NULL) {
            pu_diagf(call, attr, "proto %s takes no port: it opens every %s", proto,
                     strcmp(proto, "icmp") == 0 ? "ICMP type" : "port of every protocol");
            return INFRA_EINVALID;
        }
    } else if (port == NULL) {
        pu_diagf(call, attr, "a %s rule needs a port", proto);
        return INFRA_EINVALID;
    } else if (ports_parse(call, attr, port, &r->lo, &r->hi) < 0) {
        return INFRA_EINVALID;
    }
    if (from != NULL && strcmp(from, "any") == 0) {
        snprintf(r->from, sizeof(r->from), "any");
        return 0;
    }
    uint32_t net;
    int len;
    char *cidr =
        from && !strchr(from, '/') ? pu_printf("%s/32", from) : pu_strdup(from ? from : "");
    int ok = local_cidr_parse(cidr, &net, &len) == 0;
    free(cidr);
    if (!ok) {
        pu_diagf(call, attr, "from must be \"any\" or an IPv4 range a.b.c.d/n");
        return INFRA_EINVALID;
    }
    char ip[16];
    local_ip_format(net, ip);
    snprintf(r->from, sizeof(r->from), "%s/%d", ip, len);
    return 0;
}

/* The nftables rule of r, as `nft list` shows it too, without the
 * indent or the newline. */
static char *rule_line(const fw_rule *r, const char *firewall_id)
{
    pu_buf b = {0};
    size_t n = strlen(r->from);
    if (n > 3 && strcmp(r->from + n - 3, "/32") == 0) /* nft shows one address bare */
        pu_buf_printf(&b, "ip saddr %.*s ", (int)(n - 3), r->from);
    else if (strcmp(r->from, "any") != 0)
        pu_buf_printf(&b, "ip saddr %s ", r->from);
    if (strcmp(r->proto, "icmp") == 0)
        pu_buf_printf(&b, "meta l4proto icmp ");
    else if (strcmp(r->proto, "all") != 0 && r->lo == r->hi)
        pu_buf_printf(&b, "%s dport %ld ", r->proto, r->lo);
    else if (strcmp(r->proto, "all") != 0)
        pu_buf_printf(&b, "%s dport %ld-%ld ", r->proto, r->lo, r->hi);
    pu_buf_printf(&b, "accept comment \"%s\"", firewall_id);
    return pu_buf_take(&b);
}

static int rules_parse(infra_call *call, const infra_json *allow, fw_rule **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (allow == NULL)
        return 0;
    if (LJ->type(allow) != INFRA_JSON_ARRAY) {
        pu_diagf(call, "allow", "allow must be a list of {port, proto, from}");
        return INFRA_EINVALID;
    }
    size_t count = LJ->length(allow);
    *out = pu_malloc((count ? count : 1) * sizeof(**out));
    int error = 0;
    for (size_t i = 0; i < count; i++) /* every entry, so that each gets its diagnostic */
        if (rule_parse(call, LJ->at(allow, i), i, &(*out)[i]) < 0)
            error = INFRA_EINVALID;
    if (error < 0) {
        free(*out);
        *out = NULL;
        return error;
    }
    *n = count;
    return 0;
}

int local_fw_validate_allow(infra_call *call, const infra_json *allow)
{
    fw_rule *rules = NULL;
    size_t n = 0;
    if (allow == NULL || LJ->type(allow) == INFRA_JSON_STRING) /* a reference, known later */
        return 0;
    int error = rules_parse(call, allow, &rules, &n);
    free(rules);
    return error;
}

/* The rules as a JSON array for the record. */
static infra_json *rules_json(const fw_rule *r, size_t n)
{
    infra_json *a = LJ->new_array();
    for (size_t i = 0; a && i < n; i++) {
        infra_json *o = LJ->new_object();
        char range[48];
        snprintf(range, sizeof(range), "%ld-%ld", r[i].lo, r[i].hi);
        int error = o == NULL            ? INFRA_EINTERNAL
                    : r[i].lo == 0       ? 0 /* icmp, all */
                    : r[i].lo == r[i].hi ? pu_json_set_int(o, "port", r[i].lo)
                                         : pu_json_set_str(o, "port", range);
        if (error < 0 || pu_json_set_str(o, "proto", r[i].proto) < 0 ||
            pu_json_set_str(o, "from", r[i].from) < 0 || LJ->append(a, o) < 0) {
            LJ->release(a);
            return NULL;
        }
    }
    return a;
}

/* Resolves targets (addresses or host ids on net) to a JSON array of host
 * ids. With report 0 an unknown target gives INFRA_ENOTFOUND silently. */
static int targets_resolve(infra_provider *p, infra_call *call, const local_net *net,
                           const infra_json *targets, int report, infra_json **out)
{
    infra_json *ids = LJ->new_array();
    if (ids == NULL)
        return INFRA_EINTERNAL;
    if (targets != NULL && LJ->type(targets) != INFRA_JSON_ARRAY) {
        if (report)
            pu_diagf(call, "targets", "targets must be a list of instance addresses or ids");
        LJ->release(ids);
        return INFRA_EINVALID;
    }
    for (size_t i = 0; targets && i < LJ->length(targets); i++) {
        const char *t = LJ->string(LJ->at(targets, i));
        char host[LOCAL_ID_SIZE];
        local_host h;
        int found = 0;
        if (t != NULL && local_id_valid(t, 0) && local_host_load(p, call, t, &h) == 0) {
            found = strcmp(h.network, net->id) == 0;
            memcpy(host, h.id, LOCAL_ID_SIZE);
        } else if (t != NULL && local_lease_owner(call, net, t, host) == 0) {
            found = local_host_alive(p, host) >= 0;
        }
        if (t != NULL && local_id_valid(t, 0))
            local_host_free(&h);
        if (!found) {
            if (report)
                pu_diagf(call, "targets", "target \"%s\" is not a host on network %s",
                         t ? t : "(not a string)", net->id);
            LJ->release(ids);
            return report ? INFRA_EINVALID : INFRA_ENOTFOUND;
        }
        LJ->append(ids, LJ->new_string(host));
    }
    *out = ids;
    return 0;
}

static int array_has(const infra_json *a, const char *s)
{
    for (size_t i = 0; a && i < LJ->length(a); i++)
        if (LJ->string(LJ->at(a, i)) && strcmp(LJ->string(LJ->at(a, i)), s) == 0)
            return 1;
    return 0;
}

/* Replaces host_id's table with the rules of every firewall targeting it,
 * or removes the table when none does. The caller holds the base lock. */
static int host_rules_apply(infra_provider *p, infra_call *call, const char *host_id)
{
    local_host h;
    pu_buf b = {0};
    const char *nft = NULL;
    int targeted = 0, error = 0;

    local_host_init(p, host_id, &h);
    if (local_host_alive(p, host_id) != 1)
        goto done; /* gone: its rules went with its namespace */
    if ((error = local_tool_path(p, call, LOCAL_TOOL_NFT, &nft)) < 0)
        goto done;
    pu_buf_printf(&b, "table inet infra\ndelete table inet infra\n"
                      "table inet infra {\n\tchain input {\n"
                      "\t\ttype filter hook input priority 0; policy drop;\n"
                      "\t\tct state established,related accept\n"
                      "\t\tiif \"lo\" accept\n"
                      "\t\tmeta l4proto ipv6-icmp accept\n");
    char *dir = pu_printf("%s/firewalls", p->base);
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        infra_json *rec = NULL;
        char *path = pu_printf("%s/%s/record.json", dir, ents[i]->d_name);
        if (local_id_valid(ents[i]->d_name, LOCAL_KIND_FIREWALL) &&
            local_json_load(call, path, &rec) == 0 && array_has(LJ->get(rec, "targets"), host_id)) {
            const infra_json *rules = LJ->get(rec, "rules");
            targeted = 1; /* even a firewall without rules drops the rest */
            for (size_t r = 0; r < LJ->length(rules); r++) {
                fw_rule rule;
                if (rule_parse(call, LJ->at(rules, r), r, &rule) < 0)
                    continue;
                char *line = rule_line(&rule, ents[i]->d_name);
                pu_buf_printf(&b, "\t\t%s\n", line);
                free(line);
            }
        }
        LJ->release(rec);
        free(path);
        free(ents[i]);
    }
    free(ents);
    free(dir);
    pu_buf_printf(&b, "\t}\n}\n");

    local_ns ns = {h.netns_path, NULL, NULL};
    char *file = pu_printf("%s/firewall.nft", h.dir);
    if (targeted) {
        if ((error = local_write_file(call, file, b.data, b.len, 0644)) == 0) {
            char *argv[] = {(char *)nft, "-f", file, NULL};
            error = local_run(call, "", argv, &ns, NULL);
        }
    } else if (local_exists(file)) {
        char *argv[] = {(char *)nft, "delete", "table", "inet", "infra", NULL};
        int status = 0;
        if ((error = local_exec(call, argv, &ns, 0, &status, NULL, NULL)) == 0)
            unlink(file);
    }
    free(file);
done:
    free(b.data);
    local_host_free(&h);
    return error;
}

static int record_save(infra_call *call, const char *dir, const char *id, const char *net_id,
                       infra_json *targets, infra_json *rules, int complete)
{
    infra_json *rec = LJ->new_object();
    char *path = pu_printf("%s/record.json", dir);
    int error = INFRA_EINTERNAL;
    if (rec != NULL && pu_json_set_str(rec, "id", id) == 0 &&
        pu_json_set_str(rec, "network", net_id) == 0 &&
        LJ->set(rec, "targets", LJ->copy(targets)) == 0 &&
        LJ->set(rec, "rules", LJ->copy(rules)) == 0 &&
        LJ->set(rec, "complete", LJ->new_bool(complete)) == 0)
        error = local_json_save(call, path, rec);
    LJ->release(rec);
    free(path);
    return error;
}

static int fw_state(const infra_json *base, const char *id, int ready, infra_json **out)
{
    infra_json *st = base ? LJ->copy(base) : LJ->new_object();
    if (st == NULL || pu_json_set_str(st, "id", id) < 0 ||
        pu_json_set_str(st, "status", ready ? "ready" : "incomplete") < 0) {
        LJ->release(st);
        return INFRA_EINTERNAL;
    }
    *out = st;
    return 0;
}

int local_fw_apply(infra_provider *p, infra_call *call, const infra_json *prior,
                   const infra_json *planned, infra_json **new_state)
{
    char id[LOCAL_ID_SIZE];
    local_net net;
    fw_rule *rules = NULL;
    size_t nrules = 0;
    infra_json *targets = NULL, *rules_j = NULL, *old = NULL, *state = NULL;
    char *dir = NULL;
    const char *nft = NULL;
    int fd = -1, error;

    memset(&net, 0, sizeof(net));
    if ((error = local_apply_id(call, prior, LOCAL_KIND_FIREWALL, id)) < 0 ||
        (error = local_tool_path(p, call, LOCAL_TOOL_NFT, &nft)) < 0 ||
        (error = local_net_load(p, call, "network", pu_json_str(planned, "network"), &net)) < 0 ||
        (error = rules_parse(call, LJ->get(planned, "allow"), &rules, &nrules)) < 0 ||
        (error = targets_resolve(p, call, &net, LJ->get(planned, "targets"), 1, &targets)) < 0)
        goto done;
    if ((rules_j = rules_json(rules, nrules)) == NULL) {
        error = INFRA_EINTERNAL;
        goto done;
    }
    dir = fw_dir(p, id);
    if ((error = local_base_lock(p, call, &fd)) < 0 || (error = local_mkdirs(call, dir, 0755)) < 0)
        goto done;
    char *path = pu_printf("%s/record.json", dir);
    if (local_json_load(call, path, &old) != 0)
        old = NULL;
    free(path);
    if ((error = fw_state(planned, id, 0, &state)) < 0 ||
        (error = local_state_save(call, dir, state)) < 0 ||
        (error = record_save(call, dir, id, net.id, targets, rules_j, 0)) < 0)
        goto done;
    const infra_json *was = old ? LJ->get(old, "targets") : NULL;
    for (size_t i = 0; error == 0 && was && i < LJ->length(was); i++)
        if (!array_has(targets, LJ->string(LJ->at(was, i))))
            error = host_rules_apply(p, call, LJ->string(LJ->at(was, i)));
    for (size_t i = 0; error == 0 && i < LJ->length(targets); i++)
        error = host_rules_apply(p, call, LJ->string(LJ->at(targets, i)));
    if (error < 0)
        goto done;
    LJ->release(state);
    state = NULL;
    if ((error = record_save(call, dir, id, net.id, targets, rules_j, 1)) < 0 ||
        (error = fw_state(planned, id, 1, &state)) < 0 ||
        (error = local_state_save(call, dir, state)) < 0)
        goto done;
    *new_state = state;
    state = NULL;
done:
    local_unlock(fd);
    LJ->release(targets);
    LJ->release(rules_j);
    LJ->release(old);
    LJ->release(state);
    free(rules);
    free(dir);
    local_net_free(&net);
    return error;
}

/* 1 when the listing of a host's table holds rule of firewall_id. */
static int listing_has(const char *listing, const fw_rule *rule, const char *firewall_id)
{
    char *line = rule_line(rule, firewall_id);
    char *want = pu_printf("\t%s\n", line);
    int found = strstr(listing, want) != NULL;
    free(want);
    free(line);
    return found;
}

/* 1 when every target of the record has its table, holding each rule of
 * the record (what nftables reads back), and the configured targets still
 * resolve to the same hosts. */
static int fw_in_place(infra_provider *p, infra_call *call, local_scan *scan, const infra_json *rec,
                       const infra_json *config)
{
    const infra_json *ids = LJ->get(rec, "targets");
    local_net net;
    infra_json *now = NULL;
    int ok = 1;

    if (local_net_load(p, call, "", pu_json_str(rec, "network"), &net) < 0)
        return 0;
    if (config != NULL) {
        ok = targets_resolve(p, call, &net, LJ->get(config, "targets"), 0, &now) == 0 &&
             LJ->equal(now, ids);
        LJ->release(now);
    }
    local_net_free(&net);
    const infra_json *rules = LJ->get(rec, "rules");
    const char *id = pu_json_str(rec, "id");
    for (size_t i = 0; ok && i < LJ->length(ids); i++) {
        const char *listing = local_scan_fw_table(scan, p, call, LJ->string(LJ->at(ids, i)));
        ok = listing != NULL;
        for (size_t r = 0; ok && id != NULL && r < LJ->length(rules); r++) {
            fw_rule rule;
            ok = rule_parse(call, LJ->at(rules, r), r, &rule) == 0 &&
                 listing_has(listing, &rule, id);
        }
    }
    return ok;
}

int local_fw_read(infra_provider *p, infra_call *call, local_scan *scan, const infra_json *state,
                  infra_json **out)
{
    char id[LOCAL_ID_SIZE];
    infra_json *rec = NULL, *saved = NULL;
    local_scan *own = scan == NULL ? local_scan_new() : NULL;
    int error;

    if ((error = local_read_id(call, state, LOCAL_KIND_FIREWALL, id)) < 0) {
        local_scan_free(own);
        return error;
    }
    char *dir = fw_dir(p, id);
    if ((error = local_record_read(call, dir, id, state, &rec, &saved, out)) != 0) {
        error = error > 0 ? 0 : error; /* 1: a partial state answered */
        goto done;
    }
    const infra_json *base = state ? state : saved;
    int ready =
        LJ->boolean(LJ->get(rec, "complete")) && fw_in_place(p, call, scan ? scan : own, rec, base);
    error = fw_state(base, id, ready, out);
done:
    local_scan_free(own);
    LJ->release(rec);
    LJ->release(saved);
    free(dir);
    return error;
}

int local_fw_delete(infra_provider *p, infra_call *call, const infra_json *prior)
{
    const char *id = local_state_id(prior, LOCAL_KIND_FIREWALL);
    infra_json *rec = NULL;
    int fd = -1, error;

    if (id == NULL)
        return INFRA_ENOTFOUND;
    char *dir = fw_dir(p, id);
    char *path = pu_printf("%s/record.json", dir);
    if (!local_exists(dir)) {
        error = INFRA_ENOTFOUND;
        goto done;
    }
    if ((error = local_base_lock(p, call, &fd)) < 0)
        goto done;
    if (local_json_load(call, path, &rec) == 0) {
        /* The record goes first so the hosts' tables are rebuilt without it. */
        unlink(path);
        const infra_json *targets = LJ->get(rec, "targets");
        for (size_t i = 0; error == 0 && i < LJ->length(targets); i++)
            error = host_rules_apply(p, call, LJ->string(LJ->at(targets, i)));
        if (error < 0) {
            local_json_save(call, path, rec); /* keep it for the retry */
            goto done;
        }
    }
    error = local_rmtree(call, dir);
    local_unlock(fd);
    fd = -1;
    local_gc(p, call);
done:
    local_unlock(fd);
    LJ->release(rec);
    free(path);
    free(dir);
    return error;
}
