/* Query form encoding of nested lists and structures, compared with what
 * botocore's own serializer makes of the same input
 * (data/query-encodings.json, written by query_fixtures.py), and the
 * Route 53 REST-XML body. */
#define _GNU_SOURCE
#include "aws_test.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *fixtures;

static int setup(void **state)
{
    (void)state;
    json_error_t err;
    awt_reset();
    fixtures = json_load_file(AWS_TEST_DATA "/query-encodings.json", 0, &err);
    return fixtures ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(fixtures);
    return 0;
}

static int pair_cmp(const void *a, const void *b)
{
    const char *const *x = a, *const *y = b;
    int c = strcmp(x[0], y[0]);
    return c ? c : strcmp(x[1], y[1]);
}

/* The form body decoded into sorted "key\tvalue" lines. */
static char *decoded_lines(const char *body)
{
    char *pairs[512][2];
    size_t n = 0;
    for (const char *s = body; s && *s && n < 512;) {
        const char *amp = strchr(s, '&');
        size_t len = amp ? (size_t)(amp - s) : strlen(s);
        const char *eq = memchr(s, '=', len);
        int kl = 0, vl = 0;
        char *k = curl_easy_unescape(NULL, s, eq ? (int)(eq - s) : (int)len, &kl);
        char *v = eq ? curl_easy_unescape(NULL, eq + 1, (int)(s + len - eq - 1), &vl) : NULL;
        pairs[n][0] = strndup(k, (size_t)kl);
        pairs[n][1] = v ? strndup(v, (size_t)vl) : strdup("");
        curl_free(k);
        curl_free(v);
        n++;
        s = amp ? amp + 1 : NULL;
    }
    qsort(pairs, n, sizeof(pairs[0]), pair_cmp);
    pu_buf b = {0};
    for (size_t i = 0; i < n; i++) {
        pu_buf_printf(&b, "%s\t%s\n", pairs[i][0], pairs[i][1]);
        free(pairs[i][0]);
        free(pairs[i][1]);
    }
    return pu_buf_take(&b);
}

static char *fixture_lines(const char *name)
{
    json_t *c = json_object_get(json_object_get(fixtures, "cases"), name);
    assert_non_null(c);
    pu_buf b = {0};
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(c, "params"), i, p)
        pu_buf_printf(&b, "%s\t%s\n", json_string_value(json_array_get(p, 0)),
                      json_string_value(json_array_get(p, 1)));
    return pu_buf_take(&b);
}

static void expect_botocore(const char *name, const char *action, aws_service svc,
                            const aws_params *p)
{
    char *body = aws_params_form(action, aws_service_api_version(svc), p);
    char *got = decoded_lines(body);
    char *want = fixture_lines(name);
    if (strcmp(got, want) != 0)
        fail_msg("%s: the plugin encodes\n%s--- botocore encodes\n%s", name, got, want);
    free(body);
    free(got);
    free(want);
}

static void sample_tags(aws_tags *t)
{
    memset(t, 0, sizeof(*t));
    aws_tags_set(t, "infra:topology", "web");
    aws_tags_set(t, "Name", "main net");
}

static void test_tag_specifications_and_create_tags_encode_as_botocore(void **state)
{
    (void)state;
    aws_tags t;
    sample_tags(&t);
    aws_params p = {0};
    aws_params_add(&p, "CidrBlock", "10.0.0.0/16");
    aws_tags_spec(&p, 1, "vpc", &t);
    expect_botocore("create_vpc", "CreateVpc", AWS_EC2, &p);
    aws_params_free(&p);

    aws_params_add(&p, "ResourceId.1", "i-0abc");
    aws_tags_ec2(&p, &t);
    expect_botocore("create_tags", "CreateTags", AWS_EC2, &p);
    aws_params_free(&p);
    aws_tags_free(&t);
}

