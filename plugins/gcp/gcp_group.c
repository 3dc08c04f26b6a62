/* Managed instance groups (zonal), with zero-downtime replacement.
 *
 * Group names are BASE-gN: BASE derived from the create's token, N the
 * generation. A change of template is an in-place update that creates
 * group N+1 from the new template in the same target pools, waits until
 * every one of its instances is RUNNING with nothing left to do and
 * HEALTHY in every pool, then deletes group N. When group N+1 is not
 * healthy by replace_deadline it is deleted instead, group N keeps
 * serving, and the update fails saying so. Size and target pools change
 * in place (resize, setTargetPools).
 *
 * Names follow from the token and the generation, so every step can be
 * repeated after a crash: a create or a replacement that meets its own
 * group adopts it, a read that no longer finds group N looks for later
 * generations, and a delete removes every generation it finds. The token
 * and BASE are kept in the private blob. */
#include "gcp_res.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_DEADLINE_S 600

static const gcp_kind group_kind = {"instanceGroupManagers", GCP_ZONAL, 0};

typedef struct group_id {
    char *token;
    char *base;
} group_id;

static void group_id_clear(group_id *g)
{
    free(g->token);
    free(g->base);
    memset(g, 0, sizeof(*g));
}

static char *base_for(gcp_act *a, const char *token)
{
    char hex[7];
    char *prefix = gcp_resource_name(a, a->planned ? a->planned : a->prior);
    gcp_short_hash(token, 6, hex);
    if (strlen(prefix) > 44)
        prefix[44] = '\0';
    size_t n = strlen(prefix);
    while (n > 0 && prefix[n - 1] == '-')
        prefix[--n] = '\0';
    char *base = pu_printf("%s-%s", prefix, hex);
    free(prefix);
    return base;
}

static void group_id_load(gcp_act *a, group_id *g)
{
    memset(g, 0, sizeof(*g));
    if (a->priv != NULL && a->priv_len > 0) {
        infra_json *blob = GJ->parse(a->priv, a->priv_len);
        const char *t = pu_json_str(blob, "token"), *b = pu_json_str(blob, "base");
        if (t != NULL)
            g->token = pu_strdup(t);
        if (b != NULL)
            g->base = pu_strdup(b);
        GJ->release(blob);
    }
    const char *token = pu_host->call_token(a->call);
    if (g->token == NULL && token != NULL)
        g->token = pu_strdup(token);
    if (g->base == NULL && g->token != NULL)
        g->base = base_for(a, g->token);
}

static int group_id_save(gcp_act *a, const group_id *g)
{
    if (a->priv_out == NULL || g->token == NULL)
        return 0;
    infra_json *blob = GJ->new_object();
    if (blob == NULL || pu_json_set_str(blob, "token", g->token) < 0 ||
        pu_json_set_str(blob, "base", g->base) < 0) {
        GJ->release(blob);
        return INFRA_EINTERNAL;
    }
    char *text = GJ->dump(blob);
    GJ->release(blob);
    if (text == NULL)
        return INFRA_EINTERNAL;
    *a->priv_out = text;
    *a->priv_out_len = strlen(text);
    return 0;
}

static char *group_name(const char *base, long generation)
{
    return pu_printf("%s-g%ld", base, generation);
}

static long generation_of(const char *base, const char *name)
{
    size_t n = strlen(base);
    if (name == NULL || strncmp(name, base, n) != 0 || strncmp(name + n, "-g", 2) != 0)
        return -1;
    char *end = NULL;
    long g = strtol(name + n + 2, &end, 10);
    return end != name + n + 2 && *end == '\0' ? g : -1;
}

static const char *zone_of(gcp_act *a, const infra_json *cfg)
{
    const char *z = pu_json_str(cfg, "zone");
    return z != NULL && *z ? z : a->p->zone;
}

