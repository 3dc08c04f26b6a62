/* Opening a topology: the plugins of its providers and their schemas,
 * validation and the cycle check (infra validate); its state and lock;
 * and the end of it all. */
#include "engine/engine.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "engine/call.h"
#include "engine/contain.h"
#include "engine/resource_graph.h"
#include "engine/scheduler.h"
#include "services/log.h"
#include "services/secrets.h"

static const infra_plugin *builtin_find(const engine *e, const char *name)
{
    for (size_t i = 0; e->builtin && e->builtin[i]; i++)
        if (e->builtin[i]->kind == INFRA_PLUGIN_PROVIDER && strcmp(e->builtin[i]->name, name) == 0)
            return e->builtin[i];
    return NULL;
}

/* Finds the plugin of provider i and reads its schema. */
static int provider_load(engine *e, size_t i, diag_list *diags)
{
    engine_provider *p = &e->providers[i];
    const topo_provider *decl = p->decl;
    const char *plugin = decl->plugin ? decl->plugin : decl->name;
    char *key = util_printf("providers.%s", decl->name);
    char *err = NULL;
    int error = 0;

    p->desc = builtin_find(e, plugin);
    if (!p->desc) {
        const loader_plugin *lp = loader_require(&e->ld, plugin, INFRA_PLUGIN_PROVIDER, &err);
        p->desc = lp ? lp->desc : NULL;
    }
    if (!p->desc || !p->desc->provider) {
        diag_add(diags, DIAG_ERROR, &decl->loc, key, "%s",
                 err ? err : "the plugin has no provider operations");
        p->desc = NULL;
        error = INFRA_EINVALID;
        goto done;
    }
    p->plugin = engine_plugin_add(e, p->desc);
    p->capabilities = p->desc->capabilities;
    p->settings = json_incref(decl->settings);
    p->limit = decl->parallelism > 0 ? decl->parallelism : 0;
    if (!(p->capabilities & INFRA_CAP_CONCURRENT))
        p->limit = 1; /* the plugin is not thread-safe: one call at a time */

    engine_call c;
    json_t *schema = NULL;
    call_init(&c, e, i, "", "schema", NULL);
    int rc = call_schema(&c, &schema);
    if (rc < 0) {
        diag_add(diags, DIAG_ERROR, &decl->loc, key, "plugin \"%s\": cannot read its schema: %s",
                 plugin, call_error(&c, rc));
        p->desc = NULL;
        error = INFRA_EINVALID;
    } else {
        p->schema = schema;
        p->types = json_object_get(p->schema, "resources");
    }
    call_clear(&c);
done:
    free(err);
    free(key);
    return error;
}

static int providers_load(engine *e, diag_list *diags)
{
    int error = 0;
    const topology *t = e->topo;

    e->nproviders = t->nproviders;
    e->providers = util_calloc(t->nproviders, sizeof(*e->providers));
    for (size_t i = 0; i < t->nproviders; i++) {
        engine_provider *p = &e->providers[i];
        p->decl = &t->providers[i];
        p->timeout_ms = p->decl->timeout_ms;
        pthread_mutex_init(&p->lock, NULL);
    }
    for (size_t i = 0; i < t->nproviders; i++) {
        int rc = e->providers[i].decl->scheduler ? scheduler_provider_load(e, i, diags)
                                                 : provider_load(e, i, diags);
        if (rc < 0)
            error = INFRA_EINVALID;
    }
    return error;
}

/* An attribute a sensitive variable flows into is sensitive for its type,
 * as if the plugin's schema said so: hashed in the state, masked when
 * shown, left out of drift, whatever value it holds on a later run. */
static void mark_sensitive_attributes(engine *e)
{
    for (size_t i = 0; i < e->topo->nresources; i++) {
        const topo_resource *r = &e->topo->resources[i];
        int p = engine_provider_index(e, r->provider);
        json_t *type = p < 0 ? NULL : json_object_get(e->providers[p].types, r->type);
        json_t *attrs = json_object_get(type, "attributes");
        /* A client pool's user data holds the scheduler's keys and token:
         * only its hash is recorded, shown or compared. */
        if (r->pool_template && json_is_object(attrs)) {
            json_t *attr = json_object_get(attrs, "user_data");
            if (!json_is_object(attr))
                json_object_set_new(attrs, "user_data", attr = json_object());
            json_object_set_new(attr, "sensitive", json_true());
        }
        const char *key;
        json_t *value;
        json_object_foreach(r->config, key, value) {
            if (!json_is_object(attrs) || !topology_value_sensitive(e->topo, value))
                continue;
            json_t *attr = json_object_get(attrs, key);
            if (!json_is_object(attr))
                json_object_set_new(attrs, key, attr = json_object());
            /* the logs hide the sensitive values in it, not every string */
            if (!json_is_true(json_object_get(attr, "sensitive")))
                json_object_set_new(attr, "sensitive_leaves", json_true());
            json_object_set_new(attr, "sensitive", json_true());
        }
    }
}

