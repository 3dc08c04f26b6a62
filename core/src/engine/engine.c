/* The engine's glue: topology + plugins + schemas, the state, provider
 * contexts configured on first use, provider calls (diagnostics, retries)
 * and the handling of sensitive values. */
#include "engine/engine.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "engine/graph.h"
#include "plugin/host.h"
#include "services/log.h"
#include "engine/plan.h"
#include "engine/scheduler.h"
#include "services/secrets.h"
#include "base/util.h"

/* Backoff before the second attempt of a transient failure; doubled each time. */
#define ENGINE_BACKOFF_MS 250
#define ENGINE_BACKOFF_MAX_MS 4000

static const infra_plugin *builtin_find(const engine *e, const char *name)
{
    for (size_t i = 0; e->builtin && e->builtin[i]; i++)
        if (e->builtin[i]->kind == INFRA_PLUGIN_PROVIDER && strcmp(e->builtin[i]->name, name) == 0)
            return e->builtin[i];
    return NULL;
}

/* Finds the plugin of every provider and reads its schema. */
static int providers_load(engine *e, diag_list *diags)
{
    int error = 0;
    const topology *t = e->topo;

    e->nproviders = t->nproviders;
    e->providers = util_calloc(t->nproviders, sizeof(*e->providers));
    for (size_t i = 0; i < t->nproviders; i++) {
        engine_provider *p = &e->providers[i];
        const topo_provider *decl = &t->providers[i];
        const char *plugin = decl->plugin ? decl->plugin : decl->name;
        char *key = util_printf("providers.%s", decl->name);
        char *err = NULL;

        p->decl = decl;
        pthread_mutex_init(&p->lock, NULL);
        if (decl->scheduler) {
            if (scheduler_provider_load(e, i, diags) < 0)
                error = INFRA_EINVALID;
            free(key);
            continue;
        }
        p->desc = builtin_find(e, plugin);
        if (!p->desc) {
            if (!e->scanned) {
                loader_scan(&e->ld);
                e->scanned = 1;
            }
            const loader_plugin *lp = loader_find(&e->ld, plugin, INFRA_PLUGIN_PROVIDER, &err);
            p->desc = lp ? lp->desc : NULL;
        }
        if (!p->desc || !p->desc->provider || !INFRA_HAS_SLOT(p->desc->provider, schema)) {
            diag_add(diags, DIAG_ERROR, &decl->loc, key, "%s",
                     err ? err : "the plugin has no provider schema operation");
            error = INFRA_EINVALID;
            p->desc = NULL;
            free(err);
            free(key);
            continue;
        }
        free(err);
        p->ops = p->desc->provider;
        p->limit = decl->parallelism > 0 ? decl->parallelism : 0;
        if (!(p->desc->capabilities & INFRA_CAP_CONCURRENT))
            p->limit = 1; /* the plugin is not thread-safe: one call at a time */

        engine_call c;
        infra_json *schema = NULL;
        engine_call_init(&c, e, "", i, NULL);
        int rc = p->ops->schema(&c.call, &schema);
        if (rc < 0 || !json_is_object(host_jansson(schema))) {
            diag_add(diags, DIAG_ERROR, &decl->loc, key, "plugin \"%s\": cannot read its schema: %s",
                     plugin, engine_call_error(&c, rc < 0 ? rc : INFRA_EINTERNAL));
            json_decref(host_jansson(schema));
            error = INFRA_EINVALID;
            p->desc = NULL;
            p->ops = NULL;
        } else {
            p->schema = host_jansson(schema);
            p->types = json_object_get(p->schema, "resources");
        }
        engine_call_clear(&c);
        free(key);
    }
    return error;
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
    int verr = engine_validate(e, diags);
    graph *g = NULL;
    int gerr = plan_graph(e, NULL, &g, diags);
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

void engine_free(engine *e)
{
    if (!e)
        return;
    char *err = NULL;
    if (engine_state_close(e, &err) < 0) {
        log_msg(LOG_ERROR, "%s", err ? err : "cannot write the state");
    }
    free(err);
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
    for (size_t i = 0; i < e->nproviders; i++) {
        engine_provider *p = &e->providers[i];
        if (p->ctx && INFRA_HAS_SLOT(p->ops, close))
            p->ops->close(p->ctx);
        json_decref(p->schema);
        pthread_mutex_destroy(&p->lock);
    }
    free(e->providers);
    loader_free(&e->ld);
    if (e->topo)
        topology_free(e->topo);
    diag_list_free(&e->diags);
    pthread_mutex_destroy(&e->diag_lock);
    free(e->state_dir);
    free(e->env);
    free(e);
}

int engine_provider_index(const engine *e, const char *name)
{
    for (size_t i = 0; name && i < e->nproviders; i++)
        if (strcmp(e->providers[i].decl->name, name) == 0)
            return (int)i;
    return -1;
}

int engine_provider_ctx(engine *e, size_t i, infra_provider **ctx, char **err)
{
    engine_provider *p = &e->providers[i];
    int error = 0;

    *ctx = NULL;
    if (!p->ops) {
        *err = util_printf("provider \"%s\" has no usable plugin", p->decl->name);
        return INFRA_EINVALID;
    }
    pthread_mutex_lock(&p->lock);
    if (!p->configured && p->sched) {
        p->configured = 1;
        engine_call c;
        engine_call_init(&c, e, "", i, NULL);
        p->configure_error = scheduler_provider_configure(e, i, &c, &p->ctx);
        if (p->configure_error < 0)
            log_msg(LOG_ERROR, "cluster \"%s\": %s", p->decl->name + strlen("cluster."),
                    engine_call_error(&c, p->configure_error));
        engine_call_clear(&c);
    } else if (!p->configured) {
        p->configured = 1;
        if (!INFRA_HAS_SLOT(p->ops, configure)) {
            p->configure_error = INFRA_ENOTSUP;
        } else {
            engine_call c;
            infra_json *settings = host_json(p->decl->settings);
            engine_call_init(&c, e, "", i, NULL);
            p->configure_error = p->ops->configure(&c.call, settings ? settings : NULL, &p->ctx);
            if (p->configure_error < 0)
                log_msg(LOG_ERROR, "provider \"%s\": %s%s%s", p->decl->name,
                        c.attr && *c.attr ? c.attr : "", c.attr && *c.attr ? ": " : "",
                        engine_call_error(&c, p->configure_error));
            engine_call_clear(&c);
        }
    }
    error = p->configure_error;
    *ctx = p->ctx;
    pthread_mutex_unlock(&p->lock);
    if (error < 0)
        *err = util_printf("provider \"%s\" could not be configured", p->decl->name);
    return error;
}

const json_t *engine_type_schema(const engine *e, size_t provider, const char *type)
{
    if (provider >= e->nproviders || !type)
        return NULL;
    return json_object_get(e->providers[provider].types, type);
}

int engine_attr_flag(const engine *e, size_t provider, const char *type, const char *attr,
                     const char *flag)
{
    const json_t *t = engine_type_schema(e, provider, type);
    const json_t *a = json_object_get(json_object_get(t, "attributes"), attr);
    return json_is_true(json_object_get(a, flag));
}

/* The topology's sections for the built-in types; other types are
 * declared under "resources: TYPE:". */
static const char *const section_of[][2] = {
    {"network", "networks"},           {"firewall", "firewalls"},
    {"instance", "instances"},         {"load_balancer", "load_balancers"},
    {"dns_record", "dns_records"},     {"image", "images"},
};

char *engine_resource_key(const topo_resource *res, const char *attr)
{
    util_buf b = {0};
    size_t tlen = strlen(res->type);
    const char *addr = res->address;

    if (strncmp(addr, res->type, tlen) == 0 && addr[tlen] == '.') {
        /* "instance.web[2]" is declared under "instances: web:" */
        const char *section = NULL;
        for (size_t i = 0; i < sizeof(section_of) / sizeof(section_of[0]); i++)
            if (!strcmp(section_of[i][0], res->type))
                section = section_of[i][1];
        if (section)
            util_buf_printf(&b, "%s.%s", section, res->name);
        else
            util_buf_printf(&b, "resources.%s.%s", res->type, res->name);
    } else {
        util_buf_put(&b, addr, strcspn(addr, "[")); /* cluster nodes */
    }
    if (attr && *attr)
        util_buf_printf(&b, ".%s", attr);
    return util_buf_take(&b);
}

void engine_error_at(engine *e, const topo_resource *res, const char *attr, const char *fmt, ...)
{
    diag_loc loc = {0};
    char *key = NULL;
    va_list ap;
    va_start(ap, fmt);
    char *msg = util_vprintf(fmt, ap);
    va_end(ap);
    if (res) {
        loc = res->loc;
        if (attr && *attr)
            topology_locate(e->topo, res->address, attr, &loc);
        key = engine_resource_key(res, attr);
    }
    pthread_mutex_lock(&e->diag_lock);
    diag_add(&e->diags, DIAG_ERROR, res ? &loc : NULL, key, "%s", msg);
    pthread_mutex_unlock(&e->diag_lock);
    free(key);
    free(msg);
}

/* ------------------------------------------------------------------ */
/* Provider calls                                                     */

static void call_diag(void *ud, infra_call *call, int severity, const char *attr_path,
                      const char *message)
{
    engine_call *c = ud;
    if (severity >= INFRA_DIAG_ERROR) {
        pthread_mutex_lock(&c->e->diag_lock);
        if (!c->message) {
            c->message = util_strdup(message ? message : "");
            c->attr = util_strdup(attr_path ? attr_path : "");
        }
        pthread_mutex_unlock(&c->e->diag_lock);
        return;
    }
    log_msg(LOG_WARN, "%s%s%s%s%s", call->address && *call->address ? call->address : "",
            call->address && *call->address ? ": " : "", attr_path ? attr_path : "",
            attr_path && *attr_path ? ": " : "", message ? message : "");
}

void engine_call_init(engine_call *c, engine *e, const char *address, size_t provider,
                      const char *token)
{
    memset(c, 0, sizeof(*c));
    host_call_init(&c->call, address,
                   provider < e->nproviders ? e->providers[provider].decl->name : NULL);
    c->e = e;
    /* A scheduler waits for its cluster itself, up to its own deadlines:
     * a wait that ran out is not worth starting over. */
    c->attempts = provider < e->nproviders && e->providers[provider].sched ? 1 : ENGINE_ATTEMPTS;
    c->call.token = token;
    c->call.topology = e->topo ? e->topo->name : NULL;
    c->call.environment = e->env;
    c->call.cancel = &e->cancel;
    c->call.diag = call_diag;
    c->call.diag_ud = c;
}

void engine_call_clear(engine_call *c)
{
    host_call_clear(&c->call);
    free(c->attr);
    free(c->message);
    c->attr = c->message = NULL;
}

const char *engine_call_error(const engine_call *c, int code)
{
    if (c && c->message && *c->message)
        return c->message;
    switch (code) {
    case INFRA_ENOTFOUND:
        return "the object does not exist";
    case INFRA_EAUTH:
        return "authentication failed or not permitted";
    case INFRA_ETRANSIENT:
        return "transient error (gave up after retries)";
    case INFRA_ECONFLICT:
        return "conflict with an existing object";
    case INFRA_EINVALID:
        return "invalid input";
    case INFRA_ENOTSUP:
        return "not supported by the provider";
    case INFRA_ECANCELLED:
        return "cancelled";
    default:
        return "internal error in the provider";
    }
}

int engine_retry(engine *e, engine_call *c, engine_retry_fn fn, void *ud)
{
    int64_t delay = ENGINE_BACKOFF_MS;
    int attempts = c->attempts > 0 ? c->attempts : ENGINE_ATTEMPTS;
    for (int attempt = 1;; attempt++) {
        int rc = fn(ud);
        if (rc != INFRA_ETRANSIENT || attempt >= attempts)
            return rc;
        log_msg(LOG_INFO, "%s: transient error, retrying in %lld ms (attempt %d of %d)",
                c->call.address, (long long)delay, attempt + 1, attempts);
        free(c->message);
        free(c->attr);
        c->message = c->attr = NULL;
        if (host_table()->sleep_ms(&c->call, delay) < 0)
            return INFRA_ECANCELLED;
        delay = delay * 2 > ENGINE_BACKOFF_MAX_MS ? ENGINE_BACKOFF_MAX_MS : delay * 2;
    }
}

/* ------------------------------------------------------------------ */
/* Sensitive values, private blobs                                    */

static char *sha256_text(const json_t *value)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    util_buf b = {0};

    EVP_Digest(text ? text : "", text ? strlen(text) : 0, md, &mdlen, EVP_sha256(), NULL);
    if (text) {
        util_zero(text, strlen(text));
        free(text);
    }
    util_buf_puts(&b, "sha256:");
    for (unsigned int i = 0; i < mdlen; i++)
        util_buf_printf(&b, "%02x", md[i]);
    return util_buf_take(&b);
}

