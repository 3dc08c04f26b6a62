/* The "test" provider plugin, loaded from the build tree with dlopen and
 * driven through its ops with the real host table (testprov_test.h): its
 * descriptor and schema, validate, configure, and the objects' life cycle
 * (create by token, update, drift, delete, read without state, import,
 * plan). Images and the fault-injection knobs: test_testprov_knobs.c. */
#define _GNU_SOURCE /* nftw */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "plugin/host.h"

#include "testprov_test.h"

/* ------------------------------------------------------------------ */

static void test_testprov_descriptor_declares_test_provider_and_capabilities(void **state)
{
    (void)state;
    assert_int_equal(plugin->magic, INFRA_PLUGIN_MAGIC);
    assert_int_equal(plugin->kind, INFRA_PLUGIN_PROVIDER);
    assert_string_equal(plugin->name, "test");
    assert_true(plugin->capabilities & INFRA_CAP_CONCURRENT);
    assert_true(plugin->capabilities & INFRA_CAP_TOKEN_CREATE);
    assert_true(plugin->capabilities & INFRA_CAP_READ_BY_TOKEN);
    assert_true(plugin->capabilities & INFRA_CAP_IMPORT);
    assert_true(INFRA_HAS_SLOT(ops, apply));
    assert_true(INFRA_HAS_SLOT(ops, close));
}

static void test_testprov_schema_lists_every_type_with_attribute_flags(void **state)
{
    static const char *types[] = {"network",       "firewall",   "instance",
                                  "load_balancer", "dns_record", "image"};
    infra_call call;
    infra_json *out = NULL;
    json_t *schema, *res;
    (void)state;

    call_setup(&call, "", NULL, NULL);
    assert_int_equal(ops->schema(&call, &out), 0);
    host_call_clear(&call);
    schema = host_jansson(out);
    res = json_object_get(schema, "resources");
    assert_int_equal(json_object_size(res), 6);
    for (size_t i = 0; i < 6; i++) {
        json_t *attrs = json_object_get(json_object_get(res, types[i]), "attributes");
        assert_non_null(attrs);
        assert_true(json_is_true(json_object_get(json_object_get(attrs, "id"), "computed")));
    }
    assert_true(json_is_true(
        json_object_get(json_object_get(json_object_get(schema, "settings"), "dir"), "required")));
    assert_true(json_is_true(json_object_get(
        json_object_get(json_object_get(json_object_get(res, "network"), "attributes"), "cidr"),
        "force_new")));
    json_t *inst = json_object_get(json_object_get(res, "instance"), "attributes");
    assert_true(json_is_true(json_object_get(json_object_get(inst, "password"), "sensitive")));
    assert_true(json_is_true(json_object_get(json_object_get(inst, "private_ip"), "computed")));
    assert_string_equal(str(json_object_get(inst, "tags"), "type"), "map");
    assert_true(json_is_true(json_object_get(json_object_get(res, "image"), "data_source")));
    json_decref(schema);
}

static int validate(const char *type, json_t *config, diags *d)
{
    infra_call call;
    int error;
    call_setup(&call, "x.y", NULL, d);
    error = ops->validate(&call, type, host_json(config));
    host_call_clear(&call);
    json_decref(config);
    return error;
}

