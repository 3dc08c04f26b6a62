/* Resource handlers against the scripted server: what they ask, in what
 * order, and what they make of the answers. Creates adopt what their token
 * made, updates touch only the difference, reads after a crash find where
 * the object went. */
#include "aws_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN "0a1b2c3d4e5f60718293a4b5c6d7e8f9"

static infra_provider *p;

static int setup(void **state)
{
    (void)state;
    awt_reset();
    p = awt_provider();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    awt_provider_free(p);
    p = NULL;
    return 0;
}

static int act(const char *type, awt_call *c, const infra_json *prior, const infra_json *planned,
               const infra_json *read_state, const char *priv, infra_json **out)
{
    void *priv_out = NULL;
    size_t priv_out_len = 0;
    aws_act a = {p,   &c->call,  prior,        planned, read_state, priv, priv ? strlen(priv) : 0,
                 out, &priv_out, &priv_out_len};
    const aws_handler *h = aws_handler_find(type);
    assert_non_null(h);
    int rc = read_state != NULL || (prior == NULL && planned == NULL) ? h->read(&a)
             : planned == NULL                                        ? h->remove(&a)
                                                                      : h->apply(&a);
    if (priv_out != NULL)
        pu_host->free(priv_out);
    return rc;
}

static void test_network_create_adopts_the_vpc_its_token_made(void **state)
{
    (void)state;
    awt_reset();
    awt_route("DescribeVpcs", 200,
              "<DescribeVpcsResponse><vpcSet><item><vpcId>vpc-0abc</vpcId><state>available</state>"
              "<cidrBlock>10.0.0.0/16</cidrBlock></item></vpcSet></DescribeVpcsResponse>");
    awt_call c;
    awt_call_init(&c, "network.main", TOKEN);
    infra_json *planned = awt_json("{\"cidr\": \"10.0.0.0/16\", \"name\": \"main\"}");
    infra_json *out = NULL;
    assert_int_equal(act("network", &c, NULL, planned, NULL, NULL, &out), 0);
    assert_int_equal(awt_count("CreateVpc"), 0);
    const awt_request *first = awt_requests(0);
    char *name = awt_param(first, "Filter.1.Name"), *value = awt_param(first, "Filter.1.Value.1");
    assert_string_equal(name, "tag:infra:token");
    assert_string_equal(value, TOKEN);
    assert_string_equal(pu_json_str(out, "id"), "vpc-0abc");
    free(name);
    free(value);
    pu_host->json->release(out);

    /* Nothing tagged with the token: CreateVpc with every tag. */
    awt_reset();
    awt_route("DescribeVpcs", 200, "<DescribeVpcsResponse><vpcSet/></DescribeVpcsResponse>");
    awt_route("CreateVpc", 200,
              "<CreateVpcResponse><vpc><vpcId>vpc-0new</vpcId><state>pending</state></vpc>"
              "</CreateVpcResponse>");
    awt_route("DescribeVpcs", 200,
              "<DescribeVpcsResponse><vpcSet><item><vpcId>vpc-0new</vpcId><state>available"
              "</state></item></vpcSet></DescribeVpcsResponse>");
    assert_int_equal(act("network", &c, NULL, planned, NULL, NULL, &out), 0);
    const awt_request *create = awt_last("CreateVpc");
    assert_non_null(create);
    int seen_token = 0, seen_name = 0, seen_address = 0;
    for (int i = 1; i < 10; i++) {
        char key[64];
        snprintf(key, sizeof(key), "TagSpecification.1.Tag.%d.Key", i);
        char *k = awt_param(create, key);
        snprintf(key, sizeof(key), "TagSpecification.1.Tag.%d.Value", i);
        char *v = awt_param(create, key);
        if (k != NULL && strcmp(k, "infra:token") == 0)
            seen_token = strcmp(v, TOKEN) == 0;
        if (k != NULL && strcmp(k, "Name") == 0)
            seen_name = strcmp(v, "main") == 0;
        if (k != NULL && strcmp(k, "infra:address") == 0)
            seen_address = strcmp(v, "network.main") == 0;
        free(k);
        free(v);
    }
    assert_true(seen_token && seen_name && seen_address);
    assert_string_equal(pu_json_str(out, "id"), "vpc-0new");
    pu_host->json->release(out);
    pu_host->json->release(planned);
    awt_call_clear(&c);
}

