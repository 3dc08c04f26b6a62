/* Resource flows on a scripted server: read_many with one tag-filtered list
 * per type, creates that find what an interrupted run made (by token tag,
 * by the marker description of an object never tagged) and skip the look-up
 * when the host says the token is new, the server create body, key pairs. */
#define _GNU_SOURCE
#include "ost.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERSION_DOC                                                                                \
    "{\"version\": {\"id\": \"v2.1\", \"status\": \"CURRENT\", \"version\": \"2.93\", "           \
    "\"min_version\": \"2.1\"}}"
#define SCOPE_TAGS "tags=infra%3Atopology%3Dweb,infra%3Aenvironment%3Dtest"
#define TOKEN_TAG "infra%3Atoken%3Dtok1"

static infra_provider *p;

static int setup(void **state)
{
    (void)state;
    ost_reset();
    p = ost_provider();
    ost_route_token("gAAAAAtok", 3600, 0);
    ost_route("GET", "nova.test/v2.1/", 200, NULL, VERSION_DOC);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    os_provider_free(p);
    return 0;
}

static void test_read_many_lists_each_type_once(void **state)
{
    (void)state;
    ost_route("GET", "/v2.0/networks?" SCOPE_TAGS, 200, NULL,
              "{\"networks\": [{\"id\": \"n1\", \"name\": \"a\", \"status\": \"ACTIVE\", "
              "\"tags\": [\"infra:address=network.a\", \"infra:token=t1\"]},"
              "{\"id\": \"n2\", \"name\": \"b\", \"status\": \"ACTIVE\", \"tags\": "
              "[\"infra:address=network.b\", \"infra:token=tok2\", \"team=x\"]}]}");
    ost_route("GET", "/v2.0/networks/n9", 404, NULL,
              "{\"NeutronError\": {\"type\": \"NetworkNotFound\", \"message\": \"Network n9 could "
              "not be found.\"}}");
    ost_route("GET", "/v2.0/networks/n3", 200, NULL,
              "{\"network\": {\"id\": \"n3\", \"name\": \"c\", \"status\": \"ACTIVE\", \"tags\": "
              "[]}}");
    ost_call batch, c[4];
    ost_call_init(&batch, "", NULL);
    ost_call_init(&c[0], "network.a", NULL);
    ost_call_init(&c[1], "network.gone", NULL);
    ost_call_init(&c[2], "network.b", "tok2"); /* an interrupted create: found by its token */
    ost_call_init(&c[3], "network.untagged", NULL);
    infra_json *s0 = ost_json("{\"id\": \"n1\", \"name\": \"a\"}");
    infra_json *s1 = ost_json("{\"id\": \"n9\"}");
    infra_json *s3 = ost_json("{\"id\": \"n3\", \"name\": \"c\"}");
    infra_read_item items[4];
    memset(items, 0, sizeof(items));
    const infra_json *states[] = {s0, s1, NULL, s3};
    for (int i = 0; i < 4; i++) {
        items[i].size = sizeof(items[i]);
        items[i].call = &c[i].call;
        items[i].state = states[i];
    }
    assert_int_equal(os_read_many(p, &batch.call, "network", items, 4), 0);
    assert_int_equal(ost_count("GET", "/v2.0/networks?"), 1);
    assert_int_equal(items[0].result, 0);
    assert_string_equal(pu_json_str(items[0].out, "status"), "ACTIVE");
    assert_int_equal(items[1].result, INFRA_ENOTFOUND);
    assert_int_equal(items[2].result, 0);
    assert_string_equal(pu_json_str(items[2].out, "id"), "n2");
    assert_int_equal(items[3].result, 0); /* not tagged any more, but there */
    assert_string_equal(pu_json_str(items[3].out, "id"), "n3");
    assert_int_equal(ost_count("GET", "/v2.0/networks/"), 2);
    for (int i = 0; i < 4; i++) {
        pu_host->json->release(items[i].out);
        ost_call_clear(&c[i]);
    }
    ost_call_clear(&batch);
    pu_host->json->release(s0);
    pu_host->json->release(s1);
    pu_host->json->release(s3);
}

