/* The background writer and group commit.
 *
 * Every change increments `changes`; a commit attempt covers the value it
 * saw when it gathered its rows (`attempted`), and success moves `durable`
 * there. state_sync waits until `durable` reaches the value of `changes`
 * at call time, so all threads waiting during one commit are released by
 * the next one. See docs/internals/state.md. */
#define _GNU_SOURCE
#include "state/state_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "infra/plugin.h"
#include "services/log.h"
#include "base/util.h"

/* ------------------------------------------------------------------ */
/* Background writer                                                  */

static void *writer_main(void *arg)
{
    state *st = arg;

    pthread_mutex_lock(&st->mu);
    for (;;) {
        while (!st->writer_stop && !st->retry && st->changes == st->attempted)
            pthread_cond_wait(&st->wake, &st->mu);
        /* The last flush is state_writer_stop's own synchronous commit. */
        if (st->writer_stop)
            break;
        pthread_mutex_unlock(&st->mu);

        char *msg = NULL;
        pthread_mutex_lock(&st->write_mu);
        state_commit_once(st, &msg); /* the outcome is recorded for state_sync */
        pthread_mutex_unlock(&st->write_mu);
        free(msg);

        pthread_mutex_lock(&st->mu);
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

int state_writer_start(state *st)
{
    int error = 0;

    pthread_mutex_lock(&st->mu);
    if (!st->writer_on) {
        st->writer_on = 1;
        st->writer_stop = 0;
        int rc = pthread_create(&st->writer, NULL, writer_main, st);
        if (rc != 0) {
            log_msg(LOG_ERROR, "state %s: cannot start the writer thread: %s", state_path(st),
                    strerror(rc));
            st->writer_on = 0;
            error = INFRA_EINTERNAL;
        }
    }
    pthread_mutex_unlock(&st->mu);
    return error;
}

int state_sync(state *st, char **err)
{
    int error = 0;

    pthread_mutex_lock(&st->mu);
    if (!st->writer_on) {
        pthread_mutex_unlock(&st->mu);
        return state_write(st, err);
    }
    unsigned long long target = st->changes;
    unsigned long start = st->attempts;
    if (st->durable < target && st->attempted >= target) {
        /* These changes were already tried (and failed, or are being
         * committed now): make sure another attempt follows. */
        st->retry = 1;
        pthread_cond_signal(&st->wake);
    }
    /* A failure only counts when it comes from an attempt that finished
     * after this call began and covered these changes. */
    while (st->durable < target && !(st->attempts > start && st->failed >= target))
        pthread_cond_wait(&st->written, &st->mu);
    if (st->durable < target) {
        error = st->last_error < 0 ? st->last_error : INFRA_EINTERNAL;
        if (err)
            *err = util_strdup(st->last_error_msg ? st->last_error_msg : "state write failed");
    }
    pthread_mutex_unlock(&st->mu);
    return error;
}

int state_writer_stop(state *st, char **err)
{
    pthread_mutex_lock(&st->mu);
    if (st->writer_on) {
        st->writer_stop = 1;
        pthread_cond_signal(&st->wake);
        pthread_mutex_unlock(&st->mu);
        pthread_join(st->writer, NULL);
        pthread_mutex_lock(&st->mu);
        st->writer_on = 0;
        st->writer_stop = 0;
    }
    pthread_mutex_unlock(&st->mu);
    return state_write(st, err);
}