static void test_security_group_rules_encode_nested_lists_as_botocore(void **state)
{
    (void)state;
    awt_call c;
    awt_call_init(&c, "firewall.web", NULL);
    infra_json *allow = awt_json("[22, {\"port\": \"8300-8302\", \"from\": \"sg-0456\"},"
                                 " {\"proto\": \"udp\", \"port\": \"8301-8302\","
                                 "  \"from\": \"192.168.1.7\"}]");
    infra_json *ingress = awt_json("[{\"protocol\": \"all\", \"cidr\": \"10.0.0.0/8\"},"
                                   " {\"from_port\": 22, \"to_port\": 22}]");
    aws_rule *rules = NULL;
    size_t n = 0;
    assert_int_equal(aws_rules_parse(&c.call, allow, ingress, "ingress", &rules, &n), 0);
    assert_int_equal(n, 4); /* the two port-22 rules are one */
    aws_params p = {0};
    aws_params_add(&p, "GroupId", "sg-0123");
    aws_rules_encode(&p, rules, n);
    expect_botocore("authorize_rules", "AuthorizeSecurityGroupIngress", AWS_EC2, &p);
    aws_params_free(&p);
    free(rules);
    pu_host->json->release(allow);
    pu_host->json->release(ingress);

    /* Wrong rules are refused at the element they concern. */
    infra_json *bad = awt_json("[22, {\"port\": 70000}]");
    assert_int_equal(aws_rules_parse(&c.call, bad, NULL, "ingress", &rules, &n), INFRA_EINVALID);
    assert_string_equal(c.last_attr, "allow[1]");
    pu_host->json->release(bad);
    awt_call_clear(&c);
}

static void test_filters_owners_and_member_lists_encode_as_botocore(void **state)
{
    (void)state;
    aws_params p = {0};
    char *states[] = {"pending", "running", NULL};
    aws_params_filter1(&p, "tag:infra:token", "0a1b");
    aws_params_filter(&p, "instance-state-name", states);
    expect_botocore("describe_filters", "DescribeInstances", AWS_EC2, &p);
    aws_params_free(&p);

    char *owners[] = {"self", "123456789012", NULL};
    aws_params_list(&p, AWS_LIST_EC2, "Owner", owners);
    aws_params_filter1(&p, "name", "nomad-host-*");
    aws_params_filter1(&p, "state", "available");
    expect_botocore("describe_images", "DescribeImages", AWS_EC2, &p);
    aws_params_free(&p);

    aws_params_add(&p, "SubnetId", "subnet-1");
    aws_params_add_bool(&p, "MapPublicIpOnLaunch.Value", 1);
    expect_botocore("subnet_public", "ModifySubnetAttribute", AWS_EC2, &p);
    aws_params_free(&p);

    /* A blob member is sent base64-encoded. */
    const char *key = "ssh-ed25519 AAAAC3Nza test@host";
    char *material = aws_base64_encode(key, strlen(key));
    aws_params_add(&p, "KeyName", "deploy");
    aws_params_add(&p, "PublicKeyMaterial", material);
    expect_botocore("import_key", "ImportKeyPair", AWS_EC2, &p);
    aws_params_free(&p);
    free(material);

    aws_params_add(&p, "LoadBalancerName", "web-1a2b");
    aws_params_addk(&p, "i-1", "Instances.member.%d.InstanceId", 1);
    aws_params_addk(&p, "i-2", "Instances.member.%d.InstanceId", 2);
    expect_botocore("register", "RegisterInstancesWithLoadBalancer", AWS_ELB, &p);
    aws_params_free(&p);
}

