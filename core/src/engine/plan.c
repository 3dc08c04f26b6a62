/* Planning: the resource graph, the refresh of every state resource
 * through the worker pool, and one decision per resource in dependency
 * order (create, update, replace, delete, read or nothing), with the
 * attributes that cause it. */
#include "engine/plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/apply.h"
#include "plugin/host.h"
#include "services/log.h"
#include "services/secrets_hash.h"
#include "base/util.h"

/* ------------------------------------------------------------------ */
/* Graph                                                              */

static void add_dep_edges(graph *g, size_t node, const json_t *deps)
{
    size_t k;
    json_t *dep;
    json_array_foreach(deps, k, dep) {
        const char *address = json_string_value(dep);
        size_t from = address ? graph_find(g, address) : GRAPH_NONE;
        if (from != GRAPH_NONE)
            graph_add_edge(g, from, node);
    }
}

static int graph_build(engine *e, state *st, int with_topology, graph **out, diag_list *diags)
{
    const topology *t = e->topo;
    graph *g = graph_new();
    size_t ntopo = with_topology ? t->nresources : 0;

    for (size_t i = 0; i < ntopo; i++)
        graph_add_node(g, t->resources[i].address);
    size_t first_state = graph_count(g);
    if (st) {
        json_t *addresses = state_addresses(st);
        size_t k;
        json_t *a;
        json_array_foreach(addresses, k, a)
            graph_add_node(g, json_string_value(a));
        json_decref(addresses);
        addresses = state_intent_addresses(st);
        json_array_foreach(addresses, k, a)
            graph_add_node(g, json_string_value(a));
        json_decref(addresses);
    }
    for (size_t i = 0; i < ntopo; i++) {
        const topo_resource *r = &t->resources[i];
        for (size_t k = 0; k < r->ndeps; k++) {
            size_t from = graph_find(g, r->deps[k]);
            if (from != GRAPH_NONE)
                graph_add_edge(g, from, i);
        }
    }
    for (size_t i = first_state; st && i < graph_count(g); i++) {
        json_t *entry = state_get(st, graph_address(g, i));
        if (entry)
            add_dep_edges(g, i, json_object_get(entry, "deps"));
        json_decref(entry);
    }

    size_t *order = NULL, *cycle = NULL, ncycle = 0;
    int error = graph_order(g, &order, &cycle, &ncycle);
    if (error < 0) {
        char *text = graph_cycle_text(g, cycle, ncycle);
        const topo_resource *r = topology_resource(t, graph_address(g, cycle[0]));
        char *key = r ? engine_resource_key(r, NULL) : NULL;
        diag_add(diags, DIAG_ERROR, r ? &r->loc : NULL, key, "dependency cycle: %s", text);
        free(key);
        free(text);
        free(cycle);
    }
    free(order);
    *out = g;
    return error;
}

int plan_graph(engine *e, state *st, graph **out, diag_list *diags)
{
    return graph_build(e, st, 1, out, diags);
}

/* ------------------------------------------------------------------ */
/* Items                                                              */

void plan_free(plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nitems; i++) {
        plan_item *it = &p->items[i];
        json_decref(it->reasons);
        json_decref(it->entry);
        json_decref(it->intent);
        json_decref(it->prior);
        json_decref(it->drift);
        json_decref(it->desired);
        json_decref(it->planned);
        json_decref(it->known);
        free(it->error);
        free(it->error_attr);
    }
    free(p->items);
    free(p->order);
    graph_free(p->g);
    free(p);
}

