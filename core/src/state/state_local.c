/* The local backend: the state in a SQLite file beside the topology.
 *
 *   DIR/NAME.ENV.db        the state (mode 0600; -wal and -shm beside it)
 *   DIR/NAME.ENV.lock      the run lock (state_lock.c)
 *
 * Tables: meta (one row: format, topology, environment, lineage, serial,
 * outputs, writer), resources (address, entry; rowid order is the order
 * first put) and intents (address, intent). The database is in WAL mode
 * with synchronous=FULL: a commit is durable when it returns, and a crash
 * at any moment leaves the last commit.
 *
 * A commit runs in one BEGIN IMMEDIATE transaction: SQLite's write lock is
 * taken first, then the file at the path is checked to be the one this
 * connection has open (SQLITE_FCNTL_HAS_MOVED: a file put in its place is
 * another state) and meta is checked to hold the lineage and serial this
 * run read or last wrote, so no other writer can slip in between the check
 * and the write.
 *
 * A state kept as JSON by earlier versions (NAME.ENV.json) is migrated on
 * first use: imported in one transaction, then the file is renamed
 * NAME.ENV.json.migrated. */
#define _GNU_SOURCE
#include "state/state.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "infra/plugin.h"
#include "services/log.h"
#include "base/util.h"

#define LOCAL_BUSY_TIMEOUT_MS 30000
#define LOCAL_SCHEMA_VERSION 1

typedef struct local_backend {
    state_backend base;
    char *dir;
    char *name;
    char *env;
    char *json_path;    /* NAME.ENV.json of earlier versions */
    pthread_mutex_t mu; /* guards db and the statements */
    sqlite3 *db;        /* opened on first use */
    sqlite3_stmt *put_resource;
    sqlite3_stmt *del_resource;
    sqlite3_stmt *put_intent;
    sqlite3_stmt *del_intent;
    sqlite3_stmt *get_meta;
    sqlite3_stmt *put_meta;
    state_lock *lock;
} local_backend;

static void (*crash_hook)(const char *step);

void state_test_set_crash_hook(void (*hook)(const char *step))
{
    crash_hook = hook;
}

static void step_done(const char *step)
{
    if (crash_hook)
        crash_hook(step);
}

/* ------------------------------------------------------------------ */
/* The database                                                       */

static int db_error(local_backend *lb, const char *what, char **err)
{
    int code = lb->db ? sqlite3_errcode(lb->db) : SQLITE_CANTOPEN;
    const char *text = lb->db ? sqlite3_errmsg(lb->db) : "cannot open";
    if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT)
        *err = util_printf("state file %s is not a readable state database (%s); it was left "
                           "untouched",
                           lb->base.where, text);
    else
        *err = util_printf("state %s: %s: %s", lb->base.where, what, text);
    return code == SQLITE_BUSY ? INFRA_ETRANSIENT : INFRA_EINTERNAL;
}

