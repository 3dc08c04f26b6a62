/* DNS records are Designate record sets in an existing zone. Record sets
 * carry no tags; the create writes the marker (naming the token) as the
 * description, so that a create repeated after an interruption meets its
 * own record set (409) and adopts it, and a record set of someone else is
 * taken over only with allow_overwrite. */
#include "os_res.h"

#include <stdlib.h>
#include <string.h>

#define WAIT_ACTIVE_MS 300000

/* "example.org." from "example.org" or "example.org." (caller frees). */
static char *absolute(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && name[n - 1] == '.' ? pu_strdup(name) : pu_printf("%s.", name);
}

/* The record set's absolute name: "@" is the zone, a relative name goes
 * under it, an absolute one (with the zone's suffix, or a final dot)
 * stays (caller frees). */
static char *fqdn_of(const char *name, const char *zone)
{
    char *z = absolute(zone);
    char *out;
    size_t n = strlen(name), zn = strlen(z);
    if (strcmp(name, "@") == 0 || strcmp(name, "") == 0)
        out = pu_strdup(z);
    else if (n > 0 && name[n - 1] == '.')
        out = pu_strdup(name);
    else if (n + 1 >= zn && strncmp(name + n - (zn - 1), z, zn - 1) == 0 &&
             (n + 1 == zn || name[n - zn] == '.'))
        out = pu_printf("%s.", name);
    else
        out = pu_printf("%s.%s", name, z);
    free(z);
    return out;
}

/* The zone id of zone (cached): INFRA_EINVALID with a diagnostic when the
 * project has no such zone. */
static int zone_id(os_act *a, const char *zone, char **id)
{
    infra_provider *p = a->p;
    char *z = absolute(zone);
    int error = 0;
    *id = NULL;
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; p->zone_cache && p->zone_cache[i] && p->zone_cache[i + 1]; i += 2)
        if (strcmp(p->zone_cache[i], z) == 0)
            *id = pu_strdup(p->zone_cache[i + 1]);
    pthread_mutex_unlock(&p->lock);
    if (*id != NULL) {
        free(z);
        return 0;
    }
    char *e = os_url_encode(z);
    char *path = pu_printf("/zones?name=%s", e);
    infra_json *zones = NULL;
    if ((error = os_list(p, a->call, OS_DNS, path, "zones", &zones)) == 0) {
        if (OJ->length(zones) == 0) {
            pu_diagf(a->call, "zone", "openstack: no DNS zone %s in this project (%s)", z,
                     p->region);
            error = INFRA_EINVALID;
        } else {
            *id = pu_strdup(pu_json_str(OJ->at(zones, 0), "id"));
            pthread_mutex_lock(&p->lock);
            os_strv_push(&p->zone_cache, z);
            os_strv_push(&p->zone_cache, *id);
            pthread_mutex_unlock(&p->lock);
        }
    }
    OJ->release(zones);
    free(path);
    free(e);
    free(z);
    return error;
}

/* The records to send, from target: CNAME targets end in a dot, TXT
 * values are quoted. */
static int records_of(os_act *a, const char *type, char ***out)
{
    char **v = NULL;
    if (os_json_strv(OJ->get(a->planned, "target"), &v) < 0 || os_strv_len(v) == 0) {
        os_strv_free(v);
        pu_diagf(a->call, "target", "target must be a value or a list of values");
        return INFRA_EINVALID;
    }
    char **r = os_strv_new();
    for (size_t i = 0; v[i] != NULL; i++) {
        size_t n = strlen(v[i]);
        char *t;
        if (strcmp(type, "CNAME") == 0 && n > 0 && v[i][n - 1] != '.')
            t = pu_printf("%s.", v[i]);
        else if (strcmp(type, "TXT") == 0 && v[i][0] != '"')
            t = pu_printf("\"%s\"", v[i]);
        else
            t = pu_strdup(v[i]);
        os_strv_push(&r, t);
        free(t);
    }
    os_strv_free(v);
    *out = r;
    return 0;
}

static const char *type_of(const infra_json *cfg)
{
    const char *t = os_json_known_str(cfg, "type");
    if (t != NULL)
        return t;
    char **v = NULL;
    const char *guess = "A";
    os_json_strv(OJ->get(cfg, "target"), &v);
    for (size_t i = 0; v != NULL && v[i] != NULL; i++) {
        if (os_is_ipv6(v[i]))
            guess = "AAAA";
        else if (!os_is_ipv4(v[i])) {
            guess = "CNAME";
            break;
        }
    }
    os_strv_free(v);
    return guess;
}

