"""`consul agent`: LAN and WAN gossip, server consensus and the catalog,
the local agent's services and checks (run for real and synced to the
catalog), ACL resolution, request routing between datacenters and to the
leader."""
import base64
import json
import os
import signal
import sys
import threading
import time

from . import checks, discover, log, rpc, tlsutil
from .confload import ConfigError
from .consul_acl import Authorizer, ConsulACL
from .consul_conf import ConsulConfig, load
from .httpd import HTTPError, Request, Response, serve
from .raft import Consensus
from .serf import Pool
from .util import new_uuid, split_hostport

C = "agent"
VERSION = "1.17.3"
STATUS_INT = {"none": 0, "alive": 1, "leaving": 2, "left": 3, "failed": 4}


class ConsulState:
    def __init__(self):
        self.lock = threading.RLock()
        self.index = 1
        self.data = {"nodes": {}, "services": {}, "checks": {}, "kv": {},
                     "acl": {"tokens": {}, "policies": {}, "bootstrap_index": 0}}

    def snapshot(self):
        with self.lock:
            return {"index": self.index, "data": json.loads(json.dumps(self.data))}

    def restore(self, snap):
        with self.lock:
            self.index, self.data = snap["index"], snap["data"]

    def bump(self):
        self.index += 1
        return self.index


