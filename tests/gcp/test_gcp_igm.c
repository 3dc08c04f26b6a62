/* instance_group_manager against the scripted server (the emulator checks
 * the bodies against Google's schema in the scenarios): the group a create
 * sends and its wait for status.isStable, a template change as
 * setInstanceTemplate and one recreateInstances per stale member, a
 * scale-in deleting the named members before any resize, drift read back;
 * and instance_template keeping only a hash of its startup script. */
#define _GNU_SOURCE
#include "gcp_test.h"
#include "gcp_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
#define BASE "http://gcp.test/compute/v1/projects/infra-test/"
#define LINK "https://www.googleapis.com/compute/v1/projects/infra-test/"
#define ZONE "zones/europe-west1-b"
#define GROUP "projects/infra-test/" ZONE "/instanceGroupManagers/pool"
#define GROUP_GET "GET " BASE ZONE "/instanceGroupManagers/"
#define T1 "projects/infra-test/global/instanceTemplates/t1"
#define T2 "projects/infra-test/global/instanceTemplates/t2"

static infra_provider *p;

static int setup(void **state)
{
    (void)state;
    gct_reset();
    gct_set_resuming(0);
    p = gct_provider();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    gct_provider_free(p);
    p = NULL;
    return 0;
}

/* One handler call of this file's provider (see gct_act). */
static int act(const char *type, gct_call *c, const infra_json *prior, const infra_json *planned,
               const infra_json *read_state, infra_json **out)
{
    return gct_act(p, type, c, prior, planned, read_state, out);
}

static void route_done(const char *match, const char *scope)
{
    char *op = gct_op(scope, "operation-1", "DONE");
    gct_route(match, 200, op);
    free(op);
}

/* The group as Compute answers it. */
static void route_group(const char *tmpl, long size, int stable)
{
    gct_routef(GROUP_GET, 200,
               "{\"name\": \"pool\", \"zone\": \"" LINK ZONE "\", \"selfLink\": \"" LINK ZONE
               "/instanceGroupManagers/pool\", \"baseInstanceName\": \"pool\", "
               "\"instanceTemplate\": \"" LINK "%s\", \"targetSize\": %ld, \"description\": "
               "\"infra: token=" TOKEN "\", \"currentActions\": {\"none\": %ld}, "
               "\"status\": {\"isStable\": %s}}",
               tmpl + strlen("projects/infra-test/"), size, size, stable ? "true" : "false");
}

/* Members named pool-NAME for each character of names. */
static void route_members(const char *names)
{
    pu_buf b = {0};
    pu_buf_puts(&b, "{\"managedInstances\": [");
    for (const char *n = names; *n; n++)
        pu_buf_printf(&b,
                      "%s{\"instance\": \"" LINK ZONE "/instances/pool-%c\", \"currentAction\": "
                      "\"NONE\", \"instanceStatus\": \"RUNNING\"}",
                      n == names ? "" : ", ", *n);
    pu_buf_puts(&b, "]}");
    gct_route("/listManagedInstances", 200, b.data);
    free(b.data);
}

/* The zone's instances: names[i] made from templates[i] ('1' or '2'). */
static void route_instances(const char *names, const char *templates)
{
    pu_buf b = {0};
    pu_buf_puts(&b, "{\"items\": [");
    for (size_t i = 0; names[i]; i++)
        pu_buf_printf(&b,
                      "%s{\"name\": \"pool-%c\", \"selfLink\": \"" LINK ZONE
                      "/instances/pool-%c\", \"metadata\": {\"items\": [{\"key\": "
                      "\"instance-template\", \"value\": \"" LINK
                      "global/instanceTemplates/t%c\"}]}}",
                      i ? ", " : "", names[i], names[i], templates[i]);
    pu_buf_puts(&b, "]}");
    gct_route("GET " BASE ZONE "/instances?", 200, b.data);
    free(b.data);
}

