/* DNS records: Cloud DNS record sets in an existing managed zone. Every
 * create, update and delete is one changes.create (deletions of the set as
 * Cloud DNS holds it, additions of the set wanted), waited for until
 * "done". A create carries a clientOperationId derived from its token, so
 * a repeated create is answered with the first change. A create does not
 * take over a record set someone else made unless allow_overwrite says
 * so. Record sets take no labels: they are found by name and type. */
#include "gcp_res.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_TTL 300

/* "www.example.org." from name and zone ("@" is the zone itself). */
static char *fqdn_of(const char *name, const char *zone)
{
    char *z = pu_strdup(zone);
    size_t zn = strlen(z);
    while (zn > 0 && z[zn - 1] == '.')
        z[--zn] = '\0';
    char *out;
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || strcmp(name, "@") == 0)
        out = pu_printf("%s.", z);
    else if (name[n - 1] == '.')
        out = pu_strdup(name);
    else if (n >= zn && strcasecmp(name + n - zn, z) == 0 && (n == zn || name[n - zn - 1] == '.'))
        out = pu_printf("%s.", name);
    else
        out = pu_printf("%s.%s.", name, z);
    free(z);
    for (char *c = out; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return out;
}

static int is_ipv6(const char *s)
{
    return strchr(s, ':') != NULL;
}

/* The record type cfg asks for, or the one its targets imply. */
static const char *type_of(const infra_json *cfg, char *const *targets)
{
    const char *t = pu_json_str(cfg, "type");
    if (t != NULL && *t)
        return t;
    int all4 = gcp_strv_len(targets) > 0, all6 = all4;
    for (size_t i = 0; targets != NULL && targets[i] != NULL; i++) {
        all4 = all4 && gcp_is_ipv4(targets[i]);
        all6 = all6 && is_ipv6(targets[i]);
    }
    return all4 ? "A" : all6 ? "AAAA" : "CNAME";
}

/* The rrdatas of targets for type: names absolute, TXT quoted. */
static char **rrdatas_of(const char *type, char *const *targets)
{
    char **out = gcp_strv_new();
    for (size_t i = 0; targets != NULL && targets[i] != NULL; i++) {
        const char *t = targets[i];
        size_t n = strlen(t);
        char *v;
        if ((strcmp(type, "CNAME") == 0 || strcmp(type, "NS") == 0 || strcmp(type, "PTR") == 0) &&
            n > 0 && t[n - 1] != '.')
            v = pu_printf("%s.", t);
        else if (strcmp(type, "TXT") == 0 && t[0] != '"')
            v = pu_printf("\"%s\"", t);
        else
            v = pu_strdup(t);
        gcp_strv_push(&out, v);
        free(v);
    }
    return out;
}

/* The managed zone whose dnsName is zone (by name when it is one), cached. */
static int zone_name(gcp_act *a, const char *zone, char **out)
{
    char *dns = fqdn_of("@", zone);
    infra_provider *p = a->p;
    int error = 0;

    *out = NULL;
    pthread_mutex_lock(&p->cache_lock);
    for (size_t i = 0; p->zone_cache != NULL && p->zone_cache[i] && p->zone_cache[i + 1]; i += 2)
        if (strcmp(p->zone_cache[i], dns) == 0)
            *out = pu_strdup(p->zone_cache[i + 1]);
    pthread_mutex_unlock(&p->cache_lock);
    if (*out != NULL) {
        free(dns);
        return 0;
    }
    char *path = pu_printf("projects/%s/managedZones", p->project);
    char *enc = gcp_url_encode(dns);
    char *query = pu_printf("dnsName=%s", enc);
    infra_json *doc = NULL;
    error = gcp_get(p, a->call, GCP_DNS, path, query, "managedZones.list", "zone", NULL, &doc);
    const infra_json *zones = GJ->get(doc, "managedZones");
    const char *name = zones ? pu_json_str(GJ->at(zones, 0), "name") : NULL;
    if (error == 0 && name == NULL) {
        /* Perhaps zone is the managed zone's own name. */
        char *zpath = pu_printf("%s/%s", path, zone);
        infra_json *z = NULL;
        if (gcp_get(p, a->call, GCP_DNS, zpath, NULL, "managedZones.get", "zone", "notFound", &z) ==
                0 &&
            pu_json_str(z, "name") != NULL) {
            *out = pu_strdup(pu_json_str(z, "name"));
            free(dns);
            dns = pu_strdup(pu_json_str(z, "dnsName") ? pu_json_str(z, "dnsName") : zone);
        }
        GJ->release(z);
        free(zpath);
        if (*out == NULL) {
            pu_diagf(a->call, "zone", "gcp: project %s has no Cloud DNS managed zone for %s",
                     p->project, dns);
            error = INFRA_EINVALID;
        }
    } else if (error == 0) {
        *out = pu_strdup(name);
    }
    if (error == 0) {
        pthread_mutex_lock(&p->cache_lock);
        gcp_strv_push(&p->zone_cache, dns);
        gcp_strv_push(&p->zone_cache, *out);
        pthread_mutex_unlock(&p->cache_lock);
    }
    GJ->release(doc);
    free(query);
    free(enc);
    free(path);
    free(dns);
    return error;
}

