/* What the plugin says when something is wrong: readiness timeouts, failed
 * tasks, API error excerpts and categories, and the offline checks of
 * schema, validate and configure. */
#include "nomad_test.h"

static const infra_plugin *plugin;

static void test_missing_leader_message_names_who_answers_and_who_does_not(void **state)
{
    nomad_strs yes = {0}, no = {0};
    nomad_strs_add(&yes, "a");
    nomad_strs_add(&yes, "b");
    nomad_strs_add(&no, "c");
    char *msg = nomad_msg_missing("europe", "no Nomad leader", 120400, &yes, &no);
    assert_string_equal(msg, "region europe: no Nomad leader after 120 s; servers answering: a, b; "
                             "not answering: c");
    free(msg);
    nomad_strs_free(&no);
    msg = nomad_msg_missing("us", "no Consul leader", 5000, &yes, &no);
    assert_string_equal(msg, "region us: no Consul leader after 5 s; servers answering: a, b; not "
                             "answering: none");
    free(msg);
    nomad_strs_free(&yes);
}

static void test_a_replaced_node_is_its_latest_registration(void **state)
{
    /* A replaced instance registers under a new ID; the old one stays down,
     * and /v1/nodes lists them in ID order. */
    infra_json *nodes = test_json(
        "[{\"ID\": \"1a\", \"Name\": \"c-0\", \"Status\": \"ready\", \"CreateIndex\": 90},"
        " {\"ID\": \"2b\", \"Name\": \"c-1\", \"Status\": \"ready\", \"CreateIndex\": 40},"
        " {\"ID\": \"3c\", \"Name\": \"c-0\", \"Status\": \"down\", \"CreateIndex\": 12}]");
    assert_string_equal(pu_json_str(nomad_node_entry(nodes, "c-0"), "ID"), "1a");
    assert_string_equal(pu_json_str(nomad_node_entry(nodes, "c-1"), "ID"), "2b");
    assert_null(nomad_node_entry(nodes, "c-2"));
    NJ->release(nodes);
    /* the other order: still the newest */
    nodes = test_json(
        "[{\"ID\": \"1a\", \"Name\": \"c-0\", \"Status\": \"down\", \"CreateIndex\": 12},"
        " {\"ID\": \"3c\", \"Name\": \"c-0\", \"Status\": \"ready\", \"CreateIndex\": 90}]");
    assert_string_equal(pu_json_str(nomad_node_entry(nodes, "c-0"), "Status"), "ready");
    NJ->release(nodes);
}

static void test_task_failure_names_group_task_node_and_last_events(void **state)
{
    infra_json *allocs = test_json_file("fixtures/allocations-failed.json");
    char *msg = nomad_msg_task_failure(allocs, 1);
    assert_string_equal(msg, "task group web, task httpd on node main-europe-dc-b-client-0: Not "
                             "Restarting: Error was unrecoverable; before that: Terminated: Exit "
                             "Code: 1");
    free(msg);
    /* the older version's allocations are healthy: nothing to blame */
    assert_null(nomad_msg_task_failure(allocs, 0));
    NJ->release(allocs);

    allocs =
        test_json("[{\"TaskGroup\": \"batch\", \"NodeID\": \"n9\", \"ClientStatus\": \"failed\","
                  " \"TaskStates\": {\"run\": {\"Failed\": true, \"Events\": ["
                  " {\"Type\": \"Driver Failure\", \"DisplayMessage\": \"\","
                  "  \"DriverError\": \"failed to start: exec not found\"}]}}}]");
    msg = nomad_msg_task_failure(allocs, -1);
    assert_string_equal(msg, "task group batch, task run on node n9: Driver Failure: failed to "
                             "start: exec not found");
    free(msg);
    NJ->release(allocs);
}

