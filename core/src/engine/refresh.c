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

typedef struct refresh_job {
    plan *p;
    plan_refresh_what what;
    size_t *items;
} refresh_job;

static int reads(const plan_item *it, plan_refresh_what what)
{
    if (it->orphan)
        return 1; /* an unwanted interrupted create: is there an object? */
    return what == PLAN_REFRESH_ALL && it->entry && !it->data;
}

static int refresh_node(void *ud, size_t k)
{
    refresh_job *job = ud;
    plan_item *it = &job->p->items[job->items[k]];
    return refresh_item(job->p, it, reads(it, job->what));
}

static void refresh_abandoned(void *ud, size_t k, const char *message)
{
    refresh_job *job = ud;
    plan_item *it = &job->p->items[job->items[k]];
    it->error = util_printf("refresh failed: %s", message);
}

static int wants(const plan_item *it, plan_refresh_what what)
{
    return reads(it, what) || (it->entry && it->upgrade_from >= 0);
}

int plan_refresh(plan *p, plan_refresh_what what)
{
    engine *e = p->e;
    refresh_job job = {p, what, util_malloc((p->nitems ? p->nitems : 1) * sizeof(size_t))};
    graph *g = graph_new();
    size_t n = 0;
    int error = 0;

    for (size_t i = 0; i < p->nitems; i++) {
        if (!wants(&p->items[i], what))
            continue;
        char name[32];
        snprintf(name, sizeof(name), "%zu", n);
        graph_add_node(g, name);
        job.items[n++] = i;
    }
    if (n > 0) {
        size_t *groups = util_malloc(n * sizeof(*groups));
        int *limits = engine_group_limits(e);
        for (size_t k = 0; k < n; k++)
            groups[k] = engine_group_of(e, p->items[job.items[k]].provider);
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
    free(job.items);
    return error;
}
