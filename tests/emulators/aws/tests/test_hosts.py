"""Instances on real SSH hosts from tests/harness/hostpool.sh (needs root)."""
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

from harness import EMULATOR_DIR, IMAGE, EmulatorCase, wait_until

REPO = os.path.abspath(os.path.join(EMULATOR_DIR, "..", "..", ".."))
HOSTPOOL = os.path.join(REPO, "tests", "harness", "hostpool.sh")
INFRA = os.environ.get("INFRA", os.path.join(REPO, "build", "infra"))
LISTEN_PORT = 7777


def why_skip():
    if os.geteuid() != 0:
        return "needs root"
    if not os.access(INFRA, os.X_OK):
        return "no infra binary at %s (set INFRA)" % INFRA
    for tool in ("ip", "sshd", "ssh", "ssh-keyscan", "jq"):
        if shutil.which(tool) is None and not os.path.exists("/usr/sbin/" + tool):
            return "%s is not installed" % tool
    return None


def setUpModule():
    reason = why_skip()
    if reason:
        raise unittest.SkipTest(reason)
    global POOL_DIR, HOSTS
    POOL_DIR = tempfile.mkdtemp(prefix="awsemu-pool-")
    env = dict(os.environ, INFRA=INFRA, PATH=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    # Other pools on this machine may take the range hostpool.sh picked meanwhile: retry.
    for attempt in range(4):
        done = subprocess.run([HOSTPOOL, "create", "2", POOL_DIR], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode == 0:
            break
        if attempt == 3 or "overlaps" not in done.stderr:
            raise RuntimeError("hostpool.sh create failed:\n" + done.stderr[-2000:])
        time.sleep(1 + attempt)
    with open(os.path.join(POOL_DIR, "hosts.json")) as f:
        HOSTS = json.load(f)
    EmulatorOnHosts.hosts = HOSTS
    HostKeysOnHosts.hosts = HOSTS
    ProfileOnHosts.hosts = HOSTS
    # The machine's own address on the pool's bridge: what the hosts reach.
    route = subprocess.run(["ip", "-4", "-o", "route", "get", HOSTS[0]["address"]],
                           capture_output=True, text=True, check=True).stdout.split()
    ProfileOnHosts.instance_address = route[route.index("src") + 1]


def tearDownModule():
    if "POOL_DIR" in globals():
        env = dict(os.environ, INFRA=INFRA, PATH=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
        subprocess.run([HOSTPOOL, "destroy", POOL_DIR], env=env, stdout=subprocess.DEVNULL)
        shutil.rmtree(POOL_DIR, ignore_errors=True)


class EmulatorOnHosts(EmulatorCase):
    loopback_addresses = False
    hosts = []

    def ssh(self, key, address, known_hosts, command):
        return subprocess.run(
            ["ssh", "-i", key, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
             "-o", "UserKnownHostsFile=" + known_hosts, "-o", "IdentitiesOnly=yes",
             "-o", "ConnectTimeout=10", "root@" + address, command],
            capture_output=True, text=True, timeout=60)

    def test_instance_gets_the_key_runs_user_data_and_is_cleaned_at_termination(self):
        ec2 = self.client("ec2")
        _, subnets, _ = self.network(ec2)
        tmp = tempfile.mkdtemp(prefix="awsemu-key-")
        self.addCleanup(shutil.rmtree, tmp, True)
        key = os.path.join(tmp, "id")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        with open(key + ".pub", "rb") as f:
            ec2.import_key_pair(KeyName="mine", PublicKeyMaterial=f.read())
        token = base64.b16encode(os.urandom(8)).decode()
        user_data = ("#!/bin/sh\necho 'proof %s' > /root/proof\n"
                     "cd /root && exec %s -m http.server %d --bind 0.0.0.0\n"
                     % (token, sys.executable, LISTEN_PORT))
        res = ec2.run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1, SubnetId=subnets[0],
                                KeyName="mine", UserData=user_data)  # botocore encodes it
        inst = res["Instances"][0]
        iid, address = inst["InstanceId"], inst["PrivateIpAddress"]
        self.assertIn(address, [h["address"] for h in HOSTS])
        self.assertEqual(inst.get("PublicIpAddress"), address)
        self.assertError("InsufficientInstanceCapacity", ec2.run_instances, ImageId=IMAGE,
                         MinCount=2, MaxCount=2, SubnetId=subnets[0])
        self.wait_state(ec2, [iid], "running", timeout=60)

        console = ec2.get_console_output(InstanceId=iid)["Output"]
        block = console.split("-----BEGIN SSH HOST KEY FINGERPRINTS-----\n")[1].split(
            "-----END SSH HOST KEY FINGERPRINTS-----")[0]
        host = [h for h in HOSTS if h["address"] == address][0]
        self.assertIn(host["ssh_host_key_fingerprint"], block)
        self.assertIn("root@ip-%s" % address.replace(".", "-"), block)
        keys = console.split("-----BEGIN SSH HOST KEY KEYS-----\n")[1].split(
            "-----END SSH HOST KEY KEYS-----")[0]
        known = os.path.join(tmp, "known_hosts")
        with open(known, "w") as f:
            for line in keys.splitlines():
                kind, blob = line.split()[:2]
                f.write("%s %s %s\n" % (address, kind, blob))

        last = []

        def proof():
            out = self.ssh(key, address, known, "cat /root/proof")
            last[:] = [out.stderr]
            return out.returncode == 0 and out.stdout.strip()
        try:
            got = wait_until(proof, 30, 0.3, "the user data's file")
        except AssertionError:
            look = self.ssh(key, address, known, "ls -la /root /root/.awsemu/*; "
                            "cat /var/log/cloud-init-output.log /root/.awsemu/*/pgid")
            self.fail("no proof file: ssh said %r; on the host: %s %s" % (
                last, look.stdout, look.stderr))
        self.assertEqual(got, "proof " + token)
        wait_until(lambda: _connects(address, LISTEN_PORT), 30, 0.2, "the user data's listener")

        ec2.terminate_instances(InstanceIds=[iid])
        self.wait_state(ec2, [iid], "terminated", timeout=60)
        wait_until(lambda: not _connects(address, LISTEN_PORT), 10, 0.2, "the listener stopped")
        refused = self.ssh(key, address, known, "true")
        self.assertNotEqual(refused.returncode, 0, "the instance key still logs in")
        again = ec2.run_instances(ImageId=IMAGE, MinCount=2, MaxCount=2, SubnetId=subnets[0])
        self.assertEqual(sorted(i["PrivateIpAddress"] for i in again["Instances"]),
                         sorted(h["address"] for h in HOSTS))
        ids = [i["InstanceId"] for i in again["Instances"]]
        self.wait_state(ec2, ids, "running", timeout=60)
        ec2.terminate_instances(InstanceIds=ids)
        self.wait_state(ec2, ids, "terminated", timeout=60)


class HostKeysOnHosts(EmulatorCase):
    loopback_addresses = False
    hosts = []

    def test_host_keys_of_the_user_data_are_presented_until_termination(self):
        ec2 = self.client("ec2")
        _, subnets, _ = self.network(ec2, cidr="10.7.0.0/16")
        tmp = tempfile.mkdtemp(prefix="awsemu-hostkey-")
        self.addCleanup(shutil.rmtree, tmp, True)
        key, host_key = os.path.join(tmp, "id"), os.path.join(tmp, "host")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-b", "256", "-m", "PEM", "-N", "",
                        "-f", host_key], check=True)
        with open(key + ".pub", "rb") as f:
            ec2.import_key_pair(KeyName="login", PublicKeyMaterial=f.read())
        with open(host_key) as f:
            private = f.read()
        with open(host_key + ".pub") as f:
            public = f.read().strip()
        fingerprint = subprocess.run(["ssh-keygen", "-l", "-f", host_key + ".pub"], check=True,
                                     capture_output=True, text=True).stdout.split()[1]
        user_data = "#cloud-config\nssh_keys:\n  ecdsa_private: |\n%s  ecdsa_public: %s\n" % (
            "".join("    " + line + "\n" for line in private.splitlines()), public)
        res = ec2.run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1, SubnetId=subnets[0],
                                KeyName="login", UserData=user_data)
        iid, address = res["Instances"][0]["InstanceId"], res["Instances"][0]["PrivateIpAddress"]
        pool_fp = [h for h in HOSTS if h["address"] == address][0]["ssh_host_key_fingerprint"]
        self.wait_state(ec2, [iid], "running", timeout=60)
        # Running: its sshd presents the given key, and only it.
        self.assertEqual(_presented(address, tmp), {fingerprint})
        console = ec2.get_console_output(InstanceId=iid)["Output"]
        self.assertIn(fingerprint, console)
        self.assertNotIn(pool_fp, console)
        known = os.path.join(tmp, "known_hosts")
        with open(known, "w") as f:
            f.write("%s %s\n" % (address, " ".join(public.split()[:2])))
        out = EmulatorOnHosts.ssh(self, key, address, known, "true")
        self.assertEqual(out.returncode, 0, out.stderr)
        ec2.terminate_instances(InstanceIds=[iid])
        self.wait_state(ec2, [iid], "terminated", timeout=60)
        # The host serves the next instance with the pool's key again.
        self.assertEqual(_presented(address, tmp), {pool_fp})