static void test_create_sends_the_group_and_waits_until_it_is_stable(void **state)
{
    (void)state;
    route_done("POST " BASE ZONE "/instanceGroupManagers?", ZONE);
    route_group(T1, 2, 0);
    route_group(T1, 2, 0);
    route_group(T1, 2, 0);
    route_group(T1, 2, 1);
    route_members("ab");
    route_instances("ab", "11");
    gct_call c;
    gct_call_init(&c, "instance_group_manager.pool", TOKEN);
    infra_json *planned = gct_json("{\"name\": \"pool\", \"template\": \"" T1 "\", \"size\": 2}");
    infra_json *out = NULL;
    assert_int_equal(act("instance_group_manager", &c, NULL, planned, NULL, &out), 0);
    infra_json *b = gct_body(gct_last("POST " BASE ZONE "/instanceGroupManagers?"));
    assert_string_equal(pu_json_str(b, "name"), "pool");
    assert_string_equal(pu_json_str(b, "baseInstanceName"), "pool");
    assert_string_equal(pu_json_str(b, "instanceTemplate"), T1);
    assert_int_equal(gcp_json_long(b, "targetSize", 0), 2);
    assert_non_null(strstr(pu_json_str(b, "description"), "token=" TOKEN));
    /* Waited: the group was read until it said it was stable. */
    assert_true(gct_count(GROUP_GET) >= 4);
    assert_int_equal(gct_count("/recreateInstances"), 0);
    assert_int_equal(gct_count("/resize"), 0);
    assert_string_equal(pu_json_str(out, "id"), GROUP);
    assert_string_equal(gcp_json_path_str(out, "instance_names.1"), "pool-b");
    assert_string_equal(gcp_json_path_str(out, "instances.0"),
                        "projects/infra-test/" ZONE "/instances/pool-a");
    pu_host->json->release(b);
    pu_host->json->release(out);
    pu_host->json->release(planned);
    gct_call_clear(&c);
}

static void test_a_new_template_is_set_then_members_are_recreated_one_at_a_time(void **state)
{
    (void)state;
    route_group(T1, 2, 1);
    route_group(T2, 2, 1);
    route_done("/setInstanceTemplate", ZONE);
    route_done("/recreateInstances", ZONE);
    route_members("ab");
    route_instances("ab", "11");
    route_instances("ab", "21");
    route_instances("ab", "22");
    gct_call c;
    gct_call_init(&c, "instance_group_manager.pool", NULL);
    infra_json *prior = gct_json("{\"id\": \"" GROUP "\", \"template\": \"" T1 "\", \"size\": 2, "
                                 "\"zone\": \"europe-west1-b\"}");
    infra_json *planned = gct_json("{\"id\": \"" GROUP "\", \"template\": \"" T2 "\", "
                                   "\"size\": 2, \"zone\": \"europe-west1-b\"}");
    infra_json *out = NULL;
    assert_int_equal(act("instance_group_manager", &c, prior, planned, NULL, &out), 0);
    infra_json *b = gct_body(gct_last("/setInstanceTemplate"));
    assert_string_equal(pu_json_str(b, "instanceTemplate"), T2);
    pu_host->json->release(b);
    assert_int_equal(gct_count("/recreateInstances"), 2);
    /* One member a batch, the first then the second. */
    size_t seen = 0;
    for (size_t i = 0; i < gct_nrequests(); i++) {
        const gct_request *r = gct_requests(i);
        if (strstr(r->url, "/recreateInstances") == NULL)
            continue;
        infra_json *body = gct_body(r);
        const infra_json *list = pu_host->json->get(body, "instances");
        assert_int_equal(pu_host->json->length(list), 1);
        assert_string_equal(pu_host->json->string(pu_host->json->at(list, 0)),
                            seen++ == 0 ? "projects/infra-test/" ZONE "/instances/pool-a"
                                        : "projects/infra-test/" ZONE "/instances/pool-b");
        pu_host->json->release(body);
    }
    /* Every instances.list is filtered on the group's base name. */
    assert_non_null(strstr(gct_last("/instances?")->url, "filter=name%20eq%20pool-.%2A"));
    pu_host->json->release(out);
    pu_host->json->release(planned);
    pu_host->json->release(prior);
    gct_call_clear(&c);
}

static void test_a_member_still_stale_after_its_recreation_is_an_error(void **state)
{
    (void)state;
    route_group(T2, 1, 1);
    route_done("/recreateInstances", ZONE);
    route_members("a");
    route_instances("a", "1");
    gct_call c;
    gct_call_init(&c, "instance_group_manager.pool", NULL);
    infra_json *prior = gct_json("{\"id\": \"" GROUP "\", \"template\": \"" T1 "\", \"size\": 1}");
    infra_json *planned =
        gct_json("{\"id\": \"" GROUP "\", \"template\": \"" T2 "\", \"size\": 1}");
    infra_json *out = NULL;
    assert_int_equal(act("instance_group_manager", &c, prior, planned, NULL, &out),
                     INFRA_ECONFLICT);
    assert_int_equal(gct_count("/recreateInstances"), 1);
    assert_non_null(strstr(c.diags, "pool-a of instance group pool is still not made from t2"));
    pu_host->json->release(planned);
    pu_host->json->release(prior);
    gct_call_clear(&c);
}

