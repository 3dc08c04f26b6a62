/* topology_eval: references resolved against what a lookup knows, with
 * the unknown value where they are not known yet, splats as lists, text
 * concatenation and the errors for attributes that do not exist. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "test_topology_helpers.h"

#include "base/unknown.h"

static const char eval_yaml[] =
    "name: app\n"
    "providers: { p: {} }\n"
    "networks:\n  main: {}\n"
    "instances:\n  web: { count: 3 }\n  text: {}\n"
    "clusters:\n  c:\n    scheduler: nomad\n    regions:\n"
    "      eu: { datacenters: { dc: { provider: p, servers: 2, clients: 1 } } }\n"
    "outputs:\n"
    "  id: ${network.main.id}\n"
    "  port: ${network.main.port}\n"
    "  url: \"http://${network.main.host}:${network.main.port}/x\"\n"
    "  ips: ${instance.web[*].ip}\n"
    "  first_tag: ${instance.web[0].tags.Name}\n"
    "  second_zone: ${instance.web[1].zones[1]}\n"
    "  servers: ${cluster.c.servers[*].ip}\n"
    "  literal: \"$${not.evaluated} ${network.main.id}\"\n"
    "  nested: { list: [\"${network.main.port}\", 1] }\n"
    "  text: ${instance.text.ip}\n";

/* Known attributes: { address: { attr: value } }; anything else is unknown. */
static const json_t *lookup(void *ud, const char *address, const char *attr)
{
    return json_object_get(json_object_get(ud, address), attr);
}

static json_t *known(void)
{
    return json_pack("{s:{s:s, s:i, s:s}, s:{s:s, s:{s:s}, s:[s,s]}, s:{s:s, s:[s,s]},"
                     " s:{s:s}, s:{s:o}, s:{s:s}}",
                     "network.main", "id", "net-1", "port", 8080, "host", "example.org",
                     "instance.web[0]", "ip", "10.0.0.1", "tags", "Name", "web-0", "zones", "a",
                     "b", "instance.web[1]", "ip", "10.0.0.2", "zones", "c", "d",
                     "cluster.c.eu.dc.server[0]", "ip", "10.1.0.1", "cluster.c.eu.dc.server[1]",
                     "ip", unknown_new(), "instance.text", "ip", UNKNOWN_TEXT);
}

/* out as JSON text with each unknown value written as <?>. */
static void assert_shown(const json_t *out, const char *expected)
{
    json_t *marked = unknown_shown(out);
    char *text = json_dumps(marked, JSON_COMPACT | JSON_ENCODE_ANY);
    char *at;
    while (text && (at = strstr(text, "\"" UNKNOWN_TEXT "\"")) != NULL) {
        size_t n = strlen(UNKNOWN_TEXT) + 2;
        memcpy(at, "<?>", 3);
        memmove(at + 3, at + n, strlen(at + n) + 1);
    }
    assert_string_equal(text, expected);
    free(text);
    json_decref(marked);
}

static const json_t *output(const topology *t, const char *name)
{
    for (size_t i = 0; i < t->noutputs; i++)
        if (!strcmp(t->outputs[i].name, name))
            return t->outputs[i].value;
    fail_msg("no output %s", name);
    return NULL;
}

/* Evaluates output name; returns topology_eval's result with *out. */
static int eval(const topology *t, const char *name, json_t *ctx, json_t **out)
{
    char *err = NULL;
    int rc = topology_eval(t, output(t, name), lookup, ctx, out, &err);
    if (rc < 0)
        fail_msg("topology_eval(%s): %s", name, err);
    assert_null(err);
    return rc;
}