/* Every generation of base in zone (one list, filtered on the names). */
static int sweep(gcp_act *a, const char *zone, const char *base, infra_json **items)
{
    char *path = pu_printf("projects/%s/zones/%s/instanceGroupManagers", a->p->project, zone);
    char *filter = pu_printf("name eq %s-g[0-9]+", base);
    char *enc = gcp_url_encode(filter);
    char *query = pu_printf("filter=%s&maxResults=500", enc);
    infra_json *doc = NULL;
    int error = gcp_get(a->p, a->call, GCP_COMPUTE, path, query, "instanceGroupManagers.list", "",
                        NULL, &doc);
    *items = NULL;
    if (error == 0) {
        const infra_json *list = GJ->get(doc, "items");
        *items = list ? GJ->copy(list) : GJ->new_array();
    }
    GJ->release(doc);
    free(query);
    free(enc);
    free(filter);
    free(path);
    return error;
}

/* ------------------------------------------------------------------ */
/* What the configuration asks                                        */

typedef struct group_want {
    const char *template_id;
    long size;
    long deadline_s;
    char **pools;
} group_want;

static int want_load(gcp_act *a, group_want *w)
{
    memset(w, 0, sizeof(*w));
    w->template_id = pu_json_str(a->planned, "template");
    w->size = gcp_json_long(a->planned, "size", 1);
    w->deadline_s = gcp_json_long(a->planned, "replace_deadline", DEFAULT_DEADLINE_S);
    char **pools = NULL;
    if (gcp_json_strv(GJ->get(a->planned, "target_pools"), &pools) < 0) {
        pu_diagf(a->call, "target_pools", "target_pools must be a list of target pool ids");
        return INFRA_EINVALID;
    }
    w->pools = gcp_strv_new();
    for (size_t i = 0; pools[i] != NULL; i++) {
        char *r = gcp_relative_name(pools[i]);
        gcp_strv_push(&w->pools, r);
        free(r);
    }
    gcp_strv_free(pools);
    if (w->template_id == NULL || *w->template_id == '\0') {
        pu_diagf(a->call, "template", "an instance_group needs template: an instance template id");
        return INFRA_EINVALID;
    }
    return 0;
}

static char **pools_of(const infra_json *group)
{
    char **out = gcp_strv_new();
    const infra_json *list = GJ->get(group, "targetPools");
    for (size_t i = 0; list != NULL && i < GJ->length(list); i++) {
        char *r = gcp_relative_name(GJ->string(GJ->at(list, i)));
        if (r != NULL)
            gcp_strv_push(&out, r);
        free(r);
    }
    return out;
}

/* ------------------------------------------------------------------ */
/* Creating, waiting, deleting                                        */

static int group_create(gcp_act *a, const group_id *g, const char *zone, const char *name,
                        const group_want *w, infra_json **obj)
{
    char *scope = pu_printf("zones/%s", zone);
    char *desc = gcp_description(a->call, g->token);
    char *tmpl = gcp_ref(a->p, w->template_id, "instanceTemplates", "global");
    infra_json *body = GJ->new_object();
    int error;
    if ((error = pu_json_set_str(body, "name", name)) == 0 &&
        (error = pu_json_set_str(body, "description", desc)) == 0 &&
        (error = pu_json_set_str(body, "baseInstanceName", name)) == 0 &&
        (error = pu_json_set_str(body, "instanceTemplate", tmpl)) == 0 &&
        (error = pu_json_set_int(body, "targetSize", w->size)) == 0 &&
        (gcp_strv_len(w->pools) == 0 ||
         (error = gcp_json_set_strv(body, "targetPools", w->pools)) == 0))
        error = gcp_insert_token(a, &group_kind, scope, body, "template", g->token, 1, obj);
    GJ->release(body);
    free(tmpl);
    free(desc);
    free(scope);
    return error;
}

