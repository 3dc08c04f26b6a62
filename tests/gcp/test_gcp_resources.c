/* Resource handlers against the scripted server: the request bodies each
 * type sends (the emulator checks them against Google's schema in the
 * scenarios), requestIds fixed by the token, adoption of what an earlier
 * try made only when it carries the token, a look before the insert only
 * when resuming, a failed operation tried again under a new requestId,
 * and read_many's one list per type. */
#define _GNU_SOURCE
#include "gcp_test.h"
#include "gcp_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
#define BASE "http://gcp.test/compute/v1/projects/infra-test/"
#define NET_GET "GET " BASE "global/networks/web-test-network-main"
#define NET_INSERT "POST " BASE "global/networks?"
#define NOT_FOUND                                                                                  \
    "{\"error\": {\"code\": 404, \"message\": \"not found\", \"errors\": [{\"reason\": "           \
    "\"notFound\"}]}}"
#define EXISTS                                                                                     \
    "{\"error\": {\"code\": 409, \"message\": \"already exists\", \"errors\": [{\"reason\": "      \
    "\"alreadyExists\"}]}}"
#define MINE "infra: topology=web environment=test address=network.main token=" TOKEN

static infra_provider *p;

static int setup(void **state)
{
    (void)state;
    gct_reset();
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

static char *object(const char *scope, const char *collection, const char *name, const char *extra)
{
    char *out = NULL;
    if (asprintf(&out,
                 "{\"name\": \"%s\", \"selfLink\": \"https://www.googleapis.com/compute/v1/"
                 "projects/infra-test/%s/%s/%s\"%s%s}",
                 name, scope, collection, name, extra ? ", " : "", extra ? extra : "") < 0)
        return NULL;
    return out;
}

static void route_done(const char *match, const char *scope)
{
    char *op = gct_op(scope, "operation-1", "DONE");
    gct_route(match, 200, op);
    free(op);
}

static void test_network_create_sends_its_body_with_a_token_request_id(void **state)
{
    (void)state;
    gct_set_resuming(0);
    route_done(NET_INSERT, "global");
    char *obj =
        object("global", "networks", "web-test-network-main", "\"description\": \"" MINE "\"");
    gct_route(NET_GET, 200, obj);
    free(obj);
    gct_call c;
    gct_call_init(&c, "network.main", TOKEN);
    infra_json *planned = gct_json("{}"), *out = NULL;
    assert_int_equal(act("network", &c, NULL, planned, NULL, &out), 0);
    /* Not resuming: no look first, straight to the insert. */
    assert_true(strncmp(gct_requests(1)->method, "POST", 4) == 0);
    const gct_request *r = gct_last(NET_INSERT);
    char rid[37], want[64];
    gcp_request_id(TOKEN, "insert projects/infra-test/global/networks/web-test-network-main", rid);
    snprintf(want, sizeof(want), "requestId=%s", rid);
    assert_non_null(strstr(r->url, want));
    infra_json *body = gct_body(r);
    assert_string_equal(pu_json_str(body, "name"), "web-test-network-main");
    assert_string_equal(pu_json_str(body, "description"), MINE);
    assert_false(pu_host->json->boolean(pu_host->json->get(body, "autoCreateSubnetworks")));
    assert_string_equal(gcp_json_path_str(body, "routingConfig.routingMode"), "REGIONAL");
    assert_string_equal(pu_json_str(out, "id"),
                        "projects/infra-test/global/networks/web-test-network-main");
    pu_host->json->release(body);
    pu_host->json->release(out);
    pu_host->json->release(planned);
    gct_call_clear(&c);
}

static void test_resuming_create_adopts_what_its_token_made(void **state)
{
    (void)state;
    char *obj =
        object("global", "networks", "web-test-network-main", "\"description\": \"" MINE "\"");
    gct_route(NET_GET, 200, obj);
    free(obj);
    gct_call c;
    gct_call_init(&c, "network.main", TOKEN);
    infra_json *planned = gct_json("{}"), *out = NULL;
    for (int resuming = 1; resuming >= -1; resuming -= 2) {
        /* Resuming, and a host that cannot say: looked up, adopted, no insert. */
        gct_set_resuming(resuming);
        assert_int_equal(act("network", &c, NULL, planned, NULL, &out), 0);
        assert_int_equal(gct_count(NET_INSERT), 0);
        pu_host->json->release(out);
        out = NULL;
    }
    pu_host->json->release(planned);
    gct_call_clear(&c);
}

static void test_a_name_taken_by_another_is_a_conflict(void **state)
{
    (void)state;
    gct_set_resuming(0);
    gct_route(NET_INSERT, 409, EXISTS);
    char *obj = object("global", "networks", "web-test-network-main",
                       "\"description\": \"infra: topology=web environment=test "
                       "address=network.main token=someone-else\"");
    gct_route(NET_GET, 200, obj);
    free(obj);
    gct_call c;
    gct_call_init(&c, "network.main", TOKEN);
    infra_json *planned = gct_json("{}"), *out = NULL;
    assert_int_equal(act("network", &c, NULL, planned, NULL, &out), INFRA_ECONFLICT);
    assert_non_null(strstr(c.diags, "was not made by this resource"));
    /* The same name carrying the token is adopted. */
    gct_reset();
    gct_set_resuming(0);
    gct_route(NET_INSERT, 409, EXISTS);
    obj = object("global", "networks", "web-test-network-main", "\"description\": \"" MINE "\"");
    gct_route(NET_GET, 200, obj);
    free(obj);
    assert_int_equal(act("network", &c, NULL, planned, NULL, &out), 0);
    pu_host->json->release(out);
    pu_host->json->release(planned);
    gct_call_clear(&c);
}

static void test_a_failed_insert_is_tried_again_under_a_new_request_id(void **state)
{
    (void)state;
    gct_set_resuming(0);
    char *first = gct_op("global", "operation-1", "RUNNING");
    char *second = gct_op("global", "operation-2", "DONE");
    gct_route(NET_INSERT, 200, first);
    gct_route(NET_INSERT, 200, second);
    free(first);
    free(second);
    gct_route("/global/operations?filter=", 200,
              "{\"items\": [{\"name\": \"operation-1\", \"status\": \"DONE\", "
              "\"httpErrorStatusCode\": 503, \"error\": {\"errors\": [{\"code\": "
              "\"RESOURCE_OPERATION_RATE_EXCEEDED\", \"message\": \"slow down\"}]}}]}");
    char *obj =
        object("global", "networks", "web-test-network-main", "\"description\": \"" MINE "\"");
    gct_route(NET_GET, 200, obj);
    free(obj);
    gct_call c;
    gct_call_init(&c, "network.main", TOKEN);
    infra_json *planned = gct_json("{}"), *out = NULL;
    assert_int_equal(act("network", &c, NULL, planned, NULL, &out), 0);
    assert_int_equal(gct_count(NET_INSERT), 2);
    const gct_request *a = gct_requests(1), *b = gct_last(NET_INSERT);
    assert_string_not_equal(strstr(a->url, "requestId="), strstr(b->url, "requestId="));
    pu_host->json->release(out);
    pu_host->json->release(planned);
    gct_call_clear(&c);
}

static void test_instance_insert_body(void **state)
{
    (void)state;
    gct_set_resuming(0);
    const char *insert = "POST " BASE "zones/europe-west1-b/instances?";
    route_done(insert, "zones/europe-west1-b");
    char *obj = object("zones/europe-west1-b", "instances", "web-test-instance-node-0",
                       "\"status\": \"RUNNING\", \"zone\": \"https://www.googleapis.com/compute/"
                       "v1/projects/infra-test/zones/europe-west1-b\", \"networkInterfaces\": "
                       "[{\"networkIP\": \"10.0.0.2\", \"network\": \"https://www.googleapis.com/"
                       "compute/v1/projects/infra-test/global/networks/n\", \"accessConfigs\": "
                       "[{\"natIP\": \"203.0.113.9\"}]}]");
    gct_route("GET " BASE "zones/europe-west1-b/instances/web-test-instance-node-0", 200, obj);
    free(obj);
    gct_route("GET " BASE "zones/europe-west1-b/instances/web-test-instance-node-0/serialPort", 200,
              "{\"contents\": \"-----BEGIN SSH HOST KEY FINGERPRINTS-----\\n256 SHA256:abc "
              "root@x (ECDSA)\\n-----END SSH HOST KEY FINGERPRINTS-----\\n\"}");
    gct_call c;
    gct_call_init(&c, "instance.node[0]", TOKEN);
    infra_json *planned = gct_json(
        "{\"image\": \"projects/debian-cloud/global/images/family/debian-12\", \"machine\": "
        "\"e2-small\", \"subnetwork\": \"projects/infra-test/regions/europe-west1/subnetworks/s\", "
        "\"network_tags\": [\"nomad\"], \"labels\": {\"env\": \"Prod\"}, \"role\": \"server\", "
        "\"startup_script\": \"#!/bin/sh\\necho hi\\n\", \"ssh_public_key\": \"ssh-ed25519 "
        "AAAA me\", \"disk_size\": 20, \"scopes\": [\"cloud-platform\"]}");
    infra_json *out = NULL;
    assert_int_equal(act("instance", &c, NULL, planned, NULL, &out), 0);
    infra_json *b = gct_body(gct_last(insert));
    assert_string_equal(pu_json_str(b, "name"), "web-test-instance-node-0");
    assert_string_equal(pu_json_str(b, "machineType"),
                        "zones/europe-west1-b/machineTypes/e2-small");
    assert_string_equal(gcp_json_path_str(b, "disks.0.initializeParams.sourceImage"),
                        "projects/debian-cloud/global/images/family/debian-12");
    assert_string_equal(gcp_json_path_str(b, "disks.0.initializeParams.diskSizeGb"), "20");
    assert_true(pu_host->json->boolean(gcp_json_path(b, "disks.0.boot")));
    assert_true(pu_host->json->boolean(gcp_json_path(b, "disks.0.autoDelete")));
    assert_string_equal(gcp_json_path_str(b, "networkInterfaces.0.subnetwork"),
                        "projects/infra-test/regions/europe-west1/subnetworks/s");
    assert_string_equal(gcp_json_path_str(b, "networkInterfaces.0.accessConfigs.0.type"),
                        "ONE_TO_ONE_NAT");
    assert_string_equal(gcp_json_path_str(b, "labels.env"), "_50rod");
    assert_string_equal(gcp_json_path_str(b, "labels.role"), "server");
    assert_string_equal(gcp_json_path_str(b, "labels.infra-token"), TOKEN);
    assert_string_equal(gcp_json_path_str(b, "labels.infra-address"), "instance_2enode_5b0_5d");
    assert_string_equal(gcp_json_path_str(b, "disks.0.initializeParams.labels.infra-token"), TOKEN);
    assert_string_equal(gcp_json_path_str(b, "tags.items.0"), "nomad");
    assert_string_equal(gcp_json_path_str(b, "metadata.items.0.key"), "startup-script");
    assert_string_equal(gcp_json_path_str(b, "metadata.items.1.key"), "ssh-keys");
    assert_string_equal(gcp_json_path_str(b, "metadata.items.1.value"),
                        "infra:ssh-ed25519 AAAA me");
    assert_string_equal(gcp_json_path_str(b, "serviceAccounts.0.email"), "default");
    assert_string_equal(gcp_json_path_str(b, "serviceAccounts.0.scopes.0"),
                        "https://www.googleapis.com/auth/cloud-platform");
    /* The state the scheduler bridge reads. */
    assert_string_equal(pu_json_str(out, "private_ip"), "10.0.0.2");
    assert_string_equal(pu_json_str(out, "public_ip"), "203.0.113.9");
    assert_string_equal(pu_json_str(out, "ssh_user"), "infra");
    assert_int_equal(gcp_json_long(out, "ssh_port", 0), 22);
    assert_string_equal(pu_json_str(out, "ssh_host_key_fingerprint"), "SHA256:abc");
    assert_string_equal(pu_json_str(out, "id"),
                        "projects/infra-test/zones/europe-west1-b/instances/web-test-instance-"
                        "node-0");
    pu_host->json->release(b);
    pu_host->json->release(out);
    pu_host->json->release(planned);
    gct_call_clear(&c);
}

static void test_firewall_body_groups_rules(void **state)
{
    (void)state;
    gct_set_resuming(0);
    const char *insert = "POST " BASE "global/firewalls?";
    route_done(insert, "global");
    char *obj = object("global", "firewalls", "web-test-firewall-nomad",
                       "\"network\": \"https://www.googleapis.com/compute/v1/projects/infra-test/"
                       "global/networks/n\"");
    gct_route("GET " BASE "global/firewalls/web-test-firewall-nomad", 200, obj);
    free(obj);
    gct_call c;
    gct_call_init(&c, "firewall.nomad", TOKEN);
    infra_json *planned = gct_json("{\"network\": \"projects/infra-test/global/networks/n\", "
                                   "\"allow\": [22, {\"port\": \"8301-8302\", \"proto\": "
                                   "\"udp\"}], \"target_tags\": [\"nomad\"]}");
    infra_json *out = NULL;
    assert_int_equal(act("firewall", &c, NULL, planned, NULL, &out), 0);
    infra_json *b = gct_body(gct_last(insert));
    char *text = gct_dump(pu_host->json->get(b, "allowed"));
    assert_string_equal(text, "[{\"IPProtocol\":\"tcp\",\"ports\":[\"22\"]},{\"IPProtocol\":"
                              "\"udp\",\"ports\":[\"8301-8302\"]}]");
    pu_host->free(text);
    assert_string_equal(gcp_json_path_str(b, "sourceRanges.0"), "0.0.0.0/0");
    assert_string_equal(gcp_json_path_str(b, "targetTags.0"), "nomad");
    assert_string_equal(pu_json_str(b, "direction"), "INGRESS");
    assert_int_equal(gcp_json_long(b, "priority", 0), 1000);
    pu_host->json->release(b);
    pu_host->json->release(out);
    pu_host->json->release(planned);
    gct_call_clear(&c);
}

static void test_load_balancer_is_a_check_a_pool_and_a_rule(void **state)
{
    (void)state;
    gct_set_resuming(0);
    route_done("POST " BASE "global/httpHealthChecks?", "global");
    route_done("POST " BASE "regions/europe-west1/targetPools?", "regions/europe-west1");
    route_done("POST " BASE "regions/europe-west1/forwardingRules?", "regions/europe-west1");
    char *hc = object("global", "httpHealthChecks", "web-test-load-balancer-web",
                      "\"port\": 80, \"requestPath\": \"/health\"");
    char *pool = object("regions/europe-west1", "targetPools", "web-test-load-balancer-web",
                        "\"region\": \"https://www.googleapis.com/compute/v1/projects/infra-test/"
                        "regions/europe-west1\"");
    char *rule = object("regions/europe-west1", "forwardingRules", "web-test-load-balancer-web",
                        "\"IPAddress\": \"203.0.113.1\"");
    gct_route("GET " BASE "global/httpHealthChecks/web", 200, hc);
    gct_route("GET " BASE "regions/europe-west1/targetPools/web", 200, pool);
    gct_route("GET " BASE "regions/europe-west1/forwardingRules/web", 200, rule);
    free(hc);
    free(pool);
    free(rule);
    gct_call c;
    gct_call_init(&c, "load_balancer.web", TOKEN);
    infra_json *planned =
        gct_json("{\"listen\": [80], \"health\": \"http:80/health\", \"targets\": "
                 "[\"projects/infra-test/zones/europe-west1-b/instances/a\"]}");
    infra_json *out = NULL;
    assert_int_equal(act("load_balancer", &c, NULL, planned, NULL, &out), 0);
    infra_json *b = gct_body(gct_last("POST " BASE "global/httpHealthChecks?"));
    assert_int_equal(gcp_json_long(b, "port", 0), 80);
    assert_string_equal(pu_json_str(b, "requestPath"), "/health");
    pu_host->json->release(b);
    b = gct_body(gct_last("POST " BASE "regions/europe-west1/targetPools?"));
    assert_string_equal(gcp_json_path_str(b, "instances.0"),
                        "projects/infra-test/zones/europe-west1-b/instances/a");
    assert_non_null(strstr(gcp_json_path_str(b, "healthChecks.0"), "httpHealthChecks/web"));
    pu_host->json->release(b);
    b = gct_body(gct_last("POST " BASE "regions/europe-west1/forwardingRules?"));
    assert_string_equal(pu_json_str(b, "portRange"), "80");
    assert_string_equal(pu_json_str(b, "IPProtocol"), "TCP");
    assert_non_null(strstr(pu_json_str(b, "target"), "targetPools/web"));
    pu_host->json->release(b);
    assert_string_equal(pu_json_str(out, "address"), "203.0.113.1");
    assert_non_null(strstr(pu_json_str(out, "target_pool"), "targetPools/"));
    pu_host->json->release(out);
    pu_host->json->release(planned);
    gct_call_clear(&c);
}

static void test_dns_record_is_one_change_with_a_client_operation_id(void **state)
{
    (void)state;
    const char *dns = "http://gcp.test/dns/v1/projects/infra-test/managedZones";
    gct_route("GET http://gcp.test/dns/v1/projects/infra-test/managedZones?dnsName=", 200,
              "{\"managedZones\": [{\"name\": \"example-org\", \"dnsName\": \"example.org.\"}]}");
    gct_route("GET http://gcp.test/dns/v1/projects/infra-test/managedZones/example-org/rrsets", 200,
              "{\"rrsets\": []}");
    gct_route("POST http://gcp.test/dns/v1/projects/infra-test/managedZones/example-org/changes",
              200, "{\"id\": \"1\", \"status\": \"done\"}");
    gct_call c;
    gct_call_init(&c, "dns_record.apps", TOKEN);
    infra_json *planned = gct_json("{\"zone\": \"example.org\", \"name\": \"*.app\", \"target\": "
                                   "\"203.0.113.1\", \"ttl\": 60}");
    infra_json *out = NULL;
    assert_int_equal(act("dns_record", &c, NULL, planned, NULL, &out), 0);
    const gct_request *r = gct_last("/changes");
    assert_non_null(strstr(r->url, "clientOperationId="));
    infra_json *b = gct_body(r);
    assert_string_equal(gcp_json_path_str(b, "additions.0.name"), "*.app.example.org.");
    assert_string_equal(gcp_json_path_str(b, "additions.0.type"), "A");
    assert_int_equal(gcp_json_long(gcp_json_path(b, "additions.0"), "ttl", 0), 60);
    assert_string_equal(gcp_json_path_str(b, "additions.0.rrdatas.0"), "203.0.113.1");
    assert_null(pu_host->json->get(b, "deletions"));
    assert_string_equal(pu_json_str(out, "fqdn"), "*.app.example.org");
    assert_string_equal(pu_json_str(out, "id"), "example-org/*.app.example.org./A");
    pu_host->json->release(b);
    pu_host->json->release(out);
    pu_host->json->release(planned);
    gct_call_clear(&c);
    (void)dns;
}

static void test_subnetwork_router_address_and_template_bodies(void **state)
{
    (void)state;
    gct_set_resuming(0);
    const char *regional = "regions/europe-west1";
    route_done("POST " BASE "regions/europe-west1/subnetworks?", regional);
    route_done("POST " BASE "regions/europe-west1/routers?", regional);
    route_done("POST " BASE "regions/europe-west1/addresses?", regional);
    route_done("POST " BASE "global/instanceTemplates?", "global");
    char *sub = object(regional, "subnetworks", "s", "\"ipCidrRange\": \"10.0.0.0/24\"");
    char *router = object(regional, "routers", "r", "\"nats\": [{\"name\": \"r-nat\"}]");
    char *addr = object(regional, "addresses", "ip", "\"address\": \"203.0.113.5\"");
    gct_route("GET " BASE "regions/europe-west1/subnetworks/", 200, sub);
    gct_route("GET " BASE "regions/europe-west1/routers/", 200, router);
    gct_route("GET " BASE "regions/europe-west1/addresses/", 200, addr);
    free(sub);
    free(router);
    free(addr);
    gct_call c;
    gct_call_init(&c, "subnetwork.s", TOKEN);
    infra_json *planned = gct_json("{\"name\": \"s\", \"network\": \"projects/infra-test/global/"
                                   "networks/n\", \"cidr\": \"10.0.0.0/24\", "
                                   "\"private_google_access\": true}");
    infra_json *out = NULL;
    assert_int_equal(act("subnetwork", &c, NULL, planned, NULL, &out), 0);
    infra_json *b = gct_body(gct_last("POST " BASE "regions/europe-west1/subnetworks?"));
    assert_string_equal(pu_json_str(b, "ipCidrRange"), "10.0.0.0/24");
    assert_string_equal(pu_json_str(b, "network"), "projects/infra-test/global/networks/n");
    assert_true(pu_host->json->boolean(pu_host->json->get(b, "privateIpGoogleAccess")));
    assert_non_null(strstr(pu_json_str(b, "description"), "token=" TOKEN));
    pu_host->json->release(b);
    pu_host->json->release(out);
    pu_host->json->release(planned);

    planned = gct_json("{\"name\": \"r\", \"network\": \"projects/infra-test/global/networks/n\", "
                       "\"nat\": true}");
    assert_int_equal(act("router", &c, NULL, planned, NULL, &out), 0);
    b = gct_body(gct_last("POST " BASE "regions/europe-west1/routers?"));
    assert_string_equal(gcp_json_path_str(b, "nats.0.natIpAllocateOption"), "AUTO_ONLY");
    assert_string_equal(gcp_json_path_str(b, "nats.0.sourceSubnetworkIpRangesToNat"),
                        "ALL_SUBNETWORKS_ALL_IP_RANGES");
    assert_string_equal(gcp_json_path_str(b, "nats.0.name"), "r-nat");
    pu_host->json->release(b);
    pu_host->json->release(out);
    pu_host->json->release(planned);

    planned = gct_json("{\"name\": \"ip\"}");
    assert_int_equal(act("address", &c, NULL, planned, NULL, &out), 0);
    b = gct_body(gct_last("POST " BASE "regions/europe-west1/addresses?"));
    assert_string_equal(pu_json_str(b, "addressType"), "EXTERNAL");
    assert_string_equal(pu_json_str(out, "address"), "203.0.113.5");
    pu_host->json->release(b);
    pu_host->json->release(out);
    pu_host->json->release(planned);

    /* A template is named after its properties, machine type bare. A new
     * version is looked for first (an update has no token of its own). */
    gct_route("GET " BASE "global/instanceTemplates/", 404, NOT_FOUND);
    gct_route("GET " BASE "global/instanceTemplates/", 200,
              "{\"name\": \"t\", \"selfLink\": \"https://www.googleapis.com/compute/v1/projects/"
              "infra-test/global/instanceTemplates/t\"}");
    planned = gct_json("{\"name\": \"web\", \"machine\": \"e2-micro\", \"image\": "
                       "\"family/nomad-host\", \"subnetwork\": \"s\", \"public_ip\": false}");
    assert_int_equal(act("instance_template", &c, NULL, planned, NULL, &out), 0);
    b = gct_body(gct_last("POST " BASE "global/instanceTemplates?"));
    const char *name = pu_json_str(b, "name");
    assert_true(strncmp(name, "web-", 4) == 0 && strlen(name) == 12);
    assert_string_equal(gcp_json_path_str(b, "properties.machineType"), "e2-micro");
    assert_string_equal(gcp_json_path_str(b, "properties.disks.0.initializeParams.sourceImage"),
                        "projects/infra-test/global/images/family/nomad-host");
    assert_string_equal(gcp_json_path_str(b, "properties.networkInterfaces.0.subnetwork"),
                        "projects/infra-test/regions/europe-west1/subnetworks/s");
    assert_null(gcp_json_path(b, "properties.networkInterfaces.0.accessConfigs"));
    assert_string_equal(gcp_json_path_str(b, "properties.labels.infra-token"), TOKEN);
    pu_host->json->release(b);
    pu_host->json->release(out);
    pu_host->json->release(planned);
    gct_call_clear(&c);
}

static void test_instance_group_waits_for_healthy_members(void **state)
{
    (void)state;
    gct_set_resuming(0);
    const char *zonal = "zones/europe-west1-b";
    gct_route("GET " BASE "zones/europe-west1-b/instanceGroupManagers?", 200, "{}");
    route_done("POST " BASE "zones/europe-west1-b/instanceGroupManagers?", zonal);
    gct_route("GET " BASE "zones/europe-west1-b/instanceGroupManagers/", 404, NOT_FOUND);
    gct_route("GET " BASE "zones/europe-west1-b/instanceGroupManagers/", 200,
              "{\"name\": \"g\", \"zone\": \"zones/europe-west1-b\", \"selfLink\": "
              "\"https://www.googleapis.com/compute/v1/projects/infra-test/zones/europe-west1-b/"
              "instanceGroupManagers/g\", \"description\": \"infra: token=" TOKEN "\"}");
    /* First the member is still being made, then it is RUNNING. */
    const char *list = "/listManagedInstances";
    gct_route(list, 200,
              "{\"managedInstances\": [{\"instance\": \"https://www.googleapis.com/compute/v1/"
              "projects/infra-test/zones/europe-west1-b/instances/g-abcd\", \"currentAction\": "
              "\"CREATING\"}]}");
    gct_route(list, 200,
              "{\"managedInstances\": [{\"instance\": \"https://www.googleapis.com/compute/v1/"
              "projects/infra-test/zones/europe-west1-b/instances/g-abcd\", \"currentAction\": "
              "\"NONE\", \"instanceStatus\": \"RUNNING\"}]}");
    gct_route("/getHealth", 200, "{\"healthStatus\": [{\"healthState\": \"UNHEALTHY\"}]}");
    gct_route("/getHealth", 200, "{\"healthStatus\": [{\"healthState\": \"HEALTHY\"}]}");
    gct_call c;
    gct_call_init(&c, "instance_group.web", TOKEN);
    infra_json *planned = gct_json("{\"template\": \"projects/infra-test/global/instanceTemplates/"
                                   "t\", \"size\": 1, \"target_pools\": [\"projects/infra-test/"
                                   "regions/europe-west1/targetPools/p\"]}");
    infra_json *out = NULL;
    assert_int_equal(act("instance_group", &c, NULL, planned, NULL, &out), 0);
    infra_json *b = gct_body(gct_last("POST " BASE "zones/europe-west1-b/instanceGroupManagers?"));
    const char *name = pu_json_str(b, "name");
    assert_true(strncmp(name, "web-test-instance-group-web-", 28) == 0);
    assert_non_null(strstr(name, "-g0"));
    assert_string_equal(pu_json_str(b, "baseInstanceName"), name);
    assert_int_equal(gcp_json_long(b, "targetSize", 0), 1);
    assert_string_equal(gcp_json_path_str(b, "targetPools.0"),
                        "projects/infra-test/regions/europe-west1/targetPools/p");
    assert_true(gct_count("/getHealth") >= 2);
    assert_string_equal(gcp_json_path_str(out, "instances.0"),
                        "projects/infra-test/zones/europe-west1-b/instances/g-abcd");
    assert_int_equal(gcp_json_long(out, "generation", -1), 0);
    /* The filtered sweep for earlier generations came first. */
    const gct_request *sweep = gct_requests(1);
    assert_non_null(strstr(sweep->url, "filter=name%20eq%20web-test-instance-group-web-"));
    pu_host->json->release(b);
    pu_host->json->release(out);
    pu_host->json->release(planned);
    gct_call_clear(&c);
}

static void test_read_many_lists_once_per_type(void **state)
{
    (void)state;
    gct_route("GET " BASE "aggregated/instances?", 200,
              "{\"items\": {\"zones/europe-west1-b\": {\"instances\": [{\"name\": \"a\", "
              "\"status\": \"RUNNING\", \"selfLink\": \"https://www.googleapis.com/compute/v1/"
              "projects/infra-test/zones/europe-west1-b/instances/a\", \"networkInterfaces\": "
              "[{\"networkIP\": \"10.0.0.2\"}]}]}, \"zones/europe-west1-c\": {\"warning\": "
              "{\"code\": \"NO_RESULTS_ON_PAGE\"}}}}");
    gct_route("GET " BASE "global/networks?", 200,
              "{\"items\": [{\"name\": \"n1\", \"selfLink\": \"https://www.googleapis.com/"
              "compute/v1/projects/infra-test/global/networks/n1\"}]}");
    gct_call batch, c1, c2;
    gct_call_init(&batch, "", NULL);
    gct_call_init(&c1, "instance.a", NULL);
    gct_call_init(&c2, "instance.b", NULL);
    infra_json *s1 = gct_json("{\"id\": \"projects/infra-test/zones/europe-west1-b/instances/a\", "
                              "\"ssh_host_key_fingerprint\": \"SHA256:x\"}");
    infra_json *s2 = gct_json("{\"id\": \"projects/infra-test/zones/europe-west1-b/instances/b\"}");
    infra_read_item items[2] = {
        {sizeof(infra_read_item), &c1.call, s1, NULL, 0, NULL, 0},
        {sizeof(infra_read_item), &c2.call, s2, NULL, 0, NULL, 0},
    };
    assert_int_equal(gcp_read_many(p, &batch.call, "instance", items, 2), 0);
    assert_int_equal(items[0].result, 0);
    assert_string_equal(pu_json_str(items[0].out, "private_ip"), "10.0.0.2");
    assert_int_equal(items[1].result, INFRA_ENOTFOUND);
    assert_int_equal(gct_count("aggregated/instances"), 1);
    assert_int_equal(gct_nrequests(), 2); /* the token and the list */
    const gct_request *r = gct_last("aggregated/instances");
    assert_non_null(strstr(r->url, "labels.infra-topology%20%3D%20%22web%22"));
    pu_host->json->release(items[0].out);

    infra_json *n1 = gct_json("{\"id\": \"projects/infra-test/global/networks/n1\"}");
    infra_json *n2 = gct_json("{\"id\": \"projects/infra-test/global/networks/n2\"}");
    infra_read_item nets[2] = {
        {sizeof(infra_read_item), &c1.call, n1, NULL, 0, NULL, 0},
        {sizeof(infra_read_item), &c2.call, n2, NULL, 0, NULL, 0},
    };
    assert_int_equal(gcp_read_many(p, &batch.call, "network", nets, 2), 0);
    assert_int_equal(nets[0].result, 0);
    assert_string_equal(pu_json_str(nets[0].out, "name"), "n1");
    assert_int_equal(nets[1].result, INFRA_ENOTFOUND);
    assert_int_equal(gct_count("global/networks?"), 1);
    r = gct_last("global/networks?");
    assert_non_null(strstr(r->url, "%28name%20%3D%20%22n1%22%29%20OR%20%28name%20%3D%20%22n2"));
    pu_host->json->release(nets[0].out);

    /* A list that fails fails the batch. */
    gct_route("GET " BASE "global/networks?", 403,
              "{\"error\": {\"code\": 403, \"message\": \"no\", \"errors\": [{\"reason\": "
              "\"forbidden\"}]}}");
    gct_reset();
    gct_route("GET " BASE "global/networks?", 403,
              "{\"error\": {\"code\": 403, \"message\": \"no\", \"errors\": [{\"reason\": "
              "\"forbidden\"}]}}");
    assert_int_equal(gcp_read_many(p, &batch.call, "network", nets, 2), INFRA_EAUTH);
    assert_int_equal(nets[0].result, INFRA_EAUTH);
    pu_host->json->release(s1);
    pu_host->json->release(s2);
    pu_host->json->release(n1);
    pu_host->json->release(n2);
    gct_call_clear(&batch);
    gct_call_clear(&c1);
    gct_call_clear(&c2);
}

static void test_plan_marks_volatile_ids_unknown(void **state)
{
    (void)state;
    gct_call c;
    gct_call_init(&c, "instance_group.web", NULL);
    infra_json *prior = gct_json("{\"template\": \"t1\", \"size\": 2, \"id\": \"g0\", "
                                 "\"generation\": 0}");
    infra_json *desired = gct_json("{\"template\": \"t2\", \"size\": 2}");
    infra_json *planned = NULL, *replace = NULL;
    assert_int_equal(gcp_plan(p, &c.call, "instance_group", prior, desired, &planned, &replace), 0);
    const infra_json *id = pu_host->json->get(planned, "id");
    assert_true(id == NULL || pu_host->json->type(id) == INFRA_JSON_UNKNOWN);
    assert_int_equal(pu_host->json->length(replace), 0);
    pu_host->json->release(planned);
    pu_host->json->release(replace);
    pu_host->json->release(prior);
    pu_host->json->release(desired);
    /* public_ip changed from true to false replaces the instance. */
    prior = gct_json("{\"associate_public_ip\": true, \"public_ip\": \"1.2.3.4\"}");
    desired = gct_json("{\"public_ip\": false, \"machine\": \"e2-small\"}");
    assert_int_equal(gcp_plan(p, &c.call, "instance", prior, desired, &planned, &replace), 0);
    assert_int_equal(pu_host->json->length(replace), 1);
    pu_host->json->release(planned);
    pu_host->json->release(replace);
    pu_host->json->release(prior);
    pu_host->json->release(desired);
    gct_call_clear(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_network_create_sends_its_body_with_a_token_request_id,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_resuming_create_adopts_what_its_token_made, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_name_taken_by_another_is_a_conflict, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_failed_insert_is_tried_again_under_a_new_request_id,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_instance_insert_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_firewall_body_groups_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_balancer_is_a_check_a_pool_and_a_rule, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dns_record_is_one_change_with_a_client_operation_id,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_subnetwork_router_address_and_template_bodies, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_instance_group_waits_for_healthy_members, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_read_many_lists_once_per_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_marks_volatile_ids_unknown, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
