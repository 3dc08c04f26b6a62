"""The leading Marathon's scheduler: apps, deployments and instances kept in
ZooKeeper under <zk path>/state, tasks launched on the agents of the leading
Mesos master, health checks, and deployments that follow Marathon's
TaskReplaceActor (src/main/scala/mesosphere/marathon/core/deployment/impl/
TaskReplaceActor.scala): kill max(0, healthy old - minHealthy) at once,
start new instances while old + new stay within maxCapacity, kill one old
instance per new one that becomes ready."""
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
import uuid

from . import log, marathon_apps as ma, wire, zk

COMPONENT = "marathon"
TERMINAL = ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED", "TASK_GONE",
            "TASK_UNREACHABLE")
LAUNCH_TIMEOUT = 20.0


class Locked(Exception):
    def __init__(self, ids):
        super().__init__("locked")
        self.ids = ids


class Scheduler:
    def __init__(self, marathon):
        self.m = marathon
        self.lock = threading.RLock()
        self.apps = {}
        self.deployments = {}
        self.instances = {}
        self.history = {}       # app id -> previous definitions (for rollback)
        self.failures = {}      # app id -> lastTaskFailure
        self.delays = {}        # app id -> (not before, current backoff)
        self.health = {}        # instance id -> [result per health check]
        self.framework_id = None
        self.stop = threading.Event()

    # -- persistence ----------------------------------------------------------

    def _path(self, what):
        return self.m.zk_url.path + "/state/" + what

    def load(self):
        c = self.m.zk.client
        self.apps = zk.get_json(c, self._path("apps"), {}) or {}
        self.deployments = zk.get_json(c, self._path("deployments"), {}) or {}
        self.instances = zk.get_json(c, self._path("instances"), {}) or {}
        self.history = zk.get_json(c, self._path("app-versions"), {}) or {}
        self.framework_id = zk.get_json(c, self._path("framework-id"), None)

    def save(self, *what):
        c = self.m.zk.client
        data = {"apps": self.apps, "deployments": self.deployments, "instances": self.instances,
                "app-versions": self.history, "framework-id": self.framework_id}
        for w in what or data:
            zk.put_json(c, self._path(w), data[w])

    # -- Mesos ------------------------------------------------------------------

    def master(self):
        return self.m.mesos_leader()

    def call(self, what, body):
        leader = self.master()
        if not leader:
            raise OSError("no leading Mesos master")
        return wire.call("POST", "http://%s/__standin/framework/%s" % (leader, what), body, timeout=10)

    def register(self):
        fw = {"name": self.m.flags.get("framework_name", "marathon"), "user": self.m.flags.get("mesos_user", "root"),
              "role": self.m.flags.get("mesos_role", "*"), "hostname": self.m.hostname,
              "webui_url": self.m.flags.get("webui_url", "http://%s" % self.m.host_port),
              "failover_timeout": float(self.m.flags.get("failover_timeout", 604800)), "checkpoint": True}
        if self.framework_id:
            fw["id"] = self.framework_id
        reply = self.call("register", {"framework": fw})
        if reply["framework_id"] != self.framework_id:
            self.framework_id = reply["framework_id"]
            self.save("framework-id")
        log.info(COMPONENT, "Registered as %s to master '%s'" % (self.framework_id, reply["master"]["id"]))

    # -- the loop -----------------------------------------------------------------

    def run(self):
        registered = None
        while not self.stop.wait(0.5):
            try:
                leader = self.master()
                if leader != registered:
                    self.register()
                    registered = leader
                view = self.call("view", {"framework_id": self.framework_id})
                with self.lock:
                    self.tick(view)
            except wire.WireError as e:
                registered = None
                log.warn(COMPONENT, "Mesos master refused a call", error=str(e))
            except OSError as e:
                registered = None
                log.debug(COMPONENT, "Mesos master not reachable", error=str(e))

    def tick(self, view):
        agents = {a["id"]: a for a in view["agents"]}
        tasks = {t["id"]: t for t in view["tasks"]}
        changed = self._update_instances(tasks)
        for app_id in list(self.apps):
            app = self.apps[app_id]
            dep = next((d for d in self.deployments.values() if d["app_id"] == app_id), None)
            if dep:
                changed |= self._deploy(dep, app, agents)
            else:
                changed |= self._keep_scale(app, agents)
        for dep in list(self.deployments.values()):
            if dep["kind"] == "stop":
                changed |= self._stop(dep)
        if changed:
            self.save("apps", "deployments", "instances", "app-versions")

    def _update_instances(self, tasks):
        changed = False
        now = time.time()
        for iid, inst in list(self.instances.items()):
            t = tasks.get(iid)
            if t is None:
                if inst["state"] == "TASK_STAGING" and now - inst["stagedAt_ts"] > LAUNCH_TIMEOUT:
                    self._gone(inst, "TASK_LOST", "Task launch timed out")
                    changed = True
                continue
            if t["state"] != inst["state"] or t.get("healthy") != inst.get("mesosHealthy"):
                inst["state"] = t["state"]
                inst["mesosHealthy"] = t.get("healthy")
                if t["state"] == "TASK_RUNNING" and not inst.get("startedAt"):
                    inst["startedAt"] = ma.now_version()
                    inst["startedAt_ts"] = now
                changed = True
            if t["state"] in TERMINAL:
                self._gone(inst, t["state"], t.get("message", ""))
                changed = True
        return changed

    def _gone(self, inst, state, message):
        del self.instances[inst["id"]]
        self.health.pop(inst["id"], None)
        expected = inst.get("killing") and state == "TASK_KILLED"
        if not expected:
            self.failures[inst["appId"]] = {"appId": inst["appId"], "host": inst["host"], "message": message,
                                            "state": state, "taskId": inst["id"], "timestamp": ma.now_version(),
                                            "version": inst["version"], "slaveId": inst["agentId"]}
            app = self.apps.get(inst["appId"])
            if app:
                until, backoff = self.delays.get(app["id"], (0, 0))
                backoff = min(app["backoffSeconds"] if not backoff else backoff * app["backoffFactor"],
                              app.get("maxLaunchDelaySeconds", 300))
                self.delays[app["id"]] = (time.monotonic() + backoff, backoff)
            log.info(COMPONENT, "Instance %s of %s is %s" % (inst["id"], inst["appId"], state), message=message)

    # -- instances ------------------------------------------------------------------

    def alive(self, app_id):
        return [i for i in self.instances.values() if i["appId"] == app_id]

    def ready(self, inst):
        app = self.apps.get(inst["appId"])
        if inst["state"] != "TASK_RUNNING" or inst.get("killing"):
            return False
        checks = app["healthChecks"] if app and inst["version"] == app["version"] else inst.get("healthChecks", [])
        if not checks:
            return True
        return self.healthy(inst) is True

    def healthy(self, inst):
        """True / False / None (no result yet) over all health checks."""
        checks = inst.get("healthChecks") or []
        if not checks:
            return None
        results = []
        for i, hc in enumerate(checks):
            if hc["protocol"] in ("COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP"):
                results.append(inst.get("mesosHealthy"))
            else:
                r = (self.health.get(inst["id"]) or {}).get(i)
                results.append(r["alive"] if r and (r.get("lastSuccess") or r.get("lastFailure")) else None)
        if any(r is False for r in results):
            return False
        if all(r is True for r in results):
            return True
        return None

    def launch(self, app, agents):
        """Starts one instance of app on an agent that fits; -> bool."""
        until, _ = self.delays.get(app["id"], (0, 0))
        if time.monotonic() < until:
            return False
        placed_agents = [agents[i["agentId"]] for i in self.alive(app["id"]) if i["agentId"] in agents]
        for agent in sorted(agents.values(), key=lambda a: sum(1 for x in self.instances.values()
                                                               if x["agentId"] == a["id"])):
            if not agent["active"] or not ma.meets_constraints(app, agent, placed_agents):
                continue
            ports = ma.fits(app, agent)
            if ports is None:
                continue
            iid = "%s.instance-%s._app.1" % (app["id"].strip("/").replace("/", "_"), uuid.uuid4())
            inst = {"id": iid, "appId": app["id"], "version": app["version"], "agentId": agent["id"],
                    "host": agent["hostname"], "ip": agent["ip"], "ports": ports, "state": "TASK_STAGING",
                    "stagedAt": ma.now_version(), "stagedAt_ts": time.time(), "healthChecks": app["healthChecks"]}
            task = {"id": iid, "name": app["id"].strip("/").replace("/", "."), "agent_id": agent["id"],
                    "resources": {"cpus": app["cpus"], "mem": app["mem"], "disk": app["disk"],
                                  "gpus": app.get("gpus", 0), "port_list": ports},
                    "env": ma.task_env(app, inst, ports), "kill_grace_seconds": app.get("taskKillGracePeriodSeconds",
                                                                                        3)}
            if app.get("cmd"):
                task["command"] = {"shell": True, "value": app["cmd"]}
            elif app.get("args"):
                task["command"] = {"shell": False, "value": app["args"][0], "arguments": app["args"]}
            if app.get("container"):
                task["container"] = app["container"]
            for hc in app["healthChecks"]:
                if hc["protocol"] == "COMMAND":
                    task["health_check"] = {"type": "COMMAND", "command": hc["command"]["value"],
                                            "grace_period_seconds": hc["gracePeriodSeconds"],
                                            "interval_seconds": hc["intervalSeconds"],
                                            "timeout_seconds": hc["timeoutSeconds"],
                                            "consecutive_failures": hc["maxConsecutiveFailures"],
                                            "delay_seconds": hc.get("delaySeconds", 15)}
            reply = self.call("launch", {"framework_id": self.framework_id, "agent_id": agent["id"], "task": task})
            if not reply.get("accepted"):
                log.warn(COMPONENT, "Launch refused", agent=agent["id"], message=reply.get("message"))
                continue
            self.instances[iid] = inst
            agent["used"]["ports"].extend(ports)
            for k in ("cpus", "mem", "disk"):
                agent["used"][k] += float(app[k])
            log.info(COMPONENT, "Launching instance %s of %s on %s" % (iid, app["id"], agent["hostname"]))
            return True
        return False

    def kill(self, inst, why):
        if inst.get("killing"):
            return
        inst["killing"] = True
        log.info(COMPONENT, "Killing instance %s of %s: %s" % (inst["id"], inst["appId"], why))
        try:
            self.call("kill", {"framework_id": self.framework_id, "agent_id": inst["agentId"], "task_id": inst["id"]})
        except (OSError, wire.WireError) as e:
            inst["killing"] = False
            log.warn(COMPONENT, "Kill failed", instance=inst["id"], error=str(e))

    def _kill_unhealthy(self, app):
        for inst in self.alive(app["id"]):
            for i, hc in enumerate(inst.get("healthChecks") or []):
                r = (self.health.get(inst["id"]) or {}).get(i)
                limit = hc.get("maxConsecutiveFailures", 3)
                if r and limit and r["consecutiveFailures"] >= limit and not inst.get("killing"):
                    self.failures[app["id"]] = {"appId": app["id"], "host": inst["host"],
                                                "message": "Task was killed since health check failed. Reason: %s"
                                                % r.get("lastFailureCause", ""), "state": "TASK_KILLED",
                                                "taskId": inst["id"], "timestamp": ma.now_version(),
                                                "version": inst["version"], "slaveId": inst["agentId"]}
                    until, backoff = self.delays.get(app["id"], (0, 0))
                    backoff = min(app["backoffSeconds"] if not backoff else backoff * app["backoffFactor"],
                                  app.get("maxLaunchDelaySeconds", 300))
                    self.delays[app["id"]] = (time.monotonic() + backoff, backoff)
                    self.kill(inst, "failed %d consecutive health checks" % r["consecutiveFailures"])

    def _keep_scale(self, app, agents):
        """Without a deployment: as many live instances as `instances`."""
        self._kill_unhealthy(app)
        live = [i for i in self.alive(app["id"]) if not i.get("killing")]
        changed = False
        if len(live) > app["instances"]:
            order = sorted(live, key=lambda i: i["stagedAt_ts"], reverse=app["killSelection"] == "YOUNGEST_FIRST")
            for inst in order[:len(live) - app["instances"]]:
                self.kill(inst, "scaling down")
            changed = True
        elif len(live) < app["instances"]:
            changed = self.launch(app, agents)
        return changed

    # -- deployments ------------------------------------------------------------------

    def new_deployment(self, app_id, kind, target, original, force=False):
        """-> deployment id; raises Locked when one runs for app_id."""
        running = [d for d in self.deployments.values() if d["app_id"] == app_id]
        if running and not force:
            raise Locked([d["id"] for d in running])
        for d in running:
            log.info(COMPONENT, "Cancelling deployment %s (forced)" % d["id"])
            del self.deployments[d["id"]]
        did = str(uuid.uuid4())
        version = target["version"] if target else ma.now_version()
        action = {"start": "StartApplication", "restart": "RestartApplication", "scale": "ScaleApplication",
                  "stop": "StopApplication"}[kind]
        dep = {"id": did, "version": version, "app_id": app_id, "kind": kind, "action": action,
               "started_killing": False, "ready_seen": [], "created": time.time()}
        if kind == "restart" and target:
            old = [i for i in self.alive(app_id) if i["version"] != target["version"] and not i.get("killing")]
            considered = sum(1 for i in old if self.ready(i) or i["state"] == "TASK_RUNNING")
            mh, mc = ma.min_healthy(target), ma.max_capacity(target)
            kill_now = max(0, considered - mh)
            if mh == mc and mc <= considered:
                mc += 1
            if len(old) > target["instances"]:
                kill_now = max(len(old) - target["instances"], kill_now)
            dep.update({"maxCapacity": mc, "killNow": kill_now})
        self.deployments[did] = dep
        log.info(COMPONENT, "Deployment %s (%s) of %s started" % (did, action, app_id))
        return did

    def _deploy(self, dep, app, agents):
        if dep["kind"] == "stop":
            return False
        self._kill_unhealthy(app)
        insts = self.alive(app["id"])
        new = [i for i in insts if i["version"] == app["version"] and not i.get("killing")]
        old = [i for i in insts if i["version"] != app["version"]]
        old_live = [i for i in old if not i.get("killing")]
        changed = False
        if dep["kind"] in ("start", "scale"):
            live = [i for i in insts if not i.get("killing")]
            if len(live) > app["instances"]:
                order = sorted(live, key=lambda i: i["stagedAt_ts"], reverse=app["killSelection"] == "YOUNGEST_FIRST")
                for inst in order[:len(live) - app["instances"]]:
                    self.kill(inst, "scaling down")
                changed = True
            elif len(live) < app["instances"]:
                changed |= self.launch(app, agents)
            ready = [i for i in live if self.ready(i)]
            if len(ready) >= app["instances"] and len(live) == app["instances"] and \
                    not any(i.get("killing") for i in insts):
                self._finish(dep)
                changed = True
            return changed
        # restart: TaskReplaceActor
        if not dep["started_killing"]:
            for inst in old_live[:dep["killNow"]]:
                self.kill(inst, "upgrade to version %s" % app["version"])
            dep["started_killing"] = True
            changed = True
            old_live = old_live[dep["killNow"]:]
        for inst in new:
            if self.ready(inst) and inst["id"] not in dep["ready_seen"]:
                dep["ready_seen"].append(inst["id"])
                if old_live:
                    self.kill(old_live.pop(0), "replaced by ready instance %s" % inst["id"])
                changed = True
        left = max(0, dep["maxCapacity"] - len(old_live) - len(new))
        to_start = min(max(0, app["instances"] - len(new)), left)
        for _ in range(to_start):
            if not self.launch(app, agents):
                break
            changed = True
            new = [i for i in self.alive(app["id"]) if i["version"] == app["version"] and not i.get("killing")]
        ready = [i for i in new if self.ready(i)]
        if len(ready) >= app["instances"] and not old:
            self._finish(dep)
            changed = True
        return changed

    def _stop(self, dep):
        for inst in self.alive(dep["app_id"]):
            self.kill(inst, "app removed")
        if not self.alive(dep["app_id"]):
            self.apps.pop(dep["app_id"], None)
            self._finish(dep)
            return True
        return False

    def _finish(self, dep):
        self.deployments.pop(dep["id"], None)
        self.delays.pop(dep["app_id"], None)
        log.info(COMPONENT, "Deployment %s of %s finished" % (dep["id"], dep["app_id"]))

    def deployment_json(self, dep):
        step = {"actions": [{"action": dep["action"], "app": dep["app_id"]}]}
        return {"id": dep["id"], "version": dep["version"], "affectedApps": [dep["app_id"]], "affectedPods": [],
                "steps": [step], "currentActions": [{"action": dep["action"], "app": dep["app_id"],
                                                     "readinessCheckResults": []}],
                "currentStep": 1, "totalSteps": 1}

    # -- health checks (Marathon's own: HTTP, HTTPS, TCP) ------------------------------

    def health_loop(self):
        due = {}
        while not self.stop.wait(0.25):
            with self.lock:
                work = []
                for inst in self.instances.values():
                    if inst["state"] != "TASK_RUNNING" or inst.get("killing"):
                        continue
                    for i, hc in enumerate(inst.get("healthChecks") or []):
                        if hc["protocol"] not in ("HTTP", "HTTPS", "TCP"):
                            continue
                        key = (inst["id"], i)
                        if time.monotonic() >= due.get(key, 0):
                            due[key] = time.monotonic() + hc["intervalSeconds"]
                            work.append((dict(inst), i, hc))
            for inst, i, hc in work:
                threading.Thread(target=self._probe, args=(inst, i, hc), daemon=True).start()

    def _probe(self, inst, i, hc):
        if "port" in hc and hc.get("port"):
            port = hc["port"]
        else:
            idx = hc.get("portIndex", 0)
            port = inst["ports"][idx] if idx < len(inst["ports"]) else None
        ok, cause = False, "no port"
        if port:
            try:
                if hc["protocol"] == "TCP":
                    socket.create_connection((inst["ip"], port), timeout=hc["timeoutSeconds"]).close()
                    ok = True
                else:
                    scheme = "https" if hc["protocol"] == "HTTPS" else "http"
                    ctx = ssl._create_unverified_context() if scheme == "https" else None
                    url = "%s://%s:%d%s" % (scheme, inst["ip"], port, hc.get("path", "/"))
                    try:
                        with urllib.request.urlopen(url, timeout=hc["timeoutSeconds"], context=ctx) as r:
                            code = r.status
                    except urllib.error.HTTPError as e:
                        code = e.code
                    ok = 200 <= code < 400
                    cause = "HTTP status %d" % code
            except (OSError, ValueError) as e:
                cause = str(e)
        now = ma.now_version()
        with self.lock:
            if inst["id"] not in self.instances:
                return
            res = self.health.setdefault(inst["id"], {}).setdefault(i, {
                "alive": False, "consecutiveFailures": 0, "firstSuccess": None, "lastSuccess": None,
                "lastFailure": None, "lastFailureCause": None, "instanceId": inst["id"].rsplit("._app", 1)[0],
                "taskId": inst["id"]})
            started = self.instances[inst["id"]].get("startedAt_ts") or time.time()
            if ok:
                res.update({"alive": True, "consecutiveFailures": 0, "lastSuccess": now})
                res["firstSuccess"] = res["firstSuccess"] or now
            elif res["firstSuccess"] or time.time() - started > hc["gracePeriodSeconds"]:
                res.update({"alive": False, "consecutiveFailures": res["consecutiveFailures"] + 1,
                            "lastFailure": now, "lastFailureCause": cause})

    def health_results(self, inst):
        out = []
        for i, hc in enumerate(inst.get("healthChecks") or []):
            if hc["protocol"] in ("HTTP", "HTTPS", "TCP"):
                r = (self.health.get(inst["id"]) or {}).get(i)
                if r:
                    out.append(dict(r))
            elif inst.get("mesosHealthy") is not None:
                out.append({"alive": inst["mesosHealthy"], "consecutiveFailures": 0 if inst["mesosHealthy"] else 1,
                            "instanceId": inst["id"].rsplit("._app", 1)[0], "taskId": inst["id"]})
        return out
