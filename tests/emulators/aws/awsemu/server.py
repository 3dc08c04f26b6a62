"""One loopback HTTP endpoint for every service: authenticate, route, validate, answer."""
import copy
import datetime
import http.server
import json
import socket
import threading
import time
import traceback
from urllib.parse import parse_qsl, unquote, urlsplit

from . import s3, sigv4
from .errors import ApiError
from .serialize import Serializer
from .validate import Decoder, compile_routes

_AUTH_ERRORS = {
    # kind -> (code, status) for EC2 / for the other services
    "missing": (("MissingAuthenticationToken", 401), ("MissingAuthenticationToken", 403)),
    "incomplete": (("IncompleteSignature", 400), ("IncompleteSignature", 400)),
    "mismatch": (("SignatureDoesNotMatch", 403), ("SignatureDoesNotMatch", 403)),
    "expired": (("RequestExpired", 400), ("RequestExpired", 400)),
    "unknown_key": (("AuthFailure", 401), ("InvalidClientTokenId", 403)),
    "bad_token": (("AuthFailure", 401), ("InvalidClientTokenId", 403)),
}
_EC2_AUTH_FAILURE = "AWS was not able to validate the provided access credentials"
# S3 answers authentication failures with codes of its own.
_S3_AUTH_ERRORS = {
    "missing": ("AccessDenied", 403),
    "incomplete": ("AuthorizationHeaderMalformed", 400),
    "mismatch": ("SignatureDoesNotMatch", 403),
    "expired": ("RequestTimeTooSkewed", 403),
    "unknown_key": ("InvalidAccessKeyId", 403),
    "bad_token": ("InvalidToken", 400),
}

_FAULT_ERRORS = {
    # protocol -> throttle (code, status, message), internal error (code, status, message)
    "ec2": (("RequestLimitExceeded", 503, "Request limit exceeded."),
            ("InternalError", 500, "An internal error has occurred")),
    "query": (("Throttling", 400, "Rate exceeded"),
              ("InternalFailure", 500, "An internal error occurred.")),
    "rest-xml": (("Throttling", 400, "Rate exceeded"),
                 ("InternalFailure", 500, "An internal error occurred.")),
    "s3": (("SlowDown", 503, "Please reduce your request rate."),
           ("InternalError", 500, "We encountered an internal error. Please try again.")),
}


class Context:
    """What a handler knows about the call besides its parameters."""

    def __init__(self, emulator, service, region, action, request_id):
        self.emulator = emulator
        self.service = service
        self.region_name = region
        self.region = emulator.region(region)
        self.action = action
        self.request_id = request_id
        self.account_id = emulator.config.account_id
        self.now = datetime.datetime.now(datetime.timezone.utc)


