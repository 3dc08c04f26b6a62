/* The postgres backend: the state in a PostgreSQL database, one schema per
 * topology, rows per environment (libpq).
 *
 *   SCHEMA.states     environment, format, topology, lineage, serial,
 *                     outputs, writer
 *   SCHEMA.resources  environment, address, seq (first put), entry
 *   SCHEMA.intents    environment, address, seq, intent
 *   SCHEMA.locks      environment, holder, backend_pid: who holds the run lock
 *
 * A commit is one transaction: the states row is read FOR UPDATE and must
 * hold the lineage and serial this run read or last wrote, then the
 * changed rows are upserted or deleted (one statement each way, the rows
 * passed as arrays) and the states row is updated.
 *
 * The run lock is a session-level advisory lock taken on the backend's
 * connection and held for the whole run: the server releases it when the
 * connection ends, even when the process is killed. The locks row only
 * names the holder; pg_locks tells whether the lock is really held and by
 * which server process. */
#define _GNU_SOURCE
#include "state/state_pg.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "infra/plugin.h"
#include "services/log.h"
#include "base/util.h"

/* ------------------------------------------------------------------ */
/* Connection                                                         */

static void quiet_notices(void *arg, const char *message)
{
    (void)arg;
    log_msg(LOG_DEBUG, "postgres: %s", message);
}

static char *pg_message(pg_backend *pb)
{
    char *text = util_strdup(pb->conn ? pb->pq->errorMessage(pb->conn) : "out of memory");
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
        text[--n] = '\0';
    return text;
}

static int fail_conn(pg_backend *pb, const char *what, char **err)
{
    char *text = pg_message(pb);
    *err = util_printf("state %s: %s: %s", pb->base.where, what, text);
    free(text);
    return pb->pq->status(pb->conn) == CONNECTION_OK ? INFRA_EINTERNAL : INFRA_ETRANSIENT;
}

static int fail_result(pg_backend *pb, PGresult *r, const char *what, char **err)
{
    const char *msg = r ? pb->pq->resultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *code = r ? pb->pq->resultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    int error = pb->pq->status(pb->conn) == CONNECTION_OK ? INFRA_EINTERNAL : INFRA_ETRANSIENT;
    if (code && !strcmp(code, "23505"))
        error = INFRA_ECONFLICT; /* unique_violation: another process created the row first */
    if (code && !strcmp(code, "42501"))
        error = INFRA_EAUTH; /* insufficient_privilege */
    if (msg)
        *err = util_printf("state %s: %s: %s", pb->base.where, what, msg);
    else
        fail_conn(pb, what, err);
    pb->pq->clear(r);
    return error;
}

