"""Route 53 change lifecycle; injected faults; the command line and its log."""
import http.client
import json
import os
import time
import unittest
import urllib.error

import botocore.exceptions

from harness import AKID, IMAGE, SECRET, EmulatorCase, start_process, tempdir, wait_until

ZONE = "Z0123456789ABC"


def a_record(name, value, ttl=60):
    return {"Name": name, "Type": "A", "TTL": ttl, "ResourceRecords": [{"Value": value}]}


class Route53(EmulatorCase):
    def setUp(self):
        super().setUp()
        self.r53 = self.client("route53")

    def change(self, action, rrset, comment=None):
        batch = {"Changes": [{"Action": action, "ResourceRecordSet": rrset}]}
        if comment:
            batch["Comment"] = comment
        return self.r53.change_resource_record_sets(HostedZoneId=ZONE, ChangeBatch=batch)

    def records(self):
        return {(r["Name"], r["Type"]): r for r in self.r53.list_resource_record_sets(
            HostedZoneId=ZONE)["ResourceRecordSets"]}

    def test_zones_come_from_the_seed(self):
        zones = self.r53.list_hosted_zones()["HostedZones"]
        self.assertEqual([(z["Id"], z["Name"]) for z in zones],
                         [("/hostedzone/" + ZONE, "example.org.")])
        by_name = self.r53.list_hosted_zones_by_name(DNSName="example.org", MaxItems="1")
        self.assertEqual(by_name["HostedZones"][0]["Id"], "/hostedzone/" + ZONE)
        got = self.r53.get_hosted_zone(Id=ZONE)
        self.assertEqual(len(got["DelegationSet"]["NameServers"]), 4)
        self.assertError("NoSuchHostedZone", self.r53.get_hosted_zone, Id="ZNOSUCHZONE")

    def test_change_goes_pending_then_insync(self):
        info = self.change("CREATE", a_record("www.example.org", "192.0.2.1"), "first")[
            "ChangeInfo"]
        self.assertEqual(info["Status"], "PENDING")
        self.assertEqual(info["Comment"], "first")
        wait_until(lambda: self.r53.get_change(Id=info["Id"])["ChangeInfo"]["Status"]
                   == "INSYNC", what="INSYNC")
        waiter = self.r53.get_waiter("resource_record_sets_changed")
        waiter.wait(Id=info["Id"], WaiterConfig={"Delay": 1, "MaxAttempts": 3})
        self.assertError("NoSuchChange", self.r53.get_change, Id="CNOSUCHCHANGE")

    def test_create_delete_upsert_and_aws_messages(self):
        self.change("CREATE", a_record("www.example.org.", "192.0.2.1"))
        err = self.assertError("InvalidChangeBatch", self.change, "CREATE",
                               a_record("www.example.org.", "192.0.2.1"))
        self.assertEqual(err["Error"]["Message"], "[Tried to create resource record set "
                         "[name='www.example.org.', type='A'] but it already exists]")
        err = self.assertError("InvalidChangeBatch", self.change, "DELETE",
                               a_record("www.example.org.", "192.0.2.9"))
        self.assertIn("but the values provided do not match the current values",
                      err["Error"]["Message"])
        err = self.assertError("InvalidChangeBatch", self.change, "DELETE",
                               a_record("nope.example.org.", "192.0.2.9"))
        self.assertEqual(err["Error"]["Message"], "[Tried to delete resource record set "
                         "[name='nope.example.org.', type='A'] but it was not found]")
        self.change("UPSERT", a_record("www.example.org.", "192.0.2.2", ttl=30))
        rec = self.records()[("www.example.org.", "A")]
        self.assertEqual((rec["TTL"], rec["ResourceRecords"]), (30, [{"Value": "192.0.2.2"}]))
        self.change("DELETE", a_record("www.example.org.", "192.0.2.2", ttl=30))
        self.assertNotIn(("www.example.org.", "A"), self.records())
        self.assertError("InvalidChangeBatch", self.change, "CREATE",
                         a_record("www.example.com.", "192.0.2.1"))
        self.assertError("InvalidInput", self.change, "CREATE",
                         {"Name": "x.example.org.", "Type": "A", "TTL": 60})

    def test_wildcards_are_stored_escaped_and_aliases_point_at_load_balancers(self):
        alias = {"Name": "*.app.example.org", "Type": "A", "AliasTarget": {
            "HostedZoneId": "Z35SXDOTRQ7X7K", "DNSName": "web-1234567890.us-east-1.elb."
            "amazonaws.com", "EvaluateTargetHealth": False}}
        self.change("CREATE", alias)
        rec = self.records()[("\\052.app.example.org.", "A")]
        self.assertEqual(rec["AliasTarget"]["DNSName"],
                         "web-1234567890.us-east-1.elb.amazonaws.com.")
        self.assertError("InvalidChangeBatch", self.change, "CREATE", alias)
        listed = self.r53.list_resource_record_sets(HostedZoneId=ZONE,
                                                    StartRecordName="*.app.example.org",
                                                    StartRecordType="A", MaxItems="1")
        self.assertEqual(listed["ResourceRecordSets"][0]["Name"], "\\052.app.example.org.")

    def test_record_listing_paginates(self):
        for n in range(5):
            self.change("CREATE", a_record("h%d.example.org." % n, "192.0.2.%d" % (n + 1)))
        paginator = self.r53.get_paginator("list_resource_record_sets")
        pages = list(paginator.paginate(HostedZoneId=ZONE, PaginationConfig={"PageSize": 2}))
        names = [r["Name"] for p in pages for r in p["ResourceRecordSets"]]
        self.assertEqual(len(pages), 4)
        self.assertEqual(len(names), 7)  # five A records, the apex NS and SOA
        self.assertEqual(len(set(names)), 6)


