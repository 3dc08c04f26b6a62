/* Applying a plan: the execution graph (creates and updates after their
 * dependencies, deletes after their former dependents), one worker-pool
 * node per resource, and the provider calls of each action.
 *
 * Crash safety rests on two rules. A create first records an intent
 * {token, ...} and waits until it is on disk (state_sync, group-committed
 * with the other workers' changes); the provider gets the same token, so a
 * create interrupted at any instant is found again by that token on the
 * next run. Every other change is written by the state writer as soon as
 * possible; losing it to a crash only repeats an idempotent step (a
 * delete of a missing object succeeds, an update is planned again). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/unknown.h"
#include "base/util.h"
#include "engine/apply.h"
#include "engine/call.h"
#include "engine/engine_apply.h"
#include "engine/progress.h"
#include "engine/scheduler.h"
#include "plugin/host.h"
#include "services/log.h"

static void fail(plan_item *it, const char *what, const engine_call *c, int code)
{
    if (it->error)
        return;
    it->error = util_printf("%s failed: %s", what, call_error(c, code));
    if (c && c->attr && *c->attr)
        it->error_attr = util_strdup(c->attr);
}

static void fail_text(plan_item *it, const char *what, const char *text)
{
    if (!it->error)
        it->error = util_printf("%s failed: %s", what, text);
}

static json_t *entry_new(engine *e, const plan_item *it, const json_t *desired,
                         const json_t *attributes, const void *priv, size_t priv_len,
                         const char *token)
{
    engine_entry_source src = {.provider = it->provider,
                               .type = it->type,
                               .res = it->res,
                               .data = it->data,
                               .config = desired,
                               .attributes = attributes,
                               .priv = priv,
                               .priv_len = priv_len,
                               .token = token};
    return engine_entry_new(e, &src);
}

/* The configuration to apply now that every dependency is done. */
static int eval_now(plan *p, plan_item *it, json_t **desired)
{
    char *err = NULL, *attr = NULL;
    int rc = plan_eval(p, it, desired, &err, &attr);
    if (rc < 0) {
        fail_text(it, "evaluation", err);
        if (attr && !it->error_attr) {
            it->error_attr = attr;
            attr = NULL;
        }
    } else if (rc == 1) {
        fail_text(it, "evaluation", "a referenced value is still unknown after its "
                                    "dependencies were applied");
        rc = INFRA_EINVALID;
    }
    free(err);
    free(attr);
    if (rc < 0) {
        json_decref(*desired);
        *desired = NULL;
    }
    return rc;
}

static void decode_private(const plan_item *it, void **priv, size_t *len)
{
    const char *text = json_string_value(json_object_get(it->entry, "private"));
    *priv = NULL;
    *len = 0;
    if (text)
        engine_base64_decode(text, priv, len);
}

/* Planned state for prior -> desired; *replace lists the attributes that
 * force a replacement (the provider's and the schema's force_new ones). */
static int replan(engine *e, plan_item *it, const json_t *prior, const json_t *desired,
                  json_t **planned, json_t **replace)
{
    /* The configuration the plan was made with, complete then, for the
     * same change: the plan stands, and the plugin is not asked again. */
    int same_change = (it->action == PLAN_CREATE && !prior) || (it->action == PLAN_UPDATE && prior);
    if (desired == it->desired && it->planned && same_change) {
        *planned = json_incref(it->planned);
        *replace = json_array();
        return 0;
    }
    engine_call c;
    json_t *asked = NULL;
    call_init(&c, e, it->provider, it->address, "plan", NULL);
    int rc = call_plan(&c, it->type, prior, desired, planned, &asked);
    if (rc < 0)
        fail(it, "plan", &c, rc);
    call_clear(&c);
    *replace = json_array();
    if (rc == 0 && prior) {
        /* What forces a replacement now that the values are known, weighed
         * as the plan weighed it. */
        size_t k;
        json_t *name;
        json_array_foreach(asked, k, name)
            if (json_is_string(name) && plan_acts_on(it, json_string_value(name)))
                json_array_append(*replace, name);
        const char *key;
        json_t *value;
        json_object_foreach((json_t *)desired, key, value) {
            const json_t *old = json_object_get(json_object_get(it->entry, "config"), key);
            if (engine_attr_flag(e, it->provider, it->type, key, "force_new") && old &&
                !engine_attr_flag(e, it->provider, it->type, key, "sensitive") &&
                !json_equal(old, value))
                json_array_append_new(*replace, json_string(key));
        }
    }
    json_decref(asked);
    return rc;
}

