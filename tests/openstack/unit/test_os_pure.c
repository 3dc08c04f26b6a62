/* The provider's pure parts: catalog selection, service URLs, microversion
 * negotiation, error decoding, tag encoding, request bodies compared with
 * the projects' own samples, rules, images, console fingerprints. */
#define _GNU_SOURCE
#include "ost.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int setup(void **state)
{
    (void)state;
    ost_reset();
    return 0;
}

/* Every key of sample (recursively through objects) is in have; a domain
 * or a user may be named by id or by name, so only their presence counts. */
static void assert_keys_of(const infra_json *sample, const infra_json *have, const char *path)
{
    void *iter = NULL;
    const char *key;
    const infra_json *value;
    while (pu_host->json->next(sample, &iter, &key, &value)) {
        const infra_json *mine = pu_host->json->get(have, key);
        if (mine == NULL)
            fail_msg("%s.%s: in the sample, not in the body", path, key);
        if (pu_host->json->type(value) == INFRA_JSON_OBJECT && strcmp(key, "domain") != 0 &&
            strcmp(key, "user") != 0) {
            char *sub = NULL;
            assert_true(asprintf(&sub, "%s.%s", path, key) > 0);
            assert_keys_of(value, mine, sub);
            free(sub);
        }
    }
}

static void test_catalog_picks_type_region_and_interface(void **state)
{
    (void)state;
    infra_json *doc = ost_sample("keystone/auth-password-project-scoped-response.json");
    const infra_json *catalog = pu_host->json->get(pu_host->json->get(doc, "token"), "catalog");
    char *url = NULL, *err = NULL;
    assert_int_equal(os_catalog_endpoint(catalog, "network", "RegionOne", "public", &url, &err), 0);
    assert_non_null(strstr(url, ":9696"));
    free(url);
    assert_int_equal(os_catalog_endpoint(catalog, "compute", "RegionOne", "internalURL", &url, &err),
                     0);
    assert_non_null(strstr(url, ":8774/v2.1"));
    free(url);
    assert_int_equal(os_catalog_endpoint(catalog, "network", "GRA7", "public", &url, &err),
                     INFRA_ENOTFOUND);
    assert_non_null(strstr(err, "no network endpoint in region GRA7 for interface public; it has "
                                "RegionOne (public)"));
    free(err);
    assert_int_equal(os_catalog_endpoint(catalog, "dns", "RegionOne", "public", &url, &err),
                     INFRA_ENOTFOUND);
    assert_string_equal(err, "the catalog has no dns service at all");
    free(err);
    pu_host->json->release(doc);
}

