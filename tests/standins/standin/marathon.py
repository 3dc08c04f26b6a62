"""marathon (Marathon 1.11) for tests: flags as its ScallopConf reads them,
leader election through ZooKeeper as CuratorElectionStream does it (a
Curator LeaderLatch under <zk path>/leader-curator: sequential ephemeral
`_c_<uuid>-latch-N` nodes holding "host:port", the lowest leads), the REST
API v2 with HTTP Basic auth, non-leaders proxying to the leader, and the
scheduler of marathon_sched.py on the leader."""
import base64
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from . import httpd, log, marathon_apps as ma, marathon_flags, marathon_sched as ms, util, wire, zk
from .httpd import Response

VERSION = "1.11.24"
COMPONENT = "marathon"


def _die(msg):
    sys.stderr.write(msg + "\n")
    return 1


def err(status, message, **extra):
    body = {"message": message}
    body.update(extra)
    return Response(status, body)


class Marathon:
    def __init__(self, flags, zk_url, master):
        self.flags = flags
        self.zk_url = zk_url
        self.master_text = master
        self.port = int(flags.get("http_port", 8080))
        self.bind = flags.get("http_address") or "0.0.0.0"
        self.hostname = flags.get("hostname") or util.private_ip()
        self.host_port = "%s:%d" % (self.hostname, self.port)
        creds = flags.get("http_credentials") or os.environ.get("MESOSPHERE_HTTP_CREDENTIALS")
        self.credentials = creds
        if creds:
            log.add_secret(creds)
            log.add_secret(creds.split(":", 1)[1] if ":" in creds else creds)
        self.realm = flags.get("http_realm", "Mesosphere")
        self.leader = None
        self.elected = False
        self.sched = ms.Scheduler(self)
        self.apps = ma.Apps(ma.raml_root())
        self.zk = None
        self.mesos_zk = None
        self.mesos = None
        self.started = time.time()

    # -- election -------------------------------------------------------------

    def latch_path(self):
        return self.zk_url.path + "/leader-curator"

    def elect(self, timeout):
        self.zk = zk.Session(COMPONENT, self.zk_url, timeout, on_lost=self._lost)
        self.zk.start()
        self.zk.client.ensure_path(self.latch_path())
        self.zk.client.ensure_path(self.zk_url.path + "/state")
        node = self.zk.client.create(self.latch_path() + "/_c_%s-latch-" % uuid.uuid4(), self.host_port.encode(),
                                     ephemeral=True, sequence=True)
        log.info(COMPONENT, "Starting leader latch", znode=node)
        zk.watch_children(self.zk.client, self.latch_path(), self._leader_changed)

    def _lost(self):
        if self.elected:
            log.error(COMPONENT, "Lost leadership; exiting")
            os._exit(1)

    def _leader_changed(self):
        name, data = zk.lowest(self.zk.client, self.latch_path(), "-latch-")
        self.leader = data.decode() if data else None
        if self.leader == self.host_port and not self.elected:
            self.elected = True
            log.info(COMPONENT, "Leader won: %s" % self.host_port)
            self.sched.load()
            threading.Thread(target=self.sched.run, daemon=True).start()
            threading.Thread(target=self.sched.health_loop, daemon=True).start()
        elif self.elected and self.leader == self.host_port:
            return
        elif self.elected:
            log.error(COMPONENT, "Lost leadership; exiting")
            os._exit(1)
        elif self.leader:
            log.info(COMPONENT, "Leader defeated. Current leader: %s" % self.leader)

    def watch_mesos(self, timeout):
        if self.master_text.startswith("zk://"):
            url = zk.parse_url(self.master_text)
            self.mesos_zk = zk.Session(COMPONENT, url, timeout)
            self.mesos_zk.start()

            def changed():
                name, data = zk.lowest(self.mesos_zk.client, url.path, "json.info_")
                if data:
                    info = json.loads(data.decode())
                    addr = info.get("address") or {}
                    self.mesos = wire.hostport(addr.get("ip") or info["hostname"],
                                               int(addr.get("port") or info["port"]))
                else:
                    self.mesos = None
            zk.watch_children(self.mesos_zk.client, url.path, changed)
        else:
            text = self.master_text.replace("http://", "").rstrip("/")
            host, port = util.split_hostport(text, 5050)
            self.mesos = wire.hostport(host, port)

    def mesos_leader(self):
        return self.mesos

    # -- HTTP -------------------------------------------------------------------

    def authorized(self, req):
        if not self.credentials:
            return True
        h = req.headers.get("authorization", "")
        if not h.startswith("Basic "):
            return False
        try:
            given = base64.b64decode(h[6:].strip()).decode()
        except (ValueError, UnicodeDecodeError):
            return False
        return given == self.credentials

    def handle(self, req):
        if req.path != "/ping" and not self.authorized(req):
            r = err(401, "Invalid username or password.")
            r.headers["WWW-Authenticate"] = 'Basic realm="%s"' % self.realm
            return r
        if req.path == "/ping":
            return Response(200, raw="pong")
        if req.path in ("/v2/info", "/v2/leader") and req.method == "GET":
            return self.info(req) if req.path == "/v2/info" else self.leader_view()
        if not self.elected:
            return self.proxy(req)
        try:
            return self.api(req)
        except ma.Invalid as e:
            return Response(422, e.body())
        except ms.Locked as e:
            return Response(409, {"message": "App is locked by one or more deployments. Override with the option "
                                             "'?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.",
                                  "deployments": [{"id": i} for i in e.ids]})

    def proxy(self, req):
        if not self.leader:
            return err(503, "Could not determine the current leader")
        url = "http://%s%s" % (self.leader, urllib.parse.quote(req.path))
        qs = urllib.parse.urlencode([(k, v) for k, vs in req.query.items() for v in vs])
        if qs:
            url += "?" + qs
        r = urllib.request.Request(url, data=req.body or None, method=req.method)
        for k, v in req.headers.items():
            if k not in ("host", "content-length", "connection"):
                r.add_header(k, v)
        r.add_header("X-Marathon-Via", "1.1 %s" % self.host_port)
        try:
            with urllib.request.urlopen(r, timeout=30) as resp:
                status, data, headers = resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as e:
            status, data, headers = e.code, e.read(), e.headers
        except OSError as e:
            return err(502, "Could not reach the current leader %s: %s" % (self.leader, e))
        out = Response(status, raw=data)
        for h in ("Location", "Marathon-Deployment-Id", "WWW-Authenticate"):
            if headers.get(h):
                out.headers[h] = headers[h]
        out.headers["X-Marathon-Leader"] = "http://%s" % self.leader
        out.content_type = headers.get("Content-Type", "application/json")
        return out

    def leader_view(self):
        if not self.leader:
            return err(404, "There is no leader")
        return Response(200, {"leader": self.leader})

    def info(self, req):
        safe = {k: zk.redact(v) if isinstance(v, str) else v for k, v in self.flags.items()
                if k not in ("http_credentials", "mesos_authentication_secret", "ssl_keystore_password")}
        return Response(200, {
            "name": "marathon", "version": VERSION, "buildref": "unknown", "elected": self.elected,
            "leader": self.leader, "frameworkId": self.sched.framework_id if self.elected else None,
            "marathon_config": {"master": zk.redact(self.master_text), "hostname": self.hostname,
                                "mesos_role": self.flags.get("mesos_role"),
                                "mesos_user": self.flags.get("mesos_user", "root"),
                                "framework_name": self.flags.get("framework_name", "marathon"),
                                "ha": self.flags.get("ha", True), "checkpoint": self.flags.get("checkpoint", True),
                                "local_port_min": 10000, "local_port_max": 20000,
                                "webui_url": self.flags.get("webui_url"),
                                "failover_timeout": int(self.flags.get("failover_timeout", 604800)),
                                "features": sorted(filter(None, self.flags.get("enable_features", "").split(",")))},
            "zookeeper_config": {"zk": zk.redact(str(self.zk_url)),
                                 "zk_timeout": int(self.flags.get("zk_timeout", 10000)),
                                 "zk_session_timeout": int(self.flags.get("zk_session_timeout", 10000)),
                                 "zk_max_versions": 50},
            "http_config": {"http_port": self.port, "https_port": int(self.flags.get("https_port", 8443))},
            "event_subscriber": None, "flags": {k: str(v) for k, v in sorted(safe.items())}})

    def api(self, req):
        p, m = req.path.rstrip("/") or "/", req.method
        s = self.sched
        if p == "/v2/apps":
            if m == "GET":
                return self.list_apps(req)
            if m == "POST":
                return self.create_app(req)
            return err(405, "Method not allowed")
        if p.startswith("/v2/apps/"):
            rest = p[len("/v2/apps"):]
            if rest.endswith("/restart") and m == "POST":
                return self.restart_app(rest[:-len("/restart")], req)
            if rest.endswith("/tasks") and m == "GET":
                with s.lock:
                    app_id = ma.absolute_id(rest[:-len("/tasks")])
                    if app_id not in s.apps:
                        return err(404, "App '%s' does not exist" % app_id)
                    return Response(200, {"tasks": [self.task_json(i) for i in s.alive(app_id)]})
            app_id = ma.absolute_id(rest)
            if m == "GET":
                with s.lock:
                    if app_id not in s.apps:
                        return err(404, "App '%s' does not exist" % app_id)
                    return Response(200, {"app": self.app_json(s.apps[app_id], embed_all=True)})
            if m == "PUT":
                return self.put_app(app_id, req)
            if m == "DELETE":
                return self.delete_app(app_id, req)
            return err(405, "Method not allowed")
        if p == "/v2/deployments" and m == "GET":
            with s.lock:
                return Response(200, [s.deployment_json(d) for d in s.deployments.values()])
        if p.startswith("/v2/deployments/") and m == "DELETE":
            return self.delete_deployment(p[len("/v2/deployments/"):], req)
        if p == "/v2/tasks" and m == "GET":
            with s.lock:
                return Response(200, {"tasks": [self.task_json(i) for i in s.instances.values()]})
        if p == "/v2/queue" and m == "GET":
            return Response(200, {"queue": self.queue()})
        if p == "/v2/leader" and m == "DELETE":
            log.info(COMPONENT, "Abdicating")
            threading.Timer(0.5, lambda: os._exit(0)).start()
            return Response(200, {"message": "Leadership abdicated"})
        return err(404, "Not Found")

    # -- apps ---------------------------------------------------------------------

    def _body(self, req):
        try:
            return json.loads(req.body or b"null")
        except ValueError as e:
            raise ma.Invalid([("/", "Invalid JSON: %s" % e)])

    def create_app(self, req):
        body = self._body(req)
        if not isinstance(body, dict):
            raise ma.Invalid([("/", "error.expected.jsobject")])
        self.apps.check_schema(body)
        app = self.apps.normalize(body)
        s = self.sched
        with s.lock:
            if app["id"] in s.apps:
                return err(409, "An app with id [%s] already exists." % app["id"])
            app["version"] = ma.now_version()
            app["versionInfo"] = {"lastScalingAt": app["version"], "lastConfigChangeAt": app["version"]}
            s.apps[app["id"]] = app
            did = s.new_deployment(app["id"], "start", app, None)
            s.save()
            out = self.app_json(app)
        r = Response(201, out)
        r.headers["Location"] = "/v2/apps%s" % app["id"]
        r.headers["Marathon-Deployment-Id"] = did
        return r

    def put_app(self, app_id, req):
        body = self._body(req)
        if not isinstance(body, dict):
            raise ma.Invalid([("/", "error.expected.jsobject")])
        force = req.flag("force")
        partial = req.q("partialUpdate", "true") != "false"
        s = self.sched
        with s.lock:
            current = s.apps.get(app_id)
            self.apps.check_schema(body, update=current is not None and partial)
            merged = self.apps.merge_update(current, body, partial)
            merged["id"] = app_id
            app = self.apps.normalize(merged)
            if current is None:
                app["version"] = ma.now_version()
                app["versionInfo"] = {"lastScalingAt": app["version"], "lastConfigChangeAt": app["version"]}
                s.apps[app_id] = app
                did = s.new_deployment(app_id, "start", app, None, force)
                s.save()
                r = Response(201, {"deploymentId": did, "version": app["version"]})
                r.headers["Marathon-Deployment-Id"] = did
                return r
            scale_only = ma.is_scale_only(current, app)
            app["version"] = ma.now_version()
            info = dict(current.get("versionInfo") or {})
            info["lastScalingAt"] = app["version"]
            if not scale_only:
                info["lastConfigChangeAt"] = app["version"]
            app["versionInfo"] = info
            did = s.new_deployment(app_id, "scale" if scale_only else "restart", app, current, force)
            s.history.setdefault(app_id, []).append(current)
            s.history[app_id] = s.history[app_id][-10:]
            if scale_only:
                # instances of the current version stay: only the count moves
                for inst in s.alive(app_id):
                    if inst["version"] == current["version"]:
                        inst["version"] = app["version"]
            s.apps[app_id] = app
            s.save()
        r = Response(200, {"deploymentId": did, "version": app["version"]})
        r.headers["Marathon-Deployment-Id"] = did
        return r

    def restart_app(self, app_id, req):
        app_id = ma.absolute_id(app_id)
        s = self.sched
        with s.lock:
            current = s.apps.get(app_id)
            if not current:
                return err(404, "App '%s' does not exist" % app_id)
            app = dict(current, version=ma.now_version())
            did = s.new_deployment(app_id, "restart", app, current, req.flag("force"))
            s.apps[app_id] = app
            s.save()
        return Response(200, {"deploymentId": did, "version": app["version"]})

    def delete_app(self, app_id, req):
        s = self.sched
        with s.lock:
            if app_id not in s.apps:
                return err(404, "App '%s' does not exist" % app_id)
            did = s.new_deployment(app_id, "stop", None, s.apps[app_id], req.flag("force"))
            s.save()
            dep = s.deployments[did]
        r = Response(200, {"deploymentId": did, "version": dep["version"]})
        r.headers["Marathon-Deployment-Id"] = did
        return r

    def delete_deployment(self, did, req):
        s = self.sched
        with s.lock:
            dep = s.deployments.get(did)
            if not dep:
                return err(404, "DeploymentPlan %s does not exist" % did)
            if req.flag("force"):
                del s.deployments[did]
                s.save("deployments")
                log.info(COMPONENT, "Deployment %s cancelled (forced)" % did)
                return Response(202, raw=b"")
            previous = (s.history.get(dep["app_id"]) or [None])[-1]
            del s.deployments[did]
            if dep["kind"] in ("start",) or previous is None:
                # rolling back a start removes the app
                new = s.new_deployment(dep["app_id"], "stop", None, s.apps.get(dep["app_id"]))
            else:
                app = dict(previous, version=ma.now_version())
                s.history[dep["app_id"]].pop()
                kind = "scale" if ma.is_scale_only(previous, s.apps[dep["app_id"]]) else "restart"
                if kind == "restart":
                    # instances of the version being rolled back to are kept
                    for inst in s.alive(dep["app_id"]):
                        if inst["version"] == previous["version"]:
                            inst["version"] = app["version"]
                new = s.new_deployment(dep["app_id"], kind, app, s.apps[dep["app_id"]])
                s.apps[dep["app_id"]] = app
            s.save()
            version = s.deployments[new]["version"]
        return Response(200, {"deploymentId": new, "version": version})

    def list_apps(self, req):
        embed = req.query.get("embed", [])
        want_id = req.q("id")
        s = self.sched
        with s.lock:
            apps = [a for a in s.apps.values() if not want_id or want_id in a["id"]]
            return Response(200, {"apps": [self.app_json(a, embed_tasks="apps.tasks" in embed,
                                                         embed_failure="apps.lastTaskFailure" in embed)
                                           for a in sorted(apps, key=lambda a: a["id"])]})

    def app_json(self, app, embed_all=False, embed_tasks=False, embed_failure=False):
        s = self.sched
        insts = s.alive(app["id"])
        out = dict(app)
        out["tasksStaged"] = sum(1 for i in insts if i["state"] in ("TASK_STAGING", "TASK_STARTING"))
        out["tasksRunning"] = sum(1 for i in insts if i["state"] == "TASK_RUNNING")
        out["tasksHealthy"] = sum(1 for i in insts if i["state"] == "TASK_RUNNING" and s.healthy(i) is True)
        out["tasksUnhealthy"] = sum(1 for i in insts if i["state"] == "TASK_RUNNING" and s.healthy(i) is False)
        out["deployments"] = [{"id": d["id"]} for d in s.deployments.values() if d["app_id"] == app["id"]]
        if embed_all or embed_tasks:
            out["tasks"] = [self.task_json(i) for i in insts]
        if (embed_all or embed_failure) and app["id"] in s.failures:
            out["lastTaskFailure"] = s.failures[app["id"]]
        return out

    def task_json(self, inst):
        out = {"id": inst["id"], "appId": inst["appId"], "host": inst["host"], "ports": inst["ports"],
               "ipAddresses": [{"ipAddress": inst["ip"], "protocol": "IPv4"}], "slaveId": inst["agentId"],
               "stagedAt": inst["stagedAt"], "version": inst["version"], "state": inst["state"],
               "servicePorts": [], "localVolumes": [],
               "healthCheckResults": self.sched.health_results(inst)}
        if inst.get("startedAt"):
            out["startedAt"] = inst["startedAt"]
        return out

    def queue(self):
        s = self.sched
        out = []
        with s.lock:
            for app in s.apps.values():
                live = [i for i in s.alive(app["id"]) if not i.get("killing") and i["version"] == app["version"]]
                missing = app["instances"] - len(live)
                if missing <= 0:
                    continue
                until, _ = s.delays.get(app["id"], (0, 0))
                left = max(0.0, until - time.monotonic())
                out.append({"app": self.app_json(app), "count": missing, "since": app["version"],
                            "delay": {"timeLeftSeconds": int(left), "overdue": left <= 0},
                            "processedOffersSummary": {"processedOffersCount": 0, "unusedOffersCount": 0,
                                                       "rejectSummaryLastOffers": [], "rejectSummaryLaunchAttempt": []},
                            "lastUnusedOffers": []})
        return out