/* After a create the plugin answered with a failure (not one cut short by
 * an interrupt or a deadline): what it left is found out now, so that no
 * later run calls it interrupted. A plugin that can look objects up by
 * token is asked: nothing there drops the intent; an object there keeps
 * it, for the next up to take over and down to delete. Without that, the
 * intent stays marked "failed" and the message says nobody can tell. */
static void create_failed(engine *e, plan_item *it, engine_call *c, int rc)
{
    const engine_provider *prov = &e->providers[it->provider];
    if (rc == INFRA_ECANCELLED || e->halt || e->cancel || (e->stop && *e->stop))
        return; /* interrupted: the intent says so */
    json_t *intent = state_intent_get(e->st, it->address);
    if (!intent)
        return;
    const char *what = NULL;
    char *extra = NULL;
    int removed = 0;
    if (prov->capabilities & INFRA_CAP_READ_BY_TOKEN) {
        json_t *found = NULL;
        call_forget(c);
        int r = call_read(c, it->type, NULL, NULL, 0, &found);
        if (r == INFRA_ENOTFOUND) {
            state_intent_remove(e->st, it->address);
            removed = 1;
            what = "nothing was created";
        } else if (r == 0) {
            const char *id = json_string_value(json_object_get(found, "id"));
            extra = util_printf("it left an object%s%s, found by its token: the next up takes it "
                                "over, down deletes it",
                                id ? " " : "", id ? id : "");
        } else {
            what = "whether it left an object could not be checked (the next up checks again)";
        }
        json_decref(found);
    } else {
        what = "the plugin cannot look objects up by token, so whether it left an object is "
               "unknown: check by hand";
    }
    if (!removed && json_object_get(intent, "failed") == NULL) {
        json_t *marked = json_deep_copy(intent);
        json_object_set_new(marked, "failed", json_true());
        state_intent_put(e->st, it->address, marked);
    }
    char *more = util_printf("%s; %s", it->error, extra ? extra : what);
    free(it->error);
    it->error = more;
    free(extra);
    json_decref(intent);
}

