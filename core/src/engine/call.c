/* The provider-call layer (see call.h): every plugin slot is called from
 * here and nowhere else in the engine. */
#include "engine/call_int.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/unknown.h"
#include "base/util.h"
#include "engine/values.h"
#include "services/log.h"

/* Backoff before the second attempt of a transient failure; doubled each time. */
#define CALL_BACKOFF_MS 250
#define CALL_BACKOFF_MAX_MS 4000
/* Tries of a transient failure. */
#define CALL_ATTEMPTS 5

/* Guards the first-error fields of every call: a plugin may report from
 * threads of its own. */
static pthread_mutex_t call_diag_lock = PTHREAD_MUTEX_INITIALIZER;


/* ------------------------------------------------------------------ */
/* Calls                                                              */

/* Keeps the first error a plugin reports; warnings are logged. Touches
 * only the call itself, so an abandoned plugin still reporting is harmless. */
static void call_diag(void *ud, infra_call *call, int severity, const char *attr_path,
                      const char *message)
{
    engine_call *c = ud;
    if (severity >= INFRA_DIAG_ERROR) {
        pthread_mutex_lock(&call_diag_lock);
        if (!c->message) {
            c->message = util_strdup(message ? message : "");
            c->attr = util_strdup(attr_path ? attr_path : "");
        }
        pthread_mutex_unlock(&call_diag_lock);
        return;
    }
    log_msg(LOG_WARN, "%s%s%s%s%s", call->address && *call->address ? call->address : "",
            call->address && *call->address ? ": " : "", attr_path ? attr_path : "",
            attr_path && *attr_path ? ": " : "", message ? message : "");
}

/* Replaces what the plugin said with the engine's own finding. */
void call_fail(engine_call *c, const char *attr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = util_vprintf(fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&call_diag_lock);
    free(c->message);
    free(c->attr);
    c->message = msg;
    c->attr = util_strdup(attr ? attr : "");
    pthread_mutex_unlock(&call_diag_lock);
}

void call_forget(engine_call *c)
{
    pthread_mutex_lock(&call_diag_lock);
    free(c->message);
    free(c->attr);
    c->message = c->attr = NULL;
    pthread_mutex_unlock(&call_diag_lock);
}

void call_init(engine_call *c, engine *e, size_t provider, const char *address, const char *op,
               const char *token)
{
    memset(c, 0, sizeof(*c));
    const engine_provider *p = provider < e->nproviders ? &e->providers[provider] : NULL;
    host_call_init(&c->call, address, p ? p->decl->name : NULL);
    c->e = e;
    c->provider = provider;
    c->op = op ? op : "call";
    /* A scheduler waits for its cluster itself, up to its own deadlines:
     * a wait that ran out is not worth starting over. */
    c->attempts = p && p->bridge ? 1 : CALL_ATTEMPTS;
    c->call.token = token;
    c->call.topology = e->topo ? e->topo->name : NULL;
    c->call.environment = e->env;
    c->call.cancel = &e->cancel;
    c->call.diag = call_diag;
    c->call.diag_ud = c;
}

void call_clear(engine_call *c)
{
    host_call_clear(&c->call);
    free(c->attr);
    free(c->message);
    c->attr = c->message = NULL;
}

const char *call_error(const engine_call *c, int code)
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
        if (c && c->e->stop && *c->e->stop)
            return "stopped by the interrupt";
        if (c && !c->e->cancel && c->call.deadline_ms > 0 &&
            host_now_ms() >= c->call.deadline_ms)
            return "cancelled: the call's deadline passed";
        return "cancelled";
    default:
        return "internal error in the provider";
    }
}

/* Starts an op: its deadline runs from now. */
void call_op_begin(engine_call *c, const char *op, int64_t default_ms)
{
    const engine_provider *p = PROV(c);
    if (op)
        c->op = op;
    c->timeout_ms = p->timeout_ms > 0 ? p->timeout_ms : default_ms;
    c->call.deadline_ms = host_now_ms() + c->timeout_ms;
}

/* ------------------------------------------------------------------ */
/* One slot call: the plugin's lock and the containment               */

/* Waits until this thread may call into the plugin: always for a
 * concurrent plugin, else when no other call of it runs. A run that was
 * halted (a call abandoned) starts nothing new: INFRA_ECANCELLED. */
