"""Managed instance groups and target pools: sizes kept, members in pools, health probed for real."""
import http.server
import re
import threading
import unittest

from harness import PROJECT, REGION, ZONE, EmulatorCase, wait_until

HC_RANGES = ["35.191.0.0/16", "209.85.152.0/22", "209.85.204.0/22"]


class Backend:
    """An HTTP server on one instance's (loopback) address: /health answers 200 until told not to."""

    def __init__(self, address, port):
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                backend.hits += 1
                ok = self.path == "/health" and backend.healthy
                self.send_response(200 if ok else 503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.hits = 0
        self.healthy = True
        self.server = http.server.ThreadingHTTPServer((address, port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                         daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def backends(addresses):
    """Servers on every address at one port (the first address picks it)."""
    for _ in range(20):
        first = Backend(addresses[0], 0)
        port = first.server.server_address[1]
        out = [first]
        try:
            for address in addresses[1:]:
                out.append(Backend(address, port))
            return port, out
        except OSError:
            for b in out:
                b.close()
    raise AssertionError("no port free on all of %s" % addresses)


class Groups(EmulatorCase):
    operation_seconds = 0.2

    def setUp(self):
        super().setUp()
        self.sub = self.network()
        self.servers = []
        self.addCleanup(lambda: [s.close() for s in self.servers])

    def template(self, name, machine="e2-small", labels=None):
        self.done(self.compute.instanceTemplates().insert(project=PROJECT, body={
            "name": name, "properties": {
                "machineType": machine, "labels": labels or {"tpl": name},
                "tags": {"items": ["web"]},
                "disks": [{"boot": True, "autoDelete": True, "initializeParams": {
                    "sourceImage": "projects/debian-cloud/global/images/family/debian-12"}}],
                "networkInterfaces": [{"subnetwork": self.sub}]}}))

    def group(self, size, pools=(), template="t1", name="g1"):
        body = {"name": name, "baseInstanceName": "node", "targetSize": size,
                "instanceTemplate": "global/instanceTemplates/" + template}
        if pools:
            body["targetPools"] = ["regions/%s/targetPools/%s" % (REGION, p) for p in pools]
        self.done(self.compute.instanceGroupManagers().insert(project=PROJECT, zone=ZONE,
                                                              body=body))

    def managed(self, name="g1"):
        got = self.compute.instanceGroupManagers().listManagedInstances(
            project=PROJECT, zone=ZONE, instanceGroupManager=name).execute()
        return got.get("managedInstances", [])

    def stable(self, size, name="g1"):
        def ok():
            group = self.compute.instanceGroupManagers().get(
                project=PROJECT, zone=ZONE, instanceGroupManager=name).execute()
            actions = group["currentActions"]
            return group if actions["none"] == size and sum(actions.values()) == size else None
        wait_until(ok, 15, what="group %s at %d instances" % (name, size))
        return self.managed(name)

    def pool_members(self, pool="pool"):
        got = self.compute.targetPools().get(project=PROJECT, region=REGION,
                                             targetPool=pool).execute()
        return sorted(i.rsplit("/", 1)[1] for i in got.get("instances", []))

    def health(self, instance, pool="pool"):
        got = self.compute.targetPools().getHealth(
            project=PROJECT, region=REGION, targetPool=pool, body={
                "instance": "zones/%s/instances/%s" % (ZONE, instance)}).execute()
        return got["healthStatus"]

    def test_a_group_keeps_its_size_and_its_pools_members(self):
        c = self.compute
        self.template("t1")
        self.done(c.targetPools().insert(project=PROJECT, region=REGION, body={"name": "pool"}))
        self.group(2, pools=["pool"])
        members = self.stable(2)
        names = sorted(m["instance"].rsplit("/", 1)[1] for m in members)
        for name in names:
            self.assertRegex(name, r"^node-[a-z0-9]{4}$")
        self.assertEqual(members[0]["instanceStatus"], "RUNNING")
        self.assertEqual(self.pool_members(), names)
        inst = c.instances().get(project=PROJECT, zone=ZONE, instance=names[0]).execute()
        self.assertEqual(inst["labels"], {"tpl": "t1"})

        self.done(c.instanceGroupManagers().resize(project=PROJECT, zone=ZONE,
                                                   instanceGroupManager="g1", size=3))
        self.assertEqual(len(self.stable(3)), 3)
        wait_until(lambda: len(self.pool_members()) == 3, 5, what="three pool members")

        # deleted behind the group's back: made again, with the same name
        self.done(c.instances().delete(project=PROJECT, zone=ZONE, instance=names[0]))
        wait_until(lambda: names[0] in [m["instance"].rsplit("/", 1)[1]
                                        for m in self.stable(3)], 15, what="recreation")
        wait_until(lambda: names[0] in self.pool_members(), 5, what="back in the pool")

        # a new template reaches members that are recreated
        self.template("t2")
        self.done(c.instanceGroupManagers().setInstanceTemplate(
            project=PROJECT, zone=ZONE, instanceGroupManager="g1",
            body={"instanceTemplate": "global/instanceTemplates/t2"}))
        self.done(c.instanceGroupManagers().recreateInstances(
            project=PROJECT, zone=ZONE, instanceGroupManager="g1",
            body={"instances": ["zones/%s/instances/%s" % (ZONE, names[1])]}))
        self.stable(3)
        wait_until(lambda: c.instances().get(project=PROJECT, zone=ZONE, instance=names[1])
                   .execute()["labels"] == {"tpl": "t2"}, 10, what="recreated from t2")
        op = self.wait_op(c.instanceTemplates().delete(project=PROJECT,
                                                       instanceTemplate="t2").execute())
        self.assertEqual(op["error"]["errors"][0]["code"], "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE")
        self.assertIn("instance_template resource", op["error"]["errors"][0]["message"])

        # the group's members move to the pools it is given
        self.done(c.targetPools().insert(project=PROJECT, region=REGION, body={"name": "pool2"}))
        group = c.instanceGroupManagers().get(project=PROJECT, zone=ZONE,
                                              instanceGroupManager="g1").execute()
        self.done(c.instanceGroupManagers().setTargetPools(
            project=PROJECT, zone=ZONE, instanceGroupManager="g1", body={
                "targetPools": ["regions/%s/targetPools/pool2" % REGION],
                "fingerprint": group["fingerprint"]}))
        self.assertEqual((self.pool_members(), len(self.pool_members("pool2"))), ([], 3))

        self.done(c.instanceGroupManagers().resize(project=PROJECT, zone=ZONE,
                                                   instanceGroupManager="g1", size=1))
        self.assertEqual(len(self.stable(1)), 1)
        wait_until(lambda: len(self.pool_members("pool2")) == 1, 5, what="one pool member")
        self.done(c.instanceGroupManagers().delete(project=PROJECT, zone=ZONE,
                                                   instanceGroupManager="g1"))
        self.assertEqual(c.instances().list(project=PROJECT, zone=ZONE).execute().get("items"),
                         None)
        self.assertEqual(self.pool_members("pool2"), [])

    def test_a_group_is_stable_when_idle_and_members_name_their_template(self):
        c = self.compute
        igm = c.instanceGroupManagers()
        get = lambda: igm.get(project=PROJECT, zone=ZONE, instanceGroupManager="g1").execute()
        self.template("t1")
        self.group(2)
        self.assertFalse(get()["status"]["isStable"])
        wait_until(lambda: get()["status"]["isStable"], 15, what="a stable group")
        name = self.managed()[0]["instance"].rsplit("/", 1)[1]
        inst = c.instances().get(project=PROJECT, zone=ZONE, instance=name).execute()
        md = {i["key"]: i["value"] for i in inst["metadata"]["items"]}
        self.assertTrue(md["instance-template"].endswith("/global/instanceTemplates/t1"))
        self.assertEqual(md["created-by"], "projects/%s/zones/%s/instanceGroupManagers/g1"
                         % (PROJECT, ZONE))
        # recreateInstances: the same members come back, no other is made meanwhile
        names = sorted(m["instance"].rsplit("/", 1)[1] for m in self.managed())
        self.done(igm.recreateInstances(project=PROJECT, zone=ZONE, instanceGroupManager="g1",
                                        body={"instances": ["zones/%s/instances/%s" % (ZONE, name)]}))
        self.assertFalse(get()["status"]["isStable"])
        wait_until(lambda: get()["status"]["isStable"], 15, what="stable after the recreation")
        self.assertEqual(sorted(m["instance"].rsplit("/", 1)[1] for m in self.managed()), names)
        # deleteInstances: the named member goes and the target size with it
        self.done(igm.deleteInstances(project=PROJECT, zone=ZONE, instanceGroupManager="g1",
                                      body={"instances": ["zones/%s/instances/%s" % (ZONE, name)]}))
        self.assertEqual(get()["targetSize"], 1)
        wait_until(lambda: get()["status"]["isStable"], 15, what="stable at one")
        self.assertNotIn(name, [m["instance"].rsplit("/", 1)[1] for m in self.managed()])

    def test_a_member_the_quota_does_not_allow_waits_with_its_last_attempt(self):
        c = self.compute
        self.template("big", machine="n1-standard-8")
        self.group(4, template="big")

        def waiting():
            members = self.managed()
            creating = [m for m in members if m["currentAction"] == "CREATING"
                        and "lastAttempt" in m]
            running = [m for m in members if m["currentAction"] == "NONE"]
            return len(running) == 3 and len(creating) == 1 and creating[0]
        member = wait_until(waiting, 15, what="three running, one refused")
        self.assertEqual(member["lastAttempt"]["errors"]["errors"][0], {
            "code": "QUOTA_EXCEEDED",
            "message": "Quota 'CPUS' exceeded. Limit: 24.0 in region europe-west1."})
        self.assertNotIn("instanceStatus", member)
        got = c.instanceGroupManagers().get(project=PROJECT, zone=ZONE,
                                            instanceGroupManager="g1").execute()
        self.assertEqual((got["currentActions"]["none"], got["currentActions"]["creating"]),
                         (3, 1))
        self.done(c.instanceGroupManagers().resize(project=PROJECT, zone=ZONE,
                                                   instanceGroupManager="g1", size=3))
        self.stable(3)

    def test_target_pool_health_is_probed_over_http_behind_the_firewall(self):
        c = self.compute
        self.template("t1")
        self.done(c.targetPools().insert(project=PROJECT, region=REGION, body={"name": "pool"}))
        self.group(2, pools=["pool"])
        members = self.stable(2)
        names = [m["instance"].rsplit("/", 1)[1] for m in members]
        addresses = [c.instances().get(project=PROJECT, zone=ZONE, instance=n).execute()[
            "networkInterfaces"][0]["networkIP"] for n in names]
        port, self.servers = backends(addresses)
        # without a health check every running member counts as healthy
        self.assertEqual(self.health(names[0])[0]["healthState"], "HEALTHY")
        self.done(c.httpHealthChecks().insert(project=PROJECT, body={
            "name": "hc", "port": port, "requestPath": "/health"}))
        self.done(c.targetPools().addHealthCheck(project=PROJECT, region=REGION,
                                                 targetPool="pool", body={"healthChecks": [
                                                     {"healthCheck": "global/httpHealthChecks/hc"}]}))
        self.assertEqual(self.health(names[0])[0]["healthState"], "UNHEALTHY")
        # Google's checkers are outside the network: no firewall rule, no healthy member.
        health = self.emulator.services["lb"].health
        wait_until(lambda: all(r["failures"] >= 2 for r in health._records.values()) and
                   len(health._records) == 2, 10, what="probes refused by the firewall")
        self.assertEqual(sum(b.hits for b in self.servers), 0)
        self.done(c.firewalls().insert(project=PROJECT, body={
            "name": "allow-hc", "network": "global/networks/net1", "sourceRanges": HC_RANGES,
            "allowed": [{"IPProtocol": "tcp", "ports": [str(port)]}], "targetTags": ["web"]}))
        for name in names:
            wait_until(lambda: self.health(name)[0]["healthState"] == "HEALTHY", 10,
                       what="%s healthy" % name)
        self.assertGreater(self.servers[0].hits, 0)
        self.servers[1].healthy = False
        wait_until(lambda: self.health(names[1])[0]["healthState"] == "UNHEALTHY", 10,
                   what="%s unhealthy" % names[1])
        self.assertEqual(self.health(names[0])[0]["healthState"], "HEALTHY")
        self.servers[1].healthy = True
        wait_until(lambda: self.health(names[1])[0]["healthState"] == "HEALTHY", 10,
                   what="%s healthy again" % names[1])
        self.done(c.firewalls().insert(project=PROJECT, body={
            "name": "deny-hc", "network": "global/networks/net1", "priority": 10,
            "sourceRanges": ["35.191.0.0/16"], "denied": [{"IPProtocol": "all"}]}))
        wait_until(lambda: self.health(names[0])[0]["healthState"] == "UNHEALTHY", 10,
                   what="a deny rule of higher priority to win")
        self.assertApiError(400, "invalid", c.targetPools().getHealth(
            project=PROJECT, region=REGION, targetPool="pool",
            body={"instance": "zones/%s/instances/stranger" % ZONE}))

    def test_forwarding_rules_serve_a_pool_on_a_static_address(self):
        c = self.compute
        self.done(c.targetPools().insert(project=PROJECT, region=REGION, body={"name": "pool"}))
        self.done(c.addresses().insert(project=PROJECT, region=REGION, body={"name": "lb-ip"}))
        address = c.addresses().get(project=PROJECT, region=REGION,
                                    address="lb-ip").execute()["address"]
        self.done(c.forwardingRules().insert(project=PROJECT, region=REGION, body={
            "name": "www", "IPAddress": address, "IPProtocol": "TCP", "portRange": "80",
            "target": "regions/%s/targetPools/pool" % REGION}))
        rule = c.forwardingRules().get(project=PROJECT, region=REGION,
                                       forwardingRule="www").execute()
        self.assertEqual((rule["portRange"], rule["loadBalancingScheme"], rule["IPAddress"]),
                         ("80-80", "EXTERNAL", address))
        got = c.addresses().get(project=PROJECT, region=REGION, address="lb-ip").execute()
        self.assertEqual((got["status"], got["users"]), ("IN_USE", [rule["selfLink"]]))
        self.assertApiError(400, "invalid", c.forwardingRules().insert(
            project=PROJECT, region=REGION, body={
                "name": "www2", "IPAddress": address, "portRange": "80",
                "target": "regions/%s/targetPools/pool" % REGION}),
            "Invalid value for field 'resource.IPAddress': '%s'. Specified IP address is in-use "
            "and would result in a conflict." % address)
        self.done(c.forwardingRules().insert(project=PROJECT, region=REGION, body={
            "name": "ephemeral", "portRange": "443-443",
            "target": "regions/%s/targetPools/pool" % REGION}))
        eph = c.forwardingRules().get(project=PROJECT, region=REGION,
                                      forwardingRule="ephemeral").execute()["IPAddress"]
        self.assertTrue(re.match(r"^(203\.0\.113|198\.51\.100)\.\d+$", eph), eph)
        self.template("t1")
        self.done(c.instances().insert(project=PROJECT, zone=ZONE, body={"name": "solo"},
                                       sourceInstanceTemplate="global/instanceTemplates/t1"))
        self.done(c.targetPools().addInstance(project=PROJECT, region=REGION, targetPool="pool",
                                              body={"instances": [{"instance": "zones/%s/"
                                                                   "instances/solo" % ZONE}]}))
        statuses = self.health("solo")
        self.assertEqual(sorted((s["ipAddress"], s["port"]) for s in statuses),
                         sorted([(address, 80), (eph, 443)]))
        op = self.wait_op(c.targetPools().delete(project=PROJECT, region=REGION,
                                                 targetPool="pool").execute())
        self.assertEqual(op["error"]["errors"][0]["code"], "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE")
        self.done(c.targetPools().removeInstance(
            project=PROJECT, region=REGION, targetPool="pool",
            body={"instances": [{"instance": "zones/%s/instances/solo" % ZONE}]}))
        self.assertEqual(self.pool_members(), [])


if __name__ == "__main__":
    unittest.main()
