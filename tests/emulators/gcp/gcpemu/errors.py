"""Errors in Google's JSON shape, and the ones Compute Engine and Cloud DNS give.

Two families, as Google has them: the API front end's (authentication, JSON
payload and parameter binding, rate limits) carry a "status" such as
INVALID_ARGUMENT; Compute's own answers (notFound, alreadyExists, invalid
field values) carry only code, message and errors[], like the service does.
"""
import json

_STATUS_TEXT = {400: "BAD REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT FOUND",
                409: "CONFLICT", 412: "PRECONDITION FAILED", 429: "TOO MANY REQUESTS",
                500: "INTERNAL SERVER ERROR", 503: "SERVICE UNAVAILABLE"}


class ApiError(Exception):
    """One error answer: HTTP status, message, reason (errors[0].reason)."""

    def __init__(self, status, message, reason, domain="global", rpc_status=None,
                 location=None, location_type=None, headers=None, extra_message=None):
        super().__init__("%d %s: %s" % (status, reason, message))
        self.status = status
        self.message = message
        self.reason = reason
        self.domain = domain
        self.rpc_status = rpc_status
        self.location = location
        self.location_type = location_type
        self.headers = headers or {}
        self.item_message = extra_message or message

    def body(self):
        item = {"message": self.item_message, "domain": self.domain, "reason": self.reason}
        if self.location:
            item["location"] = self.location
            item["locationType"] = self.location_type or "parameter"
        err = {"code": self.status, "message": self.message, "errors": [item]}
        if self.rpc_status:
            err["status"] = self.rpc_status
        return {"error": err}

    def encode(self):
        return json.dumps(self.body(), indent=2).encode()


def http_status_text(status):
    return _STATUS_TEXT.get(status, "ERROR")


# -- Compute's own --------------------------------------------------------
def not_found(path):
    """path: 'projects/P/zones/Z/instances/x' (the resource as Google names it)."""
    return ApiError(404, "The resource '%s' was not found" % path, "notFound")


def already_exists(path):
    return ApiError(409, "The resource '%s' already exists" % path, "alreadyExists")


def invalid_field(field, value, why):
    """Invalid value for field 'resource.x': 'v'. <why>"""
    shown = value if isinstance(value, str) else json.dumps(value)
    return ApiError(400, "Invalid value for field '%s': '%s'. %s" % (field, shown, why),
                    "invalid")


def required_field(field):
    return ApiError(400, "Required field '%s' not specified" % field, "required")


def condition_not_met(message):
    return ApiError(412, message, "conditionNotMet")


def resource_in_use(message):
    return ApiError(400, message, "resourceInUseByAnotherResource")


def forbidden(message):
    return ApiError(403, message, "forbidden")


def bad_request(message, reason="badRequest"):
    return ApiError(400, message, reason)


# -- the API front end's ----------------------------------------------------
def payload_unknown_name(name, at):
    where = " at '%s'" % at if at else ""
    return ApiError(400, "Invalid JSON payload received. Unknown name \"%s\"%s: Cannot find "
                    "field." % (name, where), "invalid", rpc_status="INVALID_ARGUMENT")


def payload_bad_value(at, proto_type, value):
    return ApiError(400, "Invalid value at '%s' (%s), %s" % (at, proto_type,
                                                              json.dumps(value)[:200]),
                    "invalid", rpc_status="INVALID_ARGUMENT")


def payload_syntax(detail):
    return ApiError(400, "Invalid JSON payload received. %s" % detail, "parseError",
                    rpc_status="INVALID_ARGUMENT")


def unknown_query_parameter(name):
    return ApiError(400, "Invalid JSON payload received. Unknown name \"%s\": Cannot bind "
                    "query parameter. Field '%s' could not be found in request message."
                    % (name, name), "invalid", rpc_status="INVALID_ARGUMENT")


def parameter_pattern(name, value, pattern):
    return ApiError(400, "Invalid value '%s'. Values must match the following regular "
                    "expression: '%s'" % (value, pattern), "invalidParameter",
                    location=name, location_type="parameter")


def parameter_missing(name):
    return ApiError(400, "Required parameter: %s" % name, "required", location=name,
                    location_type="parameter")


_AUTH_HEADER = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}
_SEE = ("Expected OAuth 2 access token, login cookie or other valid authentication "
        "credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.")


def unauthenticated(missing):
    if missing:
        return ApiError(401, "Request is missing required authentication credential. " + _SEE,
                        "required", rpc_status="UNAUTHENTICATED", location="Authorization",
                        location_type="header", headers=_AUTH_HEADER,
                        extra_message="Login Required.")
    headers = {"WWW-Authenticate": _AUTH_HEADER["WWW-Authenticate"] + ', error="invalid_token"'}
    return ApiError(401, "Request had invalid authentication credentials. " + _SEE, "authError",
                    rpc_status="UNAUTHENTICATED", location="Authorization",
                    location_type="header", headers=headers,
                    extra_message="Invalid Credentials")


def insufficient_scopes():
    return ApiError(403, "Request had insufficient authentication scopes.",
                    "insufficientPermissions", rpc_status="PERMISSION_DENIED",
                    headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", '
                             'error="insufficient_scope"'},
                    extra_message="Insufficient Permission")


def rate_limited(service):
    return ApiError(429, "Quota exceeded for quota metric 'Queries' and limit 'Queries per "
                    "minute' of service '%s.googleapis.com'." % service, "rateLimitExceeded",
                    domain="usageLimits", rpc_status="RESOURCE_EXHAUSTED")


def user_rate_limited():
    return ApiError(403, "User Rate Limit Exceeded", "userRateLimitExceeded",
                    domain="usageLimits")


def internal_error():
    return ApiError(500, "Internal error. Please try again or contact Google Support. "
                    "(Code: 'emulated')", "backendError", rpc_status="INTERNAL")


def unavailable():
    return ApiError(503, "The service is currently unavailable.", "backendError",
                    rpc_status="UNAVAILABLE")


def no_such_method(method, path):
    return ApiError(404, "The requested URL %s was not found on this server. (%s)"
                    % (path[:200], method), "notFound")


def not_implemented(method_id):
    return ApiError(501, "Method %s is in the discovery document but not emulated."
                    % method_id, "notImplemented", rpc_status="UNIMPLEMENTED")


class OperationError(Exception):
    """An error an Operation reports when DONE: errors[] items plus the HTTP pair."""

    def __init__(self, code, message, http_status=400, location=None):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message
        self.http_status = http_status
        self.location = location

    def errors(self):
        item = {"code": self.code, "message": self.message}
        if self.location:
            item["location"] = self.location
        return [item]

    @staticmethod
    def from_api(err):
        """A synchronous error's meaning, reported by an operation instead."""
        code = {"notFound": "RESOURCE_NOT_FOUND", "alreadyExists": "RESOURCE_ALREADY_EXISTS",
                "resourceInUseByAnotherResource": "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE",
                "conditionNotMet": "CONDITION_NOT_MET"}.get(err.reason, "INVALID_USAGE")
        return OperationError(code, err.message, err.status)
