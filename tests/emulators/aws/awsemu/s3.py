"""S3: buckets (plain or versioned) and objects, with conditional writes.

The operations a remote state needs: CreateBucket, PutBucketVersioning,
GetBucketVersioning, PutObject (If-None-Match: *, If-Match: ETAG,
server-side encryption settings), GetObject, HeadObject, DeleteObject
(VersionId, If-Match) and ListObjectVersions. Requests are checked against
botocore's s3 model, with the conditional-write members newer models add
(tests/conformance/s3-conditional-writes.json); answers are written from
its output shapes in S3's own forms (headers, raw object bodies, <Error>
documents, empty bodies for HEAD). Path-style addressing only.
"""
import base64
import datetime
import email.utils
import hashlib
import re
import xml.etree.ElementTree as ET

from urllib.parse import quote, unquote

from .errors import ApiError
from .serialize import Serializer, format_timestamp

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
OWNER_ID = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a"

# Root elements of the XML answers, as S3 documents them (the model leaves
# them out).
_ROOTS = {"GetBucketVersioning": "VersioningConfiguration",
          "ListObjectVersions": "ListVersionsResult"}

# Error codes S3 answers and their statuses (the model's error shapes carry
# no status).
_STATUS = {"NoSuchBucket": 404, "NoSuchKey": 404, "NoSuchVersion": 404,
           "PreconditionFailed": 412, "BucketAlreadyOwnedByYou": 409,
           "InvalidBucketName": 400, "NotImplemented": 501, "InvalidArgument": 400,
           "InvalidRequest": 400, "XAmzContentSHA256Mismatch": 400, "AccessDenied": 403,
           "MethodNotAllowed": 405}

_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def s3_error(code, message, **extra):
    err = ApiError(code, message, _STATUS.get(code, 400))
    err.extra = extra
    return err


def http_date(when):
    return email.utils.format_datetime(when.astimezone(datetime.timezone.utc), usegmt=True)