int engine_open(const engine_options *opts, engine **out, diag_list *diags)
{
    int error = 0;
    engine *e = util_calloc(1, sizeof(*e));
    topology_options topts = {opts->environment, opts->vars, opts->var_files};

    *out = NULL;
    pthread_mutex_init(&e->diag_lock, NULL);
    e->builtin = opts->builtin;
    e->parallelism = opts->parallelism > 0 ? opts->parallelism : 10;
    e->env = util_strdup(opts->environment && *opts->environment ? opts->environment : "default");
    contain_engine_add(e);
    if ((error = topology_load(opts->topology, &topts, &e->topo, diags)) < 0 || !e->topo) {
        error = error < 0 ? error : INFRA_EINVALID;
        goto done;
    }
    e->state_dir = opts->state_dir ? util_strdup(opts->state_dir)
                                   : util_printf("%s/.infra", e->topo->dir && *e->topo->dir
                                                                  ? e->topo->dir
                                                                  : ".");
    e->backend_config = opts->backend_config;
    e->lock_timeout_ms = opts->lock_timeout_ms;
    e->secrets_file = opts->secrets_file ? util_strdup(opts->secrets_file) : NULL;
    int perr = providers_load(e, diags);
    mark_sensitive_attributes(e); /* before the schemas' flags are indexed */
    engine_index_schemas(e);
    int verr = engine_validate(e, diags);
    graph *g = NULL;
    int gerr = rgraph_build(e, NULL, 1, &g, diags);
    graph_free(g);
    if (perr < 0 || verr < 0 || gerr < 0 || diags->errors > 0)
        error = INFRA_EINVALID;
done:
    if (error < 0) {
        engine_free(e);
        return error;
    }
    *out = e;
    return 0;
}

/* "FILE:LINE:COL" of a backend setting, for the state module's messages. */
static char *backend_locate(void *ud, const char *key)
{
    const topology *t = ud;
    diag_loc loc = t->backend_loc;
    if (topology_locate(t, "backend", key, &loc) < 0 && !t->backend)
        return NULL;
    return util_printf("%s:%d:%d", loc.file ? loc.file : t->file, loc.line, loc.column);
}

int engine_backend(engine *e, char **err)
{
    if (e->backend)
        return 0;
    state_backend_config cfg = {.name = e->topo->name,
                                .env = e->env,
                                .local_dir = e->state_dir,
                                .base_dir = e->topo->dir,
                                .settings = e->topo->backend,
                                .overrides = e->backend_config,
                                .locate = backend_locate,
                                .locate_ud = e->topo};
    return state_backend_open(&cfg, &e->backend, err);
}

int engine_state(engine *e, int lock, const char *owner, char **err)
{
    int error = 0;
    if ((error = engine_backend(e, err)) < 0)
        return error;
    if (lock) {
        if ((error = state_backend_lock_until(e->backend, owner ? owner : "infra",
                                              e->lock_timeout_ms, e->stop, err)) < 0)
            return error;
        e->locked = 1;
    }
    if ((error = state_open_backend(e->backend, e->topo->name, e->env, &e->st, err)) < 0)
        return error;
    /* What scheduler plugins generate (gossip keys, tokens, a CA) lives
     * beside the local state, never in it, whatever the backend: it is
     * each operator's (--secrets-file names a shared copy). */
    if (e->secrets_file)
        e->secrets_path = util_strdup(e->secrets_file);
    else if ((error = state_file_name(e->state_dir, e->topo->name, e->env, ".secrets.json",
                                      &e->secrets_path, err)) < 0)
        return error;
    if ((error = secrets_file_bind(e->secrets_path, err)) < 0)
        return error;
    if (lock) {
        if ((error = state_writer_start(e->st)) < 0) {
            *err = util_strdup("cannot start the state writer");
            return error;
        }
        e->writer_on = 1;
    }
    return 0;
}

int engine_state_close(engine *e, char **err)
{
    int error = 0;
    if (e->st && e->writer_on) {
        e->writer_on = 0;
        error = state_writer_stop(e->st, err);
    } else if (e->st && e->locked) {
        error = state_write(e->st, err);
    }
    return error;
}

void engine_flush(engine *e)
{
    char *err = NULL;
    if (e->st && e->writer_on && state_sync(e->st, &err) < 0)
        log_msg(LOG_ERROR, "%s", err ? err : "cannot write the state");
    free(err);
}

void engine_free(engine *e)
{
    if (!e)
        return;
    char *err = NULL;
    if (engine_state_close(e, &err) < 0) {
        log_msg(LOG_ERROR, "%s", err ? err : "cannot write the state");
    }
    free(err);
    contain_engine_remove(e);
    state_free(e->st);
    if (e->secrets_path) {
        char *ignored = NULL;
        secrets_file_bind(NULL, &ignored);
        free(ignored);
        secrets_clear();
        free(e->secrets_path);
    }
    if (e->locked)
        state_backend_unlock(e->backend);
    state_backend_free(e->backend);
    free(e->secrets_file);
    call_close_all(e);
    int hung = 0;
    for (size_t i = 0; i < e->nplugins; i++) {
        hung |= e->plugins[i].hung;
        if (!e->plugins[i].hung) {
            pthread_cond_destroy(&e->plugins[i].idle);
            pthread_mutex_destroy(&e->plugins[i].lock);
        }
    }
    for (size_t i = 0; i < e->nproviders; i++) {
        engine_provider *p = &e->providers[i];
        json_decref(p->schema);
        json_decref(p->flags);
        json_decref(p->settings);
        free(p->configure_text);
        free(p->configure_attr);
        pthread_mutex_destroy(&p->lock);
    }
    /* A thread may still run inside a plugin that never returned: its code
     * and its lock must stay where they are until the process ends. */
    if (!hung) {
        free(e->plugins);
        free(e->providers);
        loader_free(&e->ld);
    } else {
        /* Kept where the process can still reach them (and leak checkers
         * see them as in use, which they are). */
        static struct kept_engine {
            engine_plugin *plugins;
            engine_provider *providers;
            loader ld;
            struct kept_engine *next;
        } *kept;
        struct kept_engine *k = util_calloc(1, sizeof(*k));
        *k = (struct kept_engine){e->plugins, e->providers, e->ld, kept};
        kept = k;
    }
    if (e->topo)
        topology_free(e->topo);
    diag_list_free(&e->diags);
    pthread_mutex_destroy(&e->diag_lock);
    free(e->state_dir);
    free(e->env);
    free(e);
}
