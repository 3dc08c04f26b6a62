/* The pure pieces: label and name encoding, request ids, Google's error
 * shapes and what they mean, operation filters, the serial console's
 * fingerprint block, firewall rules, port ranges and health checks. */
#include "gcp_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_label_values_fit_compute_rules_and_stay_distinct(void **state)
{
    (void)state;
    gct_reset();
    char *v = gcp_label_value("instance.node[0]");
    assert_string_equal(v, "instance_2enode_5b0_5d");
    free(v);
    v = gcp_label_value("a_b");
    assert_string_equal(v, "a__b");
    free(v);
    v = gcp_label_value("Web");
    assert_string_equal(v, "_57eb");
    free(v);
    v = gcp_label_value("0a1b2c3d4e5f60718293a4b5c6d7e8f9");
    assert_string_equal(v, "0a1b2c3d4e5f60718293a4b5c6d7e8f9");
    free(v);
    /* Too long: 54 characters, '-', 8 hex digits; two long values differ. */
    char lng[200];
    memset(lng, 'a', 150);
    lng[150] = '\0';
    char *x = gcp_label_value(lng);
    lng[149] = 'b';
    char *y = gcp_label_value(lng);
    assert_int_equal(strlen(x), 63);
    assert_int_equal(x[54], '-');
    assert_string_not_equal(x, y);
    free(x);
    free(y);
    /* Keys start with a lowercase letter. */
    char *k = gcp_label_key("1st");
    assert_true(k[0] >= 'a' && k[0] <= 'z');
    free(k);
    k = gcp_label_key("role");
    assert_string_equal(k, "role");
    free(k);
}

static void test_names_are_compute_names(void **state)
{
    (void)state;
    gct_reset();
    char *n = gcp_name_from("web-test-instance.node[12]");
    assert_string_equal(n, "web-test-instance-node-12");
    assert_true(gcp_name_valid(n));
    free(n);
    n = gcp_name_from("9lives");
    assert_string_equal(n, "r-9lives");
    free(n);
    char lng[200];
    memset(lng, 'x', 120);
    lng[120] = '\0';
    n = gcp_name_from(lng);
    assert_int_equal(strlen(n), 63);
    assert_true(gcp_name_valid(n));
    free(n);
    assert_false(gcp_name_valid("Bad_Name"));
    assert_false(gcp_name_valid("ends-"));
    assert_false(gcp_name_valid(""));
    assert_true(gcp_name_valid("a"));

    gct_call c;
    gct_call_init(&c, "instance.node[0]", NULL);
    n = gcp_call_name(&c.call);
    assert_string_equal(n, "web-test-instance-node-0");
    free(n);
    c.call.environment = "default";
    n = gcp_call_name(&c.call);
    assert_string_equal(n, "web-instance-node-0");
    free(n);
    gct_call_clear(&c);
}

/* The servers' join tag is a Compute name, the one the nomad plugin's gce
 * auto-join looks for (tests/nomad/test_nomad_pool.c), on servers only. */
static void test_servers_carry_the_join_tag_of_their_region(void **state)
{
    (void)state;
    char *t = gcp_join_tag_value("web", "prod", "main", "europe");
    assert_string_equal(t, "infra-join-0232776b31d55f01c8ac");
    assert_true(gcp_name_valid(t));
    free(t);
    infra_json *cfg = pu_host->json->parse(
        "{\"role\": \"server\", \"cluster\": \"main\", \"region\": \"us\", "
        "\"network_tags\": [\"nomad\"]}",
        strlen("{\"role\": \"server\", \"cluster\": \"main\", \"region\": \"us\", "
               "\"network_tags\": [\"nomad\"]}"));
    char **tags = NULL;
    assert_int_equal(gcp_instance_tags(NULL, cfg, &tags), 0);
    assert_int_equal(gcp_strv_len(tags), 2);
    assert_string_equal(tags[0], "nomad");
    assert_string_equal(tags[1], "infra-join-a60ff92a327f05470b9d"); /* "-.default.main.us" */
    gcp_strv_free(tags);
    pu_json_set_str(cfg, "role", "client");
    assert_null(gcp_join_tag(NULL, cfg));
    assert_int_equal(gcp_instance_tags(NULL, cfg, &tags), 0);
    assert_int_equal(gcp_strv_len(tags), 1);
    gcp_strv_free(tags);
    pu_host->json->release(cfg);
}