static void test_firewall_update_changes_only_the_difference(void **state)
{
    (void)state;
    awt_reset();
    awt_route("DescribeSecurityGroups", 200,
              "<DescribeSecurityGroupsResponse><securityGroupInfo><item><groupId>sg-1</groupId>"
              "<groupName>web</groupName><vpcId>vpc-1</vpcId><ipPermissions>"
              "<item><ipProtocol>tcp</ipProtocol><fromPort>22</fromPort><toPort>22</toPort>"
              "<ipRanges><item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges></item>"
              "<item><ipProtocol>tcp</ipProtocol><fromPort>80</fromPort><toPort>80</toPort>"
              "<ipRanges><item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges></item>"
              "</ipPermissions></item></securityGroupInfo></DescribeSecurityGroupsResponse>");
    awt_route("RevokeSecurityGroupIngress", 200,
              "<RevokeSecurityGroupIngressResponse><return>true</return>"
              "</RevokeSecurityGroupIngressResponse>");
    awt_route("AuthorizeSecurityGroupIngress", 200,
              "<AuthorizeSecurityGroupIngressResponse><return>true</return>"
              "</AuthorizeSecurityGroupIngressResponse>");
    awt_route("CreateTags", 200, "<CreateTagsResponse><return>true</return></CreateTagsResponse>");
    awt_call c;
    awt_call_init(&c, "firewall.web", NULL);
    infra_json *prior = awt_json("{\"id\": \"sg-1\", \"name\": \"web\", \"network\": \"vpc-1\","
                                 " \"allow\": [22, 80]}");
    infra_json *planned = awt_json("{\"id\": \"sg-1\", \"name\": \"web\", \"network\": \"vpc-1\","
                                   " \"allow\": [22, 443]}");
    infra_json *out = NULL;
    assert_int_equal(act("firewall", &c, prior, planned, NULL, NULL, &out), 0);
    assert_int_equal(awt_count("RevokeSecurityGroupIngress"), 1);
    assert_int_equal(awt_count("AuthorizeSecurityGroupIngress"), 1);
    assert_int_equal(awt_count("AuthorizeSecurityGroupEgress"), 0);
    char *revoked = awt_param(awt_last("RevokeSecurityGroupIngress"), "IpPermissions.1.FromPort");
    char *added = awt_param(awt_last("AuthorizeSecurityGroupIngress"), "IpPermissions.1.FromPort");
    char *more = awt_param(awt_last("AuthorizeSecurityGroupIngress"), "IpPermissions.2.FromPort");
    assert_string_equal(revoked, "80");
    assert_string_equal(added, "443");
    assert_null(more);
    free(revoked);
    free(added);
    pu_host->json->release(out);

    /* Read: the same rules keep the state's own words; others show up as ingress. */
    infra_json *read_state =
        awt_json("{\"id\": \"sg-1\", \"name\": \"web\", \"network\": \"vpc-1\","
                 " \"allow\": [22, {\"port\": 80}]}");
    assert_int_equal(act("firewall", &c, NULL, NULL, read_state, NULL, &out), 0);
    assert_true(pu_host->json->equal(pu_host->json->get(out, "allow"),
                                     pu_host->json->get(read_state, "allow")));
    pu_host->json->release(out);
    assert_int_equal(act("firewall", &c, NULL, NULL, planned, NULL, &out), 0);
    assert_null(pu_host->json->get(out, "allow"));
    assert_int_equal(pu_host->json->length(pu_host->json->get(out, "ingress")), 2);
    pu_host->json->release(out);
    pu_host->json->release(read_state);
    pu_host->json->release(prior);
    pu_host->json->release(planned);
    awt_call_clear(&c);
}

