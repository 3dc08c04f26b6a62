"""`nomad agent`: wiring of the server (gossip, consensus, scheduler), the
client, the HTTP API and the RPC port; request routing between regions and
to the leader."""
import os
import signal
import sys
import threading
import time

from . import log, rpc, tlsutil
from .confload import ConfigError
from .httpd import HTTPError, Request, Response, serve
from .nomad_acl import ACL, ACLIdentity
from .nomad_conf import NomadConfig, load
from .nomad_http import NomadAPI
from .nomad_sched import Scheduler
from .nomad_state import NomadState
from .raft import Consensus
from .serf import Pool
from .util import new_uuid, now_ns, split_hostport

C = "nomad"
VERSION = "1.7.7"
MAX_HOPS = 4


class NomadAgent:
    def __init__(self, cfg):
        self.cfg = cfg
        self.stopping = False
        self.state = None
        self.serf = None
        self.raft = None
        self.client = None
        self.api = NomadAPI(self)
        self.acl_cache = {}
        t = cfg.tls
        self.rpc_client_ctx = None
        if cfg.tls_rpc:
            self.rpc_client_ctx = tlsutil.client_context(t.get("ca_file"), t["cert_file"], t["key_file"],
                                                         t.get("verify_server_hostname", False))
        if cfg.server:
            self._start_server()
        if cfg.client:
            from .nomad_client import Client
            self.client = Client(self)
        http_ctx = None
        if cfg.tls_http:
            http_ctx = tlsutil.server_context(t.get("ca_file"), t["cert_file"], t["key_file"],
                                              t.get("verify_https_client", False))
        self.http = serve(C, cfg.bind["http"], cfg.ports["http"], self.handle_http, http_ctx)
        if cfg.raw.get("consul", {}).get("auto_advertise", True):
            threading.Thread(target=self._advertise_in_consul, daemon=True).start()
        log.info(C, "agent started", http="%s://%s:%d" % ("https" if http_ctx else "http", cfg.bind["http"],
                                                          cfg.ports["http"]),
                 region=cfg.region, datacenter=cfg.datacenter, server=cfg.server, client=cfg.client)

    def _advertise_in_consul(self):
        """Registers the agent's own services with the local Consul agent
        (consul.auto_advertise), retrying until Consul answers."""
        import json as _json
        import urllib.request
        cfg = self.cfg
        scheme = "https" if cfg.tls_http else "http"
        services = []
        if cfg.server:
            name = cfg.raw.get("consul", {}).get("server_service_name", "nomad")
            http_ip, http_port = cfg.advertise["http"]
            for tag, (ip, port), check in (
                    ("http", cfg.advertise["http"], {"Name": "Nomad Server HTTP Check", "HTTP": "%s://%s:%d/v1/agent/health?type=server"
                                                     % (scheme, http_ip, http_port), "TLSSkipVerify": True}),
                    ("rpc", cfg.advertise["rpc"], {"Name": "Nomad Server RPC Check", "TCP": "%s:%d" % cfg.advertise["rpc"]}),
                    ("serf", cfg.advertise["serf"], {"Name": "Nomad Server Serf Check", "TCP": "%s:%d" % cfg.advertise["serf"]})):
                services.append({"ID": "_nomad-server-%s-%s" % (tag, ip.replace(".", "-")), "Name": name, "Tags": [tag],
                                 "Address": ip, "Port": port, "Check": dict(check, Interval="10s", Timeout="2s")})
        if cfg.client:
            ip, port = cfg.advertise["http"]
            services.append({"ID": "_nomad-client-%s" % ip.replace(".", "-"),
                             "Name": cfg.raw.get("consul", {}).get("client_service_name", "nomad-client"),
                             "Tags": ["http"], "Address": ip, "Port": port,
                             "Check": {"Name": "Nomad Client HTTP Check", "Interval": "10s", "Timeout": "2s",
                                       "HTTP": "%s://%s:%d/v1/agent/health?type=client" % (scheme, ip, port),
                                       "TLSSkipVerify": True}})
        pending = list(services)
        warned = False
        while pending and not self.stopping:
            svc = pending[0]
            req = urllib.request.Request("%s://%s/v1/agent/service/register" % (
                "https" if cfg.consul_ssl else "http", cfg.consul_address), data=_json.dumps(svc).encode(), method="PUT")
            if cfg.consul_token:
                req.add_header("X-Consul-Token", cfg.consul_token)
            try:
                ctx = None
                if cfg.consul_ssl:
                    import ssl
                    ctx = ssl.create_default_context(cafile=cfg.consul_ca or None)
                with urllib.request.urlopen(req, timeout=5, context=ctx):
                    pass
                pending.pop(0)
                log.info("consul", "registered agent service with consul", service=svc["Name"], tags=svc["Tags"][0])
            except OSError as e:
                if not warned:
                    log.warn("consul", "failed to register agent services with consul, will retry", error=str(e))
                    warned = True
                time.sleep(2)

    # -- server --------------------------------------------------------------
    def _start_server(self):
        cfg = self.cfg
        self.state = NomadState()
        self.acl = ACL(self.state, cfg.acl_enabled)
        self.sched = Scheduler(self.state, cfg.min_heartbeat_ttl, cfg.heartbeat_grace)
        t = cfg.tls
        ctx = None
        if cfg.tls_rpc:
            ctx = tlsutil.server_context(t.get("ca_file"), t["cert_file"], t["key_file"], True)
        self.rpc_server = rpc.listen(C, cfg.bind["rpc"], cfg.ports["rpc"], self.rpc_dispatch, ctx,
                                     require_tls=cfg.tls_rpc and not t.get("rpc_upgrade_mode"))
        rpc_ip, rpc_port = cfg.advertise["rpc"]
        self.rpc_addr = "%s:%d" % (rpc_ip, rpc_port)
        tags = {"role": "nomad", "region": cfg.region, "dc": cfg.datacenter, "port": str(rpc_port),
                "rpc_addr": rpc_ip, "bootstrap": "1" if cfg.bootstrap_expect == 1 else "0",
                "expect": str(cfg.bootstrap_expect), "build": VERSION, "vsn": "1", "mvn": "1", "raft_vsn": "3",
                "id": new_uuid(), "authoritative_region": cfg.authoritative_region}
        serf_ip, serf_port = cfg.advertise["serf"]
        self.serf = Pool("nomad", "%s.%s" % (cfg.name, cfg.region), serf_ip, serf_port, cfg.bind["serf"], tags,
                         key=cfg.gossip_key)
        self.raft = Consensus(C, self.rpc_addr, cfg.bootstrap_expect, self._region_servers, self._raft_call,
                              self.state, self._on_leader, store=os.path.join(cfg.data_dir, "server", "raft.json"))
        if cfg.start_join:
            n, errors = self.serf.join(cfg.start_join, 4648)
            if n == 0:
                raise ConfigError("Error starting agent: Failed to join: %s" % "; ".join(errors))
        if cfg.retry_join:
            threading.Thread(target=self._retry_join, daemon=True).start()
        threading.Thread(target=self._leader_loop, daemon=True).start()

    def _retry_join(self):
        addrs = [a for a in self.cfg.retry_join if not a.startswith("provider=")]
        attempt = 0
        while not self.stopping:
            attempt += 1
            n, errors = self.serf.join(addrs, 4648)
            if n > 0:
                log.info(C, "agent: retry join completed", initial_servers=n, agent_mode="server")
                return
            log.warn(C, "agent: join failed", error="; ".join(errors), retry=attempt)
            max_ = self.cfg.raw.get("server", {}).get("server_join", {}).get("retry_max", 0)
            if max_ and attempt >= max_:
                log.error(C, "agent: max join retry exhausted, exiting")
                os._exit(1)
            time.sleep(self.cfg.retry_interval / 1e9)

    def _region_servers(self, region=None):
        region = region or self.cfg.region
        out = {}
        for m in self.serf.snapshot():
            tg = m["Tags"]
            if tg.get("role") == "nomad" and tg.get("region") == region:
                out["%s:%s" % (tg.get("rpc_addr") or m["Addr"], tg.get("port", "4647"))] = m["Status"]
        return out

    def _raft_call(self, addr, msg):
        host, port = split_hostport(addr, 4647)
        return self.rpc_call(host, port, msg, server_region=self.cfg.region, timeout=2.0)

    def rpc_call(self, host, port, msg, server_region=None, timeout=10.0):
        name = "server.%s.nomad" % (server_region or self.cfg.region)
        return rpc.call(host, port, msg, timeout=timeout, tls_ctx=self.rpc_client_ctx, server_name=name)

    def _on_leader(self, leading):
        if leading:
            self.sched.became_leader()

    def _leader_loop(self):
        last_err = ""
        while not self.stopping:
            time.sleep(0.5)
            if not self.raft.is_leader:
                continue
            try:
                self.sched.tick(self._reregister)
            except Exception as e:  # the loop must survive a bug in one pass
                log.error(C, "scheduler pass failed", error=repr(e))
            if self.cfg.acl_enabled and self.cfg.authoritative_region != self.cfg.region:
                try:
                    rep = self._forward_region(self.cfg.authoritative_region,
                                               {"op": "acl.replicate", "token": self.cfg.replication_token})
                    with self.state.lock:
                        if self.acl.apply_replica(rep):
                            log.info("acl", "ACL replication applied", tokens=len(rep["tokens"]))
                    last_err = ""
                except rpc.RPCError as e:
                    if str(e) != last_err:
                        log.error("acl", "ACL replication failed", error=str(e))
                        last_err = str(e)

    def known_leader(self):
        return self.raft.known_leader() if self.raft else (self.client.registered if self.client else "")

    def leader_addr(self):
        if self.raft:
            return self.raft.known_leader()
        try:
            return self.client.rpc({"op": "status.leader"}).get("leader", "")
        except rpc.RPCError:
            return ""

    def peers(self):
        if self.raft:
            return self.raft.peer_list() if self.raft.known_leader() else self.raft.peer_list()
        try:
            return self.client.rpc({"op": "status.peers"}).get("peers", [])
        except rpc.RPCError:
            return []

    def regions(self):
        return sorted({m["Tags"].get("region") for m in self.serf.snapshot()
                       if m["Status"] == "alive" and m["Tags"].get("role") == "nomad"})

    def members(self):
        out = []
        for m in self.serf.snapshot():
            out.append({"Name": m["Name"], "Addr": m["Addr"], "Port": m["Port"], "Tags": m["Tags"],
                        "Status": m["Status"], "ProtocolMin": 1, "ProtocolMax": 5, "ProtocolCur": 2,
                        "DelegateMin": 2, "DelegateMax": 5, "DelegateCur": 4})
        return {"ServerName": self.cfg.name, "ServerRegion": self.cfg.region, "ServerDC": self.cfg.datacenter,
                "Members": out}

    def self_info(self):
        cfg = self.cfg
        member = None
        if self.serf:
            member = next((m for m in self.members()["Members"] if m["Name"] == self.serf.name), None)
        stats = {"nomad": {"server": str(cfg.server).lower(), "leader": str(bool(self.raft and self.raft.is_leader)).lower(),
                           "known_regions": str(len(self.regions())) if self.serf else "0",
                           "bootstrap": str(cfg.bootstrap_expect == 1).lower(), "leader_addr": self.leader_addr()}}
        if self.client:
            stats["client"] = {"node_id": self.client.node["ID"], "known_servers": ",".join(
                "%s:%d" % s for s in self.client.servers), "num_allocations": str(len(self.client.runners)),
                "heartbeat_ttl": str(int(self.client.ttl * 1000)) + "ms"}
        shown = {"Region": cfg.region, "Datacenter": cfg.datacenter, "NodeName": cfg.name, "DataDir": cfg.data_dir,
                 "BindAddr": cfg.raw.get("bind_addr", "0.0.0.0"), "Version": {"Version": VERSION, "Revision": "",
                                                                              "VersionPrerelease": "", "VersionMetadata": ""},
                 "Ports": {"HTTP": cfg.ports["http"], "RPC": cfg.ports["rpc"], "Serf": cfg.ports["serf"]},
                 "Addresses": {"HTTP": cfg.bind["http"], "RPC": cfg.bind["rpc"], "Serf": cfg.bind["serf"]},
                 "AdvertiseAddrs": {k.upper() if k != "serf" else "Serf": "%s:%d" % v for k, v in cfg.advertise.items()},
                 "Server": {"Enabled": cfg.server, "BootstrapExpect": cfg.bootstrap_expect,
                            "AuthoritativeRegion": cfg.authoritative_region if cfg.server else "",
                            "EncryptKey": "", "ServerJoin": {"RetryJoin": cfg.retry_join}},
                 "Client": {"Enabled": cfg.client, "Servers": cfg.client_servers, "NodeClass": cfg.node_class},
                 "ACL": {"Enabled": cfg.acl_enabled}, "TLSConfig": {"EnableHTTP": cfg.tls_http, "EnableRPC": cfg.tls_rpc,
                                                                   "VerifyServerHostname": bool(cfg.tls.get("verify_server_hostname"))},
                 "Consul": {"Addr": cfg.consul_address}}
        return {"config": shown, "member": member, "stats": stats}

    # -- routing -------------------------------------------------------------
    def _forward_region(self, region, msg, hops=0):
        servers = [a for a, s in self._region_servers(region).items() if s == "alive"]
        if not servers:
            raise rpc.RPCError("No path to region")
        last = None
        for addr in servers:
            host, port = split_hostport(addr, 4647)
            try:
                return self.rpc_call(host, port, dict(msg, region=region, hops=hops + 1), server_region=region,
                                     timeout=msg.get("timeout", 10.0))
            except rpc.RPCError as e:
                last = e
                if "No path" in str(e) or "No cluster leader" in str(e) or not str(e).startswith("dial"):
                    raise
        raise last

    def _forward_leader(self, msg):
        leader = self.raft.known_leader()
        if not leader:
            raise rpc.RPCError("No cluster leader")
        host, port = split_hostport(leader, 4647)
        return self.rpc_call(host, port, dict(msg, hops=msg.get("hops", 0) + 1), timeout=msg.get("timeout", 10.0))

    def route(self, msg):
        """Where a region-scoped message runs: None = here, else the reply
        of the server that ran it."""
        if msg.get("hops", 0) > MAX_HOPS:
            raise rpc.RPCError("rpc: too many forwarding hops")
        region = msg.get("region") or self.cfg.region
        if region != self.cfg.region:
            return self._forward_region(region, msg, msg.get("hops", 0))
        if not self.raft.is_leader:
            return self._forward_leader(msg)
        return None

    def forward_to_server(self, req, region=None):
        msg = {"op": "http.forward", "req": req.to_dict(), "region": region or req.q("region") or self.cfg.region,
               "timeout": self._timeout(req)}
        try:
            reply = self.client.rpc(msg)
        except rpc.RPCError as e:
            raise HTTPError(500, str(e))
        return Response.from_dict(reply["resp"])

    def _timeout(self, req):
        if req.q("index") and req.method == "GET":
            from .util import parse_duration
            try:
                return min(parse_duration(req.q("wait") or "5m"), 600 * 10**9) / 1e9 + 10
            except ValueError:
                return 10.0
        return 10.0

    def _identity(self, secret, need):
        if self.state is not None:
            with self.state.lock:
                return self.acl.check(secret, need)
        if not self.cfg.acl_enabled:
            return ACLIdentity({"Type": "management"}, [])
        try:
            reply = self.client.rpc({"op": "acl.resolve", "token": secret or "", "need": need})
        except rpc.RPCError as e:
            if "Permission denied" in str(e) or "ACL token not found" in str(e):
                raise HTTPError(403, str(e).split(": ")[-1])
            raise HTTPError(500, str(e))
        return ACLIdentity(reply.get("token"), reply.get("rules", []))

    def _request_region(self, fn, req, region=None):
        """The region a request is for: ?region=, else the job's own region
        for a registration ("global" meaning the request's), the
        authoritative region for an ACL bootstrap, else this agent's."""
        region = req.q("region") or region or self.cfg.region
        if fn.__name__ == "acl_bootstrap" and self.cfg.server:
            return self.cfg.authoritative_region
        if fn.__name__ in ("jobs_register", "job_one") and req.method in ("POST", "PUT") and not req.q("region"):
            try:
                body = req.json()
                job = next((v for k, v in body.items() if k.lower() == "job"), None) or {}
                job_region = next((v for k, v in job.items() if k.lower() == "region"), "")
            except (HTTPError, AttributeError):
                job_region = ""
            if job_region and job_region != "global":
                return job_region
        return region

    def handle_http(self, req, hops=0):
        fn, args, need, local = self.api.match(req)
        region = self._request_region(fn, req)
        if local and fn.__name__ not in ("status_leader", "status_peers") or (local and region == self.cfg.region):
            return self.api.run(fn, args, need, req, self._identity)
        if not self.cfg.server:
            return self.forward_to_server(req, region)
        msg = {"op": "http.forward", "req": req.to_dict(), "region": region, "hops": hops,
               "timeout": self._timeout(req)}
        try:
            reply = self.route(msg)
        except rpc.RPCError as e:
            raise HTTPError(500, str(e))
        if reply is not None:
            return Response.from_dict(reply["resp"])
        return self.api.run(fn, args, need, req, self._identity)

    # -- rpc -----------------------------------------------------------------
    def rpc_dispatch(self, msg, info):
        op = msg.get("op", "")
        if op.startswith("raft."):
            return self.raft.dispatch(msg)
        if op == "status.leader":
            return {"leader": self.raft.known_leader()}
        if op == "status.peers":
            return {"peers": self.raft.peer_list()}
        if op == "http.forward":
            req = Request.from_dict(msg["req"])
            try:
                fn, _, _, _ = self.api.match(req)
                msg["region"] = self._request_region(fn, req, msg.get("region"))
                region = msg["region"]
                if region != self.cfg.region or not self.raft.is_leader:
                    reply = self.route(msg)
                    if reply is not None:
                        return reply
                fn, args, need, local = self.api.match(req)
                resp = self.api.run(fn, args, need, req, self._identity)
            except HTTPError as e:
                resp = Response(e.status, raw=e.message)
            return {"resp": resp.to_dict()}
        if op == "acl.replicate":
            if self.cfg.authoritative_region != self.cfg.region:
                # stricter than Nomad: the region asked is no authority itself
                raise rpc.RPCError("region %s is not authoritative: its authoritative_region is %s"
                                   % (self.cfg.region, self.cfg.authoritative_region))
            with self.state.lock:
                ident = self.acl.resolve(msg.get("token"))
                if not ident.management:
                    raise rpc.RPCError("Permission denied")
                return self.acl.replicated()
        if op == "acl.resolve":
            try:
                with self.state.lock:
                    ident = self.acl.check(msg.get("token"), tuple(msg["need"]) if msg.get("need") else None)
            except HTTPError as e:
                raise rpc.RPCError(e.message)
            return {"token": ident.token, "rules": ident.rules}
        if op.startswith("node."):
            reply = self.route(msg)
            if reply is not None:
                return reply
            return self._node_op(op, msg)
        raise rpc.RPCError("rpc: can't find method %s" % op)

    def _node_op(self, op, msg):
        st = self.state
        with st.lock:
            if op == "node.register":
                node = dict(msg["node"])
                node["Status"] = "ready"
                self.state.upsert_node(node)
                self.sched.heartbeat(node["ID"])
                log.info(C, "node registered", node_id=node["ID"], name=node["Name"], datacenter=node["Datacenter"])
                return {"HeartbeatTTL": self.cfg.min_heartbeat_ttl, "Servers": self._server_list()}
            node = st.data["nodes"].get(msg.get("node_id"))
            if node is None:
                raise rpc.RPCError("node.%s: unknown node %s" % (op, msg.get("node_id")))
            if node.get("SecretID") != msg.get("secret"):
                raise rpc.RPCError("Permission denied")
            if op == "node.heartbeat":
                if node["Status"] == "down":
                    return {"reregister": True}
                self.sched.heartbeat(node["ID"])
                return {"HeartbeatTTL": self.cfg.min_heartbeat_ttl, "Servers": self._server_list()}
            if op == "node.get_allocs":
                return {"allocs": [a for a in st.data["allocs"].values() if a["NodeID"] == node["ID"]]}
            if op == "node.update_allocs":
                st.client_update_allocs(msg.get("updates", []))
                return {}
        raise rpc.RPCError("rpc: can't find method %s" % op)

    def _server_list(self):
        return [a for a, s in self._region_servers().items() if s == "alive"]

    # -- writes (leader) -----------------------------------------------------
    def _reregister(self, job):
        from .nomad_jobs import spec_of
        job.pop("Stable", None)
        new, changed = self.state.register_job(job, spec_of)
        if changed:
            self.sched.create_deployment(new)
        return new

    def register_job(self, job, body):
        from .nomad_jobs import spec_of
        st = self.state
        with st.lock:
            old = st.job(job["Namespace"], job["ID"])
            if body.get("EnforceIndex") and (old["JobModifyIndex"] if old else 0) != body.get("JobModifyIndex", 0):
                raise HTTPError(500, "Enforcing job modify index %d: job exists with conflicting job modify index: %d"
                                % (body.get("JobModifyIndex", 0), old["JobModifyIndex"] if old else 0))
            if body.get("PreserveCounts") and old:
                counts = {g["Name"]: g["Count"] for g in old["TaskGroups"]}
                for g in job["TaskGroups"]:
                    g["Count"] = counts.get(g["Name"], g["Count"])
            new, changed = st.register_job(job, spec_of)
            if changed:
                self.sched.create_deployment(new)
            ev = st.new_eval(new, "job-register")
            self.sched.reconcile(new, ev)
            log.info(C, "job registered", job=new["ID"], version=new["Version"])
            return {"EvalID": ev["ID"], "EvalCreateIndex": ev["CreateIndex"], "JobModifyIndex": new["JobModifyIndex"],
                    "Warnings": "", "Index": st.index, "LastContact": 0, "KnownLeader": False}

    def deregister_job(self, ns, jid, purge):
        st = self.state
        with st.lock:
            if st.job(ns, jid) is None:
                raise HTTPError(404, "job not found")
            job, idx = st.stop_job(ns, jid, purge)
            ev = st.new_eval(job, "job-deregister")
            self.sched.reconcile(job, ev)
            self.sched.create_deployment(job)
            log.info(C, "job deregistered", job=jid, purge=purge)
            return {"EvalID": ev["ID"], "EvalCreateIndex": ev["CreateIndex"], "JobModifyIndex": idx,
                    "VolumeEvalID": "", "VolumeEvalIndex": 0, "Index": st.index}

    def drain_node(self, nid, body):
        st = self.state
        with st.lock:
            n = st.data["nodes"][nid]
            spec = body.get("DrainSpec")
            idx = st.bump()
            if spec is None:
                if n.get("DrainStrategy"):
                    n["LastDrain"] = dict(n.get("LastDrain") or {}, Status="canceled")
                n["DrainStrategy"] = None
                n["Drain"] = False
                if body.get("MarkEligible"):
                    n["SchedulingEligibility"] = "eligible"
                st.node_event(n, "Node drain strategy cleared", "Drain")
            else:
                spec = {"Deadline": spec.get("Deadline", 0), "IgnoreSystemJobs": spec.get("IgnoreSystemJobs", False)}
                dl = spec["Deadline"]
                n["DrainStrategy"] = {"DrainSpec": spec, "ForceDeadline": "0001-01-01T00:00:00Z" if dl <= 0 else
                                      time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + dl / 1e9)),
                                      "StartedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                      "_started_ns": now_ns()}
                n["Drain"] = True
                n["SchedulingEligibility"] = "ineligible"
                n["LastDrain"] = {"Status": "draining", "StartedAt": n["DrainStrategy"]["StartedAt"],
                                  "UpdatedAt": n["DrainStrategy"]["StartedAt"], "Meta": body.get("Meta") or {},
                                  "AccessorID": ""}
                st.node_event(n, "Node drain strategy set", "Drain")
                log.info(C, "node drain started", node_id=nid, deadline=dl)
            n["ModifyIndex"] = idx
            self.sched.tick(self._reregister)
            return {"NodeModifyIndex": idx, "EvalIDs": [], "EvalCreateIndex": idx, "Index": idx}

    def node_eligibility(self, nid, elig):
        st = self.state
        with st.lock:
            n = st.data["nodes"][nid]
            if n.get("DrainStrategy") and elig == "eligible":
                raise HTTPError(400, "can not set node's scheduling eligibility to eligible while it is draining")
            idx = st.bump()
            n["SchedulingEligibility"] = elig
            n["ModifyIndex"] = idx
            st.node_event(n, "Node marked as %s for scheduling" % elig)
            return {"NodeModifyIndex": idx, "EvalIDs": [], "EvalCreateIndex": idx, "Index": idx}

    def purge_node(self, nid):
        st = self.state
        with st.lock:
            idx = st.bump()
            st.data["nodes"].pop(nid, None)
            for a in st.allocs_of_node(nid):
                if a["ClientStatus"] not in ("complete", "failed", "lost"):
                    a["ClientStatus"] = "lost"
                    a["DesiredStatus"] = "stop"
                    st.touch_alloc(a)
            return {"NodeModifyIndex": idx, "EvalIDs": [], "EvalCreateIndex": idx, "Index": idx}

    def stop_alloc(self, aid):
        st = self.state
        with st.lock:
            a = st.data["allocs"].get(aid)
            if a is None:
                raise HTTPError(404, "alloc not found")
            st.bump()
            self.sched.stop(a, "alloc was stopped by a user", migrate=True)
            ev = st.new_eval({"ID": a["JobID"], "Namespace": a["Namespace"], "Type": a["JobType"]}, "alloc-stop")
            return {"EvalID": ev["ID"], "Index": st.index}

    def fail_deployment(self, did):
        st = self.state
        with st.lock:
            d = st.data["deployments"].get(did)
            if d is None:
                raise HTTPError(404, "deployment not found")
            if d["Status"] != "running":
                raise HTTPError(500, "can't fail terminal deployment")
            st.bump()
            d["Status"] = "failed"
            d["StatusDescription"] = "Deployment marked as failed"
            return {"EvalID": "", "DeploymentModifyIndex": st.index, "Index": st.index}

    def shutdown(self, leave):
        self.stopping = True
        if self.serf is not None:
            if leave:
                self.serf.leave()
            self.serf.close()


