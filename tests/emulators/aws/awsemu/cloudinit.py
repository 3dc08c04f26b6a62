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
loaded by ssh-keygen, which derives its public key: a public key given beside it
must be that one. What is wrong is reported as cloud-init reports it, on the
console, and no key of that part is installed.
"""
import email
import json
import os
import subprocess
import tempfile

import jsonschema
import yaml

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
    """(public line, fingerprint, bits, type as ssh-keygen -l names it) of an
    OpenSSH-loadable private key; ValueError when OpenSSH cannot load it."""
    with tempfile.TemporaryDirectory(prefix="awsemu-key-") as tmp:
        path = os.path.join(tmp, "key")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(private if private.endswith("\n") else private + "\n")
        pub = subprocess.run(["ssh-keygen", "-y", "-f", path], capture_output=True, text=True,
                             timeout=30)
        if pub.returncode != 0:
            raise ValueError("ssh-keygen cannot load it: %s" % pub.stderr.strip()[-200:])
        with open(path + ".pub", "w") as f:
            f.write(pub.stdout)
        fp = subprocess.run(["ssh-keygen", "-l", "-f", path + ".pub"], capture_output=True,
                            text=True, timeout=30)
        words = fp.stdout.split()
        if fp.returncode != 0 or len(words) < 3:
            raise ValueError("ssh-keygen cannot fingerprint it")
        return pub.stdout.strip(), words[1], words[0], words[-1].strip("()")


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
        except (ValueError, OSError, subprocess.SubprocessError) as e:
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
