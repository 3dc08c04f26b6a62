/* The plugin conformance kit (`infra plugin test PLUGIN.so FIXTURE.yaml`):
 * drives one provider plugin through the host table and the engine's call
 * layer (engine/call.h), so the deadlines, the schema checks of what the
 * plugin returns and the JSON ownership are the ones every infra command
 * uses, and reports one result per check.
 *
 * kit_fixture.c reads the fixture (what to create, update, replace, how to
 * make drift, what to import), kit_offline.c checks the schema and
 * validate, kit_run.c runs the lifecycle of each type, kit_check.c holds
 * the comparisons the checks make. */
#ifndef INFRA_KIT_H
#define INFRA_KIT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include <infra/plugin.h>

#include "base/diag.h"

/* How a test makes the object change outside the plugin. */
typedef struct kit_drift {
    char *command;      /* run with /bin/sh -c, or NULL */
    char *file_path;    /* a file to write, or NULL */
    char *file_content; /* what to write into it */
    json_t *attributes; /* array of attribute names the read must show changed (may be empty) */
} kit_drift;

/* The test of one resource type. */
typedef struct kit_type {
    char *type;          /* the resource type ("network") */
    json_t *settings;    /* provider settings for this type (top-level merged with the type's) */
    json_t *create;      /* the configuration to create */
    json_t *update;      /* an in-place change of create, or NULL */
    json_t *replace;     /* a change forcing a replacement, or NULL */
    json_t *invalid;     /* a configuration validate must refuse, or NULL */
    char *invalid_attr;  /* the attribute path its diagnostic must name */
    kit_drift *drift;    /* NULL: no drift step */
    char *import_id;     /* the id to import by (may hold ${state.ATTR}), or NULL */
    char *identity;      /* the attribute that identifies the object ("id") */
    json_t *expect_fail; /* array of checks known to fail: reported as such, not failures */
} kit_type;

typedef struct kit_fixture {
    char *file;         /* the fixture's path (owned) */
    char *plugin;       /* the name the plugin must report, or NULL */
    int64_t timeout_ms; /* every call's deadline, or 0 for the engine's defaults */
    kit_type *types;
    size_t ntypes;
} kit_fixture;

/* Reads the fixture at path. 0 with *out (free with kit_fixture_free), or
 * INFRA_EINVALID with every problem in diags as FILE:LINE:COL: KEY. */
int kit_fixture_load(const char *path, kit_fixture **out, diag_list *diags);
void kit_fixture_free(kit_fixture *f);

/* The result of one check. */
typedef enum kit_result {
    KIT_FAIL = 0,
    KIT_OK = 1,
    KIT_KNOWN = 2, /* failed, and the fixture lists it as known to fail */
} kit_result;

/* Receives one check's result as it is made. detail (borrowed) says what
 * differed on a failure, or is NULL. */
typedef void (*kit_report_fn)(void *ud, const char *type, const char *check, kit_result result,
                              const char *detail);

/* Loads the plugin at path and runs every type of f through it, reporting
 * each check. 0 when every check passed, 1 when one failed, or a negative
 * INFRA_E* with *err (caller frees) when the plugin could not be loaded. */
int kit_run(const char *path, const kit_fixture *f, kit_report_fn report, void *ud, char **err);

/* ------------------------------------------------------------------ */
/* Comparisons (kit_check.c)                                          */

/* NULL when every known value of planned equals the same attribute of
 * applied; else a sentence naming the first that does not (caller frees). */
char *kit_diff_known(const json_t *planned, const json_t *applied, const char *left,
                     const char *right);

/* NULL when a and b are equal; else a sentence naming the first attribute
 * that differs (caller frees). */
char *kit_diff(const json_t *a, const json_t *b, const char *left, const char *right);

/* The attributes of planned (not sensitive per is_sensitive) that differ
 * from prior: unknown, or another value; array, new. */
json_t *kit_changed_keys(const json_t *planned, const json_t *prior,
                         int (*is_sensitive)(void *ud, const char *key), void *ud);

/* text with every ${state.ATTR} replaced by the attribute's value in state
 * (strings as they are, other scalars as JSON). 0 with *out (caller frees),
 * or INFRA_EINVALID with *err naming the attribute (caller frees). */
int kit_substitute(const char *text, const json_t *state, char **out, char **err);

#endif
