/* Secrets: zeroised on free, secrets files refused unless private, lookups
 * through the store then the environment, generated secrets that persist,
 * and values masked in logs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin/host.h"
#include "services/log.h"
#include "services/secrets.h"
#include "base/util.h"

static char dir[64];

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/infra-test-secrets-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

/* Every test removes its own files, so the directory is empty by now. */
static int teardown(void **state)
{
    return rmdir(dir) == 0 ? 0 : -1;
}

static int reset(void **state)
{
    secrets_clear();
    return 0;
}

static char *path_in_dir(const char *name)
{
    return util_printf("%s/%s", dir, name);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

/* What the free hook saw: whether every byte was zero, while the buffer
 * was still allocated. */
static int hook_calls;
static int hook_all_zero;
static size_t hook_len;

static void record_free(const char *buffer, size_t len)
{
    hook_calls++;
    hook_len = len;
    hook_all_zero = 1;
    for (size_t i = 0; i <= len; i++) /* the terminator too */
        if (buffer[i] != 0)
            hook_all_zero = 0;
}

static void test_secrets_free_zeroises_the_value_before_releasing_it(void **state)
{
    hook_calls = 0;
    secrets_set_free_hook(record_free);
    const infra_secret_api *api = host_table()->secrets;
    infra_secret *s = api->wrap("correct horse battery staple");
    assert_string_equal(api->value(s), "correct horse battery staple");
    api->free(s);
    secrets_set_free_hook(NULL);

    assert_int_equal(hook_calls, 1);
    assert_int_equal(hook_len, strlen("correct horse battery staple"));
    assert_true(hook_all_zero);
    api->free(NULL);
    assert_null(api->wrap(NULL));
    assert_null(api->value(NULL));
}

static void test_secrets_file_with_mode_0644_is_refused_naming_file_and_mode(void **state)
{
    char *path = path_in_dir("open.json");
    write_file(path, "{\"db\": \"pw-should-not-load\"}", 0644);
    char *err = NULL;

    assert_int_equal(secrets_file_load(path, &err), INFRA_EINVALID);
    assert_non_null(err);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "0644"));
    assert_null(strstr(err, "pw-should-not-load"));
    free(err);

    infra_secret *s = NULL;
    assert_int_equal(secrets_lookup("db", &s), INFRA_ENOTFOUND);
    assert_null(s);

    /* Group-readable is refused too; 0600 and 0400 load. */
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(secrets_file_load(path, &err), INFRA_EINVALID);
    free(err);
    assert_int_equal(chmod(path, 0400), 0);
    assert_int_equal(secrets_file_load(path, &err), 0);
    assert_null(err);
    assert_int_equal(secrets_lookup("db", &s), 0);
    assert_string_equal(secrets_value(s), "pw-should-not-load");
    secrets_free(s);
    unlink(path);
    free(path);
}

static void test_secrets_file_errors_never_quote_the_content(void **state)
{
    char *path = path_in_dir("broken.json");
    char *err = NULL;

    write_file(path, "{\"db\": \"leaky-value-123\" oops}", 0600);
    assert_int_equal(secrets_file_load(path, &err), INFRA_EINVALID);
    assert_non_null(strstr(err, path));
    assert_null(strstr(err, "leaky-value-123"));
    free(err);

    write_file(path, "{\"db\": 42}", 0600);
    assert_int_equal(secrets_file_load(path, &err), INFRA_EINVALID);
    assert_non_null(strstr(err, "'db'"));
    free(err);

    write_file(path, "[\"leaky-value-123\"]", 0600);
    assert_int_equal(secrets_file_load(path, &err), INFRA_EINVALID);
    assert_null(strstr(err, "leaky-value-123"));
    free(err);

    char *missing = path_in_dir("missing.json");
    assert_int_equal(secrets_file_load(missing, &err), INFRA_ENOTFOUND);
    assert_non_null(strstr(err, missing));
    free(err);
    free(missing);
    unlink(path);
    free(path);
}

static void test_secrets_lookup_falls_back_to_the_environment(void **state)
{
    char *var = secrets_env_name("db-password.prod");
    assert_string_equal(var, "INFRA_SECRET_DB_PASSWORD_PROD");
    assert_int_equal(setenv(var, "from-the-environment", 1), 0);
    const infra_secret_api *api = host_table()->secrets;
    infra_call call;
    host_call_init(&call, "instance.db", "test");

    infra_secret *s = NULL;
    assert_int_equal(api->get(&call, "db-password.prod", &s), 0);
    assert_string_equal(api->value(s), "from-the-environment");
    api->free(s);

    /* The store wins over the environment. */
    assert_int_equal(secrets_set("db-password.prod", "from-the-store"), 0);
    assert_int_equal(api->get(&call, "db-password.prod", &s), 0);
    assert_string_equal(api->value(s), "from-the-store");
    api->free(s);

    assert_int_equal(api->get(&call, "no-such-secret", &s), INFRA_ENOTFOUND);
    assert_null(s);
    unsetenv(var);
    free(var);
    host_call_clear(&call);
}

