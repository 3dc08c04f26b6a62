"""Agent-style log lines on stderr: one line per event, never a secret."""
import sys
import threading
import time

_LEVELS = {"trace": 0, "debug": 1, "info": 2, "warn": 3, "error": 4}
_lock = threading.RLock()  # a signal handler may log while the main thread does
_state = {"level": 2, "secrets": []}


def set_level(name):
    _state["level"] = _LEVELS.get(str(name).lower(), 2)


def add_secret(value):
    """Registers a value that must never appear in a log line."""
    if value and isinstance(value, str) and len(value) >= 4:
        _state["secrets"].append(value)


def redact(text):
    for s in _state["secrets"]:
        text = text.replace(s, "<redacted>")
    return text


def log(level, component, msg, **fields):
    if _LEVELS.get(level, 2) < _state["level"]:
        return
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".%03dZ" % (int(now * 1000) % 1000)
    extra = "".join(" %s=%s" % (k, v) for k, v in fields.items())
    line = "%s [%s] %s: %s%s\n" % (stamp, level.upper().ljust(5), component, msg, extra)
    with _lock:
        sys.stderr.write(redact(line))
        sys.stderr.flush()


def info(component, msg, **f):
    log("info", component, msg, **f)


def warn(component, msg, **f):
    log("warn", component, msg, **f)


def error(component, msg, **f):
    log("error", component, msg, **f)


def debug(component, msg, **f):
    log("debug", component, msg, **f)