static void test_read_many_of_servers_is_two_lists(void **state)
{
    (void)state;
    ost_route("GET", "/v2.1/servers/detail?" SCOPE_TAGS, 200, NULL,
              "{\"servers\": [{\"id\": \"s1\", \"name\": \"web-0\", \"status\": \"ACTIVE\", "
              "\"addresses\": {\"net\": [{\"addr\": \"10.0.0.5\", \"version\": 4, "
              "\"OS-EXT-IPS:type\": \"fixed\"}]}, \"flavor\": {\"original_name\": \"s1-2\"}, "
              "\"image\": {\"id\": \"i1\"}, \"metadata\": {}, \"tags\": []},"
              "{\"id\": \"s2\", \"name\": \"web-1\", \"status\": \"ACTIVE\", \"addresses\": {}, "
              "\"flavor\": {\"original_name\": \"b2-7\"}, \"image\": {\"id\": \"i1\"}, "
              "\"metadata\": {}, \"tags\": []}]}");
    ost_route("GET", "/v2.0/ports?device_id=s1&device_id=s2", 200, NULL,
              "{\"ports\": [{\"id\": \"p1\", \"device_id\": \"s1\", \"network_id\": \"net1\", "
              "\"security_groups\": [\"g1\"]}]}");
    ost_route("GET", "/v2.0/networks?router%3Aexternal=true", 200, NULL, "{\"networks\": []}");
    ost_call batch, c[2];
    ost_call_init(&batch, "", NULL);
    ost_call_init(&c[0], "instance.web[0]", NULL);
    ost_call_init(&c[1], "instance.web[1]", NULL);
    infra_json *s0 = ost_json("{\"id\": \"s1\", \"size\": \"s1-2\", \"ssh_host_key_fingerprint\": "
                              "\"SHA256:a\", \"firewalls\": [\"0a1b2c3d-0000-4000-8000-000000000001\"]}");
    infra_json *s1 = ost_json("{\"id\": \"s2\", \"size\": \"s1-2\", \"ssh_host_key_fingerprint\": "
                              "\"SHA256:b\"}");
    infra_read_item items[2];
    memset(items, 0, sizeof(items));
    items[0] = (infra_read_item){sizeof(items[0]), &c[0].call, s0, NULL, 0, NULL, 0};
    items[1] = (infra_read_item){sizeof(items[1]), &c[1].call, s1, NULL, 0, NULL, 0};
    assert_int_equal(os_read_many(p, &batch.call, "instance", items, 2), 0);
    assert_int_equal(ost_count("GET", "/servers/detail"), 1);
    assert_int_equal(ost_count("GET", "/v2.0/ports?"), 1);
    assert_int_equal(items[0].result, 0);
    assert_string_equal(pu_json_str(items[0].out, "private_ip"), "10.0.0.5");
    assert_string_equal(pu_json_str(items[0].out, "network"), "net1");
    /* Drift: the security group and the flavor are not the configured ones. */
    char *fw = ost_dump(pu_host->json->get(items[0].out, "firewalls"));
    assert_string_equal(fw, "[\"g1\"]");
    free(fw);
    assert_string_equal(pu_json_str(items[1].out, "size"), "b2-7");
    for (int i = 0; i < 2; i++) {
        pu_host->json->release(items[i].out);
        ost_call_clear(&c[i]);
    }
    ost_call_clear(&batch);
    pu_host->json->release(s0);
    pu_host->json->release(s1);
}

static int apply(ost_call *c, const char *type, const char *planned_text, infra_json **out)
{
    infra_json *planned = ost_json(planned_text);
    os_act a = {p, &c->call, NULL, planned, NULL, out};
    int error = os_handler_find(type)->apply(&a);
    pu_host->json->release(planned);
    return error;
}

static void test_a_resumed_create_adopts_the_untagged_object_of_its_marker(void **state)
{
    (void)state;
    ost_set_resuming(1);
    ost_route("GET", "/v2.0/networks?tags=" TOKEN_TAG, 200, NULL, "{\"networks\": []}");
    /* Made by the run that died before it could tag it. */
    ost_route("GET", "/v2.0/networks?description=infra%20network.main%20tok1", 200, NULL,
              "{\"networks\": [{\"id\": \"n7\", \"name\": \"web-test-network-main\", "
              "\"description\": \"infra network.main tok1\", \"tags\": []}]}");
    ost_route("PUT", "/v2.0/networks/n7/tags", 200, NULL,
              "{\"tags\": [\"infra:topology=web\", \"infra:environment=test\", "
              "\"infra:address=network.main\", \"infra:token=tok1\"]}");
    ost_call c;
    ost_call_init(&c, "network.main", "tok1");
    infra_json *out = NULL;
    assert_int_equal(apply(&c, "network", "{}", &out), 0);
    assert_int_equal(ost_count("POST", "/v2.0/networks"), 0);
    assert_string_equal(pu_json_str(out, "id"), "n7");
    infra_json *tags = ost_body(ost_last("PUT", "/tags"));
    char *text = ost_dump(tags);
    assert_string_equal(text, "{\"tags\":[\"infra:topology=web\",\"infra:environment=test\","
                              "\"infra:address=network.main\",\"infra:token=tok1\"]}");
    free(text);
    pu_host->json->release(tags);
    pu_host->json->release(out);
    ost_call_clear(&c);
}

