/* Applying plans through the engine with an in-process provider ops
 * table: order, parallelism and per-provider limits, failure propagation,
 * the stop flag, retries, intents and tokens, deletes in reverse order,
 * private blobs and outputs. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_engine_fake.h"

static const char chain_yaml[] =
    "name: applytest\n"
    "providers:\n"
    "  fake: {}\n"
    "networks:\n"
    "  main: { cidr: 10.0.0.0/24 }\n"
    "  other: { cidr: 10.1.0.0/24 }\n"
    "instances:\n"
    "  web:\n"
    "    count: 3\n"
    "    size: small\n"
    "    network: \"${network.main.id}\"\n"
    "  db:\n"
    "    size: small\n"
    "    network: \"${network.other.id}\"\n"
    "  front:\n"
    "    size: small\n"
    "    user_data: \"${instance.web[0].private_ip}\"\n"
    "outputs:\n"
    "  web_ips: \"${instance.web[*].private_ip}\"\n"
    "  db: \"${instance.db.id}\"\n";

static void test_engine_apply_creates_dependencies_before_dependents(void **unused)
{
    fixture *fx = fixture_new();
    fixture_open(fx, chain_yaml);
    engine_apply_summary sum;
    assert_int_equal(fixture_apply(fx, &sum), 0);
    assert_int_equal(sum.done, 7);
    assert_int_equal(sum.failed + sum.skipped + sum.not_started, 0);
    int net = fake_call_index("create", "network.main");
    assert_true(net >= 0);
    for (int i = 0; i < 3; i++) {
        char address[32];
        snprintf(address, sizeof(address), "instance.web[%d]", i);
        assert_true(fake_call_index("create", address) > net);
    }
    assert_true(fake_call_index("create", "instance.front") >
                fake_call_index("create", "instance.web[0]"));
    assert_true(fake_call_index("create", "instance.db") >
                fake_call_index("create", "network.other"));
    /* The resolved reference reached the provider and the state. */
    json_t *front = state_get(fx->e->st, "instance.front");
    json_t *web0 = state_get(fx->e->st, "instance.web[0]");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(front, "config"), "user_data")),
        json_string_value(json_object_get(json_object_get(web0, "attributes"), "private_ip")));
    json_decref(front);
    json_decref(web0);
    fixture_free(fx);
}

static void test_engine_apply_stores_outputs_and_state_entries(void **unused)
{
    fixture *fx = fixture_new();
    fixture_open(fx, chain_yaml);
    engine_apply_summary sum;
    assert_int_equal(fixture_apply(fx, &sum), 0);
    json_t *outputs = state_get_outputs(fx->e->st);
    assert_int_equal(json_array_size(json_object_get(outputs, "web_ips")), 3);
    assert_true(json_is_string(json_object_get(outputs, "db")));
    json_decref(outputs);
    json_t *entry = state_get(fx->e->st, "instance.web[2]");
    assert_string_equal(json_string_value(json_object_get(entry, "type")), "instance");
    assert_string_equal(json_string_value(json_object_get(entry, "provider")), "fake");
    assert_string_equal(json_string_value(json_object_get(entry, "plugin")), "fake");
    assert_string_equal(json_string_value(json_array_get(json_object_get(entry, "deps"), 0)),
                        "network.main");
    assert_non_null(json_string_value(json_object_get(entry, "token")));
    assert_true(json_is_false(json_object_get(entry, "prevent_destroy")));
    json_decref(entry);
    json_t *intents = state_intent_addresses(fx->e->st);
    assert_int_equal(json_array_size(intents), 0);
    json_decref(intents);
    fixture_free(fx);
}

static char *many_instances(int n, const char *provider_extra)
{
    util_buf b = {0};
    util_buf_printf(&b, "name: wide\nproviders:\n  fake: {%s}\ninstances:\n  n:\n    count: %d\n"
                        "    size: small\n",
                    provider_extra, n);
    return util_buf_take(&b);
}

static void test_engine_apply_never_exceeds_parallelism(void **unused)
{
    fixture *fx = fixture_new();
    char *yaml = many_instances(16, "");
    fixture_open_opts(fx, yaml, 3, NULL);
    free(yaml);
    fake.latency_ms = 20;
    engine_apply_summary sum;
    assert_int_equal(fixture_apply(fx, &sum), 0);
    assert_int_equal(sum.done, 16);
    assert_true(fake.max_running >= 1);
    assert_true(fake.max_running <= 3);
    fixture_free(fx);
}