static int do_create(engine *e, plan *p, plan_item *it, json_t *desired)
{
    const engine_provider *prov = &e->providers[it->provider];
    /* An intent is reused only for an address the state does not hold: one
     * beside an entry belongs to the object that entry describes. */
    const char *reused =
        it->entry ? NULL : json_string_value(json_object_get(it->intent, "token"));
    char *token = reused ? util_strdup(reused) : util_random_hex();
    json_t *planned = NULL, *replace = NULL, *out = NULL;
    void *priv_out = NULL;
    size_t priv_out_len = 0;
    char *err = NULL;
    int rc;
    uint32_t caps = prov->capabilities;

    if (reused && !(caps & (INFRA_CAP_TOKEN_CREATE | INFRA_CAP_READ_BY_TOKEN))) {
        /* Repeating it could make a second object, and nothing can tell
         * whether the first one exists: only the user can. */
        char *env = strcmp(e->env, "default") ? util_printf(" -e %s", e->env) : util_strdup("");
        rc = INFRA_ECONFLICT;
        it->error = util_printf(
            "a create of %s by plugin \"%s\" %s, and the plugin can neither "
            "repeat it safely nor look its object up: check whether the object exists; if it "
            "does, adopt it with `infra import %s %s ID%s`, otherwise forget the interrupted "
            "create with `infra state rm %s %s%s`; then run up again",
            it->address, prov->desc->name,
            json_is_true(json_object_get(it->intent, "failed")) ? "failed" : "was interrupted",
            e->topo->file, it->address, env, e->topo->file, it->address, env);
        free(env);
        goto done;
    }
    if ((rc = replan(e, it, NULL, desired, &planned, &replace)) < 0)
        goto done;
    state_intent_put(e->st, it->address,
                     json_pack("{s:s, s:s, s:I, s:s, s:s}", "token", token, "action", "create",
                               "time", (json_int_t)time(NULL), "type", it->type, "provider",
                               prov->decl->name));
    if ((rc = state_sync(e->st, &err)) < 0) {
        fail_text(it, "create", err ? err : "cannot write the state");
        goto done;
    }

    engine_call c;
    call_init(&c, e, it->provider, it->address, "create", token);
    c.call.resuming = reused != NULL;
    rc = INFRA_ENOTFOUND;
    if (reused && !(caps & INFRA_CAP_TOKEN_CREATE) && (caps & INFRA_CAP_READ_BY_TOKEN))
        rc = call_read(&c, it->type, NULL, NULL, 0, &out); /* adopt what the interrupted create made */
    if (rc == INFRA_ENOTFOUND)
        rc = call_apply(&c, it->type, NULL, planned, NULL, 0, &out, &priv_out, &priv_out_len);
    if (rc < 0) {
        fail(it, "create", &c, rc);
        create_failed(e, it, &c, rc);
    } else {
        json_t *attrs = engine_hide_sensitive(e, it->provider, it->type, out, 0);
        state_put(e->st, it->address,
                  entry_new(e, it, desired, attrs, priv_out, priv_out_len, token));
        state_intent_remove(e->st, it->address);
        plan_set_known(it, attrs);
        json_decref(attrs);
    }
    call_clear(&c);
done:
    json_decref(out);
    free(priv_out);
    json_decref(planned);
    json_decref(replace);
    free(err);
    free(token);
    return rc;
}

/* Deletes the object behind it (prior attributes, private blob, token). */
static int delete_object(engine *e, plan_item *it, const char *token)
{
    void *priv = NULL, *priv_out = NULL;
    size_t priv_len = 0, priv_out_len = 0;
    json_t *out = NULL;
    engine_call c;

    decode_private(it, &priv, &priv_len);
    call_init(&c, e, it->provider, it->address, "delete", token);
    int rc = call_apply(&c, it->type, it->prior, NULL, priv, priv_len, &out, &priv_out,
                        &priv_out_len);
    if (rc == INFRA_ENOTFOUND)
        rc = 0; /* already gone: what a delete wants */
    if (rc < 0)
        fail(it, "delete", &c, rc);
    call_clear(&c);
    json_decref(out);
    free(priv_out);
    free(priv);
    return rc;
}

static int do_delete(engine *e, plan_item *it)
{
    int rc = 0;
    if (!it->data && !it->gone) {
        const char *token = json_string_value(json_object_get(it->entry ? it->entry : it->intent,
                                                              "token"));
        if ((rc = delete_object(e, it, token)) < 0)
            return rc;
    }
    if (it->entry)
        state_remove(e->st, it->address);
    if (it->intent)
        state_intent_remove(e->st, it->address);
    return 0;
}

/* A client pool's group going down in size: the clients of the instances
 * that go are drained first, then the provider terminates exactly those
 * (planned "terminate_first"), so that no allocation is killed undrained. */
static int pool_scale_in(engine *e, plan_item *it, json_t **planned)
{
    if (!it->res || !it->res->pool_cluster || it->res->pool_template)
        return 0;
    static const char *const keys[] = {"desired", "desired_capacity", "target_size", "size", "min",
                                       NULL};
    const json_t *want = NULL;
    for (size_t k = 0; keys[k] && !want; k++)
        if (json_is_integer(json_object_get(*planned, keys[k])))
            want = json_object_get(*planned, keys[k]);
    if (!want)
        return 0;
    json_t *victims = NULL;
    char *err = NULL;
    int rc = scheduler_pool_scale_in(e, it->res, it->prior, json_integer_value(want), &victims,
                                     &err);
    if (rc < 0) {
        plan_error_at(e, it, "", "before the scale-in: %s", err ? err : "a drain failed");
        free(err);
        return rc;
    }
    if (victims && json_array_size(victims) > 0) {
        json_t *copy = json_deep_copy(*planned);
        json_object_set_new(copy, "terminate_first", victims);
        json_decref(*planned);
        *planned = copy;
    } else {
        json_decref(victims);
    }
    return 0;
}

