/* DNS records: Route 53 record sets in an existing hosted zone. A create
 * or update is an UPSERT, a delete removes exactly the record the state
 * describes; each waits until Route 53 reports the change INSYNC. A
 * create does not take over a record someone else made unless
 * allow_overwrite says so. Route 53 has no tags, so a record is found by
 * its name and type, not by token. */
#include "aws_res.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_TTL 300

/* The absolute name, without the final dot (caller frees). */
static char *fqdn_of(const char *name, const char *zone)
{
    char *z = pu_strdup(zone);
    size_t zn = strlen(z);
    while (zn > 0 && z[zn - 1] == '.')
        z[--zn] = '\0';
    if (name == NULL || *name == '\0' || strcmp(name, "@") == 0)
        return z;
    size_t n = strlen(name);
    char *out;
    if (name[n - 1] == '.') {
        out = pu_strndup(name, n - 1);
    } else if (n >= zn && strcasecmp(name + n - zn, z) == 0 &&
               (n == zn || name[n - zn - 1] == '.')) {
        out = pu_strdup(name);
    } else {
        out = pu_printf("%s.%s", name, z);
    }
    free(z);
    for (char *c = out; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return out;
}

static int all_match(char *const *v, int (*pred)(const char *))
{
    if (aws_strv_len(v) == 0)
        return 0;
    for (size_t i = 0; v[i] != NULL; i++)
        if (!pred(v[i]))
            return 0;
    return 1;
}

static int is_ipv6(const char *s)
{
    return strchr(s, ':') != NULL;
}

/* TXT values are quoted strings in Route 53. */
static char *quoted(const char *s)
{
    if (s[0] == '"')
        return pu_strdup(s);
    pu_buf b = {0};
    pu_buf_put(&b, "\"", 1);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            pu_buf_put(&b, "\\", 1);
        pu_buf_put(&b, s, 1);
    }
    pu_buf_put(&b, "\"", 1);
    return pu_buf_take(&b);
}

static char *no_dot(const char *s)
{
    char *out = pu_strdup(s ? s : "");
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '.')
        out[--n] = '\0';
    for (char *c = out; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return out;
}

/* What elb_zone_of looks for, page by page. */
typedef struct zone_search {
    const char *want; /* the DNS name without the final dot, lowercase */
    char *zone;       /* its hosted zone once found */
} zone_search;

static int zone_page(void *ud, const xmlNode *result)
{
    zone_search *z = ud;
    xmlNode *set = aws_xml_child(result, "LoadBalancerDescriptions");
    for (xmlNode *m = aws_xml_child(set, "member"); m != NULL && z->zone == NULL;
         m = aws_xml_next(m)) {
        char *name = aws_xml_get(m, "DNSName");
        char *got = no_dot(name);
        if (strcmp(got, z->want) == 0)
            z->zone = aws_xml_get(m, "CanonicalHostedZoneNameID");
        free(name);
        free(got);
    }
    return z->zone != NULL;
}

/* The hosted zone of the Classic load balancer whose DNS name is dns. */
static int elb_zone_of(aws_act *a, const char *dns, char **zone)
{
    char *want = no_dot(dns);
    zone_search z = {want, NULL};
    int error = aws_elb_pages(a, "target", zone_page, &z);
    *zone = z.zone;
    if (error == 0 && *zone == NULL) {
        pu_diagf(a->call, "target",
                 "no load balancer in %s has the DNS name %s: an alias needs one (or give "
                 "alias_zone_id)",
                 a->p->region, want);
        error = INFRA_EINVALID;
    }
    free(want);
    return error;
}

