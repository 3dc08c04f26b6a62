"""OAuth: the token endpoint (JWT bearer and refresh-token grants), the metadata
server's token path, and the bearer tokens every API call must carry.

JWT assertions are verified with PyJWT (Debian's python3-jwt) against the
public keys the test world names per service account; nothing here signs or
checks RS256 by hand. Access tokens are opaque random strings the emulator
remembers with their principal, scopes and expiry.
"""
import json
import secrets
import threading
import time
from urllib.parse import parse_qsl

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import errors

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
_SCOPE_PREFIX = "https://www.googleapis.com/auth/"
_SKEW = 300  # seconds of clock difference tolerated on iat
_TIMEFRAME = ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
              "timeframe. Check your iat and exp values in the JWT claim.")


class GrantError(Exception):
    """An OAuth error answer: {"error": code, "error_description": text}."""

    def __init__(self, status, code, description):
        super().__init__("%s: %s" % (code, description))
        self.status = status
        self.code = code
        self.description = description

    def body(self):
        return {"error": self.code, "error_description": self.description}


def load_public_key(path):
    """An RSA public key from a PEM public key, certificate, or service-account key file."""
    with open(path, "rb") as f:
        data = f.read()
    if data.lstrip().startswith(b"{"):
        info = json.loads(data)
        private = serialization.load_pem_private_key(info["private_key"].encode(), None)
        return private.public_key()
    if b"BEGIN CERTIFICATE" in data:
        return x509.load_pem_x509_certificate(data).public_key()
    return serialization.load_pem_public_key(data)


