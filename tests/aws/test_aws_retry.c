/* Retry classification and the retry loop of every call: throttling and
 * server errors back off inside the budget, a 500 on a request that is
 * not safe to repeat is not repeated, just-created ids and dependency
 * violations are waited out for a bounded time, anything else is one
 * diagnostic with its code. And the shared waiter: one DescribeInstances
 * per poll whatever the number of instances waited on. */
#include "aws_test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EC2_ERR(code, msg)                                                                         \
    "<Response><Errors><Error><Code>" code "</Code><Message>" msg "</Message></Error></Errors>"    \
    "<RequestID>1</RequestID></Response>"
#define VPCS                                                                                       \
    "<DescribeVpcsResponse><vpcSet><item><vpcId>vpc-1</vpcId></item></vpcSet>"                     \
    "</DescribeVpcsResponse>"

static void test_errors_fall_into_infra_categories(void **state)
{
    (void)state;
    assert_int_equal(aws_error_category("AuthFailure", 401), INFRA_EAUTH);
    assert_int_equal(aws_error_category("SignatureDoesNotMatch", 403), INFRA_EAUTH);
    assert_int_equal(aws_error_category("InvalidClientTokenId", 403), INFRA_EAUTH);
    assert_int_equal(aws_error_category("RequestLimitExceeded", 503), INFRA_ETRANSIENT);
    assert_int_equal(aws_error_category("Throttling", 400), INFRA_ETRANSIENT);
    assert_int_equal(aws_error_category("InvalidVpcID.NotFound", 400), INFRA_ENOTFOUND);
    assert_int_equal(aws_error_category("LoadBalancerNotFound", 400), INFRA_ENOTFOUND);
    assert_int_equal(aws_error_category("NoSuchHostedZone", 404), INFRA_ENOTFOUND);
    assert_int_equal(aws_error_category("InvalidParameterValue", 400), INFRA_EINVALID);
    assert_int_equal(aws_error_category("MissingParameter", 400), INFRA_EINVALID);
    assert_int_equal(aws_error_category("InvalidQueryParameter", 400), INFRA_EINVALID);
    assert_int_equal(aws_error_category("InvalidPermission.Duplicate", 400), INFRA_ECONFLICT);
    assert_int_equal(aws_error_category("IdempotentParameterMismatch", 400), INFRA_ECONFLICT);
    assert_int_equal(aws_error_category("AlreadyExists", 400), INFRA_ECONFLICT);
    assert_int_equal(aws_error_category("DependencyViolation", 400), INFRA_ECONFLICT);
    assert_int_equal(aws_error_category("InsufficientInstanceCapacity", 500), INFRA_ETRANSIENT);
    assert_int_equal(aws_error_category(NULL, 502), INFRA_ETRANSIENT);
    assert_int_equal(aws_error_category(NULL, 403), INFRA_EAUTH);

    assert_int_equal(aws_error_retry("Throttling", 400, 0), AWS_RETRY_BACKOFF);
    assert_int_equal(aws_error_retry("ThrottlingException", 400, 0), AWS_RETRY_BACKOFF);
    assert_int_equal(aws_error_retry("PriorRequestNotComplete", 400, 0), AWS_RETRY_BACKOFF);
    assert_int_equal(aws_error_retry("InternalError", 500, AWS_SAFE), AWS_RETRY_BACKOFF);
    assert_int_equal(aws_error_retry("InternalError", 500, 0), AWS_RETRY_NONE);
    assert_int_equal(aws_error_retry(NULL, 503, 0), AWS_RETRY_BACKOFF);
    assert_int_equal(aws_error_retry("InvalidSubnetID.NotFound", 400, AWS_FRESH), AWS_RETRY_FRESH);
    assert_int_equal(aws_error_retry("InvalidSubnetID.NotFound", 400, 0), AWS_RETRY_NONE);
    assert_int_equal(aws_error_retry("DependencyViolation", 400, AWS_DEPENDENT),
                     AWS_RETRY_DEPENDENCY);
    assert_int_equal(aws_error_retry("DependencyViolation", 400, 0), AWS_RETRY_NONE);
    assert_int_equal(aws_error_retry("AuthFailure", 401, AWS_SAFE), AWS_RETRY_NONE);

    assert_true(aws_code_matches("InvalidVpcID.NotFound", "Foo *.NotFound"));
    assert_true(aws_code_matches("InvalidPermission.Duplicate", "InvalidPermission.*"));
    assert_false(aws_code_matches("InvalidVpcID.Malformed", "*.NotFound InvalidVpcID"));
    assert_false(aws_code_matches(NULL, "*"));

    aws_retry_policy p;
    aws_retry_policy_default(&p);
    assert_int_equal(aws_backoff_cap_ms(&p, 1), 500);
    assert_int_equal(aws_backoff_cap_ms(&p, 2), 1000);
    assert_int_equal(aws_backoff_cap_ms(&p, 4), 4000);
    assert_int_equal(aws_backoff_cap_ms(&p, 20), 20000);
    for (int i = 0; i < 1000; i++) {
        int64_t r = aws_random_below(7);
        assert_true(r >= 0 && r <= 7);
    }
}

