"""Consul ACLs: tokens (initial_management from the configuration, created
ones), policies with HCL or JSON rules, the default policy, and the
authorizer endpoints ask (resource, name, level)."""
import time

from .httpd import HTTPError
from .util import new_uuid

MGMT_POLICY_ID = "00000000-0000-0000-0000-000000000001"
ANON_ACCESSOR = "00000000-0000-0000-0000-000000000002"
LEVELS = {"deny": -1, "list": 1, "read": 2, "write": 3}
NAMED = ("agent", "node", "service", "key", "session", "event", "query", "identity")
GLOBAL = ("acl", "operator", "keyring", "mesh", "peering")


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Authorizer:
    def __init__(self, management, rules, default_allow):
        self.management = management
        self.rules = rules
        self.default_allow = default_allow

    def allowed(self, resource, name, level):
        if self.management:
            return True
        want = LEVELS[level]
        if resource in GLOBAL:
            pols = [r.get(resource) for r in self.rules if isinstance(r.get(resource), str)]
            if "deny" in pols:
                return False
            if pols:
                return max(LEVELS.get(p, 0) for p in pols) >= want
            return self.default_allow and resource not in ("acl",)
        best = None
        for r in self.rules:
            exact = r.get(resource) or {}
            if isinstance(exact, dict) and name in exact:
                pol = (exact[name] or {}).get("policy", "")
                best = (10**6, pol) if best is None or best[0] < 10**6 else best
            for prefix, block in (r.get(resource + "_prefix") or {}).items():
                if name.startswith(prefix) and (best is None or len(prefix) > best[0]):
                    best = (len(prefix), (block or {}).get("policy", ""))
        if best is None:
            return self.default_allow
        return LEVELS.get(best[1], 0) >= want


