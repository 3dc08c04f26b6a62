/* Variables, environments and environment variables: precedence
 * (default < environment < INFRA_VAR_ < --var-file < --var), type conversion, the
 * environment's override, ${env.NAME} and the errors of each. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_topology_helpers.h"

static const char vars_yaml[] = "name: app\n"
                                "variables:\n"
                                "  size: small\n"
                                "  replicas: { default: 1, type: number, description: how many }\n"
                                "  region: { type: string }\n"
                                "  zones: { default: [a], type: list }\n"
                                "  debug: { default: false }\n"
                                "  tag: { default: \"1.0\" }\n"
                                "environments:\n"
                                "  int: { size: tiny }\n"
                                "  prod:\n"
                                "    size: large\n"
                                "    replicas: 3\n"
                                "    region: eu\n"
                                "    override:\n"
                                "      instances:\n"
                                "        web: { extra: true, size: huge }\n"
                                "      networks:\n"
                                "        prod-only: {}\n"
                                "providers: { p: {} }\n"
                                "instances:\n"
                                "  web:\n"
                                "    size: ${size}\n"
                                "    replicas: ${var.replicas}\n"
                                "    zones: ${zones}\n"
                                "    debug: ${debug}\n"
                                "    label: \"${size}-${replicas}-${debug}-${zones}\"\n"
                                "    tag: ${tag}\n";

static const json_t *cfg(const topology *t, const char *key)
{
    return json_object_get(res(t, "instance.web")->config, key);
}

static char *write_temp(const char *text)
{
    char *path = util_strdup("/tmp/infra-test-vars-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_topology_variable_defaults_and_exact_expressions_keep_their_type(void **unused)
{
    topology *t = load_ok(vars_yaml);
    assert_json(cfg(t, "size"), "\"small\"");
    assert_json(cfg(t, "replicas"), "1");
    assert_json(cfg(t, "zones"), "[\"a\"]");
    assert_json(cfg(t, "debug"), "false");
    /* Inside text, values are converted to text and concatenated. */
    assert_json(cfg(t, "label"), "\"small-1-false-[\\\"a\\\"]\"");
    /* A quoted default stays a string. */
    assert_json(cfg(t, "tag"), "\"1.0\"");
    assert_null(topology_resource(t, "network.prod-only"));
    topology_free(t);
}

static void test_topology_environment_sets_variables_and_deep_merges_override(void **unused)
{
    topology_options o = {.environment = "prod"};
    topology *t = load_opts(vars_yaml, &o);
    assert_string_equal(t->environment, "prod");
    assert_json(cfg(t, "replicas"), "3");
    /* The override replaces what it names and keeps the rest of the body. */
    assert_json(cfg(t, "size"), "\"huge\"");
    assert_json(cfg(t, "extra"), "true");
    assert_json(cfg(t, "tag"), "\"1.0\"");
    assert_non_null(topology_resource(t, "network.prod-only"));
    /* The overridden value points at the override. */
    diag_loc loc;
    assert_int_equal(topology_locate(t, "instance.web", "extra", &loc), 0);
    assert_int_equal(loc.line, 17);
    topology_free(t);

    o.environment = "int";
    t = load_opts(vars_yaml, &o);
    assert_json(cfg(t, "size"), "\"tiny\"");
    assert_json(cfg(t, "replicas"), "1");
    assert_null(cfg(t, "extra"));
    topology_free(t);
}

static void test_topology_var_file_overrides_environment_and_var_overrides_both(void **unused)
{
    char *file = write_temp("size: from-file\nreplicas: 5\nzones: [x, y]\n");
    const char *files[] = {file, NULL};
    topology_options o = {.environment = "prod", .var_files = files};
    topology *t = load_opts(vars_yaml, &o);
    assert_json(cfg(t, "size"), "\"huge\""); /* the override still wins for this attribute */
    assert_json(cfg(t, "replicas"), "5");
    assert_json(cfg(t, "zones"), "[\"x\",\"y\"]");
    assert_json(cfg(t, "label"), "\"from-file-5-false-[\\\"x\\\",\\\"y\\\"]\"");
    topology_free(t);

    const char *vars[] = {"replicas=7", "debug=true", "size=cli", "zones=[p, q]", NULL};
    o.vars = vars;
    o.environment = NULL;
    t = load_opts(vars_yaml, &o);
    /* --var text becomes the declared (or default's) type. */
    assert_json(cfg(t, "replicas"), "7");
    assert_json(cfg(t, "debug"), "true");
    assert_json(cfg(t, "size"), "\"cli\"");
    assert_json(cfg(t, "zones"), "[\"p\",\"q\"]");
    topology_free(t);
    unlink(file);
    free(file);
}

