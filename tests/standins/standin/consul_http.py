"""Consul's HTTP API (v1): agent endpoints answered by the local agent;
catalog, health, KV and ACL endpoints answered by the leader of the
datacenter named by ?dc= (forwarded like Consul's RPCs)."""
import re
import time

from . import log, rpc
from .httpd import HTTPError, Response
from .util import parse_duration

ROUTES = []


def route(methods, pattern, local=False):
    def deco(fn):
        ROUTES.append((set(methods.split()), re.compile("^" + pattern + "$"), fn, local))
        return fn
    return deco


def _ci(body, *names):
    """Consul decodes JSON keys case-insensitively, also in snake_case."""
    if not isinstance(body, dict):
        return None
    want = {n.lower().replace("_", "") for n in names}
    for k, v in body.items():
        if k.lower().replace("_", "") in want:
            return v
    return None


def _dur(v, what):
    if v in (None, ""):
        return 0
    if isinstance(v, (int, float)):
        return int(v)
    try:
        return parse_duration(str(v))
    except ValueError as e:
        raise HTTPError(400, "Request decode failed: %s: %s" % (what, e))


def _fmt(ns):
    from .util import format_duration
    return format_duration(ns) if ns else ""


class ConsulAPI:
    def __init__(self, agent):
        self.agent = agent
        self.cfg = agent.cfg

    @property
    def state(self):
        return self.agent.state

    def _match(self, req):
        seen = False
        for methods, rx, fn, local in ROUTES:
            m = rx.match(req.path)
            if m:
                seen = True
                if req.method in methods:
                    return fn, m.groups(), local
        if seen:
            raise HTTPError(405, "method %s not allowed" % req.method)
        raise HTTPError(404, "Invalid URL path: not a recognized HTTP API endpoint")

    def token(self, req):
        t = req.headers.get("x-consul-token") or req.q("token") or ""
        a = req.headers.get("authorization", "")
        if not t and a.lower().startswith("bearer "):
            t = a[7:].strip()
        return t

    def authz(self, req):
        return self.agent.authorizer(self.token(req))[0]

    def need(self, req, resource, name, level):
        if not self.authz(req).allowed(resource, name, level):
            raise HTTPError(403, "Permission denied: token lacks permission '%s:%s' on %r"
                            % (resource, level, name))

    def wrap(self, body, filtered=False):
        h = {"X-Consul-Index": str(self.state.index),
             "X-Consul-KnownLeader": "true" if self.agent.raft and self.agent.raft.known_leader() else "false",
             "X-Consul-LastContact": "0", "X-Consul-Effective-Consistency": "leader"}
        if filtered:
            h["X-Consul-Results-Filtered-By-ACLs"] = "true"
        return Response(200, body, h)

    def handle(self, req):
        fn, args, local = self._match(req)
        if local:
            return fn(self, req, *args)
        msg = {"op": "http.forward", "req": req.to_dict(), "dc": req.q("dc") or self.cfg.datacenter}
        if req.q("index") and req.method == "GET":
            msg["timeout"] = min(_dur(req.q("wait") or "5m", "wait"), 600 * 10**9) / 1e9 + 10
        try:
            if self.cfg.server:
                reply = self.agent.route(msg)
                if reply is None:
                    return self.execute(req)
            else:
                reply = self.agent.server_rpc(msg)
        except rpc.RPCError as e:
            raise HTTPError(500, str(e))
        return Response.from_dict(reply["resp"])

    def execute(self, req):
        fn, args, _ = self._match(req)
        idx = req.q("index")
        if req.method == "GET" and idx and idx.isdigit():
            deadline = time.monotonic() + min(_dur(req.q("wait") or "5m", "wait"), 600 * 10**9) / 1e9
            while self.state.index <= int(idx) and time.monotonic() < deadline:
                time.sleep(0.1)
        return fn(self, req, *args)


