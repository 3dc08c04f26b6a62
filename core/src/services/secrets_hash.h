/* What the state records of a sensitive value: a keyed hash, so that a
 * change is seen without the value being kept.
 *
 * The key is a per-state random secret kept in the secrets file beside the
 * state (NAME.ENV.secrets.json, never in the state), made on first use: an
 * unsalted hash of a password could be guessed offline from a copy of the
 * state; this one needs the key too. */
#ifndef INFRA_SECRETS_HASH_H
#define INFRA_SECRETS_HASH_H

#include <jansson.h>

/* The name the key is kept under in the secrets store. */
#define SECRETS_HASH_KEY_NAME "infra.state-hash-key"

/* "hmac-sha256:HEX" of value (its compact JSON text, keys sorted) keyed
 * with this state's key, made and written to the bound secrets file when
 * missing. New string; caller frees. Thread-safe. */
char *secrets_hash_for_state(const json_t *value);

/* States written before the keyed hash hold "sha256:HEX" (unkeyed). When
 * entry's config holds such a hash that matches the value desired has for
 * the same key, returns a new copy of entry with each of them replaced by
 * secrets_hash_for_state of that value, so the value compares equal and
 * the state is rewritten keyed; NULL when there is nothing to migrate. */
json_t *secrets_hash_migrate_entry(const json_t *desired, const json_t *entry);

#endif
