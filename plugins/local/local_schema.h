/* The local provider's schema table and offline checks. */
#ifndef LOCAL_SCHEMA_H
#define LOCAL_SCHEMA_H

#include "local.h"

#define LOCAL_ATTR_REQUIRED 1u
#define LOCAL_ATTR_COMPUTED 2u          /* set by the provider only */
#define LOCAL_ATTR_FORCE_NEW 4u         /* a change replaces the object */
#define LOCAL_ATTR_OPTIONAL_COMPUTED 8u /* set by the user, or computed when not */

typedef struct local_attr {
    const char *name;
    const char *type;   /* "string", "integer", "list", "map" */
    unsigned flags;     /* LOCAL_ATTR_* */
    const char *target; /* for a status attribute: the value plan asks for */
    const char *description;
} local_attr;

typedef struct local_type {
    const char *name;
    const local_attr *attrs;
    size_t nattrs;
} local_type;

/* The resource type called name, or NULL (static). */
const local_type *local_type_find(const char *name);
/* The provider settings as a pseudo type (static). */
const local_type *local_settings_type(void);
/* The attribute called name of t, or NULL (static). */
const local_attr *local_attr_find(const local_type *t, const char *name);

/* Builds the schema document; *out is a new value. 0 or INFRA_EINTERNAL. */
int local_schema(infra_call *call, infra_json **out);

/* Offline checks of one resource's config, diagnostics through the host.
 * 0, INFRA_ENOTSUP for an unknown type, INFRA_EINVALID for a bad value. */
int local_validate(infra_call *call, const char *type, const infra_json *config);

/* Checks config's keys, types and required attributes against t. Computed
 * attributes are refused unless allow_computed. 0 or INFRA_EINVALID. */
int local_check_attrs(infra_call *call, const local_type *t, const infra_json *config,
                      int allow_computed);

/* 1 when v holds a value the engine does not know yet, anywhere inside. */
int local_json_has_unknown(const infra_json *v);

#endif
