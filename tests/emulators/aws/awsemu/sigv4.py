"""AWS Signature Version 4, recomputed from the raw request.

The verifier never trusts what the client says it signed: it rebuilds the
canonical request from the bytes it received (method, path, query, the
headers named in SignedHeaders, the body) and compares signatures in
constant time.
"""
import datetime
import hashlib
import hmac
import re
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = datetime.timedelta(minutes=15)
_WS = re.compile(r"\s+")


class AuthError(Exception):
    """A refused signature: code and message; the caller picks the service's form."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind  # missing | incomplete | mismatch | expired | unknown_key | bad_token
        self.message = message


def _sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def _hmac(key, msg):
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def _remove_dot_segments(path):
    # RFC 3986 5.2.4, plus the collapsing of empty segments AWS applies to
    # every service but S3.
    out = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if out:
                out.pop()
            continue
        out.append(segment)
    result = "/" + "/".join(out)
    if path.endswith("/") and out:
        result += "/"
    return result


def canonical_uri(path):
    """The path as the signer saw it, normalized and percent-encoded once more."""
    if not path:
        return "/"
    return quote(_remove_dot_segments(path), safe="/~")


def _encode(value):
    return quote(value, safe="-_.~")


def canonical_query(raw_query):
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((_encode(unquote(name)), _encode(unquote(value))))
    pairs.sort()
    return "&".join("%s=%s" % p for p in pairs)


def canonical_headers(headers, signed_names):
    """headers: (name, value) pairs in received order; signed_names: lowercase."""
    values = {}
    for name, value in headers:
        lname = name.lower()
        if lname in signed_names:
            values.setdefault(lname, []).append(_WS.sub(" ", value.strip()))
    lines = []
    for lname in signed_names:
        lines.append("%s:%s\n" % (lname, ",".join(values.get(lname, []))))
    return "".join(lines)


def canonical_request(method, path, raw_query, headers, signed_names, body, uri_rule=None,
                      payload_hash=None):
    """uri_rule: how the path is made canonical (S3 has its own); payload_hash:
    the hash the client declared in x-amz-content-sha256 (S3), else the body's."""
    return "\n".join([
        method,
        (uri_rule or canonical_uri)(path),
        canonical_query(raw_query),
        canonical_headers(headers, signed_names),
        ";".join(signed_names),
        payload_hash if payload_hash is not None else _sha256_hex(body),
    ])


def string_to_sign(amz_date, scope, creq):
    return "\n".join([ALGORITHM, amz_date, scope, _sha256_hex(creq.encode("utf-8"))])


def signing_key(secret, date, region, service):
    k = _hmac(("AWS4" + secret).encode("utf-8"), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def signature(secret, date, region, service, sts):
    key = signing_key(secret, date, region, service)
    return hmac.new(key, sts.encode("utf-8"), hashlib.sha256).hexdigest()


def authorization_header(akid, scope, signed_names, sig):
    return "%s Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        ALGORITHM, akid, scope, ";".join(signed_names), sig)


class Authorization:
    """The parsed Authorization header."""

    def __init__(self, akid, date, region, service, terminator, signed_names, sig):
        self.akid = akid
        self.date = date
        self.region = region
        self.service = service
        self.terminator = terminator
        self.signed_names = signed_names
        self.signature = sig

    @property
    def scope(self):
        return "/".join([self.date, self.region, self.service, self.terminator])


def parse_authorization(value):
    """Parse 'AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...'."""
    if value is None:
        raise AuthError("missing", "Request is missing Authentication Token")
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise AuthError("incomplete",
                        "Unsupported AWS 'algorithm': '%s'" % algorithm[:40])
    fields = {}
    for item in rest.split(","):
        key, sep, val = item.strip().partition("=")
        if sep:
            fields[key] = val
    for required in ("Credential", "SignedHeaders", "Signature"):
        if not fields.get(required):
            raise AuthError("incomplete",
                            "Authorization header requires '%s' parameter." % required)
    parts = fields["Credential"].split("/")
    if len(parts) != 5 or not all(parts):
        raise AuthError("incomplete",
                        "Credential must have exactly 5 slash-delimited elements, "
                        "e.g. keyid/date/region/service/term")
    signed = fields["SignedHeaders"].split(";")
    if signed != sorted(signed) or any(s != s.lower() or not s for s in signed):
        raise AuthError("incomplete", "SignedHeaders must be lowercase, sorted and non-empty.")
    if not re.fullmatch(r"[0-9a-f]{64}", fields["Signature"]):
        raise AuthError("incomplete", "Signature must be 64 lowercase hexadecimal characters.")
    return Authorization(parts[0], parts[1], parts[2], parts[3], parts[4], signed,
                         fields["Signature"])


def _header(headers, lname):
    for name, value in headers:
        if name.lower() == lname:
            return value.strip()
    return None


def verify(auth, method, path, raw_query, headers, body, credentials, valid_regions, now,
           uri_rule=None, payload_hash=None):
    """Check one request's signature; return the matching credential or raise AuthError.

    credentials: {akid: (secret, session_token or None)}; now: aware UTC datetime;
    uri_rule and payload_hash: S3's rules (see canonical_request).
    """
    if auth.terminator != "aws4_request":
        raise AuthError("mismatch", "Credential should be scoped with a valid terminator: "
                        "'aws4_request', not '%s'." % auth.terminator[:40])
    for required in ("host", "x-amz-date"):
        if required not in auth.signed_names:
            raise AuthError("incomplete",
                            "'%s' must be a 'SignedHeader' in the AWS Authorization." % required)
    amz_date = _header(headers, "x-amz-date")
    if amz_date is None:
        raise AuthError("incomplete", "Authorization header requires existence of "
                        "either a 'X-Amz-Date' or a 'Date' header.")
    try:
        when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc)
    except ValueError:
        raise AuthError("incomplete", "X-Amz-Date must be in ISO 8601 basic format "
                        "(YYYYMMDDTHHMMSSZ): '%s'" % amz_date[:40])
    if auth.date != amz_date[:8]:
        raise AuthError("mismatch", "Date in Credential scope does not match YYYYMMDD "
                        "from ISO-8601 version of date from HTTP: '%s' != '%s'"
                        % (auth.date[:20], amz_date[:8]))
    if auth.region not in valid_regions:
        raise AuthError("mismatch", "Credential should be scoped to a valid region, "
                        "not '%s'." % auth.region[:40])
    if abs(now - when) > MAX_SKEW:
        raise AuthError("expired", "Request has expired: the request time %s is more than "
                        "15 minutes from the server time %s."
                        % (amz_date, now.strftime("%Y%m%dT%H%M%SZ")))
    if auth.akid not in credentials:
        raise AuthError("unknown_key", "The security token included in the request is invalid.")
    secret, token = credentials[auth.akid]
    creq = canonical_request(method, path, raw_query, headers, auth.signed_names, body,
                             uri_rule, payload_hash)
    sts = string_to_sign(amz_date, auth.scope, creq)
    expected = signature(secret, auth.date, auth.region, auth.service, sts)
    if not hmac.compare_digest(expected, auth.signature):
        raise AuthError("mismatch", "The request signature we calculated does not match the "
                        "signature you provided. Check your AWS Secret Access Key and "
                        "signing method. Consult the service documentation for details.")
    sent_token = _header(headers, "x-amz-security-token")
    if (token or sent_token) and not hmac.compare_digest(
            (token or "").encode(), (sent_token or "").encode()):
        raise AuthError("bad_token", "The security token included in the request is invalid.")
    return auth.akid