static void test_autoscaling_read_after_a_crash_finds_the_next_generation(void **state)
{
    (void)state;
    awt_reset();
    /* Group g0 is gone; g1 (made by the interrupted replacement) serves. */
    awt_route("DescribeAutoScalingGroups", 200,
              "<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult>"
              "<AutoScalingGroups/></DescribeAutoScalingGroupsResult>"
              "</DescribeAutoScalingGroupsResponse>");
    awt_route("DescribeAutoScalingGroups", 200,
              "<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult>"
              "<AutoScalingGroups><member><AutoScalingGroupName>web-1a2b-g1</AutoScalingGroupName>"
              "<LaunchTemplate><LaunchTemplateId>lt-1</LaunchTemplateId><Version>2</Version>"
              "</LaunchTemplate><MinSize>2</MinSize><MaxSize>4</MaxSize>"
              "<DesiredCapacity>2</DesiredCapacity><VPCZoneIdentifier>subnet-2,subnet-1"
              "</VPCZoneIdentifier><Instances/></member></AutoScalingGroups>"
              "</DescribeAutoScalingGroupsResult></DescribeAutoScalingGroupsResponse>");
    awt_call c;
    awt_call_init(&c, "autoscaling_group.web", NULL);
    infra_json *st = awt_json("{\"id\": \"web-1a2b-g0\", \"name\": \"web-1a2b-g0\","
                              " \"generation\": 0, \"launch_template\": \"lt-1\","
                              " \"version\": \"1\", \"subnets\": [\"subnet-1\", \"subnet-2\"],"
                              " \"min\": 2, \"max\": 4, \"desired\": 2}");
    infra_json *out = NULL;
    const char *blob = "{\"token\": \"" TOKEN "\", \"base\": \"web-1a2b\"}";
    assert_int_equal(act("autoscaling_group", &c, NULL, NULL, st, blob, &out), 0);
    assert_string_equal(pu_json_str(out, "id"), "web-1a2b-g1");
    assert_int_equal(pu_host->json->integer(pu_host->json->get(out, "generation")), 1);
    assert_string_equal(pu_json_str(out, "version"), "2");
    /* The same subnets in another order are the same subnets. */
    assert_true(pu_host->json->equal(pu_host->json->get(out, "subnets"),
                                     pu_host->json->get(st, "subnets")));
    /* The sweep named the generations that may exist. */
    const awt_request *sweep = awt_last("DescribeAutoScalingGroups");
    char *n1 = awt_param(sweep, "AutoScalingGroupNames.member.2");
    assert_string_equal(n1, "web-1a2b-g1");
    free(n1);
    pu_host->json->release(out);

    /* No generation at all: gone. */
    awt_reset();
    awt_route("DescribeAutoScalingGroups", 200,
              "<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult>"
              "<AutoScalingGroups/></DescribeAutoScalingGroupsResult>"
              "</DescribeAutoScalingGroupsResponse>");
    assert_int_equal(act("autoscaling_group", &c, NULL, NULL, st, blob, &out), INFRA_ENOTFOUND);
    pu_host->json->release(st);
    awt_call_clear(&c);
}

#define GROUP_G0                                                                                   \
    "<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult>"                         \
    "<AutoScalingGroups><member><AutoScalingGroupName>web-1a2b-g0</AutoScalingGroupName>"          \
    "<MinSize>2</MinSize><MaxSize>4</MaxSize><DesiredCapacity>2</DesiredCapacity>"                 \
    "<LoadBalancerNames><member>web-lb</member></LoadBalancerNames><Instances>"                    \
    "<member><InstanceId>i-1</InstanceId><LifecycleState>InService</LifecycleState></member>"      \
    "<member><InstanceId>i-2</InstanceId><LifecycleState>InService</LifecycleState></member>"      \
    "</Instances></member></AutoScalingGroups></DescribeAutoScalingGroupsResult>"                  \
    "</DescribeAutoScalingGroupsResponse>"
#define GROUP_G0_DETACHED                                                                          \
    "<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult>"                         \
    "<AutoScalingGroups><member><AutoScalingGroupName>web-1a2b-g0</AutoScalingGroupName>"          \
    "<MinSize>2</MinSize><MaxSize>4</MaxSize><DesiredCapacity>2</DesiredCapacity>"                 \
    "<LoadBalancerNames/><Instances>"                                                              \
    "<member><InstanceId>i-1</InstanceId><LifecycleState>InService</LifecycleState></member>"      \
    "</Instances></member></AutoScalingGroups></DescribeAutoScalingGroupsResult>"                  \
    "</DescribeAutoScalingGroupsResponse>"
#define HEALTH(members)                                                                            \
    "<DescribeInstanceHealthResponse><DescribeInstanceHealthResult><InstanceStates>" members       \
    "</InstanceStates></DescribeInstanceHealthResult></DescribeInstanceHealthResponse>"
#define DRAINING(id)                                                                               \
    "<member><InstanceId>" id "</InstanceId><State>OutOfService</State><ReasonCode>ELB"            \
    "</ReasonCode><Description>Instance deregistration currently in progress.</Description>"       \
    "</member>"
#define SERVING(id)                                                                                \
    "<member><InstanceId>" id "</InstanceId><State>InService</State><ReasonCode>N/A"               \
    "</ReasonCode><Description>N/A</Description></member>"

