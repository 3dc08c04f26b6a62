"""Operations: every mutation's PENDING -> RUNNING -> DONE, requestId, errors when DONE.

A handler checks what Google checks at once and raises; what is left it hands
to start() as apply(), which runs when the operation turns DONE (so the change
becomes visible then). apply() may raise OperationError: the operation ends
DONE with error, httpErrorStatusCode and httpErrorMessage, as Google reports
asynchronous failures. gate() (optional) holds an operation RUNNING until it
says the work behind it finished (an instance's host bootstrap, a group's
instances gone); abort() (optional) undoes what the handler took at once when
the operation fails. The control API can make chosen future operations end with an
error of its choosing.
"""
import re
import time
import uuid

from . import errors, listing, refs
from .core import public, rfc3339
from .errors import OperationError
from .server import handles

REQUEST_ID_WINDOW = 3600  # seconds Google remembers a requestId at least


class Injection:
    """Future operations of one method (optionally one target name) end with this error."""

    def __init__(self, method, code, message, http_status=403, target=None, count=1):
        self.method = method
        self.code = code
        self.message = message
        self.http_status = int(http_status)
        self.target = re.compile(target) if target else None
        self.count = int(count)

    def describe(self):
        return {"method": self.method, "code": self.code, "message": self.message,
                "http_status": self.http_status, "count": self.count,
                "target": self.target.pattern if self.target else None}


class Operations:
    def __init__(self, emulator):
        self.emulator = emulator
        self.injections = []
        self._active = []  # (project, operation) not yet DONE
        emulator.add_ticker(0.02, self.tick)

    def snapshot(self):
        return {"injections": [i.describe() for i in self.injections]}

    def after_reset(self):
        self.injections = []
        self._active = []

    def inject(self, spec):
        """The control API: {"method", "code", "message", "http_status", "target", "count"}."""
        if not spec.get("method") or not spec.get("code") or not spec.get("message"):
            raise ValueError("an operation error needs method, code and message")
        with self.emulator.lock:
            self.injections.append(Injection(spec["method"], spec["code"], spec["message"],
                                             spec.get("http_status", 403), spec.get("target"),
                                             spec.get("count", 1)))
            return [i.describe() for i in self.injections]

    def take_injection(self, method_id, target_link):
        """The injected error the next operation of this method and target will end with."""
        return self._injected(method_id, target_link)

    def _injected(self, method_id, target_link):
        for inj in self.injections:
            if inj.method != method_id or inj.count <= 0:
                continue
            if inj.target and not inj.target.search(refs.last(target_link or "")):
                continue
            inj.count -= 1
            if inj.count <= 0:
                self.injections.remove(inj)
            return OperationError(inj.code, inj.message, inj.http_status)
        return None

    # -- requestId -------------------------------------------------------------------
    def replay(self, ctx):
        """The operation an earlier call with this requestId started, or None."""
        request_id = ctx.params.get("requestId")
        if request_id is None:
            return None
        try:
            parsed = uuid.UUID(request_id)
        except ValueError:
            parsed = None
        if parsed is None or parsed.int == 0:
            raise errors.invalid_field("requestId", request_id, "The request ID must be a "
                                       "valid UUID with the exception that zero UUID is not "
                                       "supported (00000000-0000-0000-0000-000000000000).")
        seen = ctx.project.request_ids.get(str(parsed))
        if seen is None or time.monotonic() - seen[2] > REQUEST_ID_WINDOW:
            return None
        scope, name, _ = seen
        op = ctx.project.operations[scope].get(name)
        return public(op) if op is not None else None

    # -- lifecycle -------------------------------------------------------------------
    def start(self, ctx, target_link, operation_type, apply=None, gate=None, target_id=None,
              scope=None, reserve=None, abort=None, injected=False):
        """A new operation in ctx's scope (or scope); returns what the API answers."""
        scope = scope or ctx.scope
        project = ctx.project
        e = self.emulator
        millis = int(time.time() * 1000)
        name = "operation-%d-%s-%s-%s" % (millis, e.ids.hex(13), e.ids.hex(8), e.ids.hex(8))
        op = {"kind": "compute#operation", "id": e.ids.numeric(), "name": name,
              "operationType": operation_type, "targetLink": target_link,
              "status": "PENDING", "user": ctx.principal, "progress": 0,
              "insertTime": rfc3339(), "selfLink": refs.link(project.name, scope, "operations",
                                                             name),
              "_since": time.monotonic(), "_apply": apply, "_gate": gate,
              "_method": ctx.method.id, "_reserve": reserve, "_abort": abort}
        if target_id:
            op["targetId"] = target_id
        if scope.startswith("zones/"):
            op["zone"] = refs.scope_link(project.name, scope)
        elif scope.startswith("regions/"):
            op["region"] = refs.scope_link(project.name, scope)
        request_id = ctx.params.get("requestId")
        if request_id:
            op["clientOperationId"] = request_id
            project.request_ids[str(uuid.UUID(request_id))] = (scope, name, time.monotonic())
        if injected is False:
            injected = self._injected(ctx.method.id, target_link)
        if injected is not None:
            op["_apply"] = _raiser(injected)
            op["_gate"] = None
        if reserve is not None:
            project.pending_names[reserve] = name
        project.operations[scope][name] = op
        self._active.append((project, op))
        return public(op)

    def tick(self):
        seconds = self.emulator.config.operation_seconds
        now = time.monotonic()
        for project, op in list(self._active):
            age = now - op["_since"]
            if op["status"] == "PENDING" and age >= seconds / 3:
                op["status"] = "RUNNING"
                op["startTime"] = rfc3339()
            if op["status"] == "RUNNING" and age >= seconds:
                gate = op.get("_gate")
                if gate is not None and not gate():
                    continue
                self._finish(project, op)
                self._active.remove((project, op))

    def _finish(self, project, op):
        apply = op.pop("_apply", None)
        op.pop("_gate", None)
        reserve = op.pop("_reserve", None)
        abort = op.pop("_abort", None)
        if reserve is not None and project.pending_names.get(reserve) == op["name"]:
            del project.pending_names[reserve]
            project.pending_items.pop(reserve, None)
        try:
            if apply is not None:
                target_id = apply()
                if isinstance(target_id, str) and "targetId" not in op:
                    op["targetId"] = target_id
        except errors.ApiError as err:
            self._fail(op, OperationError.from_api(err), abort)
        except OperationError as err:
            self._fail(op, err, abort)
        op["status"] = "DONE"
        op["progress"] = 100
        op.setdefault("startTime", rfc3339())
        op["endTime"] = rfc3339()

    @staticmethod
    def _fail(op, err, abort):
        if abort is not None:
            abort()
        op["error"] = {"errors": err.errors()}
        op["httpErrorStatusCode"] = err.http_status
        op["httpErrorMessage"] = errors.http_status_text(err.http_status)

    # -- the *Operations methods -------------------------------------------------------
    def get(self, ctx, scope, name):
        op = ctx.project.operations[scope].get(name)
        if op is None:
            raise errors.not_found(refs.path(ctx.project.name, scope, "operations", name))
        return public(op)

    def delete(self, ctx, scope, name):
        ops = ctx.project.operations[scope]
        if name not in ops:
            raise errors.not_found(refs.path(ctx.project.name, scope, "operations", name))
        del ops[name]
        return None

    def list(self, ctx, scope, fields):
        items = [public(o) for o in ctx.project.operations[scope].values()]
        page, token = listing.page(items, ctx.params, fields)
        out = {"kind": "compute#operationList", "id": "projects/%s/%s/operations"
               % (ctx.project.name, scope), "selfLink": refs.link(ctx.project.name, scope,
                                                                  "operations")}
        if page:
            out["items"] = page
        if token:
            out["nextPageToken"] = token
        return out

    def aggregated(self, ctx, scopes, fields):
        scoped = [(s, [public(o) for o in ctx.project.operations[s].values()]) for s in scopes]
        items, token = listing.aggregated(scoped, ctx.params, "operations", fields)
        out = {"kind": "compute#operationAggregatedList", "id": "projects/%s/aggregated/"
               "operations" % ctx.project.name, "items": items,
               "selfLink": refs.link(ctx.project.name, "aggregated/operations")}
        if token:
            out["nextPageToken"] = token
        return out