class ProfileOnHosts(EmulatorCase):
    """An instance profile's credentials, region and endpoint reach the user
    data, and with them the stand-in consul's cloud auto-join finds the
    tagged instance from the other host."""
    loopback_addresses = False
    hosts = []

    def test_user_data_of_an_instance_with_a_profile_finds_tagged_instances(self):
        ec2 = self.client("ec2")
        _, subnets, _ = self.network(ec2, cidr="10.8.0.0/16")
        tagged = ec2.run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1, SubnetId=subnets[0],
                                   TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                       {"Key": "infra:join", "Value": "t.default.main.europe"}]}])
        server = tagged["Instances"][0]
        # Staged where the hosts see it: a host has its own /tmp and /root,
        # where the checkout may live.
        standins = subprocess.run([os.path.join(REPO, "tests", "standins", "stage.sh")],
                                  capture_output=True, text=True, check=True).stdout.strip()
        self.addCleanup(shutil.rmtree, os.path.dirname(standins), True)
        entry = "provider=aws tag_key=infra:join tag_value=t.default.main.europe"
        user_data = ("#!/bin/sh\n"
                     "cd /root\n"
                     "env | grep -c '^AWS_SECRET_ACCESS_KEY=' > profile || true\n"
                     "PYTHONPATH=%s %s -c 'import sys; from standin import discover; "
                     "print(\" \".join(discover.addrs(sys.argv[1])))' '%s' > found 2>&1\n"
                     "exec %s -m http.server %d --bind 0.0.0.0\n"
                     % (standins, sys.executable, entry, sys.executable, LISTEN_PORT))
        client = ec2.run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1, SubnetId=subnets[0],
                                   IamInstanceProfile={"Name": "consul-join"},
                                   UserData=user_data)["Instances"][0]
        ids = [server["InstanceId"], client["InstanceId"]]
        self.wait_state(ec2, ids, "running", timeout=60)
        address = client["PrivateIpAddress"]
        wait_until(lambda: _connects(address, LISTEN_PORT), 60, 0.2, "the user data's listener")
        url = "http://%s:%d/" % (address, LISTEN_PORT)
        with urllib.request.urlopen(url + "found", timeout=10) as r:
            self.assertEqual(r.read().decode().strip(), server["PrivateIpAddress"])
        with urllib.request.urlopen(url + "profile", timeout=10) as r:
            self.assertEqual(r.read().decode().strip(), "1")
        calls = self.control("GET", "/_emulator/calls")
        self.assertGreaterEqual(calls["ec2"]["DescribeInstances"], 2)
        ec2.terminate_instances(InstanceIds=ids)
        self.wait_state(ec2, ids, "terminated", timeout=60)


def _presented(address, directory):
    """Fingerprints of the host keys the sshd at address presents."""
    scan = subprocess.run(["ssh-keyscan", "-T", "5", address], capture_output=True, text=True,
                          timeout=60)
    out = set()
    for line in scan.stdout.splitlines():
        if not line or line.startswith("#"):
            continue
        path = os.path.join(directory, "scanned")
        with open(path, "w") as f:
            f.write(line + "\n")
        fp = subprocess.run(["ssh-keygen", "-l", "-f", path], capture_output=True, text=True)
        if fp.returncode == 0:
            out.add(fp.stdout.split()[1])
    return out


def _connects(address, port):
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


if __name__ == "__main__":
    unittest.main()