static void test_a_scale_in_deletes_the_named_members_before_resizing(void **state)
{
    (void)state;
    route_group(T1, 3, 1);
    route_done("/deleteInstances", ZONE);
    route_done("/resize", ZONE);
    route_members("abc");
    route_instances("abc", "111");
    gct_call c;
    gct_call_init(&c, "instance_group_manager.pool", NULL);
    infra_json *prior = gct_json("{\"id\": \"" GROUP "\", \"template\": \"" T1 "\", \"size\": 3}");
    infra_json *planned = gct_json("{\"id\": \"" GROUP "\", \"template\": \"" T1 "\", \"size\": 1, "
                                   "\"remove_instances\": [\"pool-b\", \"pool-gone\"]}");
    infra_json *out = NULL;
    assert_int_equal(act("instance_group_manager", &c, prior, planned, NULL, &out), 0);
    infra_json *b = gct_body(gct_last("/deleteInstances"));
    const infra_json *list = pu_host->json->get(b, "instances");
    assert_int_equal(pu_host->json->length(list), 1);
    assert_string_equal(pu_host->json->string(pu_host->json->at(list, 0)),
                        "projects/infra-test/" ZONE "/instances/pool-b");
    pu_host->json->release(b);
    /* deleteInstances lowered the target to 2; the resize takes it to 1. */
    const gct_request *resize = gct_last("/resize");
    assert_non_null(resize);
    assert_non_null(strstr(resize->url, "size=1&"));
    pu_host->json->release(out);
    pu_host->json->release(planned);
    pu_host->json->release(prior);
    gct_call_clear(&c);
}

/* A scheduler's client pool (scheduler_pool): the members the host
 * drained (terminate_first) are deleted, exactly those, with no resize;
 * the state lists the running members' addresses for the scheduler, and
 * what the host asked to go first is no attribute of the group. */
static void test_a_pool_scale_in_deletes_the_drained_members_and_lists_addresses(void **state)
{
    (void)state;
    route_group(T1, 3, 1);
    route_done("/deleteInstances", ZONE);
    route_members("abc");
    gct_route("GET " BASE ZONE "/instances?", 200,
              "{\"items\": [{\"name\": \"pool-a\", \"selfLink\": \"" LINK ZONE
              "/instances/pool-a\", \"status\": \"RUNNING\", \"networkInterfaces\": "
              "[{\"networkIP\": \"10.0.0.2\"}], \"metadata\": {\"items\": [{\"key\": "
              "\"instance-template\", \"value\": \"" LINK "global/instanceTemplates/t1\"}]}}, "
              "{\"name\": \"pool-b\", \"selfLink\": \"" LINK ZONE
              "/instances/pool-b\", \"status\": \"STAGING\", \"networkInterfaces\": "
              "[{\"networkIP\": \"10.0.0.3\"}], \"metadata\": {\"items\": [{\"key\": "
              "\"instance-template\", \"value\": \"" LINK "global/instanceTemplates/t1\"}]}}, "
              "{\"name\": \"pool-c\", \"selfLink\": \"" LINK ZONE
              "/instances/pool-c\", \"status\": \"STOPPING\", \"networkInterfaces\": "
              "[{\"networkIP\": \"10.0.0.4\"}], \"metadata\": {\"items\": [{\"key\": "
              "\"instance-template\", \"value\": \"" LINK "global/instanceTemplates/t1\"}]}}]}");
    gct_call c;
    gct_call_init(&c, "instance_group_manager.pool", NULL);
    infra_json *prior = gct_json("{\"id\": \"" GROUP "\", \"template\": \"" T1
                                 "\", \"size\": 3, \"scheduler_pool\": true}");
    infra_json *planned = gct_json(
        "{\"id\": \"" GROUP "\", \"template\": \"" T1 "\", \"size\": 2, \"scheduler_pool\": true, "
        "\"terminate_first\": [\"projects/infra-test/" ZONE "/instances/pool-c\"]}");
    infra_json *out = NULL;
    assert_int_equal(act("instance_group_manager", &c, prior, planned, NULL, &out), 0);
    infra_json *b = gct_body(gct_last("/deleteInstances"));
    const infra_json *list = pu_host->json->get(b, "instances");
    assert_int_equal(pu_host->json->length(list), 1);
    assert_string_equal(pu_host->json->string(pu_host->json->at(list, 0)),
                        "projects/infra-test/" ZONE "/instances/pool-c");
    pu_host->json->release(b);
    assert_int_equal(gct_count("/resize"), 0);
    /* pool-c is stopping: no longer one of the pool's */
    assert_int_equal(pu_host->json->length(pu_host->json->get(out, "instance_addresses")), 2);
    assert_string_equal(gcp_json_path_str(out, "instance_addresses.0.id"),
                        "projects/infra-test/" ZONE "/instances/pool-a");
    assert_string_equal(gcp_json_path_str(out, "instance_addresses.0.private_ip"), "10.0.0.2");
    assert_string_equal(gcp_json_path_str(out, "instance_addresses.1.private_ip"), "10.0.0.3");
    assert_null(pu_host->json->get(out, "terminate_first"));
    pu_host->json->release(out);
    pu_host->json->release(planned);
    pu_host->json->release(prior);
    gct_call_clear(&c);
}

