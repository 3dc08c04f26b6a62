#!/usr/bin/python3
"""Writes data/query-encodings.json: Query request bodies (and one Route 53
body) serialized by botocore's own serializer from Debian's service models,
for the inputs the unit tests encode with the plugin's encoders.

    tests/aws/query_fixtures.py            # rewrite the file
    tests/aws/query_fixtures.py --check    # exit 1 when the file is stale
"""
import json
import os
import sys
import urllib.parse

import botocore.session
from botocore import serialize

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data", "query-encodings.json")

TAGS = [{"Key": "infra:topology", "Value": "web"}, {"Key": "Name", "Value": "main net"}]

CASES = [
    ("ec2", "CreateVpc", "create_vpc",
     {"CidrBlock": "10.0.0.0/16",
      "TagSpecifications": [{"ResourceType": "vpc", "Tags": TAGS}]}),
    ("ec2", "AuthorizeSecurityGroupIngress", "authorize_rules",
     {"GroupId": "sg-0123",
      "IpPermissions": [
          {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
          {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
           "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
          {"IpProtocol": "tcp", "FromPort": 8300, "ToPort": 8302,
           "UserIdGroupPairs": [{"GroupId": "sg-0456"}]},
          {"IpProtocol": "udp", "FromPort": 8301, "ToPort": 8302,
           "IpRanges": [{"CidrIp": "192.168.1.7/32"}]},
      ]}),
    ("ec2", "DescribeInstances", "describe_filters",
     {"Filters": [{"Name": "tag:infra:token", "Values": ["0a1b"]},
                  {"Name": "instance-state-name", "Values": ["pending", "running"]}]}),
    ("ec2", "DescribeImages", "describe_images",
     {"Owners": ["self", "123456789012"],
      "Filters": [{"Name": "name", "Values": ["nomad-host-*"]},
                  {"Name": "state", "Values": ["available"]}]}),
    ("ec2", "CreateTags", "create_tags",
     {"Resources": ["i-0abc"], "Tags": TAGS}),
    ("ec2", "ModifySubnetAttribute", "subnet_public",
     {"SubnetId": "subnet-1", "MapPublicIpOnLaunch": {"Value": True}}),
    ("ec2", "ImportKeyPair", "import_key",
     {"KeyName": "deploy", "PublicKeyMaterial": b"ssh-ed25519 AAAAC3Nza test@host"}),
    ("elb", "CreateLoadBalancer", "create_elb",
     {"LoadBalancerName": "web-1a2b",
      "Listeners": [{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstanceProtocol": "HTTP",
                     "InstancePort": 8080},
                    {"Protocol": "TCP", "LoadBalancerPort": 4646, "InstanceProtocol": "TCP",
                     "InstancePort": 4646}],
      "Subnets": ["subnet-1", "subnet-2"], "SecurityGroups": ["sg-0123"],
      "Tags": TAGS}),
    ("elb", "ConfigureHealthCheck", "health_check",
     {"LoadBalancerName": "web-1a2b",
      "HealthCheck": {"Target": "HTTP:8080/health", "Interval": 10, "Timeout": 5,
                      "UnhealthyThreshold": 2, "HealthyThreshold": 2}}),
    ("elb", "RegisterInstancesWithLoadBalancer", "register",
     {"LoadBalancerName": "web-1a2b", "Instances": [{"InstanceId": "i-1"}, {"InstanceId": "i-2"}]}),
    ("autoscaling", "CreateAutoScalingGroup", "create_asg",
     {"AutoScalingGroupName": "web-g1",
      "LaunchTemplate": {"LaunchTemplateId": "lt-0abc", "Version": "3"},
      "MinSize": 2, "MaxSize": 4, "DesiredCapacity": 2,
      "LoadBalancerNames": ["web-1a2b"], "HealthCheckType": "ELB",
      "HealthCheckGracePeriod": 60, "VPCZoneIdentifier": "subnet-1,subnet-2",
      "Tags": [{"ResourceId": "web-g1", "ResourceType": "auto-scaling-group",
                "Key": "infra:token", "Value": "0a1b", "PropagateAtLaunch": True}]}),
]

R53 = ("route53", "ChangeResourceRecordSets", "r53_upsert",
       {"HostedZoneId": "Z0123456789ABC",
        "ChangeBatch": {"Comment": "infra: dns_record.www", "Changes": [
            {"Action": "UPSERT",
             "ResourceRecordSet": {"Name": "*.app.example.org.", "Type": "A", "TTL": 60,
                                   "ResourceRecords": [{"Value": "10.0.0.5"},
                                                       {"Value": "10.0.0.6"}]}}]}})


def main():
    session = botocore.session.get_session()
    out = {"source": "botocore %s serializers over Debian's service models"
                     % botocore.__version__,
           "cases": {}}
    for service, op, name, params in CASES:
        model = session.get_service_model(service)
        ser = serialize.create_serializer(model.metadata["protocol"])
        req = ser.serialize_to_request(params, model.operation_model(op))
        body = req["body"]
        if isinstance(body, dict):
            pairs = sorted((k, str(v)) for k, v in body.items())
        else:
            if isinstance(body, bytes):
                body = body.decode()
            pairs = sorted(urllib.parse.parse_qsl(body, keep_blank_values=True))
        out["cases"][name] = {"service": service, "operation": op,
                              "params": [list(p) for p in pairs]}
    service, op, name, params = R53
    model = session.get_service_model(service)
    ser = serialize.create_serializer(model.metadata["protocol"])
    req = ser.serialize_to_request(params, model.operation_model(op))
    out["cases"][name] = {"service": service, "operation": op, "method": req["method"],
                          "path": req["url_path"], "body": req["body"].decode()}
    text = json.dumps(out, indent=1, sort_keys=True) + "\n"
    if "--check" in sys.argv:
        with open(OUT) as f:
            if f.read() != text:
                print("query-encodings.json differs from what botocore serializes now",
                      file=sys.stderr)
                sys.exit(1)
        return
    with open(OUT, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
