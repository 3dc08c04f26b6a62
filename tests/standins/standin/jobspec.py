"""HCL2 job files -> the API's JSON job, as POST /v1/jobs/parse does it
(jobspec2): variables (with the request's Variables text overriding their
defaults), locals, and the job/group/task block structure."""
from . import hcl
from .hcl import HCLError, items, root_body
from .util import parse_duration


class JobspecError(Exception):
    pass


def _err(meta, msg, detail):
    line = getattr(meta, "line", 0)
    col = getattr(meta, "column", 0)
    return JobspecError("input.hcl:%d,%d: %s; %s" % (line, col, msg, detail))


def _dur(v, meta, name):
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    try:
        return parse_duration(str(v))
    except ValueError as e:
        raise _err(meta, "Unsuitable value type", "%s: %s" % (name, e))


# Per block: attribute -> (API key, kind); kind in str, int, bool, dur, list, map, any.
JOB_ATTRS = {"name": ("Name", "str"), "region": ("Region", "str"), "namespace": ("Namespace", "str"),
             "datacenters": ("Datacenters", "list"), "node_pool": ("NodePool", "str"), "type": ("Type", "str"),
             "priority": ("Priority", "int"), "all_at_once": ("AllAtOnce", "bool"),
             "consul_token": ("ConsulToken", "str"), "vault_token": ("VaultToken", "str")}
GROUP_ATTRS = {"count": ("Count", "int"), "shutdown_delay": ("ShutdownDelay", "dur"),
               "stop_after_client_disconnect": ("StopAfterClientDisconnect", "dur"),
               "max_client_disconnect": ("MaxClientDisconnect", "dur"),
               "prevent_reschedule_on_lost": ("PreventRescheduleOnLost", "bool")}
TASK_ATTRS = {"driver": ("Driver", "str"), "user": ("User", "str"), "kill_timeout": ("KillTimeout", "dur"),
              "kill_signal": ("KillSignal", "str"), "leader": ("Leader", "bool"),
              "shutdown_delay": ("ShutdownDelay", "dur"), "kind": ("Kind", "str")}
UPDATE = {"max_parallel": ("MaxParallel", "int"), "health_check": ("HealthCheck", "str"),
          "min_healthy_time": ("MinHealthyTime", "dur"), "healthy_deadline": ("HealthyDeadline", "dur"),
          "progress_deadline": ("ProgressDeadline", "dur"), "auto_revert": ("AutoRevert", "bool"),
          "auto_promote": ("AutoPromote", "bool"), "canary": ("Canary", "int"), "stagger": ("Stagger", "dur")}
MIGRATE = {"max_parallel": ("MaxParallel", "int"), "health_check": ("HealthCheck", "str"),
           "min_healthy_time": ("MinHealthyTime", "dur"), "healthy_deadline": ("HealthyDeadline", "dur")}
RESTART = {"attempts": ("Attempts", "int"), "delay": ("Delay", "dur"), "interval": ("Interval", "dur"),
           "mode": ("Mode", "str"), "render_templates": ("RenderTemplates", "bool")}
RESCHEDULE = {"attempts": ("Attempts", "int"), "interval": ("Interval", "dur"), "delay": ("Delay", "dur"),
              "delay_function": ("DelayFunction", "str"), "max_delay": ("MaxDelay", "dur"),
              "unlimited": ("Unlimited", "bool")}
DISK = {"sticky": ("Sticky", "bool"), "migrate": ("Migrate", "bool"), "size": ("SizeMB", "int")}
RESOURCES = {"cpu": ("CPU", "int"), "memory": ("MemoryMB", "int"), "memory_max": ("MemoryMaxMB", "int"),
             "cores": ("Cores", "int"), "disk": ("DiskMB", "int")}
LOGS = {"max_files": ("MaxFiles", "int"), "max_file_size": ("MaxFileSizeMB", "int"), "disabled": ("Disabled", "bool")}
LIFECYCLE = {"hook": ("Hook", "str"), "sidecar": ("Sidecar", "bool")}
CONSTRAINT = {"attribute": ("LTarget", "str"), "operator": ("Operand", "str"), "value": ("RTarget", "str"),
              "distinct_hosts": ("distinct_hosts", "bool"), "distinct_property": ("distinct_property", "str")}
AFFINITY = {"attribute": ("LTarget", "str"), "operator": ("Operand", "str"), "value": ("RTarget", "str"),
            "weight": ("Weight", "int")}
SERVICE = {"name": ("Name", "str"), "port": ("PortLabel", "str"), "tags": ("Tags", "list"),
           "canary_tags": ("CanaryTags", "list"), "provider": ("Provider", "str"), "task": ("TaskName", "str"),
           "address_mode": ("AddressMode", "str"), "address": ("Address", "str"),
           "enable_tag_override": ("EnableTagOverride", "bool"), "meta": ("Meta", "map"),
           "canary_meta": ("CanaryMeta", "map"), "on_update": ("OnUpdate", "str")}
