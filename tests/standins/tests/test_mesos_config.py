#!/usr/bin/python3
"""Command lines of the mesos-master, mesos-agent and marathon stand-ins
refused as the real binaries refuse them, and app bodies checked against
Marathon's RAML (no root, nothing listens)."""
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
STANDINS = os.path.dirname(HERE)
sys.path.insert(0, STANDINS)
from standin import marathon_apps, mesos_flags  # noqa: E402

MASTER = os.path.join(STANDINS, "mesos-master")
AGENT = os.path.join(STANDINS, "mesos-agent")
MARATHON = os.path.join(STANDINS, "marathon")


def run(argv, env=None):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MESOS_", "MARATHON_"))}
    base.update(env or {})
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=base)
    return r.returncode, r.stderr.strip()


class MesosFlags(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mesos-flags.")
        self.zk = "--zk=zk://127.0.0.1:1/mesos"

    def refused(self, argv, message, env=None):
        code, err = run(argv, env)
        self.assertEqual(code, 1, err)
        self.assertIn(message, err)

    def test_master(self):
        work = "--work_dir=" + self.tmp
        self.refused([MASTER, "--bogus=1"], "Failed to load unknown flag 'bogus'")
        self.refused([MASTER, "--no-bogus"], "Failed to load unknown flag 'bogus' via 'no-bogus'")
        # stout reads --name=value only: a separate value is a missing one
        self.refused([MASTER, "--port", "5050"], "Failed to load non-boolean flag 'port': Missing value")
        self.refused([MASTER, "--no-port"], "Failed to load non-boolean flag 'port' via 'no-port'")
        self.refused([MASTER, "--no-hostname_lookup=true"],
                     "Failed to load boolean flag 'hostname_lookup' via 'no-hostname_lookup' with value 'true'")
        self.refused([MASTER, "--hostname_lookup=maybe"], "Expecting a boolean (e.g., true or false)")
        self.refused([MASTER, "--port=x", work], "Failed to load flag 'port': Failed to convert into required type")
        self.refused([MASTER, work, "--work_dir=/x"], "Flag 'work_dir' is already loaded via name 'work_dir'")
        self.refused([MASTER], "--work_dir needed for replicated log based registry")
        self.refused([MASTER, work, self.zk], "Need to specify --quorum for replicated log based registry when "
                                              "using ZooKeeper")
        self.refused([MASTER, work, self.zk, "--quorum=two"],
                     "Failed to load flag 'quorum': Failed to convert into required type")
        self.refused([MASTER, work, self.zk, "--quorum=0"], "--quorum must be a positive integer")
        self.refused([MASTER, work, "--zk=http://h:2181/mesos", "--quorum=1"],
                     "Error parsing ZooKeeper URL: Expecting 'zk://' at the beginning of the URL")
        # an empty MESOS_QUORUM is a value, and not a number
        self.refused([MASTER, work, self.zk], "Failed to load flag 'quorum': Failed to convert into required type",
                     env={"MESOS_QUORUM": ""})
        self.refused([MASTER, self.zk, "--quorum=1"], "--work_dir needed", env={"MESOS_BOGUS": "1"})
        code, out = run([MASTER, "--version"])
        self.assertEqual(code, 0)

    def test_environment_is_read_and_command_line_wins(self):
        flags = mesos_flags.load(["--quorum=2"], mesos_flags.MASTER_FLAGS, mesos_flags.MASTER_ALIASES,
                                 {"MESOS_QUORUM": "3", "MESOS_WORK_DIR": "/w", "MESOS_UNKNOWN": "x",
                                  "MESOS_HOSTNAME_LOOKUP": "false"})
        self.assertEqual((flags["quorum"], flags["work_dir"], flags["hostname_lookup"]), ("2", "/w", "false"))
        self.assertNotIn("unknown", flags)
        flags = mesos_flags.load(["--slave_ping_timeout=5secs"], mesos_flags.MASTER_FLAGS, mesos_flags.MASTER_ALIASES,
                                 {})
        self.assertEqual(flags["agent_ping_timeout"], "5secs")

    def test_agent(self):
        work = "--work_dir=" + self.tmp
        self.refused([AGENT, "--master=127.0.0.1:5050"], "Flag 'work_dir' is required, but it was not provided")
        self.refused([AGENT, work], "Missing required option `--master` or `--master_detector`")
        self.refused([AGENT, work, "--master=127.0.0.1:5050", "--containerizers=docker,mesos",
                      "--docker=/nonexistent/docker"],
                     "Failed to create a containerizer: Could not create DockerContainerizer: Failed to create docker")
        self.refused([AGENT, work, "--master=127.0.0.1:5050", "--containerizers=rkt"],
                     "Unknown or unsupported containerizer: rkt")
        self.refused([AGENT, work, "--master=127.0.0.1:5050", "--resources=cpus:two"],
                     "Failed to parse resource cpus value two")
        self.refused([AGENT, work, "--master=127.0.0.1:5050", "--attributes=rack"], "Invalid attribute 'rack'")
        self.refused([AGENT, work, "--master=zk://h:2181/mesos", "--quorum=1"], "Failed to load unknown flag 'quorum'")
        self.assertEqual(mesos_flags.parse_attributes("env:staging;rack:r1;cores:4"),
                         {"env": "staging", "rack": "r1", "cores": 4.0})
        self.assertEqual(mesos_flags.parse_resources("cpus:2;mem:1024;ports(*):[31000-31010, 32000-32001]"),
                         {"cpus": 2.0, "mem": 1024.0, "ports": [(31000, 31010), (32000, 32001)]})


class MarathonFlags(unittest.TestCase):
    def refused(self, argv, message, env=None):
        code, err = run([MARATHON] + argv, env)
        self.assertEqual(code, 1, err)
        self.assertEqual(err, "[scallop] Error: " + message)

    def test_refusals(self):
        m = ["--master", "zk://127.0.0.1:1/mesos"]
        self.refused([], "Required option 'master' not found")
        self.refused(m + ["--bogus", "1"], "Unknown option 'bogus'")
        self.refused(m, "Unknown option 'bogus'", env={"MARATHON_BOGUS": "1"})
        self.refused(m + ["--http_port", "http"], "Bad arguments for option 'http_port': 'http' - wrong arguments "
                                                  "format")
        self.refused(m + ["--zk", "zk:/h/marathon"], "Bad arguments for option 'zk': 'zk:/h/marathon' - "
                     "zk:/h/marathon is not a valid zk url; it should formatted like "
                     "zk://user:pass@host1:port1,host2:port2/path, or zk://host1:port1,host2:port2/marathon")
        code, err = run([MARATHON] + m + ["--http_credentials", "nopassword"])
        self.assertEqual(code, 1)
        self.assertNotIn("nopassword", err)

    def test_toggles_and_environment(from_self):
        from standin import marathon_flags as mf
        flags = mf.load(["--disable_ha", "--http_port=9090", "--checkpoint"],
                        {"MARATHON_MASTER": "zk://h:2181/mesos", "MARATHON_APP_ID": "/x", "MARATHON_MESOS_ROLE": "r"})
        from_self.assertEqual((flags["ha"], flags["checkpoint"], flags["http_port"], flags["master"],
                               flags["mesos_role"]), (False, True, "9090", "zk://h:2181/mesos", "r"))


class Signals(unittest.TestCase):
    def stops_on_sigterm(self, argv, banner, env=None):
        import signal
        import time
        base = {k: v for k, v in os.environ.items() if not k.startswith(("MESOS_", "MARATHON_"))}
        base.update(env or {})
        p = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=base)
        lines = []
        try:
            for line in p.stderr:
                lines.append(line)
                if banner in line:
                    break
            p.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 20
            code = p.wait(max(1, deadline - time.monotonic()))
            lines.extend(p.stderr.read().splitlines(True))
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stderr.close()
        self.assertEqual(code, 0, "".join(lines))
        return "".join(lines)

    def test_master_and_marathon_stop_on_sigterm_without_printing_the_password(self):
        tmp = tempfile.mkdtemp(prefix="mesos-sig.")
        self.stops_on_sigterm([MASTER, "--ip=127.0.0.1", "--port=0", "--registry=in_memory", "--work_dir=" + tmp],
                              "Master started")
        out = self.stops_on_sigterm([MARATHON, "--master", "127.0.0.1:1", "--zk", "zk://127.0.0.1:1/marathon",
                                     "--http_address", "127.0.0.1", "--http_port", "0"],
                                    "Starting Marathon", env={"MARATHON_HTTP_CREDENTIALS": "admin:Very-Secret-1"})
        self.assertNotIn("Very-Secret-1", out)
        self.assertIn("auth=on", out)


