"""Running allocations on a client: task directories, the NOMAD_* environment,
processes started for real (raw_exec, exec), restarts per the restart
policy, kills with the kill signal then SIGKILL, services registered with
the local Consul agent, and deployment health."""
import os
import re
import shutil
import signal
import subprocess
import threading
import time

from . import checks, log
from .util import format_duration, now_ns

C = "client"


def _event(etype, msg, **extra):
    e = {"Type": etype, "Time": now_ns(), "DisplayMessage": msg, "Message": "", "Details": {},
         "ExitCode": 0, "Signal": 0, "FailsTask": False, "RestartReason": "", "DriverError": "",
         "KillError": "", "KillReason": "", "SetupError": "", "DriverMessage": "", "GenericSource": ""}
    e.update(extra)
    return e


def _rfc3339(ns):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns / 1e9)) + ".%09dZ" % (ns % 10**9)


class _Reattached:
    """A task process left by a previous run of the client agent."""

    def __init__(self, pid):
        self.pid = pid

    def _alive(self):
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        try:
            with open("/proc/%d/stat" % self.pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    def poll(self):
        return None if self._alive() else 0

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._alive():
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("task", timeout)
            time.sleep(0.2)
        return 0


def _owned(pid, task_dir):
    try:
        return os.readlink("/proc/%d/cwd" % pid).startswith(task_dir)
    except OSError:
        return False


class TaskRunner:
    def __init__(self, alloc_runner, task, reattach_pid=None):
        self.reattach_pid = reattach_pid
        self.ar = alloc_runner
        self.task = task
        self.name = task["Name"]
        self.state = {"State": "pending", "Failed": False, "Restarts": 0, "LastRestart": None,
                      "StartedAt": None, "FinishedAt": None, "Events": []}
        self.proc = None
        self.kill_requested = threading.Event()
        self.running_since = None
        self.restart_times = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def event(self, e):
        self.state["Events"].append(e)
        del self.state["Events"][:-10]
        self.ar.changed()

    def env(self):
        return self.ar.task_env(self.task)

    def _interp(self, text, env):
        return self.ar.interpolate(text, env)

    def _command(self, env):
        cfg = self.task.get("Config") or {}
        cmd = self._interp(str(cfg.get("command", "")), env)
        args = [self._interp(str(a), env) for a in cfg.get("args") or []]
        if not cmd:
            raise RuntimeError("failed to parse config: Missing required field 'command'")
        task_dir = self.ar.task_dir(self.name)
        path = cmd if os.path.isabs(cmd) else (shutil.which(cmd, path=env.get("PATH")) or os.path.join(task_dir, cmd))
        if not os.path.isfile(path) or not os.access(path, os.X_OK):
            raise RuntimeError('failed to launch command with executor: rpc error: code = Unknown desc = '
                               'exec: "%s": executable file not found in $PATH' % cmd)
        return [path] + args

    def _start(self):
        env = self.env()
        argv = self._command(env)
        logs = os.path.join(self.ar.alloc_dir, "alloc", "logs")
        out = open(os.path.join(logs, "%s.stdout.0" % self.name), "ab")
        err = open(os.path.join(logs, "%s.stderr.0" % self.name), "ab")
        try:
            self.proc = subprocess.Popen(argv, cwd=self.ar.task_dir(self.name), env=env, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err, start_new_session=True)
        finally:
            out.close()
            err.close()
        self.ar.client.record_pid(self.ar.id, self.name, self.proc.pid)
        log.info(C, "task started", alloc_id=self.ar.id, task=self.name, pid=self.proc.pid)

    def _run(self):
        pid = self.reattach_pid
        reattach = bool(pid) and _owned(pid, self.ar.task_dir(self.name)) and _Reattached(pid).poll() is None
        if reattach:
            prev = (self.ar.alloc.get("TaskStates") or {}).get(self.name) or {}
            self.state.update({k: prev[k] for k in ("Restarts", "StartedAt", "Events") if prev.get(k)})
            log.info(C, "reattached to task", alloc_id=self.ar.id, task=self.name, pid=pid)
        else:
            self.event(_event("Received", "Task received by client"))
            self.event(_event("Task Setup", "Building Task Directory", Message="Building Task Directory"))
        pol = self.task.get("RestartPolicy") or self.ar.group.get("RestartPolicy") or {}
        batch = self.ar.job["Type"] in ("batch", "sysbatch")
        while not self.kill_requested.is_set():
            try:
                if reattach:
                    self.proc, reattach = _Reattached(pid), False
                else:
                    self._start()
            except (RuntimeError, OSError) as e:
                self.event(_event("Driver Failure", str(e), DriverError=str(e), FailsTask=False))
                code, sig = None, 0
            else:
                self.state["State"] = "running"
                if not self.state["StartedAt"]:
                    self.state["StartedAt"] = _rfc3339(now_ns())
                self.running_since = time.monotonic()
                self.event(_event("Started", "Task started by client"))
                code = self.proc.wait()
                self.running_since = None
                sig = -code if code < 0 else 0
                code = code if code >= 0 else 0
                if self.kill_requested.is_set():
                    break
                self.event(_event("Terminated", "Exit Code: %d%s" % (code, ", Signal: %d" % sig if sig else ""),
                                  ExitCode=code, Signal=sig))
            if batch and code == 0 and not sig:
                self._finish(False)
                return
            now = time.monotonic()
            interval = pol.get("Interval", 0) / 1e9
            self.restart_times = [t for t in self.restart_times if not interval or now - t < interval]
            if len(self.restart_times) >= pol.get("Attempts", 0):
                if pol.get("Mode", "fail") == "fail":
                    self.event(_event("Not Restarting", 'Exceeded allowed attempts %d in interval %s and mode is "fail"'
                                      % (pol.get("Attempts", 0), format_duration(pol.get("Interval", 0))),
                                      FailsTask=True, RestartReason="Exceeded allowed attempts"))
                    self._finish(True)
                    return
                wait = interval - (now - self.restart_times[0]) if self.restart_times else 0
                self.restart_times = []
            else:
                wait = pol.get("Delay", 0) / 1e9
            self.restart_times.append(now + max(wait, 0))
            self.state["State"] = "pending"
            self.event(_event("Restarting", "Task restarting in %s" % format_duration(int(wait * 1e9)),
                              RestartReason="Restart within policy", StartDelay=int(wait * 1e9)))
            if self.kill_requested.wait(max(wait, 0)):
                break
            self.state["Restarts"] += 1
            self.state["LastRestart"] = _rfc3339(now_ns())
        self._finish(False, killed=True)

    def _finish(self, failed, killed=False):
        self.ar.client.record_pid(self.ar.id, self.name, None)
        if killed:
            self.event(_event("Killed", "Task successfully killed"))
        self.state["State"] = "dead"
        self.state["Failed"] = failed
        self.state["FinishedAt"] = _rfc3339(now_ns())
        self.ar.changed()

    def kill(self, why):
        if self.kill_requested.is_set():
            return
        self.kill_requested.set()
        p = self.proc
        if p is None or p.poll() is not None:
            if not self.thread.is_alive():
                return
            return
        sig_name = self.task.get("KillSignal") or "SIGINT"
        sig = getattr(signal, sig_name, signal.SIGINT)
        timeout = (self.task.get("KillTimeout") or 5 * 10**9) / 1e9
        self.event(_event("Killing", "Sent interrupt. Waiting %s before force killing" % format_duration(int(timeout * 1e9)),
                          KillReason=why))
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
        try:
            os.killpg(p.pid, signal.SIGKILL)  # whatever the task left in its group
        except ProcessLookupError:
            pass
        log.info(C, "task killed", alloc_id=self.ar.id, task=self.name)


class AllocRunner:
    def __init__(self, client, alloc, reattach=None):
        self.client = client
        self.alloc = alloc
        self.id = alloc["ID"]
        self.job = alloc["Job"]
        self.group = next(g for g in self.job["TaskGroups"] if g["Name"] == alloc["TaskGroup"])
        self.alloc_dir = os.path.join(client.cfg.alloc_dir, self.id)
        self.lock = threading.Lock()
        self.dirty = True
        self.tasks = [TaskRunner(self, t, (reattach or {}).get(t["Name"])) for t in self.group["Tasks"]]
        self.deployment_id = None
        self.health = None
        self.services = []
        self.check_status = {}
        self.local_checks = []
        self.stopped = False

    # -- directories and environment -----------------------------------------
    def task_dir(self, name):
        return os.path.join(self.alloc_dir, name)

    def build_dirs(self):
        for sub in ("alloc/logs", "alloc/tmp", "alloc/data"):
            os.makedirs(os.path.join(self.alloc_dir, sub), exist_ok=True)
        for t in self.group["Tasks"]:
            for sub in ("local", "secrets", "tmp"):
                os.makedirs(os.path.join(self.task_dir(t["Name"]), sub), exist_ok=True)

    def ports(self):
        return self.alloc["AllocatedResources"]["Shared"]["Ports"] or []

    def task_env(self, task):
        node = self.client.node
        env = dict(os.environ)
        idx = re.search(r"\[(\d+)\]$", self.alloc["Name"])
        tdir = self.task_dir(task["Name"])
        res = task.get("Resources") or {}
        env.update({
            "NOMAD_ALLOC_DIR": os.path.join(self.alloc_dir, "alloc"), "NOMAD_TASK_DIR": os.path.join(tdir, "local"),
            "NOMAD_SECRETS_DIR": os.path.join(tdir, "secrets"), "NOMAD_ALLOC_ID": self.id,
            "NOMAD_SHORT_ALLOC_ID": self.id[:8], "NOMAD_ALLOC_NAME": self.alloc["Name"],
            "NOMAD_ALLOC_INDEX": idx.group(1) if idx else "0", "NOMAD_TASK_NAME": task["Name"],
            "NOMAD_GROUP_NAME": self.group["Name"], "NOMAD_JOB_NAME": self.job["Name"],
            "NOMAD_JOB_ID": self.job["ID"], "NOMAD_NAMESPACE": self.job["Namespace"],
            "NOMAD_REGION": self.job["Region"], "NOMAD_DC": node["Datacenter"],
            "NOMAD_CPU_LIMIT": str(res.get("CPU", 100)), "NOMAD_MEMORY_LIMIT": str(res.get("MemoryMB", 300)),
            "NOMAD_JOB_PARENT_ID": self.job.get("ParentID", ""), "TMPDIR": os.path.join(tdir, "tmp"),
        })
        for p in self.ports():
            lab, ip, val, to = p["Label"], p["HostIP"], p["Value"], p.get("To") or p["Value"]
            env["NOMAD_PORT_%s" % lab] = str(to)
            env["NOMAD_HOST_PORT_%s" % lab] = str(val)
            env["NOMAD_ALLOC_PORT_%s" % lab] = str(to)
            env["NOMAD_IP_%s" % lab] = ip
            env["NOMAD_HOST_IP_%s" % lab] = ip
            env["NOMAD_ADDR_%s" % lab] = "%s:%d" % (ip, val)
            env["NOMAD_HOST_ADDR_%s" % lab] = "%s:%d" % (ip, val)
        for k, v in (self.job.get("Meta") or {}).items():
            env["NOMAD_META_%s" % k] = v
        for k, v in (task.get("Meta") or {}).items():
            env["NOMAD_META_%s" % k] = v
        for k, v in (task.get("Env") or {}).items():
            env[k] = self.interpolate(v, env)
        return env

    def interpolate(self, text, env):
        node = self.client.node

        def repl(m):
            key = m.group(1)
            if key in env:
                return env[key]
            if key.startswith("env."):
                return env.get(key[4:], "")
            if key.startswith("attr."):
                return node["Attributes"].get(key[5:], m.group(0))
            if key.startswith("meta."):
                return (node.get("Meta") or {}).get(key[5:], m.group(0))
            return {"node.unique.id": node["ID"], "node.unique.name": node["Name"],
                    "node.datacenter": node["Datacenter"], "node.class": node.get("NodeClass", ""),
                    "node.region": self.job["Region"]}.get(key, m.group(0))
        return re.sub(r"\$\{([^}]+)\}", repl, str(text))

    # -- life cycle ----------------------------------------------------------
    def changed(self):
        with self.lock:
            self.dirty = True

    def start(self):
        self.build_dirs()
        for t in self.tasks:
            t.thread.start()
        threading.Thread(target=self._watch, daemon=True).start()

    def stop(self, why="alloc was stopped"):
        if self.stopped:
            return
        self.stopped = True
        self._deregister_services()
        threads = [threading.Thread(target=t.kill, args=(why,), daemon=True) for t in self.tasks]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        self.changed()

    def client_status(self):
        states = [t.state for t in self.tasks]
        if any(s["State"] == "dead" and s["Failed"] for s in states):
            return "failed", "Failed tasks"
        if all(s["State"] == "dead" for s in states):
            return "complete", "All tasks have completed"
        if any(s["State"] == "running" for s in states):
            return "running", "Tasks are running"
        return "pending", "No tasks have started"

    def report(self):
        """The update for the servers when something changed, else None."""
        with self.lock:
            if not self.dirty:
                return None
            self.dirty = False
        status, desc = self.client_status()
        up = {"ID": self.id, "ClientStatus": status, "ClientDescription": desc,
              "TaskStates": {t.name: dict(t.state, Events=list(t.state["Events"])) for t in self.tasks}}
        if self.health is not None:
            up["DeploymentStatus"] = {"Healthy": self.health, "Timestamp": _rfc3339(now_ns())}
        return up

    # -- services and health -------------------------------------------------
    def _service_port(self, label):
        if label and label.isdigit():
            return int(label)
        for p in self.ports():
            if p["Label"] == label:
                return p["Value"]
        return 0

    def _all_services(self):
        out = [(s, None) for s in self.group.get("Services") or []]
        for t in self.group["Tasks"]:
            out += [(s, t["Name"]) for s in t.get("Services") or []]
        return out

    def _register_services(self):
        ip = self.client.node["_ip"]
        for s, task in self._all_services():
            port = self._service_port(s.get("PortLabel", ""))
            env = self.task_env(self.group["Tasks"][0])
            name = self.interpolate(s["Name"], env)
            sid = "_nomad-task-%s-%s-%s-%s" % (self.id, task or "group-" + self.group["Name"], name,
                                              s.get("PortLabel", ""))
            check_defs = []
            for i, c in enumerate(s.get("Checks") or []):
                cport = self._service_port(c.get("PortLabel") or s.get("PortLabel", ""))
                ctype = c["Type"].lower()
                target = ("%s://%s:%d%s" % (c.get("Protocol") or "http", ip, cport, c.get("Path", "/"))
                          if ctype == "http" else "%s:%d" % (ip, cport))
                check_defs.append({"CheckID": "_nomad-check-%s-%d" % (sid[12:], i), "Name": c.get("Name"),
                                   "Type": ctype, "Target": target, "Interval": c.get("Interval", 10**10),
                                   "Timeout": c.get("Timeout", 2 * 10**9), "Method": c.get("Method") or "GET"})
            self.services.append({"ID": sid, "Name": name, "Tags": s.get("Tags") or [], "Port": port,
                                  "Address": ip, "Provider": s.get("Provider", "consul"), "Checks": check_defs})
        for svc in self.services:
            if svc["Provider"] == "nomad":
                for c in svc["Checks"]:
                    self.check_status[c["CheckID"]] = "critical"
                    self.local_checks.append(checks.CheckRunner(
                        c["Type"], c["Target"], c["Interval"] / 1e9, c["Timeout"] / 1e9,
                        lambda st, out, cid=c["CheckID"]: self.check_status.__setitem__(cid, st), c["Method"]))
            else:
                self.client.consul_register(svc)
                for c in svc["Checks"]:
                    self.check_status[c["CheckID"]] = "critical"

    def _deregister_services(self):
        for c in self.local_checks:
            c.stop()
        for svc in self.services:
            if svc["Provider"] != "nomad":
                self.client.consul_deregister(svc["ID"])
        self.services = []

    def _checks_passing(self):
        consul_ids = [c["CheckID"] for s in self.services if s["Provider"] != "nomad" for c in s["Checks"]]
        if consul_ids:
            statuses = self.client.consul_check_status()
            for cid in consul_ids:
                self.check_status[cid] = statuses.get(cid, "critical")
        return all(v == "passing" for v in self.check_status.values())

    def _watch(self):
        registered = False
        healthy_since = None
        started = time.monotonic()
        while not self.stopped:
            dep = self.alloc.get("DeploymentID") or None
            if dep != self.deployment_id:
                self.deployment_id, self.health, healthy_since = dep, None, None
                started = time.monotonic()
            running = all(t.state["State"] == "running" for t in self.tasks)
            if running and not registered:
                self._register_services()
                registered = True
            upd = self.group.get("Update") or {}
            if dep and self.health is None and upd.get("HealthCheck", "checks") != "manual":
                failed = any(t.state["State"] == "dead" and t.state["Failed"] for t in self.tasks)
                ok = running and (upd.get("HealthCheck") == "task_states" or self._checks_passing())
                if failed:
                    self._set_health(False, "task failed")
                elif ok:
                    healthy_since = healthy_since or time.monotonic()
                    if time.monotonic() - healthy_since >= upd.get("MinHealthyTime", 10**10) / 1e9:
                        self._set_health(True, "healthy")
                else:
                    healthy_since = None
                if self.health is None and time.monotonic() - started > upd.get("HealthyDeadline", 3 * 10**11) / 1e9:
                    self._set_health(False, "healthy deadline reached")
            time.sleep(0.25)

    def _set_health(self, healthy, why):
        self.health = healthy
        log.info(C, "allocation health set", alloc_id=self.id, healthy=healthy, reason=why)
        self.changed()
