/* Calls on a scripted server: tokens renewed before they expire and once
 * on a 401, the microversion headers, retries of throttling and server
 * errors within the budget, quota errors, list pages, endpoints from the
 * catalog and from overrides. */
#define _GNU_SOURCE
#include "ost.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERSION_DOC                                                                                \
    "{\"version\": {\"id\": \"v2.1\", \"status\": \"CURRENT\", \"version\": \"2.93\", "           \
    "\"min_version\": \"2.1\"}}"

static int setup(void **state)
{
    (void)state;
    ost_reset();
    return 0;
}

static int get(infra_provider *p, ost_call *c, os_service svc, const char *path, infra_json **out)
{
    return os_get(p, &c->call, svc, path, 0, out);
}

static void test_a_token_about_to_expire_is_renewed_before_the_request(void **state)
{
    (void)state;
    infra_provider *p = ost_provider();
    ost_call c;
    ost_call_init(&c, "network.main", NULL);
    /* A short-lived token: 10 s left of a life of 110 s, within the margin. */
    ost_route_token("gAAAAAfirst", 110, 100);
    ost_route_token("gAAAAAsecond", 3600, 0);
    ost_route("GET", "neutron.test/v2.0/networks", 200, NULL, "{\"networks\": []}");
    infra_json *body = NULL;
    assert_int_equal(get(p, &c, OS_NETWORK, "/networks", &body), 0);
    pu_host->json->release(body);
    /* The first token was due at once: the request went with the second. */
    assert_int_equal(ost_count("POST", "/auth/tokens"), 2);
    assert_string_equal(ost_header(ost_last("GET", "/networks"), "X-Auth-Token"), "gAAAAAsecond");
    /* A fresh token is kept. */
    assert_int_equal(get(p, &c, OS_NETWORK, "/networks", &body), 0);
    pu_host->json->release(body);
    assert_int_equal(ost_count("POST", "/auth/tokens"), 2);
    assert_int_equal(p->token.issued, 2);
    ost_call_clear(&c);
    os_provider_free(p);
}

static void test_a_refused_token_is_renewed_once_per_request(void **state)
{
    (void)state;
    infra_provider *p = ost_provider();
    ost_call c;
    ost_call_init(&c, "network.main", NULL);
    ost_route_token("gAAAAAone", 3600, 0);
    ost_route_token("gAAAAAtwo", 3600, 0);
    ost_route_token("gAAAAAthree", 3600, 0);
    const char *refused = "{\"error\": {\"code\": 401, \"title\": \"Unauthorized\", \"message\": "
                          "\"The request you have made requires authentication.\"}}";
    ost_route("GET", "/v2.0/routers", 401, NULL, refused);
    ost_route("GET", "/v2.0/routers", 200, NULL, "{\"routers\": []}");
    infra_json *body = NULL;
    assert_int_equal(get(p, &c, OS_NETWORK, "/routers", &body), 0);
    pu_host->json->release(body);
    assert_int_equal(ost_count("POST", "/auth/tokens"), 2);
    assert_int_equal(ost_count("GET", "/v2.0/routers"), 2);
    assert_string_equal(ost_header(ost_requests(1), "X-Auth-Token"), "gAAAAAone");
    assert_string_equal(ost_header(ost_last("GET", "/routers"), "X-Auth-Token"), "gAAAAAtwo");
    /* Refused again with the new token: once is the limit. */
    ost_route("GET", "/v2.0/subnets", 401, NULL, refused);
    assert_int_equal(get(p, &c, OS_NETWORK, "/subnets", &body), INFRA_EAUTH);
    assert_int_equal(ost_count("GET", "/v2.0/subnets"), 2);
    assert_non_null(strstr(c.diags, "openstack: neutron GET /subnets in GRA7: 401 Unauthorized"));
    /* No token in any diagnostic. */
    assert_null(strstr(c.diags, "gAAAAA"));
    ost_call_clear(&c);
    os_provider_free(p);
}

