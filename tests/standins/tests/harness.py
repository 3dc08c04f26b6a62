"""Namespace hosts for the stand-in tests: tests/harness/hostpool.sh brings
them up; agents are started on them over SSH with configurations written
into each host's private /etc/nomad.d and /etc/consul.d, as an operator
(or infra) would."""
import atexit
import json
import os
import shlex
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
STANDINS = os.path.dirname(HERE)
ROOT = os.path.normpath(os.path.join(STANDINS, "..", ".."))
HOSTPOOL = os.path.join(ROOT, "tests", "harness", "hostpool.sh")


def _stage():
    """The stand-ins copied where namespace hosts see them (stage.sh)."""
    staged = subprocess.run([os.path.join(STANDINS, "stage.sh")], check=True,
                            capture_output=True, text=True).stdout.strip()
    atexit.register(shutil.rmtree, os.path.dirname(staged), True)
    return staged


STAGED = _stage()
NOMAD = os.path.join(STAGED, "nomad")
CONSUL = os.path.join(STAGED, "consul")
SKIP = 77


def require_root():
    if os.geteuid() != 0:
        print("SKIP: needs root (namespace hosts)")
        sys.exit(SKIP)
    for tool in ("ip", "sshd", "ssh", "jq", "busybox", "openssl"):
        if subprocess.run(["sh", "-c", "command -v %s" % tool], capture_output=True,
                          env=dict(os.environ, PATH=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")).returncode:
            print("SKIP: %s is not installed" % tool)
            sys.exit(SKIP)


class Host:
    def __init__(self, entry):
        self.ip = entry["address"]
        self.key = entry["ssh_private_key"]

    def ssh(self, cmd, check=True, timeout=60, stdin=None):
        argv = ["ssh", "-i", self.key, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10",
                "root@" + self.ip, cmd]
        r = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("ssh %s %r: exit %d: %s" % (self.ip, cmd, r.returncode, r.stderr[-2000:]))
        return r

    def write(self, path, text, mode="0600"):
        self.ssh("mkdir -p %s && umask 077 && cat > %s && chmod %s %s" % (
            shlex.quote(os.path.dirname(path)), shlex.quote(path), mode, shlex.quote(path)), stdin=text)

    def start(self, kind, configs):
        """Writes configs ({file name: dict}) into /etc/KIND.d and starts the
        agent in the background; its log goes to /var/log/KIND.log."""
        d = "/etc/%s.d" % kind
        self.ssh("rm -rf %s/* /var/lib/%s/* /var/log/%s.log" % (d, kind, kind))
        for name, cfg in configs.items():
            self.write("%s/%s" % (d, name), json.dumps(cfg, indent=2))
        self.relaunch(kind)

    def relaunch(self, kind):
        """Starts the agent again on the configuration and data it has."""
        d = "/etc/%s.d" % kind
        exe = NOMAD if kind == "nomad" else CONSUL
        flag = "-config=%s" % d if kind == "nomad" else "-config-dir=%s" % d
        self.ssh("nohup %s agent %s >>/var/log/%s.log 2>&1 </dev/null & echo $! > /run/%s.pid" % (exe, flag, kind, kind))

    def stop(self, kind, sig="TERM"):
        self.ssh("test -f /run/{k}.pid && kill -{s} $(cat /run/{k}.pid) 2>/dev/null; "
                 "for i in $(seq 50); do kill -0 $(cat /run/{k}.pid 2>/dev/null) 2>/dev/null || break; sleep 0.1; done; "
                 "rm -f /run/{k}.pid".format(k=kind, s=sig), check=False)

    def log(self, kind):
        return self.ssh("cat /var/log/%s.log 2>/dev/null" % kind, check=False).stdout

    def kill_tasks(self):
        """Tasks outlive their agent (as with Nomad's executors): end the
        ones this suite started, by the pids under the alloc directories.
        Only this host's: the hosts share the machine's process table, and
        every host's tasks have their cwd under the same path."""
        self.ssh("me=$(readlink /proc/self/ns/net); for p in $(ls /proc | grep -E '^[0-9]+$'); do "
                 "[ \"$(readlink /proc/$p/ns/net 2>/dev/null)\" = \"$me\" ] || continue; "
                 "readlink /proc/$p/cwd 2>/dev/null | grep -q '^/var/lib/nomad/alloc/' && kill -9 $p; done; true",
                 check=False)


class Pool:
    def __init__(self, n):
        self.dir = tempfile.mkdtemp(prefix="standins-pool.")
        env = dict(os.environ)
        env["PATH"] = env.get("PATH", "") + ":/usr/sbin:/sbin"
        err = ""
        for _ in range(5):
            # Other pools may appear meanwhile: choose a free range here, and
            # try the next one when it was taken in between.
            if "HOSTPOOL_CIDR" not in os.environ:
                env["HOSTPOOL_CIDR"] = _free_cidr()
            r = subprocess.run([HOSTPOOL, "create", str(n), self.dir], capture_output=True, text=True, env=env,
                               timeout=600)
            if r.returncode == 0:
                break
            err = r.stderr
            subprocess.run([HOSTPOOL, "destroy", self.dir], capture_output=True, env=env, timeout=600)
            time.sleep(1)
        else:
            raise RuntimeError("hostpool create failed: %s" % err[-3000:])
        with open(os.path.join(self.dir, "hosts.json")) as f:
            self.hosts = sorted((Host(e) for e in json.load(f)), key=lambda h: tuple(int(x) for x in h.ip.split(".")))

    def destroy(self):
        env = dict(os.environ)
        env["PATH"] = env.get("PATH", "") + ":/usr/sbin:/sbin"
        subprocess.run([HOSTPOOL, "destroy", self.dir], capture_output=True, text=True, env=env, timeout=600)
        try:
            os.rmdir(self.dir)
        except OSError:
            pass


def _free_cidr():
    routes = subprocess.run(["ip", "-4", "route", "show"], capture_output=True, text=True).stdout
    import random
    free = [k for k in range(64, 100) if not any(ln.startswith("10.213.%d." % k) for ln in routes.splitlines())]
    if not free:
        raise RuntimeError("no free 10.213.N.0/24 for the host pool")
    return "10.213.%d.0/24" % random.choice(free)


def http(method, url, body=None, token=None, cafile=None, timeout=10, header="X-Nomad-Token"):
    """(status, parsed body or text)."""
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header(header, token)
    ctx = ssl.create_default_context(cafile=cafile) if url.startswith("https") else None
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
            text = r.read().decode()
            status = r.status
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        status = e.code
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def wait_for(what, fn, timeout=30, interval=0.3):
    """Polls fn until it returns a true value; fails the test with what."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (OSError, urllib.error.URLError, ValueError, KeyError, TypeError) as e:
            last = e
        time.sleep(interval)
    raise AssertionError("timed out after %ds waiting for %s (last: %r)" % (timeout, what, last))


class PoolTest(unittest.TestCase):
    """Base: one pool of hosts per test module (see setUpModule there)."""
    pool = None

    def tearDown(self):
        for h in self.pool.hosts:
            for kind in ("nomad", "consul"):
                if self._outcome_failed():
                    sys.stderr.write("---- %s log on %s ----\n%s\n" % (kind, h.ip, h.log(kind)[-4000:]))
                h.stop(kind, "KILL")
            h.kill_tasks()

    def _outcome_failed(self):
        result = getattr(getattr(self, "_outcome", None), "result", None)
        if result is None:
            return True
        return any(t is self for t, _ in result.failures + result.errors)
