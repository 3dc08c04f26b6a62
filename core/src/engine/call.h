/* The provider-call layer: the one place that calls plugin slots, as
 * SQLite's os.c is the one place that calls a VFS. Each wrapper does, for
 * its slot: the presence check (INFRA_HAS_SLOT), the JSON ownership
 * (what the plugin returns is taken over, checked against the plugin's
 * schema and handed back as a new jansson value), the per-plugin lock
 * (one thread at a time in a plugin without INFRA_CAP_CONCURRENT, whatever
 * provider block the call is for), the deadline (engine/contain.h),
 * retries of INFRA_ETRANSIENT and the debug log line.
 *
 * Usage: call_init(), one call_*() (a retried op counts as one), then
 * call_error() for the text of a failure, call_clear(). A cluster's
 * scheduler is served as a provider through the bridge its provider
 * carries (engine/scheduler.c): call_plan/apply/read on it go to the
 * bridge, which calls the scheduler slots below with the same call. */
#ifndef INFRA_CALL_H
#define INFRA_CALL_H

#include <jansson.h>
#include <stdint.h>

#include "engine/contain.h"
#include "engine/engine.h"
#include "plugin/host.h"

/* One call into a plugin (or a run of retries of one op). */
struct engine_call {
    infra_call call;        /* handed to the plugin */
    engine *e;
    size_t provider;        /* index into e->providers */
    const char *op;         /* what is done, for messages: "create", "read"... */
    char *attr;             /* attribute path of the first error, or NULL */
    char *message;          /* text of the first error, or NULL */
    int attempts;           /* tries of a transient failure (1 for a scheduler) */
    int64_t timeout_ms;     /* the deadline is this far from the start of the op */
    /* Containment bookkeeping (contain.c). */
    contain_owner *owner;   /* whoever runs the calling thread, or NULL */
    engine_call *prev, *next;
    int registered;         /* in the list of calls in flight */
    volatile int abandoned; /* the engine gave up waiting for it */
};

/* Default deadlines of the slots (a provider's `timeout:` replaces them). */
#define CALL_TIMEOUT_QUICK_MS (60 * 1000LL)         /* schema, validate, upgrade_state */
#define CALL_TIMEOUT_CONFIGURE_MS (5 * 60 * 1000LL)
#define CALL_TIMEOUT_PLAN_MS (5 * 60 * 1000LL)
#define CALL_TIMEOUT_READ_MS (10 * 60 * 1000LL)     /* read, read_many, import */
#define CALL_TIMEOUT_APPLY_MS (30 * 60 * 1000LL)
#define CALL_TIMEOUT_SCHEDULER_MS (60 * 60 * 1000LL) /* bootstrap, waits, jobs */

/* Prepares a call of provider's plugin for address ("" for none) doing
 * op; token may be NULL. Clear with call_clear. */
void call_init(engine_call *c, engine *e, size_t provider, const char *address, const char *op,
               const char *token);
void call_clear(engine_call *c);

/* Forgets the error c received, before c is used for another op. */
void call_forget(engine_call *c);

/* The text of a failed call: the plugin's first error, or a description
 * of code. Borrowed from c or static. */
const char *call_error(const engine_call *c, int code);

/* ------------------------------------------------------------------ */
/* Provider slots                                                     */

/* The slots a caller may want to know about before choosing a path. */
typedef enum call_slot {
    CALL_SLOT_VALIDATE,
    CALL_SLOT_PLAN,
    CALL_SLOT_READ_MANY,
    CALL_SLOT_IMPORT,
    CALL_SLOT_UPGRADE_STATE,
} call_slot;

/* 1 when provider's plugin has slot. */
int call_has(const engine *e, size_t provider, call_slot slot);

/* The plugin's schema document: 0 with *out (new value, an object) or a
 * negative INFRA_E*. */
int call_schema(engine_call *c, json_t **out);

/* Offline checks of one resource's configuration (0 without the slot). */
int call_validate(engine_call *c, const char *type, const json_t *config);

/* Configures provider on first use (thread-safe; the result is kept):
 * the plugin's configure op with the provider's settings. 0, or a
 * negative INFRA_E* with *err (caller frees) and, when the plugin named
 * one, *attr (caller frees; may be NULL) the setting at fault. */
int call_configure(engine *e, size_t provider, char **err, char **attr);

/* The provider's plan for prior -> desired (prior NULL: a create).
 * *planned is the planned state (a copy of desired without the slot),
 * *replace an array of the attributes forcing a replacement; both new. */
