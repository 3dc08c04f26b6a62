/* Carrying out a plan: the execution graph and the worker pool's node
 * function, state writes and intents (engine_apply.c). */
#ifndef INFRA_ENGINE_APPLY_H
#define INFRA_ENGINE_APPLY_H

#include "engine/engine.h"
#include "engine/plan.h"

typedef struct engine_apply_summary {
    size_t done;        /* changes made */
    size_t failed;      /* changes that failed */
    size_t skipped;     /* not tried because something they wait for failed */
    size_t not_started; /* not tried because the run was interrupted */
} engine_apply_summary;

/* Carries out plan p against e->st with the worker pool: creates and
 * updates in dependency order, deletes in reverse dependency order,
 * replace = delete then create, each create guarded by an intent synced
 * to disk before the provider is called. Progress goes to e->progress;
 * each failure becomes an error in e->diags naming the address and its
 * YAML location. Returns 0, INFRA_EINTERNAL when some change failed or
 * was skipped, INFRA_ECANCELLED when interrupted or halted. */
int engine_apply(engine *e, plan *p, engine_apply_summary *out);

/* Evaluates the topology's outputs against what plan p knows after apply
 * and stores them in the state (empty when destroy). */
void engine_outputs(engine *e, plan *p, int destroy);

#endif
