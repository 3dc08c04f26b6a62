/* Plans: what `infra up` would do to make the state match the topology.
 *
 * One item per graph node: every topology resource, every resource only in
 * the state (to delete) and every intent of an interrupted create whose
 * address is in neither. Items are decided in dependency order so that a
 * reference to a resource that will be created or replaced is known to be
 * unknown ("(known after apply)"). See docs/internals/engine.md. */
#ifndef INFRA_PLAN_H
#define INFRA_PLAN_H

#include <jansson.h>
#include <stdio.h>

#include "base/diag.h"
#include "engine/engine.h"
#include "engine/graph.h"

typedef enum plan_action {
    PLAN_NOOP = 0,
    PLAN_CREATE,
    PLAN_UPDATE,
    PLAN_REPLACE,
    PLAN_DELETE,
    PLAN_READ, /* a data source looked up (not counted as a change) */
} plan_action;

typedef struct plan_item {
    const char *address;       /* borrowed from the graph */
    const topo_resource *res;  /* NULL when the address is only in the state */
    size_t provider;           /* index into engine providers */
    const char *type;          /* borrowed */
    int data;                  /* a data source */
    int group;                 /* a group of resources (topology.h): never an action */
    plan_action action;
    json_t *reasons;           /* array of attribute names behind the action */
    const char *note;          /* static remark for humans, or NULL */

    json_t *entry;             /* state entry (read-only reference), or NULL */
    json_t *intent;            /* intent of an interrupted create, or NULL */
    int orphan;                /* only an intent: its object (if any) is unwanted */
    json_t *prior;             /* current attributes (refreshed when refreshing), or NULL */
    json_t *drift;             /* attribute names changed outside infra, or NULL */
    int gone;                  /* the refresh found no object */
    int upgrade_from;          /* the state's older schema version to upgrade, or -1 */
    int upgraded;              /* prior was converted by upgrade_state */
    int refreshed;             /* the refresh ran for this item */

    json_t *desired;           /* evaluated config (unknowns marked), or NULL */
    json_t *planned;           /* the provider's planned state, or NULL */
    json_t *edited;            /* attributes whose configuration changed since the apply, or NULL */
    json_t *known;             /* attributes dependents see (plan: prior/planned; apply: result) */
    int resolved;              /* a data source already read at plan time */

    char *error;               /* set when applying the item failed (owned) */
    char *error_attr;          /* attribute the error is about, or NULL */
} plan_item;

typedef struct plan {
    engine *e;
    graph *g;                  /* resource graph: dependency -> dependent */
    plan_item *items;          /* items[i] is graph node i */
    size_t nitems;
    size_t *order;             /* topological order of the nodes */
    int destroy;               /* built by plan_destroy */
    size_t ncreate, nupdate, nreplace, ndelete, nread;
} plan;

/* Plans against e->st: refresh (when refresh is set, every state resource
 * read through the worker pool), then one decision per item. Errors go to
 * e->diags; returns 0 or INFRA_EINVALID. *out is set in both cases (free
 * with plan_free). */
int plan_build(engine *e, int refresh, plan **out);

/* A plan deleting everything e->st records (and the objects of intents),
 * dependents first. Resources with prevent_destroy are errors in
 * e->diags (INFRA_EINVALID). */
int plan_destroy(engine *e, plan **out);

/* What `infra status` says of the item of a state entry: "ok",
 * "missing", "drifted (ATTRS)" (the provider plans to change what was
 * changed outside infra, or what it keeps such as a daemon's state),
 * "pending (ATTRS)" (only the topology changed), "data", "unknown" (not
 * refreshed). Borrowed from *owned (caller frees) or static. */
const char *plan_item_status(const plan_item *it, char **owned);

void plan_free(plan *p);

/* Creates + updates + replaces + deletes. */
size_t plan_changes(const plan *p);

/* The value of attr of the resource at address as dependents see it, or
 * NULL when not known yet: a topology_lookup_fn over a plan. */
const json_t *plan_lookup(void *plan, const char *address, const char *attr);

/* What the module's files share (plan.c, refresh.c). */

/* The items of the resource graph of e's topology (with_topology) and
 * state, in a new plan (*out set also on error; free with plan_free). */
int plan_load_items(engine *e, int with_topology, plan **out);

typedef enum plan_refresh_what {
    PLAN_REFRESH_INTENTS, /* only the objects of unwanted interrupted creates */
    PLAN_REFRESH_ALL,     /* and every managed resource of the state */
} plan_refresh_what;

/* Reads the items what asks for through the worker pool (refresh.c).
 * Errors go to e->diags: INFRA_EINVALID, INFRA_ECANCELLED when stopped. */
int plan_refresh(plan *p, plan_refresh_what what);

/* Whether a difference the provider plans on key of it is one to act on:
 * the topology changed it, the object changed outside infra, or the
 * topology does not set it (a status the provider keeps). */
int plan_acts_on(const plan_item *it, const char *key);

/* Attribute names whose values differ between objects a and b (new array). */
json_t *plan_diff_keys(const json_t *a, const json_t *b);

/* Adds an error at the item's resource (or at its address); thread-safe. */
/* it->prior as the provider is shown it towards desired: a sensitive
 * attribute the state does not hold takes desired's value when the
 * recorded hash says it did not change (it->edited). New reference. */
json_t *plan_provider_prior(const engine *e, const plan_item *it, const json_t *desired);

void plan_error_at(engine *e, const plan_item *it, const char *attr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Evaluates the item's config against what is known now (it->res must be
 * set) and converts it to the types the plugin's schema declares: 0 with
 * *out new, 1 with *out new when some value is still unknown (see
 * base/unknown.h), INFRA_EINVALID with *err and, when about one
 * attribute, *err_attr (caller frees both). Sensitive values found are
 * registered for redaction. */
int plan_eval(plan *p, plan_item *it, json_t **out, char **err, char **err_attr);

/* Makes value what dependents of it see (takes a new reference). */
void plan_set_known(plan_item *it, json_t *value);

/* The human diff (Terraform-like) and the summary line (plan_print.c). */
void plan_print(const plan *p, FILE *out, int color);
/* [{address, action, reasons, before, after}] for every change; new value. */
json_t *plan_json(const plan *p);
/* "create", "update", "replace", "delete", "read", "no-op". */
const char *plan_action_name(plan_action action);

#endif
