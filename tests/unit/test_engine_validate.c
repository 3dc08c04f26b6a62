/* `infra validate`: schema checks, the plugin's validate op placed at the
 * attribute's line, unknown plugins and dependency cycles. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_engine_fake.h"

/* Opens yaml expecting failure; returns the diagnostics (fixture-owned). */
static diag_list *refused(fixture *fx, const char *yaml)
{
    fixture_write(fx, yaml);
    engine_options o = {.topology = fx->path, .builtin = fake_builtins};
    assert_int_equal(engine_open(&o, &fx->e, &fx->diags), INFRA_EINVALID);
    assert_null(fx->e);
    return &fx->diags;
}

/* The diagnostic with key, or a test failure. */
static const diag *find(const diag_list *l, const char *key)
{
    for (size_t i = 0; i < l->count; i++)
        if (l->items[i].key && !strcmp(l->items[i].key, key))
            return &l->items[i];
    for (size_t i = 0; i < l->count; i++) {
        char *line = diag_format(&l->items[i]);
        fprintf(stderr, "  %s\n", line);
        free(line);
    }
    fail_msg("no diagnostic for %s", key);
    return NULL;
}

static void test_validate_accepts_a_good_topology_without_configuring(void **unused)
{
    fixture *fx = fixture_new();
    fixture_write(fx, "name: ok\nproviders:\n  fake: { label: x }\nnetworks:\n"
                      "  main: { cidr: 10.0.0.0/24 }\ninstances:\n  web:\n    count: 2\n"
                      "    size: small\n    network: \"${network.main.id}\"\n"
                      "    tags: { role: web }\n");
    engine_options o = {.topology = fx->path, .builtin = fake_builtins};
    assert_int_equal(engine_open(&o, &fx->e, &fx->diags), 0);
    assert_int_equal(fx->diags.errors, 0);
    assert_int_equal(fx->e->providers[0].configured, 0);
    fixture_free(fx);
}

static void test_validate_unknown_attribute_suggests_the_closest(void **unused)
{
    fixture *fx = fixture_new();
    diag_list *l = refused(fx, "name: v\nproviders:\n  fake: {}\ninstances:\n  web:\n"
                               "    count: 3\n    sise: small\n");
    const diag *d = find(l, "instances.web.sise");
    assert_string_equal(d->message, "unknown attribute \"sise\" for instance (did you mean "
                                    "\"size\"?)");
    assert_true(d->line > 0);
    assert_int_equal(l->errors, 1); /* once, not once per count instance */
    fixture_free(fx);
}

static void test_validate_missing_required_computed_and_wrong_type(void **unused)
{
    fixture *fx = fixture_new();
    diag_list *l = refused(fx, "name: v\nproviders:\n  fake: {}\nnetworks:\n  main: { name: x }\n"
                               "instances:\n  web:\n    private_ip: 10.0.0.1\n"
                               "    tags: notamap\n    size: \"${network.main.id}\"\n");
    assert_string_equal(find(l, "networks.main")->message,
                        "missing required attribute \"cidr\"");
    assert_string_equal(find(l, "instances.web.private_ip")->message,
                        "\"private_ip\" is computed by the provider and cannot be set");
    assert_string_equal(find(l, "instances.web.tags")->message, "expected a map, got a string");
    assert_int_equal(l->errors, 3); /* the reference is unknown: it fits any type */
    fixture_free(fx);
}

static void test_validate_unknown_type_and_unknown_setting(void **unused)
{
    fixture *fx = fixture_new();
    diag_list *l = refused(fx, "name: v\nproviders:\n  fake: { lable: x }\n"
                               "networks:\n  main: { cidr: 10.0.0.0/24 }\n"
                               "firewalls:\n  web: {}\nresources:\n  instanse:\n    x: {}\n");
    assert_string_equal(find(l, "providers.fake.lable")->message,
                        "unknown setting \"lable\" for plugin \"fake\" (did you mean \"label\"?)");
    assert_string_equal(find(l, "firewalls.web")->message,
                        "provider \"fake\" (plugin \"fake\") has no resource type \"firewall\"");
    assert_string_equal(find(l, "resources.instanse.x")->message,
                        "provider \"fake\" (plugin \"fake\") has no resource type \"instanse\" "
                        "(did you mean \"instance\"?)");
    fixture_free(fx);
}

static void test_validate_places_plugin_diagnostics_at_the_attribute(void **unused)
{
    fixture *fx = fixture_new();
    diag_list *l = refused(fx, "name: v\nproviders:\n  fake: {}\ninstances:\n  web:\n"
                               "    image: img-1\n    size: huge\n");
    const diag *d = find(l, "instances.web.size");
    assert_string_equal(d->message, "size must be small or large");
    assert_int_equal(d->line, 7);
    assert_non_null(strstr(d->file, "topology.yaml"));
    fixture_free(fx);
}

static void test_validate_unknown_plugin_is_located_at_the_provider(void **unused)
{
    fixture *fx = fixture_new();
    setenv("INFRA_PLUGIN_PATH", fx->dir, 1);
    diag_list *l = refused(fx, "name: v\nproviders:\n  fake: {}\n  cloud:\n    plugin: nosuch\n");
    unsetenv("INFRA_PLUGIN_PATH");
    const diag *d = find(l, "providers.cloud");
    assert_non_null(strstr(d->message, "no provider plugin named \"nosuch\""));
    assert_int_equal(d->line, 4);
    fixture_free(fx);
}