class ConsulACL:
    def __init__(self, agent):
        self.agent = agent
        self.cfg = agent.cfg

    @property
    def acl(self):
        return self.agent.state.data["acl"]

    def ensure_initial(self):
        """On the primary's leader: the configured initial management token."""
        secret = self.cfg.initial_management
        st = self.agent.state
        if not self.cfg.acl_enabled or self.cfg.primary_datacenter != self.cfg.datacenter:
            return
        changed = False
        if MGMT_POLICY_ID not in self.acl["policies"]:
            self.acl["policies"][MGMT_POLICY_ID] = {"ID": MGMT_POLICY_ID, "Name": "global-management",
                                                    "Description": "Builtin Policy that grants unlimited access",
                                                    "Rules": "", "_rules": {}, "Datacenters": None,
                                                    "CreateIndex": st.index, "ModifyIndex": st.index}
            changed = True
        if ANON_ACCESSOR not in self.acl["tokens"]:
            self.acl["tokens"][ANON_ACCESSOR] = {"AccessorID": ANON_ACCESSOR, "SecretID": "anonymous",
                                                 "Description": "Anonymous Token", "Policies": [], "Local": False,
                                                 "CreateTime": _now(), "CreateIndex": st.index,
                                                 "ModifyIndex": st.index}
            changed = True
        if secret and self.by_secret(secret) is None:
            tok = {"AccessorID": new_uuid(), "SecretID": secret, "Description": "Initial Management Token",
                   "Policies": [{"ID": MGMT_POLICY_ID, "Name": "global-management"}], "Local": False,
                   "CreateTime": _now(), "CreateIndex": st.index, "ModifyIndex": st.index}
            self.acl["tokens"][tok["AccessorID"]] = tok
            self.acl["bootstrap_index"] = self.acl["bootstrap_index"] or st.index
            changed = True
        if changed:
            st.bump()

    def by_secret(self, secret):
        for t in self.acl["tokens"].values():
            if t["SecretID"] == secret:
                return t
        return None

    def token_rules(self, tok):
        mgmt = any(p.get("ID") == MGMT_POLICY_ID for p in tok.get("Policies") or [])
        rules = []
        for link in tok.get("Policies") or []:
            pol = self.acl["policies"].get(link.get("ID", ""))
            if pol is None:
                pol = next((p for p in self.acl["policies"].values() if p["Name"] == link.get("Name")), None)
            if pol is not None and pol["ID"] != MGMT_POLICY_ID:
                rules.append(pol["_rules"])
        return mgmt, rules

    def lookup(self, secret):
        """Local resolution: (token, management, rules) or None if unknown."""
        if secret in ("", None, "anonymous"):
            tok = self.acl["tokens"].get(ANON_ACCESSOR) or {"AccessorID": ANON_ACCESSOR, "Policies": []}
        else:
            tok = self.by_secret(secret)
            if tok is None:
                return None
        mgmt, rules = self.token_rules(tok)
        return tok, mgmt, rules

    def bootstrap(self):
        st = self.agent.state
        if self.acl["bootstrap_index"]:
            raise HTTPError(403, "Permission denied: ACL bootstrap no longer allowed (reset index: %d)"
                            % self.acl["bootstrap_index"])
        self.ensure_initial()
        idx = st.bump()
        tok = {"AccessorID": new_uuid(), "SecretID": new_uuid(), "Description": "Bootstrap Token (Global Management)",
               "Policies": [{"ID": MGMT_POLICY_ID, "Name": "global-management"}], "Local": False,
               "CreateTime": _now(), "CreateIndex": idx, "ModifyIndex": idx}
        self.acl["tokens"][tok["AccessorID"]] = tok
        self.acl["bootstrap_index"] = idx
        return tok

    def upsert_policy(self, body, pid=None):
        from . import hcl
        st = self.agent.state
        name = body.get("Name", "")
        if not name:
            raise HTTPError(400, "Invalid Policy: no Name is set")
        try:
            rules = hcl.parse_config(body.get("Rules", "") or "")
        except ValueError as e:
            raise HTTPError(400, "Failed to parse policy: %s" % e)
        pid = pid or body.get("ID") or next((p["ID"] for p in self.acl["policies"].values() if p["Name"] == name),
                                            None) or new_uuid()
        idx = st.bump()
        pol = {"ID": pid, "Name": name, "Description": body.get("Description", ""), "Rules": body.get("Rules", ""),
               "Datacenters": body.get("Datacenters"), "_rules": rules, "Hash": "", "CreateIndex": idx,
               "ModifyIndex": idx}
        self.acl["policies"][pid] = pol
        return pol

    def create_token(self, body, accessor=None):
        st = self.agent.state
        links = []
        for p in body.get("Policies") or []:
            pol = self.acl["policies"].get(p.get("ID", "")) or next(
                (x for x in self.acl["policies"].values() if x["Name"] == p.get("Name")), None)
            if pol is None:
                raise HTTPError(400, "No such ACL policy with name %r" % (p.get("Name") or p.get("ID")))
            links.append({"ID": pol["ID"], "Name": pol["Name"]})
        idx = st.bump()
        tok = {"AccessorID": accessor or body.get("AccessorID") or new_uuid(), "SecretID": body.get("SecretID") or new_uuid(),
               "Description": body.get("Description", ""), "Policies": links, "Local": bool(body.get("Local")),
               "CreateTime": _now(), "Hash": "", "CreateIndex": idx, "ModifyIndex": idx}
        self.acl["tokens"][tok["AccessorID"]] = tok
        return tok


    def replicated(self):
        """What the primary hands a secondary: every policy and global token."""
        return {"policies": list(self.acl["policies"].values()),
                "tokens": [t for t in self.acl["tokens"].values() if not t.get("Local")]}

    def apply_replica(self, rep):
        """A secondary's copy: the primary's policies and global tokens,
        beside the tokens local to this datacenter."""
        self.acl["policies"] = {p["ID"]: p for p in rep["policies"]}
        local = {a: t for a, t in self.acl["tokens"].items() if t.get("Local")}
        local.update({t["AccessorID"]: t for t in rep["tokens"]})
        self.acl["tokens"] = local


def public(obj):
    return {k: v for k, v in obj.items() if not k.startswith("_")}