static int do_update(engine *e, plan *p, plan_item *it, json_t *desired, int *replaced)
{
    json_t *planned = NULL, *replace = NULL, *out = NULL, *pprior = NULL;
    void *priv = NULL, *priv_out = NULL;
    size_t priv_len = 0, priv_out_len = 0;
    int rc;

    *replaced = 0;
    pprior = plan_provider_prior(e, it, desired);
    if ((rc = replan(e, it, pprior, desired, &planned, &replace)) < 0)
        goto done;
    if (json_array_size(replace) > 0) {
        *replaced = 1;
        if ((rc = do_delete(e, it)) == 0)
            rc = do_create(e, p, it, desired);
        goto done;
    }
    if ((rc = pool_scale_in(e, it, &planned)) < 0)
        goto done;
    decode_private(it, &priv, &priv_len);
    engine_call c;
    call_init(&c, e, it->provider, it->address, "update", NULL);
    rc = call_apply(&c, it->type, pprior, planned, priv, priv_len, &out, &priv_out,
                    &priv_out_len);
    if (rc < 0) {
        fail(it, "update", &c, rc);
    } else {
        json_t *attrs = engine_hide_sensitive(e, it->provider, it->type, out, 0);
        /* A provider that keeps no private data on update keeps the old blob. */
        const void *keep = priv_out ? priv_out : priv;
        size_t keep_len = priv_out ? priv_out_len : priv_len;
        state_put(e->st, it->address,
                  entry_new(e, it, desired, attrs, keep, keep_len,
                            json_string_value(json_object_get(it->entry, "token"))));
        plan_set_known(it, attrs);
        json_decref(attrs);
    }
    call_clear(&c);
done:
    json_decref(out);
    free(priv_out);
    free(priv);
    json_decref(planned);
    json_decref(pprior);
    json_decref(replace);
    return rc;
}

static int do_read(engine *e, plan_item *it, json_t *desired)
{
    int rc = 0;
    if (!it->resolved) {
        engine_call c;
        json_t *out = NULL;
        call_init(&c, e, it->provider, it->address, "lookup", NULL);
        rc = call_read(&c, it->type, desired, NULL, 0, &out);
        if (rc < 0) {
            fail(it, "lookup", &c, rc);
        } else {
            json_t *found = engine_hide_sensitive(e, it->provider, it->type, out, 0);
            plan_set_known(it, found);
            json_decref(found);
        }
        json_decref(out);
        call_clear(&c);
    }
    if (rc == 0)
        state_put(e->st, it->address, entry_new(e, it, desired, it->known, NULL, 0, NULL));
    return rc;
}

static const char *const verbs[][2] = {
    [PLAN_NOOP] = {"checking", "unchanged"},     [PLAN_CREATE] = {"creating", "created"},
    [PLAN_UPDATE] = {"updating", "updated"},     [PLAN_REPLACE] = {"replacing", "replaced"},
    [PLAN_DELETE] = {"deleting", "deleted"},     [PLAN_READ] = {"reading", "read"},
};

/* The execution graph has one node per plan item, then one more per
 * replace: the deletion of the old object, which runs before the
 * deletions of the dependencies it held (so a node is drained before its
 * instance goes) and before the item's own node creates the new object. */
typedef struct exec_plan {
    plan *p;
    size_t *replaces; /* node - p->nitems -> the replaced item */
    size_t nreplaces;
    size_t *extra;    /* node - p->nitems - nreplaces -> the group item it serves */
    size_t nextra;
    size_t *half;     /* item -> its index in replaces, or GRAPH_NONE */
} exec_plan;