# -- status --------------------------------------------------------------------
@route("GET", "/v1/status/leader", local=True)
def status_leader(api, req):
    dc = req.q("dc") or api.cfg.datacenter
    try:
        if api.cfg.server and dc == api.cfg.datacenter:
            return Response(200, api.agent.raft.known_leader())
        msg = {"op": "status.leader", "dc": dc}
        reply = api.agent._forward_dc(dc, msg) if api.cfg.server else api.agent.server_rpc(msg)
        return Response(200, reply.get("leader", ""))
    except rpc.RPCError as e:
        if "No known Consul servers" in str(e):
            return Response(200, "")
        raise HTTPError(500, str(e))


@route("GET", "/v1/status/peers", local=True)
def status_peers(api, req):
    try:
        if api.cfg.server:
            peers = api.agent.raft.peer_list() if api.agent.raft.peers else []
            return Response(200, peers)
        return Response(200, api.agent.server_rpc({"op": "status.peers"}).get("peers", []))
    except rpc.RPCError as e:
        raise HTTPError(500, str(e))


# -- agent ---------------------------------------------------------------------
def _member(m):
    return {"Name": m["Name"], "Addr": m["Addr"], "Port": m["Port"], "Tags": m["Tags"],
            "Status": {"alive": 1, "leaving": 2, "left": 3, "failed": 4}.get(m["Status"], 0),
            "ProtocolMin": 1, "ProtocolMax": 5, "ProtocolCur": 2, "DelegateMin": 2, "DelegateMax": 5,
            "DelegateCur": 4}


@route("GET", "/v1/agent/self", local=True)
def agent_self(api, req):
    api.need(req, "agent", api.cfg.node_name, "read")
    a, cfg = api.agent, api.cfg
    me = next(m for m in a.lan.snapshot() if m["Name"] == cfg.node_name)
    return Response(200, {
        "Config": {"Datacenter": cfg.datacenter, "PrimaryDatacenter": cfg.primary_datacenter,
                   "NodeName": cfg.node_name, "NodeID": a.node_id, "Revision": "7e5aa3a4", "Server": cfg.server,
                   "Version": "1.17.3", "BuildDate": "2024-01-24T00:00:00Z"},
        "DebugConfig": {"Datacenter": cfg.datacenter, "NodeName": cfg.node_name, "ServerMode": cfg.server,
                        "BootstrapExpect": cfg.bootstrap_expect, "BindAddr": cfg.bind_addr,
                        "AdvertiseAddrLAN": cfg.advertise, "ClientAddrs": cfg.client_addrs,
                        "RetryJoinLAN": cfg.retry_join, "RetryJoinWAN": cfg.retry_join_wan,
                        "ACLsEnabled": cfg.acl_enabled, "PrimaryDatacenter": cfg.primary_datacenter,
                        "EncryptKey": "hidden" if cfg.encrypt else ""},
        "Coord": None, "Member": _member(me), "Meta": cfg.node_meta or {"consul-network-segment": ""},
        "Stats": {"agent": {"check_monitors": "0", "checks": str(len(a.checks)), "services": str(len(a.services))},
                  "consul": {"server": str(cfg.server).lower(),
                             "leader": str(bool(a.raft and a.raft.is_leader)).lower(),
                             "known_datacenters": str(len({m["Tags"].get("dc") for m in a.wan.snapshot()})) if a.wan
                             else "1"}},
        "xDS": None})


@route("GET", "/v1/agent/members", local=True)
def agent_members(api, req):
    pool = api.agent.wan if req.flag("wan") else api.agent.lan
    if req.flag("wan") and pool is None:
        raise HTTPError(500, "WAN members are only available on servers")
    az = api.authz(req)
    out = [_member(m) for m in pool.snapshot() if az.allowed("node", m["Name"].split(".")[0], "read")]
    return Response(200, out)


@route("PUT", "/v1/agent/join/(.+)", local=True)
def agent_join(api, req, addr):
    api.need(req, "agent", api.cfg.node_name, "write")
    if req.flag("wan"):
        if api.agent.wan is None:
            raise HTTPError(500, "Must be a server to join WAN cluster")
        n, errors = api.agent.wan.join([addr], 8302)
    else:
        n, errors = api.agent.lan.join([addr], 8301)
    if not n:
        raise HTTPError(500, "%d error%s occurred:\n%s\n" % (len(errors), "" if len(errors) == 1 else "s",
                                                             "".join("\t* %s\n" % e for e in errors)))
    return Response(200, None)


