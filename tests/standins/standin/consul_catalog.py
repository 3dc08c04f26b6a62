"""Catalog, health, KV and ACL endpoints of the Consul API: run on the
leader of the datacenter, with ACL filtering of what a token may see."""
import base64

from .consul_acl import public
from .consul_http import route
from .httpd import HTTPError, Response


def _node_view(n):
    return {k: n.get(k) for k in ("ID", "Node", "Address", "Datacenter", "TaggedAddresses", "Meta",
                                  "CreateIndex", "ModifyIndex")}


def _service_entry(api, node, s):
    return {"ID": node["ID"], "Node": node["Node"], "Address": node["Address"], "Datacenter": node["Datacenter"],
            "TaggedAddresses": node["TaggedAddresses"], "NodeMeta": node["Meta"], "ServiceKind": "",
            "ServiceID": s["ID"], "ServiceName": s["Service"], "ServiceTags": s["Tags"],
            "ServiceAddress": s["Address"], "ServicePort": s["Port"], "ServiceMeta": s["Meta"],
            "ServiceWeights": s.get("Weights"), "ServiceEnableTagOverride": s.get("EnableTagOverride", False),
            "CreateIndex": s.get("CreateIndex", 0), "ModifyIndex": s.get("ModifyIndex", 0)}


@route("GET", "/v1/catalog/datacenters")
def catalog_datacenters(api, req):
    wan = api.agent.wan
    dcs = sorted({m["Tags"].get("dc") for m in wan.snapshot() if m["Status"] == "alive"}) if wan else [api.cfg.datacenter]
    return Response(200, dcs)


@route("GET", "/v1/catalog/nodes")
def catalog_nodes(api, req):
    az = api.authz(req)
    d = api.state.data
    nodes = [n for n in d["nodes"].values()]
    out = [_node_view(n) for n in nodes if az.allowed("node", n["Node"], "read")]
    return api.wrap(sorted(out, key=lambda n: n["Node"]), filtered=len(out) != len(nodes))


@route("GET", "/v1/catalog/services")
def catalog_services(api, req):
    az = api.authz(req)
    out, hidden = {}, False
    for svcs in api.state.data["services"].values():
        for s in svcs.values():
            if not az.allowed("service", s["Service"], "read"):
                hidden = True
                continue
            tags = out.setdefault(s["Service"], [])
            for t in s["Tags"] or []:
                if t not in tags:
                    tags.append(t)
    return api.wrap(out, filtered=hidden)


@route("GET", "/v1/catalog/service/([^/]+)")
def catalog_service(api, req, name):
    az = api.authz(req)
    out = []
    tag = req.q("tag")
    for node_name, svcs in api.state.data["services"].items():
        node = api.state.data["nodes"].get(node_name)
        if node is None or not az.allowed("node", node_name, "read"):
            continue
        for s in svcs.values():
            if s["Service"] == name and az.allowed("service", name, "read") and (not tag or tag in s["Tags"]):
                out.append(_service_entry(api, node, s))
    return api.wrap(out)


@route("GET", "/v1/catalog/node/([^/]+)")
def catalog_node(api, req, name):
    api.need(req, "node", name, "read")
    node = api.state.data["nodes"].get(name)
    if node is None:
        return api.wrap(None)
    svcs = {k: v for k, v in api.state.data["services"].get(name, {}).items()}
    return api.wrap({"Node": _node_view(node), "Services": svcs})


def _checks_of(api, node_name, sid=None):
    chks = api.state.data["checks"].get(node_name, {}).values()
    return [c for c in chks if sid is None or c["ServiceID"] in ("", sid)]


@route("GET", "/v1/health/service/([^/]+)")
def health_service(api, req, name):
    az = api.authz(req)
    if not az.allowed("service", name, "read"):
        return api.wrap([], filtered=True)
    out = []
    for node_name, svcs in api.state.data["services"].items():
        node = api.state.data["nodes"].get(node_name)
        if node is None or not az.allowed("node", node_name, "read"):
            continue
        for s in svcs.values():
            if s["Service"] != name:
                continue
            if req.q("tag") and req.q("tag") not in s["Tags"]:
                continue
            checks = _checks_of(api, node_name, s["ID"])
            if req.flag("passing") and any(c["Status"] != "passing" for c in checks):
                continue
            out.append({"Node": _node_view(node), "Service": dict(s), "Checks": checks})
    return api.wrap(out)