static void test_engine_apply_honours_the_provider_parallelism(void **unused)
{
    fixture *fx = fixture_new();
    char *yaml = many_instances(12, "parallelism: 2");
    fixture_open_opts(fx, yaml, 10, NULL);
    free(yaml);
    fake.latency_ms = 20;
    engine_apply_summary sum;
    assert_int_equal(fixture_apply(fx, &sum), 0);
    assert_int_equal(sum.done, 12);
    assert_true(fake.max_running <= 2);
    fixture_free(fx);
}

static void test_engine_apply_failure_skips_dependents_and_finishes_siblings(void **unused)
{
    fixture *fx = fixture_new();
    fixture_open(fx, chain_yaml);
    fake.fail = "network.main";
    engine_apply_summary sum;
    assert_int_equal(fixture_apply(fx, &sum), INFRA_EINTERNAL);
    assert_int_equal(sum.failed, 1);
    assert_int_equal(sum.skipped, 4); /* web[0..2] and front */
    assert_int_equal(sum.done, 2);    /* network.other and instance.db */
    assert_int_equal(fake_call_index("create", "instance.web[0]"), -1);
    assert_true(fake_call_index("create", "instance.db") >= 0);
    json_t *entry = state_get(fx->e->st, "instance.front");
    assert_null(entry);
    /* The error names the address and the message of the provider. */
    int found = 0;
    for (size_t i = 0; i < fx->e->diags.count; i++) {
        const diag *d = &fx->e->diags.items[i];
        if (d->key && !strcmp(d->key, "network.main") && strstr(d->message, "injected failure"))
            found = 1;
    }
    assert_true(found);

    /* Without the failure the rerun converges. */
    fake.fail = NULL;
    fixture_open(fx, chain_yaml);
    assert_int_equal(fixture_apply(fx, &sum), 0);
    assert_int_equal(sum.done, 5);
    assert_int_equal(plan_changes(fixture_plan(fx, 1)), 0);
    fixture_free(fx);
}

static void test_engine_apply_retries_transient_errors(void **unused)
{
    fixture *fx = fixture_new();
    fixture_open(fx, chain_yaml);
    fake.transient = "instance.db";
    engine_apply_summary sum;
    assert_int_equal(fixture_apply(fx, &sum), 0);
    assert_int_equal(sum.failed, 0);
    assert_int_equal(fake.transient_calls, 2);
    assert_int_equal(fake_count("instance"), 5);
    fixture_free(fx);
}

static void test_engine_apply_stop_flag_starts_nothing_new(void **unused)
{
    fixture *fx = fixture_new();
    char *yaml = many_instances(10, "");
    fixture_open_opts(fx, yaml, 1, NULL);
    free(yaml);
    volatile sig_atomic_t stop = 0;
    fx->e->stop = &stop;
    fake.stop_after_first = &stop;
    engine_apply_summary sum;
    assert_int_equal(fixture_apply(fx, &sum), INFRA_ECANCELLED);
    assert_int_equal(sum.done, 1);
    assert_int_equal(sum.not_started, 9);
    assert_int_equal(fake_count("instance"), 1);
    json_t *addresses = state_addresses(fx->e->st);
    assert_int_equal(json_array_size(addresses), 1);
    json_decref(addresses);
    fixture_free(fx);
}

/* A create interrupted after the provider made the object: the state has
 * only the intent, the provider has an object with its token. */
static void test_engine_apply_adopts_the_object_of_an_interrupted_create(void **unused)
{
    fixture *fx = fixture_new();
    fixture_open(fx, chain_yaml);
    const char *token = "0123456789abcdef0123456789abcdef";
    state_intent_put(fx->e->st, "network.main",
                     json_pack("{s:s, s:s, s:i, s:s, s:s}", "token", token, "action", "create",
                               "time", 1, "type", "network", "provider", "fake"));
    json_object_set_new(fake.objects, "f-100",
                        json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "type", "network", "token",
                                  token, "address", "network.main", "attrs", "cidr",
                                  "10.0.0.0/24", "id", "f-100"));
    plan *p = fixture_plan(fx, 1);
    assert_int_equal(item(p, "network.main")->action, PLAN_CREATE);
    engine_apply_summary sum;
    assert_int_equal(engine_apply(fx->e, p, &sum), 0);
    assert_true(fake_call_index("adopt", "network.main") >= 0);
    assert_int_equal(fake_call_index("create", "network.main"), -1);
    assert_int_equal(fake_count("network"), 2); /* main (adopted) and other */
    json_t *entry = state_get(fx->e->st, "network.main");
    assert_string_equal(json_string_value(json_object_get(entry, "token")), token);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(entry, "attributes"), "id")), "f-100");
    json_decref(entry);
    json_t *intents = state_intent_addresses(fx->e->st);
    assert_int_equal(json_array_size(intents), 0);
    json_decref(intents);
    fixture_free(fx);
}