CHECK = {"name": ("Name", "str"), "type": ("Type", "str"), "path": ("Path", "str"), "port": ("PortLabel", "str"),
         "interval": ("Interval", "dur"), "timeout": ("Timeout", "dur"), "protocol": ("Protocol", "str"),
         "method": ("Method", "str"), "header": ("Header", "any"), "initial_status": ("InitialStatus", "str"),
         "address_mode": ("AddressMode", "str"), "tls_skip_verify": ("TLSSkipVerify", "bool"),
         "command": ("Command", "str"), "args": ("Args", "list"), "expose": ("Expose", "bool"),
         "task": ("TaskName", "str"), "on_update": ("OnUpdate", "str"), "body": ("Body", "str"),
         "success_before_passing": ("SuccessBeforePassing", "int"),
         "failures_before_critical": ("FailuresBeforeCritical", "int"), "grpc_service": ("GRPCService", "str"),
         "grpc_use_tls": ("GRPCUseTLS", "bool")}
TEMPLATE = {"source": ("SourcePath", "str"), "destination": ("DestPath", "str"), "data": ("EmbeddedTmpl", "str"),
            "change_mode": ("ChangeMode", "str"), "change_signal": ("ChangeSignal", "str"),
            "splay": ("Splay", "dur"), "perms": ("Perms", "str"), "left_delimiter": ("LeftDelim", "str"),
            "right_delimiter": ("RightDelim", "str"), "env": ("Envvars", "bool"), "uid": ("Uid", "int"),
            "gid": ("Gid", "int"), "error_on_missing_key": ("ErrMissingKey", "bool")}
ARTIFACT = {"source": ("GetterSource", "str"), "destination": ("RelativeDest", "str"),
            "options": ("GetterOptions", "map"), "headers": ("GetterHeaders", "map"), "mode": ("GetterMode", "str")}
PORT = {"static": ("Value", "int"), "to": ("To", "int"), "host_network": ("HostNetwork", "str")}


