/* The state's hash of a sensitive value: keyed with a random key kept in
 * the secrets file (so a copy of the state alone cannot be matched against
 * guesses), stable across runs, and old unkeyed hashes migrated when they
 * still match. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "services/secrets.h"
#include "services/secrets_hash.h"
#include "base/util.h"

static char dir[64];

static int setup(void **unused)
{
    snprintf(dir, sizeof(dir), "/tmp/infra-test-secrets-hash-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **unused)
{
    char *ignored = NULL;
    secrets_file_bind(NULL, &ignored);
    secrets_clear();
    return rmdir(dir);
}

/* "sha256:HEX" of text, as states were hashed before. */
static char *legacy(const char *text)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(text, strlen(text), md, &len, EVP_sha256(), NULL);
    util_buf b = {0};
    util_buf_puts(&b, "sha256:");
    for (unsigned int i = 0; i < len; i++)
        util_buf_printf(&b, "%02x", md[i]);
    return util_buf_take(&b);
}

static void test_hash_is_keyed_with_a_key_kept_in_the_secrets_file(void **unused)
{
    char *path = util_printf("%s/app.prod.secrets.json", dir);
    char *err = NULL;
    json_t *pw = json_string("hunter2");

    assert_int_equal(secrets_file_bind(path, &err), 0);
    char *first = secrets_hash_for_state(pw);
    assert_int_equal(strncmp(first, "hmac-sha256:", 12), 0);
    assert_int_equal(strlen(first), 12 + 64);
    char *unkeyed = legacy("\"hunter2\"");
    assert_string_not_equal(first + 12, unkeyed + 7);

    /* The key was written at once; the next run reads it back. */
    json_t *file = json_load_file(path, 0, NULL);
    const char *key = json_string_value(json_object_get(file, SECRETS_HASH_KEY_NAME));
    assert_non_null(key);
    assert_int_equal(strlen(key), 64);
    assert_null(strstr(first, key));
    json_decref(file);
    secrets_clear();
    assert_int_equal(secrets_file_bind(path, &err), 0);
    char *again = secrets_hash_for_state(pw);
    assert_string_equal(again, first);

    /* Another state (another key): another hash of the same value. */
    secrets_file_bind(NULL, &err);
    secrets_clear();
    unlink(path);
    assert_int_equal(secrets_file_bind(path, &err), 0);
    char *other = secrets_hash_for_state(pw);
    assert_string_not_equal(other, first);

    free(other);
    free(again);
    free(unkeyed);
    free(first);
    json_decref(pw);
    secrets_file_bind(NULL, &err);
    secrets_clear();
    unlink(path);
    free(path);
}

static void test_unkeyed_hash_that_still_matches_is_migrated(void **unused)
{
    char *old = legacy("\"hunter2\"");
    json_t *desired = json_pack("{s:s, s:s}", "password", "hunter2", "size", "small");
    json_t *entry =
        json_pack("{s:{s:s, s:s}, s:{}}", "config", "password", old, "size", "small", "attributes");

    json_t *migrated = secrets_hash_migrate_entry(desired, entry);
    assert_non_null(migrated);
    char *keyed = secrets_hash_for_state(json_object_get(desired, "password"));
    json_t *config = json_object_get(migrated, "config");
    assert_string_equal(json_string_value(json_object_get(config, "password")), keyed);
    assert_string_equal(json_string_value(json_object_get(config, "size")), "small");
    /* The entry given is left alone. */
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(entry, "config"), "password")), old);

    /* A changed value does not match: nothing to migrate, it is a change. */
    json_object_set_new(desired, "password", json_string("new-password"));
    assert_null(secrets_hash_migrate_entry(desired, entry));
    /* Nor is an entry already keyed. */
    assert_null(secrets_hash_migrate_entry(desired, migrated));

    free(keyed);
    json_decref(migrated);
    json_decref(entry);
    json_decref(desired);
    free(old);
    secrets_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_is_keyed_with_a_key_kept_in_the_secrets_file),
        cmocka_unit_test(test_unkeyed_hash_that_still_matches_is_migrated),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