static int describe(infra_provider *p, awt_call *c, unsigned flags, aws_resp **r)
{
    aws_params q = {0};
    int error = aws_query(p, &c->call, AWS_EC2, "DescribeVpcs", &q, "network", flags, NULL, r);
    aws_params_free(&q);
    return error;
}

static void test_throttling_backs_off_then_succeeds(void **state)
{
    (void)state;
    awt_reset();
    infra_provider *p = awt_provider();
    awt_route("DescribeVpcs", 503, EC2_ERR("RequestLimitExceeded", "Request limit exceeded."));
    awt_route("DescribeVpcs", 503, EC2_ERR("RequestLimitExceeded", "Request limit exceeded."));
    awt_route("DescribeVpcs", 200, VPCS);
    awt_call c;
    awt_call_init(&c, "network.main", NULL);
    aws_resp *r = NULL;
    assert_int_equal(describe(p, &c, AWS_SAFE, &r), 0);
    assert_int_equal(awt_count("DescribeVpcs"), 3);
    char *id = aws_xml_get(r->result, "vpcSet/item/vpcId");
    assert_string_equal(id, "vpc-1");
    free(id);
    assert_int_equal(c.ndiags, 0);
    aws_resp_free(r);
    awt_call_clear(&c);
    awt_provider_free(p);
}

static void test_throttling_past_the_budget_is_transient_with_its_code(void **state)
{
    (void)state;
    awt_reset();
    infra_provider *p = awt_provider();
    awt_route("DescribeVpcs", 400,
              "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
              "<Message>Rate exceeded</Message></Error></ErrorResponse>");
    awt_call c;
    awt_call_init(&c, "network.main", NULL);
    aws_resp *r = NULL;
    assert_int_equal(describe(p, &c, AWS_SAFE, &r), INFRA_ETRANSIENT);
    assert_int_equal(awt_count("DescribeVpcs"), (size_t)p->retry.max_attempts);
    assert_int_equal(c.ndiags, 1);
    assert_non_null(strstr(c.diags, "aws: DescribeVpcs in us-east-1: Throttling: Rate exceeded "
                                    "(gave up after 4 tries in"));
    assert_string_equal(c.last_attr, "network");
    aws_resp_free(r);
    awt_call_clear(&c);
    awt_provider_free(p);
}

static void test_server_error_is_repeated_only_when_safe(void **state)
{
    (void)state;
    awt_reset();
    infra_provider *p = awt_provider();
    awt_route("DescribeVpcs", 500, EC2_ERR("InternalError", "An internal error has occurred"));
    awt_route("DescribeVpcs", 200, VPCS);
    awt_call c;
    awt_call_init(&c, "network.main", NULL);
    aws_resp *r = NULL;
    /* A create without a token may have happened: not repeated, transient. */
    assert_int_equal(describe(p, &c, 0, &r), INFRA_ETRANSIENT);
    assert_int_equal(awt_count("DescribeVpcs"), 1);
    assert_non_null(strstr(c.diags, "InternalError"));
    aws_resp_free(r);
    awt_call_clear(&c);

    awt_reset();
    awt_route("DescribeVpcs", 500, EC2_ERR("InternalError", "An internal error has occurred"));
    awt_route("DescribeVpcs", 200, VPCS);
    awt_call_init(&c, "network.main", NULL);
    assert_int_equal(describe(p, &c, AWS_SAFE, &r), 0);
    assert_int_equal(awt_count("DescribeVpcs"), 2);
    aws_resp_free(r);
    awt_call_clear(&c);

    /* A dropped connection: safe requests get the budget, others go back to the engine. */
    awt_reset();
    awt_route("DescribeVpcs", 0, "");
    awt_route("DescribeVpcs", 200, VPCS);
    awt_call_init(&c, "network.main", NULL);
    assert_int_equal(describe(p, &c, AWS_SAFE, &r), 0);
    aws_resp_free(r);
    awt_call_clear(&c);
    awt_reset();
    awt_route("DescribeVpcs", 0, "");
    awt_route("DescribeVpcs", 200, VPCS);
    awt_call_init(&c, "network.main", NULL);
    assert_int_equal(describe(p, &c, 0, &r), INFRA_ETRANSIENT);
    assert_null(r);
    assert_int_equal(awt_count("DescribeVpcs"), 1);
    awt_call_clear(&c);
    awt_provider_free(p);
}