static int all_hex(const char *s)
{
    for (; *s; s++)
        if (!isxdigit((unsigned char)*s))
            return 0;
    return 1;
}

static void test_secrets_generated_values_persist_across_save_and_load(void **state)
{
    char *path = path_in_dir("store.json");
    infra_secret *gossip = NULL, *token = NULL, *again = NULL;
    char *err = NULL;

    assert_int_equal(secrets_generate("nomad-gossip", 32, SECRETS_BASE64, &gossip), 0);
    assert_int_equal(strlen(secrets_value(gossip)), 44); /* base64 of 32 bytes */
    assert_int_equal(secrets_generate("consul-acl", 16, SECRETS_HEX, &token), 0);
    assert_int_equal(strlen(secrets_value(token)), 32);
    assert_true(all_hex(secrets_value(token)));
    assert_true(secrets_dirty());

    /* Asking again gives the same value, not a new one. */
    assert_int_equal(secrets_generate("nomad-gossip", 32, SECRETS_BASE64, &again), 0);
    assert_string_equal(secrets_value(again), secrets_value(gossip));
    secrets_free(again);

    assert_int_equal(secrets_file_save(path, &err), 0);
    assert_null(err);
    assert_false(secrets_dirty());
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    secrets_clear();
    assert_int_equal(secrets_lookup("nomad-gossip", &again), INFRA_ENOTFOUND);
    assert_int_equal(secrets_file_load(path, &err), 0);
    assert_int_equal(secrets_lookup("nomad-gossip", &again), 0);
    assert_string_equal(secrets_value(again), secrets_value(gossip));
    secrets_free(again);
    assert_int_equal(secrets_generate("consul-acl", 16, SECRETS_HEX, &again), 0);
    assert_string_equal(secrets_value(again), secrets_value(token));
    assert_false(secrets_dirty());
    secrets_free(again);

    /* Saving over an existing file replaces it whole. */
    assert_int_equal(secrets_set("extra", "third-value"), 0);
    assert_int_equal(secrets_file_save(path, &err), 0);
    secrets_clear();
    assert_int_equal(secrets_file_load(path, &err), 0);
    assert_int_equal(secrets_lookup("extra", &again), 0);
    assert_string_equal(secrets_value(again), "third-value");
    secrets_free(again);

    secrets_free(gossip);
    secrets_free(token);
    unlink(path);
    free(path);
}

static void test_secrets_generate_refuses_bad_arguments(void **state)
{
    infra_secret *s = (infra_secret *)&s;
    assert_int_equal(secrets_generate("", 16, SECRETS_HEX, &s), INFRA_EINVALID);
    assert_null(s);
    assert_int_equal(secrets_generate("x", 0, SECRETS_HEX, &s), INFRA_EINVALID);
    assert_int_equal(secrets_generate("x", 4096, SECRETS_HEX, &s), INFRA_EINVALID);
    assert_int_equal(secrets_generate("x", 8, SECRETS_HEX, NULL), 0);
    assert_int_equal(secrets_lookup("x", &s), 0);
    assert_int_equal(strlen(secrets_value(s)), 16);
    secrets_free(s);
    assert_int_equal(secrets_set("", "v"), INFRA_EINVALID);
    assert_int_equal(secrets_set("n", NULL), INFRA_EINVALID);
}

static void test_secrets_handed_out_are_masked_by_log_redact(void **state)
{
    char *var = secrets_env_name("api-token");
    assert_int_equal(setenv(var, "env-token-7c1d9e", 1), 0);
    infra_secret *from_env = NULL, *generated = NULL;
    assert_int_equal(secrets_lookup("api-token", &from_env), 0);
    assert_int_equal(secrets_generate("gossip", 16, SECRETS_HEX, &generated), 0);
    infra_secret *wrapped = secrets_wrap("wrapped-password-42");

    char *line = util_printf("a=%s b=%s c=%s", secrets_value(from_env), secrets_value(generated),
                             secrets_value(wrapped));
    char *clean = log_redact(line);
    assert_string_equal(clean, "a=[redacted] b=[redacted] c=[redacted]");
    free(clean);
    free(line);

    /* Values loaded from a file are masked even before anyone asks for them. */
    char *path = path_in_dir("masked.json");
    char *err = NULL;
    write_file(path, "{\"file-secret\": \"loaded-only-5e6f\"}", 0600);
    assert_int_equal(secrets_file_load(path, &err), 0);
    clean = log_redact("value loaded-only-5e6f here");
    assert_string_equal(clean, "value [redacted] here");
    free(clean);

    unlink(path);
    free(path);
    secrets_free(wrapped);
    secrets_free(generated);
    secrets_free(from_env);
    unsetenv(var);
    free(var);
}

