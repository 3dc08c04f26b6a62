"""Crash points: SIGKILL a registered client at its Nth mutating call.

A test registers the pid of the client it runs (the control API) with a
count N and a phase. The Nth mutating API call after that (a Compute method
that takes a requestId, or dns.changes.create) kills the client with
SIGKILL, before the method runs or after it took effect, and the
connection is dropped without an answer: exactly what a crash of the
client at that instant leaves behind. A crash point fires once.
"""
import os
import signal
import threading

PHASES = ("before", "after")


def mutating(method):
    """Whether a call of this discovery method changes anything."""
    return "requestId" in method.parameters or method.id == "dns.changes.create"


class CrashPoint:
    def __init__(self):
        self._lock = threading.Lock()
        self.clear()

    def clear(self):
        with self._lock:
            self.pid = None
            self.at = 0
            self.when = "before"
            self.seen = 0
            self.fired = None

    def arm(self, spec):
        """{"pid": PID, "at": N (from 1), "when": "before"|"after"}; answers the state."""
        pid, at, when = int(spec["pid"]), int(spec["at"]), spec.get("when", "before")
        if pid <= 1 or at < 1 or when not in PHASES:
            raise ValueError("a crash point wants pid > 1, at >= 1 and when before or after")
        with self._lock:
            self.pid, self.at, self.when = pid, at, when
            self.seen = 0
            self.fired = None
        return self.describe()

    def describe(self):
        with self._lock:
            return {"pid": self.pid, "at": self.at, "when": self.when, "seen": self.seen,
                    "fired": self.fired}

    def count(self, method):
        """The phase in which this call must kill the client ("before"/"after"), or None."""
        if not mutating(method):
            return None
        with self._lock:
            if self.pid is None or self.fired is not None:
                return None
            self.seen += 1
            if self.seen != self.at:
                return None
            self.fired = method.id
            return self.when

    def kill(self):
        with self._lock:
            pid = self.pid
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
