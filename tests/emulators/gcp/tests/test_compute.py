"""Compute resources: networking, images, instances, templates; filters and paging."""
import unittest

from harness import PROJECT, REGION, ZONE, EmulatorCase


class Networking(EmulatorCase):
    def test_subnetworks_stay_inside_their_network_without_overlap(self):
        c = self.compute
        self.assertApiError(400, "invalid", c.networks().insert(project=PROJECT, body={
            "name": "legacy"}))
        sub = self.network("net1", "10.0.0.0/24")
        got = c.subnetworks().get(project=PROJECT, region=REGION,
                                  subnetwork="net1-sub").execute()
        self.assertEqual((got["gatewayAddress"], got["privateIpGoogleAccess"]),
                         ("10.0.0.1", False))
        self.assertEqual(c.networks().get(project=PROJECT, network="net1").execute()[
            "subnetworks"], [got["selfLink"]])
        msg = ("Invalid value for field 'resource.ipCidrRange': '10.0.0.128/25'. Invalid "
               "IPCidrRange: 10.0.0.128/25 conflicts with existing subnetwork 'net1-sub' in "
               "region 'europe-west1'.")
        self.assertApiError(400, "invalid", c.subnetworks().insert(
            project=PROJECT, region="us-central1", body={
                "name": "other", "network": "global/networks/net1",
                "ipCidrRange": "10.0.0.128/25"}), msg)
        self.assertApiError(400, "invalid", c.subnetworks().insert(
            project=PROJECT, region=REGION, body={
                "name": "x", "network": "global/networks/nope", "ipCidrRange": "10.9.0.0/24"}),
            "Invalid value for field 'resource.network': 'global/networks/nope'. The referenced "
            "network resource cannot be found.")
        self.assertApiError(400, "invalid", c.subnetworks().insert(
            project=PROJECT, region=REGION, body={
                "name": "x", "network": "net1", "ipCidrRange": "10.9.0.0/24"}),
            "Invalid value for field 'resource.network': 'net1'. The URL is malformed.")
        self.done(c.subnetworks().setPrivateIpGoogleAccess(
            project=PROJECT, region=REGION, subnetwork="net1-sub",
            body={"privateIpGoogleAccess": True}))
        self.assertTrue(c.subnetworks().get(project=PROJECT, region=REGION,
                                            subnetwork="net1-sub").execute()[
            "privateIpGoogleAccess"])
        agg = c.subnetworks().aggregatedList(project=PROJECT).execute()["items"]
        self.assertEqual([s["name"] for s in agg["regions/europe-west1"]["subnetworks"]],
                         ["net1-sub"])
        self.assertIn("warning", agg["regions/us-central1"])
        self.assertEqual(sub, "regions/europe-west1/subnetworks/net1-sub")

    def test_firewall_rules_are_checked_and_completed(self):
        c = self.compute
        self.network()
        fw = {"name": "ssh", "network": "global/networks/net1",
              "allowed": [{"IPProtocol": "tcp", "ports": ["22", "8000-8100"]}],
              "targetTags": ["web"]}
        self.done(c.firewalls().insert(project=PROJECT, body=fw))
        got = c.firewalls().get(project=PROJECT, firewall="ssh").execute()
        self.assertEqual((got["direction"], got["priority"], got["sourceRanges"]),
                         ("INGRESS", 1000, ["0.0.0.0/0"]))
        for bad in ({"allowed": [{"IPProtocol": "tcp", "ports": ["70000"]}]},
                    {"allowed": [{"IPProtocol": "icmp", "ports": ["22"]}]},
                    {"allowed": [{"IPProtocol": "tcp"}], "denied": [{"IPProtocol": "udp"}]},
                    {"allowed": [{"IPProtocol": "tcp"}], "priority": 70000},
                    {"allowed": [{"IPProtocol": "tcp"}], "sourceRanges": ["10.0.0.0/33"]},
                    {"allowed": [{"IPProtocol": "tcp"}], "targetTags": ["Web"]},
                    {"allowed": [{"IPProtocol": "tcp"}], "destinationRanges": ["10.0.0.0/8"]}):
            body = dict({"name": "bad", "network": "global/networks/net1"}, **bad)
            with self.subTest(bad=bad):
                self.assertApiError(400, "invalid", c.firewalls().insert(project=PROJECT,
                                                                         body=body))
        # the document requires the name in a patch too
        self.assertApiError(400, "required", c.firewalls().patch(
            project=PROJECT, firewall="ssh", body={"sourceRanges": ["10.0.0.0/8"]}))
        self.done(c.firewalls().patch(project=PROJECT, firewall="ssh", body={
            "name": "ssh", "sourceRanges": ["10.0.0.0/8"]}))
        got = c.firewalls().get(project=PROJECT, firewall="ssh").execute()
        self.assertEqual((got["sourceRanges"], got["targetTags"]), (["10.0.0.0/8"], ["web"]))

    def test_routers_with_cloud_nat_and_static_addresses(self):
        c = self.compute
        sub = self.network()
        self.done(c.addresses().insert(project=PROJECT, region=REGION, body={"name": "nat-ip"}))
        addr = c.addresses().get(project=PROJECT, region=REGION, address="nat-ip").execute()
        self.assertEqual((addr["status"], addr["addressType"]), ("RESERVED", "EXTERNAL"))
        router = {"name": "r1", "network": "global/networks/net1", "nats": [{
            "name": "nat", "natIpAllocateOption": "MANUAL_ONLY",
            "natIps": ["regions/%s/addresses/nat-ip" % REGION],
            "sourceSubnetworkIpRangesToNat": "LIST_OF_SUBNETWORKS",
            "subnetworks": [{"name": sub}]}]}
        self.done(c.routers().insert(project=PROJECT, region=REGION, body=router))
        got = c.routers().get(project=PROJECT, region=REGION, router="r1").execute()
        self.assertEqual(got["nats"][0]["subnetworks"][0]["sourceIpRangesToNat"],
                         ["ALL_IP_RANGES"])
        addr = c.addresses().get(project=PROJECT, region=REGION, address="nat-ip").execute()
        self.assertEqual((addr["status"], addr["users"]), ("IN_USE", [got["selfLink"]]))
        op = self.wait_op(c.addresses().delete(project=PROJECT, region=REGION,
                                               address="nat-ip").execute())
        self.assertEqual(op["error"]["errors"][0]["code"], "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE")
        bad = dict(router, name="r2")
        bad["nats"] = [{"name": "nat", "natIpAllocateOption": "AUTO_ONLY",
                        "natIps": ["regions/%s/addresses/nat-ip" % REGION],
                        "sourceSubnetworkIpRangesToNat": "ALL_SUBNETWORKS_ALL_IP_RANGES"}]
        self.assertApiError(400, "invalid", c.routers().insert(project=PROJECT, region=REGION,
                                                               body=bad))
        self.done(c.routers().patch(project=PROJECT, region=REGION, router="r1", body={
            "nats": [{"name": "nat", "natIpAllocateOption": "AUTO_ONLY",
                      "sourceSubnetworkIpRangesToNat": "ALL_SUBNETWORKS_ALL_IP_RANGES",
                      "minPortsPerVm": 128}]}))
        got = c.routers().get(project=PROJECT, region=REGION, router="r1").execute()
        self.assertEqual(got["nats"][0]["minPortsPerVm"], 128)
        self.assertEqual(c.addresses().get(project=PROJECT, region=REGION,
                                           address="nat-ip").execute()["status"], "RESERVED")


