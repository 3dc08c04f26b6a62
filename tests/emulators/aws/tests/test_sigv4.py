"""SigV4: the official suite, then what the live endpoint refuses and how."""
import datetime
import http.client
import json
import os
import types
import unittest
from unittest import mock

import botocore.auth
import botocore.credentials
from botocore.awsrequest import AWSRequest

from harness import AKID, SECRET, EMULATOR_DIR, EmulatorCase
from awsemu import sigv4

SUITE = os.path.join(EMULATOR_DIR, "..", "..", "conformance", "aws-sigv4-test-suite.json")
# Their canonical request lists content-length, their string to sign was made without it.
STS_ONLY = {"post-x-www-form-urlencoded", "post-x-www-form-urlencoded-parameters"}


def load_suite():
    with open(SUITE, encoding="utf-8") as f:
        return json.load(f)


class OfficialSuite(unittest.TestCase):
    def test_sigv4_signs_every_case_of_the_official_suite(self):
        suite = load_suite()
        config = suite["config"]
        cases = suite["tests"]["all"]
        self.assertEqual(len(cases), 28)
        for case in cases:
            with self.subTest(case=case["name"]):
                req = case["request"]
                headers = [tuple(h) for h in req["headers"]]
                names = sorted({h[0].lower() for h in headers})
                creq = sigv4.canonical_request(req["method"], req["path"], req["query"],
                                               headers, names, req["body"].encode())
                self.assertEqual(creq, case["creq"])
                amz_date = dict((k.lower(), v) for k, v in headers)["x-amz-date"]
                scope = "%s/%s/%s/aws4_request" % (amz_date[:8], config["region"],
                                                   config["service"])
                sts = sigv4.string_to_sign(amz_date, scope, creq)
                if case["name"] not in STS_ONLY:
                    self.assertEqual(sts, case["sts"])
                sig = sigv4.signature(config["secretAccessKey"], amz_date[:8], config["region"],
                                      config["service"], case["sts"])
                signed = case["authz"].split("SignedHeaders=")[1].split(",")[0].split(";")
                self.assertEqual(sigv4.authorization_header(config["accessKeyId"], scope,
                                                            signed, sig), case["authz"])

    def test_verifier_accepts_every_consistent_case_of_the_suite(self):
        suite = load_suite()
        config = suite["config"]
        token = suite["stsToken"]
        now = datetime.datetime(2015, 8, 30, 12, 36, tzinfo=datetime.timezone.utc)
        for case in suite["tests"]["all"]:
            if case["name"] in STS_ONLY:
                continue
            with self.subTest(case=case["name"]):
                req = case["request"]
                headers = [tuple(h) for h in req["headers"]]
                creds = {config["accessKeyId"]: (config["secretAccessKey"], None)}
                if case["name"].startswith("post-sts"):
                    creds = {config["accessKeyId"]: (config["secretAccessKey"], token)}
                    if not any(k.lower() == "x-amz-security-token" for k, _ in headers):
                        headers.append(("X-Amz-Security-Token", token))
                auth = sigv4.parse_authorization(case["authz"])
                sigv4.verify(auth, req["method"], req["path"], req["query"], headers,
                             req["body"].encode(), creds, {"us-east-1"}, now)

    def test_signing_key_matches_the_published_vector(self):
        key = sigv4.signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830",
                                "us-east-1", "service")
        self.assertEqual(key.hex(),
                         "938127b5336810ddb6a5d6af445fcac9e371f9ed418ed386b022aed82901be75")


