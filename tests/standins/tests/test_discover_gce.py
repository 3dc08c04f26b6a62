"""Cloud auto-join of the stand-in consul with go-discover's gce provider
(`retry_join = ["provider=gce project_name=... zone_pattern=... tag_value=..."]`)
against the GCP emulator: the private addresses of the instances carrying
the network tag in the zones the pattern names, found with the credentials
go-discover would use, through requests the emulator checks against
Google's discovery document."""
import json
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "emulators", "gcp", "tests"))
sys.path.insert(0, os.path.dirname(HERE))

from harness import PROJECT, ZONE, EmulatorCase, key_info  # noqa: E402
from standin import discover  # noqa: E402

ENV_KEYS = ("GOOGLE_APPLICATION_CREDENTIALS", "GCE_METADATA_HOST", "GCE_METADATA_ROOT",
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE", "CLOUDSDK_CONFIG", "HOME")
OTHER_ZONE = "europe-west1-c"
FAR_ZONE = "us-central1-a"


class GceAutoJoin(EmulatorCase):
    def setUp(self):
        super().setUp()
        self.saved = {k: os.environ.pop(k, None) for k in ENV_KEYS}
        self.dir = tempfile.TemporaryDirectory()
        # No gcloud file of the machine's user may answer for the test.
        os.environ["HOME"] = self.dir.name
        os.environ["CLOUDSDK_CONFIG"] = self.dir.name
        os.environ["CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE"] = self.endpoint + "/compute/v1/"
        self.key = os.path.join(self.dir.name, "key.json")
        with open(self.key, "w") as f:
            json.dump(key_info(self.token_uri), f)

    def tearDown(self):
        for k, v in self.saved.items():
            os.environ.pop(k, None)
            if v is not None:
                os.environ[k] = v
        self.dir.cleanup()
        super().tearDown()

    def launch(self, name, subnetwork, zone, tags):
        body = self.instance_body(name, subnetwork,
                                  machineType="zones/%s/machineTypes/e2-small" % zone)
        if tags:
            body["tags"] = {"items": tags}
        self.done(self.compute.instances().insert(project=PROJECT, zone=zone, body=body))
        got = self.compute.instances().get(project=PROJECT, zone=zone, instance=name).execute()
        return got["networkInterfaces"][0]["networkIP"]

    def world(self):
        sub = self.network()
        far = self.network("net2", "10.1.0.0/24", "us-central1")
        want = [self.launch("server-1", sub, ZONE, ["consul-server", "web"]),
                self.launch("server-2", sub, OTHER_ZONE, ["consul-server"])]
        self.launch("client-1", sub, ZONE, ["consul-client"])
        self.launch("untagged", sub, ZONE, None)
        far_ip = self.launch("server-far", far, FAR_ZONE, ["consul-server"])
        return sorted(want), far_ip

    def test_finds_the_tagged_instances_of_the_zones_by_private_address(self):
        want, far_ip = self.world()
        entry = ("provider=gce project_name=%s zone_pattern=europe-west1-.* tag_value=consul-server "
                 "credentials_file=%s" % (PROJECT, self.key))
        before = self.control("GET", "/_emulator/calls")["compute"]
        self.assertEqual(sorted(discover.addrs(entry)), want)
        calls = self.control("GET", "/_emulator/calls")["compute"]
        count = lambda m: calls.get(m, 0) - before.get(m, 0)  # noqa: E731
        self.assertEqual(count("compute.zones.list"), 1)
        # One instances.list per matching zone (b and c), none for us-central1.
        self.assertEqual(count("compute.instances.list"), 2)
        # Without a pattern every zone is looked in.
        everywhere = discover.addrs("provider=gce project_name=%s tag_value=consul-server "
                                    "credentials_file=%s" % (PROJECT, self.key))
        self.assertEqual(sorted(everywhere), sorted(want + [far_ip]))

    def test_application_default_credentials_and_the_metadata_project(self):
        want, _ = self.world()
        os.environ["GOOGLE_APPLICATION_CREDENTIALS"] = self.key
        os.environ["GCE_METADATA_HOST"] = "127.0.0.1:%d" % self.port
        found = discover.addrs("provider=gce zone_pattern=europe-west1-b tag_value=consul-server")
        self.assertEqual(len(found), 1)
        self.assertIn(found[0], want)

    def test_refusals_say_what_go_discover_says(self):
        with self.assertRaisesRegex(discover.DiscoverError, "^discover-gce: .*"):
            discover.addrs("provider=gce project_name=%s tag_value=x credentials_file=%s"
                           % (PROJECT, os.path.join(self.dir.name, "missing.json")))
        os.environ["GOOGLE_APPLICATION_CREDENTIALS"] = self.key
        with self.assertRaisesRegex(discover.DiscoverError, "discover-gce: googleapi: Error 404"):
            discover.addrs("provider=gce project_name=nope-project tag_value=x")


if __name__ == "__main__":
    unittest.main(verbosity=2)