class Faults(EmulatorCase):
    def faults(self, kind, rate=1.0, **extra):
        spec = {"rate": rate, "kinds": [kind], "seed": 1}
        spec.update(extra)
        return self.control("POST", "/_emulator/faults", spec)

    def test_throttling_is_seen_as_throttling_by_botocore_retries(self):
        self.faults("throttle")
        for service, call, code in (
                ("ec2", lambda c: c.describe_vpcs(), "RequestLimitExceeded"),
                ("elb", lambda c: c.describe_load_balancers(), "Throttling"),
                ("autoscaling", lambda c: c.describe_auto_scaling_groups(), "Throttling"),
                ("route53", lambda c: c.list_hosted_zones(), "Throttling")):
            with self.subTest(service=service):
                before = sum(self.control("GET", "/_emulator/calls").get(
                    {"elb": "elasticloadbalancing"}.get(service, service), {}).values())
                client = self.client(service, retries=1)
                with self.assertRaises(botocore.exceptions.ClientError) as ctx:
                    call(client)
                err = ctx.exception.response
                self.assertEqual(err["Error"]["Code"], code)
                self.assertEqual(err["ResponseMetadata"]["RetryAttempts"], 1)
                after = sum(self.control("GET", "/_emulator/calls")[
                    {"elb": "elasticloadbalancing"}.get(service, service)].values())
                self.assertEqual(after - before, 2)
        self.faults("throttle", rate=0)
        self.assertEqual(self.client("ec2").describe_vpcs()["Vpcs"], [])

    def test_faults_limited_to_actions(self):
        described = self.faults("throttle", actions=["DescribeSubnets"])
        self.assertEqual(described["actions"], ["DescribeSubnets"])
        ec2 = self.client("ec2")
        self.assertEqual(ec2.describe_vpcs()["Vpcs"], [])
        self.assertError("RequestLimitExceeded", ec2.describe_subnets)
        with self.assertRaises(urllib.error.HTTPError) as ctx:
            self.faults("throttle", actions="DescribeSubnets")
        self.assertEqual(ctx.exception.code, 400)
        self.assertIsNone(self.faults("throttle", rate=0)["actions"])
        self.assertEqual(ec2.describe_subnets()["Subnets"], [])

    def test_internal_errors_are_500(self):
        self.faults("500")
        err = self.assertError("InternalError", self.client("ec2").describe_vpcs)
        self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], 500)
        self.assertError("InternalFailure", self.client("autoscaling").describe_tags)

    def test_latency_delays_but_answers(self):
        self.faults("latency", latency_ms=300)
        started = time.monotonic()
        self.assertEqual(self.client("ec2").describe_vpcs()["Vpcs"], [])
        self.assertGreaterEqual(time.monotonic() - started, 0.3)

    def test_dropped_connections_before_and_after_the_operation(self):
        ec2 = self.client("ec2")
        vpc, subnets, _ = self.network(ec2)
        self.faults("drop")
        outcomes = []
        for n in range(8):
            with self.assertRaises((botocore.exceptions.HTTPClientError,
                                    botocore.exceptions.ConnectionError)):
                ec2.run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1, SubnetId=subnets[0],
                                  ClientToken="drop-%d" % n)
            outcomes.append(n)
        self.faults("drop", rate=0)
        made = {i["ClientToken"] for r in ec2.describe_instances()["Reservations"]
                for i in r["Instances"]}
        # Seeded: some requests were cut before running, some after taking effect.
        self.assertTrue(0 < len(made) < 8, made)
        for n in outcomes:
            again = ec2.run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1,
                                      SubnetId=subnets[0], ClientToken="drop-%d" % n)
            self.assertEqual(again["Instances"][0]["ClientToken"], "drop-%d" % n)
        tokens = [i["ClientToken"] for r in ec2.describe_instances()["Reservations"]
                  for i in r["Instances"]]
        self.assertEqual(sorted(tokens), sorted("drop-%d" % n for n in outcomes))

    def test_fault_seed_makes_faults_reproducible(self):
        def pattern():
            self.control("POST", "/_emulator/faults", {"rate": 0.5, "kinds": ["500"],
                                                       "seed": 42})
            ec2 = self.client("ec2")
            out = []
            for _ in range(12):
                try:
                    ec2.describe_vpcs()
                    out.append("ok")
                except botocore.exceptions.ClientError:
                    out.append("500")
            return out
        first = pattern()
        self.assertEqual(first, pattern())
        self.assertIn("ok", first)
        self.assertIn("500", first)