@route("PUT", "/v1/agent/leave", local=True)
def agent_leave(api, req):
    api.need(req, "agent", api.cfg.node_name, "write")
    import threading
    threading.Timer(0.2, lambda: getattr(api.agent, "on_leave", lambda: None)()).start()
    return Response(200, None)


@route("PUT", "/v1/agent/force-leave/([^/]+)", local=True)
def agent_force_leave(api, req, node):
    api.need(req, "operator", "", "write")
    found = api.agent.lan.force_leave(node)
    if api.agent.wan is not None:
        found = api.agent.wan.force_leave("%s.%s" % (node, api.cfg.datacenter)) or found
    if not found:
        raise HTTPError(500, "agent: No node found with name '%s'" % node)
    return Response(200, None)


def _svc_public(s):
    return {k: v for k, v in s.items() if not k.startswith("_")}


@route("GET", "/v1/agent/services", local=True)
def agent_services(api, req):
    az = api.authz(req)
    with api.agent.lock:
        out = {k: dict(_svc_public(s), Datacenter=api.cfg.datacenter) for k, s in api.agent.services.items()
               if az.allowed("service", s["Service"], "read")}
    return Response(200, out)


@route("GET", "/v1/agent/service/([^/]+)", local=True)
def agent_service(api, req, sid):
    with api.agent.lock:
        s = api.agent.services.get(sid)
    if s is None:
        raise HTTPError(404, "unknown service ID: %s" % sid)
    api.need(req, "service", s["Service"], "read")
    return Response(200, dict(_svc_public(s), Datacenter=api.cfg.datacenter))


@route("GET", "/v1/agent/checks", local=True)
def agent_checks(api, req):
    az = api.authz(req)
    with api.agent.lock:
        out = {k: _svc_public(c) for k, c in api.agent.checks.items()
               if (az.allowed("service", c["ServiceName"], "read") if c["ServiceName"]
                   else az.allowed("node", api.cfg.node_name, "read"))}
    return Response(200, out)


def _check_def(api, c, sid="", sname="", stags=None, default_id=""):
    cid = _ci(c, "CheckID") or _ci(c, "ID") or default_id
    http, tcp, ttl = _ci(c, "HTTP"), _ci(c, "TCP"), _ci(c, "TTL")
    interval, timeout = _dur(_ci(c, "Interval"), "Interval"), _dur(_ci(c, "Timeout"), "Timeout")
    if http or tcp:
        if interval <= 0:
            raise HTTPError(400, "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, or TCP checks")
        kind = "http" if http else "tcp"
    elif ttl:
        kind = "ttl"
    else:
        raise HTTPError(400, "Invalid check: TTL must be > 0 for TTL checks")
    name = _ci(c, "Name") or ("Service '%s' check" % sname if sid else cid)
    if not cid:
        raise HTTPError(400, "Missing check ID")
    definition = {"HTTP": http or "", "TCP": tcp or "", "Method": _ci(c, "Method") or "",
                  "Header": _ci(c, "Header") or {}, "TLSSkipVerify": bool(_ci(c, "TLSSkipVerify")),
                  "Interval": _fmt(interval), "Timeout": _fmt(timeout or 10**10),
                  "DeregisterCriticalServiceAfter": _ci(c, "DeregisterCriticalServiceAfter") or ""}
    return {"Node": api.cfg.node_name, "CheckID": cid, "Name": name, "Status": _ci(c, "Status") or "critical",
            "Notes": _ci(c, "Notes") or "", "Output": "", "ServiceID": sid, "ServiceName": sname,
            "ServiceTags": stags or [], "Type": kind, "Interval": _fmt(interval), "Timeout": _fmt(timeout),
            "ExposedPort": 0, "Definition": definition, "_interval": interval / 1e9,
            "_timeout": (timeout or 10**10) / 1e9}