class S3:
    def __init__(self, emulator, model):
        self.emulator = emulator
        self.model = model
        self.after_reset()

    def after_reset(self):
        self.buckets = {}  # name -> {"versioning": None|"Enabled"|"Suspended", "keys": {...}}

    def snapshot(self):
        out = {}
        for name, bucket in self.buckets.items():
            out[name] = {"versioning": bucket["versioning"] or "Unversioned",
                         "created": bucket["created"],
                         "objects": {key: [{"VersionId": v["VersionId"],
                                            "DeleteMarker": v["DeleteMarker"],
                                            "ETag": v.get("ETag"), "Size": len(v.get("Body", b"")),
                                            "ServerSideEncryption": v.get("SSE")}
                                           for v in versions]
                                     for key, versions in bucket["keys"].items()}}
        return out

    # -- helpers --------------------------------------------------------------
    def _bucket(self, name):
        bucket = self.buckets.get(name)
        if bucket is None:
            raise s3_error("NoSuchBucket", "The specified bucket does not exist",
                           BucketName=name)
        return bucket

    @staticmethod
    def _latest(bucket, key):
        versions = bucket["keys"].get(key) or []
        return versions[-1] if versions else None

    def _current(self, bucket, key):
        latest = self._latest(bucket, key)
        if latest is None or latest["DeleteMarker"]:
            return None
        return latest

    def _version_id(self, bucket):
        if bucket["versioning"] == "Enabled":
            return self.emulator.ids.hex(32)
        return "null"

    def _find_version(self, bucket, key, version_id):
        for v in bucket["keys"].get(key) or []:
            if v["VersionId"] == version_id:
                return v
        raise s3_error("NoSuchVersion", "The specified version does not exist.", Key=key,
                       VersionId=version_id)

    def _object_headers(self, v):
        out = {"ETag": v["ETag"], "LastModified": v["LastModified"],
               "ContentLength": len(v["Body"]), "ContentType": v["ContentType"],
               "ServerSideEncryption": v["SSE"], "AcceptRanges": "bytes"}
        if v.get("KMSKeyId"):
            out["SSEKMSKeyId"] = v["KMSKeyId"]
        if v["VersionId"] != "null":
            out["VersionId"] = v["VersionId"]
        out["Metadata"] = dict(v.get("Metadata") or {})
        return out

    # -- buckets --------------------------------------------------------------
    def CreateBucket(self, ctx, p):
        name = p["Bucket"]
        if not _BUCKET_NAME.match(name) or ".." in name:
            raise s3_error("InvalidBucketName", "The specified bucket is not valid.",
                           BucketName=name)
        if name in self.buckets:
            raise s3_error("BucketAlreadyOwnedByYou", "Your previous request to create the "
                           "named bucket succeeded and you already own it.", BucketName=name)
        self.buckets[name] = {"versioning": None, "keys": {}, "created": ctx.now}
        return {"Location": "/" + name}

    def PutBucketVersioning(self, ctx, p):
        bucket = self._bucket(p["Bucket"])
        status = (p.get("VersioningConfiguration") or {}).get("Status")
        if status not in ("Enabled", "Suspended"):
            raise s3_error("MalformedXML", "The XML you provided was not well-formed or did "
                           "not validate against our published schema")
        bucket["versioning"] = status
        return {}

    def GetBucketVersioning(self, ctx, p):
        bucket = self._bucket(p["Bucket"])
        return {"Status": bucket["versioning"]} if bucket["versioning"] else {}

    def ListObjectVersions(self, ctx, p):
        bucket = self._bucket(p["Bucket"])
        prefix = p.get("Prefix", "")
        versions, markers = [], []
        for key in sorted(bucket["keys"]):
            if not key.startswith(prefix):
                continue
            entries = bucket["keys"][key]
            for i, v in enumerate(reversed(entries)):
                common = {"Key": key, "VersionId": v["VersionId"], "IsLatest": i == 0,
                          "LastModified": v["LastModified"],
                          "Owner": {"ID": OWNER_ID}}
                if v["DeleteMarker"]:
                    markers.append(common)
                else:
                    versions.append(dict(common, ETag=v["ETag"], Size=len(v["Body"]),
                                         StorageClass="STANDARD"))
        out = {"IsTruncated": False, "KeyMarker": p.get("KeyMarker", ""), "Name": p["Bucket"],
               "Prefix": prefix, "MaxKeys": p.get("MaxKeys", 1000)}
        if versions:
            out["Versions"] = versions
        if markers:
            out["DeleteMarkers"] = markers
        return out

    # -- objects --------------------------------------------------------------
    def PutObject(self, ctx, p):
        bucket = self._bucket(p["Bucket"])
        key = p["Key"]
        current = self._current(bucket, key)
        if "IfNoneMatch" in p:
            if p["IfNoneMatch"] != "*":
                raise s3_error("NotImplemented", "A header you provided implies "
                               "functionality that is not implemented", Header="If-None-Match")
            if current is not None:
                raise s3_error("PreconditionFailed", "At least one of the pre-conditions you "
                               "specified did not hold", Condition="If-None-Match")
        if "IfMatch" in p:
            if current is None:
                raise s3_error("NoSuchKey", "The specified key does not exist.", Key=key)
            if p["IfMatch"] != current["ETag"]:
                raise s3_error("PreconditionFailed", "At least one of the pre-conditions you "
                               "specified did not hold", Condition="If-Match")
        body = p.get("Body", b"")
        if "ContentMD5" in p:
            if base64.b64encode(hashlib.md5(body).digest()).decode() != p["ContentMD5"]:
                raise s3_error("BadDigest", "The Content-MD5 you specified did not match what "
                               "we received.")
        sse = p.get("ServerSideEncryption", "AES256")
        kms = p.get("SSEKMSKeyId")
        if kms and sse != "aws:kms":
            raise s3_error("InvalidArgument", "Server Side Encryption with KMS managed key "
                           "requires HTTP header x-amz-server-side-encryption : aws:kms")
        if sse == "aws:kms" and not kms:
            kms = "arn:aws:kms:%s:%s:key/aws/s3" % (ctx.region_name, ctx.account_id)
        version = {"VersionId": self._version_id(bucket), "DeleteMarker": False, "Body": body,
                   "ETag": '"%s"' % hashlib.md5(body).hexdigest(),
                   "LastModified": ctx.now.replace(microsecond=0),
                   "ContentType": p.get("ContentType", "binary/octet-stream"),
                   "SSE": sse, "KMSKeyId": kms, "Metadata": p.get("Metadata") or {}}
        self._store(bucket, key, version)
        out = {"ETag": version["ETag"], "ServerSideEncryption": sse}
        if kms:
            out["SSEKMSKeyId"] = kms
        if version["VersionId"] != "null":
            out["VersionId"] = version["VersionId"]
        return out

    @staticmethod
    def _store(bucket, key, version):
        entries = bucket["keys"].setdefault(key, [])
        if version["VersionId"] == "null":
            # Unversioned (or suspended): the "null" version is replaced.
            entries[:] = [v for v in entries if v["VersionId"] != "null"]
        entries.append(version)

    def _read(self, p):
        bucket = self._bucket(p["Bucket"])
        key = p["Key"]
        if "VersionId" in p:
            v = self._find_version(bucket, key, p["VersionId"])
            if v["DeleteMarker"]:
                raise s3_error("MethodNotAllowed", "The specified method is not allowed "
                               "against this resource.", Method="GET", ResourceType="DeleteMarker")
            return v
        v = self._current(bucket, key)
        if v is None:
            raise s3_error("NoSuchKey", "The specified key does not exist.", Key=key)
        if "IfMatch" in p and p["IfMatch"] != v["ETag"]:
            raise s3_error("PreconditionFailed", "At least one of the pre-conditions you "
                           "specified did not hold", Condition="If-Match")
        return v

    def GetObject(self, ctx, p):
        v = self._read(p)
        return dict(self._object_headers(v), Body=v["Body"])

    def HeadObject(self, ctx, p):
        return self._object_headers(self._read(p))

    def DeleteObject(self, ctx, p):
        bucket = self._bucket(p["Bucket"])
        key = p["Key"]
        if "IfMatch" in p:
            current = self._current(bucket, key)
            if current is None:
                raise s3_error("NoSuchKey", "The specified key does not exist.", Key=key)
            if p["IfMatch"] != current["ETag"]:
                raise s3_error("PreconditionFailed", "At least one of the pre-conditions you "
                               "specified did not hold", Condition="If-Match")
        entries = bucket["keys"].get(key) or []
        if "VersionId" in p:
            # Permanent removal of one version; a missing one is no error.
            gone = [v for v in entries if v["VersionId"] == p["VersionId"]]
            bucket["keys"][key] = [v for v in entries if v["VersionId"] != p["VersionId"]]
            if not bucket["keys"][key]:
                bucket["keys"].pop(key, None)
            out = {"VersionId": p["VersionId"]}
            if gone and gone[0]["DeleteMarker"]:
                out["DeleteMarker"] = True
            return out
        if bucket["versioning"] is None:
            bucket["keys"].pop(key, None)
            return {}
        marker = {"VersionId": self._version_id(bucket), "DeleteMarker": True,
                  "LastModified": ctx.now.replace(microsecond=0)}
        self._store(bucket, key, marker)
        out = {"DeleteMarker": True}
        if marker["VersionId"] != "null":
            out["VersionId"] = marker["VersionId"]
        return out


