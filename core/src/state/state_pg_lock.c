/* The postgres backend's run lock: a session-level advisory lock on the
 * backend's connection, held for the whole run and released by the server
 * when the connection ends, whatever ends it; the locks row only names the
 * holder, and pg_locks tells whether that server process really holds it. */
#define _GNU_SOURCE
#include "state/state_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "infra/plugin.h"
#include "services/log.h"
#include "base/util.h"

/* The holder record of the lock and whether its server process really
 * holds the advisory lock: *holder (caller frees, NULL when unknown). */
static int holder_read(pg_backend *pb, char **holder, int *confirmed, char **err)
{
    PGresult *r = NULL;
    char key[32];
    snprintf(key, sizeof(key), "%lld", pb->lock_key);
    const char *params[] = {pb->env, key};
    char *sql = util_printf(
        "SELECT l.holder, EXISTS (SELECT 1 FROM pg_locks p WHERE p.locktype = 'advisory'"
        " AND p.granted AND p.pid = l.backend_pid"
        " AND p.classid = (($2::bigint >> 32) & 4294967295)::oid"
        " AND p.objid = ($2::bigint & 4294967295)::oid AND p.objsubid = 1)"
        " FROM %s.locks l WHERE l.environment = $1",
        pb->ident);
    int error = pg_run(pb, "cannot read the state lock", sql, 2, params, &r, err);
    free(sql);
    *holder = NULL;
    *confirmed = 0;
    if (error == 0 && pb->pq->ntuples(r) == 1) {
        *holder = util_strdup(pb->pq->getvalue(r, 0, 0));
        *confirmed = pb->pq->getvalue(r, 0, 1)[0] == 't';
    }
    pb->pq->clear(r);
    return error;
}

/* SELECT pg_try_advisory_lock: 1 taken, 0 held by another session. */
static int try_lock(pg_backend *pb, char **err)
{
    PGresult *r = NULL;
    char key[32];
    snprintf(key, sizeof(key), "%lld", pb->lock_key);
    const char *params[] = {key};
    int error = pg_run(pb, "cannot take the state lock", "SELECT pg_try_advisory_lock($1::bigint)",
                       1, params, &r, err);
    if (error < 0)
        return error;
    int taken = pb->pq->getvalue(r, 0, 0)[0] == 't';
    pb->pq->clear(r);
    return taken;
}

static void release_lock(pg_backend *pb)
{
    char key[32];
    snprintf(key, sizeof(key), "%lld", pb->lock_key);
    const char *params[] = {key};
    pb->pq->clear(pb->pq->execParams(pb->conn, "SELECT pg_advisory_unlock($1::bigint)", 1, NULL,
                                     params, NULL, NULL, 0));
}

static char *refusal(pg_backend *pb, const char *holder)
{
    char *who = holder ? state_holder_describe(holder)
                       : util_strdup("another process (its details are not recorded yet)");
    char *msg = util_printf("state is locked by %s: another infra run is in progress on this "
                            "environment (%s); wait for it, or if that process is gone run: "
                            "infra unlock %s -e %s",
                            who, pb->base.where, pb->name, pb->env);
    free(who);
    return msg;
}

