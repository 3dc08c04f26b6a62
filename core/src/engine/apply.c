/* The worker pool behind `infra up`, `infra down` and the parallel refresh.
 *
 * Each node keeps a count of unfinished predecessors; when it drops to zero
 * the node is ready and joins its group's FIFO. Workers take from the group
 * FIFOs round-robin, skipping groups at their limit, so a slow rate-limited
 * provider never holds up the others. All bookkeeping happens under one
 * mutex; the node functions run outside it. */
#include "engine/apply.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <infra/plugin.h>

#include "base/util.h"
#include "engine/contain.h"

typedef struct sched sched;

/* One worker thread: the owner of the plugin calls made on it. */
typedef struct worker_slot {
    contain_owner owner; /* first: the watchdog hands back this pointer */
    sched *s;
    pthread_t thread;
    int started;         /* the thread was created */
    size_t node;         /* the node it runs, or GRAPH_NONE */
    int abandoned;       /* left inside a plugin: never joined */
} worker_slot;

typedef struct node_queue {
    size_t *items;
    size_t head;
    size_t len;
    size_t cap;
} node_queue;

struct sched {
    const graph *g;
    const apply_options *opts;
    apply_node_fn run;
    void *ud;
    apply_result *res;

    pthread_mutex_t lock;
    pthread_cond_t changed;
    size_t n;
    size_t *pending;     /* unfinished predecessors per node */
    size_t *poisoned_by; /* a failed/skipped predecessor, or GRAPH_NONE */
    size_t ngroups;      /* at least 1 */
    node_queue *ready;   /* per group */
    int *group_running;
    size_t next_group;   /* where the round-robin resumes */
    int running;
    size_t finished;
    size_t *stack;       /* worklist of settle(), n entries */
    int halted;          /* a node was abandoned: start nothing new */
    int active_workers;  /* workers still in their loop (not abandoned) */
};

static void queue_push(node_queue *q, size_t node)
{
    if (q->len == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 16;
        q->items = util_realloc(q->items, q->cap * sizeof(*q->items));
    }
    q->items[q->len++] = node;
}

static int is_active(const sched *s, size_t node)
{
    return !s->opts->active || s->opts->active[node];
}

static size_t group_of(const sched *s, size_t node)
{
    if (!s->opts->node_group || s->opts->ngroups == 0)
        return 0;
    size_t g = s->opts->node_group[node];
    return g < s->ngroups ? g : 0;
}

static int stop_requested(const sched *s)
{
    return s->halted || (s->opts->stop && *s->opts->stop) || (s->opts->halt && *s->opts->halt);
}

/* Records that node finished with status and releases its successors.
 * Inactive and skipped successors settle at once, through an explicit
 * worklist so that long chains cannot exhaust the stack. Caller holds the lock. */
static void settle(sched *s, size_t node, apply_status status)
{
    size_t top = 0;
    s->res->status[node] = status;
    s->stack[top++] = node;
    while (top > 0) {
        size_t done = s->stack[--top];
        apply_status st = s->res->status[done];
        s->finished++;
        size_t nsucc = 0;
        const size_t *succ = graph_successors(s->g, done, &nsucc);
        for (size_t k = 0; k < nsucc; k++) {
            size_t next = succ[k];
            if (st != APPLY_DONE && s->poisoned_by[next] == GRAPH_NONE)
                s->poisoned_by[next] = st == APPLY_SKIPPED ? s->res->blocked_by[done] : done;
            if (--s->pending[next] > 0)
                continue;
            if (s->poisoned_by[next] != GRAPH_NONE) {
                s->res->status[next] = APPLY_SKIPPED;
                s->res->blocked_by[next] = s->poisoned_by[next];
                if (is_active(s, next))
                    s->res->skipped++;
                s->stack[top++] = next;
            } else if (!is_active(s, next)) {
                s->res->status[next] = APPLY_DONE;
                s->stack[top++] = next;
            } else {
                queue_push(&s->ready[group_of(s, next)], next);
            }
        }
    }
}

