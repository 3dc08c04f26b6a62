/* The kit's offline checks: what a plugin's schema and validate say about
 * the fixture's configurations, before anything is configured or made. */
#include "kit/kit_int.h"

#include <string.h>

#include "base/util.h"
#include "engine/values.h"

/* Converts a fixture config to the schema's types, as the engine does
 * before a plugin sees a value (new, or NULL with *detail). */
static json_t *converted(const json_t *attrs, const json_t *config, const char *what, char **detail)
{
    if (!config)
        return NULL;
    json_t *copy = json_deep_copy(config);
    const char *attr = NULL;
    char *err = NULL;
    if (value_convert_config(attrs, copy, &attr, &err) < 0) {
        if (!*detail)
            *detail = util_printf("%s.%s: %s", what, attr, err);
        free(err);
    }
    return copy;
}

/* Undeclared attributes of config: "a, b" (new), or NULL. */
static char *undeclared(const json_t *attrs, const json_t *config, const char *what)
{
    util_buf b = {0};
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)config, key, v) if (!json_object_get(attrs, key))
        util_buf_printf(&b, "%s\"%s\"", b.len ? ", " : "", key);
    if (!b.len)
        return NULL;
    char *list = util_buf_take(&b);
    char *msg = util_printf("%s sets %s, which the schema does not declare", what, list);
    free(list);
    return msg;
}

static int validate(kit_object *o, const json_t *config, const char *what, char **detail)
{
    engine_call c;
    call_init(&c, o->k->e, o->provider, o->address, "validate", NULL);
    int error = call_validate(&c, o->t->type, config);
    if (error < 0 && !*detail) {
        char *text = kit_call_text(&c, error);
        *detail = util_printf("%s refused: %s", what, text);
        free(text);
    }
    call_clear(&c);
    return error;
}

int kit_step_offline(kit_object *o)
{
    engine *e = o->k->e;
    engine_provider *p = &e->providers[o->provider];
    const kit_type *t = o->t;
    char *detail = NULL;
    engine_call c;
    json_t *schema = NULL;

    call_init(&c, e, o->provider, "", "schema", NULL);
    int error = call_schema(&c, &schema);
    if (error < 0)
        detail = kit_call_text(&c, error);
    call_clear(&c);
    if (!detail) {
        p->schema = schema;
        p->types = json_object_get(schema, "resources");
        engine_index_schemas(e);
        if (!json_is_object(json_object_get(p->types, t->type)))
            detail = util_printf("the schema declares no resource type \"%s\"", t->type);
    }
    const json_t *attrs =
        json_object_get(engine_type_schema(e, o->provider, t->type), "attributes");
    if (!detail && !(detail = undeclared(attrs, t->create, "create")) &&
        !(detail = t->update ? undeclared(attrs, t->update, "update") : NULL))
        detail = t->replace ? undeclared(attrs, t->replace, "replace") : NULL;
    if (!kit_check_report(o, "schema", detail))
        return 0;

    json_t *settings = json_deep_copy(t->settings);
    const char *attr = NULL;
    char *err = NULL;
    if (value_convert_config(json_object_get(p->schema, "settings"), settings, &attr, &err) < 0)
        detail = util_printf("settings.%s: %s", attr, err);
    free(err);
    json_decref(p->settings);
    p->settings = settings;
    o->create = converted(attrs, t->create, "create", &detail);
    o->update = converted(attrs, t->update, "update", &detail);
    o->replace = converted(attrs, t->replace, "replace", &detail);
    if (!detail) {
        validate(o, o->create, "create", &detail);
        if (o->update)
            validate(o, o->update, "update", &detail);
        if (o->replace)
            validate(o, o->replace, "replace", &detail);
    }
    if (!kit_check_report(o, "validate", detail))
        return 0;
    if (t->invalid) {
        json_t *bad = converted(attrs, t->invalid, "invalid.config", &detail);
        free(detail); /* a value the schema's types refuse is what validate must refuse */
        detail = NULL;
        engine_call v;
        call_init(&v, e, o->provider, o->address, "validate", NULL);
        error = call_validate(&v, t->type, bad);
        const char *at = v.attr ? v.attr : "";
        size_t n = strlen(t->invalid_attr);
        if (error == 0)
            detail = util_strdup("validate accepted the invalid configuration");
        else if (error != INFRA_EINVALID)
            detail = util_printf("expected INFRA_EINVALID, got %s", call_error(&v, error));
        else if (strncmp(at, t->invalid_attr, n) || (at[n] && at[n] != '.' && at[n] != '['))
            detail = util_printf("the diagnostic names attribute \"%s\", expected \"%s\" (%s)", at,
                                 t->invalid_attr, call_error(&v, error));
        call_clear(&v);
        json_decref(bad);
        kit_check_report(o, "validate-refuses", detail);
    }
    return 1;
}
