/* Plugin loader, one file at a time: every refusal has one exact line
 * saying what to change, nothing from a refused file runs, and each plugin
 * gets its own copy of the host tables. The plugins under test are the
 * samples of tests/plugins, built before this test. The search path and
 * lookups are in test_loader_search.c. */
#define _GNU_SOURCE
#include "test_loader_helpers.h"

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

/* A 1.2 plugin's provider ops hold read_many: the header it was compiled
 * against has it, so a smaller table was not sized with sizeof. */
static void test_refuses_provider_ops_smaller_than_its_abi_minor_had(void **state)
{
    assert_refused_with("broken-small-ops", 0,
                        "table too small: provider ops size %zu, infra needs at least %zu "
                        "(plugin targets ABI %d.%d, this infra supports ABI %d.x)",
                        offsetof(infra_provider_ops, upgrade_state),
                        END_OF(infra_provider_ops, read_many), INFRA_ABI_MAJOR, INFRA_ABI_MINOR,
                        INFRA_ABI_MAJOR);
}

static void test_refuses_scheduler_ops_smaller_than_its_abi_minor_had(void **state)
{
    assert_refused_with("broken-small-sched-ops", 0,
                        "table too small: scheduler ops size %zu, infra needs at least %zu "
                        "(plugin targets ABI %d.%d, this infra supports ABI %d.x)",
                        offsetof(infra_scheduler_ops, federate),
                        END_OF(infra_scheduler_ops, cluster_status), INFRA_ABI_MAJOR,
                        INFRA_ABI_MINOR, INFRA_ABI_MAJOR);
}

static void test_refuses_ops_table_without_a_size(void **state)
{
    assert_refused_with("broken-zero-ops-size", 0,
                        "plugin \"broken\" has a provider ops table of size 0 (set its first "
                        "field to sizeof(infra_provider_ops))");
}

static void test_refuses_provider_without_an_operation_every_run_calls(void **state)
{
    assert_refused_with("broken-no-read", 0,
                        "plugin \"broken\" is a provider without read (a provider needs "
                        "schema, configure, plan, apply, read and close; set them in its "
                        "provider ops table)");
}

static void test_refuses_scheduler_that_cannot_bootstrap_nodes(void **state)
{
    assert_refused_with("broken-sched-no-bootstrap", 0,
                        "plugin \"broken\" is a scheduler without node_bootstrap (a scheduler "
                        "needs configure, node_bootstrap and close; set them in its scheduler "
                        "ops table)");
}

static void test_refuses_newer_abi_minor_unless_it_checks_host_slots(void **state)
{
    assert_refused_with("broken-abi-minor", 0,
                        "plugin targets ABI %d.9, newer than this infra's ABI %d.%d (rebuild it "
                        "against infra %s's plugin.h, or set INFRA_CAP_HOST_SLOTS_CHECKED once "
                        "it checks every host slot it uses with INFRA_HAS_SLOT)",
                        INFRA_ABI_MAJOR, INFRA_ABI_MAJOR, INFRA_ABI_MINOR,
                        host_table()->host_version);

    char *path = sample("newer-minor");
    loader_plugin p;
    char *err = NULL;
    assert_int_equal(loader_load_file(path, INFRA_PLUGIN_PROVIDER, &p, &err), 0);
    assert_null(err);
    assert_int_equal(p.desc->abi_minor, 9);
    loader_plugin_unload(&p);
    free(path);
}

static void test_refuses_cxx_entry_without_c_linkage_saying_extern_c(void **state)
{
    if (!INFRA_SAMPLE_CXX)
        skip(); /* no C++ compiler to build the sample with */
    assert_refused_with("broken-cxx-entry", 0,
                        "no entry symbol \"infra_plugin_entry\", but a C++ function "
                        "infra_plugin_entry(const infra_host *, const infra_plugin **) without C "
                        "linkage (declare it extern \"C\", as <infra/plugin.h> does unless "
                        "INFRA_PLUGIN_NO_ENTRY_DECLARATION is defined)");
}

/* The host table size the sample plugin at path reports through its schema. */
static long long host_size_seen_by(const char *path)
{
    loader_plugin p;
    char *err = NULL;
    infra_call call;
    infra_json *schema = NULL;

    assert_int_equal(loader_load_file(path, INFRA_PLUGIN_PROVIDER, &p, &err), 0);
    host_call_init(&call, "", "sample");
    assert_int_equal(p.desc->provider->schema(&call, &schema), 0);
    long long size =
        (long long)json_integer_value(json_object_get(host_jansson(schema), "host_table_size"));
    json_decref(host_jansson(schema));
    host_call_clear(&call);
    loader_plugin_unload(&p);
    return size;
}

/* A plugin whose entry takes (out, host) stores its descriptor pointer in
 * the first field of the host table, its size: only its own copy. */
