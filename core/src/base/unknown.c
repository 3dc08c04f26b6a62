/* The unknown value (see unknown.h). */
#include "base/unknown.h"

#include <string.h>

/* 0xff never starts (or continues) a UTF-8 sequence. */
static const char unknown_bytes[] = "\xff" "unknown";

json_t *unknown_new(void)
{
    return json_stringn_nocheck(unknown_bytes, sizeof(unknown_bytes) - 1);
}

int unknown_is(const json_t *v)
{
    return json_is_string(v) && json_string_length(v) == sizeof(unknown_bytes) - 1 &&
           memcmp(json_string_value(v), unknown_bytes, sizeof(unknown_bytes) - 1) == 0;
}

int unknown_in(const json_t *v)
{
    size_t i;
    const char *key;
    json_t *member;
    if (json_is_string(v))
        return unknown_is(v);
    if (json_is_array(v)) {
        json_array_foreach(v, i, member)
            if (unknown_in(member))
                return 1;
    } else if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, member)
            if (unknown_in(member))
                return 1;
    }
    return 0;
}

/* A copy of v with every unknown value replaced by a new in_place(). */
static json_t *replaced(const json_t *v, json_t *(*in_place)(void))
{
    size_t i;
    const char *key;
    json_t *member;
    if (unknown_is(v))
        return in_place();
    if (!unknown_in(v))
        return v ? json_deep_copy(v) : NULL;
    if (json_is_array(v)) {
        json_t *a = json_array();
        json_array_foreach(v, i, member)
            json_array_append_new(a, replaced(member, in_place));
        return a;
    }
    json_t *o = json_object();
    json_object_foreach((json_t *)v, key, member)
        json_object_set_new(o, key, replaced(member, in_place));
    return o;
}

static json_t *shown_text(void)
{
    return json_string(UNKNOWN_TEXT);
}

json_t *unknown_shown(const json_t *v)
{
    return replaced(v, shown_text);
}

json_t *unknown_nulled(const json_t *v)
{
    return replaced(v, json_null);
}
