"""Operations: PENDING -> RUNNING -> DONE, errors when DONE, requestId, polling many at once."""
import signal
import subprocess
import unittest
import urllib.error
import uuid

from harness import PROJECT, REGION, ZONE, EmulatorCase, wait_until

QUOTA = "Quota 'CPUS' exceeded. Limit: 24.0 in region europe-west1."


class Lifecycle(EmulatorCase):
    operation_seconds = 1.2  # RUNNING for 0.8 s: long enough to be seen on a loaded machine

    def test_lifecycle_and_the_change_is_visible_when_done(self):
        c = self.compute
        op = c.networks().insert(project=PROJECT, body={
            "name": "net1", "autoCreateSubnetworks": False}).execute()
        self.assertEqual((op["status"], op["operationType"], op["progress"]),
                         ("PENDING", "insert", 0))
        self.assertTrue(op["targetLink"].endswith("/projects/infra-test/global/networks/net1"))
        self.assertNotIn("zone", op)
        self.assertApiError(404, "notFound", c.networks().get(project=PROJECT, network="net1"),
                            "The resource 'projects/infra-test/global/networks/net1' was not "
                            "found")
        # the name is taken as soon as the insert is accepted
        self.assertApiError(409, "alreadyExists", c.networks().insert(project=PROJECT, body={
            "name": "net1", "autoCreateSubnetworks": False}),
            "The resource 'projects/infra-test/global/networks/net1' already exists")

        def status(wanted):
            got = c.globalOperations().get(project=PROJECT, operation=op["name"]).execute()
            self.assertIn(got["status"], ("PENDING", "RUNNING", "DONE"))
            return got if got["status"] == wanted else None
        running = wait_until(lambda: status("RUNNING"), 10, 0.02, "RUNNING")
        self.assertIn("startTime", running)
        self.assertApiError(404, "notFound", c.networks().get(project=PROJECT, network="net1"))
        done = wait_until(lambda: status("DONE"), 10, 0.02, "DONE")
        self.assertEqual(done["progress"], 100)
        self.assertIn("endTime", done)
        self.assertEqual(done["targetId"], c.networks().get(project=PROJECT,
                                                            network="net1").execute()["id"])


class Operations(EmulatorCase):
    operation_seconds = 0.3

    def test_operations_of_each_scope(self):
        c = self.compute
        self.done(c.networks().insert(project=PROJECT, body={"name": "n",
                                                             "autoCreateSubnetworks": False}))
        op = c.subnetworks().insert(project=PROJECT, region=REGION, body={
            "name": "s", "network": "global/networks/n", "ipCidrRange": "10.1.0.0/24"}).execute()
        self.assertTrue(op["region"].endswith("/regions/europe-west1"))
        self.assertIn("/regions/europe-west1/operations/", op["selfLink"])
        self.wait_op(op)
        op = c.instances().insert(project=PROJECT, zone=ZONE, body=self.instance_body(
            "vm", "regions/%s/subnetworks/s" % REGION)).execute()
        self.assertTrue(op["zone"].endswith("/zones/europe-west1-b"))
        self.wait_op(op)
        self.assertApiError(404, "notFound", c.zoneOperations().get(
            project=PROJECT, zone="europe-west1-c", operation=op["name"]))
        c.zoneOperations().delete(project=PROJECT, zone=ZONE, operation=op["name"]).execute()
        self.assertApiError(404, "notFound", c.zoneOperations().get(
            project=PROJECT, zone=ZONE, operation=op["name"]))
        scopes = c.globalOperations().aggregatedList(project=PROJECT).execute()["items"]
        self.assertEqual(len(scopes["global"]["operations"]), 1)
        self.assertEqual(len(scopes["regions/europe-west1"]["operations"]), 1)
        self.assertEqual(scopes["zones/europe-west1-b"]["warning"]["code"], "NO_RESULTS_ON_PAGE")

    def test_many_operations_polled_in_one_request_with_a_filter(self):
        c = self.compute
        names = []
        for n in range(3):
            op = c.networks().insert(project=PROJECT, body={
                "name": "n%d" % n, "autoCreateSubnetworks": False}).execute()
            names.append(op["name"])
        flt = " OR ".join('(name = "%s")' % n for n in names[:2])
        got = c.globalOperations().list(project=PROJECT, filter=flt).execute()
        self.assertEqual(sorted(o["name"] for o in got["items"]), sorted(names[:2]))
        wait_until(lambda: "items" not in c.globalOperations().list(
            project=PROJECT, filter="status != DONE").execute(), 10, what="all DONE")

    def test_an_injected_error_ends_the_operation_done_with_it(self):
        c = self.compute
        sub = self.network()
        self.control("POST", "/_emulator/operation-errors", {
            "method": "compute.instances.insert", "code": "QUOTA_EXCEEDED",
            "message": QUOTA, "http_status": 403, "target": "^vm-a$"})
        self.assertEqual(len(self.control("GET", "/_emulator/operation-errors")["pending"]), 1)
        op = self.wait_op(c.instances().insert(project=PROJECT, zone=ZONE, body=self.instance_body(
            "vm-a", sub)).execute())
        self.assertEqual(op["error"], {"errors": [{"code": "QUOTA_EXCEEDED", "message": QUOTA}]})
        self.assertEqual((op["httpErrorStatusCode"], op["httpErrorMessage"]),
                         (403, "FORBIDDEN"))
        self.assertApiError(404, "notFound", c.instances().get(project=PROJECT, zone=ZONE,
                                                                instance="vm-a"))
        # used up: the next one works
        self.done(c.instances().insert(project=PROJECT, zone=ZONE,
                                       body=self.instance_body("vm-a", sub)))

    def test_the_cpu_quota_of_a_region_is_real(self):
        c = self.compute
        sub = self.network()
        body = self.instance_body("big-1", sub)
        body["machineType"] = "zones/%s/machineTypes/n1-standard-8" % ZONE
        ops = []
        for n in range(4):  # 8 CPUs each against 24
            body["name"] = "big-%d" % n
            ops.append(c.instances().insert(project=PROJECT, zone=ZONE, body=body).execute())
        results = [self.wait_op(op) for op in ops]
        self.assertEqual([("error" in r) for r in results], [False, False, False, True])
        self.assertEqual(results[3]["error"]["errors"][0],
                         {"code": "QUOTA_EXCEEDED", "message": QUOTA})
        region = c.regions().get(project=PROJECT, region=REGION).execute()
        self.assertEqual(region["quotas"], [{"metric": "CPUS", "limit": 24.0, "usage": 24.0}])

    def test_request_id_makes_a_retry_answer_the_first_operation(self):
        c = self.compute
        rid = str(uuid.uuid4())
        body = {"name": "n1", "autoCreateSubnetworks": False}
        first = c.networks().insert(project=PROJECT, body=body, requestId=rid).execute()
        again = c.networks().insert(project=PROJECT, body=body, requestId=rid).execute()
        self.assertEqual(again["name"], first["name"])
        self.assertEqual(first["clientOperationId"], rid)
        self.wait_op(first)
        late = c.networks().insert(project=PROJECT, body=body, requestId=rid).execute()
        self.assertEqual((late["name"], late["status"]), (first["name"], "DONE"))
        self.assertEqual(len(c.networks().list(project=PROJECT).execute()["items"]), 1)
        self.assertEqual(len(c.globalOperations().list(project=PROJECT).execute()["items"]), 1)
        # a new id is a new request: the name is taken now
        self.assertApiError(409, "alreadyExists", c.networks().insert(
            project=PROJECT, body=body, requestId=str(uuid.uuid4())))
        self.assertApiError(400, "invalid", c.networks().insert(
            project=PROJECT, body=body, requestId="00000000-0000-0000-0000-000000000000"))

    def test_deleting_what_is_still_used_ends_done_with_the_users_named(self):
        c = self.compute
        self.network()
        op = self.wait_op(c.networks().delete(project=PROJECT, network="net1").execute())
        self.assertEqual(op["error"]["errors"][0]["code"], "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE")
        self.assertEqual(op["error"]["errors"][0]["message"],
                         "The network resource 'projects/infra-test/global/networks/net1' is "
                         "already being used by 'projects/infra-test/regions/europe-west1/"
                         "subnetworks/net1-sub'")
        c.networks().get(project=PROJECT, network="net1").execute()
        self.done(c.subnetworks().delete(project=PROJECT, region=REGION, subnetwork="net1-sub"))
        self.done(c.networks().delete(project=PROJECT, network="net1"))