static void test_api_excerpt_is_one_bounded_line(void **state)
{
    char *e = nomad_api_excerpt("1 error occurred:\n\t* group \"web\" has no tasks\n\n");
    assert_string_equal(e, "1 error occurred: | * group \"web\" has no tasks");
    free(e);
    char big[2000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    e = nomad_api_excerpt(big);
    assert_int_equal(strlen(e), 603);
    assert_string_equal(e + 600, "...");
    free(e);
}

static void test_http_statuses_map_to_error_categories(void **state)
{
    assert_int_equal(nomad_api_status_error(200), 0);
    assert_int_equal(nomad_api_status_error(204), 0);
    assert_int_equal(nomad_api_status_error(400), INFRA_EINVALID);
    assert_int_equal(nomad_api_status_error(403), INFRA_EAUTH);
    assert_int_equal(nomad_api_status_error(404), INFRA_ENOTFOUND);
    assert_int_equal(nomad_api_status_error(409), INFRA_ECONFLICT);
    assert_int_equal(nomad_api_status_error(500), INFRA_ETRANSIENT);
    assert_int_equal(nomad_api_status_error(503), INFRA_ETRANSIENT);
    assert_int_equal(nomad_api_status_error(405), INFRA_EINTERNAL);
}

static void test_schema_describes_every_setting(void **state)
{
    infra_call call;
    test_diags d;
    infra_json *schema = NULL;
    test_call(&call, &d);
    assert_int_equal(plugin->scheduler->schema(&call, &schema), 0);
    static const char *const names[][2] = {
        {"acl", "bool"},
        {"tls", "bool"},
        {"gossip_encryption", "bool"},
        {"raw_exec", "bool"},
        {"nomad_binary", "string"},
        {"consul_binary", "string"},
        {"api_address", "string"},
        {"node_deadline", "integer"},
        {"job_deadline", "integer"},
        {"drain_deadline", "integer"},
        {"primary_region", "string"},
    };
    const infra_json *settings = NJ->get(schema, "settings");
    assert_int_equal(NJ->length(settings), sizeof(names) / sizeof(names[0]));
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const infra_json *a = NJ->get(settings, names[i][0]);
        assert_non_null(a);
        assert_string_equal(pu_json_str(a, "type"), names[i][1]);
        assert_non_null(pu_json_str(a, "description"));
    }
    NJ->release(schema);
    host_call_clear(&call);
}

static int validate(const char *fixture, void (*edit)(json_t *), test_diags *d)
{
    infra_call call;
    test_call(&call, d);
    infra_json *c = test_json_file(fixture);
    if (edit)
        edit(host_jansson(c));
    int error = plugin->scheduler->validate(&call, c);
    NJ->release(c);
    host_call_clear(&call);
    return error;
}

static void drop_one_server(json_t *c)
{
    json_t *servers = json_object_get(
        json_object_get(json_object_get(json_object_get(json_object_get(c, "regions"), "europe"),
                                        "datacenters"),
                        "dc-b"),
        "servers");
    json_array_remove(servers, 0);
}

static void bad_settings(json_t *c)
{
    json_object_set_new(
        c, "settings",
        json_pack("{s:s, s:s, s:i}", "api_address", "both", "tls", "maybe", "job_deadline", 0));
}

static void no_nodes(json_t *c)
{
    json_t *dc = json_object_get(
        json_object_get(json_object_get(json_object_get(c, "regions"), "us"), "datacenters"),
        "dc-c");
    json_object_set_new(dc, "servers", json_array());
    json_object_set_new(dc, "clients", json_array());
}

static void test_validate_accepts_the_fixtures(void **state)
{
    test_diags d;
    assert_int_equal(validate("fixtures/cluster-1region.json", NULL, &d), 0);
    assert_int_equal(validate("fixtures/cluster-2regions.json", NULL, &d), 0);
    assert_int_equal(d.errors, 0);
}

static void test_validate_wants_an_odd_number_of_servers_per_region(void **state)
{
    test_diags d;
    assert_int_equal(validate("fixtures/cluster-1region.json", drop_one_server, &d),
                     INFRA_EINVALID);
    assert_string_equal(d.text,
                        "[regions.europe] region europe has 2 servers: Nomad and Consul need "
                        "an odd number (1, 3 or 5) to keep a quorum\n");
    assert_int_equal(validate("fixtures/cluster-2regions.json", no_nodes, &d), INFRA_EINVALID);
    assert_non_null(strstr(d.text, "[regions.us] region us has no server"));
}

static void test_validate_names_each_bad_setting(void **state)
{
    test_diags d;
    assert_int_equal(validate("fixtures/cluster-1region.json", bad_settings, &d), INFRA_EINVALID);
    assert_non_null(strstr(d.text, "[tls] tls must be true or false"));
    assert_non_null(strstr(d.text,
                           "[api_address] api_address must be \"public\" or \"private\", not "
                           "\"both\""));
    assert_non_null(strstr(d.text, "[job_deadline] job_deadline must be a number of seconds"));
}

/* Renames region "europe" to name, in federate too. */
static const char *rename_to;
static void rename_europe(json_t *c)
{
    json_t *regions = json_object_get(c, "regions");
    json_t *eu = json_incref(json_object_get(regions, "europe"));
    json_object_del(regions, "europe");
    json_object_set_new(regions, rename_to, eu);
    json_t *fed = json_object_get(c, "federate");
    size_t i;
    json_t *v;
    json_array_foreach(fed, i, v) if (!strcmp(json_string_value(v), "europe"))
        json_array_set_new(fed, i, json_string(rename_to));
}

