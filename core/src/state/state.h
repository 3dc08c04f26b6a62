/* State: what infra knows it made, per topology + environment.
 *
 * The document is kept in memory and committed to a backend
 * (state_backend.h): the local SQLite file DIR/NAME.ENV.db by default, or
 * PostgreSQL or S3 for teams. A commit carries only what changed since the
 * previous one (one row per resource), so a change costs the same whatever
 * the size of the state; changes made while a commit runs are grouped into
 * the next one.
 *
 * Document (the exchange format of `infra state pull/push`, see
 * docs/internals/state.md):
 *   { "version": 1, "serial": N, "lineage": "hex", "topology": NAME,
 *     "environment": ENV, "resources": { ADDRESS: ENTRY }, "intents": {
 *     ADDRESS: { "token": "...", "action": "create", "time": T } },
 *     "outputs": { NAME: VALUE } }
 * ENTRY is opaque to this module (the engine owns its fields).
 *
 * All functions are thread-safe. */
#ifndef INFRA_STATE_H
#define INFRA_STATE_H

#include <jansson.h>
#include <sys/types.h>

#include "state/state_backend.h"

typedef struct state state;
typedef struct state_lock state_lock;

/* Opens the state of topology name + environment from backend b, which
 * the state borrows (free the state first). Nothing stored gives an empty
 * state with a new lineage. A store that does not hold a state of this
 * topology and environment is an error naming it. env NULL means
 * "default". Caller frees with state_free. */
int state_open_backend(state_backend *b, const char *name, const char *env, state **out,
                       char **err);

/* The same from the local backend in dir (created 0700 if missing when
 * the state is first written), which the state owns. */
int state_open(const char *dir, const char *name, const char *env, state **out, char **err);
void state_free(state *st);

/* Where the state is stored, for messages: a path, "postgres ...",
 * "s3://..." (borrowed). */
const char *state_path(const state *st);

/* Resource entries. Getters return a new reference (json_decref it) or NULL.
 * The value is shared with the state (json_incref, not a copy): treat it as
 * read-only and json_deep_copy it to change it. Values given to the setters
 * belong to the state and must not be modified afterwards. Setting a value
 * equal to the current one is not a change. */
json_t *state_get(state *st, const char *address);
/* Sets (takes entry); NULL removes. */
void state_put(state *st, const char *address, json_t *entry);
void state_remove(state *st, const char *address);
/* New array of all resource addresses (strings), sorted. */
json_t *state_addresses(state *st);

/* Intents recorded before a create. */
json_t *state_intent_get(state *st, const char *address);
void state_intent_put(state *st, const char *address, json_t *intent);
void state_intent_remove(state *st, const char *address);
/* New array of all intent addresses. */
json_t *state_intent_addresses(state *st);

/* Outputs (takes value). */
void state_set_outputs(state *st, json_t *outputs);
/* New reference to the outputs object. */
json_t *state_get_outputs(state *st);

/* Serial and lineage of the last read or commit. */
long long state_serial(state *st);
const char *state_lineage(state *st);

/* Commits every change not yet committed (serial + 1), in the caller's
 * thread; a new state is committed even before its first change. 0 or a
 * negative INFRA_E* with *err: INFRA_ECONFLICT when the store was changed
 * by another process since this state read or wrote it (the message names
 * that writer). */
int state_write(state *st, char **err);

/* Background writer: after state_writer_start, every change is committed
 * by a writer thread as soon as possible (changes made during one commit
 * are grouped into the next). state_sync blocks until every change made
 * before the call is committed. state_writer_stop commits what is left and
 * joins. Errors are reported by state_sync and state_writer_stop. */
int state_writer_start(state *st);
int state_sync(state *st, char **err);
int state_writer_stop(state *st, char **err);

/* Commits made since state_open. With the background writer it is much
 * smaller than the number of changes when many threads sync at once
 * (group commit). */
unsigned long state_write_count(state *st);

/* The whole document in the exchange format, with its current serial
 * (`infra state pull`). New reference. */
json_t *state_export(state *st);

/* Replaces everything by doc, a document in the exchange format of this
 * topology and environment (`infra state push`), in one commit; source
 * names it in messages. Refused with INFRA_ECONFLICT when doc has another
 * lineage, an older serial, or the same serial with other content, unless
 * force. The stored serial becomes the greater of doc's and the current
 * one + 1; with force, doc's lineage becomes the state's. doc is copied. */
int state_import(state *st, const json_t *doc, const char *source, int force, char **err);

/* ------------------------------------------------------------------ */
/* The local run lock (state_lock.c): DIR/NAME.ENV.lock, flock-held      */

/* Takes the exclusive lock for this state. When another live process holds
 * it, returns INFRA_ECONFLICT and *err names owner, pid, host and since when.
 * A lock left by a dead process is taken over (a warning is logged). */
int state_lock_acquire(const char *dir, const char *name, const char *env, const char *owner,
                       state_lock **out, char **err);
void state_lock_release(state_lock *lock);

/* `infra unlock`: removes a lock file whose process is dead (or force).
 * INFRA_ECONFLICT with *err when the holder is alive and force is 0. */
int state_unlock(const char *dir, const char *name, const char *env, int force, char **err);

/* ------------------------------------------------------------------ */
/* Shared by state_*.c (not for other modules)                        */

/* Creates dir and its missing parents with mode 0700. 0 or
 * INFRA_EINTERNAL with *err naming the directory. */
int state_dir_create(const char *dir, char **err);

/* *out = "DIR/NAME.ENV" + suffix (caller frees). INFRA_EINVALID with *err
 * when name or env cannot be part of a file name. env NULL is "default". */
int state_file_name(const char *dir, const char *name, const char *env, const char *suffix,
                    char **out, char **err);

/* Parses the JSON file at path into *out (NULL when the file does not
 * exist). A file that does not parse is INFRA_EINVALID with *err naming
 * the file, line, column and, when given and present, the backup. With
 * private_file, a file readable by others is made 0600 (with a warning). */
int state_file_read(const char *path, const char *backup, int private_file, json_t **out,
                    char **err);

/* For tests: hook called after each step of a local commit ("begun",
 * "rows-written", "committed"). NULL removes it. */
void state_test_set_crash_hook(void (*hook)(const char *step));

#endif