static void test_fresh_ids_and_dependencies_are_waited_out_for_a_bounded_time(void **state)
{
    (void)state;
    awt_reset();
    infra_provider *p = awt_provider();
    awt_route("DescribeVpcs", 400,
              EC2_ERR("InvalidVpcID.NotFound", "The vpc ID 'vpc-1' does not exist"));
    awt_route("DescribeVpcs", 200, VPCS);
    awt_call c;
    awt_call_init(&c, "subnet.a", NULL);
    aws_resp *r = NULL;
    assert_int_equal(describe(p, &c, AWS_SAFE | AWS_FRESH, &r), 0);
    assert_int_equal(awt_count("DescribeVpcs"), 2);
    aws_resp_free(r);
    awt_call_clear(&c);

    /* Not fresh: NotFound at once, with its diagnostic. */
    awt_reset();
    awt_route("DescribeVpcs", 400,
              EC2_ERR("InvalidVpcID.NotFound", "The vpc ID 'vpc-1' does not exist"));
    awt_call_init(&c, "subnet.a", NULL);
    assert_int_equal(describe(p, &c, AWS_SAFE, &r), INFRA_ENOTFOUND);
    assert_int_equal(awt_count("DescribeVpcs"), 1);
    assert_string_equal(r->code, "InvalidVpcID.NotFound");
    assert_int_equal(c.ndiags, 1);
    aws_resp_free(r);
    awt_call_clear(&c);

    /* DependencyViolation on a delete: waited out until the bound, then reported. */
    awt_reset();
    awt_route("DeleteVpc", 400,
              EC2_ERR("DependencyViolation", "The vpc 'vpc-1' has dependencies and cannot be "
                                             "deleted."));
    awt_call_init(&c, "network.main", NULL);
    aws_params q = {0};
    aws_params_add(&q, "VpcId", "vpc-1");
    int64_t start = pu_host->now_ms();
    assert_int_equal(
        aws_query(p, &c.call, AWS_EC2, "DeleteVpc", &q, "", AWS_SAFE | AWS_DEPENDENT, NULL, &r),
        INFRA_ECONFLICT);
    int64_t took = pu_host->now_ms() - start;
    assert_true(took >= p->retry.dependency_ms && took < p->retry.dependency_ms + 6000);
    assert_true(awt_count("DeleteVpc") >= 2);
    assert_non_null(strstr(c.diags, "aws: DeleteVpc in us-east-1: DependencyViolation"));
    aws_resp_free(r);
    aws_params_free(&q);
    awt_call_clear(&c);
    awt_provider_free(p);
}

