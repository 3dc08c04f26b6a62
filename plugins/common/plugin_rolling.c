/* Restarts of running programs one node of a group (a region) at a time
 * within one run (see plugin_install.h): the engine bootstraps a
 * cluster's nodes in parallel when its settings change, and a region
 * keeps its quorum and its capacity only if its nodes take turns. */
#include "plugin_install.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How often a node waiting for its group's turn looks again (for a
 * cancelled call). */
#define ROLLING_POLL_MS 200

void pu_rolling_init(pu_rolling *r)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&r->done, &attr);
    pthread_condattr_destroy(&attr);
}

void pu_rolling_free(pu_rolling *r)
{
    for (size_t i = 0; i < r->nbusy; i++)
        free(r->busy[i]);
    free(r->busy);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->done);
    memset(r, 0, sizeof(*r));
}

static size_t busy_index(const pu_rolling *r, const char *group)
{
    for (size_t i = 0; i < r->nbusy; i++)
        if (strcmp(r->busy[i], group) == 0)
            return i;
    return (size_t)-1;
}

int pu_rolling_begin(pu_rolling *r, infra_call *call, const char *group)
{
    int error = 0;
    pthread_mutex_lock(&r->lock);
    while (busy_index(r, group) != (size_t)-1) {
        if (pu_host->cancelled(call)) {
            error = INFRA_ECANCELLED;
            break;
        }
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += ROLLING_POLL_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r->done, &r->lock, &until);
    }
    if (error == 0) {
        r->busy = pu_realloc(r->busy, (r->nbusy + 1) * sizeof(*r->busy));
        r->busy[r->nbusy++] = pu_strdup(group);
    }
    pthread_mutex_unlock(&r->lock);
    return error;
}

void pu_rolling_end(pu_rolling *r, const char *group)
{
    pthread_mutex_lock(&r->lock);
    size_t i = busy_index(r, group);
    if (i != (size_t)-1) {
        free(r->busy[i]);
        r->busy[i] = r->busy[--r->nbusy];
    }
    pthread_cond_broadcast(&r->done);
    pthread_mutex_unlock(&r->lock);
}