@route("GET", "/v1/health/node/([^/]+)")
def health_node(api, req, name):
    api.need(req, "node", name, "read")
    return api.wrap(_checks_of(api, name))


@route("GET", "/v1/health/checks/([^/]+)")
def health_checks(api, req, name):
    api.need(req, "service", name, "read")
    out = []
    for node_name, chks in api.state.data["checks"].items():
        out += [c for c in chks.values() if c["ServiceName"] == name]
    return api.wrap(out)


@route("GET", "/v1/health/state/([a-z]+)")
def health_state(api, req, state):
    if state not in ("any", "passing", "warning", "critical"):
        raise HTTPError(400, "Invalid check state")
    az = api.authz(req)
    out = []
    for node_name, chks in api.state.data["checks"].items():
        if az.allowed("node", node_name, "read"):
            out += [c for c in chks.values() if state == "any" or c["Status"] == state]
    return api.wrap(out)


# -- KV ------------------------------------------------------------------------
@route("GET PUT DELETE", "/v1/kv/(.*)")
def kv(api, req, key):
    kvs = api.state.data["kv"]
    if req.method == "GET":
        api.need(req, "key", key, "read")
        if req.flag("keys"):
            return api.wrap(sorted(k for k in kvs if k.startswith(key)))
        if req.flag("recurse"):
            items = [kvs[k] for k in sorted(kvs) if k.startswith(key)]
        else:
            items = [kvs[key]] if key in kvs else []
        if not items:
            return Response(404, raw="", headers={"X-Consul-Index": str(api.state.index)})
        if req.flag("raw"):
            return Response(200, raw=base64.b64decode(items[0]["Value"] or ""))
        return api.wrap(items)
    api.need(req, "key", key, "write")
    with api.state.lock:
        if req.method == "DELETE":
            idx = api.state.bump()
            for k in [k for k in kvs if (k.startswith(key) if req.flag("recurse") else k == key)]:
                kvs.pop(k)
            return api.wrap(True)
        cas = req.q("cas")
        old = kvs.get(key)
        if cas is not None and cas.isdigit():
            if (int(cas) == 0 and old is not None) or (int(cas) != 0 and (old or {}).get("ModifyIndex") != int(cas)):
                return api.wrap(False)
        idx = api.state.bump()
        kvs[key] = {"Key": key, "Flags": int(req.q("flags", "0") or 0), "LockIndex": 0,
                    "Value": base64.b64encode(req.body).decode() if req.body else None,
                    "CreateIndex": old["CreateIndex"] if old else idx, "ModifyIndex": idx}
    return api.wrap(True)


# -- ACL -----------------------------------------------------------------------
def _acl_enabled(api):
    if not api.cfg.acl_enabled:
        raise HTTPError(401, "ACL support disabled")


def _primary(api):
    if api.cfg.primary_datacenter != api.cfg.datacenter:
        raise HTTPError(500, "ACL writes are only allowed in the primary datacenter (%s)" % api.cfg.primary_datacenter)


@route("PUT", "/v1/acl/bootstrap")
def acl_bootstrap(api, req):
    _acl_enabled(api)
    _primary(api)
    with api.state.lock:
        return api.wrap(api.agent.acl.bootstrap())


@route("GET", "/v1/acl/token/self")
def acl_token_self(api, req):
    _acl_enabled(api)
    secret = api.token(req)
    _, tok = api.agent.authorizer(secret)
    if not secret or tok is None:
        raise HTTPError(403, "ACL not found")
    return api.wrap(tok)


@route("PUT", "/v1/acl/token")
def acl_token_create(api, req):
    _acl_enabled(api)
    _primary(api)
    api.need(req, "acl", "", "write")
    with api.state.lock:
        return api.wrap(api.agent.acl.create_token(req.json()))