int pg_lock(state_backend *b, const char *holder, char **err)
{
    pg_backend *pb = (pg_backend *)b;
    int error = 0;
    char *previous = NULL;
    int confirmed = 0;

    pthread_mutex_lock(&pb->mu);
    if (pb->locked)
        goto done;
    if ((error = pg_prepare(pb, err)) < 0)
        goto done;
    int taken = try_lock(pb, err);
    if (taken < 0) {
        error = taken;
        goto done;
    }
    if (!taken) {
        /* The holder writes its record right after taking the lock: give
         * it a moment before settling for less. */
        for (int i = 0; i < 50; i++) {
            free(previous);
            if ((error = holder_read(pb, &previous, &confirmed, err)) < 0)
                goto done;
            if (confirmed)
                break;
            struct timespec pause = {0, 10 * 1000 * 1000};
            nanosleep(&pause, NULL);
        }
        *err = refusal(pb, confirmed ? previous : NULL);
        error = INFRA_ECONFLICT;
        goto done;
    }
    pb->locked = 1;
    if ((error = holder_read(pb, &previous, &confirmed, err)) < 0)
        goto done;
    if (previous) {
        char *who = state_holder_describe(previous);
        log_msg(LOG_WARN, "taking over the state lock of %s left by %s, which no longer holds it",
                pb->base.where, who);
        free(who);
    }
    const char *params[] = {pb->env, holder};
    char *sql = util_printf("INSERT INTO %1$s.locks (environment, holder, backend_pid)"
                            " VALUES ($1, $2, pg_backend_pid()) ON CONFLICT (environment)"
                            " DO UPDATE SET holder = EXCLUDED.holder,"
                            " backend_pid = EXCLUDED.backend_pid",
                            pb->ident);
    error = pg_run(pb, "cannot record the lock holder", sql, 2, params, NULL, err);
    free(sql);
    if (error < 0) {
        release_lock(pb);
        pb->locked = 0;
    }
done:
    free(previous);
    pthread_mutex_unlock(&pb->mu);
    return error;
}

void pg_unlock(state_backend *b)
{
    pg_backend *pb = (pg_backend *)b;
    pthread_mutex_lock(&pb->mu);
    if (pb->locked && pb->conn && pb->pq->status(pb->conn) == CONNECTION_OK) {
        const char *params[] = {pb->env};
        char *sql = util_printf("DELETE FROM %s.locks WHERE environment = $1"
                                " AND backend_pid = pg_backend_pid()",
                                pb->ident);
        pb->pq->clear(pb->pq->execParams(pb->conn, sql, 1, NULL, params, NULL, NULL, 0));
        free(sql);
        release_lock(pb);
    }
    pb->locked = 0;
    pthread_mutex_unlock(&pb->mu);
}

int pg_break_lock(state_backend *b, int force, char **err)
{
    pg_backend *pb = (pg_backend *)b;
    int error = 0, confirmed = 0;
    char *holder = NULL;
    const char *params[] = {pb->env};

    pthread_mutex_lock(&pb->mu);
    if ((error = pg_prepare(pb, err)) < 0)
        goto done;
    int taken = try_lock(pb, err);
    if (taken < 0) {
        error = taken;
        goto done;
    }
    if ((error = holder_read(pb, &holder, &confirmed, err)) < 0)
        goto done;
    char *who = state_holder_describe(holder);
    if (taken) {
        char *sql = util_printf("DELETE FROM %s.locks WHERE environment = $1", pb->ident);
        error = pg_run(pb, "cannot remove the lock record", sql, 1, params, NULL, err);
        free(sql);
        release_lock(pb);
        if (!error && holder)
            log_msg(LOG_INFO,
                    "removed the lock record of %s left by %s, which no longer "
                    "holds it",
                    pb->base.where, who);
        else if (!error)
            log_msg(LOG_INFO, "%s environment %s is not locked", pb->name, pb->env);
    } else if (!force) {
        *err = util_printf("state is locked by %s and that process still holds the lock: wait "
                           "for it or stop it (unlock --force ends its database session, which "
                           "makes its next write fail)",
                           confirmed ? who : "another process");
        error = INFRA_ECONFLICT;
    } else {
        char key[32];
        snprintf(key, sizeof(key), "%lld", pb->lock_key);
        const char *kp[] = {key};
        error = pg_run(pb, "cannot end the lock holder's session",
                       "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                       " AND granted AND classid = (($1::bigint >> 32) & 4294967295)::oid"
                       " AND objid = ($1::bigint & 4294967295)::oid AND objsubid = 1",
                       1, kp, NULL, err);
        if (!error)
            log_msg(LOG_WARN,
                    "ended the database session of %s, which held the lock of %s "
                    "(--force)",
                    who, pb->base.where);
    }
    free(who);
done:
    free(holder);
    pthread_mutex_unlock(&pb->mu);
    return error;
}