class _Decoder:
    def __init__(self, ev):
        self.ev = ev

    def attrs(self, body, table, blocks, where):
        """Attributes by table; blocks by the handlers in blocks. Unknown
        names are refused like HCL's schema decoder does."""
        out = {}
        for it in items(body):
            if it[0] == "attr":
                _, name, expr, meta = it
                if name not in table:
                    raise _err(meta, "Unsupported argument",
                               'An argument named "%s" is not expected here.' % name)
                key, kind = table[name]
                try:
                    val = self.ev.eval(expr)
                except HCLError as e:
                    raise JobspecError(str(e))
                out[key] = self._convert(val, kind, meta, name)
            else:
                _, btype, labels, sub, meta = it
                if btype not in blocks:
                    raise _err(meta, "Unsupported block type",
                               'Blocks of type "%s" are not expected here.' % btype)
                blocks[btype](out, labels, sub, meta)
        return out

    def _convert(self, val, kind, meta, name):
        if kind == "dur":
            return _dur(val, meta, name)
        if kind == "int":
            if isinstance(val, bool) or not isinstance(val, (int, float, str)):
                raise _err(meta, "Unsuitable value type", "%s: a number is required" % name)
            try:
                return int(val)
            except ValueError:
                raise _err(meta, "Unsuitable value type", "%s: a number is required" % name)
        if kind == "bool":
            if isinstance(val, str) and val in ("true", "false"):
                return val == "true"
            if not isinstance(val, bool):
                raise _err(meta, "Unsuitable value type", "%s: a bool is required" % name)
            return val
        if kind == "str":
            if isinstance(val, (dict, list)):
                raise _err(meta, "Unsuitable value type", "%s: a string is required" % name)
            return hcl._to_str(val) if not isinstance(val, str) else val
        if kind == "list":
            if not isinstance(val, list):
                raise _err(meta, "Unsuitable value type", "%s: a list is required" % name)
            return [hcl._to_str(x) if not isinstance(x, str) else x for x in val]
        if kind == "map":
            if not isinstance(val, dict):
                raise _err(meta, "Unsuitable value type", "%s: a map is required" % name)
            return {k: hcl._to_str(v) for k, v in val.items()}
        return val

    def free_map(self, body):
        try:
            return hcl.to_value(body, self.ev)
        except HCLError as e:
            raise JobspecError(str(e))

    # -- blocks --------------------------------------------------------------
    def _one(self, key, table, extra=None):
        def h(out, labels, sub, meta):
            out[key] = self.attrs(sub, table, extra or {}, key)
        return h

    def _map(self, key):
        def h(out, labels, sub, meta):
            out[key] = {k: hcl._to_str(v) for k, v in self.free_map(sub).items()}
        return h

    def _constraint(self, key="Constraints", table=CONSTRAINT):
        def h(out, labels, sub, meta):
            c = self.attrs(sub, table, {}, "constraint")
            if c.pop("distinct_hosts", None):
                c = {"Operand": "distinct_hosts", "RTarget": "true"}
            dp = c.pop("distinct_property", None)
            if dp:
                c = {"Operand": "distinct_property", "LTarget": dp, "RTarget": c.get("RTarget", "")}
            c.setdefault("Operand", "=")
            out.setdefault(key, []).append(c)
        return h

    def _service(self, out, labels, sub, meta):
        s = self.attrs(sub, SERVICE, {"check": self._check, "meta": self._map("Meta"),
                                      "check_restart": lambda o, l, b, m: o.__setitem__("CheckRestart", self.free_map(b)),
                                      "connect": lambda o, l, b, m: o.__setitem__("Connect", self.free_map(b)),
                                      "tagged_addresses": self._map("TaggedAddresses")}, "service")
        out.setdefault("Services", []).append(s)

    def _check(self, out, labels, sub, meta):
        c = self.attrs(sub, CHECK, {"header": lambda o, l, b, m: o.__setitem__(
            "Header", {k: v if isinstance(v, list) else [v] for k, v in self.free_map(b).items()}),
            "check_restart": lambda o, l, b, m: o.__setitem__("CheckRestart", self.free_map(b))}, "check")
        out.setdefault("Checks", []).append(c)

    def _network(self, out, labels, sub, meta):
        net = {}

        def port(o, lbls, b, m):
            if len(lbls) != 1:
                raise _err(m, "Missing name for port", "All port blocks must have 1 labels (name).")
            p = self.attrs(b, PORT, {}, "port")
            p["Label"] = lbls[0]
            net.setdefault("ReservedPorts" if "Value" in p else "DynamicPorts", []).append(p)
        got = self.attrs(sub, {"mode": ("Mode", "str"), "mbits": ("MBits", "int"), "hostname": ("Hostname", "str")},
                         {"port": port, "dns": lambda o, l, b, m: o.__setitem__("DNS", self.free_map(b))}, "network")
        net.update(got)
        out.setdefault("Networks", []).append(net)

    def _task(self, out, labels, sub, meta):
        if len(labels) != 1:
            raise _err(meta, "Missing name for task", "All task blocks must have 1 labels (name).")
        t = self.attrs(sub, TASK_ATTRS, {
            "config": lambda o, l, b, m: o.__setitem__("Config", self.free_map(b)),
            "env": self._map("Env"), "meta": self._map("Meta"),
            "resources": self._one("Resources", RESOURCES, {"device": lambda o, l, b, m: o.setdefault(
                "Devices", []).append(dict(self.free_map(b), Name=l[0] if l else ""))}),
            "service": self._service, "restart": self._one("RestartPolicy", RESTART),
            "logs": self._one("LogConfig", LOGS), "lifecycle": self._one("Lifecycle", LIFECYCLE),
            "constraint": self._constraint(), "affinity": self._constraint("Affinities", AFFINITY),
            "template": lambda o, l, b, m: o.setdefault("Templates", []).append(self.attrs(b, TEMPLATE, {}, "template")),
            "artifact": lambda o, l, b, m: o.setdefault("Artifacts", []).append(self.attrs(b, ARTIFACT, {
                "options": self._map("GetterOptions"), "headers": self._map("GetterHeaders")}, "artifact")),
            "vault": lambda o, l, b, m: o.__setitem__("Vault", self.free_map(b)),
            "identity": lambda o, l, b, m: o.setdefault("Identities", []).append(self.free_map(b)),
            "volume_mount": lambda o, l, b, m: o.setdefault("VolumeMounts", []).append(self.free_map(b)),
            "scaling": lambda o, l, b, m: None,
        }, "task")
        t["Name"] = labels[0]
        out.setdefault("Tasks", []).append(t)

    def _group(self, out, labels, sub, meta):
        if len(labels) != 1:
            raise _err(meta, "Missing name for group", "All group blocks must have 1 labels (name).")
        g = self.attrs(sub, GROUP_ATTRS, {
            "task": self._task, "network": self._network, "service": self._service,
            "restart": self._one("RestartPolicy", RESTART), "reschedule": self._one("ReschedulePolicy", RESCHEDULE),
            "update": self._one("Update", UPDATE), "migrate": self._one("Migrate", MIGRATE),
            "ephemeral_disk": self._one("EphemeralDisk", DISK), "meta": self._map("Meta"),
            "constraint": self._constraint(), "affinity": self._constraint("Affinities", AFFINITY),
            "spread": lambda o, l, b, m: o.setdefault("Spreads", []).append(self.free_map(b)),
            "volume": lambda o, l, b, m: o.setdefault("Volumes", {}).__setitem__(l[0] if l else "", self.free_map(b)),
            "scaling": lambda o, l, b, m: o.__setitem__("Scaling", self.free_map(b)),
            "consul": lambda o, l, b, m: o.__setitem__("Consul", self.free_map(b)),
        }, "group")
        g["Name"] = labels[0]
        out.setdefault("TaskGroups", []).append(g)

    def job(self, labels, sub, meta):
        if len(labels) != 1:
            raise _err(meta, "Missing name for job", "All job blocks must have 1 labels (name).")
        j = self.attrs(sub, JOB_ATTRS, {
            "group": self._group, "update": self._one("Update", UPDATE), "migrate": self._one("Migrate", MIGRATE),
            "reschedule": self._one("Reschedule", RESCHEDULE), "meta": self._map("Meta"),
            "constraint": self._constraint(), "affinity": self._constraint("Affinities", AFFINITY),
            "spread": lambda o, l, b, m: o.setdefault("Spreads", []).append(self.free_map(b)),
            "periodic": lambda o, l, b, m: o.__setitem__("Periodic", self.free_map(b)),
            "parameterized": lambda o, l, b, m: o.__setitem__("ParameterizedJob", self.free_map(b)),
            "multiregion": lambda o, l, b, m: o.__setitem__("Multiregion", self.free_map(b)),
            "vault": lambda o, l, b, m: o.__setitem__("Vault", self.free_map(b)),
        }, "job")
        j["ID"] = labels[0]
        j.setdefault("Name", labels[0])
        return j