int call_slot_begin(engine_call *c)
{
    engine *e = c->e;
    engine_plugin *pl = &e->plugins[PROV(c)->plugin];
    if (pl->hung || e->halt) {
        call_fail(c, NULL, "not started: the run was stopped after a call did not return");
        return INFRA_ECANCELLED;
    }
    if (!(pl->desc->capabilities & INFRA_CAP_CONCURRENT)) {
        pthread_mutex_lock(&pl->lock);
        while (pl->busy && !e->halt)
            pthread_cond_wait(&pl->idle, &pl->lock);
        int refused = pl->busy;
        pl->busy = !refused;
        pthread_mutex_unlock(&pl->lock);
        if (refused) {
            call_fail(c, NULL, "not started: the run was stopped after a call did not return");
            return INFRA_ECANCELLED;
        }
    }
    contain_enter(c);
    return 0;
}

void call_slot_end(engine_call *c)
{
    contain_leave(c); /* does not return for an abandoned call */
    engine_plugin *pl = &c->e->plugins[PROV(c)->plugin];
    if (!(pl->desc->capabilities & INFRA_CAP_CONCURRENT)) {
        pthread_mutex_lock(&pl->lock);
        pl->busy = 0;
        pthread_cond_signal(&pl->idle);
        pthread_mutex_unlock(&pl->lock);
    }
    log_msg(LOG_DEBUG, "%s: %s%s%s", PROV(c)->desc->name, c->call.address,
            *c->call.address ? ": " : "", c->op);
}

/* Sleeps before the next attempt of a transient failure; 0 to try again. */
static int retry_pause(engine_call *c, int attempt, int64_t *delay)
{
    if (attempt >= c->attempts)
        return -1;
    log_msg(LOG_INFO, "%s: transient error, retrying in %lld ms (attempt %d of %d)",
            c->call.address, (long long)*delay, attempt + 1, c->attempts);
    call_forget(c);
    /* The failed attempt may have taken effect: a create tried again with
     * its token looks for what it made before making anything. */
    c->call.resuming = 1;
    if (host_table()->sleep_ms(&c->call, *delay) < 0)
        return -1;
    *delay = *delay * 2 > CALL_BACKOFF_MAX_MS ? CALL_BACKOFF_MAX_MS : *delay * 2;
    return 0;
}

/* The context of the call's provider, configured on first use. */
int call_provider_ctx(engine_call *c)
{
    char *err = NULL, *attr = NULL;
    int error = call_configure(c->e, c->provider, &err, &attr);
    if (error < 0)
        call_fail(c, NULL, "%s", err ? err : "the provider could not be configured");
    free(err);
    free(attr);
    return error;
}

/* ------------------------------------------------------------------ */
/* What plugins hand back                                             */

/* Checks that v, returned as what of the call's resource, is a map whose
 * attributes have the types the plugin's schema declares (and, unless
 * allow_unknown, holds no unknown value). 0 or INFRA_EINTERNAL with the
 * finding as the call's error. */
