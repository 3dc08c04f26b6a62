/* Managed instance groups changed in place (a scheduler's client pool):
 * one zonal group whose members the group itself makes from its template.
 *
 * A change of template is setInstanceTemplate, then a rolling replace:
 * the members made from another template (Compute writes the template
 * into each member's "instance-template" metadata) are recreated
 * max_unavailable at a time, the group stable between batches. A size
 * change is a resize, except that a scale-in first deletes the members
 * remove_instances names (deleteInstances, which also lowers the target
 * size), so that whoever owns the pool drains the members it chooses and
 * the group deletes exactly those: terminate_first, which the host sets
 * for a scheduler's client pool (scheduler_pool: the state then lists
 * instance_addresses, the members' private addresses) after draining
 * them, or remove_instances. Every change ends when the group is stable
 * (status.isStable).
 *
 * Each step reads what the group is now, so a run cut short is finished
 * by the next one: the template is set again (no change), the members
 * still on the old template are recreated, the size is set again. The
 * group carries the create's token in its description; a read without a
 * state finds it by its default name and that token. */
#include "gcp_res.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_STABLE_S 600
#define BASE_NAME_MAX 58 /* baseInstanceName: [a-z][-a-z0-9]{0,57} */

static const gcp_kind igm_kind = {"instanceGroupManagers", GCP_ZONAL, 0};

int gcp_base_name_valid(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > BASE_NAME_MAX || s[0] < 'a' || s[0] > 'z')
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

static const char *zone_of(gcp_act *a, const infra_json *cfg)
{
    const char *z = pu_json_str(cfg, "zone");
    return z != NULL && *z ? z : a->p->zone;
}

/* The configured base instance name, else the group's name cut to fit. */
static char *base_name_of(const infra_json *cfg, const char *group_name)
{
    const char *b = pu_json_str(cfg, "base_instance_name");
    if (b != NULL && *b)
        return pu_strdup(b);
    char *out = pu_strdup(group_name);
    if (strlen(out) > BASE_NAME_MAX)
        out[BASE_NAME_MAX] = '\0';
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '-')
        out[--n] = '\0';
    return out;
}

/* ------------------------------------------------------------------ */
/* Calls on the group                                                 */

/* A mutation of the group at id: POST id/verb with body (may be NULL)
 * and query, waited for. */
static int igm_post(gcp_act *a, const char *id, const char *verb, const infra_json *body,
                    const char *query, const char *attr)
{
    char rid[37];
    gcp_step_request_id(a, verb, rid);
    char *path = pu_printf("%s/%s", id, verb);
    char *q =
        query != NULL ? pu_printf("%s&requestId=%s", query, rid) : pu_printf("requestId=%s", rid);
    char *what = pu_printf("instanceGroupManagers.%s", verb);
    gcp_req req = {.service = GCP_COMPUTE,
                   .method = "POST",
                   .path = path,
                   .query = q,
                   .body = body,
                   .what = what,
                   .attr = attr,
                   .flags = GCP_SAFE};
    int error = gcp_mutate(a->p, a->call, &req, GCP_WAIT_OP_MS, NULL, NULL);
    free(what);
    free(q);
    free(path);
    return error;
}

/* The group's members as listManagedInstances tells them: their
 * instance paths ("projects/P/zones/Z/instances/N"). */
static int igm_members(gcp_act *a, const char *id, char ***out)
{
    char *path = pu_printf("%s/listManagedInstances", id);
    gcp_req req = {.service = GCP_COMPUTE,
                   .method = "POST",
                   .path = path,
                   .what = "instanceGroupManagers.listManagedInstances",
                   .attr = "",
                   .flags = GCP_SAFE};
    gcp_resp *r = NULL;
    int error = gcp_call(a->p, a->call, &req, &r);
    *out = gcp_strv_new();
    const infra_json *list = error == 0 ? GJ->get(r->json, "managedInstances") : NULL;
    for (size_t i = 0; list != NULL && i < GJ->length(list); i++) {
        char *rel = gcp_relative_name(pu_json_str(GJ->at(list, i), "instance"));
        if (rel != NULL)
            gcp_strv_push(out, rel);
        free(rel);
    }
    gcp_resp_free(r);
    free(path);
    return error;
}

/* Waits until the group at id is stable; INFRA_ETRANSIENT at the
 * deadline with a diagnostic saying what it was still doing. */
