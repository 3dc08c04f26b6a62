"""Requests checked against the discovery documents: each kind of refusal, in Google's words."""
import unittest

from harness import PROJECT, REGION, ZONE, EmulatorCase

BASE = "/compute/v1/projects/%s" % PROJECT
NAME_REGEX = "(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)"


class Validation(EmulatorCase):
    def setUp(self):
        super().setUp()
        self.tok = self.token()

    def call(self, method, path, body=None, token=None):
        return self.raw(method, path, body, token=token or self.tok)

    def assertRefused(self, answer, status, reason, message=None):
        code, body = answer
        self.assertEqual(code, status, body)
        err = body["error"]
        self.assertEqual((err["code"], err["errors"][0]["reason"]), (status, reason), err)
        self.assertEqual(err["errors"][0]["domain"], "global")
        if message is not None:
            self.assertEqual(err["message"], message)
            self.assertEqual(err["errors"][0]["message"], message)
        return err

    def test_the_name_pattern_is_refused_in_googles_words(self):
        c = self.compute
        msg = ("Invalid value for field 'resource.name': 'Bad_Name'. Must be a match of regex "
               "'%s'" % NAME_REGEX)
        self.assertApiError(400, "invalid", c.networks().insert(
            project=PROJECT, body={"name": "Bad_Name", "autoCreateSubnetworks": False}), msg)
        self.assertApiError(400, "invalid", c.firewalls().insert(
            project=PROJECT, body={"name": "x" * 64, "allowed": [{"IPProtocol": "tcp"}]}))

    def test_unknown_fields_at_any_depth(self):
        c = self.compute
        self.assertApiError(400, "invalid", c.networks().insert(
            project=PROJECT, body={"name": "n", "autoCreateSubnetworks": False, "x": 1}),
            "Invalid JSON payload received. Unknown name \"x\" at 'resource': Cannot find "
            "field.")
        err = self.assertApiError(400, "invalid", c.firewalls().insert(project=PROJECT, body={
            "name": "fw", "allowed": [{"IPProtocol": "tcp", "port": ["22"]}]}))
        self.assertEqual(err["message"], "Invalid JSON payload received. Unknown name \"port\" "
                         "at 'resource.allowed[0]': Cannot find field.")
        self.assertEqual(err["status"], "INVALID_ARGUMENT")

    def test_types_formats_and_enums(self):
        c = self.compute
        self.assertApiError(400, "invalid", c.firewalls().insert(project=PROJECT, body={
            "name": "fw", "priority": "high", "allowed": [{"IPProtocol": "tcp"}]}),
            "Invalid value at 'resource.priority' (TYPE_INT32), \"high\"")
        self.assertApiError(400, "invalid", c.firewalls().insert(project=PROJECT, body={
            "name": "fw", "direction": "SIDEWAYS", "allowed": [{"IPProtocol": "tcp"}]}),
            "Invalid value at 'resource.direction' (TYPE_ENUM), \"SIDEWAYS\"")
        # int64 travels as a JSON string
        body = self.instance_body("vm", "regions/%s/subnetworks/s" % REGION)
        body["disks"][0]["initializeParams"]["diskSizeGb"] = 20
        self.assertApiError(400, "invalid", c.instances().insert(
            project=PROJECT, zone=ZONE, body=body),
            "Invalid value at 'resource.disks[0].initialize_params.disk_size_gb' (TYPE_INT64), 20")
        self.assertApiError(400, "invalid", c.networks().insert(
            project=PROJECT, body={"name": "n", "autoCreateSubnetworks": "no"}))
        self.assertApiError(400, "invalid", c.networks().insert(
            project=PROJECT, body={"name": ["n"], "autoCreateSubnetworks": False}))
        self.assertApiError(400, "invalid", c.instances().setLabels(
            project=PROJECT, zone=ZONE, instance="vm",
            body={"labels": {"a": "b"}, "labelFingerprint": "not base64!"}),
            "Invalid value at 'instances_set_labels_request_resource.label_fingerprint' "
            "(TYPE_BYTES), \"not base64!\"")

    def test_fields_the_document_marks_required_for_the_method(self):
        c = self.compute
        self.assertApiError(400, "required", c.instances().insert(
            project=PROJECT, zone=ZONE, body={"name": "vm"}),
            "Required field 'resource.machineType' not specified")
        self.assertApiError(400, "required", c.instanceGroupManagers().insert(
            project=PROJECT, zone=ZONE, body={"name": "g", "baseInstanceName": "g"}),
            "Required field 'resource.targetSize' not specified")
        # Metadata item keys are required for instances.insert, and match their pattern.
        body = self.instance_body("vm", "regions/%s/subnetworks/s" % REGION,
                                  metadata={"items": [{"value": "x"}]})
        self.assertApiError(400, "required", c.instances().insert(
            project=PROJECT, zone=ZONE, body=body),
            "Required field 'resource.metadata.items[0].key' not specified")
        self.assertRefused(self.call("POST", BASE + "/global/networks", b""), 400, "required",
                           "Required field 'resource' not specified")

    def test_path_parameters(self):
        err = self.assertRefused(self.call("GET", BASE + "/zones/Bad_Zone/instances"), 400,
                                 "invalidParameter",
                                 "Invalid value 'Bad_Zone'. Values must match the following "
                                 "regular expression: '[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?'")
        self.assertEqual((err["errors"][0]["location"], err["errors"][0]["locationType"]),
                         ("zone", "parameter"))
        self.assertRefused(self.call("GET", BASE + "/zones/mars-north1-a/instances"), 400,
                           "invalid", "Invalid value for field 'zone': 'mars-north1-a'. "
                           "Unknown zone.")
        self.assertRefused(self.call("GET", "/compute/v1/projects/nope/global/networks"),
                           404, "notFound", "The resource 'projects/nope' was not found")

    def test_query_parameters(self):
        self.assertRefused(self.call("GET", BASE + "/global/networks?colour=blue"), 400,
                           "invalid", "Invalid JSON payload received. Unknown name \"colour\": "
                           "Cannot bind query parameter. Field 'colour' could not be found in "
                           "request message.")
        self.assertRefused(self.call("GET", BASE + "/global/networks?maxResults=many"), 400,
                           "invalid", "Invalid value at 'max_results' (TYPE_UINT32), \"many\"")
        self.assertRefused(self.call("GET", BASE + "/global/networks?maxResults=-1"), 400,
                           "invalid")
        self.assertRefused(self.call("POST", BASE + "/zones/%s/instanceGroupManagers/g/resize"
                                     % ZONE), 400, "required", "Required parameter: size")
        self.assertRefused(self.call("POST", BASE + "/global/networks?requestId=abc",
                                     {"name": "n", "autoCreateSubnetworks": False}), 400,
                           "invalid")
        # the API's common parameters are accepted everywhere
        code, _ = self.call("GET", BASE + "/global/networks?alt=json&prettyPrint=false"
                                          "&quotaUser=me")
        self.assertEqual(code, 200)

    def test_routing_json_syntax_and_bodies_where_none_belong(self):
        self.assertRefused(self.call("GET", BASE + "/global/nowhere"), 404, "notFound")
        self.assertRefused(self.call("PUT", BASE + "/global/networks/n"), 404, "notFound")
        self.assertRefused(self.call("POST", BASE + "/global/networks", b"{not json"), 400,
                           "parseError")
        self.assertRefused(self.call("POST", BASE + "/zones/%s/instanceGroupManagers/g/resize"
                                     "?size=1" % ZONE, {"size": 1}), 400, "invalid")

    def test_methods_in_the_document_that_are_not_emulated(self):
        err = self.assertRefused(self.call("GET", BASE + "/global/backendServices"), 501,
                                 "notImplemented")
        self.assertIn("compute.backendServices.list", err["message"])

    def test_partial_responses(self):
        c = self.compute
        self.done(c.networks().insert(project=PROJECT, body={"name": "n1",
                                                             "autoCreateSubnetworks": False}))
        got = c.networks().list(project=PROJECT, fields="items(name,selfLink),kind").execute()
        self.assertEqual(set(got), {"items", "kind"})
        self.assertEqual(set(got["items"][0]), {"name", "selfLink"})


if __name__ == "__main__":
    unittest.main()