static int exec(local_backend *lb, const char *sql, char **err)
{
    if (sqlite3_exec(lb->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_error(lb, sql, err);
    return 0;
}

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta ("
    " id INTEGER PRIMARY KEY CHECK (id = 1), format INTEGER NOT NULL, topology TEXT NOT NULL,"
    " environment TEXT NOT NULL, lineage TEXT NOT NULL, serial INTEGER NOT NULL,"
    " outputs TEXT NOT NULL, writer TEXT);"
    "CREATE TABLE IF NOT EXISTS resources (address TEXT PRIMARY KEY, entry TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS intents (address TEXT PRIMARY KEY, intent TEXT NOT NULL);"
    "PRAGMA user_version = 1;";

static int prepare(local_backend *lb, const char *sql, sqlite3_stmt **out, char **err)
{
    if (sqlite3_prepare_v3(lb->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) != SQLITE_OK)
        return db_error(lb, "cannot prepare a statement", err);
    return 0;
}

static void finalize_all(local_backend *lb)
{
    sqlite3_stmt **all[] = {&lb->put_resource, &lb->del_resource, &lb->put_intent,
                            &lb->del_intent,   &lb->get_meta,     &lb->put_meta};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        sqlite3_finalize(*all[i]);
        *all[i] = NULL;
    }
}

/* Opens the database; with create, makes the file (0600) and the tables
 * when missing. *absent is set when the file does not exist and create is
 * 0. Caller holds mu. */
static int db_open(local_backend *lb, int create, int *absent, char **err)
{
    int error = 0;
    struct stat sb;

    if (absent)
        *absent = 0;
    if (lb->db)
        return 0;
    if (stat(lb->base.where, &sb) < 0) {
        if (errno != ENOENT) {
            *err = util_printf("cannot read state %s: %s", lb->base.where, strerror(errno));
            return INFRA_EINTERNAL;
        }
        if (!create) {
            if (absent)
                *absent = 1;
            return 0;
        }
        if ((error = state_dir_create(lb->dir, err)) < 0)
            return error;
        /* Made by hand so that it is private from the first byte; SQLite
         * gives its -wal and -shm files the mode of the database. */
        int fd = open(lb->base.where, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 || fchmod(fd, 0600) < 0) {
            *err = util_printf("cannot create state %s: %s", lb->base.where, strerror(errno));
            if (fd >= 0)
                close(fd);
            return INFRA_EINTERNAL;
        }
        close(fd);
    } else if (sb.st_mode & 077) {
        if (chmod(lb->base.where, 0600) == 0)
            log_msg(LOG_WARN, "state file %s was readable by others (mode %03o); it is now 0600",
                    lb->base.where, (unsigned)(sb.st_mode & 0777));
    }
    if (sqlite3_open_v2(lb->base.where, &lb->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW,
                        NULL) != SQLITE_OK) {
        error = db_error(lb, "cannot open", err);
        goto done;
    }
    sqlite3_busy_timeout(lb->db, LOCAL_BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(lb->db, 0);
    if ((error = exec(lb, "PRAGMA journal_mode = WAL", err)) < 0 ||
        (error = exec(lb, "PRAGMA synchronous = FULL", err)) < 0 ||
        (error = exec(lb, schema_sql, err)) < 0)
        goto done;
    if ((error = prepare(lb,
                         "INSERT INTO resources (address, entry) VALUES (?1, ?2)"
                         " ON CONFLICT (address) DO UPDATE SET entry = excluded.entry",
                         &lb->put_resource, err)) < 0 ||
        (error = prepare(lb, "DELETE FROM resources WHERE address = ?1", &lb->del_resource, err)) <
            0 ||
        (error = prepare(lb,
                         "INSERT INTO intents (address, intent) VALUES (?1, ?2)"
                         " ON CONFLICT (address) DO UPDATE SET intent = excluded.intent",
                         &lb->put_intent, err)) < 0 ||
        (error = prepare(lb, "DELETE FROM intents WHERE address = ?1", &lb->del_intent, err)) < 0 ||
        (error = prepare(lb,
                         "SELECT topology, environment, lineage, serial, outputs, writer"
                         " FROM meta WHERE id = 1",
                         &lb->get_meta, err)) < 0 ||
        (error = prepare(lb,
                         "INSERT INTO meta (id, format, topology, environment, lineage, serial,"
                         " outputs, writer) VALUES (1, 1, ?1, ?2, ?3, ?4, coalesce(?5, '{}'), ?6)"
                         " ON CONFLICT (id) DO UPDATE SET lineage = excluded.lineage,"
                         " serial = excluded.serial, writer = excluded.writer,"
                         " outputs = coalesce(?5, outputs)",
                         &lb->put_meta, err)) < 0)
        goto done;
done:
    if (error < 0) {
        finalize_all(lb);
        sqlite3_close(lb->db);
        lb->db = NULL;
    }
    return error;
}

static const char *column_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

/* The meta row: 1 with the fields, 0 when there is none. */
typedef struct local_meta {
    char *topology;
    char *environment;
    char *lineage;
    long long serial;
    char *outputs;
    char *writer;
} local_meta;

static void meta_free(local_meta *m)
{
    free(m->topology);
    free(m->environment);
    free(m->lineage);
    free(m->outputs);
    free(m->writer);
    memset(m, 0, sizeof(*m));
}

static int meta_read(local_backend *lb, local_meta *m, char **err)
{
    sqlite3_stmt *s = lb->get_meta;
    int found = 0;
    memset(m, 0, sizeof(*m));
    sqlite3_reset(s);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        m->topology = util_strdup(column_text(s, 0));
        m->environment = util_strdup(column_text(s, 1));
        m->lineage = util_strdup(column_text(s, 2));
        m->serial = sqlite3_column_int64(s, 3);
        m->outputs = util_strdup(column_text(s, 4));
        m->writer =
            sqlite3_column_type(s, 5) == SQLITE_NULL ? NULL : util_strdup(column_text(s, 5));
        found = 1;
    } else if (rc != SQLITE_DONE) {
        sqlite3_reset(s);
        return db_error(lb, "cannot read the state", err);
    }
    sqlite3_reset(s);
    return found;
}

/* Rows of table (address, JSON text) into *out, in rowid order. */
static int rows_read(local_backend *lb, const char *sql, json_t **out, char **err)
{
    sqlite3_stmt *s = NULL;
    state_rows rows = {0};
    int rc;
    *out = NULL;
    if (sqlite3_prepare_v2(lb->db, sql, -1, &s, NULL) != SQLITE_OK)
        return db_error(lb, "cannot read the state", err);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_blob(s, 1);
        state_rows_add(&rows, column_text(s, 0), text ? text : "null",
                       text ? (size_t)sqlite3_column_bytes(s, 1) : 4);
    }
    if (rc != SQLITE_DONE) {
        int error = db_error(lb, "cannot read the state", err);
        json_t *ignored = NULL;
        char *msg = NULL;
        state_rows_finish(&rows, lb->base.where, &ignored, &msg);
        json_decref(ignored);
        free(msg);
        sqlite3_finalize(s);
        return error;
    }
    sqlite3_finalize(s);
    return state_rows_finish(&rows, lb->base.where, out, err);
}

/* ------------------------------------------------------------------ */
/* Loading and migrating                                              */

static int read_stored(local_backend *lb, const local_meta *m, json_t **out, char **err)
{
    int error = 0;
    json_t *resources = NULL, *intents = NULL;
    json_t *outputs = json_loads(m->outputs, 0, NULL);

    *out = NULL;
    if ((error = exec(lb, "BEGIN", err)) < 0)
        goto done;
    error = rows_read(lb, "SELECT address, entry FROM resources ORDER BY rowid", &resources, err);
    if (!error)
        error = rows_read(lb, "SELECT address, intent FROM intents ORDER BY rowid", &intents, err);
    exec(lb, "COMMIT", err);
    if (error < 0)
        goto done;
    *out =
        json_pack("{s:i, s:I, s:s, s:s, s:s, s:O, s:O, s:o}", "version", STATE_FORMAT_VERSION,
                  "serial", (json_int_t)m->serial, "lineage", m->lineage, "topology", m->topology,
                  "environment", m->environment, "resources", resources, "intents", intents,
                  "outputs", json_is_object(outputs) ? json_incref(outputs) : json_object());
done:
    json_decref(resources);
    json_decref(intents);
    json_decref(outputs);
    return error;
}

/* Writes doc as the whole state, inside the caller's transaction. */
static int write_document(local_backend *lb, const json_t *doc, const char *writer, char **err);

/* The JSON file of an earlier version, migrated: imported in one
 * transaction (unless another process did it first), then renamed. */
static int migrate(local_backend *lb, state_loaded *out, char **err)
{
    int error = 0;
    json_t *doc = NULL;
    local_meta m = {0};
    char *backup = util_printf("%s.backup", lb->json_path);
    char *migrated = util_printf("%s.migrated", lb->json_path);
    char *writer = state_holder_json("infra (migration)");

    if ((error = state_file_read(lb->json_path, backup, 1, &doc, err)) < 0 || !doc)
        goto done;
    if ((error = state_document_check(doc, lb->json_path, lb->name, lb->env, err)) < 0)
        goto done;
    if ((error = db_open(lb, 1, NULL, err)) < 0 || (error = exec(lb, "BEGIN IMMEDIATE", err)) < 0)
        goto done;
    int found = meta_read(lb, &m, err);
    if (found < 0) {
        error = found;
        exec(lb, "ROLLBACK", err);
        goto done;
    }
    if (!found && (error = write_document(lb, doc, writer, err)) < 0) {
        exec(lb, "ROLLBACK", err);
        goto done;
    }
    if ((error = exec(lb, "COMMIT", err)) < 0)
        goto done;
    if (rename(lb->json_path, migrated) < 0 && errno != ENOENT)
        log_msg(LOG_WARN, "state %s was migrated into %s but cannot be renamed %s: %s",
                lb->json_path, lb->base.where, migrated, strerror(errno));
    else
        out->notice = util_printf("migrated the state %s into %s; the JSON file is kept as %s",
                                  lb->json_path, lb->base.where, migrated);
    if (found) {
        json_decref(doc);
        doc = NULL;
        error = read_stored(lb, &m, &doc, err);
    }
    out->doc = doc;
    doc = NULL;
done:
    meta_free(&m);
    json_decref(doc);
    free(backup);
    free(migrated);
    free(writer);
    return error;
}

static int local_load(state_backend *b, state_loaded *out, char **err)
{
    local_backend *lb = (local_backend *)b;
    int error = 0, absent = 0, found = 0;
    local_meta m = {0};

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&lb->mu);
    if ((error = db_open(lb, 0, &absent, err)) < 0)
        goto done;
    if (!absent && (found = meta_read(lb, &m, err)) < 0) {
        error = found;
        goto done;
    }
    if (found) {
        error = read_stored(lb, &m, &out->doc, err);
        if (!error && access(lb->json_path, F_OK) == 0)
            log_msg(LOG_WARN,
                    "state %s is in %s; the JSON file %s beside it is not read (an "
                    "earlier version wrote it after the migration?)",
                    lb->name, lb->base.where, lb->json_path);
    } else if (access(lb->json_path, F_OK) == 0) {
        error = migrate(lb, out, err);
    }
done:
    meta_free(&m);
    pthread_mutex_unlock(&lb->mu);
    return error;
}

