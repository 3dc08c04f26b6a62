/* Helpers shared by the topology tests: load a document from a string,
 * expecting success or the first diagnostic. */
#ifndef TEST_TOPOLOGY_HELPERS_H
#define TEST_TOPOLOGY_HELPERS_H

#include <stdlib.h>
#include <string.h>

#include "infra/plugin.h"
#include "topology/topology.h"
#include "base/util.h"

/* Loads yaml as "t.yaml" (or name), failing the test on any diagnostic. */
static inline topology *load_named(const char *name, const char *yaml, const topology_options *o)
{
    diag_list d = {0};
    topology *t = NULL;
    int rc = topology_load_buffer(name, yaml, strlen(yaml), o, &t, &d);
    if (rc != 0 || d.count)
        diag_print(&d, stderr);
    assert_int_equal(rc, 0);
    assert_int_equal(d.count, 0);
    assert_non_null(t);
    diag_list_free(&d);
    return t;
}

static inline topology *load_opts(const char *yaml, const topology_options *o)
{
    return load_named("t.yaml", yaml, o);
}

static inline topology *load_ok(const char *yaml)
{
    return load_named("t.yaml", yaml, NULL);
}

/* Loads a document that must be refused; returns every diagnostic. */
static inline diag_list load_errors(const char *yaml, const topology_options *o)
{
    diag_list d = {0};
    topology *t = NULL;
    int rc = topology_load_buffer("t.yaml", yaml, strlen(yaml), o, &t, &d);
    assert_int_equal(rc, INFRA_EINVALID);
    assert_null(t);
    assert_true(d.count >= 1);
    return d;
}

/* The first diagnostic of a refused document, formatted; caller frees. */
static inline char *load_error_opts(const char *yaml, const topology_options *o)
{
    diag_list d = load_errors(yaml, o);
    char *line = diag_format(&d.items[0]);
    diag_list_free(&d);
    return line;
}

static inline char *load_error(const char *yaml)
{
    return load_error_opts(yaml, NULL);
}

#define assert_load_error(yaml, expected)                                                          \
    do {                                                                                           \
        char *line_ = load_error(yaml);                                                            \
        assert_string_equal(line_, expected);                                                      \
        free(line_);                                                                               \
    } while (0)

/* Compact JSON text of v; caller frees. */
static inline char *dump(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

#define assert_json(v, expected)                                                                   \
    do {                                                                                           \
        char *text_ = dump(v);                                                                     \
        assert_string_equal(text_, expected);                                                      \
        free(text_);                                                                               \
    } while (0)

static inline const topo_resource *res(const topology *t, const char *address)
{
    const topo_resource *r = topology_resource(t, address);
    if (!r)
        fail_msg("no resource %s", address);
    return r;
}

/* The deps of r joined with spaces; caller frees. */
static inline char *deps_text(char **deps, size_t n)
{
    util_buf b = {0};
    for (size_t i = 0; i < n; i++)
        util_buf_printf(&b, "%s%s", i ? " " : "", deps[i]);
    return util_buf_take(&b);
}

#define assert_deps(r, expected)                                                                   \
    do {                                                                                           \
        char *text_ = deps_text((r)->deps, (r)->ndeps);                                            \
        assert_string_equal(text_, expected);                                                      \
        free(text_);                                                                               \
    } while (0)

#endif