static void error_at(engine *e, const plan_item *it, const char *attr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void error_at(engine *e, const plan_item *it, const char *attr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = util_vprintf(fmt, ap);
    va_end(ap);
    if (it->res) {
        engine_error_at(e, it->res, attr, "%s", msg);
    } else {
        pthread_mutex_lock(&e->diag_lock);
        diag_add(&e->diags, DIAG_ERROR, NULL, it->address, "%s", msg);
        pthread_mutex_unlock(&e->diag_lock);
    }
    free(msg);
}

void plan_set_known(plan_item *it, json_t *value)
{
    json_t *old = it->known;
    it->known = json_incref(value);
    json_decref(old);
}

/* Creates the plan's items from the graph: topology resources first,
 * then addresses only in the state, then intents only. */
static int load_items(engine *e, int with_topology, plan **out)
{
    plan *p = util_calloc(1, sizeof(*p));
    int error = graph_build(e, e->st, with_topology, &p->g, &e->diags);
    const topology *t = e->topo;

    p->e = e;
    *out = p;
    p->nitems = graph_count(p->g);
    p->items = util_calloc(p->nitems, sizeof(*p->items));
    if (error < 0)
        return error;
    if ((error = graph_order(p->g, &p->order, NULL, NULL)) < 0)
        return error;
    for (size_t i = 0; i < p->nitems; i++) {
        plan_item *it = &p->items[i];
        it->address = graph_address(p->g, i);
        it->reasons = json_array();
        it->entry = state_get(e->st, it->address);
        it->intent = state_intent_get(e->st, it->address);
        it->res = with_topology && i < t->nresources ? &t->resources[i]
                                                     : topology_resource(t, it->address);
        const char *provider = NULL;
        if (with_topology && i < t->nresources) {
            it->type = it->res->type;
            it->data = it->res->data;
            provider = it->res->provider;
        } else {
            const json_t *src = it->entry ? it->entry : it->intent;
            it->type = json_string_value(json_object_get(src, "type"));
            it->data = json_is_true(json_object_get(src, "data"));
            provider = json_string_value(json_object_get(src, "provider"));
        }
        int pi = engine_provider_index(e, provider);
        if (pi < 0 || !it->type) {
            error_at(e, it, NULL,
                     "the state records provider \"%s\", which the topology no longer declares; "
                     "declare it again to delete this resource",
                     provider ? provider : "?");
            error = INFRA_EINVALID;
            continue;
        }
        it->provider = (size_t)pi;
        if (it->entry)
            it->prior = json_incref(json_object_get(it->entry, "attributes"));
        it->orphan = !it->entry && it->intent && !(with_topology && it->res);
    }
    return error;
}

/* ------------------------------------------------------------------ */
/* Refresh                                                            */

typedef struct read_call {
    const infra_provider_ops *ops;
    infra_provider *ctx;
    engine_call *c;
    const char *type;
    const json_t *state;
    const void *priv;
    size_t priv_len;
    infra_json *out;
} read_call;

static int read_once(void *ud)
{
    read_call *r = ud;
    json_decref(host_jansson(r->out));
    r->out = NULL;
    return r->ops->read(r->ctx, &r->c->call, r->type, host_json(r->state), r->priv, r->priv_len,
                        &r->out);
}

/* Attribute names whose values differ between a and b (either side). */
static json_t *diff_keys(const json_t *a, const json_t *b)
{
    json_t *keys = json_array();
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)a, key, value)
        if (!json_equal(value, json_object_get(b, key)))
            json_array_append_new(keys, json_string(key));
    json_object_foreach((json_t *)b, key, value)
        if (!json_object_get(a, key))
            json_array_append_new(keys, json_string(key));
    return keys;
}

static int refresh_item(plan *p, plan_item *it)
{
    engine *e = p->e;
    const engine_provider *prov = &e->providers[it->provider];
    int intent_only = it->orphan;
    const char *token = intent_only ? json_string_value(json_object_get(it->intent, "token"))
                                    : NULL;
    infra_provider *ctx = NULL;
    char *err = NULL;
    void *priv = NULL;
    size_t priv_len = 0;
    int error = 0;

    if (intent_only && !(prov->desc->capabilities & INFRA_CAP_READ_BY_TOKEN)) {
        log_msg(LOG_WARN,
                "%s: a create was interrupted and plugin \"%s\" cannot look objects up by "
                "token: check for a leftover object by hand",
                it->address, prov->desc->name);
        it->refreshed = 1;
        it->gone = 1;
        return 0;
    }
    if ((error = engine_provider_ctx(e, it->provider, &ctx, &err)) < 0) {
        it->error = err;
        return error;
    }
    const char *priv_text = json_string_value(json_object_get(it->entry, "private"));
    if (priv_text)
        engine_base64_decode(priv_text, &priv, &priv_len);

    engine_call c;
    engine_call_init(&c, e, it->address, it->provider, token);
    read_call r = {prov->ops, ctx, &c, it->type, intent_only ? NULL : it->prior, priv, priv_len,
                   NULL};
    error = engine_retry(e, &c, read_once, &r);
    it->refreshed = 1;
    if (error == INFRA_ENOTFOUND) {
        it->gone = 1;
        error = 0;
    } else if (error < 0) {
        it->error = util_printf("refresh failed: %s", engine_call_error(&c, error));
        if (c.attr && *c.attr)
            it->error_attr = util_strdup(c.attr);
    } else {
        json_t *now = engine_hide_sensitive(e, it->provider, it->type, host_jansson(r.out), 0);
        if (!intent_only) {
            json_t *drift = diff_keys(it->prior, now);
            if (json_array_size(drift) > 0)
                it->drift = json_incref(drift);
            json_decref(drift);
        }
        json_decref(it->prior);
        it->prior = now;
    }
    json_decref(host_jansson(r.out));
    engine_call_clear(&c);
    free(priv);
    return error;
}

