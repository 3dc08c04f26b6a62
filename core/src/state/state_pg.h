/* What the postgres backend's files share (state_pg.c: connection,
 * tables, load, commit, opening; state_pg_lock.c: the run lock). Not for
 * other modules. */
#ifndef INFRA_STATE_PG_H
#define INFRA_STATE_PG_H

#include <pthread.h>

#include "state/pq_lib.h"
#include "state/state.h"

typedef struct pg_backend {
    state_backend base;
    const pq_lib *pq;  /* libpq's functions (loaded by state_pg_open) */
    char *conninfo;    /* the conn_str setting, or "": libpq's PG* environment */
    char *ssl_default; /* sslmode to use when nothing names one, or NULL */
    char *schema;      /* the schema name */
    char *ident;       /* the schema quoted as an identifier (made once connected) */
    char *name;
    char *env;
    long long lock_key; /* advisory lock key of this topology + environment */
    pthread_mutex_t mu; /* guards conn and everything below */
    PGconn *conn;
    int ready;  /* the schema and tables exist */
    int locked; /* this connection holds the advisory lock */
    int lost;   /* the lock was lost with a connection: every commit fails */
} pg_backend;

/* Runs sql with text parameters; *out gets the result when wanted. 0 or
 * INFRA_E* with *err naming the backend and what failed. */
int pg_run(pg_backend *pb, const char *what, const char *sql, int n, const char *const *params,
           PGresult **out, char **err);
/* Connects (again) and makes the tables when missing. Caller holds mu. */
int pg_prepare(pg_backend *pb, char **err);

/* The lock slots (state_pg_lock.c). */
int pg_lock(state_backend *b, const char *holder, char **err);
void pg_unlock(state_backend *b);
int pg_break_lock(state_backend *b, int force, char **err);

#endif
