/* What the files of the kit's run share (kit_run.c, kit_offline.c). */
#ifndef INFRA_KIT_INT_H
#define INFRA_KIT_INT_H

#include "engine/call.h"
#include "kit/kit.h"

typedef struct kit_ctx {
    engine *e;
    const kit_fixture *f;
    kit_report_fn report;
    void *ud;
    int failed;
} kit_ctx;

/* What one type's run holds: the provider block, the object now and how
 * it was made. */
typedef struct kit_object {
    kit_ctx *k;
    const kit_type *t;
    size_t provider;
    char *address;                     /* "TYPE.kit" */
    json_t *create, *update, *replace; /* the fixture's configs, converted to the schema's types */
    json_t *now;                       /* the object as last read or applied; NULL: none exists */
    void *priv;                        /* its private blob (malloc'd) */
    size_t priv_len;
    char *token;          /* the token it was created with */
    const json_t *config; /* the configuration it was made from (borrowed) */
} kit_object;

/* Reports check name of o's type: passed when detail is NULL, else failed
 * with detail (taken) saying what differed. Returns 1 when it passed. */
int kit_check_report(kit_object *o, const char *name, char *detail);

/* The text of call c's failure with code: the plugin's diagnostic, the
 * category and the attribute it named (new string). */
char *kit_call_text(const engine_call *c, int code);

/* The checks that need no configured provider: the schema declares the
 * type and the attributes the fixture sets, the configurations convert to
 * the schema's types and validate accepts them, and refuses the invalid
 * one at its attribute. Sets o's provider settings and converted configs.
 * 1 when the run may go on. */
int kit_step_offline(kit_object *o);

#endif