/* The record set name/type of the zone: 0 with *out (caller releases),
 * INFRA_ENOTFOUND when there is none. */
static int rrset_get(gcp_act *a, const char *zone, const char *fqdn, const char *type,
                     infra_json **out)
{
    char *path = pu_printf("projects/%s/managedZones/%s/rrsets", a->p->project, zone);
    char *n = gcp_url_encode(fqdn), *t = gcp_url_encode(type);
    char *query = pu_printf("name=%s&type=%s", n, t);
    infra_json *doc = NULL;
    int error =
        gcp_get(a->p, a->call, GCP_DNS, path, query, "resourceRecordSets.list", "", NULL, &doc);
    *out = NULL;
    const infra_json *sets = GJ->get(doc, "rrsets");
    for (size_t i = 0; error == 0 && sets != NULL && i < GJ->length(sets) && *out == NULL; i++) {
        const infra_json *s = GJ->at(sets, i);
        if (pu_json_str(s, "name") && strcasecmp(pu_json_str(s, "name"), fqdn) == 0 &&
            pu_json_str(s, "type") && strcmp(pu_json_str(s, "type"), type) == 0)
            *out = GJ->copy(s);
    }
    if (error == 0 && *out == NULL)
        error = INFRA_ENOTFOUND;
    GJ->release(doc);
    free(query);
    free(n);
    free(t);
    free(path);
    return error;
}

/* Waits until the change is done. */
static int change_wait(gcp_act *a, const char *zone, const infra_json *change)
{
    const char *id = pu_json_str(change, "id");
    const char *status = pu_json_str(change, "status");
    char *path =
        pu_printf("projects/%s/managedZones/%s/changes/%s", a->p->project, zone, id ? id : "");
    int64_t deadline = pu_host->now_ms() + GCP_WAIT_DNS_MS;
    int64_t delay = 500;
    int error = 0;
    while (status == NULL || strcmp(status, "done") != 0) {
        if (pu_host->now_ms() + delay > deadline) {
            pu_diagf(a->call, "", "gcp: Cloud DNS change %s of zone %s was not done within %d s",
                     id ? id : "?", zone, GCP_WAIT_DNS_MS / 1000);
            error = INFRA_ETRANSIENT;
            break;
        }
        if ((error = gcp_sleep(a->p, a->call, delay)) < 0)
            break;
        delay = delay * 2 > 10000 ? 10000 : delay * 2;
        infra_json *now = NULL;
        if ((error = gcp_get(a->p, a->call, GCP_DNS, path, NULL, "changes.get", "", NULL, &now)) <
            0)
            break;
        status = pu_json_str(now, "status");
        int done = status != NULL && strcmp(status, "done") == 0;
        GJ->release(now);
        if (done)
            break;
        status = NULL;
    }
    free(path);
    return error;
}

