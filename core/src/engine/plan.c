/* Planning: the items of the resource graph, and one decision per
 * resource in dependency order (create, update, replace, delete, read or
 * nothing), with the attributes that cause it. The refresh that comes
 * first is refresh.c. */
#include "engine/plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/unknown.h"
#include "base/util.h"
#include "engine/call.h"
#include "engine/resource_graph.h"
#include "engine/scheduler.h"
#include "engine/values.h"
#include "plugin/host.h"
#include "services/log.h"
#include "services/secrets_hash.h"

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
        json_decref(it->edited);
        json_decref(it->known);
        free(it->error);
        free(it->error_attr);
    }
    free(p->items);
    free(p->order);
    graph_free(p->g);
    free(p);
}

void plan_error_at(engine *e, const plan_item *it, const char *attr, const char *fmt, ...)
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

/* Sets it->upgrade_from when the state holds attributes of an older
 * version of the type's schema (the refresh upgrades them); a newer
 * version than the plugin's is an error. */
static int version_check(engine *e, plan_item *it)
{
    const json_t *v = json_object_get(it->entry, "schema_version");
    int recorded = json_is_integer(v) ? (int)json_integer_value(v) : 0;
    int current = engine_type_version(e, it->provider, it->type);
    const char *plugin = e->providers[it->provider].desc->name;
    if (recorded > current) {
        plan_error_at(e, it, NULL,
                      "the state of %s was written by version %d of the %s schema of plugin "
                      "\"%s\", which only knows version %d: use the plugin release that wrote it",
                      it->address, recorded, it->type, plugin, current);
        return INFRA_EINVALID;
    }
    if (recorded < current)
        it->upgrade_from = recorded;
    return 0;
}

/* Creates the plan's items from the graph: topology resources first,
 * then addresses only in the state, then intents only. */
