/* The retry loop of every call and the operation waiter: rate limits and
 * server errors back off inside the budget, a 500 on a request that is not
 * safe to repeat is not repeated, a 401 fetches a new token once, anything
 * else is one diagnostic with its reason; operations are polled with one
 * filtered list per scope whatever the number of waiters, and an operation
 * DONE with an error is that error. */
#define _GNU_SOURCE
#include "gcp_test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NETWORK "GET http://gcp.test/compute/v1/projects/infra-test/global/networks/a"
#define RATE_LIMIT                                                                                 \
    "{\"error\": {\"code\": 429, \"message\": \"Quota exceeded for quota metric 'Queries'\", "     \
    "\"status\": \"RESOURCE_EXHAUSTED\", \"errors\": [{\"reason\": \"rateLimitExceeded\"}]}}"
#define USER_RATE                                                                                  \
    "{\"error\": {\"code\": 403, \"message\": \"User Rate Limit Exceeded\", \"errors\": "          \
    "[{\"reason\": \"userRateLimitExceeded\", \"domain\": \"usageLimits\"}]}}"
#define BACKEND                                                                                    \
    "{\"error\": {\"code\": 500, \"message\": \"Internal error.\", \"errors\": [{\"reason\": "     \
    "\"backendError\"}]}}"
#define UNAUTH                                                                                     \
    "{\"error\": {\"code\": 401, \"message\": \"Request had invalid authentication "               \
    "credentials.\", \"status\": \"UNAUTHENTICATED\", \"errors\": [{\"reason\": \"authError\"}]}}"
#define NOT_FOUND                                                                                  \
    "{\"error\": {\"code\": 404, \"message\": \"The resource 'projects/infra-test/global/"         \
    "networks/a' was not found\", \"errors\": [{\"reason\": \"notFound\"}]}}"

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

static int get(gct_call *c, unsigned flags, const char *method)
{
    gcp_req req = {.service = GCP_COMPUTE,
                   .method = method,
                   .path = "projects/infra-test/global/networks/a",
                   .what = "networks.get",
                   .attr = "",
                   .flags = flags,
                   .quiet = "notFound"};
    gcp_resp *r = NULL;
    int error = gcp_call(p, &c->call, &req, &r);
    gcp_resp_free(r);
    return error;
}

static void test_rate_limits_and_server_errors_are_retried(void **state)
{
    (void)state;
    gct_route(NETWORK, 429, RATE_LIMIT);
    gct_route(NETWORK, 403, USER_RATE);
    gct_route(NETWORK, 503, BACKEND);
    gct_route(NETWORK, 200, "{\"name\": \"a\"}");
    gct_call c;
    gct_call_init(&c, "network.a", NULL);
    assert_int_equal(get(&c, GCP_SAFE, "GET"), 0);
    assert_int_equal(gct_count(NETWORK), 4);
    assert_int_equal(c.ndiags, 0);
    /* Every try carries the access token, never in the URL. */
    const gct_request *r = gct_last(NETWORK);
    assert_string_equal(gct_header(r, "Authorization"), "Bearer ya29.test-token");
    assert_null(strstr(r->url, "ya29"));
    gct_call_clear(&c);
}

static void test_retries_end_with_the_budget_and_say_so(void **state)
{
    (void)state;
    gct_route(NETWORK, 429, RATE_LIMIT);
    gct_call c;
    gct_call_init(&c, "network.a", NULL);
    assert_int_equal(get(&c, GCP_SAFE, "GET"), INFRA_ETRANSIENT);
    assert_int_equal(gct_count(NETWORK), 4); /* max_attempts */
    assert_non_null(strstr(c.diags, "rateLimitExceeded"));
    assert_non_null(strstr(c.diags, "gave up after 4 tries"));
    gct_call_clear(&c);
}

static void test_a_500_is_not_repeated_unless_safe(void **state)
{
    (void)state;
    gct_route("POST http://gcp.test/compute/v1/projects/infra-test/global/networks/a", 500,
              BACKEND);
    gct_call c;
    gct_call_init(&c, "network.a", NULL);
    assert_int_equal(get(&c, 0, "POST"), INFRA_ETRANSIENT);
    assert_int_equal(gct_count("POST http://gcp.test/compute"), 1);
    assert_int_equal(get(&c, GCP_SAFE, "POST"), INFRA_ETRANSIENT);
    assert_int_equal(gct_count("POST http://gcp.test/compute"), 5);
    gct_call_clear(&c);
}

static void test_a_401_fetches_a_new_token_once(void **state)
{
    (void)state;
    gct_route(NETWORK, 401, UNAUTH);
    gct_route(NETWORK, 200, "{\"name\": \"a\"}");
    gct_call c;
    gct_call_init(&c, "network.a", NULL);
    assert_int_equal(get(&c, GCP_SAFE, "GET"), 0);
    assert_int_equal(gct_count("/token"), 2);
    gct_reset();
    gcp_provider_free(p);
    p = gct_provider();
    gct_route(NETWORK, 401, UNAUTH);
    c.ndiags = 0;
    assert_int_equal(get(&c, GCP_SAFE, "GET"), INFRA_EAUTH);
    assert_int_equal(gct_count(NETWORK), 2);
    assert_non_null(strstr(c.diags, "authError"));
    assert_non_null(strstr(c.diags, "GOOGLE_APPLICATION_CREDENTIALS (/test/key.json)"));
    gct_call_clear(&c);
}

static void test_quiet_reasons_have_no_diagnostic(void **state)
{
    (void)state;
    gct_route(NETWORK, 404, NOT_FOUND);
    gct_call c;
    gct_call_init(&c, "network.a", NULL);
    assert_int_equal(get(&c, GCP_SAFE, "GET"), INFRA_ENOTFOUND);
    assert_int_equal(c.ndiags, 0);
    gct_call_clear(&c);
}