USAGE = """Usage: nomad [-version] [-help] [-autocomplete-(un)install] <command> [args]

Common commands:
    agent      Runs a Nomad agent
    version    Prints the Nomad version
"""


def main(argv):
    if not argv or argv[0] in ("-h", "-help", "--help"):
        sys.stderr.write(USAGE)
        return 1 if not argv else 0
    if argv[0] in ("version", "-version", "--version", "-v"):
        print("Nomad v%s\nBuildDate 2024-04-16T19:26:43Z\nRevision 0f34c85ee63f6472bd2db1e2487611f4b176c70c" % VERSION)
        return 0
    if argv[0] != "agent":
        sys.stderr.write('nomad: unknown command "%s"\n\n%s' % (argv[0], USAGE))
        return 127
    paths, level = [], None
    args = argv[1:]
    i = 0
    while i < len(args):
        a = args[i]
        name, eq, val = a.lstrip("-").partition("=")
        if not a.startswith("-"):
            sys.stderr.write("==> Error: unexpected argument %s\n" % a)
            return 1
        if name in ("config", "log-level"):
            if not eq:
                i += 1
                if i >= len(args):
                    sys.stderr.write("flag needs an argument: -%s\n" % name)
                    return 1
                val = args[i]
            if name == "config":
                paths.append(val)
            else:
                level = val
        else:
            sys.stderr.write("flag provided but not defined: -%s\n" % name)
            return 1
        i += 1
    try:
        cfg = NomadConfig(load(paths))
        log.set_level(level or cfg.log_level)
        for s in (cfg.replication_token, cfg.consul_token, cfg.encrypt):
            log.add_secret(s)
        agent = NomadAgent(cfg)
    except ConfigError as e:
        sys.stderr.write("==> %s\n" % e)
        return 1
    except OSError as e:
        sys.stderr.write("==> Error starting agent: %s\n" % e)
        return 1
    log.info(C, "Nomad agent started! Log data will stream in below", version=VERSION)
    done = threading.Event()
    how = {}

    def on_signal(signum, frame):
        how["sig"] = signum
        done.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not done.wait(1):
        pass
    sig = how.get("sig")
    leave = cfg.leave_on_terminate if sig == signal.SIGTERM else cfg.leave_on_interrupt
    log.info(C, "Caught signal: %s" % signal.Signals(sig).name)
    agent.shutdown(leave)
    return 0
