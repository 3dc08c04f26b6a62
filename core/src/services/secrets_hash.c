/* Keyed hashes of sensitive values for the state: see secrets_hash.h. */
#include "services/secrets_hash.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "services/log.h"
#include "services/secrets.h"
#include "base/util.h"

#define KEY_BYTES 32
#define LEGACY_PREFIX "sha256:"

/* The canonical text a value is hashed as; caller zeroises and frees. */
static char *canonical_text(const json_t *value)
{
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    return text ? text : util_strdup("");
}

static void text_free(char *text)
{
    util_zero(text, strlen(text));
    free(text);
}

static char *hex_text(const char *prefix, const unsigned char *md, unsigned int len)
{
    util_buf b = {0};
    util_buf_puts(&b, prefix);
    for (unsigned int i = 0; i < len; i++)
        util_buf_printf(&b, "%02x", md[i]);
    return util_buf_take(&b);
}

/* This state's key: from the secrets store (or INFRA_SECRET_ of its name),
 * made and saved beside the state the first time. */
static infra_secret *state_key(void)
{
    infra_secret *key = NULL;
    if (secrets_lookup(SECRETS_HASH_KEY_NAME, &key) == 0)
        return key;
    if (secrets_generate(SECRETS_HASH_KEY_NAME, KEY_BYTES, SECRETS_HEX, &key) < 0)
        return NULL;
    char *err = NULL;
    if (secrets_file_save_bound(&err) < 0)
        log_msg(LOG_WARN, "%s; sensitive values will look changed on the next run",
                err ? err : "cannot save the state's hash key");
    free(err);
    return key;
}

char *secrets_hash_for_state(const json_t *value)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    infra_secret *key = state_key();
    if (!key)
        log_msg(LOG_WARN, "cannot make the state's hash key (the system gave no randomness): "
                          "sensitive values are hashed without one");
    const char *k = key ? secrets_value(key) : "";
    char *text = canonical_text(value);
    HMAC(EVP_sha256(), k, (int)strlen(k), (const unsigned char *)text, strlen(text), md, &len);
    text_free(text);
    secrets_free(key);
    return hex_text("hmac-sha256:", md, len);
}

/* 1 when legacy is "sha256:HEX" of value's canonical text. */
static int legacy_matches(const char *legacy, const json_t *value)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    char *text = canonical_text(value);
    EVP_Digest(text, strlen(text), md, &len, EVP_sha256(), NULL);
    text_free(text);
    char *hex = hex_text(LEGACY_PREFIX, md, len);
    int same = strcmp(hex, legacy) == 0;
    free(hex);
    return same;
}

json_t *secrets_hash_migrate_entry(const json_t *desired, const json_t *entry)
{
    const json_t *config = json_object_get(entry, "config");
    json_t *migrated = NULL;
    const char *key;
    json_t *stored;
    json_object_foreach((json_t *)config, key, stored) {
        const char *legacy = json_string_value(stored);
        const json_t *value = json_object_get(desired, key);
        if (!legacy || strncmp(legacy, LEGACY_PREFIX, strlen(LEGACY_PREFIX)) != 0 || !value ||
            !legacy_matches(legacy, value))
            continue;
        if (!migrated)
            migrated = json_deep_copy(entry);
        char *hash = secrets_hash_for_state(value);
        json_object_set_new(json_object_get(migrated, "config"), key, json_string(hash));
        free(hash);
    }
    return migrated;
}
