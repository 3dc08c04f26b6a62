#!/usr/bin/python3
"""Clusters formed by the stand-ins on namespace hosts, only through the
addresses their configurations name: leader election, client registration,
federation, gossip keys, ACLs and TLS."""
import os
import shutil
import socket
import ssl
import tempfile
import unittest
import urllib.error
import uuid
import http.client as http_client

import harness
import pki
from agents import consul_agent, nomad_client, nomad_server
from harness import http, wait_for

KEY_A = "cg8StVXbQJ0gPvMd9o7yrg=="
KEY_B = "HlTI9oKTl1nt3DGVoWfWSw=="


def setUpModule():
    harness.require_root()
    harness.PoolTest.pool = harness.Pool(5)


def tearDownModule():
    harness.PoolTest.pool.destroy()


def leader_of(ip, region=None):
    st, body = http("GET", "http://%s:4646/v1/status/leader%s" % (ip, "?region=" + region if region else ""))
    return body if st == 200 else None


class Clustering(harness.PoolTest):
    def hosts(self):
        return self.pool.hosts

    def test_three_servers_elect_one_leader_and_a_client_registers(self):
        h = self.hosts()
        ips = [x.ip for x in h[:3]]
        for i, x in enumerate(h[:3]):
            x.start("nomad", {"server.json": nomad_server(x.ip, join=[ip for ip in ips if ip != x.ip])})
        h[3].start("nomad", {"client.json": nomad_client(h[3].ip, [ips[1]])})
        leaders = wait_for("one leader seen by all three servers",
                           lambda: len({leader_of(ip) for ip in ips}) == 1 and leader_of(ips[0]) and
                           {leader_of(ip) for ip in ips})
        leader = leaders.pop()
        self.assertIn(leader, ["%s:4647" % ip for ip in ips])
        st, peers = http("GET", "http://%s:4646/v1/status/peers" % ips[2])
        self.assertEqual(sorted(peers), sorted("%s:4647" % ip for ip in ips))
        st, members = http("GET", "http://%s:4646/v1/agent/members" % ips[0])
        self.assertEqual(sorted(m["Addr"] for m in members["Members"]), sorted(ips))
        self.assertTrue(all(m["Status"] == "alive" and m["Tags"]["region"] == "europe" for m in members["Members"]))
        node = wait_for("the client registered and ready", lambda: next(
            (n for n in http("GET", "http://%s:4646/v1/nodes" % ips[0])[1] if n["Status"] == "ready"), None))
        self.assertEqual(node["Address"], h[3].ip)
        self.assertEqual(node["Datacenter"], "dc-a")
        self.assertTrue(node["Drivers"]["raw_exec"]["Detected"] and node["Drivers"]["raw_exec"]["Healthy"])
        self.assertFalse(node["Drivers"]["docker"]["Detected"])
        st, health = http("GET", "http://%s:4646/v1/agent/health" % h[3].ip)
        self.assertEqual((st, health["client"]["ok"]), (200, True))
        # The leader stays while it lives; when it goes, the others elect a new one.
        old = next(x for x in h[:3] if "%s:4647" % x.ip == leader)
        old.stop("nomad", "KILL")
        rest = [ip for ip in ips if ip != old.ip]
        new = wait_for("a new leader among the two left", lambda: len({leader_of(ip) for ip in rest}) == 1 and
                       leader_of(rest[0]) not in ("", None, leader) and leader_of(rest[0]), timeout=40)
        self.assertIn(new, ["%s:4647" % ip for ip in rest])

    def test_wrong_retry_join_address_leaves_the_servers_without_leader(self):
        h = self.hosts()
        wrong = h[0].ip.rsplit(".", 1)[0] + ".250"
        for x in h[:3]:
            x.start("nomad", {"server.json": nomad_server(x.ip, join=[wrong])})
        wait_for("the HTTP API", lambda: leader_of(h[0].ip) is not None)
        import time
        time.sleep(6)
        for x in h[:3]:
            self.assertEqual(leader_of(x.ip), "")
            st, members = http("GET", "http://%s:4646/v1/agent/members" % x.ip)
            self.assertEqual([m["Addr"] for m in members["Members"]], [x.ip])
        st, health = http("GET", "http://%s:4646/v1/agent/health" % h[0].ip)
        self.assertEqual(st, 500)
        self.assertIn("join failed", h[0].log("nomad"))

    def test_two_regions_federate_through_agent_join_and_forward_requests(self):
        h = self.hosts()
        eu, us = h[0], h[4]
        eu.start("nomad", {"server.json": nomad_server(eu.ip, region="europe", expect=1)})
        us.start("nomad", {"server.json": nomad_server(us.ip, region="us", expect=1, authoritative="europe")})
        wait_for("both leaders", lambda: leader_of(eu.ip) and leader_of(us.ip))
        st, body = http("PUT", "http://%s:4646/v1/agent/join" % us.ip)
        self.assertEqual(st, 400)
        st, body = http("PUT", "http://%s:4646/v1/agent/join?address=%s:4648" % (us.ip, eu.ip))
        self.assertEqual((st, body), (200, {"num_joined": 1, "error": ""}))
        for x in (eu, us):
            wait_for("both regions on %s" % x.ip,
                     lambda x=x: http("GET", "http://%s:4646/v1/regions" % x.ip)[1] == ["europe", "us"])
        self.assertEqual(leader_of(us.ip, region="europe"), "%s:4647" % eu.ip)
        job = {"Job": {"ID": "far", "Datacenters": ["dc-a"], "TaskGroups": [{"Name": "g", "Count": 0, "Tasks": [
            {"Name": "t", "Driver": "raw_exec", "Config": {"command": "/bin/true"}}]}]}}
        st, body = http("POST", "http://%s:4646/v1/jobs?region=europe" % us.ip, job)
        self.assertEqual(st, 200, body)
        st, body = http("GET", "http://%s:4646/v1/job/far" % eu.ip)
        self.assertEqual((st, body["Region"]), (200, "europe"))
        st, body = http("GET", "http://%s:4646/v1/job/far" % us.ip)
        self.assertEqual(st, 404)
        # A job naming its region goes there; "global" means the request's region.
        job["Job"].update(ID="named", Region="europe")
        self.assertEqual(http("POST", "http://%s:4646/v1/jobs" % us.ip, job)[0], 200)
        self.assertEqual(http("GET", "http://%s:4646/v1/job/named" % eu.ip)[1]["Region"], "europe")
        job["Job"].update(ID="default", Region="global")
        self.assertEqual(http("POST", "http://%s:4646/v1/jobs" % us.ip, job)[0], 200)
        self.assertEqual(http("GET", "http://%s:4646/v1/job/default" % us.ip)[1]["Region"], "us")
        st, body = http("GET", "http://%s:4646/v1/jobs?region=mars" % us.ip)
        self.assertEqual(st, 500)
        self.assertIn("No path to region", body)

    def test_mismatched_gossip_keys_refuse_the_join_with_an_error(self):
        h = self.hosts()
        a, b = h[0], h[1]
        a.start("nomad", {"server.json": nomad_server(a.ip, expect=1, key=KEY_A)})
        b.start("nomad", {"server.json": nomad_server(b.ip, region="us", expect=1, key=KEY_B)})
        a.start("consul", {"consul.json": consul_agent(a.ip, key=KEY_A)})
        b.start("consul", {"consul.json": consul_agent(b.ip, server=False, key=KEY_B)})
        wait_for("both nomad leaders", lambda: leader_of(a.ip) and leader_of(b.ip))
        st, body = http("PUT", "http://%s:4646/v1/agent/join?address=%s" % (b.ip, a.ip))
        self.assertEqual(st, 200)
        self.assertEqual(body["num_joined"], 0)
        self.assertIn("No installed keys could decrypt the message", body["error"])
        self.assertEqual(http("GET", "http://%s:4646/v1/regions" % b.ip)[1], ["us"])
        wait_for("consul HTTP", lambda: http("GET", "http://%s:8500/v1/agent/self" % b.ip)[0] == 200)
        st, body = http("PUT", "http://%s:8500/v1/agent/join/%s" % (b.ip, a.ip))
        self.assertEqual(st, 500)
        self.assertIn("No installed keys could decrypt the message", body)
        st, members = http("GET", "http://%s:8500/v1/agent/members" % b.ip)
        self.assertEqual([m["Addr"] for m in members], [b.ip])
        for x in (a, b):
            for kind in ("nomad", "consul"):
                log = x.log(kind)
                self.assertNotIn(KEY_A, log)
                self.assertNotIn(KEY_B, log)

    def test_acl_bootstrap_chooses_the_management_token_and_anonymous_gets_403(self):
        h = self.hosts()
        eu, us = h[0], h[1]
        secret = str(uuid.uuid4())
        eu.start("nomad", {"server.json": nomad_server(eu.ip, expect=1, acl=True)})
        us.start("nomad", {"server.json": nomad_server(us.ip, region="us", expect=1, acl=True, authoritative="europe",
                                                       replication_token=secret)})
        wait_for("leaders", lambda: leader_of(eu.ip) and leader_of(us.ip))
        base = "http://%s:4646" % eu.ip
        st, body = http("GET", base + "/v1/jobs")
        self.assertEqual((st, body), (403, "Permission denied"))
        st, tok = http("POST", base + "/v1/acl/bootstrap", {"BootstrapSecret": secret})
        self.assertEqual(st, 200, tok)
        self.assertEqual((tok["SecretID"], tok["Type"]), (secret, "management"))
        st, body = http("GET", base + "/v1/jobs", token=secret)
        self.assertEqual((st, body), (200, []))
        st, body = http("GET", base + "/v1/jobs", token=str(uuid.uuid4()))
        self.assertEqual((st, body), (403, "ACL token not found"))
        st, body = http("POST", base + "/v1/acl/bootstrap", {"BootstrapSecret": str(uuid.uuid4())})
        self.assertEqual(st, 400)
        self.assertIn("ACL bootstrap already done", body)
        st, me = http("GET", base + "/v1/acl/token/self", token=secret)
        self.assertEqual(me["AccessorID"], tok["AccessorID"])
        # The other region accepts the authoritative region's token once federated.
        st, body = http("GET", "http://%s:4646/v1/jobs" % us.ip, token=secret)
        self.assertEqual((st, body), (403, "ACL token not found"))
        st, body = http("PUT", "http://%s:4646/v1/agent/join?address=%s" % (us.ip, eu.ip), token=secret)
        self.assertEqual((st, body), (403, "ACL token not found"))
        st, body = http("PUT", "http://%s:4646/v1/agent/join?address=%s" % (eu.ip, us.ip), token=secret)
        self.assertEqual(body["num_joined"], 1)
        wait_for("the token replicated to us", lambda: http("GET", "http://%s:4646/v1/jobs" % us.ip, token=secret)[0] == 200)
        self.assertEqual(http("GET", "http://%s:4646/v1/jobs" % us.ip)[0], 403)
        for x in (eu, us):
            self.assertNotIn(secret, x.log("nomad"))

    def test_https_serves_the_configured_certificate_signed_by_the_test_ca(self):
        h = self.hosts()
        a, c = h[0], h[1]
        d = tempfile.mkdtemp(prefix="standins-pki.")
        try:
            ca = pki.make_ca(d)
            cert, key = pki.make_cert(d, "server", ["server.europe.nomad", "localhost"], [a.ip, "127.0.0.1"])
            ccert, ckey = pki.make_cert(d, "client", ["client.europe.nomad"], [c.ip])
            # /tmp is private to each host; start() empties /etc/nomad.d.
            for x, (ce, ke) in ((a, (cert, key)), (c, (ccert, ckey))):
                for src, dst in ((ca, "ca.pem"), (ce, "agent.pem"), (ke, "agent.key")):
                    with open(src) as f:
                        x.write("/tmp/tls/" + dst, f.read())
            tls = {"http": True, "rpc": True, "ca_file": "/tmp/tls/ca.pem", "cert_file": "/tmp/tls/agent.pem",
                   "key_file": "/tmp/tls/agent.key", "verify_server_hostname": True, "verify_https_client": False}
            srv = nomad_server(a.ip, expect=1, extra={"tls": tls})
            cli = nomad_client(c.ip, [a.ip])
            cli["tls"] = tls
            a.start("nomad", {"server.json": srv})
            c.start("nomad", {"client.json": cli})
            url = "https://%s:4646/v1/status/leader" % a.ip
            leader = wait_for("HTTPS leader answer", lambda: http("GET", url, cafile=ca)[1])
            self.assertEqual(leader, "%s:4647" % a.ip)
            with socket.create_connection((a.ip, 4646), timeout=5) as s:
                ctx = ssl.create_default_context(cafile=ca)
                with ctx.wrap_socket(s, server_hostname=a.ip) as t:
                    served = t.getpeercert(binary_form=True)
            with open(cert) as f:
                self.assertEqual(served, ssl.PEM_cert_to_DER_cert(f.read()))
            with self.assertRaises(urllib.error.URLError) as e:
                http("GET", url, cafile=pki.make_ca(os.path.join(d, "other")))
            self.assertIsInstance(e.exception.reason, ssl.SSLCertVerificationError)
            with self.assertRaises((OSError, http_client.HTTPException)):
                http("GET", "http://%s:4646/v1/status/leader" % a.ip, timeout=3)
            # Agents talk RPC over TLS with verify_server_hostname: the client registers.
            wait_for("the TLS client registered", lambda: any(
                n["Status"] == "ready" for n in http("GET", "https://%s:4646/v1/nodes" % a.ip, cafile=ca)[1]))
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_consul_servers_elect_a_leader_and_register_every_member(self):
        h = self.hosts()
        token = str(uuid.uuid4())
        ips = [x.ip for x in h[:3]]
        for x in h[:3]:
            x.start("consul", {"consul.json": consul_agent(x.ip, expect=3, join=[i for i in ips if i != x.ip],
                                                           key=KEY_A, acl_token=token)})
        h[3].start("consul", {"consul.json": consul_agent(h[3].ip, server=False, join=[ips[0]], key=KEY_A,
                                                          acl_token=token)})
        lead = wait_for("a consul leader", lambda: len({http("GET", "http://%s:8500/v1/status/leader" % i)[1]
                                                         for i in ips}) == 1 and
                        http("GET", "http://%s:8500/v1/status/leader" % ips[0])[1])
        self.assertIn(lead, ["%s:8300" % i for i in ips])
        self.assertEqual(sorted(http("GET", "http://%s:8500/v1/status/peers" % ips[1])[1]),
                         sorted("%s:8300" % i for i in ips))
        nodes = wait_for("4 catalog nodes", lambda: len(http("GET", "http://%s:8500/v1/catalog/nodes" % h[3].ip,
                                                             token=token, header="X-Consul-Token")[1]) == 4 and
                         http("GET", "http://%s:8500/v1/catalog/nodes" % h[3].ip, token=token,
                              header="X-Consul-Token")[1])
        self.assertEqual(sorted(n["Address"] for n in nodes), sorted(ips + [h[3].ip]))
        self.assertEqual(http("GET", "http://%s:8500/v1/catalog/nodes" % ips[0])[1], [])
        st, body = http("GET", "http://%s:8500/v1/catalog/nodes" % ips[0], token=str(uuid.uuid4()),
                        header="X-Consul-Token")
        self.assertEqual((st, body), (403, "ACL not found"))
        st, svcs = http("GET", "http://%s:8500/v1/catalog/services" % ips[0], token=token, header="X-Consul-Token")
        self.assertIn("consul", svcs)
        st, members = http("GET", "http://%s:8500/v1/agent/members" % h[3].ip, token=token, header="X-Consul-Token")
        self.assertEqual(sorted(m["Addr"] for m in members), sorted(ips + [h[3].ip]))
        self.assertTrue(all(m["Status"] == 1 for m in members))

    def test_consul_datacenters_federate_over_wan_and_answer_for_each_other(self):
        h = self.hosts()
        eu, us = h[0], h[1]
        eu.start("consul", {"consul.json": consul_agent(eu.ip, dc="europe", key=KEY_A)})
        us.start("consul", {"consul.json": dict(consul_agent(us.ip, dc="us", key=KEY_A), retry_join_wan=[eu.ip],
                                                retry_interval_wan="1s")})
        h[2].start("consul", {"consul.json": consul_agent(h[2].ip, dc="us", server=False, key=KEY_A)})
        wait_for("both leaders", lambda: all(http("GET", "http://%s:8500/v1/status/leader" % x.ip)[1] for x in (eu, us)))
        wan = wait_for("two WAN members", lambda: (lambda m: m if len(m) == 2 else None)(
            http("GET", "http://%s:8500/v1/agent/members?wan=1" % eu.ip)[1]))
        self.assertEqual(sorted(m["Name"] for m in wan),
                         sorted(["node-%s.europe" % eu.ip.replace(".", "-"), "node-%s.us" % us.ip.replace(".", "-")]))
        self.assertEqual(http("GET", "http://%s:8500/v1/catalog/datacenters" % us.ip)[1], ["europe", "us"])
        nodes = wait_for("europe's catalog through us", lambda: http(
            "GET", "http://%s:8500/v1/catalog/nodes?dc=europe" % us.ip)[1])
        self.assertEqual([n["Address"] for n in nodes], [eu.ip])
        self.assertEqual(http("GET", "http://%s:8500/v1/status/leader?dc=europe" % us.ip)[1], "%s:8300" % eu.ip)
        st, body = http("GET", "http://%s:8500/v1/catalog/nodes?dc=mars" % us.ip)
        self.assertEqual((st, body), (500, "No path to datacenter"))
        # A LAN join across datacenters is refused; a WAN join from a client too.
        wait_for("the client agent", lambda: http("GET", "http://%s:8500/v1/agent/self" % h[2].ip)[0] == 200)
        st, body = http("PUT", "http://%s:8500/v1/agent/join/%s" % (h[2].ip, eu.ip))
        self.assertEqual(st, 500)
        self.assertIn("wrong datacenter", body)
        st, body = http("PUT", "http://%s:8500/v1/agent/join/%s:8302?wan=1" % (h[2].ip, eu.ip))
        self.assertEqual(st, 500)

    def test_consul_secondary_replicates_acls_from_the_primary_with_the_replication_token(self):
        h = self.hosts()
        eu, us = h[0], h[1]
        mgmt, repl = str(uuid.uuid4()), str(uuid.uuid4())
        eu.start("consul", {"consul.json": dict(consul_agent(eu.ip, dc="europe", key=KEY_A, acl_token=mgmt),
                                                primary_datacenter="Europe")})
        cfg = consul_agent(us.ip, dc="us", key=KEY_A, acl_token=mgmt)
        cfg["acl"]["tokens"] = {"replication": repl, "agent": mgmt}
        cfg["acl"]["enable_token_replication"] = True
        us.start("consul", {"consul.json": dict(cfg, primary_datacenter="europe", retry_join_wan=[eu.ip],
                                                retry_interval_wan="1s")})
        get = lambda ip, path, tok=mgmt: http("GET", "http://%s:8500%s" % (ip, path), token=tok,
                                              header="X-Consul-Token")
        # Until the replication token exists in the primary, us knows no token.
        rep = wait_for("a failed replication round", lambda: (lambda r: r if r.get("LastErrorMessage") else None)(
            get(us.ip, "/v1/acl/replication")[1]))
        self.assertEqual((rep["Enabled"], rep["SourceDatacenter"], rep["ReplicatedTokenIndex"]), (True, "europe", 0))
        self.assertIn("ACL not found", rep["LastErrorMessage"])
        self.assertEqual(get(us.ip, "/v1/acl/token/self"), (403, "ACL not found"))
        wait_for("europe's leader", lambda: get(eu.ip, "/v1/acl/token/self")[0] == 200)
        st, _ = http("PUT", "http://%s:8500/v1/acl/policy" % eu.ip, {"Name": "replication",
                                                                       "Rules": 'acl = "write"\n'},
                     token=mgmt, header="X-Consul-Token")
        self.assertEqual(st, 200)
        st, body = http("PUT", "http://%s:8500/v1/acl/policy" % eu.ip, {"Name": "replication", "Rules": ""},
                        token=mgmt, header="X-Consul-Token")
        self.assertEqual(st, 400)
        self.assertIn("already exists", body)
        st, _ = http("PUT", "http://%s:8500/v1/acl/token" % eu.ip, {"SecretID": repl,
                                                                      "Policies": [{"Name": "replication"}]},
                     token=mgmt, header="X-Consul-Token")
        self.assertEqual(st, 200)
        st, made = http("PUT", "http://%s:8500/v1/acl/token" % eu.ip, {"Description": "made in europe"},
                        token=mgmt, header="X-Consul-Token")
        self.assertEqual(st, 200)
        wait_for("the management token in us", lambda: get(us.ip, "/v1/acl/token/self")[0] == 200)
        self.assertEqual(wait_for("europe's token in us", lambda: get(us.ip, "/v1/acl/token/self", made["SecretID"])[1]
                                  if get(us.ip, "/v1/acl/token/self", made["SecretID"])[0] == 200 else None)
                         ["Description"], "made in europe")
        rep = get(us.ip, "/v1/acl/replication")[1]
        self.assertTrue(rep["Running"] and rep["ReplicatedTokenIndex"] > 0 and not rep["LastErrorMessage"], rep)
        self.assertEqual(get(eu.ip, "/v1/acl/replication")[1]["Enabled"], False)
        # never a token in the agents' logs
        for x in (eu, us):
            log = x.log("consul")
            self.assertNotIn(repl, log)
            self.assertNotIn(mgmt, log)


if __name__ == "__main__":
    harness.require_root()
    unittest.main(verbosity=2)
