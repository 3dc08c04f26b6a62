#!/usr/bin/python3
"""The setup Marathon clusters are built as: on each of three namespace
hosts the real ZooKeeper, a mesos-master and a mesos-agent stand-in, and
Marathon on two of them; one leader each, agents with attributes, an app
placed by its constraints and answering over HTTP, a rolling upgrade that
keeps minimumHealthCapacity, a version whose health check fails leaving the
old tasks serving, Basic auth, a Docker app refused, and master failover."""
import base64
import json
import math
import threading
import time
import unittest
import urllib.error
import urllib.request

import harness
import mesosworld as mw
from harness import wait_for

USER, PASSWORD = "ops", "s3cret-Pa55"
W = {}


def setUpModule():
    mw.require_tools()
    pool = harness.PoolTest.pool = harness.Pool(3)
    hosts = pool.hosts
    ips = [h.ip for h in hosts]
    W["ips"] = ips
    try:
        for i, h in enumerate(hosts):
            mw.start_zk(h, i + 1, ips)
        wait_for("a ZooKeeper leader", lambda: sorted(mw.mode(ip) or "" for ip in ips) ==
                 ["follower", "follower", "leader"], timeout=90)
        for i, h in enumerate(hosts):
            mw.start(h, "mesos-master", ["--ip=" + h.ip, "--hostname=" + h.ip, "--zk=" + mw.zk_url(ips, "/mesos"),
                                         "--quorum=2", "--work_dir=/opt/mesos/master", "--cluster=standins"])
            env = "production" if i == 2 else "staging"
            mw.start(h, "mesos-agent", ["--ip=" + h.ip, "--hostname=" + h.ip, "--work_dir=/opt/mesos/agent",
                                        "--attributes=env:%s;rack:r%d" % (env, i + 1),
                                        "--resources=cpus:2;mem:2048;disk:1024;ports:[31000-31099]",
                                        "--containerizers=mesos"],
                     env={"MESOS_MASTER": mw.zk_url(ips, "/mesos")})
        for h in hosts[:2]:
            mw.start(h, "marathon", ["--master", mw.zk_url(ips, "/mesos"), "--zk", mw.zk_url(ips, "/marathon"),
                                     "--hostname", h.ip, "--mesos_role", "*"],
                     env={"MARATHON_HTTP_CREDENTIALS": "%s:%s" % (USER, PASSWORD)})
        wait_for("a Marathon leader with the framework registered", lambda: marathon(ips[0], "GET", "/v2/info")[1]
                 .get("frameworkId") or marathon(ips[1], "GET", "/v2/info")[1].get("frameworkId"), timeout=60)
    except Exception:
        for h in hosts:
            mw.dump_logs(h)
        raise


def tearDownModule():
    for h in harness.PoolTest.pool.hosts:
        for k in ("marathon", "mesos-agent", "mesos-master", "zookeeper"):
            h.stop(k, "KILL")
        mw.kill_tasks(h)
    harness.PoolTest.pool.destroy()


def call(url, method="GET", body=None, auth=(USER, PASSWORD), timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, text


def marathon(ip, method, path, body=None, **kw):
    return call("http://%s:8080%s" % (ip, path), method, body, **kw)


def master_state(ip):
    st, body = call("http://%s:5050/master/state" % ip, auth=None)
    return body if st == 200 else None


def app(ip, app_id):
    st, body = marathon(ip, "GET", "/v2/apps/" + app_id)
    return body["app"] if st == 200 else None


def deployed(ip, app_id):
    a = app(ip, app_id)
    return a if a and not a["deployments"] and a["tasksHealthy"] == a["instances"] else None


def page(host, port, timeout=2):
    with urllib.request.urlopen("http://%s:%d/" % (host, port), timeout=timeout) as r:
        return r.read().decode().strip()


def httpd_cmd(text):
    return "mkdir -p www && echo %s > www/index.html && exec busybox httpd -f -p $PORT0 -h www" % text


def web_app(app_id, text, instances=2, **extra):
    a = {"id": app_id, "cmd": httpd_cmd(text), "instances": instances, "cpus": 0.1, "mem": 32,
         "constraints": [["env", "CLUSTER", "staging"], ["hostname", "UNIQUE"]],
         "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0, "gracePeriodSeconds": 15,
                           "intervalSeconds": 1, "timeoutSeconds": 2, "maxConsecutiveFailures": 3}]}
    a.update(extra)
    return a


