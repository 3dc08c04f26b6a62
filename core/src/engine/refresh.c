/* The refresh that starts a plan: every state resource read again through
 * the worker pool, within --parallelism and the per-provider limits, so
 * that a plan weighs what exists rather than what was recorded. An object
 * found gone is `gone`; attributes that differ from the state are drift.
 * An intent of an interrupted create that is no longer wanted is looked
 * up by its token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "engine/apply.h"
#include "engine/call.h"
#include "engine/plan.h"
#include "services/log.h"

/* What the refresh found for it: the new attributes (new value, taken),
 * or the result of the read. */
static void refresh_record(plan *p, plan_item *it, engine_call *c, int error, json_t *found)
{
    engine *e = p->e;
    it->refreshed = 1;
    if (error == INFRA_ENOTFOUND) {
        it->gone = 1;
    } else if (error < 0) {
        it->error = util_printf("refresh failed: %s", call_error(c, error));
        if (c->attr && *c->attr)
            it->error_attr = util_strdup(c->attr);
    } else {
        json_t *now = engine_hide_sensitive(e, it->provider, it->type, found, 0);
        if (!it->orphan) {
            json_t *drift = plan_diff_keys(it->prior, now);
            if (json_array_size(drift) > 0)
                it->drift = json_incref(drift);
            json_decref(drift);
        }
        json_decref(it->prior);
        it->prior = now;
    }
    json_decref(found);
}

/* 1 when it is read with the token of its intent (no state to go by). */
static int by_token(const plan_item *it)
{
    return it->orphan;
}

/* Converts the state's attributes of an older schema version with the
 * plugin's upgrade_state before anything else reads them. */
static int upgrade_item(plan *p, plan_item *it)
{
    engine *e = p->e;
    const engine_provider *prov = &e->providers[it->provider];
    int current = engine_type_version(e, it->provider, it->type);
    if (!call_has(e, it->provider, CALL_SLOT_UPGRADE_STATE)) {
        it->error = util_printf(
            "the state of %s was written by version %d of the %s schema of plugin \"%s\", which "
            "now writes version %d and has no upgrade_state operation to convert it: use the "
            "plugin release that wrote it, or forget it (infra state rm) and import it again",
            it->address, it->upgrade_from, it->type, prov->desc->name, current);
        return INFRA_ENOTSUP;
    }
    engine_call c;
    json_t *out = NULL;
    call_init(&c, e, it->provider, it->address, "upgrade_state", NULL);
    int error = call_upgrade_state(&c, it->type, it->upgrade_from, it->prior, &out);
    if (error < 0) {
        it->error = util_printf("upgrading the state from version %d of the %s schema: %s",
                                it->upgrade_from, it->type, call_error(&c, error));
    } else {
        json_decref(it->prior);
        it->prior = engine_hide_sensitive(e, it->provider, it->type, out, 0);
        it->upgraded = 1;
        it->upgrade_from = -1;
    }
    json_decref(out);
    call_clear(&c);
    return error;
}

static int refresh_item(plan *p, plan_item *it, int read)
{
    engine *e = p->e;
    const engine_provider *prov = &e->providers[it->provider];
    const char *token =
        by_token(it) ? json_string_value(json_object_get(it->intent, "token")) : NULL;
    void *priv = NULL;
    size_t priv_len = 0;
    int error;

    if (it->upgrade_from >= 0 && (error = upgrade_item(p, it)) < 0)
        return error;
    if (!read)
        return 0;
    if (by_token(it) && !(prov->capabilities & INFRA_CAP_READ_BY_TOKEN)) {
        if (json_is_true(json_object_get(it->intent, "failed")))
            log_msg(LOG_WARN,
                    "%s: its last create failed and plugin \"%s\" cannot look objects up by "
                    "token: if that create left an object, check for it by hand",
                    it->address, prov->desc->name);
        else
            log_msg(LOG_WARN,
                    "%s: a create was interrupted and plugin \"%s\" cannot look objects up by "
                    "token: check for a leftover object by hand",
                    it->address, prov->desc->name);
        it->refreshed = 1;
        it->gone = 1;
        return 0;
    }
    const char *priv_text = json_string_value(json_object_get(it->entry, "private"));
    if (priv_text)
        engine_base64_decode(priv_text, &priv, &priv_len);

    engine_call c;
    json_t *found = NULL;
    call_init(&c, e, it->provider, it->address, "read", token);
    error = call_read(&c, it->type, by_token(it) ? NULL : it->prior, priv, priv_len, &found);
    refresh_record(p, it, &c, error, found);
    call_clear(&c);
    free(priv);
    return error == INFRA_ENOTFOUND ? 0 : error;
}