static void test_compute_calls_carry_the_negotiated_microversion(void **state)
{
    (void)state;
    infra_provider *p = ost_provider();
    ost_call c;
    ost_call_init(&c, "instance.web", NULL);
    ost_route_token("gAAAAAtok", 3600, 0);
    ost_route("GET", "nova.test/v2.1/", 200, NULL, VERSION_DOC);
    ost_route("GET", "nova.test/v2.1/flavors/detail", 200, NULL, "{\"flavors\": []}");
    infra_json *body = NULL;
    assert_int_equal(get(p, &c, OS_COMPUTE, "/flavors/detail", &body), 0);
    pu_host->json->release(body);
    const ost_request *r = ost_last("GET", "/flavors/detail");
    assert_string_equal(ost_header(r, "OpenStack-API-Version"), "compute 2.90");
    assert_string_equal(ost_header(r, "X-OpenStack-Nova-API-Version"), "2.90");
    /* Negotiated once per provider; other services have no such header. */
    assert_int_equal(get(p, &c, OS_COMPUTE, "/flavors/detail", &body), 0);
    pu_host->json->release(body);
    assert_int_equal(ost_count("GET", "nova.test/v2.1/"), 3);
    ost_route("GET", "/v2.0/networks", 200, NULL, "{\"networks\": []}");
    assert_int_equal(get(p, &c, OS_NETWORK, "/networks", &body), 0);
    pu_host->json->release(body);
    assert_null(ost_header(ost_last("GET", "/v2.0/networks"), "OpenStack-API-Version"));
    ost_call_clear(&c);
    os_provider_free(p);
}

static void test_an_old_nova_is_refused_with_both_ranges(void **state)
{
    (void)state;
    infra_provider *p = ost_provider();
    ost_call c;
    ost_call_init(&c, "instance.web", NULL);
    ost_route_token("gAAAAAtok", 3600, 0);
    ost_route("GET", "nova.test/v2.1/", 200, NULL,
              "{\"version\": {\"id\": \"v2.1\", \"version\": \"2.37\", \"min_version\": \"2.1\"}}");
    infra_json *body = NULL;
    assert_int_equal(get(p, &c, OS_COMPUTE, "/servers", &body), INFRA_ENOTSUP);
    assert_non_null(strstr(c.diags, "serves microversions 2.1 to 2.37; infra needs 2.52"));
    ost_call_clear(&c);
    os_provider_free(p);
}

static void test_throttling_and_server_errors_are_retried_in_the_budget(void **state)
{
    (void)state;
    infra_provider *p = ost_provider();
    ost_call c;
    ost_call_init(&c, "network.main", NULL);
    ost_route_token("gAAAAAtok", 3600, 0);
    ost_route("GET", "/v2.0/networks", 429, "Retry-After: 0", "{}");
    ost_route("GET", "/v2.0/networks", 503, NULL, "{}");
    ost_route("GET", "/v2.0/networks", 413, "Retry-After: 0",
              "{\"overLimit\": {\"code\": 413, \"message\": \"Over limit\"}}");
    ost_route("GET", "/v2.0/networks", 200, NULL, "{\"networks\": []}");
    infra_json *body = NULL;
    assert_int_equal(get(p, &c, OS_NETWORK, "/networks", &body), 0);
    pu_host->json->release(body);
    assert_int_equal(ost_count("GET", "/v2.0/networks"), 4);
    assert_int_equal(c.ndiags, 0);
    /* A 500 on a create is not repeated: the create may have happened. */
    ost_route("POST", "/v2.0/networks", 500, NULL,
              "{\"NeutronError\": {\"type\": \"HTTPInternalServerError\", \"message\": \"boom\"}}");
    infra_json *req = ost_json("{\"network\": {\"name\": \"n\"}}");
    assert_int_equal(os_send(p, &c.call, OS_NETWORK, "POST", "/networks", req, "", 0, NULL),
                     INFRA_ETRANSIENT);
    assert_int_equal(ost_count("POST", "/v2.0/networks"), 1);
    /* Throttling past the budget gives up, saying how often it tried. */
    ost_route("GET", "/v2.0/ports", 429, NULL, "{}");
    assert_int_equal(get(p, &c, OS_NETWORK, "/ports", &body), INFRA_ETRANSIENT);
    assert_int_equal(ost_count("GET", "/v2.0/ports"), (size_t)p->retry.max_attempts);
    assert_non_null(strstr(c.diags, "gave up after 4 tries"));
    pu_host->json->release(req);
    ost_call_clear(&c);
    os_provider_free(p);
}

