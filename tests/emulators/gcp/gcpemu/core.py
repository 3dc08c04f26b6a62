"""The emulator's state: configuration, clock, identifiers, projects, background work."""
import collections
import copy
import datetime
import json
import random
import threading
import time
import zlib

DEFAULT_PROJECT = "infra-test"
DEFAULT_NUMBER = "123456789012"
DEFAULT_REGIONS = {"europe-west1": ["europe-west1-b", "europe-west1-c", "europe-west1-d"],
                   "us-central1": ["us-central1-a", "us-central1-b", "us-central1-c",
                                   "us-central1-f"]}
# Projects whose public images anyone may read (the images' seed names them).
PUBLIC_IMAGE_PROJECTS = ("debian-cloud", "ubuntu-os-cloud", "cos-cloud")


class Config:
    """Everything fixed at start: seed data and tunables."""

    def __init__(self, seed, hosts, operation_seconds=1.0, time_scale=1.0, token_seconds=3600,
                 loopback_addresses=False):
        self.project = seed.get("project", DEFAULT_PROJECT)
        self.project_number = str(seed.get("project_number", DEFAULT_NUMBER))
        self.regions = seed.get("regions", DEFAULT_REGIONS)
        self.quotas = dict({"CPUS": 24.0}, **seed.get("quotas", {}))
        self.images = seed.get("images")
        self.managed_zones = seed.get("managed_zones", [])
        self.hosts = hosts
        self.operation_seconds = float(operation_seconds)
        self.time_scale = float(time_scale)
        self.token_seconds = int(token_seconds)
        self.loopback_addresses = loopback_addresses
        self.instance_endpoint = None  # HOST:PORT the pool hosts reach (app.build)

    def scaled(self, google_seconds):
        """A Google duration (health-check interval, MIG loop) on the emulator's clock."""
        return google_seconds * self.time_scale

    def zones(self):
        return {z: r for r, zs in self.regions.items() for z in zs}


def rfc3339(when=None):
    when = when or datetime.datetime.now(datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + "%03d+00:00" % (when.microsecond // 1000)


class Ids:
    """Numeric resource ids (uint64 as decimal text) and random name parts."""

    def __init__(self):
        self._random = random.SystemRandom()
        self._seen = set()
        self._lock = threading.Lock()

    def numeric(self):
        with self._lock:
            while True:
                value = str(self._random.randrange(10 ** 18, 10 ** 19))
                if value not in self._seen:
                    self._seen.add(value)
                    return value

    def hex(self, digits):
        return "%0*x" % (digits, self._random.getrandbits(4 * digits))

    def letters(self, count, alphabet="abcdefghijklmnopqrstuvwxyz0123456789"):
        return "".join(self._random.choice(alphabet) for _ in range(count))


class Project:
    """Every resource of one project: store[(scope, collection)] = {name: resource}.

    scope is 'global', 'regions/R' or 'zones/Z'. Resources are dicts in the API's
    shape; keys starting with '_' are the emulator's own and never leave it."""

    def __init__(self, name, number):
        self.name = name
        self.number = number
        self.clear()

    def clear(self):
        self.store = collections.defaultdict(collections.OrderedDict)
        self.pending_names = {}  # (scope, collection, name) -> operation name
        self.pending_items = {}  # (scope, collection, name) -> the resource to be
        self.request_ids = {}  # requestId -> (scope, operation name, monotonic time)
        self.operations = collections.defaultdict(collections.OrderedDict)  # scope -> ops

    def coll(self, scope, collection):
        return self.store[(scope, collection)]

    def scopes_of(self, collection):
        return [(scope, items) for (scope, coll), items in self.store.items()
                if coll == collection]


class Emulator:
    """Shared state of every service; handlers run under self.lock."""

    def __init__(self, config):
        self.config = config
        self.lock = threading.RLock()
        self.ids = Ids()
        self.projects = {}
        self.calls = collections.defaultdict(collections.Counter)
        self.stopped = threading.Event()
        self._tickers = []
        self.services = {}
        self.project(config.project, config.project_number)
        for name in PUBLIC_IMAGE_PROJECTS:
            self.project(name, str(zlib.crc32(name.encode()) * 1000 + 7))

    def project(self, name, number=None):
        if name not in self.projects:
            self.projects[name] = Project(name, number or self.ids.numeric()[:12])
        return self.projects[name]

    def add_ticker(self, period, fn):
        """Run fn() every period seconds (under the lock) in the background loop."""
        self._tickers.append([period, fn, 0.0])

    def start(self):
        threading.Thread(target=self._loop, name="gcpemu-tick", daemon=True).start()

    def stop(self):
        self.stopped.set()

    def _loop(self):
        while not self.stopped.wait(0.02):
            now = time.monotonic()
            for ticker in self._tickers:
                period, fn, last = ticker
                if now - last >= period:
                    ticker[2] = now
                    try:
                        with self.lock:
                            fn()
                    except Exception as e:  # one failing task must not stop the others
                        import traceback
                        traceback.print_exc()
                        print("gcpemu: background task failed: %r" % (e,), flush=True)

    def reset(self):
        with self.lock:
            for service in self.services.values():
                if hasattr(service, "before_reset"):
                    service.before_reset()
            for project in self.projects.values():
                project.clear()
            for service in self.services.values():
                if hasattr(service, "after_reset"):
                    service.after_reset()

    def snapshot(self):
        """Every resource and operation, as JSON-ready data (metadata values by size)."""
        with self.lock:
            out = {"projects": {}}
            for name, project in self.projects.items():
                p = {}
                for (scope, collection), items in project.store.items():
                    if items:
                        p.setdefault(collection, {})[scope] = [redacted(v) for v in
                                                               items.values()]
                ops = {scope: [public(o) for o in items.values()]
                       for scope, items in project.operations.items() if items}
                if ops:
                    p["operations"] = ops
                if p:
                    out["projects"][name] = p
            for name, service in self.services.items():
                if hasattr(service, "snapshot"):
                    out[name] = service.snapshot()
            return json.loads(json.dumps(out, default=repr))


def public(resource):
    """A deep copy without the emulator's own ('_') keys: what the API shows."""
    if isinstance(resource, dict):
        return {k: public(v) for k, v in resource.items() if not k.startswith("_")}
    if isinstance(resource, list):
        return [public(v) for v in resource]
    return copy.copy(resource)


def redacted(resource):
    """public(), with metadata values (startup scripts may hold secrets) shown by size."""
    out = public(resource)
    for holder in (out, out.get("properties", {})):
        for item in (holder.get("metadata") or {}).get("items", []):
            if isinstance(item, dict) and isinstance(item.get("value"), str):
                item["value"] = "<%d bytes>" % len(item["value"].encode())
    return out