class CommandLine(unittest.TestCase):
    def test_command_line_serves_logs_and_keeps_secrets_out_of_the_log(self):
        with tempdir() as tmp:
            seed = os.path.join(tmp, "seed.json")
            with open(seed, "w") as f:
                json.dump({"hosted_zones": [{"Id": ZONE, "Name": "example.org."}]}, f)
            log = os.path.join(tmp, "requests.log")
            proc, port = start_process(["--listen", "127.0.0.1:0",
                                        "--credentials", "%s:%s" % (AKID, SECRET),
                                        "--seed", seed, "--log", log,
                                        "--faults", "1.0", "--fault-kinds", "throttle",
                                        "--fault-seed", "3"], tmp)
            try:
                import botocore.session
                client = botocore.session.get_session().create_client(
                    "route53", region_name="us-east-1", endpoint_url="http://127.0.0.1:%d" % port,
                    aws_access_key_id=AKID, aws_secret_access_key=SECRET,
                    config=botocore.config.Config(retries={"total_max_attempts": 1}))
                with self.assertRaises(botocore.exceptions.ClientError) as ctx:
                    client.list_hosted_zones()
                self.assertEqual(ctx.exception.response["Error"]["Code"], "Throttling")
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("POST", "/_emulator/faults", body='{"rate": 0}')
                self.assertEqual(conn.getresponse().status, 200)
                conn.close()
                self.assertEqual(len(client.list_hosted_zones()["HostedZones"]), 1)
                bad = botocore.session.get_session().create_client(
                    "route53", region_name="us-east-1", endpoint_url="http://127.0.0.1:%d" % port,
                    aws_access_key_id=AKID, aws_secret_access_key="wrong-secret",
                    config=botocore.config.Config(retries={"total_max_attempts": 1}))
                with self.assertRaises(botocore.exceptions.ClientError):
                    bad.list_hosted_zones()
            finally:
                proc.terminate()
                proc.wait(10)
            with open(log) as f:
                lines = f.read().splitlines()
            self.assertEqual(len(lines), 3, lines)
            self.assertIn("route53 ListHostedZones 400 Throttling fault=throttle", lines[0])
            self.assertIn("route53 ListHostedZones 200 -", lines[1])
            self.assertIn("403 SignatureDoesNotMatch", lines[2])
            text = "\n".join(lines)
            self.assertNotIn(SECRET, text)
            self.assertNotIn("wrong-secret", text)
            self.assertNotIn("Signature=", text)


if __name__ == "__main__":
    unittest.main()