def parse_job(text, variables_text=""):
    """HCL2 job text (+ Variables as HCL text) -> job dict; JobspecError."""
    try:
        tree = hcl.parse(text)
        given = hcl.parse_config(variables_text) if variables_text.strip() else {}
    except HCLError as e:
        raise JobspecError(str(e))
    body = root_body(tree)
    stmts = items(body)
    declared, local_exprs, jobs = {}, [], []
    for it in stmts:
        if it[0] == "attr":
            raise _err(it[3], "Unsupported argument", 'An argument named "%s" is not expected here.' % it[1])
        _, btype, labels, sub, meta = it
        if btype == "variable":
            ev = hcl.Evaluator()
            spec = {}
            for v in items(sub):
                if v[0] == "attr" and v[1] in ("default", "description", "type", "sensitive", "nullable"):
                    if v[1] == "default":
                        try:
                            spec["default"] = ev.eval(v[2])
                        except HCLError as e:
                            raise JobspecError(str(e))
                    else:
                        spec[v[1]] = True
                elif v[0] == "block" and v[1] == "validation":
                    continue
                else:
                    raise _err(v[-1], "Unsupported argument", 'An argument named "%s" is not expected here.' % v[1])
            declared[labels[0]] = spec
        elif btype == "locals":
            local_exprs.extend(x for x in items(sub) if x[0] == "attr")
        elif btype == "job":
            jobs.append((labels, sub, meta))
        else:
            raise _err(meta, "Unsupported block type", 'Blocks of type "%s" are not expected here.' % btype)
    # Nomad 1.7's /v1/jobs/parse parses with Strict false: an undeclared
    # variable is only a warning, and the HTTP answer carries no warnings
    # (jobspec2/types.variables.go, command/agent/job_endpoint.go).
    for name in given:
        if name not in declared:
            from . import log
            log.warn("http", "job parse: Undefined variable: A %r variable was set but was not found in "
                     "known variables" % name)
    values = {}
    for name, spec in declared.items():
        if name in given:
            values[name] = given[name]
        elif "default" in spec:
            values[name] = spec["default"]
        else:
            raise JobspecError('input.hcl: Unset variable "%s"; A used variable must be set or have a default '
                               'value; see https://developer.hashicorp.com/nomad/docs/job-specification/hcl2/variables '
                               'for details.' % name)
    ctx = {"var": values, "local": {}}
    ev = hcl.Evaluator(ctx)
    for _, name, expr, meta in local_exprs:
        try:
            ctx["local"][name] = ev.eval(expr)
        except HCLError as e:
            raise JobspecError(str(e))
    if len(jobs) != 1:
        raise JobspecError("input.hcl: %s" % ("No job blocks found" if not jobs else "Duplicate job block"))
    labels, sub, meta = jobs[0]
    return _Decoder(ev).job(labels, sub, meta)