int pg_run(pg_backend *pb, const char *what, const char *sql, int n, const char *const *params,
           PGresult **out, char **err)
{
    PGresult *r = pb->pq->execParams(pb->conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType s = r ? pb->pq->resultStatus(r) : PGRES_FATAL_ERROR;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        return fail_result(pb, r, what, err);
    if (out)
        *out = r;
    else
        pb->pq->clear(r);
    return 0;
}

static void rollback(pg_backend *pb)
{
    pb->pq->clear(pb->pq->exec(pb->conn, "ROLLBACK"));
}

/* Connects, or connects again after the connection was lost. Caller
 * holds mu. */
static int connect_now(pg_backend *pb, char **err)
{
    if (pb->lost) {
        *err = util_printf("state %s: the connection to postgres was lost, and with it the "
                           "state lock; stopping so that two runs never overlap (run again)",
                           pb->base.where);
        return INFRA_ECONFLICT;
    }
    if (pb->conn && pb->pq->status(pb->conn) == CONNECTION_OK)
        return 0;
    if (pb->conn) {
        pb->pq->finish(pb->conn);
        pb->conn = NULL;
        if (pb->locked) {
            /* The server released the lock with the old connection;
             * another run may be under way now. */
            pb->locked = 0;
            pb->lost = 1;
            return connect_now(pb, err);
        }
    }
    /* sslmode first: one given in conn_str or PGSSLMODE wins over it. */
    const char *keys[] = {"sslmode", "dbname", "application_name", NULL};
    const char *values[] = {pb->ssl_default, pb->conninfo, "infra", NULL};
    pb->conn = pb->pq->connectdbParams(keys, values, 1);
    if (!pb->conn || pb->pq->status(pb->conn) != CONNECTION_OK) {
        int error = fail_conn(pb, "cannot connect to postgres", err);
        pb->pq->finish(pb->conn);
        pb->conn = NULL;
        return error;
    }
    pb->pq->setNoticeProcessor(pb->conn, quiet_notices, NULL);
    if (!pb->ident) {
        char *ident = pb->pq->escapeIdentifier(pb->conn, pb->schema, strlen(pb->schema));
        if (!ident)
            return fail_conn(pb, "bad schema_name", err);
        pb->ident = util_strdup(ident);
        pb->pq->freemem(ident);
    }
    return 0;
}

/* The schema and tables, made once (under a transaction-level advisory
 * lock, so that two first runs do not race on CREATE). Caller holds mu. */
static int ensure_schema(pg_backend *pb, char **err)
{
    int error = 0;
    if (pb->ready)
        return 0;
    /* Made already (the common case): one query instead of the DDL. */
    PGresult *found = NULL;
    char *locks = util_printf("%s.locks", pb->ident);
    const char *lp[] = {locks};
    error = pg_run(pb, "cannot read the catalog", "SELECT to_regclass($1) IS NOT NULL", 1, lp,
                   &found, err);
    free(locks);
    if (error < 0)
        return error;
    pb->ready = pb->pq->getvalue(found, 0, 0)[0] == 't';
    pb->pq->clear(found);
    if (pb->ready)
        return 0;
    char *key = util_printf("%lld", pb->lock_key ^ 0x5ca1ab1e);
    const char *params[] = {key};
    char *sql =
        util_printf("CREATE SCHEMA IF NOT EXISTS %1$s;"
                    "CREATE TABLE IF NOT EXISTS %1$s.states (environment text PRIMARY KEY,"
                    " format integer NOT NULL, topology text NOT NULL, lineage text NOT NULL,"
                    " serial bigint NOT NULL, outputs text NOT NULL, writer text);"
                    "CREATE TABLE IF NOT EXISTS %1$s.resources (environment text NOT NULL,"
                    " address text NOT NULL, seq bigserial, entry text NOT NULL,"
                    " PRIMARY KEY (environment, address));"
                    "CREATE TABLE IF NOT EXISTS %1$s.intents (environment text NOT NULL,"
                    " address text NOT NULL, seq bigserial, intent text NOT NULL,"
                    " PRIMARY KEY (environment, address));"
                    "CREATE TABLE IF NOT EXISTS %1$s.locks (environment text PRIMARY KEY,"
                    " holder text NOT NULL, backend_pid integer NOT NULL);",
                    pb->ident);
    if ((error = pg_run(pb, "cannot begin", "BEGIN", 0, NULL, NULL, err)) < 0)
        goto done;
    if ((error = pg_run(pb, "cannot lock the schema", "SELECT pg_advisory_xact_lock($1::bigint)", 1,
                        params, NULL, err)) < 0) {
        rollback(pb);
        goto done;
    }
    PGresult *r = pb->pq->exec(pb->conn, sql);
    if (!r || pb->pq->resultStatus(r) != PGRES_COMMAND_OK) {
        error = fail_result(pb, r,
                            "cannot create the state tables (the role needs CREATE on the "
                            "database, or an existing schema it may write)",
                            err);
        rollback(pb);
        goto done;
    }
    pb->pq->clear(r);
    if ((error = pg_run(pb, "cannot commit", "COMMIT", 0, NULL, NULL, err)) < 0)
        goto done;
    pb->ready = 1;
done:
    free(sql);
    free(key);
    return error;
}

int pg_prepare(pg_backend *pb, char **err)
{
    int error;
    if ((error = connect_now(pb, err)) < 0)
        return error;
    return ensure_schema(pb, err);
}

/* ------------------------------------------------------------------ */
/* Loading                                                            */

static int rows_read(pg_backend *pb, const char *table, json_t **out, char **err)
{
    PGresult *r = NULL;
    state_rows rows = {0};
    const char *params[] = {pb->env};
    char *sql = util_printf("SELECT address, %s FROM %s.%ss WHERE environment = $1 ORDER BY seq",
                            !strcmp(table, "resource") ? "entry" : "intent", pb->ident, table);
    int error = pg_run(pb, "cannot read the state", sql, 1, params, &r, err);
    free(sql);
    *out = NULL;
    if (error < 0)
        return error;
    for (int i = 0; i < pb->pq->ntuples(r); i++)
        state_rows_add(&rows, pb->pq->getvalue(r, i, 0), pb->pq->getvalue(r, i, 1),
                       (size_t)pb->pq->getlength(r, i, 1));
    pb->pq->clear(r);
    return state_rows_finish(&rows, pb->base.where, out, err);
}

static int pg_load(state_backend *b, state_loaded *out, char **err)
{
    pg_backend *pb = (pg_backend *)b;
    int error = 0;
    PGresult *r = NULL;
    json_t *resources = NULL, *intents = NULL;
    const char *params[] = {pb->env};

    pthread_mutex_lock(&pb->mu);
    if ((error = pg_prepare(pb, err)) < 0)
        goto done;
    if ((error = pg_run(pb, "cannot begin", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0,
                        NULL, NULL, err)) < 0)
        goto done;
    char *sql = util_printf("SELECT topology, lineage, serial, outputs FROM %s.states"
                            " WHERE environment = $1",
                            pb->ident);
    error = pg_run(pb, "cannot read the state", sql, 1, params, &r, err);
    free(sql);
    if (!error && pb->pq->ntuples(r) == 1 &&
        !(error = rows_read(pb, "resource", &resources, err)) &&
        !(error = rows_read(pb, "intent", &intents, err))) {
        json_t *outputs = json_loads(pb->pq->getvalue(r, 0, 3), 0, NULL);
        out->doc =
            json_pack("{s:i, s:I, s:s, s:s, s:s, s:O, s:O, s:o}", "version", STATE_FORMAT_VERSION,
                      "serial", (json_int_t)strtoll(pb->pq->getvalue(r, 0, 2), NULL, 10), "lineage",
                      pb->pq->getvalue(r, 0, 1), "topology", pb->pq->getvalue(r, 0, 0),
                      "environment", pb->env, "resources", resources, "intents", intents, "outputs",
                      json_is_object(outputs) ? json_incref(outputs) : json_object());
        json_decref(outputs);
    }
    pb->pq->clear(r);
    rollback(pb);
done:
    pthread_mutex_unlock(&pb->mu);
    json_decref(resources);
    json_decref(intents);
    return error;
}

/* ------------------------------------------------------------------ */
/* Commits                                                            */

/* A text[] literal of the given strings ("{\"a\",\"b\"}"). */
static char *array_literal(const state_row *rows, size_t n, int values, int deletes)
{
    util_buf b = {0};
    int first = 1;
    util_buf_puts(&b, "{");
    for (size_t i = 0; i < n; i++) {
        if ((rows[i].value == NULL) != deletes)
            continue;
        const char *s = values ? rows[i].value : rows[i].key;
        util_buf_puts(&b, first ? "\"" : ",\"");
        for (const char *c = s; *c; c++) {
            if (*c == '"' || *c == '\\')
                util_buf_put(&b, "\\", 1);
            util_buf_put(&b, c, 1);
        }
        util_buf_puts(&b, "\"");
        first = 0;
    }
    util_buf_puts(&b, "}");
    return util_buf_take(&b);
}

/* The statements of one commit, sent together (libpq pipeline mode):
 * one round trip for all of them, one more for COMMIT. */
typedef struct batch {
    char *sql[8];
    const char *params[8][8];
    int nparams[8];
    char *owned[16];
    int n, nowned;
} batch;

static const char **batch_add(batch *q, char *sql, int nparams)
{
    q->sql[q->n] = sql;
    q->nparams[q->n] = nparams;
    return q->params[q->n++];
}

static const char *batch_own(batch *q, char *text)
{
    q->owned[q->nowned++] = text;
    return text;
}

static void batch_free(batch *q)
{
    for (int i = 0; i < q->n; i++)
        free(q->sql[i]);
    for (int i = 0; i < q->nowned; i++)
        free(q->owned[i]);
}

/* Upserts and deletes of rows into table. */
static void rows_add(pg_backend *pb, batch *q, const char *table, const char *column,
                     const state_row *rows, size_t n)
{
    int puts = 0, dels = 0;
    for (size_t i = 0; i < n; i++) {
        if (rows[i].value)
            puts = 1;
        else
            dels = 1;
    }
    if (puts) {
        const char **p = batch_add(
            q,
            util_printf("INSERT INTO %1$s.%2$s (environment, address, %3$s)"
                        " SELECT $1, a, v FROM unnest($2::text[], $3::text[]) AS t(a, v)"
                        " ON CONFLICT (environment, address) DO UPDATE SET %3$s = EXCLUDED.%3$s",
                        pb->ident, table, column),
            3);
        p[0] = pb->env;
        p[1] = batch_own(q, array_literal(rows, n, 0, 0));
        p[2] = batch_own(q, array_literal(rows, n, 1, 0));
    }
    if (dels) {
        const char **p = batch_add(q,
                                   util_printf("DELETE FROM %s.%s WHERE environment = $1"
                                               " AND address = ANY($2::text[])",
                                               pb->ident, table),
                                   2);
        p[0] = pb->env;
        p[1] = batch_own(q, array_literal(rows, n, 0, 1));
    }
}

/* The states row, written first so that it is locked first: it is only
 * changed when it holds the lineage and serial this run expects (a
 * concurrent committer waits for the row, then finds a new serial), and
 * RETURNING tells whether it was. */
static void meta_add(pg_backend *pb, batch *q, const state_commit *c)
{
    const char *lineage = c->new_lineage ? c->new_lineage : c->lineage;
    const char *serial = batch_own(q, util_printf("%lld", c->serial));
    const char **p;
    if (c->force || c->base_serial == 0) {
        p = batch_add(q,
                      util_printf("INSERT INTO %1$s.states (environment, format, topology, lineage,"
                                  " serial, outputs, writer)"
                                  " VALUES ($1, 1, $2, $3, $4::bigint, coalesce($5, '{}'), $6)"
                                  " ON CONFLICT (environment) DO %2$s RETURNING 1",
                                  pb->ident,
                                  c->force ? "UPDATE SET lineage = EXCLUDED.lineage, serial ="
                                             " EXCLUDED.serial, writer = EXCLUDED.writer,"
                                             " outputs = EXCLUDED.outputs"
                                           : "NOTHING"),
                      6);
        p[0] = pb->env;
        p[1] = pb->name;
        p[2] = lineage;
        p[3] = serial;
        p[4] = c->outputs;
        p[5] = c->writer;
        return;
    }
    p = batch_add(q,
                  util_printf("UPDATE %s.states SET lineage = $2, serial = $3::bigint, writer = $4,"
                              " outputs = coalesce($5, outputs) WHERE environment = $1"
                              " AND lineage = $6 AND serial = $7::bigint RETURNING 1",
                              pb->ident),
                  7);
    p[0] = pb->env;
    p[1] = lineage;
    p[2] = serial;
    p[3] = c->writer;
    p[4] = c->outputs;
    p[5] = c->lineage;
    p[6] = batch_own(q, util_printf("%lld", c->base_serial));
}

/* Sends the batch inside BEGIN; *changed is whether the first statement
 * (the states row) changed a row. The transaction is left open. */
static int batch_run(pg_backend *pb, batch *q, int *changed, char **err)
{
    int error = 0;
    *changed = 0;
    if (!pb->pq->enterPipelineMode(pb->conn))
        return fail_conn(pb, "cannot write the state", err);
    int sent = pb->pq->sendQueryParams(pb->conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
    for (int i = 0; i < q->n && sent; i++)
        sent = pb->pq->sendQueryParams(pb->conn, q->sql[i], q->nparams[i], NULL, q->params[i], NULL,
                                       NULL, 0);
    if (!sent || !pb->pq->pipelineSync(pb->conn)) {
        error = fail_conn(pb, "cannot write the state", err);
        goto out;
    }
    /* BEGIN, the statements, then the sync point. */
    for (int i = -1; i <= q->n; i++) {
        PGresult *r;
        while ((r = pb->pq->getResult(pb->conn)) != NULL) {
            ExecStatusType s = pb->pq->resultStatus(r);
            if (s == PGRES_PIPELINE_SYNC) {
                pb->pq->clear(r);
                goto out;
            }
            if (s == PGRES_FATAL_ERROR && !error) {
                error = fail_result(pb, r, "cannot write the state", err);
                continue;
            }
            if (i == 0 && s == PGRES_TUPLES_OK)
                *changed = pb->pq->ntuples(r) == 1;
            pb->pq->clear(r);
        }
    }
out:
    if (!pb->pq->exitPipelineMode(pb->conn) && !error)
        error = fail_conn(pb, "cannot write the state", err);
    return error;
}

/* After a refused commit: why, from what the store holds now. */
static int refusal_of(pg_backend *pb, const state_commit *c, char **err)
{
    PGresult *r = NULL;
    const char *params[] = {pb->env};
    char *sql = util_printf("SELECT lineage, serial, writer FROM %s.states WHERE environment = $1",
                            pb->ident);
    int error = pg_run(pb, "cannot read the state", sql, 1, params, &r, err);
    free(sql);
    if (error < 0)
        return error;
    int found = pb->pq->ntuples(r) == 1;
    const char *lineage = found ? pb->pq->getvalue(r, 0, 0) : NULL;
    long long serial = found ? strtoll(pb->pq->getvalue(r, 0, 1), NULL, 10) : 0;
    char *who = state_holder_describe(
        found && !pb->pq->getisnull(r, 0, 2) ? pb->pq->getvalue(r, 0, 2) : NULL);
    if (!found)
        *err = util_printf("state %s holds nothing any more while this run had serial %lld; "
                           "refusing to write a partial state",
                           pb->base.where, c->base_serial);
    else if (strcmp(lineage, c->lineage) != 0)
        *err = util_printf("state %s was replaced while in use: it now has lineage %s (serial "
                           "%lld, written by %s) but this run's state has lineage %s; refusing "
                           "to overwrite it",
                           pb->base.where, lineage, serial, who, c->lineage);
    else if (c->base_serial == 0)
        *err = util_printf("state %s was created by another process meanwhile (%s wrote serial "
                           "%lld); refusing to overwrite it",
                           pb->base.where, who, serial);
    else
        *err = util_printf("state %s was written by another process: %s wrote serial %lld, "
                           "this run holds serial %lld; refusing to overwrite it",
                           pb->base.where, who, serial, c->base_serial);
    free(who);
    pb->pq->clear(r);
    return INFRA_ECONFLICT;
}

static int pg_commit(state_backend *b, const state_commit *c, char **err)
{
    pg_backend *pb = (pg_backend *)b;
    int error = 0, changed = 0;
    batch q = {0};

    pthread_mutex_lock(&pb->mu);
    if ((error = pg_prepare(pb, err)) < 0)
        goto done;
    meta_add(pb, &q, c);
    if (c->replace) {
        const char **p = batch_add(
            &q, util_printf("DELETE FROM %s.resources WHERE environment = $1", pb->ident), 1);
        p[0] = pb->env;
        p = batch_add(&q, util_printf("DELETE FROM %s.intents WHERE environment = $1", pb->ident),
                      1);
        p[0] = pb->env;
    }
    rows_add(pb, &q, "resources", "entry", c->resources, c->nresources);
    rows_add(pb, &q, "intents", "intent", c->intents, c->nintents);
    error = batch_run(pb, &q, &changed, err);
    if (error < 0 || !changed) {
        rollback(pb);
        if (error == 0)
            error = refusal_of(pb, c, err);
        goto done;
    }
    error = pg_run(pb, "cannot commit", "COMMIT", 0, NULL, NULL, err);
done:
    batch_free(&q);
    pthread_mutex_unlock(&pb->mu);
    return error;
}

static void pg_free(state_backend *b)
{
    pg_backend *pb = (pg_backend *)b;
    pg_unlock(b);
    pb->pq->finish(pb->conn);
    pthread_mutex_destroy(&pb->mu);
    util_zero(pb->conninfo, strlen(pb->conninfo));
    free(pb->conninfo);
    free(pb->ssl_default);
    free(pb->schema);
    free(pb->ident);
    free(pb->name);
    free(pb->env);
    free(pb->base.where);
    free(pb);
}

/* ------------------------------------------------------------------ */
/* Opening                                                            */

static int is_local_host(const char *host)
{
    return !host || !*host || host[0] == '/' || !strcmp(host, "localhost") ||
           !strncmp(host, "127.", 4) || !strcmp(host, "::1");
}

/* host, port, dbname and sslmode of the connection string, the PG*
 * environment filling what it does not say. */
static int describe_target(pg_backend *pb, char **err)
{
    char *perr = NULL;
    PQconninfoOption *opts = pb->pq->conninfoParse(pb->conninfo, &perr);
    if (!opts) {
        /* libpq's message quotes the text, which may hold a password. */
        *err = util_strdup("not a libpq connection string (keyword=value ... or "
                           "postgresql://...)");
        if (perr)
            pb->pq->freemem(perr);
        return INFRA_EINVALID;
    }
    const char *host = NULL, *port = NULL, *db = NULL, *sslmode = NULL, *user = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        if (!strcmp(o->keyword, "host") || (!host && !strcmp(o->keyword, "hostaddr")))
            host = o->val;
        else if (!strcmp(o->keyword, "port"))
            port = o->val;
        else if (!strcmp(o->keyword, "dbname"))
            db = o->val;
        else if (!strcmp(o->keyword, "sslmode"))
            sslmode = o->val;
        else if (!strcmp(o->keyword, "user"))
            user = o->val;
        else if (!strcmp(o->keyword, "password"))
            log_add_secret(o->val); /* never printed, whatever libpq says */
    }
    if (getenv("PGPASSWORD"))
        log_add_secret(getenv("PGPASSWORD"));
    if (!host)
        host = getenv("PGHOST");
    if (!port)
        port = getenv("PGPORT");
    if (!user)
        user = getenv("PGUSER");
    if (!db)
        db = getenv("PGDATABASE");
    if (!sslmode)
        sslmode = getenv("PGSSLMODE");
    /* TLS is verified by default, except where there is no network. */
    if (!sslmode && !is_local_host(host))
        pb->ssl_default = util_strdup("verify-full");
    pb->base.where = util_printf("postgres://%s:%s/%s schema \"%s\" environment \"%s\"",
                                 host && *host ? host : "localhost", port ? port : "5432",
                                 db ? db : (user ? user : "postgres"), pb->schema, pb->env);
    pb->pq->conninfoFree(opts);
    return 0;
}

static long long key_of(const char *schema, const char *env)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char *text = util_printf("infra state lock\n%s\n%s", schema, env);
    EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL);
    free(text);
    uint64_t k = 0;
    for (int i = 0; i < 8; i++)
        k = (k << 8) | md[i];
    return (long long)(k >> 1); /* positive: easier to read in pg_locks */
}

