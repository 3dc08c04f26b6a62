"""Shared test helpers: an emulator per test class, Google's own clients, polling."""
import copy
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
import warnings

import google_auth_httplib2
import httplib2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2 import service_account
from googleapiclient import discovery as gdiscovery
from googleapiclient.errors import HttpError

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR_DIR = os.path.dirname(HERE)
sys.path.insert(0, EMULATOR_DIR)

from gcpemu import schema  # noqa: E402
from gcpemu.app import build  # noqa: E402
from gcpemu.discovery import CONFORMANCE, DOCUMENTS  # noqa: E402

PROJECT = "infra-test"
REGION = "europe-west1"
ZONE = "europe-west1-b"
SA_EMAIL = "infra@infra-test.iam.gserviceaccount.com"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
COMPUTE = "https://www.googleapis.com/auth/compute"
SEED = {
    "project": PROJECT, "project_number": "123456789012",
    "regions": {REGION: [ZONE, "europe-west1-c"], "us-central1": ["us-central1-a"]},
    "quotas": {"CPUS": 24.0},
    "managed_zones": [{"name": "example-org", "dnsName": "example.org."}],
}
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PRIVATE_PEM = _KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()
PUBLIC_PEM = _KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
_DOCS = {}


def document(name):
    if name not in _DOCS:
        with open(os.path.join(CONFORMANCE, DOCUMENTS[name]), encoding="utf-8") as f:
            _DOCS[name] = json.load(f)
    return _DOCS[name]


