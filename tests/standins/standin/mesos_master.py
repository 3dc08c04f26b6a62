"""mesos-master (Mesos 1.11) for tests: flags as src/master/main.cpp checks
them, leader election through ZooKeeper as src/master/contender/zookeeper.cpp
does it (a sequential ephemeral `json.info_` node holding MasterInfo JSON,
the lowest one leads), the operator endpoints of src/master/http.cpp, agents
that register with the leader and frameworks that launch tasks on them."""
import ipaddress
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
import uuid

from . import httpd, log, mesos_flags, util, wire, zk
from .httpd import Response

VERSION = "1.11.0"
COMPONENT = "mesos-master"
TERMINAL = ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED", "TASK_GONE")
# An agent not heard from for this long is shown deactivated (real Mesos
# sees the socket close at once); it is removed after
# agent_ping_timeout x max_agent_ping_timeouts, as the real master does.
DISCONNECTED_AFTER = 5.0


def _die(msg):
    sys.stderr.write(msg + "\n")
    return 1


def ip_to_uint32(ip):
    """MasterInfo.ip: the IPv4 address in network order, read as a host uint32."""
    return struct.unpack("<I", socket.inet_aton(ip))[0]


class Master:
    def __init__(self, flags):
        self.flags = flags
        self.port = mesos_flags.integer(flags, "port", 5050)
        self.bind = flags.get("ip") or "0.0.0.0"
        self.ip = flags.get("advertise_ip") or (flags["ip"] if flags.get("ip") else util.private_ip())
        self.adv_port = mesos_flags.integer(flags, "advertise_port", self.port)
        self.hostname = flags.get("hostname") or self.ip
        self.id = str(uuid.uuid4())
        self.pid = "master@%s" % wire.hostport(self.ip, self.adv_port)
        self.info = {"id": self.id, "ip": ip_to_uint32(self.ip), "port": self.adv_port, "pid": self.pid,
                     "hostname": self.hostname, "version": VERSION,
                     "address": {"hostname": self.hostname, "ip": self.ip, "port": self.adv_port}}
        self.start_time = time.time()
        self.elected_time = None
        self.leader = None          # MasterInfo of the leader, when known
        self.lock = threading.RLock()
        self.agents = {}            # id -> agent record
        self.frameworks = {}        # id -> framework record
        self.next_agent = 0
        self.gone = set()           # agents drained with mark_gone: refused if they come back
        self.zk = None
        self.znode = None
        self.stopping = False
        ping = mesos_flags.parse_duration(flags.get("agent_ping_timeout", "15secs"))
        self.remove_after = ping * mesos_flags.integer(flags, "max_agent_ping_timeouts", 5)

    # -- election ---------------------------------------------------------

    def elected(self):
        return self.leader is not None and self.leader.get("id") == self.id

    def contend(self, url, timeout):
        self.url = url
        self.zk = zk.Session(COMPONENT, url, timeout, on_lost=self._session_lost, on_connected=self._connected)
        self.zk.start()
        self._offer()
        zk.watch_children(self.zk.client, url.path, self._detect)

    def _offer(self):
        with self.lock:
            if self.znode and self.zk.client.exists(self.znode):
                return
            self.zk.client.ensure_path(self.url.path)
            self.znode = self.zk.client.create(self.url.path + "/json.info_", json.dumps(self.info).encode(),
                                               ephemeral=True, sequence=True)
            log.info(COMPONENT, "created the candidacy node", znode=self.znode)

    def _connected(self):
        if not self.stopping and not self.elected():
            try:
                self._offer()
            except Exception as e:
                log.warn(COMPONENT, "cannot offer candidacy", error=repr(e))

    def _session_lost(self):
        if self.elected():
            # src/master/master.cpp: a leader that loses its candidacy exits.
            log.error(COMPONENT, "Lost leadership... committing suicide!")
            os._exit(1)
        with self.lock:
            self.znode = None
            self.leader = None

    def _detect(self):
        name, data = zk.lowest(self.zk.client, self.url.path, "json.info_")
        with self.lock:
            was = self.elected()
            try:
                self.leader = json.loads(data.decode()) if data else None
            except ValueError:
                self.leader = None
            if self.elected() and not was:
                self.elected_time = time.time()
                log.info(COMPONENT, "Elected as the leading master!", id=self.id)
            elif was and not self.elected():
                log.error(COMPONENT, "Lost leadership... committing suicide!")
                os._exit(1)
            elif self.leader:
                log.info(COMPONENT, "The newly elected leader is %s with id %s" % (self.leader["pid"],
                                                                                     self.leader["id"]))
            else:
                log.info(COMPONENT, "No leader is currently elected")

    # -- agents and frameworks --------------------------------------------

    def register_agent(self, body):
        with self.lock:
            info = body["agent"]
            aid = info.get("id")
            if aid in self.gone:
                # src/master/master.cpp: a gone agent that comes back is shut down
                return {"agent_id": aid, "master": self.info, "kill": [],
                        "shutdown": "Agent has been marked gone"}
            if not aid:
                aid = "%s-S%d" % (self.id, self.next_agent)
                self.next_agent += 1
                log.info(COMPONENT, "Registered agent", id=aid, hostname=info["hostname"])
            elif aid not in self.agents:
                log.info(COMPONENT, "Re-registered agent", id=aid, hostname=info["hostname"])
            rec = self.agents.get(aid) or {"registered_time": time.time()}
            rec.update(info)
            tasks = [dict(t, agent_id=aid) for t in body.get("tasks", [])]
            rec.update({"id": aid, "last_seen": time.monotonic(), "tasks": tasks})
            self.agents[aid] = rec
            draining = rec.get("drain_info") is not None
            kills = [t for t in rec["tasks"] if t["state"] not in TERMINAL and
                     (draining or (t["framework_id"] in self.frameworks and
                                   self.frameworks[t["framework_id"]].get("removed")))]
            if draining:
                self._drain_progress(rec)
            return {"agent_id": aid, "master": self.info, "kill": [t["id"] for t in kills]}

    def _drain_progress(self, rec):
        """Master::checkAndTransitionDrainingAgent: a draining agent whose
        tasks have all ended is DRAINED, or gone with mark_gone. A gone agent
        leaves the state endpoints; its ended tasks stay in the frameworks'
        view so that they learn how they ended."""
        if rec["drain_info"]["state"] == "DRAINED" or rec.get("gone"):
            return
        if any(t["state"] not in TERMINAL for t in rec["tasks"]):
            return
        if rec["drain_info"]["config"].get("mark_gone"):
            log.info(COMPONENT, "Marking agent %s in the DRAINED state as gone" % rec["id"])
            rec["gone"] = True
            self.gone.add(rec["id"])
        else:
            log.info(COMPONENT, "Transitioning agent %s to the DRAINED state" % rec["id"])
            rec["drain_info"]["state"] = "DRAINED"

    def drain_agent(self, call):
        """POST /api/v1 DRAIN_AGENT (src/master/http.cpp, Master::Http::
        _drainAgent): the agent is deactivated (no more offers) and told to
        kill its tasks."""
        d = call.get("drain_agent")
        if not isinstance(d, dict):
            return Response(400, raw="Expecting 'drain_agent' to be present")
        aid = (d.get("agent_id") or {}).get("value") if isinstance(d.get("agent_id"), dict) else None
        if not isinstance(aid, str):
            return Response(400, raw="Failed to convert JSON into Call protobuf: Missing required fields: "
                                     "drain_agent.agent_id")
        grace = d.get("max_grace_period")
        if grace is not None and not (isinstance(grace, dict) and isinstance(grace.get("nanoseconds"), int)):
            return Response(400, raw="Failed to convert JSON into Call protobuf: Missing required fields: "
                                     "drain_agent.max_grace_period.nanoseconds")
        mark_gone = d.get("mark_gone", False)
        if not isinstance(mark_gone, bool):
            return Response(400, raw="Failed to convert JSON into Call protobuf: Not expecting a JSON "
                                     "%s for field 'mark_gone'" % type(mark_gone).__name__)
        with self.lock:
            rec = self.agents.get(aid)
            if rec is None or rec.get("gone"):
                return Response(400, raw="Unknown agent")
            config = {"mark_gone": mark_gone}
            if grace is not None:
                config["max_grace_period"] = grace
            rec["drain_info"] = {"state": "DRAINING", "config": config}
            rec["deactivated"] = True
            live = [t["id"] for t in rec["tasks"] if t["state"] not in TERMINAL]
            log.info(COMPONENT, "Transitioning agent %s to the DRAINING state; agent has %d tasks" % (
                aid, len(live)))
            self._drain_progress(rec)
        return Response(200, raw="")

    def operator_api(self, req):
        """The v1 operator API (POST /api/v1, JSON): DRAIN_AGENT only."""
        if req.method != "POST":
            return Response(405, raw="Expecting 'POST', received '%s'" % req.method)
        if not self.elected():
            return self.redirect(req)
        try:
            call = json.loads(req.body or b"")
        except ValueError as e:
            return Response(400, raw="Failed to parse body into JSON: %s" % e)
        if not isinstance(call, dict) or "type" not in call:
            return Response(400, raw="Expecting 'type' to be present")
        if call["type"] == "DRAIN_AGENT":
            return self.drain_agent(call)
        return Response(501, raw="the stand-in master does not emulate the operator call %s" % call["type"])

    def register_framework(self, body):
        with self.lock:
            fw = dict(body["framework"])
            fid = fw.get("id") or "%s-%04d" % (self.id, len(self.frameworks))
            fw["id"] = fid
            rec = self.frameworks.get(fid) or {"registered_time": time.time()}
            rec.update(fw)
            rec["last_seen"] = time.monotonic()
            rec["active"] = True
            self.frameworks[fid] = rec
            log.info(COMPONENT, "Registered framework", id=fid, name=fw.get("name"))
            return {"framework_id": fid, "master": self.info}

    def _used(self, agent):
        used = {"cpus": 0.0, "mem": 0.0, "disk": 0.0, "gpus": 0.0, "ports": []}
        for t in agent["tasks"]:
            if t["state"] in TERMINAL:
                continue
            for k in ("cpus", "mem", "disk", "gpus"):
                used[k] += float(t["resources"].get(k, 0))
            used["ports"].extend(t["resources"].get("port_list", []))
        return used

    def sweep(self):
        """Agents not heard from are deactivated, then removed; frameworks
        that stopped polling are inactive."""
        now = time.monotonic()
        with self.lock:
            for aid, a in list(self.agents.items()):
                silent = now - a["last_seen"]
                if silent > self.remove_after:
                    log.warn(COMPONENT, "Removing agent: health check timed out", id=aid)
                    for t in a["tasks"]:
                        if t["state"] not in TERMINAL:
                            t["state"] = "TASK_UNREACHABLE"
                    del self.agents[aid]
            for f in self.frameworks.values():
                f["active"] = now - f["last_seen"] < 10

    def agent_active(self, a):
        return not a.get("deactivated") and time.monotonic() - a["last_seen"] < DISCONNECTED_AFTER

    # -- JSON views ---------------------------------------------------------

    def _resources(self, r):
        out = {k: float(r.get(k, 0)) for k in ("cpus", "mem", "disk", "gpus")}
        if r.get("ports"):
            out["ports"] = mesos_flags.ranges_text([tuple(x) for x in r["ports"]])
        return out

    def agent_json(self, a):
        used = self._used(a)
        total = a["resources"]
        used_view = {k: used[k] for k in ("cpus", "mem", "disk", "gpus")}
        if used["ports"]:
            used_view["ports"] = mesos_flags.ranges_text([(p, p) for p in sorted(used["ports"])])
        return {"id": a["id"], "pid": a["pid"], "hostname": a["hostname"], "port": a["port"],
                "registered_time": a["registered_time"], "active": self.agent_active(a),
                "deactivated": bool(a.get("deactivated")),
                "version": VERSION, "attributes": a.get("attributes", {}),
                "resources": self._resources(total), "used_resources": used_view,
                "offered_resources": {"cpus": 0.0, "mem": 0.0, "disk": 0.0, "gpus": 0.0},
                "reserved_resources": {}, "unreserved_resources": self._resources(total),
                "capabilities": ["MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT", "RESOURCE_PROVIDER",
                                 "RESIZE_VOLUME", "AGENT_OPERATION_FEEDBACK", "AGENT_DRAINING", "TASK_RESOURCE_LIMITS"],
                **({"drain_info": a["drain_info"]} if a.get("drain_info") else {})}

    def task_json(self, t):
        r = t["resources"]
        res = {k: float(r.get(k, 0)) for k in ("cpus", "mem", "disk", "gpus")}
        if r.get("port_list"):
            res["ports"] = mesos_flags.ranges_text([(p, p) for p in r["port_list"]])
        out = {"id": t["id"], "name": t["name"], "framework_id": t["framework_id"], "executor_id": "",
               "slave_id": t["agent_id"], "agent_id": t["agent_id"], "state": t["state"], "resources": res,
               "statuses": t.get("statuses", [])}
        if t.get("container"):
            out["container"] = t["container"]
        return out

    def framework_json(self, f):
        tasks, done = [], []
        for a in self.agents.values():
            for t in a["tasks"]:
                if t["framework_id"] == f["id"]:
                    (done if t["state"] in TERMINAL else tasks).append(self.task_json(t))
        return {"id": f["id"], "name": f.get("name", ""), "pid": f.get("pid", ""), "user": f.get("user", "root"),
                "hostname": f.get("hostname", ""), "webui_url": f.get("webui_url", ""),
                "role": f.get("role", "*"), "roles": [f.get("role", "*")], "active": f["active"],
                "connected": f["active"], "registered_time": f["registered_time"],
                "failover_timeout": f.get("failover_timeout", 0), "checkpoint": f.get("checkpoint", False),
                "tasks": tasks, "completed_tasks": done[-100:], "unreachable_tasks": [], "executors": []}

    def state(self):
        with self.lock:
            self.sweep()
            listed = [a for a in self.agents.values() if not a.get("gone")]
            active = [a for a in listed if self.agent_active(a)]
            out = {"version": VERSION, "build_date": "2020-11-20 00:00:00", "build_time": 1605830400.0,
                   "build_user": "root", "start_time": self.start_time, "id": self.id, "pid": self.pid,
                   "hostname": self.hostname, "capabilities": ["AGENT_UPDATE", "AGENT_DRAINING", "QUOTA_V2"],
                   "activated_slaves": len(active), "deactivated_slaves": len(listed) - len(active),
                   "unreachable_slaves": 0,
                   "flags": {k: zk.redact(v) for k, v in sorted(self.flags.items()) if k not in ("credentials",)},
                   "slaves": [self.agent_json(a) for a in listed],
                   "frameworks": [self.framework_json(f) for f in self.frameworks.values() if not f.get("removed")],
                   "completed_frameworks": [], "orphan_tasks": [], "unregistered_frameworks": []}
            if self.flags.get("cluster"):
                out["cluster"] = self.flags["cluster"]
            if self.elected_time:
                out["elected_time"] = self.elected_time
            if self.leader:
                out["leader"] = self.leader["pid"]
                out["leader_info"] = self.leader
            return out

    # -- HTTP -----------------------------------------------------------------

    def redirect(self, req):
        if not self.leader:
            return Response(503, raw="No leader elected")
        base = "//%s:%d" % (self.leader["hostname"], self.leader["port"])
        if req.path in ("/redirect", "/master/redirect"):
            return Response(307, raw="", headers={"Location": base})
        if req.path.startswith("/redirect/") or req.path.startswith("/master/redirect/"):
            return Response(404, raw="")
        qs = "&".join("%s=%s" % (k, v) for k, vs in req.query.items() for v in vs)
        return Response(307, raw="", headers={"Location": base + req.path + ("?" + qs if qs else "")})

    def handle(self, req):
        p = req.path.rstrip("/") or "/"
        if p in ("/master/health", "/health"):
            return Response(200, raw="")
        if p in ("/version",):
            return Response(200, {"version": VERSION, "build_date": "2020-11-20 00:00:00",
                                  "build_time": 1605830400.0, "build_user": "root"})
        if p in ("/master/redirect", "/redirect") or p.startswith("/master/redirect/"):
            return self.redirect(req)
        if p.startswith("/__standin/"):
            return self.private(req, p)
        if p == "/api/v1":
            return self.operator_api(req)
        if p in ("/master/state", "/state", "/master/state.json", "/state.json", "/master/slaves", "/slaves",
                 "/master/frameworks", "/frameworks", "/master/tasks", "/tasks", "/master/state-summary",
                 "/state-summary", "/master/flags", "/flags"):
            if p in ("/master/flags", "/flags"):
                return Response(200, {"flags": self.state()["flags"]})
            if not self.elected():
                return self.redirect(req)
            st = self.state()
            if p.endswith("slaves"):
                return Response(200, {"slaves": st["slaves"], "recovered_slaves": []})
            if p.endswith("frameworks"):
                return Response(200, {"frameworks": st["frameworks"], "completed_frameworks": [],
                                      "unregistered_frameworks": []})
            if p.endswith("tasks"):
                return Response(200, {"tasks": [t for f in st["frameworks"] for t in f["tasks"]]})
            return Response(200, st)
        return Response(404, raw="")

    def private(self, req, p):
        if not self.elected():
            return Response(409, {"message": "not the leading master",
                                  "leader": self.leader})
        body = req.json() if req.body else {}
        if p == "/__standin/agent/register":
            return Response(200, self.register_agent(body))
        if p == "/__standin/framework/register":
            return Response(200, self.register_framework(body))
        if p == "/__standin/framework/view":
            return Response(200, self.view(body["framework_id"]))
        if p in ("/__standin/framework/launch", "/__standin/framework/kill"):
            return self.forward(p.rsplit("/", 1)[1], body)
        if p == "/__standin/framework/teardown":
            with self.lock:
                f = self.frameworks.get(body["framework_id"])
                if f:
                    f["removed"] = True
            return Response(200, {})
        return Response(404, raw="")

    def view(self, fid):
        with self.lock:
            f = self.frameworks.get(fid)
            if not f:
                raise httpd.HTTPError(404, "framework not registered")
            f["last_seen"] = time.monotonic()
            self.sweep()
            agents, tasks = [], []
            for a in self.agents.values():
                used = self._used(a)
                agents.append({"id": a["id"], "hostname": a["hostname"], "ip": a["ip"], "port": a["port"],
                               "attributes": a.get("attributes", {}), "resources": a["resources"],
                               "used": used, "active": self.agent_active(a),
                               "containerizers": a.get("containerizers", ["mesos"])})
                tasks.extend(dict(t, agent_id=a["id"], host=a["hostname"]) for t in a["tasks"]
                             if t["framework_id"] == fid)
            return {"agents": agents, "tasks": tasks}

    def forward(self, verb, body):
        with self.lock:
            a = self.agents.get(body["agent_id"])
            if not a or not self.agent_active(a):
                return Response(200, {"accepted": False, "message": "Agent %s is not available" % body["agent_id"]})
            url = "http://%s/__standin/%s" % (wire.hostport(a["ip"], a["port"]), verb)
        try:
            return Response(200, wire.call("POST", url, body, timeout=10))
        except (OSError, wire.WireError) as e:
            return Response(200, {"accepted": False, "message": "Agent unreachable: %s" % e})


