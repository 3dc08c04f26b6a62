"""Service health checks run for real: HTTP (2xx passing, 429 warning,
anything else critical) and TCP (connect). Used by the consul agent for
the checks registered with it, and by the nomad client for services whose
provider is nomad."""
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request


def run_http(url, timeout, method="GET", headers=None, skip_verify=False):
    req = urllib.request.Request(url, method=method or "GET", headers=headers or {})
    ctx = None
    if url.startswith("https") and skip_verify:
        ctx = ssl._create_unverified_context()
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
            body = r.read(4096).decode("utf-8", "replace")
            return "passing", "HTTP %s %s: %d OK Output: %s" % (method or "GET", url, r.status, body[:200])
    except urllib.error.HTTPError as e:
        status = "warning" if e.code == 429 else "critical"
        return status, "HTTP %s %s: %d %s" % (method or "GET", url, e.code, e.reason)
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        return "critical", 'Get "%s": %s' % (url, reason)


def run_tcp(address, timeout):
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return "passing", "TCP connect %s: Success" % address
    except (OSError, ValueError) as e:
        return "critical", "dial tcp %s: %s" % (address, getattr(e, "strerror", None) or e)


class CheckRunner:
    """Runs one check every interval in a thread; status starts critical
    (or the check's initial status) and update(status, output) is called
    after each run."""

    def __init__(self, kind, target, interval, timeout, update, method="GET", headers=None,
                 skip_verify=False):
        self.kind, self.target = kind, target
        self.interval, self.timeout = max(interval, 0.2), max(timeout, 0.1)
        self.update = update
        self.method, self.headers, self.skip_verify = method, headers, skip_verify
        self.stopped = threading.Event()
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        time.sleep(0.2)
        while not self.stopped.is_set():
            if self.kind == "http":
                status, out = run_http(self.target, self.timeout, self.method, self.headers, self.skip_verify)
            else:
                status, out = run_tcp(self.target, self.timeout)
            if not self.stopped.is_set():
                self.update(status, out)
            self.stopped.wait(self.interval)

    def stop(self):
        self.stopped.set()
