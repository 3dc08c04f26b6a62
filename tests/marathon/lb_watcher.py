#!/usr/bin/python3
"""The load balancers' watcher (plugins/marathon/marathon-lb) against a
Marathon made of a few lines of Python and a real haproxy, all on loopback
ports: an app answering by its host name, its tasks replaced while a probe
never fails, a burst of changes all reaching haproxy (a reload signal lost
while haproxy starts workers is sent again), Marathon refusing the password
reported on the status path while the backends stay, an unknown host name
answered 503, and stopping the watcher stopping haproxy. Every step waits
for what haproxy serves (the status line names the configuration's
generation), so a loaded machine only makes it slower.

    usage: lb_watcher.py PATH/TO/marathon-lb       (exit 77: haproxy missing)
"""
import base64
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

SKIP = 77
USER, PASSWORD = "infra", "s3cret-for-the-test"
STATUS_PATH = "/_marathon-lb/status"
# How long a step may take: the watcher polls Marathon twice a second and
# reloads haproxy, which on a loaded machine takes seconds.
STEP_SECONDS = 60


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(handler):
    srv = Server(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def backend(text):
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = text.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass
    return serve(H)


class Marathon:
    """GET /v2/apps with basic authentication, the apps set by the test."""

    def __init__(self):
        self.apps = []
        self.password = PASSWORD
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                want = "Basic " + base64.b64encode(("%s:%s" % (USER, outer.password)).encode()).decode()
                if self.headers.get("Authorization") != want:
                    return self.reply(401, {"message": "Invalid username or password."})
                if not self.path.startswith("/v2/apps") or "embed=apps.tasks" not in self.path:
                    return self.reply(404, {"message": "not here"})
                return self.reply(200, {"apps": outer.apps})

            def reply(self, status, obj):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_):
                pass
        self.srv = serve(H)

    def url(self):
        return "http://127.0.0.1:%d" % self.srv.server_address[1]


def web(*servers):
    return {"id": "/prod/web", "labels": {"HAPROXY_GROUP": "external"},
            "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0}],
            "tasks": [{"host": "127.0.0.1", "ports": [s.server_address[1]], "state": "TASK_RUNNING",
                       "healthCheckResults": [{"alive": True, "consecutiveFailures": 0}]} for s in servers]}