class CrashPoints(EmulatorCase):
    operation_seconds = 0.1

    def victim(self):
        proc = subprocess.Popen(["sleep", "60"])
        self.addCleanup(lambda: (proc.kill(), proc.wait()))
        return proc

    def test_the_nth_mutating_call_kills_the_client_before_or_after_it_acts(self):
        body = {"name": "net1", "autoCreateSubnetworks": False}
        for when, made in (("before", False), ("after", True)):
            self.control("POST", "/_emulator/reset")
            proc = self.victim()
            armed = self.control("POST", "/_emulator/crash-point",
                                 {"pid": proc.pid, "at": 2, "when": when})
            self.assertEqual((armed["seen"], armed["fired"]), (0, None))
            # Reads do not count; the first mutation does not fire.
            self.compute.networks().list(project=PROJECT).execute()
            self.done(self.compute.networks().insert(project=PROJECT, body={
                "name": "net0", "autoCreateSubnetworks": False}))
            self.assertIsNone(proc.poll())
            # By hand: Google's client would repeat a call whose connection dropped.
            with self.assertRaises(Exception):
                self.raw("POST", "/compute/v1/projects/%s/global/networks" % PROJECT, body)
            self.assertEqual(proc.wait(timeout=10), -signal.SIGKILL)
            state = self.control("GET", "/_emulator/crash-point")
            self.assertEqual((state["seen"], state["fired"]), (2, "compute.networks.insert"))
            names = [n["name"] for n in self.compute.networks().list(project=PROJECT).execute()
                     .get("items", [])]
            if made:
                # The insert was accepted: its operation finishes without the client.
                wait_until(lambda: "net1" in [n["name"] for n in self.compute.networks().list(
                    project=PROJECT).execute().get("items", [])], 10, 0.05, "net1")
            else:
                self.assertEqual(names, ["net0"])
            # A crash point fires once.
            self.done(self.compute.networks().insert(project=PROJECT, body={
                "name": "net2", "autoCreateSubnetworks": False}))

    def test_a_crash_point_wants_a_pid_and_a_count(self):
        for spec in ({"pid": 0, "at": 1}, {"pid": 123, "at": 0},
                     {"pid": 123, "at": 1, "when": "during"}):
            with self.assertRaises(urllib.error.HTTPError) as ctx:
                self.control("POST", "/_emulator/crash-point", spec)
            self.assertEqual(ctx.exception.code, 400)


if __name__ == "__main__":
    unittest.main()