class AppBodies(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        root = os.path.join(STANDINS, "..", "conformance", "marathon-rest-api", "api.raml")
        cls.apps = marathon_apps.Apps(root)

    def errors(self, body, update=False):
        try:
            self.apps.check_schema(body, update)
            if not update:
                self.apps.normalize(body)
        except marathon_apps.Invalid as e:
            return {d["path"]: d["errors"] for d in e.body()["details"]}
        return {}

    def test_the_documented_example_is_valid(self):
        import json
        with open(os.path.join(STANDINS, "..", "conformance", "marathon-rest-api", "v2", "examples", "app.json")) as f:
            self.assertEqual(self.errors(json.load(f)), {})

    def test_violations(self):
        self.assertEqual(self.errors({"cmd": "x"}), {"/id": ["error.path.missing"]})
        e = self.errors({"id": "/a", "cmd": "x", "mem": "lots", "instances": 1.5,
                         "portDefinitions": [{"port": 70000}], "upgradeStrategy": {"minimumHealthCapacity": 2},
                         "healthChecks": [{"protocol": "GOPHER"}], "id2": 1})
        self.assertEqual(e["/mem"], ["error.expected.jsnumber"])
        self.assertEqual(e["/instances"], ["error.expected.int"])
        self.assertEqual(e["/portDefinitions(0)/port"], ["error.max"])
        self.assertEqual(e["/upgradeStrategy/minimumHealthCapacity"], ["error.max"])
        self.assertEqual(e["/healthChecks(0)/protocol"], ["error.unknown.enum.literal"])
        self.assertEqual(self.errors({"id": "/Upper", "cmd": "x"}), {"/id": ["error.pattern"]})
        self.assertEqual(self.errors({"id": "/a"}), {"/": [
            "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."]})
        self.assertEqual(self.errors({"id": "/a", "cmd": "x", "constraints": [["hostname", "UNIQUE", "x"]]}),
                         {"/constraints(0)": ["UNIQUE does not accept a value"]})
        self.assertEqual(self.errors({"id": "/a", "cmd": "x", "constraints": [["rack", "MAX_PER"]]}),
                         {"/constraints(0)": ["MAX_PER requires an integer value"]})
        self.assertEqual(self.errors({"id": "/a", "cmd": "x", "constraints": [["rack", "LIKE", "("]]}),
                         {"/constraints(0)": ["is not a valid regular expression"]})
        self.assertEqual(self.errors({"instances": 3}, update=True), {})

    def test_defaults(self):
        app = self.apps.normalize({"id": "web", "cmd": "x"})
        self.assertEqual((app["id"], app["cpus"], app["mem"], app["instances"], app["upgradeStrategy"]),
                         ("/web", 1, 128, 1, {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0}))
        self.assertEqual(app["portDefinitions"], [{"port": 0, "protocol": "tcp", "name": "default"}])


class Placement(unittest.TestCase):
    def agent(self, host, **attrs):
        return {"hostname": host, "attributes": attrs, "resources": {"cpus": 1, "mem": 256, "disk": 0,
                                                                     "ports": [(31000, 31001)]},
                "used": {"cpus": 0, "mem": 0, "disk": 0, "gpus": 0, "ports": [31000]}}

    def test_constraints(self):
        a, b, c = self.agent("a", env="staging"), self.agent("b", env="staging"), self.agent("c", env="prod")
        app = {"constraints": [["env", "CLUSTER", "staging"], ["hostname", "UNIQUE"]]}
        self.assertTrue(marathon_apps.meets_constraints(app, a, []))
        self.assertFalse(marathon_apps.meets_constraints(app, a, [a]))
        self.assertFalse(marathon_apps.meets_constraints(app, c, []))
        self.assertTrue(marathon_apps.meets_constraints({"constraints": [["env", "LIKE", "stag.*"]]}, b, []))
        self.assertFalse(marathon_apps.meets_constraints({"constraints": [["env", "UNLIKE", "stag.*"]]}, b, []))
        self.assertFalse(marathon_apps.meets_constraints({"constraints": [["env", "MAX_PER", "1"]]}, b, [a]))
        self.assertTrue(marathon_apps.meets_constraints({"constraints": [["env", "GROUP_BY"]]}, c, [a, b, c]))
        self.assertFalse(marathon_apps.meets_constraints({"constraints": [["env", "GROUP_BY"]]}, b, [a, b, c]))
        full = {"cpus": 0.5, "mem": 64, "disk": 0, "portDefinitions": [{"port": 0}, {"port": 0}]}
        self.assertIsNone(marathon_apps.fits(full, a))  # one free port left
        self.assertEqual(marathon_apps.fits(dict(full, portDefinitions=[{"port": 0}]), a), [31001])


if __name__ == "__main__":
    unittest.main(verbosity=2)
