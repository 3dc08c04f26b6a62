/* Variables declared sensitive: the values they flow into are recognised
 * (configs, other variables, outputs), their text prints as "(sensitive)"
 * in logs, and no error ever quotes them. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/log.h"
#include "test_topology_helpers.h"

static const char yaml[] = "name: app\n"
                           "variables:\n"
                           "  password: { default: \"s3cret-value-1\", sensitive: true }\n"
                           "  pin: { default: 73914, type: number, sensitive: true }\n"
                           "  url: { default: \"db://u:${password}@db\" }\n"
                           "  size: small\n"
                           "providers: { p: {} }\n"
                           "instances:\n"
                           "  web:\n"
                           "    size: ${size}\n"
                           "    conn: \"x-${url}-y\"\n"
                           "    pin: ${pin}\n"
                           "    list: [a, \"${password}\"]\n"
                           "outputs:\n"
                           "  conn: ${url}\n"
                           "  size: ${size}\n";

static const json_t *attr(const topology *t, const char *key)
{
    return json_object_get(topology_resource(t, "instance.web")->config, key);
}

static const topo_output *output(const topology *t, const char *name)
{
    for (size_t i = 0; i < t->noutputs; i++)
        if (!strcmp(t->outputs[i].name, name))
            return &t->outputs[i];
    fail_msg("no output %s", name);
    return NULL;
}

static void test_values_a_sensitive_variable_flows_into_are_sensitive(void **unused)
{
    topology *t = load_ok(yaml);
    /* Through another variable, inside a string, as a number, in a list. */
    assert_json(attr(t, "conn"), "\"x-db://u:s3cret-value-1@db-y\"");
    assert_true(topology_value_sensitive(t, attr(t, "conn")));
    assert_true(topology_value_sensitive(t, attr(t, "pin")));
    assert_true(topology_value_sensitive(t, attr(t, "list")));
    assert_false(topology_value_sensitive(t, attr(t, "size")));
    assert_false(topology_value_sensitive(t, NULL));
    topology_free(t);

    /* Nothing is sensitive in a topology without such variables. */
    t = load_ok("name: plain\nvariables: { size: small }\nproviders: { p: {} }\n"
                "instances: { web: { size: \"${size}\" } }\n");
    assert_false(topology_value_sensitive(t, attr(t, "size")));
    topology_free(t);
}

static void test_an_output_made_from_a_sensitive_variable_is_never_computed(void **unused)
{
    topology *t = load_ok(yaml);
    const topo_output *conn = output(t, "conn"), *size = output(t, "size");
    assert_true(conn->sensitive);
    assert_json(conn->value, "\"(sensitive)\"");
    assert_false(size->sensitive);
    assert_json(size->value, "\"small\"");
    topology_free(t);
}

static void test_sensitive_values_print_as_sensitive(void **unused)
{
    topology *t = load_ok(yaml);
    char *line = log_redact("connecting with s3cret-value-1 and pin 73914");
    assert_string_equal(line, "connecting with (sensitive) and pin (sensitive)");
    free(line);
    topology_free(t);
}

static void test_errors_about_a_sensitive_variable_never_quote_its_value(void **unused)
{
    const char *vars[] = {"pin=hunter2-typed-wrong", NULL};
    topology_options o = {.vars = vars};
    char *line = load_error_opts(yaml, &o);
    assert_string_equal(line, "t.yaml:4:3: error: variables.pin: --var pin: expected a number, "
                              "got a value that is not (it is sensitive: not shown)");
    free(line);

    setenv("INFRA_VAR_pin", "hunter2-from-env", 1);
    line = load_error_opts(yaml, NULL);
    assert_string_equal(line, "t.yaml:4:3: error: variables.pin: INFRA_VAR_pin: expected a "
                              "number, got a value that is not (it is sensitive: not shown)");
    free(line);
    unsetenv("INFRA_VAR_pin");

    line = load_error("name: app\nvariables:\n"
                      "  pin: { default: \"hunter2-in-yaml\", type: number, sensitive: true }\n");
    assert_string_equal(line, "t.yaml:3:19: error: variables.pin.default: expected a number, got "
                              "a string (sensitive: not shown)");
    free(line);
}

static void test_sensitive_must_be_true_or_false(void **unused)
{
    assert_load_error("name: app\nvariables:\n  pw: { sensitive: yes please }\n",
                      "t.yaml:3:20: error: variables.pw.sensitive: expected true or false, got a "
                      "string");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_a_sensitive_variable_flows_into_are_sensitive),
        cmocka_unit_test(test_an_output_made_from_a_sensitive_variable_is_never_computed),
        cmocka_unit_test(test_sensitive_values_print_as_sensitive),
        cmocka_unit_test(test_errors_about_a_sensitive_variable_never_quote_its_value),
        cmocka_unit_test(test_sensitive_must_be_true_or_false),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
