"""Cloud auto-join of the stand-in consul (`retry_join = ["provider=aws ..."]`)
against the AWS emulator: the addresses go-discover's aws provider would
find, the credentials it would use, and the request it would make, checked
by the emulator against botocore's EC2 model and SigV4."""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "emulators", "aws", "tests"))
sys.path.insert(0, os.path.dirname(HERE))

from harness import AKID, IMAGE, SECRET, EmulatorCase  # noqa: E402
from standin import discover  # noqa: E402

ENV_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
            "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2",
            "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE")


class AwsAutoJoin(EmulatorCase):
    def setUp(self):
        super().setUp()
        self.saved = {k: os.environ.pop(k, None) for k in ENV_KEYS}
        # No shared file of the machine's user may answer for the test.
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent"
        os.environ["AWS_CONFIG_FILE"] = "/nonexistent"

    def tearDown(self):
        for k, v in self.saved.items():
            os.environ.pop(k, None)
            if v is not None:
                os.environ[k] = v
        super().tearDown()

    def launch(self, ec2, subnet, value, count=1):
        res = ec2.run_instances(ImageId=IMAGE, MinCount=count, MaxCount=count, SubnetId=subnet,
                                TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                    {"Key": "infra:consul-join", "Value": value}]}])
        return [i["InstanceId"] for i in res["Instances"]]

    def test_finds_the_running_instances_of_the_tag_by_private_address(self):
        ec2 = self.client("ec2")
        _, subnets, _ = self.network(ec2)
        servers = self.launch(ec2, subnets[0], "main-europe", 3)
        other = self.launch(ec2, subnets[1], "main-us")
        gone = self.launch(ec2, subnets[0], "main-europe")
        self.wait_state(ec2, servers + other + gone, "running")
        ec2.terminate_instances(InstanceIds=gone)
        described = ec2.describe_instances(InstanceIds=servers)["Reservations"][0]["Instances"]
        want = sorted(i["PrivateIpAddress"] for i in described)
        entry = ("provider=aws region=us-east-1 tag_key=infra:consul-join tag_value=main-europe "
                 "access_key_id=%s secret_access_key=%s endpoint=%s" % (AKID, SECRET.replace("+", "%2B"),
                                                                       self.endpoint))
        self.assertEqual(sorted(discover.addrs(entry)), want)
        calls = self.control("GET", "/_emulator/calls")
        self.assertGreaterEqual(calls["ec2"]["DescribeInstances"], 2)
        public = discover.addrs(entry + " addr_type=public_v4")
        self.assertEqual(sorted(public), sorted(i["PublicIpAddress"] for i in described))

    def test_credentials_region_and_endpoint_from_the_environment(self):
        ec2 = self.client("ec2")
        _, subnets, _ = self.network(ec2)
        ids = self.launch(ec2, subnets[0], "pool")
        self.wait_state(ec2, ids, "running")
        os.environ.update(AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET, AWS_REGION="us-east-1",
                          AWS_ENDPOINT_URL=self.endpoint)
        found = discover.addrs("provider=aws tag_key=infra:consul-join tag_value=pool")
        self.assertEqual(len(found), 1)
        # Another region holds none of them.
        self.assertEqual(discover.addrs("provider=aws region=eu-west-1 tag_key=infra:consul-join tag_value=pool"),
                         [])

    def test_refusals_say_what_go_discover_says(self):
        os.environ.update(AWS_ENDPOINT_URL=self.endpoint)
        with self.assertRaisesRegex(discover.DiscoverError, "no instance metadata service"):
            discover.addrs("provider=aws tag_key=k tag_value=v")
        with self.assertRaisesRegex(discover.DiscoverError, "DescribeInstancesInput failed: .*SignatureDoesNotMatch"):
            discover.addrs("provider=aws region=us-east-1 tag_key=k tag_value=v "
                           "access_key_id=%s secret_access_key=wrong" % AKID)
        with self.assertRaisesRegex(discover.DiscoverError, "unknown provider nope"):
            discover.addrs("provider=nope tag=x")
        with self.assertRaisesRegex(discover.DiscoverError, "no provider"):
            discover.addrs("region=us-east-1")
        self.assertEqual(discover.redacted("provider=aws secret_access_key=s3cr3t tag_key=k"),
                         "provider=aws secret_access_key=hidden tag_key=k")


class PoolConfiguration(unittest.TestCase):
    """The plugin's pool documents (tests/nomad/expected/pool-*.json, what
    test_nomad_pool checks the user data against) load in both agents:
    an auto-join entry, no servers, go-sockaddr addresses."""

    def load(self, module, doc, agent, args):
        import json
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            for name, key in (("agent.json", agent), ("secrets.json", agent + "_secrets")):
                with open(os.path.join(d, name), "w") as f:
                    json.dump(doc[key], f)
            raw = module.load(*args(d))
        return raw

    def test_plain_pool_documents_load_in_the_stand_ins(self):
        import json
        from standin import consul_conf, nomad_conf
        with open(os.path.join(ROOT, "nomad", "expected", "pool-europe-dc-asg.plain-secondary.json")) as f:
            doc = json.load(f)
        consul = consul_conf.ConsulConfig(self.load(consul_conf, doc, "consul", lambda d: ([], [d])))
        self.assertEqual(len(consul.retry_join), 1)
        self.assertTrue(consul.retry_join[0].startswith("provider=aws "))
        self.assertEqual(discover.parse(consul.retry_join[0])["tag_key"], "infra:join")
        nomad = nomad_conf.NomadConfig(self.load(nomad_conf, doc, "nomad", lambda d: ([d],)))
        self.assertEqual(nomad.client_servers, [])
        self.assertEqual(nomad.advertise["rpc"][1], 4647)


if __name__ == "__main__":
    unittest.main(verbosity=2)