static void test_a_new_token_creates_without_looking(void **state)
{
    (void)state;
    ost_set_resuming(0);
    ost_route("POST", "/v2.0/subnets", 201, NULL,
              "{\"subnet\": {\"id\": \"s5\", \"name\": \"x\", \"cidr\": \"10.1.0.0/24\", "
              "\"network_id\": \"n1\", \"ip_version\": 4, \"gateway_ip\": \"10.1.0.1\", "
              "\"enable_dhcp\": true, \"tags\": []}}");
    ost_route("PUT", "/v2.0/subnets/s5/tags", 200, NULL, "{\"tags\": [\"infra:token=tok5\"]}");
    ost_call c;
    ost_call_init(&c, "subnet.a", "tok5");
    infra_json *out = NULL;
    assert_int_equal(apply(&c, "subnet",
                           "{\"network\": \"n1\", \"cidr\": \"10.1.0.0/24\", \"dns_servers\": "
                           "[\"213.186.33.99\"], \"allocation_pools\": [\"10.1.0.10-10.1.0.99\"], "
                           "\"tags\": [\"team=a\"]}",
                           &out),
                     0);
    assert_int_equal(ost_count("GET", "/v2.0/subnets?"), 0);
    infra_json *body = ost_body(ost_last("POST", "/v2.0/subnets"));
    char *text = ost_dump(body);
    assert_string_equal(text, "{\"subnet\":{\"name\":\"web-test-subnet-a\",\"dns_nameservers\":"
                              "[\"213.186.33.99\"],\"allocation_pools\":[{\"start\":\"10.1.0.10\","
                              "\"end\":\"10.1.0.99\"}],\"network_id\":\"n1\",\"cidr\":\"10.1.0.0/"
                              "24\",\"ip_version\":4,\"description\":\"infra subnet.a tok5\"}}");
    free(text);
    pu_host->json->release(body);
    body = ost_body(ost_last("PUT", "/v2.0/subnets/s5/tags"));
    text = ost_dump(body);
    assert_non_null(strstr(text, "\"team=a\""));
    free(text);
    pu_host->json->release(body);
    assert_string_equal(pu_json_str(out, "gateway"), "10.1.0.1");
    pu_host->json->release(out);
    /* The same token again in this process (the engine repeating a create
     * after a transient failure) may follow a create that took effect. */
    assert_int_equal(os_call_resuming(&c.call), 1);
    ost_call_clear(&c);
}

static void route_server_world(void)
{
    ost_route("GET", "/v2.1/flavors/detail", 200, NULL,
              "{\"flavors\": [{\"id\": \"f1\", \"name\": \"s1-2\"}, {\"id\": \"f2\", \"name\": "
              "\"b2-7\"}]}");
    ost_route("GET", "glance.test/v2/images?status=active&limit=200", 200, NULL,
              "{\"images\": [{\"id\": \"img-old\", \"name\": \"nomad-host-2026-11-01\", \"status\": "
              "\"active\", \"created_at\": \"2026-11-01T00:00:00Z\"}, {\"id\": \"img-new\", "
              "\"name\": \"nomad-host-2026-11-02\", \"status\": \"active\", \"created_at\": "
              "\"2026-11-02T00:00:00Z\"}]}");
    ost_route("GET", "/v2.0/subnets/sub1", 200, NULL,
              "{\"subnet\": {\"id\": \"sub1\", \"network_id\": \"net1\"}}");
    ost_route("GET", "/v2.1/servers/detail?tags-any=" TOKEN_TAG, 200, NULL,
              "{\"servers\": [{\"id\": \"srv1\", \"name\": \"web-test-instance-web-0\", "
              "\"status\": \"ACTIVE\", \"addresses\": {\"nomad\": [{\"addr\": \"10.0.0.7\", "
              "\"version\": 4, \"OS-EXT-IPS:type\": \"fixed\"}]}, \"flavor\": {\"original_name\": "
              "\"s1-2\"}, \"image\": {\"id\": \"img-new\"}, \"metadata\": {\"role\": \"server\"}, "
              "\"tags\": []}]}");
    ost_route("POST", "/v2.1/servers/srv1/action", 200, NULL,
              "{\"output\": \"-----BEGIN SSH HOST KEY FINGERPRINTS-----\\n256 SHA256:abc root@x "
              "(ECDSA)\\n-----END SSH HOST KEY FINGERPRINTS-----\\n\"}");
    ost_route("GET", "/v2.0/ports?device_id=srv1", 200, NULL,
              "{\"ports\": [{\"id\": \"p1\", \"device_id\": \"srv1\", \"network_id\": \"net1\", "
              "\"security_groups\": [\"g1\"]}]}");
    ost_route("GET", "/v2.0/networks?router%3Aexternal=true", 200, NULL,
              "{\"networks\": [{\"id\": \"ext\", \"name\": \"Ext-Net\"}]}");
}