/* One change: deletions (may be NULL) and additions (may be NULL), with
 * clientOperationId client_id. */
static int change(gcp_act *a, const char *zone, const infra_json *deletion,
                  const infra_json *addition, const char *client_id, const char *attr)
{
    infra_json *body = GJ->new_object();
    if (deletion != NULL) {
        infra_json *d = GJ->new_array();
        GJ->append(d, GJ->copy(deletion));
        pu_json_set(body, "deletions", d);
    }
    if (addition != NULL) {
        infra_json *ad = GJ->new_array();
        GJ->append(ad, GJ->copy(addition));
        pu_json_set(body, "additions", ad);
    }
    char *path = pu_printf("projects/%s/managedZones/%s/changes", a->p->project, zone);
    char *query = pu_printf("clientOperationId=%s", client_id);
    gcp_req req = {
        .service = GCP_DNS,
        .method = "POST",
        .path = path,
        .query = query,
        .body = body,
        .what = "changes.create",
        .attr = attr,
        .flags = GCP_SAFE,
    };
    gcp_resp *r = NULL;
    int error = gcp_call(a->p, a->call, &req, &r);
    if (error == 0)
        error = change_wait(a, zone, r->json);
    gcp_resp_free(r);
    GJ->release(body);
    free(path);
    free(query);
    return error;
}

typedef struct record_want {
    char *zone; /* managed zone name */
    char *fqdn; /* "www.example.org." */
    const char *type;
    long ttl;
    char **rrdatas;
} record_want;

static void want_clear(record_want *w)
{
    free(w->zone);
    free(w->fqdn);
    gcp_strv_free(w->rrdatas);
    memset(w, 0, sizeof(*w));
}

static int want_load(gcp_act *a, const infra_json *cfg, int lookup_zone, record_want *w)
{
    char **targets = NULL;
    memset(w, 0, sizeof(*w));
    const char *zone = pu_json_str(cfg, "zone");
    if (zone == NULL) {
        pu_diagf(a->call, "zone", "a dns_record needs zone: the managed zone's DNS name");
        return INFRA_EINVALID;
    }
    if (gcp_json_strv(GJ->get(cfg, "target"), &targets) < 0 || gcp_strv_len(targets) == 0) {
        gcp_strv_free(targets);
        pu_diagf(a->call, "target", "target must be a value or a list of values");
        return INFRA_EINVALID;
    }
    w->fqdn = fqdn_of(pu_json_str(cfg, "name"), zone);
    w->type = type_of(cfg, targets);
    w->ttl = gcp_json_long(cfg, "ttl", DEFAULT_TTL);
    w->rrdatas = rrdatas_of(w->type, targets);
    gcp_strv_free(targets);
    if (lookup_zone)
        return zone_name(a, zone, &w->zone);
    return 0;
}

static infra_json *rrset_json(const record_want *w)
{
    infra_json *s = GJ->new_object();
    pu_json_set_str(s, "kind", "dns#resourceRecordSet");
    pu_json_set_str(s, "name", w->fqdn);
    pu_json_set_str(s, "type", w->type);
    pu_json_set_int(s, "ttl", w->ttl);
    gcp_json_set_strv(s, "rrdatas", w->rrdatas);
    return s;
}

static int same_set(const infra_json *have, const record_want *w)
{
    char **data = NULL;
    int same = gcp_json_long(have, "ttl", -1) == w->ttl &&
               gcp_json_strv(GJ->get(have, "rrdatas"), &data) == 0 &&
               gcp_strv_same_set(data, w->rrdatas);
    gcp_strv_free(data);
    return same;
}

