"""Cloud DNS change semantics; injected faults as googleapiclient sees them; the command line."""
import http.client
import json
import os
import time
import unittest
import uuid

import google_auth_httplib2
import httplib2
from googleapiclient.errors import HttpError

from harness import (PROJECT, PUBLIC_PEM, SA_EMAIL, EmulatorCase, key_info, start_process,
                     tempdir, wait_until)

ZONE_NAME = "example-org"


def a_record(name, *values, ttl=300):
    return {"name": name, "type": "A", "ttl": ttl, "rrdatas": list(values)}


class CloudDns(EmulatorCase):
    operation_seconds = 0.3

    def change(self, additions=(), deletions=(), **kw):
        return self.dns.changes().create(project=PROJECT, managedZone=ZONE_NAME, body={
            "additions": list(additions), "deletions": list(deletions)}, **kw).execute()

    def rrsets(self, **kw):
        got = self.dns.resourceRecordSets().list(project=PROJECT, managedZone=ZONE_NAME,
                                                 **kw).execute()
        return {(r["name"], r["type"]): r for r in got["rrsets"]}

    def test_zones_come_from_the_seed(self):
        zones = self.dns.managedZones().list(project=PROJECT).execute()["managedZones"]
        self.assertEqual([(z["name"], z["dnsName"]) for z in zones],
                         [(ZONE_NAME, "example.org.")])
        by_id = self.dns.managedZones().get(project=PROJECT, managedZone=zones[0]["id"]).execute()
        self.assertEqual(len(by_id["nameServers"]), 4)
        self.assertApiError(404, "notFound", self.dns.managedZones().get(
            project=PROJECT, managedZone="nope"),
            "The 'parameters.managedZone' resource named 'nope' does not exist.")
        self.assertEqual(sorted(self.rrsets()), [("example.org.", "NS"), ("example.org.", "SOA")])

    def test_a_change_is_pending_then_done(self):
        change = self.change([a_record("www.example.org.", "192.0.2.1")])
        self.assertEqual((change["status"], change["kind"]), ("pending", "dns#change"))
        self.assertIn(("www.example.org.", "A"), self.rrsets())
        wait_until(lambda: self.dns.changes().get(
            project=PROJECT, managedZone=ZONE_NAME, changeId=change["id"]).execute()[
            "status"] == "done", 5, what="done")
        self.assertApiError(404, "notFound", self.dns.changes().get(
            project=PROJECT, managedZone=ZONE_NAME, changeId="99"))
        listed = self.dns.changes().list(project=PROJECT, managedZone=ZONE_NAME).execute()
        self.assertEqual([c["id"] for c in listed["changes"]], ["0", change["id"]])

    def test_deletions_must_match_and_additions_must_be_new(self):
        www = a_record("www.example.org.", "192.0.2.1", "192.0.2.2")
        self.change([www])
        self.assertApiError(409, "alreadyExists", self.dns.changes().create(
            project=PROJECT, managedZone=ZONE_NAME, body={"additions": [www]}),
            "The resource 'entity.change.additions[0]' named 'www.example.org. (A)' already "
            "exists")
        self.assertApiError(404, "notFound", self.dns.changes().create(
            project=PROJECT, managedZone=ZONE_NAME, body={
                "deletions": [a_record("nope.example.org.", "192.0.2.9")]}),
            "The resource 'entity.change.deletions[0]' named 'nope.example.org. (A)' does not "
            "exist.")
        for stale in (a_record("www.example.org.", "192.0.2.1"),
                      a_record("www.example.org.", "192.0.2.1", "192.0.2.2", ttl=60)):
            self.assertApiError(412, "conditionNotMet", self.dns.changes().create(
                project=PROJECT, managedZone=ZONE_NAME, body={"deletions": [stale]}),
                "Precondition not met for 'entity.change.deletions[0]'")
        # Refused changes changed nothing; a delete-and-add replaces atomically.
        self.assertEqual(self.rrsets()[("www.example.org.", "A")]["rrdatas"],
                         ["192.0.2.1", "192.0.2.2"])
        self.change([a_record("www.example.org.", "192.0.2.3", ttl=60)],
                    [dict(www, rrdatas=["192.0.2.2", "192.0.2.1"])])
        self.assertEqual(self.rrsets()[("www.example.org.", "A")]["rrdatas"], ["192.0.2.3"])
        for bad, reason in ((a_record("www.example.com.", "192.0.2.1"), "invalid"),
                            (a_record("rel.example.org", "192.0.2.1"), "invalid"),
                            (a_record("x.example.org.", "300.0.0.1"), "invalid"),
                            ({"name": "x.example.org.", "type": "A", "ttl": 5}, "required"),
                            ({"name": "www.example.org.", "type": "CNAME", "ttl": 5,
                              "rrdatas": ["elsewhere.example.net."]},
                             "cnameResourceRecordSetConflict")):
            with self.subTest(bad=bad):
                self.assertApiError(400, reason, self.dns.changes().create(
                    project=PROJECT, managedZone=ZONE_NAME, body={"additions": [bad]}))

    def test_listing_filters_pages_and_the_soa_serial(self):
        serial = self.rrsets()[("example.org.", "SOA")]["rrdatas"][0].split()[2]
        for n in range(3):
            self.change([a_record("h%d.example.org." % n, "192.0.2.%d" % (n + 1))])
        self.assertEqual(self.rrsets()[("example.org.", "SOA")]["rrdatas"][0].split()[2],
                         str(int(serial) + 3))
        self.assertEqual(list(self.rrsets(name="h1.example.org.", type="A")),
                         [("h1.example.org.", "A")])
        self.assertApiError(400, "invalid", self.dns.resourceRecordSets().list(
            project=PROJECT, managedZone=ZONE_NAME, type="A"))
        request = self.dns.resourceRecordSets().list(project=PROJECT, managedZone=ZONE_NAME,
                                                     maxResults=2)
        pages = []
        while request is not None:
            got = request.execute()
            pages.append(len(got["rrsets"]))
            request = self.dns.resourceRecordSets().list_next(request, got)
        self.assertEqual(pages, [2, 2, 1])

    def test_a_client_operation_id_answers_the_first_change(self):
        first = self.change([a_record("once.example.org.", "192.0.2.1")],
                            clientOperationId="op-1")
        again = self.change([a_record("once.example.org.", "192.0.2.1")],
                            clientOperationId="op-1")
        self.assertEqual(first["id"], again["id"])


