"""ZooKeeper for the Mesos and Marathon stand-ins: zk:// URLs as Mesos'
zookeeper::URL::parse reads them (src/zookeeper/url.cpp), a kazoo client
on the real ensemble, and the sequential-ephemeral-node elections both use
(the lowest sequence number leads)."""
import json
import logging
import re
import threading

from . import log

try:
    from kazoo.client import KazooClient, KazooState
    from kazoo.exceptions import NoNodeError, NodeExistsError
except ImportError:  # reported when a zk:// URL is used
    KazooClient = None

logging.getLogger("kazoo").setLevel(logging.CRITICAL)


class URLError(ValueError):
    pass


class URL:
    """zk://[user:pass@]host:port[,host:port...]/path"""

    def __init__(self, servers, path, auth=None):
        self.servers = servers
        self.path = path
        self.auth = auth

    def __str__(self):
        return "zk://%s%s%s" % (self.auth + "@" if self.auth else "", self.servers, self.path)


def parse_url(text):
    """Raises URLError with Mesos' messages."""
    text = text.strip()
    if not text.startswith("zk://"):
        raise URLError("Expecting 'zk://' at the beginning of the URL")
    rest = text[len("zk://"):]
    auth = None
    at = rest.find("@")
    slash = rest.find("/")
    if at >= 0 and (slash < 0 or at < slash):
        auth, rest = rest[:at], rest[at + 1:]
        if ":" not in auth:
            raise URLError("Failed to parse authentication: expecting 'username:password'")
    slash = rest.find("/")
    servers, path = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
    if not servers:
        raise URLError("Expecting host:port pairs in the URL")
    for hp in servers.split(","):
        if not re.match(r"^[A-Za-z0-9.\-\[\]:]+:\d+$", hp) and not re.match(r"^[A-Za-z0-9.\-]+$", hp):
            raise URLError("Invalid host:port '%s'" % hp)
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return URL(servers, path, auth)


def redact(text):
    """zk://user:pass@... -> zk://user:xxxxxxxx@... (Marathon's ZkUrl.toString)."""
    return re.sub(r"^(zk://[^:/@]+):[^@/]*@", r"\1:xxxxxxxx@", text)


class Session:
    """A kazoo client whose state changes are logged; on_lost() is called
    when the session expires, or when the client stays disconnected for the
    session timeout (as Mesos' zookeeper::Group expires its session then,
    src/zookeeper/group.cpp): what makes a leader step down."""

    def __init__(self, component, url, timeout, on_lost=None, on_connected=None):
        if KazooClient is None:
            raise RuntimeError("python3-kazoo is not installed")
        self.component = component
        self.url = url
        auth = [("digest", url.auth)] if url.auth else None
        if url.auth:
            log.add_secret(url.auth)
            log.add_secret(url.auth.split(":", 1)[1])
        self.client = KazooClient(hosts=url.servers, timeout=timeout, auth_data=auth)
        self.on_lost = on_lost
        self.on_connected = on_connected
        self.timeout = timeout
        self.generation = 0
        self.client.add_listener(self._state)

    def _state(self, state):
        log.info(self.component, "zookeeper session %s" % str(state).lower(), servers=self.url.servers)
        self.generation += 1
        if state == KazooState.LOST:
            self._lost()
        elif state == KazooState.SUSPENDED:
            gen = self.generation
            t = threading.Timer(self.timeout, self._expire, args=(gen,))
            t.daemon = True
            t.start()
        elif state == KazooState.CONNECTED and self.on_connected:
            threading.Thread(target=self.on_connected, daemon=True).start()

    def _expire(self, gen):
        if gen == self.generation:
            log.warn(self.component, "zookeeper session timed out while disconnected", timeout=self.timeout)
            self._lost()

    def _lost(self):
        if self.on_lost:
            threading.Thread(target=self.on_lost, daemon=True).start()

    def start(self):
        """Blocks until connected (retrying, as both programs wait for ZooKeeper)."""
        while True:
            try:
                self.client.start(timeout=10)
                return
            except Exception as e:  # kazoo raises its own timeout type
                log.warn(self.component, "zookeeper not reachable yet", servers=self.url.servers, error=str(e))

    def stop(self):
        try:
            self.client.stop()
            self.client.close()
        except Exception:
            pass


def seq_of(name):
    m = re.search(r"(\d{10})$", name)
    return int(m.group(1)) if m else 1 << 62


def lowest(client, path, prefix):
    """(name, data) of the child of path whose name has prefix and the lowest
    sequence number, or (None, None)."""
    try:
        kids = [k for k in client.get_children(path) if prefix in k]
    except NoNodeError:
        return None, None
    for name in sorted(kids, key=seq_of):
        try:
            data, _ = client.get(path + "/" + name)
            return name, data
        except NoNodeError:
            continue
    return None, None


def watch_children(client, path, fn):
    """Calls fn() now and whenever the children of path change."""
    client.ensure_path(path)

    @client.ChildrenWatch(path)
    def _changed(children):
        try:
            fn()
        except Exception as e:
            log.error("zk", "watch callback failed", path=path, error=repr(e))
        return True


def put_json(client, path, value):
    data = json.dumps(value, separators=(",", ":")).encode()
    try:
        client.set(path, data)
    except NoNodeError:
        try:
            client.create(path, data, makepath=True)
        except NodeExistsError:
            client.set(path, data)


def get_json(client, path, default=None):
    try:
        data, _ = client.get(path)
        return json.loads(data.decode()) if data else default
    except NoNodeError:
        return default