static void test_auth_error_names_service_region_and_source_never_the_key(void **state)
{
    (void)state;
    awt_reset();
    infra_provider *p = awt_provider();
    awt_route("DescribeVpcs", 403,
              EC2_ERR("SignatureDoesNotMatch", "The request signature we calculated does not "
                                               "match the signature you provided."));
    awt_call c;
    awt_call_init(&c, "network.main", NULL);
    aws_resp *r = NULL;
    assert_int_equal(describe(p, &c, AWS_SAFE, &r), INFRA_EAUTH);
    assert_int_equal(awt_count("DescribeVpcs"), 1);
    assert_int_equal(c.ndiags, 1);
    assert_non_null(strstr(c.diags, "aws: DescribeVpcs in us-east-1: SignatureDoesNotMatch:"));
    assert_non_null(strstr(c.diags, "ec2 refused the credentials of "
                                    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"));
    assert_null(strstr(c.diags, "wJalrXUtnFEMI"));
    aws_resp_free(r);
    awt_call_clear(&c);
    awt_provider_free(p);
}

/* Threads waiting on different instances share the polls. */
typedef struct waiter_arg {
    infra_provider *p;
    const char *id;
    int rc;
    char ip[32];
} waiter_arg;

static void *wait_one(void *ud)
{
    waiter_arg *w = ud;
    awt_call c;
    awt_call_init(&c, "instance.web", NULL);
    aws_instance info;
    w->rc = aws_waiter_wait(w->p, &c.call, "", w->id, "running", 20000, &info);
    if (w->rc == 0) {
        snprintf(w->ip, sizeof(w->ip), "%s", info.private_ip ? info.private_ip : "");
        aws_instance_clear(&info);
    }
    awt_call_clear(&c);
    return NULL;
}

static void test_waiter_polls_every_instance_with_one_describe(void **state)
{
    (void)state;
    awt_reset();
    infra_provider *p = awt_provider();
#define ITEM_XML                                                                                   \
    "<item><instanceId>i-%d</instanceId><instanceState><name>%s</name>"                            \
    "</instanceState><privateIpAddress>10.0.0.%d</privateIpAddress></item>"
    char pending[4096] = "", running[4096] = "";
    for (int i = 1; i <= 8; i++) {
        char one[256];
        snprintf(one, sizeof(one), ITEM_XML, i, "pending", i);
        strcat(pending, one);
        snprintf(one, sizeof(one), ITEM_XML, i, "running", i);
        strcat(running, one);
    }
#undef ITEM_XML
#define INSTANCES_XML                                                                              \
    "<DescribeInstancesResponse><reservationSet><item><instancesSet>%s"                            \
    "</instancesSet></item></reservationSet></DescribeInstancesResponse>"
    awt_routef("DescribeInstances", 200, INSTANCES_XML, pending);
    awt_routef("DescribeInstances", 200, INSTANCES_XML, pending);
    awt_routef("DescribeInstances", 200, INSTANCES_XML, running);
#undef INSTANCES_XML
    pthread_t t[8];
    waiter_arg args[8];
    char ids[8][8];
    for (int i = 0; i < 8; i++) {
        snprintf(ids[i], sizeof(ids[i]), "i-%d", i + 1);
        args[i] = (waiter_arg){p, ids[i], -99, ""};
        pthread_create(&t[i], NULL, wait_one, &args[i]);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(args[i].rc, 0);
        char want[32];
        snprintf(want, sizeof(want), "10.0.0.%d", i + 1);
        assert_string_equal(args[i].ip, want);
    }
    /* Three answers took every thread to running: a handful of polls, never 8 per poll. */
    size_t polls = awt_count("DescribeInstances");
    assert_true(polls >= 3 && polls <= 6);
    assert_int_equal(aws_waiter_polls(p->waiter), (long)polls);
    /* Every poll named the instances waited on (InstanceId.N). */
    int most = 0;
    for (size_t i = 0; i < awt_nrequests(); i++) {
        const awt_request *r = awt_requests(i);
        int n = 0;
        for (int k = 1; k <= 8; k++) {
            char key[32];
            snprintf(key, sizeof(key), "InstanceId.%d", k);
            char *v = awt_param(r, key);
            n += v != NULL;
            free(v);
        }
        if (n > most)
            most = n;
    }
    assert_true(most >= 6);
    awt_provider_free(p);
}

static void test_waiter_reports_an_instance_that_dies_on_boot(void **state)
{
    (void)state;
    awt_reset();
    infra_provider *p = awt_provider();
    awt_route("DescribeInstances", 200,
              "<DescribeInstancesResponse><reservationSet><item><instancesSet><item>"
              "<instanceId>i-9</instanceId><instanceState><name>terminated</name></instanceState>"
              "</item></instancesSet></item></reservationSet></DescribeInstancesResponse>");
    awt_call c;
    awt_call_init(&c, "instance.web", NULL);
    assert_int_equal(aws_waiter_wait(p, &c.call, "", "i-9", "running", 5000, NULL),
                     INFRA_ECONFLICT);
    assert_non_null(strstr(c.diags, "instance i-9 is terminated instead of becoming running"));
    awt_call_clear(&c);
    /* An id EC2 forgets while being waited for "terminated" is terminated. */
    awt_reset();
    awt_route("DescribeInstances", 400,
              EC2_ERR("InvalidInstanceID.NotFound", "The instance ID 'i-9' does not exist"));
    awt_route("DescribeInstances", 200,
              "<DescribeInstancesResponse><reservationSet/></DescribeInstancesResponse>");
    awt_call_init(&c, "instance.web", NULL);
    assert_int_equal(aws_waiter_wait(p, &c.call, "", "i-9", "terminated", 5000, NULL), 0);
    char *filter = awt_param(awt_last("DescribeInstances"), "Filter.1.Name");
    assert_string_equal(filter, "instance-id");
    free(filter);
    awt_call_clear(&c);
    awt_provider_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors_fall_into_infra_categories),
        cmocka_unit_test(test_throttling_backs_off_then_succeeds),
        cmocka_unit_test(test_throttling_past_the_budget_is_transient_with_its_code),
        cmocka_unit_test(test_server_error_is_repeated_only_when_safe),
        cmocka_unit_test(test_fresh_ids_and_dependencies_are_waited_out_for_a_bounded_time),
        cmocka_unit_test(test_auth_error_names_service_region_and_source_never_the_key),
        cmocka_unit_test(test_waiter_polls_every_instance_with_one_describe),
        cmocka_unit_test(test_waiter_reports_an_instance_that_dies_on_boot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
