/* Secrets: the infra_secret_api handed to plugins, and the process's secrets
 * store, loaded from and saved to a secrets file.
 *
 * A secrets file is a JSON object {"NAME": "value", ...}, readable only by
 * its owner (mode 0600 or stricter; anything wider is refused). Lookups by
 * name try the store first, then the environment variable
 * INFRA_SECRET_<NAME> (upper-cased, every other character than a letter or
 * digit turned into '_'). Every value handed out is registered with
 * log_add_secret, so it is masked wherever it would be printed, and every
 * copy is zeroised before its memory is freed. Thread-safe. */
#ifndef INFRA_SECRETS_H
#define INFRA_SECRETS_H

#include <infra/plugin.h>
#include <stddef.h>

/* How secrets_generate writes random bytes as text. */
typedef enum { SECRETS_HEX = 0, SECRETS_BASE64 = 1 } secrets_encoding;

/* Loads path into the store (entries with the same name are replaced).
 * 0; INFRA_ENOTFOUND when the file does not exist; INFRA_EINVALID when its
 * mode lets anyone but the owner read it, or it is not a JSON object of
 * strings. *err (caller frees) names the file and the problem, never a
 * value. */
int secrets_file_load(const char *path, char **err);

/* Writes the whole store to path atomically (temporary file with mode 0600,
 * fsync, rename, fsync of the directory). 0, or INFRA_EINVALID /
 * INFRA_EINTERNAL with *err (caller frees). */
int secrets_file_save(const char *path, char **err);

/* Binds the store to path (copied): loads it when it exists, and from then
 * on every secret a plugin generates or sets through secrets_api() is
 * written to it at once, before the plugin can hand it to a machine, so a
 * crash never loses a key that is already in use. 0, or the error of
 * secrets_file_load (a missing file is not one) with *err. NULL unbinds. */
int secrets_file_bind(const char *path, char **err);

/* The bound path (borrowed), or NULL. */
const char *secrets_file_bound(void);

/* Writes the store to the bound file now if it changed (a secret infra
 * itself generated). 0 when nothing is bound or nothing changed, or the
 * error of secrets_file_save with *err. Thread-safe. */
int secrets_file_save_bound(char **err);

/* 1 when the store changed (set or generated) since the last load or save. */
int secrets_dirty(void);

/* Stores value under name (copied; registered with log_add_secret).
 * 0, or INFRA_EINVALID for an empty name or a NULL value. */
int secrets_set(const char *name, const char *value);

/* The secret called name in the store, created there first from bytes
 * random bytes written in encoding when it is missing; a second call returns
 * the same value, and so does a later run once the store is saved and
 * loaded again. out may be NULL; otherwise the caller frees *out with
 * secrets_free. 0, or INFRA_EINVALID for an empty name or bytes outside
 * 1..1024, INFRA_EINTERNAL when the system has no randomness. */
int secrets_generate(const char *name, size_t bytes, secrets_encoding encoding, infra_secret **out);

/* Looks name up in the store, then in the environment. 0 with *out (caller
 * frees with secrets_free), or INFRA_ENOTFOUND. */
int secrets_lookup(const char *name, infra_secret **out);

/* The environment variable consulted for name ("INFRA_SECRET_DB_PASSWORD"
 * for "db-password"); caller frees. */
char *secrets_env_name(const char *name);

/* New secret holding a copy of value (registered with log_add_secret), or
 * NULL when value is NULL. Free with secrets_free. */
infra_secret *secrets_wrap(const char *value);

/* Borrowed text of a secret, valid until it is freed; NULL for NULL. */
const char *secrets_value(const infra_secret *secret);

/* Zeroises and frees a secret; NULL is ignored. */
void secrets_free(infra_secret *secret);

/* Zeroises and forgets every entry of the store. */
void secrets_clear(void);

/* The table handed to plugins (static storage). */
const infra_secret_api *secrets_api(void);

/* Test hook: called by secrets_free with the value's buffer after it has
 * been zeroised and before it is freed. NULL removes the hook. */
typedef void (*secrets_free_hook)(const char *buffer, size_t len);
void secrets_set_free_hook(secrets_free_hook hook);

#endif