/* The first half of a replace: delete the old object. */
static int run_replace_delete(exec_plan *x, plan_item *it)
{
    engine *e = x->p->e;
    int rc;
    progress_start(e->progress, it->address, verbs[PLAN_REPLACE][0]);
    rc = do_delete(e, it);
    if (rc < 0)
        progress_done(e->progress, it->address, verbs[PLAN_REPLACE][1], 0, it->error);
    return rc;
}

static int run_item(void *ud, size_t node)
{
    exec_plan *x = ud;
    plan *p = x->p;
    engine *e = p->e;
    if (node >= p->nitems + x->nreplaces)
        return 0; /* a group's node: nothing to do */
    if (node >= p->nitems)
        return run_replace_delete(x, &p->items[x->replaces[node - p->nitems]]);
    plan_item *it = &p->items[node];
    json_t *desired = NULL;
    int rc = 0, replaced = 0;

    if (it->action != PLAN_REPLACE) /* started by its deletion half */
        progress_start(e->progress, it->address, verbs[it->action][0]);
    if (it->action == PLAN_DELETE && (it->data || it->gone)) {
        rc = do_delete(e, it); /* nothing to ask the provider */
        goto done;
    }
    /* What the plan evaluated with nothing left unknown is what to apply. */
    if (it->action != PLAN_DELETE && it->desired && !unknown_in(it->desired))
        desired = json_incref(it->desired);
    else if (it->action != PLAN_DELETE && (rc = eval_now(p, it, &desired)) < 0)
        goto done;
    switch (it->action) {
    case PLAN_CREATE:
        rc = do_create(e, p, it, desired);
        break;
    case PLAN_UPDATE:
        rc = do_update(e, p, it, desired, &replaced);
        break;
    case PLAN_REPLACE:
        rc = do_create(e, p, it, desired); /* the old object is already gone */
        break;
    case PLAN_DELETE:
        rc = do_delete(e, it);
        break;
    case PLAN_READ:
        rc = do_read(e, it, desired);
        break;
    default:
        break;
    }
done:
    progress_done(e->progress, it->address,
                  replaced ? verbs[PLAN_REPLACE][1] : verbs[it->action][1], rc >= 0, it->error);
    json_decref(desired);
    return rc;
}

/* The node that deletes item i's current object: its own node for a
 * delete, the deletion half for a replace, GRAPH_NONE otherwise. */
static size_t delete_node(const exec_plan *xp, const size_t *half, size_t i)
{
    const plan_item *it = &xp->p->items[i];
    if (it->action == PLAN_DELETE)
        return i;
    if (it->action == PLAN_REPLACE)
        return xp->p->nitems + half[i];
    return GRAPH_NONE;
}

/* A replaced agent waits for its own instance only: the other nodes of
 * its region are replaced after it (rolling_edges), and their region
 * brings every agent up to date once they are. */
static int rolling_peer(const plan *p, const plan_item *it, size_t d)
{
    if (it->action != PLAN_REPLACE || strcmp(it->type, "cluster_agent"))
        return 0;
    const plan_item *dep = &p->items[d];
    if (dep->group)
        return 1; /* the region's servers, replaced after it */
    const json_t *config = it->res ? it->res->config : json_object_get(it->entry, "config");
    const char *own = json_string_value(json_object_get(config, "instance"));
    return dep->action == PLAN_REPLACE && !strcmp(dep->type, "instance") && own &&
           strcmp(dep->address, own) != 0;
}

/* Nodes of a cluster are replaced one at a time: the next node's old
 * agent is removed (drained) only once the previous node's new agent is
 * up, so the cluster keeps its quorum and its capacity. */
static void rolling_edges(graph *x, const exec_plan *xp, const size_t *half)
{
    const plan *p = xp->p;
    for (size_t a = 0; a < p->nitems; a++) {
        const plan_item *prev = &p->items[p->order[a]];
        if (prev->action != PLAN_REPLACE || strcmp(prev->type, "cluster_agent"))
            continue;
        for (size_t b = a + 1; b < p->nitems; b++) {
            const plan_item *next = &p->items[p->order[b]];
            if (next->action == PLAN_REPLACE && !strcmp(next->type, "cluster_agent") &&
                next->provider == prev->provider) {
                graph_add_edge(x, p->order[a], delete_node(xp, half, p->order[b]));
                break;
            }
        }
    }
}

