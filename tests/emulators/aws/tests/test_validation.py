"""Raw signed requests that the models refuse: unknown, missing and ill-typed parameters."""
import http.client
import unittest
import xml.etree.ElementTree as ET

import botocore.auth
import botocore.credentials
from botocore.awsrequest import AWSRequest

from harness import AKID, SECRET, EmulatorCase


class RawRequests(EmulatorCase):
    def raw(self, service, body=None, method="POST", path="/", query="", headers=None):
        url = self.endpoint + path + ("?" + query if query else "")
        hdrs = dict(headers or {})
        if body is not None and method == "POST" and service != "route53":
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
        req = AWSRequest(method=method, url=url, data=body or "", headers=hdrs)
        signer = botocore.auth.SigV4Auth(botocore.credentials.Credentials(AKID, SECRET),
                                         service, "us-east-1")
        signer.add_auth(req)
        prepared = req.prepare()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        data = prepared.body or b""
        if isinstance(data, str):
            data = data.encode()
        conn.request(method, prepared.url[len(self.endpoint):], body=data,
                     headers=dict(prepared.headers.items()))
        resp = conn.getresponse()
        text = resp.read().decode()
        conn.close()
        root = ET.fromstring(text)
        code = root.find(".//{*}Code")
        message = root.find(".//{*}Message")
        return (resp.status, code.text if code is not None else None,
                message.text if message is not None else "", root.tag)

    def ec2(self, params):
        return self.raw("ec2", "Action=%s&Version=2016-11-15" % params)

    def assertRefused(self, answer, status, code, mentions):
        self.assertEqual((answer[0], answer[1]), (status, code), answer[2])
        self.assertIn(mentions, answer[2])

    # -- EC2 --------------------------------------------------------------------
    def test_ec2_unknown_parameter_is_unknown_parameter(self):
        answer = self.ec2("DescribeVpcs&VpcId.1=vpc-1&Colour=blue")
        self.assertRefused(answer, 400, "UnknownParameter", "Colour")
        self.assertEqual(answer[3], "Response")

    def test_ec2_member_name_instead_of_its_location_name_is_unknown(self):
        # The model calls it VpcIds, the wire calls it VpcId.N.
        self.assertRefused(self.ec2("DescribeVpcs&VpcIds.1=vpc-1"), 400, "UnknownParameter",
                           "VpcIds")

    def test_ec2_query_style_member_lists_are_not_ec2_lists(self):
        self.assertRefused(self.ec2("DescribeVpcs&VpcId.member.1=vpc-1"), 400,
                           "UnknownParameter", "VpcId.member")

    def test_ec2_unknown_nested_parameter_names_its_full_path(self):
        answer = self.ec2("DescribeInstances&Filter.1.Name=vpc-id&Filter.1.Valu.1=x")
        self.assertRefused(answer, 400, "UnknownParameter", "Filter.1.Valu")

    def test_ec2_missing_required_parameter_is_missing_parameter(self):
        self.assertRefused(self.ec2("RunInstances&ImageId=ami-1&MinCount=1"), 400,
                           "MissingParameter", "MaxCount")
        self.assertRefused(self.ec2("DeleteVpc"), 400, "MissingParameter", "VpcId")

    def test_ec2_wrong_types_are_invalid_parameter_value(self):
        self.assertRefused(self.ec2("RunInstances&ImageId=ami-1&MinCount=one&MaxCount=1"),
                           400, "InvalidParameterValue", "MinCount")
        self.assertRefused(self.ec2("DescribeVpcs&DryRun=maybe"), 400,
                           "InvalidParameterValue", "DryRun")
        self.assertRefused(self.ec2("RunInstances&ImageId=ami-1&MinCount=1&MaxCount=1"
                                    "&InstanceType=t9.enormous"), 400,
                           "InvalidParameterValue", "InstanceType")

    def test_ec2_unknown_action_and_version(self):
        self.assertRefused(self.ec2("LaunchRocket"), 400, "InvalidAction", "LaunchRocket")
        answer = self.raw("ec2", "Action=DescribeVpcs&Version=2010-01-01")
        self.assertEqual(answer[1], "NoSuchVersion")

    def test_ec2_well_formed_request_passes(self):
        answer = self.ec2("DescribeInstances&Filter.1.Name=instance-state-name"
                          "&Filter.1.Value.1=running&MaxResults=5")
        self.assertEqual(answer[0], 200, answer)

    # -- Query services -----------------------------------------------------------
    def elb(self, params):
        return self.raw("elasticloadbalancing", "Action=%s&Version=2012-06-01" % params)

    def asg(self, params):
        return self.raw("autoscaling", "Action=%s&Version=2011-01-01" % params)

    def test_query_unknown_parameter_is_invalid_query_parameter(self):
        answer = self.elb("DescribeLoadBalancers&Colour=blue")
        self.assertRefused(answer, 400, "InvalidQueryParameter", "Colour")
        self.assertEqual(answer[3], "{http://elasticloadbalancing.amazonaws.com/doc/"
                                    "2012-06-01/}ErrorResponse")

    def test_query_lists_need_member(self):
        self.assertRefused(self.elb("DescribeLoadBalancers&LoadBalancerNames.1=a"), 400,
                           "InvalidQueryParameter", "LoadBalancerNames.1")
        self.assertEqual(self.elb("DescribeLoadBalancers&LoadBalancerNames.member.1=a")[1],
                         "LoadBalancerNotFound")

    def test_query_missing_required_parameter_is_missing_parameter(self):
        self.assertRefused(self.asg("CreateAutoScalingGroup&AutoScalingGroupName=g&MinSize=1"),
                           400, "MissingParameter", "MaxSize")
        self.assertRefused(self.elb("CreateLoadBalancer&LoadBalancerName=x"), 400,
                           "MissingParameter", "Listeners")

    def test_query_nested_required_member_is_reported_with_its_path(self):
        answer = self.elb("CreateLoadBalancer&LoadBalancerName=x"
                          "&Listeners.member.1.Protocol=HTTP&Listeners.member.1.InstancePort=80")
        self.assertRefused(answer, 400, "MissingParameter", "Listeners.member.1.LoadBalancerPort")

    def test_query_wrong_types_and_constraints_are_validation_errors(self):
        self.assertRefused(self.asg("SetDesiredCapacity&AutoScalingGroupName=g"
                                    "&DesiredCapacity=lots"), 400, "ValidationError",
                           "DesiredCapacity")
        self.assertRefused(self.asg("DescribeAutoScalingGroups&MaxRecords=0"), 400,
                           "ValidationError", "MaxRecords")
        long_name = "g" * 256
        self.assertRefused(self.asg("DeleteAutoScalingGroup&AutoScalingGroupName=" + long_name),
                           400, "ValidationError", "AutoScalingGroupName")
        self.assertRefused(self.asg("DeleteAutoScalingGroup&AutoScalingGroupName=g"
                                    "&ForceDelete=yes"), 400, "ValidationError", "ForceDelete")

    def test_query_load_balancer_attributes_follow_the_model(self):
        base = ("ModifyLoadBalancerAttributes&LoadBalancerName=x"
                "&LoadBalancerAttributes.ConnectionDraining.")
        self.assertRefused(self.elb(base + "Timeout=5"), 400, "MissingParameter",
                           "LoadBalancerAttributes.ConnectionDraining.Enabled")
        self.assertRefused(self.elb(base + "Enabled=yes"), 400, "ValidationError", "Enabled")
        self.assertRefused(self.elb(base + "Drain=1"), 400, "InvalidQueryParameter", "Drain")

    def test_query_pattern_constraint_is_checked(self):
        # LaunchTemplateName is [a-zA-Z0-9\(\)\.\-/_]+ in the model.
        answer = self.asg("CreateAutoScalingGroup&AutoScalingGroupName=g&MinSize=0&MaxSize=1"
                          "&LaunchTemplate.LaunchTemplateName=bad%20name")
        self.assertRefused(answer, 400, "ValidationError", "LaunchTemplateName")

    def test_query_empty_list_is_accepted(self):
        answer = self.elb("DescribeLoadBalancers&LoadBalancerNames=")
        self.assertEqual(answer[0], 200, answer)

    # -- Route 53 -----------------------------------------------------------------
    def test_route53_unknown_query_parameter_is_invalid_input(self):
        answer = self.raw("route53", method="GET", path="/2013-04-01/hostedzone",
                          query="colour=blue")
        self.assertRefused(answer, 400, "InvalidInput", "colour")

    def test_route53_ill_typed_query_parameter_is_invalid_input(self):
        answer = self.raw("route53", method="GET",
                          path="/2013-04-01/hostedzone/Z0123456789ABC/rrset", query="type=BOGUS")
        self.assertRefused(answer, 400, "InvalidInput", "type")

    def test_route53_body_is_checked_against_the_input_shape(self):
        ns = "https://route53.amazonaws.com/doc/2013-04-01/"
        body = ('<ChangeResourceRecordSetsRequest xmlns="%s"><ChangeBatch><Changes><Change>'
                '<Action>CREATE</Action><ResourceRecordSet><Name>a.example.org.</Name>'
                '<Type>A</Type><TTL>sixty</TTL><ResourceRecords><ResourceRecord><Value>1.2.3.4'
                '</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change>'
                '</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>' % ns)
        path = "/2013-04-01/hostedzone/Z0123456789ABC/rrset/"
        self.assertRefused(self.raw("route53", body, path=path), 400, "InvalidInput", "TTL")
        self.assertRefused(self.raw("route53", body.replace("<TTL>sixty</TTL>", "<Color>red"
                                                             "</Color>"), path=path),
                           400, "InvalidInput", "Color")
        good = body.replace("sixty", "60")
        self.assertRefused(self.raw("route53", good.replace("<Action>CREATE</Action>", ""),
                                    path=path), 400, "InvalidInput", "Action")
        self.assertRefused(self.raw("route53", "<not-xml", path=path), 400, "InvalidInput",
                           "XML")

    def test_route53_unknown_path_is_invalid_action(self):
        answer = self.raw("route53", method="GET", path="/2013-04-01/rockets")
        self.assertEqual(answer[1], "InvalidAction")

    def test_known_operation_not_emulated_is_unsupported(self):
        answer = self.ec2("DescribeVolumes")
        self.assertRefused(answer, 400, "UnsupportedOperation", "DescribeVolumes")


if __name__ == "__main__":
    unittest.main()
