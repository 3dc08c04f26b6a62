"""The client side of a Nomad agent: fingerprinting, registration and
heartbeats with the servers it is given, pulling its allocations, running
them, reporting their state; and its local Consul agent for services."""
import json
import os
import platform
import socket
import threading
import time
import urllib.error
import urllib.request

from . import log, rpc
from .nomad_task import AllocRunner
from .util import new_uuid, private_ip, split_hostport, resolve_host, interface_ip

C = "client"
VERSION = "1.7.7"


def _meminfo_mb():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 4096


class Client:
    def __init__(self, agent):
        self.agent = agent
        self.cfg = agent.cfg
        self.servers = []
        for a in self.cfg.client_servers + self.cfg.client_join:
            host, port = split_hostport(a, 4647)
            self.servers.append((host, port))
        self.last_discovery = 0.0
        self.runners = {}
        self.registered = False
        self.ttl = 10.0
        self.node = self._fingerprint()
        self.lock = threading.Lock()
        self.consul_checks = {}
        self.pids_path = os.path.join(self.cfg.data_dir, "client", "tasks.json")
        try:
            with open(self.pids_path) as f:
                self.pids = json.load(f)
        except (OSError, ValueError):
            self.pids = {}
        threading.Thread(target=self._loop, name="client", daemon=True).start()

    def record_pid(self, alloc_id, task, pid):
        """Task pids, kept in the data_dir so that a restarted agent reattaches
        to its running tasks instead of starting them twice."""
        with self.lock:
            tasks = self.pids.setdefault(alloc_id, {})
            if pid:
                tasks[task] = pid
            else:
                tasks.pop(task, None)
                if not tasks:
                    self.pids.pop(alloc_id, None)
            tmp = self.pids_path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(self.pids, f)
            os.replace(tmp, self.pids_path)

    # -- identity ------------------------------------------------------------
    def _node_id(self):
        d = os.path.join(self.cfg.data_dir, "client")
        os.makedirs(d, exist_ok=True)
        ids = []
        for name in ("client-id", "secret-id"):
            p = os.path.join(d, name)
            try:
                with open(p) as f:
                    ids.append(f.read().strip())
            except OSError:
                v = new_uuid()
                with open(p, "w") as f:
                    f.write(v)
                os.chmod(p, 0o600)
                ids.append(v)
        return ids

    def _fingerprint(self):
        cfg = self.cfg
        node_id, secret = self._node_id()
        ip = cfg.advertise["http"][0]
        if cfg.network_interface:
            ip = interface_ip(cfg.network_interface) or ip
        if ip in ("0.0.0.0", "127.0.0.1"):
            ip = private_ip()
        cores = os.cpu_count() or 1
        mhz = 2000
        cpu = cfg.raw.get("client", {}).get("cpu_total_compute") or cores * mhz
        mem = cfg.raw.get("client", {}).get("memory_total_mb") or _meminfo_mb()
        st = os.statvfs(cfg.data_dir if os.path.isdir(cfg.data_dir) else "/")
        disk = st.f_bavail * st.f_frsize // (1024 * 1024)
        root = os.geteuid() == 0
        drivers = {
            "raw_exec": {"Detected": cfg.raw_exec_enabled, "Healthy": cfg.raw_exec_enabled,
                         "HealthDescription": "Healthy" if cfg.raw_exec_enabled else "disabled",
                         "Attributes": {"driver.raw_exec": "true"} if cfg.raw_exec_enabled else None,
                         "UpdateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
            "exec": {"Detected": root, "Healthy": root,
                     "HealthDescription": "Healthy" if root else "Driver must run as root",
                     "Attributes": {"driver.exec": "true"} if root else None,
                     "UpdateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
            "docker": {"Detected": False, "Healthy": False,
                       "HealthDescription": "Failed to connect to docker daemon",
                       "Attributes": None, "UpdateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        }
        attrs = {"kernel.name": "linux", "kernel.version": platform.release(), "os.name": "debian",
                 "cpu.arch": {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine()),
                 "cpu.numcores": str(cores), "cpu.totalcompute": str(cpu), "cpu.frequency": str(mhz),
                 "memory.totalbytes": str(mem * 1024 * 1024), "unique.hostname": socket.gethostname(),
                 "unique.network.ip-address": ip, "nomad.version": VERSION, "nomad.revision": "",
                 "nomad.advertise.address": "%s:%d" % (ip, cfg.advertise["http"][1]),
                 "unique.storage.volume": "/", "unique.storage.bytestotal": str(st.f_blocks * st.f_frsize),
                 "unique.storage.bytesfree": str(disk * 1024 * 1024)}
        for name, d in drivers.items():
            if d["Detected"]:
                attrs["driver." + name] = "1"
        return {"ID": node_id, "SecretID": secret, "Name": cfg.name, "Datacenter": cfg.datacenter,
                "NodeClass": cfg.node_class, "NodePool": cfg.node_pool, "Attributes": attrs, "Meta": cfg.meta,
                "Drivers": drivers, "Address": ip, "HTTPAddr": "%s:%d" % (ip, cfg.advertise["http"][1]),
                "TLSEnabled": cfg.tls_http, "Status": "initializing", "StatusDescription": "",
                "Version": VERSION, "HostVolumes": None, "_ip": ip, "_region": cfg.region,
                "NodeResources": {"Cpu": {"CpuShares": cpu, "TotalCpuCores": cores}, "Memory": {"MemoryMB": mem},
                                  "Disk": {"DiskMB": disk},
                                  "Networks": [{"Mode": "host", "Device": cfg.network_interface or "eth0", "IP": ip,
                                                "CIDR": ip + "/32", "MBits": 1000}],
                                  "MinDynamicPort": cfg.min_dynamic_port, "MaxDynamicPort": cfg.max_dynamic_port},
                "ReservedResources": {"Cpu": {"CpuShares": 0}, "Memory": {"MemoryMB": 0}, "Disk": {"DiskMB": 0},
                                      "Networks": {"ReservedHostPorts": ""}}}

    # -- talking to servers ---------------------------------------------------
    def _discover_servers(self):
        """Nomad's client auto-join through Consul (consul.client_auto_join,
        true by default; client.go consulDiscoveryImpl): when no server it
        knows answers, the servers are the `rpc`-tagged instances of the
        servers' service (consul.server_service_name, `nomad`) in the local
        Consul agent's catalog. Asked at most every 2 s."""
        consul = self.cfg.raw.get("consul", {})
        if consul.get("client_auto_join") is False or time.monotonic() - self.last_discovery < 2.0:
            return
        self.last_discovery = time.monotonic()
        name = consul.get("server_service_name", "nomad")
        try:
            found = self._consul("GET", "/v1/catalog/service/%s?tag=rpc" % urllib.request.quote(name, safe="")) or []
        except (urllib.error.URLError, OSError, ValueError) as e:
            log.error(C, "client.consul: error discovering nomad servers", error=str(e))
            return
        added = []
        for s in found:
            addr = (s.get("ServiceAddress") or s.get("Address"), s.get("ServicePort") or 4647)
            if addr[0] and addr not in self.servers:
                self.servers.append(addr)
                added.append("%s:%d" % addr)
        if added:
            log.info(C, "client.consul: discovered following servers", servers=",".join(added))

    def rpc(self, msg):
        """Sends msg to a server, the last one that answered first."""
        msg = dict(msg, region=self.cfg.region)
        last = None
        if not self.servers:
            self._discover_servers()
        for host, port in list(self.servers):
            try:
                reply = self.agent.rpc_call(resolve_host(host), port, msg, server_region=self.cfg.region)
                if self.servers[0] != (host, port):
                    self.servers.remove((host, port))
                    self.servers.insert(0, (host, port))
                return reply
            except (rpc.RPCError, OSError) as e:
                last = e
        if self.servers:
            self._discover_servers()
        raise rpc.RPCError(str(last) if last else "no servers")

    def _learn_servers(self, reply):
        for s in reply.get("Servers") or []:
            host, port = split_hostport(s, 4647)
            if (host, port) not in self.servers:
                self.servers.append((host, port))

    def _register(self):
        reply = self.rpc({"op": "node.register", "node": self.node})
        self.ttl = reply.get("HeartbeatTTL", 10 * 10**9) / 1e9
        self._learn_servers(reply)
        if not self.registered:
            log.info(C, "node registration complete", node_id=self.node["ID"])
        self.registered = True

    def _loop(self):
        last_beat, last_err = 0.0, ""
        while not self.agent.stopping:
            try:
                if not self.registered:
                    self._register()
                if time.monotonic() - last_beat > min(max(self.ttl / 3, 0.5), 2.0):
                    reply = self.rpc({"op": "node.heartbeat", "node_id": self.node["ID"],
                                      "secret": self.node["SecretID"]})
                    if reply.get("reregister"):
                        self.registered = False
                        continue
                    self._learn_servers(reply)
                    last_beat = time.monotonic()
                self._sync_allocs()
                last_err = ""
            except rpc.RPCError as e:
                if str(e) != last_err:
                    log.error(C, "error talking to servers", error=str(e))
                    last_err = str(e)
                if "unknown node" in str(e):
                    self.registered = False
            time.sleep(0.4)

    def _sync_allocs(self):
        reply = self.rpc({"op": "node.get_allocs", "node_id": self.node["ID"], "secret": self.node["SecretID"]})
        allocs = {a["ID"]: a for a in reply.get("allocs", [])}
        for aid, a in allocs.items():
            r = self.runners.get(aid)
            terminal = a["ClientStatus"] in ("complete", "failed", "lost")
            if r is None:
                if a["DesiredStatus"] != "run" or terminal:
                    continue
                r = AllocRunner(self, a, self.pids.get(aid))
                self.runners[aid] = r
                log.info(C, "starting allocation", alloc_id=aid, name=a["Name"])
                r.start()
            else:
                r.alloc = a
            if a["DesiredStatus"] != "run" and not r.stopped:
                log.info(C, "stopping allocation", alloc_id=aid, reason=a.get("DesiredDescription", ""))
                threading.Thread(target=r.stop, args=(a.get("DesiredDescription") or "alloc stopped",),
                                 daemon=True).start()
        for aid, r in list(self.runners.items()):
            if aid not in allocs:
                if not r.stopped:
                    threading.Thread(target=r.stop, daemon=True).start()
                elif r.report() is None:
                    del self.runners[aid]  # collected by the servers, its tasks ended
        updates = [u for u in (r.report() for r in self.runners.values()) if u]
        if updates:
            self.rpc({"op": "node.update_allocs", "node_id": self.node["ID"], "secret": self.node["SecretID"],
                      "updates": updates})

    # -- the local consul agent -----------------------------------------------
    def _consul(self, method, path, body=None):
        scheme = "https" if self.cfg.consul_ssl else "http"
        url = "%s://%s%s" % (scheme, self.cfg.consul_address, path)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        if self.cfg.consul_token:
            req.add_header("X-Consul-Token", self.cfg.consul_token)
        ctx = None
        if scheme == "https":
            import ssl
            ctx = ssl.create_default_context(cafile=self.cfg.consul_ca or None)
        with urllib.request.urlopen(req, timeout=5, context=ctx) as r:
            text = r.read()
        return json.loads(text) if text.strip() else None

    def consul_register(self, svc):
        body = {"ID": svc["ID"], "Name": svc["Name"], "Tags": svc["Tags"], "Address": svc["Address"],
                "Port": svc["Port"], "Meta": {"external-source": "nomad"},
                "Checks": [{"CheckID": c["CheckID"], "Name": c["Name"],
                            ("HTTP" if c["Type"] == "http" else "TCP"): c["Target"],
                            "Method": c["Method"] if c["Type"] == "http" else None,
                            "Interval": "%dms" % (c["Interval"] // 10**6),
                            "Timeout": "%dms" % (c["Timeout"] // 10**6)} for c in svc["Checks"]]}
        for c in body["Checks"]:
            if c.get("Method") is None:
                c.pop("Method")
        try:
            self._consul("PUT", "/v1/agent/service/register", body)
            log.info(C, "service registered with consul", service=svc["Name"], id=svc["ID"])
        except (urllib.error.URLError, OSError, ValueError) as e:
            log.error(C, "failed to register service with consul", service=svc["Name"], error=str(e))

    def consul_deregister(self, sid):
        try:
            self._consul("PUT", "/v1/agent/service/deregister/" + urllib.request.quote(sid, safe=""))
        except (urllib.error.URLError, OSError, ValueError) as e:
            log.warn(C, "failed to deregister service from consul", id=sid, error=str(e))

    def consul_check_status(self):
        try:
            checks = self._consul("GET", "/v1/agent/checks") or {}
        except (urllib.error.URLError, OSError, ValueError):
            return {}
        return {cid: c.get("Status", "critical") for cid, c in checks.items()}