# -- the wire -------------------------------------------------------------------

def compile_s3_routes(model):
    """[(method, regex, required query keys, required headers, literal length, op name)],
    most specific first.

    S3 tells operations on one path apart by a query key written in the
    requestUri ("/{Bucket}?versioning") or by a header the operation requires
    (CopyObject's x-amz-copy-source): a route matches only when its keys and
    headers are present, and the most demanding routes are tried first."""
    routes = []
    for name, op in model.operations.items():
        uri, _, query = op["http"]["requestUri"].partition("?")
        keys = tuple(k.partition("=")[0] for k in query.split("&") if k)
        shape = model.shape(op["input"]["shape"]) if "input" in op else {}
        members = shape.get("members", {})
        needed = tuple(members[m]["locationName"].lower() for m in shape.get("required", [])
                       if members[m].get("location") == "header")
        keys += tuple(members[m]["locationName"] for m in shape.get("required", [])
                      if members[m].get("location") == "querystring")
        pattern, literal = "", 0
        for piece in re.split(r"(\{[^}]+\})", uri.rstrip("/")):
            if piece.startswith("{"):
                label = piece[1:-1]
                pattern += "(?P<%s>.+)" % label[:-1] if label.endswith("+") else \
                    "(?P<%s>[^/]+)" % label
            else:
                pattern += re.escape(piece)
                literal += len(piece)
        routes.append((op["http"]["method"], re.compile("^%s/?$" % pattern), keys, needed,
                       literal, name))
    routes.sort(key=lambda r: (-len(r[2]) - len(r[3]), -r[4]))
    return routes