class Auth:
    """Issued tokens and the principals that may get them."""

    def __init__(self, emulator, service_accounts, authorized_users, metadata_account=None,
                 metadata_scopes=(CLOUD_PLATFORM,)):
        self.emulator = emulator
        self.service_accounts = service_accounts  # email -> [public keys]
        self.authorized_users = authorized_users  # client_id -> (secret, refresh_token)
        config = emulator.config
        self.metadata_account = metadata_account or (
            "%s-compute@developer.gserviceaccount.com" % config.project_number)
        self.metadata_scopes = list(metadata_scopes)
        self._tokens = {}  # token -> {"principal", "scopes", "expires"}
        self._lock = threading.Lock()
        self.issued = 0

    def snapshot(self):
        with self._lock:
            now = time.time()
            live = [t for t in self._tokens.values() if t["expires"] > now]
            return {"service_accounts": sorted(self.service_accounts),
                    "authorized_users": sorted(self.authorized_users),
                    "metadata_account": self.metadata_account,
                    "tokens_issued": self.issued, "tokens_live": len(live)}

    def _issue(self, principal, scopes):
        lifetime = self.emulator.config.token_seconds
        token = "ya29.emu-" + secrets.token_urlsafe(32)
        with self._lock:
            now = time.time()
            for old in [t for t, v in self._tokens.items() if v["expires"] <= now - 3600]:
                del self._tokens[old]
            self._tokens[token] = {"principal": principal, "scopes": set(scopes),
                                   "expires": now + lifetime}
            self.issued += 1
        # Google answers a second less than the lifetime, so that clients refresh in time.
        return {"access_token": token, "expires_in": max(1, lifetime - 1),
                "token_type": "Bearer"}

    def expire_all(self):
        """Every issued token stops working now (the control API); returns how many."""
        with self._lock:
            now = time.time()
            live = [v for v in self._tokens.values() if v["expires"] > now]
            for record in live:
                record["expires"] = now
            return len(live)

    # -- POST /token --------------------------------------------------------------
    def token_endpoint(self, audience, body):
        """(status, JSON body) for one token request; audience: this endpoint's URL."""
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        grant = form.get("grant_type")
        try:
            if grant == JWT_GRANT:
                return 200, self._jwt_grant(audience, form)
            if grant == "refresh_token":
                return 200, self._refresh_grant(form)
            if not grant:
                raise GrantError(400, "invalid_request", "Missing required parameter: "
                                 "grant_type")
            raise GrantError(400, "unsupported_grant_type", "Invalid grant_type: %s"
                             % grant[:80])
        except GrantError as e:
            return e.status, e.body()

    def _jwt_grant(self, audience, form):
        assertion = form.get("assertion")
        if not assertion:
            raise GrantError(400, "invalid_request", "Missing required parameter: assertion")
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise GrantError(400, "invalid_grant", "Invalid JWT Signature.")
        if header.get("alg") != "RS256":
            raise GrantError(400, "invalid_grant", "Invalid JWT Signature.")
        issuer = claims.get("iss")
        keys = self.service_accounts.get(issuer)
        if not keys:
            raise GrantError(400, "invalid_grant", "Invalid grant: account not found")
        verified = False
        for key in keys:
            try:
                jwt.decode(assertion, key, algorithms=["RS256"],
                           options={"verify_aud": False, "verify_exp": False,
                                    "verify_iat": False, "verify_nbf": False})
                verified = True
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError:
                break
        if not verified:
            raise GrantError(400, "invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") != audience:
            raise GrantError(400, "invalid_grant", "Invalid JWT: Failed audience check. The "
                             "right audience is %s" % audience)
        iat, exp = claims.get("iat"), claims.get("exp")
        now = time.time()
        if not isinstance(iat, (int, float)) or not isinstance(exp, (int, float)) or \
                exp - iat > 3600 or exp <= iat or exp <= now or iat > now + _SKEW:
            raise GrantError(400, "invalid_grant", _TIMEFRAME)
        if claims.get("sub") not in (None, issuer):
            raise GrantError(401, "unauthorized_client", "Client is unauthorized to retrieve "
                             "access tokens using this method, or client not authorized for "
                             "any of the scopes requested.")
        scopes = (claims.get("scope") or "").split()
        if not scopes:
            raise GrantError(400, "invalid_scope", "Empty or missing scope not allowed.")
        for scope in scopes:
            if not scope.startswith(_SCOPE_PREFIX) and scope not in ("openid", "email"):
                raise GrantError(400, "invalid_scope", "Invalid OAuth scope or ID token "
                                 "audience provided.")
        return self._issue(issuer, scopes)

    def _refresh_grant(self, form):
        client_id = form.get("client_id", "")
        user = self.authorized_users.get(client_id)
        if user is None:
            raise GrantError(401, "invalid_client", "The OAuth client was not found.")
        secret, refresh_token = user
        if not secrets.compare_digest(form.get("client_secret", ""), secret):
            raise GrantError(401, "invalid_client", "Unauthorized")
        if not secrets.compare_digest(form.get("refresh_token", ""), refresh_token):
            raise GrantError(400, "invalid_grant", "Token has been expired or revoked.")
        scopes = [CLOUD_PLATFORM, "https://www.googleapis.com/auth/userinfo.email", "openid"]
        out = self._issue("user:" + client_id, scopes)
        out["scope"] = " ".join(scopes)
        return out

    # -- the metadata server ------------------------------------------------------
    def metadata_root(self, headers):
        """(status, headers, body) for GET /: the listing of the metadata root."""
        out_headers = {"Metadata-Flavor": "Google", "Content-Type": "application/text"}
        if headers.get("Metadata-Flavor") != "Google":
            return 403, out_headers, b"Missing Metadata-Flavor:Google header.\n"
        return 200, out_headers, b"computeMetadata/\n"

    def metadata(self, path, query, headers):
        """(status, headers, body) for GET /computeMetadata/v1/...."""
        out_headers = {"Metadata-Flavor": "Google", "Content-Type": "application/text"}
        if headers.get("Metadata-Flavor") != "Google":
            return 403, out_headers, b"Missing Metadata-Flavor:Google header.\n"
        if headers.get("X-Forwarded-For"):
            return 403, out_headers, b"Requests with X-Forwarded-For are refused.\n"
        rest = path[len("/computeMetadata/v1/"):]
        recursive = dict(parse_qsl(query)).get("recursive") in ("true", "True", "1")
        email = self.metadata_account
        info = {"aliases": ["default"], "email": email, "scopes": self.metadata_scopes}
        if rest == "project/project-id":
            return 200, out_headers, self.emulator.config.project.encode()
        if rest == "project/numeric-project-id":
            return 200, out_headers, self.emulator.config.project_number.encode()
        if rest == "instance/service-accounts/":
            return 200, out_headers, ("default/\n%s/\n" % email).encode()
        prefix = "instance/service-accounts/"
        if rest.startswith(prefix):
            account, _, leaf = rest[len(prefix):].partition("/")
            if account in ("default", email):
                if leaf == "" and recursive:
                    out_headers["Content-Type"] = "application/json"
                    return 200, out_headers, json.dumps(info).encode()
                if leaf == "":
                    return 200, out_headers, b"aliases\nemail\nidentity\nscopes\ntoken\n"
                if leaf == "email":
                    return 200, out_headers, email.encode()
                if leaf == "scopes":
                    return 200, out_headers, ("\n".join(self.metadata_scopes) + "\n").encode()
                if leaf == "token":
                    out_headers["Content-Type"] = "application/json"
                    return 200, out_headers, json.dumps(
                        self._issue(email, self.metadata_scopes)).encode()
        return 404, out_headers, b"Not Found\n"

    # -- every API call -----------------------------------------------------------
    def authenticate(self, header, query_token):
        """The token's record for a call, or the 401 Google gives."""
        token = None
        if header:
            kind, _, value = header.partition(" ")
            if kind.lower() != "bearer" or not value.strip():
                raise errors.unauthenticated(missing=False)
            token = value.strip()
        elif query_token:
            token = query_token
        if not token:
            raise errors.unauthenticated(missing=True)
        with self._lock:
            record = self._tokens.get(token)
            if record is None or record["expires"] <= time.time():
                raise errors.unauthenticated(missing=False)
            return dict(record)

    @staticmethod
    def authorize(record, method):
        """403 unless one of the token's scopes is one the method accepts."""
        if method.scopes and not record["scopes"] & set(method.scopes):
            raise errors.insufficient_scopes()