def key_info(token_uri, email=SA_EMAIL, private_pem=PRIVATE_PEM):
    """A service-account key file's contents, as the console hands them out."""
    return {"type": "service_account", "project_id": PROJECT, "private_key_id": "0123abcd",
            "private_key": private_pem, "client_email": email, "client_id": "1234567890",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": token_uri}


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

    operation_seconds = 0.15
    time_scale = 0.01
    token_seconds = 3600
    loopback_addresses = True
    hosts = []
    seed = SEED

    @classmethod
    def setUpClass(cls):
        cls.server = build(copy.deepcopy(cls.seed), ("127.0.0.1", 0),
                           {SA_EMAIL: [load_pem_public_key(PUBLIC_PEM)]},
                           {"client-1.apps.googleusercontent.com": ("client-secret",
                                                                    "refresh-1")},
                           cls.hosts, operation_seconds=cls.operation_seconds,
                           time_scale=cls.time_scale, token_seconds=cls.token_seconds,
                           loopback_addresses=cls.loopback_addresses)
        cls.port = cls.server.server_address[1]
        cls.endpoint = "http://127.0.0.1:%d" % cls.port
        cls.token_uri = cls.endpoint + "/token"
        cls.gateway = cls.server.gateway
        cls.emulator = cls.gateway.emulator
        cls.responses = []
        cls.gateway.observer = lambda *a: cls.responses.append(a)
        threading.Thread(target=cls.server.serve_forever, kwargs={"poll_interval": 0.1},
                         daemon=True).start()
        cls._services = {}

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()
        cls.emulator.stop()

    def setUp(self):
        warnings.simplefilter("ignore", ResourceWarning)
        self.control("POST", "/_emulator/reset")
        self.control("POST", "/_emulator/faults", {"rate": 0})
        del self.responses[:]

    def tearDown(self):
        # Every answer this test caused follows its method's response schema.
        seen = list(self.responses)
        del self.responses[:]
        for method, status, body in seen:
            problems = schema.response_problems(method, body)
            if problems:
                self.fail("%s answered outside its schema: %s\n%s" % (
                    method.id, problems[:5], json.dumps(body)[:1500]))

    # -- clients -----------------------------------------------------------------------
    def control(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.endpoint + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def credentials(self, scopes=(CLOUD_PLATFORM,), info=None):
        return service_account.Credentials.from_service_account_info(
            info or key_info(self.token_uri), scopes=list(scopes))

    def api(self, name="compute", credentials=None, scopes=(CLOUD_PLATFORM,)):
        """googleapiclient built from the very discovery document the emulator checks against."""
        doc = dict(document(name), rootUrl=self.endpoint + "/")
        creds = credentials or self.credentials(scopes)
        http = google_auth_httplib2.AuthorizedHttp(creds, http=httplib2.Http(timeout=15))
        return gdiscovery.build_from_document(doc, http=http)

    @property
    def compute(self):
        if "compute" not in self._services:
            type(self)._services["compute"] = self.api("compute")
        return self._services["compute"]

    @property
    def dns(self):
        if "dns" not in self._services:
            type(self)._services["dns"] = self.api("dns")
        return self._services["dns"]

    def token(self, scopes=(CLOUD_PLATFORM,)):
        creds = self.credentials(scopes)
        creds.refresh(google_auth_httplib2.Request(httplib2.Http(timeout=15)))
        return creds.token

    def raw(self, method, path, body=None, token=None, headers=None):
        """(status, JSON body) of one request made by hand."""
        hdrs = {"Content-Type": "application/json"}
        if token is not False:
            hdrs["Authorization"] = "Bearer " + (token or self.token())
        hdrs.update(headers or {})
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.endpoint + path, data=data, method=method,
                                     headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:
                text = resp.read()
                return resp.status, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, text

    def assertApiError(self, status, reason, call, message=None):
        """The HttpError googleapiclient raised: status, errors[0].reason, message."""
        with self.assertRaises(HttpError) as ctx:
            call.execute()
        err = json.loads(ctx.exception.content)["error"]
        self.assertEqual((ctx.exception.resp.status, err["errors"][0]["reason"]),
                         (status, reason), err)
        self.assertEqual(err["code"], status)
        if message is not None:
            self.assertEqual(err["message"], message)
        return err

    # -- operations ---------------------------------------------------------------------
    def wait_op(self, op, timeout=10):
        """The operation once DONE (polled with its own scope's get)."""
        c = self.compute

        def get():
            if "zone" in op:
                return c.zoneOperations().get(project=PROJECT, zone=op["zone"].rsplit("/", 1)[1],
                                              operation=op["name"]).execute()
            if "region" in op:
                return c.regionOperations().get(project=PROJECT,
                                                region=op["region"].rsplit("/", 1)[1],
                                                operation=op["name"]).execute()
            return c.globalOperations().get(project=PROJECT, operation=op["name"]).execute()
        return wait_until(lambda: (lambda o: o if o["status"] == "DONE" else None)(get()),
                          timeout, what="operation %s" % op["name"])

    def done(self, call, timeout=10):
        """Execute a mutation and wait for its operation; fails on an operation error."""
        op = self.wait_op(call.execute(), timeout)
        self.assertNotIn("error", op, op.get("error"))
        return op

    # -- scaffolding ------------------------------------------------------------------------
    def network(self, name="net1", cidr="10.0.0.0/24", region=REGION):
        c = self.compute
        self.done(c.networks().insert(project=PROJECT, body={
            "name": name, "autoCreateSubnetworks": False}))
        self.done(c.subnetworks().insert(project=PROJECT, region=region, body={
            "name": name + "-sub", "network": "global/networks/" + name, "ipCidrRange": cidr}))
        return "regions/%s/subnetworks/%s-sub" % (region, name)

    def instance_body(self, name, subnetwork, **extra):
        body = {"name": name, "machineType": "zones/%s/machineTypes/e2-small" % ZONE,
                "disks": [{"boot": True, "autoDelete": True, "initializeParams": {
                    "sourceImage": "projects/debian-cloud/global/images/family/debian-12"}}],
                "networkInterfaces": [{"subnetwork": subnetwork, "accessConfigs": [
                    {"type": "ONE_TO_ONE_NAT", "name": "External NAT"}]}]}
        body.update(extra)
        return body


def start_process(args, directory):
    """The emulator as a separate process, through its command line; returns (proc, port)."""
    port_file = os.path.join(directory, "port")
    proc = subprocess.Popen(["/usr/bin/python3", os.path.join(EMULATOR_DIR, "emulator.py"),
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


def tempdir():
    return tempfile.TemporaryDirectory(prefix="gcpemu-test-")
