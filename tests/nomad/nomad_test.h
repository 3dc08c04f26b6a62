/* Helpers shared by the nomad plugin's unit tests: the real host table of
 * infracore behind the plugin's sources, fixtures, collected diagnostics. */
#ifndef NOMAD_TEST_H
#define NOMAD_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "plugin/host.h"
#include "nomad.h"

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
    host_call_init(call, "", "nomad");
    memset(d, 0, sizeof(*d));
    call->diag = test_collect;
    call->diag_ud = d;
}

/* The plugin's sources use pu_host (plugin_util.h); the tests give them
 * infracore's. */
static inline void test_use_host(void)
{
    pu_init(host_table(), "nomad plugin");
}

/* A file of tests/nomad/ (relative path) as a new JSON value. */
static inline infra_json *test_json_file(const char *rel)
{
    char path[1024];
    json_error_t err;
    snprintf(path, sizeof(path), "%s/%s", TEST_SOURCE_DIR, rel);
    json_t *j = json_load_file(path, 0, &err);
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

/* Fails with both documents when a and b differ. */
static inline void test_json_equal(const infra_json *a, const infra_json *b, const char *what)
{
    if (json_equal(host_jansson(a), host_jansson(b)))
        return;
    char *ta = json_dumps(host_jansson(a), JSON_INDENT(2) | JSON_SORT_KEYS);
    char *tb = json_dumps(host_jansson(b), JSON_INDENT(2) | JSON_SORT_KEYS);
    print_error("%s differs:\n--- got\n%s\n--- expected\n%s\n", what, ta, tb);
    free(ta);
    free(tb);
    fail();
}

/* test_json_equal against a JSON text. */
static inline void test_json_is(const infra_json *got, const char *text, const char *what)
{
    infra_json *want = test_json(text);
    test_json_equal(got, want, what);
    NJ->release(want);
}

#endif
