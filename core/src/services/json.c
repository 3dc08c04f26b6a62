/* infra_json_api over jansson. An infra_json* is a json_t*, so the engine
 * and the plugins share values without conversion; ownership follows
 * jansson's reference counting ("new" = one reference the caller owns,
 * get/at = borrowed). */
#include "plugin/host.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#include "base/unknown.h"
#include "base/util.h"

static infra_json *jsonapi_parse(const char *text, size_t len)
{
    if (!text)
        return NULL;
    json_error_t err;
    return host_json(json_loadb(text, len, JSON_DECODE_ANY, &err));
}

/* An unknown value is dumped as null: JSON has no word for it, and the
 * text must stay parseable. */
static char *jsonapi_dump(const infra_json *value)
{
    if (!value)
        return util_strdup("null");
    json_t *j = host_jansson(value);
    if (!unknown_in(j)) /* jansson allocates with malloc, which host->free releases */
        return json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_t *shown = unknown_nulled(j);
    char *text = json_dumps(shown, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(shown);
    return text;
}

static void jsonapi_release(infra_json *value)
{
    json_decref(host_jansson(value));
}

static int jsonapi_type_of(const infra_json *value)
{
    const json_t *j = host_jansson(value);
    if (!j)
        return INFRA_JSON_NULL;
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return INFRA_JSON_OBJECT;
    case JSON_ARRAY:
        return INFRA_JSON_ARRAY;
    case JSON_STRING:
        return unknown_is(j) ? INFRA_JSON_UNKNOWN : INFRA_JSON_STRING;
    case JSON_INTEGER:
        return INFRA_JSON_INT;
    case JSON_REAL:
        return INFRA_JSON_REAL;
    case JSON_TRUE:
    case JSON_FALSE:
        return INFRA_JSON_BOOL;
    case JSON_NULL:
    default:
        return INFRA_JSON_NULL;
    }
}

static const infra_json *jsonapi_get(const infra_json *object, const char *key)
{
    if (!key || !json_is_object(host_jansson(object)))
        return NULL;
    return host_json(json_object_get(host_jansson(object), key));
}

static size_t jsonapi_length(const infra_json *value)
{
    const json_t *j = host_jansson(value); /* an unknown is a string to jansson: 0 */
    if (json_is_array(j))
        return json_array_size(j);
    if (json_is_object(j))
        return json_object_size(j);
    return 0;
}

static const infra_json *jsonapi_at(const infra_json *array, size_t index)
{
    if (!json_is_array(host_jansson(array)))
        return NULL;
    return host_json(json_array_get(host_jansson(array), index));
}

static infra_json *jsonapi_get_mutable(infra_json *object, const char *key)
{
    return (infra_json *)jsonapi_get(object, key);
}

static infra_json *jsonapi_at_mutable(infra_json *array, size_t index)
{
    return (infra_json *)jsonapi_at(array, index);
}

/* *iter holds jansson's iterator of the member last returned; it is reset to
 * NULL at the end so that the same loop variable can start over. */
static int jsonapi_next(const infra_json *object, void **iter, const char **key,
                        const infra_json **value)
{
    json_t *obj = host_jansson(object);
    if (!iter)
        return 0;
    if (!json_is_object(obj)) {
        *iter = NULL;
        return 0;
    }
    void *it = *iter ? json_object_iter_next(obj, *iter) : json_object_iter(obj);
    *iter = it;
    if (!it)
        return 0;
    if (key)
        *key = json_object_iter_key(it);
    if (value)
        *value = host_json(json_object_iter_value(it));
    return 1;
}

static const char *jsonapi_string_of(const infra_json *value)
{
    const json_t *j = host_jansson(value);
    return unknown_is(j) ? NULL : json_string_value(j);
}

static int64_t jsonapi_integer_of(const infra_json *value)
{
    const json_t *j = host_jansson(value);
    if (json_is_integer(j))
        return (int64_t)json_integer_value(j);
    if (json_is_real(j)) {
        /* Converting an out-of-range double is undefined: clamp first. */
        double d = json_real_value(j);
        if (d >= 9223372036854775807.0)
            return INT64_MAX;
        if (d <= -9223372036854775808.0)
            return INT64_MIN;
        return (int64_t)d;
    }
    return 0;
}