/* A plugin without INFRA_CAP_TOKEN_CREATE or READ_BY_TOKEN: the create is
 * not repeated (it could make a second object); the user is told how to
 * settle it, and what does not depend on it goes on. */
static void test_engine_apply_stops_at_an_interrupted_create_it_cannot_resume_safely(void **unused)
{
    fixture *fx = fixture_new();
    fixture_open(fx, "name: applytest\n"
                     "providers:\n"
                     "  plain: {}\n"
                     "networks:\n"
                     "  main: { cidr: 10.0.0.0/24 }\n"
                     "  other: { cidr: 10.1.0.0/24 }\n"
                     "instances:\n"
                     "  web: { size: small, network: \"${network.main.id}\" }\n");
    state_intent_put(fx->e->st, "network.main",
                     json_pack("{s:s, s:s, s:i, s:s, s:s}", "token",
                               "00112233445566778899aabbccddeeff", "action", "create", "time", 1,
                               "type", "network", "provider", "plain"));
    plan *p = fixture_plan(fx, 1);
    assert_int_equal(item(p, "network.main")->action, PLAN_CREATE);
    engine_apply_summary sum;
    assert_int_equal(engine_apply(fx->e, p, &sum), INFRA_EINTERNAL);
    assert_int_equal(sum.failed, 1);
    assert_int_equal(sum.skipped, 1); /* instance.web */
    assert_int_equal(sum.done, 1);    /* network.other */
    assert_int_equal(fake_call_index("create", "network.main"), -1);
    assert_true(fake_call_index("create", "network.other") >= 0);
    const char *error = item(p, "network.main")->error;
    assert_non_null(strstr(error, "was interrupted, and the plugin can neither repeat it safely "
                                  "nor look its object up"));
    assert_non_null(strstr(error, "`infra import "));
    assert_non_null(strstr(error, " network.main ID`"));
    assert_non_null(strstr(error, "`infra state rm "));
    json_t *intent = state_intent_get(fx->e->st, "network.main");
    assert_non_null(intent); /* kept until the user settles it */
    json_decref(intent);
    fixture_free(fx);
}

static void test_engine_apply_deletes_the_object_of_an_unwanted_interrupted_create(void **unused)
{
    fixture *fx = fixture_new();
    fixture_open(fx, chain_yaml);
    const char *token = "fedcba9876543210fedcba9876543210";
    state_intent_put(fx->e->st, "instance.old",
                     json_pack("{s:s, s:s, s:i, s:s, s:s}", "token", token, "action", "create",
                               "time", 1, "type", "instance", "provider", "fake"));
    json_object_set_new(fake.objects, "f-200",
                        json_pack("{s:s, s:s, s:s, s:{s:s}}", "type", "instance", "token", token,
                                  "address", "instance.old", "attrs", "id", "f-200"));
    plan *p = fixture_plan(fx, 1);
    assert_int_equal(item(p, "instance.old")->action, PLAN_DELETE);
    engine_apply_summary sum;
    assert_int_equal(engine_apply(fx->e, p, &sum), 0);
    assert_true(fake_call_index("delete", "instance.old") >= 0);
    assert_null(json_object_get(fake.objects, "f-200"));
    json_t *intents = state_intent_addresses(fx->e->st);
    assert_int_equal(json_array_size(intents), 0);
    json_decref(intents);
    fixture_free(fx);
}