class Faults(EmulatorCase):
    def faults(self, kind, rate=1.0, **extra):
        spec = {"rate": rate, "kinds": [kind], "seed": 1}
        spec.update(extra)
        return self.control("POST", "/_emulator/faults", spec)

    def calls(self):
        return sum(self.control("GET", "/_emulator/calls").get("compute", {}).values())

    def quick(self, request):
        """A request whose retries (googleapiclient's own) do not sleep."""
        request._sleep = lambda seconds: None
        return request

    def test_every_error_kind_is_retried_by_googleapiclient(self):
        c = self.compute
        c.zones().list(project=PROJECT).execute()  # the token, before faults
        for kind, status, reason in (("ratelimit", 429, "rateLimitExceeded"),
                                     ("userratelimit", 403, "userRateLimitExceeded"),
                                     ("500", 500, "backendError"),
                                     ("503", 503, "backendError")):
            with self.subTest(kind=kind):
                self.faults(kind)
                before = self.calls()
                with self.assertRaises(HttpError) as ctx:
                    self.quick(c.zones().list(project=PROJECT)).execute(num_retries=2)
                err = json.loads(ctx.exception.content)["error"]
                self.assertEqual((ctx.exception.resp.status, err["errors"][0]["reason"]),
                                 (status, reason))
                self.assertEqual(self.calls() - before, 3)
        self.faults("500", rate=0)
        self.assertEqual(len(c.zones().list(project=PROJECT).execute()["items"]), 3)

    def test_latency_delays_but_answers(self):
        c = self.compute
        c.zones().list(project=PROJECT).execute()
        self.faults("latency", latency_ms=300)
        started = time.monotonic()
        self.assertEqual(len(c.zones().list(project=PROJECT).execute()["items"]), 3)
        self.assertGreaterEqual(time.monotonic() - started, 0.3)

    def test_dropped_connections_and_request_ids(self):
        c = self.compute
        c.zones().list(project=PROJECT).execute()
        ids = [str(uuid.uuid4()) for _ in range(8)]
        self.faults("drop")
        for n, rid in enumerate(ids):
            with self.assertRaises((OSError, http.client.HTTPException, httplib2.HttpLib2Error)):
                c.networks().insert(project=PROJECT, requestId=rid, body={
                    "name": "n%d" % n, "autoCreateSubnetworks": False}).execute()
        self.faults("drop", rate=0)
        made = {op["clientOperationId"] for op in c.globalOperations().list(
            project=PROJECT).execute().get("items", [])}
        # Seeded: some calls were cut before they ran, some after they took effect.
        self.assertTrue(0 < len(made) < 8, made)
        for n, rid in enumerate(ids):
            op = c.networks().insert(project=PROJECT, requestId=rid, body={
                "name": "n%d" % n, "autoCreateSubnetworks": False}).execute()
            self.assertEqual(op["clientOperationId"], rid)
        ops = c.globalOperations().list(project=PROJECT).execute()["items"]
        self.assertEqual(sorted(o["clientOperationId"] for o in ops), sorted(ids))

    def test_a_fault_seed_makes_faults_reproducible(self):
        c = self.compute
        c.zones().list(project=PROJECT).execute()

        def pattern():
            self.control("POST", "/_emulator/faults", {"rate": 0.5, "kinds": ["503"],
                                                       "seed": 42})
            out = []
            for _ in range(12):
                try:
                    c.zones().list(project=PROJECT).execute()
                    out.append("ok")
                except HttpError:
                    out.append("503")
            return out
        first = pattern()
        self.assertEqual(first, pattern())
        self.assertIn("ok", first)
        self.assertIn("503", first)


