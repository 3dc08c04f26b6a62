/* Plugin loader, the search path and lookups: which directories an
 * installed binary and a build-tree binary search, the scan of every
 * plugin for `infra plugins`, loading only what a topology names, and the
 * explanations when a name is missing. */
#define _GNU_SOURCE
#include "test_loader_helpers.h"

/* ------------------------------------------------------------------ */
/* Search path and scanning                                           */

static size_t count_dirs(char **dirs)
{
    size_t n = 0;
    while (dirs[n])
        n++;
    return n;
}

static void test_dirs_are_plugin_path_then_the_build_trees_plugins_for_its_binary(void **state)
{
    setenv("INFRA_PLUGIN_PATH", "::/x/first:/x/second/::/x/first:", 1);
    char **dirs = loader_dirs_for(INFRA_BUILD_DIR "/infra");
    assert_int_equal(count_dirs(dirs), 3);
    assert_string_equal(dirs[0], "/x/first");
    assert_string_equal(dirs[1], "/x/second");
    assert_string_equal(dirs[2], INFRA_BUILD_DIR "/plugins");
    loader_dirs_free(dirs);

    unsetenv("INFRA_PLUGIN_PATH");
    dirs = loader_dirs_for(INFRA_BUILD_DIR "/infra");
    assert_int_equal(count_dirs(dirs), 1);
    assert_string_equal(dirs[0], INFRA_BUILD_DIR "/plugins");
    loader_dirs_free(dirs);
}

/* An installed binary searches the plugin directory of the prefix it runs
 * from, wherever that prefix is now, and never the build tree. */
