/* Values against the types a plugin's schema declares ("string",
 * "integer", "number", "bool", "list", "map", "any"): the check of what a
 * plugin returns, and the conversion of what the topology gives before a
 * plugin sees it ("3" -> 3 for an integer, 1 -> "1" for a string,
 * "true" -> true for a bool). Null and unknown values fit every type. */
#ifndef INFRA_VALUES_H
#define INFRA_VALUES_H

#include <jansson.h>

/* 1 when v is exactly of the declared type want (NULL or an undeclared
 * type name: anything). */
int value_type_is(const char *want, const json_t *v);

/* "a string", "an integer", ... for want (static text). */
const char *value_type_phrase(const char *want);

/* v converted to the declared type want: 0 with *out a new value, or
 * INFRA_EINVALID with *err (caller frees) saying what was expected and
 * what was found. */
int value_convert(const char *want, const json_t *v, json_t **out, char **err);

/* Converts every attribute of config (an object) that attrs (a schema's
 * "attributes") declares, in place. On the first value that cannot be
 * converted returns INFRA_EINVALID with *attr (borrowed from config) and
 * *err (caller frees); the other attributes are still converted, so
 * *err names only the first. */
int value_convert_config(const json_t *attrs, json_t *config, const char **attr, char **err);

#endif
