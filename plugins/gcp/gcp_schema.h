/* The gcp provider's schema table, offline checks and plan. */
#ifndef GCP_SCHEMA_H
#define GCP_SCHEMA_H

#include "gcp.h"

/* The settings and resource types, and how diagnostics name them. */
extern const pu_schema gcp_schema_table;
/* "network, subnetwork, ..." (static). */
const char *gcp_type_names(void);

/* Builds the schema document; *out is a new value. 0 or INFRA_EINTERNAL. */
int gcp_schema(infra_call *call, infra_json **out);
/* Offline checks of one resource's config (types, required attributes,
 * values that are known). 0, INFRA_ENOTSUP for an unknown type,
 * INFRA_EINVALID for a bad value. */
int gcp_validate(infra_call *call, const char *type, const infra_json *config);
/* planned = desired plus the computed values of prior. */
int gcp_plan(infra_provider *self, infra_call *call, const char *type, const infra_json *prior,
             const infra_json *desired, infra_json **planned, infra_json **requires_replace);

#endif
