"""Marathon apps: request bodies checked against the RAML App type and
then by Marathon's own rules (src/main/scala/mesosphere/marathon/api/v2/
validation/{AppValidation,SchedulingValidation}.scala), defaults applied,
ids made absolute, and placement: constraints as mesosphere/mesos/
Constraints.scala evaluates them, resources and ports from the agents."""
import json
import math
import os
import re
import time

from . import raml

APP_FIELDS_READ_ONLY = ("version", "versionInfo", "tasksStaged", "tasksRunning", "tasksHealthy", "tasksUnhealthy",
                        "deployments", "tasks", "lastTaskFailure", "readinessCheckResults", "taskStats")
# The upgrade strategy Marathon gives an app without one.
DEFAULT_UPGRADE = {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0}
OPERATORS = ("UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER", "IS")


class Invalid(Exception):
    """A 422 with Marathon's body."""

    def __init__(self, details):
        super().__init__("Object is not valid")
        self.details = details

    def body(self):
        grouped = {}
        for path, err in self.details:
            grouped.setdefault(path, []).append(err)
        return {"message": "Object is not valid",
                "details": [{"path": p, "errors": e} for p, e in grouped.items()]}


def now_version():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (int(t * 1000) % 1000)


def absolute_id(app_id, base="/"):
    """Relative ids are made absolute against the path they were sent to."""
    if not app_id.startswith("/"):
        app_id = base.rstrip("/") + "/" + app_id
    parts = []
    for seg in app_id.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if parts:
                parts.pop()
            continue
        parts.append(seg)
    return "/" + "/".join(parts)


class Apps:
    def __init__(self, raml_root):
        self.api = raml.API(raml_root)
        self.post_type = self.api.body_type(("/v2/apps",), "post")
        self.put_type = self.api.body_type(("/v2/apps", "/{app_id}"), "put")
        self.defaults = self.api.defaults(self.post_type)

    def check_schema(self, body, update=False):
        errs = self.api.validate(self.put_type if update else self.post_type, body, optional_all=update)
        if errs:
            raise Invalid(errs)

    def normalize(self, body):
        """A complete app from a checked body: defaults, absolute id, and
        Marathon's semantic rules."""
        app = {k: v for k, v in body.items() if k not in APP_FIELDS_READ_ONLY}
        for k, v in self.defaults.items():
            app.setdefault(k, v)
        app["id"] = absolute_id(app["id"])
        app.setdefault("env", {})
        app.setdefault("labels", {})
        app.setdefault("constraints", [])
        app.setdefault("healthChecks", [])
        app.setdefault("upgradeStrategy", dict(DEFAULT_UPGRADE))
        us = app["upgradeStrategy"]
        us.setdefault("minimumHealthCapacity", DEFAULT_UPGRADE["minimumHealthCapacity"])
        us.setdefault("maximumOverCapacity", DEFAULT_UPGRADE["maximumOverCapacity"])
        if "portDefinitions" not in app and "ports" in app:
            app["portDefinitions"] = [{"port": p, "protocol": "tcp"} for p in app.pop("ports")]
        if "portDefinitions" not in app:
            docker = (app.get("container") or {}).get("docker") or {}
            maps = (app.get("container") or {}).get("portMappings") or docker.get("portMappings")
            app["portDefinitions"] = [] if maps is not None or (app.get("networks") or [{}])[0].get("mode") in (
                "container", "container/bridge") else [{"port": 0, "protocol": "tcp", "name": "default"}]
        for hc in app["healthChecks"]:
            hc.setdefault("protocol", "HTTP")
            hc.setdefault("gracePeriodSeconds", 300)
            hc.setdefault("intervalSeconds", 60)
            hc.setdefault("timeoutSeconds", 20)
            hc.setdefault("maxConsecutiveFailures", 3)
            hc.setdefault("delaySeconds", 15)
            if hc["protocol"] in ("HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS"):
                hc.setdefault("path", "/")
            if "port" not in hc and hc["protocol"] != "COMMAND":
                hc.setdefault("portIndex", 0)
        self._rules(app)
        return app

    def _rules(self, app):
        errs = []
        container = app.get("container") or {}
        if not app.get("cmd") and not app.get("args") and not container:
            errs.append(("/", "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."))
        if app.get("instances", 1) < 0:
            errs.append(("/instances", "got %s, expected 0 or more" % app["instances"]))
        for i, c in enumerate(app["constraints"]):
            msg = constraint_error(c)
            if msg:
                errs.append(("/constraints(%d)" % i, msg))
        n = len(app.get("portDefinitions") or [])
        for i, hc in enumerate(app["healthChecks"]):
            if hc["protocol"] == "COMMAND" and not (hc.get("command") or {}).get("value"):
                errs.append(("/healthChecks(%d)/command" % i, "is required for COMMAND health checks"))
            if "portIndex" in hc and hc["protocol"] != "COMMAND" and hc["portIndex"] >= max(n, len(port_mappings(app))):
                errs.append(("/healthChecks(%d)" % i, "Health check port indices must address an element of the "
                                                     "ports array or container port mappings."))
        if errs:
            raise Invalid(errs)

    def merge_update(self, current, body, partial):
        """PUT: with partialUpdate (the default) the given fields replace
        those of the current app; without, the body is the whole app."""
        if current is None or not partial:
            return dict(body)
        out = {k: v for k, v in current.items() if k not in APP_FIELDS_READ_ONLY}
        out.update(body)
        return out