/* How many members of the group are HEALTHY in pool. */
static int healthy_in(gcp_act *a, const char *pool, char *const *members, size_t *count)
{
    char *path = pu_printf("%s/getHealth", pool);
    int error = 0;
    *count = 0;
    for (size_t i = 0; members[i] != NULL && error == 0; i++) {
        infra_json *body = GJ->new_object();
        pu_json_set_str(body, "instance", members[i]);
        gcp_req req = {
            .service = GCP_COMPUTE,
            .method = "POST",
            .path = path,
            .body = body,
            .what = "targetPools.getHealth",
            .attr = "target_pools",
            .flags = GCP_SAFE,
            .quiet = "invalid",
        };
        gcp_resp *r = NULL;
        error = gcp_call(a->p, a->call, &req, &r);
        GJ->release(body);
        if (error == 0) {
            const infra_json *list = GJ->get(r->json, "healthStatus");
            int healthy = list != NULL && GJ->length(list) > 0;
            for (size_t k = 0; list != NULL && k < GJ->length(list); k++) {
                const char *st = pu_json_str(GJ->at(list, k), "healthState");
                if (st == NULL || strcmp(st, "HEALTHY") != 0)
                    healthy = 0;
            }
            if (healthy)
                (*count)++;
        } else if (error == INFRA_EINVALID) {
            error = 0; /* not a member of the pool yet */
        }
        gcp_resp_free(r);
    }
    free(path);
    return error;
}

/* The group's members that are RUNNING with nothing left to do. */
static int ready_members(gcp_act *a, const char *group, char ***out, size_t *total)
{
    char *path = pu_printf("%s/listManagedInstances", group);
    gcp_req req = {
        .service = GCP_COMPUTE,
        .method = "POST",
        .path = path,
        .what = "instanceGroupManagers.listManagedInstances",
        .attr = "",
        .flags = GCP_SAFE,
    };
    gcp_resp *r = NULL;
    int error = gcp_call(a->p, a->call, &req, &r);
    *out = gcp_strv_new();
    *total = 0;
    if (error == 0) {
        const infra_json *list = GJ->get(r->json, "managedInstances");
        for (size_t i = 0; list != NULL && i < GJ->length(list); i++) {
            const infra_json *m = GJ->at(list, i);
            const char *action = pu_json_str(m, "currentAction");
            const char *status = pu_json_str(m, "instanceStatus");
            (*total)++;
            if (action && strcmp(action, "NONE") == 0 && status && strcmp(status, "RUNNING") == 0) {
                char *rel = gcp_relative_name(pu_json_str(m, "instance"));
                gcp_strv_push(out, rel);
                free(rel);
            }
        }
    }
    gcp_resp_free(r);
    free(path);
    return error;
}

/* Waits until the group has `size` members ready and HEALTHY in every
 * pool. INFRA_ETRANSIENT at the deadline, with *why saying what was missing. */
static int wait_healthy(gcp_act *a, const char *group, const group_want *w, int64_t deadline_ms,
                        char **why)
{
    int64_t delay = 1000;
    *why = NULL;
    for (;;) {
        char **ready = NULL;
        size_t total = 0;
        int error = ready_members(a, group, &ready, &total);
        if (error < 0) {
            gcp_strv_free(ready);
            return error;
        }
        size_t n = gcp_strv_len(ready);
        pu_buf b = {0};
        int ok = (long)n >= w->size;
        if (!ok)
            pu_buf_printf(&b, "%zu of %ld instances RUNNING in the group", n, w->size);
        for (size_t i = 0; ok && w->pools[i] != NULL; i++) {
            size_t healthy = 0;
            if ((error = healthy_in(a, w->pools[i], ready, &healthy)) < 0) {
                gcp_strv_free(ready);
                free(b.data);
                return error;
            }
            if ((long)healthy < w->size) {
                ok = 0;
                pu_buf_printf(&b, "%zu of %ld instances HEALTHY in target pool %s", healthy,
                              w->size, gcp_last_segment(w->pools[i]));
            }
        }
        gcp_strv_free(ready);
        if (ok) {
            free(b.data);
            return 0;
        }
        if (pu_host->now_ms() + delay > deadline_ms) {
            *why = pu_buf_take(&b);
            return INFRA_ETRANSIENT;
        }
        free(b.data);
        if ((error = gcp_sleep(a->p, a->call, delay)) < 0)
            return error;
        delay = delay * 3 / 2 > 5000 ? 5000 : delay * 3 / 2;
    }
}

