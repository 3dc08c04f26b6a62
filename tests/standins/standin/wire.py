"""JSON over HTTP between the Mesos and Marathon stand-ins: where real
Mesos speaks libprocess messages on the same ports, these send one JSON
request to a private path (/__standin/...) and read one JSON reply."""
import json
import urllib.error
import urllib.request


class WireError(Exception):
    def __init__(self, status, body):
        super().__init__("HTTP %s: %s" % (status, body))
        self.status = status
        self.body = body


def call(method, url, body=None, timeout=5, headers=None):
    """-> parsed JSON reply (or None); raises WireError / OSError."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            text = r.read()
    except urllib.error.HTTPError as e:
        text = e.read()
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text.decode("utf-8", "replace")
        raise WireError(e.code, parsed)
    return json.loads(text) if text else None


def hostport(host, port):
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)