static void test_quota_errors_are_reported_naming_the_quota(void **state)
{
    (void)state;
    infra_provider *p = ost_provider();
    ost_call c;
    ost_call_init(&c, "instance.web", NULL);
    ost_route_token("gAAAAAtok", 3600, 0);
    ost_route("GET", "nova.test/v2.1/", 200, NULL, VERSION_DOC);
    ost_route("POST", "/v2.1/servers", 403, NULL,
              "{\"forbidden\": {\"code\": 403, \"message\": \"Quota exceeded for cores: Requested "
              "2, but already used 10 of 10 cores\"}}");
    infra_json *req = ost_json("{\"server\": {}}");
    assert_int_equal(os_send(p, &c.call, OS_COMPUTE, "POST", "/servers", req, "size", 0, NULL),
                     INFRA_EINVALID);
    assert_string_equal(c.last_attr, "size");
    assert_non_null(strstr(c.diags, "openstack: nova POST /servers in GRA7: quota exceeded: cores "
                                    "(Quota exceeded for cores: Requested 2, but already used 10 of "
                                    "10 cores)"));
    /* A 413 without Retry-After that names a quota is no rate limit. */
    ost_route("POST", "/v2/zones", 413, NULL,
              "{\"code\": 413, \"type\": \"over_quota\", \"message\": \"Quota exceeded for "
              "zones.\"}");
    assert_int_equal(os_send(p, &c.call, OS_DNS, "POST", "/zones", req, "", 0, NULL),
                     INFRA_EINVALID);
    assert_int_equal(ost_count("POST", "/v2/zones"), 1);
    assert_non_null(strstr(c.diags, "quota exceeded: zones"));
    pu_host->json->release(req);
    ost_call_clear(&c);
    os_provider_free(p);
}

static void test_lists_follow_their_next_links_keeping_filters(void **state)
{
    (void)state;
    infra_provider *p = ost_provider();
    ost_call c;
    ost_call_init(&c, "load_balancer.web", NULL);
    ost_route_token("gAAAAAtok", 3600, 0);
    /* Octavia's next link drops the filter: the plugin keeps it. */
    ost_route("GET", "/v2/lbaas/loadbalancers?tags=x", 200, NULL,
              "{\"loadbalancers\": [{\"id\": \"1\"}, {\"id\": \"2\"}], \"loadbalancers_links\": "
              "[{\"rel\": \"next\", \"href\": \"http://octavia.test/v2/lbaas/loadbalancers?limit=2&"
              "marker=2\"}]}");
    ost_route("GET", "/v2/lbaas/loadbalancers?tags=x&marker=2", 200, NULL,
              "{\"loadbalancers\": [{\"id\": \"3\"}], \"loadbalancers_links\": []}");
    infra_json *all = NULL;
    assert_int_equal(os_list(p, &c.call, OS_LB, "/lbaas/loadbalancers?tags=x", "loadbalancers", &all),
                     0);
    assert_int_equal(pu_host->json->length(all), 3);
    pu_host->json->release(all);
    /* Glance's "next" and Designate's links.next likewise. */
    ost_route("GET", "glance.test/v2/images?status=active", 200, NULL,
              "{\"images\": [{\"id\": \"a\"}], \"next\": \"/v2/images?marker=a\"}");
    ost_route("GET", "glance.test/v2/images?status=active&marker=a", 200, NULL,
              "{\"images\": [{\"id\": \"b\"}]}");
    assert_int_equal(os_list(p, &c.call, OS_IMAGE, "/images?status=active", "images", &all), 0);
    assert_int_equal(pu_host->json->length(all), 2);
    pu_host->json->release(all);
    ost_call_clear(&c);
    os_provider_free(p);
}

