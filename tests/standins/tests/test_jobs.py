#!/usr/bin/python3
"""Jobs run for real by the stand-ins on namespace hosts: one server (Nomad
and Consul), two clients (Nomad and Consul agents). Deployments, service
checks through Consul, failures, schema refusals, drains, stops, lost nodes."""
import unittest

import harness
from agents import consul_agent, nomad_client, nomad_server
from harness import http, wait_for

SEC = 10**9


def setUpModule():
    harness.require_root()
    harness.PoolTest.pool = harness.Pool(3)


def tearDownModule():
    harness.PoolTest.pool.destroy()


def web_job(job_id, count=2, marker="web", health="checks"):
    return {"Job": {
        "ID": job_id, "Name": job_id, "Type": "service", "Datacenters": ["dc-a"],
        "Update": {"MaxParallel": 1, "HealthCheck": health, "MinHealthyTime": 1 * SEC, "HealthyDeadline": 20 * SEC,
                   "ProgressDeadline": 40 * SEC, "AutoRevert": False},
        "TaskGroups": [{
            "Name": "web", "Count": count,
            "Networks": [{"DynamicPorts": [{"Label": "http"}]}],
            "Services": [{"Name": job_id, "PortLabel": "http", "Tags": ["t1"],
                          "Checks": [{"Name": "alive", "Type": "http", "Path": "/", "Interval": 1 * SEC,
                                      "Timeout": 1 * SEC}]}],
            "RestartPolicy": {"Attempts": 0, "Mode": "fail", "Interval": 60 * SEC, "Delay": 1 * SEC},
            "Tasks": [{"Name": "httpd", "Driver": "raw_exec",
                       "Config": {"command": "/bin/sh", "args": ["-c",
                                  "env > $NOMAD_ALLOC_DIR/env.txt; echo hello-%s > ${NOMAD_TASK_DIR}/index.html; "
                                  "exec /bin/busybox httpd -f -p ${NOMAD_ADDR_http} -h ${NOMAD_TASK_DIR}" % marker]},
                       "Resources": {"CPU": 100, "MemoryMB": 64}}]}]}}