static int group_state(gcp_act *a, const infra_json *base, const infra_json *obj, long generation,
                       infra_json **out)
{
    infra_json *st = gcp_state_new(base);
    char **members = NULL;
    size_t total = 0;
    char *id = gcp_relative_name(pu_json_str(obj, "selfLink"));
    int error = gcp_state_ids(st, obj);
    if (error == 0 && (error = pu_json_set_int(st, "generation", generation)) == 0 &&
        (error = pu_json_set_str(st, "zone", gcp_last_segment(pu_json_str(obj, "zone")))) == 0 &&
        (error = ready_members(a, id, &members, &total)) == 0)
        error = gcp_json_set_strv(st, "instances", members);
    gcp_strv_free(members);
    free(id);
    if (error < 0) {
        GJ->release(st);
        return error;
    }
    *out = st;
    return 0;
}

static int group_create_apply(gcp_act *a, group_id *g, const group_want *w)
{
    const char *zone = zone_of(a, a->planned);
    infra_json *items = NULL, *obj = NULL, *st = NULL;
    char *name = NULL, *why = NULL, *id = NULL;
    long generation = 0;
    int error;

    /* A crash may have left a later generation of this create. */
    if ((error = sweep(a, zone, g->base, &items)) < 0)
        goto done;
    for (size_t i = 0; i < GJ->length(items); i++) {
        const infra_json *it = GJ->at(items, i);
        long gen = generation_of(g->base, pu_json_str(it, "name"));
        if (gen >= 0 && (obj == NULL || gen > generation) && gcp_object_is_mine(it, g->token)) {
            generation = gen;
            GJ->release(obj);
            obj = GJ->copy(it);
        }
    }
    if (obj == NULL) {
        name = group_name(g->base, 0);
        if ((error = group_create(a, g, zone, name, w, &obj)) < 0)
            goto done;
    }
    id = gcp_relative_name(pu_json_str(obj, "selfLink"));
    error = wait_healthy(a, id, w, pu_host->now_ms() + w->deadline_s * 1000, &why);
    if (error == INFRA_ETRANSIENT)
        pu_diagf(a->call, "", "gcp: instance group %s is not healthy after %ld s: %s",
                 pu_json_str(obj, "name"), w->deadline_s, why ? why : "");
    if (error == 0 && (error = group_state(a, a->planned, obj, generation, &st)) == 0)
        error = group_id_save(a, g);
done:
    GJ->release(items);
    GJ->release(obj);
    free(name);
    free(why);
    free(id);
    return gcp_state_finish(a, st, error);
}

static int group_delete(gcp_act *a, const char *id)
{
    return gcp_delete_path(a, id, "instanceGroupManagers.delete");
}

/* Size and target pools of the group at id. */
static int group_modify(gcp_act *a, const char *id, const group_want *w)
{
    infra_json *now = NULL;
    int error = gcp_get_object(a, id, "instanceGroupManagers.get", &now);
    if (error < 0)
        return error;
    if (gcp_json_long(now, "targetSize", -1) != w->size) {
        char *path = pu_printf("%s/resize", id);
        char rid[37];
        gcp_step_request_id(a, "resize", rid);
        char *query = pu_printf("size=%ld&requestId=%s", w->size, rid);
        gcp_req req = {.service = GCP_COMPUTE,
                       .method = "POST",
                       .path = path,
                       .query = query,
                       .what = "instanceGroupManagers.resize",
                       .attr = "size",
                       .flags = GCP_SAFE};
        error = gcp_mutate(a->p, a->call, &req, GCP_WAIT_OP_MS, NULL, NULL);
        free(query);
        free(path);
    }
    char **have = pools_of(now);
    if (error == 0 && !gcp_strv_same_set(have, w->pools)) {
        infra_json *body = GJ->new_object();
        char *path = pu_printf("%s/setTargetPools", id);
        gcp_json_set_strv(body, "targetPools", w->pools);
        pu_json_set_str(body, "fingerprint", pu_json_str(now, "fingerprint"));
        error = gcp_change(a, "POST", path, "instanceGroupManagers.setTargetPools", body,
                           "target_pools", NULL);
        GJ->release(body);
        free(path);
    }
    gcp_strv_free(have);
    GJ->release(now);
    return error;
}