class Cluster(harness.PoolTest):
    def tearDown(self):
        if self._outcome_failed():
            for h in self.pool.hosts:
                mw.dump_logs(h)

    def leader_ip(self):
        return marathon(W["ips"][0], "GET", "/v2/leader")[1]["leader"].split(":")[0]

    def test_1_one_leader_each_and_agents_with_attributes(self):
        ips = W["ips"]
        states = wait_for("every master pointing at one leader with three active agents", lambda: (
            lambda s: s if all(s) and len({x["leader"] for x in s}) == 1 and
            sum(a["active"] for a in s[0]["slaves"]) == 3 else None)([master_state(ip) for ip in ips]), timeout=40)
        leader_pid = states[0]["leader"]
        self.assertIn(leader_pid, ["master@%s:5050" % ip for ip in ips])
        # non-leaders answer /master/state with a redirect to the leader
        self.assertEqual([s["pid"] for s in states], [leader_pid] * 3)
        slaves = {s["hostname"]: s for s in states[0]["slaves"]}
        self.assertEqual(slaves[ips[2]]["attributes"], {"env": "production", "rack": "r3"})
        self.assertEqual(slaves[ips[0]]["resources"]["ports"], "[31000-31099]")
        self.assertEqual(slaves[ips[1]]["resources"]["cpus"], 2.0)
        self.assertEqual(states[0]["cluster"], "standins")
        # /master/redirect from a non-leader: 307 to the leader, protocol-relative
        other = next(ip for ip in ips if "master@%s:5050" % ip != leader_pid)
        req = urllib.request.Request("http://%s:5050/master/redirect" % other)
        opener = urllib.request.build_opener(NoRedirect)
        with self.assertRaises(urllib.error.HTTPError) as cm:
            opener.open(req, timeout=5)
        self.assertEqual(cm.exception.code, 307)
        self.assertEqual(cm.exception.headers["Location"], "//%s" % leader_pid.split("@")[1])
        self.assertEqual(call("http://%s:5050/master/health" % other, auth=None)[0], 200)
        st, agent = call("http://%s:5051/state" % ips[1], auth=None)
        self.assertEqual((st, agent["attributes"]["env"], agent["master_hostname"]),
                         (200, "staging", leader_pid.split("@")[1].split(":")[0]))
        # ZooKeeper holds the masters' candidacies and Marathon's latch
        from kazoo.client import KazooClient
        c = KazooClient(hosts=",".join("%s:2181" % ip for ip in ips))
        c.start(timeout=20)
        try:
            kids = sorted(c.get_children("/mesos"))
            self.assertEqual(len([k for k in kids if k.startswith("json.info_")]), 3)
            first = min((k for k in kids if k.startswith("json.info_")), key=lambda k: int(k[-10:]))
            self.assertEqual(json.loads(c.get("/mesos/" + first)[0])["pid"], leader_pid)
            self.assertEqual(len(c.get_children("/marathon/leader-curator")), 2)
        finally:
            c.stop()
        leaders = {marathon(ip, "GET", "/v2/leader")[1]["leader"] for ip in ips[:2]}
        self.assertEqual(len(leaders), 1)
        infos = [marathon(ip, "GET", "/v2/info")[1] for ip in ips[:2]]
        self.assertEqual(sorted(i["elected"] for i in infos), [False, True])
        self.assertNotIn(PASSWORD, json.dumps(infos))
        for h in self.pool.hosts[:2]:
            self.assertNotIn(PASSWORD, h.log("marathon"))

    def test_2_wrong_password_is_refused(self):
        ip = W["ips"][0]
        st, body = marathon(ip, "GET", "/v2/apps", auth=(USER, "wrong"))
        self.assertEqual((st, body), (401, {"message": "Invalid username or password."}))
        st, body = marathon(ip, "GET", "/v2/apps", auth=None)
        self.assertEqual(st, 401)
        self.assertEqual(call("http://%s:8080/ping" % ip, auth=None), (200, "pong"))
        for ip in W["ips"][:2]:  # the non-leader proxies
            self.assertEqual(marathon(ip, "GET", "/v2/apps")[0], 200)

    def test_3_app_with_constraints_rolling_upgrade_and_failing_version(self):
        ip = self.leader_ip()
        other = next(x for x in W["ips"][:2] if x != ip)
        st, body = marathon(other, "POST", "/v2/apps", web_app("/shop/web", "v1"))  # through the proxy
        self.assertEqual(st, 201, body)
        self.assertEqual(body["id"], "/shop/web")
        a = wait_for("/shop/web deployed and healthy", lambda: deployed(ip, "shop/web"), timeout=60)
        hosts = sorted(t["host"] for t in a["tasks"])
        self.assertEqual(hosts, sorted(W["ips"][:2]))  # staging only, one per host
        for t in a["tasks"]:
            self.assertEqual(page(t["host"], t["ports"][0]), "v1")
            self.assertTrue(31000 <= t["ports"][0] <= 31099)
            self.assertTrue(t["healthCheckResults"][0]["alive"])
        st, locked_app = marathon(ip, "POST", "/v2/apps", web_app("/shop/web", "v1"))
        self.assertEqual(st, 409)
        # Rolling upgrade: never fewer than minimumHealthCapacity answering.
        samples, stop = [], threading.Event()

        def probe():
            while not stop.is_set():
                cur = app(ip, "shop/web") or {"tasks": []}
                ok = 0
                for t in cur.get("tasks", []):
                    try:
                        page(t["host"], t["ports"][0], timeout=5)
                        ok += 1
                    except OSError:
                        pass
                samples.append(ok)
                time.sleep(0.2)
        th = threading.Thread(target=probe)
        th.start()
        try:
            # (UNIQUE hostname would leave no room for the extra instance)
            st, body = marathon(ip, "PUT", "/v2/apps/shop/web", {
                "cmd": httpd_cmd("v2"), "constraints": [["env", "CLUSTER", "staging"]],
                "upgradeStrategy": {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 0.5}})
            self.assertEqual(st, 200, body)
            self.assertIn("deploymentId", body)
            wait_for("v2 on every instance", lambda: (lambda a: a and not a["deployments"] and
                     sorted(page(t["host"], t["ports"][0]) for t in a["tasks"]) == ["v2", "v2"])(
                app(ip, "shop/web")), timeout=90)
        finally:
            stop.set()
            th.join()
        self.assertGreater(len(samples), 5)
        self.assertGreaterEqual(min(samples), math.ceil(2 * 1.0), samples)
        # A version whose health check never passes: the deployment stays, the
        # old tasks keep serving, the failures are reported.
        st, body = marathon(ip, "PUT", "/v2/apps/shop/web", {
            "cmd": httpd_cmd("v3"), "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.0},
            "healthChecks": [{"protocol": "HTTP", "path": "/missing", "gracePeriodSeconds": 2, "intervalSeconds": 1,
                              "timeoutSeconds": 1, "maxConsecutiveFailures": 2}]})
        self.assertEqual(st, 200, body)
        dep = body["deploymentId"]
        failed = wait_for("a v3 task killed for its health check", lambda: (
            app(ip, "shop/web") or {}).get("lastTaskFailure"), timeout=60)
        self.assertIn("health check failed", failed["message"])
        a = app(ip, "shop/web")
        self.assertEqual([d["id"] for d in a["deployments"]], [dep])
        st, deps = marathon(ip, "GET", "/v2/deployments")
        self.assertEqual([d["id"] for d in deps], [dep])
        self.assertEqual(deps[0]["affectedApps"], ["/shop/web"])
        serving = [page(t["host"], t["ports"][0]) for t in a["tasks"] if t["healthCheckResults"] and
                   t["healthCheckResults"][0]["alive"]]
        self.assertIn("v2", serving)
        st, body = marathon(ip, "PUT", "/v2/apps/shop/web", {"instances": 1})
        self.assertEqual(st, 409)
        self.assertEqual(body["deployments"], [{"id": dep}])
        st, queue = marathon(ip, "GET", "/v2/queue")
        self.assertEqual(st, 200)
        # Deleting the deployment rolls back to v2.
        st, body = marathon(ip, "DELETE", "/v2/deployments/" + dep)
        self.assertEqual(st, 200, body)
        a = wait_for("the rollback to v2", lambda: deployed(ip, "shop/web"), timeout=90)
        self.assertEqual(sorted(page(t["host"], t["ports"][0]) for t in a["tasks"]), ["v2", "v2"])
        st, body = marathon(ip, "DELETE", "/v2/apps/shop/web")
        self.assertEqual(st, 200)
        wait_for("the app removed", lambda: marathon(ip, "GET", "/v2/apps/shop/web")[0] == 404, timeout=60)
        st, tasks = marathon(ip, "GET", "/v2/tasks")
        self.assertEqual(tasks["tasks"], [])

    def test_4_invalid_apps_and_docker_refused(self):
        ip = self.leader_ip()
        st, body = marathon(ip, "POST", "/v2/apps", {"id": "/bad", "cmd": "true", "instances": -1, "cpus": "x",
                                                     "constraints": [["env", "NEAR", "x"]]})
        self.assertEqual(st, 422)
        self.assertEqual(body["message"], "Object is not valid")
        paths = {d["path"]: d["errors"] for d in body["details"]}
        self.assertEqual(paths["/cpus"], ["error.expected.jsnumber"])
        self.assertIn("/instances", paths)
        st, body = marathon(ip, "POST", "/v2/apps", {"id": "/bad", "cmd": "true",
                                                     "constraints": [["env", "NEAR", "x"]]})
        self.assertEqual((st, body["details"][0]["path"]), (422, "/constraints(0)"))
        self.assertIn("operator must be one of the following", body["details"][0]["errors"][0])
        st, body = marathon(ip, "GET", "/v2/apps/nope")
        self.assertEqual((st, body), (404, {"message": "App '/nope' does not exist"}))
        st, body = marathon(ip, "POST", "/v2/apps", {
            "id": "/docker-app", "instances": 1, "cpus": 0.1, "mem": 32,
            "container": {"type": "DOCKER", "docker": {"image": "nginx:1.25"}}})
        self.assertEqual(st, 201, body)
        failure = wait_for("the launch refused by the agent", lambda: (
            app(ip, "docker-app") or {}).get("lastTaskFailure"), timeout=60)
        self.assertEqual((failure["state"], failure["message"]),
                         ("TASK_FAILED", "Abnormal executor termination: unknown container"))
        st, body = marathon(ip, "DELETE", "/v2/apps/docker-app?force=true")
        self.assertEqual(st, 200)
        wait_for("the docker app removed", lambda: marathon(ip, "GET", "/v2/apps/docker-app")[0] == 404,
                 timeout=60)

    def test_5_leading_master_killed_fails_over(self):
        ips = W["ips"]
        old = master_state(ips[0])["leader"]
        victim = next(h for h in self.pool.hosts if "master@%s:5050" % h.ip == old)
        victim.stop("mesos-master", "KILL")
        rest = [ip for ip in ips if ip != victim.ip]
        new = wait_for("a new leading master with the agents back", lambda: (
            lambda s: s["leader"] if s and s["leader"] != old and
            sum(a["active"] for a in s["slaves"]) == 3 and s["frameworks"] else None)(master_state(rest[0])),
            timeout=60)
        self.assertIn(new, ["master@%s:5050" % ip for ip in rest])
        # Marathon found the new master: an app still deploys.
        ip = self.leader_ip()
        # (with a TCP check run by Marathon and a COMMAND check run on the agent)
        st, body = marathon(ip, "POST", "/v2/apps", web_app("/after", "ok", instances=1, healthChecks=[
            {"protocol": "TCP", "portIndex": 0, "gracePeriodSeconds": 10, "intervalSeconds": 1, "timeoutSeconds": 2},
            {"protocol": "COMMAND", "command": {"value": "test -f www/index.html && test -n \"$MESOS_TASK_ID\""},
             "gracePeriodSeconds": 10, "intervalSeconds": 1, "timeoutSeconds": 2}]))
        self.assertEqual(st, 201, body)
        a = wait_for("/after deployed", lambda: deployed(ip, "after"), timeout=60)
        self.assertEqual(page(a["tasks"][0]["host"], a["tasks"][0]["ports"][0]), "ok")
        self.assertEqual([r["alive"] for r in a["tasks"][0]["healthCheckResults"]], [True, True])
        st, listed = marathon(ip, "GET", "/v2/apps?embed=apps.tasks")
        self.assertEqual([x["id"] for x in listed["apps"]], ["/after"])
        self.assertEqual(listed["apps"][0]["tasks"][0]["id"], a["tasks"][0]["id"])
        st, tasks = marathon(ip, "GET", "/v2/tasks")
        self.assertEqual([t["appId"] for t in tasks["tasks"]], ["/after"])


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kw):
        return None


if __name__ == "__main__":
    unittest.main(verbosity=2)