/* The record set the config asks for; *zone_id and *fqdn are set too. */
static int wanted(aws_act *a, const infra_json *cfg, int lookups, char **zone_id, char **fqdn,
                  aws_rrset *out)
{
    const char *zone = pu_json_str(cfg, "zone");
    const char *type = pu_json_str(cfg, "type");
    char **targets = NULL;
    int alias = 0, error = 0;
    long ttl = DEFAULT_TTL;

    memset(out, 0, sizeof(*out));
    *zone_id = *fqdn = NULL;
    if (zone == NULL) {
        pu_diagf(a->call, "zone", "a dns_record needs zone: a hosted zone name");
        return INFRA_EINVALID;
    }
    if (aws_json_strv(AJ->get(cfg, "target"), &targets) < 0 || aws_strv_len(targets) == 0) {
        aws_strv_free(targets);
        pu_diagf(a->call, "target", "target must be a value or a list of values");
        return INFRA_EINVALID;
    }
    pu_json_to_bool(AJ->get(cfg, "alias"), &alias);
    pu_json_to_int(AJ->get(cfg, "ttl"), &ttl);
    *fqdn = fqdn_of(pu_json_str(cfg, "name"), zone);
    out->name = pu_printf("%s.", *fqdn);
    if (type == NULL)
        type = alias || all_match(targets, aws_is_ipv4) ? "A"
               : all_match(targets, is_ipv6)            ? "AAAA"
                                                        : "CNAME";
    out->type = pu_strdup(type);
    if (alias) {
        const char *zid = pu_json_str(cfg, "alias_zone_id");
        if (aws_strv_len(targets) != 1) {
            pu_diagf(a->call, "target",
                     "an alias record has one target: a load balancer's "
                     "dns_name");
            error = INFRA_EINVALID;
        } else {
            out->alias_dns = pu_strdup(targets[0]);
            out->ttl = -1;
            out->values = pu_calloc(1, sizeof(char *));
            if (zid != NULL)
                out->alias_zone = pu_strdup(zid);
            else if (lookups)
                error = elb_zone_of(a, targets[0], &out->alias_zone);
        }
    } else {
        out->ttl = ttl;
        out->values = pu_calloc(1, sizeof(char *));
        for (size_t i = 0; targets[i] != NULL; i++) {
            char *v = strcmp(type, "TXT") == 0 ? quoted(targets[i]) : pu_strdup(targets[i]);
            aws_strv_push(&out->values, v);
            free(v);
        }
        if (strcmp(type, "CNAME") == 0 && aws_strv_len(targets) > 1) {
            pu_diagf(a->call, "target", "a CNAME record has one target");
            error = INFRA_EINVALID;
        }
    }
    aws_strv_free(targets);
    if (error == 0 && lookups)
        error = aws_r53_zone_id(a->p, a->call, "zone", zone, zone_id);
    if (error < 0) {
        aws_rrset_free(out);
        free(*fqdn);
        free(*zone_id);
        *fqdn = *zone_id = NULL;
    }
    return error;
}

/* 1 when two record sets say the same (values in any order). */
static int same_rrset(const aws_rrset *x, const aws_rrset *y)
{
    if (strcasecmp(x->type, y->type) != 0)
        return 0;
    if ((x->alias_dns == NULL) != (y->alias_dns == NULL))
        return 0;
    if (x->alias_dns != NULL) {
        char *p = no_dot(x->alias_dns), *q = no_dot(y->alias_dns);
        int same = strcmp(p, q) == 0;
        free(p);
        free(q);
        return same;
    }
    if (x->ttl != y->ttl || aws_strv_len(x->values) != aws_strv_len(y->values))
        return 0;
    for (size_t i = 0; x->values[i] != NULL; i++) {
        int found = 0;
        for (size_t k = 0; y->values[k] != NULL && !found; k++) {
            char *p = no_dot(x->values[i]), *q = no_dot(y->values[k]);
            found = strcmp(p, q) == 0;
            free(p);
            free(q);
        }
        if (!found)
            return 0;
    }
    return 1;
}

static int record_state(aws_act *a, const infra_json *base, const char *zone_id, const char *fqdn,
                        const char *type, infra_json **out)
{
    infra_json *st = aws_state_new(base);
    char *id = pu_printf("%s/%s/%s", zone_id, fqdn, type);
    int error;
    if ((error = pu_json_set_str(st, "id", id)) < 0 ||
        (error = pu_json_set_str(st, "fqdn", fqdn)) < 0 ||
        (error = pu_json_set_str(st, "zone_id", zone_id)) < 0 ||
        (error = pu_json_set_str(st, "type", type)) < 0) {
        AJ->release(st);
    } else {
        *out = st;
    }
    free(id);
    (void)a;
    return error;
}