def port_mappings(app):
    c = app.get("container") or {}
    return c.get("portMappings") or (c.get("docker") or {}).get("portMappings") or []


def is_scale_only(old, new):
    """AppDefinition.isOnlyScaleChange: nothing but `instances` differs."""
    strip = ("instances", "version", "versionInfo")
    a = {k: v for k, v in old.items() if k not in strip}
    b = {k: v for k, v in new.items() if k not in strip}
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def constraint_error(c):
    """complyWithAppConstraintRules; -> the message or None."""
    if not isinstance(c, list) or not 2 <= len(c) <= 3:
        return "Each constraint must have either 2 or 3 fields"
    field, op = c[0], c[1]
    value = c[2] if len(c) > 2 else None
    if not field:
        return "illegal constraint specification"
    op = op.upper()
    if op not in OPERATORS:
        return "operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, UNLIKE or IS"
    if op == "UNIQUE" and value:
        return "UNIQUE does not accept a value"
    if op == "GROUP_BY" and value and not re.match(r"^-?\d+$", value):
        return "GROUP BY must define an integer value or else no value at all"
    if op == "MAX_PER" and not (value and re.match(r"^-?\d+$", value)):
        return "MAX_PER requires an integer value"
    if op in ("LIKE", "UNLIKE"):
        if not value:
            return "LIKE and UNLIKE require a non-empty, regular expression value"
        try:
            re.compile(value)
        except re.error:
            return "is not a valid regular expression"
    if op == "IS" and not re.match(r"^[a-zA-Z0-9_/.-]*$", value or ""):
        return "IS only supports Mesos text and float values (see " \
               "http://mesos.apache.org/documentation/latest/attributes-resources/)"
    return None


def _attr_text(v):
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _field(agent, name):
    if name in ("hostname", "@hostname"):
        return agent["hostname"]
    if name in agent.get("attributes", {}):
        return _attr_text(agent["attributes"][name])
    return None


def meets_constraints(app, agent, placed):
    """placed: the agents of the app's other live instances."""
    for c in app["constraints"]:
        field, op = c[0], c[1].upper()
        value = c[2] if len(c) > 2 else None
        mine = _field(agent, field)
        others = [_field(a, field) for a in placed]
        if op == "UNIQUE":
            if mine is None or mine in others:
                return False
        elif op == "CLUSTER":
            if mine is None:
                return False
            if value:
                if mine != value:
                    return False
            elif others and any(o != mine for o in others):
                return False
        elif op == "LIKE":
            if mine is None or not re.fullmatch(value, mine):
                return False
        elif op == "UNLIKE":
            if mine is not None and re.fullmatch(value, mine):
                return False
        elif op == "IS":
            if mine != value:
                return False
        elif op == "MAX_PER":
            if mine is None or others.count(mine) >= int(value):
                return False
        elif op == "GROUP_BY":
            if mine is None:
                return False
            counts = {}
            for o in others:
                counts[o] = counts.get(o, 0) + 1
            if counts and counts.get(mine, 0) > min(counts.values()) and \
                    (not value or len(counts) >= int(value)):
                return False
    return True