static void test_endpoints_from_the_catalog_or_overrides(void **state)
{
    (void)state;
    infra_provider *p = ost_provider();
    ost_call c;
    ost_call_init(&c, "dns_record.www", NULL);
    ost_route_token("gAAAAAtok", 3600, 0);
    const char *base = NULL;
    assert_int_equal(os_endpoint(p, &c.call, OS_DNS, "", &base), 0);
    assert_string_equal(base, "http://designate.test/v2");
    p->override[OS_NETWORK] = strdup("https://private.example:9696/");
    assert_int_equal(os_endpoint(p, &c.call, OS_NETWORK, "", &base), 0);
    assert_string_equal(base, "https://private.example:9696/v2.0");
    /* A region the catalog lacks: the service is not offered, said at the attribute. */
    free(p->region);
    p->region = strdup("BHS5");
    assert_int_equal(os_endpoint(p, &c.call, OS_LB, "listen", &base), INFRA_ENOTSUP);
    assert_string_equal(c.last_attr, "listen");
    assert_non_null(strstr(c.diags, "octavia (load-balancer) is not offered by this cloud"));
    ost_call_clear(&c);
    os_provider_free(p);
}

static void test_refused_credentials_name_their_source_not_the_password(void **state)
{
    (void)state;
    infra_provider *p = ost_provider();
    ost_call c;
    ost_call_init(&c, "", NULL);
    ost_route("POST", "/auth/tokens", 401, NULL,
              "{\"error\": {\"code\": 401, \"title\": \"Unauthorized\", \"message\": \"The request "
              "you have made requires authentication.\"}}");
    char *token = NULL;
    assert_int_equal(os_auth_token(p, &c.call, -1, &token, NULL), INFRA_EAUTH);
    assert_null(token);
    assert_non_null(strstr(c.diags, "openstack: Keystone at http://keystone.test/v3 refused the "
                                    "credentials of cloud \"ovh\" of clouds.yaml: 401 "
                                    "Unauthorized"));
    assert_null(strstr(c.diags, "s3cret-password"));
    /* The password went in the body, nowhere else. */
    const ost_request *r = ost_last("POST", "/auth/tokens");
    assert_non_null(strstr(r->body, "s3cret-password"));
    for (size_t i = 0; r->headers[i] != NULL; i++)
        assert_null(strstr(r->headers[i], "s3cret"));
    ost_call_clear(&c);
    os_provider_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_a_token_about_to_expire_is_renewed_before_the_request, setup),
        cmocka_unit_test_setup(test_a_refused_token_is_renewed_once_per_request, setup),
        cmocka_unit_test_setup(test_compute_calls_carry_the_negotiated_microversion, setup),
        cmocka_unit_test_setup(test_an_old_nova_is_refused_with_both_ranges, setup),
        cmocka_unit_test_setup(test_throttling_and_server_errors_are_retried_in_the_budget, setup),
        cmocka_unit_test_setup(test_quota_errors_are_reported_naming_the_quota, setup),
        cmocka_unit_test_setup(test_lists_follow_their_next_links_keeping_filters, setup),
        cmocka_unit_test_setup(test_endpoints_from_the_catalog_or_overrides, setup),
        cmocka_unit_test_setup(test_refused_credentials_name_their_source_not_the_password,
                               setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