static int check_state(engine_call *c, const char *type, const json_t *v, const char *what,
                       int allow_unknown)
{
    const engine_provider *p = PROV(c);
    const char *plugin = p->desc->name;
    const char *address = *c->call.address ? c->call.address : type;
    if (!json_is_object(v)) {
        call_fail(c, NULL,
                  "plugin \"%s\" returned %s for the %s of %s (type %s): expected a map of "
                  "attributes",
                  plugin, v ? topology_json_type_name(v) : "nothing", what, address, type);
        return INFRA_EINTERNAL;
    }
    const json_t *attrs = json_object_get(engine_type_schema(c->e, c->provider, type),
                                          "attributes");
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)v, key, value) {
        if (unknown_in(value)) {
            if (allow_unknown)
                continue;
            call_fail(c, key,
                      "plugin \"%s\" returned an unknown value of attribute \"%s\" for the %s "
                      "of %s (type %s): only a plan may hold one",
                      plugin, key, what, address, type);
            return INFRA_EINTERNAL;
        }
        const char *want = json_string_value(json_object_get(json_object_get(attrs, key), "type"));
        if (want && !value_type_is(want, value)) {
            call_fail(c, key,
                      "plugin \"%s\" returned attribute \"%s\" as %s for the %s of %s (type "
                      "%s); its schema declares %s",
                      plugin, key, topology_json_type_name(value), what, address, type,
                      value_type_phrase(want));
            return INFRA_EINTERNAL;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Provider slots                                                     */

int call_has(const engine *e, size_t provider, call_slot slot)
{
    const engine_provider *p = &e->providers[provider];
    const infra_provider_ops *ops = p->desc ? p->desc->provider : NULL;
    if (p->bridge || !ops)
        return 0;
    switch (slot) {
    case CALL_SLOT_VALIDATE:
        return INFRA_HAS_SLOT(ops, validate);
    case CALL_SLOT_PLAN:
        return INFRA_HAS_SLOT(ops, plan);
    case CALL_SLOT_READ_MANY:
        return INFRA_HAS_SLOT(ops, read_many);
    case CALL_SLOT_IMPORT:
        return INFRA_HAS_SLOT(ops, import);
    case CALL_SLOT_UPGRADE_STATE:
        return INFRA_HAS_SLOT(ops, upgrade_state);
    }
    return 0;
}

int call_schema(engine_call *c, json_t **out)
{
    infra_json *schema = NULL;
    int error;
    *out = NULL;
    call_op_begin(c, "schema", CALL_TIMEOUT_QUICK_MS);
    if (!INFRA_HAS_SLOT(OPS(c), schema)) {
        call_fail(c, NULL, "the plugin has no provider schema operation");
        return INFRA_ENOTSUP;
    }
    if ((error = call_slot_begin(c)) < 0)
        return error;
    error = OPS(c)->schema(&c->call, &schema);
    call_slot_end(c);
    if (error == 0 && !json_is_object(host_jansson(schema))) {
        call_fail(c, NULL, "its schema is %s, not a map",
                  schema ? topology_json_type_name(host_jansson(schema)) : "missing");
        error = INFRA_EINTERNAL;
    }
    if (error < 0)
        json_decref(host_jansson(schema));
    else
        *out = host_jansson(schema);
    return error;
}

/* From a plugin built before ABI 1.2: its planned state holds unknowns as
 * the text it was given for them (new value). */
static json_t *from_legacy_plan(const json_t *v)
{
    size_t i;
    const char *key;
    json_t *member;
    if (json_is_string(v) && !strcmp(json_string_value(v), UNKNOWN_TEXT))
        return unknown_new();
    if (json_is_array(v)) {
        json_t *a = json_array();
        json_array_foreach(v, i, member)
            json_array_append_new(a, from_legacy_plan(member));
        return a;
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        json_object_foreach((json_t *)v, key, member)
            json_object_set_new(o, key, from_legacy_plan(member));
        return o;
    }
    return json_incref((json_t *)v);
}

/* What a plugin built before ABI 1.2 receives for a value that may hold
 * unknowns: the text it knew them by, "(known after apply)" (new value);
 * a newer plugin gets the value itself (a new reference). */
static json_t *for_plugin(const engine_call *c, const json_t *v)
{
    if (PROV(c)->desc->abi_minor < 2 && unknown_in(v))
        return unknown_shown(v);
    return json_incref((json_t *)v);
}

int call_validate(engine_call *c, const char *type, const json_t *config)
{
    int error;
    call_op_begin(c, "validate", CALL_TIMEOUT_QUICK_MS);
    if (!call_has(c->e, c->provider, CALL_SLOT_VALIDATE))
        return 0;
    if ((error = call_slot_begin(c)) < 0)
        return error;
    json_t *given = for_plugin(c, config);
    error = OPS(c)->validate(&c->call, type, host_json(given));
    call_slot_end(c);
    json_decref(given);
    return error;
}

int call_configure(engine *e, size_t provider, char **err, char **attr)
{
    engine_provider *p = &e->providers[provider];
    int error = 0;

    *err = NULL;
    if (attr)
        *attr = NULL;
    if (!p->desc) {
        *err = util_printf("provider \"%s\" has no usable plugin", p->decl->name);
        return INFRA_EINVALID;
    }
    pthread_mutex_lock(&p->lock);
    if (!p->configured) {
        engine_call c;
        call_init(&c, e, provider, "", "configure", NULL);
        call_op_begin(&c, NULL, CALL_TIMEOUT_CONFIGURE_MS);
        if (p->bridge) {
            if (HAS_SCHED(&c, configure) && (error = call_slot_begin(&c)) == 0) {
                error = SCHED(&c)->configure(&c.call, host_json(p->settings), &p->sched_ctx);
                call_slot_end(&c);
            }
        } else if (!INFRA_HAS_SLOT(OPS(&c), configure)) {
            call_fail(&c, NULL, "the plugin has no configure operation");
            error = INFRA_ENOTSUP;
        } else if ((error = call_slot_begin(&c)) == 0) {
            error = OPS(&c)->configure(&c.call, host_json(p->settings), &p->ctx);
            call_slot_end(&c);
        }
        /* Only a finished attempt is kept: a halted run never tried. */
        p->configured = !(error == INFRA_ECANCELLED && e->halt);
        p->configure_error = error;
        if (error < 0) {
            const char *what = p->bridge ? "cluster" : "provider";
            const char *name = p->bridge ? p->decl->name + strlen("cluster.") : p->decl->name;
            p->configure_text = util_printf("%s \"%s\" could not be configured: %s", what, name,
                                            call_error(&c, error));
            p->configure_attr = c.attr && *c.attr ? util_strdup(c.attr) : NULL;
        }
        call_clear(&c);
    }
    error = p->configure_error;
    if (error < 0) {
        *err = util_strdup(p->configure_text);
        if (attr && p->configure_attr)
            *attr = util_strdup(p->configure_attr);
    }
    pthread_mutex_unlock(&p->lock);
    return error;
}

int call_plan(engine_call *c, const char *type, const json_t *prior, const json_t *desired,
              json_t **planned, json_t **replace)
{
    infra_json *pl = NULL, *rr = NULL;
    int error = 0;
    int64_t delay = CALL_BACKOFF_MS;

    *planned = *replace = NULL;
    call_op_begin(c, "plan", CALL_TIMEOUT_PLAN_MS);
    if (!call_has(c->e, c->provider, CALL_SLOT_PLAN)) {
        *planned = json_deep_copy(desired);
        *replace = json_array();
        return 0;
    }
    if ((error = call_provider_ctx(c)) < 0)
        return error;
    json_t *given = for_plugin(c, desired);
    for (int attempt = 1;; attempt++) {
        json_decref(host_jansson(pl));
        json_decref(host_jansson(rr));
        pl = rr = NULL;
        if ((error = call_slot_begin(c)) < 0)
            break;
        error = OPS(c)->plan(PROV(c)->ctx, &c->call, type, host_json(prior), host_json(given),
                             &pl, &rr);
        call_slot_end(c);
        if (error != INFRA_ETRANSIENT || retry_pause(c, attempt, &delay) < 0)
            break;
    }
    json_decref(given);
    if (error == 0 && pl && PROV(c)->desc->abi_minor < 2) {
        json_t *converted = from_legacy_plan(host_jansson(pl));
        json_decref(host_jansson(pl));
        pl = host_json(converted);
    }
    if (error == 0 && pl && (error = check_state(c, type, host_jansson(pl), "plan", 1)) == 0)
        *planned = json_incref(host_jansson(pl));
    else if (error == 0)
        *planned = json_deep_copy(desired);
    if (error == 0 && rr && !json_is_array(host_jansson(rr))) {
        call_fail(c, NULL,
                  "plugin \"%s\" returned %s as the attributes forcing a replacement: expected "
                  "a list",
                  PROV(c)->desc->name, topology_json_type_name(host_jansson(rr)));
        error = INFRA_EINTERNAL;
    }
    if (error == 0) {
        *replace = json_array();
        size_t i;
        json_t *name;
        json_array_foreach(host_jansson(rr), i, name)
            if (json_is_string(name))
                json_array_append(*replace, name);
    } else {
        json_decref(*planned);
        *planned = NULL;
    }
    json_decref(host_jansson(pl));
    json_decref(host_jansson(rr));
    return error;
}

/* The blob a plugin allocated with host->alloc, which is malloc: the
 * engine frees it with free(). An empty blob is none. */
static void take_private(void *blob, size_t len, void **out, size_t *out_len)
{
    *out = blob && len > 0 ? blob : NULL;
    *out_len = *out ? len : 0;
    if (blob && !*out)
        host_table()->free(blob);
}

int call_apply(engine_call *c, const char *type, const json_t *prior, const json_t *planned,
               const void *priv, size_t priv_len, json_t **new_state, void **priv_out,
               size_t *priv_out_len)
{
    const engine_provider *p = PROV(c);
    infra_json *out = NULL;
    void *blob = NULL;
    size_t blob_len = 0;
    int error = 0;
    int64_t delay = CALL_BACKOFF_MS;
    const char *op = !prior ? "create" : !planned ? "delete" : "update";

    *new_state = NULL;
    *priv_out = NULL;
    *priv_out_len = 0;
    if (p->bridge) {
        call_op_begin(c, op, CALL_TIMEOUT_SCHEDULER_MS);
        if ((error = call_provider_ctx(c)) < 0)
            return error;
        error = p->bridge->apply(c, type, prior, planned, new_state);
        goto check;
    }
    call_op_begin(c, op, CALL_TIMEOUT_APPLY_MS);
    if ((error = call_provider_ctx(c)) < 0)
        return error;
    for (int attempt = 1;; attempt++) {
        json_decref(host_jansson(out));
        if (blob)
            host_table()->free(blob);
        out = NULL;
        blob = NULL;
        blob_len = 0;
        if ((error = call_slot_begin(c)) < 0)
            break;
        error = OPS(c)->apply(p->ctx, &c->call, type, host_json(prior), host_json(planned), priv,
                              priv_len, &out, &blob, &blob_len);
        call_slot_end(c);
        if (error != INFRA_ETRANSIENT || retry_pause(c, attempt, &delay) < 0)
            break;
    }
    *new_state = host_jansson(out);
    take_private(blob, blob_len, priv_out, priv_out_len);
check:
    if (error == 0 && planned &&
        (error = check_state(c, type, *new_state, op, 0)) < 0) {
        json_decref(*new_state);
        *new_state = NULL;
    } else if (error < 0 || !planned) {
        json_decref(*new_state);
        *new_state = NULL;
    }
    if (error < 0) {
        free(*priv_out);
        *priv_out = NULL;
        *priv_out_len = 0;
    }
    return error;
}

int call_read(engine_call *c, const char *type, const json_t *recorded, const void *priv,
              size_t priv_len, json_t **out)
{
    const engine_provider *p = PROV(c);
    infra_json *result = NULL;
    int error = 0;
    int64_t delay = CALL_BACKOFF_MS;

    *out = NULL;
    if (p->bridge) {
        call_op_begin(c, "read", CALL_TIMEOUT_SCHEDULER_MS);
        if ((error = call_provider_ctx(c)) < 0)
            return error;
        error = p->bridge->read(c, type, recorded, out);
        goto check;
    }
    call_op_begin(c, "read", CALL_TIMEOUT_READ_MS);
    if ((error = call_provider_ctx(c)) < 0)
        return error;
    for (int attempt = 1;; attempt++) {
        json_decref(host_jansson(result));
        result = NULL;
        if ((error = call_slot_begin(c)) < 0)
            break;
        error = OPS(c)->read(p->ctx, &c->call, type, host_json(recorded), priv, priv_len, &result);
        call_slot_end(c);
        if (error != INFRA_ETRANSIENT || retry_pause(c, attempt, &delay) < 0)
            break;
    }
    *out = host_jansson(result);
check:
    if (error == 0 && (error = check_state(c, type, *out, "read", 0)) < 0) {
        json_decref(*out);
        *out = NULL;
    } else if (error < 0) {
        json_decref(*out);
        *out = NULL;
    }
    return error;
}

int call_read_many(engine_call *batch, const char *type, call_read_item *items, size_t n)
{
    const engine_provider *p = PROV(batch);
    int error = 0;
    int64_t delay = CALL_BACKOFF_MS;
    infra_read_item *raw = util_calloc(n ? n : 1, sizeof(*raw));

    call_op_begin(batch, NULL, CALL_TIMEOUT_READ_MS);
    if (!call_has(batch->e, batch->provider, CALL_SLOT_READ_MANY)) {
        free(raw);
        return INFRA_ENOTSUP;
    }
    if ((error = call_provider_ctx(batch)) < 0) {
        free(raw);
        return error;
    }
    for (size_t i = 0; i < n; i++) {
        /* Each item's diagnostics and cancellation follow the batch. */
        items[i].c->call.deadline_ms = batch->call.deadline_ms;
        items[i].c->op = "read";
    }
    for (int attempt = 1;; attempt++) {
        for (size_t i = 0; i < n; i++) {
            json_decref(host_jansson(raw[i].out));
            raw[i] = (infra_read_item){.size = sizeof(infra_read_item),
                                       .call = &items[i].c->call,
                                       .state = host_json(items[i].state),
                                       .private_in = items[i].priv,
                                       .private_in_len = items[i].priv_len,
                                       .result = INFRA_EINTERNAL};
        }
        if ((error = call_slot_begin(batch)) < 0)
            break;
        error = OPS(batch)->read_many(p->ctx, &batch->call, type, raw, n);
        call_slot_end(batch);
        if (error != INFRA_ETRANSIENT || retry_pause(batch, attempt, &delay) < 0)
            break;
    }
    for (size_t i = 0; i < n; i++) {
        items[i].out = NULL;
        items[i].result = error < 0 ? error : raw[i].result;
        if (items[i].result == 0 &&
            check_state(items[i].c, type, host_jansson(raw[i].out), "read", 0) < 0)
            items[i].result = INFRA_EINTERNAL;
        if (items[i].result == 0)
            items[i].out = host_jansson(raw[i].out);
        else
            json_decref(host_jansson(raw[i].out));
    }
    free(raw);
    return error;
}

int call_import(engine_call *c, const char *type, const char *id, json_t **out)
{
    infra_json *result = NULL;
    int error;
    *out = NULL;
    call_op_begin(c, "import", CALL_TIMEOUT_READ_MS);
    if (!call_has(c->e, c->provider, CALL_SLOT_IMPORT)) {
        call_fail(c, NULL, "plugin \"%s\" cannot import existing objects",
                  PROV(c)->desc->name);
        return INFRA_ENOTSUP;
    }
    if ((error = call_provider_ctx(c)) < 0)
        return error;
    if ((error = call_slot_begin(c)) < 0)
        return error;
    error = OPS(c)->import(PROV(c)->ctx, &c->call, type, id, &result);
    call_slot_end(c);
    if (error == 0 && (error = check_state(c, type, host_jansson(result), "import", 0)) == 0)
        *out = host_jansson(result);
    else
        json_decref(host_jansson(result));
    return error;
}

int call_upgrade_state(engine_call *c, const char *type, int from, const json_t *recorded,
                       json_t **out)
{
    infra_json *result = NULL;
    int error;
    *out = NULL;
    call_op_begin(c, "upgrade_state", CALL_TIMEOUT_QUICK_MS);
    if (!call_has(c->e, c->provider, CALL_SLOT_UPGRADE_STATE)) {
        call_fail(c, NULL, "plugin \"%s\" has no upgrade_state operation",
                  PROV(c)->desc->name);
        return INFRA_ENOTSUP;
    }
    if ((error = call_provider_ctx(c)) < 0)
        return error;
    if ((error = call_slot_begin(c)) < 0)
        return error;
    error = OPS(c)->upgrade_state(PROV(c)->ctx, &c->call, type, from, host_json(recorded), &result);
    call_slot_end(c);
    if (error == 0 &&
        (error = check_state(c, type, host_jansson(result), "upgrade_state", 0)) == 0)
        *out = host_jansson(result);
    else
        json_decref(host_jansson(result));
    return error;
}

void call_stop_all(engine *e)
{
    for (size_t i = 0; i < e->nproviders; i++) {
        engine_provider *p = &e->providers[i];
        pthread_mutex_lock(&p->lock);
        int first = !p->stopped;
        p->stopped = 1;
        infra_provider *ctx = p->ctx;
        pthread_mutex_unlock(&p->lock);
        /* stop is thread-safe by contract and never takes the plugin's lock:
         * its purpose is to reach the calls holding it. */
        if (first && ctx && !p->bridge && INFRA_HAS_SLOT(p->desc->provider, stop))
            p->desc->provider->stop(ctx);
    }
}

void call_close_all(engine *e)
{
    for (size_t i = 0; i < e->nproviders; i++) {
        engine_provider *p = &e->providers[i];
        if (p->desc && e->plugins[p->plugin].hung)
            continue; /* a thread may still be inside it */
        if (p->ctx && !p->bridge && INFRA_HAS_SLOT(p->desc->provider, close))
            p->desc->provider->close(p->ctx);
        if (p->sched_ctx && p->bridge &&
            INFRA_HAS_SLOT_T(infra_scheduler_ops, p->desc->scheduler, close))
            p->desc->scheduler->close(p->sched_ctx);
        p->ctx = NULL;
        p->sched_ctx = NULL;
    }
}