def free_ports(agent, count, wanted=()):
    used = set(agent["used"]["ports"])
    out = []
    for w in wanted:
        if w:
            if w in used or not any(lo <= w <= hi for lo, hi in agent["resources"].get("ports", [])):
                return None
            out.append(w)
            used.add(w)
    for lo, hi in agent["resources"].get("ports", []):
        for p in range(lo, hi + 1):
            if len(out) >= count:
                return out
            if p not in used:
                out.append(p)
                used.add(p)
    return out if len(out) >= count else None


def fits(app, agent):
    """-> the host ports to use, or None when the agent cannot take the app."""
    need = {"cpus": float(app["cpus"]), "mem": float(app["mem"]), "disk": float(app["disk"]),
            "gpus": float(app.get("gpus", 0))}
    for k, v in need.items():
        if float(agent["resources"].get(k, 0)) - agent["used"][k] < v - 1e-9:
            return None
    defs = app.get("portDefinitions") or []
    maps = port_mappings(app)
    if defs:
        wanted = [d.get("port", 0) for d in defs] if app.get("requirePorts") else []
        return free_ports(agent, len(defs), wanted)
    if maps:
        wanted = [m.get("hostPort") for m in maps if m.get("hostPort")]
        return free_ports(agent, len([m for m in maps if m.get("hostPort") is not None]), wanted)
    return []


def task_env(app, instance, ports):
    env = {k: v for k, v in (app.get("env") or {}).items() if isinstance(v, str)}
    env.update({"HOST": instance["host"], "MESOS_TASK_ID": instance["id"], "MARATHON_APP_ID": app["id"],
                "MARATHON_APP_VERSION": app["version"],
                "MARATHON_APP_DOCKER_IMAGE": ((app.get("container") or {}).get("docker") or {}).get("image", ""),
                "MARATHON_APP_RESOURCE_CPUS": str(float(app["cpus"])),
                "MARATHON_APP_RESOURCE_MEM": str(float(app["mem"])),
                "MARATHON_APP_RESOURCE_DISK": str(float(app["disk"])),
                "MARATHON_APP_RESOURCE_GPUS": str(int(app.get("gpus", 0))),
                "MARATHON_APP_LABELS": " ".join(sorted(app.get("labels") or {}))})
    for k, v in (app.get("labels") or {}).items():
        env["MARATHON_APP_LABEL_" + re.sub(r"[^A-Za-z0-9_]", "_", k).upper()] = v
    if ports:
        env["PORTS"] = ",".join(str(p) for p in ports)
        env["PORT"] = str(ports[0])
        for i, p in enumerate(ports):
            env["PORT%d" % i] = str(p)
        for d, p in zip(app.get("portDefinitions") or [], ports):
            if d.get("port"):
                env["PORT_%d" % d["port"]] = str(p)
            if d.get("name"):
                env["PORT_" + d["name"].upper().replace("-", "_")] = str(p)
    return env


def min_healthy(app):
    return int(math.ceil(app["instances"] * app["upgradeStrategy"]["minimumHealthCapacity"] - 1e-9))


def max_capacity(app):
    return int(app["instances"] * (1 + app["upgradeStrategy"]["maximumOverCapacity"]) + 1e-9)


def raml_root():
    """The RAML beside the stand-ins: tests/conformance/marathon-rest-api."""
    here = os.path.dirname(os.path.realpath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "conformance", "marathon-rest-api", "api.raml"))