/* How many resources one read_many call refreshes at most. */
#define REFRESH_BATCH 500

/* One node of the refresh: a single item, or a batch of items of one
 * provider and type refreshed by one read_many call. */
typedef struct refresh_unit {
    size_t first; /* into job->items */
    size_t n;
    int batch;
} refresh_unit;

typedef struct refresh_job {
    plan *p;
    plan_refresh_what what;
    size_t *items;       /* plan item indices, units' items contiguous */
    refresh_unit *units;
} refresh_job;

static int reads(const plan_item *it, plan_refresh_what what)
{
    if (it->orphan)
        return 1; /* an unwanted interrupted create: is there an object? */
    return what == PLAN_REFRESH_ALL && it->entry && !it->data;
}

/* Reads items[0..n) of one provider and type with read_many; a plugin
 * answering INFRA_ENOTSUP is read item by item instead. */
static int refresh_batch(plan *p, plan_item **items, size_t n)
{
    engine *e = p->e;
    size_t provider = items[0]->provider;
    const char *type = items[0]->type;
    call_read_item *batch = util_calloc(n, sizeof(*batch));
    engine_call *calls = util_calloc(n, sizeof(*calls));
    void **privs = util_calloc(n, sizeof(*privs));
    int error = 0;

    for (size_t i = 0; i < n; i++) {
        plan_item *it = items[i];
        const char *token =
            by_token(it) ? json_string_value(json_object_get(it->intent, "token")) : NULL;
        const char *priv_text = json_string_value(json_object_get(it->entry, "private"));
        call_init(&calls[i], e, provider, it->address, "read", token);
        batch[i].c = &calls[i];
        batch[i].state = by_token(it) ? NULL : it->prior;
        if (priv_text)
            engine_base64_decode(priv_text, &privs[i], &batch[i].priv_len);
        batch[i].priv = privs[i];
    }
    engine_call c;
    char *op = util_printf("read_many of %zu %s resource%s", n, type, n == 1 ? "" : "s");
    call_init(&c, e, provider, "", op, NULL);
    error = call_read_many(&c, type, batch, n);
    for (size_t i = 0; i < n; i++) {
        if (error == INFRA_ENOTSUP) {
            json_t *found = NULL;
            call_forget(&calls[i]);
            int rc = call_read(&calls[i], type, batch[i].state, batch[i].priv, batch[i].priv_len,
                               &found);
            refresh_record(p, items[i], &calls[i], rc, found);
        } else if (error < 0) {
            items[i]->refreshed = 1;
            items[i]->error = util_printf("refresh failed: %s", call_error(&c, error));
        } else {
            refresh_record(p, items[i], &calls[i], batch[i].result, batch[i].out);
        }
        call_clear(&calls[i]);
        free(privs[i]);
    }
    call_clear(&c);
    free(op);
    free(privs);
    free(calls);
    free(batch);
    return error == INFRA_ENOTSUP ? 0 : error;
}

static int refresh_node(void *ud, size_t k)
{
    refresh_job *job = ud;
    const refresh_unit *u = &job->units[k];
    plan *p = job->p;
    if (!u->batch) {
        plan_item *it = &p->items[job->items[u->first]];
        return refresh_item(p, it, reads(it, job->what));
    }
    plan_item **items = util_malloc(u->n * sizeof(*items));
    size_t n = 0;
    int error = 0;
    for (size_t i = 0; i < u->n; i++) {
        plan_item *it = &p->items[job->items[u->first + i]];
        if (it->upgrade_from >= 0 && upgrade_item(p, it) < 0)
            error = INFRA_EINVALID; /* that one is not read */
        else
            items[n++] = it;
    }
    if (n > 0 && refresh_batch(p, items, n) < 0)
        error = INFRA_EINVALID;
    free(items);
    return error;
}