/* INFRA_VAR_NAME overrides the topology (default and environment) and is
 * overridden by what the command line says (--var-file, --var). */
static void
test_topology_infra_var_environment_ranks_between_environment_and_var_file(void **unused)
{
    setenv("INFRA_VAR_replicas", "9", 1);
    setenv("INFRA_VAR_region", "from-env", 1);
    setenv("INFRA_VAR_undeclared", "ignored", 1);
    topology_options o = {.environment = "prod"};
    topology *t = load_opts(vars_yaml, &o);
    assert_json(cfg(t, "replicas"), "9"); /* over the environment's 3, as a number */
    topology_free(t);

    char *file = write_temp("replicas: 5\n");
    const char *files[] = {file, NULL};
    o.var_files = files;
    t = load_opts(vars_yaml, &o);
    assert_json(cfg(t, "replicas"), "5");
    topology_free(t);

    const char *vars[] = {"replicas=7", NULL};
    o.vars = vars;
    t = load_opts(vars_yaml, &o);
    assert_json(cfg(t, "replicas"), "7");
    topology_free(t);

    /* Converted like --var, and named in the error. */
    setenv("INFRA_VAR_replicas", "many", 1);
    char *line = load_error_opts(vars_yaml, NULL);
    assert_string_equal(line, "t.yaml:4:3: error: variables.replicas: INFRA_VAR_replicas: "
                              "expected a number, got \"many\"");
    free(line);

    unsetenv("INFRA_VAR_replicas");
    unsetenv("INFRA_VAR_region");
    unsetenv("INFRA_VAR_undeclared");
    unlink(file);
    free(file);
}

static void test_topology_bad_var_conversion_names_the_variable(void **unused)
{
    const char *vars[] = {"replicas=three", NULL};
    topology_options o = {.vars = vars};
    char *line = load_error_opts(vars_yaml, &o);
    assert_string_equal(line, "t.yaml:4:3: error: variables.replicas: --var replicas: expected a "
                              "number, got \"three\"");
    free(line);
    const char *bad[] = {"debug=maybe", NULL};
    o.vars = bad;
    line = load_error_opts(vars_yaml, &o);
    assert_string_equal(line, "t.yaml:7:3: error: variables.debug: --var debug: expected a "
                              "boolean, got \"maybe\"");
    free(line);
    /* A value of the wrong type in the file points at that value. */
    char *yaml = util_strdup(vars_yaml);
    memcpy(strstr(yaml, "replicas: 3\n"), "replicas: x\n", 12);
    o.vars = NULL;
    o.environment = "prod";
    line = load_error_opts(yaml, &o);
    assert_string_equal(line, "t.yaml:13:15: error: environments.prod.replicas: expected a number, "
                              "got string \"x\"");
    free(line);
    free(yaml);
}

static void test_topology_undeclared_var_is_an_error_with_a_suggestion(void **unused)
{
    const char *vars[] = {"sise=big", NULL};
    topology_options o = {.vars = vars};
    char *line = load_error_opts(vars_yaml, &o);
    assert_string_equal(line, "t.yaml:2:1: error: variables: unknown variable \"sise\" given with "
                              "--var (did you mean \"size\"?)");
    free(line);
    const char *malformed[] = {"size", NULL};
    o.vars = malformed;
    line = load_error_opts(vars_yaml, &o);
    assert_string_equal(line, "t.yaml: error: --var \"size\" is not of the form NAME=VALUE");
    free(line);

    char *file = write_temp("size: a\nreplika: 2\n");
    const char *files[] = {file, NULL};
    topology_options f = {.var_files = files};
    line = load_error_opts(vars_yaml, &f);
    char *expected = util_printf("%s:2:1: error: replika: unknown variable \"replika\" (did you "
                                 "mean \"replicas\"?)",
                                 file);
    assert_string_equal(line, expected);
    free(expected);
    free(line);
    unlink(file);
    free(file);
}

static void test_topology_variable_without_value_is_reported_where_used(void **unused)
{
    char *yaml = util_printf("%s    where: ${region}\n", vars_yaml);
    char *line = load_error(yaml);
    assert_string_equal(line,
                        "t.yaml:29:12: error: instances.web.where: variable \"region\" has no "
                        "value: give it a default or pass --var region=...");
    free(line);
    topology_options o = {.environment = "prod"};
    topology *t = load_opts(yaml, &o);
    assert_json(cfg(t, "where"), "\"eu\"");
    topology_free(t);
    free(yaml);
}