/* A node of its own that item g (a group) needs in the execution graph:
 * one every old object of its members waits for before it is deleted,
 * so that their dependents (recorded as depending on the group) go first.
 * kind 0: the members deleted; kind 1: the old halves of those replaced. */
static size_t group_delete_node(graph *x, exec_plan *xp, const size_t *half, size_t **nodes,
                                size_t g, int kind)
{
    plan *p = xp->p;
    if (!nodes[kind]) {
        nodes[kind] = util_malloc((p->nitems ? p->nitems : 1) * sizeof(size_t));
        for (size_t i = 0; i < p->nitems; i++)
            nodes[kind][i] = GRAPH_NONE;
    }
    if (nodes[kind][g] != GRAPH_NONE)
        return nodes[kind][g];
    char *name = util_printf("%s (%s)", p->items[g].address, kind ? "old" : "deleted");
    size_t node = graph_add_node(x, name);
    free(name);
    xp->extra[xp->nextra++] = g;
    nodes[kind][g] = node;
    size_t n = 0;
    const size_t *members = graph_predecessors(p->g, g, &n);
    for (size_t k = 0; k < n; k++) {
        plan_action a = p->items[members[k]].action;
        if ((kind == 0 && a == PLAN_DELETE) || (kind == 1 && a == PLAN_REPLACE))
            graph_add_edge(x, node, delete_node(xp, half, members[k]));
    }
    return node;
}

/* Edges of the execution graph: a create/update/replace/read waits for
 * its dependencies (a group once its members are made), and the deletion
 * half of a replace for the updates of its dependencies; a delete waits
 * for everything that depended on it when it was applied (recorded in the
 * state entries, through the group's nodes for a group). */
static graph *execution_graph(exec_plan *xp)
{
    plan *p = xp->p;
    graph *x = graph_new();
    size_t *half = util_calloc(p->nitems ? p->nitems : 1, sizeof(*half));
    size_t *group_nodes[2] = {NULL, NULL};
    for (size_t i = 0; i < p->nitems; i++)
        graph_add_node(x, p->items[i].address);
    for (size_t i = 0; i < p->nitems; i++) {
        if (p->items[i].action != PLAN_REPLACE)
            continue;
        char *name = util_printf("%s (old)", p->items[i].address);
        graph_add_node(x, name);
        free(name);
        half[i] = xp->nreplaces;
        xp->replaces[xp->nreplaces++] = i;
        graph_add_edge(x, p->nitems + half[i], i);
    }
    for (size_t i = 0; i < p->nitems; i++) {
        const plan_item *it = &p->items[i];
        if (it->group) {
            size_t n = 0;
            const size_t *members = graph_predecessors(p->g, i, &n);
            for (size_t k = 0; k < n; k++)
                if (p->items[members[k]].action != PLAN_DELETE)
                    graph_add_edge(x, members[k], i);
            continue;
        }
        if (it->action != PLAN_DELETE && it->res) {
            for (size_t k = 0; k < it->res->ndeps; k++) {
                size_t d = graph_find(p->g, it->res->deps[k]);
                if (d != GRAPH_NONE && d != i && p->items[d].action != PLAN_DELETE &&
                    !rolling_peer(p, it, d)) {
                    graph_add_edge(x, d, i);
                    /* The old object stays until what it is replaced
                     * for is updated: a new image generation that fails
                     * to build leaves the instances of the old one. */
                    if (it->action == PLAN_REPLACE && p->items[d].action == PLAN_UPDATE)
                        graph_add_edge(x, d, delete_node(xp, half, i));
                }
            }
        }
        size_t k;
        json_t *dep;
        json_array_foreach(json_object_get(it->entry, "deps"), k, dep) {
            const char *address = json_string_value(dep);
            size_t d = address ? graph_find(p->g, address) : GRAPH_NONE;
            if (d == GRAPH_NONE || d == i)
                continue;
            size_t from = delete_node(xp, half, i);
            if (p->items[d].group) {
                graph_add_edge(x, from != GRAPH_NONE ? from : i,
                               group_delete_node(x, xp, half, group_nodes, d, 0));
                if (from != GRAPH_NONE && !rolling_peer(p, it, d))
                    graph_add_edge(x, from, group_delete_node(x, xp, half, group_nodes, d, 1));
            } else if (p->items[d].action == PLAN_DELETE) {
                graph_add_edge(x, from != GRAPH_NONE ? from : i, d);
            } else if (p->items[d].action == PLAN_REPLACE && !rolling_peer(p, it, d)) {
                if (from != GRAPH_NONE)
                    graph_add_edge(x, from, delete_node(xp, half, d));
            }
        }
    }
    rolling_edges(x, xp, half);
    free(group_nodes[0]);
    free(group_nodes[1]);
    for (size_t i = 0; i < p->nitems; i++)
        xp->half[i] = p->items[i].action == PLAN_REPLACE ? half[i] : GRAPH_NONE;
    free(half);
    return x;
}

