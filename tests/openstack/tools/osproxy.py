#!/usr/bin/python3
"""A reverse proxy between the openstack plugin and the test world's services,
which kills infra (or revokes its token) at the Nth mutating request.

    osproxy.py WORLD PORT_FILE LOG

Listens on 127.0.0.1 (a free port, written to PORT_FILE) and forwards
/SERVICE/REST to the world's SERVICE (compute, network, image, dns,
load-balancer) at REST: the plugin's per-service endpoint overrides point
at http://127.0.0.1:PORT/SERVICE (compute: .../compute/v2.1). Keystone is
not proxied.

Mutating requests are POST, PUT, DELETE and PATCH, except the console
reads (POST .../action with os-getConsoleOutput). Control, on the same port:

    POST /_proxy/arm {"n": N, "when": "before"|"after", "action": "kill"|"revoke",
                      "pidfile": PATH}
        at the Nth mutating request from now: "kill" sends SIGKILL to the pid
        in PATH, before forwarding the request (which never reaches the
        service) or after the service answered (the answer never reaches
        infra); "revoke" revokes the request's token through Keystone
        (DELETE /v3/auth/tokens), waits until the service refuses it (its
        token cache expires), then forwards the request, whose 401 infra
        receives. The trigger fires once.
        With "when": "each" (and "kill"), the trigger stays armed: a
        mutating request (method, path, body) never killed before is killed
        before it is forwarded, one killed before but never after is killed
        after its answer, and others pass; what was killed is remembered
        across arms, so that a series of runs kills every mutating request
        of an up once before and once after it takes effect, whatever order
        each run makes them in. An arm of null disarms.
    GET  /_proxy/state   {"mutating": count since the last arm, "fired": [...]}
    GET  /_proxy/log     every request: method, path, status, token digest

Every request is also appended to LOG as one JSON line.
"""
import hashlib
import http.client
import http.server
import json
import os
import signal
import socketserver
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oshttp  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from test_world import World, endpoint  # noqa: E402

SERVICES = ("compute", "network", "image", "dns", "load-balancer")
# A GET of each service that needs a valid token (revocation probe).
PROBES = {"compute": "/v2.1/servers?limit=1", "network": "/v2.0/networks?limit=1",
          "image": "/v2/images?limit=1", "dns": "/v2/zones?limit=1",
          "load-balancer": "/v2/lbaas/loadbalancers?limit=1"}
REVOKE_WAIT_S = 120


class Proxy:
    def __init__(self, world, log_path):
        self.world = world
        self.lock = threading.Lock()
        self.upstream = {}
        auth = world.cloud["auth"]
        _token, body = oshttp.token(world.keystone, oshttp.password_auth(
            auth["username"], auth["password"], auth["project_name"]))
        for s in SERVICES:
            url = urllib.parse.urlsplit(endpoint(body["catalog"], s, world.region))
            self.upstream[s] = url.netloc
        self.log_path = log_path
        self.log = []
        self.mutating = 0
        self.trigger = None
        self.fired = []
        self.killed = {"before": set(), "after": set()}

    def record(self, entry):
        with self.lock:
            self.log.append(entry)
        with open(self.log_path, "a") as f:
            f.write(json.dumps(entry) + "\n")


def digest(token):
    return hashlib.sha256(token.encode()).hexdigest()[:12] if token else None


def is_mutating(method, path, body):
    if method not in ("POST", "PUT", "DELETE", "PATCH"):
        return False
    return not (method == "POST" and path.endswith("/action") and b"os-getConsoleOutput" in body)


