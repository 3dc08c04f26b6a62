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
    assert_int_equal(l->errors, 3); /* the ${...} value is not type-checked */
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
