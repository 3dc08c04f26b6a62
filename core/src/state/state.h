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
#include <sys/types.h>
#include <time.h>

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

/* Resource entries. Getters return a new reference (json_decref it) or NULL.
 * The value is shared with the state (json_incref, not a copy): treat it as
 * read-only and json_deep_copy it to change it. Values given to the setters
 * belong to the state and must not be modified afterwards. Setting a value
 * equal to the current one is not a change. */
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

/* Number of file writes completed since state_open. With the background
 * writer it is much smaller than the number of changes when many threads
 * sync at once (group commit). */
unsigned long state_write_count(state *st);

/* ------------------------------------------------------------------ */
/* Shared by state_*.c (not for other modules)                        */

/* Creates dir and its missing parents with mode 0700. 0 or
 * INFRA_EINTERNAL with *err naming the directory. */
int state_dir_create(const char *dir, char **err);

/* *out = "DIR/NAME.ENV" + suffix (caller frees). INFRA_EINVALID with *err
 * when name or env cannot be part of a file name. env NULL is "default". */
int state_file_name(const char *dir, const char *name, const char *env, const char *suffix,
                    char **out, char **err);

/* What a file was when last read or written, to notice another writer. */
typedef struct state_file_id {
    int present;           /* 0: the file did not exist */
    dev_t dev;             /* device of the inode */
    ino_t ino;             /* inode number */
    off_t size;            /* size in bytes */
    struct timespec mtime; /* last modification */
} state_file_id;

/* Fills id for path (present 0 when missing). 0 or INFRA_EINTERNAL. */
int state_file_stat(const char *path, state_file_id *id, char **err);
/* 1 when a and b describe the same file contents. */
int state_file_same(const state_file_id *a, const state_file_id *b);

/* Replaces path by data atomically: PATH.tmp written 0600 and fsynced, the
 * current file hard-linked to backup, rename over path, fsync of the
 * directory. On failure path is untouched and *err names the file and the
 * errno text. *written (may be NULL) receives the new file's identity as
 * soon as it is in place, even if the directory sync then fails. */
int state_file_replace(const char *path, const char *backup, const char *data, size_t len,
                       state_file_id *written, char **err);

/* Parses path into *out (NULL when the file does not exist). A file that
 * does not parse is INFRA_EINVALID with *err naming the file, line, column
 * and the backup. *id (may be NULL) receives the identity read. */
int state_file_read(const char *path, const char *backup, json_t **out, state_file_id *id,
                    char **err);

/* For tests: hook called after each step of state_file_replace with
 * "temp-written", "temp-synced", "backup-linked", "renamed", "dir-synced".
 * NULL removes it. */
void state_test_set_crash_hook(void (*hook)(const char *step));

#endif
