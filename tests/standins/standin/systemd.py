"""`systemctl` and `journalctl` for a test host without systemd as PID 1.

A small service manager that reads unit files the way systemd does and runs
their services as real processes, for tests of code that installs systemd
units. See README.md ("systemctl and journalctl") for what it does and how
it differs from systemd. Its state is under /run/standin-systemd/, so each
host (whose /run is private) has its own manager.
"""
import errno
import os
import resource
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time

UNIT_DIRS = ["/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system"]
STATE_DIR = "/run/standin-systemd"

# Directives this manager knows, per section (those of systemd.unit(5),
# systemd.service(5), systemd.exec(5) and systemd.kill(5) a unit for a
# long-running agent uses). systemd ignores an unknown one with a warning;
# this manager refuses the unit, so a misspelt directive cannot go unseen.
KNOWN = {
    "Unit": {"Description", "Documentation", "Wants", "Requires", "Requisite", "BindsTo",
             "PartOf", "Conflicts", "Before", "After", "OnFailure", "ConditionPathExists",
             "ConditionFileNotEmpty", "AssertPathExists", "StartLimitIntervalSec",
             "StartLimitBurst", "DefaultDependencies"},
    "Service": {"Type", "ExecStart", "ExecStartPre", "ExecStartPost", "ExecReload", "ExecStop",
                "ExecStopPost", "Restart", "RestartSec", "TimeoutStartSec", "TimeoutStopSec",
                "TimeoutSec", "KillMode", "KillSignal", "SendSIGKILL", "User", "Group",
                "WorkingDirectory", "Environment", "EnvironmentFile", "LimitNOFILE",
                "LimitNPROC", "LimitCORE", "LimitMEMLOCK", "TasksMax", "PIDFile",
                "SuccessExitStatus", "RemainAfterExit", "StandardOutput", "StandardError",
                "SyslogIdentifier", "NoNewPrivileges", "PrivateTmp", "ProtectSystem",
                "ProtectHome", "ReadWritePaths", "AmbientCapabilities",
                "CapabilityBoundingSet", "OOMScoreAdjust", "Nice", "Delegate"},
    "Install": {"WantedBy", "RequiredBy", "Alias", "Also"},
}
RESTART = {"no", "on-success", "on-failure", "on-abnormal", "on-watchdog", "on-abort", "always"}
KILL_MODES = {"control-group", "mixed", "process", "none"}
TYPES = {"simple", "exec"}
# systemd's defaults: DefaultStartLimitIntervalSec=10s, DefaultStartLimitBurst=5
START_LIMIT = (10.0, 5)
STOP_TIMEOUT = 90.0


class UnitError(Exception):
    pass