static void test_validate_refuses_region_names_consul_refuses(void **state)
{
    static const char *const bad[] = {"Europe", "eu.west", "eu west"};
    for (size_t i = 0; i < 3; i++) {
        test_diags d;
        rename_to = bad[i];
        assert_int_equal(validate("fixtures/cluster-2regions.json", rename_europe, &d),
                         INFRA_EINVALID);
        char *want = pu_printf("[regions.%s] region name \"%s\"", bad[i], bad[i]);
        assert_non_null(strstr(d.text, want));
        assert_non_null(strstr(d.text, "^[a-z0-9_-]+$"));
        free(want);
    }
    /* (the fixture's nodes still say europe: only the name rule is looked at) */
    test_diags d;
    rename_to = "eu_west-2";
    validate("fixtures/cluster-2regions.json", rename_europe, &d);
    assert_null(strstr(d.text, "region name"));
}

static void primary_unknown(json_t *c)
{
    json_object_set_new(c, "settings", json_pack("{s:s}", "primary_region", "asia"));
}

static void test_validate_wants_a_federated_primary_region(void **state)
{
    test_diags d;
    assert_int_equal(validate("fixtures/cluster-2regions.json", primary_unknown, &d),
                     INFRA_EINVALID);
    assert_non_null(strstr(d.text, "[primary_region] primary_region \"asia\" must be one of the "
                                   "regions in federate"));
}

static void test_configure_refuses_a_binary_that_is_not_a_plain_path(void **state)
{
    infra_call call;
    test_diags d;
    infra_scheduler *ctx = NULL;
    test_call(&call, &d);
    infra_json *s = test_json("{\"name\": \"main\", \"environment\": \"t\","
                              " \"nomad_binary\": \"nomad; rm -rf /\"}");
    assert_int_equal(plugin->scheduler->configure(&call, s, &ctx), INFRA_EINVALID);
    assert_non_null(strstr(d.text, "[nomad_binary] nomad_binary must be a program name or an "
                                   "absolute path"));
    assert_null(ctx);
    NJ->release(s);
    host_call_clear(&call);

    test_call(&call, &d);
    s = test_json("{\"environment\": \"t\"}");
    assert_int_equal(plugin->scheduler->configure(&call, s, &ctx), INFRA_EINVALID);
    assert_non_null(strstr(d.text, "configure needs the cluster's name"));
    NJ->release(s);
    host_call_clear(&call);
}

static void test_ops_refuse_a_cluster_other_than_the_configured_one(void **state)
{
    infra_call call;
    test_diags d;
    infra_scheduler *ctx = NULL;
    test_call(&call, &d);
    infra_json *s = test_json("{\"name\": \"other\", \"environment\": \"t\"}");
    assert_int_equal(plugin->scheduler->configure(&call, s, &ctx), 0);
    infra_json *c = test_json_file("fixtures/cluster-1region.json");
    assert_int_equal(plugin->scheduler->wait_ready(ctx, &call, c, "europe", 1000), INFRA_EINVALID);
    assert_non_null(strstr(d.text, "configured for cluster other, not main"));
    plugin->scheduler->close(ctx);
    NJ->release(c);
    NJ->release(s);
    host_call_clear(&call);
}

int main(void)
{
    test_use_host();
    if (infra_plugin_entry(host_table(), &plugin) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_leader_message_names_who_answers_and_who_does_not),
        cmocka_unit_test(test_a_replaced_node_is_its_latest_registration),
        cmocka_unit_test(test_task_failure_names_group_task_node_and_last_events),
        cmocka_unit_test(test_api_excerpt_is_one_bounded_line),
        cmocka_unit_test(test_http_statuses_map_to_error_categories),
        cmocka_unit_test(test_schema_describes_every_setting),
        cmocka_unit_test(test_validate_accepts_the_fixtures),
        cmocka_unit_test(test_validate_wants_an_odd_number_of_servers_per_region),
        cmocka_unit_test(test_validate_names_each_bad_setting),
        cmocka_unit_test(test_validate_refuses_region_names_consul_refuses),
        cmocka_unit_test(test_validate_wants_a_federated_primary_region),
        cmocka_unit_test(test_configure_refuses_a_binary_that_is_not_a_plain_path),
        cmocka_unit_test(test_ops_refuse_a_cluster_other_than_the_configured_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