static int upsert(aws_act *a, const char *zone_id, const aws_rrset *set)
{
    char *change = NULL;
    char *comment = pu_printf("infra: %s", pu_host->call_address(a->call));
    int error = aws_r53_change(a->p, a->call, "", zone_id, "UPSERT", set, comment, &change);
    if (error == 0 && change != NULL)
        error = aws_r53_wait(a->p, a->call, "", change, AWS_WAIT_DNS_MS);
    free(change);
    free(comment);
    return error;
}

static int dns_record_apply(aws_act *a)
{
    char *zone_id = NULL, *fqdn = NULL;
    aws_rrset want = {0}, now = {0};
    infra_json *st = NULL;
    int error, overwrite = 0;

    if ((error = wanted(a, a->planned, 1, &zone_id, &fqdn, &want)) < 0)
        return error;
    pu_json_to_bool(AJ->get(a->planned, "allow_overwrite"), &overwrite);
    if (a->prior == NULL && !overwrite) {
        error = aws_r53_get(a->p, a->call, "name", zone_id, want.name, want.type, &now);
        if (error == 0 && !same_rrset(&now, &want)) {
            pu_diagf(a->call, "name",
                     "aws: the %s record %s already exists in Route 53 with other values; set "
                     "allow_overwrite: true to take it over",
                     want.type, fqdn);
            error = INFRA_ECONFLICT;
            goto done;
        }
        if (error == INFRA_ENOTFOUND)
            error = 0;
        if (error < 0)
            goto done;
    }
    if ((error = upsert(a, zone_id, &want)) == 0)
        error = record_state(a, a->planned, zone_id, fqdn, want.type, &st);
done:
    aws_rrset_free(&want);
    aws_rrset_free(&now);
    free(zone_id);
    free(fqdn);
    return aws_state_finish(a, st, error);
}

/* The record set the state names, from its id "ZONE/FQDN/TYPE". */
static int from_id(const infra_json *state, char **zone_id, char **name, char **type)
{
    const char *id = aws_state_id(state);
    const char *s1 = id ? strchr(id, '/') : NULL;
    const char *s2 = s1 ? strrchr(s1 + 1, '/') : NULL;
    if (s2 == NULL || s2 == s1)
        return INFRA_ENOTFOUND;
    *zone_id = pu_strndup(id, (size_t)(s1 - id));
    *name = pu_strndup(s1 + 1, (size_t)(s2 - s1 - 1));
    *type = pu_strdup(s2 + 1);
    return 0;
}

static int dns_record_remove(aws_act *a)
{
    char *zone_id = NULL, *name = NULL, *type = NULL, *change = NULL;
    aws_rrset now = {0};
    if (from_id(a->prior, &zone_id, &name, &type) < 0)
        return 0;
    /* The record as it is now: DELETE must name it exactly. */
    int error = aws_r53_get(a->p, a->call, "", zone_id, name, type, &now);
    if (error == 0) {
        error = aws_r53_change(a->p, a->call, "", zone_id, "DELETE", &now, NULL, &change);
        if (error == INFRA_EINVALID) /* gone (or changed) since the read */
            error = 0;
        if (error == 0 && change != NULL)
            error = aws_r53_wait(a->p, a->call, "", change, AWS_WAIT_DNS_MS);
    } else if (error == INFRA_ENOTFOUND) {
        error = 0;
    }
    aws_rrset_free(&now);
    free(zone_id);
    free(name);
    free(type);
    free(change);
    return error;
}

/* The state of the record as Route 53 holds it now. */
static int dns_record_refresh(aws_act *a, const char *zone_id, const aws_rrset *now)
{
    aws_rrset want = {0};
    char *wz = NULL, *wf = NULL;
    infra_json *st = aws_state_new(a->state), *out = NULL;
    int error = 0;
    /* The state's target while Route 53 holds the same, else what it holds. */
    if (wanted(a, a->state, 0, &wz, &wf, &want) == 0 && !same_rrset(now, &want)) {
        if (now->alias_dns != NULL) {
            char *dns = no_dot(now->alias_dns);
            error = pu_json_set_str(st, "target", dns);
            free(dns);
        } else if (aws_strv_len(now->values) == 1) {
            error = pu_json_set_str(st, "target", now->values[0]);
        } else {
            error = aws_json_set_strv(st, "target", now->values);
        }
        if (error == 0 && now->alias_dns == NULL && AJ->get(st, "ttl") != NULL)
            error = pu_json_set_int(st, "ttl", now->ttl);
    }
    if (error == 0) {
        char *fqdn = no_dot(now->name);
        error = record_state(a, st, zone_id, fqdn, now->type, &out);
        free(fqdn);
    }
    AJ->release(st);
    aws_rrset_free(&want);
    free(wz);
    free(wf);
    return aws_state_finish(a, out, error);
}