static void test_autoscaling_replaced_group_leaves_its_balancers_and_drains_first(void **state)
{
    (void)state;
    awt_reset();
    awt_route("DescribeAutoScalingGroups", 200, GROUP_G0);
    awt_route("DetachLoadBalancers", 200,
              "<DetachLoadBalancersResponse><DetachLoadBalancersResult/>"
              "</DetachLoadBalancersResponse>");
    /* i-1 drains at first, then is gone; i-9 is the new group's. */
    awt_route("DescribeInstanceHealth", 200, HEALTH(DRAINING("i-1") SERVING("i-9")));
    awt_route("DescribeInstanceHealth", 200, HEALTH(SERVING("i-9")));
    awt_call c;
    awt_call_init(&c, "autoscaling_group.web", NULL);
    aws_act a = {.p = p, .call = &c.call};
    char *also[] = {"web-lb", "web-lb2", NULL};
    assert_int_equal(aws_asg_drain(&a, "web-1a2b-g0", also, pu_host->now_ms() + 60000), 0);
    /* Group read, detach, then health until nothing of it is left: on the
     * balancer it had and on the new group's other one. */
    assert_string_equal(awt_requests(0)->action, "DescribeAutoScalingGroups");
    assert_string_equal(awt_requests(1)->action, "DetachLoadBalancers");
    char *group = awt_param(awt_requests(1), "AutoScalingGroupName");
    char *lb = awt_param(awt_requests(1), "LoadBalancerNames.member.1");
    char *lb2 = awt_param(awt_requests(1), "LoadBalancerNames.member.2");
    assert_string_equal(group, "web-1a2b-g0");
    assert_string_equal(lb, "web-lb");
    assert_null(lb2);
    free(group);
    free(lb);
    assert_int_equal(awt_nrequests(), 6);
    assert_int_equal(awt_count("DescribeInstanceHealth"), 4);
    char *last = awt_param(awt_last("DescribeInstanceHealth"), "LoadBalancerName");
    assert_string_equal(last, "web-lb2");
    free(last);
    awt_call_clear(&c);

    /* Still draining at the deadline: not done, and the error says what is left. */
    awt_reset();
    awt_route("DescribeAutoScalingGroups", 200, GROUP_G0);
    awt_route("DetachLoadBalancers", 200,
              "<DetachLoadBalancersResponse><DetachLoadBalancersResult/>"
              "</DetachLoadBalancersResponse>");
    awt_route("DescribeInstanceHealth", 200, HEALTH(DRAINING("i-2")));
    awt_call_init(&c, "autoscaling_group.web", NULL);
    assert_int_equal(aws_asg_drain(&a, "web-1a2b-g0", NULL, pu_host->now_ms()), INFRA_ETRANSIENT);
    assert_non_null(strstr(c.diags, "i-2 on web-lb (draining)"));
    awt_call_clear(&c);

    /* A rerun after a crash between detach and delete: the group names no
     * balancer any more; the new group's are still waited on. */
    awt_reset();
    awt_routef("DescribeAutoScalingGroups", 200, "%s", GROUP_G0_DETACHED);
    awt_route("DescribeInstanceHealth", 200, HEALTH(DRAINING("i-1")));
    awt_route("DescribeInstanceHealth", 200, HEALTH(SERVING("i-9")));
    awt_call_init(&c, "autoscaling_group.web", NULL);
    char *new_lbs[] = {"web-lb", NULL};
    assert_int_equal(aws_asg_drain(&a, "web-1a2b-g0", new_lbs, pu_host->now_ms() + 60000), 0);
    assert_int_equal(awt_count("DetachLoadBalancers"), 0);
    assert_int_equal(awt_count("DescribeInstanceHealth"), 2);
    awt_call_clear(&c);

    /* A group already gone (deleted by the run a crash stopped) is done. */
    awt_reset();
    awt_route("DescribeAutoScalingGroups", 200,
              "<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult>"
              "<AutoScalingGroups/></DescribeAutoScalingGroupsResult>"
              "</DescribeAutoScalingGroupsResponse>");
    awt_call_init(&c, "autoscaling_group.web", NULL);
    assert_int_equal(aws_asg_drain(&a, "web-1a2b-g0", also, pu_host->now_ms() + 60000), 0);
    assert_int_equal(awt_count("DetachLoadBalancers"), 0);
    awt_call_clear(&c);
}

