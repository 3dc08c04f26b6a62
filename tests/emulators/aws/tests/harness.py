"""Shared test helpers: an emulator per test class, botocore clients, polling."""
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
import warnings

import botocore.parsers
import botocore.session
from botocore.config import Config as BotoConfig
from urllib3._collections import HTTPHeaderDict

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR_DIR = os.path.dirname(HERE)
sys.path.insert(0, EMULATOR_DIR)

from awsemu.app import build  # noqa: E402

AKID = "AKIDEMULATORTEST"
SECRET = "emulator/test+secret"
IMAGE = "ami-0123456789abcdef0"
ACCOUNT = "123456789012"
SEED = {
    "account_id": ACCOUNT,
    "availability_zones": {"us-east-1": ["us-east-1a", "us-east-1b"],
                           "eu-west-1": ["eu-west-1a"]},
    "images": [
        {"ImageId": IMAGE, "Name": "nomad-host-2026-11-01",
         "CreationDate": "2026-11-01T10:00:00.000Z", "OwnerId": ACCOUNT,
         "Architecture": "x86_64", "State": "available", "Region": "us-east-1"},
        {"ImageId": "ami-0123456789abcdef1", "Name": "nomad-host-2026-10-01",
         "CreationDate": "2026-10-01T10:00:00.000Z", "OwnerId": ACCOUNT,
         "Architecture": "x86_64", "State": "available", "Region": "us-east-1"},
        {"ImageId": "ami-0aaaaaaaaaaaaaaa2", "Name": "nomad-host-arm-2026-11-02",
         "CreationDate": "2026-11-02T10:00:00.000Z", "OwnerId": ACCOUNT,
         "Architecture": "arm64", "State": "available", "Region": "us-east-1"},
        {"ImageId": "ami-0bbbbbbbbbbbbbbb3", "Name": "ubuntu-22.04",
         "CreationDate": "2026-09-01T10:00:00.000Z", "OwnerId": "099720109477",
         "Architecture": "x86_64", "State": "available", "Region": "us-east-1"},
    ],
    "hosted_zones": [{"Id": "Z0123456789ABC", "Name": "example.org."}],
}


BOTO_NAMES = {"ec2": "ec2", "elasticloadbalancing": "elb", "autoscaling": "autoscaling",
              "route53": "route53", "s3": "s3"}
_SESSION = botocore.session.get_session()


