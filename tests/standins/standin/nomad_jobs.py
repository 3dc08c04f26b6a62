"""Job submissions: decoding against Nomad's OpenAPI document (the shapes
Nomad's JSON decoder accepts), the server's semantic checks and its
canonical defaults. Durations are integer nanoseconds."""
import copy
import os
import re
import threading

import jsonschema
import yaml

_HERE = os.path.dirname(os.path.abspath(__file__))
OPENAPI = os.path.normpath(os.path.join(_HERE, "..", "..", "conformance", "nomad-openapi.yaml"))
_lock = threading.Lock()
_cache = {}

SEC = 10**9
MIN = 60 * SEC
HOUR = 60 * MIN


class JobError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _document():
    with _lock:
        if "doc" not in _cache:
            with open(OPENAPI, encoding="utf-8") as f:
                _cache["doc"] = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        return _cache["doc"]


def _schemas():
    return _document()["components"]["schemas"]


def _resolve(schema):
    while "$ref" in schema:
        schema = _schemas()[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def normalise(value, schema):
    """Go's decoder semantics before validation: keys match the schema's
    property names case-insensitively, and null stands for the zero value."""
    schema = _resolve(schema)
    if isinstance(value, dict):
        props = schema.get("properties")
        out = {}
        if props is not None:
            by_lower = {k.lower(): k for k in props}
            for k, v in value.items():
                if v is None:
                    continue
                name = by_lower.get(k.lower(), k)
                out[name] = normalise(v, props[name]) if name in props else v
            return out
        extra = schema.get("additionalProperties")
        for k, v in value.items():
            if v is None:
                continue
            out[k] = normalise(v, extra) if isinstance(extra, dict) and extra else v
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [normalise(v, schema["items"]) for v in value if v is not None]
    return value


def _go_type(s):
    t = s.get("type")
    return {"integer": "int", "string": "string", "boolean": "bool", "array": "[]", "object": "struct",
            "number": "float64"}.get(t, t or "value")


def decode_register(body, schema_name="JobRegisterRequest"):
    """The request body (already JSON) -> normalised dict; JobError(400) when
    a value does not have the type the API declares."""
    if not isinstance(body, dict):
        raise JobError(400, "Failed to decode request body: json: cannot unmarshal %s into Go value of type "
                       "api.%s" % (type(body).__name__, schema_name))
    root = {"$ref": "#/components/schemas/" + schema_name}
    value = normalise(body, root)
    doc = {"components": _document()["components"], "$ref": root["$ref"]}
    validator = jsonschema.Draft4Validator(doc)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = ".".join(str(p) for p in e.absolute_path if not isinstance(p, int)) or schema_name
        want = _go_type(e.schema) if isinstance(e.schema, dict) else "value"
        got = type(e.instance).__name__
        got = {"str": "string", "int": "number", "float": "number", "bool": "bool", "list": "array",
               "dict": "object"}.get(got, got)
        raise JobError(400, "Failed to decode request body: json: cannot unmarshal %s into Go struct field "
                       "%s of type %s (%s)" % (got, where, want, e.message))
    return value


def default_update():
    return {"Stagger": 30 * SEC, "MaxParallel": 1, "HealthCheck": "checks", "MinHealthyTime": 10 * SEC,
            "HealthyDeadline": 5 * MIN, "ProgressDeadline": 10 * MIN, "AutoRevert": False,
            "AutoPromote": False, "Canary": 0}


def _restart_default(jtype):
    if jtype in ("batch", "sysbatch"):
        return {"Attempts": 3, "Interval": 24 * HOUR, "Delay": 15 * SEC, "Mode": "fail", "RenderTemplates": False}
    return {"Attempts": 2, "Interval": 30 * MIN, "Delay": 15 * SEC, "Mode": "fail", "RenderTemplates": False}


def _reschedule_default(jtype):
    if jtype == "batch":
        return {"Attempts": 1, "Interval": 24 * HOUR, "Delay": 5 * SEC, "DelayFunction": "constant",
                "MaxDelay": 0, "Unlimited": False}
    if jtype == "service":
        return {"Attempts": 0, "Interval": 0, "Delay": 30 * SEC, "DelayFunction": "exponential",
                "MaxDelay": HOUR, "Unlimited": True}
    return None


def canonicalize(job, region):
    """Fills the defaults the API and the server apply; returns a new job."""
    j = copy.deepcopy(job)
    j.setdefault("Namespace", "default")
    if not j.get("Namespace"):
        j["Namespace"] = "default"
    if j.get("ID") and not j.get("Name"):
        j["Name"] = j["ID"]
    j["Type"] = j.get("Type") or "service"
    j["Priority"] = j.get("Priority") or 50
    j["Region"] = j.get("Region") or region
    j.setdefault("Datacenters", [])
    j.setdefault("NodePool", "default")
    j.setdefault("Meta", {})
    j.setdefault("Constraints", [])
    j.setdefault("AllAtOnce", False)
    j.setdefault("Stop", False)
    jtype = j["Type"]
    jupdate = j.get("Update")
    for tg in j.get("TaskGroups") or []:
        if tg.get("Count") is None:
            tg["Count"] = 1
        tg["RestartPolicy"] = dict(_restart_default(jtype), **(tg.get("RestartPolicy") or {}))
        rs = _reschedule_default(jtype)
        if rs is not None:
            tg["ReschedulePolicy"] = dict(rs, **(tg.get("ReschedulePolicy") or {}))
        tg.setdefault("EphemeralDisk", {"SizeMB": 300, "Migrate": False, "Sticky": False})
        tg.setdefault("Networks", [])
        tg.setdefault("Services", [])
        tg.setdefault("Constraints", [])
        tg.setdefault("Meta", {})
        if jtype == "service":
            upd = default_update()
            upd.update(jupdate or {})
            upd.update(tg.get("Update") or {})
            tg["Update"] = upd
            tg["Migrate"] = dict({"MaxParallel": 1, "HealthCheck": "checks", "MinHealthyTime": 10 * SEC,
                                  "HealthyDeadline": 5 * MIN}, **(tg.get("Migrate") or {}))
        for t in tg.get("Tasks") or []:
            t.setdefault("Config", {})
            t.setdefault("Env", {})
            t.setdefault("Services", [])
            t.setdefault("Meta", {})
            res = {"CPU": 100, "MemoryMB": 300}
            res.update(t.get("Resources") or {})
            t["Resources"] = res
            t["KillTimeout"] = t.get("KillTimeout") or 5 * SEC
            t.setdefault("LogConfig", {"MaxFiles": 10, "MaxFileSizeMB": 10})
            if t.get("RestartPolicy"):
                t["RestartPolicy"] = dict(tg["RestartPolicy"], **t["RestartPolicy"])
        for s in tg["Services"] + [s for t in tg.get("Tasks") or [] for s in t["Services"]]:
            s.setdefault("Provider", "consul")
            s.setdefault("Tags", [])
            for c in s.get("Checks") or []:
                c.setdefault("Name", "service: %s check" % s.get("Name", ""))
    if jtype == "service" and jupdate is not None:
        j["Update"] = dict(default_update(), **jupdate)
    return j


def validate(job):
    """The server's semantic checks; JobError(500) with Nomad's multierror
    text when the job is invalid (the HTTP API answers 500 to a job the
    Job.Register RPC refuses)."""
    errs = []
    jid = job.get("ID", "")
    if not jid:
        errs.append("Missing job ID")
    elif " " in jid:
        errs.append("Job ID contains a space")
    elif "\x00" in jid:
        errs.append("Job ID contains a null character")
    if not job.get("Name"):
        errs.append("Missing job name")
    if job.get("Type") not in ("service", "batch", "system", "sysbatch"):
        errs.append("Invalid job type: %r" % job.get("Type"))
    if not 1 <= job.get("Priority", 50) <= 100:
        errs.append("Job priority must be between [1, 100]")
    if not job.get("Datacenters"):
        errs.append("Missing job datacenters")
    elif any(not d for d in job["Datacenters"]):
        errs.append("Job datacenter must be non-empty string")
    groups = job.get("TaskGroups") or []
    if not groups:
        errs.append("Missing job task groups")
    seen = {}
    for i, tg in enumerate(groups):
        name = tg.get("Name", "")
        if not name:
            errs.append("Job task group %d missing name" % (i + 1))
        elif name in seen:
            errs.append("Job task group %d redefines '%s' from group %d" % (i + 1, name, seen[name] + 1))
        else:
            seen[name] = i
        errs.extend("Task group %s validation failed: %s" % (name, e) for e in _validate_group(job, tg))
    if errs:
        text = "%d error%s occurred:\n" % (len(errs), "" if len(errs) == 1 else "s")
        text += "".join("\t* %s\n" % e for e in errs) + "\n"
        raise JobError(500, text)


def _validate_group(job, tg):
    errs = []
    if tg.get("Count", 0) < 0:
        errs.append("Task group count can't be negative")
    if job.get("Type") == "system" and tg.get("Count", 1) > 1:
        errs.append("System jobs should not have a count greater than 1")
    tasks = tg.get("Tasks") or []
    if not tasks:
        errs.append("Missing tasks for task group")
    rp = tg.get("RestartPolicy") or {}
    if rp.get("Mode") not in ("fail", "delay"):
        errs.append("Unsupported restart mode: %r" % rp.get("Mode"))
    if rp.get("Attempts", 0) < 0:
        errs.append("Restart attempts cannot be negative")
    upd = tg.get("Update")
    if upd:
        if upd.get("MaxParallel", 0) < 0:
            errs.append("Max parallel can not be less than zero: %d < 0" % upd["MaxParallel"])
        if upd.get("HealthCheck") not in ("checks", "task_states", "manual", ""):
            errs.append("Invalid health check given: %r" % upd.get("HealthCheck"))
        if upd.get("MinHealthyTime", 0) < 0:
            errs.append("Minimum healthy time may not be less than zero: %d" % upd["MinHealthyTime"])
        if upd.get("HealthyDeadline", 1) <= 0:
            errs.append("Healthy deadline must be greater than zero: %d" % upd.get("HealthyDeadline", 0))
        if upd.get("MinHealthyTime", 0) >= upd.get("HealthyDeadline", 1):
            errs.append("Minimum healthy time must be less than healthy deadline: %d > %d"
                        % (upd.get("MinHealthyTime", 0), upd.get("HealthyDeadline", 0)))
        if upd.get("ProgressDeadline", 0) and upd["ProgressDeadline"] < upd.get("HealthyDeadline", 0):
            errs.append("Healthy deadline must be less than progress deadline: %d > %d"
                        % (upd.get("HealthyDeadline", 0), upd["ProgressDeadline"]))
    nets = tg.get("Networks") or []
    if len(nets) > 1:
        errs.append("Only one network resource may be specified")
    labels = set()
    for net in nets:
        for p in (net.get("ReservedPorts") or []) + (net.get("DynamicPorts") or []):
            lab = p.get("Label", "")
            if not re.match(r"^[a-zA-Z0-9_]+$", lab):
                errs.append("Port label %r must be a valid label" % lab)
            if lab in labels:
                errs.append("Port label %r already in use" % lab)
            labels.add(lab)
        for p in net.get("ReservedPorts") or []:
            if not 0 < p.get("Value", 0) < 65536:
                errs.append("Port %r has an invalid port %d" % (p.get("Label"), p.get("Value", 0)))
    names = {}
    for i, t in enumerate(tasks):
        tname = t.get("Name", "")
        if not tname:
            errs.append("Task %d missing name" % (i + 1))
            continue
        if tname in names:
            errs.append("Task %d redefines '%s' from task %d" % (i + 1, tname, names[tname] + 1))
        names[tname] = i
        terrs = []
        if not t.get("Driver"):
            terrs.append("Missing task driver")
        if "/" in tname:
            terrs.append("Task name cannot include slashes")
        res = t.get("Resources") or {}
        if res.get("CPU", 100) < 1 and not res.get("Cores"):
            terrs.append("Minimum CPU value is 1; got %d" % res.get("CPU", 0))
        if res.get("MemoryMB", 300) < 10:
            terrs.append("Minimum MemoryMB value is 10; got %d" % res.get("MemoryMB", 0))
        for s in t.get("Services") or []:
            terrs.extend(_validate_service(s, labels))
        errs.extend("Task %s validation failed: %s" % (tname, e) for e in terrs)
    for s in tg.get("Services") or []:
        errs.extend(_validate_service(s, labels))
    return errs


def _validate_service(s, labels):
    errs = []
    name = s.get("Name", "")
    if not name:
        errs.append("Service must have a name")
    port = s.get("PortLabel", "")
    if port and not port.isdigit() and port not in labels:
        errs.append("Port label %r referenced by services %s does not exist" % (port, name))
    for c in s.get("Checks") or []:
        ctype = (c.get("Type") or "").lower()
        if ctype not in ("http", "tcp", "script", "grpc"):
            errs.append("Service %s: check %s: invalid type (%s)" % (name, c.get("Name"), ctype))
            continue
        if ctype == "http" and not c.get("Path"):
            errs.append("Service %s: check %s: http type must have http path" % (name, c.get("Name")))
        if c.get("Interval", 0) < SEC:
            errs.append("Service %s: check %s: interval (%s) cannot be lower than 1s"
                        % (name, c.get("Name"), c.get("Interval", 0)))
        if c.get("Timeout", 0) <= 0:
            errs.append("Service %s: check %s: missing required value timeout. Timeout cannot be less than 1s"
                        % (name, c.get("Name")))
        cport = c.get("PortLabel") or port
        if ctype in ("http", "tcp") and not cport:
            errs.append("Service %s: check %s: %s checks need a port" % (name, c.get("Name"), ctype))
    return errs


def spec_of(job):
    """The parts of a job that make a new version when they change."""
    ignore = {"Status", "StatusDescription", "Version", "Stable", "CreateIndex", "ModifyIndex",
              "JobModifyIndex", "SubmitTime", "Stop"}
    return {k: v for k, v in job.items() if k not in ignore}


def group_spec(tg):
    """A group minus its count: a change here replaces allocations."""
    return {k: v for k, v in tg.items() if k != "Count"}