class Images(EmulatorCase):
    def test_families_resolve_to_the_newest_image_that_is_not_deprecated(self):
        c = self.compute
        got = c.images().getFromFamily(project="debian-cloud", family="debian-12").execute()
        self.assertEqual(got["name"], "debian-12-bookworm-v20261101")
        self.assertApiError(404, "notFound", c.images().getFromFamily(
            project="debian-cloud", family="debian-99"),
            "The resource 'projects/debian-cloud/global/images/family/debian-99' was not found")
        listed = c.images().list(project="debian-cloud", filter="family = debian-12").execute()
        self.assertEqual(len(listed["items"]), 3)
        self.assertApiError(403, "forbidden", c.images().insert(
            project="debian-cloud", body={"name": "mine", "sourceImage": "x"}))

    def test_baking_an_image_from_an_instances_boot_disk(self):
        c = self.compute
        sub = self.network()
        self.done(c.instances().insert(project=PROJECT, zone=ZONE,
                                       body=self.instance_body("builder", sub)))
        disk = "zones/%s/disks/builder" % ZONE
        body = {"name": "nomad-host-2026-11-01", "family": "nomad-host", "sourceDisk": disk,
                "labels": {"built-by": "infra"}}
        self.assertApiError(400, "resourceInUseByAnotherResource",
                            c.images().insert(project=PROJECT, body=body))
        self.done(c.instances().stop(project=PROJECT, zone=ZONE, instance="builder"))
        self.done(c.images().insert(project=PROJECT, body=body))
        self.done(c.images().insert(project=PROJECT, forceCreate=True, body=dict(
            body, name="nomad-host-2026-11-02")))
        newest = c.images().getFromFamily(project=PROJECT, family="nomad-host").execute()
        self.assertEqual((newest["name"], newest["status"], newest["diskSizeGb"]),
                         ("nomad-host-2026-11-02", "READY", "10"))
        self.assertTrue(newest["sourceDisk"].endswith(disk))
        self.done(c.images().deprecate(project=PROJECT, image="nomad-host-2026-11-02", body={
            "state": "DEPRECATED"}))
        self.assertEqual(c.images().getFromFamily(project=PROJECT, family="nomad-host")
                         .execute()["name"], "nomad-host-2026-11-01")
        listed = c.images().list(project=PROJECT, filter="name eq nomad-host-.*").execute()
        self.assertEqual(len(listed["items"]), 2)
        self.done(c.images().delete(project=PROJECT, image="nomad-host-2026-11-01"))
        self.done(c.instances().delete(project=PROJECT, zone=ZONE, instance="builder"))
        self.assertApiError(404, "notFound", c.disks().get(project=PROJECT, zone=ZONE,
                                                            disk="builder"))


