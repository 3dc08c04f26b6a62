"""One loopback HTTP endpoint: OAuth, metadata server, Compute, Cloud DNS, control API.

An API call is routed by HTTP method and path template (discovery documents),
authenticated (a live bearer token this emulator issued, with a scope the
method accepts), counted, perhaps faulted, checked against the method's
parameters and request schema, and only then handed to its handler.
"""
import datetime
import http.server
import json
import socket
import threading
import time
import traceback
from urllib.parse import parse_qsl, urlsplit

from . import errors, listing, schema
from .core import rfc3339
from .crash import CrashPoint

API_PREFIXES = {"/compute/v1/projects/": "compute", "/dns/v1/projects/": "dns"}


def handles(*method_ids):
    """Marks a service method as the handler of these discovery method ids."""
    def mark(fn):
        fn._handles = method_ids
        return fn
    return mark


class Context:
    """What a handler knows about the call: method, parameters, body, project, scope."""

    def __init__(self, emulator, method, params, body, principal):
        self.emulator = emulator
        self.method = method
        self.params = params
        self.body = body
        self.principal = principal
        self.project = emulator.projects[params["project"]]
        if "zone" in method.parameters and method.parameters["zone"].get("location") == "path":
            self.scope = "zones/" + params["zone"]
        elif "region" in method.parameters and method.parameters["region"].get(
                "location") == "path":
            self.scope = "regions/" + params["region"]
        else:
            self.scope = "global"
        self.now = rfc3339()

    @property
    def zone(self):
        return self.params.get("zone")

    @property
    def region(self):
        return self.params.get("region")


class Gateway:
    """Everything between raw HTTP and the handlers."""

    def __init__(self, emulator, discovery, auth, faults, log_path=None):
        self.emulator = emulator
        self.discovery = discovery
        self.auth = auth
        self.faults = faults
        self.handlers = {}
        self.observer = None  # tests: fn(method, status, body object)
        self.crash = CrashPoint()
        self._log_lock = threading.Lock()
        self._log = open(log_path, "a", encoding="utf-8") if log_path else None

    def register(self, service):
        for name in dir(service):
            fn = getattr(service, name)
            for method_id in getattr(fn, "_handles", ()):
                if method_id not in self.discovery.methods:
                    raise RuntimeError("handler for %s, which the documents do not have"
                                       % method_id)
                self.handlers[method_id] = fn

    def log(self, service, method, status, reason, note=""):
        if self._log is None:
            return
        line = "%s %s %s %d %s%s\n" % (
            datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            service, method or "-", status, reason or "-", (" " + note) if note else "")
        with self._log_lock:
            self._log.write(line)
            self._log.flush()

    # -- entry ---------------------------------------------------------------------
    def handle(self, request):
        """(status, headers, body bytes), or None to drop the connection."""
        split = urlsplit(request.path)
        path, query = split.path, split.query
        if path == "/token":
            return self._token(request)
        if path == "/" and request.command == "GET":
            # the metadata server's root, which Google's libraries ping to
            # tell whether they run on Compute Engine
            status, headers, body = self.auth.metadata_root(request.headers)
            self.log("metadata", "/", status, None)
            return status, headers, body
        if path.startswith("/computeMetadata/v1/"):
            status, headers, body = self.auth.metadata(path, query, request.headers)
            self.log("metadata", path[len("/computeMetadata/v1/"):][:80], status, None)
            return status, headers, body
        for prefix, service in API_PREFIXES.items():
            if path.startswith(prefix):
                return self._api(service, request, path, query)
        self.log("-", None, 404, "notFound")
        return 404, {"Content-Type": "text/plain"}, b"Not Found\n"

    def _token(self, request):
        if request.command != "POST":
            self.log("oauth", "token", 405, "methodNotAllowed")
            return 405, {"Content-Type": "application/json", "Allow": "POST"}, \
                json.dumps({"error": "invalid_request", "error_description":
                            "The token endpoint wants POST."}).encode()
        audience = "http://%s/token" % request.headers.get("Host", "")
        status, body = self.auth.token_endpoint(audience, request.body)
        self.log("oauth", "token", status, body.get("error"))
        return status, {"Content-Type": "application/json; charset=utf-8",
                        "Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"}, \
            json.dumps(body).encode()

    def _api(self, service, request, path, query):
        method, path_values = self.discovery.route(request.command, path)
        pairs = parse_qsl(query, keep_blank_values=True)
        method_id = method.id if method else None
        try:
            if method is None:
                raise errors.no_such_method(request.command, path)
            token_param = dict(pairs).get("oauth_token") or dict(pairs).get("access_token")
            pairs = [(k, v) for k, v in pairs if k != "access_token"]
            record = self.auth.authenticate(request.headers.get("Authorization"), token_param)
            self.auth.authorize(record, method)
            with self.emulator.lock:
                self.emulator.calls[service][method.id] += 1
            fault = self.faults.draw()
            note = ""
            if fault:
                kind, phase = fault
                note = "fault=%s%s" % (kind, "-after" if kind == "drop" and phase == "after"
                                       else "")
                err = {"ratelimit": lambda: errors.rate_limited(service),
                       "userratelimit": errors.user_rate_limited,
                       "500": errors.internal_error, "503": errors.unavailable}.get(kind)
                if err is not None:
                    raise _Faulted(err(), note)
                if kind == "latency":
                    time.sleep(self.faults.latency_ms / 1000.0)
                if kind == "drop" and phase == "before":
                    self.log(service, method.id, 0, "dropped", note)
                    return None
            params = schema.check_parameters(method, path_values, pairs)
            body = schema.check_body(method, request.body, params)
            crash = self.crash.count(method)
            if crash == "before":
                self.crash.kill()
                self.log(service, method.id, 0, "dropped", "crash=before")
                return None
            status, out = self._run(method, params, body, record["principal"])
            if crash == "after":
                self.crash.kill()
                self.log(service, method.id, 0, "dropped", "crash=after")
                return None
            if fault and fault[0] == "drop":
                self.log(service, method.id, 0, "dropped", note)
                return None
            self.log(service, method.id, status, None, note)
            return self._encode(status, out, params)
        except _Faulted as f:
            self.log(service, method_id, f.err.status, f.err.reason, f.note)
            return f.err.status, _json_headers(f.err.headers), f.err.encode()
        except errors.ApiError as err:
            self.log(service, method_id, err.status, err.reason)
            return err.status, _json_headers(err.headers), err.encode()

    def _run(self, method, params, body, principal):
        handler = self.handlers.get(method.id)
        if handler is None:
            raise errors.not_implemented(method.id)
        with self.emulator.lock:
            if params["project"] not in self.emulator.projects:
                raise errors.not_found("projects/%s" % params["project"])
            ctx = Context(self.emulator, method, params, body, principal)
            self._check_scope(ctx)
            try:
                out = None
                if "requestId" in method.parameters:
                    # A repeat within the window answers the first call's operation.
                    out = self.emulator.services["operations"].replay(ctx)
                if out is None:
                    out = handler(ctx)
            except errors.ApiError:
                raise
            except Exception:
                traceback.print_exc()
                raise errors.ApiError(500, "emulator bug in %s; see its stderr" % method.id,
                                      "backendError")
            status = 200 if out is not None else 204
            if self.observer is not None:
                self.observer(method, status, json.loads(json.dumps(out)))
            return status, out

    def _check_scope(self, ctx):
        config = self.emulator.config
        if ctx.project.name != config.project:
            if ctx.method.http_method != "GET" or ctx.method.collection != "images":
                raise errors.forbidden("Required '%s' permission for 'projects/%s'"
                                       % (ctx.method.id, ctx.project.name))
            return
        if ctx.scope.startswith("zones/") and ctx.zone not in config.zones():
            raise errors.invalid_field("zone", ctx.zone, "Unknown zone.")
        if ctx.scope.startswith("regions/") and ctx.region not in config.regions:
            raise errors.invalid_field("region", ctx.region, "Unknown region.")

    @staticmethod
    def _encode(status, out, params):
        if out is None:
            return status, {}, b""
        if params.get("fields"):
            out = listing.select_fields(out, params["fields"])
        pretty = params.get("prettyPrint", True)
        body = json.dumps(out, indent=2 if pretty else None).encode()
        return status, _json_headers({}), body


