/* Schema tables: the document a provider's schema() returns, and the
 * offline checks of a configuration against a type's attributes. */
#include "plugin_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define J (pu_host->json)

const pu_type *pu_type_find(const pu_schema *s, const char *name)
{
    for (size_t i = 0; name != NULL && i < s->ntypes; i++)
        if (strcmp(s->types[i].name, name) == 0)
            return &s->types[i];
    return NULL;
}

const pu_attr *pu_attr_find(const pu_type *t, const char *name)
{
    for (size_t i = 0; i < t->nattrs; i++)
        if (strcmp(t->attrs[i].name, name) == 0)
            return &t->attrs[i];
    return NULL;
}

/* An optional attribute with a computed default is described as settable:
 * "computed" tells the engine the user may not set it. */
static int attr_json(const pu_attr *a, infra_json *o)
{
    int error = 0;
    if ((error = pu_json_set_str(o, "type", a->type)) < 0 ||
        (error = pu_json_set_bool(o, "required", (a->flags & PU_ATTR_REQUIRED) != 0)) < 0 ||
        (error = pu_json_set_bool(o, "computed", (a->flags & PU_ATTR_COMPUTED) != 0)) < 0 ||
        (error = pu_json_set_bool(o, "force_new", (a->flags & PU_ATTR_FORCE_NEW) != 0)) < 0 ||
        (error = pu_json_set_bool(o, "sensitive", (a->flags & PU_ATTR_SENSITIVE) != 0)) < 0)
        return error;
    return pu_json_set_str(o, "description", a->description);
}

int pu_schema_attrs(const pu_type *t, infra_json **out)
{
    int error = 0;
    infra_json *obj = J->new_object();

    if (obj == NULL)
        return INFRA_EINTERNAL;
    for (size_t i = 0; i < t->nattrs; i++) {
        infra_json *o = J->new_object();
        if ((error = pu_json_set(obj, t->attrs[i].name, o)) < 0 ||
            (error = attr_json(&t->attrs[i], o)) < 0)
            goto done;
    }
    *out = obj;
    obj = NULL;
done:
    J->release(obj);
    return error;
}

static int type_json(const pu_schema *s, const pu_type *t, infra_json *resources)
{
    int error = 0;
    infra_json *rt = J->new_object(), *attrs = NULL;

    if ((error = pu_json_set(resources, t->name, rt)) < 0 ||
        (error = pu_schema_attrs(t, &attrs)) < 0 ||
        (error = pu_json_set(rt, "attributes", attrs)) < 0)
        return error;
    if (s->flags & PU_SCHEMA_DATA_SOURCE)
        error = pu_json_set_bool(rt, "data_source", t->data_source);
    return error;
}

int pu_schema_build(const pu_schema *s, infra_json **out)
{
    int error = 0;
    infra_json *doc = J->new_object(), *resources = J->new_object(), *settings = NULL;

    if (doc == NULL) {
        J->release(resources);
        return INFRA_EINTERNAL;
    }
    if ((error = pu_schema_attrs(s->settings, &settings)) < 0) {
        J->release(resources);
        goto done;
    }
    /* The document owns both from here, also when a set fails. */
    if ((error = pu_json_set(doc, "settings", settings)) < 0 ||
        (error = pu_json_set(doc, "resources", resources)) < 0)
        goto done;
    for (size_t i = 0; i < s->ntypes; i++)
        if ((error = type_json(s, &s->types[i], resources)) < 0)
            goto done;
    *out = doc;
    doc = NULL;
done:
    J->release(doc);
    return error;
}

static int type_matches(const pu_attr *a, const infra_json *v)
{
    int t = J->type(v);
    long n;
    int b;
    if (t == INFRA_JSON_NULL || t == INFRA_JSON_UNKNOWN)
        return 1;
    if (strcmp(a->type, "string") == 0)
        return t == INFRA_JSON_STRING || t == INFRA_JSON_INT || t == INFRA_JSON_REAL;
    if (strcmp(a->type, "integer") == 0)
        return pu_json_to_int(v, &n) == 0;
    if (strcmp(a->type, "bool") == 0)
        return pu_json_to_bool(v, &b) == 0;
    if (strcmp(a->type, "list") == 0)
        return t == INFRA_JSON_ARRAY;
    if (strcmp(a->type, "map") == 0)
        return t == INFRA_JSON_OBJECT;
    return 1;
}

