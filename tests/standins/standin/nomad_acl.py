"""Nomad ACLs: the one-time bootstrap (with a chosen BootstrapSecret), token
resolution, policies (HCL or JSON rules) and the capability an endpoint
needs."""
import re
import time
import uuid

from .httpd import HTTPError
from .util import new_uuid

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
LEVELS = {"deny": -1, "": 0, "list": 1, "read": 2, "write": 3}
NS_READ = {"list-jobs", "parse-job", "read-job", "read-logs", "read-fs", "read-job-scaling", "list-scaling-policies"}
NS_WRITE = NS_READ | {"submit-job", "dispatch-job", "alloc-exec", "alloc-lifecycle", "scale-job",
                      "submit-recommendation", "csi-write-volume", "csi-mount-volume"}


def now_rfc3339():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class ACLIdentity:
    def __init__(self, token, rules):
        self.token = token
        self.management = bool(token) and token.get("Type") == "management"
        self.rules = rules

    def allowed(self, need):
        """need = ("namespace", ns, capability) | (resource, level)."""
        if self.management:
            return True
        if need[0] == "management":
            return False
        if need[0] == "namespace":
            _, ns, cap = need
            caps = set()
            for r in self.rules:
                for name, block in (r.get("namespace") or {}).items():
                    if name == ns or (name.endswith("*") and ns.startswith(name[:-1])):
                        pol = block.get("policy", "")
                        if pol == "deny":
                            return False
                        caps |= {"read": NS_READ, "write": NS_WRITE}.get(pol, set())
                        caps |= set(block.get("capabilities") or [])
            return cap in caps
        res, level = need
        best = 0
        for r in self.rules:
            block = r.get(res)
            if isinstance(block, list):
                block = block[0] if block else {}
            if isinstance(block, dict):
                pol = block.get("policy", "")
                if pol == "deny":
                    return False
                best = max(best, LEVELS.get(pol, 0))
        return best >= LEVELS[level]


def parse_rules(text):
    """Policy rules (HCL or JSON) -> dict; raises ValueError."""
    from . import hcl
    body = hcl.parse_config(text)
    return body


class ACL:
    def __init__(self, state, enabled):
        self.state = state
        self.enabled = enabled

    @property
    def acl(self):
        return self.state.data["acl"]

    def bootstrap(self, secret):
        if not self.enabled:
            raise HTTPError(400, "ACL support disabled")
        if self.acl["bootstrap_index"]:
            raise HTTPError(400, "ACL bootstrap already done (reset index: %d)" % self.acl["bootstrap_index"])
        if secret and not UUID_RE.match(secret):
            raise HTTPError(400, "invalid acl token")
        idx = self.state.bump()
        tok = {"AccessorID": new_uuid(), "SecretID": secret or new_uuid(), "Name": "Bootstrap Token",
               "Type": "management", "Policies": None, "Roles": None, "Global": True,
               "CreateTime": now_rfc3339(), "ExpirationTime": None, "ExpirationTTL": 0,
               "CreateIndex": idx, "ModifyIndex": idx, "Hash": ""}
        self.acl["tokens"][tok["AccessorID"]] = tok
        self.acl["bootstrap_index"] = idx
        return tok

    def by_secret(self, secret):
        for t in self.acl["tokens"].values():
            if t["SecretID"] == secret:
                return t
        return None

    def resolve(self, secret):
        """An ACLIdentity for secret; HTTPError(403) for an unknown token."""
        if not self.enabled:
            return ACLIdentity({"Type": "management"}, [])
        if not secret:
            anon = self.acl["policies"].get("anonymous")
            return ACLIdentity(None, [anon["_rules"]] if anon else [])
        tok = self.by_secret(secret)
        if tok is None:
            raise HTTPError(403, "ACL token not found")
        rules = [self.acl["policies"][p]["_rules"] for p in tok.get("Policies") or [] if p in self.acl["policies"]]
        return ACLIdentity(tok, rules)

    def check(self, secret, need):
        ident = self.resolve(secret)
        if need is not None and not ident.allowed(need):
            raise HTTPError(403, "Permission denied")
        return ident

    def upsert_policy(self, name, body):
        rules_text = body.get("Rules", "")
        try:
            rules = parse_rules(rules_text)
        except ValueError as e:
            raise HTTPError(400, "policy parse error: %s" % e)
        idx = self.state.bump()
        old = self.acl["policies"].get(name) or {}
        self.acl["policies"][name] = {"Name": name, "Description": body.get("Description", ""), "Rules": rules_text,
                                      "_rules": rules, "CreateIndex": old.get("CreateIndex", idx), "ModifyIndex": idx}

    def create_token(self, body):
        ttype = body.get("Type") or "client"
        if ttype not in ("client", "management"):
            raise HTTPError(400, "token type must be client or management")
        if ttype == "client" and not body.get("Policies") and not body.get("Roles"):
            raise HTTPError(400, "client token missing policies or roles")
        idx = self.state.bump()
        tok = {"AccessorID": body.get("AccessorID") or str(uuid.uuid4()), "SecretID": str(uuid.uuid4()),
               "Name": body.get("Name", ""), "Type": ttype, "Policies": body.get("Policies"), "Roles": None,
               "Global": bool(body.get("Global")), "CreateTime": now_rfc3339(), "ExpirationTime": None,
               "ExpirationTTL": 0, "CreateIndex": idx, "ModifyIndex": idx, "Hash": ""}
        self.acl["tokens"][tok["AccessorID"]] = tok
        return tok

    def replicated(self):
        """What the authoritative region hands to the others: global tokens
        and every policy."""
        return {"tokens": [t for t in self.acl["tokens"].values() if t.get("Global")],
                "policies": self.acl["policies"], "bootstrap_index": self.acl["bootstrap_index"]}

    def apply_replica(self, rep):
        local = {k: t for k, t in self.acl["tokens"].items() if not t.get("Global")}
        tokens = dict(local)
        for t in rep["tokens"]:
            tokens[t["AccessorID"]] = t
        if tokens != self.acl["tokens"] or rep["policies"] != self.acl["policies"]:
            self.state.bump()
            self.acl["tokens"] = tokens
            self.acl["policies"] = rep["policies"]
            self.acl["bootstrap_index"] = rep.get("bootstrap_index", self.acl["bootstrap_index"])
            return True
        return False


def public_policy(p):
    return {k: v for k, v in p.items() if not k.startswith("_")}