static void test_read_shows_a_template_and_size_changed_outside(void **state)
{
    (void)state;
    route_group(T2, 4, 1);
    route_members("abcd");
    gct_call c;
    gct_call_init(&c, "instance_group_manager.pool", NULL);
    infra_json *st = gct_json("{\"id\": \"" GROUP "\", \"template\": \"" T1 "\", \"size\": 2}");
    infra_json *out = NULL;
    assert_int_equal(act("instance_group_manager", &c, NULL, NULL, st, &out), 0);
    assert_string_equal(pu_json_str(out, "template"), T2);
    assert_int_equal(gcp_json_long(out, "size", 0), 4);
    assert_int_equal(pu_host->json->length(pu_host->json->get(out, "instances")), 4);
    pu_host->json->release(out);
    pu_host->json->release(st);
    /* Gone: not found, for the engine to plan a create. */
    gct_reset();
    gct_route(GROUP_GET, 404,
              "{\"error\": {\"code\": 404, \"message\": \"not found\", \"errors\": "
              "[{\"reason\": \"notFound\"}]}}");
    st = gct_json("{\"id\": \"" GROUP "\", \"template\": \"" T1 "\", \"size\": 2}");
    assert_int_equal(act("instance_group_manager", &c, NULL, NULL, st, &out), INFRA_ENOTFOUND);
    pu_host->json->release(st);
    gct_call_clear(&c);
}

static void test_validate_refuses_unknown_keys_and_bad_values(void **state)
{
    (void)state;
    gct_call c;
    gct_call_init(&c, "instance_group_manager.pool", NULL);
    infra_json *cfg = gct_json("{\"template\": \"t\", \"size\": 1, \"target_size\": 2}");
    assert_int_equal(gcp_validate(&c.call, "instance_group_manager", cfg), INFRA_EINVALID);
    assert_string_equal(c.last_attr, "target_size");
    pu_host->json->release(cfg);
    gct_call_clear(&c);
    gct_call_init(&c, "instance_group_manager.pool", NULL);
    cfg = gct_json("{\"template\": \"t\", \"size\": 1, \"base_instance_name\": \"Pool\"}");
    assert_int_equal(gcp_validate(&c.call, "instance_group_manager", cfg), INFRA_EINVALID);
    assert_string_equal(c.last_attr, "base_instance_name");
    pu_host->json->release(cfg);
    gct_call_clear(&c);
    gct_call_init(&c, "instance_group_manager.pool", NULL);
    cfg = gct_json("{\"template\": \"t\", \"size\": 1, \"max_unavailable\": 0}");
    assert_int_equal(gcp_validate(&c.call, "instance_group_manager", cfg), INFRA_EINVALID);
    pu_host->json->release(cfg);
    gct_call_clear(&c);
}

