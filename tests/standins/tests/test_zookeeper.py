#!/usr/bin/python3
"""The real ZooKeeper (Debian's package) as a three-node ensemble on
namespace hosts: one leader, two followers; and what a wrong or duplicate
myid does to it, the mistake that breaks a hand-made ensemble."""
import unittest

import harness
import mesosworld as mw
from harness import wait_for


def setUpModule():
    mw.require_tools()
    harness.PoolTest.pool = harness.Pool(3)


def tearDownModule():
    harness.PoolTest.pool.destroy()


class Ensemble(harness.PoolTest):
    def tearDown(self):
        for h in self.pool.hosts:
            if self._outcome_failed():
                mw.dump_logs(h, ("zookeeper", "mesos-master", "marathon"))
            for kind in ("marathon", "mesos-master", "zookeeper"):
                h.stop(kind, "KILL")

    def start(self, myids):
        ips = [h.ip for h in self.pool.hosts]
        for h, myid in zip(self.pool.hosts, myids):
            mw.start_zk(h, myid, ips)
        return ips

    def test_three_nodes_elect_exactly_one_leader(self):
        ips = self.start([1, 2, 3])
        modes = wait_for("every node serving", lambda: all(mw.mode(ip) for ip in ips) and
                         sorted(mw.mode(ip) for ip in ips), timeout=60)
        self.assertEqual(modes, ["follower", "follower", "leader"])
        self.assertEqual(mw.four(ips[0], "ruok"), "imok")
        # Only the whitelisted words are answered.
        self.assertIn("is not executed because it is not in the whitelist", mw.four(ips[0], "conf"))
        mntr = dict(line.split("\t", 1) for line in mw.four(ips[1], "mntr").splitlines() if "\t" in line)
        self.assertIn(mntr["zk_server_state"], ("leader", "follower"))
        # A client sees the same data through any node.
        from kazoo.client import KazooClient
        a, b = KazooClient(hosts="%s:2181" % ips[0]), KazooClient(hosts="%s:2181" % ips[2])
        a.start(timeout=20)
        b.start(timeout=20)
        try:
            a.create("/standin-test", b"x")
            b.sync("/standin-test")
            self.assertEqual(b.get("/standin-test")[0], b"x")
        finally:
            a.stop()
            b.stop()
        # The leader going leaves two that elect a new one.
        leader = next(h for h in self.pool.hosts if mw.mode(h.ip) == "leader")
        leader.stop("zookeeper", "KILL")
        rest = [ip for ip in ips if ip != leader.ip]
        wait_for("a new leader among the two left", lambda: sorted(mw.mode(ip) or "" for ip in rest) ==
                 ["follower", "leader"], timeout=60)

    def test_swapped_myids_leave_no_quorum(self):
        # Hosts 1 and 2 each hold the other's id: each is told to listen on the
        # other's address, cannot, and the one correct node has no majority.
        ips = self.start([2, 1, 3])
        wait_for("the correct node's client port", lambda: mw.four(ips[2], "ruok") == "imok", timeout=60)
        wait_for("the swapped nodes to fail binding", lambda: all(
            "Cannot assign requested address" in h.log("zookeeper") for h in self.pool.hosts[:2]), timeout=60)
        self.assertIn("not currently serving requests", mw.four(ips[2], "srvr"))
        self.assertIsNone(mw.mode(ips[2]))

    def test_a_duplicate_myid_keeps_that_node_out(self):
        ips = self.start([1, 1, 3])
        wait_for("the two correct nodes to form a quorum", lambda: sorted(
            mw.mode(ip) or "" for ip in (ips[0], ips[2])) == ["follower", "leader"], timeout=60)
        wait_for("the duplicate to fail binding", lambda: "Cannot assign requested address" in
                 self.pool.hosts[1].log("zookeeper"), timeout=60)
        self.assertIsNone(mw.mode(ips[1]))

    def test_a_lost_session_ends_leadership(self):
        ips = self.start([1, 2, 3])
        wait_for("every node serving", lambda: all(mw.mode(ip) for ip in ips), timeout=60)
        h = self.pool.hosts[0]
        mw.start(h, "mesos-master", ["--ip=" + h.ip, "--zk=" + mw.zk_url(ips, "/mesos"), "--quorum=1",
                                     "--work_dir=/opt/mesos/master", "--zk_session_timeout=2secs"])
        mw.start(h, "marathon", ["--master", mw.zk_url(ips, "/mesos"), "--zk", mw.zk_url(ips, "/marathon"),
                                 "--hostname", h.ip, "--zk_session_timeout", "2000"])
        def field(url, name):
            body = harness.http("GET", url)[1]  # text while there is no leader
            return body.get(name) if isinstance(body, dict) else None
        wait_for("the master elected", lambda: field("http://%s:5050/master/state" % h.ip, "leader") ==
                 "master@%s:5050" % h.ip, timeout=60)
        wait_for("marathon elected", lambda: field("http://%s:8080/v2/info" % h.ip, "elected"), timeout=60)
        for x in self.pool.hosts:
            x.stop("zookeeper", "KILL")

        def gone(kind):
            return h.ssh("kill -0 $(cat /run/%s.pid)" % kind, check=False).returncode != 0
        wait_for("the leading master to exit", lambda: gone("mesos-master"), timeout=60)
        wait_for("the leading marathon to exit", lambda: gone("marathon"), timeout=60)
        self.assertIn("Lost leadership... committing suicide!", h.log("mesos-master"))
        self.assertIn("Lost leadership; exiting", h.log("marathon"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
