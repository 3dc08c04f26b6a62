/* Answers and errors parsed from samples shaped like the services'
 * output shapes (element names from the botocore models), with the
 * namespaces each service uses. */
#include "aws_test.h"

#include <stdlib.h>
#include <string.h>

static xmlDoc *parse(const char *text)
{
    xmlDoc *doc = aws_xml_parse(text, strlen(text));
    assert_non_null(doc);
    return doc;
}

static const char *const describe_instances =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
    "<requestId>r-1</requestId><reservationSet><item><reservationId>r-0a</reservationId>"
    "<instancesSet><item><instanceId>i-0aaa</instanceId><imageId>ami-01</imageId>"
    "<instanceState><code>16</code><name>running</name></instanceState>"
    "<privateDnsName>ip-10-0-1-5.ec2.internal</privateDnsName><dnsName></dnsName>"
    "<instanceType>t3.micro</instanceType><keyName>deploy</keyName>"
    "<placement><availabilityZone>us-east-1a</availabilityZone></placement>"
    "<subnetId>subnet-1</subnetId><vpcId>vpc-1</vpcId><privateIpAddress>10.0.1.5</privateIpAddress>"
    "<ipAddress>54.1.2.3</ipAddress><groupSet><item><groupId>sg-1</groupId><groupName>a</groupName>"
    "</item><item><groupId>sg-2</groupId></item></groupSet>"
    "<tagSet><item><key>infra:token</key><value>tok</value></item><item><key>Name</key>"
    "<value>web-0</value></item></tagSet></item></instancesSet></item>"
    "<item><instancesSet><item><instanceId>i-0bbb</instanceId><instanceState><code>48</code>"
    "<name>terminated</name></instanceState></item></instancesSet></item></reservationSet>"
    "</DescribeInstancesResponse>";

static void test_describe_instances_is_read_by_local_names_whatever_the_namespace(void **state)
{
    (void)state;
    awt_reset();
    xmlDoc *doc = parse(describe_instances);
    aws_instance *v = NULL;
    size_t n = 0;
    aws_instances_parse(xmlDocGetRootElement(doc), &v, &n);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].id, "i-0aaa");
    assert_string_equal(v[0].state, "running");
    assert_string_equal(v[0].private_ip, "10.0.1.5");
    assert_string_equal(v[0].public_ip, "54.1.2.3");
    assert_null(v[0].public_dns); /* an empty element is no value */
    assert_string_equal(v[0].zone, "us-east-1a");
    assert_string_equal(v[0].type, "t3.micro");
    assert_int_equal(aws_strv_len(v[0].groups), 2);
    assert_string_equal(v[0].groups[1], "sg-2");
    assert_string_equal(aws_tags_get(&v[0].tags, "infra:token"), "tok");
    assert_string_equal(v[1].state, "terminated");
    assert_null(v[1].private_ip);
    aws_instances_free(v, n);
    xmlFreeDoc(doc);
}

static void test_ec2_and_query_error_documents_give_code_and_message(void **state)
{
    (void)state;
    char *code = NULL, *msg = NULL;
    xmlDoc *doc = parse("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>"
                        "<Code>InvalidParameterValue</Code><Message>Value (x) for parameter "
                        "cidrBlock is invalid.</Message></Error></Errors><RequestID>1</RequestID>"
                        "</Response>");
    assert_int_equal(aws_xml_error(xmlDocGetRootElement(doc), &code, &msg), 0);
    assert_string_equal(code, "InvalidParameterValue");
    assert_string_equal(msg, "Value (x) for parameter cidrBlock is invalid.");
    free(code);
    free(msg);
    xmlFreeDoc(doc);

    doc =
        parse("<ErrorResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2012-06-01/\">"
              "<Error><Type>Sender</Type><Code>LoadBalancerNotFound</Code>"
              "<Message>There is no ACTIVE Load Balancer named 'x'</Message></Error>"
              "<RequestId>2</RequestId></ErrorResponse>");
    assert_int_equal(aws_xml_error(xmlDocGetRootElement(doc), &code, &msg), 0);
    assert_string_equal(code, "LoadBalancerNotFound");
    free(code);
    free(msg);
    xmlFreeDoc(doc);

    /* Route 53 uses the same shape in its own namespace; a code without a
     * message still decodes. */
    doc = parse("<ErrorResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Error>"
                "<Type>Sender</Type><Code>PriorRequestNotComplete</Code></Error></ErrorResponse>");
    assert_int_equal(aws_xml_error(xmlDocGetRootElement(doc), &code, &msg), 0);
    assert_string_equal(code, "PriorRequestNotComplete");
    assert_string_equal(msg, "");
    free(code);
    free(msg);
    xmlFreeDoc(doc);

    doc = parse("<DescribeVpcsResponse><vpcSet/></DescribeVpcsResponse>");
    assert_int_equal(aws_xml_error(xmlDocGetRootElement(doc), &code, &msg), INFRA_ENOTFOUND);
    xmlFreeDoc(doc);
    assert_null(aws_xml_parse("<unclosed>", 10));
    assert_null(aws_xml_parse("", 0));
}

