/* Helpers shared by the marathon plugin's unit tests: the real host table
 * of infracore behind the plugin's sources, fixtures, expected files,
 * collected diagnostics. */
#ifndef MARATHON_TEST_H
#define MARATHON_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "marathon.h"
#include "plugin/host.h"

/* Diagnostics of one call, concatenated. */
typedef struct test_diags {
    int errors;
    char text[8192];
} test_diags;

static inline void test_collect(void *ud, infra_call *call, int severity, const char *attr,
                                const char *message)
{
    test_diags *d = ud;
    (void)call;
    if (severity >= INFRA_DIAG_ERROR)
        d->errors++;
    size_t len = strlen(d->text);
    snprintf(d->text + len, sizeof(d->text) - len, "[%s] %s\n", attr, message);
}

static inline void test_call(infra_call *call, test_diags *d)
{
    host_call_init(call, "", "marathon");
    memset(d, 0, sizeof(*d));
    call->diag = test_collect;
    call->diag_ud = d;
}

/* The plugin's sources use pu_host; the tests give them infracore's. */
static inline void test_use_host(void)
{
    pu_init(host_table(), "marathon plugin");
}

/* A file of tests/marathon/ (relative path) as a new JSON value. */
static inline infra_json *test_json_file(const char *rel)
{
    char path[1024];
    json_error_t err;
    snprintf(path, sizeof(path), "%s/%s", TEST_SOURCE_DIR, rel);
    json_t *j = json_load_file(path, JSON_PRESERVE_ORDER, &err);
    if (j == NULL)
        fail_msg("%s: %s (line %d)", path, err.text, err.line);
    return host_json(j);
}

static inline infra_json *test_json(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &err);
    if (j == NULL)
        fail_msg("bad test JSON: %s: %s", err.text, text);
    return host_json(j);
}

/* The text of a file of tests/marathon/ (caller frees), or NULL. */
static inline char *test_file_text(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", TEST_SOURCE_DIR, rel);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)len + 1);
    size_t got = fread(text, 1, (size_t)len, f);
    text[got] = '\0';
    fclose(f);
    return text;
}

/* plugin's configure with settings (JSON text): its result and
 * diagnostics. */
static inline int test_configure(const infra_plugin *plugin, const char *settings, test_diags *d)
{
    infra_call call;
    infra_scheduler *ctx = NULL;
    test_call(&call, d);
    infra_json *s = test_json(settings);
    int rc = plugin->scheduler->configure(&call, s, &ctx);
    MJ->release(s);
    host_call_clear(&call);
    if (ctx)
        plugin->scheduler->close(ctx);
    return rc;
}

/* Each of cases (settings, the diagnostics they must give) refused by
 * plugin's configure with exactly its diagnostics. */
static inline void test_configure_refuses(const infra_plugin *plugin, const char *const (*cases)[2],
                                          size_t n)
{
    for (size_t i = 0; i < n; i++) {
        test_diags d;
        assert_int_equal(test_configure(plugin, cases[i][0], &d), INFRA_EINVALID);
        assert_string_equal(d.text, cases[i][1]);
    }
}

/* plugin's validate on fixtures/cluster.json with edit(copy, arg) applied
 * (a jansson function): its result and diagnostics. */
static inline int test_validate_edited(const infra_plugin *plugin,
                                       void (*edit)(json_t *, const void *), const void *arg,
                                       test_diags *d)
{
    infra_call call;
    infra_json *loaded = test_json_file("fixtures/cluster.json");
    json_t *j = json_deep_copy(host_jansson(loaded));
    MJ->release(loaded);
    edit(j, arg);
    test_call(&call, d);
    infra_json *c = host_json(j);
    int rc = plugin->scheduler->validate(&call, c);
    MJ->release(c);
    host_call_clear(&call);
    return rc;
}

/* The datacenter name of region eu of the fixture's JSON j (borrowed). */
static inline json_t *test_dc(json_t *j, const char *name)
{
    return json_object_get(
        json_object_get(json_object_get(json_object_get(j, "regions"), "eu"), "datacenters"), name);
}

/* Fails unless text equals the expected file rel, showing both. With
 * MARATHON_TEST_WRITE_EXPECTED=1 in the environment it writes the file
 * instead (to review with git diff after a deliberate change). */
static inline void test_expect_file(const char *rel, const char *text)
{
    if (getenv("MARATHON_TEST_WRITE_EXPECTED") != NULL) {
        char path[1024], dir[1100];
        snprintf(path, sizeof(path), "%s/%s", TEST_SOURCE_DIR, rel);
        snprintf(dir, sizeof(dir), "mkdir -p \"$(dirname '%s')\"", path);
        if (system(dir) != 0)
            fail_msg("cannot make the directory of %s", path);
        FILE *f = fopen(path, "wb");
        if (f == NULL || fputs(text, f) < 0)
            fail_msg("cannot write %s", path);
        fclose(f);
        return;
    }
    char *want = test_file_text(rel);
    if (want == NULL)
        fail_msg("missing expected file %s; the text was:\n%s", rel, text);
    if (strcmp(want, text) != 0) {
        print_error("%s differs:\n--- got\n%s--- expected\n%s", rel, text, want);
        free(want);
        fail();
    }
    free(want);
}

#endif