static void test_swapped_entry_parameters_cannot_spoil_the_next_plugins_host_table(void **state)
{
    char *swapped = sample("broken-swapped-entry");
    char *good = sample("sample");
    loader_plugin p;
    char *err = NULL;

    assert_true(loader_load_file(swapped, 0, &p, &err) < 0);
    char *expected = util_printf("%s: refused: entry function returned no descriptor", swapped);
    assert_string_equal(err, expected);
    assert_int_equal(host_table()->size, sizeof(infra_host));
    assert_int_equal(host_size_seen_by(good), (long long)sizeof(infra_host));

    free(expected);
    free(err);
    free(good);
    free(swapped);
}

/* Each plugin's table is its own, and so are the service tables. */
static void test_each_plugin_gets_its_own_copy_of_the_host_tables(void **state)
{
    char *a = sample("sample"), *b = sample("sample-sched");
    loader_plugin pa, pb;
    char *err = NULL;

    assert_int_equal(loader_load_file(a, 0, &pa, &err), 0);
    assert_int_equal(loader_load_file(b, 0, &pb, &err), 0);
    const infra_host *ha = (const infra_host *)pa.host, *hb = (const infra_host *)pb.host;
    assert_ptr_not_equal(ha, hb);
    assert_ptr_not_equal(ha, host_table());
    assert_ptr_not_equal(ha->json, host_table()->json);
    assert_ptr_not_equal(ha->json, hb->json);
    assert_ptr_not_equal(ha->secrets, hb->secrets);
    assert_ptr_equal(ha->json->parse, host_table()->json->parse);
    assert_int_equal(ha->size, sizeof(infra_host));

    loader_plugin_unload(&pb);
    loader_plugin_unload(&pa);
    free(a);
    free(b);
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

static void test_refuses_file_or_directory_writable_by_its_group(void **state)
{
    char *src = sample("sample");
    char *dir = make_tmpdir();
    char *path = copy_to(src, dir, "sample.so", 0664);
    char *expected =
        util_printf("%s: refused: writable by its group (mode 0664); run chmod g-w %s", path, path);
    loader_plugin p;
    char *err = NULL;

    assert_true(loader_load_file(path, 0, &p, &err) < 0);
    assert_string_equal(err, expected);
    assert_false(is_loaded(path));
    free(err);
    free(expected);

    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(chmod(dir, 0770), 0);
    expected = util_printf(
        "%s: refused: directory %s is writable by its group (mode 0770); run chmod g-w %s", path,
        dir, dir);
    assert_true(loader_load_file(path, 0, &p, &err) < 0);
    assert_string_equal(err, expected);
    free(err);
    free(expected);

    free(path);
    remove_tree(dir);
    free(src);
}

/* Changing an owner needs root (CI runs as root). */
static void test_refuses_file_or_directory_owned_by_another_user(void **state)
{
    if (geteuid() != 0)
        skip();
    char *src = sample("sample");
    char *dir = make_tmpdir();
    char *path = copy_to(src, dir, "sample.so", 0644);
    char *expected = util_printf("%s: refused: owned by uid 65534, not by root or the user "
                                 "running infra (uid 0); run chown 0 %s",
                                 path, path);
    loader_plugin p;
    char *err = NULL;

    unsetenv("SUDO_UID");
    assert_int_equal(chown(path, 65534, 65534), 0);
    assert_true(loader_load_file(path, 0, &p, &err) < 0);
    assert_string_equal(err, expected);
    assert_false(is_loaded(path));
    free(err);
    free(expected);

    /* Under sudo, the files of the user who ran sudo are that user's own. */
    setenv("SUDO_UID", "65534", 1);
    assert_int_equal(loader_load_file(path, 0, &p, &err), 0);
    loader_plugin_unload(&p);
    unsetenv("SUDO_UID");

    assert_int_equal(chown(path, 0, 0), 0);
    assert_int_equal(chown(dir, 65534, 65534), 0);
    expected = util_printf("%s: refused: directory %s is owned by uid 65534, not by root or the "
                           "user running infra (uid 0); run chown 0 %s",
                           path, dir, dir);
    assert_true(loader_load_file(path, 0, &p, &err) < 0);
    assert_string_equal(err, expected);
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
        cmocka_unit_test(test_refuses_provider_ops_smaller_than_its_abi_minor_had),
        cmocka_unit_test(test_refuses_scheduler_ops_smaller_than_its_abi_minor_had),
        cmocka_unit_test(test_refuses_ops_table_without_a_size),
        cmocka_unit_test(test_refuses_provider_without_an_operation_every_run_calls),
        cmocka_unit_test(test_refuses_scheduler_that_cannot_bootstrap_nodes),
        cmocka_unit_test(test_refuses_newer_abi_minor_unless_it_checks_host_slots),
        cmocka_unit_test(test_refuses_cxx_entry_without_c_linkage_saying_extern_c),
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
        cmocka_unit_test(test_refuses_file_or_directory_writable_by_its_group),
        cmocka_unit_test(test_refuses_file_or_directory_owned_by_another_user),
        cmocka_unit_test(test_refuses_link_to_file_in_directory_writable_by_others),
        cmocka_unit_test(test_swapped_entry_parameters_cannot_spoil_the_next_plugins_host_table),
        cmocka_unit_test(test_each_plugin_gets_its_own_copy_of_the_host_tables),
        cmocka_unit_test(test_sdk_example_manages_greeting_files_through_host_services),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