/* The next runnable node, or GRAPH_NONE. Caller holds the lock. */
static size_t pick(sched *s)
{
    for (size_t k = 0; k < s->ngroups; k++) {
        size_t gi = (s->next_group + k) % s->ngroups;
        node_queue *q = &s->ready[gi];
        int limit = s->opts->ngroups && s->opts->group_limits ? s->opts->group_limits[gi] : 0;
        if (q->head == q->len || (limit > 0 && s->group_running[gi] >= limit))
            continue;
        s->next_group = (gi + 1) % s->ngroups;
        return q->items[q->head++];
    }
    return GRAPH_NONE;
}

/* The watchdog gave up on the node slot->node: it fails now, and the
 * thread stuck inside the plugin is no longer waited for. */
static void worker_abandoned(contain_owner *owner, char *message)
{
    worker_slot *slot = (worker_slot *)owner;
    sched *s = slot->s;
    pthread_mutex_lock(&s->lock);
    size_t node = slot->node;
    if (node != GRAPH_NONE && !slot->abandoned) {
        slot->abandoned = 1;
        s->halted = 1;
        if (s->opts->abandoned)
            s->opts->abandoned(s->ud, node, message);
        s->running--;
        s->group_running[group_of(s, node)]--;
        s->res->error[node] = INFRA_ECANCELLED;
        s->res->failed++;
        settle(s, node, APPLY_FAILED);
        s->active_workers--;
        pthread_cond_broadcast(&s->changed);
    }
    pthread_mutex_unlock(&s->lock);
    free(message);
}

static void *worker(void *arg)
{
    worker_slot *slot = arg;
    sched *s = slot->s;
    if (slot->started)
        contain_owner_set(&slot->owner);
    pthread_mutex_lock(&s->lock);
    for (;;) {
        if (s->finished == s->n)
            break;
        size_t node = stop_requested(s) ? GRAPH_NONE : pick(s);
        if (node == GRAPH_NONE) {
            if (s->running == 0)
                break; /* stopped, or nothing can ever become ready */
            pthread_cond_wait(&s->changed, &s->lock);
            continue;
        }
        size_t gi = group_of(s, node);
        s->running++;
        s->group_running[gi]++;
        if (s->running > s->res->max_running)
            s->res->max_running = s->running;
        slot->node = node;
        pthread_mutex_unlock(&s->lock);

        int error = s->run(s->ud, node); /* never returns when abandoned */

        pthread_mutex_lock(&s->lock);
        slot->node = GRAPH_NONE;
        s->running--;
        s->group_running[gi]--;
        s->res->error[node] = error;
        if (error < 0)
            s->res->failed++;
        else
            s->res->done++;
        settle(s, node, error < 0 ? APPLY_FAILED : APPLY_DONE);
        pthread_cond_broadcast(&s->changed);
    }
    s->active_workers--;
    pthread_cond_broadcast(&s->changed); /* let the others see the end too */
    pthread_mutex_unlock(&s->lock);
    if (slot->started)
        contain_owner_set(NULL);
    return NULL;
}

