"""Per-request fault injection, reproducible with a seed."""
import random
import threading

KINDS = ("throttle", "500", "latency", "drop")


class Faults:
    """Draws, for each request, whether and how it fails.

    A dropped connection is cut before the operation runs or after it took
    effect, half of each: the second is what tests client idempotency.
    """

    def __init__(self, rate=0.0, kinds=KINDS, latency_ms=300, seed=None):
        self._lock = threading.Lock()
        self.configure(rate, kinds, latency_ms, seed)

    def configure(self, rate, kinds, latency_ms, seed, actions=None):
        """actions: the operation names faults apply to (None: every one)."""
        kinds = list(kinds)
        if actions is not None and (not isinstance(actions, list)
                                    or not all(isinstance(a, str) for a in actions)):
            raise ValueError("actions must be a list of operation names")
        for kind in kinds:
            if kind not in KINDS:
                raise ValueError("unknown fault kind %r (known: %s)" % (kind, ",".join(KINDS)))
        if not 0.0 <= float(rate) <= 1.0:
            raise ValueError("fault rate must be between 0 and 1")
        with self._lock:
            self.rate = float(rate)
            self.kinds = kinds
            self.latency_ms = int(latency_ms)
            self.seed = seed
            self.actions = None if actions is None else sorted(set(actions))
            self._random = random.Random(seed)

    def describe(self):
        with self._lock:
            return {"rate": self.rate, "kinds": list(self.kinds),
                    "latency_ms": self.latency_ms, "seed": self.seed, "actions": self.actions}

    def draw(self, action=None):
        """None, or (kind, phase): kind in KINDS, phase 'before' or 'after' for drops.
        A request whose action the configuration leaves out draws nothing."""
        with self._lock:
            if self.rate <= 0 or not self.kinds:
                return None
            if self.actions is not None and action not in self.actions:
                return None
            if self._random.random() >= self.rate:
                return None
            kind = self._random.choice(self.kinds)
            phase = "before"
            if kind == "drop" and self._random.random() < 0.5:
                phase = "after"
            return kind, phase