/* A secrets file planted as a link to another file is never read (its
 * text would be loaded and, on the next save, written back). */
static void test_secrets_file_planted_as_a_link_is_refused(void **state)
{
    char *target = path_in_dir("elsewhere.json");
    char *path = path_in_dir("linked.secrets.json");
    char *err = NULL;
    write_file(target, "{\"stolen\": \"from-elsewhere-1a2b\"}", 0600);
    assert_int_equal(symlink(target, path), 0);

    assert_int_equal(secrets_file_load(path, &err), INFRA_EINVALID);
    char *expected = util_printf("cannot open secrets file %s: it is a symbolic link, which "
                                 "infra never follows in a state directory; remove it",
                                 path);
    assert_string_equal(err, expected);
    free(expected);
    free(err);
    infra_secret *s = NULL;
    assert_int_equal(secrets_lookup("stolen", &s), INFRA_ENOTFOUND);

    unlink(path);
    unlink(target);
    free(path);
    free(target);
}

static void test_secrets_bind_refuses_a_directory_others_can_write(void **state)
{
    char *open_dir = path_in_dir("open");
    char *path = util_printf("%s/app.prod.secrets.json", open_dir);
    char *err = NULL;
    assert_int_equal(mkdir(open_dir, 0700), 0);
    assert_int_equal(chmod(open_dir, 0777), 0);

    assert_int_equal(secrets_file_bind(path, &err), INFRA_EAUTH);
    char *expected = util_printf("state directory %s is writable by others (mode 0777), who "
                                 "could plant files there; run chmod o-w %s",
                                 open_dir, open_dir);
    assert_string_equal(err, expected);
    assert_null(secrets_file_bound());
    free(expected);
    free(err);

    rmdir(open_dir);
    free(path);
    free(open_dir);
}

#define SAVERS 4
#define SECRETS_PER_SAVER 25

/* One saver: makes its secrets one by one and saves the bound file after
 * each, as a plugin's call does. */
static void *make_and_save(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < SECRETS_PER_SAVER; i++) {
        char name[48];
        snprintf(name, sizeof(name), "saver-%d-secret-%d", id, i);
        infra_secret *s = NULL;
        char *err = NULL;
        if (secrets_generate(name, 16, SECRETS_HEX, &s) < 0 || secrets_file_save_bound(&err) < 0) {
            free(err);
            return (void *)1;
        }
        secrets_free(s);
    }
    return NULL;
}

/* A secret made while another thread's save is writing its snapshot must
 * still reach the file: the save it made itself may not skip it. */
static void test_secrets_made_during_a_save_reach_the_file(void **state)
{
    char *path = path_in_dir("bound.json");
    char *err = NULL;
    assert_int_equal(secrets_file_bind(path, &err), 0);

    pthread_t savers[SAVERS];
    for (int t = 0; t < SAVERS; t++)
        assert_int_equal(pthread_create(&savers[t], NULL, make_and_save, (void *)(intptr_t)t), 0);
    for (int t = 0; t < SAVERS; t++) {
        void *failed = NULL;
        assert_int_equal(pthread_join(savers[t], &failed), 0);
        assert_null(failed);
    }
    assert_false(secrets_dirty());

    secrets_clear();
    assert_int_equal(secrets_file_load(path, &err), 0);
    for (int t = 0; t < SAVERS; t++)
        for (int i = 0; i < SECRETS_PER_SAVER; i++) {
            char name[48];
            infra_secret *s = NULL;
            snprintf(name, sizeof(name), "saver-%d-secret-%d", t, i);
            if (secrets_lookup(name, &s) != 0)
                fail_msg("%s is not in the secrets file", name);
            secrets_free(s);
        }
    assert_int_equal(secrets_file_bind(NULL, &err), 0);
    unlink(path);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_secrets_free_zeroises_the_value_before_releasing_it, reset),
        cmocka_unit_test_setup(test_secrets_file_with_mode_0644_is_refused_naming_file_and_mode,
                               reset),
        cmocka_unit_test_setup(test_secrets_file_errors_never_quote_the_content, reset),
        cmocka_unit_test_setup(test_secrets_lookup_falls_back_to_the_environment, reset),
        cmocka_unit_test_setup(test_secrets_generated_values_persist_across_save_and_load, reset),
        cmocka_unit_test_setup(test_secrets_generate_refuses_bad_arguments, reset),
        cmocka_unit_test_setup(test_secrets_handed_out_are_masked_by_log_redact, reset),
        cmocka_unit_test_setup(test_secrets_file_planted_as_a_link_is_refused, reset),
        cmocka_unit_test_setup(test_secrets_bind_refuses_a_directory_others_can_write, reset),
        cmocka_unit_test_setup(test_secrets_made_during_a_save_reach_the_file, reset),
    };
    int failed = cmocka_run_group_tests(tests, setup, teardown);
    secrets_clear();
    return failed;
}
