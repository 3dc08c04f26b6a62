/* What the state tests share: temporary directories, and the backend they
 * run on. INFRA_TEST_STATE_BACKEND chooses it: "local" (the default, in a
 * temporary directory), "postgres" (libpq's PG* environment names the
 * server; each temporary directory becomes its own schema) or "s3" (the
 * AWS_* environment names the endpoint and keys, INFRA_TEST_S3_BUCKET the
 * bucket; each temporary directory becomes its own key). tests/state/
 * runs the same tests against a real PostgreSQL and the AWS emulator.
 *
 * Include after cmocka.h, in one test file per executable. */
#ifndef STATE_TEST_H
#define STATE_TEST_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "infra/plugin.h"
#include "services/http.h"
#include "state/state.h"
#include "base/util.h"

static inline const char *test_backend(void)
{
    const char *b = getenv("INFRA_TEST_STATE_BACKEND");
    return b && *b ? b : "local";
}

static inline int test_backend_is_local(void)
{
    return strcmp(test_backend(), "local") == 0;
}

/* In a child made by fork: HTTP connections pooled by the parent are not
 * the child's to use (both would read the same socket). */
static inline void test_after_fork(void)
{
    http_shutdown();
}

static inline char *make_tmpdir(void)
{
    char *dir = util_strdup("/tmp/infra-test-state-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return dir;
}

static inline int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void remove_tree(char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

/* The backend of the store that dir stands for. */
static inline int test_backend_open(const char *dir, const char *name, const char *env,
                                    state_backend **out, char **err)
{
    if (test_backend_is_local())
        return state_local_open(dir, name, env, out, err);
    /* "/tmp/infra-test-state-AbC123" -> a name unique to this directory. */
    const char *base = strrchr(dir, '/');
    base = base ? base + 1 : dir;
    util_buf id = {0};
    for (const char *c = base; *c; c++)
        util_buf_printf(&id, "%c",
                        (*c >= 'A' && *c <= 'Z')                               ? *c - 'A' + 'a'
                        : (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ? *c
                                                                               : '_');
    json_t *settings;
    if (!strcmp(test_backend(), "postgres")) {
        settings = json_pack("{s:s, s:s}", "type", "postgres", "schema_name", id.data);
    } else {
        const char *bucket = getenv("INFRA_TEST_S3_BUCKET");
        char *key = util_printf("%s/state.json", id.data);
        settings = json_pack("{s:s, s:s, s:s, s:s}", "type", "s3", "bucket",
                             bucket ? bucket : "infra-test", "key", key, "region", "us-east-1");
        free(key);
    }
    state_backend_config cfg = {.name = name, .env = env, .local_dir = dir, .settings = settings};
    int error = state_backend_open(&cfg, out, err);
    json_decref(settings);
    util_buf_free(&id);
    return error;
}

/* States opened by open_state, with the backend each owns. */
static struct {
    state *st;
    state_backend *b;
} test_opened[64];

static inline int open_state(const char *dir, const char *name, const char *env, state **out,
                             char **err)
{
    state_backend *b = NULL;
    int error;
    *out = NULL;
    if ((error = test_backend_open(dir, name, env, &b, err)) < 0)
        return error;
    if ((error = state_open_backend(b, name, env, out, err)) < 0) {
        state_backend_free(b);
        return error;
    }
    for (size_t i = 0; i < sizeof(test_opened) / sizeof(test_opened[0]); i++) {
        if (!test_opened[i].st) {
            test_opened[i].st = *out;
            test_opened[i].b = b;
            return 0;
        }
    }
    fail_msg("too many open states");
    return -1;
}

/* Frees st and the backend open_state made for it. */
static inline void close_state(state *st)
{
    state_backend *b = NULL;
    for (size_t i = 0; st && i < sizeof(test_opened) / sizeof(test_opened[0]); i++) {
        if (test_opened[i].st == st) {
            b = test_opened[i].b;
            test_opened[i].st = NULL;
            test_opened[i].b = NULL;
        }
    }
    state_free(st);
    state_backend_free(b);
}

static inline state *open_ok(const char *dir, const char *name, const char *env)
{
    state *st = NULL;
    char *err = NULL;
    if (open_state(dir, name, env, &st, &err) < 0)
        fail_msg("opening the state: %s", err);
    assert_non_null(st);
    return st;
}

static inline void write_ok(state *st)
{
    char *err = NULL;
    if (state_write(st, &err) < 0)
        fail_msg("state_write: %s", err);
}

/* The serial the store holds now, read by a handle of its own. */
static inline long long stored_serial(const char *dir, const char *name, const char *env)
{
    state *st = open_ok(dir, name, env);
    long long serial = state_serial(st);
    close_state(st);
    return serial;
}

/* The resources the store holds now (new reference). */
static inline json_t *stored_resources(const char *dir, const char *name, const char *env)
{
    state *st = open_ok(dir, name, env);
    json_t *doc = state_export(st);
    json_t *resources = json_incref(json_object_get(doc, "resources"));
    json_decref(doc);
    close_state(st);
    return resources;
}

#endif