static void test_topology_eval_gives_known_values_their_own_type(void **unused)
{
    topology *t = load_ok(eval_yaml);
    json_t *k = known(), *out = NULL;
    assert_int_equal(eval(t, "id", k, &out), 0);
    assert_json(out, "\"net-1\"");
    json_decref(out);
    assert_int_equal(eval(t, "port", k, &out), 0);
    assert_json(out, "8080");
    json_decref(out);
    assert_int_equal(eval(t, "url", k, &out), 0);
    assert_json(out, "\"http://example.org:8080/x\"");
    json_decref(out);
    assert_int_equal(eval(t, "first_tag", k, &out), 0);
    assert_json(out, "\"web-0\"");
    json_decref(out);
    assert_int_equal(eval(t, "second_zone", k, &out), 0);
    assert_json(out, "\"d\"");
    json_decref(out);
    assert_int_equal(eval(t, "literal", k, &out), 0);
    assert_json(out, "\"${not.evaluated} net-1\"");
    json_decref(out);
    assert_int_equal(eval(t, "nested", k, &out), 0);
    assert_json(out, "{\"list\":[8080,1]}");
    json_decref(out);
    json_decref(k);
    topology_free(t);
}

static void test_topology_eval_marks_unknown_values_and_returns_one(void **unused)
{
    topology *t = load_ok(eval_yaml);
    json_t *k = known(), *out = NULL;
    /* web[2] is not known: its element is the unknown value. */
    assert_int_equal(eval(t, "ips", k, &out), 1);
    assert_shown(out, "[\"10.0.0.1\",\"10.0.0.2\",<?>]");
    assert_true(unknown_is(json_array_get(out, 2)));
    json_decref(out);
    /* A known value that is itself unknown counts as unknown. */
    assert_int_equal(eval(t, "servers", k, &out), 1);
    assert_shown(out, "[\"10.1.0.1\",<?>]");
    json_decref(out);
    /* The text "(known after apply)" is a value like any other. */
    assert_int_equal(eval(t, "text", k, &out), 0);
    assert_json(out, "\"(known after apply)\"");
    assert_false(unknown_is(out));
    json_decref(out);
    json_decref(k);

    json_t *empty = json_object();
    /* Text with an unknown part is unknown as a whole. */
    assert_int_equal(eval(t, "url", empty, &out), 1);
    assert_true(unknown_is(out));
    json_decref(out);
    assert_int_equal(eval(t, "id", empty, &out), 1);
    assert_true(unknown_is(out));
    json_decref(out);
    json_decref(empty);
    topology_free(t);
}

static void test_topology_eval_refuses_missing_attributes_and_resources(void **unused)
{
    topology *t = load_ok(eval_yaml);
    json_t *k = known(), *out = NULL;
    json_object_set_new(json_object_get(k, "instance.web[0]"), "tags", json_object());
    char *err = NULL;
    assert_int_equal(topology_eval(t, output(t, "first_tag"), lookup, k, &out, &err),
                     INFRA_EINVALID);
    assert_null(out);
    assert_string_equal(err, "unknown attribute \"tags.Name\" of instance.web[0] in "
                             "${instance.web[0].tags.Name}");
    free(err);

    json_t *v = json_string("${network.gone.id}");
    assert_int_equal(topology_eval(t, v, lookup, k, &out, &err), INFRA_EINVALID);
    assert_non_null(strstr(err, "unknown resource \"network.gone\""));
    free(err);
    json_decref(v);
    json_decref(k);
    topology_free(t);
}

static void test_topology_eval_resolves_resource_configs(void **unused)
{
    topology *t =
        load_ok("name: app\nproviders: { p: {} }\nnetworks:\n  main: {}\n"
                "instances:\n  web:\n    count: 2\n    net: ${network.main.id}\n"
                "    name: \"web-${count.index}\"\n    ports: [22, \"${network.main.port}\"]\n");
    json_t *k = json_pack("{s:{s:s, s:i}}", "network.main", "id", "net-9", "port", 443);
    json_t *out = NULL;
    char *err = NULL;
    assert_int_equal(topology_eval(t, res(t, "instance.web[1]")->config, lookup, k, &out, &err), 0);
    assert_json(out, "{\"net\":\"net-9\",\"name\":\"web-1\",\"ports\":[22,443]}");
    json_decref(out);
    json_decref(k);
    topology_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topology_eval_gives_known_values_their_own_type),
        cmocka_unit_test(test_topology_eval_marks_unknown_values_and_returns_one),
        cmocka_unit_test(test_topology_eval_refuses_missing_attributes_and_resources),
        cmocka_unit_test(test_topology_eval_resolves_resource_configs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