static int group_update_apply(gcp_act *a, group_id *g, const group_want *w)
{
    const char *old = gcp_state_id(a->prior);
    const char *zone = zone_of(a, a->prior);
    long generation = gcp_json_long(a->prior, "generation", 0);
    infra_json *obj = NULL, *st = NULL;
    char *next = NULL, *why = NULL, *next_id = NULL;
    int error = 0;

    if (old == NULL)
        return INFRA_ENOTFOUND;
    if (gcp_ref_same(pu_json_str(a->prior, "template"), w->template_id)) {
        if ((error = group_modify(a, old, w)) == 0 &&
            (error = gcp_get_object(a, old, "instanceGroupManagers.get", &obj)) == 0 &&
            (error = wait_healthy(a, old, w, pu_host->now_ms() + w->deadline_s * 1000, &why)) ==
                0 &&
            (error = group_state(a, a->planned, obj, generation, &st)) == 0)
            error = group_id_save(a, g);
        if (error == INFRA_ETRANSIENT && why != NULL)
            pu_diagf(a->call, "size", "gcp: instance group %s is not healthy after %ld s: %s",
                     gcp_last_segment(old), w->deadline_s, why);
        goto done;
    }
    if (g->token == NULL || g->base == NULL) {
        pu_diagf(a->call, "",
                 "gcp: the state of %s lacks the token it was created with; replace "
                 "it (remove it from the state) to change its template",
                 old);
        error = INFRA_EINTERNAL;
        goto done;
    }
    next = group_name(g->base, generation + 1);
    pu_logf(a->call, INFRA_LOG_INFO, "replacing instance group %s with %s", gcp_last_segment(old),
            next);
    if ((error = group_create(a, g, zone, next, w, &obj)) < 0)
        goto done;
    next_id = gcp_relative_name(pu_json_str(obj, "selfLink"));
    error = wait_healthy(a, next_id, w, pu_host->now_ms() + w->deadline_s * 1000, &why);
    if (error == INFRA_ETRANSIENT) {
        /* The old group never stopped serving; the new one goes. */
        int gone = group_delete(a, next_id);
        pu_diagf(a->call, "template",
                 "gcp: the replacement instance group %s was not healthy within %ld s (%s); %s, "
                 "and %s keeps serving",
                 next, w->deadline_s, why ? why : "",
                 gone == 0 ? "it was deleted" : "deleting it failed", gcp_last_segment(old));
        error = INFRA_EINVALID;
        goto done;
    }
    if (error < 0 || (error = group_delete(a, old)) < 0)
        goto done;
    if ((error = group_state(a, a->planned, obj, generation + 1, &st)) == 0)
        error = group_id_save(a, g);
done:
    GJ->release(obj);
    free(next);
    free(next_id);
    free(why);
    return gcp_state_finish(a, st, error);
}

static int group_apply(gcp_act *a)
{
    group_id g;
    group_want w;
    int error;
    group_id_load(a, &g);
    if ((error = want_load(a, &w)) == 0) {
        if (a->prior == NULL && g.token == NULL) {
            pu_diagf(a->call, "", "gcp: an instance group is created with a token");
            error = INFRA_EINTERNAL;
        } else {
            error =
                a->prior == NULL ? group_create_apply(a, &g, &w) : group_update_apply(a, &g, &w);
        }
    }
    gcp_strv_free(w.pools);
    group_id_clear(&g);
    return error;
}