def _seconds(text, key, unit):
    t = text.strip()
    scale = 1.0
    for suffix, s in (("ms", 0.001), ("min", 60.0), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if t.endswith(suffix):
            t, scale = t[: -len(suffix)], s
            break
    try:
        return float(t) * scale
    except ValueError:
        raise UnitError("%s: Failed to parse %s= value, ignoring: %s" % (unit, key, text))


def _limit(text, key, unit):
    if text.strip() == "infinity":
        return -1
    try:
        return int(text.strip())
    except ValueError:
        raise UnitError("%s: Failed to parse resource value, ignoring: %s=%s" % (unit, key, text))


def parse_unit(text, path, name):
    """The unit file text (read from path) as {section: {key: [values]}};
    UnitError on what this manager refuses, with systemd's wording where
    systemd has one."""
    lines = text.split("\n")
    unit = {}
    section = None
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        n = i + 1
        i += 1
        while line.endswith("\\") and i < len(lines):
            line = line[:-1] + " " + lines[i].strip()
            i += 1
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise UnitError("%s:%d: Invalid section header '%s'" % (path, n, line))
            section = line[1:-1]
            if section not in KNOWN:
                raise UnitError("%s:%d: Unknown section '%s'." % (path, n, section))
            unit.setdefault(section, {})
            continue
        if section is None:
            raise UnitError("%s:%d: Assignment outside of section." % (path, n))
        if "=" not in line:
            raise UnitError("%s:%d: Missing '=', ignoring line." % (path, n))
        key, value = (s.strip() for s in line.split("=", 1))
        if key not in KNOWN[section]:
            raise UnitError("%s:%d: Unknown key name '%s' in section '%s'." % (path, n, key,
                                                                             section))
        unit[section].setdefault(key, []).append(value)
    svc = unit.get("Service", {})
    starts = [v for v in svc.get("ExecStart", []) if v]
    if not starts:
        raise UnitError("%s: Service has no ExecStart=, ExecStop=, or SuccessAction=. Refusing."
                        % name)
    if len(starts) > 1:
        raise UnitError("%s: Service has more than one ExecStart= setting, which is only "
                        "allowed for Type=oneshot services. Refusing." % name)
    argv = exec_argv(starts[0], name)
    if not os.path.isabs(argv[0]):
        raise UnitError("%s: Neither a valid executable name nor an absolute path: %s"
                        % (name, argv[0]))
    last = lambda k, d: (svc.get(k) or [d])[-1]  # noqa: E731
    if last("Type", "simple") not in TYPES:
        raise UnitError("%s: Type=%s is not run by this manager (simple and exec only)"
                        % (name, last("Type", "")))
    if last("Restart", "no") not in RESTART:
        raise UnitError("%s: Failed to parse service restart specifier, ignoring: %s"
                        % (name, last("Restart", "")))
    if last("KillMode", "control-group") not in KILL_MODES:
        raise UnitError("%s: Failed to parse kill mode, ignoring: %s" % (name, last("KillMode", "")))
    _seconds(last("RestartSec", "100ms"), "RestartSec", name)
    _seconds(last("TimeoutStopSec", "90s"), "TimeoutStopSec", name)
    if "LimitNOFILE" in svc:
        _limit(last("LimitNOFILE", ""), "LimitNOFILE", name)
    for v in svc.get("User", []) + svc.get("Group", []):
        if v not in ("root", "0"):
            raise UnitError("%s: User=/Group= other than root are not run by this manager" % name)
    return unit


def exec_argv(value, name):
    """ExecStart's command line split like systemd: whitespace, quotes,
    backslash escapes; the prefixes -@:+! are not supported."""
    if value[:1] in "-@:+!":
        raise UnitError("%s: ExecStart= prefixes are not run by this manager: %s" % (name, value))
    try:
        argv = shlex.split(value, posix=True)
    except ValueError as e:
        raise UnitError("%s: Invalid ExecStart= line: %s" % (name, e))
    if not argv:
        raise UnitError("%s: Empty ExecStart=" % name)
    return argv


def unit_name(arg):
    return arg if "." in arg else arg + ".service"


def find_unit(name):
    for d in UNIT_DIRS:
        p = os.path.join(d, name)
        if os.path.isfile(p):
            return p
    return None


def _state_path(name, what):
    return os.path.join(STATE_DIR, "%s.%s" % (name, what))


def _read(path, default=""):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return default


def _write(path, text):
    tmp = path + ".tmp%d" % os.getpid()
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _pid(name, what):
    t = _read(_state_path(name, what)).strip()
    return int(t) if t.isdigit() else 0


def _alive(pid):
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError as e:
        return e.errno == errno.EPERM
    # a zombie is not running
    stat = _read("/proc/%d/stat" % pid)
    return not (stat and stat.rsplit(")", 1)[-1].split()[:1] == ["Z"])


def loaded_unit(name, reload=False):
    """The unit as the manager has it loaded: the copy read at the last
    daemon-reload (or the first use), not what is on disk now. Warns like
    systemctl when the file changed on disk since."""
    path = find_unit(name)
    if path is None:
        raise UnitError("Unit %s not found." % name)
    copy = _state_path(name, "loaded")
    disk = _read(path)
    if reload or not os.path.exists(copy):
        _write(copy, disk)
        _write(_state_path(name, "source"), path)
    elif _read(copy) != disk:
        sys.stderr.write("Warning: The unit file, source configuration file or drop-ins of %s "
                         "changed on disk. Run 'systemctl daemon-reload' to reload units.\n" % name)
    # a unit that does not parse is still loaded, in error: using it fails
    return parse_unit(_read(copy), _read(_state_path(name, "source")).strip(), name)


def journal(name, line):
    stamp = time.strftime("%b %d %H:%M:%S", time.localtime())
    with open(_state_path(name, "journal"), "a", encoding="utf-8") as f:
        f.write("%s %s %s\n" % (stamp, socket.gethostname(), line))


# ------------------------------------------------------------------------
# the monitor: one detached process per running service


def _monitor(name, unit):
    svc = unit.get("Service", {})
    last = lambda k, d: (svc.get(k) or [d])[-1]  # noqa: E731
    unit_last = lambda k, d: (unit.get("Unit", {}).get(k) or [d])[-1]  # noqa: E731
    start_limit = (_seconds(unit_last("StartLimitIntervalSec", "%gs" % START_LIMIT[0]),
                            "StartLimitIntervalSec", name),
                   _limit(unit_last("StartLimitBurst", str(START_LIMIT[1])), "StartLimitBurst",
                          name))
    argv = exec_argv(last("ExecStart", ""), name)
    restart = last("Restart", "no")
    restart_sec = _seconds(last("RestartSec", "100ms"), "RestartSec", name)
    stop_timeout = _seconds(last("TimeoutStopSec", last("TimeoutSec", "90s")), "TimeoutStopSec",
                            name)
    kill_mode = last("KillMode", "control-group")
    ident = last("SyslogIdentifier", os.path.basename(argv[0]))
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "LANG": "C.UTF-8"}
    for e in svc.get("Environment", []):
        for kv in shlex.split(e):
            if "=" in kv:
                k, v = kv.split("=", 1)
                env[k] = v
    nofile = _limit(last("LimitNOFILE", "1024"), "LimitNOFILE", name)

    stopping = threading.Event()
    child = [None]

    def on_term(_sig, _frame):
        stopping.set()
        p = child[0]
        if p is not None and p.poll() is None:
            try:
                if kill_mode == "process":
                    os.kill(p.pid, signal.SIGTERM)
                elif kill_mode != "none":
                    os.killpg(p.pid, signal.SIGTERM)
            except OSError:
                pass

    signal.signal(signal.SIGTERM, on_term)
    starts = []

    # systemd sets the limit with CAP_SYS_RESOURCE; a manager without it
    # (a container) raises the soft limit as far as the hard one allows
    nofile_limits = None
    if nofile > 0:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        can_raise = hard == resource.RLIM_INFINITY or nofile <= hard or _has_cap_sys_resource()
        nofile_limits = (nofile, nofile) if can_raise else (hard, hard)
        if not can_raise:
            journal(name, "systemd[1]: %s: LimitNOFILE=%d above this manager's hard limit %d; "
                    "using %d" % (name, nofile, hard, hard))

    def preexec():
        os.setpgid(0, 0)
        if nofile_limits:
            resource.setrlimit(resource.RLIMIT_NOFILE, nofile_limits)

    while not stopping.is_set():
        now = time.monotonic()
        starts = [t for t in starts if now - t < start_limit[0]] + [now]
        if len(starts) > start_limit[1]:
            journal(name, "systemd[1]: %s: Start request repeated too quickly." % name)
            journal(name, "systemd[1]: %s: Failed with result 'exit-code'." % name)
            _write(_state_path(name, "active"), "failed")
            break
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, env=env, cwd="/",
                                 preexec_fn=preexec, close_fds=True)
        except OSError as e:
            journal(name, "systemd[1]: %s: Failed to execute %s: %s" % (name, argv[0], e.strerror))
            _write(_state_path(name, "active"), "failed")
            break
        child[0] = p
        _write(_state_path(name, "main"), str(p.pid))
        _write(_state_path(name, "active"), "active")
        _write(_state_path(name, "forked"), "1")
        journal(name, "systemd[1]: Started %s." % name)
        # the output is read aside: a process the service forked may keep
        # the pipe open after the main process is gone
        threading.Thread(target=_pump, args=(name, ident, p), daemon=True).start()
        deadline = time.monotonic() + stop_timeout
        while p.poll() is None:
            if stopping.is_set() and time.monotonic() > deadline:
                journal(name, "systemd[1]: %s: State 'stop-sigterm' timed out. Killing." % name)
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.05)
        code = p.returncode
        child[0] = None
        _write(_state_path(name, "main"), "0")
        if stopping.is_set():
            journal(name, "systemd[1]: Stopped %s." % name)
            _write(_state_path(name, "active"), "inactive")
            break
        result = "exit-code" if code > 0 else "signal"
        if code == 0:
            journal(name, "systemd[1]: %s: Deactivated successfully." % name)
        else:
            journal(name, "systemd[1]: %s: Main process exited, code=%s, status=%s" % (
                name, "exited" if code > 0 else "killed", code if code > 0 else -code))
            journal(name, "systemd[1]: %s: Failed with result '%s'." % (name, result))
        again = restart == "always" or (restart == "on-failure" and code != 0) or \
            (restart == "on-success" and code == 0) or (restart == "on-abnormal" and code < 0)
        if not again:
            _write(_state_path(name, "active"), "inactive" if code == 0 else "failed")
            break
        _write(_state_path(name, "active"), "activating")
        journal(name, "systemd[1]: %s: Scheduled restart job." % name)
        stopping.wait(restart_sec)
    if stopping.is_set() and _read(_state_path(name, "active")) != "failed":
        _write(_state_path(name, "active"), "inactive")
    _write(_state_path(name, "monitor"), "0")