static void refresh_abandoned(void *ud, size_t k, const char *message)
{
    refresh_job *job = ud;
    const refresh_unit *u = &job->units[k];
    for (size_t i = 0; i < u->n; i++) {
        plan_item *it = &job->p->items[job->items[u->first + i]];
        if (!it->error)
            it->error = util_printf("refresh failed: %s", message);
    }
}

static int wants(const plan_item *it, plan_refresh_what what)
{
    return reads(it, what) || (it->entry && it->upgrade_from >= 0);
}

/* 1 when it can be read in a batch: its plugin has read_many and it needs
 * no special care (a lookup by token its plugin cannot do). */
static int batchable(const engine *e, const plan_item *it, plan_refresh_what what)
{
    const engine_provider *prov = &e->providers[it->provider];
    return reads(it, what) && call_has(e, it->provider, CALL_SLOT_READ_MANY) &&
           (!by_token(it) || (prov->capabilities & INFRA_CAP_READ_BY_TOKEN));
}

/* Orders batchable items by provider and type, the others after them. */
static const plan *sort_plan;
static plan_refresh_what sort_what;
static int by_provider_and_type(const void *a, const void *b)
{
    const plan_item *x = &sort_plan->items[*(const size_t *)a];
    const plan_item *y = &sort_plan->items[*(const size_t *)b];
    int bx = batchable(sort_plan->e, x, sort_what), by = batchable(sort_plan->e, y, sort_what);
    if (bx != by)
        return by - bx;
    if (x->provider != y->provider)
        return x->provider < y->provider ? -1 : 1;
    int t = strcmp(x->type ? x->type : "", y->type ? y->type : "");
    if (t)
        return t;
    return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

int plan_refresh(plan *p, plan_refresh_what what)
{
    engine *e = p->e;
    refresh_job job = {p, what, util_malloc((p->nitems ? p->nitems : 1) * sizeof(size_t)),
                       util_malloc((p->nitems ? p->nitems : 1) * sizeof(refresh_unit))};
    graph *g = graph_new();
    size_t n = 0, nunits = 0;
    int error = 0;

    for (size_t i = 0; i < p->nitems; i++)
        if (wants(&p->items[i], what))
            job.items[n++] = i;
    /* Grouped by provider and type (a static comparator context: one
     * refresh sorts at a time, from the main thread). */
    sort_plan = p;
    sort_what = what;
    qsort(job.items, n, sizeof(size_t), by_provider_and_type);
    for (size_t k = 0; k < n;) {
        const plan_item *it = &p->items[job.items[k]];
        refresh_unit u = {k, 1, 0};
        if (batchable(e, it, what)) {
            u.batch = 1;
            while (k + u.n < n && u.n < REFRESH_BATCH) {
                const plan_item *next = &p->items[job.items[k + u.n]];
                if (!batchable(e, next, what) || next->provider != it->provider ||
                    strcmp(next->type, it->type))
                    break;
                u.n++;
            }
        }
        job.units[nunits] = u;
        char name[32];
        snprintf(name, sizeof(name), "%zu", nunits++);
        graph_add_node(g, name);
        k += u.n;
    }
    if (nunits > 0) {
        size_t *groups = util_malloc(nunits * sizeof(*groups));
        int *limits = engine_group_limits(e);
        for (size_t k = 0; k < nunits; k++)
            groups[k] = engine_group_of(e, p->items[job.items[job.units[k].first]].provider);
        apply_options opts = {.parallelism = e->parallelism,
                              .ngroups = engine_ngroups(e),
                              .group_limits = limits,
                              .node_group = groups,
                              .stop = e->stop,
                              .halt = &e->halt,
                              .abandoned = refresh_abandoned};
        apply_result res;
        int rc = apply_run(g, &opts, refresh_node, &job, &res);
        for (size_t k = 0; k < n; k++) {
            plan_item *it = &p->items[job.items[k]];
            if (it->error) {
                plan_error_at(e, it, it->error_attr, "%s", it->error);
                free(it->error);
                free(it->error_attr);
                it->error = it->error_attr = NULL;
                error = INFRA_EINVALID;
            }
        }
        if (rc == INFRA_ECANCELLED)
            error = INFRA_ECANCELLED;
        apply_result_free(&res);
        free(groups);
        free(limits);
    }
    graph_free(g);
    free(job.units);
    free(job.items);
    return error;
}