class LiveEndpoint(EmulatorCase):
    """Requests signed by botocore's SigV4Auth, then altered on the way."""

    BODY = "Action=DescribeVpcs&Version=2016-11-15"

    def signed(self, service="ec2", region="us-east-1", body=None, key=AKID, secret=SECRET,
               token=None, when=None):
        body = self.BODY if body is None else body
        req = AWSRequest(method="POST", url=self.endpoint + "/", data=body, headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        creds = botocore.credentials.Credentials(key, secret, token)
        signer = botocore.auth.SigV4Auth(creds, service, region)
        if when is None:
            signer.add_auth(req)
        else:
            fake = types.SimpleNamespace(datetime=types.SimpleNamespace(
                utcnow=lambda: when, strptime=datetime.datetime.strptime))
            with mock.patch.object(botocore.auth, "datetime", fake):
                signer.add_auth(req)
        return req

    def send(self, req, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        out_headers = dict(req.headers.items())
        out_headers.update(headers or {})
        data = req.body if body is None else body
        if isinstance(data, str):
            data = data.encode()
        out_headers["Content-Length"] = str(len(data))
        conn.request(req.method, "/", body=data, headers=out_headers)
        resp = conn.getresponse()
        text = resp.read().decode()
        conn.close()
        return resp.status, text

    def assertCode(self, answer, status, code):
        self.assertEqual(answer[0], status, answer[1])
        self.assertIn("<Code>%s</Code>" % code, answer[1])

    def test_a_correctly_signed_request_is_served(self):
        status, text = self.send(self.signed())
        self.assertEqual(status, 200, text)
        self.assertIn("<DescribeVpcsResponse", text)

    def test_a_tampered_body_is_refused_with_signature_does_not_match(self):
        answer = self.send(self.signed(), body=self.BODY.replace("Vpcs", "Subnets"))
        self.assertCode(answer, 403, "SignatureDoesNotMatch")

    def test_a_tampered_signed_header_is_refused(self):
        answer = self.send(self.signed(), headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        self.assertCode(answer, 403, "SignatureDoesNotMatch")

    def test_a_changed_date_is_refused(self):
        req = self.signed()
        later = datetime.datetime.utcnow() + datetime.timedelta(seconds=5)
        answer = self.send(req, headers={"X-Amz-Date": later.strftime("%Y%m%dT%H%M%SZ")})
        self.assertCode(answer, 403, "SignatureDoesNotMatch")

    def test_a_request_signed_twenty_minutes_ago_has_expired(self):
        old = datetime.datetime.utcnow() - datetime.timedelta(minutes=20)
        self.assertCode(self.send(self.signed(when=old)), 400, "RequestExpired")
        soon = datetime.datetime.utcnow() + datetime.timedelta(minutes=16)
        self.assertCode(self.send(self.signed(when=soon)), 400, "RequestExpired")
        recent = datetime.datetime.utcnow() - datetime.timedelta(minutes=10)
        self.assertEqual(self.send(self.signed(when=recent))[0], 200)

    def test_an_unknown_key_is_auth_failure_on_ec2_and_invalid_token_elsewhere(self):
        self.assertCode(self.send(self.signed(key="AKIDUNKNOWN")), 401, "AuthFailure")
        body = "Action=DescribeLoadBalancers&Version=2012-06-01"
        answer = self.send(self.signed("elasticloadbalancing", key="AKIDUNKNOWN", body=body))
        self.assertCode(answer, 403, "InvalidClientTokenId")
        self.assertIn("<ErrorResponse", answer[1])

    def test_a_wrong_secret_does_not_match(self):
        self.assertCode(self.send(self.signed(secret="other")), 403, "SignatureDoesNotMatch")

    def test_a_missing_or_incomplete_authorization_is_refused(self):
        req = self.signed()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("POST", "/", body=self.BODY, headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        resp = conn.getresponse()
        self.assertCode((resp.status, resp.read().decode()), 401, "MissingAuthenticationToken")
        conn.close()
        broken = req.headers["Authorization"].split(", Signature=")[0]
        self.assertCode(self.send(req, headers={"Authorization": broken}), 400,
                        "IncompleteSignature")

    def test_a_scope_for_an_unknown_region_is_refused(self):
        self.assertCode(self.send(self.signed(region="mars-north-1")), 403,
                        "SignatureDoesNotMatch")

    def test_no_secret_or_signature_reaches_the_answer(self):
        req = self.signed(secret="other")
        _, text = self.send(req)
        signature = req.headers["Authorization"].rsplit("Signature=", 1)[1]
        self.assertNotIn(signature, text)
        self.assertNotIn("other", text.replace("another", ""))


class SessionTokens(EmulatorCase):
    credentials = {AKID: (SECRET, "session-token-value")}

    def test_session_credentials_need_their_token(self):
        with_token = self.client("ec2", token="session-token-value")
        self.assertEqual(with_token.describe_vpcs()["Vpcs"], [])
        self.assertError("AuthFailure", self.client("ec2").describe_vpcs)
        self.assertError("AuthFailure", self.client("ec2", token="wrong").describe_vpcs)
        self.assertError("InvalidClientTokenId",
                         self.client("autoscaling", token="wrong").describe_auto_scaling_groups)


if __name__ == "__main__":
    unittest.main()