static int igm_wait_stable(gcp_act *a, const char *id, long deadline_s, const char *attr)
{
    int64_t deadline = pu_host->now_ms() + deadline_s * 1000;
    int64_t delay = 500;
    for (;;) {
        infra_json *obj = NULL;
        int error = gcp_get_object(a, id, "instanceGroupManagers.get", &obj);
        if (error < 0)
            return error;
        const infra_json *stable = gcp_json_path(obj, "status.isStable");
        if (stable != NULL && GJ->type(stable) == INFRA_JSON_BOOL && GJ->boolean(stable)) {
            GJ->release(obj);
            return 0;
        }
        if (pu_host->now_ms() + delay > deadline) {
            const infra_json *acts = GJ->get(obj, "currentActions");
            pu_diagf(a->call, attr,
                     "gcp: instance group %s was not stable within %ld s (target size %ld; "
                     "creating %ld, recreating %ld, deleting %ld, running %ld)",
                     gcp_last_segment(id), deadline_s, gcp_json_long(obj, "targetSize", 0),
                     gcp_json_long(acts, "creating", 0), gcp_json_long(acts, "recreating", 0),
                     gcp_json_long(acts, "deleting", 0), gcp_json_long(acts, "none", 0));
            GJ->release(obj);
            return INFRA_ETRANSIENT;
        }
        GJ->release(obj);
        if ((error = gcp_sleep(a->p, a->call, delay)) < 0)
            return error;
        delay = delay * 3 / 2 > 5000 ? 5000 : delay * 3 / 2;
    }
}

/* The members of the group made from another template than tmpl (one
 * instances.list of the zone, filtered on the base name). */
static int stale_members(gcp_act *a, const char *zone, const char *base, const char *tmpl,
                         char *const *members, char ***out)
{
    char *path = pu_printf("projects/%s/zones/%s/instances", a->p->project, zone);
    char *filter = pu_printf("name eq %s-.*", base);
    char *enc = gcp_url_encode(filter);
    char *query = pu_printf("filter=%s&maxResults=500", enc);
    infra_json *doc = NULL;
    int error = gcp_get(a->p, a->call, GCP_COMPUTE, path, query, "instances.list", "", NULL, &doc);
    *out = gcp_strv_new();
    const infra_json *items = error == 0 ? GJ->get(doc, "items") : NULL;
    for (size_t i = 0; items != NULL && i < GJ->length(items); i++) {
        const infra_json *inst = GJ->at(items, i);
        char *rel = gcp_relative_name(pu_json_str(inst, "selfLink"));
        const infra_json *md = gcp_json_path(inst, "metadata.items");
        const char *made_from = NULL;
        for (size_t k = 0; md != NULL && k < GJ->length(md); k++) {
            const char *key = pu_json_str(GJ->at(md, k), "key");
            if (key != NULL && strcmp(key, "instance-template") == 0)
                made_from = pu_json_str(GJ->at(md, k), "value");
        }
        if (rel != NULL && gcp_strv_has(members, rel) &&
            (made_from == NULL || !gcp_ref_same(made_from, tmpl)))
            gcp_strv_push(out, rel);
        free(rel);
    }
    GJ->release(doc);
    free(query);
    free(enc);
    free(filter);
    free(path);
    return error;
}

/* Recreates the members made from another template, max_unavailable at
 * a time, the group stable after each batch. A member still made from
 * another template after its recreation is an error, not another round. */