class _Faulted(Exception):
    def __init__(self, err, note):
        super().__init__(err.message)
        self.err = err
        self.note = note


def _json_headers(extra):
    out = {"Content-Type": "application/json; charset=UTF-8", "Vary": "Origin, X-Origin"}
    out.update(extra)
    return out


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ESF"

    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):
        pass

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle's
        # algorithm and delayed ACKs add 40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length > 0 else b""

    def _answer(self, status, headers, body):
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _dispatch(self):
        self._read_body()
        gateway = self.server.gateway
        if self.path.startswith("/_emulator/"):
            return self._control(gateway)
        answer = gateway.handle(self)
        if answer is None:
            return self._drop()
        self._answer(*answer)

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionError, socket.timeout):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = lambda self: self._dispatch()

    def _control(self, gateway):
        emulator = gateway.emulator
        path = urlsplit(self.path).path
        try:
            if self.command == "GET" and path == "/_emulator/state":
                out = emulator.snapshot()
            elif self.command == "GET" and path == "/_emulator/calls":
                with emulator.lock:
                    out = {svc: dict(counts) for svc, counts in emulator.calls.items()}
            elif self.command == "POST" and path == "/_emulator/faults":
                spec = json.loads(self.body or b"{}")
                gateway.faults.configure(spec.get("rate", 0.0),
                                         spec.get("kinds", gateway.faults.kinds),
                                         spec.get("latency_ms", gateway.faults.latency_ms),
                                         spec.get("seed"))
                out = gateway.faults.describe()
            elif self.command == "POST" and path == "/_emulator/reset":
                emulator.reset()
                gateway.crash.clear()
                out = {"reset": True}
            elif self.command == "POST" and path == "/_emulator/operation-errors":
                out = {"pending": emulator.services["operations"].inject(
                    json.loads(self.body or b"{}"))}
            elif self.command == "GET" and path == "/_emulator/operation-errors":
                with emulator.lock:
                    out = {"pending": emulator.services["operations"].snapshot()["injections"]}
            elif self.command == "POST" and path == "/_emulator/crash-point":
                out = gateway.crash.arm(json.loads(self.body or b"{}"))
            elif self.command == "GET" and path == "/_emulator/crash-point":
                out = gateway.crash.describe()
            elif self.command == "POST" and path == "/_emulator/expire-tokens":
                out = {"expired": gateway.auth.expire_all()}
            else:
                return self._answer(404, {"Content-Type": "application/json"},
                                    b'{"error": "no such control endpoint"}')
        except (ValueError, TypeError, KeyError) as e:
            return self._answer(400, {"Content-Type": "application/json"},
                                json.dumps({"error": str(e)}).encode())
        self._answer(200, {"Content-Type": "application/json"},
                     json.dumps(out, indent=1, sort_keys=True).encode())


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, gateway):
        super().__init__(address, Handler)
        self.gateway = gateway
