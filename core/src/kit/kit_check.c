/* The comparisons the kit's checks make, and the ${state.ATTR}
 * substitution of drift commands and import ids. */
#include "kit/kit.h"

#include <string.h>

#include "base/unknown.h"
#include "base/util.h"

/* A value as it is shown in a check's detail (new string). */
static char *shown(const json_t *v)
{
    if (!v)
        return util_strdup("(absent)");
    if (unknown_in(v))
        return util_strdup(UNKNOWN_TEXT);
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    char *copy = util_strdup(text ? text : "?");
    free(text);
    return copy;
}

static char *difference(const char *key, const json_t *a, const json_t *b, const char *left,
                        const char *right)
{
    char *sa = shown(a), *sb = shown(b);
    char *msg = util_printf("attribute \"%s\": %s %s, %s %s", key, left, sa, right, sb);
    free(sa);
    free(sb);
    return msg;
}

char *kit_diff_known(const json_t *planned, const json_t *applied, const char *left,
                     const char *right)
{
    const char *key;
    json_t *want;
    json_object_foreach((json_t *)planned, key, want)
    {
        if (unknown_in(want))
            continue;
        const json_t *have = json_object_get(applied, key);
        if (!json_equal(want, have))
            return difference(key, want, have, left, right);
    }
    return NULL;
}

char *kit_diff(const json_t *a, const json_t *b, const char *left, const char *right)
{
    const char *key;
    json_t *value;
    json_object_foreach(
        (json_t *)a, key,
        value) if (!json_equal(value,
                               json_object_get(b, key))) return difference(key, value,
                                                                           json_object_get(b, key),
                                                                           left, right);
    json_object_foreach((json_t *)b, key, value) if (!json_object_get(a, key)) return difference(
        key, NULL, value, left, right);
    return NULL;
}

json_t *kit_changed_keys(const json_t *planned, const json_t *prior,
                         int (*is_sensitive)(void *ud, const char *key), void *ud)
{
    json_t *keys = json_array();
    const char *key;
    json_t *want;
    json_object_foreach((json_t *)planned, key, want)
    {
        const json_t *have = json_object_get(prior, key);
        if (!have || (is_sensitive && is_sensitive(ud, key)))
            continue;
        if (unknown_in(want) || !json_equal(want, have))
            json_array_append_new(keys, json_string(key));
    }
    return keys;
}

int kit_substitute(const char *text, const json_t *state, char **out, char **err)
{
    util_buf b = {0};
    const char *s = text;
    *out = *err = NULL;
    while (*s) {
        const char *open = strstr(s, "${state.");
        const char *close = open ? strchr(open, '}') : NULL;
        if (!open || !close) {
            util_buf_puts(&b, s);
            break;
        }
        util_buf_put(&b, s, (size_t)(open - s));
        char *name = util_strndup(open + 8, (size_t)(close - (open + 8)));
        const json_t *v = json_object_get(state, name);
        if (json_is_string(v)) {
            util_buf_puts(&b, json_string_value(v));
        } else if (v && !json_is_null(v) && !json_is_array(v) && !json_is_object(v)) {
            char *t = json_dumps(v, JSON_ENCODE_ANY);
            util_buf_puts(&b, t ? t : "");
            free(t);
        } else {
            *err = util_printf("${state.%s}: the object has no attribute \"%s\" with a scalar "
                               "value",
                               name, name);
            free(name);
            util_buf_free(&b);
            return INFRA_EINVALID;
        }
        free(name);
        s = close + 1;
    }
    *out = util_buf_take(&b);
    return 0;
}