json_t *engine_config_for_state(const engine *e, size_t provider, const char *type,
                                const json_t *config)
{
    json_t *copy = json_deep_copy(config);
    const char *key;
    json_t *value;
    if (!json_is_object(copy))
        return copy ? copy : json_object();
    json_object_foreach(copy, key, value) {
        if (engine_attr_flag(e, provider, type, key, "sensitive") && !engine_json_unknown(value)) {
            char *hash = sha256_text(value);
            json_object_set_new(copy, key, json_string(hash));
            free(hash);
        }
    }
    return copy;
}

json_t *engine_hide_sensitive(const engine *e, size_t provider, const char *type,
                              const json_t *value, int mask)
{
    json_t *copy = json_deep_copy(value);
    const char *key;
    json_t *member;
    void *tmp;
    if (!json_is_object(copy))
        return copy ? copy : json_object();
    json_object_foreach_safe(copy, tmp, key, member) {
        if (!engine_attr_flag(e, provider, type, key, "sensitive"))
            continue;
        if (mask)
            json_object_set_new(copy, key, json_string(ENGINE_SENSITIVE));
        else
            json_object_del(copy, key);
    }
    return copy;
}

static void register_strings(const json_t *value)
{
    size_t i;
    const char *key;
    json_t *member;
    if (json_is_string(value)) {
        log_add_secret(json_string_value(value));
    } else if (json_is_array(value)) {
        json_array_foreach(value, i, member)
            register_strings(member);
    } else if (json_is_object(value)) {
        json_object_foreach((json_t *)value, key, member)
            register_strings(member);
    }
}