/* ------------------------------------------------------------------ */
/* Operations                                                         */

typedef struct waiter_arg {
    const char *name;
    int result;
} waiter_arg;

static void *wait_one(void *ud)
{
    waiter_arg *w = ud;
    gct_call c;
    gct_call_init(&c, "instance.x", NULL);
    char *op = gct_op("zones/europe-west1-b", w->name, "RUNNING");
    infra_json *v = gct_json(op);
    infra_json *done = NULL;
    w->result = gcp_op_wait(p, &c.call, "", v, 5000, &done);
    if (w->result == 0 && strcmp(pu_json_str(done, "name"), w->name) != 0)
        w->result = -100;
    pu_host->json->release(done);
    pu_host->json->release(v);
    free(op);
    gct_call_clear(&c);
    return NULL;
}

static void test_waits_share_one_filtered_list_per_scope(void **state)
{
    (void)state;
    /* The first polls see every operation RUNNING, then all DONE. */
    const char *list = "GET http://gcp.test/compute/v1/projects/infra-test/zones/europe-west1-b/"
                       "operations?filter=";
    pu_buf running = {0}, done = {0};
    pu_buf_puts(&running, "{\"items\": [");
    pu_buf_puts(&done, "{\"items\": [");
    for (int i = 0; i < 8; i++) {
        char name[32];
        snprintf(name, sizeof(name), "operation-%d", i);
        char *r = gct_op("zones/europe-west1-b", name, "RUNNING");
        char *d = gct_op("zones/europe-west1-b", name, "DONE");
        pu_buf_printf(&running, "%s%s", i ? "," : "", r);
        pu_buf_printf(&done, "%s%s", i ? "," : "", d);
        free(r);
        free(d);
    }
    pu_buf_puts(&running, "]}");
    pu_buf_puts(&done, "]}");
    gct_route(list, 200, running.data);
    gct_route(list, 200, running.data);
    gct_route(list, 200, done.data);
    free(running.data);
    free(done.data);

    pthread_t threads[8];
    waiter_arg args[8];
    char names[8][32];
    for (int i = 0; i < 8; i++) {
        snprintf(names[i], sizeof(names[i]), "operation-%d", i);
        args[i].name = names[i];
        args[i].result = -1;
        pthread_create(&threads[i], NULL, wait_one, &args[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(args[i].result, 0);
    }
    /* Far fewer lists than waiters x polls: they were shared. */
    size_t lists = gct_count("/operations?filter=");
    assert_true(lists >= 3);
    assert_true(lists <= 8);
    assert_int_equal(gct_count("/operations/"), 0);
    const gct_request *r = gct_last("/operations?filter=");
    assert_non_null(strstr(r->url, "%28name%20%3D%20%22operation-"));
    /* At least one list asked for several operations at once (the last
     * may be for the one waiter still polling on a loaded machine). */
    assert_true(gct_count("%29%20OR%20%28name%20%3D%20%22operation-") >= 1);
}

static void test_an_operation_done_with_an_error_is_that_error(void **state)
{
    (void)state;
    const char *insert = "POST http://gcp.test/compute/v1/projects/infra-test/zones/"
                         "europe-west1-b/instances";
    char *op = gct_op("zones/europe-west1-b", "operation-q", "RUNNING");
    gct_route(insert, 200, op);
    free(op);
    gct_route("/operations?filter=", 200,
              "{\"items\": [{\"name\": \"operation-q\", \"status\": \"DONE\", "
              "\"httpErrorStatusCode\": 403, \"error\": {\"errors\": [{\"code\": "
              "\"QUOTA_EXCEEDED\", \"message\": \"Quota 'CPUS' exceeded. Limit: 24.0 in region "
              "europe-west1.\"}]}}]}");
    gct_call c;
    gct_call_init(&c, "instance.x", NULL);
    infra_json *body = gct_json("{\"name\": \"x\"}");
    gcp_req req = {.service = GCP_COMPUTE,
                   .method = "POST",
                   .path = "projects/infra-test/zones/europe-west1-b/instances",
                   .body = body,
                   .what = "instances.insert",
                   .attr = "machine",
                   .flags = GCP_SAFE};
    gcp_error e;
    assert_int_equal(gcp_mutate(p, &c.call, &req, 5000, &e, NULL), INFRA_EINVALID);
    assert_string_equal(e.reason, "QUOTA_EXCEEDED");
    assert_non_null(strstr(c.diags, "quota CPUS exceeded"));
    assert_string_equal(c.last_attr, "machine");
    gcp_error_clear(&e);
    pu_host->json->release(body);
    gct_call_clear(&c);
}

static void test_the_wait_ends_at_its_deadline(void **state)
{
    (void)state;
    char *op = gct_op("global", "operation-slow", "RUNNING");
    char *list = NULL;
    if (asprintf(&list, "{\"items\": [%s]}", op) < 0)
        list = NULL;
    gct_route("/global/operations?filter=", 200, list);
    gct_call c;
    gct_call_init(&c, "network.a", NULL);
    infra_json *v = gct_json(op);
    assert_int_equal(gcp_op_wait(p, &c.call, "", v, 50, NULL), INFRA_ETRANSIENT);
    assert_non_null(strstr(c.diags, "was not DONE within"));
    pu_host->json->release(v);
    free(op);
    free(list);
    gct_call_clear(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rate_limits_and_server_errors_are_retried, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_retries_end_with_the_budget_and_say_so, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_500_is_not_repeated_unless_safe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_401_fetches_a_new_token_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quiet_reasons_have_no_diagnostic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_waits_share_one_filtered_list_per_scope, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_an_operation_done_with_an_error_is_that_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_the_wait_ends_at_its_deadline, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