def _raiser(err):
    def apply():
        raise err
    return apply


class OperationMethods:
    """zoneOperations, regionOperations, globalOperations: get, list (with filter), delete."""

    def __init__(self, emulator):
        self.emulator = emulator

    @property
    def ops(self):
        return self.emulator.services["operations"]

    @staticmethod
    def _fields(ctx):
        return listing.item_fields(ctx.method.doc, ctx.method.response_ref) \
            if ctx.method.verb in ("list", "aggregatedList") else None

    @handles("compute.zoneOperations.get", "compute.regionOperations.get",
             "compute.globalOperations.get")
    def get(self, ctx):
        return self.ops.get(ctx, ctx.scope, ctx.params["operation"])

    @handles("compute.zoneOperations.list", "compute.regionOperations.list",
             "compute.globalOperations.list")
    def list(self, ctx):
        return self.ops.list(ctx, ctx.scope, self._fields(ctx))

    @handles("compute.zoneOperations.delete", "compute.regionOperations.delete",
             "compute.globalOperations.delete")
    def delete(self, ctx):
        return self.ops.delete(ctx, ctx.scope, ctx.params["operation"])

    @handles("compute.globalOperations.aggregatedList")
    def aggregated(self, ctx):
        config = self.emulator.config
        scopes = ["global"] + ["regions/" + r for r in sorted(config.regions)] + \
            ["zones/" + z for z in sorted(config.zones())]
        return self.ops.aggregated(ctx, scopes, self._fields(ctx))