def check_flags(flags):
    """The master's start-up checks (src/master/main.cpp); -> message or None."""
    if "version" in flags and flags["version"] == "true":
        return None
    if flags.get("ip") and flags.get("ip_discovery_command"):
        return "Only one of `--ip` or `--ip_discovery_command` should be specified"
    if flags.get("zk") and (flags.get("master_contender") or flags.get("master_detector")):
        return "Only one of --zk or the --master_contender/--master_detector pair should be specified."
    registry = flags.get("registry", "replicated_log")
    if registry not in ("in_memory", "replicated_log", "log_storage"):
        return "'%s' is not a supported option for registry persistence" % registry
    if registry != "in_memory" and not flags.get("work_dir"):
        return "--work_dir needed for replicated log based registry"
    if flags.get("zk") and registry != "in_memory":
        if "quorum" not in flags:
            return "Need to specify --quorum for replicated log based registry when using ZooKeeper"
        q = mesos_flags.integer(flags, "quorum")
        if q < 1:
            # Mesos itself takes any int here and then never reaches a quorum.
            return "--quorum must be a positive integer, got '%s'" % flags["quorum"]
    for name in ("ip", "advertise_ip"):
        if flags.get(name):
            try:
                ipaddress.IPv4Address(flags[name])
            except ValueError:
                return "Failed to parse the IP address '%s'" % flags[name] if name == "advertise_ip" else \
                    "Failed to load flag '%s': Failed to parse the IP" % name
    return None