typedef struct refresh_job {
    plan *p;
    size_t *items;
} refresh_job;

static int refresh_node(void *ud, size_t k)
{
    refresh_job *job = ud;
    return refresh_item(job->p, &job->p->items[job->items[k]]);
}

/* Reads every item that wants(it), in parallel within the provider limits. */
static int refresh(plan *p, int (*wants)(const plan_item *it))
{
    engine *e = p->e;
    refresh_job job = {p, util_malloc((p->nitems ? p->nitems : 1) * sizeof(size_t))};
    graph *g = graph_new();
    size_t n = 0;
    int error = 0;

    for (size_t i = 0; i < p->nitems; i++) {
        if (!wants(&p->items[i]))
            continue;
        char name[32];
        snprintf(name, sizeof(name), "%zu", n);
        graph_add_node(g, name);
        job.items[n++] = i;
    }
    if (n > 0) {
        size_t *groups = util_malloc(n * sizeof(*groups));
        int *limits = util_calloc(e->nproviders + 1, sizeof(*limits));
        for (size_t k = 0; k < n; k++)
            groups[k] = p->items[job.items[k]].provider;
        for (size_t k = 0; k < e->nproviders; k++)
            limits[k] = e->providers[k].limit;
        apply_options opts = {.parallelism = e->parallelism,
                              .ngroups = e->nproviders,
                              .group_limits = limits,
                              .node_group = groups,
                              .stop = e->stop};
        apply_result res;
        int rc = apply_run(g, &opts, refresh_node, &job, &res);
        for (size_t k = 0; k < n; k++) {
            plan_item *it = &p->items[job.items[k]];
            if (it->error) {
                error_at(e, it, it->error_attr, "%s", it->error);
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

static int wants_full_refresh(const plan_item *it)
{
    if (it->entry)
        return !it->data;
    return it->orphan; /* an unwanted interrupted create: is there an object? */
}

static int wants_intent_refresh(const plan_item *it)
{
    return it->orphan;
}

/* ------------------------------------------------------------------ */
/* Decisions                                                          */

const json_t *plan_lookup(void *ud, const char *address, const char *attr)
{
    plan *p = ud;
    size_t i = graph_find(p->g, address);
    if (i == GRAPH_NONE)
        return NULL;
    return json_object_get(p->items[i].known, attr);
}

int plan_eval(plan *p, plan_item *it, json_t **out, char **err)
{
    *out = NULL;
    *err = NULL;
    int rc = topology_eval(p->e->topo, it->res->config, plan_lookup, p, out, err);
    if (rc < 0) {
        if (!*err)
            *err = util_strdup("cannot resolve the references");
        json_decref(*out);
        *out = NULL;
        return INFRA_EINVALID;
    }
    free(*err);
    *err = NULL;
    engine_register_secrets(p->e, it->provider, it->type, *out);
    if (rc == 0 && engine_json_unknown(*out))
        rc = 1;
    return rc;
}

/* plan_eval at plan time: errors become diagnostics at the resource. */
static int eval_desired(plan *p, plan_item *it)
{
    char *err = NULL;
    int rc = plan_eval(p, it, &it->desired, &err);
    if (rc < 0)
        error_at(p->e, it, NULL, "%s", err);
    free(err);
    return rc;
}

static void append_unique(json_t *list, const char *name)
{
    size_t k;
    json_t *v;
    json_array_foreach(list, k, v)
        if (!strcmp(json_string_value(v), name))
            return;
    json_array_append_new(list, json_string(name));
}

/* The provider's plan for an update of it towards it->desired. */
static int provider_plan(plan *p, plan_item *it, json_t **planned, json_t **replace)
{
    engine *e = p->e;
    const engine_provider *prov = &e->providers[it->provider];
    infra_provider *ctx = NULL;
    char *err = NULL;
    int error;

    *planned = *replace = NULL;
    if (!INFRA_HAS_SLOT(prov->ops, plan)) {
        *planned = json_deep_copy(it->desired);
        *replace = json_array();
        return 0;
    }
    if ((error = engine_provider_ctx(e, it->provider, &ctx, &err)) < 0) {
        error_at(e, it, NULL, "%s", err);
        free(err);
        return error;
    }
    engine_call c;
    infra_json *pl = NULL, *rr = NULL;
    engine_call_init(&c, e, it->address, it->provider, NULL);
    error = prov->ops->plan(ctx, &c.call, it->type, host_json(it->prior), host_json(it->desired),
                            &pl, &rr);
    if (error < 0) {
        error_at(e, it, c.attr, "the provider cannot plan the change: %s",
                 engine_call_error(&c, error));
        json_decref(host_jansson(pl));
        json_decref(host_jansson(rr));
    } else {
        *planned = pl ? host_jansson(pl) : json_deep_copy(it->desired);
        *replace = json_is_array(host_jansson(rr)) ? host_jansson(rr) : json_array();
        if (rr && !json_is_array(host_jansson(rr)))
            json_decref(host_jansson(rr));
    }
    engine_call_clear(&c);
    return error;
}

static int prevent_destroy(const plan_item *it)
{
    return (it->res && it->res->prevent_destroy) ||
           json_is_true(json_object_get(it->entry, "prevent_destroy"));
}

static int decide_managed(plan *p, plan_item *it)
{
    engine *e = p->e;
    int error;

    if ((error = eval_desired(p, it)) < 0)
        return error;
    if (!it->entry || it->gone) {
        it->action = PLAN_CREATE;
        if (it->gone)
            it->note = "deleted outside infra";
        else if (it->intent)
            it->note = "resuming an interrupted create";
        return 0;
    }
    json_t *migrated = secrets_hash_migrate_entry(it->desired, it->entry);
    if (migrated) {
        /* A sensitive value hashed the old, unkeyed way that still
         * matches: the same value, recorded keyed from now on. */
        state_put(e->st, it->address, json_incref(migrated));
        json_decref(it->entry);
        it->entry = migrated;
    }
    json_t *cfg = engine_config_for_state(e, it->provider, it->type, it->desired);
    json_t *changed = diff_keys(cfg, json_object_get(it->entry, "config"));
    size_t k;
    json_t *name;
    json_array_foreach(it->drift, k, name) {
        const char *key = json_string_value(name);
        const json_t *want = json_object_get(cfg, key);
        if (want && !engine_attr_flag(e, it->provider, it->type, key, "sensitive") &&
            !json_equal(want, json_object_get(it->prior, key)))
            append_unique(changed, key);
    }
    json_decref(cfg);
    if (json_array_size(changed) == 0) {
        json_decref(changed);
        plan_set_known(it, it->prior);
        return 0;
    }

    json_t *replace = NULL;
    if ((error = provider_plan(p, it, &it->planned, &replace)) < 0) {
        json_decref(changed);
        return error;
    }
    json_array_foreach(changed, k, name)
        if (engine_attr_flag(e, it->provider, it->type, json_string_value(name), "force_new"))
            append_unique(replace, json_string_value(name));
    if (json_array_size(replace) > 0) {
        it->action = PLAN_REPLACE;
        json_array_extend(it->reasons, replace);
        if (prevent_destroy(it)) {
            error_at(e, it, json_string_value(json_array_get(replace, 0)),
                     "%s would be replaced (%s changed) but has prevent_destroy set",
                     it->address, json_string_value(json_array_get(replace, 0)));
            error = INFRA_EINVALID;
        }
    } else {
        it->action = PLAN_UPDATE;
        json_array_extend(it->reasons, changed);
        plan_set_known(it, it->planned);
    }
    if (it->drift)
        it->note = "changed outside infra";
    json_decref(replace);
    json_decref(changed);
    return error;
}

/* Data sources are read at plan time when their configuration is known,
 * so that what references them plans against real values. */
static int decide_data(plan *p, plan_item *it, int refresh_on)
{
    engine *e = p->e;
    int rc = eval_desired(p, it);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        it->action = PLAN_READ;
        return 0;
    }
    json_t *cfg = engine_config_for_state(e, it->provider, it->type, it->desired);
    int same_config = it->entry && json_equal(cfg, json_object_get(it->entry, "config"));
    json_decref(cfg);
    if (same_config && !refresh_on) {
        plan_set_known(it, it->prior);
        return 0;
    }
    infra_provider *ctx = NULL;
    char *err = NULL;
    if ((rc = engine_provider_ctx(e, it->provider, &ctx, &err)) < 0) {
        error_at(e, it, NULL, "%s", err);
        free(err);
        return rc;
    }
    engine_call c;
    engine_call_init(&c, e, it->address, it->provider, NULL);
    read_call r = {e->providers[it->provider].ops, ctx, &c, it->type, it->desired, NULL, 0, NULL};
    rc = engine_retry(e, &c, read_once, &r);
    if (rc < 0) {
        error_at(e, it, c.attr, "lookup failed: %s", engine_call_error(&c, rc));
    } else {
        json_t *found = engine_hide_sensitive(e, it->provider, it->type, host_jansson(r.out), 0);
        it->resolved = 1;
        plan_set_known(it, found);
        if (!same_config || !json_equal(found, it->prior))
            it->action = PLAN_READ;
        json_decref(found);
    }
    json_decref(host_jansson(r.out));
    engine_call_clear(&c);
    return rc < 0 ? rc : 0;
}

static int decide(plan *p, plan_item *it, int refresh_on)
{
    if (it->res && it->res->data)
        return decide_data(p, it, refresh_on);
    if (it->res)
        return decide_managed(p, it);
    if (!it->entry) {
        /* An interrupted create of something no longer wanted: delete what
         * it may have made; the intent is dropped either way. */
        if (it->prior) {
            it->action = PLAN_DELETE;
            it->note = "left by an interrupted create";
        }
        return 0;
    }
    it->action = PLAN_DELETE;
    if (it->data)
        return 0;
    if (it->gone)
        it->note = "already deleted outside infra";
    if (prevent_destroy(it)) {
        error_at(p->e, it, NULL,
                 "%s is no longer in the topology but has prevent_destroy set: put it back "
                 "without prevent_destroy and apply before removing it",
                 it->address);
        return INFRA_EINVALID;
    }
    return 0;
}

static void count(plan *p)
{
    p->ncreate = p->nupdate = p->nreplace = p->ndelete = p->nread = 0;
    for (size_t i = 0; i < p->nitems; i++) {
        const plan_item *it = &p->items[i];
        switch (it->action) {
        case PLAN_CREATE:
            p->ncreate++;
            break;
        case PLAN_UPDATE:
            p->nupdate++;
            break;
        case PLAN_REPLACE:
            p->nreplace++;
            break;
        case PLAN_DELETE:
            if (!it->data)
                p->ndelete++;
            break;
        case PLAN_READ:
            p->nread++;
            break;
        default:
            break;
        }
    }
}

int plan_build(engine *e, int refresh_on, plan **out)
{
    plan *p = NULL;
    int error = load_items(e, 1, &p);
    *out = p;
    if (error < 0)
        return error;
    if ((error = refresh(p, refresh_on ? wants_full_refresh : wants_intent_refresh)) < 0)
        return error;
    for (size_t k = 0; k < p->nitems; k++) {
        plan_item *it = &p->items[p->order[k]];
        if (decide(p, it, refresh_on) < 0)
            error = INFRA_EINVALID;
    }
    count(p);
    return error;
}

int plan_destroy(engine *e, plan **out)
{
    plan *p = NULL;
    int error = load_items(e, 0, &p);
    *out = p;
    p->destroy = 1;
    if (error < 0)
        return error;
    if ((error = refresh(p, wants_intent_refresh)) < 0)
        return error;
    util_buf names = {0};
    for (size_t i = 0; i < p->nitems; i++) {
        plan_item *it = &p->items[i];
        if (it->entry) {
            it->action = PLAN_DELETE;
            if (!it->data && prevent_destroy(it))
                util_buf_printf(&names, "%s%s", names.len ? ", " : "", it->address);
        } else if (it->prior) {
            it->action = PLAN_DELETE;
            it->note = "left by an interrupted create";
        }
    }
    if (names.len) {
        pthread_mutex_lock(&e->diag_lock);
        diag_add(&e->diags, DIAG_ERROR, NULL, NULL,
                 "refusing to destroy: prevent_destroy is set on %s", names.data);
        pthread_mutex_unlock(&e->diag_lock);
        error = INFRA_EINVALID;
    }
    util_buf_free(&names);
    count(p);
    return error;
}

int plan_refresh_state(engine *e, plan **out)
{
    plan *p = NULL;
    int error = load_items(e, 0, &p);
    *out = p;
    if (error < 0)
        return error;
    return refresh(p, wants_full_refresh);
}

size_t plan_changes(const plan *p)
{
    return p->ncreate + p->nupdate + p->nreplace + p->ndelete;
}

const char *plan_action_name(plan_action action)
{
    switch (action) {
    case PLAN_CREATE:
        return "create";
    case PLAN_UPDATE:
        return "update";
    case PLAN_REPLACE:
        return "replace";
    case PLAN_DELETE:
        return "delete";
    case PLAN_READ:
        return "read";
    default:
        return "no-op";
    }
}
