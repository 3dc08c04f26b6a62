/* What call.c and call_sched.c share: one slot call's bracket and the
 * errors the layer itself finds. Not for the rest of the engine. */
#ifndef INFRA_CALL_INT_H
#define INFRA_CALL_INT_H

#include "engine/call.h"

#define PROV(c) (&(c)->e->providers[(c)->provider])
#define OPS(c) (PROV(c)->desc->provider)
#define SCHED(c) (PROV(c)->desc->scheduler)
#define HAS_SCHED(c, slot) INFRA_HAS_SLOT_T(infra_scheduler_ops, SCHED(c), slot)

/* Starts an op of c: its deadline runs from now (the provider's timeout,
 * else default_ms); op names it in messages when not NULL. */
void call_op_begin(engine_call *c, const char *op, int64_t default_ms);

/* Brackets one slot call: waits for the plugin's lock (without
 * INFRA_CAP_CONCURRENT) and registers the call with the watchdog.
 * call_slot_begin returns 0, or INFRA_ECANCELLED when the run was halted;
 * call_slot_end does not return for an abandoned call. */
int call_slot_begin(engine_call *c);
void call_slot_end(engine_call *c);

/* Configures the call's provider on first use; the failure becomes the
 * call's error. */
int call_provider_ctx(engine_call *c);

/* Makes the layer's own finding the call's error (replacing the plugin's). */
void call_fail(engine_call *c, const char *attr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