static int wait_status(os_act *a, const char *zid, const char *id, const char *target)
{
    int64_t deadline = pu_host->now_ms() + WAIT_ACTIVE_MS, delay = 500;
    char *path = pu_printf("/zones/%s/recordsets/%s", zid, id);
    int error;
    for (;;) {
        infra_json *rs = NULL;
        error = os_get(a->p, a->call, OS_DNS, path, OS_QUIET_404, &rs);
        const char *status = pu_json_str(rs, "status");
        if (error == INFRA_ENOTFOUND && strcmp(target, "DELETED") == 0)
            error = 0;
        else if (error == 0 && status != NULL && strcmp(status, target) == 0)
            error = 0;
        else if (error == 0 && status != NULL && strcmp(status, "ERROR") == 0) {
            pu_diagf(a->call, "", "openstack: designate record set %s went to ERROR", id);
            error = INFRA_ECONFLICT;
        } else if (error == 0) {
            error = 1;
        }
        OJ->release(rs);
        if (error <= 0)
            break;
        if (pu_host->now_ms() + delay > deadline) {
            pu_diagf(a->call, "", "openstack: record set %s did not become %s within %d s", id,
                     target, WAIT_ACTIVE_MS / 1000);
            error = INFRA_ETRANSIENT;
            break;
        }
        if ((error = os_sleep(a->p, a->call, delay)) < 0)
            break;
        delay = delay * 3 / 2 > 5000 ? 5000 : delay * 3 / 2;
    }
    free(path);
    return error;
}

static int rs_state(os_act *a, const infra_json *base, const infra_json *rs, int refresh)
{
    infra_json *st = os_state_new(base);
    const char *name = pu_json_str(rs, "name");
    char *fqdn =
        name ? pu_strndup(name, strlen(name) - (name[0] && name[strlen(name) - 1] == '.')) : NULL;
    int error;
    if ((error = pu_json_set_str(st, "id", pu_json_str(rs, "id"))) < 0 ||
        (error = pu_json_set_str(st, "zone_id", pu_json_str(rs, "zone_id"))) < 0 ||
        (error = pu_json_set_str(st, "fqdn", fqdn)) < 0 ||
        (error = pu_json_set_str(st, "type", pu_json_str(rs, "type"))) < 0 ||
        (error = pu_json_set_str(st, "status", pu_json_str(rs, "status"))) < 0)
        goto done;
    if (refresh) {
        os_act cfg = *a;
        cfg.planned = st;
        char **want = NULL, **got = NULL;
        if (records_of(&cfg, pu_json_str(rs, "type"), &want) == 0 &&
            os_json_strv(OJ->get(rs, "records"), &got) == 0 && !os_strv_same_set(want, got))
            error = os_json_set_strv(st, "target", got);
        os_strv_free(want);
        os_strv_free(got);
        if (error == 0 && OJ->get(st, "ttl") != NULL && OJ->get(rs, "ttl") != NULL)
            error = pu_json_set_copy(st, "ttl", OJ->get(rs, "ttl"));
    }
done:
    free(fqdn);
    return os_state_finish(a, st, error);
}

static infra_json *rs_body(os_act *a, const char *fqdn, const char *type, char *const *records)
{
    infra_json *body = OJ->new_object();
    long ttl = 300;
    pu_json_to_int(OJ->get(a->planned, "ttl"), &ttl);
    char *marker = os_marker(a->call);
    if (fqdn != NULL) {
        pu_json_set_str(body, "name", fqdn);
        pu_json_set_str(body, "type", type);
    }
    pu_json_set_int(body, "ttl", ttl);
    pu_json_set(body, "records", os_json_from_strv(records));
    if (pu_host->call_token(a->call) != NULL)
        pu_json_set_str(body, "description", marker);
    free(marker);
    return body;
}

/* The record set called fqdn of type in zone zid: 0 with *rs. */
static int rs_find(os_act *a, const char *zid, const char *fqdn, const char *type, infra_json **rs)
{
    char *en = os_url_encode(fqdn), *et = os_url_encode(type);
    char *path = pu_printf("/zones/%s/recordsets?name=%s&type=%s", zid, en, et);
    infra_json *list = NULL;
    int error = os_list(a->p, a->call, OS_DNS, path, "recordsets", &list);
    *rs = NULL;
    if (error == 0 && OJ->length(list) == 0)
        error = INFRA_ENOTFOUND;
    if (error == 0)
        *rs = OJ->copy(OJ->at(list, 0));
    OJ->release(list);
    free(path);
    free(en);
    free(et);
    return error;
}

/* 1 when record set rs was made by this call's token (its description). */
static int mine(os_act *a, const infra_json *rs)
{
    const char *desc = pu_json_str(rs, "description");
    const char *token = pu_host->call_token(a->call);
    return token != NULL && desc != NULL && strstr(desc, token) != NULL;
}

/* 1 when rs holds records and the planned ttl already. */
static int same_records(os_act *a, const infra_json *rs, char *const *records)
{
    char **have = NULL;
    long ttl = 300, have_ttl = -1;
    pu_json_to_int(OJ->get(a->planned, "ttl"), &ttl);
    pu_json_to_int(OJ->get(rs, "ttl"), &have_ttl);
    int same = os_json_strv(OJ->get(rs, "records"), &have) == 0 &&
               os_strv_same_set(have, records) && ttl == have_ttl;
    os_strv_free(have);
    return same;
}