class Instances(EmulatorCase):
    def test_insert_fills_in_what_google_does(self):
        c = self.compute
        sub = self.network()
        body = self.instance_body("vm-1", sub, labels={"role": "server"}, tags={"items": ["web"]},
                                  metadata={"items": [{"key": "startup-script",
                                                       "value": "#!/bin/sh\necho hi\n"}]},
                                  serviceAccounts=[{"email": "default",
                                                    "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}])
        self.done(c.instances().insert(project=PROJECT, zone=ZONE, body=body))
        inst = c.instances().get(project=PROJECT, zone=ZONE, instance="vm-1").execute()
        nic = inst["networkInterfaces"][0]
        self.assertEqual(inst["status"], "RUNNING")
        self.assertTrue(nic["networkIP"].startswith("127.0.0."))
        self.assertEqual(nic["accessConfigs"][0]["natIP"], nic["networkIP"])
        self.assertEqual(inst["serviceAccounts"][0]["email"],
                         "123456789012-compute@developer.gserviceaccount.com")
        self.assertEqual(inst["scheduling"], {"onHostMaintenance": "MIGRATE",
                                              "automaticRestart": True, "preemptible": False})
        disk = c.disks().get(project=PROJECT, zone=ZONE, disk="vm-1").execute()
        self.assertEqual((disk["sizeGb"], disk["users"]), ("10", [inst["selfLink"]]))
        self.assertTrue(disk["sourceImage"].endswith("debian-12-bookworm-v20261101"))
        out = c.instances().getSerialPortOutput(project=PROJECT, zone=ZONE,
                                                instance="vm-1").execute()
        block = out["contents"].split("-----BEGIN SSH HOST KEY FINGERPRINTS-----\n")[1]
        self.assertRegex(block, r"^256 SHA256:\S+ root@vm-1 \(ECDSA\)\n-----END")
        tail = c.instances().getSerialPortOutput(project=PROJECT, zone=ZONE, instance="vm-1",
                                                 start=out["next"]).execute()
        self.assertEqual((tail["contents"], tail["start"]), ("", out["next"]))
        for field, value, why in (
                ("machineType", "zones/%s/machineTypes/e2-huge" % ZONE, "does not exist"),
                ("machineType", "e2-small", "The URL is malformed."),
                ("labels", {"Role": "x"}, "Label key 'Role' violates format constraints."),
                ("labels", {"role": "X"}, "Label value 'X' violates format constraints."),
                ("labels", {"k%d" % i: "v" for i in range(65)}, "more than 64 labels")):
            with self.subTest(field=field, value=value):
                err = self.assertApiError(400, "invalid", c.instances().insert(
                    project=PROJECT, zone=ZONE, body=dict(body, name="vm-2", **{field: value})))
                self.assertIn(why, err["message"])
        missing = self.instance_body("vm-2", "regions/%s/subnetworks/nope" % REGION)
        self.assertApiError(400, "invalid", c.instances().insert(
            project=PROJECT, zone=ZONE, body=missing),
            "Invalid value for field 'resource.networkInterfaces[0].subnetwork': 'regions/"
            "europe-west1/subnetworks/nope'. The referenced subnetwork resource cannot be "
            "found.")
        self.assertApiError(409, "alreadyExists", c.instances().insert(
            project=PROJECT, zone=ZONE, body=body))

    def test_labels_metadata_and_tags_change_only_with_the_current_fingerprint(self):
        c = self.compute
        sub = self.network()
        self.done(c.instances().insert(project=PROJECT, zone=ZONE, body=self.instance_body(
            "vm-1", sub, labels={"a": "1"})))
        inst = c.instances().get(project=PROJECT, zone=ZONE, instance="vm-1").execute()
        stale = inst["labelFingerprint"]
        self.done(c.instances().setLabels(project=PROJECT, zone=ZONE, instance="vm-1", body={
            "labels": {"a": "2"}, "labelFingerprint": stale}))
        self.assertApiError(412, "conditionNotMet", c.instances().setLabels(
            project=PROJECT, zone=ZONE, instance="vm-1", body={
                "labels": {"a": "3"}, "labelFingerprint": stale}),
            "Labels fingerprint either invalid or resource labels have changed")
        inst = c.instances().get(project=PROJECT, zone=ZONE, instance="vm-1").execute()
        self.assertEqual(inst["labels"], {"a": "2"})
        self.assertNotEqual(inst["labelFingerprint"], stale)
        fp = inst["metadata"]["fingerprint"]
        self.assertApiError(412, "conditionNotMet", c.instances().setMetadata(
            project=PROJECT, zone=ZONE, instance="vm-1", body={"items": [
                {"key": "k", "value": "v"}]}),
            "Supplied fingerprint does not match current metadata fingerprint.")
        self.done(c.instances().setMetadata(project=PROJECT, zone=ZONE, instance="vm-1", body={
            "fingerprint": fp, "items": [{"key": "k", "value": "v"}]}))
        self.done(c.instances().setTags(project=PROJECT, zone=ZONE, instance="vm-1", body={
            "fingerprint": inst["tags"]["fingerprint"], "items": ["web", "ssh"]}))
        inst = c.instances().get(project=PROJECT, zone=ZONE, instance="vm-1").execute()
        self.assertEqual((inst["metadata"]["items"], inst["tags"]["items"]),
                         ([{"key": "k", "value": "v"}], ["web", "ssh"]))
        self.assertApiError(412, "conditionNotMet", c.instances().setTags(
            project=PROJECT, zone=ZONE, instance="vm-1", body={
                "fingerprint": fp, "items": []}))

    def test_filters_and_paging_across_lists_and_scopes(self):
        c = self.compute
        sub = self.network()
        ops = []
        for n in range(5):
            ops.append(c.instances().insert(project=PROJECT, zone=ZONE, body=self.instance_body(
                "vm-%d" % n, sub, labels={"role": "server" if n < 2 else "client",
                                          "n": str(n)})).execute())
        for op in ops:
            self.wait_op(op)

        def names(**kw):
            got = c.instances().list(project=PROJECT, zone=ZONE, **kw).execute()
            return [i["name"] for i in got.get("items", [])]
        self.assertEqual(names(filter='labels.role = "server"'), ["vm-0", "vm-1"])
        self.assertEqual(names(filter='name != "vm-0"'), ["vm-1", "vm-2", "vm-3", "vm-4"])
        self.assertEqual(names(filter='(labels.role = "server") AND (labels.n = "1")'), ["vm-1"])
        self.assertEqual(names(filter='(name = "vm-0") OR (name = "vm-4")'), ["vm-0", "vm-4"])
        self.assertEqual(names(filter="name eq vm-[34]"), ["vm-3", "vm-4"])
        self.assertEqual(names(filter="name ne vm-[34]"), ["vm-0", "vm-1", "vm-2"])
        self.assertEqual(names(filter="labels.role:*"), ["vm-%d" % n for n in range(5)])
        self.assertEqual(names(filter="status = RUNNING labels.n = 2"), ["vm-2"])
        self.assertEqual(names(orderBy="creationTimestamp desc", maxResults=1), ["vm-4"])
        self.assertApiError(400, "invalid", c.instances().list(project=PROJECT, zone=ZONE,
                                                               filter="colour = red"))
        self.assertApiError(400, "invalid", c.instances().list(project=PROJECT, zone=ZONE,
                                                               filter="name = = x"))
        pages, token = [], None
        while True:
            got = c.instances().list(project=PROJECT, zone=ZONE, maxResults=2,
                                     pageToken=token).execute()
            pages.append([i["name"] for i in got["items"]])
            token = got.get("nextPageToken")
            if not token:
                break
        self.assertEqual(pages, [["vm-0", "vm-1"], ["vm-2", "vm-3"], ["vm-4"]])
        self.assertApiError(400, "invalid", c.instances().list(project=PROJECT, zone=ZONE,
                                                               pageToken="garbage"))
        request = c.instances().aggregatedList(project=PROJECT, maxResults=3,
                                               filter='labels.role = "client"')
        seen = []
        while request is not None:
            got = request.execute()
            for scope, held in got["items"].items():
                seen += [(scope, i["name"]) for i in held.get("instances", [])]
            request = c.instances().aggregatedList_next(request, got)
        self.assertEqual(seen, [("zones/europe-west1-b", "vm-%d" % n) for n in (2, 3, 4)])

    def test_templates_hold_instance_properties_and_make_instances(self):
        c = self.compute
        sub = self.network()
        props = {"machineType": "e2-small", "labels": {"role": "client"},
                 "disks": [{"boot": True, "autoDelete": True, "initializeParams": {
                     "sourceImage": "projects/debian-cloud/global/images/family/debian-12",
                     "diskType": "pd-ssd"}}],
                 "networkInterfaces": [{"subnetwork": sub}]}
        self.done(c.instanceTemplates().insert(project=PROJECT, body={
            "name": "client-v1", "properties": props}))
        got = c.instanceTemplates().get(project=PROJECT, instanceTemplate="client-v1").execute()
        self.assertTrue(got["properties"]["networkInterfaces"][0]["subnetwork"].startswith(
            "https://www.googleapis.com/compute/v1/projects/infra-test/regions/"))
        self.assertApiError(400, "required", c.instanceTemplates().insert(
            project=PROJECT, body={"name": "t2", "properties": dict(props, machineType=None)}),
            "Required field 'resource.properties.machineType' not specified")
        self.done(c.instances().insert(project=PROJECT, zone=ZONE, body={"name": "from-t"},
                                       sourceInstanceTemplate="global/instanceTemplates/client-v1"))
        inst = c.instances().get(project=PROJECT, zone=ZONE, instance="from-t").execute()
        self.assertEqual(inst["labels"], {"role": "client"})
        self.assertTrue(inst["machineType"].endswith("/zones/europe-west1-b/machineTypes/e2-small"))
        self.done(c.instanceTemplates().delete(project=PROJECT, instanceTemplate="client-v1"))


if __name__ == "__main__":
    unittest.main()