def _has_cap_sys_resource():
    for line in _read("/proc/self/status").splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) & (1 << 24))
    return False


def _pump(name, ident, p):
    for raw in iter(p.stdout.readline, b""):
        journal(name, "%s[%d]: %s" % (ident, p.pid, raw.decode("utf-8", "replace").rstrip("\n")))


def _spawn_monitor(name, unit):
    """Starts the monitor detached (its own session, no inherited
    descriptors) and returns once it has recorded its pid."""
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid:
        os.close(ready_w)
        os.waitpid(pid, 0)
        os.read(ready_r, 1)
        os.close(ready_r)
        return
    try:
        os.close(ready_r)
        os.setsid()
        if os.fork():
            os._exit(0)
        _write(_state_path(name, "monitor"), str(os.getpid()))
        os.write(ready_w, b"x")
        fd = os.open(os.devnull, os.O_RDWR)
        for target in (0, 1, 2):
            os.dup2(fd, target)
        os.closerange(3, 4096)
        try:
            _monitor(name, unit)
        except Exception as e:  # the manager's own failure, where the unit's log is read
            journal(name, "systemd[1]: %s: manager failure: %r" % (name, e))
            _write(_state_path(name, "active"), "failed")
    finally:
        os._exit(0)


# ------------------------------------------------------------------------
# commands


