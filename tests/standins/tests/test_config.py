#!/usr/bin/python3
"""Both agents refuse, with exit status 1 and a message like the real
agent's, every configuration of a table of bad ones; and accept good ones
far enough to serve their HTTP API. No network beyond loopback."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

import pki
from harness import CONSUL, NOMAD

KEY16 = "cg8StVXbQJ0gPvMd9o7yrg=="
GOOD_NOMAD = {"data_dir": "/tmp/x", "server": {"enabled": True, "bootstrap_expect": 1}}
GOOD_CONSUL = {"data_dir": "/tmp/x", "server": True, "bootstrap_expect": 1, "bind_addr": "127.0.0.1"}


class ConfigRefusals(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="standins-config.")
        ca = pki.make_ca(cls.dir)
        cls.ca = ca
        cls.cert, cls.key = pki.make_cert(cls.dir, "node", ["server.global.nomad"], ["127.0.0.1"])
        cls.other_key = pki.make_key(cls.dir, "other.key")
        with open(os.path.join(cls.dir, "garbage.pem"), "w") as f:
            f.write("not a certificate\n")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def run_agent(self, exe, args, timeout=15):
        return subprocess.run([exe] + args, capture_output=True, text=True, timeout=timeout)

    def refuse(self, exe, files, fragment, flag):
        d = tempfile.mkdtemp(dir=self.dir)
        for i, cfg in enumerate(files):
            with open(os.path.join(d, "%02d.json" % i), "w") as f:
                f.write(cfg if isinstance(cfg, str) else json.dumps(cfg))
        r = self.run_agent(exe, ["agent", flag + d])
        self.assertEqual(r.returncode, 1, "accepted %r: %s" % (files, r.stderr))
        self.assertIn(fragment, r.stderr, "config %r" % (files,))
        for secret in (KEY16, "deadbeef-0000-4000-8000-000000000001"):
            self.assertNotIn(secret, r.stderr)

    def test_nomad_refuses_every_bad_configuration_of_the_table(self):
        d = self.dir
        table = [
            ([{"data_dir": "/tmp/x", "server": {"enabled": True, "bootstrap_expct": 1}}], "unexpected keys server.bootstrap_expct"),
            ([{"data_dir": "/tmp/x", "bogus": 1, "server": {"enabled": True}}], "unexpected keys bogus"),
            ([{"data_dir": "/tmp/x", "client": {"enabled": True, "server_join": {"retry_jion": []}}}],
             "unexpected keys client.server_join.retry_jion"),
            ([{"data_dir": "/tmp/x", "server": {"enabled": True, "bootstrap_expect": "three"}}],
             "'server.bootstrap_expect' expected type 'int'"),
            ([{"data_dir": "/tmp/x", "server": [{"enabled": "yes"}]}], "'server.enabled' expected type 'bool'"),
            ([{"server": {"enabled": True}}], "Must specify data directory"),
            ([{"data_dir": "var/lib/nomad", "server": {"enabled": True}}], "data-dir must be given as an absolute path"),
            ([{"data_dir": "/tmp/x"}], "Must specify either server, client or dev mode"),
            ([{"data_dir": "/tmp/x", "client": {"enabled": True}, "server": {"bootstrap_expect": 3}}],
             "Bootstrap requires server mode to be enabled"),
            ([{"data_dir": "/tmp/x", "server": {"enabled": True, "encrypt": "not base64!"}}], "Failed to decode encryption key"),
            ([{"data_dir": "/tmp/x", "server": {"enabled": True, "encrypt": "YWJj"}}], "key size must be 16, 24 or 32 bytes"),
            ([{"data_dir": "/tmp/x", "bind_addr": "10.0.0.300", "server": {"enabled": True}}], "bind_addr"),
            ([{"data_dir": "/tmp/x", "client": {"enabled": True, "servers": ["10.0.0.1:99999"]}}], "invalid port"),
            ([{"data_dir": "/tmp/x", "server": {"enabled": True}, "tls": {"http": True}}],
             "cert_file and key_file must both be provided"),
            ([{"data_dir": "/tmp/x", "server": {"enabled": True},
               "tls": {"http": True, "cert_file": d + "/missing.pem", "key_file": self.key}}], "no such file or directory"),
            ([{"data_dir": "/tmp/x", "server": {"enabled": True},
               "tls": {"http": True, "cert_file": d + "/garbage.pem", "key_file": self.key}}], "failed to load cert/key pair"),
            ([{"data_dir": "/tmp/x", "server": {"enabled": True},
               "tls": {"http": True, "cert_file": self.cert, "key_file": self.other_key}}], "failed to load cert/key pair"),
            (["{\"data_dir\": \"/tmp/x\", "], "Error decoding"),
            ([GOOD_NOMAD, {"acl": {"enabled": True, "replication_tokn": "x"}}], "unexpected keys acl.replication_tokn"),
            ([GOOD_NOMAD, {"plugin": {"raw_exec": {"config": {"enabled": True, "colour": 1}}}}],
             "unexpected keys plugin.raw_exec.config.colour"),
        ]
        for files, fragment in table:
            with self.subTest(fragment=fragment):
                self.refuse(NOMAD, files, fragment, "-config=")

    def test_consul_refuses_every_bad_configuration_of_the_table(self):
        d = self.dir
        table = [
            ([dict(GOOD_CONSUL, bootstrap_expected=3)], "invalid config key bootstrap_expected"),
            ([dict(GOOD_CONSUL, acl={"enabled": True, "tokens": {"initial_managment": "x"}})],
             "invalid config key acl.tokens.initial_managment"),
            ([dict(GOOD_CONSUL, ports={"htp": 8500})], "invalid config key ports.htp"),
            ([dict(GOOD_CONSUL, bootstrap_expect="3")], "'bootstrap_expect' expected type 'int'"),
            ([{"server": True}], "data_dir cannot be empty"),
            ([dict(GOOD_CONSUL, data_dir="consul")], "must be an absolute path"),
            ([{"data_dir": "/tmp/x", "bootstrap_expect": 3}], "'bootstrap_expect > 0' requires 'server = true'"),
            ([dict(GOOD_CONSUL, bootstrap=True)], "'bootstrap_expect > 0' and 'bootstrap = true' are mutually exclusive"),
            ([dict(GOOD_CONSUL, datacenter="Euro Pe")], "datacenter cannot be"),
            ([dict(GOOD_CONSUL, encrypt="%%%")], "Failed to decode encryption key"),
            ([dict(GOOD_CONSUL, encrypt="YWJj")], "key size must be 16, 24 or 32 bytes"),
            ([dict(GOOD_CONSUL, bind_addr="10.1.2")], "bind_addr"),
            ([dict(GOOD_CONSUL, client_addr="127.0.0.1 nonsense")], "client_addr"),
            ([dict(GOOD_CONSUL, retry_join_wan=["10.0.0.1"], server=False, bootstrap_expect=0)],
             "'retry_join_wan' requires 'server = true'"),
            ([dict(GOOD_CONSUL, tls={"defaults": {"cert_file": self.cert}})], "cert_file and key_file must both be set"),
            ([dict(GOOD_CONSUL, tls={"defaults": {"ca_file": d + "/nope.pem"}})], "no such file or directory"),
            ([dict(GOOD_CONSUL, tls={"defaults": {"cert_file": self.cert, "key_file": self.other_key}})],
             "failed to load cert/key pair"),
            ([dict(GOOD_CONSUL, tls={"defaults": {"verify_incoming": True, "cert_file": self.cert, "key_file": self.key}})],
             "VerifyIncoming set but no CA file"),
            ([dict(GOOD_CONSUL, ports={"https": 8501})], "no certificate is configured"),
            ([dict(GOOD_CONSUL, acl={"enabled": True, "default_policy": "maybe"})], "default_policy"),
            ([dict(GOOD_CONSUL, encrypt=KEY16, acl={"tokens": {"agent": "deadbeef-0000-4000-8000-000000000001"}},
                   ui_config={"enable": True})], "invalid config key ui_config.enable"),
        ]
        for files, fragment in table:
            with self.subTest(fragment=fragment):
                self.refuse(CONSUL, files, fragment, "-config-dir=")

    def test_command_lines_of_both_agents(self):
        r = self.run_agent(NOMAD, ["version"])
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^Nomad v1\.7\.\d+")
        r = self.run_agent(CONSUL, ["version"])
        self.assertRegex(r.stdout, r"^Consul v1\.17\.\d+")
        r = self.run_agent(CONSUL, ["keygen"])
        import base64
        self.assertEqual(len(base64.b64decode(r.stdout.strip(), validate=True)), 32)
        r = self.run_agent(NOMAD, ["agent", "-confg=/etc/nomad.d"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("flag provided but not defined: -confg", r.stderr)
        r = self.run_agent(CONSUL, ["agent", "-config-file", "/nonexistent/x.json"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("no such file or directory", r.stderr)

    def _serve(self, argv, url):
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(url, timeout=2) as r:
                        return json.loads(r.read())
                except OSError:
                    time.sleep(0.2)
            self.fail("no answer on %s" % url)
        finally:
            p.send_signal(signal.SIGTERM)
            err = p.communicate(timeout=10)[1]
            self.assertNotIn(KEY16, err)

    def test_agents_accept_a_block_as_an_object_or_a_list_and_serve_on_the_configured_port(self):
        d = tempfile.mkdtemp(dir=self.dir)
        cfg = {"data_dir": d + "/nomad", "bind_addr": "127.0.0.1", "ports": [{"http": 24646, "rpc": 24647, "serf": 24648}],
               "server": [{"enabled": True, "bootstrap_expect": 1, "encrypt": KEY16}]}
        with open(d + "/a.json", "w") as f:
            json.dump(cfg, f)
        with open(d + "/b.json", "w") as f:
            json.dump({"region": "later-wins"}, f)
        leader = None
        deadline = time.monotonic() + 15
        p = subprocess.Popen([NOMAD, "agent", "-config", d + "/a.json", "-config=" + d + "/b.json"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            while time.monotonic() < deadline and not leader:
                try:
                    with urllib.request.urlopen("http://127.0.0.1:24646/v1/status/leader", timeout=2) as r:
                        leader = json.loads(r.read())
                    with urllib.request.urlopen("http://127.0.0.1:24646/v1/regions", timeout=2) as r:
                        regions = json.loads(r.read())
                except OSError:
                    pass
                time.sleep(0.2)
        finally:
            p.send_signal(signal.SIGTERM)
            err = p.communicate(timeout=10)[1]
        self.assertEqual(leader, "127.0.0.1:24647", err)
        self.assertEqual(regions, ["later-wins"])
        self.assertNotIn(KEY16, err)
        os.mkdir(d + "/consul.d")
        with open(d + "/consul.d/a.json", "w") as f:
            json.dump({"data_dir": d + "/consul", "server": True, "bootstrap_expect": 1, "bind_addr": "127.0.0.1",
                       "client_addr": "127.0.0.1", "encrypt": KEY16,
                       "ports": {"http": 28500, "server": 28300, "serf_lan": 28301, "serf_wan": 28302}}, f)
        me = self._serve([CONSUL, "agent", "-config-dir=" + d + "/consul.d"], "http://127.0.0.1:28500/v1/agent/self")
        self.assertEqual(me["Config"]["Datacenter"], "dc1")
        self.assertTrue(me["Config"]["Server"])


sys.path.insert(0, os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")))
from standin import consul_conf, nomad_conf  # noqa: E402
from standin.confload import ConfigError  # noqa: E402

PACKAGE = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "conformance",
                                        "package-defaults"))


class ConfigDirectories(unittest.TestCase):
    """Every .hcl and .json file of a directory, in name order, merged by
    the real agents' rules: what a package's default file does to ours."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="standins-merge.")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, name, content):
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(content if isinstance(content, str) else json.dumps(content))

    def test_nomad_package_file_makes_a_client_a_server_and_adds_localhost(self):
        self.write("agent.json", {"data_dir": "/var/lib/nomad", "bind_addr": "10.0.0.5",
                                  "client": {"enabled": True, "servers": ["10.0.0.2:4647"]}})
        shutil.copy(os.path.join(PACKAGE, "nomad.hcl"), self.dir)
        self.write("secrets.json", {"server": {"enabled": False}})  # false never undoes true
        self.write("nomad.hcl~", "this editor backup is not read")
        cfg = nomad_conf.NomadConfig(nomad_conf.load([self.dir]))
        self.assertTrue(cfg.server and cfg.client)
        self.assertEqual(cfg.bootstrap_expect, 1)
        self.assertEqual(cfg.client_servers, ["10.0.0.2:4647", "127.0.0.1"])
        self.assertEqual((cfg.data_dir, cfg.bind["http"]), ("/opt/nomad/data", "0.0.0.0"))
        os.rename(os.path.join(self.dir, "nomad.hcl"), os.path.join(self.dir, "nomad.hcl.infra-disabled"))
        cfg = nomad_conf.NomadConfig(nomad_conf.load([self.dir]))
        self.assertEqual((cfg.server, cfg.client, cfg.client_servers), (False, True, ["10.0.0.2:4647"]))

    def test_nomad_lists_replace_or_append_as_nomad_merges_them(self):
        self.write("a.json", {"data_dir": "/d", "server": {"enabled": True, "server_join": {"retry_join": ["a"]},
                                                           "retry_join": ["x"]}})
        self.write("b.hcl", 'server {\n  server_join {\n    retry_join = ["b"]\n  }\n  retry_join = ["y"]\n}\n')
        raw = nomad_conf.load([self.dir])
        self.assertEqual(raw["server"]["server_join"]["retry_join"], ["b"])
        self.assertEqual(raw["server"]["retry_join"], ["x", "y"])

    def test_consul_package_file_and_merge_rules(self):
        self.write("agent.json", {"data_dir": "/var/lib/consul", "server": True, "retry_join": ["a"],
                                  "node_meta": {"x": "1"}})
        shutil.copy(os.path.join(PACKAGE, "consul.hcl"), self.dir)
        self.write("z.json", {"server": False, "retry_join": ["b"], "node_meta": {"y": "2"}})
        raw = consul_conf.load([], [self.dir])
        self.assertEqual(raw["data_dir"], "/opt/consul")
        self.assertIs(raw["server"], False)  # a set false wins in Consul
        self.assertEqual(raw["retry_join"], ["a", "b"])
        self.assertEqual(raw["node_meta"], {"y": "2"})

    def test_consul_lower_cases_datacenter_names_and_refuses_others(self):
        base = {"data_dir": "/d", "bind_addr": "127.0.0.1"}
        cfg = consul_conf.ConsulConfig(dict(base, datacenter="Europe", primary_datacenter="Europe"))
        self.assertEqual((cfg.datacenter, cfg.primary_datacenter), ("europe", "europe"))
        with self.assertRaises(ConfigError) as e:
            consul_conf.ConsulConfig(dict(base, datacenter="eu.west"))
        self.assertIn("datacenter cannot be 'eu.west'. Please use only [a-z0-9-_].", str(e.exception))
        with self.assertRaises(ConfigError):
            consul_conf.ConsulConfig(dict(base, primary_datacenter="eu.west"))


if __name__ == "__main__":
    unittest.main()