static void test_labels_carry_infra_marks_and_refuse_infra_keys(void **state)
{
    (void)state;
    gct_reset();
    gct_call c;
    gct_call_init(&c, "instance.node[0]", "tok");
    infra_json *user = gct_json("{\"Role\": \"Server\", \"count\": 3}");
    infra_json *l = gcp_labels_build(&c.call, user, "tok", "labels");
    assert_non_null(l);
    assert_string_equal(pu_json_str(l, "x_52ole"), "_53erver");
    assert_string_equal(pu_json_str(l, "count"), "3");
    assert_string_equal(pu_json_str(l, GCP_LABEL_TOPOLOGY), "web");
    assert_string_equal(pu_json_str(l, GCP_LABEL_ENVIRONMENT), "test");
    assert_string_equal(pu_json_str(l, GCP_LABEL_ADDRESS), "instance_2enode_5b0_5d");
    assert_string_equal(pu_json_str(l, GCP_LABEL_TOKEN), "tok");
    infra_json *labelled = gct_json("{\"labels\": {\"infra-token\": \"tok\"}}");
    assert_true(gcp_object_is_mine(labelled, "tok"));
    pu_host->json->release(labelled);
    pu_host->json->release(l);
    pu_host->json->release(user);
    user = gct_json("{\"infra-token\": \"mine\"}");
    assert_null(gcp_labels_build(&c.call, user, "tok", "labels"));
    assert_int_equal(c.ndiags, 1);
    pu_host->json->release(user);

    char *d = gcp_description(&c.call, "tok");
    assert_string_equal(d, "infra: topology=web environment=test address=instance.node[0] "
                           "token=tok");
    infra_json *obj = pu_host->json->new_object();
    pu_json_set_str(obj, "description", d);
    assert_true(gcp_object_is_mine(obj, "tok"));
    assert_false(gcp_object_is_mine(obj, "other"));
    assert_false(gcp_object_is_mine(obj, "to"));
    pu_host->json->release(obj);
    free(d);
    gct_call_clear(&c);
}

static void test_user_labels_keep_the_configured_words(void **state)
{
    (void)state;
    gct_reset();
    infra_json *actual = gct_json("{\"x_52ole\": \"_53erver\", \"infra-token\": \"t\", "
                                  "\"extra\": \"x\"}");
    infra_json *prior = gct_json("{\"Role\": \"Server\"}");
    infra_json *u = gcp_labels_user(actual, prior);
    char *text = gct_dump(u);
    assert_string_equal(text, "{\"Role\":\"Server\",\"extra\":\"x\"}");
    pu_host->free(text);
    pu_host->json->release(u);
    pu_host->json->release(actual);
    pu_host->json->release(prior);
}

