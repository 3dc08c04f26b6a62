/* Plugin loader: every refusal has one exact line, the search path is
 * honoured in order, and lookups explain what is missing. The plugins under
 * test are the samples of tests/plugins, built before this test. */
#define _GNU_SOURCE
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

#define END_OF(TYPE, SLOT) (offsetof(TYPE, SLOT) + sizeof(((TYPE *)0)->SLOT))

/* ------------------------------------------------------------------ */
/* Helpers                                                            */

static char *sample(const char *name)
{
    return util_printf("%s/%s.so", INFRA_SAMPLES_DIR, name);
}

static char *make_tmpdir(void)
{
    char *dir = util_strdup("/tmp/infra-test-loader-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return dir;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void remove_tree(char *dir)
{
    chmod(dir, 0700);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

/* Copies src to dir/name with the given mode; returns the new path. */
static char *copy_to(const char *src, const char *dir, const char *name, mode_t mode)
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
static int is_loaded(const char *path)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (!h)
        return 0;
    dlclose(h);
    return 1;
}

/* Loads the sample NAME and asserts it is refused with exactly
 * "PATH: refused: " followed by the formatted reason. */
static void assert_refused_with(const char *name, int expected_kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void assert_refused_with(const char *name, int expected_kind, const char *fmt, ...)
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

static const char *abi_advice(void)
{
    static char text[128];
    snprintf(text, sizeof(text), "rebuild it against infra %s's plugin.h",
             host_table()->host_version);
    return text;
}

/* ------------------------------------------------------------------ */
/* Good plugins                                                       */

static void test_load_file_accepts_good_provider(void **state)
{
    char *path = sample("sample");
    loader_plugin p;
    char *err = NULL;

    assert_int_equal(loader_load_file(path, INFRA_PLUGIN_PROVIDER, &p, &err), 0);
    assert_null(err);
    assert_string_equal(p.path, path);
    assert_non_null(p.handle);
    assert_string_equal(p.desc->name, "sample");
    assert_string_equal(p.desc->version, "1.0.0");
    assert_int_equal(p.desc->kind, INFRA_PLUGIN_PROVIDER);
    assert_non_null(p.desc->provider);
    assert_true(is_loaded(path));

    loader_plugin_unload(&p);
    assert_null(p.handle);
    assert_false(is_loaded(path));
    free(path);
}

static void test_load_file_accepts_good_scheduler_for_any_kind(void **state)
{
    char *path = sample("sample-sched");
    loader_plugin p;
    char *err = NULL;

    assert_int_equal(loader_load_file(path, 0, &p, &err), 0);
    assert_string_equal(p.desc->name, "sample-sched");
    assert_int_equal(p.desc->kind, INFRA_PLUGIN_SCHEDULER);
    assert_non_null(p.desc->scheduler);
    loader_plugin_unload(&p);
    free(path);
}

static void record_diag_attr(void *ud, infra_call *call, int severity, const char *attr_path,
                             const char *message)
{
    char **attr = ud;
    free(*attr);
    *attr = util_strdup(attr_path);
}

static void test_loaded_provider_calls_back_through_host_table(void **state)
{
    char *path = sample("sample");
    loader_plugin p;
    char *err = NULL;
    infra_call call;
    infra_json *schema = NULL;

    assert_int_equal(loader_load_file(path, INFRA_PLUGIN_PROVIDER, &p, &err), 0);
    host_call_init(&call, "item.one", "sample");
    assert_int_equal(p.desc->provider->schema(&call, &schema), 0);
    json_t *value = json_object_get(
        json_object_get(json_object_get(json_object_get(host_jansson(schema), "resources"), "item"),
                        "attributes"),
        "value");
    assert_non_null(value);
    assert_string_equal(json_string_value(json_object_get(value, "type")), "string");
    json_decref(host_jansson(schema));

    /* A diagnostic from the plugin reaches the call with its attribute path. */
    char *attr = NULL;
    call.diag = record_diag_attr;
    call.diag_ud = &attr;
    json_t *config = json_object();
    assert_int_equal(p.desc->provider->validate(&call, "item", host_json(config)), INFRA_EINVALID);
    assert_int_equal(call.errors, 1);
    assert_string_equal(attr, "value");
    free(attr);
    json_decref(config);

    host_call_clear(&call);
    loader_plugin_unload(&p);
    free(path);
}

/* ------------------------------------------------------------------ */
/* One refusal per broken sample                                      */

static void test_refuses_plugin_without_entry_symbol(void **state)
{
    assert_refused_with("broken-no-entry", 0,
                        "no entry symbol \"infra_plugin_entry\" (this infra loads plugins that "
                        "export it with INFRA_PLUGIN_EXPORT)");
}

static void test_refuses_bad_magic_showing_found_and_expected(void **state)
{
    assert_refused_with("broken-magic", 0,
                        "bad magic 0xdeadbeef, expected 0x494e4652 (not an infra plugin "
                        "descriptor)");
}

static void test_refuses_other_abi_major_naming_both_abis(void **state)
{
    assert_refused_with("broken-abi2", 0,
                        "plugin targets ABI 2.%d, this infra supports ABI %d.x (%s)",
                        INFRA_ABI_MINOR, INFRA_ABI_MAJOR, abi_advice());
}

static void test_refuses_descriptor_smaller_than_abi_1_0(void **state)
{
    assert_refused_with("broken-small-desc", 0,
                        "table too small: descriptor size %zu, infra needs at least %zu (plugin "
                        "targets ABI %d.%d, this infra supports ABI %d.x)",
                        offsetof(infra_plugin, kind), END_OF(infra_plugin, scheduler),
                        INFRA_ABI_MAJOR, INFRA_ABI_MINOR, INFRA_ABI_MAJOR);
}

static void test_refuses_provider_ops_smaller_than_abi_1_0(void **state)
{
    assert_refused_with("broken-small-ops", 0,
                        "table too small: provider ops size %zu, infra needs at least %zu "
                        "(plugin targets ABI %d.%d, this infra supports ABI %d.x)",
                        offsetof(infra_provider_ops, upgrade_state),
                        END_OF(infra_provider_ops, close), INFRA_ABI_MAJOR, INFRA_ABI_MINOR,
                        INFRA_ABI_MAJOR);
}

static void test_refuses_scheduler_ops_smaller_than_abi_1_0(void **state)
{
    assert_refused_with("broken-small-sched-ops", 0,
                        "table too small: scheduler ops size %zu, infra needs at least %zu "
                        "(plugin targets ABI %d.%d, this infra supports ABI %d.x)",
                        offsetof(infra_scheduler_ops, federate), END_OF(infra_scheduler_ops, close),
                        INFRA_ABI_MAJOR, INFRA_ABI_MINOR, INFRA_ABI_MAJOR);
}

static void test_refuses_build_signature_mismatch_showing_both_sides(void **state)
{
    assert_refused_with("broken-time-t", 0,
                        "build signature mismatch: plugin has pointer %zu, size_t %zu, time_t 4 "
                        "bytes; this infra has pointer %zu, size_t %zu, time_t %zu (rebuild it "
                        "with the same compiler settings)",
                        sizeof(void *), sizeof(size_t), sizeof(void *), sizeof(size_t),
                        sizeof(time_t));
}

static void test_refuses_unknown_kind(void **state)
{
    assert_refused_with("broken-kind", 0,
                        "plugin \"broken\" has unknown kind 7 (this infra supports 1 = provider, "
                        "2 = scheduler)");
}

static void test_refuses_provider_without_ops_table(void **state)
{
    assert_refused_with("broken-no-ops", 0,
                        "plugin \"broken\" is a provider but has no provider ops table");
}

static void test_refuses_descriptor_without_name(void **state)
{
    assert_refused_with("broken-no-name", 0, "descriptor has no name");
}

static void test_refuses_descriptor_without_version(void **state)
{
    assert_refused_with("broken-no-version", 0, "plugin \"broken\" has no version");
}

static void test_refuses_entry_returning_an_error(void **state)
{
    assert_refused_with("broken-entry-error", 0, "entry function failed with INFRA_EINVALID (-5)");
}

static void test_refuses_entry_returning_no_descriptor(void **state)
{
    assert_refused_with("broken-entry-null", 0, "entry function returned no descriptor");
}

static void test_refuses_kind_other_than_expected(void **state)
{
    assert_refused_with("sample-sched", INFRA_PLUGIN_PROVIDER,
                        "plugin \"sample-sched\" is a scheduler, expected a provider");
    assert_refused_with("sample", INFRA_PLUGIN_SCHEDULER,
                        "plugin \"sample\" is a provider, expected a scheduler");
}

static void test_refuses_missing_file(void **state)
{
    assert_refused_with("does-not-exist", 0, "cannot read: No such file or directory");
}

static void test_refused_plugin_is_unloaded(void **state)
{
    static const char *const names[] = {"broken-magic", "broken-entry-error", "broken-abi2"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char *path = sample(names[i]);
        loader_plugin p;
        char *err = NULL;
        assert_true(loader_load_file(path, 0, &p, &err) < 0);
        assert_false(is_loaded(path));
        free(err);
        free(path);
    }
}

static void test_refuses_file_that_is_not_a_shared_object(void **state)
{
    char *dir = make_tmpdir();
    char *path = util_printf("%s/notes.so", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("not an ELF file\n", f);
    fclose(f);

    loader_plugin p;
    char *err = NULL;
    char *prefix = util_printf("%s: refused: cannot load: ", path);
    assert_true(loader_load_file(path, 0, &p, &err) < 0);
    assert_int_equal(strncmp(err, prefix, strlen(prefix)), 0);
    assert_true(strlen(err) > strlen(prefix));
    assert_null(strchr(err, '\n'));

    free(prefix);
    free(err);
    free(path);
    remove_tree(dir);
}

static void test_refuses_file_writable_by_others_before_running_it(void **state)
{
    char *src = sample("sample");
    char *dir = make_tmpdir();
    char *marker = util_printf("%s/constructor-ran", dir);
    char *path = copy_to(src, dir, "sample.so", 0666);
    char *expected =
        util_printf("%s: refused: writable by others (mode 0666); run chmod o-w %s", path, path);
    loader_plugin p;
    char *err = NULL;

    setenv("INFRA_SAMPLE_LOAD_MARKER", marker, 1);
    assert_true(loader_load_file(path, 0, &p, &err) < 0);
    assert_string_equal(err, expected);
    assert_int_equal(access(marker, F_OK), -1); /* no constructor ran */
    free(err);

    /* The same file once fixed loads, and its constructor does run: the
     * marker above was a real probe. */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(loader_load_file(path, 0, &p, &err), 0);
    assert_int_equal(access(marker, F_OK), 0);
    loader_plugin_unload(&p);
    unsetenv("INFRA_SAMPLE_LOAD_MARKER");

    free(expected);
    free(path);
    free(marker);
    remove_tree(dir);
    free(src);
}

static void test_refuses_file_in_directory_writable_by_others(void **state)
{
    char *src = sample("sample");
    char *dir = make_tmpdir();
    char *path = copy_to(src, dir, "sample.so", 0644);
    assert_int_equal(chmod(dir, 0777), 0);
    char *expected =
        util_printf("%s: refused: directory %s is writable by others (mode 0777); run chmod o-w %s",
                    path, dir, dir);
    loader_plugin p;
    char *err = NULL;

    assert_true(loader_load_file(path, 0, &p, &err) < 0);
    assert_string_equal(err, expected);
    assert_false(is_loaded(path));

    free(err);
    free(expected);
    free(path);
    remove_tree(dir);
    free(src);
}

static void test_refuses_link_to_file_in_directory_writable_by_others(void **state)
{
    char *src = sample("sample");
    char *safe = make_tmpdir();
    char *open_dir = make_tmpdir();
    char *target = copy_to(src, open_dir, "sample.so", 0644);
    char *link = util_printf("%s/sample.so", safe);
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(chmod(open_dir, 0777), 0);
    char *real_dir = realpath(open_dir, NULL);
    char *expected =
        util_printf("%s: refused: directory %s is writable by others (mode 0777); run chmod o-w %s",
                    link, real_dir, real_dir);
    loader_plugin p;
    char *err = NULL;

    assert_true(loader_load_file(link, 0, &p, &err) < 0);
    assert_string_equal(err, expected);

    free(err);
    free(expected);
    free(real_dir);
    free(link);
    free(target);
    remove_tree(open_dir);
    remove_tree(safe);
    free(src);
}

/* ------------------------------------------------------------------ */
/* Search path and scanning                                           */

static void test_dirs_follow_env_then_install_then_build(void **state)
{
    setenv("INFRA_PLUGIN_PATH", "::/x/first:/x/second/::/x/first:", 1);
    char **dirs = loader_dirs();
    size_t n = 0;
    while (dirs[n])
        n++;
    assert_int_equal(n, 4);
    assert_string_equal(dirs[0], "/x/first");
    assert_string_equal(dirs[1], "/x/second");
    assert_string_equal(dirs[3], INFRA_BUILD_DIR "/plugins");
    loader_dirs_free(dirs);

    unsetenv("INFRA_PLUGIN_PATH");
    dirs = loader_dirs();
    assert_non_null(dirs[0]);
    assert_string_equal(dirs[1], INFRA_BUILD_DIR "/plugins");
    assert_null(dirs[2]);
    loader_dirs_free(dirs);
}

/* Index of the refusal for file, or -1. */
static long refusal_index(const loader *ld, const char *file)
{
    for (size_t i = 0; i < ld->nrefusals; i++)
        if (strcmp(ld->refused_files[i], file) == 0)
            return (long)i;
    return -1;
}

static void test_scan_honours_plugin_path_order_first_name_wins(void **state)
{
    char *src = sample("sample");
    char *a = make_tmpdir();
    char *b = make_tmpdir();
    char *in_a = copy_to(src, a, "sample.so", 0644);
    char *in_b = copy_to(src, b, "sample.so", 0644);

    for (int round = 0; round < 2; round++) {
        const char *first = round ? a : b, *second = round ? b : a;
        const char *winner = round ? in_a : in_b, *loser = round ? in_b : in_a;
        char *env = util_printf(":%s::%s:", first, second);
        setenv("INFRA_PLUGIN_PATH", env, 1);

        loader ld = {0};
        char *err = NULL;
        assert_int_equal(loader_scan(&ld), 0);
        assert_string_equal(ld.dirs[0], first);
        assert_string_equal(ld.dirs[1], second);

        const loader_plugin *p = loader_find(&ld, "sample", INFRA_PLUGIN_PROVIDER, &err);
        assert_non_null(p);
        assert_string_equal(p->path, winner);

        long i = refusal_index(&ld, loser);
        assert_true(i >= 0);
        char *expected = util_printf(
            "%s: refused: duplicate name \"sample\" (already loaded from %s)", loser, winner);
        assert_string_equal(ld.refusals[i], expected);

        free(expected);
        loader_free(&ld);
        free(env);
    }
    unsetenv("INFRA_PLUGIN_PATH");
    free(in_a);
    free(in_b);
    remove_tree(a);
    remove_tree(b);
    free(src);
}

static void test_scan_of_samples_loads_good_and_refuses_each_broken(void **state)
{
    static const char *const broken[] = {
        "broken-abi2",       "broken-entry-error",
        "broken-entry-null", "broken-kind",
        "broken-magic",      "broken-no-entry",
        "broken-no-name",    "broken-no-ops",
        "broken-no-version", "broken-small-desc",
        "broken-small-ops",  "broken-small-sched-ops",
        "broken-time-t",     "dup-b",
    };
    const size_t nbroken = sizeof(broken) / sizeof(broken[0]);
    const char *dirs[] = {INFRA_SAMPLES_DIR, NULL};
    loader ld = {0};

    assert_int_equal(loader_scan_dirs(&ld, dirs), 0);

    /* Sorted file order: dup-a.so, sample-sched.so, sample.so. */
    assert_int_equal(ld.nplugins, 3);
    assert_string_equal(ld.plugins[0].desc->name, "dup");
    assert_string_equal(ld.plugins[1].desc->name, "sample-sched");
    assert_string_equal(ld.plugins[2].desc->name, "sample");

    assert_int_equal(ld.nrefusals, nbroken);
    for (size_t i = 0; i < nbroken; i++) {
        char *path = sample(broken[i]);
        assert_string_equal(ld.refused_files[i], path);
        char *prefix = util_printf("%s: refused: ", path);
        assert_int_equal(strncmp(ld.refusals[i], prefix, strlen(prefix)), 0);
        assert_null(strchr(ld.refusals[i], '\n'));
        free(prefix);
        free(path);
    }

    char *dup_a = sample("dup-a");
    char *dup_b = sample("dup-b");
    char *expected =
        util_printf("%s: refused: duplicate name \"dup\" (already loaded from %s)", dup_b, dup_a);
    assert_string_equal(ld.refusals[nbroken - 1], expected);
    assert_string_equal(ld.plugins[0].path, dup_a);

    free(expected);
    free(dup_a);
    free(dup_b);
    loader_free(&ld);
}

static void test_scan_considers_only_regular_files_ending_in_so(void **state)
{
    char *src = sample("sample");
    char *dir = make_tmpdir();
    char *ok = copy_to(src, dir, "sample.so", 0644);
    char *other = copy_to(src, dir, "sample.so.1", 0644);
    char *sub = util_printf("%s/directory.so", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    const char *dirs[] = {dir, "/nonexistent/infra/plugins", dir, NULL};
    loader ld = {0};

    assert_int_equal(loader_scan_dirs(&ld, dirs), 0);
    assert_int_equal(ld.nplugins, 1);
    assert_string_equal(ld.plugins[0].path, ok);
    /* The directory listed twice is scanned once: no self-duplicate. */
    assert_int_equal(ld.nrefusals, 0);
    loader_free(&ld);

    free(sub);
    free(other);
    free(ok);
    remove_tree(dir);
    free(src);
}

/* ------------------------------------------------------------------ */
/* Lookup                                                             */

static void test_find_explains_missing_and_wrong_kind(void **state)
{
    char *sample_src = sample("sample");
    char *sched_src = sample("sample-sched");
    char *abi2_src = sample("broken-abi2");
    char *dir = make_tmpdir();
    char *prov = copy_to(sample_src, dir, "sample.so", 0644);
    char *sched = copy_to(sched_src, dir, "sample-sched.so", 0644);
    char *legacy = copy_to(abi2_src, dir, "legacy.so", 0644);
    const char *dirs[] = {dir, NULL};
    loader ld = {0};
    char *err = NULL;
    char *expected = NULL;

    assert_int_equal(loader_scan_dirs(&ld, dirs), 0);

    const loader_plugin *p = loader_find(&ld, "sample", INFRA_PLUGIN_PROVIDER, &err);
    assert_non_null(p);
    assert_null(err);
    assert_string_equal(p->path, prov);
    p = loader_find(&ld, "sample-sched", 0, &err);
    assert_non_null(p);
    assert_string_equal(p->path, sched);

    assert_null(loader_find(&ld, "sample-sched", INFRA_PLUGIN_PROVIDER, &err));
    expected = util_printf(
        "plugin \"sample-sched\" is a scheduler, not a provider (loaded from %s)", sched);
    assert_string_equal(err, expected);
    free(expected);
    free(err);

    assert_null(loader_find(&ld, "nope", INFRA_PLUGIN_PROVIDER, &err));
    expected =
        util_printf("no provider plugin named \"nope\" (available: sample); searched: %s", dir);
    assert_string_equal(err, expected);
    free(expected);
    free(err);

    assert_null(loader_find(&ld, "nope", INFRA_PLUGIN_SCHEDULER, &err));
    expected = util_printf(
        "no scheduler plugin named \"nope\" (available: sample-sched); searched: %s", dir);
    assert_string_equal(err, expected);
    free(expected);
    free(err);

    /* A file named after the plugin was refused: say why. */
    assert_null(loader_find(&ld, "legacy", INFRA_PLUGIN_PROVIDER, &err));
    expected = util_printf("no provider plugin named \"legacy\" (available: sample); searched: %s; "
                           "%s: refused: plugin targets ABI 2.%d, this infra supports ABI %d.x "
                           "(%s)",
                           dir, legacy, INFRA_ABI_MINOR, INFRA_ABI_MAJOR, abi_advice());
    assert_string_equal(err, expected);
    free(expected);
    free(err);

    loader_free(&ld);
    free(legacy);
    free(sched);
    free(prov);
    remove_tree(dir);
    free(abi2_src);
    free(sched_src);
    free(sample_src);
}

static void test_find_in_empty_loader_lists_none_available(void **state)
{
    char *dir = make_tmpdir();
    const char *dirs[] = {dir, "/nonexistent/infra/plugins", NULL};
    loader ld = {0};
    char *err = NULL;

    assert_int_equal(loader_scan_dirs(&ld, dirs), 0);
    assert_null(loader_find(&ld, "aws", INFRA_PLUGIN_PROVIDER, &err));
    char *expected =
        util_printf("no provider plugin named \"aws\" (available: none); searched: %s, "
                    "/nonexistent/infra/plugins",
                    dir);
    assert_string_equal(err, expected);

    free(expected);
    free(err);
    loader_free(&ld);
    remove_tree(dir);
}

/* ------------------------------------------------------------------ */
/* The SDK example (examples/plugin-sdk) through the same loader      */

static void test_sdk_example_manages_greeting_files_through_host_services(void **state)
{
    loader_plugin p;
    char *err = NULL;
    char *dir = make_tmpdir();
    char *file = util_printf("%s/world.txt", dir);
    char *attr = NULL;
    infra_call call;
    infra_provider *ctx = NULL;
    json_t *planned = NULL, *replace = NULL, *created = NULL, *read = NULL;
    void *priv = NULL;
    size_t priv_len = 0;

    assert_int_equal(loader_load_file(INFRA_EXAMPLE_PLUGIN, INFRA_PLUGIN_PROVIDER, &p, &err), 0);
    assert_string_equal(p.desc->name, "hello");
    const infra_provider_ops *ops = p.desc->provider;
    host_call_init(&call, "greeting.world", "hello");
    call.diag = record_diag_attr;
    call.diag_ud = &attr;

    /* Settings and config errors point at the attribute. */
    json_t *settings = json_object();
    assert_int_equal(ops->configure(&call, host_json(settings), &ctx), INFRA_EINVALID);
    assert_string_equal(attr, "directory");
    json_object_set_new(settings, "directory", json_string(dir));
    assert_int_equal(ops->configure(&call, host_json(settings), &ctx), 0);
    json_t *bad = json_pack("{s:s, s:s}", "name", "../escape", "message", "x");
    assert_int_equal(ops->validate(&call, "greeting", host_json(bad)), INFRA_EINVALID);
    assert_string_equal(attr, "name");
    json_decref(bad);

    /* Create: plan computes the path, apply writes the file. */
    json_t *desired = json_pack("{s:s, s:s}", "name", "world", "message", "Hello, world");
    assert_int_equal(ops->plan(ctx, &call, "greeting", NULL, host_json(desired),
                               (infra_json **)&planned, (infra_json **)&replace),
                     0);
    assert_string_equal(json_string_value(json_object_get(planned, "path")), file);
    assert_int_equal(json_array_size(replace), 0);
    assert_int_equal(ops->apply(ctx, &call, "greeting", NULL, host_json(planned), NULL, 0,
                                (infra_json **)&created, &priv, &priv_len),
                     0);
    FILE *f = fopen(file, "r");
    assert_non_null(f);
    char text[64] = {0};
    assert_int_equal(fread(text, 1, sizeof(text) - 1, f), strlen("Hello, world"));
    fclose(f);
    assert_string_equal(text, "Hello, world");

    /* Read sees what is on disk; import adopts by name. */
    assert_int_equal(
        ops->read(ctx, &call, "greeting", host_json(created), NULL, 0, (infra_json **)&read), 0);
    assert_true(json_equal(read, created));
    json_decref(read);
    assert_int_equal(ops->import(ctx, &call, "greeting", "world", (infra_json **)&read), 0);
    assert_true(json_equal(read, created));
    json_decref(read);

    /* A new name forces replacement. */
    json_t *renamed = json_pack("{s:s, s:s}", "name", "moon", "message", "Hello, moon");
    json_decref(planned);
    json_decref(replace);
    assert_int_equal(ops->plan(ctx, &call, "greeting", host_json(created), host_json(renamed),
                               (infra_json **)&planned, (infra_json **)&replace),
                     0);
    assert_string_equal(json_string_value(json_array_get(replace, 0)), "name");
    json_decref(renamed);

    /* Delete is idempotent, and read then reports the object gone. */
    json_t *none = NULL;
    assert_int_equal(ops->apply(ctx, &call, "greeting", host_json(created), NULL, NULL, 0,
                                (infra_json **)&none, &priv, &priv_len),
                     0);
    assert_null(none);
    assert_int_equal(access(file, F_OK), -1);
    assert_int_equal(ops->apply(ctx, &call, "greeting", host_json(created), NULL, NULL, 0,
                                (infra_json **)&none, &priv, &priv_len),
                     0);
    read = NULL;
    assert_int_equal(
        ops->read(ctx, &call, "greeting", host_json(created), NULL, 0, (infra_json **)&read),
        INFRA_ENOTFOUND);
    assert_null(read);

    ops->close(ctx);
    json_decref(desired);
    json_decref(planned);
    json_decref(replace);
    json_decref(created);
    json_decref(settings);
    free(attr);
    host_call_clear(&call);
    loader_plugin_unload(&p);
    free(file);
    remove_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_file_accepts_good_provider),
        cmocka_unit_test(test_load_file_accepts_good_scheduler_for_any_kind),
        cmocka_unit_test(test_loaded_provider_calls_back_through_host_table),
        cmocka_unit_test(test_refuses_plugin_without_entry_symbol),
        cmocka_unit_test(test_refuses_bad_magic_showing_found_and_expected),
        cmocka_unit_test(test_refuses_other_abi_major_naming_both_abis),
        cmocka_unit_test(test_refuses_descriptor_smaller_than_abi_1_0),
        cmocka_unit_test(test_refuses_provider_ops_smaller_than_abi_1_0),
        cmocka_unit_test(test_refuses_scheduler_ops_smaller_than_abi_1_0),
        cmocka_unit_test(test_refuses_build_signature_mismatch_showing_both_sides),
        cmocka_unit_test(test_refuses_unknown_kind),
        cmocka_unit_test(test_refuses_provider_without_ops_table),
        cmocka_unit_test(test_refuses_descriptor_without_name),
        cmocka_unit_test(test_refuses_descriptor_without_version),
        cmocka_unit_test(test_refuses_entry_returning_an_error),
        cmocka_unit_test(test_refuses_entry_returning_no_descriptor),
        cmocka_unit_test(test_refuses_kind_other_than_expected),
        cmocka_unit_test(test_refuses_missing_file),
        cmocka_unit_test(test_refused_plugin_is_unloaded),
        cmocka_unit_test(test_refuses_file_that_is_not_a_shared_object),
        cmocka_unit_test(test_refuses_file_writable_by_others_before_running_it),
        cmocka_unit_test(test_refuses_file_in_directory_writable_by_others),
        cmocka_unit_test(test_refuses_link_to_file_in_directory_writable_by_others),
        cmocka_unit_test(test_dirs_follow_env_then_install_then_build),
        cmocka_unit_test(test_scan_honours_plugin_path_order_first_name_wins),
        cmocka_unit_test(test_scan_of_samples_loads_good_and_refuses_each_broken),
        cmocka_unit_test(test_scan_considers_only_regular_files_ending_in_so),
        cmocka_unit_test(test_find_explains_missing_and_wrong_kind),
        cmocka_unit_test(test_find_in_empty_loader_lists_none_available),
        cmocka_unit_test(test_sdk_example_manages_greeting_files_through_host_services),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