class CommandLine(unittest.TestCase):
    def test_command_line_serves_logs_and_keeps_secrets_out_of_the_log(self):
        from google.oauth2 import service_account
        from googleapiclient import discovery as gdiscovery
        from harness import document
        with tempdir() as tmp:
            pem = os.path.join(tmp, "sa.pem")
            with open(pem, "wb") as f:
                f.write(PUBLIC_PEM)
            seed = os.path.join(tmp, "seed.json")
            with open(seed, "w") as f:
                json.dump({"project": PROJECT}, f)
            log = os.path.join(tmp, "requests.log")
            proc, port = start_process([
                "--listen", "127.0.0.1:0", "--service-account", "%s=%s" % (SA_EMAIL, pem),
                "--authorized-user", "cid:csecret:rtoken", "--seed", seed, "--log", log,
                "--operation-seconds", "0.1", "--faults", "1.0", "--fault-kinds", "ratelimit",
                "--fault-seed", "3"], tmp)
            endpoint = "http://127.0.0.1:%d" % port
            try:
                creds = service_account.Credentials.from_service_account_info(
                    key_info(endpoint + "/token"),
                    scopes=["https://www.googleapis.com/auth/cloud-platform"])
                authed = google_auth_httplib2.AuthorizedHttp(creds,
                                                             http=httplib2.Http(timeout=10))
                c = gdiscovery.build_from_document(dict(document("compute"),
                                                        rootUrl=endpoint + "/"), http=authed)
                with self.assertRaises(HttpError) as ctx:
                    c.zones().list(project=PROJECT).execute()
                self.assertEqual(ctx.exception.resp.status, 429)
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("POST", "/_emulator/faults", body='{"rate": 0}')
                self.assertEqual(conn.getresponse().status, 200)
                conn.close()
                self.assertGreater(len(c.zones().list(project=PROJECT).execute()["items"]), 0)
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", "/compute/v1/projects/%s/zones" % PROJECT,
                             headers={"Authorization": "Bearer ya29.not-issued-here"})
                self.assertEqual(conn.getresponse().status, 401)
                conn.close()
            finally:
                proc.terminate()
                proc.wait(10)
            with open(log) as f:
                lines = f.read().splitlines()
            self.assertEqual(len(lines), 4, lines)
            self.assertIn(" oauth token 200 -", lines[0])
            self.assertIn(" compute compute.zones.list 429 rateLimitExceeded fault=ratelimit",
                          lines[1])
            self.assertIn(" compute compute.zones.list 200 -", lines[2])
            self.assertIn(" compute compute.zones.list 401 authError", lines[3])
            text = "\n".join(lines)
            self.assertNotIn(creds.token, text)
            self.assertNotIn("not-issued-here", text)
            self.assertNotIn("PRIVATE", text)


if __name__ == "__main__":
    unittest.main()
