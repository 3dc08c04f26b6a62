/* `infra validate` beyond the YAML: provider settings and resource
 * configurations checked against each plugin's schema (unknown type or
 * attribute with a suggestion, missing required, computed attribute set,
 * wrong JSON type), then by the plugin's own validate op, whose
 * diagnostics are placed at the YAML line of the attribute they name.
 * References are unknown values here (base/unknown.h): the plugin sees
 * the configuration as plan will give it, converted to the declared
 * types, with an unknown wherever a value is only known later. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/unknown.h"
#include "base/util.h"
#include "engine/call.h"
#include "engine/engine.h"
#include "engine/graph.h"
#include "engine/scheduler.h"
#include "engine/values.h"
#include "plugin/host.h"
#include "services/log.h"

typedef struct validator {
    engine *e;
    diag_list *diags;
    graph *seen;                /* formatted diagnostics already added */
    const topo_resource *res;   /* the resource being checked, or NULL */
    const engine_provider *prov; /* the provider being checked (settings) */
    int errors;                 /* errors reported for the current subject */
} validator;

/* Where attr of the current subject is written, and its diagnostic key. */
static void locate(validator *v, const char *attr, diag_loc *loc, char **key)
{
    if (v->res) {
        *loc = v->res->loc;
        if (attr && *attr)
            topology_locate(v->e->topo, v->res->address, attr, loc);
        *key = engine_resource_key(v->res, attr);
        return;
    }
    const topo_provider *decl = v->prov->decl;
    char *address = util_printf("provider.%s", decl->name);
    if (!attr || !*attr || topology_locate(v->e->topo, address, attr, loc) < 0)
        *loc = decl->loc;
    free(address);
    /* A cluster's scheduler is "cluster.NAME"; its settings are the cluster's keys. */
    const char *section = decl->scheduler ? "clusters" : "providers";
    const char *name = decl->scheduler ? decl->name + strlen("cluster.") : decl->name;
    *key = attr && *attr ? util_printf("%s.%s.%s", section, name, attr)
                         : util_printf("%s.%s", section, name);
}

/* Adds an error once: count-expanded resources share their YAML, so the
 * same finding would otherwise repeat for every instance. */