/* ------------------------------------------------------------------ */
/* Commits                                                            */

static int row_step(local_backend *lb, sqlite3_stmt *s, const char *key, const char *value,
                    char **err)
{
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    if (value)
        sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_DONE)
        return db_error(lb, "cannot write the state", err);
    return 0;
}

static int rows_write(local_backend *lb, const state_row *rows, size_t n, sqlite3_stmt *put,
                      sqlite3_stmt *del, char **err)
{
    int error = 0;
    for (size_t i = 0; i < n && !error; i++)
        error = row_step(lb, rows[i].value ? put : del, rows[i].key, rows[i].value, err);
    return error;
}

static int meta_write(local_backend *lb, const char *lineage, long long serial, const char *outputs,
                      const char *writer, char **err)
{
    sqlite3_stmt *s = lb->put_meta;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    sqlite3_bind_text(s, 1, lb->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, lb->env, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, lineage, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, serial);
    if (outputs)
        sqlite3_bind_text(s, 5, outputs, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, writer, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return db_error(lb, "cannot write the state", err);
    return 0;
}

static int write_document(local_backend *lb, const json_t *doc, const char *writer, char **err)
{
    int error = 0;
    const char *key;
    json_t *value;
    json_t *outputs = json_object_get(doc, "outputs");
    char *outputs_text = json_dumps(outputs ? outputs : json_object(), JSON_COMPACT);

    json_object_foreach((json_t *)json_object_get(doc, "resources"), key, value) {
        char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
        error = row_step(lb, lb->put_resource, key, text ? text : "null", err);
        free(text);
        if (error < 0)
            goto done;
    }
    json_object_foreach((json_t *)json_object_get(doc, "intents"), key, value) {
        char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
        error = row_step(lb, lb->put_intent, key, text ? text : "null", err);
        free(text);
        if (error < 0)
            goto done;
    }
    error = meta_write(lb, json_string_value(json_object_get(doc, "lineage")),
                       (long long)json_integer_value(json_object_get(doc, "serial")), outputs_text,
                       writer, err);
done:
    free(outputs_text);
    return error;
}

/* Inside the transaction: the store must hold what the commit expects. */
static int check_store(local_backend *lb, const state_commit *c, char **err)
{
    int moved = 0;
    local_meta m = {0};
    int error = 0;

    sqlite3_file_control(lb->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved);
    if (moved) {
        /* What is there now is not read: the -wal file beside it is ours.
         * SQLite leaves a moved database's WAL in place on close, where the
         * new file would read our pages as its own: it is emptied into our
         * (unlinked) file instead. */
        sqlite3_exec(lb->db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_exec(lb->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
        *err = util_printf("state file %s was replaced or removed while in use; this run's "
                           "state has lineage %s serial %lld; refusing to write (to replace a "
                           "state, use infra state push)",
                           lb->base.where, c->lineage, c->base_serial);
        return INFRA_ECONFLICT;
    }
    int found = meta_read(lb, &m, err);
    if (found < 0)
        return found;
    if (c->force)
        goto done;
    if (!found && c->base_serial != 0) {
        *err = util_printf("state %s holds nothing any more while this run had serial %lld; "
                           "refusing to write a partial state",
                           lb->base.where, c->base_serial);
        error = INFRA_ECONFLICT;
    } else if (found && strcmp(m.lineage, c->lineage) != 0) {
        char *who = state_holder_describe(m.writer);
        *err = util_printf("state %s was replaced while in use: it now has lineage %s (serial "
                           "%lld, written by %s) but this run's state has lineage %s; refusing "
                           "to overwrite it",
                           lb->base.where, m.lineage, m.serial, who, c->lineage);
        free(who);
        error = INFRA_ECONFLICT;
    } else if (found && m.serial != c->base_serial) {
        char *who = state_holder_describe(m.writer);
        *err = util_printf("state %s was written by another process: %s wrote serial %lld, "
                           "this run holds serial %lld; refusing to overwrite it",
                           lb->base.where, who, m.serial, c->base_serial);
        free(who);
        error = INFRA_ECONFLICT;
    }
done:
    meta_free(&m);
    return error;
}

static int local_commit(state_backend *b, const state_commit *c, char **err)
{
    local_backend *lb = (local_backend *)b;
    int error = 0;

    pthread_mutex_lock(&lb->mu);
    if ((error = db_open(lb, 1, NULL, err)) < 0)
        goto done;
    if ((error = exec(lb, "BEGIN IMMEDIATE", err)) < 0)
        goto done;
    if ((error = check_store(lb, c, err)) < 0)
        goto rollback;
    step_done("begun");
    if (c->replace && ((error = exec(lb, "DELETE FROM resources", err)) < 0 ||
                       (error = exec(lb, "DELETE FROM intents", err)) < 0))
        goto rollback;
    if ((error = rows_write(lb, c->resources, c->nresources, lb->put_resource, lb->del_resource,
                            err)) < 0 ||
        (error = rows_write(lb, c->intents, c->nintents, lb->put_intent, lb->del_intent, err)) <
            0 ||
        (error = meta_write(lb, c->new_lineage ? c->new_lineage : c->lineage, c->serial, c->outputs,
                            c->writer, err)) < 0)
        goto rollback;
    step_done("rows-written");
    if ((error = exec(lb, "COMMIT", err)) < 0)
        goto rollback;
    step_done("committed");
    goto done;
rollback:
    sqlite3_exec(lb->db, "ROLLBACK", NULL, NULL, NULL);
done:
    pthread_mutex_unlock(&lb->mu);
    return error;
}

/* ------------------------------------------------------------------ */
/* Lock                                                               */

static int local_lock(state_backend *b, const char *holder, char **err)
{
    local_backend *lb = (local_backend *)b;
    json_t *doc = json_loads(holder, 0, NULL);
    const char *owner = json_string_value(json_object_get(doc, "owner"));
    int error = 0;
    if (!lb->lock)
        error = state_lock_acquire(lb->dir, lb->name, lb->env, owner, &lb->lock, err);
    json_decref(doc);
    return error;
}

static void local_unlock(state_backend *b)
{
    local_backend *lb = (local_backend *)b;
    state_lock_release(lb->lock);
    lb->lock = NULL;
}

static int local_break_lock(state_backend *b, int force, char **err)
{
    local_backend *lb = (local_backend *)b;
    return state_unlock(lb->dir, lb->name, lb->env, force, err);
}

static void local_free(state_backend *b)
{
    local_backend *lb = (local_backend *)b;
    local_unlock(b);
    finalize_all(lb);
    sqlite3_close(lb->db);
    pthread_mutex_destroy(&lb->mu);
    free(lb->base.where);
    free(lb->dir);
    free(lb->name);
    free(lb->env);
    free(lb->json_path);
    free(lb);
}

int state_local_open(const char *dir, const char *name, const char *env, state_backend **out,
                     char **err)
{
    int error = 0;
    local_backend *lb = util_calloc(1, sizeof(*lb));

    *out = NULL;
    pthread_mutex_init(&lb->mu, NULL);
    lb->base.version = STATE_BACKEND_VERSION;
    lb->base.type = "local";
    lb->base.load = local_load;
    lb->base.commit = local_commit;
    lb->base.lock = local_lock;
    lb->base.unlock = local_unlock;
    lb->base.break_lock = local_break_lock;
    lb->base.free = local_free;
    lb->dir = util_strdup(dir);
    lb->name = util_strdup(name ? name : "");
    lb->env = util_strdup(env ? env : "default");
    if ((error = state_file_name(dir, lb->name, lb->env, ".db", &lb->base.where, err)) < 0 ||
        (error = state_file_name(dir, lb->name, lb->env, ".json", &lb->json_path, err)) < 0) {
        local_free(&lb->base);
        return error;
    }
    *out = &lb->base;
    return 0;
}
