/* What the tests of plugins/common/plugin_install share: files of the
 * test's own directory (install_test_dir) and their hashes, item specs as
 * host values, zips and .debs made on the spot, and the diagnostics of one
 * call as "[attr] message" lines.
 *
 * Include after cmocka.h, in one test file per executable. */
#ifndef INSTALL_TEST_H
#define INSTALL_TEST_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zip.h>

#include "base/util.h"
#include "plugin/host.h"
#include "plugin_install.h"
#include "sshd_fixture.h"

/* The test's temporary directory, set by its group setup. */
static char *install_test_dir;

static inline char *put_file(const char *name, const char *text, int mode)
{
    char *path = util_printf("%s/%s", install_test_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    chmod(path, (mode_t)mode);
    return path;
}

static inline char *sha_of(const char *path)
{
    return sshd_fixture_sh_line("sha256sum <'%s' | cut -c1-64", path);
}

/* Diagnostics of one call. */
typedef struct diags {
    util_buf text;
    int errors;
} diags;

static inline void collect(void *ud, infra_call *call, int severity, const char *attr,
                           const char *message)
{
    diags *d = ud;
    if (severity >= INFRA_DIAG_ERROR)
        d->errors++;
    util_buf_printf(&d->text, "[%s] %s\n", attr ? attr : "", message);
}

static inline void call_begin(infra_call *call, diags *d)
{
    memset(d, 0, sizeof(*d));
    host_call_init(call, "test", "install");
    call->diag = collect;
    call->diag_ud = d;
}

static inline void call_end(infra_call *call, diags *d)
{
    host_call_clear(call);
    util_buf_free(&d->text);
}

static inline const char *text(const diags *d)
{
    return d->text.data ? d->text.data : "";
}

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        if (strstr((hay), (needle)) == NULL)                                                       \
            fail_msg("expected \"%s\" in:\n%s", (needle), (hay));                                  \
    } while (0)

/* {"file": file, "sha256": sha} as a host value. */
static inline infra_json *spec(const char *file, const char *sha)
{
    json_t *j = json_object();
    if (file)
        json_object_set_new(j, "file", json_string(file));
    if (sha)
        json_object_set_new(j, "sha256", json_string(sha));
    return host_json(j);
}

static inline infra_json *spec_json(const char *text_)
{
    json_t *j = json_loads(text_, 0, NULL);
    assert_non_null(j);
    return host_json(j);
}

static inline void release(infra_json *v)
{
    json_decref(host_jansson(v));
}

/* A zip at path holding name -> content pairs (NULL-terminated). */
static inline void make_zip(const char *path, const char *const *entries)
{
    int err = 0;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
    assert_non_null(z);
    for (size_t i = 0; entries[i]; i += 2) {
        zip_source_t *src = zip_source_buffer(z, entries[i + 1], strlen(entries[i + 1]), 0);
        assert_non_null(src);
        assert_true(zip_file_add(z, entries[i], src, ZIP_FL_OVERWRITE) >= 0);
    }
    assert_int_equal(zip_close(z), 0);
}

/* A .deb of package name at version holding /usr/bin/NAME; its path. */
static inline char *make_deb(const char *name, const char *version)
{
    char *tree = util_printf("%s/build-%s-%s", install_test_dir, name, version);
    char *deb = util_printf("%s/debs-%s/%s_%s_all.deb", install_test_dir, version, name, version);
    sshd_fixture_sh(
        "mkdir -p '%s/DEBIAN' '%s/usr/bin' \"$(dirname '%s')\" && "
        "printf 'Package: %s\\nVersion: %s\\nArchitecture: all\\nMaintainer: infra tests "
        "<tests@example.org>\\nDescription: a test package\\n' >'%s/DEBIAN/control' && "
        "printf '#!/bin/sh\\necho %s\\n' >'%s/usr/bin/%s' && chmod 755 '%s/usr/bin/%s' && "
        "dpkg-deb --root-owner-group --build '%s' '%s' >/dev/null",
        tree, tree, deb, name, version, tree, version, tree, name, tree, name, tree, deb);
    free(tree);
    return deb;
}

/* Loads spec as item name, failing the test on an error. */
static inline void load(const char *name, infra_json *s, pu_install *in)
{
    infra_call call;
    diags d;
    call_begin(&call, &d);
    if (pu_install_load(&call, "install.x", name, s, 0, in) != 0)
        fail_msg("load: %s", text(&d));
    call_end(&call, &d);
}

#endif
