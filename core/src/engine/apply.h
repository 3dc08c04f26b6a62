/* The worker pool that walks a graph: a node starts as soon as every node
 * with an edge into it has finished (a ready queue and per-node counters,
 * not level by level), at most `parallelism` nodes run at once, and at most
 * group_limits[g] nodes of group g (one group per provider). A failed node
 * makes every node after it "skipped", transitively; independent nodes go
 * on. Once *stop is set nothing new starts and the running nodes finish.
 * Each worker owns the plugin calls made on its thread (engine/contain.h):
 * a node whose call is abandoned fails at once and its thread is left
 * behind instead of joined. */
#ifndef INFRA_APPLY_H
#define INFRA_APPLY_H

#include <signal.h>
#include <stddef.h>

#include "engine/graph.h"

typedef enum apply_status {
    APPLY_PENDING = 0,  /* not reached yet (only seen while running) */
    APPLY_DONE,         /* ran and succeeded, or was inactive */
    APPLY_FAILED,       /* ran and returned an error */
    APPLY_SKIPPED,      /* something it waits for failed or was skipped */
    APPLY_NOT_STARTED,  /* never started because the run was stopped */
} apply_status;

typedef struct apply_options {
    int parallelism;              /* worker threads; < 1 means 1 */
    size_t ngroups;               /* number of groups; 0 = no per-group limits */
    const int *group_limits;      /* ngroups limits; 0 = unlimited */
    const size_t *node_group;     /* group of each node (< ngroups), or NULL */
    const unsigned char *active;  /* 0 = nothing to do for the node; NULL = all active */
    volatile sig_atomic_t *stop;  /* when set, start nothing new; may be NULL */
    const volatile int *halt;     /* the same, raised when a call is abandoned; may be NULL */
    /* Called (from the watchdog) when the node a worker runs is abandoned
     * inside a plugin (engine/contain.h): the node fails with message,
     * nothing new starts and the worker thread is left behind. May be NULL. */
    void (*abandoned)(void *ud, size_t node, const char *message);
} apply_options;

/* Does the work of one node from a worker thread; 0 or a negative INFRA_E*.
 * Never called twice for a node, and only after all its predecessors
 * finished with APPLY_DONE. */
typedef int (*apply_node_fn)(void *ud, size_t node);

typedef struct apply_result {
    apply_status *status; /* per node */
    int *error;           /* per node: what the node function returned */
    size_t *blocked_by;   /* per skipped node: the failed node behind it; else GRAPH_NONE */
    size_t done;          /* active nodes that succeeded */
    size_t failed;
    size_t skipped;
    size_t not_started;
    int max_running;      /* the highest number of nodes seen running at once */
} apply_result;

/* Runs every active node of g. Fills *out (free with apply_result_free).
 * Returns 0 when every active node succeeded, INFRA_EINTERNAL when some
 * failed or were skipped, INFRA_ECANCELLED when the run was stopped
 * before everything started. */
int apply_run(const graph *g, const apply_options *opts, apply_node_fn run, void *ud,
              apply_result *out);

void apply_result_free(apply_result *res);

#endif