int apply_run(const graph *g, const apply_options *opts, apply_node_fn run, void *ud,
              apply_result *out)
{
    sched s;
    size_t n = graph_count(g), nactive = 0;
    int error = 0;

    memset(out, 0, sizeof(*out));
    out->status = util_calloc(n, sizeof(*out->status));
    out->error = util_calloc(n, sizeof(*out->error));
    out->blocked_by = util_malloc((n ? n : 1) * sizeof(*out->blocked_by));

    memset(&s, 0, sizeof(s));
    s.g = g;
    s.opts = opts;
    s.run = run;
    s.ud = ud;
    s.res = out;
    s.n = n;
    s.ngroups = opts->ngroups ? opts->ngroups : 1;
    s.pending = util_calloc(n, sizeof(*s.pending));
    s.poisoned_by = util_malloc((n ? n : 1) * sizeof(*s.poisoned_by));
    s.ready = util_calloc(s.ngroups, sizeof(*s.ready));
    s.group_running = util_calloc(s.ngroups, sizeof(*s.group_running));
    s.stack = util_malloc((n ? n : 1) * sizeof(*s.stack));
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.changed, NULL);

    for (size_t i = 0; i < n; i++) {
        size_t npred = 0;
        graph_predecessors(g, i, &npred);
        s.pending[i] = npred;
        s.poisoned_by[i] = GRAPH_NONE;
        out->blocked_by[i] = GRAPH_NONE;
        if (is_active(&s, i))
            nactive++;
    }
    /* Roots: inactive ones settle now (releasing their successors, which
     * settle() queues), the others wait in their group's queue. The roots
     * are listed first because settling changes the pending counts. */
    size_t nroots = 0;
    size_t *roots = util_malloc((n ? n : 1) * sizeof(*roots));
    for (size_t i = 0; i < n; i++)
        if (s.pending[i] == 0)
            roots[nroots++] = i;
    for (size_t k = 0; k < nroots; k++) {
        if (is_active(&s, roots[k]))
            queue_push(&s.ready[group_of(&s, roots[k])], roots[k]);
        else
            settle(&s, roots[k], APPLY_DONE);
    }
    free(roots);

    int nthreads = opts->parallelism < 1 ? 1 : opts->parallelism;
    if ((size_t)nthreads > nactive)
        nthreads = (int)nactive;
    worker_slot *slots = util_calloc((size_t)(nthreads ? nthreads : 1), sizeof(*slots));
    int started = 0;
    pthread_mutex_lock(&s.lock);
    for (int t = 0; t < nthreads; t++) {
        slots[t].owner.abandoned = worker_abandoned;
        slots[t].s = &s;
        slots[t].node = GRAPH_NONE;
        slots[t].started = 1;
        if (pthread_create(&slots[t].thread, NULL, worker, &slots[t]) != 0) {
            slots[t].started = 0;
            break;
        }
        s.active_workers++;
        started++;
    }
    pthread_mutex_unlock(&s.lock);
    if (started == 0 && nthreads > 0) {
        /* No thread could be created: do the work here, without an owner. */
        worker_slot here = {.s = &s, .node = GRAPH_NONE};
        here.owner.abandoned = worker_abandoned;
        s.active_workers = 1;
        worker(&here);
    }
    /* Not a plain join: a worker left inside a plugin never ends. */
    pthread_mutex_lock(&s.lock);
    while (s.active_workers > 0)
        pthread_cond_wait(&s.changed, &s.lock);
    pthread_mutex_unlock(&s.lock);
    for (int t = 0; t < started; t++) {
        if (slots[t].abandoned)
            pthread_detach(slots[t].thread);
        else
            pthread_join(slots[t].thread, NULL);
    }
    free(slots);

    for (size_t i = 0; i < n; i++) {
        if (out->status[i] == APPLY_PENDING) {
            out->status[i] = APPLY_NOT_STARTED;
            if (is_active(&s, i))
                out->not_started++;
        }
    }
    if (out->not_started > 0)
        error = INFRA_ECANCELLED;
    else if (out->failed > 0 || out->skipped > 0)
        error = INFRA_EINTERNAL;

    pthread_cond_destroy(&s.changed);
    pthread_mutex_destroy(&s.lock);
    for (size_t gi = 0; gi < s.ngroups; gi++)
        free(s.ready[gi].items);
    free(s.ready);
    free(s.group_running);
    free(s.pending);
    free(s.poisoned_by);
    free(s.stack);
    return error;
}

void apply_result_free(apply_result *res)
{
    if (!res)
        return;
    free(res->status);
    free(res->error);
    free(res->blocked_by);
    memset(res, 0, sizeof(*res));
}