int pu_check_attrs(infra_call *call, const pu_schema *s, const pu_type *t, const infra_json *config,
                   int allow_computed)
{
    int error = 0;
    void *iter = NULL;
    const char *key;
    const infra_json *value;

    if (config != NULL && J->type(config) != INFRA_JSON_OBJECT) {
        pu_diagf(call, "", "the configuration of a %s must be a map", t->name);
        return INFRA_EINVALID;
    }
    while (config != NULL && J->next(config, &iter, &key, &value)) {
        const pu_attr *a = pu_attr_find(t, key);
        if (a == NULL) {
            pu_buf known = {0};
            for (size_t i = 0; i < t->nattrs; i++)
                if (!(t->attrs[i].flags & PU_ATTR_COMPUTED))
                    pu_buf_printf(&known, "%s%s", known.len ? ", " : "", t->attrs[i].name);
            pu_diagf(call, key, "unknown attribute \"%s\" of %s %s (known: %s)", key, s->unknown_of,
                     t->name, known.data ? known.data : "");
            free(known.data);
            error = INFRA_EINVALID;
        } else if ((a->flags & PU_ATTR_COMPUTED) && !allow_computed) {
            pu_diagf(call, key, "\"%s\" is computed by the provider and cannot be set", key);
            error = INFRA_EINVALID;
        } else if (!type_matches(a, value)) {
            pu_diagf(call, key, "\"%s\" must be a%s %s", key, a->type[0] == 'i' ? "n" : "",
                     a->type);
            error = INFRA_EINVALID;
        }
    }
    for (size_t i = 0; i < t->nattrs; i++) {
        const pu_attr *a = &t->attrs[i];
        if ((a->flags & PU_ATTR_REQUIRED) && (config == NULL || J->get(config, a->name) == NULL)) {
            pu_diagf(call, a->name, "%s %s needs \"%s\" (%s)", s->needs, t->name, a->name,
                     a->description);
            error = INFRA_EINVALID;
        }
    }
    return error;
}

int pu_check_keys(infra_call *call, const char *provider, const char *attr, const infra_json *obj,
                  const char *const *keys)
{
    int error = 0;
    void *iter = NULL;
    const char *key;
    const infra_json *value;

    while (obj != NULL && J->type(obj) == INFRA_JSON_OBJECT && J->next(obj, &iter, &key, &value)) {
        size_t i = 0;
        while (keys[i] != NULL && strcmp(keys[i], key) != 0)
            i++;
        if (keys[i] != NULL)
            continue;
        pu_buf known = {0}, where = {0};
        for (i = 0; keys[i] != NULL; i++)
            pu_buf_printf(&known, "%s%s", i ? ", " : "", keys[i]);
        pu_buf_printf(&where, "%s.%s", attr, key);
        pu_diagf(call, where.data, "\"%s\" is not supported by the %s provider here (known: %s)",
                 key, provider, known.data ? known.data : "");
        free(known.data);
        free(where.data);
        error = INFRA_EINVALID;
    }
    return error;
}

int pu_check_list_keys(infra_call *call, const char *provider, const infra_json *config,
                       const char *name, const char *const *keys)
{
    const infra_json *list = J->get(config, name);
    int error = 0;
    for (size_t i = 0; list != NULL && J->type(list) == INFRA_JSON_ARRAY && i < J->length(list);
         i++) {
        char attr[64];
        snprintf(attr, sizeof(attr), "%s[%zu]", name, i);
        if (pu_check_keys(call, provider, attr, J->at(list, i), keys) < 0)
            error = INFRA_EINVALID;
    }
    return error;
}

int pu_plan_begin(infra_call *call, const pu_schema *s, const char *type, const infra_json *desired,
                  const pu_type **t, infra_json **plan, infra_json **replace)
{
    *plan = *replace = NULL;
    if ((*t = pu_type_find(s, type)) == NULL) {
        pu_diagf(call, "", "the %s provider has no resource type \"%s\"", s->provider,
                 type ? type : "");
        return INFRA_ENOTSUP;
    }
    if ((*replace = J->new_array()) == NULL)
        return INFRA_EINTERNAL;
    if (desired == NULL)
        return 0;
    if (J->type(desired) != INFRA_JSON_OBJECT || (*plan = J->copy(desired)) == NULL) {
        pu_diagf(call, "", "%s %s must be described by a map", s->needs, type);
        J->release(*replace);
        *replace = NULL;
        return INFRA_EINVALID;
    }
    return 0;
}