static int igm_roll(gcp_act *a, const char *id, const char *zone, const char *base,
                    const char *tmpl, long max_unavailable, long deadline_s)
{
    char **done = gcp_strv_new();
    int error = 0;
    for (;;) {
        char **members = NULL, **stale = NULL;
        if ((error = igm_members(a, id, &members)) == 0)
            error = stale_members(a, zone, base, tmpl, members, &stale);
        gcp_strv_free(members);
        for (size_t i = 0; error == 0 && stale[i] != NULL; i++)
            if (gcp_strv_has(done, stale[i])) {
                pu_diagf(a->call, "template",
                         "gcp: %s of instance group %s is still not made from %s after it was "
                         "recreated",
                         gcp_last_segment(stale[i]), gcp_last_segment(id), gcp_last_segment(tmpl));
                error = INFRA_ECONFLICT;
            }
        if (error < 0 || gcp_strv_len(stale) == 0) {
            gcp_strv_free(stale);
            break;
        }
        infra_json *body = GJ->new_object(), *list = GJ->new_array();
        for (size_t i = 0; stale[i] != NULL && (long)i < max_unavailable; i++) {
            GJ->append(list, GJ->new_string(stale[i]));
            gcp_strv_push(&done, stale[i]);
            pu_logf(a->call, INFRA_LOG_INFO, "recreating %s from %s", gcp_last_segment(stale[i]),
                    gcp_last_segment(tmpl));
        }
        pu_json_set(body, "instances", list);
        error = igm_post(a, id, "recreateInstances", body, NULL, "template");
        GJ->release(body);
        gcp_strv_free(stale);
        if (error < 0 || (error = igm_wait_stable(a, id, deadline_s, "template")) < 0)
            break;
    }
    gcp_strv_free(done);
    return error;
}

/* ------------------------------------------------------------------ */
/* States                                                             */

/* 1 when the group runs a scheduler's client pool (scheduler_pool, which
 * the host sets): its state then lists instance_addresses. */
static int is_pool(const infra_json *st)
{
    int on = 0;
    return st != NULL && pu_json_to_bool(GJ->get(st, "scheduler_pool"), &on) == 0 && on;
}

/* instance_addresses: [{"id", "private_ip"}] of the members that run or
 * are starting, in the group's order (what a scheduler's client pool is
 * known by; "id" is the member as "instances" names it). One instances.list
 * of the zone, filtered on the base name, gives the addresses. */
static int igm_addresses(gcp_act *a, const char *zone, const char *base, char *const *members,
                         infra_json *st)
{
    infra_json *doc = NULL, *list = GJ->new_array();
    int error = 0;
    if (gcp_strv_len((char **)members) > 0) {
        char *path = pu_printf("projects/%s/zones/%s/instances", a->p->project, zone);
        char *filter = pu_printf("name eq %s-.*", base);
        char *enc = gcp_url_encode(filter);
        char *query = pu_printf("filter=%s&maxResults=500", enc);
        error = gcp_get(a->p, a->call, GCP_COMPUTE, path, query, "instances.list", "", NULL, &doc);
        free(query);
        free(enc);
        free(filter);
        free(path);
    }
    const infra_json *items = GJ->get(doc, "items");
    for (size_t m = 0; error == 0 && members != NULL && members[m] != NULL; m++) {
        const infra_json *inst = NULL;
        for (size_t i = 0; items != NULL && i < GJ->length(items) && inst == NULL; i++) {
            char *rel = gcp_relative_name(pu_json_str(GJ->at(items, i), "selfLink"));
            if (rel != NULL && strcmp(rel, members[m]) == 0)
                inst = GJ->at(items, i);
            free(rel);
        }
        const char *status = pu_json_str(inst, "status");
        if (status != NULL && strcmp(status, "PROVISIONING") != 0 &&
            strcmp(status, "STAGING") != 0 && strcmp(status, "RUNNING") != 0)
            continue; /* stopping or gone: no longer one of the pool's */
        const char *ip = gcp_json_path_str(inst, "networkInterfaces.0.networkIP");
        infra_json *one = GJ->new_object();
        if ((error = pu_json_set_str(one, "id", members[m])) == 0 && ip != NULL)
            error = pu_json_set_str(one, "private_ip", ip);
        if (error == 0)
            error = GJ->append(list, one);
        else
            GJ->release(one);
    }
    GJ->release(doc);
    if (error == 0)
        return pu_json_set(st, "instance_addresses", list);
    GJ->release(list);
    return error;
}