static void test_topology_environments_are_checked(void **unused)
{
    topology_options o = {.environment = "prd"};
    char *line = load_error_opts(vars_yaml, &o);
    assert_string_equal(line, "t.yaml:9:1: error: environments: unknown environment \"prd\": the "
                              "topology declares int, prod (did you mean \"prod\"?)");
    free(line);
    assert_load_error("name: app\nvariables: { size: 1 }\nenvironments:\n  int: { sise: 2 }\n",
                      "t.yaml:4:10: error: environments.int.sise: unknown key \"sise\" (did you "
                      "mean \"size\"?)");
    assert_load_error("name: app\nenvironments:\n  int: { override: { name: other } }\n",
                      "t.yaml:3:22: error: environments.int.override.name: an environment's "
                      "override cannot change \"name\"");
    /* Without environments, -e only names a separate state. */
    o.environment = "anything";
    topology *t = load_opts("name: app\n", &o);
    assert_string_equal(t->environment, "anything");
    topology_free(t);
}

static void test_topology_environment_variables_with_and_without_fallback(void **unused)
{
    setenv("INFRA_TEST_TOPO_DIR", "/srv/x", 1);
    unsetenv("INFRA_TEST_TOPO_UNSET");
    topology *t = load_ok("name: app\n"
                          "variables: { home: \"${env.INFRA_TEST_TOPO_DIR}/h\" }\n"
                          "providers:\n  p:\n    dir: ${env.INFRA_TEST_TOPO_DIR}\n"
                          "    other: \"${env.INFRA_TEST_TOPO_UNSET:-/tmp/default}\"\n"
                          "    empty: \"${env.INFRA_TEST_TOPO_UNSET:-}\"\n"
                          "    home: ${home}\n");
    assert_json(t->providers[0].settings, "{\"dir\":\"/srv/x\",\"other\":\"/tmp/default\","
                                          "\"empty\":\"\",\"home\":\"/srv/x/h\"}");
    topology_free(t);
    assert_load_error("name: app\nproviders:\n  p: { dir: \"${env.INFRA_TEST_TOPO_UNSET}\" }\n",
                      "t.yaml:3:13: error: providers.p.dir: environment variable "
                      "\"INFRA_TEST_TOPO_UNSET\" is not set (use "
                      "${env.INFRA_TEST_TOPO_UNSET:-default} to give a fallback)");
    unsetenv("INFRA_TEST_TOPO_DIR");
}

static void test_topology_variable_cycles_and_unknown_names_are_errors(void **unused)
{
    assert_load_error("name: app\nvariables:\n  a: ${b}\n  b: \"x${a}\"\n",
                      "t.yaml:4:6: error: variables.b: variable \"a\" refers to itself through its "
                      "own value");
    assert_load_error("name: app\nvariables: { region: eu }\noutputs:\n  r: ${regoin}\n",
                      "t.yaml:4:6: error: outputs.r: unknown variable \"regoin\" in ${regoin} (did "
                      "you mean \"region\"?)");
    assert_load_error(
        "name: app\nvariables:\n  a: { default: 1, type: integer }\n",
        "t.yaml:3:26: error: variables.a.type: unknown type \"integer\" (expected one of: "
        "string, number, bool, list, map)");
    assert_load_error("name: app\nvariables:\n  a: { defualt: 1 }\n",
                      "t.yaml:3:8: error: variables.a.defualt: unknown key \"defualt\" (did you "
                      "mean \"default\"?)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topology_variable_defaults_and_exact_expressions_keep_their_type),
        cmocka_unit_test(test_topology_environment_sets_variables_and_deep_merges_override),
        cmocka_unit_test(test_topology_var_file_overrides_environment_and_var_overrides_both),
        cmocka_unit_test(
            test_topology_infra_var_environment_ranks_between_environment_and_var_file),
        cmocka_unit_test(test_topology_bad_var_conversion_names_the_variable),
        cmocka_unit_test(test_topology_undeclared_var_is_an_error_with_a_suggestion),
        cmocka_unit_test(test_topology_variable_without_value_is_reported_where_used),
        cmocka_unit_test(test_topology_environments_are_checked),
        cmocka_unit_test(test_topology_environment_variables_with_and_without_fallback),
        cmocka_unit_test(test_topology_variable_cycles_and_unknown_names_are_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