static void test_service_base_urls(void **state)
{
    (void)state;
    struct {
        os_service s;
        const char *in, *base, *version;
    } cases[] = {
        {OS_COMPUTE, "https://compute.gra7.cloud.ovh.net/v2.1", "https://compute.gra7.cloud.ovh.net/v2.1",
         "https://compute.gra7.cloud.ovh.net/v2.1/"},
        {OS_COMPUTE, "https://nova.example/v2.1/0123abcd/", "https://nova.example/v2.1/0123abcd",
         "https://nova.example/v2.1/"},
        {OS_COMPUTE, "http://127.0.0.1:8774", "http://127.0.0.1:8774/v2.1",
         "http://127.0.0.1:8774/v2.1/"},
        {OS_NETWORK, "https://network.gra7.cloud.ovh.net/", "https://network.gra7.cloud.ovh.net/v2.0",
         NULL},
        {OS_NETWORK, "http://n.example/v2.0/", "http://n.example/v2.0", NULL},
        {OS_IMAGE, "https://image.example", "https://image.example/v2", NULL},
        {OS_DNS, "https://dns.example/v2/", "https://dns.example/v2", NULL},
        {OS_LB, "https://lb.example/v2.0", "https://lb.example/v2", NULL},
        {OS_LB, "http://127.0.0.1:9/load-balancer", "http://127.0.0.1:9/load-balancer/v2", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *b = os_service_base(cases[i].s, cases[i].in);
        assert_string_equal(b, cases[i].base);
        if (cases[i].version) {
            char *v = os_service_version_url(cases[i].s, b);
            assert_string_equal(v, cases[i].version);
            free(v);
        }
        free(b);
    }
    char *root = os_service_root_url("http://127.0.0.1:9/load-balancer/v2");
    assert_string_equal(root, "http://127.0.0.1:9/load-balancer/");
    free(root);
}

static void test_nova_microversion_negotiated(void **state)
{
    (void)state;
    int minor = 0;
    char *err = NULL;
    infra_json *doc = ost_sample("nova/v21-version-get-resp.json");
    assert_int_equal(os_nova_microversion(doc, OS_NOVA_MIN_MINOR, OS_NOVA_MAX_MINOR, &minor, &err),
                     0);
    assert_int_equal(minor, OS_NOVA_MAX_MINOR); /* the server serves 2.104: ours wins */
    pu_host->json->release(doc);
    doc = ost_sample("nova/versions-get-resp.json");
    assert_int_equal(os_nova_microversion(doc, 52, 90, &minor, &err), 0);
    assert_int_equal(minor, 90);
    pu_host->json->release(doc);
    /* Zed serves 2.93; an old cloud 2.38 is refused with both ranges. */
    doc = ost_json("{\"version\": {\"id\": \"v2.1\", \"version\": \"2.60\", \"min_version\": "
                   "\"2.1\"}}");
    assert_int_equal(os_nova_microversion(doc, 52, 90, &minor, &err), 0);
    assert_int_equal(minor, 60);
    pu_host->json->release(doc);
    doc = ost_json("{\"version\": {\"id\": \"v2.1\", \"version\": \"2.38\", \"min_version\": "
                   "\"2.1\"}}");
    assert_int_equal(os_nova_microversion(doc, 52, 90, &minor, &err), INFRA_ENOTSUP);
    assert_string_equal(err, "the compute API serves microversions 2.1 to 2.38; infra needs 2.52 "
                             "to 2.90 (server tags at create)");
    free(err);
    pu_host->json->release(doc);
    doc = ost_json("{\"versions\": [{\"id\": \"v2.0\", \"version\": \"\"}]}");
    assert_int_equal(os_nova_microversion(doc, 52, 90, &minor, &err), INFRA_EINTERNAL);
    free(err);
    pu_host->json->release(doc);
}

static void test_octavia_version_list(void **state)
{
    (void)state;
    int minor = -1;
    infra_json *doc = ost_json("{\"versions\": [{\"id\": \"v2.0\", \"status\": \"SUPPORTED\"}, "
                               "{\"id\": \"v2.25\", \"status\": \"CURRENT\"}, {\"id\": \"v2.5\", "
                               "\"status\": \"SUPPORTED\"}]}");
    assert_int_equal(os_octavia_version(doc, &minor), 0);
    assert_int_equal(minor, 25);
    pu_host->json->release(doc);
    doc = ost_json("{\"versions\": []}");
    assert_int_equal(os_octavia_version(doc, &minor), INFRA_ENOTFOUND);
    pu_host->json->release(doc);
}

static void decode(long status, const char *body, os_error *e)
{
    os_error_decode(status, body, strlen(body), e);
}

static void test_errors_of_every_service(void **state)
{
    (void)state;
    os_error e;
    decode(400, "{\"badRequest\": {\"code\": 400, \"message\": \"Invalid flavorRef provided.\"}}",
           &e);
    assert_string_equal(e.code, "badRequest");
    assert_string_equal(e.message, "Invalid flavorRef provided.");
    assert_null(e.quota);
    assert_int_equal(os_error_category(400, &e), INFRA_EINVALID);
    os_error_clear(&e);
    decode(409, "{\"NeutronError\": {\"type\": \"SubnetInUse\", \"message\": \"Unable to complete "
                "operation on subnet x: One or more ports have an IP allocation from this "
                "subnet.\", \"detail\": \"\"}}",
           &e);
    assert_string_equal(e.code, "SubnetInUse");
    assert_int_equal(os_error_category(409, &e), INFRA_ECONFLICT);
    os_error_clear(&e);
    decode(401, "{\"error\": {\"code\": 401, \"title\": \"Unauthorized\", \"message\": \"The "
                "request you have made requires authentication.\"}}",
           &e);
    assert_string_equal(e.code, "Unauthorized");
    assert_int_equal(os_error_category(401, &e), INFRA_EAUTH);
    os_error_clear(&e);
    decode(409, "{\"faultcode\": \"Client\", \"faultstring\": \"Load Balancer x is immutable and "
                "cannot be updated.\", \"debuginfo\": null}",
           &e);
    assert_string_equal(e.code, "Client");
    assert_non_null(strstr(e.message, "immutable"));
    os_error_clear(&e);
    decode(409, "{\"code\": 409, \"type\": \"duplicate_recordset\", \"message\": \"Duplicate "
                "RecordSet\", \"request_id\": \"req-1\"}",
           &e);
    assert_string_equal(e.code, "duplicate_recordset");
    assert_string_equal(e.message, "Duplicate RecordSet");
    os_error_clear(&e);
    decode(404, "<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n  <h1>404 "
                "Not Found</h1>\n  No image found with ID abc<br /><br />\n\n\n\n </body>\n</html>",
           &e);
    assert_null(e.code);
    assert_string_equal(e.message, "No image found with ID abc");
    assert_int_equal(os_error_category(404, &e), INFRA_ENOTFOUND);
    os_error_clear(&e);
    decode(406, "{\"errors\": [{\"status\": 406, \"code\": \"compute.microversion\", \"title\": "
                "\"Not Acceptable\", \"detail\": \"Version 2.99 is not supported by the API.\"}]}",
           &e);
    assert_string_equal(e.code, "compute.microversion");
    assert_string_equal(e.message, "Version 2.99 is not supported by the API.");
    os_error_clear(&e);
}

static void test_quota_errors_name_the_quota(void **state)
{
    (void)state;
    os_error e;
    decode(409, "{\"NeutronError\": {\"type\": \"OverQuota\", \"message\": \"Quota exceeded for "
                "resources: ['network'].\", \"detail\": \"\"}}",
           &e);
    assert_string_equal(e.quota, "network");
    assert_int_equal(os_error_category(409, &e), INFRA_EINVALID);
    os_error_clear(&e);
    decode(403, "{\"forbidden\": {\"code\": 403, \"message\": \"Quota exceeded for cores: "
                "Requested 2, but already used 10 of 10 cores\"}}",
           &e);
    assert_string_equal(e.quota, "cores");
    assert_int_equal(os_error_category(403, &e), INFRA_EINVALID);
    os_error_clear(&e);
    decode(403, "{\"faultcode\": \"Client\", \"faultstring\": \"Quota has been met for resources: "
                "Load Balancer\", \"debuginfo\": null}",
           &e);
    assert_string_equal(e.quota, "Load Balancer");
    os_error_clear(&e);
    decode(413, "{\"code\": 413, \"type\": \"over_quota\", \"message\": \"Quota exceeded for "
                "zones.\"}",
           &e);
    assert_string_equal(e.quota, "zones");
    os_error_clear(&e);
    decode(403, "{\"forbidden\": {\"code\": 403, \"message\": \"Quota exceeded, too many key "
                "pairs.\"}}",
           &e);
    assert_non_null(e.quota);
    os_error_clear(&e);
    /* A 403 that is no quota stays an authorization problem. */
    decode(403, "{\"forbidden\": {\"code\": 403, \"message\": \"Policy doesn't allow "
                "os_compute_api:servers:create to be performed.\"}}",
           &e);
    assert_null(e.quota);
    assert_int_equal(os_error_category(403, &e), INFRA_EAUTH);
    os_error_clear(&e);
}

static void test_tags_fit_nova_and_neutron(void **state)
{
    (void)state;
    char *t = os_tag("address", "instance.web[0]");
    assert_string_equal(t, "infra:address=instance.web[0]");
    free(t);
    t = os_tag("topology", "a,b/c%d e");
    assert_string_equal(t, "infra:topology=a%2Cb%2Fc%25d%20e");
    free(t);
    t = os_tag("token", "0123456789abcdef0123456789abcdef");
    assert_string_equal(t, "infra:token=0123456789abcdef0123456789abcdef");
    assert_true(strlen(t) <= 60);
    free(t);
    /* Too long for Nova's 60 characters: a digest that still tells them apart. */
    char *a = os_tag("address", "cluster.main.europe.gra-datacenter-one.server[10]");
    char *b = os_tag("address", "cluster.main.europe.gra-datacenter-one.server[11]");
    assert_true(strlen(a) <= 60 && strlen(b) <= 60);
    assert_true(strncmp(a, "infra:address=~", 15) == 0);
    assert_string_not_equal(a, b);
    free(a);
    free(b);
    char *tags[] = {"infra:topology=web", "infra:environment=test", NULL};
    char *f = os_tags_filter("tags", tags);
    assert_string_equal(f, "tags=infra%3Atopology%3Dweb,infra%3Aenvironment%3Dtest");
    free(f);
}

static void test_user_tags_and_their_state_form(void **state)
{
    (void)state;
    ost_call c;
    ost_call_init(&c, "network.main", "tok");
    char **out = os_strv_new();
    infra_json *map = ost_json("{\"role\": \"nomad\", \"tier\": 2}");
    assert_int_equal(os_tags_user(&c.call, map, &out), 0);
    assert_string_equal(out[0], "role=nomad");
    assert_string_equal(out[1], "tier=2");
    infra_json *bad = ost_json("[\"ok\", \"a/b\", \"infra:mine\"]");
    assert_int_equal(os_tags_user(&c.call, bad, &out), INFRA_EINVALID);
    assert_int_equal(c.ndiags, 2);
    assert_string_equal(c.last_attr, "tags");
    /* What the object holds, in the form the configuration used. */
    infra_json *actual = ost_json("[\"infra:token=x\", \"tier=2\", \"role=nomad\"]");
    infra_json *st = NULL;
    assert_int_equal(os_tags_user_json(actual, map, &st), 0);
    assert_true(pu_host->json->equal(st, map));
    pu_host->json->release(st);
    infra_json *drifted = ost_json("[\"infra:token=x\", \"role=web\"]");
    assert_int_equal(os_tags_user_json(drifted, map, &st), 0);
    char *text = ost_dump(st);
    assert_string_equal(text, "{\"role\":\"web\"}");
    free(text);
    pu_host->json->release(st);
    os_strv_free(out);
    pu_host->json->release(map);
    pu_host->json->release(bad);
    pu_host->json->release(actual);
    pu_host->json->release(drifted);
    ost_call_clear(&c);
}

static void test_auth_bodies_match_keystone_samples(void **state)
{
    (void)state;
    infra_provider *p = ost_provider();
    infra_json *body = os_auth_body(p);
    infra_json *sample = ost_sample("keystone/project-name-password.json");
    /* The sample names the user by id; the scope is the same shape. */
    const infra_json *scope = pu_host->json->get(pu_host->json->get(body, "auth"), "scope");
    assert_keys_of(pu_host->json->get(pu_host->json->get(sample, "auth"), "scope"), scope,
                   "auth.scope");
    assert_keys_of(pu_host->json->get(pu_host->json->get(sample, "auth"), "identity"),
                   pu_host->json->get(pu_host->json->get(body, "auth"), "identity"),
                   "auth.identity");
    char *text = ost_dump(body);
    assert_non_null(strstr(text, "\"name\":\"user-test\""));
    assert_non_null(strstr(text, "\"domain\":{\"name\":\"Default\"}"));
    free(text);
    pu_host->json->release(body);
    pu_host->json->release(sample);
    /* By project id, as OVH's openrc gives it. */
    p->project_id = strdup("0123456789abcdef0123456789abcdef");
    body = os_auth_body(p);
    sample = ost_sample("keystone/project-id-password.json");
    assert_keys_of(pu_host->json->get(pu_host->json->get(sample, "auth"), "scope"),
                   pu_host->json->get(pu_host->json->get(body, "auth"), "scope"), "auth.scope");
    pu_host->json->release(body);
    pu_host->json->release(sample);
    /* An application credential is scoped by itself. */
    p->auth_kind = OS_AUTH_APPCRED;
    p->app_cred_id = strdup("21ac");
    body = os_auth_body(p);
    text = ost_dump(body);
    assert_string_equal(text, "{\"auth\":{\"identity\":{\"application_credential\":{\"id\":\"21ac\","
                              "\"secret\":\"s3cret-password\"},\"methods\":[\"application_"
                              "credential\"]}}}");
    free(text);
    pu_host->json->release(body);
    os_provider_free(p);
}

static void test_token_answer_read(void **state)
{
    (void)state;
    infra_provider *p = ost_provider();
    infra_json *doc = ost_sample("keystone/auth-password-project-scoped-response.json");
    assert_int_equal(os_auth_accept(p, "gAAAAAB-sample", doc), 0);
    assert_int_equal(p->token.expires_at - p->token.issued_at, 3600);
    assert_non_null(p->catalog);
    assert_non_null(p->token_project_id);
    assert_int_equal(p->token.generation, 1);
    pu_host->json->release(doc);
    os_provider_free(p);
}

static void test_rules_parse_and_bodies(void **state)
{
    (void)state;
    ost_call c;
    ost_call_init(&c, "firewall.fw", NULL);
    infra_json *allow = ost_json("[22, \"8300-8302\", {\"port\": 8301, \"proto\": \"udp\"}, "
                                 "{\"port\": 443, \"from\": \"10.0.0.5\"}, {\"proto\": \"icmp\"}, "
                                 "{\"port\": 4646, \"from\": \"self\"}, 22]");
    infra_json *egress = ost_json("[{\"protocol\": \"tcp\", \"port_range_min\": 443, "
                                  "\"port_range_max\": 443, \"remote_ip_prefix\": \"::/0\", "
                                  "\"ethertype\": \"IPv6\"}]");
    os_rule *r = NULL;
    size_t n = 0;
    assert_int_equal(os_rules_parse(&c.call, allow, NULL, egress, &r, &n), 0);
    assert_int_equal(n, 7); /* 22 twice is one rule */
    int self = 0, host = 0;
    for (size_t i = 0; i < n; i++) {
        self += strcmp(r[i].remote_group, "self") == 0;
        host += strcmp(r[i].remote_ip, "10.0.0.5/32") == 0;
    }
    assert_int_equal(self, 1);
    assert_int_equal(host, 1);
    /* The POST body has the keys of Neutron's sample. */
    infra_json *body = os_rule_body(&r[0], "a7734e61-b545-452d-a3cd-0189cbd9747a");
    infra_json *sample = ost_sample("neutron/security-group-rule-create-request.json");
    const infra_json *mine = pu_host->json->get(body, "security_group_rule");
    const char *keys[] = {"direction", "ethertype", "security_group_id", NULL};
    const infra_json *theirs = pu_host->json->get(sample, "security_group_rule");
    for (size_t i = 0; keys[i] != NULL; i++) {
        assert_non_null(pu_host->json->get(theirs, keys[i]));
        assert_non_null(pu_host->json->get(mine, keys[i]));
    }
    pu_host->json->release(body);
    pu_host->json->release(sample);
    free(r);
    /* A group's default egress rules read back as "any". */
    sample = ost_sample("neutron/security-group-create-response.json");
    const infra_json *rules =
        pu_host->json->get(pu_host->json->get(sample, "security_group"), "security_group_rules");
    assert_true(pu_host->json->length(rules) >= 2);
    os_rule one;
    os_rule_from_json(pu_host->json->at(rules, 0), NULL, &one);
    assert_string_equal(one.direction, "egress");
    assert_string_equal(one.protocol, "");
    assert_true(strcmp(one.remote_ip, "0.0.0.0/0") == 0 || strcmp(one.remote_ip, "::/0") == 0);
    pu_host->json->release(sample);
    /* Mistakes are named at their place. */
    infra_json *bad = ost_json("[22, {\"port\": \"80-70\"}, {\"port\": 1, \"from\": \"nowhere\"}]");
    assert_int_equal(os_rules_parse(&c.call, bad, NULL, NULL, &r, &n), INFRA_EINVALID);
    assert_non_null(strstr(c.diags, "[allow[1]] a port is a number"));
    assert_non_null(strstr(c.diags, "[allow[2]] the remote end must be"));
    pu_host->json->release(bad);
    pu_host->json->release(allow);
    pu_host->json->release(egress);
    ost_call_clear(&c);
}

static void test_newest_image_of_a_pattern(void **state)
{
    (void)state;
    infra_json *images = ost_json(
        "[{\"id\": \"a\", \"name\": \"nomad-host-2026-11-01\", \"status\": \"active\", "
        "\"created_at\": \"2026-11-01T00:00:00Z\"},"
        "{\"id\": \"b\", \"name\": \"nomad-host-2026-11-02\", \"status\": \"active\", "
        "\"created_at\": \"2026-11-02T00:00:00Z\"},"
        "{\"id\": \"c\", \"name\": \"nomad-host-2026-12-01\", \"status\": \"queued\", "
        "\"created_at\": \"2026-12-01T00:00:00Z\"},"
        "{\"id\": \"d\", \"name\": \"Debian 12\", \"status\": \"active\", "
        "\"created_at\": \"2026-10-15T00:00:00Z\"}]");
    assert_int_equal(os_image_pick(images, "nomad-host-*"), 1);
    assert_int_equal(os_image_pick(images, "Debian 12"), 3);
    assert_int_equal(os_image_pick(images, "nomad-host-2026-1?-01"), 0);
    assert_int_equal(os_image_pick(images, "ubuntu*"), -1);
    pu_host->json->release(images);
    assert_true(os_glob("*.app", "www.app"));
    assert_false(os_glob("a*b", "ac"));
}

static void test_console_fingerprint(void **state)
{
    (void)state;
    char *fp = NULL;
    const char *console =
        "[  OK  ] Started ssh.service\r\n"
        "ci-info: -----BEGIN SSH HOST KEY FINGERPRINTS-----\r\n"
        "ci-info: 3072 SHA256:rsaRSArsa root@node (RSA)\r\n"
        "ci-info: 256 SHA256:ed25519Key root@node (ED25519)\r\n"
        "ci-info: 256 SHA256:ecdsaKey root@node (ECDSA)\r\n"
        "ci-info: -----END SSH HOST KEY FINGERPRINTS-----\r\n";
    assert_int_equal(os_console_fingerprint(console, &fp), 0);
    assert_string_equal(fp, "SHA256:ecdsaKey");
    free(fp);
    assert_int_equal(os_console_fingerprint("-----BEGIN SSH HOST KEY FINGERPRINTS-----\n"
                                            "256 SHA256:only root@x (ED25519)\n"
                                            "-----END SSH HOST KEY FINGERPRINTS-----\n",
                                            &fp),
                     0);
    assert_string_equal(fp, "SHA256:only");
    free(fp);
    assert_int_equal(os_console_fingerprint("booting...\n", &fp), INFRA_ENOTFOUND);
}

static void test_times_and_names(void **state)
{
    (void)state;
    time_t t = 0;
    assert_int_equal(os_iso8601("2015-11-07T02:58:43.578887Z", &t), 0);
    assert_int_equal((long long)t, 1446865123LL);
    assert_int_equal(os_iso8601("2015-11-07T03:58:43+01:00", &t), 0);
    assert_int_equal((long long)t, 1446865123LL);
    assert_int_equal(os_iso8601("tomorrow", &t), INFRA_EINVALID);
    assert_true(os_is_uuid("a7734e61-b545-452d-a3cd-0189cbd9747a"));
    assert_true(os_is_uuid("0123456789abcdef0123456789abcdef"));
    assert_false(os_is_uuid("Ext-Net"));
    char *e = os_url_encode("nomad-host-* 2");
    assert_string_equal(e, "nomad-host-%2A%202");
    free(e);
    char *auth = os_auth_url_v3("https://auth.cloud.ovh.net/");
    assert_string_equal(auth, "https://auth.cloud.ovh.net/v3");
    free(auth);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_catalog_picks_type_region_and_interface, setup),
        cmocka_unit_test_setup(test_service_base_urls, setup),
        cmocka_unit_test_setup(test_nova_microversion_negotiated, setup),
        cmocka_unit_test_setup(test_octavia_version_list, setup),
        cmocka_unit_test_setup(test_errors_of_every_service, setup),
        cmocka_unit_test_setup(test_quota_errors_name_the_quota, setup),
        cmocka_unit_test_setup(test_tags_fit_nova_and_neutron, setup),
        cmocka_unit_test_setup(test_user_tags_and_their_state_form, setup),
        cmocka_unit_test_setup(test_auth_bodies_match_keystone_samples, setup),
        cmocka_unit_test_setup(test_token_answer_read, setup),
        cmocka_unit_test_setup(test_rules_parse_and_bodies, setup),
        cmocka_unit_test_setup(test_newest_image_of_a_pattern, setup),
        cmocka_unit_test_setup(test_console_fingerprint, setup),
        cmocka_unit_test_setup(test_times_and_names, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
