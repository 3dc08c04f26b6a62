"""Gossip membership between agents (the serf/memberlist role): push-pull of
the member list over TCP with every known member, direct probes for failure
detection, a graceful leave. With a gossip key every message carries an
HMAC-SHA256 under that key; a message that does not verify is refused with
memberlist's own error texts."""
import hashlib
import hmac
import json
import threading
import time

from . import log, rpc
from .util import resolve_host, split_hostport

ERR_NOT_ENCRYPTED = "Encryption is configured but remote state is not encrypted"
ERR_NO_ENCRYPTION = "Remote state is encrypted and encryption is not configured"
ERR_BAD_KEY = "No installed keys could decrypt the message"


class Pool:
    def __init__(self, component, name, addr, port, bind, tags, key=None, validate=None,
                 on_change=None, interval=1.0, suspect_after=5.0):
        self.component = component
        self.name = name
        self.addr = addr
        self.port = port
        self.key = key
        self.validate = validate or (lambda m: None)
        self.on_change = on_change or (lambda: None)
        self.interval = interval
        self.suspect_after = suspect_after
        self.lock = threading.RLock()
        self.incarnation = int(time.time() * 1000)
        self.tags = dict(tags)
        self.members = {}
        self.left = False
        self.server = rpc.listen(component, bind, port, self._dispatch)
        threading.Thread(target=self._loop, name="serf-%d" % port, daemon=True).start()

    # -- wire format ---------------------------------------------------------
    def _wrap(self, body):
        text = json.dumps(body, separators=(",", ":"))
        msg = {"op": "serf", "body": text}
        if self.key:
            msg["mac"] = hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()
        return msg

    def _unwrap(self, msg):
        text = msg.get("body", "")
        mac = msg.get("mac")
        if self.key and not mac:
            raise rpc.RPCError(ERR_NOT_ENCRYPTED)
        if not self.key and mac:
            raise rpc.RPCError(ERR_NO_ENCRYPTION)
        if self.key and not hmac.compare_digest(mac, hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()):
            raise rpc.RPCError(ERR_BAD_KEY)
        return json.loads(text)

    def _call(self, host, port, body, timeout=2.0):
        reply = rpc.call(host, port, self._wrap(body), timeout=timeout)
        return self._unwrap(reply)

    # -- members -------------------------------------------------------------
    def _self_record(self):
        return {"Name": self.name, "Addr": self.addr, "Port": self.port, "Tags": dict(self.tags),
                "Status": "left" if self.left else "alive", "Incarnation": self.incarnation}

    def snapshot(self):
        """Every member, this agent included, as dicts (Status is a string)."""
        with self.lock:
            out = [self._self_record()]
            for m in self.members.values():
                out.append({k: v for k, v in m.items() if k != "last_contact"})
        return sorted(out, key=lambda m: m["Name"])

    def alive(self):
        return [m for m in self.snapshot() if m["Status"] == "alive"]

    def set_tags(self, **tags):
        with self.lock:
            self.tags.update(tags)
            self.incarnation += 1

    def _merge(self, records):
        changed = False
        now = time.monotonic()
        with self.lock:
            for r in records:
                if r.get("Name") == self.name:
                    if r.get("Addr") == self.addr and r.get("Incarnation", 0) >= self.incarnation \
                            and r.get("Status") != "alive" and not self.left:
                        self.incarnation = r["Incarnation"] + 1  # refute a stale death notice
                    continue
                if self.validate(r):
                    continue
                cur = self.members.get(r["Name"])
                if cur is None:
                    if r.get("Status") == "left":
                        continue
                    rec = dict(r)
                    rec["Status"] = "alive"
                    rec["last_contact"] = now
                    self.members[r["Name"]] = rec
                    log.info(self.component, "serf: EventMemberJoin: %s %s" % (r["Name"], r["Addr"]))
                    changed = True
                elif r.get("Incarnation", 0) > cur.get("Incarnation", 0):
                    status = cur["Status"]
                    if r.get("Status") == "left":
                        status = "left"
                    elif status == "left":
                        status = "alive"
                        cur["last_contact"] = now
                    cur.update({k: r[k] for k in ("Addr", "Port", "Tags", "Incarnation")})
                    if status != cur["Status"]:
                        log.info(self.component, "serf: member %s is now %s" % (r["Name"], status))
                    cur["Status"] = status
                    changed = True
        if changed:
            self.on_change()

    def _dispatch(self, msg, info):
        if msg.get("op") != "serf":
            raise rpc.RPCError("unknown message")
        body = self._unwrap(msg)
        if body.get("type") == "pushpull":
            sender = body.get("from") or {}
            problem = self.validate(sender)
            if problem:
                raise rpc.RPCError(problem)
            self._merge(body.get("members", []))
            with self.lock:
                m = self.members.get(sender.get("Name"))
                if m is not None and m["Addr"] == sender.get("Addr"):
                    m["last_contact"] = time.monotonic()
                    if m["Status"] == "failed":
                        m["Status"] = "alive"
                        log.info(self.component, "serf: EventMemberJoin: %s %s" % (m["Name"], m["Addr"]))
            return self._wrap({"members": self.snapshot()})
        if body.get("type") == "leave":
            with self.lock:
                m = self.members.get(body.get("name"))
                if m is not None and m["Status"] != "left":
                    m["Status"] = "left"
                    m["Incarnation"] = body.get("incarnation", m["Incarnation"])
                    log.info(self.component, "serf: EventMemberLeave: %s %s" % (m["Name"], m["Addr"]))
            self.on_change()
            return self._wrap({})
        raise rpc.RPCError("unknown gossip message")

    def _pushpull(self, host, port):
        reply = self._call(host, port, {"type": "pushpull", "from": self._self_record(),
                                        "members": self.snapshot()})
        self._merge(reply.get("members", []))

    def join(self, addresses, default_port):
        """Joins through each address; returns (number joined, [error text])."""
        n, errors = 0, []
        for a in addresses:
            try:
                host, port = split_hostport(a, default_port)
                host = resolve_host(host)
                self._pushpull(host, port)
                n += 1
                log.info(self.component, "serf: joined through %s:%d" % (host, port))
            except (rpc.RPCError, ValueError, OSError) as e:
                errors.append("Failed to join %s: %s" % (a, e))
                log.warn(self.component, "serf: failed to join", address=a, error=str(e))
        return n, errors

    def _probe(self, m):
        try:
            self._pushpull(m["Addr"], m["Port"])
            ok = True
        except (rpc.RPCError, OSError, ValueError):
            ok = False
        changed = False
        with self.lock:
            cur = self.members.get(m["Name"])
            if cur is None or cur["Status"] == "left":
                return
            if ok:
                cur["last_contact"] = time.monotonic()
                if cur["Status"] != "alive":
                    cur["Status"] = "alive"
                    changed = True
                    log.info(self.component, "serf: EventMemberJoin: %s %s" % (cur["Name"], cur["Addr"]))
            elif cur["Status"] == "alive" and time.monotonic() - cur["last_contact"] > self.suspect_after:
                cur["Status"] = "failed"
                changed = True
                log.info(self.component, "serf: EventMemberFailed: %s %s" % (cur["Name"], cur["Addr"]))
        if changed:
            self.on_change()

    def _loop(self):
        while not self.left:
            with self.lock:
                targets = [dict(m) for m in self.members.values() if m["Status"] != "left"]
            for m in targets:
                threading.Thread(target=self._probe, args=(m,), daemon=True).start()
            time.sleep(self.interval)

    def leave(self):
        with self.lock:
            if self.left:
                return
            self.incarnation += 1
            self.left = True
            targets = [dict(m) for m in self.members.values() if m["Status"] == "alive"]
        for m in targets:
            try:
                self._call(m["Addr"], m["Port"], {"type": "leave", "name": self.name,
                                                  "incarnation": self.incarnation}, timeout=1.0)
            except (rpc.RPCError, OSError):
                pass
        log.info(self.component, "serf: EventMemberLeave: %s %s" % (self.name, self.addr))

    def force_leave(self, name):
        with self.lock:
            m = self.members.get(name)
            if m is None:
                return False
            m["Status"] = "left"
            m["Incarnation"] += 1
        self.on_change()
        return True

    def close(self):
        self.left = True
        self.server.shutdown()
        self.server.server_close()