def kill(pidfile):
    try:
        with open(pidfile) as f:
            os.kill(int(f.read().strip()), signal.SIGKILL)
        return True
    except (OSError, ValueError):
        return False


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy = None

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def control(self, body):
        p = self.proxy
        if self.command == "POST" and self.path == "/_proxy/arm":
            spec = json.loads(body or b"{}")
            with p.lock:
                p.mutating = 0
                p.trigger = spec
            return self.reply(200, {"armed": spec})
        if self.command == "GET" and self.path == "/_proxy/state":
            with p.lock:
                return self.reply(200, {"mutating": p.mutating, "fired": p.fired,
                                        "armed": p.trigger})
        if self.command == "GET" and self.path == "/_proxy/log":
            with p.lock:
                return self.reply(200, p.log)
        return self.reply(404, {"error": "no such control"})

    def forward(self, service, rest, body):
        conn = http.client.HTTPConnection(self.proxy.upstream[service], timeout=120)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "connection", "content-length",
                                        "transfer-encoding")}
        if body:
            headers["Content-Length"] = str(len(body))
        conn.request(self.command, rest, body=body or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        answer = (resp.status, [(k, v) for k, v in resp.getheaders()
                                if k.lower() not in ("connection", "transfer-encoding",
                                                     "content-length")], data)
        conn.close()
        return answer

    def relay(self, answer):
        status, headers, data = answer
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def revoke(self, service, token):
        """Revokes token, then waits until the service refuses it."""
        w = self.proxy.world
        oshttp.call("DELETE", w.keystone + "/auth/tokens", token=token,
                    headers={"X-Subject-Token": token}, expect=(204, 404))
        deadline = time.monotonic() + REVOKE_WAIT_S
        while time.monotonic() < deadline:
            # A busy service may answer slowly or not at all: a probe that
            # fails is tried again until the deadline.
            left = max(1.0, deadline - time.monotonic())
            try:
                conn = http.client.HTTPConnection(self.proxy.upstream[service], timeout=left)
                conn.request("GET", PROBES[service], headers={"X-Auth-Token": token})
                status = conn.getresponse().status
                conn.close()
            except OSError:
                status = None
            if status == 401:
                return True
            time.sleep(0.2)
        return False

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/_proxy/"):
            return self.control(body)
        parts = self.path.split("/", 2)
        service = parts[1] if len(parts) > 1 else ""
        rest = "/" + (parts[2] if len(parts) > 2 else "")
        if service not in SERVICES:
            return self.reply(404, {"error": "no such service %s" % service})
        p = self.proxy
        token = self.headers.get("X-Auth-Token")
        action = None
        mutating = is_mutating(self.command, rest, body)
        with p.lock:
            if mutating:
                p.mutating += 1
                t = p.trigger
                key = "%s %s %s" % (self.command, rest, hashlib.sha256(body).hexdigest()[:12])
                if t is not None and t.get("when") == "each":
                    for when in ("before", "after"):
                        if key not in p.killed[when]:
                            p.killed[when].add(key)
                            action = dict(t, when=when)
                            p.trigger = None
                            p.fired.append({"n": p.mutating, "method": self.command, "path": rest,
                                            "key": key, "action": "kill", "when": when})
                            break
                elif t is not None and p.mutating == int(t.get("n", 1)):
                    action = t
                    p.trigger = None
                    p.fired.append({"n": p.mutating, "method": self.command, "path": rest,
                                    "action": t.get("action", "kill"),
                                    "when": t.get("when", "before")})
        entry = {"method": self.command, "service": service, "path": rest,
                 "token": digest(token), "mutating": mutating}
        kind = action.get("action", "kill") if action else None
        if kind == "kill" and action.get("when", "before") == "before":
            kill(action["pidfile"])
            entry["killed"] = "before"
            p.record(entry)
            self.close_connection = True
            return
        if kind == "revoke":
            try:
                entry["revoked"] = self.revoke(service, token)
            except Exception as e:  # recorded: the test then says what went wrong
                entry["revoked"] = False
                entry["revoke_error"] = str(e)
        try:
            answer = self.forward(service, rest, body)
        except OSError as e:
            entry["error"] = str(e)
            p.record(entry)
            return self.reply(502, {"error": str(e)})
        entry["status"] = answer[0]
        if kind == "kill":
            kill(action["pidfile"])
            entry["killed"] = "after"
            p.record(entry)
            self.close_connection = True
            return
        p.record(entry)
        self.relay(answer)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    Handler.proxy = Proxy(World(argv[1]), argv[3])
    server = Server(("127.0.0.1", 0), Handler)
    with open(argv[2] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(argv[2] + ".tmp", argv[2])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