def get(port, path="/", host=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    if host:
        req.add_header("Host", host)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return 0, str(e)


def wait_for(what, check, timeout=STEP_SECONDS):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s" % what)


def served(port, want):
    """The generation haproxy serves when its status line starts with
    want ("ok apps=1 servers=3"), else None."""
    code, text = get(port, STATUS_PATH)
    words = text.split()
    if code != 200 or not text.startswith(want) or not words or not words[-1].startswith("gen="):
        return None
    return int(words[-1][4:])


def answers(port, host, want):
    """True when 8 requests for host are answered by exactly the set want
    (round robin: every healthy task answers some)."""
    return {get(port, host=host)[1] for _ in range(8)} == want


def fail(msg):
    sys.stderr.write("FAIL: %s\n" % msg)
    sys.exit(1)


def main(program):
    haproxy = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")
    if haproxy is None:
        print("SKIP: haproxy is not installed (scripts/deps.sh installs it)")
        return SKIP
    work = tempfile.mkdtemp(prefix="marathon-lb-test.")
    port = free_port()
    m = Marathon()
    b1, b2, b3 = backend("one"), backend("two"), backend("three")
    m.apps = [web(b1, b2)]
    cfg = {"marathons": ["http://127.0.0.1:1", m.url()], "user": USER, "password": PASSWORD,
           "group": "external", "port": port, "haproxy": haproxy, "dir": work, "bind": "127.0.0.1",
           "run_dir": os.path.join(work, "run")}
    with open(os.path.join(work, "config.json"), "w") as f:
        json.dump(cfg, f)
    log = open(os.path.join(work, "log"), "w")
    # A session of its own: haproxy, its child, is stopped with it on failure.
    watcher = subprocess.Popen([sys.executable, program, "--config=" + os.path.join(work, "config.json")],
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # the app answers by its host name; the first Marathon, closed, is skipped
        wait_for("the status line", lambda: served(port, "ok apps=1 servers=2"))
        wait_for("web.prod answered by tasks one and two", lambda: answers(port, "web.prod", {"one", "two"}))
        if get(port, host="other.example.org")[0] != 503:
            fail("an unknown host name is not answered 503")

        # tasks replaced while a probe runs: none of its requests fails.
        # A task joins; then one leaves and, as Marathon does, is killed
        # at once, before haproxy is told.
        probes, stop = [], threading.Event()

        def probe():
            while not stop.is_set():
                probes.append(get(port, host="web.prod"))
                time.sleep(0.01)
        t = threading.Thread(target=probe)
        t.start()
        try:
            m.apps = [web(b1, b2, b3)]
            joined = wait_for("the third task served", lambda: served(port, "ok apps=1 servers=3"))
            m.apps = [web(b2, b3)]
            b1.shutdown()
            b1.server_close()
            wait_for("the killed task dropped",
                     lambda: (served(port, "ok apps=1 servers=2") or 0) > joined)
            # and the probe goes on a while on the new configuration
            after = len(probes)
            wait_for("requests after the replacement", lambda: len(probes) >= after + 20)
        finally:
            stop.set()
            t.join()
        failures = [p for p in probes if p[0] != 200]
        if failures:
            fail("the probe failed %d of %d times: %s" % (len(failures), len(probes), failures[:3]))
        wait_for("web.prod answered by tasks two and three",
                 lambda: answers(port, "web.prod", {"two", "three"}))

        # a burst of changes: the last one is served
        for i in range(12):
            m.apps = [web(b2, b3), {"id": "/burst%d" % i, "labels": {"HAPROXY_GROUP": "external"},
                                    "tasks": [{"host": "127.0.0.1", "ports": [b2.server_address[1]]}]}]
            time.sleep(0.15)
        wait_for("the last change", lambda: get(port, host="burst11")[1] == "two")
        if get(port, host="burst10")[0] != 503:
            fail("an app gone from Marathon is still served")

        # Marathon refuses the password: said on the status path, backends kept
        m.password = "changed"
        status = wait_for("the refusal on the status path",
                          lambda: (lambda r: r if r[0] == 503 else None)(get(port, STATUS_PATH)))
        if "401 Invalid username or password." not in status[1] or PASSWORD in status[1]:
            fail("the status path says %r" % (status,))
        # (a configuration without them would answer 503 until the deadline)
        wait_for("web.prod answered while Marathon refuses",
                 lambda: answers(port, "web.prod", {"two", "three"}))
        m.password = PASSWORD
        wait_for("the status line back", lambda: get(port, STATUS_PATH)[0] == 200)

        # stopping the watcher stops haproxy
        watcher.terminate()
        if watcher.wait(STEP_SECONDS) != 0:
            fail("the watcher exited with %s" % watcher.returncode)
        wait_for("haproxy gone", lambda: get(port, STATUS_PATH)[0] == 0)
        with open(os.path.join(work, "log")) as f:
            text = f.read()
        if PASSWORD in text:
            fail("the password reached the log")
        print("marathon-lb: follows Marathon, replaces tasks without a failed request, reports refusals")
        return 0
    except AssertionError as e:
        fail(str(e))
    finally:
        if watcher.poll() is None:
            os.killpg(watcher.pid, signal.SIGKILL)
            watcher.wait()
        log.close()
        if os.environ.get("KEEP") is None:
            with open(os.path.join(work, "log")) as f:
                tail = f.read()[-3000:]
            shutil.rmtree(work, ignore_errors=True)
            if sys.exc_info()[0] is not None:
                sys.stderr.write(tail)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