static void test_request_ids_are_uuids_fixed_by_token_and_step(void **state)
{
    (void)state;
    gct_reset();
    char a[37], b[37], c[37];
    gcp_request_id("tok", "insert x", a);
    gcp_request_id("tok", "insert x", b);
    gcp_request_id("tok", "insert y", c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(strlen(a), 36);
    assert_int_equal(a[8], '-');
    assert_int_equal(a[13], '-');
    assert_int_equal(a[14], '4');
    assert_non_null(strchr("89ab", a[19]));
    assert_string_not_equal(a, "00000000-0000-0000-0000-000000000000");
}

static void test_errors_are_decoded_into_reason_message_and_category(void **state)
{
    (void)state;
    gct_reset();
    gcp_error e;
    const char *quota =
        "{\"error\": {\"code\": 429, \"message\": \"Quota exceeded for quota metric "
        "'Queries'\", \"status\": \"RESOURCE_EXHAUSTED\", \"errors\": "
        "[{\"reason\": \"rateLimitExceeded\", \"domain\": \"usageLimits\"}]}}";
    gcp_error_parse(quota, strlen(quota), 429, &e);
    assert_string_equal(e.reason, "rateLimitExceeded");
    assert_string_equal(e.rpc, "RESOURCE_EXHAUSTED");
    assert_int_equal(gcp_error_category(&e), INFRA_ETRANSIENT);
    assert_true(gcp_error_retryable(&e));
    gcp_error_clear(&e);

    const char *user = "{\"error\": {\"code\": 403, \"message\": \"User Rate Limit Exceeded\", "
                       "\"errors\": [{\"reason\": \"userRateLimitExceeded\"}]}}";
    gcp_error_parse(user, strlen(user), 403, &e);
    assert_true(gcp_error_retryable(&e));
    assert_int_equal(gcp_error_category(&e), INFRA_ETRANSIENT);
    gcp_error_clear(&e);

    struct {
        long status;
        const char *reason;
        int category;
    } cases[] = {
        {404, "notFound", INFRA_ENOTFOUND},
        {409, "alreadyExists", INFRA_ECONFLICT},
        {412, "conditionNotMet", INFRA_ECONFLICT},
        {400, "invalid", INFRA_EINVALID},
        {400, "required", INFRA_EINVALID},
        {400, "resourceInUseByAnotherResource", INFRA_ECONFLICT},
        {401, "authError", INFRA_EAUTH},
        {403, "insufficientPermissions", INFRA_EAUTH},
        {403, "forbidden", INFRA_EAUTH},
        {500, "backendError", INFRA_ETRANSIENT},
        {503, "backendError", INFRA_ETRANSIENT},
        {501, "notImplemented", INFRA_ENOTSUP},
        {400, "invalid_grant", INFRA_EAUTH},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"error\": {\"code\": %ld, \"message\": \"m\", \"errors\": [{\"reason\": "
                 "\"%s\"}]}}",
                 cases[i].status, cases[i].reason);
        gcp_error_parse(body, strlen(body), cases[i].status, &e);
        assert_string_equal(e.reason, cases[i].reason);
        assert_int_equal(gcp_error_category(&e), cases[i].category);
        gcp_error_clear(&e);
    }
    /* OAuth's shape. */
    const char *grant = "{\"error\": \"invalid_grant\", \"error_description\": \"Invalid JWT "
                        "Signature.\"}";
    gcp_error_parse(grant, strlen(grant), 400, &e);
    assert_string_equal(e.reason, "invalid_grant");
    assert_string_equal(e.message, "Invalid JWT Signature.");
    assert_int_equal(gcp_error_category(&e), INFRA_EAUTH);
    gcp_error_clear(&e);
    /* Not Google's: the status speaks. */
    gcp_error_parse("<html>", 6, 502, &e);
    assert_null(e.reason);
    assert_string_equal(e.message, "HTTP status 502");
    assert_int_equal(gcp_error_category(&e), INFRA_ETRANSIENT);
    gcp_error_clear(&e);
}

static void test_failed_operations_are_errors_naming_their_quota(void **state)
{
    (void)state;
    gct_reset();
    infra_json *op = gct_json(
        "{\"status\": \"DONE\", \"httpErrorStatusCode\": 403, \"httpErrorMessage\": "
        "\"FORBIDDEN\", \"error\": {\"errors\": [{\"code\": \"QUOTA_EXCEEDED\", \"message\": "
        "\"Quota 'CPUS' exceeded. Limit: 24.0 in region europe-west1.\"}]}}");
    gcp_error e;
    assert_int_equal(gcp_error_from_operation(op, &e), 1);
    assert_string_equal(e.reason, "QUOTA_EXCEEDED");
    assert_int_equal(e.status, 403);
    assert_int_equal(gcp_error_category(&e), INFRA_EINVALID);
    char *q = gcp_quota_name(&e);
    assert_string_equal(q, "CPUS");
    free(q);
    infra_provider *p = gct_provider();
    gct_call c;
    gct_call_init(&c, "instance.a", NULL);
    gcp_error_diag(p, &c.call, "", "instances.insert", &e);
    assert_non_null(strstr(c.diags, "quota CPUS exceeded"));
    gct_call_clear(&c);
    gct_provider_free(p);
    gcp_error_clear(&e);
    pu_host->json->release(op);

    op = gct_json("{\"status\": \"DONE\"}");
    assert_int_equal(gcp_error_from_operation(op, &e), 0);
    pu_host->json->release(op);
    op = gct_json("{\"status\": \"DONE\", \"error\": {\"errors\": [{\"code\": "
                  "\"ZONE_RESOURCE_POOL_EXHAUSTED\", \"message\": \"m\"}]}, "
                  "\"httpErrorStatusCode\": 503}");
    assert_int_equal(gcp_error_from_operation(op, &e), 1);
    assert_int_equal(gcp_error_category(&e), INFRA_ETRANSIENT);
    gcp_error_clear(&e);
    pu_host->json->release(op);
}

