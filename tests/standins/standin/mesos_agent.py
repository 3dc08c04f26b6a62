"""mesos-agent (Mesos 1.11) for tests: flags as src/slave/main.cpp checks
them, the leading master found through ZooKeeper (src/master/detector/
zookeeper.cpp: the lowest `json.info_` node) or given as host:port,
registration with it, the agent's /state and /health, and tasks run as real
processes by a command executor (mesos_exec.py)."""
import os
import shutil
import signal
import sys
import threading
import time

from . import httpd, log, mesos_exec, mesos_flags, util, wire, zk
from .httpd import Response

VERSION = "1.11.0"
COMPONENT = "mesos-agent"


def _die(msg):
    sys.stderr.write(msg + "\n")
    return 1


def default_resources(work_dir):
    """What the agent detects without --resources (src/slave/containerizer/
    containerizer.cpp: all CPUs, memory less 1 GB or half, disk less 5 GB
    or half, ports 31000-32000)."""
    cpus = float(os.cpu_count() or 1)
    try:
        with open("/proc/meminfo") as f:
            total = int(next(ln for ln in f if ln.startswith("MemTotal")).split()[1]) // 1024
    except (OSError, StopIteration, ValueError):
        total = 1024
    mem = float(total - 1024 if total >= 2048 else total // 2)
    st = os.statvfs(work_dir)
    disk_total = st.f_blocks * st.f_frsize // (1 << 20)
    disk = float(disk_total - 5120 if disk_total >= 10240 else disk_total // 2)
    return {"cpus": cpus, "mem": mem, "disk": disk, "gpus": 0.0, "ports": [(31000, 32000)]}


class Agent:
    def __init__(self, flags, master, resources, attributes, containerizers):
        self.flags = flags
        self.port = mesos_flags.integer(flags, "port", 5051)
        self.bind = flags.get("ip") or "0.0.0.0"
        self.ip = flags.get("advertise_ip") or flags.get("ip") or util.private_ip()
        self.adv_port = mesos_flags.integer(flags, "advertise_port", self.port)
        self.hostname = flags.get("hostname") or self.ip
        self.work_dir = flags["work_dir"]
        self.resources = resources
        self.attributes = attributes
        self.containerizers = containerizers
        self.master_text = master
        self.zk = None
        self.leader = None      # (ip, port) of the leading master
        self.master_info = None
        self.id = self._load_id()
        self.start_time = time.time()
        self.lock = threading.RLock()
        self.executor = mesos_exec.Executor(self)
        self.stop = threading.Event()

    @property
    def pid(self):
        return "slave(1)@%s" % wire.hostport(self.ip, self.adv_port)

    def _id_file(self):
        return os.path.join(self.work_dir, "meta", "slaves", "latest")

    def _load_id(self):
        try:
            with open(self._id_file()) as f:
                return f.read().strip() or None
        except OSError:
            return None

    def _save_id(self, aid):
        util.mkdirs(os.path.dirname(self._id_file()))
        with open(self._id_file(), "w") as f:
            f.write(aid)

    # -- finding the master ---------------------------------------------------

    def detect(self, url, timeout):
        self.url = url
        self.zk = zk.Session(COMPONENT, url, timeout)
        self.zk.start()
        zk.watch_children(self.zk.client, url.path, self._leader_changed)

    def _leader_changed(self):
        import json
        name, data = zk.lowest(self.zk.client, self.url.path, "json.info_")
        if not data:
            if self.leader:
                log.info(COMPONENT, "Lost leading master")
            self.leader = None
            return
        info = json.loads(data.decode())
        addr = info.get("address") or {}
        leader = (addr.get("ip") or info["hostname"], int(addr.get("port") or info["port"]))
        if leader != self.leader:
            log.info(COMPONENT, "New master detected at %s" % info["pid"])
        self.leader = leader

    def register_loop(self):
        registered = None
        while not self.stop.is_set():
            leader = self.leader
            if leader:
                body = {"agent": {"id": self.id, "hostname": self.hostname, "ip": self.ip, "port": self.adv_port,
                                  "pid": self.pid, "attributes": self.attributes,
                                  "resources": self.resources, "containerizers": self.containerizers},
                        "tasks": self.executor.snapshot()}
                try:
                    reply = wire.call("POST", "http://%s/__standin/agent/register" % wire.hostport(*leader), body,
                                      timeout=5)
                    if reply["agent_id"] != self.id:
                        self.id = reply["agent_id"]
                        self._save_id(self.id)
                    if registered != leader:
                        log.info(COMPONENT, "Registered with master %s; given agent ID %s" % (
                            reply["master"]["pid"], self.id))
                        registered = leader
                    self.master_info = reply["master"]
                    if reply.get("shutdown"):
                        # src/slave/slave.cpp: a ShutdownMessage ends the agent
                        log.info(COMPONENT, "Agent asked to shut down by %s because '%s'" % (
                            reply["master"]["pid"], reply["shutdown"]))
                        self.stop.set()
                        break
                    for tid in reply.get("kill", []):
                        self.executor.kill(tid)
                except (OSError, wire.WireError, ValueError, KeyError) as e:
                    if registered == leader:
                        log.warn(COMPONENT, "Cannot reach the master", master="%s:%d" % leader, error=str(e))
                    registered = None
            self.stop.wait(1.0)

    # -- HTTP -------------------------------------------------------------------

    def state(self):
        frameworks = {}
        for t in self.executor.snapshot():
            fw = frameworks.setdefault(t["framework_id"], {"id": t["framework_id"], "executors": [],
                                                           "completed_executors": []})
            ex = {"id": t["id"], "name": "Command Executor (Task: %s)" % t["id"], "source": t["id"],
                  "framework_id": t["framework_id"], "directory": t["sandbox"],
                  "tasks": [], "completed_tasks": [], "queued_tasks": []}
            view = {"id": t["id"], "name": t["name"], "framework_id": t["framework_id"], "executor_id": "",
                    "slave_id": self.id, "state": t["state"], "statuses": t["statuses"]}
            if t["state"] in mesos_exec.TERMINAL:
                ex["completed_tasks"].append(view)
                fw["completed_executors"].append(ex)
            else:
                ex["tasks"].append(view)
                fw["executors"].append(ex)
        res = {k: self.resources.get(k, 0.0) for k in ("cpus", "mem", "disk", "gpus")}
        res["ports"] = mesos_flags.ranges_text(self.resources.get("ports", []))
        out = {"version": VERSION, "build_date": "2020-11-20 00:00:00", "build_time": 1605830400.0,
               "build_user": "root", "start_time": self.start_time, "id": self.id or "", "pid": self.pid,
               "hostname": self.hostname, "capabilities": ["MULTI_ROLE", "HIERARCHICAL_ROLE"],
               "resources": res, "attributes": self.attributes,
               "flags": {k: zk.redact(v) for k, v in sorted(self.flags.items())
                         if k not in ("credential", "jwt_secret_key")},
               "frameworks": [f for f in frameworks.values() if f["executors"]],
               "completed_frameworks": [f for f in frameworks.values() if not f["executors"]]}
        if self.master_info:
            out["master_hostname"] = self.master_info["hostname"]
        return out

    def handle(self, req):
        p = req.path.rstrip("/") or "/"
        if p in ("/health", "/slave(1)/health"):
            return Response(200, raw="")
        if p in ("/state", "/state.json", "/slave(1)/state", "/slave(1)/state.json"):
            return Response(200, self.state())
        if p in ("/flags", "/slave(1)/flags"):
            return Response(200, {"flags": self.state()["flags"]})
        if p == "/version":
            return Response(200, {"version": VERSION, "build_date": "2020-11-20 00:00:00",
                                  "build_time": 1605830400.0, "build_user": "root"})
        if p == "/__standin/launch":
            return Response(200, self.executor.launch(req.json()))
        if p == "/__standin/kill":
            body = req.json()
            return Response(200, {"accepted": self.executor.kill(body["task_id"])})
        return Response(404, raw="")


def docker_failure():
    """What Containerizer::create reports when `docker` cannot run (the
    docker containerizer asks `docker --version` first)."""
    return ("Failed to create a containerizer: Could not create DockerContainerizer: Failed to create docker: "
            "Failed to get docker version: Failed to execute 'docker -H unix:///var/run/docker.sock --version': "
            "exited with status 127")


def main(argv):
    try:
        flags = mesos_flags.load(argv, mesos_flags.AGENT_FLAGS, mesos_flags.AGENT_ALIASES)
        if flags.get("help") == "true":
            print("Usage: mesos-agent [options]")
            return 0
        if flags.get("version") == "true":
            print("mesos %s" % VERSION)
            return 0
        if "work_dir" not in flags:
            raise mesos_flags.FlagError("Flag 'work_dir' is required, but it was not provided")
        mesos_flags.integer(flags, "port")
        mesos_flags.integer(flags, "advertise_port")
    except mesos_flags.FlagError as e:
        return _die("%s\n\nSee `mesos-agent --help` for a list of supported flags." % e)
    try:
        if not flags.get("master") and not flags.get("master_detector"):
            return _die("Missing required option `--master` or `--master_detector`")
        if flags.get("master") and flags.get("master_detector"):
            return _die("Only one of `--master` or `--master_detector` should be specified")
        if flags.get("ip") and flags.get("ip_discovery_command"):
            return _die("Only one of `--ip` or `--ip_discovery_command` should be specified")
        master = mesos_flags.secure_value(flags["master"])
        attributes = mesos_flags.parse_attributes(flags.get("attributes", ""))
        util.mkdirs(flags["work_dir"])
        resources = default_resources(flags["work_dir"])
        if flags.get("resources"):
            resources.update(mesos_flags.parse_resources(flags["resources"]))
        containerizers = [c.strip() for c in flags.get("containerizers", "mesos").split(",") if c.strip()]
        for c in containerizers:
            if c not in ("mesos", "docker"):
                return _die("Failed to create a containerizer: Unknown or unsupported containerizer: %s" % c)
        if "docker" in containerizers and not shutil.which(flags.get("docker", "docker")):
            return _die(docker_failure())
    except mesos_flags.FlagError as e:
        return _die(str(e))
    except OSError as e:
        return _die("Failed to create work directory '%s': %s" % (flags["work_dir"], e.strerror))
    url = None
    if master.startswith("zk://"):
        try:
            url = zk.parse_url(master)
        except zk.URLError as e:
            return _die("Failed to create a master detector: Failed to parse '%s': %s" % (master, e))
    else:
        try:
            host, port = util.split_hostport(master.replace("master@", ""), 5050)
        except ValueError as e:
            return _die("Failed to create a master detector: Failed to parse '%s': %s" % (master, e))
    log.set_level(flags.get("logging_level", "INFO").lower().replace("warning", "warn"))
    a = Agent(flags, master, resources, attributes, containerizers)
    try:
        srv = httpd.serve(COMPONENT, a.bind, a.port, a.handle)
    except OSError as e:
        return _die("Failed to initialize: Failed to bind on %s:%d: %s" % (a.bind, a.port, e.strerror))

    def on_signal(signum, _frame):
        log.info(COMPONENT, "Received signal %d; exiting" % signum)
        a.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info(COMPONENT, "Agent started", pid=a.pid, version=VERSION, attributes=flags.get("attributes", ""))
    if url:
        timeout = mesos_flags.parse_duration(flags.get("zk_session_timeout", "10secs"))
        threading.Thread(target=a.detect, args=(url, timeout), daemon=True).start()
    else:
        a.leader = (util.resolve_host(host), port)
    threading.Thread(target=a.register_loop, daemon=True).start()
    a.stop.wait()
    a.executor.shutdown()
    srv.shutdown()
    if a.zk:
        a.zk.stop()
    return 0