static void test_dns_record_create_does_not_take_over_another_record(void **state)
{
    (void)state;
    awt_reset();
    awt_route(
        "hostedzonesbyname", 200,
        "<ListHostedZonesByNameResponse><HostedZones><HostedZone><Id>/hostedzone/Z1</Id>"
        "<Name>example.org.</Name></HostedZone></HostedZones></ListHostedZonesByNameResponse>");
    awt_route("/rrset?", 200,
              "<ListResourceRecordSetsResponse><ResourceRecordSets><ResourceRecordSet>"
              "<Name>www.example.org.</Name><Type>A</Type><TTL>300</TTL><ResourceRecords>"
              "<ResourceRecord><Value>192.0.2.9</Value></ResourceRecord></ResourceRecords>"
              "</ResourceRecordSet></ResourceRecordSets></ListResourceRecordSetsResponse>");
    awt_route("/rrset/", 200,
              "<ChangeResourceRecordSetsResponse><ChangeInfo><Id>/change/C1</Id>"
              "<Status>PENDING</Status></ChangeInfo></ChangeResourceRecordSetsResponse>");
    awt_route("/change/C1", 200,
              "<GetChangeResponse><ChangeInfo><Id>/change/C1</Id><Status>INSYNC</Status>"
              "</ChangeInfo></GetChangeResponse>");
    awt_call c;
    awt_call_init(&c, "dns_record.www", NULL);
    infra_json *planned = awt_json("{\"zone\": \"example.org\", \"name\": \"www\","
                                   " \"target\": \"192.0.2.1\"}");
    infra_json *out = NULL;
    assert_int_equal(act("dns_record", &c, NULL, planned, NULL, NULL, &out), INFRA_ECONFLICT);
    assert_non_null(strstr(c.diags, "allow_overwrite"));
    assert_int_equal(awt_count("/2013-04-01/hostedzone/Z1/rrset/"), 0);
    awt_call_clear(&c);

    awt_call_init(&c, "dns_record.www", NULL);
    infra_json *over = awt_json("{\"zone\": \"example.org\", \"name\": \"www\","
                                " \"target\": \"192.0.2.1\", \"allow_overwrite\": true}");
    assert_int_equal(act("dns_record", &c, NULL, over, NULL, NULL, &out), 0);
    const awt_request *change = NULL;
    for (size_t i = 0; i < awt_nrequests(); i++)
        if (strstr(awt_requests(i)->url, "/rrset/") != NULL)
            change = awt_requests(i);
    assert_non_null(change);
    assert_non_null(strstr(change->body, "<Action>UPSERT</Action>"));
    assert_non_null(strstr(change->body, "<Value>192.0.2.1</Value>"));
    assert_string_equal(pu_json_str(out, "id"), "Z1/www.example.org/A");
    assert_string_equal(pu_json_str(out, "fqdn"), "www.example.org");
    assert_string_equal(pu_json_str(out, "type"), "A");
    pu_host->json->release(out);
    pu_host->json->release(over);
    pu_host->json->release(planned);
    awt_call_clear(&c);
}

static const char *const running_answer =
    "<DescribeInstancesResponse><reservationSet><item><instancesSet><item>"
    "<instanceId>i-0aaa</instanceId><instanceState><name>running</name></instanceState>"
    "<privateIpAddress>10.0.1.5</privateIpAddress><ipAddress>54.0.0.5</ipAddress>"
    "<placement><availabilityZone>us-east-1a</availabilityZone></placement>"
    "<vpcId>vpc-1</vpcId></item></instancesSet></item></reservationSet>"
    "</DescribeInstancesResponse>";
static const char *const run_answer =
    "<RunInstancesResponse><instancesSet><item><instanceId>i-0aaa</instanceId>"
    "<instanceState><name>pending</name></instanceState></item></instancesSet>"
    "</RunInstancesResponse>";

/* A new group that runs a client pool: its balancers' health check is
 * answered by a router the scheduler places once the instances have
 * joined, after the create. So the create waits for the group only and
 * never asks the balancer; a group that runs no pool still does. */
static void test_autoscaling_pool_create_waits_for_the_group_only(void **state)
{
    (void)state;
    for (int pool = 1; pool >= 0; pool--) {
        awt_reset();
        awt_call c;
        awt_call_init(&c, "autoscaling_group.workers", TOKEN);
        char *base = aws_call_name(&c.call, 200);
        char hex[9];
        aws_token_hex(TOKEN, 8, hex);
        awt_route("DescribeAutoScalingGroups", 200,
                  "<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult>"
                  "<AutoScalingGroups/></DescribeAutoScalingGroupsResult>"
                  "</DescribeAutoScalingGroupsResponse>");
        awt_routef("DescribeAutoScalingGroups", 200,
                   "<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult>"
                   "<AutoScalingGroups><member><AutoScalingGroupName>%s-%s-g0"
                   "</AutoScalingGroupName><MinSize>1</MinSize><MaxSize>2</MaxSize>"
                   "<DesiredCapacity>1</DesiredCapacity><LoadBalancerNames><member>web-lb"
                   "</member></LoadBalancerNames><Instances><member><InstanceId>i-0aaa"
                   "</InstanceId><LifecycleState>InService</LifecycleState></member>"
                   "</Instances></member></AutoScalingGroups>"
                   "</DescribeAutoScalingGroupsResult></DescribeAutoScalingGroupsResponse>",
                   base, hex);
        awt_route("CreateAutoScalingGroup", 200,
                  "<CreateAutoScalingGroupResponse><ResponseMetadata><RequestId>r</RequestId>"
                  "</ResponseMetadata></CreateAutoScalingGroupResponse>");
        awt_route("DescribeInstances", 200, running_answer);
        /* Nothing answers the health check yet. */
        awt_route("DescribeInstanceHealth", 200,
                  "<DescribeInstanceHealthResponse><DescribeInstanceHealthResult><InstanceStates>"
                  "<member><InstanceId>i-0aaa</InstanceId><State>OutOfService</State>"
                  "</member></InstanceStates></DescribeInstanceHealthResult>"
                  "</DescribeInstanceHealthResponse>");
        char cfg[512];
        snprintf(cfg, sizeof(cfg),
                 "{\"launch_template\": \"lt-0abc\", \"version\": \"1\", \"subnets\":"
                 " [\"subnet-1\"], \"min\": 1, \"max\": 2, \"desired\": 1,"
                 " \"load_balancers\": [\"web-lb\"], \"health_check_type\": \"EC2\","
                 " \"replace_deadline\": 1, \"scheduler_pool\": %s}",
                 pool ? "true" : "false");
        infra_json *planned = awt_json(cfg);
        infra_json *out = NULL;
        int rc = act("autoscaling_group", &c, NULL, planned, NULL, NULL, &out);
        if (pool) {
            if (rc != 0)
                fail_msg("a pool's create: %d: %s", rc, c.diags);
            assert_int_equal(awt_count("DescribeInstanceHealth"), 0);
            assert_string_equal(
                pu_json_str(pu_host->json->at(pu_host->json->get(out, "instance_addresses"), 0),
                            "private_ip"),
                "10.0.1.5");
            pu_host->json->release(out);
        } else {
            assert_int_equal(rc, INFRA_ETRANSIENT);
            assert_true(awt_count("DescribeInstanceHealth") > 0);
            assert_non_null(strstr(c.diags, "0 of 1 instances InService on load balancer web-lb"));
        }
        pu_host->json->release(planned);
        free(base);
        awt_call_clear(&c);
    }
}