class ConsulAgent:
    def __init__(self, cfg):
        self.cfg = cfg
        self.stopping = False
        self.state = ConsulState()
        self.acl = ConsulACL(self)
        self.node_id = self._node_id()
        self.lock = threading.RLock()
        self.services = {}
        self.checks = {}
        self.runners = {}
        self.synced = 0
        self.acl_cache = {}
        self.tokens = {"agent": cfg.agent_token, "default": cfg.default_token, "replication": cfg.replication_token,
                       "agent_recovery": cfg.agent_recovery}
        self._load_tokens()
        rpc_tls = cfg.tls["internal_rpc"]
        self.rpc_client_ctx = None
        if rpc_tls.get("verify_outgoing"):
            self.rpc_client_ctx = tlsutil.client_context(rpc_tls.get("ca_file"), rpc_tls.get("cert_file"),
                                                         rpc_tls.get("key_file"), rpc_tls.get("verify_server_hostname"))
        tags = {"role": "consul" if cfg.server else "node", "dc": cfg.datacenter, "id": self.node_id,
                "vsn": "2", "vsn_min": "2", "vsn_max": "3", "build": VERSION + ":0",
                "acls": "1" if cfg.acl_enabled else "0", "segment": "", "ft_fs": "1", "ft_si": "1"}
        if cfg.server:
            tags.update({"port": str(cfg.ports["server"]), "raft_vsn": "3", "wan_join_port": str(cfg.ports["serf_wan"]),
                         "expect": str(cfg.bootstrap_expect)})
            if cfg.bootstrap:
                tags["bootstrap"] = "1"
        self.lan = Pool("agent", cfg.node_name, cfg.advertise, cfg.ports["serf_lan"], cfg.bind_addr, tags,
                        key=cfg.gossip_key, validate=self._lan_member_ok)
        self.wan = None
        self.raft = None
        if cfg.server:
            self._start_server(tags)
        from .consul_http import ConsulAPI
        self.api = ConsulAPI(self)
        self.http = []
        https_tls = cfg.tls["https"]
        if cfg.ports["http"] > 0:
            for a in cfg.http_addrs:
                self.http.append(serve(C, a, cfg.ports["http"], self.handle_http))
        if cfg.ports["https"] > 0:
            ctx = tlsutil.server_context(https_tls.get("ca_file"), https_tls["cert_file"], https_tls["key_file"],
                                         https_tls.get("verify_incoming", False))
            for a in cfg.https_addrs:
                self.http.append(serve(C, a, cfg.ports["https"], self.handle_http, ctx))
        if cfg.retry_join:
            threading.Thread(target=self._retry_join, args=(self.lan, cfg.retry_join, 8301, cfg.retry_interval),
                             daemon=True).start()
        if cfg.retry_join_wan and self.wan:
            threading.Thread(target=self._retry_join, args=(self.wan, cfg.retry_join_wan, 8302, cfg.retry_interval_wan),
                             daemon=True).start()
        threading.Thread(target=self._anti_entropy, daemon=True).start()
        log.info(C, "Consul agent running!", datacenter=cfg.datacenter, node=cfg.node_name, server=cfg.server)

    # -- identity and persisted tokens ---------------------------------------
    def _node_id(self):
        os.makedirs(self.cfg.data_dir, exist_ok=True)
        p = os.path.join(self.cfg.data_dir, "node-id")
        try:
            with open(p) as f:
                return f.read().strip()
        except OSError:
            nid = new_uuid()
            with open(p, "w") as f:
                f.write(nid)
            return nid

    def _tokens_file(self):
        return os.path.join(self.cfg.data_dir, "acl-tokens.json")

    def _load_tokens(self):
        if not self.cfg.token_persistence:
            return
        try:
            with open(self._tokens_file()) as f:
                saved = json.load(f)
        except (OSError, ValueError):
            return
        for k in ("agent", "default", "replication", "agent_recovery"):
            if saved.get(k):
                self.tokens[k] = saved[k]
        for v in self.tokens.values():
            log.add_secret(v)

    def set_token(self, kind, value):
        self.tokens[kind] = value
        log.add_secret(value)
        if self.cfg.token_persistence:
            p = self._tokens_file()
            with open(p + ".tmp", "w") as f:
                json.dump({k: v for k, v in self.tokens.items() if v}, f)
            os.chmod(p + ".tmp", 0o600)
            os.replace(p + ".tmp", p)

    # -- server --------------------------------------------------------------
    def _start_server(self, lan_tags):
        cfg = self.cfg
        rpc_tls = cfg.tls["internal_rpc"]
        ctx = None
        if rpc_tls.get("cert_file"):
            ctx = tlsutil.server_context(rpc_tls.get("ca_file"), rpc_tls["cert_file"], rpc_tls["key_file"],
                                         rpc_tls.get("verify_incoming", False))
        self.rpc_server = rpc.listen(C, cfg.bind_addr, cfg.ports["server"], self.rpc_dispatch, ctx,
                                     require_tls=bool(rpc_tls.get("verify_incoming")))
        wan_tags = dict(lan_tags)
        self.wan = Pool("agent", "%s.%s" % (cfg.node_name, cfg.datacenter), cfg.advertise_wan, cfg.ports["serf_wan"],
                        cfg.bind_addr, wan_tags, key=cfg.gossip_key, validate=self._wan_member_ok)
        self.rpc_addr = "%s:%d" % (cfg.advertise, cfg.ports["server"])
        self.raft = Consensus(C, self.rpc_addr, cfg.bootstrap_expect, self._dc_servers, self._raft_call,
                              self.state, self._on_leader, store=os.path.join(cfg.data_dir, "raft", "raft.json"))
        threading.Thread(target=self._leader_loop, daemon=True).start()

    def _lan_member_ok(self, m):
        dc = (m.get("Tags") or {}).get("dc")
        if dc and dc != self.cfg.datacenter:
            return "Member '%s' part of wrong datacenter '%s'" % (m.get("Name"), dc)
        return None

    def _wan_member_ok(self, m):
        if (m.get("Tags") or {}).get("role") != "consul":
            return "Member '%s' is not a server" % m.get("Name")
        return None

    def _dc_servers(self):
        out = {}
        for m in self.lan.snapshot():
            t = m["Tags"]
            if t.get("role") == "consul" and t.get("dc") == self.cfg.datacenter:
                out["%s:%s" % (m["Addr"], t.get("port", "8300"))] = m["Status"]
        return out

    def _raft_call(self, addr, msg):
        host, port = split_hostport(addr, 8300)
        return self.rpc_call(host, port, msg, self.cfg.datacenter, timeout=2.0)

    def rpc_call(self, host, port, msg, dc=None, timeout=10.0):
        name = "server.%s.%s" % (dc or self.cfg.datacenter, self.cfg.domain)
        return rpc.call(host, port, msg, timeout=timeout, tls_ctx=self.rpc_client_ctx, server_name=name)

    def _on_leader(self, leading):
        if leading:
            log.info(C, "consul: cluster leadership acquired")

    @staticmethod
    def _join_addresses(addrs, cluster):
        """The addresses to try now: cloud auto-join entries (`provider=...`)
        are looked up again at every attempt, as Consul's retry_join.go does."""
        out, errors = [], []
        for a in addrs:
            if "provider=" not in a:
                out.append(a)
                continue
            try:
                found = discover.addrs(a)
                log.info(C, "Discovered servers", cluster=cluster, servers=" ".join(found))
                out.extend(found)
            except discover.DiscoverError as e:
                log.error(C, "Cannot discover address", address=discover.redacted(a), error=str(e))
                errors.append(str(e))
        return out, errors

    def _retry_join(self, pool, addrs, port, interval):
        cluster = "WAN" if pool is self.wan else "LAN"
        while not self.stopping:
            now, errors = self._join_addresses(addrs, cluster)
            n, join_errors = pool.join(now, port) if now else (0, ["No servers to join"])
            errors += join_errors
            if n:
                log.info(C, "Join cluster completed. Synced with initial agents", cluster="WAN" if pool is self.wan
                         else "LAN", num_agents=n)
                return
            log.warn(C, "Join cluster failed, will retry", cluster="WAN" if pool is self.wan else "LAN",
                     retry_interval="%ds" % (interval // 10**9), error="; ".join(errors))
            time.sleep(interval / 1e9)

    def _leader_loop(self):
        while not self.stopping:
            time.sleep(0.5)
            if not self.raft.is_leader:
                continue
            try:
                with self.state.lock:
                    self.acl.ensure_initial()
                    self._reconcile_members()
            except Exception as e:  # survive a bug in one pass, and say so
                log.error(C, "leader reconcile failed", error=repr(e))
            if self.cfg.acl_enabled and self.cfg.token_replication and \
                    self.cfg.primary_datacenter != self.cfg.datacenter:
                self._replicate_acls()

    def _replicate_acls(self):
        """A secondary's leader copies the primary's policies and global
        tokens with the replication token (agent/consul/acl_replication.go);
        the outcome is what /v1/acl/replication reports."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        try:
            rep = self._forward_dc(self.cfg.primary_datacenter,
                                   {"op": "acl.replicate", "token": self.tokens.get("replication") or "",
                                    "dc": self.cfg.primary_datacenter})
        except rpc.RPCError as e:
            with self.state.lock:
                old = self.state.data["acl"].get("replication") or {}
                if old.get("LastErrorMessage") != str(e):
                    log.error(C, "acl: failed to replicate ACLs", error=str(e))
                self.state.data["acl"]["replication"] = dict(old, LastError=now, LastErrorMessage=str(e))
            return
        with self.state.lock:
            old = self.state.data["acl"].get("replication") or {}
            if old.get("ReplicatedIndex") == rep["index"] and not old.get("LastErrorMessage"):
                return
            self.acl.apply_replica(rep)
            self.state.data["acl"]["replication"] = {
                "ReplicatedIndex": rep["index"], "ReplicatedRoleIndex": rep["index"],
                "ReplicatedTokenIndex": rep["index"], "LastSuccess": now,
                "LastError": old.get("LastError", "0001-01-01T00:00:00Z"), "LastErrorMessage": ""}
            self.state.bump()
        log.info(C, "acl: replicated ACLs from the primary datacenter", tokens=len(rep["tokens"]),
                 policies=len(rep["policies"]))

    def _replica_for(self, msg):
        """In the primary: the ACLs a secondary asked for with its
        replication token, which must be allowed to write ACLs."""
        if self.cfg.primary_datacenter != self.cfg.datacenter:
            # stricter than Consul: a "primary" that names another primary
            raise rpc.RPCError("datacenter %s is not the primary datacenter: its primary_datacenter is %s"
                               % (self.cfg.datacenter, self.cfg.primary_datacenter))
        with self.state.lock:
            found = self.acl.lookup(msg.get("token"))
            if found is None or not msg.get("token"):
                raise rpc.RPCError("ACL not found")
            _, mgmt, rules = found
            if not Authorizer(mgmt, rules, False).allowed("acl", "", "write"):
                raise rpc.RPCError("Permission denied: token lacks permission 'acl:write'")
            rep = self.acl.replicated()
            return {"policies": rep["policies"], "tokens": rep["tokens"], "index": self.state.index}

    def _reconcile_members(self):
        d = self.state.data
        changed = False
        for m in self.lan.snapshot():
            name = m["Name"]
            if m["Status"] == "left":
                if name in d["nodes"]:
                    d["nodes"].pop(name)
                    d["services"].pop(name, None)
                    d["checks"].pop(name, None)
                    log.info(C, "consul: deregistering member that left", member=name)
                    changed = True
                continue
            node = {"ID": m["Tags"].get("id", ""), "Node": name, "Address": m["Addr"], "Datacenter": self.cfg.datacenter,
                    "TaggedAddresses": {"lan": m["Addr"], "lan_ipv4": m["Addr"], "wan": m["Addr"], "wan_ipv4": m["Addr"]},
                    "Meta": d["nodes"].get(name, {}).get("Meta") or {"consul-network-segment": ""}}
            old = d["nodes"].get(name)
            if old is None or any(old.get(k) != node[k] for k in ("ID", "Address")):
                node["CreateIndex"] = old["CreateIndex"] if old else self.state.index + 1
                node["ModifyIndex"] = self.state.index + 1
                d["nodes"][name] = node
                changed = True
            status = "passing" if m["Status"] == "alive" else "critical"
            chk = d["checks"].setdefault(name, {}).get("serfHealth")
            if chk is None or chk["Status"] != status:
                d["checks"][name]["serfHealth"] = {
                    "Node": name, "CheckID": "serfHealth", "Name": "Serf Health Status", "Status": status,
                    "Notes": "", "Output": "Agent alive and reachable" if status == "passing" else
                    "Agent not live or unreachable", "ServiceID": "", "ServiceName": "", "ServiceTags": [],
                    "Type": "", "Interval": "", "Timeout": "", "ExposedPort": 0, "Definition": {},
                    "CreateIndex": self.state.index + 1, "ModifyIndex": self.state.index + 1}
                changed = True
            if m["Tags"].get("role") == "consul":
                svcs = d["services"].setdefault(name, {})
                if "consul" not in svcs:
                    svcs["consul"] = {"ID": "consul", "Service": "consul", "Tags": [], "Address": "",
                                      "Port": int(m["Tags"].get("port", 8300)), "Meta": {}, "Weights": {"Passing": 1, "Warning": 1},
                                      "EnableTagOverride": False, "CreateIndex": self.state.index + 1,
                                      "ModifyIndex": self.state.index + 1}
                    changed = True
        if changed:
            self.state.bump()

    # -- local services and checks --------------------------------------------
    def add_service(self, svc, check_defs, token):
        with self.lock:
            self.remove_service(svc["ID"], quiet=True)
            self.services[svc["ID"]] = dict(svc, _token=token)
            for c in check_defs:
                self.add_check(c)
        log.info(C, "Synced service", service=svc["ID"])

    def remove_service(self, sid, quiet=False):
        with self.lock:
            found = self.services.pop(sid, None) is not None
            for cid in [c for c, v in self.checks.items() if v["ServiceID"] == sid]:
                self.remove_check(cid)
        if found and not quiet:
            log.info(C, "Deregistered service", service=sid)
        return found

    def add_check(self, c):
        with self.lock:
            self.remove_check(c["CheckID"])
            self.checks[c["CheckID"]] = c
            kind = c["Type"]
            if kind in ("http", "tcp"):
                def update(status, output, cid=c["CheckID"]):
                    with self.lock:
                        cur = self.checks.get(cid)
                        if cur is not None and (cur["Status"] != status or cur["Output"] != output):
                            if cur["Status"] != status:
                                log.info(C, "Check status changed", check=cid, status=status)
                            cur["Status"], cur["Output"] = status, output
                self.runners[c["CheckID"]] = checks.CheckRunner(
                    kind, c["Definition"]["HTTP"] if kind == "http" else c["Definition"]["TCP"],
                    c["_interval"], c["_timeout"], update, c["Definition"].get("Method") or "GET",
                    {k: v[0] if isinstance(v, list) else v for k, v in (c["Definition"].get("Header") or {}).items()},
                    c["Definition"].get("TLSSkipVerify", False))

    def remove_check(self, cid):
        with self.lock:
            r = self.runners.pop(cid, None)
            if r:
                r.stop()
            return self.checks.pop(cid, None) is not None

    def _anti_entropy(self):
        last = None
        last_push = 0
        while not self.stopping:
            time.sleep(0.5)
            with self.lock:
                svcs = {k: {x: y for x, y in v.items() if not x.startswith("_")} for k, v in self.services.items()}
                chks = {k: {x: y for x, y in v.items() if not x.startswith("_")} for k, v in self.checks.items()}
            payload = {"op": "catalog.sync", "node": self.cfg.node_name, "services": svcs, "checks": chks,
                       "dc": self.cfg.datacenter}
            if payload == last and time.monotonic() - last_push < 10:
                continue
            self._check_agent_token()
            try:
                self.server_rpc(payload)
                last, last_push = payload, time.monotonic()
            except rpc.RPCError as e:
                log.debug(C, "anti-entropy sync failed", error=str(e))

    def _check_agent_token(self):
        """The agent updates its own node with the agent token (else the
        default one); without node:write Consul reports the update blocked."""
        if not self.cfg.acl_enabled:
            return
        secret = self.tokens.get("agent") or self.tokens.get("default") or ""
        try:
            az, _ = self.authorizer(secret)
            ok = az.allowed("node", self.cfg.node_name, "write")
        except HTTPError as e:
            ok = False
            why = e.message
        else:
            why = "Permission denied"
        if not ok and getattr(self, "_token_warned", None) != why:
            log.warn(C, "Node info update blocked by ACLs", node=self.cfg.node_name, reason=why)
            self._token_warned = why
        elif ok:
            self._token_warned = None

    # -- routing -------------------------------------------------------------
    def servers_here(self):
        return [(m["Addr"], int(m["Tags"].get("port", 8300))) for m in self.lan.snapshot()
                if m["Tags"].get("role") == "consul" and m["Status"] == "alive"]

    def server_rpc(self, msg):
        """On a server: run here or forward; on a client: ask a server."""
        if self.cfg.server:
            return self.rpc_dispatch(msg, {})
        last = rpc.RPCError("No known Consul servers")
        for host, port in self.servers_here():
            try:
                return self.rpc_call(host, port, msg)
            except rpc.RPCError as e:
                last = e
                if not str(e).startswith("dial"):
                    raise
        raise last

    def _forward_dc(self, dc, msg):
        if self.wan is None:
            raise rpc.RPCError("No path to datacenter")
        servers = [(m["Addr"], int(m["Tags"].get("port", 8300))) for m in self.wan.snapshot()
                   if m["Tags"].get("dc") == dc and m["Status"] == "alive"]
        if not servers:
            raise rpc.RPCError("No path to datacenter")
        last = None
        for host, port in servers:
            try:
                return self.rpc_call(host, port, dict(msg, hops=msg.get("hops", 0) + 1), dc)
            except rpc.RPCError as e:
                last = e
                if not str(e).startswith("dial"):
                    raise
        raise last

    def route(self, msg):
        if msg.get("hops", 0) > 4:
            raise rpc.RPCError("too many forwarding hops")
        dc = msg.get("dc") or self.cfg.datacenter
        if dc != self.cfg.datacenter:
            return self._forward_dc(dc, msg)
        if not self.raft.is_leader:
            leader = self.raft.known_leader()
            if not leader:
                raise rpc.RPCError("No cluster leader")
            host, port = split_hostport(leader, 8300)
            return self.rpc_call(host, port, dict(msg, hops=msg.get("hops", 0) + 1))
        return None

    def rpc_dispatch(self, msg, info):
        op = msg.get("op", "")
        if op.startswith("raft."):
            return self.raft.dispatch(msg)
        if op == "status.leader":
            return {"leader": self.raft.known_leader()}
        if op == "status.peers":
            return {"peers": self.raft.peer_list()}
        if op == "acl.resolve":
            return self._resolve_here(msg)
        reply = self.route(msg)
        if reply is not None:
            return reply
        if op == "acl.replicate":
            return self._replica_for(msg)
        if op == "http.forward":
            req = Request.from_dict(msg["req"])
            try:
                resp = self.api.execute(req)
            except HTTPError as e:
                resp = Response(e.status, raw=e.message)
            return {"resp": resp.to_dict()}
        if op == "catalog.sync":
            return self._catalog_sync(msg)
        raise rpc.RPCError("rpc: can't find method %s" % op)

    def _catalog_sync(self, msg):
        d = self.state.data
        with self.state.lock:
            node = msg["node"]
            if node not in d["nodes"]:
                raise rpc.RPCError("node %s is not registered yet" % node)
            idx = self.state.bump()
            svcs = {"consul": d["services"][node]["consul"]} if "consul" in d["services"].get(node, {}) else {}
            for sid, s in msg["services"].items():
                old = d["services"].get(node, {}).get(sid)
                svcs[sid] = dict(s, CreateIndex=old["CreateIndex"] if old else idx, ModifyIndex=idx)
            d["services"][node] = svcs
            chks = {"serfHealth": d["checks"][node]["serfHealth"]} if "serfHealth" in d["checks"].get(node, {}) else {}
            for cid, c in msg["checks"].items():
                chks[cid] = dict(c, Node=node, CreateIndex=idx, ModifyIndex=idx)
            d["checks"][node] = chks
        return {}

    # -- ACL -------------------------------------------------------------------
    def _resolve_here(self, msg):
        """On a server: resolve a secret in the primary datacenter's ACLs, or,
        in a secondary with token replication, in the replicated ones only
        (agent/consul/acl_server.go ResolveIdentityFromToken)."""
        secondary = self.cfg.primary_datacenter != self.cfg.datacenter
        if secondary and not self.cfg.token_replication:
            return self._forward_dc(self.cfg.primary_datacenter, dict(msg, dc=self.cfg.primary_datacenter))
        with self.state.lock:
            found = self.acl.lookup(msg.get("secret"))
        if found is None:
            raise rpc.RPCError("ACL not found")
        tok, mgmt, rules = found
        return {"token": tok, "management": mgmt, "rules": rules}

    def authorizer(self, secret):
        cfg = self.cfg
        if not cfg.acl_enabled:
            return Authorizer(True, [], True), None
        secret = secret or self.tokens.get("default") or ""
        if cfg.agent_recovery and secret == cfg.agent_recovery:
            return Authorizer(False, [{"agent": {cfg.node_name: {"policy": "write"}},
                                       "node_prefix": {"": {"policy": "read"}}}], False), None
        cached = self.acl_cache.get(secret)
        if cached and time.monotonic() - cached[0] < 30:
            reply = cached[1]
        else:
            try:
                reply = self.server_rpc({"op": "acl.resolve", "secret": secret})
            except rpc.RPCError as e:
                if "ACL not found" in str(e):
                    raise HTTPError(403, "ACL not found")
                if cached and cfg.down_policy in ("extend-cache", "async-cache"):
                    reply = cached[1]
                elif cfg.down_policy == "allow":
                    return Authorizer(True, [], True), None
                else:
                    raise HTTPError(500, str(e))
            self.acl_cache[secret] = (time.monotonic(), reply)
        return Authorizer(reply["management"], reply["rules"], cfg.default_policy == "allow"), reply["token"]

    # -- HTTP ------------------------------------------------------------------
    def handle_http(self, req):
        return self.api.handle(req)

    def shutdown(self, leave):
        self.stopping = True
        for p in (self.lan, self.wan):
            if p is not None:
                if leave:
                    p.leave()
                p.close()
        with self.lock:
            for r in self.runners.values():
                r.stop()


def main(argv):
    if not argv:
        sys.stderr.write("Usage: consul [--version] [--help] <command> [<args>]\n")
        return 1
    cmd = argv[0]
    if cmd in ("version", "-version", "--version", "-v"):
        print("Consul v%s\nRevision 7e5aa3a4\nBuild Date 2024-01-24T00:00:00Z\nProtocol 2 spoken by default, "
              "understands 2 to 3 (agent will automatically use protocol >2 when speaking to compatible agents)"
              % VERSION)
        return 0
    if cmd == "keygen":
        print(base64.b64encode(os.urandom(32)).decode())
        return 0
    if cmd != "agent":
        sys.stderr.write("Usage: consul [--version] [--help] <command> [<args>]\n\nunknown command %r\n" % cmd)
        return 1
    files, dirs, flags = [], [], {}
    args = argv[1:]
    valued = {"config-file", "config-dir", "data-dir", "bind", "advertise", "client", "node", "datacenter",
              "retry-join", "retry-join-wan", "join", "encrypt", "log-level", "bootstrap-expect"}
    boolean = {"server", "bootstrap", "ui"}
    i = 0
    while i < len(args):
        a = args[i]
        name, eq, val = a.lstrip("-").partition("=")
        if not a.startswith("-") or name not in valued | boolean:
            sys.stderr.write("flag provided but not defined: -%s\n" % name)
            return 1
        if name in valued and not eq:
            i += 1
            if i >= len(args):
                sys.stderr.write("flag needs an argument: -%s\n" % name)
                return 1
            val = args[i]
        if name == "config-file":
            files.append(val)
        elif name == "config-dir":
            dirs.append(val)
        elif name in ("retry-join", "join", "retry-join-wan"):
            key = "retry_join_wan" if name == "retry-join-wan" else "retry_join"
            flags.setdefault(key, []).append(val)
        elif name in boolean:
            flags[name if name != "ui" else "ui_config"] = True if name != "ui" else {"enabled": True}
        elif name == "bootstrap-expect":
            if not val.isdigit():
                sys.stderr.write('invalid value "%s" for flag -bootstrap-expect: parse error\n' % val)
                return 1
            flags["bootstrap_expect"] = int(val)
        else:
            flags[{"data-dir": "data_dir", "bind": "bind_addr", "advertise": "advertise_addr",
                   "client": "client_addr", "node": "node_name", "log-level": "log_level"}.get(name, name)] = val
        i += 1
    try:
        from . import confload
        raw = confload.merge(load(files, dirs), flags, append_lists=True)
        cfg = ConsulConfig(raw)
        log.set_level(cfg.log_level)
        for s in (cfg.encrypt, cfg.initial_management, cfg.agent_token, cfg.default_token, cfg.replication_token,
                  cfg.agent_recovery):
            log.add_secret(s)
        agent = ConsulAgent(cfg)
    except ConfigError as e:
        sys.stderr.write("==> %s\n" % e)
        return 1
    except OSError as e:
        sys.stderr.write("==> Error starting agent: %s\n" % e)
        return 1
    done = threading.Event()
    how = {}

    def on_signal(signum, frame):
        how["sig"] = signum
        done.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    agent.on_leave = done.set
    while not done.wait(1):
        pass
    sig = how.get("sig")
    if sig is None:
        leave = True
    elif sig == signal.SIGTERM:
        leave = cfg.leave_on_terminate
    else:
        leave = not cfg.skip_leave_on_interrupt
    log.info(C, "Caught signal: %s" % (signal.Signals(sig).name if sig else "leave requested"))
    agent.shutdown(leave)
    log.info(C, "Graceful shutdown" if leave else "shutdown complete")
    return 0
