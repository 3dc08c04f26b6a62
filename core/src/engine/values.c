/* Typed values (see values.h). */
#include "engine/values.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <infra/plugin.h>

#include "base/unknown.h"
#include "base/util.h"
#include "topology/topology.h"

int value_type_is(const char *want, const json_t *v)
{
    if (!want || !v || json_is_null(v) || unknown_is(v))
        return 1;
    if (!strcmp(want, "string"))
        return json_is_string(v);
    if (!strcmp(want, "integer"))
        return json_is_integer(v);
    if (!strcmp(want, "number"))
        return json_is_number(v);
    if (!strcmp(want, "bool"))
        return json_is_boolean(v);
    if (!strcmp(want, "list"))
        return json_is_array(v);
    if (!strcmp(want, "map"))
        return json_is_object(v);
    return 1;
}

const char *value_type_phrase(const char *want)
{
    if (!want)
        return "any value";
    if (!strcmp(want, "string"))
        return "a string";
    if (!strcmp(want, "integer"))
        return "an integer";
    if (!strcmp(want, "number"))
        return "a number";
    if (!strcmp(want, "bool"))
        return "a boolean";
    if (!strcmp(want, "list"))
        return "a list";
    if (!strcmp(want, "map"))
        return "a map";
    return "any value";
}

/* The value as the user wrote it, for messages: "abc" or 1.5 or a list. */
static char *shown(const json_t *v)
{
    if (json_is_string(v))
        return util_printf("\"%s\"", json_string_value(v));
    if (json_is_number(v) || json_is_boolean(v)) {
        char *text = json_dumps(v, JSON_ENCODE_ANY);
        return text ? text : util_strdup("a number");
    }
    return util_strdup(topology_json_type_name(v));
}

static int refuse(const char *want, const json_t *v, const char *why, char **err)
{
    int scalar = !strcmp(want, "string") || !strcmp(want, "integer") || !strcmp(want, "number") ||
                 !strcmp(want, "bool");
    char *found = scalar ? shown(v) : util_strdup(topology_json_type_name(v));
    *err = util_printf("expected %s, got %s%s%s", value_type_phrase(want), found,
                       why ? ": " : "", why ? why : "");
    free(found);
    return INFRA_EINVALID;
}

static int to_string(const json_t *v, json_t **out, char **err)
{
    if (json_is_string(v)) {
        *out = json_incref((json_t *)v);
    } else if (json_is_integer(v)) {
        char *text = util_printf("%lld", (long long)json_integer_value(v));
        *out = json_string(text);
        free(text);
    } else if (json_is_real(v)) {
        char *text = json_dumps(v, JSON_ENCODE_ANY);
        *out = json_string(text ? text : "");
        free(text);
    } else if (json_is_boolean(v)) {
        *out = json_string(json_is_true(v) ? "true" : "false");
    } else {
        return refuse("string", v, NULL, err);
    }
    return 0;
}

static int to_integer(const json_t *v, json_t **out, char **err)
{
    if (json_is_integer(v)) {
        *out = json_incref((json_t *)v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d) || d < -9007199254740992.0 || d > 9007199254740992.0)
            return refuse("integer", v, "not a whole number", err);
        *out = json_integer((json_int_t)d);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end = NULL;
        errno = 0;
        long long n = strtoll(s, &end, 10);
        if (*s == '\0' || *end != '\0' || s[0] == ' ')
            return refuse("integer", v, NULL, err);
        if (errno == ERANGE)
            return refuse("integer", v, "out of range", err);
        *out = json_integer((json_int_t)n);
        return 0;
    }
    return refuse("integer", v, NULL, err);
}

static int to_number(const json_t *v, json_t **out, char **err)
{
    if (json_is_number(v)) {
        *out = json_incref((json_t *)v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end = NULL;
        if (*s && s[0] != ' ' && to_integer(v, out, err) == 0)
            return 0;
        free(*err);
        *err = NULL;
        errno = 0;
        double d = strtod(s, &end);
        if (*s == '\0' || *end != '\0' || s[0] == ' ' || !isfinite(d))
            return refuse("number", v, NULL, err);
        if (errno == ERANGE)
            return refuse("number", v, "out of range", err);
        *out = json_real(d);
        return 0;
    }
    return refuse("number", v, NULL, err);
}

static int to_bool(const json_t *v, json_t **out, char **err)
{
    if (json_is_boolean(v)) {
        *out = json_incref((json_t *)v);
        return 0;
    }
    const char *s = json_string_value(v);
    if (s && !strcmp(s, "true")) {
        *out = json_true();
        return 0;
    }
    if (s && !strcmp(s, "false")) {
        *out = json_false();
        return 0;
    }
    return refuse("bool", v, NULL, err);
}

int value_convert(const char *want, const json_t *v, json_t **out, char **err)
{
    *out = NULL;
    *err = NULL;
    if (!want || !v || json_is_null(v) || unknown_is(v) || value_type_is(want, v)) {
        *out = v ? json_incref((json_t *)v) : json_null();
        return 0;
    }
    if (!strcmp(want, "string"))
        return to_string(v, out, err);
    if (!strcmp(want, "integer"))
        return to_integer(v, out, err);
    if (!strcmp(want, "number"))
        return to_number(v, out, err);
    if (!strcmp(want, "bool"))
        return to_bool(v, out, err);
    return refuse(want, v, NULL, err);
}

int value_convert_config(const json_t *attrs, json_t *config, const char **attr, char **err)
{
    int error = 0;
    const char *key;
    json_t *v;
    *attr = NULL;
    *err = NULL;
    if (!json_is_object(config))
        return 0;
    json_object_foreach(config, key, v) {
        const char *want = json_string_value(json_object_get(json_object_get(attrs, key), "type"));
        json_t *converted = NULL;
        char *why = NULL;
        if (value_convert(want, v, &converted, &why) < 0) {
            if (!error) {
                *attr = key;
                *err = why;
                why = NULL;
            }
            error = INFRA_EINVALID;
            free(why);
            continue;
        }
        if (converted != v)
            json_object_set(config, key, converted); /* same key: no rehash */
        json_decref(converted);
    }
    return error;
}