@route("PUT", "/v1/agent/service/register", local=True)
def agent_service_register(api, req):
    body = req.json()
    name = _ci(body, "Name")
    if not name:
        raise HTTPError(400, "Invalid Service: missing service name")
    api.need(req, "service", name, "write")
    sid = _ci(body, "ID") or name
    tags = _ci(body, "Tags") or []
    port = _ci(body, "Port") or 0
    if not isinstance(port, int):
        raise HTTPError(400, "Request decode failed: json: cannot unmarshal into Go struct field Port of type int")
    svc = {"ID": sid, "Service": name, "Tags": tags, "Address": _ci(body, "Address") or "", "Port": port,
           "Meta": _ci(body, "Meta") or {}, "Weights": _ci(body, "Weights") or {"Passing": 1, "Warning": 1},
           "EnableTagOverride": bool(_ci(body, "EnableTagOverride")), "TaggedAddresses": _ci(body, "TaggedAddresses")}
    defs = []
    raw = ([_ci(body, "Check")] if _ci(body, "Check") else []) + list(_ci(body, "Checks") or [])
    for i, c in enumerate(raw):
        default = "service:%s" % sid if len(raw) == 1 else "service:%s:%d" % (sid, i + 1)
        defs.append(_check_def(api, c, sid, name, tags, default))
    api.agent.add_service(svc, defs, api.token(req))
    return Response(200, None)


@route("PUT", "/v1/agent/service/deregister/(.+)", local=True)
def agent_service_deregister(api, req, sid):
    with api.agent.lock:
        s = api.agent.services.get(sid)
    if s is None:
        raise HTTPError(404, 'Unknown service ID "%s". Ensure that the service ID is passed, not the service name.' % sid)
    api.need(req, "service", s["Service"], "write")
    api.agent.remove_service(sid)
    return Response(200, None)


@route("PUT", "/v1/agent/check/register", local=True)
def agent_check_register(api, req):
    body = req.json()
    sid = _ci(body, "ServiceID") or ""
    sname = ""
    if sid:
        with api.agent.lock:
            s = api.agent.services.get(sid)
        if s is None:
            raise HTTPError(400, "ServiceID %r does not exist" % sid)
        sname = s["Service"]
        api.need(req, "service", sname, "write")
    else:
        api.need(req, "node", api.cfg.node_name, "write")
    c = _check_def(api, body, sid, sname, None, _ci(body, "Name") or "")
    api.agent.add_check(c)
    return Response(200, None)


@route("PUT", "/v1/agent/check/deregister/(.+)", local=True)
def agent_check_deregister(api, req, cid):
    api.need(req, "node", api.cfg.node_name, "write")
    if not api.agent.remove_check(cid):
        raise HTTPError(404, "Unknown check ID %r" % cid)
    return Response(200, None)


@route("PUT", "/v1/agent/check/(pass|warn|fail)/(.+)", local=True)
def agent_check_ttl(api, req, what, cid):
    with api.agent.lock:
        c = api.agent.checks.get(cid)
        if c is None:
            raise HTTPError(404, "Unknown check ID %r" % cid)
        c["Status"] = {"pass": "passing", "warn": "warning", "fail": "critical"}[what]
        c["Output"] = req.q("note", "")
    return Response(200, None)


@route("PUT", "/v1/agent/token/([a-z_-]+)", local=True)
def agent_token(api, req, kind):
    api.need(req, "acl", "", "write")
    kinds = {"agent": "agent", "default": "default", "replication": "replication", "agent_recovery": "agent_recovery",
             "acl_agent_token": "agent", "acl_token": "default", "acl_replication_token": "replication"}
    if kind not in kinds:
        raise HTTPError(404, "Token %r is unknown" % kind)
    token = _ci(req.json(), "Token")
    if not isinstance(token, str):
        raise HTTPError(400, "Request decode failed: missing Token")
    api.agent.set_token(kinds[kind], token)
    log.info("agent", "Updated agent's ACL token", token=kinds[kind])
    return Response(200, None)


from . import consul_catalog  # noqa: E402,F401  (registers the catalog, health, KV and ACL routes)