@route("GET PUT DELETE", "/v1/acl/token/([0-9a-f-]{36})")
def acl_token_one(api, req, accessor):
    _acl_enabled(api)
    toks = api.state.data["acl"]["tokens"]
    if req.method == "GET":
        api.need(req, "acl", "", "read")
        if accessor not in toks:
            raise HTTPError(403, "ACL not found")
        return api.wrap(toks[accessor])
    _primary(api)
    api.need(req, "acl", "", "write")
    with api.state.lock:
        if req.method == "DELETE":
            api.state.bump()
            toks.pop(accessor, None)
            return api.wrap(True)
        body = dict(req.json())
        body["SecretID"] = (toks.get(accessor) or {}).get("SecretID") or body.get("SecretID")
        return api.wrap(api.agent.acl.create_token(body, accessor))


@route("GET", "/v1/acl/tokens")
def acl_tokens(api, req):
    _acl_enabled(api)
    api.need(req, "acl", "", "read")
    return api.wrap([{k: v for k, v in t.items() if k != "SecretID"} for t in api.state.data["acl"]["tokens"].values()])


@route("PUT", "/v1/acl/policy")
def acl_policy_create(api, req):
    _acl_enabled(api)
    _primary(api)
    api.need(req, "acl", "", "write")
    with api.state.lock:
        body = req.json()
        if not body.get("ID") and any(p["Name"] == body.get("Name") for p in api.state.data["acl"]["policies"].values()):
            raise HTTPError(400, "Invalid Policy: A Policy with Name %r already exists" % body.get("Name"))
        return api.wrap(public(api.agent.acl.upsert_policy(body)))


@route("GET", "/v1/acl/policies")
def acl_policies(api, req):
    _acl_enabled(api)
    api.need(req, "acl", "", "read")
    return api.wrap([public(p) for p in api.state.data["acl"]["policies"].values()])


@route("GET PUT DELETE", "/v1/acl/policy/([0-9a-f-]{36})")
def acl_policy_one(api, req, pid):
    _acl_enabled(api)
    pols = api.state.data["acl"]["policies"]
    if req.method == "GET":
        api.need(req, "acl", "", "read")
        if pid not in pols:
            raise HTTPError(403, "ACL not found")
        return api.wrap(public(pols[pid]))
    _primary(api)
    api.need(req, "acl", "", "write")
    with api.state.lock:
        if req.method == "DELETE":
            api.state.bump()
            pols.pop(pid, None)
            return api.wrap(True)
        return api.wrap(public(api.agent.acl.upsert_policy(req.json(), pid)))


@route("GET", "/v1/acl/policy/name/([^/]+)")
def acl_policy_name(api, req, name):
    _acl_enabled(api)
    api.need(req, "acl", "", "read")
    for p in api.state.data["acl"]["policies"].values():
        if p["Name"] == name:
            return api.wrap(public(p))
    raise HTTPError(403, "ACL not found")


_NEVER = "0001-01-01T00:00:00Z"


@route("GET", "/v1/acl/replication")
def acl_replication(api, req):
    """ACL.ReplicationStatus: answered by the leader; what the last
    replication round from the primary did (agent/consul/acl_endpoint.go)."""
    rep = api.state.data["acl"].get("replication")
    secondary = api.cfg.acl_enabled and api.cfg.primary_datacenter != api.cfg.datacenter \
        and api.cfg.token_replication
    out = {"Enabled": bool(secondary), "Running": False, "SourceDatacenter": "", "ReplicationType": "",
           "ReplicatedIndex": 0, "ReplicatedRoleIndex": 0, "ReplicatedTokenIndex": 0, "LastSuccess": _NEVER,
           "LastError": _NEVER, "LastErrorMessage": ""}
    if secondary:
        out.update(SourceDatacenter=api.cfg.primary_datacenter, ReplicationType="tokens", Running=True)
        out.update(rep or {})
    return api.wrap(out)