static double jsonapi_real_of(const infra_json *value)
{
    return json_number_value(host_jansson(value));
}

static int jsonapi_boolean_of(const infra_json *value)
{
    return json_is_true(host_jansson(value)) ? 1 : 0;
}

static infra_json *jsonapi_new_object(void)
{
    return host_json(json_object());
}

static infra_json *jsonapi_new_array(void)
{
    return host_json(json_array());
}

static infra_json *jsonapi_new_string(const char *text)
{
    return text ? host_json(json_string(text)) : NULL;
}

static infra_json *jsonapi_new_integer(int64_t value)
{
    return host_json(json_integer((json_int_t)value));
}

static infra_json *jsonapi_new_real(double value)
{
    /* JSON has no NaN or infinity; jansson refuses them too. */
    if (!isfinite(value))
        return NULL;
    return host_json(json_real(value));
}

static infra_json *jsonapi_new_bool(int value)
{
    return host_json(json_boolean(value));
}

static infra_json *jsonapi_new_null(void)
{
    return host_json(json_null());
}

static infra_json *jsonapi_new_unknown(void)
{
    return host_json(unknown_new());
}

/* The _new variants of jansson drop the value's reference on failure too,
 * so "set takes value" holds on every path. */
static int jsonapi_set(infra_json *object, const char *key, infra_json *value)
{
    if (!value)
        return INFRA_EINVALID;
    if (!key) {
        json_decref(host_jansson(value));
        return INFRA_EINVALID;
    }
    return json_object_set_new(host_jansson(object), key, host_jansson(value)) == 0
               ? 0
               : INFRA_EINVALID;
}

static int jsonapi_append(infra_json *array, infra_json *value)
{
    if (!value)
        return INFRA_EINVALID;
    return json_array_append_new(host_jansson(array), host_jansson(value)) == 0 ? 0
                                                                                : INFRA_EINVALID;
}

/* INFRA_ENOTFOUND for a missing key, INFRA_EINVALID when not an object. */
static int jsonapi_remove(infra_json *object, const char *key)
{
    if (!key || !json_is_object(host_jansson(object)))
        return INFRA_EINVALID;
    return json_object_del(host_jansson(object), key) == 0 ? 0 : INFRA_ENOTFOUND;
}

static infra_json *jsonapi_copy(const infra_json *value)
{
    if (!value)
        return NULL;
    return host_json(json_deep_copy(host_jansson(value)));
}

/* Two NULL handles are equal (both read as JSON null). */
static int jsonapi_equal_values(const infra_json *a, const infra_json *b)
{
    if (!a || !b)
        return a == b || json_is_null(host_jansson(a ? a : b));
    return json_equal(host_jansson(a), host_jansson(b)) ? 1 : 0;
}

static const infra_json_api host_json_table = {
    .size = sizeof(infra_json_api),
    .parse = jsonapi_parse,
    .dump = jsonapi_dump,
    .release = jsonapi_release,
    .type = jsonapi_type_of,
    .get = jsonapi_get,
    .length = jsonapi_length,
    .at = jsonapi_at,
    .next = jsonapi_next,
    .string = jsonapi_string_of,
    .integer = jsonapi_integer_of,
    .real = jsonapi_real_of,
    .boolean = jsonapi_boolean_of,
    .new_object = jsonapi_new_object,
    .new_array = jsonapi_new_array,
    .new_string = jsonapi_new_string,
    .new_integer = jsonapi_new_integer,
    .new_real = jsonapi_new_real,
    .new_bool = jsonapi_new_bool,
    .new_null = jsonapi_new_null,
    .set = jsonapi_set,
    .append = jsonapi_append,
    .remove = jsonapi_remove,
    .copy = jsonapi_copy,
    .equal = jsonapi_equal_values,
    .new_unknown = jsonapi_new_unknown,
    .get_mutable = jsonapi_get_mutable,
    .at_mutable = jsonapi_at_mutable,
};

const infra_json_api *host_json_api(void)
{
    return &host_json_table;
}