static int record_state(gcp_act *a, const infra_json *base, const record_want *w,
                        const infra_json *have, infra_json **out)
{
    infra_json *st = gcp_state_new(base);
    char *id = pu_printf("%s/%s/%s", w->zone, w->fqdn, w->type);
    char *fqdn = pu_strndup(w->fqdn, strlen(w->fqdn) - 1);
    int error;
    if ((error = pu_json_set_str(st, "id", id)) == 0 &&
        (error = pu_json_set_str(st, "fqdn", fqdn)) == 0 &&
        (error = pu_json_set_str(st, "managed_zone", w->zone)) == 0 &&
        (error = pu_json_set_str(st, "type", w->type)) == 0 && have != NULL && !same_set(have, w)) {
        /* Shown as Cloud DNS holds it, so that the difference plans an update. */
        if ((error = pu_json_set_copy(st, "target", GJ->get(have, "rrdatas"))) == 0)
            error = pu_json_set_int(st, "ttl", gcp_json_long(have, "ttl", 0));
    }
    free(id);
    free(fqdn);
    (void)a;
    if (error < 0) {
        GJ->release(st);
        return error;
    }
    *out = st;
    return 0;
}

static int record_apply(gcp_act *a)
{
    record_want w;
    infra_json *have = NULL, *want = NULL, *st = NULL;
    int error = want_load(a, a->planned, 1, &w);
    if (error < 0)
        goto done;
    want = rrset_json(&w);
    error = rrset_get(a, w.zone, w.fqdn, w.type, &have);
    if (error < 0 && error != INFRA_ENOTFOUND)
        goto done;
    if (a->prior == NULL && have != NULL && !same_set(have, &w)) {
        int overwrite = 0;
        pu_json_to_bool(GJ->get(a->planned, "allow_overwrite"), &overwrite);
        if (!overwrite) {
            pu_diagf(a->call, "name",
                     "gcp: the record set %s %s already exists in zone %s with other data; set "
                     "allow_overwrite: true to take it over",
                     w.fqdn, w.type, w.zone);
            error = INFRA_ECONFLICT;
            goto done;
        }
    }
    error = 0;
    if (have == NULL || !same_set(have, &w)) {
        char rid[37];
        char *step = pu_printf("change %s %s", w.fqdn, w.type);
        gcp_step_request_id(a, step, rid);
        free(step);
        error = change(a, w.zone, have, want, rid, "target");
    }
    if (error == 0)
        error = record_state(a, a->planned, &w, NULL, &st);
done:
    GJ->release(have);
    GJ->release(want);
    want_clear(&w);
    return gcp_state_finish(a, st, error);
}

static int record_remove(gcp_act *a)
{
    record_want w;
    infra_json *have = NULL;
    int error = want_load(a, a->prior, 1, &w);
    if (error == 0 && (error = rrset_get(a, w.zone, w.fqdn, w.type, &have)) == 0) {
        char rid[37];
        char *step = pu_printf("delete %s %s", w.fqdn, w.type);
        gcp_step_request_id(a, step, rid);
        free(step);
        error = change(a, w.zone, have, NULL, rid, "");
        if (error == INFRA_ENOTFOUND || error == INFRA_ECONFLICT) {
            /* Gone or changed meanwhile: what is there now is looked at again. */
            GJ->release(have);
            have = NULL;
            error = rrset_get(a, w.zone, w.fqdn, w.type, &have);
            if (error == 0)
                error = change(a, w.zone, have, NULL, rid, "");
        }
    }
    if (error == INFRA_ENOTFOUND)
        error = 0;
    GJ->release(have);
    want_clear(&w);
    return error;
}

static int record_read(gcp_act *a)
{
    record_want w;
    infra_json *have = NULL, *st = NULL;
    if (a->state == NULL)
        return INFRA_ENOTFOUND; /* record sets carry no token */
    int error = want_load(a, a->state, 1, &w);
    if (error == 0 && (error = rrset_get(a, w.zone, w.fqdn, w.type, &have)) == 0)
        error = record_state(a, a->state, &w, have, &st);
    GJ->release(have);
    want_clear(&w);
    return gcp_state_finish(a, st, error);
}

const gcp_handler gcp_dns_record_handler = {"dns_record", record_apply, record_remove,
                                            record_read,  NULL,         NULL};
