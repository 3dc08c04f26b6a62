/* Where a state is stored: one interface, several backends.
 *
 * A backend stores the state of one topology + environment and its run
 * lock. The state module (state.c) keeps the document in memory and hands
 * the backend, per commit, only the rows that changed since the previous
 * commit; a backend makes each commit atomic and refuses it when the store
 * no longer holds what this run read or last wrote (another lineage, or
 * another serial), inside the same transaction as the write.
 *
 * Like libgit2's odb and refdb backends, a backend is a struct whose first
 * member is `state_backend`, filled by its constructor; nothing outside
 * state_backend.c calls the function pointers (one door per slot: the
 * state_backend_* wrappers). In-tree backends:
 *
 *   local     SQLite file DIR/NAME.ENV.db (WAL), flock(2) lock (state_local.c)
 *   postgres  a schema per topology, advisory lock (state_pg.c)
 *   s3        one object per state, lock object made with If-None-Match
 *             (state_s3.c)
 *
 * docs/internals/state.md describes the interface for a future plugin
 * backend. */
#ifndef INFRA_STATE_BACKEND_H
#define INFRA_STATE_BACKEND_H

#include <jansson.h>
#include <signal.h>
#include <stddef.h>

#define STATE_BACKEND_VERSION 1
/* The format of the state document (its "version" member). */
#define STATE_FORMAT_VERSION 1

/* One changed row of a commit. */
typedef struct state_row {
    const char *key;   /* the resource (or intent) address */
    const char *value; /* its JSON text, or NULL: the row is deleted */
} state_row;

/* What one commit writes. Every pointer is borrowed for the call. */
typedef struct state_commit {
    const char *lineage;        /* the lineage of the state being written */
    long long base_serial;      /* the serial the store must hold now (0: nothing stored yet) */
    long long serial;           /* the serial this commit stores */
    const state_row *resources; /* changed resources, each address once */
    size_t nresources;
    const state_row *intents; /* changed intents */
    size_t nintents;
    const char *outputs;     /* JSON text of the outputs object, or NULL: unchanged */
    const char *writer;      /* JSON text naming who writes (state_holder_json) */
    int replace;             /* 1: every row not in this commit is deleted (state push) */
    int force;               /* with replace: the store's lineage and serial are not checked */
    const char *new_lineage; /* with replace: the lineage stored from now on, or NULL: lineage */
    const char *document;    /* the whole document, for backends that set whole_document */
    size_t document_len;
} state_commit;

/* What a backend loaded. */
typedef struct state_loaded {
    json_t *doc;  /* the document in the exchange format (docs/internals/state.md) */
    char *notice; /* a message to show once (a migration happened), or NULL */
} state_loaded;

typedef struct state_backend state_backend;

struct state_backend {
    unsigned int version; /* STATE_BACKEND_VERSION */
    const char *type;     /* "local", "postgres", "s3" (static text) */
    char *where;          /* where the state is, for messages: a path, "postgres ...", "s3://..." */
    int whole_document;   /* commits carry the whole document (the store keeps one object) */

    /* Reads the stored state: 0 with out->doc, or out->doc NULL when
     * nothing is stored yet. A store whose content is not a state of this
     * topology + environment is an error naming it. */
    int (*load)(state_backend *b, state_loaded *out, char **err);
    /* Writes c atomically. INFRA_ECONFLICT, with *err naming the writer
     * the store records, when it does not hold c->lineage at
     * c->base_serial (unless c->force). */
    int (*commit)(state_backend *b, const state_commit *c, char **err);
    /* Takes the run lock once (no waiting), recording holder (JSON text of
     * state_holder_json). INFRA_ECONFLICT with *err naming the holder when
     * another live process has it; a lock left by a dead process is taken
     * over with a warning. */
    int (*lock)(state_backend *b, const char *holder, char **err);
    /* Releases the lock this backend holds (nothing when it holds none). */
    void (*unlock)(state_backend *b);
    /* `infra unlock`: removes a lock whose holder is gone; a live holder is
     * INFRA_ECONFLICT naming it unless force. */
    int (*break_lock)(state_backend *b, int force, char **err);
    void (*free)(state_backend *b);
};

/* How to make a backend: the topology's `backend:` block, the command
 * line's --backend-config and where the local state goes. */
typedef struct state_backend_config {
    const char *name;             /* topology name */
    const char *env;              /* environment; NULL is "default" */
    const char *local_dir;        /* the local backend's directory (--state-dir or .infra) */
    const char *base_dir;         /* relative paths in settings are relative to this */
    const json_t *settings;       /* the `backend:` block, or NULL: local */
    const char *const *overrides; /* NULL-terminated "key=value" (--backend-config), or NULL */
    /* Where a setting is written, for error messages ("FILE:LINE:COL");
     * NULL when unknown. Caller frees. May be NULL. */
    char *(*locate)(void *ud, const char *key);
    void *locate_ud;
} state_backend_config;