def main(argv):
    try:
        flags = marathon_flags.load(argv)
    except marathon_flags.FlagError as e:
        return _die("[scallop] Error: %s" % e)
    zk_text = flags.get("zk", "zk://localhost:2181/marathon")
    try:
        zk_url = zk.parse_url(zk_text)
    except zk.URLError:
        return _die("[scallop] Error: Bad arguments for option 'zk': '%s' - %s is not a valid zk url; it should "
                    "formatted like zk://user:pass@host1:port1,host2:port2/path, or "
                    "zk://host1:port1,host2:port2/marathon" % (zk_text, zk_text))
    creds = flags.get("http_credentials")
    if creds is not None and (":" not in creds or creds.startswith(":")):
        return _die("[scallop] Error: Bad arguments for option 'http_credentials': '<redacted>' - "
                    "Expected a username:password pair")
    m = Marathon(flags, zk_url, flags["master"])
    try:
        srv = httpd.serve(COMPONENT, m.bind, m.port, m.handle)
    except OSError as e:
        return _die("Failed to bind to %s:%d: %s" % (m.bind, m.port, e.strerror))
    stop = threading.Event()

    def on_signal(signum, _frame):
        log.info(COMPONENT, "Received signal %d; shutting down" % signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info(COMPONENT, "Starting Marathon %s" % VERSION, http=m.host_port, master=zk.redact(flags["master"]),
             auth="on" if creds else "off")
    timeout = int(flags.get("zk_session_timeout", 10000)) / 1000.0

    def start():
        m.watch_mesos(timeout)
        m.elect(timeout)
    threading.Thread(target=start, daemon=True).start()
    stop.wait()
    m.sched.stop.set()
    srv.shutdown()
    for s in (m.zk, m.mesos_zk):
        if s:
            s.stop()
    return 0