static void test_installed_binary_searches_its_own_prefix_never_the_build_tree(void **state)
{
    unsetenv("INFRA_PLUGIN_PATH");
    char *opt = loader_own_dir("/opt/infra/bin/infra");
    char *moved = loader_own_dir("/srv/moved/infra/bin/infra");
    assert_non_null(opt);
    assert_non_null(moved);
    assert_int_equal(strncmp(opt, "/opt/infra/", 11), 0);
    assert_int_equal(strncmp(moved, "/srv/moved/infra/", 17), 0);
    assert_string_equal(opt + 11, moved + 17); /* the same LIBDIR/infra/plugins */
    assert_non_null(strstr(opt, "/infra/plugins"));
    assert_string_equal(opt + strlen(opt) - strlen("/infra/plugins"), "/infra/plugins");

    char **dirs = loader_dirs_for("/opt/infra/bin/infra");
    assert_int_equal(count_dirs(dirs), 1);
    assert_string_equal(dirs[0], opt);
    loader_dirs_free(dirs);
    free(moved);
    free(opt);

    /* A binary in no known layout searches INFRA_PLUGIN_PATH only. */
    assert_null(loader_own_dir("/home/someone/infra"));
    assert_null(loader_own_dir(INFRA_BUILD_DIR "/tests/infra"));
    dirs = loader_dirs_for("/home/someone/infra");
    assert_int_equal(count_dirs(dirs), 0);
    loader_dirs_free(dirs);
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
    static const char *const all_broken[] = {
        "broken-abi-minor",
        "broken-abi2",
        "broken-cxx-entry",
        "broken-entry-error",
        "broken-entry-null",
        "broken-kind",
        "broken-magic",
        "broken-no-entry",
        "broken-no-name",
        "broken-no-ops",
        "broken-no-read",
        "broken-no-version",
        "broken-sched-no-bootstrap",
        "broken-small-desc",
        "broken-small-ops",
        "broken-small-sched-ops",
        "broken-swapped-entry",
        "broken-time-t",
        "broken-zero-ops-size",
        "dup-b",
    };
    const char *broken[sizeof(all_broken) / sizeof(all_broken[0])];
    size_t nbroken = 0;
    for (size_t i = 0; i < sizeof(all_broken) / sizeof(all_broken[0]); i++)
        if (INFRA_SAMPLE_CXX || strcmp(all_broken[i], "broken-cxx-entry") != 0)
            broken[nbroken++] = all_broken[i];
    const char *dirs[] = {INFRA_SAMPLES_DIR, NULL};
    loader ld = {0};

    assert_int_equal(loader_scan_dirs(&ld, dirs), 0);

    /* Sorted file order: dup-a.so, newer-minor.so, sample-sched.so, sample.so. */
    assert_int_equal(ld.nplugins, 4);
    assert_string_equal(ld.plugins[0].desc->name, "dup");
    assert_string_equal(ld.plugins[1].desc->name, "broken");
    assert_string_equal(ld.plugins[2].desc->name, "sample-sched");
    assert_string_equal(ld.plugins[3].desc->name, "sample");

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
/* Loading only what is named                                         */

/* A directory holding copies of sample (as sample.so and other.so, whose
 * constructor leaves a marker), sample-sched and a broken plugin. */
static char *mixed_dir(char **marker)
{
    char *dir = make_tmpdir();
    static const char *const files[][2] = {
        {"sample", "sample.so"},
        {"sample", "other.so"},
        {"sample-sched", "sample-sched.so"},
        {"broken-magic", "broken-magic.so"},
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char *src = sample(files[i][0]);
        free(copy_to(src, dir, files[i][1], 0644));
        free(src);
    }
    *marker = util_printf("%s/constructor-ran", dir);
    return dir;
}

static void test_require_loads_only_the_file_named_after_the_plugin(void **state)
{
    char *marker = NULL;
    char *dir = mixed_dir(&marker);
    const char *dirs[] = {dir, NULL};
    loader ld = {0};
    char *err = NULL;
    char *expected = util_printf("%s/sample-sched.so", dir);

    setenv("INFRA_SAMPLE_LOAD_MARKER", marker, 1);
    loader_set_dirs(&ld, dirs);
    const loader_plugin *p = loader_require(&ld, "sample-sched", INFRA_PLUGIN_SCHEDULER, &err);
    assert_non_null(p);
    assert_null(err);
    assert_string_equal(p->path, expected);
    assert_int_equal(ld.nplugins, 1);
    assert_int_equal(ld.nrefusals, 0);          /* broken-magic.so was never opened */
    assert_int_equal(access(marker, F_OK), -1); /* nor sample.so, nor other.so */

    /* Asked again: the same plugin, nothing more loaded. */
    assert_ptr_equal(loader_require(&ld, "sample-sched", 0, &err), p);
    assert_int_equal(ld.nplugins, 1);
    unsetenv("INFRA_SAMPLE_LOAD_MARKER");

    free(expected);
    loader_free(&ld);
    free(marker);
    remove_tree(dir);
}

static void test_require_takes_the_first_directory_with_the_file(void **state)
{
    char *src = sample("sample");
    char *a = make_tmpdir(), *b = make_tmpdir();
    char *in_a = copy_to(src, a, "sample.so", 0644);
    char *in_b = copy_to(src, b, "sample.so", 0644);
    const char *dirs[] = {b, a, NULL};
    loader ld = {0};
    char *err = NULL;

    loader_set_dirs(&ld, dirs);
    const loader_plugin *p = loader_require(&ld, "sample", INFRA_PLUGIN_PROVIDER, &err);
    assert_non_null(p);
    assert_string_equal(p->path, in_b);
    assert_int_equal(ld.nplugins, 1);
    assert_int_equal(ld.nrefusals, 0);

    loader_free(&ld);
    free(in_a);
    free(in_b);
    remove_tree(a);
    remove_tree(b);
    free(src);
}

/* No file is named after the plugin: every plugin is loaded to find it,
 * and a name nobody declares is explained as before. */
static void test_require_scans_for_a_name_no_file_carries(void **state)
{
    char *src = sample("sample");
    char *dir = make_tmpdir();
    char *renamed = copy_to(src, dir, "renamed.so", 0644);
    char *broken_src = sample("broken-magic");
    char *broken = copy_to(broken_src, dir, "broken-magic.so", 0644);
    const char *dirs[] = {dir, NULL};
    loader ld = {0};
    char *err = NULL;

    loader_set_dirs(&ld, dirs);
    const loader_plugin *p = loader_require(&ld, "sample", INFRA_PLUGIN_PROVIDER, &err);
    assert_non_null(p);
    assert_string_equal(p->path, renamed);
    assert_true(refusal_index(&ld, broken) >= 0);

    assert_null(loader_require(&ld, "nope", INFRA_PLUGIN_PROVIDER, &err));
    char *expected =
        util_printf("no provider plugin named \"nope\" (available: sample); searched: %s", dir);
    assert_string_equal(err, expected);
    free(expected);
    free(err);

    /* A name is never a path. */
    assert_null(loader_require(&ld, "../sample", 0, &err));
    free(err);

    loader_free(&ld);
    free(broken);
    free(broken_src);
    free(renamed);
    remove_tree(dir);
    free(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dirs_are_plugin_path_then_the_build_trees_plugins_for_its_binary),
        cmocka_unit_test(test_installed_binary_searches_its_own_prefix_never_the_build_tree),
        cmocka_unit_test(test_scan_honours_plugin_path_order_first_name_wins),
        cmocka_unit_test(test_scan_of_samples_loads_good_and_refuses_each_broken),
        cmocka_unit_test(test_scan_considers_only_regular_files_ending_in_so),
        cmocka_unit_test(test_require_loads_only_the_file_named_after_the_plugin),
        cmocka_unit_test(test_require_takes_the_first_directory_with_the_file),
        cmocka_unit_test(test_require_scans_for_a_name_no_file_carries),
        cmocka_unit_test(test_find_explains_missing_and_wrong_kind),
        cmocka_unit_test(test_find_in_empty_loader_lists_none_available),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
