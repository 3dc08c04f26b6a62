/* The local provider's schema table and offline checks. */
#ifndef LOCAL_SCHEMA_H
#define LOCAL_SCHEMA_H

#include "local.h"

/* The settings and resource types, and how diagnostics name them. */
extern const pu_schema local_schema_table;

/* The value plan asks of status attribute attr of t ("ready",
 * "running"), or NULL when attr is not one (static). */
const char *local_status_target(const pu_type *t, const char *attr);

/* Builds the schema document; *out is a new value. 0 or INFRA_EINTERNAL. */
int local_schema(infra_call *call, infra_json **out);

/* Offline checks of one resource's config, diagnostics through the host.
 * 0, INFRA_ENOTSUP for an unknown type, INFRA_EINVALID for a bad value. */
int local_validate(infra_call *call, const char *type, const infra_json *config);

#endif