#define SERVER_CONFIG                                                                              \
    "{\"image\": \"nomad-host-*\", \"size\": \"s1-2\", \"subnet\": \"sub1\", \"firewalls\": "     \
    "[\"g1\"], \"key_pair\": \"deploy\", \"user_data\": \"#!/bin/sh\\necho hi\\n\", \"role\": "    \
    "\"server\", \"tags\": [\"team=a\"], \"ssh_user\": \"root\", \"ssh_port\": 22}"

static void test_a_server_create_and_its_body(void **state)
{
    (void)state;
    ost_set_resuming(0);
    route_server_world();
    ost_route("POST", "/v2.1/servers", 202, NULL, "{\"server\": {\"id\": \"srv1\"}}");
    ost_call c;
    ost_call_init(&c, "instance.web[0]", "tok1");
    infra_json *out = NULL;
    assert_int_equal(apply(&c, "instance", SERVER_CONFIG, &out), 0);
    infra_json *body = ost_body(ost_last_path("POST", "/v2.1/servers"));
    const infra_json *s = pu_host->json->get(body, "server");
    /* The keys of Nova's own create sample are there. */
    infra_json *sample = ost_sample("nova/v2.100/server-create-req.json");
    const char *keys[] = {"name", "imageRef", "flavorRef", "networks", NULL};
    for (size_t i = 0; keys[i] != NULL; i++) {
        assert_non_null(pu_host->json->get(pu_host->json->get(sample, "server"), keys[i]));
        assert_non_null(pu_host->json->get(s, keys[i]));
    }
    pu_host->json->release(sample);
    assert_string_equal(pu_json_str(s, "imageRef"), "img-new"); /* the newest of the pattern */
    assert_string_equal(pu_json_str(s, "flavorRef"), "f1");
    assert_string_equal(pu_json_str(s, "user_data"), "IyEvYmluL3NoCmVjaG8gaGkK");
    assert_string_equal(pu_json_str(s, "key_name"), "deploy");
    char *text = ost_dump(pu_host->json->get(s, "networks"));
    assert_string_equal(text, "[{\"uuid\":\"net1\"}]");
    free(text);
    text = ost_dump(pu_host->json->get(s, "security_groups"));
    assert_string_equal(text, "[{\"name\":\"g1\"}]");
    free(text);
    text = ost_dump(pu_host->json->get(s, "metadata"));
    assert_string_equal(text, "{\"role\":\"server\"}");
    free(text);
    text = ost_dump(pu_host->json->get(s, "tags"));
    assert_string_equal(text, "[\"infra:topology=web\",\"infra:environment=test\",\"infra:address="
                              "instance.web[0]\",\"infra:token=tok1\",\"team=a\"]");
    free(text);
    pu_host->json->release(body);
    /* What the scheduler bridge reads. */
    assert_string_equal(pu_json_str(out, "id"), "srv1");
    assert_string_equal(pu_json_str(out, "private_ip"), "10.0.0.7");
    assert_null(pu_json_str(out, "public_ip"));
    assert_string_equal(pu_json_str(out, "ssh_host_key_fingerprint"), "SHA256:abc");
    assert_string_equal(pu_json_str(out, "ssh_user"), "root");
    assert_string_equal(pu_json_str(out, "hostname"), "web-test-instance-web-0");
    /* The waiter found it with one list of the token. */
    assert_int_equal(ost_count("GET", "/servers/detail?tags-any="), 1);
    pu_host->json->release(out);
    ost_call_clear(&c);
}

