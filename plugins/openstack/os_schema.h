/* The openstack provider's schema table, offline checks, plan and
 * read_many. */
#ifndef OS_SCHEMA_H
#define OS_SCHEMA_H

#include "os.h"

/* The settings and resource types, and how diagnostics name them. */
extern const pu_schema os_schema_table;
/* "network, subnet, ..." (static). */
const char *os_type_names(void);

/* Builds the schema document; *out is a new value. 0 or INFRA_EINTERNAL. */
int os_schema(infra_call *call, infra_json **out);
/* Offline checks of one resource's config (types, required attributes,
 * values that are known; INFRA_JSON_UNKNOWN values stand for a value set
 * later). 0, INFRA_ENOTSUP for an unknown type, INFRA_EINVALID. */
int os_validate(infra_call *call, const char *type, const infra_json *config);
/* planned = desired plus the computed values of prior. */
int os_plan(infra_provider *self, infra_call *call, const char *type, const infra_json *prior,
            const infra_json *desired, infra_json **planned, infra_json **requires_replace);
/* Refreshes count resources of type with as few calls as the cloud
 * allows (os_readmany.c); every item gets out and result. */
int os_read_many(infra_provider *self, infra_call *call, const char *type, infra_read_item *items,
                 size_t count);

#endif
