"""The agents' HTTP API server: http.server with optional TLS, one handler
function per agent, JSON bodies out, plain-text error bodies (as both
agents write them)."""
import json
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import log


class HTTPError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class Request:
    def __init__(self, method, path, query, headers, body, remote):
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.remote = remote

    def q(self, name, default=None):
        v = self.query.get(name)
        return v[0] if v else default

    def flag(self, name):
        v = self.query.get(name)
        return v is not None and v[0] not in ("false", "0")

    def json(self):
        if not self.body:
            raise HTTPError(400, "Request body is empty")
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as e:
            raise HTTPError(400, "Failed to decode request body: %s" % e)

    def to_dict(self):
        return {"method": self.method, "path": self.path, "query": self.query,
                "headers": self.headers, "body": self.body.decode("latin-1"), "remote": self.remote}

    @classmethod
    def from_dict(cls, d):
        return cls(d["method"], d["path"], d["query"], d["headers"], d["body"].encode("latin-1"), d["remote"])


class Response:
    def __init__(self, status=200, body=None, headers=None, raw=None):
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.raw = raw

    def encode(self, pretty=False):
        if self.raw is not None:
            return self.raw if isinstance(self.raw, bytes) else self.raw.encode()
        if pretty:
            return (json.dumps(self.body, indent=4) + "\n").encode()
        return json.dumps(self.body, separators=(",", ":")).encode()

    def to_dict(self):
        return {"status": self.status, "body": self.body, "headers": self.headers,
                "raw": self.raw.decode("latin-1") if isinstance(self.raw, bytes) else self.raw}

    @classmethod
    def from_dict(cls, d):
        return cls(d["status"], d.get("body"), d.get("headers") or {}, d.get("raw"))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60
    server_version = ""
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    def _serve(self):
        srv = self.server
        parsed = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        req = Request(self.command, urllib.parse.unquote(parsed.path), query, headers, body,
                      self.client_address[0])
        try:
            resp = srv.handler(req)
        except HTTPError as e:
            resp = Response(e.status, raw=e.message)
        except Exception as e:  # an internal failure still gets an answer
            log.error(srv.component, "http: request failed", method=req.method, path=req.path, error=repr(e))
            resp = Response(500, raw="internal error: %r" % e)
        data = resp.encode(pretty="pretty" in query)
        self.send_response(resp.status)
        ctype = getattr(resp, "content_type", None) or (
            "text/plain; charset=utf-8" if resp.raw is not None else "application/json")
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        log.debug(srv.component, "http: request complete", method=req.method, path=req.path,
                  status=resp.status)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler_cls, family):
        self.address_family = family
        super().__init__(addr, handler_cls)

    def get_request(self):
        sock, addr = super().get_request()
        if self.tls_ctx is not None:
            # The handshake happens on first read, in the request's thread.
            sock = self.tls_ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        import sys
        log.debug(self.component, "http: connection error", remote=client_address[0],
                  error=repr(sys.exc_info()[1]))


def serve(component, addr, port, handler, tls_ctx=None):
    """Starts an HTTP(S) server in a thread; handler(Request) -> Response."""
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    srv = _Server((addr, port), _Handler, family)
    srv.component = component
    srv.handler = handler
    srv.tls_ctx = tls_ctx
    threading.Thread(target=srv.serve_forever, name="http-%s-%d" % (addr, port), daemon=True).start()
    return srv
