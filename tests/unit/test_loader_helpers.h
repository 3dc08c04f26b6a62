/* What the loader tests (test_loader*.c) share: the sample plugins of
 * tests/plugins, temporary directories, copies with a chosen mode, and the
 * exact-refusal assertion. */
#ifndef TEST_LOADER_HELPERS_H
#define TEST_LOADER_HELPERS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin/host.h"
#include "plugin/loader.h"
#include "base/util.h"

#ifndef INFRA_SAMPLES_DIR
#define INFRA_SAMPLES_DIR INFRA_BUILD_DIR "/tests/plugins/samples"
#endif
#ifndef INFRA_EXAMPLE_PLUGIN
#define INFRA_EXAMPLE_PLUGIN INFRA_BUILD_DIR "/tests/plugins/example/example-hello.so"
#endif
#ifndef INFRA_SAMPLE_CXX
#define INFRA_SAMPLE_CXX 0
#endif

#define END_OF(TYPE, SLOT) (offsetof(TYPE, SLOT) + sizeof(((TYPE *)0)->SLOT))

/* ------------------------------------------------------------------ */
/* Helpers                                                            */

static inline char *sample(const char *name)
{
    return util_printf("%s/%s.so", INFRA_SAMPLES_DIR, name);
}

static inline char *make_tmpdir(void)
{
    char *dir = util_strdup("/tmp/infra-test-loader-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return dir;
}

static inline int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static inline void remove_tree(char *dir)
{
    chmod(dir, 0700);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

/* Copies src to dir/name with the given mode; returns the new path. */
static inline char *copy_to(const char *src, const char *dir, const char *name, mode_t mode)
{
    char *dst = util_printf("%s/%s", dir, name);
    int in = open(src, O_RDONLY);
    assert_true(in >= 0);
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(out >= 0);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    assert_int_equal(n, 0);
    close(in);
    close(out);
    assert_int_equal(chmod(dst, mode), 0);
    return dst;
}

/* 1 when path is mapped in this process. */
static inline int is_loaded(const char *path)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (!h)
        return 0;
    dlclose(h);
    return 1;
}

/* Loads the sample NAME and asserts it is refused with exactly
 * "PATH: refused: " followed by the formatted reason. */
static inline void assert_refused_with(const char *name, int expected_kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline void assert_refused_with(const char *name, int expected_kind, const char *fmt, ...)
{
    char *path = sample(name);
    va_list ap;
    va_start(ap, fmt);
    char *why = util_vprintf(fmt, ap);
    va_end(ap);
    char *expected = util_printf("%s: refused: %s", path, why);

    loader_plugin p;
    char *err = NULL;
    int rc = loader_load_file(path, expected_kind, &p, &err);
    assert_true(rc < 0);
    assert_non_null(err);
    assert_string_equal(err, expected);
    assert_null(p.handle);
    assert_null(p.desc);
    assert_null(p.path);

    free(err);
    free(expected);
    free(why);
    free(path);
}

static inline const char *abi_advice(void)
{
    static char text[128];
    snprintf(text, sizeof(text), "rebuild it against infra %s's plugin.h",
             host_table()->host_version);
    return text;
}

/* Index of the refusal for file, or -1. */
static inline long refusal_index(const loader *ld, const char *file)
{
    for (size_t i = 0; i < ld->nrefusals; i++)
        if (strcmp(ld->refused_files[i], file) == 0)
            return (long)i;
    return -1;
}

#endif