static void test_a_resumed_server_create_adopts_the_tagged_server(void **state)
{
    (void)state;
    ost_set_resuming(1);
    route_server_world();
    ost_route("GET", "/v2.1/servers/detail?tags=" TOKEN_TAG, 200, NULL,
              "{\"servers\": [{\"id\": \"srv1\", \"status\": \"BUILD\"}]}");
    ost_call c;
    ost_call_init(&c, "instance.web[0]", "tok1");
    infra_json *out = NULL;
    assert_int_equal(apply(&c, "instance", SERVER_CONFIG, &out), 0);
    assert_int_equal(ost_count_path("POST", "/v2.1/servers"), 0);
    assert_string_equal(pu_json_str(out, "id"), "srv1");
    pu_host->json->release(out);
    ost_call_clear(&c);
}

static void test_a_key_pair_of_that_name_is_adopted_only_with_the_same_key(void **state)
{
    (void)state;
    ost_set_resuming(0);
    ost_route("POST", "/v2.1/os-keypairs", 409, NULL,
              "{\"conflictingRequest\": {\"code\": 409, \"message\": \"Key pair 'deploy' already "
              "exists.\"}}");
    ost_route("GET", "/v2.1/os-keypairs/deploy", 200, NULL,
              "{\"keypair\": {\"name\": \"deploy\", \"public_key\": \"ssh-ed25519 AAAAC3Nz "
              "someone@else\", \"fingerprint\": \"aa:bb\"}}");
    ost_call c;
    ost_call_init(&c, "key_pair.deploy", "tok1");
    infra_json *out = NULL;
    assert_int_equal(apply(&c, "key_pair",
                           "{\"name\": \"deploy\", \"public_key\": \"ssh-ed25519 AAAAC3Nz me@here\"}",
                           &out),
                     0);
    assert_string_equal(pu_json_str(out, "fingerprint"), "aa:bb");
    pu_host->json->release(out);
    out = NULL;
    assert_int_equal(apply(&c, "key_pair",
                           "{\"name\": \"deploy\", \"public_key\": \"ssh-ed25519 AAAAOTHER me\"}",
                           &out),
                     INFRA_ECONFLICT);
    assert_non_null(strstr(c.diags, "a key pair \"deploy\" exists in GRA7 with another public key"));
    ost_call_clear(&c);
}

static void test_validate_treats_unknown_values_as_set(void **state)
{
    (void)state;
    ost_call c;
    ost_call_init(&c, "instance.web", NULL);
    infra_json *cfg = ost_json("{\"image\": \"Debian 12\", \"size\": \"s1-2\"}");
    pu_json_set(cfg, "subnet", pu_host->json->new_unknown());
    pu_json_set(cfg, "firewalls", pu_host->json->new_unknown());
    pu_json_set(cfg, "user_data", pu_host->json->new_unknown());
    assert_int_equal(os_validate(&c.call, "instance", cfg), 0);
    /* A string is never an unknown: a reference's text is checked as text. */
    pu_host->json->release(cfg);
    cfg = ost_json("{\"image\": \"Debian 12\", \"size\": \"s1-2\", \"subnet\": \"s\", "
                   "\"firewalls\": \"${firewall.fw.id}\"}");
    assert_int_equal(os_validate(&c.call, "instance", cfg), INFRA_EINVALID);
    assert_non_null(strstr(c.diags, "[firewalls] \"firewalls\" must be a list"));
    ost_call_clear(&c);
    ost_call_init(&c, "instance.web", NULL);
    pu_host->json->release(cfg);
    /* What is wrong is said at the attribute. */
    cfg = ost_json("{\"image\": \"x\", \"size\": \"s1-2\", \"flavor\": \"b2-7\", \"subnet\": \"s\", "
                   "\"colour\": \"red\"}");
    assert_int_equal(os_validate(&c.call, "instance", cfg), INFRA_EINVALID);
    assert_non_null(strstr(c.diags, "[colour] unknown attribute \"colour\" of an openstack "
                                    "instance"));
    assert_non_null(strstr(c.diags, "[flavor] size, machine, flavor are the same: give one"));
    pu_host->json->release(cfg);
    ost_call_clear(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_many_lists_each_type_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_many_of_servers_is_two_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_resumed_create_adopts_the_untagged_object_of_its_marker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_new_token_creates_without_looking, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_server_create_and_its_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_resumed_server_create_adopts_the_tagged_server,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_key_pair_of_that_name_is_adopted_only_with_the_same_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validate_treats_unknown_values_as_set, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