static int group_remove(gcp_act *a)
{
    group_id g;
    infra_json *items = NULL;
    const char *id = gcp_state_id(a->prior);
    int error = 0;

    group_id_load(a, &g);
    if (id != NULL)
        error = group_delete(a, id);
    /* Every other generation a crash may have left. */
    if (error == 0 && g.base != NULL &&
        (error = sweep(a, zone_of(a, a->prior), g.base, &items)) == 0) {
        for (size_t i = 0; i < GJ->length(items) && error == 0; i++) {
            const infra_json *it = GJ->at(items, i);
            if (!gcp_object_is_mine(it, g.token))
                continue;
            char *rel = gcp_relative_name(pu_json_str(it, "selfLink"));
            error = group_delete(a, rel);
            free(rel);
        }
    }
    GJ->release(items);
    group_id_clear(&g);
    return error;
}

static int group_read(gcp_act *a)
{
    group_id g;
    infra_json *obj = NULL, *items = NULL, *st = NULL;
    long generation = gcp_json_long(a->state, "generation", 0);
    const char *id = gcp_state_id(a->state);
    int error;

    group_id_load(a, &g);
    error = id != NULL ? gcp_get_object(a, id, "instanceGroupManagers.get", &obj) : INFRA_ENOTFOUND;
    if (error == INFRA_ENOTFOUND && g.base != NULL) {
        /* A replacement that finished after a crash: its group is the one now. */
        if ((error = sweep(a, zone_of(a, a->state), g.base, &items)) == 0) {
            long best = -1;
            for (size_t i = 0; i < GJ->length(items); i++) {
                const infra_json *it = GJ->at(items, i);
                long gen = generation_of(g.base, pu_json_str(it, "name"));
                if (gen >= generation && gen > best && gcp_object_is_mine(it, g.token)) {
                    best = gen;
                    GJ->release(obj);
                    obj = GJ->copy(it);
                }
            }
            error = best >= 0 ? 0 : INFRA_ENOTFOUND;
            if (best >= 0)
                generation = best;
        }
    }
    if (error == 0 && (error = group_state(a, a->state, obj, generation, &st)) == 0 &&
        a->state != NULL) {
        char *tmpl = gcp_relative_name(pu_json_str(obj, "instanceTemplate"));
        if (!gcp_ref_same(pu_json_str(st, "template"), tmpl))
            error = pu_json_set_str(st, "template", tmpl);
        free(tmpl);
        long size = gcp_json_long(obj, "targetSize", 0);
        if (error == 0 && gcp_json_long(st, "size", -1) != size)
            error = pu_json_set_int(st, "size", size);
        char **have = pools_of(obj), **want = NULL;
        if (error == 0 && gcp_json_strv(GJ->get(st, "target_pools"), &want) == 0) {
            int same = gcp_strv_len(want) == gcp_strv_len(have);
            for (size_t i = 0; same && want[i] != NULL; i++) {
                int found = 0;
                for (size_t k = 0; have[k] != NULL && !found; k++)
                    found = gcp_ref_same(want[i], have[k]);
                same = found;
            }
            if (!same && (GJ->get(st, "target_pools") != NULL || gcp_strv_len(have) > 0))
                error = gcp_json_set_strv(st, "target_pools", have);
        }
        gcp_strv_free(want);
        gcp_strv_free(have);
    }
    if (error < 0) {
        GJ->release(st);
        st = NULL;
    }
    GJ->release(obj);
    GJ->release(items);
    group_id_clear(&g);
    return gcp_state_finish(a, st, error);
}

const gcp_handler gcp_instance_group_handler = {"instance_group", group_apply, group_remove,
                                                group_read,       NULL,        NULL};
