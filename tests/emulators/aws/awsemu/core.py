"""The emulator's state: configuration, clock, identifiers, regions, background work."""
import collections
import datetime
import json
import random
import threading
import time
import uuid


class Config:
    def __init__(self, credentials, seed, hosts, pending_seconds=1.0, time_scale=1.0,
                 loopback_addresses=False, instance_endpoint=None, retention_seconds=None):
        self.credentials = credentials  # {akid: (secret, token or None)}
        self.account_id = seed.get("account_id", "123456789012")
        self.zones = seed.get("availability_zones", {"us-east-1": ["us-east-1a", "us-east-1b"]})
        self.images = seed.get("images", [])
        self.hosted_zones = seed.get("hosted_zones", [])
        self.hosts = hosts
        self.pending_seconds = float(pending_seconds)
        self.time_scale = float(time_scale)
        self.loopback_addresses = loopback_addresses
        # The URL instances with an instance profile reach the emulator at
        # (hosts.HostPool.profile_env), or None.
        self.instance_endpoint = instance_endpoint
        # None: AWS's own retention on the time scale.
        self.retention_seconds = retention_seconds

    def scaled(self, aws_seconds):
        """An AWS duration (health-check interval, retention) on the emulator's clock."""
        return aws_seconds * self.time_scale

    def retention(self, aws_seconds):
        """How long a terminated instance or deleted NAT gateway stays visible:
        --retention-seconds when given (unscaled), else AWS's own, scaled."""
        if self.retention_seconds is not None:
            return self.retention_seconds
        return self.scaled(aws_seconds)


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


class Ids:
    """EC2-style identifiers: prefix + 17 hex digits; unique for the emulator's life."""

    def __init__(self):
        self._random = random.SystemRandom()
        self._seen = set()
        self._lock = threading.Lock()

    def new(self, prefix, digits=17):
        with self._lock:
            while True:
                value = "%s-%0*x" % (prefix, digits, self._random.getrandbits(4 * digits))
                if value not in self._seen:
                    self._seen.add(value)
                    return value

    def hex(self, digits):
        return "%0*x" % (digits, self._random.getrandbits(4 * digits))

    def digits(self, count):
        return "".join(self._random.choice("0123456789") for _ in range(count))

    @staticmethod
    def request_id():
        return str(uuid.uuid4())


class Region:
    """Everything one region holds. Plain dicts keyed by id, guarded by Emulator.lock."""

    def __init__(self, name):
        self.name = name
        self.clear()

    def clear(self):
        self.vpcs = {}
        self.subnets = {}
        self.internet_gateways = {}
        self.addresses = {}
        self.nat_gateways = {}
        self.route_tables = {}
        self.security_groups = {}
        self.key_pairs = {}
        self.instances = collections.OrderedDict()
        self.reservations = {}
        self.client_tokens = {}  # (operation, token) -> (fingerprint, result reference)
        self.launch_templates = {}
        self.images = collections.OrderedDict()  # made by CreateImage
        self.snapshots = {}
        self.deregistered = set()  # seed images deregistered
        self.tags = {}  # resource id -> OrderedDict(key -> value)
        self.load_balancers = collections.OrderedDict()
        self.auto_scaling_groups = collections.OrderedDict()
        self.scaling_activities = []
        self.next_private_ip = {}  # subnet id -> next host number


class Emulator:
    """Shared state of every service; handlers run under self.lock."""

    def __init__(self, config):
        self.config = config
        self.lock = threading.RLock()
        self.ids = Ids()
        self.regions = {}
        self.calls = collections.defaultdict(collections.Counter)
        self.stopped = threading.Event()
        self._tickers = []
        self.services = {}

    def region(self, name):
        if name not in self.regions:
            self.regions[name] = Region(name)
        return self.regions[name]

    def valid_regions(self):
        return set(self.config.zones) | {"us-east-1"}

    def add_ticker(self, period, fn):
        """Run fn() every period seconds (under the lock) in the background loop."""
        self._tickers.append([period, fn, 0.0])

    def start(self):
        thread = threading.Thread(target=self._loop, name="awsemu-tick", daemon=True)
        thread.start()

    def stop(self):
        self.stopped.set()
        for service in self.services.values():
            if hasattr(service, "stop"):
                service.stop()

    def _loop(self):
        while not self.stopped.wait(0.05):
            now = time.monotonic()
            for ticker in self._tickers:
                period, fn, last = ticker
                if now - last >= period:
                    ticker[2] = now
                    try:
                        with self.lock:
                            fn()
                    except Exception as e:  # a bug in one ticker must not stop the others
                        print("awsemu: background task failed: %r" % (e,), flush=True)

    def reset(self):
        with self.lock:
            for service in self.services.values():
                if hasattr(service, "before_reset"):
                    service.before_reset()
            for region in self.regions.values():
                region.clear()
            for service in self.services.values():
                if hasattr(service, "after_reset"):
                    service.after_reset()

    def snapshot(self):
        """Every object, as JSON-ready data (user data shown by digest only)."""
        with self.lock:
            out = {"account_id": self.config.account_id, "regions": {}}
            for name, region in self.regions.items():
                r = {}
                for key, value in vars(region).items():
                    if key in ("name", "next_private_ip", "client_tokens"):
                        continue
                    r[key] = value
                out["regions"][name] = r
            for name, service in self.services.items():
                if hasattr(service, "snapshot"):
                    out[name] = service.snapshot()
            return json.loads(json.dumps(out, default=_json_default))


def _json_default(value):
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, (bytes, bytearray)):
        return "<%d bytes>" % len(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "public_state"):
        return value.public_state()
    return repr(value)