def canonical_uri(path):
    """S3's canonical URI: the path as sent, each byte encoded once (no normalisation)."""
    return quote(unquote(path), safe="/~-_.")


def check_payload(headers, body):
    """The x-amz-content-sha256 header must be there and, unless the payload is
    declared unsigned, be the SHA-256 of the body received."""
    value = None
    for name, v in headers:
        if name.lower() == "x-amz-content-sha256":
            value = v.strip()
    if value is None:
        raise s3_error("InvalidRequest", "Missing required header for this request: "
                       "x-amz-content-sha256")
    if value == "UNSIGNED-PAYLOAD":
        return value
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise s3_error("InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or "
                       "a valid sha256 value.")
    computed = hashlib.sha256(body).hexdigest()
    if value != computed:
        raise s3_error("XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' "
                       "header does not match what was computed.",
                       ClientComputedContentSHA256=value, S3ComputedContentSHA256=computed)
    return value


class S3Serializer(Serializer):
    """S3's answers: header members as headers (timestamps in HTTP-date form,
    metadata as x-amz-meta-*), a blob payload as the raw body, XML roots as S3
    names them, nothing at all where there is nothing to say, and <Error>."""

    def response(self, op_name, result, request_id):
        op = self.model.operations[op_name]
        status = op["http"].get("responseCode", 200)
        headers = {"x-amz-request-id": request_id, "x-amz-id-2": request_id}
        output = op.get("output")
        if not output:
            return status, headers, b""
        shape = self.model.shape(output["shape"])
        members = shape.get("members", {})
        body_values = {}
        for name, ref in members.items():
            if name not in result or result[name] is None:
                continue
            value = result[name]
            if ref.get("location") == "header":
                kind = self.model.shape(ref["shape"])["type"]
                if kind == "timestamp":
                    value = http_date(value)
                elif kind == "boolean":
                    value = "true" if value else "false"
                headers[ref["locationName"]] = str(value)
            elif ref.get("location") == "headers":
                for k, v in value.items():
                    headers[ref["locationName"] + k] = v
            elif name != shape.get("payload"):
                body_values[name] = value
        payload = shape.get("payload")
        if payload and payload in result:
            body = result[payload]
            headers.setdefault("Content-Type", result.get("ContentType", "binary/octet-stream"))
            return status, headers, body if isinstance(body, bytes) else body.encode()
        if not body_values:
            return status, headers, b""
        root = ET.Element(_ROOTS.get(op_name, output["shape"]), xmlns=NAMESPACE)
        self.write_members(root, output["shape"], body_values)
        headers["Content-Type"] = "application/xml"
        return status, headers, ET.tostring(root, encoding="utf-8", xml_declaration=True)

    def error(self, err, request_id):
        headers = {"Content-Type": "application/xml", "x-amz-request-id": request_id,
                   "x-amz-id-2": request_id}
        root = ET.Element("Error")
        ET.SubElement(root, "Code").text = err.code
        ET.SubElement(root, "Message").text = err.message
        for k, v in (getattr(err, "extra", None) or {}).items():
            ET.SubElement(root, k).text = str(v)
        ET.SubElement(root, "RequestId").text = request_id
        ET.SubElement(root, "HostId").text = request_id
        return err.status, headers, ET.tostring(root, encoding="utf-8", xml_declaration=True)


__all__ = ["S3", "S3Serializer", "compile_s3_routes", "canonical_uri", "check_payload",
           "s3_error", "format_timestamp"]