class Jobs(harness.PoolTest):
    def setUp(self):
        h = self.pool.hosts
        self.server, self.clients = h[0], h[1:]
        self.api = "http://%s:4646" % self.server.ip
        self.server.start("consul", {"consul.json": consul_agent(self.server.ip)})
        self.server.start("nomad", {"server.json": nomad_server(self.server.ip, expect=1)})
        for c in self.clients:
            c.start("consul", {"consul.json": consul_agent(c.ip, server=False, join=[self.server.ip])})
            c.start("nomad", {"client.json": nomad_client(c.ip, [self.server.ip])})
        wait_for("two ready clients", lambda: len([n for n in http("GET", self.api + "/v1/nodes")[1]
                                                   if n["Status"] == "ready"]) == 2)

    def allocs(self, job):
        return http("GET", self.api + "/v1/job/%s/allocations" % job)[1]

    def running(self, job, n):
        al = [a for a in self.allocs(job) if a["ClientStatus"] == "running" and a["DesiredStatus"] == "run"]
        return al if len(al) == n else None

    def deployment(self, job, status):
        st, d = http("GET", self.api + "/v1/job/%s/deployment" % job)
        return d if st == 200 and d and d["Status"] == status else None

    def host_of(self, alloc):
        ip = next(n["Address"] for n in http("GET", self.api + "/v1/nodes")[1] if n["ID"] == alloc["NodeID"])
        return next(c for c in self.clients if c.ip == ip)

    def port_of(self, alloc_id):
        a = http("GET", self.api + "/v1/allocation/" + alloc_id)[1]
        p = a["AllocatedResources"]["Shared"]["Ports"][0]
        return p["HostIP"], p["Value"]

    def test_kill_tasks_ends_the_tasks_of_its_own_host_only(self):
        # The hosts share the machine's process table and every host's tasks
        # run under the same path: the cleanup of one host must not end
        # another's (nor anything else on the machine).
        a, b = self.clients
        pid = b.ssh("mkdir -p /var/lib/nomad/alloc/probe && cd /var/lib/nomad/alloc/probe && "
                    "{ setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $!; }").stdout.strip()

        def alive():  # a zombie is dead: PID 1 may take its time to reap it
            return b.ssh("awk '$1 == \"State:\" {up = $2 != \"Z\"} END {exit !up}' /proc/%s/status" % pid,
                         check=False).returncode == 0
        self.assertTrue(alive())
        a.kill_tasks()
        self.assertTrue(alive(), "kill_tasks on %s ended a task of %s" % (a.ip, b.ip))
        b.kill_tasks()
        wait_for("the task of %s to end" % b.ip, lambda: not alive(), timeout=10)

    def test_raw_exec_job_deployment_succeeds_and_its_service_answers(self):
        st, body = http("POST", self.api + "/v1/jobs", web_job("web"))
        self.assertEqual(st, 200, body)
        self.assertTrue(body["EvalID"])
        dep = wait_for("the deployment to succeed", lambda: self.deployment("web", "successful"), timeout=60)
        g = dep["TaskGroups"]["web"]
        self.assertEqual((g["DesiredTotal"], g["HealthyAllocs"], g["UnhealthyAllocs"]), (2, 2, 0))
        self.assertEqual(dep["StatusDescription"], "Deployment completed successfully")
        allocs = self.running("web", 2)
        self.assertEqual(len({a["NodeID"] for a in allocs}), 2, "spread over both clients")
        for a in allocs:
            self.assertTrue(a["DeploymentStatus"]["Healthy"])
            ip, port = self.port_of(a["ID"])
            st, text = http("GET", "http://%s:%d/" % (ip, port))
            self.assertEqual((st, text.strip()), (200, "hello-web"))
            env = self.host_of(a).ssh("cat /var/lib/nomad/alloc/%s/alloc/env.txt" % a["ID"]).stdout
            for line in ("NOMAD_PORT_http=%d" % port, "NOMAD_IP_http=%s" % ip, "NOMAD_ADDR_http=%s:%d" % (ip, port),
                         "NOMAD_ALLOC_ID=%s" % a["ID"], "NOMAD_ALLOC_DIR=/var/lib/nomad/alloc/%s/alloc" % a["ID"],
                         "NOMAD_TASK_DIR=/var/lib/nomad/alloc/%s/httpd/local" % a["ID"], "NOMAD_JOB_NAME=web",
                         "NOMAD_REGION=europe", "NOMAD_DC=dc-a"):
                self.assertIn(line, env.splitlines())
        st, entries = http("GET", "http://%s:8500/v1/health/service/web?passing=1" % self.server.ip)
        self.assertEqual(sorted(e["Service"]["Port"] for e in entries),
                         sorted(self.port_of(a["ID"])[1] for a in allocs))
        st, svcs = http("GET", "http://%s:8500/v1/catalog/services" % self.server.ip)
        self.assertEqual(svcs["web"], ["t1"])
        self.assertEqual(sorted(svcs["nomad"]), ["http", "rpc", "serf"])
        self.assertEqual(svcs["nomad-client"], ["http"])
        st, job = http("GET", self.api + "/v1/job/web")
        self.assertEqual((job["Status"], job["Stable"], job["Version"]), ("running", True, 0))
        st, summary = http("GET", self.api + "/v1/job/web/summary")
        self.assertEqual(summary["Summary"]["web"]["Running"], 2)
        # A new version rolls over one allocation at a time to a new healthy set.
        job2 = web_job("web", marker="v2")
        st, body = http("POST", self.api + "/v1/job/web", job2)
        self.assertEqual(st, 200, body)
        dep2 = wait_for("the second deployment", lambda: (lambda d: d if d and d["JobVersion"] == 1 and
                                                         d["Status"] == "successful" else None)(
            http("GET", self.api + "/v1/job/web/deployment")[1]), timeout=60)
        self.assertNotEqual(dep2["ID"], dep["ID"])
        new = self.running("web", 2)
        self.assertTrue(all(a["JobVersion"] == 1 for a in new))
        ip, port = self.port_of(new[0]["ID"])
        self.assertEqual(http("GET", "http://%s:%d/" % (ip, port))[1].strip(), "hello-v2")

    def test_hcl_job_is_parsed_with_variables_and_a_batch_run_completes(self):
        hcl = '''
variable "greeting" {
  type    = string
  default = "unset"
}
job "batchy" {
  datacenters = ["dc-a"]
  type        = "batch"
  group "once" {
    task "write" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo ${var.greeting} > ${NOMAD_ALLOC_DIR}/out.txt"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
'''
        st, job = http("POST", self.api + "/v1/jobs/parse", {"JobHCL": hcl, "Canonicalize": True,
                                                              "Variables": 'greeting = "bonjour"\n'})
        self.assertEqual(st, 200, job)
        task = job["TaskGroups"][0]["Tasks"][0]
        self.assertEqual(task["Config"]["args"][1], "echo bonjour > ${NOMAD_ALLOC_DIR}/out.txt")
        self.assertEqual((job["ID"], job["Type"], job["TaskGroups"][0]["Count"]), ("batchy", "batch", 1))
        self.assertEqual(task["Resources"]["MemoryMB"], 32)
        st, body = http("POST", self.api + "/v1/jobs/parse", {"JobHCL": 'job "x" {\n  colour = "red"\n}\n'})
        self.assertEqual(st, 400)
        self.assertIn('An argument named "colour" is not expected here', body)
        st, body = http("POST", self.api + "/v1/jobs", {"Job": job})
        self.assertEqual(st, 200, body)
        done = wait_for("the batch allocation to complete", lambda: next(
            (a for a in self.allocs("batchy") if a["ClientStatus"] == "complete"), None), timeout=30)
        self.assertEqual(self.host_of(done).ssh("cat /var/lib/nomad/alloc/%s/alloc/out.txt" % done["ID"]).stdout,
                         "bonjour\n")
        wait_for("the batch job to be dead", lambda: http("GET", self.api + "/v1/job/batchy")[1]["Status"] == "dead")

    def test_task_exiting_1_fails_the_deployment(self):
        job = web_job("broken", count=1, health="task_states")
        job["Job"]["TaskGroups"][0]["Tasks"][0]["Config"] = {"command": "/bin/sh", "args": ["-c", "sleep 0.5; exit 1"]}
        job["Job"]["TaskGroups"][0]["Services"] = []
        st, body = http("POST", self.api + "/v1/jobs", job)
        self.assertEqual(st, 200, body)
        dep = wait_for("the deployment to fail", lambda: self.deployment("broken", "failed"), timeout=60)
        self.assertEqual(dep["StatusDescription"], "Failed due to unhealthy allocations")
        self.assertEqual(dep["TaskGroups"]["web"]["UnhealthyAllocs"], 1)
        a = self.allocs("broken")[0]
        self.assertEqual(a["ClientStatus"], "failed")
        self.assertFalse(a["DeploymentStatus"]["Healthy"])
        events = a["TaskStates"]["httpd"]["Events"]
        self.assertIn(("Terminated", 1), [(e["Type"], e["ExitCode"]) for e in events])
        self.assertEqual(events[-1]["Type"], "Not Restarting")
        self.assertTrue(a["TaskStates"]["httpd"]["Failed"])

    def test_job_bodies_violating_the_openapi_schema_get_400_and_invalid_jobs_500(self):
        bad = [
            {"Job": {"ID": "x", "Datacenters": ["dc-a"], "TaskGroups": [{"Name": "g", "Count": "2"}]}},
            {"Job": {"ID": "x", "Datacenters": "dc-a"}},
            {"Job": {"ID": 7}},
            {"Job": {"ID": "x", "Datacenters": ["dc-a"], "Update": {"MinHealthyTime": "10s"}}},
            {"Job": {"ID": "x", "Datacenters": ["dc-a"], "TaskGroups": [{"Name": "g", "Tasks": [
                {"Name": "t", "Driver": "raw_exec", "Env": {"K": 1}}]}]}},
        ]
        for body in bad:
            with self.subTest(body=body):
                st, text = http("POST", self.api + "/v1/jobs", body)
                self.assertEqual(st, 400, text)
                self.assertIn("Failed to decode request body", text)
        st, text = http("POST", self.api + "/v1/jobs", b"{not json")
        self.assertEqual(st, 400)
        invalid = {"Job": {"ID": "x", "TaskGroups": [{"Name": "g", "Count": -1, "Tasks": [{"Name": "t"}]}]}}
        st, text = http("POST", self.api + "/v1/jobs", invalid)
        self.assertEqual(st, 500)
        for fragment in ("Missing job datacenters", "Task group count can't be negative", "Missing task driver"):
            self.assertIn(fragment, text)
        self.assertEqual(http("GET", self.api + "/v1/jobs")[1], [])

    def test_drain_moves_allocations_and_marks_the_node_ineligible(self):
        st, body = http("POST", self.api + "/v1/jobs", web_job("mover", count=2, health="task_states"))
        self.assertEqual(st, 200, body)
        wait_for("the deployment", lambda: self.deployment("mover", "successful"), timeout=60)
        allocs = self.running("mover", 2)
        victim = allocs[0]["NodeID"]
        st, body = http("POST", self.api + "/v1/node/%s/drain" % victim,
                        {"DrainSpec": {"Deadline": 60 * SEC, "IgnoreSystemJobs": False}, "Meta": {}})
        self.assertEqual(st, 200, body)
        node = http("GET", self.api + "/v1/node/" + victim)[1]
        self.assertEqual(node["SchedulingEligibility"], "ineligible")
        moved = wait_for("both allocations off the drained node", lambda: (lambda r: r if r and all(
            a["NodeID"] != victim for a in r) else None)(self.running("mover", 2)), timeout=60)
        self.assertEqual(len({a["NodeID"] for a in moved}), 1)
        old = wait_for("the migrated allocation stopped", lambda: next(
            (a for a in self.allocs("mover") if a["ID"] == allocs[0]["ID"] and a["ClientStatus"] == "complete"), None))
        self.assertEqual(old["DesiredStatus"], "stop")
        self.assertTrue(old["DesiredTransition"].get("Migrate"))
        done = wait_for("the drain to complete", lambda: (lambda n: n if not n["Drain"] else None)(
            http("GET", self.api + "/v1/node/" + victim)[1]), timeout=30)
        self.assertEqual(done["SchedulingEligibility"], "ineligible")
        self.assertEqual(done["LastDrain"]["Status"], "complete")
        st, body = http("POST", self.api + "/v1/node/%s/eligibility" % victim, {"Eligibility": "eligible"})
        self.assertEqual(st, 200, body)
        self.assertEqual(http("GET", self.api + "/v1/node/" + victim)[1]["SchedulingEligibility"], "eligible")

    def test_job_stop_kills_the_processes(self):
        job = web_job("stopper", count=2, marker="stopme", health="task_states")
        http("POST", self.api + "/v1/jobs", job)
        allocs = wait_for("two running allocations", lambda: self.running("stopper", 2), timeout=30)
        pids = {}
        for a in allocs:
            h = self.host_of(a)
            out = h.ssh("pgrep -f '[b]usybox httpd -f -p %s:%d'" % self.port_of(a["ID"]), check=False).stdout.split()
            self.assertTrue(out, "no process for %s" % a["ID"])
            pids[h.ip] = (h, out)
        st, body = http("DELETE", self.api + "/v1/job/stopper")
        self.assertEqual(st, 200, body)
        self.assertTrue(body["EvalID"])
        wait_for("every allocation complete", lambda: all(
            a["ClientStatus"] == "complete" and a["DesiredStatus"] == "stop" for a in self.allocs("stopper")), timeout=30)
        for h, out in pids.values():
            left = h.ssh("for p in %s; do kill -0 $p 2>/dev/null && echo $p; done; true" % " ".join(out)).stdout
            self.assertEqual(left.strip(), "", "processes left on %s" % h.ip)
        self.assertEqual(http("GET", self.api + "/v1/job/stopper")[1]["Status"], "dead")
        st, body = http("DELETE", self.api + "/v1/job/stopper?purge=true")
        self.assertEqual(st, 200)
        self.assertEqual(http("GET", self.api + "/v1/job/stopper")[0], 404)

    def test_client_that_disappears_goes_down_and_its_allocations_are_replaced(self):
        http("POST", self.api + "/v1/jobs", web_job("survivor", count=1, health="task_states"))
        first = wait_for("a running allocation", lambda: self.running("survivor", 1), timeout=30)[0]
        gone = self.host_of(first)
        gone.stop("nomad", "KILL")
        node = wait_for("the node to be down", lambda: (lambda n: n if n["Status"] == "down" else None)(
            http("GET", self.api + "/v1/node/" + first["NodeID"])[1]), timeout=30)
        self.assertEqual(node["Status"], "down")
        lost = wait_for("the allocation lost", lambda: next((a for a in self.allocs("survivor")
                                                             if a["ID"] == first["ID"] and a["ClientStatus"] == "lost"),
                                                            None), timeout=15)
        self.assertEqual(lost["DesiredStatus"], "stop")
        repl = wait_for("a replacement elsewhere", lambda: self.running("survivor", 1), timeout=30)[0]
        self.assertNotEqual(repl["NodeID"], first["NodeID"])

    def test_restarted_agents_keep_their_jobs_and_reattach_to_running_tasks(self):
        http("POST", self.api + "/v1/jobs", web_job("steady", count=1, marker="steady", health="task_states"))
        a = wait_for("a running allocation", lambda: self.running("steady", 1), timeout=30)[0]
        host = self.host_of(a)
        pattern = "[b]usybox httpd -f -p %s:%d" % self.port_of(a["ID"])
        before = host.ssh("pgrep -f '%s'" % pattern).stdout.split()
        self.assertEqual(len(before), 1)
        for x, kind in ((self.server, "nomad"), (host, "nomad")):
            x.stop(kind)
            x.relaunch(kind)
        wait_for("the leader back", lambda: http("GET", self.api + "/v1/status/leader")[1])
        st, job = http("GET", self.api + "/v1/job/steady")
        self.assertEqual((st, job["Version"]), (200, 0))
        again = wait_for("the same allocation running", lambda: self.running("steady", 1), timeout=30)[0]
        self.assertEqual(again["ID"], a["ID"])
        # the client reattaches once the restarted server hands it the allocation
        wait_for("the client to reattach", lambda: "reattached to task" in host.log("nomad"), timeout=60)
        self.assertEqual(host.ssh("pgrep -f '%s'" % pattern).stdout.split(), before)
        http("DELETE", self.api + "/v1/job/steady")
        wait_for("the task killed", lambda: host.ssh("pgrep -f '%s'" % pattern, check=False).returncode == 1)


if __name__ == "__main__":
    harness.require_root()
    unittest.main(verbosity=2)