static int igm_state(gcp_act *a, const infra_json *base, const infra_json *obj, int refresh,
                     infra_json **out)
{
    infra_json *st = gcp_state_new(base);
    char *id = gcp_relative_name(pu_json_str(obj, "selfLink"));
    char **members = NULL, **names = gcp_strv_new();
    int error;
    if ((error = gcp_state_ids(st, obj)) < 0 ||
        (error = pu_json_set_str(st, "zone", gcp_last_segment(pu_json_str(obj, "zone")))) < 0 ||
        (error = pu_json_set_str(st, "base_instance_name", pu_json_str(obj, "baseInstanceName"))) <
            0 ||
        (error = igm_members(a, id, &members)) < 0)
        goto done;
    for (size_t i = 0; members[i] != NULL; i++)
        gcp_strv_push(&names, gcp_last_segment(members[i]));
    if ((error = gcp_json_set_strv(st, "instances", members)) < 0 ||
        (error = gcp_json_set_strv(st, "instance_names", names)) < 0)
        goto done;
    if (is_pool(base))
        error = igm_addresses(a, gcp_last_segment(pu_json_str(obj, "zone")),
                              pu_json_str(obj, "baseInstanceName"), members, st);
    else if (GJ->get(st, "instance_addresses") != NULL)
        GJ->remove(st, "instance_addresses"); /* the plan's unknown: no pool, no list */
    /* what the host asked to go first is no attribute of the group */
    if (GJ->get(st, "terminate_first") != NULL)
        GJ->remove(st, "terminate_first");
    if (error < 0)
        goto done;
    if (refresh) {
        /* Drift: what the group uses and its size, in the state's words
         * while they name the same. */
        error = gcp_state_ref(st, "template", pu_json_str(obj, "instanceTemplate"));
        long size = gcp_json_long(obj, "targetSize", 0);
        if (error == 0 && gcp_json_long(st, "size", -1) != size)
            error = pu_json_set_int(st, "size", size);
    }
done:
    gcp_strv_free(members);
    gcp_strv_free(names);
    free(id);
    if (error < 0)
        GJ->release(st);
    else
        *out = st;
    return error;
}

/* ------------------------------------------------------------------ */
/* Handlers                                                           */

/* The members of terminate_first (the drained clients of a scheduler's
 * pool, set by the host) and remove_instances (names or ids) that are
 * members now, at most n of them. */
static char **chosen_members(const infra_json *cfg, char *const *members, long n)
{
    char **wanted = NULL, **more = NULL, **out = gcp_strv_new();
    if (gcp_json_strv(GJ->get(cfg, "terminate_first"), &wanted) < 0)
        wanted = gcp_strv_new();
    if (gcp_json_strv(GJ->get(cfg, "remove_instances"), &more) == 0)
        for (size_t i = 0; more[i] != NULL; i++)
            gcp_strv_push(&wanted, more[i]);
    gcp_strv_free(more);
    for (size_t i = 0; wanted[i] != NULL && (long)gcp_strv_len(out) < n; i++)
        for (size_t k = 0; members[k] != NULL; k++)
            if (gcp_ref_same(wanted[i], members[k]) && !gcp_strv_has(out, members[k])) {
                gcp_strv_push(&out, members[k]);
                break;
            }
    gcp_strv_free(wanted);
    return out;
}

/* Brings the group at id to the configuration: template, size (named
 * members first on a scale-in), stable, every member on the template. */
static int igm_converge(gcp_act *a, const char *id, const char *zone)
{
    const infra_json *cfg = a->planned;
    long size = gcp_json_long(cfg, "size", 0);
    long deadline = gcp_json_long(cfg, "stable_deadline", DEFAULT_STABLE_S);
    long batch = gcp_json_long(cfg, "max_unavailable", 1);
    char *tmpl = gcp_ref(a->p, pu_json_str(cfg, "template"), "instanceTemplates", "global");
    char **members = NULL, **chosen = NULL;
    infra_json *now = NULL;
    int error;

    if ((error = gcp_get_object(a, id, "instanceGroupManagers.get", &now)) < 0)
        goto done;
    if (!gcp_ref_same(pu_json_str(now, "instanceTemplate"), tmpl)) {
        infra_json *body = GJ->new_object();
        pu_json_set_str(body, "instanceTemplate", tmpl);
        error = igm_post(a, id, "setInstanceTemplate", body, NULL, "template");
        GJ->release(body);
        if (error < 0)
            goto done;
    }
    long target = gcp_json_long(now, "targetSize", 0);
    if (size < target) {
        if ((error = igm_members(a, id, &members)) < 0)
            goto done;
        chosen = chosen_members(cfg, members, target - size);
        if (gcp_strv_len(chosen) > 0) {
            infra_json *body = GJ->new_object();
            gcp_json_set_strv(body, "instances", chosen);
            pu_logf(a->call, INFRA_LOG_INFO, "deleting %zu named members of %s",
                    gcp_strv_len(chosen), gcp_last_segment(id));
            error = igm_post(a, id, "deleteInstances", body, NULL, "remove_instances");
            GJ->release(body);
            if (error < 0)
                goto done;
            target -= (long)gcp_strv_len(chosen);
        }
    }
    if (size != target) {
        char *query = pu_printf("size=%ld", size);
        error = igm_post(a, id, "resize", NULL, query, "size");
        free(query);
        if (error < 0)
            goto done;
    }
    if ((error = igm_wait_stable(a, id, deadline, "size")) < 0)
        goto done;
    char *base = pu_strdup(pu_json_str(now, "baseInstanceName"));
    error = igm_roll(a, id, zone, base ? base : "", tmpl, batch, deadline);
    free(base);
done:
    GJ->release(now);
    gcp_strv_free(members);
    gcp_strv_free(chosen);
    free(tmpl);
    return error;
}