static int dns_apply(os_act *a)
{
    const char *zone = pu_json_str(a->planned, "zone");
    const char *type = type_of(a->planned);
    char *zid = NULL, *fqdn = NULL, **records = NULL, *id = NULL;
    infra_json *body = NULL, *answer = NULL, *rs = NULL;
    int error, update = a->prior != NULL;

    if ((error = zone_id(a, zone ? zone : "", &zid)) < 0 ||
        (error = records_of(a, type, &records)) < 0)
        goto done;
    fqdn = fqdn_of(pu_json_str(a->planned, "name") ? pu_json_str(a->planned, "name") : "@", zone);
    if (a->prior != NULL && os_state_id(a->prior) != NULL) {
        id = pu_strdup(os_state_id(a->prior));
    } else if (os_call_resuming(a->call) && rs_find(a, zid, fqdn, type, &rs) == 0 &&
               mine(a, rs)) {
        /* An interrupted run made it: its records are made what is planned, below. */
        id = pu_strdup(pu_json_str(rs, "id"));
        update = 1;
    } else {
        char *path = pu_printf("/zones/%s/recordsets", zid);
        body = rs_body(a, fqdn, type, records);
        error = os_send(a->p, a->call, OS_DNS, "POST", path, body, "name", OS_QUIET_409, &answer);
        free(path);
        if (error == 0) {
            id = pu_strdup(pu_json_str(answer, "id"));
        } else if (error == INFRA_ECONFLICT) {
            /* Taken: ours from an interrupted run, or someone's. */
            OJ->release(rs);
            if ((error = rs_find(a, zid, fqdn, type, &rs)) < 0)
                goto done;
            int overwrite = 0;
            pu_json_to_bool(OJ->get(a->planned, "allow_overwrite"), &overwrite);
            if (!overwrite && !mine(a, rs)) {
                pu_diagf(a->call, "name",
                         "openstack: the record set %s %s exists already (set allow_overwrite "
                         "to take it over)",
                         fqdn, type);
                error = INFRA_ECONFLICT;
                goto done;
            }
            id = pu_strdup(pu_json_str(rs, "id"));
            update = 1; /* its records are made what is planned, below */
        }
        if (error < 0)
            goto done;
    }
    if (update && rs != NULL && same_records(a, rs, records)) {
        update = 0; /* adopted as it should be: nothing to change */
    }
    if (update) {
        char *path = pu_printf("/zones/%s/recordsets/%s", zid, id);
        OJ->release(body);
        body = rs_body(a, NULL, type, records);
        error = os_send(a->p, a->call, OS_DNS, "PUT", path, body, "target", OS_SAFE, NULL);
        free(path);
        if (error < 0)
            goto done;
    }
    if ((error = wait_status(a, zid, id, "ACTIVE")) < 0)
        goto done;
    OJ->release(rs);
    rs = NULL;
    char *path = pu_printf("/zones/%s/recordsets/%s", zid, id);
    error = os_get(a->p, a->call, OS_DNS, path, 0, &rs);
    free(path);
    if (error == 0)
        error = rs_state(a, a->planned, rs, 0);
done:
    OJ->release(body);
    OJ->release(answer);
    OJ->release(rs);
    os_strv_free(records);
    free(zid);
    free(fqdn);
    free(id);
    return error;
}

static int dns_remove(os_act *a)
{
    const char *id = os_state_id(a->prior), *zid = pu_json_str(a->prior, "zone_id");
    if (id == NULL || zid == NULL)
        return 0;
    char *path = pu_printf("/zones/%s/recordsets/%s", zid, id);
    int error = os_send(a->p, a->call, OS_DNS, "DELETE", path, NULL, "", OS_QUIET_404, NULL);
    free(path);
    if (error == INFRA_ENOTFOUND)
        return 0;
    if (error == 0)
        error = wait_status(a, zid, id, "DELETED");
    return error;
}

static int dns_read(os_act *a)
{
    infra_json *rs = NULL;
    int error;
    if (a->state == NULL) {
        /* What this token's create made, in whichever zone. */
        char *marker = os_marker(a->call), *e = os_url_encode(marker);
        char *path = pu_printf("/recordsets?description=%s", e);
        infra_json *list = NULL;
        error = os_list(a->p, a->call, OS_DNS, path, "recordsets", &list);
        if (error == 0 && OJ->length(list) == 0)
            error = INFRA_ENOTFOUND;
        if (error == 0)
            rs = OJ->copy(OJ->at(list, 0));
        OJ->release(list);
        free(path);
        free(e);
        free(marker);
    } else {
        const char *id = os_state_id(a->state), *zid = pu_json_str(a->state, "zone_id");
        if (id == NULL || zid == NULL)
            return INFRA_ENOTFOUND;
        char *path = pu_printf("/zones/%s/recordsets/%s", zid, id);
        error = os_get(a->p, a->call, OS_DNS, path, OS_QUIET_404, &rs);
        free(path);
        const char *status = pu_json_str(rs, "status");
        if (error == 0 && status != NULL && strcmp(status, "DELETED") == 0)
            error = INFRA_ENOTFOUND;
    }
    if (error == 0)
        error = rs_state(a, a->state, rs, a->state != NULL);
    OJ->release(rs);
    return error;
}

const os_handler os_dns_record_handler = {"dns_record", dns_apply, dns_remove, dns_read,
                                          NULL,         NULL,      NULL};