static int dns_record_read(aws_act *a)
{
    char *zone_id = NULL, *name = NULL, *type = NULL;
    aws_rrset now = {0};
    int error;

    if (a->state == NULL || from_id(a->state, &zone_id, &name, &type) < 0)
        return INFRA_ENOTFOUND; /* Route 53 records carry no token */
    if ((error = aws_r53_get(a->p, a->call, "", zone_id, name, type, &now)) == 0)
        error = dns_record_refresh(a, zone_id, &now);
    aws_rrset_free(&now);
    free(zone_id);
    free(name);
    free(type);
    return error;
}

/* The records of a batch in one zone, and what the walk found of each. */
typedef struct zone_walk {
    aws_many *m;
    const char *zone_id;
    char **names; /* per act: its dotted name, NULL when in another zone */
    char **types;
    aws_rrset *found; /* per act; name NULL until found */
} zone_walk;

static int walk_each(void *ud, aws_rrset *rrset)
{
    zone_walk *w = ud;
    for (size_t i = 0; i < w->m->n; i++) {
        if (w->names[i] == NULL || w->found[i].name != NULL || rrset->name == NULL ||
            rrset->type == NULL || strcmp(w->names[i], rrset->name) != 0 ||
            strcasecmp(w->types[i], rrset->type) != 0)
            continue;
        w->found[i] = *rrset;
        memset(rrset, 0, sizeof(*rrset));
        break; /* a second record of that name and type is another act's */
    }
    return 0;
}

/* One ListResourceRecordSets walk per hosted zone for every record of it. */
static int dns_record_read_many(aws_many *m)
{
    char **zones = pu_calloc(m->n + 1, sizeof(char *));
    char **names = pu_calloc(m->n + 1, sizeof(char *));
    char **types = pu_calloc(m->n + 1, sizeof(char *));
    aws_rrset *found = pu_calloc(m->n + 1, sizeof(aws_rrset));
    int error = 0;

    for (size_t i = 0; i < m->n; i++) {
        char *name = NULL;
        m->results[i] = INFRA_ENOTFOUND;
        if (from_id(m->acts[i].state, &zones[i], &name, &types[i]) < 0)
            continue;
        names[i] = aws_r53_dotted(name);
        free(name);
    }
    for (size_t i = 0; error == 0 && i < m->n; i++) {
        int seen = zones[i] == NULL;
        for (size_t k = 0; !seen && k < i; k++)
            seen = zones[k] != NULL && strcmp(zones[k], zones[i]) == 0;
        if (seen)
            continue;
        char **in_zone = pu_calloc(m->n + 1, sizeof(char *));
        for (size_t k = 0; k < m->n; k++)
            in_zone[k] = zones[k] != NULL && strcmp(zones[k], zones[i]) == 0 ? names[k] : NULL;
        zone_walk w = {m, zones[i], in_zone, types, found};
        error = aws_r53_list(m->p, m->call, "", zones[i], walk_each, &w);
        free(in_zone);
    }
    for (size_t i = 0; error == 0 && i < m->n; i++)
        if (found[i].name != NULL)
            m->results[i] = dns_record_refresh(&m->acts[i], zones[i], &found[i]);
    for (size_t i = 0; i < m->n; i++) {
        free(zones[i]);
        free(names[i]);
        free(types[i]);
        aws_rrset_free(&found[i]);
    }
    free(zones);
    free(names);
    free(types);
    free(found);
    return error;
}

const aws_handler aws_dns_record_handler = {"dns_record", dns_record_apply, dns_record_remove,
                                            dns_record_read, dns_record_read_many};