class Gateway:
    """Everything between raw HTTP and the service handlers."""

    def __init__(self, emulator, models, services, faults, log_path=None):
        self.emulator = emulator
        self.models = models
        self.services = services
        self.faults = faults
        self.serializers = {name: s3.S3Serializer(m) if name == "s3" else Serializer(m)
                            for name, m in models.items()}
        self.decoders = {name: Decoder(m) for name, m in models.items()}
        self.routes = {name: compile_routes(m) for name, m in models.items()
                       if m.protocol == "rest-xml" and name != "s3"}
        self.s3_routes = s3.compile_s3_routes(models["s3"])
        self.by_version = {m.api_version: name for name, m in models.items()}
        self.observer = None  # tests: fn(service, action, result, (status, headers, body))
        self._log_lock = threading.Lock()
        self._log = open(log_path, "a", encoding="utf-8") if log_path else None

    def log(self, service, action, status, code, note=""):
        if self._log is None:
            return
        line = "%s %s %s %d %s%s\n" % (
            datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            service, action or "-", status, code or "-", (" " + note) if note else "")
        with self._log_lock:
            self._log.write(line)
            self._log.flush()

    def guess_service(self, path, form, method="POST"):
        if path.startswith("/2013-04-01/"):
            return "route53"
        params = dict(form)
        if method != "POST" and path != "/" and "Action" not in params:
            return "s3"
        return self.by_version.get(params.get("Version"), "ec2")

    def auth_error(self, service, err):
        if service == "s3":
            code, status = _S3_AUTH_ERRORS[err.kind]
            return ApiError(code, err.message, status)
        ec2_form, other_form = _AUTH_ERRORS[err.kind]
        code, status = ec2_form if service == "ec2" else other_form
        message = err.message
        if service == "ec2" and code == "AuthFailure":
            message = _EC2_AUTH_FAILURE
        return ApiError(code, message, status)

    def handle(self, request):
        """request: the RequestHandler; returns (status, headers, body) or None to drop."""
        split = urlsplit(request.path)
        path, raw_query = split.path, split.query
        headers = list(request.headers.items())
        body = request.body
        form = []
        content_type = request.headers.get("Content-Type", "")
        if request.command == "POST" and content_type.startswith(
                "application/x-www-form-urlencoded"):
            form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        service = self.guess_service(path, form + parse_qsl(raw_query), request.command)
        # Named in the log even when authentication fails (Query protocols only).
        action = dict(form + parse_qsl(raw_query)).get("Action")
        request_id = self.emulator.ids.request_id()
        try:
            try:
                auth = sigv4.parse_authorization(request.headers.get("Authorization"))
            except sigv4.AuthError as e:
                raise self.auth_error(service, e)
            if auth.service not in self.models:
                raise ApiError("SignatureDoesNotMatch", "Credential should be scoped to correct "
                               "service: '%s' is not served here." % auth.service[:40], 403)
            service = auth.service
            model = self.models[service]
            valid_regions = ({"us-east-1"} if service == "route53"
                             else self.emulator.valid_regions())
            rules = {}
            if service == "s3":
                rules = {"uri_rule": s3.canonical_uri,
                         "payload_hash": s3.check_payload(headers, body)}
            try:
                sigv4.verify(auth, request.command, path, raw_query, headers, body,
                             self.emulator.config.credentials, valid_regions,
                             datetime.datetime.now(datetime.timezone.utc), **rules)
            except sigv4.AuthError as e:
                raise self.auth_error(service, e)
            if service == "s3":
                action, call = self._route_s3(request.command, path, raw_query, headers, body)
            elif model.protocol == "rest-xml":
                action, call = self._route_rest(service, request.command, path, raw_query,
                                                headers, body)
            else:
                action, call = self._route_form(service, form + parse_qsl(
                    raw_query, keep_blank_values=True))
            return self._run(service, auth.region, action, call, request_id)
        except ApiError as err:
            status, out_headers, out_body = self.serializers[service].error(err, request_id)
            if not isinstance(err, _Quiet):
                self.log(service, action, status, err.code)
            return status, out_headers, out_body

    def _route_form(self, service, pairs):
        model = self.models[service]
        params = dict(pairs)
        action = params.get("Action")
        if not action:
            raise ApiError("MissingAction", "The request must contain the parameter Action")
        if "Version" not in params:
            raise ApiError("MissingParameter", "The request must contain the parameter Version")
        if params["Version"] != model.api_version:
            raise ApiError("NoSuchVersion", "The requested version (%s) of service %s does "
                           "not exist" % (params["Version"][:20], model.metadata["serviceId"]))
        if action not in model.operations:
            raise ApiError("InvalidAction",
                           "The action %s is not valid for this web service." % action[:64])
        rest = [(k, v) for k, v in pairs if k not in ("Action", "Version")]
        decoder = self.decoders[service]
        return action, lambda: decoder.decode_form(action, rest)

    def _route_rest(self, service, method, path, raw_query, headers, body):
        for route_method, regex, _, name in self.routes[service]:
            if route_method != method:
                continue
            m = regex.match(path)
            if m:
                uri = {k: unquote(v) for k, v in m.groupdict().items()}
                query = parse_qsl(raw_query, keep_blank_values=True)
                decoder = self.decoders[service]
                return name, lambda: decoder.decode_rest(name, uri, query, headers, body)
        raise ApiError("InvalidAction", "The action or operation requested is invalid: "
                       "%s %s" % (method, path[:100]))

    def _route_s3(self, method, path, raw_query, headers, body):
        query = parse_qsl(raw_query, keep_blank_values=True)
        present = {k for k, _ in query}
        sent = {k.lower() for k, _ in headers}
        for route_method, regex, keys, needed, _, name in self.s3_routes:
            if route_method != method or not all(k in present for k in keys) or \
                    not all(h in sent for h in needed):
                continue
            m = regex.match(path)
            if m:
                uri = {k: unquote(v) for k, v in m.groupdict().items()}
                bare = {k for k in keys if not dict(query).get(k)}
                rest = [(k, v) for k, v in query if k not in bare]
                decoder = self.decoders["s3"]
                return name, lambda: decoder.decode_rest(name, uri, rest, headers, body)
        raise s3.s3_error("MethodNotAllowed", "The specified method is not allowed against "
                          "this resource.", Method=method)

    def _run(self, service, region, action, decode, request_id):
        model = self.models[service]
        with self.emulator.lock:
            self.emulator.calls[service][action] += 1
        handler = getattr(self.services[service], action, None)
        fault = self.faults.draw(action)
        note = ""
        if fault:
            kind, phase = fault
            throttle, internal = _FAULT_ERRORS.get(service) or _FAULT_ERRORS[model.protocol]
            note = "fault=%s%s" % (kind, "-after" if kind == "drop" and phase == "after" else "")
            if kind == "throttle":
                self.log(service, action, throttle[1], throttle[0], note)
                raise _Quiet(ApiError(throttle[0], throttle[2], throttle[1]))
            if kind == "500":
                self.log(service, action, internal[1], internal[0], note)
                raise _Quiet(ApiError(internal[0], internal[2], internal[1], sender=False))
            if kind == "latency":
                time.sleep(self.faults.latency_ms / 1000.0)
            if kind == "drop" and phase == "before":
                self.log(service, action, 0, "dropped", note)
                return None
        params = decode()
        if handler is None:
            raise ApiError("UnsupportedOperation",
                           "The operation %s is not supported by this emulator." % action)
        ctx = Context(self.emulator, service, "us-east-1" if service == "route53" else region,
                      action, request_id)
        try:
            # Results share structure with the live state: serialize before letting go.
            with self.emulator.lock:
                result = handler(ctx, params) or {}
                response = self.serializers[service].response(action, result, request_id)
                if self.observer is not None:
                    self.observer(service, action, copy.deepcopy(result), response)
        except ApiError:
            raise
        except Exception:
            traceback.print_exc()
            code = (_FAULT_ERRORS.get(service) or _FAULT_ERRORS[model.protocol])[1][0]
            raise ApiError(code, "emulator bug in %s; see its stderr" % action, 500, False)
        if fault and fault[0] == "drop":
            self.log(service, action, 0, "dropped", note)
            return None
        self.log(service, action, response[0], None, note)
        return response


class _Quiet(ApiError):
    """A fault answer already logged."""

    def __init__(self, err):
        super().__init__(err.code, err.message, err.status, err.sender)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "AmazonEmulator"

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
        if "Content-Length" not in headers:
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

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = lambda self: self._dispatch()

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
                                         spec.get("seed"), spec.get("actions"))
                out = gateway.faults.describe()
            elif self.command == "POST" and path == "/_emulator/reset":
                emulator.reset()
                out = {"reset": True}
            else:
                return self._answer(404, {"Content-Type": "application/json"},
                                    b'{"error": "no such control endpoint"}')
        except (ValueError, TypeError) as e:
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