static void test_a_template_keeps_only_a_hash_of_its_startup_script(void **state)
{
    (void)state;
    /* The schema says the script is sensitive: the engine keeps it out of the state. */
    gct_call c;
    gct_call_init(&c, "instance_template.pool", TOKEN);
    infra_json *schema = NULL;
    assert_int_equal(gcp_schema(&c.call, &schema), 0);
    const infra_json *attrs =
        gcp_json_path(schema, "resources.instance_template.attributes.startup_script");
    assert_true(pu_host->json->boolean(pu_host->json->get(attrs, "sensitive")));
    pu_host->json->release(schema);

    route_done("POST " BASE "global/instanceTemplates?", "global");
    gct_route("GET " BASE "global/instanceTemplates/", 404,
              "{\"error\": {\"code\": 404, \"message\": \"not found\", \"errors\": "
              "[{\"reason\": \"notFound\"}]}}");
    gct_route("GET " BASE "global/instanceTemplates/", 200,
              "{\"name\": \"t\", \"selfLink\": \"" LINK "global/instanceTemplates/t\"}");
    infra_json *planned = gct_json("{\"name\": \"pool\", \"machine\": \"e2-micro\", \"image\": "
                                   "\"family/nomad-host\", \"subnetwork\": \"s\", "
                                   "\"startup_script\": \"echo s3cret\"}");
    infra_json *out = NULL;
    assert_int_equal(act("instance_template", &c, NULL, planned, NULL, &out), 0);
    char want[65];
    gcp_sha256_hex("echo s3cret", strlen("echo s3cret"), want);
    assert_string_equal(pu_json_str(out, "startup_script_sha256"), want);
    infra_json *b = gct_body(gct_last("POST " BASE "global/instanceTemplates?"));
    assert_string_equal(gcp_json_path_str(b, "properties.metadata.items.0.key"), "startup-script");
    pu_host->json->release(b);

    /* plan: the same script keeps the template; another makes a new one. */
    infra_json *prior = gct_json("{\"id\": \"projects/infra-test/global/instanceTemplates/t\", "
                                 "\"name\": \"pool\", \"machine\": \"e2-micro\", \"image\": "
                                 "\"family/nomad-host\", \"subnetwork\": \"s\"}");
    pu_json_set_str(prior, "startup_script_sha256", want);
    infra_json *plan = NULL, *replace = NULL;
    assert_int_equal(gcp_plan(p, &c.call, "instance_template", prior, planned, &plan, &replace), 0);
    assert_string_equal(pu_json_str(plan, "id"), "projects/infra-test/global/instanceTemplates/t");
    pu_host->json->release(plan);
    pu_host->json->release(replace);
    pu_json_set_str(planned, "startup_script", "echo other");
    assert_int_equal(gcp_plan(p, &c.call, "instance_template", prior, planned, &plan, &replace), 0);
    assert_int_equal(pu_host->json->type(pu_host->json->get(plan, "id")), INFRA_JSON_UNKNOWN);
    assert_int_equal(pu_host->json->length(replace), 0);
    pu_host->json->release(plan);
    pu_host->json->release(replace);
    pu_host->json->release(prior);
    pu_host->json->release(out);
    pu_host->json->release(planned);
    gct_call_clear(&c);
}

static void test_a_template_changed_back_adopts_its_retired_version_and_keeps_it(void **state)
{
    (void)state;
    /* The configuration's version exists (retired by an earlier change). */
    gct_route("GET " BASE "global/instanceTemplates/", 200,
              "{\"name\": \"t1\", \"selfLink\": \"" LINK "global/instanceTemplates/t1\", "
              "\"description\": \"infra: token=" TOKEN "\"}");
    route_done("DELETE " BASE "global/instanceTemplates/t2", "global");
    gct_call c;
    gct_call_init(&c, "instance_template.pool", TOKEN);
    infra_json *prior = gct_json("{\"id\": \"" T2 "\", \"retired\": [\"" T1 "\"]}");
    infra_json *planned = gct_json("{\"name\": \"pool\", \"machine\": \"e2-micro\", "
                                   "\"image\": \"family/nomad-host\", \"subnetwork\": \"s\"}");
    infra_json *out = NULL;
    assert_int_equal(act("instance_template", &c, prior, planned, NULL, &out), 0);
    assert_int_equal(gct_count("POST " BASE "global/instanceTemplates?"), 0);
    assert_int_equal(gct_count("DELETE " BASE "global/instanceTemplates/t1"), 0);
    assert_int_equal(gct_count("DELETE " BASE "global/instanceTemplates/t2"), 1);
    assert_string_equal(pu_json_str(out, "id"), T1);
    assert_int_equal(pu_host->json->length(pu_host->json->get(out, "retired")), 0);
    pu_host->json->release(out);
    pu_host->json->release(planned);
    pu_host->json->release(prior);
    gct_call_clear(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_sends_the_group_and_waits_until_it_is_stable,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_new_template_is_set_then_members_are_recreated_one_at_a_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_member_still_stale_after_its_recreation_is_an_error,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_scale_in_deletes_the_named_members_before_resizing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_pool_scale_in_deletes_the_drained_members_and_lists_addresses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_shows_a_template_and_size_changed_outside, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_validate_refuses_unknown_keys_and_bad_values, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_template_keeps_only_a_hash_of_its_startup_script,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_template_changed_back_adopts_its_retired_version_and_keeps_it, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