static void test_instance_create_launches_with_the_token_and_a_host_key_it_made(void **state)
{
    (void)state;
    awt_reset();
    awt_route("DescribeInstances", 200,
              "<DescribeInstancesResponse><reservationSet/></DescribeInstancesResponse>");
    awt_route("RunInstances", 200, run_answer);
    awt_route("DescribeInstances", 200, running_answer);
    awt_call c;
    awt_call_init(&c, "instance.web[0]", TOKEN);
    infra_json *planned =
        awt_json("{\"image\": \"ami-0123\", \"size\": \"t3.micro\","
                 " \"subnet\": \"subnet-1\", \"firewalls\": [\"sg-1\", \"sg-2\"],"
                 " \"key_pair\": \"deploy\", \"user_data\": \"#!/bin/sh\\necho hi\\n\","
                 " \"public_ip\": true, \"role\": \"server\", \"cluster\": \"main\","
                 " \"region\": \"europe\", \"tags\": {\"team\": \"a\"}}");
    infra_json *out = NULL;
    assert_int_equal(act("instance", &c, NULL, planned, NULL, NULL, &out), 0);
    /* A host that cannot say whether the create resumes: looked for first. */
    assert_string_equal(awt_requests(0)->action, "DescribeInstances");
    const awt_request *run = awt_last("RunInstances");
    const char *const want[][2] = {
        {"ImageId", "ami-0123"},
        {"InstanceType", "t3.micro"},
        {"MinCount", "1"},
        {"MaxCount", "1"},
        {"ClientToken", TOKEN},
        {"KeyName", "deploy"},
        {"NetworkInterface.1.DeviceIndex", "0"},
        {"NetworkInterface.1.SubnetId", "subnet-1"},
        {"NetworkInterface.1.AssociatePublicIpAddress", "true"},
        {"NetworkInterface.1.SecurityGroupId.1", "sg-1"},
        {"NetworkInterface.1.SecurityGroupId.2", "sg-2"},
        {"TagSpecification.1.ResourceType", "instance"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        char *v = awt_param(run, want[i][0]);
        if (v == NULL || strcmp(v, want[i][1]) != 0)
            fail_msg("RunInstances %s = %s, expected %s", want[i][0], v ? v : "(none)", want[i][1]);
        free(v);
    }
    char *top_subnet = awt_param(run, "SubnetId");
    assert_null(top_subnet); /* with an interface, the subnet is the interface's */
    /* The user data: the host key for cloud-init, then the user's script
     * as cloud-init would read it alone. */
    char *ud = awt_param(run, "UserData");
    char *plain = NULL;
    assert_int_equal(aws_base64_decode(ud, &plain, NULL), 0);
    assert_non_null(strstr(plain, "MIME-Version: 1.0\n"));
    const char *config = strstr(plain, "Content-Type: text/cloud-config");
    const char *script = strstr(plain, "Content-Type: text/x-not-multipart");
    assert_true(config != NULL && script != NULL && config < script);
    assert_non_null(strstr(config, "\n\n#cloud-config\nssh_keys:\n  ecdsa_private: |\n"
                                   "    -----BEGIN EC PRIVATE KEY-----\n"));
    assert_non_null(strstr(config, "  ecdsa_public: ecdsa-sha2-nistp256 AAAA"));
    assert_non_null(strstr(script, "\n\n#!/bin/sh\necho hi\n--==infra-"));
    aws_host_key key;
    assert_int_equal(aws_host_key_for(&c.call, &key), 0);
    assert_non_null(strstr(plain, key.public_line));
    free(ud);
    free(plain);
    int role = 0, join = 0;
    for (int i = 1; i < 16; i++) {
        char k[64], kv[64];
        snprintf(k, sizeof(k), "TagSpecification.1.Tag.%d.Key", i);
        snprintf(kv, sizeof(kv), "TagSpecification.1.Tag.%d.Value", i);
        char *v = awt_param(run, k);
        role |= v != NULL && strcmp(v, "role") == 0;
        if (v != NULL && strcmp(v, "infra:join") == 0) {
            /* A server: what pool clients' cloud auto-join filters on. */
            char *value = awt_param(run, kv);
            size_t n = value ? strlen(value) : 0;
            join = n > 12 && strcmp(value + n - 12, ".main.europe") == 0;
            free(value);
        }
        free(v);
    }
    assert_true(role);
    assert_true(join);
    /* The fingerprint is the key's: nothing asked the console. */
    assert_int_equal(awt_count("GetConsoleOutput"), 0);
    assert_string_equal(pu_json_str(out, "id"), "i-0aaa");
    assert_string_equal(pu_json_str(out, "private_ip"), "10.0.1.5");
    assert_string_equal(pu_json_str(out, "public_ip"), "54.0.0.5");
    assert_string_equal(pu_json_str(out, "ssh_host_key_fingerprint"), key.fingerprint);
    assert_string_equal(pu_json_str(out, "ssh_user"), "root");
    assert_true(pu_host->json->boolean(pu_host->json->get(out, "associate_public_ip")));
    aws_host_key_clear(&key);
    pu_host->json->release(out);
    pu_host->json->release(planned);
    awt_call_clear(&c);
}

static void test_instance_create_new_in_this_run_launches_without_a_lookup(void **state)
{
    (void)state;
    awt_reset();
    awt_set_resuming(0);
    awt_route("RunInstances", 200, run_answer);
    awt_route("DescribeInstances", 200, running_answer);
    awt_call c;
    awt_call_init(&c, "instance.web[0]", TOKEN);
    infra_json *planned = awt_json("{\"image\": \"ami-0123\", \"size\": \"t3.micro\","
                                   " \"subnet\": \"subnet-1\"}");
    infra_json *out = NULL;
    assert_int_equal(act("instance", &c, NULL, planned, NULL, NULL, &out), 0);
    assert_string_equal(awt_requests(0)->action, "RunInstances");
    assert_int_equal(awt_count("DescribeInstances"), 1); /* the wait for running */
    assert_int_equal(awt_count("GetConsoleOutput"), 0);
    /* No user data of the user's: the cloud-config alone. */
    char *ud = awt_param(awt_last("RunInstances"), "UserData"), *plain = NULL;
    assert_int_equal(aws_base64_decode(ud, &plain, NULL), 0);
    assert_true(strncmp(plain, "#cloud-config\nssh_keys:\n", 24) == 0);
    assert_null(strstr(plain, "MIME-Version"));
    assert_non_null(pu_json_str(out, "ssh_host_key_fingerprint"));
    free(ud);
    free(plain);
    pu_host->json->release(out);

    /* Resumed from an earlier run: looked for by token, and adopted. */
    awt_reset();
    awt_set_resuming(1);
    awt_route("DescribeInstances", 200,
              "<DescribeInstancesResponse><reservationSet><item><instancesSet><item>"
              "<instanceId>i-0aaa</instanceId><instanceState><name>running</name></instanceState>"
              "<tagSet><item><key>infra:token</key><value>" TOKEN "</value></item></tagSet>"
              "</item></instancesSet></item></reservationSet></DescribeInstancesResponse>");
    assert_int_equal(act("instance", &c, NULL, planned, NULL, NULL, &out), 0);
    const awt_request *first = awt_requests(0);
    char *name = awt_param(first, "Filter.1.Name"), *value = awt_param(first, "Filter.1.Value.1");
    assert_string_equal(first->action, "DescribeInstances");
    assert_string_equal(name, "tag:infra:token");
    assert_string_equal(value, TOKEN);
    assert_int_equal(awt_count("RunInstances"), 0);
    assert_string_equal(pu_json_str(out, "id"), "i-0aaa");
    free(name);
    free(value);
    pu_host->json->release(out);
    pu_host->json->release(planned);
    awt_call_clear(&c);
    awt_set_resuming(-1);
}

static void test_instance_console_key_is_waited_for_by_cluster_nodes_only(void **state)
{
    (void)state;
    const char *console = "-----BEGIN SSH HOST KEY FINGERPRINTS-----\n"
                          "256 SHA256:abcECDSA root@ip-10-0-1-5 (ECDSA)\n"
                          "-----END SSH HOST KEY FINGERPRINTS-----\n";
    char *encoded = aws_base64_encode(console, strlen(console));
    awt_call c;
    awt_call_init(&c, "instance.web[0]", TOKEN);
    for (int node = 0; node < 2; node++) {
        awt_reset();
        awt_set_resuming(0);
        awt_route("RunInstances", 200, run_answer);
        awt_route("DescribeInstances", 200, running_answer);
        awt_routef("GetConsoleOutput", 200,
                   "<GetConsoleOutputResponse><instanceId>i-0aaa</instanceId><output>%s</output>"
                   "</GetConsoleOutputResponse>",
                   encoded);
        infra_json *planned =
            awt_json(node ? "{\"image\": \"ami-0123\", \"size\": \"t3.micro\","
                            " \"ssh_host_key\": \"console\", \"role\": \"client\"}"
                          : "{\"image\": \"ami-0123\", \"size\": \"t3.micro\","
                            " \"ssh_host_key\": \"console\"}");
        infra_json *out = NULL;
        assert_int_equal(act("instance", &c, NULL, planned, NULL, NULL, &out), 0);
        assert_null(awt_param(awt_last("RunInstances"), "UserData"));
        assert_int_equal(awt_count("GetConsoleOutput"), node ? 1 : 0);
        if (node)
            assert_string_equal(pu_json_str(out, "ssh_host_key_fingerprint"), "SHA256:abcECDSA");
        else
            assert_null(pu_json_str(out, "ssh_host_key_fingerprint"));
        pu_host->json->release(out);
        pu_host->json->release(planned);
    }
    awt_call_clear(&c);
    awt_set_resuming(-1);
    free(encoded);
}

static void test_network_create_looks_for_its_object_only_when_it_may_exist(void **state)
{
    (void)state;
    awt_reset();
    awt_set_resuming(0);
    awt_route("CreateVpc", 200,
              "<CreateVpcResponse><vpc><vpcId>vpc-0new</vpcId><state>pending</state></vpc>"
              "</CreateVpcResponse>");
    awt_route("DescribeVpcs", 200,
              "<DescribeVpcsResponse><vpcSet><item><vpcId>vpc-0new</vpcId><state>available"
              "</state></item></vpcSet></DescribeVpcsResponse>");
    awt_call c;
    awt_call_init(&c, "network.main", TOKEN);
    infra_json *planned = awt_json("{\"cidr\": \"10.0.0.0/16\"}");
    infra_json *out = NULL;
    assert_int_equal(act("network", &c, NULL, planned, NULL, NULL, &out), 0);
    assert_string_equal(awt_requests(0)->action, "CreateVpc");
    pu_host->json->release(out);
    /* The same create again in this run (a retry after a failure that may
     * have come after the VPC was made): looked for first, and found. */
    awt_reset();
    awt_route("DescribeVpcs", 200,
              "<DescribeVpcsResponse><vpcSet><item><vpcId>vpc-0new</vpcId><state>available"
              "</state></item></vpcSet></DescribeVpcsResponse>");
    assert_int_equal(act("network", &c, NULL, planned, NULL, NULL, &out), 0);
    assert_string_equal(awt_requests(0)->action, "DescribeVpcs");
    assert_int_equal(awt_count("CreateVpc"), 0);
    assert_string_equal(pu_json_str(out, "id"), "vpc-0new");
    pu_host->json->release(out);
    pu_host->json->release(planned);
    awt_call_clear(&c);
    awt_set_resuming(-1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_network_create_adopts_the_vpc_its_token_made),
        cmocka_unit_test(test_firewall_update_changes_only_the_difference),
        cmocka_unit_test(test_autoscaling_read_after_a_crash_finds_the_next_generation),
        cmocka_unit_test(test_autoscaling_replaced_group_leaves_its_balancers_and_drains_first),
        cmocka_unit_test(test_dns_record_create_does_not_take_over_another_record),
        cmocka_unit_test(test_autoscaling_pool_create_waits_for_the_group_only),
        cmocka_unit_test(test_instance_create_launches_with_the_token_and_a_host_key_it_made),
        cmocka_unit_test(test_instance_create_new_in_this_run_launches_without_a_lookup),
        cmocka_unit_test(test_instance_console_key_is_waited_for_by_cluster_nodes_only),
        cmocka_unit_test(test_network_create_looks_for_its_object_only_when_it_may_exist),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
