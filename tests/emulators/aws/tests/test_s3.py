"""S3: objects, conditional writes, versioned buckets, payload signing."""
import hashlib
import http.client
import urllib.parse

import botocore.auth
import botocore.awsrequest
import botocore.credentials

from harness import AKID, SECRET, EmulatorCase

BUCKET = "infra-state"


def add_headers(**headers):
    """A before-sign hook adding headers the Debian model does not know yet."""
    def hook(request, **kwargs):
        for name, value in headers.items():
            request.headers[name] = value
    return hook


class S3(EmulatorCase):
    def setUp(self):
        super().setUp()
        self.s3 = self.client("s3")
        self.s3.create_bucket(Bucket=BUCKET)

    def put(self, key, body, **headers):
        """PutObject with extra headers (If-None-Match, If-Match)."""
        client = self.client("s3")
        client.meta.events.register("before-sign.s3.PutObject", add_headers(**headers))
        return client.put_object(Bucket=BUCKET, Key=key, Body=body)

    def delete(self, key, **headers):
        client = self.client("s3")
        client.meta.events.register("before-sign.s3.DeleteObject", add_headers(**headers))
        return client.delete_object(Bucket=BUCKET, Key=key)

    def raw(self, method, path, body=b"", headers=None, payload_hash=None, tamper=None):
        """A request signed with botocore's S3 signer; payload_hash is declared (and
        signed) instead of the body's, tamper replaces the body after signing."""
        url = self.endpoint + path
        request = botocore.awsrequest.AWSRequest(method=method, url=url, data=body,
                                                 headers=headers or {})
        creds = botocore.credentials.Credentials(AKID, SECRET)
        signer = botocore.auth.S3SigV4Auth(creds, "s3", "us-east-1")
        if payload_hash is not None:
            signer.payload = lambda request: payload_hash
        signer.add_auth(request)
        prepared = request.prepare()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        sent = tamper if tamper is not None else body
        hdrs = dict(prepared.headers)
        hdrs["Content-Length"] = str(len(sent))
        conn.request(method, urllib.parse.urlsplit(url).path + (
            "?" + urllib.parse.urlsplit(url).query if urllib.parse.urlsplit(url).query else ""),
            body=sent, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, data

    def test_objects_round_trip_with_encryption(self):
        out = self.s3.put_object(Bucket=BUCKET, Key="app/prod/state.json", Body=b'{"serial":1}',
                                 ServerSideEncryption="AES256")
        self.assertEqual(out["ETag"], '"%s"' % hashlib.md5(b'{"serial":1}').hexdigest())
        self.assertEqual(out["ServerSideEncryption"], "AES256")
        got = self.s3.get_object(Bucket=BUCKET, Key="app/prod/state.json")
        self.assertEqual(got["Body"].read(), b'{"serial":1}')
        self.assertEqual(got["ETag"], out["ETag"])
        head = self.s3.head_object(Bucket=BUCKET, Key="app/prod/state.json")
        self.assertEqual(head["ContentLength"], 12)
        self.s3.delete_object(Bucket=BUCKET, Key="app/prod/state.json")
        self.assertError("NoSuchKey", self.s3.get_object, Bucket=BUCKET,
                         Key="app/prod/state.json")
        self.assertError("NoSuchBucket", self.s3.get_object, Bucket="no-such-bucket", Key="x")
        kms = self.s3.put_object(Bucket=BUCKET, Key="k", Body=b"x", ServerSideEncryption="aws:kms",
                                 SSEKMSKeyId="alias/infra-state")
        self.assertEqual(kms["SSEKMSKeyId"], "alias/infra-state")
        head = self.s3.head_object(Bucket=BUCKET, Key="k")
        self.assertEqual((head["ServerSideEncryption"], head["SSEKMSKeyId"]),
                         ("aws:kms", "alias/infra-state"))

    def test_if_none_match_creates_once(self):
        self.put("app/prod/state.json.lock", b"alice", **{"If-None-Match": "*"})
        err = self.assertError("PreconditionFailed", self.put, "app/prod/state.json.lock", b"bob",
                               **{"If-None-Match": "*"})
        self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], 412)
        got = self.s3.get_object(Bucket=BUCKET, Key="app/prod/state.json.lock")
        self.assertEqual(got["Body"].read(), b"alice")
        # Gone, it can be created again.
        self.s3.delete_object(Bucket=BUCKET, Key="app/prod/state.json.lock")
        self.put("app/prod/state.json.lock", b"bob", **{"If-None-Match": "*"})

    def test_if_match_writes_and_deletes_only_the_version_read(self):
        first = self.s3.put_object(Bucket=BUCKET, Key="s", Body=b"1")["ETag"]
        second = self.put("s", b"2", **{"If-Match": first})["ETag"]
        self.assertError("PreconditionFailed", self.put, "s", b"3", **{"If-Match": first})
        self.assertError("PreconditionFailed", self.delete, "s", **{"If-Match": first})
        self.delete("s", **{"If-Match": second})
        self.assertError("NoSuchKey", self.put, "s", b"4", **{"If-Match": second})

    def test_versioned_bucket_keeps_versions_and_deletes_by_version(self):
        self.assertNotIn("Status", self.s3.get_bucket_versioning(Bucket=BUCKET))
        self.s3.put_bucket_versioning(Bucket=BUCKET,
                                      VersioningConfiguration={"Status": "Enabled"})
        self.assertEqual(self.s3.get_bucket_versioning(Bucket=BUCKET)["Status"], "Enabled")
        ids = [self.s3.put_object(Bucket=BUCKET, Key="s", Body=b"v%d" % i)["VersionId"]
               for i in range(3)]
        listed = self.s3.list_object_versions(Bucket=BUCKET, Prefix="s")
        self.assertEqual([v["VersionId"] for v in listed["Versions"]], list(reversed(ids)))
        self.assertTrue(listed["Versions"][0]["IsLatest"])
        # A plain delete leaves a marker; deleting the marker brings the object back.
        marker = self.s3.delete_object(Bucket=BUCKET, Key="s")
        self.assertTrue(marker["DeleteMarker"])
        self.assertError("NoSuchKey", self.s3.get_object, Bucket=BUCKET, Key="s")
        self.s3.delete_object(Bucket=BUCKET, Key="s", VersionId=marker["VersionId"])
        self.assertEqual(self.s3.get_object(Bucket=BUCKET, Key="s")["Body"].read(), b"v2")
        # Deleting a version by id leaves no marker behind.
        self.s3.delete_object(Bucket=BUCKET, Key="s", VersionId=ids[2])
        listed = self.s3.list_object_versions(Bucket=BUCKET, Prefix="s")
        self.assertNotIn("DeleteMarkers", listed)
        self.assertEqual(self.s3.get_object(Bucket=BUCKET, Key="s")["Body"].read(), b"v1")
        old = self.s3.get_object(Bucket=BUCKET, Key="s", VersionId=ids[0])
        self.assertEqual(old["Body"].read(), b"v0")

    def test_payload_hash_is_verified(self):
        status, body = self.raw("PUT", "/%s/signed" % BUCKET, b"payload")
        self.assertEqual(status, 200, body)
        # A declared hash that is not the body's.
        status, body = self.raw("PUT", "/%s/signed" % BUCKET, b"payload",
                                payload_hash=hashlib.sha256(b"other").hexdigest())
        self.assertEqual(status, 400)
        self.assertIn(b"<Code>XAmzContentSHA256Mismatch</Code>", body)
        # The body changed after signing.
        status, body = self.raw("PUT", "/%s/signed" % BUCKET, b"payload", tamper=b"PAYLOAD")
        self.assertEqual(status, 400)
        self.assertIn(b"XAmzContentSHA256Mismatch", body)
        # The hash header changed after signing: the signature no longer matches.
        status, body = self.raw("GET", "/%s/signed" % BUCKET)
        self.assertEqual(status, 200)

    def test_signature_covers_the_path_as_sent(self):
        key = "dir/with space+plus/state.json"
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
        self.assertEqual(self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read(), b"x")
        status, body = self.raw("GET", "/%s/%s" % (BUCKET, urllib.parse.quote(key)))
        self.assertEqual(status, 200, body)
        self.client("s3", secret="wrong-secret")
        wrong = self.client("s3", secret="wrong-secret")
        self.assertError("SignatureDoesNotMatch", wrong.get_object, Bucket=BUCKET, Key=key)
        unknown = self.client("s3", key="AKIDUNKNOWN")
        self.assertError("InvalidAccessKeyId", unknown.get_object, Bucket=BUCKET, Key=key)
