/* The aws provider's schema table, offline checks and plan. */
#ifndef AWS_SCHEMA_H
#define AWS_SCHEMA_H

#include "aws.h"

#define AWS_ATTR_REQUIRED 1u
#define AWS_ATTR_COMPUTED 2u          /* set by the provider only */
#define AWS_ATTR_FORCE_NEW 4u         /* a change replaces the object */
#define AWS_ATTR_OPTIONAL_COMPUTED 8u /* set by the user, or computed when not */

typedef struct aws_attr {
    const char *name;
    const char *type; /* "string", "integer", "bool", "list", "map", "any" */
    unsigned flags;   /* AWS_ATTR_* */
    const char *description;
} aws_attr;

typedef struct aws_type {
    const char *name;
    const aws_attr *attrs;
    size_t nattrs;
    int data; /* a data source */
} aws_type;

/* The resource type called name, or NULL (static). */
const aws_type *aws_type_find(const char *name);
/* The provider settings as a pseudo type (static). */
const aws_type *aws_settings_type(void);
/* The attribute called name of t, or NULL (static). */
const aws_attr *aws_attr_find(const aws_type *t, const char *name);
/* "network, subnet, ..." (static). */
const char *aws_type_names(void);

/* Builds the schema document; *out is a new value. */
int aws_schema(infra_call *call, infra_json **out);
/* Offline checks of one resource's config (types, required attributes,
 * values that are known). */
int aws_validate(infra_call *call, const char *type, const infra_json *config);
/* Checks config's keys, types and required attributes against t. */
int aws_check_attrs(infra_call *call, const aws_type *t, const infra_json *config,
                    int allow_computed);
/* planned = desired plus the computed values of prior. */
int aws_plan(infra_provider *self, infra_call *call, const char *type, const infra_json *prior,
             const infra_json *desired, infra_json **planned, infra_json **requires_replace);

#endif