int plan_load_items(engine *e, int with_topology, plan **out)
{
    plan *p = util_calloc(1, sizeof(*p));
    int error = rgraph_build(e, e->st, with_topology, &p->g, &e->diags);
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
        it->upgrade_from = -1;
        it->entry = state_get(e->st, it->address);
        it->intent = state_intent_get(e->st, it->address);
        it->res = with_topology && i < t->nresources ? &t->resources[i]
                                                     : topology_resource(t, it->address);
        if (topology_is_group(it->address)) {
            it->group = 1; /* only an ordering point */
            continue;
        }
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
            plan_error_at(e, it, NULL,
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
        if (it->entry && !it->data && version_check(e, it) < 0)
            error = INFRA_EINVALID;
    }
    return error;
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

int plan_eval(plan *p, plan_item *it, json_t **out, char **err, char **err_attr)
{
    *out = NULL;
    *err = NULL;
    *err_attr = NULL;
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
    /* A client pool's template: the scheduler supplies what its instances
     * run (a secret: hashed in the state, hidden in output and logs). */
    if (it->res && it->res->pool_template && json_is_object(*out)) {
        char *user_data = NULL;
        if (scheduler_pool_user_data(p->e, it->res, &user_data, err) < 0) {
            *err_attr = util_strdup("user_data");
            json_decref(*out);
            *out = NULL;
            return INFRA_EINVALID;
        }
        json_object_set_new(*out, "user_data", json_string(user_data));
        memset(user_data, 0, strlen(user_data));
        free(user_data);
    } else if (it->res && it->res->pool_cluster && json_is_object(*out) &&
               json_object_get(json_object_get(engine_type_schema(p->e, it->provider, it->type),
                                               "attributes"),
                               "scheduler_pool")) {
        /* the pool's group, when its provider can list its instances'
         * addresses (what the scheduler knows the clients by) */
        json_object_set_new(*out, "scheduler_pool", json_true());
    }
    /* The plugin sees the types its schema declares ("3" -> 3 for an
     * integer), or the value is refused here, at its line. */
    const char *attr = NULL;
    const json_t *attrs =
        json_object_get(engine_type_schema(p->e, it->provider, it->type), "attributes");
    if (value_convert_config(attrs, *out, &attr, err) < 0) {
        *err_attr = util_strdup(attr);
        json_decref(*out);
        *out = NULL;
        return INFRA_EINVALID;
    }
    engine_register_secrets(p->e, it->provider, it->type, *out);
    if (rc == 0 && unknown_in(*out))
        rc = 1;
    return rc;
}

/* plan_eval at plan time: errors become diagnostics at the resource. */
static int eval_desired(plan *p, plan_item *it)
{
    char *err = NULL, *attr = NULL;
    int rc = plan_eval(p, it, &it->desired, &err, &attr);
    if (rc < 0)
        plan_error_at(p->e, it, attr, "%s", err);
    free(err);
    free(attr);
    return rc;
}

json_t *plan_diff_keys(const json_t *a, const json_t *b)
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

static void append_unique(json_t *list, const char *name)
{
    size_t k;
    json_t *v;
    json_array_foreach(list, k, v)
        if (!strcmp(json_string_value(v), name))
            return;
    json_array_append_new(list, json_string(name));
}

static int in_list(const json_t *list, const char *name)
{
    size_t k;
    json_t *v;
    json_array_foreach(list, k, v)
        if (!strcmp(json_string_value(v), name))
            return 1;
    return 0;
}

/* The provider's plan for it (prior NULL: a create) towards it->desired. */
static int provider_plan(plan *p, plan_item *it, const json_t *prior, json_t **planned,
                         json_t **replace)
{
    engine_call c;
    call_init(&c, p->e, it->provider, it->address, "plan", NULL);
    int error = call_plan(&c, it->type, prior, it->desired, planned, replace);
    if (error < 0)
        plan_error_at(p->e, it, c.attr, "the provider refuses the %s: %s",
                      prior ? "change" : "create", call_error(&c, error));
    call_clear(&c);
    return error;
}

/* Whether a difference the provider reports on key is one to act on: the
 * topology changed it, or the object changed outside infra, or it is an
 * attribute the topology does not set (a status the provider keeps, such
 * as a daemon that should run). A difference that is none of these is
 * only how the provider writes back a value it was given. */
int plan_acts_on(const plan_item *it, const char *key)
{
    return in_list(it->edited, key) || in_list(it->drift, key) ||
           !json_object_get(it->desired, key);
}

/* The attributes an update changes: where the planned state differs from
 * the object as it is (it->prior). Sensitive attributes are never among
 * the recorded attributes: their change is seen in the configuration. */
static json_t *planned_changes(plan *p, plan_item *it, const json_t *planned)
{
    engine *e = p->e;
    json_t *keys = json_array();
    const char *key;
    json_t *want;
    json_object_foreach((json_t *)planned, key, want) {
        const json_t *have = json_object_get(it->prior, key);
        if (engine_attr_flag(e, it->provider, it->type, key, "sensitive")) {
            if (in_list(it->edited, key))
                json_array_append_new(keys, json_string(key));
        } else if (!have) {
            /* The object does not report it: a change only when the
             * topology changed it, or the object lost it since the apply. */
            if (in_list(it->edited, key) || in_list(it->drift, key))
                json_array_append_new(keys, json_string(key));
        } else if ((unknown_in(want) || !json_equal(want, have)) && plan_acts_on(it, key)) {
            json_array_append_new(keys, json_string(key));
        }
    }
    /* Set before, no longer: the update removes it. */
    size_t k;
    json_t *name;
    json_array_foreach(it->edited, k, name)
        if (!json_object_get(planned, json_string_value(name)))
            append_unique(keys, json_string_value(name));
    return keys;
}

json_t *plan_provider_prior(const engine *e, const plan_item *it, const json_t *desired)
{
    if (!json_is_object(it->prior) || !json_is_object(desired) ||
        !engine_type_flag(e, it->provider, it->type, "sensitive"))
        return json_incref(it->prior);
    /* The state keeps no sensitive value, only the hash of what was
     * applied: where that hash says the value is the same, the provider
     * is shown it as the object's, so that it plans no change of it. */
    json_t *prior = json_copy(it->prior);
    const char *key;
    json_t *want;
    json_object_foreach((json_t *)desired, key, want) {
        if (engine_attr_flag(e, it->provider, it->type, key, "sensitive") &&
            !json_object_get(prior, key) && !in_list(it->edited, key) && !unknown_in(want))
            json_object_set(prior, key, want);
    }
    return prior;
}

static int prevent_destroy(const plan_item *it)
{
    return (it->res && it->res->prevent_destroy) ||
           json_is_true(json_object_get(it->entry, "prevent_destroy"));
}

/* What the topology wants of a managed resource, as its provider plans
 * it against the object as it is now (refreshed): a planned state that
 * differs from it is an update, or a replace when the provider (or the
 * schema's force_new) says so; drift on anything the provider plans is
 * repaired, not only on what the topology sets. */
static int decide_managed(plan *p, plan_item *it)
{
    engine *e = p->e;
    json_t *replace = NULL;
    int error;

    if ((error = eval_desired(p, it)) < 0)
        return error;
    if (!it->entry || it->gone) {
        it->action = PLAN_CREATE;
        if (it->gone)
            it->note = "deleted outside infra";
        else if (it->intent && json_is_true(json_object_get(it->intent, "failed")))
            it->note = "retrying a failed create";
        else if (it->intent)
            it->note = "resuming an interrupted create";
        if ((error = provider_plan(p, it, NULL, &it->planned, &replace)) == 0)
            plan_set_known(it, it->planned);
        json_decref(replace);
        return error;
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
    it->edited = plan_diff_keys(cfg, json_object_get(it->entry, "config"));
    json_decref(cfg);
    json_t *pprior = plan_provider_prior(e, it, it->desired);
    error = provider_plan(p, it, pprior, &it->planned, &replace);
    json_decref(pprior);
    if (error < 0)
        return error;

    json_t *forced = json_array();
    size_t k;
    json_t *name;
    json_array_foreach(replace, k, name)
        if (json_is_string(name) && plan_acts_on(it, json_string_value(name)))
            append_unique(forced, json_string_value(name));
    json_array_foreach(it->edited, k, name) {
        const char *key = json_string_value(name);
        if (engine_attr_flag(e, it->provider, it->type, key, "force_new") &&
            !engine_attr_flag(e, it->provider, it->type, key, "sensitive") &&
            json_object_get(it->desired, key))
            append_unique(forced, key);
    }
    json_t *changed = planned_changes(p, it, it->planned);
    /* A force_new attribute the object lost or changed outside infra is
     * as much a replacement as one the topology changed. */
    json_array_foreach(changed, k, name) {
        const char *key = json_string_value(name);
        if (in_list(it->drift, key) &&
            engine_attr_flag(e, it->provider, it->type, key, "force_new") &&
            !engine_attr_flag(e, it->provider, it->type, key, "sensitive") &&
            json_object_get(it->desired, key))
            append_unique(forced, key);
    }
    if (json_array_size(forced) > 0) {
        it->action = PLAN_REPLACE;
        json_array_extend(it->reasons, forced);
        if (prevent_destroy(it)) {
            plan_error_at(e, it, json_string_value(json_array_get(forced, 0)),
                          "%s would be replaced (%s changed) but has prevent_destroy set",
                          it->address, json_string_value(json_array_get(forced, 0)));
            error = INFRA_EINVALID;
        }
    } else if (json_array_size(changed) > 0) {
        it->action = PLAN_UPDATE;
        json_array_extend(it->reasons, changed);
        plan_set_known(it, it->planned);
    } else {
        /* The object is what the topology wants: a configuration that
         * differs only in how it was recorded is recorded again. */
        plan_set_known(it, it->prior);
    }
    json_array_foreach(it->reasons, k, name)
        if (!in_list(it->edited, json_string_value(name)))
            it->note = "changed outside infra";
    json_decref(changed);
    json_decref(forced);
    json_decref(replace);
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
    engine_call c;
    json_t *found = NULL;
    call_init(&c, e, it->provider, it->address, "lookup", NULL);
    rc = call_read(&c, it->type, it->desired, NULL, 0, &found);
    if (rc < 0) {
        plan_error_at(e, it, c.attr, "lookup failed: %s", call_error(&c, rc));
    } else {
        json_t *shown = engine_hide_sensitive(e, it->provider, it->type, found, 0);
        it->resolved = 1;
        plan_set_known(it, shown);
        if (!same_config || !json_equal(shown, it->prior))
            it->action = PLAN_READ;
        json_decref(shown);
    }
    json_decref(found);
    call_clear(&c);
    return rc < 0 ? rc : 0;
}

static int decide(plan *p, plan_item *it, int refresh_on)
{
    if (it->group)
        return 0;
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
        plan_error_at(p->e, it, NULL,
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

/* Configures every provider the plan calls, as apply would: a provider
 * that cannot be configured (no credentials...) fails the plan, at its
 * declaration, once. */
static int configure_used(plan *p)
{
    engine *e = p->e;
    unsigned char *used = util_calloc(e->nproviders + 1, 1);
    int error = 0;
    for (size_t i = 0; i < p->nitems; i++) {
        const plan_item *it = &p->items[i];
        if (it->type && (it->res || it->entry || it->intent))
            used[it->provider] = 1;
    }
    for (size_t i = 0; i < e->nproviders; i++) {
        char *err = NULL, *attr = NULL;
        if (used[i] && e->providers[i].desc && call_configure(e, i, &err, &attr) < 0) {
            engine_provider_error_at(e, i, attr, "%s", err);
            error = INFRA_EINVALID;
        }
        free(err);
        free(attr);
    }
    free(used);
    return error;
}

int plan_build(engine *e, int refresh_on, plan **out)
{
    plan *p = NULL;
    int error = plan_load_items(e, 1, &p);
    *out = p;
    if (error < 0)
        return error;
    if ((error = configure_used(p)) < 0)
        return error;
    if ((error = plan_refresh(p, refresh_on ? PLAN_REFRESH_ALL : PLAN_REFRESH_INTENTS)) < 0)
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
    int error = plan_load_items(e, 0, &p);
    *out = p;
    p->destroy = 1;
    if (error < 0)
        return error;
    if ((error = configure_used(p)) < 0)
        return error;
    if ((error = plan_refresh(p, PLAN_REFRESH_INTENTS)) < 0)
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