static void test_query_member_lists_and_paths(void **state)
{
    (void)state;
    xmlDoc *doc = parse(
        "<DescribeInstanceHealthResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/"
        "2012-06-01/\"><DescribeInstanceHealthResult><InstanceStates>"
        "<member><Description>N/A</Description><InstanceId>i-1</InstanceId><State>InService</State>"
        "<ReasonCode>N/A</ReasonCode></member>"
        "<member><InstanceId>i-2</InstanceId><State>OutOfService</State>"
        "<ReasonCode>Instance</ReasonCode></member>"
        "</InstanceStates></DescribeInstanceHealthResult></DescribeInstanceHealthResponse>");
    xmlNode *set =
        aws_xml_path(xmlDocGetRootElement(doc), "DescribeInstanceHealthResult/InstanceStates");
    assert_non_null(set);
    int n = 0, in_service = 0;
    for (xmlNode *m = aws_xml_child(set, "member"); m != NULL; m = aws_xml_next(m)) {
        char *s = aws_xml_get(m, "State");
        in_service += strcmp(s, "InService") == 0;
        free(s);
        n++;
    }
    assert_int_equal(n, 2);
    assert_int_equal(in_service, 1);
    assert_int_equal(aws_xml_get_long(aws_xml_child(set, "member"), "Nope", -7), -7);
    assert_false(aws_xml_get_bool(set, "member/State"));
    xmlFreeDoc(doc);
}

static void test_route53_record_sets_parse_with_wildcards_and_aliases(void **state)
{
    (void)state;
    xmlDoc *doc = parse(
        "<ListResourceRecordSetsResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">"
        "<ResourceRecordSets><ResourceRecordSet><Name>\\052.app.example.org.</Name><Type>CNAME</"
        "Type>"
        "<TTL>60</TTL><ResourceRecords><ResourceRecord><Value>lb-1.us-east-1.elb.amazonaws.com"
        "</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>"
        "<ResourceRecordSet><Name>Nomad.Example.org.</Name><Type>A</Type><AliasTarget>"
        "<HostedZoneId>Z35SXDOTRQ7X7K</HostedZoneId><DNSName>lb-1.us-east-1.elb.amazonaws.com."
        "</DNSName><EvaluateTargetHealth>false</EvaluateTargetHealth></AliasTarget>"
        "</ResourceRecordSet></ResourceRecordSets><IsTruncated>false</IsTruncated>"
        "<MaxItems>100</MaxItems></ListResourceRecordSetsResponse>");
    aws_rrset *v = NULL;
    size_t n = 0;
    aws_r53_parse_rrsets(xmlDocGetRootElement(doc), &v, &n);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].name, "*.app.example.org.");
    assert_string_equal(v[0].type, "CNAME");
    assert_int_equal(v[0].ttl, 60);
    assert_string_equal(v[0].values[0], "lb-1.us-east-1.elb.amazonaws.com");
    assert_null(v[0].alias_dns);
    assert_string_equal(v[1].name, "nomad.example.org.");
    assert_int_equal(v[1].ttl, -1);
    assert_string_equal(v[1].alias_zone, "Z35SXDOTRQ7X7K");
    assert_string_equal(v[1].alias_dns, "lb-1.us-east-1.elb.amazonaws.com.");
    for (size_t i = 0; i < n; i++)
        aws_rrset_free(&v[i]);
    free(v);
    xmlFreeDoc(doc);
}

static void test_security_group_permissions_become_one_rule_per_source(void **state)
{
    (void)state;
    xmlDoc *doc = parse(
        "<ipPermissions><item><ipProtocol>tcp</ipProtocol><fromPort>22</fromPort><toPort>22</"
        "toPort>"
        "<groups><item><groupId>sg-9</groupId></item></groups><ipRanges><item><cidrIp>0.0.0.0/0"
        "</cidrIp></item><item><cidrIp>10.0.0.0/8</cidrIp></item></ipRanges></item>"
        "<item><ipProtocol>-1</ipProtocol><ipRanges><item><cidrIp>10.1.0.0/16</cidrIp></item>"
        "</ipRanges></item></ipPermissions>");
    aws_rule *v = NULL;
    size_t n = 0;
    aws_rules_from_xml(xmlDocGetRootElement(doc), &v, &n);
    assert_int_equal(n, 4);
    assert_string_equal(v[0].proto, "-1");
    assert_int_equal(v[0].from_port, -1);
    assert_string_equal(v[1].source, "0.0.0.0/0");
    assert_string_equal(v[2].source, "10.0.0.0/8");
    assert_string_equal(v[3].source, "sg-9");
    assert_int_equal(v[3].to_port, 22);
    free(v);
    xmlFreeDoc(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_describe_instances_is_read_by_local_names_whatever_the_namespace),
        cmocka_unit_test(test_ec2_and_query_error_documents_give_code_and_message),
        cmocka_unit_test(test_query_member_lists_and_paths),
        cmocka_unit_test(test_route53_record_sets_parse_with_wildcards_and_aliases),
        cmocka_unit_test(test_security_group_permissions_become_one_rule_per_source),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