/* Item of an execution node. */
static size_t node_item(const exec_plan *xp, size_t node);

/* A call of node never returned: the item fails with the watchdog's words. */
static void node_abandoned(void *ud, size_t node, const char *message)
{
    exec_plan *x = ud;
    plan_item *it = &x->p->items[node_item(x, node)];
    free(it->error);
    free(it->error_attr);
    it->error = util_strdup(message);
    it->error_attr = NULL;
    progress_done(x->p->e->progress, it->address,
                  verbs[it->action == PLAN_REPLACE || node >= x->p->nitems ? PLAN_REPLACE
                                                                            : it->action][1],
                  0, it->error);
}

/* Item of an execution node. */
static size_t node_item(const exec_plan *xp, size_t node)
{
    size_t n = xp->p->nitems;
    if (node < n)
        return node;
    if (node < n + xp->nreplaces)
        return xp->replaces[node - n];
    return xp->extra[node - n - xp->nreplaces];
}

/* Work that needs no provider call, done before the pool starts: records
 * refreshed attributes of unchanged resources, drops intents whose create
 * is known to have finished (the entry exists) or to have made nothing. */
static void housekeeping(engine *e, plan *p)
{
    for (size_t i = 0; i < p->nitems; i++) {
        plan_item *it = &p->items[i];
        if (it->action == PLAN_NOOP && it->entry && it->prior && !it->data &&
            (it->drift || it->upgraded || json_array_size(it->edited) > 0)) {
            json_t *entry = json_deep_copy(it->entry);
            json_object_set(entry, "attributes", it->prior);
            json_object_set_new(entry, "schema_version",
                                json_integer(engine_type_version(e, it->provider, it->type)));
            if (json_array_size(it->edited) > 0 && it->desired)
                json_object_set_new(entry, "config",
                                    engine_config_for_state(e, it->provider, it->type,
                                                            it->desired));
            state_put(e->st, it->address, entry);
        }
        if (it->intent && it->action == PLAN_NOOP)
            state_intent_remove(e->st, it->address);
        else if (it->intent && it->entry && it->action != PLAN_CREATE && it->action != PLAN_DELETE)
            state_intent_remove(e->st, it->address);
    }
}

/* The outcome of item i: a replace is as good as the worse of its halves. */
static apply_status item_status(const exec_plan *xp, const apply_result *res, size_t i)
{
    size_t j = xp->half[i];
    if (j != GRAPH_NONE && res->status[xp->p->nitems + j] != APPLY_DONE)
        return res->status[xp->p->nitems + j];
    return res->status[i];
}

static size_t item_blocked_by(const exec_plan *xp, const apply_result *res, size_t i)
{
    size_t by = res->blocked_by[i];
    size_t j = xp->half[i];
    if (j != GRAPH_NONE && res->status[xp->p->nitems + j] == APPLY_SKIPPED)
        by = res->blocked_by[xp->p->nitems + j];
    return by == GRAPH_NONE ? by : node_item(xp, by);
}

