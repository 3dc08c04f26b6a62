/* JSON getters and setters over the host's JSON service. Setters answer
 * INFRA_EINTERNAL for any failure: the host only refuses a value when a
 * constructor failed (no memory, text that is not UTF-8) or the target
 * is not an object, both bugs or exhaustion rather than bad input. */
#include "plugin_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define J (pu_host->json)

const char *pu_json_str(const infra_json *obj, const char *key)
{
    if (obj == NULL || J->type(obj) != INFRA_JSON_OBJECT)
        return NULL;
    return J->string(J->get(obj, key));
}

int pu_json_to_int(const infra_json *v, long *out)
{
    if (v == NULL)
        return INFRA_EINVALID;
    if (J->type(v) == INFRA_JSON_INT) {
        *out = (long)J->integer(v);
        return 0;
    }
    if (J->type(v) == INFRA_JSON_STRING) {
        const char *s = J->string(v);
        char *end = NULL;
        errno = 0;
        long n = strtol(s, &end, 10);
        if (*s == '\0' || *end != '\0' || errno != 0)
            return INFRA_EINVALID;
        *out = n;
        return 0;
    }
    return INFRA_EINVALID;
}

int pu_json_to_bool(const infra_json *v, int *out)
{
    if (v == NULL)
        return INFRA_EINVALID;
    if (J->type(v) == INFRA_JSON_BOOL) {
        *out = J->boolean(v);
        return 0;
    }
    const char *s = J->string(v);
    if (s != NULL && strcmp(s, "true") == 0) {
        *out = 1;
        return 0;
    }
    if (s != NULL && strcmp(s, "false") == 0) {
        *out = 0;
        return 0;
    }
    return INFRA_EINVALID;
}

int pu_json_set(infra_json *obj, const char *key, infra_json *value)
{
    if (value == NULL)
        return INFRA_EINTERNAL;
    return J->set(obj, key, value) < 0 ? INFRA_EINTERNAL : 0;
}

int pu_json_set_str(infra_json *obj, const char *key, const char *value)
{
    return pu_json_set(obj, key, value ? J->new_string(value) : J->new_null());
}

int pu_json_set_int(infra_json *obj, const char *key, int64_t value)
{
    return pu_json_set(obj, key, J->new_integer(value));
}

int pu_json_set_bool(infra_json *obj, const char *key, int value)
{
    return pu_json_set(obj, key, J->new_bool(value));
}

int pu_json_set_copy(infra_json *obj, const char *key, const infra_json *value)
{
    return pu_json_set(obj, key, value ? J->copy(value) : J->new_null());
}

int pu_is_unknown(const infra_json *v)
{
    return v != NULL && J->type(v) == INFRA_JSON_UNKNOWN;
}

int pu_json_has_unknown(const infra_json *v)
{
    switch (v != NULL ? J->type(v) : INFRA_JSON_NULL) {
    case INFRA_JSON_UNKNOWN:
        return 1;
    case INFRA_JSON_ARRAY:
        for (size_t i = 0; i < J->length(v); i++)
            if (pu_json_has_unknown(J->at(v, i)))
                return 1;
        return 0;
    case INFRA_JSON_OBJECT: {
        void *iter = NULL;
        const char *key;
        const infra_json *member;
        while (J->next(v, &iter, &key, &member))
            if (pu_json_has_unknown(member))
                return 1;
        return 0;
    }
    default:
        return 0;
    }
}
