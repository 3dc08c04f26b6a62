"""Instances on real SSH hosts from tests/harness/hostpool.sh (needs root and the infra binary)."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from harness import EMULATOR_DIR, PROJECT, ZONE, EmulatorCase, wait_until

REPO = os.path.abspath(os.path.join(EMULATOR_DIR, "..", "..", ".."))
HOSTPOOL = os.path.join(REPO, "tests", "harness", "hostpool.sh")
INFRA = os.environ.get("INFRA", os.path.join(REPO, "build", "infra"))
LISTEN_PORT = 7778


def why_skip():
    if os.geteuid() != 0:
        return "needs root"
    if not os.access(INFRA, os.X_OK):
        return "no infra binary at %s (set INFRA)" % INFRA
    for tool in ("ip", "sshd", "ssh", "ssh-keyscan", "jq", "sudo"):
        if shutil.which(tool) is None and not os.path.exists("/usr/sbin/" + tool):
            return "%s is not installed" % tool
    return None


def _env():
    return dict(os.environ, INFRA=INFRA, PATH=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def setUpModule():
    reason = why_skip()
    if reason:
        raise unittest.SkipTest(reason)
    global POOL_DIR, HOSTS
    POOL_DIR = tempfile.mkdtemp(prefix="gcpemu-pool-")
    # Other pools on this machine may take the range hostpool.sh picked meanwhile: retry.
    for attempt in range(4):
        done = subprocess.run([HOSTPOOL, "create", "2", POOL_DIR], env=_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode == 0:
            break
        if attempt == 3 or "overlaps" not in done.stderr:
            raise RuntimeError("hostpool.sh create failed:\n" + done.stderr[-2000:])
        time.sleep(1 + attempt)
    with open(os.path.join(POOL_DIR, "hosts.json")) as f:
        HOSTS = json.load(f)
    OnHosts.hosts = HOSTS


def tearDownModule():
    if "POOL_DIR" in globals():
        subprocess.run([HOSTPOOL, "destroy", POOL_DIR], env=_env(), stdout=subprocess.DEVNULL)
        shutil.rmtree(POOL_DIR, ignore_errors=True)


def _connects(address, port):
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


class OnHosts(EmulatorCase):
    loopback_addresses = False
    operation_seconds = 0.2
    hosts = []

    def ssh(self, key, user, address, known_hosts, command):
        return subprocess.run(
            ["ssh", "-i", key, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
             "-o", "UserKnownHostsFile=" + known_hosts, "-o", "IdentitiesOnly=yes",
             "-o", "ConnectTimeout=10", "%s@%s" % (user, address), command],
            capture_output=True, text=True, timeout=60)

    def keypair(self, tmp, name):
        path = os.path.join(tmp, name)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path], check=True)
        with open(path + ".pub") as f:
            return path, " ".join(f.read().split()[:2])

    def test_guest_agent_users_startup_script_fingerprints_and_cleanup(self):
        c = self.compute
        sub = self.network()
        tmp = tempfile.mkdtemp(prefix="gcpemu-key-")
        self.addCleanup(shutil.rmtree, tmp, True)
        key, public = self.keypair(tmp, "deploy")
        token = os.urandom(8).hex()
        script = ("#!/bin/sh\necho 'proof %s' > /root/proof\n"
                  "cd /root && exec %s -m http.server %d --bind 0.0.0.0\n"
                  % (token, sys.executable, LISTEN_PORT))
        body = self.instance_body("vm-1", sub, metadata={"items": [
            {"key": "ssh-keys", "value": "deploy:%s deploy@laptop" % public},
            {"key": "startup-script", "value": script}]})
        self.done(c.instances().insert(project=PROJECT, zone=ZONE, body=body), timeout=60)
        inst = c.instances().get(project=PROJECT, zone=ZONE, instance="vm-1").execute()
        nic = inst["networkInterfaces"][0]
        address = nic["networkIP"]
        self.assertIn(address, [h["address"] for h in HOSTS])
        self.assertEqual(nic["accessConfigs"][0]["natIP"], address)

        console = c.instances().getSerialPortOutput(project=PROJECT, zone=ZONE,
                                                    instance="vm-1").execute()["contents"]
        block = console.split("-----BEGIN SSH HOST KEY FINGERPRINTS-----\n")[1].split(
            "-----END SSH HOST KEY FINGERPRINTS-----")[0]
        host = [h for h in HOSTS if h["address"] == address][0]
        self.assertIn(host["ssh_host_key_fingerprint"] + " root@vm-1", block)
        keys = console.split("-----BEGIN SSH HOST KEY KEYS-----\n")[1].split(
            "-----END SSH HOST KEY KEYS-----")[0]
        known = os.path.join(tmp, "known_hosts")
        with open(known, "w") as f:
            for line in keys.splitlines():
                kind, blob = line.split()[:2]
                f.write("%s %s %s\n" % (address, kind, blob))

        # The key's user exists, may sudo without a password, and the script ran as root.
        last = []

        def proof():
            out = self.ssh(key, "deploy", address, known, "id -nG; sudo -n cat /root/proof")
            last[:] = [out.stdout, out.stderr]
            return out.returncode == 0 and out.stdout.split("\n", 1)
        try:
            groups, got = wait_until(proof, 30, 0.3, "the startup script's file")
        except AssertionError:
            self.fail("no proof: %r" % last)
        self.assertIn("google-sudoers", groups.split())
        self.assertEqual(got.strip(), "proof " + token)
        wait_until(lambda: _connects(address, LISTEN_PORT), 30, 0.2, "the script's listener")

        # New ssh-keys metadata reaches the host, as the guest agent would take it.
        key2, public2 = self.keypair(tmp, "ops")
        fp = inst["metadata"]["fingerprint"]
        items = list(body["metadata"]["items"])
        items[0] = {"key": "ssh-keys", "value": "deploy:%s\nops:%s" % (public, public2)}
        self.done(c.instances().setMetadata(project=PROJECT, zone=ZONE, instance="vm-1",
                                            body={"fingerprint": fp, "items": items}))
        wait_until(lambda: self.ssh(key2, "ops", address, known, "true").returncode == 0, 30,
                   0.3, "the second user's key")

        # Two hosts: the third instance finds none. vm-2 has a user of the
        # same name (the same uid on its own host).
        self.done(c.instances().insert(project=PROJECT, zone=ZONE, body=self.instance_body(
            "vm-2", sub, metadata={"items": [
                {"key": "ssh-keys", "value": "deploy:%s" % public}]})), timeout=60)
        inst2 = c.instances().get(project=PROJECT, zone=ZONE, instance="vm-2").execute()
        address2 = inst2["networkInterfaces"][0]["networkIP"]
        console2 = c.instances().getSerialPortOutput(project=PROJECT, zone=ZONE,
                                                     instance="vm-2").execute()["contents"]
        known2 = os.path.join(tmp, "known_hosts2")
        with open(known2, "w") as f:
            for line in console2.split("-----BEGIN SSH HOST KEY KEYS-----\n")[1].split(
                    "-----END SSH HOST KEY KEYS-----")[0].splitlines():
                kind, blob = line.split()[:2]
                f.write("%s %s %s\n" % (address2, kind, blob))
        wait_until(lambda: self.ssh(key, "deploy", address2, known2, "true").returncode == 0,
                   30, 0.3, "vm-2's user")
        session = subprocess.Popen(
            ["ssh", "-i", key, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
             "-o", "UserKnownHostsFile=" + known2, "-o", "IdentitiesOnly=yes",
             "deploy@%s" % address2, "echo started; exec sleep 60"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.addCleanup(lambda: (session.kill(), session.wait()))
        self.assertEqual(session.stdout.readline().strip(), "started")
        op = self.wait_op(c.instances().insert(project=PROJECT, zone=ZONE,
                                               body=self.instance_body("vm-3", sub)).execute(),
                          timeout=30)
        self.assertEqual(op["error"]["errors"][0]["code"], "ZONE_RESOURCE_POOL_EXHAUSTED")

        self.done(c.instances().delete(project=PROJECT, zone=ZONE, instance="vm-1"), timeout=60)
        wait_until(lambda: not _connects(address, LISTEN_PORT), 10, 0.2, "the listener stopped")
        self.assertNotEqual(self.ssh(key, "deploy", address, known, "true").returncode, 0,
                            "the instance's key still logs in")
        pool_root = self.ssh(host["ssh_private_key"], "root", address, known,
                             "grep -c '^deploy:' /etc/passwd; ls /home")
        self.assertEqual(pool_root.stdout.split()[:1], ["0"], pool_root.stdout)
        # vm-2's user, of the same uid on another host, was left alone.
        self.assertIsNone(session.poll(), "deleting vm-1 ended a session on vm-2")
        # the host is free again
        self.done(c.instances().insert(project=PROJECT, zone=ZONE, body=self.instance_body(
            "vm-4", sub)), timeout=60)
        got = c.instances().get(project=PROJECT, zone=ZONE, instance="vm-4").execute()
        self.assertEqual(got["networkInterfaces"][0]["networkIP"], address)
        for name in ("vm-2", "vm-4"):
            self.done(c.instances().delete(project=PROJECT, zone=ZONE, instance=name),
                      timeout=60)


if __name__ == "__main__":
    unittest.main()