static void report_failures(engine *e, const exec_plan *xp, const apply_result *res,
                            engine_apply_summary *out)
{
    plan *p = xp->p;
    for (size_t k = 0; k < p->nitems; k++) {
        size_t i = p->order[k];
        plan_item *it = &p->items[i];
        if (it->action == PLAN_NOOP)
            continue;
        apply_status s = item_status(xp, res, i);
        out->done += s == APPLY_DONE;
        out->failed += s == APPLY_FAILED;
        out->skipped += s == APPLY_SKIPPED;
        out->not_started += s == APPLY_NOT_STARTED;
        if (s == APPLY_SKIPPED) {
            size_t by = item_blocked_by(xp, res, i);
            progress_note(e->progress, "%s: skipped (%s failed)", it->address,
                          by != GRAPH_NONE ? p->items[by].address : "a dependency");
        }
    }
    for (size_t k = 0; k < p->nitems; k++) {
        plan_item *it = &p->items[p->order[k]];
        if (item_status(xp, res, p->order[k]) != APPLY_FAILED)
            continue;
        diag_loc loc = {0};
        if (it->res) {
            loc = it->res->loc;
            if (it->error_attr)
                topology_locate(e->topo, it->address, it->error_attr, &loc);
        }
        pthread_mutex_lock(&e->diag_lock);
        diag_add(&e->diags, DIAG_ERROR, it->res ? &loc : NULL, it->address, "%s",
                 it->error ? it->error : "failed");
        pthread_mutex_unlock(&e->diag_lock);
    }
}

int engine_apply(engine *e, plan *p, engine_apply_summary *out)
{
    memset(out, 0, sizeof(*out));
    housekeeping(e, p);

    exec_plan xp = {.p = p,
                    .replaces = util_calloc(p->nitems ? p->nitems : 1, sizeof(size_t)),
                    .extra = util_calloc(2 * p->nitems + 1, sizeof(size_t)),
                    .half = util_calloc(p->nitems + 1, sizeof(size_t))};
    graph *x = execution_graph(&xp);
    size_t n = graph_count(x);
    unsigned char *active = util_calloc(n ? n : 1, 1);
    size_t *groups = util_calloc(n ? n : 1, sizeof(*groups));
    int *limits = engine_group_limits(e);
    for (size_t i = 0; i < n; i++) {
        const plan_item *it = &p->items[node_item(&xp, i)];
        active[i] = it->action != PLAN_NOOP;
        groups[i] = engine_group_of(e, it->provider);
    }

    apply_options opts = {.parallelism = e->parallelism, .ngroups = engine_ngroups(e),
                          .group_limits = limits, .node_group = groups, .active = active,
                          .stop = e->stop, .halt = &e->halt, .abandoned = node_abandoned};
    apply_result res;
    int rc = apply_run(x, &opts, run_item, &xp, &res);
    report_failures(e, &xp, &res, out);
    free(xp.replaces);
    free(xp.extra);
    free(xp.half);

    apply_result_free(&res);
    free(limits);
    free(groups);
    free(active);
    graph_free(x);
    return rc;
}

void engine_outputs(engine *e, plan *p, int destroy)
{
    json_t *outputs = json_object();
    for (size_t i = 0; !destroy && i < e->topo->noutputs; i++) {
        const topo_output *o = &e->topo->outputs[i];
        json_t *value = NULL;
        char *err = NULL;
        int rc = topology_eval(e->topo, o->value, plan_lookup, p, &value, &err);
        if (rc < 0) {
            log_msg(LOG_WARN, "output %s: %s", o->name, err ? err : "cannot be evaluated");
        } else if (rc == 1) {
            log_msg(LOG_DEBUG, "output %s: not known (what it names was not made)", o->name);
        } else if (value) {
            json_object_set_new(outputs, o->name, value);
            value = NULL;
        }
        json_decref(value);
        free(err);
    }
    state_set_outputs(e->st, outputs);
}