/* Makes the backend the configuration names (settings checked: unknown
 * keys and wrong types are errors naming the file, line and key, or the
 * --backend-config entry). Nothing is read or locked yet. Caller frees
 * with state_backend_free. 0 or INFRA_EINVALID / INFRA_E* with *err. */
int state_backend_open(const state_backend_config *cfg, state_backend **out, char **err);
void state_backend_free(state_backend *b);

/* The backend's wrappers: see the slots above. */
int state_backend_load(state_backend *b, state_loaded *out, char **err);
int state_backend_commit(state_backend *b, const state_commit *c, char **err);
void state_backend_unlock(state_backend *b);
int state_backend_break_lock(state_backend *b, int force, char **err);

/* Takes the run lock for owner ("alice (infra up)"), waiting up to
 * timeout_ms (0: not at all) while another run holds it; the first wait
 * is announced once with the holder's details. INFRA_ECONFLICT with *err
 * naming the holder when it is still held at the deadline. */
int state_backend_lock(state_backend *b, const char *owner, long timeout_ms, char **err);
/* The same, giving up (INFRA_ECANCELLED) once *stop is set, e.g. by a
 * signal handler; stop may be NULL. */
int state_backend_lock_until(state_backend *b, const char *owner, long timeout_ms,
                             volatile sig_atomic_t *stop, char **err);

/* ------------------------------------------------------------------ */
/* For backends (state_*.c)                                           */

/* The settings of one backend after merging the block and the overrides:
 * typed getters that report where a bad value was written. */
typedef struct state_settings state_settings;

/* A string setting (borrowed), or NULL when not set. */
const char *state_settings_string(const state_settings *s, const char *key);
/* A boolean setting ("true"/"false" from the command line); dflt when not
 * set; -1 after setting *err for a value that is not a boolean. */
int state_settings_bool(const state_settings *s, const char *key, int dflt, char **err);
/* "FILE:LINE:COL: backend.KEY" or "--backend-config KEY" (caller frees). */
char *state_settings_where(const state_settings *s, const char *key);
/* The topology name and environment the backend is for (borrowed). */
const char *state_settings_name(const state_settings *s);
const char *state_settings_env(const state_settings *s);
/* A path setting made absolute against the topology's directory
 * (caller frees), or NULL when not set. */
char *state_settings_path(const state_settings *s, const char *key);

/* Constructors, called by state_backend_open with checked settings. */
int state_local_open(const char *dir, const char *name, const char *env, state_backend **out,
                     char **err);
int state_pg_open(const state_settings *s, state_backend **out, char **err);
int state_s3_open(const state_settings *s, state_backend **out, char **err);

/* Checks that doc is a state document of topology name + environment env
 * (format version, lineage, serial, member types); where names it in
 * errors. 0, INFRA_EINVALID, INFRA_ENOTSUP (a newer format) or
 * INFRA_ECONFLICT (another topology or environment) with *err. */
int state_document_check(const json_t *doc, const char *where, const char *name, const char *env,
                         char **err);

/* Rows read from a store (address, JSON text), parsed together: one
 * document is parsed about twice as fast as as many small ones. Start
 * zeroed; add the rows in order, then finish. */
typedef struct state_rows {
    char *text; /* {"ADDRESS":VALUE,...} being built */
    size_t len;
    size_t cap;
    size_t n;
    size_t *starts; /* offset of each row in text, to name a row that does not parse */
    char **keys;
} state_rows;
void state_rows_add(state_rows *r, const char *key, const char *value, size_t len);
/* *out = the object of every row added (new reference). A row that does
 * not parse is INFRA_EINVALID with *err naming where and its address.
 * Frees what r holds either way. */
int state_rows_finish(state_rows *r, const char *where, json_t **out, char **err);

/* ------------------------------------------------------------------ */
/* Holders: who runs (state_holder.c)                                 */

/* JSON text {"owner","user","host","pid","command","time","run"}: owner
 * as given (may be NULL), the user, this host, this process, its command
 * line without the values of --var and --backend-config and with
 * registered secrets masked, the time now (ISO-8601 UTC) and a random run
 * id. Caller frees. */
char *state_holder_json(const char *owner);
/* This process's command line as a lock records it: printable, without
 * the values of --var and --backend-config, registered secrets masked.
 * Caller frees. */
char *state_holder_command(void);
/* "OWNER (pid PID on HOST) since TIME" for a holder or writer record
 * (JSON text or NULL). Caller frees. */
char *state_holder_describe(const char *holder);
/* 1 when the holder ran on this host and its process no longer exists. */
int state_holder_is_dead_here(const char *holder);
/* 1 when holder and other name the same run (same run id). */
int state_holder_same_run(const char *holder, const char *other);

#endif