int call_plan(engine_call *c, const char *type, const json_t *prior, const json_t *desired,
              json_t **planned, json_t **replace);

/* Create (prior NULL), update, or delete (planned NULL). On success of a
 * create or update *new_state is the object's attributes (new value, an
 * object matching the schema); *priv_out (malloc'd) / *priv_out_len the
 * private blob, NULL / 0 when the plugin kept none. */
int call_apply(engine_call *c, const char *type, const json_t *prior, const json_t *planned,
               const void *priv, size_t priv_len, json_t **new_state, void **priv_out,
               size_t *priv_out_len);

/* The object now (state NULL: found by the call's token). *out new; the
 * plugin's INFRA_ENOTFOUND (gone) is returned as it is. */
int call_read(engine_call *c, const char *type, const json_t *recorded, const void *priv,
              size_t priv_len, json_t **out);

/* One resource of call_read_many. */
typedef struct call_read_item {
    engine_call *c;         /* its own call: address, token, diagnostics */
    const json_t *state;    /* as for call_read */
    const void *priv;
    size_t priv_len;
    json_t *out;            /* set: the object now (new value), or NULL */
    int result;             /* set: 0, INFRA_ENOTFOUND, or a negative INFRA_E* */
} call_read_item;

/* Refreshes n resources of one type in one read_many call of batch's
 * plugin (call_has(READ_MANY) must hold). Returns 0 with every item's
 * result set, or the error that failed the whole batch. */
int call_read_many(engine_call *batch, const char *type, call_read_item *items, size_t n);

/* Adopts the existing object id: *out its attributes (new value). */
int call_import(engine_call *c, const char *type, const char *id, json_t **out);

/* Converts attributes written by version from of the type's schema:
 * *out new. INFRA_ENOTSUP without the slot. */
int call_upgrade_state(engine_call *c, const char *type, int from, const json_t *recorded,
                       json_t **out);

/* Calls the stop op of every configured provider once (thread-safe). */
void call_stop_all(engine *e);

/* Closes every configured context, except those of a plugin a call never
 * returned from. */
void call_close_all(engine *e);

/* ------------------------------------------------------------------ */
/* Scheduler slots (c is a call of a cluster's scheduler provider)     */

int call_sched_schema(engine_call *c, json_t **out);
int call_sched_validate(engine_call *c, const json_t *cluster);
int call_node_bootstrap(engine_call *c, const json_t *cluster, const json_t *node);
/* INFRA_ENOTFOUND (the node is not known) counts as done; 0 without the slot. */
int call_node_remove(engine_call *c, const json_t *cluster, const json_t *node);
/* deadline_ms is shortened to what is left of the call's own deadline. */
int call_wait_ready(engine_call *c, const json_t *cluster, const char *region,
                    int64_t deadline_ms);
int call_federate(engine_call *c, const json_t *cluster, const char *region_a,
                  const char *region_b);
int call_job_submit(engine_call *c, const json_t *cluster, const json_t *job, json_t **status);
int call_job_status(engine_call *c, const json_t *cluster, const char *job_id, json_t **status);
/* INFRA_ENOTFOUND counts as done; 0 without the slot. */
int call_job_stop(engine_call *c, const json_t *cluster, const char *job_id);
/* INFRA_ENOTSUP without the slot. */
int call_cluster_status(engine_call *c, const json_t *cluster, json_t **out);
/* 1 when the scheduler has the slot (for errors that name what is missing). */
int call_sched_has_bootstrap(const engine *e, size_t provider);
int call_sched_has_federate(const engine *e, size_t provider);
int call_sched_has_jobs(const engine *e, size_t provider);
/* Client pools (ABI 1.3). call_pool_user_data: the user data of region's
 * pool datacenter, registered with the log's secrets (*out: caller zeroes
 * and frees); INFRA_ENOTSUP without the slot. call_pool_wait: 0 without
 * the slot; deadline_ms as for call_wait_ready. call_pool_drain: drains
 * the pool client at private_ip; INFRA_ENOTSUP without the slot (the
 * instance must then not be terminated). */
int call_sched_has_pools(const engine *e, size_t provider);
int call_pool_user_data(engine_call *c, const json_t *cluster, const char *region,
                        const char *datacenter, char **out);
int call_pool_wait(engine_call *c, const json_t *cluster, const char *region,
                   const char *datacenter, const json_t *instances, int64_t expected,
                   int64_t deadline_ms);
int call_pool_drain(engine_call *c, const json_t *cluster, const char *region,
                    const char *datacenter, const char *private_ip, int64_t deadline_ms);

#endif
