/* State: one JSON file per topology + environment.
 *
 *   DIR/NAME.ENV.json          the state (mode 0600)
 *   DIR/NAME.ENV.json.backup   the previous copy
 *   DIR/NAME.ENV.lock          lock: owner, pid, host, time (flock-held)
 *
 * Document shape (see docs/internals/state.md):
 *   { "version": 1, "serial": N, "lineage": "hex", "topology": NAME,
 *     "environment": ENV, "resources": { ADDRESS: ENTRY }, "intents": {
 *     ADDRESS: { "token": "...", "action": "create", "time": T } },
 *     "outputs": { NAME: VALUE } }
 * ENTRY is opaque to this module (the engine owns its fields).
 *
 * Writes are atomic (temp file, fsync, rename, fsync of the directory) and
 * the previous file is kept as the backup. All functions are thread-safe. */
#ifndef INFRA_STATE_H
#define INFRA_STATE_H

#include <jansson.h>

typedef struct state state;
typedef struct state_lock state_lock;

/* Opens the state for topology name + environment in dir (created 0700 if
 * missing). A missing file gives an empty state with a new lineage. A file
 * that does not parse is an error naming the file (and the backup is left
 * alone). env NULL means "default". Caller frees with state_free. */
int state_open(const char *dir, const char *name, const char *env, state **out, char **err);
void state_free(state *st);

/* Path of the state file (borrowed). */
const char *state_path(const state *st);

/* Takes the exclusive lock for this state. When another live process holds
 * it, returns INFRA_ECONFLICT and *err names owner, pid, host and since when.
 * A lock left by a dead process is taken over (a warning is logged). */
int state_lock_acquire(const char *dir, const char *name, const char *env, const char *owner,
                       state_lock **out, char **err);
void state_lock_release(state_lock *lock);

/* `infra unlock`: removes a lock file whose process is dead (or force).
 * INFRA_ECONFLICT with *err when the holder is alive and force is 0. */
int state_unlock(const char *dir, const char *name, const char *env, int force, char **err);

/* Resource entries. Getters return a new reference (json_decref it) or NULL. */
json_t *state_get(state *st, const char *address);
/* Sets (takes entry) and marks the state dirty. */
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

/* Serial and lineage of the last write/read. */
long long state_serial(state *st);
const char *state_lineage(state *st);

/* Writes the state now if dirty: serial + 1, temp, fsync, rename, fsync dir.
 * 0 or a negative INFRA_E* with *err. */
int state_write(state *st, char **err);

/* Background writer: after state_writer_start, every state_put/remove/intent
 * change is written by a writer thread as soon as possible (changes made
 * during one write are coalesced into the next). state_sync blocks until
 * every change made before the call is on disk. state_writer_stop flushes
 * and joins. Write errors are reported by state_sync and state_writer_stop. */
int state_writer_start(state *st);
int state_sync(state *st, char **err);
int state_writer_stop(state *st, char **err);

#endif