static int igm_create(gcp_act *a)
{
    const char *zone = zone_of(a, a->planned);
    const char *token = pu_host->call_token(a->call);
    char *name = gcp_resource_name(a, a->planned), *scope = pu_printf("zones/%s", zone);
    char *base = base_name_of(a->planned, name), *desc = gcp_description(a->call, token);
    char *tmpl = gcp_ref(a->p, pu_json_str(a->planned, "template"), "instanceTemplates", "global");
    infra_json *body = GJ->new_object(), *obj = NULL, *st = NULL;
    char *id = NULL;
    int error;
    if ((error = pu_json_set_str(body, "name", name)) < 0 ||
        (error = pu_json_set_str(body, "description", desc)) < 0 ||
        (error = pu_json_set_str(body, "baseInstanceName", base)) < 0 ||
        (error = pu_json_set_str(body, "instanceTemplate", tmpl)) < 0 ||
        (error = pu_json_set_int(body, "targetSize", gcp_json_long(a->planned, "size", 0))) < 0 ||
        (error = gcp_insert(a, &igm_kind, scope, body, "", &obj)) < 0)
        goto done;
    /* Adopted after a crash, the group may not be as asked yet. */
    id = gcp_relative_name(pu_json_str(obj, "selfLink"));
    if ((error = igm_converge(a, id, zone)) < 0)
        goto done;
    GJ->release(obj);
    obj = NULL;
    if ((error = gcp_get_object(a, id, "instanceGroupManagers.get", &obj)) == 0)
        error = igm_state(a, a->planned, obj, 0, &st);
done:
    GJ->release(body);
    GJ->release(obj);
    free(id);
    free(tmpl);
    free(desc);
    free(base);
    free(scope);
    free(name);
    return gcp_state_finish(a, st, error);
}

static int igm_apply(gcp_act *a)
{
    if (a->prior == NULL)
        return igm_create(a);
    const char *id = gcp_state_id(a->prior);
    infra_json *obj = NULL, *st = NULL;
    int error;
    if (id == NULL)
        return INFRA_ENOTFOUND;
    if ((error = igm_converge(a, id, zone_of(a, a->prior))) == 0 &&
        (error = gcp_get_object(a, id, "instanceGroupManagers.get", &obj)) == 0)
        error = igm_state(a, a->planned, obj, 0, &st);
    GJ->release(obj);
    return gcp_state_finish(a, st, error);
}

static int igm_remove(gcp_act *a)
{
    const char *id = gcp_state_id(a->prior);
    /* The group deletes its members first; the operation ends when they are gone. */
    return id != NULL ? gcp_delete_path(a, id, "instanceGroupManagers.delete") : 0;
}

static int igm_from_object(gcp_act *a, const infra_json *obj)
{
    infra_json *st = NULL;
    int error = igm_state(a, a->state, obj, a->state != NULL, &st);
    return gcp_state_finish(a, st, error);
}

static int igm_read(gcp_act *a)
{
    infra_json *obj = NULL;
    const char *zone = a->state != NULL ? zone_of(a, a->state) : a->p->zone;
    char *scope = pu_printf("zones/%s", zone);
    int error = gcp_read_object(a, &igm_kind, scope, "instanceGroupManagers.get", &obj);
    if (error == 0)
        error = igm_from_object(a, obj);
    GJ->release(obj);
    free(scope);
    return error;
}

const gcp_handler gcp_instance_group_manager_handler = {
    "instance_group_manager", igm_apply, igm_remove, igm_read, &igm_kind, igm_from_object};