static void test_load_balancer_listeners_and_health_check_encode_as_botocore(void **state)
{
    (void)state;
    awt_call c;
    awt_call_init(&c, "load_balancer.web", NULL);
    infra_json *cfg =
        awt_json("{\"listeners\": [{\"port\": 4646, \"protocol\": \"tcp\"},"
                 " {\"port\": 80, \"protocol\": \"HTTP\", \"instance_port\": 8080}]}");
    aws_listener *l = NULL;
    size_t n = 0;
    assert_int_equal(aws_listeners_parse(&c.call, cfg, &l, &n), 0);
    assert_int_equal(n, 2);
    aws_tags t;
    sample_tags(&t);
    aws_params p = {0};
    char *subnets[] = {"subnet-1", "subnet-2", NULL}, *groups[] = {"sg-0123", NULL};
    aws_params_add(&p, "LoadBalancerName", "web-1a2b");
    aws_listeners_encode(&p, l, n);
    aws_params_list(&p, AWS_LIST_MEMBER, "Subnets", subnets);
    aws_params_list(&p, AWS_LIST_MEMBER, "SecurityGroups", groups);
    aws_tags_member(&p, &t);
    expect_botocore("create_elb", "CreateLoadBalancer", AWS_ELB, &p);
    aws_params_free(&p);
    free(l);
    aws_tags_free(&t);
    pu_host->json->release(cfg);

    /* listen + backend_port: port 80 speaks HTTP, others pass TCP through. */
    cfg = awt_json("{\"listen\": [80, 443], \"backend_port\": 8080}");
    assert_int_equal(aws_listeners_parse(&c.call, cfg, &l, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(l[0].protocol, "HTTP");
    assert_int_equal(l[0].instance_port, 8080);
    assert_string_equal(l[1].protocol, "TCP");
    free(l);
    pu_host->json->release(cfg);

    char *target = aws_health_target("http:8080/health");
    aws_params_add(&p, "LoadBalancerName", "web-1a2b");
    aws_params_add(&p, "HealthCheck.Target", target);
    aws_params_add_int(&p, "HealthCheck.Interval", 10);
    aws_params_add_int(&p, "HealthCheck.Timeout", 5);
    aws_params_add_int(&p, "HealthCheck.UnhealthyThreshold", 2);
    aws_params_add_int(&p, "HealthCheck.HealthyThreshold", 2);
    expect_botocore("health_check", "ConfigureHealthCheck", AWS_ELB, &p);
    aws_params_free(&p);
    free(target);

    char *tcp = aws_health_target("tcp:22"), *root = aws_health_target("http:80");
    assert_string_equal(tcp, "TCP:22");
    assert_string_equal(root, "HTTP:80/");
    assert_null(aws_health_target("udp:53"));
    assert_null(aws_health_target("tcp:22/path"));
    free(tcp);
    free(root);
    awt_call_clear(&c);
}

static void test_route53_change_body_is_the_xml_botocore_sends(void **state)
{
    (void)state;
    char *values[] = {"10.0.0.5", "10.0.0.6", NULL};
    aws_rrset r = {.name = "*.app.example.org.", .type = "A", .ttl = 60, .values = values};
    char *body = aws_r53_change_body("UPSERT", &r, "infra: dns_record.www");
    /* libxml2 adds the XML declaration botocore leaves out. */
    const char *root = strstr(body, "<ChangeResourceRecordSetsRequest");
    assert_non_null(root);
    char *mine = strdup(root);
    size_t n = strlen(mine);
    while (n > 0 && mine[n - 1] == '\n')
        mine[--n] = '\0';
    json_t *c = json_object_get(json_object_get(fixtures, "cases"), "r53_upsert");
    assert_string_equal(mine, json_string_value(json_object_get(c, "body")));
    assert_string_equal(json_string_value(json_object_get(c, "path")),
                        "/2013-04-01/hostedzone/Z0123456789ABC/rrset/");
    free(mine);
    free(body);

    char *u = aws_r53_unescape("\\052.app.example.org.");
    assert_string_equal(u, "*.app.example.org.");
    free(u);
}

/* The request an Auto Scaling group create really sends, through the
 * scripted server: the members botocore names for the same input. */
static void test_autoscaling_create_sends_the_members_botocore_names(void **state)
{
    (void)state;
    awt_reset();
    infra_provider *p = awt_provider();
    awt_route("DescribeAutoScalingGroups", 200,
              "<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult>"
              "<AutoScalingGroups/></DescribeAutoScalingGroupsResult>"
              "</DescribeAutoScalingGroupsResponse>");
    awt_route("CreateAutoScalingGroup", 200,
              "<CreateAutoScalingGroupResponse><ResponseMetadata><RequestId>r</RequestId>"
              "</ResponseMetadata></CreateAutoScalingGroupResponse>");
    awt_call c;
    awt_call_init(&c, "autoscaling_group.web", "0a1b2c3d4e5f60718293a4b5c6d7e8f9");
    char *base_token_name = aws_call_name(&c.call, 200);
    char hex[9];
    aws_token_hex("0a1b2c3d4e5f60718293a4b5c6d7e8f9", 8, hex);
    char *name = NULL;
    if (asprintf(&name, "%s-%s-g0", base_token_name, hex) < 0)
        fail();
    awt_routef("DescribeAutoScalingGroups", 200,
               "<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult>"
               "<AutoScalingGroups><member><AutoScalingGroupName>%s</AutoScalingGroupName>"
               "<MinSize>2</MinSize><MaxSize>4</MaxSize><DesiredCapacity>2</DesiredCapacity>"
               "<Instances><member><InstanceId>i-1</InstanceId><LifecycleState>InService"
               "</LifecycleState><HealthStatus>Healthy</HealthStatus></member><member>"
               "<InstanceId>i-2</InstanceId><LifecycleState>InService</LifecycleState>"
               "<HealthStatus>Healthy</HealthStatus></member></Instances></member>"
               "</AutoScalingGroups></DescribeAutoScalingGroupsResult>"
               "</DescribeAutoScalingGroupsResponse>",
               name);
    infra_json *planned = awt_json("{\"launch_template\": \"lt-0abc\", \"version\": \"3\","
                                   " \"subnets\": [\"subnet-1\", \"subnet-2\"], \"min\": 2,"
                                   " \"max\": 4, \"desired\": 2,"
                                   " \"load_balancers\": [],"
                                   " \"health_check_type\": \"ELB\","
                                   " \"health_check_grace_period\": 60}");
    infra_json *out = NULL;
    void *priv = NULL;
    size_t priv_len = 0;
    aws_act a = {p, &c.call, NULL, planned, NULL, NULL, 0, &out, &priv, &priv_len};
    int rc = aws_handler_find("autoscaling_group")->apply(&a);
    if (rc != 0)
        fail_msg("apply: %d: %s", rc, c.diags);
    const awt_request *r = awt_last("CreateAutoScalingGroup");
    assert_non_null(r);
    char *want = fixture_lines("create_asg");
    char *got = decoded_lines(r->body);
    /* Every member botocore sends (but the tags, which differ) is sent the same. */
    for (char *line = strtok(want, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (strncmp(line, "Tags.", 5) == 0 || strncmp(line, "AutoScalingGroupName", 20) == 0 ||
            strncmp(line, "LoadBalancerNames", 17) == 0)
            continue;
        if (strstr(got, line) == NULL)
            fail_msg("CreateAutoScalingGroup lacks \"%s\":\n%s", line, got);
    }
    char *v = awt_param(r, "AutoScalingGroupName");
    assert_string_equal(v, name);
    free(v);
    /* Tags carry the token, propagated, in botocore's member names. */
    int token_tag = 0;
    for (int i = 1; i < 20; i++) {
        char key[64];
        snprintf(key, sizeof(key), "Tags.member.%d.Key", i);
        char *k = awt_param(r, key);
        if (k == NULL)
            break;
        if (strcmp(k, "infra:token") == 0) {
            token_tag = 1;
            snprintf(key, sizeof(key), "Tags.member.%d.PropagateAtLaunch", i);
            char *prop = awt_param(r, key);
            assert_string_equal(prop, "true");
            free(prop);
            snprintf(key, sizeof(key), "Tags.member.%d.ResourceType", i);
            char *type = awt_param(r, key);
            assert_string_equal(type, "auto-scaling-group");
            free(type);
        }
        free(k);
    }
    assert_true(token_tag);
    /* The blob keeps the token for later updates. */
    assert_non_null(priv);
    assert_non_null(strstr(priv, "0a1b2c3d4e5f60718293a4b5c6d7e8f9"));
    pu_host->free(priv);
    free(got);
    free(want);
    free(name);
    free(base_token_name);
    pu_host->json->release(planned);
    pu_host->json->release(out);
    awt_call_clear(&c);
    awt_provider_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tag_specifications_and_create_tags_encode_as_botocore),
        cmocka_unit_test(test_security_group_rules_encode_nested_lists_as_botocore),
        cmocka_unit_test(test_filters_owners_and_member_lists_encode_as_botocore),
        cmocka_unit_test(test_load_balancer_listeners_and_health_check_encode_as_botocore),
        cmocka_unit_test(test_route53_change_body_is_the_xml_botocore_sends),
        cmocka_unit_test(test_autoscaling_create_sends_the_members_botocore_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