static void report(validator *v, const char *attr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void report(validator *v, const char *attr, const char *fmt, ...)
{
    diag_loc loc = {0};
    char *key = NULL;
    va_list ap;
    va_start(ap, fmt);
    char *msg = util_vprintf(fmt, ap);
    va_end(ap);
    locate(v, attr, &loc, &key);
    char *id = util_printf("%s:%d:%d:%s:%s", loc.file ? loc.file : "", loc.line, loc.column,
                           key ? key : "", msg);
    v->errors++;
    if (graph_find(v->seen, id) == GRAPH_NONE) {
        graph_add_node(v->seen, id);
        diag_add(v->diags, DIAG_ERROR, &loc, key, "%s", msg);
    }
    free(id);
    free(key);
    free(msg);
}


/* NULL-terminated array of the keys of obj (borrowed); caller frees the array. */
static const char **key_list(const json_t *obj)
{
    const char **names = util_calloc(json_object_size(obj) + 1, sizeof(*names));
    const char *key;
    json_t *value;
    size_t n = 0;
    json_object_foreach((json_t *)obj, key, value)
        names[n++] = key;
    return names;
}

/* what: "attribute" or "setting"; owner: "instance" or "plugin \"test\"".
 * Values are converted in config to the declared types; one that cannot
 * be is reported and becomes unknown, so that the plugin's own checks do
 * not report it again. */
static void check_attributes(validator *v, const json_t *attrs, json_t *config,
                             const char *what, const char *owner)
{
    const char *key;
    json_t *value;
    const char **names = key_list(attrs);

    json_object_foreach((json_t *)config, key, value) {
        const json_t *a = json_object_get(attrs, key);
        if (!a) {
            const char *guess = util_did_you_mean(key, names);
            if (guess)
                report(v, key, "unknown %s \"%s\" for %s (did you mean \"%s\"?)", what, key,
                       owner, guess);
            else
                report(v, key, "unknown %s \"%s\" for %s", what, key, owner);
            continue;
        }
        if (json_is_true(json_object_get(a, "computed")) &&
            !json_is_true(json_object_get(a, "required"))) {
            report(v, key, "\"%s\" is computed by the provider and cannot be set", key);
            continue;
        }
        const char *want = json_string_value(json_object_get(a, "type"));
        json_t *converted = NULL;
        char *why = NULL;
        if (value_convert(want, value, &converted, &why) < 0) {
            report(v, key, "%s", why);
            converted = unknown_new();
        }
        if (converted != value)
            json_object_set(config, key, converted); /* same key: no rehash */
        json_decref(converted);
        free(why);
    }
    json_object_foreach((json_t *)attrs, key, value) {
        if (json_is_true(json_object_get(value, "required")) && !json_object_get(config, key))
            report(v, NULL, "missing required %s \"%s\"", what, key);
    }
    free(names);
}

static void validate_diag(void *ud, infra_call *call, int severity, const char *attr_path,
                          const char *message)
{
    validator *v = ud;
    if (severity >= INFRA_DIAG_ERROR) {
        report(v, attr_path, "%s", message ? message : "invalid");
        return;
    }
    diag_loc loc = {0};
    char *key = NULL;
    locate(v, attr_path, &loc, &key);
    diag_add(v->diags, DIAG_WARNING, &loc, key, "%s", message ? message : "");
    free(key);
}

/* Every reference is unknown at validate time. */
static const json_t *unknown_lookup(void *ud, const char *address, const char *attr)
{
    return NULL;
}

static void validate_resource(validator *v, const topo_resource *res)
{
    engine *e = v->e;
    int pi = engine_provider_index(e, res->provider);
    v->res = res;
    v->errors = 0;
    if (pi < 0) {
        report(v, NULL, "unknown provider \"%s\"", res->provider ? res->provider : "");
        return;
    }
    const engine_provider *p = &e->providers[pi];
    if (!p->desc)
        return; /* the plugin itself was refused, already reported */
    const json_t *type = json_object_get(p->types, res->type);
    if (!type) {
        const char **names = key_list(p->types);
        const char *guess = util_did_you_mean(res->type, names);
        report(v, NULL, "provider \"%s\" (plugin \"%s\") has no resource type \"%s\"%s%s%s",
               p->decl->name, p->desc->name, res->type, guess ? " (did you mean \"" : "",
               guess ? guess : "", guess ? "\"?)" : "");
        free(names);
        return;
    }
    if (!json_is_object(res->config)) {
        report(v, NULL, "the configuration of a %s must be a map", res->type);
        return;
    }
    /* What plan will give the plugin, with every reference still unknown:
     * never the ${...} text. */
    json_t *config = NULL;
    char *err = NULL;
    if (topology_eval(e->topo, res->config, unknown_lookup, NULL, &config, &err) < 0) {
        report(v, NULL, "%s", err ? err : "cannot evaluate the configuration");
        free(err);
        return;
    }
    free(err);
    check_attributes(v, json_object_get(type, "attributes"), config, "attribute", res->type);
    if (call_has(e, (size_t)pi, CALL_SLOT_VALIDATE)) {
        engine_call c;
        call_init(&c, e, (size_t)pi, res->address, "validate", NULL);
        c.call.diag = validate_diag;
        c.call.diag_ud = v;
        int before = v->errors;
        int rc = call_validate(&c, res->type, config);
        if (rc < 0 && v->errors == before)
            report(v, NULL, "the plugin refused the configuration: %s", call_error(&c, rc));
        call_clear(&c);
    }
    json_decref(config);
}

static void validate_settings(validator *v, engine_provider *p)
{
    v->res = NULL;
    v->prov = p;
    if (!p->desc)
        return;
    const json_t *attrs = json_object_get(p->schema, "settings");
    /* configure() receives the settings converted to their declared types
     * (a cluster's own keys are checked; its scheduler also gets its name
     * and environment). */
    const json_t *given = p->bridge ? p->decl->settings : p->settings;
    json_t *settings = json_is_object(given) ? json_deep_copy(given) : json_object();
    char *owner = util_printf("plugin \"%s\"", p->desc->name);
    if (json_is_object(attrs)) {
        check_attributes(v, attrs, settings, "setting", owner);
        const char *key;
        json_t *value;
        json_object_foreach((json_t *)settings, key, value) {
            const json_t *a = json_object_get(attrs, key);
            if (json_is_true(json_object_get(a, "sensitive")) && json_is_string(value))
                log_add_secret(json_string_value(value)); /* API keys, passwords */
        }
    }
    if (p->bridge) {
        json_decref(settings);
    } else {
        json_decref(p->settings);
        p->settings = settings;
    }
    free(owner);
    if (p->bridge) {
        engine_call c;
        size_t i = (size_t)(p - v->e->providers);
        call_init(&c, v->e, i, "", "validate", NULL);
        c.call.diag = validate_diag;
        c.call.diag_ud = v;
        int before = v->errors;
        int rc = scheduler_provider_validate(v->e, i, &c);
        if (rc < 0 && v->errors == before)
            report(v, NULL, "the scheduler refused the cluster: %s", call_error(&c, rc));
        call_clear(&c);
    }
}

int engine_validate(engine *e, diag_list *diags)
{
    validator v = {.e = e, .diags = diags, .seen = graph_new()};
    size_t before = diags->errors;

    for (size_t i = 0; i < e->nproviders; i++)
        validate_settings(&v, &e->providers[i]);
    for (size_t i = 0; i < e->topo->nresources; i++)
        validate_resource(&v, &e->topo->resources[i]);
    graph_free(v.seen);
    return diags->errors > before ? INFRA_EINVALID : 0;
}