int state_pg_open(const state_settings *s, state_backend **out, char **err)
{
    int error = 0;
    char *why = NULL;
    const char *conn_str = state_settings_string(s, "conn_str");
    const char *schema = state_settings_string(s, "schema_name");

    *out = NULL;
    /* libpq is loaded by the first postgres backend, not at program start
     * (base/lazylib.h). */
    const pq_lib *pq = pq_lib_get(&why);
    if (!pq) {
        *err = util_printf("state postgres: %s", why);
        free(why);
        return INFRA_ENOTSUP;
    }
    pg_backend *pb = util_calloc(1, sizeof(*pb));
    pb->pq = pq;
    pthread_mutex_init(&pb->mu, NULL);
    pb->base.version = STATE_BACKEND_VERSION;
    pb->base.type = "postgres";
    pb->base.load = pg_load;
    pb->base.commit = pg_commit;
    pb->base.lock = pg_lock;
    pb->base.unlock = pg_unlock;
    pb->base.break_lock = pg_break_lock;
    pb->base.free = pg_free;
    pb->conninfo = util_strdup(conn_str ? conn_str : "");
    pb->name = util_strdup(state_settings_name(s));
    pb->env = util_strdup(state_settings_env(s));
    pb->schema = util_strdup(schema ? schema : pb->name);
    if (strlen(pb->schema) > 63) {
        char *where = state_settings_where(s, "schema_name");
        *err = util_printf("%s: \"%s\" is longer than the 63 bytes of a PostgreSQL name", where,
                           pb->schema);
        free(where);
        error = INFRA_EINVALID;
        goto done;
    }
    if ((error = describe_target(pb, err)) < 0) {
        char *where = state_settings_where(s, "conn_str");
        char *msg = util_printf("%s: %s", where, *err);
        free(*err);
        *err = msg;
        free(where);
        goto done;
    }
    pb->lock_key = key_of(pb->schema, pb->env);
done:
    if (error < 0) {
        if (!pb->base.where)
            pb->base.where = util_strdup("postgres");
        pg_free(&pb->base);
        return error;
    }
    *out = &pb->base;
    return 0;
}