def main(argv):
    try:
        flags = mesos_flags.load(argv, mesos_flags.MASTER_FLAGS, mesos_flags.MASTER_ALIASES)
        if flags.get("help") == "true":
            print("Usage: mesos-master [options]")
            return 0
        if flags.get("version") == "true":
            print("mesos %s" % VERSION)
            return 0
        mesos_flags.integer(flags, "port")
        mesos_flags.integer(flags, "advertise_port")
    except mesos_flags.FlagError as e:
        return _die("%s\n\nSee `mesos-master --help` for a list of supported flags." % e)
    try:
        err = check_flags(flags)
        if err:
            return _die(err)
        url = None
        if flags.get("zk"):
            try:
                url = zk.parse_url(mesos_flags.secure_value(flags["zk"]))
            except zk.URLError as e:
                return _die("Error parsing ZooKeeper URL: %s" % e)
        if flags.get("work_dir"):
            try:
                util.mkdirs(flags["work_dir"])
                util.mkdirs(os.path.join(flags["work_dir"], "replicated_log"))
            except OSError as e:
                return _die("Failed to create work directory '%s': %s" % (flags["work_dir"], e.strerror))
    except mesos_flags.FlagError as e:
        return _die(str(e))
    log.set_level(flags.get("logging_level", "INFO").lower().replace("warning", "warn"))
    m = Master(flags)
    try:
        srv = httpd.serve(COMPONENT, m.bind, m.port, m.handle)
    except OSError as e:
        return _die("Failed to initialize: Failed to bind on %s:%d: %s" % (m.bind, m.port, e.strerror))
    stop = threading.Event()

    def on_signal(signum, _frame):
        log.info(COMPONENT, "Received signal %d; exiting" % signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info(COMPONENT, "Master started", id=m.id, pid=m.pid, version=VERSION)
    if url:
        timeout = mesos_flags.parse_duration(flags.get("zk_session_timeout", "10secs"))
        threading.Thread(target=m.contend, args=(url, timeout), daemon=True).start()
    else:
        m.leader = m.info
        m.elected_time = time.time()
        log.info(COMPONENT, "Elected as the leading master!", id=m.id)
    while not stop.wait(1.0):
        m.sweep()
    m.stopping = True
    srv.shutdown()
    if m.zk:
        m.zk.stop()
    return 0