static void test_engine_apply_deletes_dependents_before_their_dependencies(void **unused)
{
    fixture *fx = fixture_new();
    fixture_open(fx, chain_yaml);
    engine_apply_summary sum;
    assert_int_equal(fixture_apply(fx, &sum), 0);
    fixture_open(fx, "name: applytest\nproviders:\n  fake: {}\n");
    plan *p = fixture_plan(fx, 1);
    assert_int_equal(p->ndelete, 7);
    assert_int_equal(engine_apply(fx->e, p, &sum), 0);
    assert_int_equal(sum.done, 7);
    int net = fake_call_index("delete", "network.main");
    assert_true(net >= 0);
    assert_true(fake_call_index("delete", "instance.web[2]") < net);
    assert_true(fake_call_index("delete", "instance.front") <
                fake_call_index("delete", "instance.web[0]"));
    assert_int_equal(json_object_size(fake.objects), 0);
    json_t *addresses = state_addresses(fx->e->st);
    assert_int_equal(json_array_size(addresses), 0);
    json_decref(addresses);
    fixture_free(fx);
}

static void test_engine_destroy_plan_deletes_everything_in_reverse_order(void **unused)
{
    fixture *fx = fixture_new();
    fixture_open(fx, chain_yaml);
    engine_apply_summary sum;
    assert_int_equal(fixture_apply(fx, &sum), 0);
    plan *p = NULL;
    assert_int_equal(plan_destroy(fx->e, &p), 0);
    assert_int_equal(p->ndelete, 7);
    assert_int_equal(engine_apply(fx->e, p, &sum), 0);
    plan_free(p);
    assert_true(fake_call_index("delete", "instance.db") <
                fake_call_index("delete", "network.other"));
    assert_int_equal(json_object_size(fake.objects), 0);
    fixture_free(fx);
}

static void test_engine_apply_round_trips_the_private_blob(void **unused)
{
    fixture *fx = fixture_new();
    fixture_open(fx, chain_yaml);
    engine_apply_summary sum;
    assert_int_equal(fixture_apply(fx, &sum), 0);
    json_t *entry = state_get(fx->e->st, "instance.db");
    const char *b64 = json_string_value(json_object_get(entry, "private"));
    assert_non_null(b64);
    void *blob = NULL;
    size_t len = 0;
    assert_int_equal(engine_base64_decode(b64, &blob, &len), 0);
    char *expected = util_strndup(blob, len);
    free(blob);
    json_decref(entry);

    char *yaml = util_strdup(chain_yaml);
    char *size = strstr(yaml, "  db:\n    size: small");
    memcpy(size + strlen("  db:\n    size: "), "large", 5);
    fixture_open(fx, yaml);
    free(yaml);
    assert_int_equal(fixture_apply(fx, &sum), 0);
    assert_int_equal(sum.done, 1);
    assert_string_equal(fake.last_private, expected);
    free(expected);
    fixture_free(fx);
}

static void test_engine_environments_keep_separate_state(void **unused)
{
    fixture *fx = fixture_new();
    char *yaml = many_instances(2, "");
    fixture_open_opts(fx, yaml, 4, "int");
    engine_apply_summary sum;
    assert_int_equal(fixture_apply(fx, &sum), 0);
    char *int_path = util_strdup(state_path(fx->e->st));
    fixture_open_opts(fx, yaml, 4, "prod");
    plan *p = fixture_plan(fx, 1);
    assert_int_equal(p->ncreate, 2);
    assert_string_not_equal(state_path(fx->e->st), int_path);
    assert_non_null(strstr(int_path, "wide.int.db"));
    assert_non_null(strstr(state_path(fx->e->st), "wide.prod.db"));
    free(int_path);
    free(yaml);
    fixture_free(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_apply_creates_dependencies_before_dependents),
        cmocka_unit_test(test_engine_apply_stores_outputs_and_state_entries),
        cmocka_unit_test(test_engine_apply_never_exceeds_parallelism),
        cmocka_unit_test(test_engine_apply_honours_the_provider_parallelism),
        cmocka_unit_test(test_engine_apply_failure_skips_dependents_and_finishes_siblings),
        cmocka_unit_test(test_engine_apply_retries_transient_errors),
        cmocka_unit_test(test_engine_apply_stop_flag_starts_nothing_new),
        cmocka_unit_test(test_engine_apply_adopts_the_object_of_an_interrupted_create),
        cmocka_unit_test(test_engine_apply_stops_at_an_interrupted_create_it_cannot_resume_safely),
        cmocka_unit_test(test_engine_apply_deletes_the_object_of_an_unwanted_interrupted_create),
        cmocka_unit_test(test_engine_apply_deletes_dependents_before_their_dependencies),
        cmocka_unit_test(test_engine_destroy_plan_deletes_everything_in_reverse_order),
        cmocka_unit_test(test_engine_apply_round_trips_the_private_blob),
        cmocka_unit_test(test_engine_environments_keep_separate_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