def is_active(name):
    state = _read(_state_path(name, "active")).strip() or "inactive"
    if state in ("active", "activating") and not _alive(_pid(name, "monitor")):
        state = "failed"
    return state


def start(name):
    unit = loaded_unit(name)
    if is_active(name) in ("active", "activating"):
        return 0
    _write(_state_path(name, "active"), "activating")
    _write(_state_path(name, "main"), "0")
    _write(_state_path(name, "forked"), "0")
    _spawn_monitor(name, unit)
    # Type=simple: the job is done once the main process is forked, whatever
    # happens to it next (a failing service may already have been restarted
    # and given up by the time this process runs again); it failed when the
    # manager ended without forking it.
    forked = lambda: _read(_state_path(name, "forked")).strip() == "1"  # noqa: E731
    while not forked() and _alive(_pid(name, "monitor")):
        time.sleep(0.02)
    if not forked():
        sys.stderr.write("Job for %s failed because the control process exited with error code.\n"
                         "See \"systemctl status %s\" and \"journalctl -xeu %s\" for details.\n"
                         % (name, name, name))
        return 1
    return 0


def stop(name):
    if find_unit(name) is None and not os.path.exists(_state_path(name, "loaded")):
        sys.stderr.write("Failed to stop %s: Unit %s not loaded.\n" % (name, name))
        return 5
    mon = _pid(name, "monitor")
    if _alive(mon):
        os.kill(mon, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT + 5
        while _alive(mon) and time.monotonic() < deadline:
            time.sleep(0.05)
    if is_active(name) != "failed":
        _write(_state_path(name, "active"), "inactive")
    return 0


def enable(name, now):
    unit = loaded_unit(name)
    install = unit.get("Install", {})
    targets = [(t, "wants") for v in install.get("WantedBy", []) for t in v.split()] + \
        [(t, "requires") for v in install.get("RequiredBy", []) for t in v.split()]
    if not targets:
        sys.stderr.write("The unit files have no installation config (WantedBy=, RequiredBy=, "
                         "Also=,\nAlias= settings in the [Install] section, and DefaultInstance= "
                         "for template\nunits). This means they are not meant to be enabled "
                         "using systemctl.\n")
    source = _read(_state_path(name, "source")).strip()
    for target, kind in targets:
        d = "/etc/systemd/system/%s.%s" % (target, kind)
        os.makedirs(d, exist_ok=True)
        link = os.path.join(d, name)
        if os.path.islink(link) and os.readlink(link) == source:
            continue
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(source, link)
        sys.stderr.write("Created symlink %s \u2192 %s.\n" % (link, source))
    return start(name) if now else 0


def disable(name, now):
    for d in ("/etc/systemd/system",):
        for entry in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            link = os.path.join(d, entry, name)
            if (entry.endswith(".wants") or entry.endswith(".requires")) and os.path.islink(link):
                os.unlink(link)
                sys.stderr.write("Removed \"%s\".\n" % link)
    return stop(name) if now else 0


def show(name, props, value_only):
    values = {"MainPID": str(_pid(name, "main") if is_active(name) == "active" else 0),
              "ActiveState": is_active(name), "Id": name,
              "FragmentPath": find_unit(name) or "",
              "UnitFileState": "enabled" if _is_enabled(name) else "disabled"}
    for p in props or sorted(values):
        v = values.get(p, "")
        print(v if value_only else "%s=%s" % (p, v))
    return 0


def reload_service(name):
    unit = loaded_unit(name)
    main = _pid(name, "main")
    if is_active(name) != "active" or not main:
        sys.stderr.write("Failed to reload %s: Unit %s is not active.\n" % (name, name))
        return 7
    for cmd in unit.get("Service", {}).get("ExecReload", []):
        argv = [a.replace("$MAINPID", str(main)).replace("${MAINPID}", str(main))
                for a in exec_argv(cmd, name)]
        if subprocess.call(argv) != 0:
            return 1
    return 0


MUTATING = {"start", "stop", "restart", "reload", "enable", "disable", "daemon-reload",
            "try-restart"}


def systemctl(args):
    opts = [a for a in args if a.startswith("-")]
    props = []
    i = 0
    rest = []
    while i < len(args):
        a = args[i]
        if a in ("-p", "--property"):
            props += args[i + 1].split(",") if i + 1 < len(args) else []
            i += 2
            continue
        if a.startswith("--property="):
            props += a.split("=", 1)[1].split(",")
        elif not a.startswith("-"):
            rest.append(a)
        i += 1
    words = rest
    quiet = "--quiet" in opts or "-q" in opts
    now = "--now" in opts
    known = {"--quiet", "-q", "--now", "--value", "--no-pager", "--no-block", "-p", "--property"}
    for o in opts:
        if o not in known and not o.startswith("--property="):
            sys.stderr.write("systemctl: unrecognized option '%s'\n" % o)
            return 1
    if not os.path.isdir("/run/systemd/system"):
        sys.stderr.write("System has not been booted with systemd as init system (PID 1). "
                         "Can't operate.\nFailed to connect to bus: Host is down\n")
        return 1
    if not words:
        sys.stderr.write("systemctl: a command is needed\n")
        return 1
    verb, names = words[0], [unit_name(n) for n in words[1:]]
    if verb in MUTATING and os.geteuid() != 0:
        sys.stderr.write("Failed to %s %s: Interactive authentication required.\n"
                         % (verb, " ".join(names) or "units"))
        return 1
    os.makedirs(STATE_DIR, exist_ok=True)
    try:
        if verb == "daemon-reload":
            for entry in os.listdir(STATE_DIR):
                if entry.endswith(".loaded"):
                    n = entry[: -len(".loaded")]
                    if find_unit(n):
                        try:
                            loaded_unit(n, reload=True)
                        except UnitError as e:
                            sys.stderr.write("%s\n" % e)
                    else:
                        os.unlink(os.path.join(STATE_DIR, entry))
            return 0
        if not names:
            sys.stderr.write("Too few arguments.\n")
            return 1
        rc = 0
        for n in names:
            if verb == "start":
                rc = rc or start(n)
            elif verb == "stop":
                rc = rc or stop(n)
            elif verb == "restart":
                rc = rc or stop(n) or start(n)
            elif verb == "try-restart":
                if is_active(n) == "active":
                    rc = rc or stop(n) or start(n)
            elif verb == "reload":
                rc = rc or reload_service(n)
            elif verb == "enable":
                rc = rc or enable(n, now)
            elif verb == "disable":
                rc = rc or disable(n, now)
            elif verb == "is-active":
                state = is_active(n)
                if not quiet:
                    print(state)
                rc = rc or (0 if state == "active" else 3)
            elif verb == "is-enabled":
                enabled = _is_enabled(n)
                if not quiet:
                    print("enabled" if enabled else "disabled")
                rc = rc or (0 if enabled else 1)
            elif verb == "show":
                rc = rc or show(n, props, "--value" in opts)
            else:
                sys.stderr.write("Unknown command verb '%s'.\n" % verb)
                return 1
        return rc
    except UnitError as e:
        sys.stderr.write("Failed to %s %s: %s\n" % (verb, " ".join(names), e))
        return 5 if "not found" in str(e) else 1


def _is_enabled(name):
    d = "/etc/systemd/system"
    return any(os.path.islink(os.path.join(d, e, name)) for e in
               (os.listdir(d) if os.path.isdir(d) else []))


def journalctl(args):
    units, lines, i = [], 10, 0
    while i < len(args):
        a = args[i]
        if a in ("-u", "--unit"):
            units.append(unit_name(args[i + 1]))
            i += 2
            continue
        if a.startswith("--unit="):
            units.append(unit_name(a.split("=", 1)[1]))
        elif a in ("-n", "--lines"):
            lines = int(args[i + 1])
            i += 2
            continue
        elif a.startswith("--lines="):
            lines = int(a.split("=", 1)[1])
        elif a not in ("--no-pager", "-q", "--quiet", "-x", "-e"):
            sys.stderr.write("journalctl: unrecognized option '%s'\n" % a)
            return 1
        i += 1
    out = []
    for u in units:
        out += _read(_state_path(u, "journal")).splitlines()
    if not out:
        print("-- No entries --")
        return 0
    for line in out[-lines:]:
        print(line)
    return 0