static void test_testprov_validate_reports_bad_cidr_and_size_on_their_paths(void **state)
{
    diags d;
    (void)state;

    assert_int_equal(validate("network", json_pack("{s:s}", "cidr", "10.0.0/8"), &d),
                     INFRA_EINVALID);
    assert_true(diag_on(&d, "cidr"));
    assert_int_equal(validate("network", json_pack("{s:s}", "cidr", "10.0.0.0/33"), &d),
                     INFRA_EINVALID);
    assert_true(diag_on(&d, "cidr"));
    assert_int_equal(validate("instance", json_pack("{s:s}", "size", "huge"), &d), INFRA_EINVALID);
    assert_int_equal(d.n, 1);
    assert_true(diag_on(&d, "size"));

    assert_int_equal(validate("network", json_pack("{s:s}", "cidr", "10.1.0.0/16"), &d), 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(validate("instance", json_pack("{s:s}", "size", "medium"), &d), 0);
    assert_int_equal(d.n, 0);
    /* a value known only after apply: nothing to check yet */
    assert_int_equal(
        validate("network",
                 json_pack("{s:o}", "cidr", host_jansson(host_table()->json->new_unknown())), &d),
        0);
    assert_int_equal(d.n, 0);
}

static void test_testprov_validate_unknown_type_is_notsup_with_diag(void **state)
{
    diags d;
    (void)state;
    assert_int_equal(validate("bucket", json_object(), &d), INFRA_ENOTSUP);
    assert_int_equal(d.n, 1);
    assert_non_null(strstr(d.messages[0], "bucket"));
}

static void test_testprov_configure_requires_dir_and_checks_knobs(void **state)
{
    fixture *fx = *state;
    infra_call call;
    diags d;
    infra_provider *p = NULL;
    json_t *settings = json_object();

    call_setup(&call, "", NULL, &d);
    assert_int_equal(ops->configure(&call, host_json(settings), &p), INFRA_EINVALID);
    host_call_clear(&call);
    assert_null(p);
    assert_true(diag_on(&d, "dir"));
    json_decref(settings);

    assert_int_equal(configure(fx, json_pack("{s:s}", "crash_when", "during"), &d), INFRA_EINVALID);
    assert_true(diag_on(&d, "crash_when"));
    assert_int_equal(configure(fx, json_pack("{s:s}", "latency_ms", "soon"), &d), INFRA_EINVALID);
    assert_true(diag_on(&d, "latency_ms"));
    assert_int_equal(configure(fx, json_pack("{s:i}", "fail", 3), &d), INFRA_EINVALID);
    assert_true(diag_on(&d, "fail"));
    assert_null(fx->prov);

    assert_int_equal(configure(fx, NULL, &d), 0);
    assert_non_null(fx->prov);
    assert_int_equal(access(fx->dir, F_OK), 0); /* created */
}

static void test_testprov_create_twice_with_same_token_returns_same_object(void **state)
{
    fixture *fx = *state;
    json_t *cfg =
        json_pack("{s:s, s:s, s:s}", "size", "small", "image", "img-1", "password", "hunter22");
    json_t *a = create(fx, "instance", "instance.web[0]", TOKEN_A, cfg);
    json_t *b = create(fx, "instance", "instance.web[0]", TOKEN_A, cfg);

    assert_non_null(str(a, "id"));
    assert_string_equal(str(a, "id"), str(b, "id"));
    assert_string_equal(str(a, "private_ip"), str(b, "private_ip"));
    assert_int_equal(strncmp(str(a, "private_ip"), "10.", 3), 0);
    assert_non_null(str(a, "public_ip"));
    /* the cloud knows the password; keeping it out of state is the engine's job */
    assert_string_equal(str(a, "password"), "hunter22");
    assert_int_equal(count_objects(fx, "instance"), 1);

    char *log = calls_log(fx);
    assert_int_equal(count_lines(log), 2);
    assert_non_null(strstr(log, "create instance.web[0] tp-0123456789abcdef\n"));
    assert_non_null(strstr(log, "create instance.web[0] tp-0123456789abcdef existing\n"));
    free(log);
    json_decref(a);
    json_decref(b);
    json_decref(cfg);
}

static void test_testprov_create_with_different_tokens_makes_two_objects(void **state)
{
    fixture *fx = *state;
    json_t *cfg = json_pack("{s:s}", "cidr", "10.0.0.0/16");
    json_t *a = create(fx, "network", "network.main", TOKEN_A, cfg);
    json_t *b = create(fx, "network", "network.main", TOKEN_B, cfg);
    json_t *c = create(fx, "network", "network.main", "not-a-hex-token", cfg);

    assert_string_not_equal(str(a, "id"), str(b, "id"));
    assert_string_not_equal(str(a, "id"), str(c, "id"));
    assert_int_equal(count_objects(fx, "network"), 3);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(cfg);
}

static void test_testprov_update_rewrites_object_and_read_returns_it(void **state)
{
    fixture *fx = *state;
    int error;
    json_t *cfg = json_pack("{s:[s], s:[i]}", "targets", "10.0.0.1", "listen", 80);
    json_t *st = create(fx, "load_balancer", "load_balancer.apps", TOKEN_A, cfg);
    json_t *planned = json_pack("{s:[s,s], s:[i], s:s}", "targets", "10.0.0.1", "10.0.0.2",
                                "listen", 80, "health", "http:8080/health");
    json_t *updated =
        do_apply(fx, "load_balancer", "load_balancer.apps", NULL, st, planned, NULL, &error);
    json_t *got;

    assert_int_equal(error, 0);
    assert_string_equal(str(updated, "id"), str(st, "id"));
    assert_string_equal(str(updated, "dns_name"), str(st, "dns_name"));
    got = do_read(fx, "load_balancer", NULL, updated, &error);
    assert_int_equal(error, 0);
    assert_true(json_equal(got, updated));
    assert_int_equal(json_array_size(json_object_get(got, "targets")), 2);
    assert_string_equal(str(got, "health"), "http:8080/health");
    assert_int_equal(count_objects(fx, "load_balancer"), 1);

    char *log = calls_log(fx);
    assert_non_null(strstr(log, "update load_balancer.apps tp-0123456789abcdef\n"));
    free(log);
    json_decref(got);
    json_decref(updated);
    json_decref(planned);
    json_decref(st);
    json_decref(cfg);
}

static void test_testprov_read_shows_drift_after_object_file_is_edited(void **state)
{
    fixture *fx = *state;
    int error;
    char path[PATH_MAX];
    json_t *cfg = json_pack("{s:s}", "size", "small");
    json_t *st = create(fx, "instance", "instance.db", TOKEN_A, cfg);
    json_t *record, *got;

    fx_path(fx, path, "instance/%s.json", str(st, "id"));
    record = json_load_file(path, 0, NULL);
    assert_non_null(record);
    assert_string_equal(str(record, "address"), "instance.db");
    assert_string_equal(str(record, "token"), TOKEN_A);
    json_object_set_new(json_object_get(record, "attributes"), "size", json_string("large"));
    assert_int_equal(json_dump_file(record, path, 0), 0);

    got = do_read(fx, "instance", NULL, st, &error);
    assert_int_equal(error, 0);
    assert_string_equal(str(got, "size"), "large");
    assert_string_equal(str(got, "id"), str(st, "id"));
    json_decref(got);
    json_decref(record);
    json_decref(st);
    json_decref(cfg);
}

static void test_testprov_delete_removes_object_and_second_delete_is_notfound(void **state)
{
    fixture *fx = *state;
    int error;
    json_t *cfg = json_pack("{s:s, s:s}", "zone", "example.org.", "name", "*.app");
    json_t *st = create(fx, "dns_record", "dns_record.apps", TOKEN_A, cfg);
    json_t *out;

    assert_string_equal(str(st, "fqdn"), "*.app.example.org");
    out = do_apply(fx, "dns_record", "dns_record.apps", NULL, st, NULL, NULL, &error);
    assert_int_equal(error, 0);
    assert_null(out);
    assert_false(object_exists(fx, "dns_record", str(st, "id")));

    out = do_read(fx, "dns_record", NULL, st, &error);
    assert_int_equal(error, INFRA_ENOTFOUND);
    assert_null(out);
    out = do_apply(fx, "dns_record", "dns_record.apps", NULL, st, NULL, NULL, &error);
    assert_int_equal(error, INFRA_ENOTFOUND);

    char *log = calls_log(fx);
    assert_non_null(strstr(log, "delete dns_record.apps tp-0123456789abcdef\n"));
    assert_non_null(strstr(log, "delete dns_record.apps tp-0123456789abcdef missing\n"));
    free(log);
    json_decref(st);
    json_decref(cfg);
}

static void test_testprov_read_without_state_finds_object_by_token(void **state)
{
    fixture *fx = *state;
    int error;
    json_t *cfg = json_pack("{s:s, s:s}", "network", "net-1", "allow", "22");
    json_t *st = create(fx, "firewall", "firewall.ssh", TOKEN_A, cfg);
    json_t *found = do_read(fx, "firewall", TOKEN_A, NULL, &error);

    assert_int_equal(error, 0);
    assert_true(json_equal(found, st));
    json_decref(found);
    found = do_read(fx, "firewall", TOKEN_B, NULL, &error);
    assert_int_equal(error, INFRA_ENOTFOUND);
    assert_null(found);
    /* a token sharing the id prefix is another create's, not this one's */
    found = do_read(fx, "firewall", "0123456789abcdef00000000000000ff", NULL, &error);
    assert_int_equal(error, INFRA_ENOTFOUND);
    json_decref(st);
    json_decref(cfg);
}

static void test_testprov_import_reads_object_by_id(void **state)
{
    fixture *fx = *state;
    infra_call call;
    infra_json *out = NULL;
    diags d;
    json_t *cfg = json_pack("{s:s}", "cidr", "10.9.0.0/16");
    json_t *st = create(fx, "network", "network.old", TOKEN_B, cfg);

    call_setup(&call, "network.old", NULL, &d);
    assert_int_equal(ops->import(fx->prov, &call, "network", str(st, "id"), &out), 0);
    assert_true(json_equal(host_jansson(out), st));
    json_decref(host_jansson(out));
    out = NULL;
    assert_int_equal(ops->import(fx->prov, &call, "network", "tp-missing", &out), INFRA_ENOTFOUND);
    assert_int_equal(ops->import(fx->prov, &call, "network", "../calls", &out), INFRA_EINVALID);
    assert_true(diag_on(&d, "id"));
    host_call_clear(&call);
    json_decref(st);
    json_decref(cfg);
}

static void test_testprov_plan_carries_computed_and_names_force_new_changes(void **state)
{
    fixture *fx = *state;
    infra_call call;
    infra_json *planned = NULL, *replace = NULL;
    json_t *prior = json_pack("{s:s, s:s, s:s}", "id", "tp-1", "cidr", "10.0.0.0/16", "name", "a");
    json_t *rename = json_pack("{s:s, s:s}", "cidr", "10.0.0.0/16", "name", "b");
    json_t *recidr = json_pack("{s:s, s:s}", "cidr", "10.1.0.0/16", "name", "a");

    call_setup(&call, "network.main", NULL, NULL);
    assert_int_equal(
        ops->plan(fx->prov, &call, "network", NULL, host_json(rename), &planned, &replace), 0);
    assert_true(json_equal(host_jansson(planned), rename));
    assert_int_equal(json_array_size(host_jansson(replace)), 0);
    json_decref(host_jansson(planned));
    json_decref(host_jansson(replace));

    assert_int_equal(ops->plan(fx->prov, &call, "network", host_json(prior), host_json(rename),
                               &planned, &replace),
                     0);
    assert_string_equal(str(host_jansson(planned), "id"), "tp-1");
    assert_string_equal(str(host_jansson(planned), "name"), "b");
    assert_int_equal(json_array_size(host_jansson(replace)), 0);
    json_decref(host_jansson(planned));
    json_decref(host_jansson(replace));

    assert_int_equal(ops->plan(fx->prov, &call, "network", host_json(prior), host_json(recidr),
                               &planned, &replace),
                     0);
    assert_null(json_object_get(host_jansson(planned), "id")); /* unknown until replaced */
    assert_int_equal(json_array_size(host_jansson(replace)), 1);
    assert_string_equal(json_string_value(json_array_get(host_jansson(replace), 0)), "cidr");
    json_decref(host_jansson(planned));
    json_decref(host_jansson(replace));

    assert_int_equal(
        ops->plan(fx->prov, &call, "bucket", NULL, host_json(rename), &planned, &replace),
        INFRA_ENOTSUP);
    host_call_clear(&call);
    json_decref(prior);
    json_decref(rename);
    json_decref(recidr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define FX(t, setup) cmocka_unit_test_setup_teardown(t, setup, fixture_teardown)
        cmocka_unit_test(test_testprov_descriptor_declares_test_provider_and_capabilities),
        cmocka_unit_test(test_testprov_schema_lists_every_type_with_attribute_flags),
        cmocka_unit_test(test_testprov_validate_reports_bad_cidr_and_size_on_their_paths),
        cmocka_unit_test(test_testprov_validate_unknown_type_is_notsup_with_diag),
        FX(test_testprov_configure_requires_dir_and_checks_knobs, fixture_setup),
        FX(test_testprov_create_twice_with_same_token_returns_same_object,
           fixture_setup_configured),
        FX(test_testprov_create_with_different_tokens_makes_two_objects, fixture_setup_configured),
        FX(test_testprov_update_rewrites_object_and_read_returns_it, fixture_setup_configured),
        FX(test_testprov_read_shows_drift_after_object_file_is_edited, fixture_setup_configured),
        FX(test_testprov_delete_removes_object_and_second_delete_is_notfound,
           fixture_setup_configured),
        FX(test_testprov_read_without_state_finds_object_by_token, fixture_setup_configured),
        FX(test_testprov_import_reads_object_by_id, fixture_setup_configured),
        FX(test_testprov_plan_carries_computed_and_names_force_new_changes,
           fixture_setup_configured),
#undef FX
    };
    return cmocka_run_group_tests(tests, load_plugin, unload_plugin);
}