void engine_register_secrets(const engine *e, size_t provider, const char *type,
                             const json_t *config)
{
    const char *key;
    json_t *value;
    if (!json_is_object(config))
        return;
    json_object_foreach((json_t *)config, key, value)
        if (engine_attr_flag(e, provider, type, key, "sensitive"))
            register_strings(value);
}

char *engine_base64_encode(const void *data, size_t len)
{
    char *out = util_malloc(4 * ((len + 2) / 3) + 1);
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    out[n < 0 ? 0 : n] = '\0';
    return out;
}

int engine_base64_decode(const char *text, void **out, size_t *len)
{
    size_t tlen = strlen(text);
    *out = NULL;
    *len = 0;
    if (tlen == 0)
        return 0;
    if (tlen % 4 != 0)
        return INFRA_EINVALID;
    unsigned char *buf = util_malloc(tlen / 4 * 3 + 1);
    int n = EVP_DecodeBlock(buf, (const unsigned char *)text, (int)tlen);
    if (n < 0) {
        free(buf);
        return INFRA_EINVALID;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    for (size_t k = tlen; k > 0 && text[k - 1] == '='; k--)
        n--;
    *out = buf;
    *len = (size_t)n;
    return 0;
}

int engine_json_unknown(const json_t *value)
{
    size_t i;
    const char *key;
    json_t *member;
    if (json_is_string(value))
        return strstr(json_string_value(value), ENGINE_UNKNOWN) != NULL;
    if (json_is_array(value)) {
        json_array_foreach(value, i, member)
            if (engine_json_unknown(member))
                return 1;
    } else if (json_is_object(value)) {
        json_object_foreach((json_t *)value, key, member)
            if (engine_json_unknown(member))
                return 1;
    }
    return 0;
}