static void test_operation_filters_name_every_operation(void **state)
{
    (void)state;
    gct_reset();
    char *names[] = {"operation-1", "operation-2", NULL};
    char *f = gcp_op_filter(names);
    assert_string_equal(f, "(name = \"operation-1\") OR (name = \"operation-2\")");
    free(f);
    char *u = gcp_url_encode("(name = \"a\")");
    assert_string_equal(u, "%28name%20%3D%20%22a%22%29");
    free(u);
}

static void test_serial_console_gives_the_ecdsa_fingerprint(void **state)
{
    (void)state;
    gct_reset();
    const char *console = "[    0.000000] Linux version 6.1.0\n"
                          "-----BEGIN SSH HOST KEY FINGERPRINTS-----\r\n"
                          "256 SHA256:ed25519ed25519ed25519 root@node-1 (ED25519)\r\n"
                          "256 SHA256:ecdsaecdsaecdsa root@node-1 (ECDSA)\r\n"
                          "-----END SSH HOST KEY FINGERPRINTS-----\n";
    char *fp = NULL;
    assert_int_equal(gcp_console_fingerprint(console, &fp), 0);
    assert_string_equal(fp, "SHA256:ecdsaecdsaecdsa");
    free(fp);
    assert_int_equal(gcp_console_fingerprint("booting...\n", &fp), INFRA_ENOTFOUND);
    assert_int_equal(gcp_console_fingerprint("-----BEGIN SSH HOST KEY FINGERPRINTS-----\n"
                                             "no end",
                                             &fp),
                     INFRA_ENOTFOUND);
}

static void test_firewall_rules_group_by_protocol_and_agree_on_sources(void **state)
{
    (void)state;
    gct_reset();
    gct_call c;
    gct_call_init(&c, "firewall.a", NULL);
    infra_json *allow = gct_json("[22, 80, \"4646-4648\", {\"port\": \"8301-8302\", \"proto\": "
                                 "\"udp\"}, {\"proto\": \"icmp\"}, 22]");
    gcp_rule *rules = NULL;
    size_t n = 0;
    char **sources = NULL;
    assert_int_equal(gcp_rules_parse(&c.call, allow, "allow", &rules, &n, &sources), 0);
    assert_int_equal(n, 5);
    assert_int_equal(gcp_strv_len(sources), 0);
    infra_json *json = gcp_rules_json(rules, n);
    char *text = gct_dump(json);
    assert_string_equal(text, "[{\"IPProtocol\":\"icmp\"},{\"IPProtocol\":\"tcp\",\"ports\":"
                              "[\"22\",\"4646-4648\",\"80\"]},{\"IPProtocol\":\"udp\","
                              "\"ports\":[\"8301-8302\"]}]");
    pu_host->free(text);
    pu_host->json->release(json);
    free(rules);
    gcp_strv_free(sources);
    pu_host->json->release(allow);

    allow = gct_json("[{\"port\": 22, \"from\": \"10.0.0.0/8\"}, {\"port\": 80, \"from\": "
                     "\"10.0.0.0/8\"}]");
    assert_int_equal(gcp_rules_parse(&c.call, allow, "allow", &rules, &n, &sources), 0);
    assert_int_equal(gcp_strv_len(sources), 1);
    assert_string_equal(sources[0], "10.0.0.0/8");
    free(rules);
    gcp_strv_free(sources);
    pu_host->json->release(allow);

    /* Entries of one rule that name other sources, a bad port, ports on icmp. */
    const char *bad[] = {
        "[{\"port\": 22, \"from\": \"10.0.0.0/8\"}, {\"port\": 80}]",
        "[70000]",
        "[{\"proto\": \"icmp\", \"port\": 5}]",
        "[{\"proto\": \"gre2\"}]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        c.ndiags = 0;
        allow = gct_json(bad[i]);
        assert_int_equal(gcp_rules_parse(&c.call, allow, "allow", &rules, &n, &sources),
                         INFRA_EINVALID);
        assert_true(c.ndiags > 0);
        assert_string_equal(c.last_attr, i == 0 ? "allow[1]" : "allow[0]");
        gcp_strv_free(sources);
        pu_host->json->release(allow);
    }
    gct_call_clear(&c);
}