def normalized(value):
    """A response value with the differences a parse round trip may make smoothed out."""
    if isinstance(value, dict):
        return {k: normalized(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [normalized(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.replace(microsecond=value.microsecond // 1000 * 1000).timestamp()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")  # a raw payload, as the parser hands it over
    return value


def parse_back(service, action, response):
    """What botocore's own parser makes of one emulator response."""
    model = _SESSION.get_service_model(BOTO_NAMES[service])
    op = model.operation_model(action)
    status, headers, body = response
    parser = botocore.parsers.create_parser(model.metadata["protocol"])
    parsed = parser.parse({"body": body, "headers": HTTPHeaderDict(headers),
                           "status_code": status}, op.output_shape)
    parsed.pop("ResponseMetadata", None)
    return parsed


def wait_until(predicate, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


class EmulatorCase(unittest.TestCase):
    """Starts one in-process emulator for the class; resets it before each test."""

    pending_seconds = 0.2
    time_scale = 0.01
    retention_seconds = None
    loopback_addresses = True
    hosts = []
    credentials = {AKID: (SECRET, None)}
    instance_address = None  # --instance-endpoint

    @classmethod
    def setUpClass(cls):
        cls.server = build(cls.credentials, SEED, cls.hosts, ("127.0.0.1", 0),
                           pending_seconds=cls.pending_seconds, time_scale=cls.time_scale,
                           loopback_addresses=cls.loopback_addresses,
                           instance_address=cls.instance_address,
                           retention_seconds=cls.retention_seconds)
        cls.port = cls.server.server_address[1]
        cls.endpoint = "http://127.0.0.1:%d" % cls.port
        cls.gateway = cls.server.gateway
        cls.responses = []
        cls.gateway.observer = lambda *a: cls.responses.append(a)
        import threading
        threading.Thread(target=cls.server.serve_forever, kwargs={"poll_interval": 0.1},
                         daemon=True).start()
        if cls.server.instance_server is not None:
            threading.Thread(target=cls.server.instance_server.serve_forever,
                             kwargs={"poll_interval": 0.1}, daemon=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()
        if cls.server.instance_server is not None:
            cls.server.instance_server.shutdown()
            cls.server.instance_server.server_close()
        cls.gateway.emulator.stop()

    def setUp(self):
        warnings.simplefilter("ignore", ResourceWarning)
        self.control("POST", "/_emulator/reset")
        self.control("POST", "/_emulator/faults", {"rate": 0})
        del self.responses[:]

    def tearDown(self):
        # Self-check: every answer this test caused parses back, through botocore's own
        # parser, into exactly what the handler meant to say.
        seen = list(self.responses)
        del self.responses[:]
        for service, action, result, response in seen:
            expected = normalized(result)
            got = normalized(parse_back(service, action, response))
            if got != expected:
                self.fail("%s %s does not parse back:\n got %r\nwant %r\nbody %s" % (
                    service, action, got, expected, response[2][:2000]))

    def control(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.endpoint + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def client(self, service, region="us-east-1", retries=0, key=AKID, secret=SECRET,
               token=None, mode="standard"):
        session = botocore.session.get_session()
        config = BotoConfig(retries={"total_max_attempts": retries + 1, "mode": mode},
                            connect_timeout=5, read_timeout=10)
        return session.create_client(service, region_name=region, endpoint_url=self.endpoint,
                                     aws_access_key_id=key, aws_secret_access_key=secret,
                                     aws_session_token=token, config=config)

    def assertError(self, code, fn, *args, **kwargs):
        with self.assertRaises(botocore.exceptions.ClientError) as ctx:
            fn(*args, **kwargs)
        self.assertEqual(ctx.exception.response["Error"]["Code"], code,
                         ctx.exception.response["Error"].get("Message"))
        return ctx.exception.response

    # -- scaffolding used by several suites ------------------------------------
    def network(self, ec2, cidr="10.0.0.0/16", public=True):
        vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
        base = cidr.split(".")
        subnets = []
        for i, zone in enumerate(("us-east-1a", "us-east-1b")):
            s = ec2.create_subnet(VpcId=vpc, CidrBlock="%s.%s.%d.0/24" % (base[0], base[1], i),
                                  AvailabilityZone=zone)["Subnet"]["SubnetId"]
            if public:
                ec2.modify_subnet_attribute(SubnetId=s, MapPublicIpOnLaunch={"Value": True})
            subnets.append(s)
        igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        return vpc, subnets, igw

    def wait_state(self, ec2, instance_ids, state, timeout=10):
        def ok():
            res = ec2.describe_instances(InstanceIds=list(instance_ids))
            states = [i["State"]["Name"] for r in res["Reservations"] for i in r["Instances"]]
            return len(states) == len(instance_ids) and all(s == state for s in states)
        wait_until(ok, timeout, what="instances %s" % state)


def start_process(args, directory):
    """The emulator as a separate process, through its command line; returns (proc, port)."""
    port_file = os.path.join(directory, "port")
    proc = subprocess.Popen([sys.executable, os.path.join(EMULATOR_DIR, "emulator.py"),
                             "--port-file", port_file] + args,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: os.path.exists(port_file) or proc.poll() is not None, 20,
                   what="the port file")
    except AssertionError:
        proc.kill()
        raise
    if proc.poll() is not None:
        raise AssertionError("emulator exited: %s" % proc.stdout.read().decode())
    with open(port_file) as f:
        return proc, int(f.read())


def utc(text):
    return datetime.datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(
        tzinfo=datetime.timezone.utc)


def tempdir():
    return tempfile.TemporaryDirectory(prefix="awsemu-test-")
