"""What cloud-init would make of an instance's user data: the scripts it runs and the
SSH host keys it installs (its ssh module's ssh_keys).

User data is read as cloud-init's user_data.py reads it: a MIME document when
"MIME-Version:" appears in its first 4096 bytes, each non-multipart part typed by
its Content-Type, parts of type text/plain, text/x-not-multipart and
text/x-shellscript typed by their first line instead (cloud-init's
INCLUSION_TYPES_MAP, longest prefix first). User data that is not MIME keeps the
emulator's older rule (README): "#!" runs as is, "#cloud-config" is read, any other
text runs with /bin/sh.

A cloud-config part must be a YAML mapping; the keys of cloud-init's ssh module are
checked against that module's part of cloud-init's own JSON schema
(tests/conformance/cloud-init-cc-ssh.schema.json). Each ssh_keys private key is
loaded (OpenSSL, through python3-cryptography, as OpenSSH loads PEM keys), and
its public key derived from it: a public key given beside it must be that one. What is wrong is reported as cloud-init reports it, on the
console, and no key of that part is installed.
"""
import base64
import email
import hashlib
import json
import os

import jsonschema
import yaml
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

_HERE = os.path.dirname(os.path.abspath(__file__))
_SCHEMA_PATH = os.path.join(_HERE, "..", "..", "..", "conformance",
                            "cloud-init-cc-ssh.schema.json")

# cloud-init's cloudinit/handlers/__init__.py INCLUSION_TYPES_MAP.
_PREFIXES = {
    "#include": "text/x-include-url",
    "#include-once": "text/x-include-once-url",
    "#!": "text/x-shellscript",
    "#cloud-config": "text/cloud-config",
    "#part-handler": "text/part-handler",
    "#cloud-boothook": "text/cloud-boothook",
    "#cloud-config-archive": "text/cloud-config-archive",
    "#cloud-config-jsonp": "text/cloud-config-jsonp",
    "## template: jinja": "text/jinja2",
}
_TYPE_NEEDED = ("text/plain", "text/x-not-multipart", "text/x-shellscript")
_KEY_TYPES = ("ecdsa", "ed25519", "rsa")

_schema = None


def _ssh_schema():
    global _schema
    if _schema is None:
        with open(_SCHEMA_PATH) as f:
            _schema = json.load(f)
    return _schema


def _type_from_start(payload):
    text = payload.decode("utf-8", "replace")
    for prefix in sorted(_PREFIXES, key=lambda p: -len(p)):
        if text.startswith(prefix):
            return _PREFIXES[prefix]
    return None


class UserData:
    """scripts: payloads to run (bytes); host_keys: {type: {"private", "public",
    "fingerprint"}}; console: lines cloud-init would print about them."""

    def __init__(self):
        self.scripts = []
        self.host_keys = {}
        self.console = []

    def public_state(self):
        """For /_emulator/state: what it holds, never a private key."""
        return {"scripts": len(self.scripts), "console": list(self.console),
                "host_keys": {k: v["fingerprint"] for k, v in self.host_keys.items()}}


def _key_facts(private):
    """(public line, fingerprint, bits, type as ssh-keygen -l names it) of a private
    key in a form OpenSSH loads (PEM, PKCS#8 or OpenSSH's own), read with OpenSSL
    through python3-cryptography; ValueError when it is none."""
    data = private.encode()
    try:
        if b"BEGIN OPENSSH PRIVATE KEY" in data:
            key = serialization.load_ssh_private_key(data, password=None)
        else:
            key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise ValueError("not a private key OpenSSH loads: %s" % str(e).splitlines()[0])
    if isinstance(key, ec.EllipticCurvePrivateKey):
        label, bits = "ECDSA", key.curve.key_size
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        label, bits = "ED25519", 256
    elif isinstance(key, rsa.RSAPrivateKey):
        label, bits = "RSA", key.key_size
    else:
        raise ValueError("not an ecdsa, ed25519 or rsa key")
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    blob = base64.b64decode(public.split()[1])
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return public, "SHA256:" + digest, str(bits), label


def _cloud_config(payload, out):
    try:
        cfg = yaml.safe_load(payload.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        out.console.append("cloud-init: cloud-config is not YAML: %s" % str(e).splitlines()[0])
        return
    if not isinstance(cfg, dict):
        out.console.append("cloud-init: cloud-config is not a mapping")
        return
    schema = _ssh_schema()
    mine = {k: v for k, v in cfg.items() if k in schema.get("properties", {})}
    try:
        jsonschema.validate(mine, schema)
    except jsonschema.ValidationError as e:
        path = ".".join(str(p) for p in e.absolute_path)
        out.console.append("cloud-init: schema error in cloud-config: %s: %s"
                           % (path or "(top)", e.message))
        return
    keys = {}
    for kind in _KEY_TYPES:
        private = (cfg.get("ssh_keys") or {}).get(kind + "_private")
        public = (cfg.get("ssh_keys") or {}).get(kind + "_public")
        if private is None:
            if public is not None:
                out.console.append("cloud-init: ssh_keys: %s_public without %s_private is "
                                   "not installed" % (kind, kind))
            continue
        try:
            derived, fingerprint, bits, label = _key_facts(private)
        except ValueError as e:
            out.console.append("cloud-init: ssh_keys: %s_private: %s" % (kind, e))
            return
        if public is not None and public.split()[:2] != derived.split()[:2]:
            out.console.append("cloud-init: ssh_keys: %s_public is not the public half of "
                               "%s_private" % (kind, kind))
            return
        keys[kind] = {"private": private, "public": derived, "fingerprint": fingerprint,
                      "bits": bits, "label": label}
    if keys:
        # ssh_keys given: cloud-init removes the image's keys and generates none.
        out.host_keys = keys


def _part(ctype, payload, out):
    if ctype == "text/x-shellscript":
        out.scripts.append(payload)
    elif ctype == "text/cloud-config":
        _cloud_config(payload, out)
    else:
        out.console.append("awsemu: a %s part is not run by the emulator" % ctype)


def read(raw):
    """UserData of raw user data (bytes or None)."""
    out = UserData()
    if not raw:
        return out
    if b"mime-version:" not in raw[:4096].lower():
        kind = _type_from_start(raw)
        if kind == "text/cloud-config":
            _cloud_config(raw, out)
        else:
            out.scripts.append(raw)  # "#!" as is, other text with /bin/sh (README)
        return out
    message = email.message_from_bytes(raw)
    for part in message.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True) or b""
        ctype = part.get_content_type()
        if ctype in _TYPE_NEEDED:
            ctype = _type_from_start(payload) or ctype
        _part(ctype, payload, out)
    return out