static void test_listen_ports_make_one_port_range(void **state)
{
    (void)state;
    gct_reset();
    gct_call c;
    gct_call_init(&c, "load_balancer.a", NULL);
    infra_json *v = gct_json("[80]");
    char *r = gcp_port_range(&c.call, v);
    assert_string_equal(r, "80");
    free(r);
    pu_host->json->release(v);
    v = gct_json("[8002, 8000, 8001]");
    r = gcp_port_range(&c.call, v);
    assert_string_equal(r, "8000-8002");
    free(r);
    pu_host->json->release(v);
    v = gct_json("[80, 443]");
    assert_null(gcp_port_range(&c.call, v));
    assert_string_equal(c.last_attr, "listen");
    pu_host->json->release(v);
    gct_call_clear(&c);

    gcp_health h;
    assert_int_equal(gcp_health_parse("http:8080/health", &h), 0);
    assert_int_equal(h.port, 8080);
    assert_string_equal(h.path, "/health");
    assert_int_equal(gcp_health_parse("http:80", &h), 0);
    assert_string_equal(h.path, "/");
    assert_int_equal(gcp_health_parse("tcp:22", &h), INFRA_EINVALID);
    assert_int_equal(gcp_health_parse("http:0/x", &h), INFRA_EINVALID);
}

static void test_globs_pick_images_and_references_keep_their_form(void **state)
{
    (void)state;
    gct_reset();
    assert_true(gcp_glob_match("nomad-host-*", "nomad-host-2026-11-01"));
    assert_false(gcp_glob_match("nomad-host-*", "web-v1"));
    infra_provider *p = gct_provider();
    char *r = gcp_ref(p, "nomad", "networks", "global");
    assert_string_equal(r, "projects/infra-test/global/networks/nomad");
    free(r);
    r = gcp_ref(p, "regions/europe-west1/subnetworks/s", "subnetworks", "regions/x");
    assert_string_equal(r, "projects/infra-test/regions/europe-west1/subnetworks/s");
    free(r);
    r = gcp_relative_name("https://www.googleapis.com/compute/v1/projects/p/zones/z/instances/i");
    assert_string_equal(r, "projects/p/zones/z/instances/i");
    free(r);
    assert_true(
        gcp_ref_same("projects/p/global/networks/n",
                     "https://compute.googleapis.com/compute/v1/projects/p/global/networks/n"));
    assert_false(gcp_ref_same("projects/p/global/networks/n", "projects/p/global/networks/m"));
    char *scope = gcp_scope_of("projects/p/zones/europe-west1-b/instances/i");
    assert_string_equal(scope, "zones/europe-west1-b");
    free(scope);
    scope = gcp_scope_of("projects/p/global/networks/n");
    assert_string_equal(scope, "global");
    free(scope);
    gct_provider_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_values_fit_compute_rules_and_stay_distinct),
        cmocka_unit_test(test_names_are_compute_names),
        cmocka_unit_test(test_servers_carry_the_join_tag_of_their_region),
        cmocka_unit_test(test_labels_carry_infra_marks_and_refuse_infra_keys),
        cmocka_unit_test(test_user_labels_keep_the_configured_words),
        cmocka_unit_test(test_request_ids_are_uuids_fixed_by_token_and_step),
        cmocka_unit_test(test_errors_are_decoded_into_reason_message_and_category),
        cmocka_unit_test(test_failed_operations_are_errors_naming_their_quota),
        cmocka_unit_test(test_operation_filters_name_every_operation),
        cmocka_unit_test(test_serial_console_gives_the_ecdsa_fingerprint),
        cmocka_unit_test(test_firewall_rules_group_by_protocol_and_agree_on_sources),
        cmocka_unit_test(test_listen_ports_make_one_port_range),
        cmocka_unit_test(test_globs_pick_images_and_references_keep_their_form),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
