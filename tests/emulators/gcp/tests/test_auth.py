"""OAuth: the JWT bearer grant, the refresh-token grant, the metadata server, bearer tokens."""
import time
import unittest
import urllib.parse
import urllib.request
import urllib.error
import json

import google_auth_httplib2
import httplib2
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import exceptions as auth_exceptions
from google.auth.compute_engine import _metadata
from google.auth.compute_engine import credentials as gce_credentials
from google.oauth2 import credentials as user_credentials

from harness import (CLOUD_PLATFORM, COMPUTE, PRIVATE_PEM, PROJECT, SA_EMAIL, EmulatorCase,
                     key_info, wait_until)

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
OTHER_PEM = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption()).decode()


def request():
    return google_auth_httplib2.Request(httplib2.Http(timeout=15))


class TokenEndpoint(EmulatorCase):
    def post_token(self, form):
        data = urllib.parse.urlencode(form).encode()
        req = urllib.request.Request(self.token_uri, data=data, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def assertion(self, key=PRIVATE_PEM, alg="RS256", **claims):
        now = int(time.time())
        body = {"iss": SA_EMAIL, "scope": CLOUD_PLATFORM, "aud": self.token_uri,
                "iat": now, "exp": now + 3600}
        body.update(claims)
        for k in [k for k, v in body.items() if v is None]:
            del body[k]
        return jwt.encode(body, key if alg == "RS256" else "secret", algorithm=alg,
                          headers={"kid": "0123abcd"})

    def grant(self, **kwargs):
        return self.post_token({"grant_type": JWT_GRANT, "assertion": self.assertion(**kwargs)})

    def assertGrantError(self, answer, status, code, description):
        self.assertEqual(answer, (status, {"error": code, "error_description": description}))

    def test_google_auth_service_account_credentials_get_a_token_that_works(self):
        creds = self.credentials()
        creds.refresh(request())
        self.assertTrue(creds.token.startswith("ya29."))
        self.assertFalse(creds.expired)
        got = self.api(credentials=creds).zones().list(project=PROJECT).execute()
        self.assertEqual(len(got["items"]), 3)
        status, body = self.grant()
        self.assertEqual(status, 200)
        self.assertEqual((body["token_type"], body["expires_in"]), ("Bearer", 3599))

    def test_each_jwt_check_refuses_in_googles_words(self):
        g = self.assertGrantError
        g(self.grant(key=OTHER_PEM), 400, "invalid_grant", "Invalid JWT Signature.")
        g(self.grant(alg="HS256"), 400, "invalid_grant", "Invalid JWT Signature.")
        g(self.grant(aud="https://oauth2.googleapis.com/token"), 400, "invalid_grant",
          "Invalid JWT: Failed audience check. The right audience is %s" % self.token_uri)
        timeframe = ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                     "reasonable timeframe. Check your iat and exp values in the JWT claim.")
        now = int(time.time())
        g(self.grant(iat=now - 7200, exp=now - 3600), 400, "invalid_grant", timeframe)
        g(self.grant(iat=now, exp=now + 3601), 400, "invalid_grant", timeframe)
        g(self.grant(iat=now + 3600, exp=now + 4000), 400, "invalid_grant", timeframe)
        g(self.grant(iss="nobody@infra-test.iam.gserviceaccount.com"), 400, "invalid_grant",
          "Invalid grant: account not found")
        g(self.grant(scope=None), 400, "invalid_scope", "Empty or missing scope not allowed.")
        g(self.grant(sub="someone@example.org"), 401, "unauthorized_client",
          "Client is unauthorized to retrieve access tokens using this method, or client not "
          "authorized for any of the scopes requested.")
        g(self.post_token({"grant_type": "password"}), 400, "unsupported_grant_type",
          "Invalid grant_type: password")
        g(self.post_token({"grant_type": JWT_GRANT, "assertion": "a.b.c"}), 400,
          "invalid_grant", "Invalid JWT Signature.")

    def test_google_auth_reports_a_refused_key(self):
        creds = self.credentials(info=key_info(self.token_uri, private_pem=OTHER_PEM))
        with self.assertRaises(auth_exceptions.RefreshError) as ctx:
            creds.refresh(request())
        self.assertIn("Invalid JWT Signature.", str(ctx.exception))

    def test_refresh_token_grant_for_authorized_user_credentials(self):
        creds = user_credentials.Credentials(
            None, refresh_token="refresh-1", token_uri=self.token_uri,
            client_id="client-1.apps.googleusercontent.com", client_secret="client-secret")
        got = self.api(credentials=creds).regions().list(project=PROJECT).execute()
        self.assertEqual(len(got["items"]), 2)
        for secret, token, error in (("wrong", "refresh-1", "invalid_client"),
                                     ("client-secret", "stale", "invalid_grant")):
            bad = user_credentials.Credentials(
                None, refresh_token=token, token_uri=self.token_uri,
                client_id="client-1.apps.googleusercontent.com", client_secret=secret)
            with self.assertRaises(auth_exceptions.RefreshError) as ctx:
                bad.refresh(request())
            self.assertIn(error, str(ctx.exception))

    def test_metadata_server_gives_tokens_to_a_client_on_an_instance(self):
        root = self.endpoint + "/computeMetadata/v1/"
        original = _metadata._METADATA_ROOT
        _metadata.get.__defaults__ = (root, False)
        try:
            creds = gce_credentials.Credentials()
            creds.refresh(request())
            self.assertEqual(creds.service_account_email,
                             "123456789012-compute@developer.gserviceaccount.com")
            got = self.api(credentials=creds).zones().get(project=PROJECT,
                                                          zone="europe-west1-b").execute()
            self.assertEqual(got["status"], "UP")
        finally:
            _metadata.get.__defaults__ = (original, False)
        req = urllib.request.Request(root + "instance/service-accounts/default/token")
        with self.assertRaises(urllib.error.HTTPError) as ctx:
            urllib.request.urlopen(req, timeout=10)
        self.assertEqual(ctx.exception.code, 403)

    def test_metadata_root_answers_google_auths_ping(self):
        # google-auth tells whether it runs on Compute Engine by this ping
        # (GCE_METADATA_IP), before it asks for a token.
        original = _metadata._METADATA_IP_ROOT
        _metadata._METADATA_IP_ROOT = self.endpoint
        try:
            self.assertTrue(_metadata.ping(google_auth_httplib2.Request(httplib2.Http())))
        finally:
            _metadata._METADATA_IP_ROOT = original
        with self.assertRaises(urllib.error.HTTPError) as ctx:
            urllib.request.urlopen(self.endpoint + "/", timeout=10)
        self.assertEqual(ctx.exception.code, 403)

    def test_calls_without_a_live_token_are_refused(self):
        path = "/compute/v1/projects/%s/zones" % PROJECT
        status, body = self.raw("GET", path, token=False)
        self.assertEqual(status, 401)
        self.assertEqual(body["error"]["status"], "UNAUTHENTICATED")
        self.assertTrue(body["error"]["message"].startswith(
            "Request is missing required authentication credential."))
        status, body = self.raw("GET", path, token="ya29.made-up")
        self.assertEqual(status, 401)
        self.assertEqual(body["error"]["errors"][0]["reason"], "authError")
        self.assertTrue(body["error"]["message"].startswith(
            "Request had invalid authentication credentials."))
        status, body = self.raw("GET", path + "?oauth_token=" + self.token(), token=False)
        self.assertEqual(status, 200)

    def test_scopes_are_checked_per_method(self):
        readonly = self.token(("https://www.googleapis.com/auth/compute.readonly",))
        path = "/compute/v1/projects/%s/global/networks" % PROJECT
        self.assertEqual(self.raw("GET", path, token=readonly)[0], 200)
        status, body = self.raw("POST", path, {"name": "n", "autoCreateSubnetworks": False},
                                token=readonly)
        self.assertEqual((status, body["error"]["errors"][0]["reason"]),
                         (403, "insufficientPermissions"))
        storage = self.token(("https://www.googleapis.com/auth/devstorage.read_only",))
        self.assertEqual(self.raw("GET", path, token=storage)[0], 403)
        compute = self.token((COMPUTE,))
        self.assertEqual(self.raw("GET", path, token=compute)[0], 200)
        dns = "/dns/v1/projects/%s/managedZones" % PROJECT
        self.assertEqual(self.raw("GET", dns, token=compute)[0], 403)

    def test_the_client_refreshes_after_its_token_is_refused(self):
        c = self.api()
        c.zones().list(project=PROJECT).execute()
        issued = self.control("GET", "/_emulator/state")["auth"]["tokens_issued"]
        self.assertGreaterEqual(self.control("POST", "/_emulator/expire-tokens")["expired"], 1)
        c.zones().list(project=PROJECT).execute()  # 401, refresh, retry: all in the client
        self.assertEqual(self.control("GET", "/_emulator/state")["auth"]["tokens_issued"],
                         issued + 1)


class ShortLivedTokens(EmulatorCase):
    token_seconds = 3

    def test_tokens_expire_after_their_lifetime(self):
        creds = self.credentials()
        creds.refresh(request())
        path = "/compute/v1/projects/%s/zones" % PROJECT
        self.assertEqual(self.raw("GET", path, token=creds.token)[0], 200)
        wait_until(lambda: self.raw("GET", path, token=creds.token)[0] == 401, 5,
                   what="the token to expire")
        # google-auth treats a token this short-lived as expired at once, so every call
        # through it gets a fresh one.
        before = self.control("GET", "/_emulator/state")["auth"]["tokens_issued"]
        c = self.api(credentials=creds)
        c.zones().list(project=PROJECT).execute()
        c.zones().list(project=PROJECT).execute()
        after = self.control("GET", "/_emulator/state")["auth"]["tokens_issued"]
        self.assertGreaterEqual(after - before, 2)


if __name__ == "__main__":
    unittest.main()