static void test_validate_reports_a_dependency_cycle_at_its_first_resource(void **unused)
{
    fixture *fx = fixture_new();
    diag_list *l = refused(fx, "name: v\nproviders:\n  fake: {}\ninstances:\n  a:\n"
                               "    user_data: \"${instance.b.private_ip}\"\n  b:\n"
                               "    user_data: \"${instance.a.private_ip}\"\n");
    const diag *d = find(l, "instances.a");
    assert_string_equal(d->message, "dependency cycle: instance.a -> instance.b -> instance.a");
    assert_int_equal(d->line, 5);
    fixture_free(fx);
}

static void test_validate_hands_the_plugin_unknowns_never_template_text(void **unused)
{
    fixture *fx = fixture_new();
    fixture_write(fx, "name: ok\nproviders:\n  fake: {}\nnetworks:\n"
                      "  main: { cidr: 10.0.0.0/24 }\ninstances:\n  web:\n"
                      "    size: small\n    network: \"${network.main.id}\"\n"
                      "    user_data: \"boot on ${network.main.id}\"\n"
                      "    tags: { net: \"${network.main.id}\", literal: \"$${x}\" }\n");
    engine_options o = {.topology = fx->path, .builtin = fake_builtins};
    assert_int_equal(engine_open(&o, &fx->e, &fx->diags), 0);
    const infra_json_api *j = host_table()->json;
    const json_t *seen = json_object_get(fake.validated, "instance.web");
    assert_non_null(seen);
    assert_int_equal(j->type(host_json(json_object_get(seen, "network"))), INFRA_JSON_UNKNOWN);
    assert_int_equal(j->type(host_json(json_object_get(seen, "user_data"))), INFRA_JSON_UNKNOWN);
    const json_t *tags = json_object_get(seen, "tags");
    assert_int_equal(j->type(host_json(json_object_get(tags, "net"))), INFRA_JSON_UNKNOWN);
    assert_null(j->string(host_json(json_object_get(tags, "net"))));
    assert_string_equal(j->string(host_json(json_object_get(tags, "literal"))), "${x}");
    assert_string_equal(json_string_value(json_object_get(seen, "size")), "small");
    fixture_free(fx);
}

static void test_validate_converts_values_to_the_declared_types(void **unused)
{
    fixture *fx = fixture_new();
    fixture_write(fx, "name: ok\nproviders:\n  fake: {}\ninstances:\n  web:\n"
                      "    size: small\n    disk_gb: \"20\"\n    public: \"true\"\n"
                      "    user_data: 12\n");
    engine_options o = {.topology = fx->path, .builtin = fake_builtins};
    assert_int_equal(engine_open(&o, &fx->e, &fx->diags), 0);
    const json_t *seen = json_object_get(fake.validated, "instance.web");
    assert_true(json_is_integer(json_object_get(seen, "disk_gb")));
    assert_int_equal(json_integer_value(json_object_get(seen, "disk_gb")), 20);
    assert_true(json_is_true(json_object_get(seen, "public")));
    assert_string_equal(json_string_value(json_object_get(seen, "user_data")), "12");
    fixture_free(fx);
}

/* Every bad value of every resource, each at its line; the plugin does not
 * report again what the host refused. */
static void test_validate_reports_every_bad_entry(void **unused)
{
    fixture *fx = fixture_new();
    diag_list *l = refused(fx, "name: v\nproviders:\n  fake: {}\ninstances:\n"
                               "  a:\n    size: huge\n    disk_gb: twenty\n"
                               "  b:\n    disk_gb: \"99999999999999999999\"\n"
                               "    public: maybe\n    tags: [1]\n"
                               "  c:\n    size: tiny\n    user_data: [x]\n");
    assert_string_equal(find(l, "instances.a.size")->message, "size must be small or large");
    assert_string_equal(find(l, "instances.a.disk_gb")->message,
                        "expected an integer, got \"twenty\"");
    assert_int_equal(find(l, "instances.a.disk_gb")->line, 7);
    assert_string_equal(find(l, "instances.b.disk_gb")->message,
                        "expected an integer, got \"99999999999999999999\": out of range");
    assert_string_equal(find(l, "instances.b.public")->message,
                        "expected a boolean, got \"maybe\"");
    assert_string_equal(find(l, "instances.b.tags")->message, "expected a map, got a list");
    assert_string_equal(find(l, "instances.c.size")->message, "size must be small or large");
    assert_string_equal(find(l, "instances.c.user_data")->message,
                        "expected a string, got a list");
    assert_int_equal(l->errors, 7);
    fixture_free(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_accepts_a_good_topology_without_configuring),
        cmocka_unit_test(test_validate_unknown_attribute_suggests_the_closest),
        cmocka_unit_test(test_validate_missing_required_computed_and_wrong_type),
        cmocka_unit_test(test_validate_unknown_type_and_unknown_setting),
        cmocka_unit_test(test_validate_places_plugin_diagnostics_at_the_attribute),
        cmocka_unit_test(test_validate_unknown_plugin_is_located_at_the_provider),
        cmocka_unit_test(test_validate_reports_a_dependency_cycle_at_its_first_resource),
        cmocka_unit_test(test_validate_hands_the_plugin_unknowns_never_template_text),
        cmocka_unit_test(test_validate_converts_values_to_the_declared_types),
        cmocka_unit_test(test_validate_reports_every_bad_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
