"""Leader election and state replication between the servers of one region
(Nomad) or datacenter (Consul).

Deliberately simpler than Raft, with the properties the agents document:
nothing happens before bootstrap_expect servers see each other; a leader
needs a majority of the peer set; while the leader keeps a majority it stays
leader; when it is gone, the most up-to-date reachable peer (lowest address
on a tie) takes over. The leader replicates its whole state machine to
followers that are behind, at every heartbeat."""
import ipaddress
import json
import os
import threading
import time

from . import log, rpc

HEARTBEAT = 0.3
LEASE = 2.0


def _addr_key(addr):
    host, _, port = addr.rpartition(":")
    try:
        return (int(ipaddress.ip_address(host)), int(port))
    except ValueError:
        return (0, 0)


class Consensus:
    def __init__(self, component, me, bootstrap_expect, servers_fn, call_fn, fsm, on_leader=None, store=None):
        self.component = component
        self.me = me
        self.bootstrap_expect = bootstrap_expect
        self.servers_fn = servers_fn
        self.call_fn = call_fn
        self.fsm = fsm
        self.on_leader = on_leader or (lambda is_leader: None)
        self.lock = threading.RLock()
        self.term = 0
        self.voted = {}
        self.leader = ""
        self.peers = None
        self.last_heard = 0.0
        self.is_leader = False
        self.acks = {}
        self.follower_index = {}
        self.stopped = False
        self.store = store
        if store:
            self._load()
            threading.Thread(target=self._save_loop, name="raft-store", daemon=True).start()
        threading.Thread(target=self._loop, name="raft", daemon=True).start()

    # -- the data directory ----------------------------------------------------
    # A server keeps its peer set, term and state machine in its data_dir,
    # as Raft's log and snapshots are kept, so a restarted server rejoins
    # its cluster with what it knew.
    def _load(self):
        try:
            with open(self.store) as f:
                saved = json.load(f)
        except (OSError, ValueError):
            return
        self.term = saved.get("term", 0)
        self.peers = set(saved["peers"]) if saved.get("peers") is not None else None
        if saved.get("snapshot"):
            self.fsm.restore(saved["snapshot"])
        log.info(self.component, "raft: restored state from the data directory", index=self.fsm.index,
                 peers=len(self.peers or ()))

    def _save_loop(self):
        last = None
        while not self.stopped:
            time.sleep(1.0)
            with self.lock:
                key = (self.fsm.index, self.term, tuple(sorted(self.peers or ())))
                peers = sorted(self.peers) if self.peers is not None else None
                term = self.term
            if key == last:
                continue
            data = {"term": term, "peers": peers, "snapshot": self.fsm.snapshot()}
            tmp = self.store + ".tmp"
            try:
                os.makedirs(os.path.dirname(self.store), exist_ok=True)
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    json.dump(data, f)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.store)
                last = key
            except OSError as e:
                log.error(self.component, "raft: failed to save state", path=self.store, error=e.strerror)

    def quorum(self):
        return len(self.peers) // 2 + 1 if self.peers else 1

    def peer_list(self):
        with self.lock:
            return sorted(self.peers or [], key=_addr_key)

    def known_leader(self):
        with self.lock:
            if self.is_leader:
                return self.me
            if self.leader and time.monotonic() - self.last_heard < LEASE:
                return self.leader
            return ""

    # -- messages ------------------------------------------------------------
    def dispatch(self, msg):
        op = msg["op"]
        with self.lock:
            if op == "raft.heartbeat":
                if msg["term"] < self.term:
                    return {"ok": False, "term": self.term}
                if self.is_leader and msg["leader"] != self.me:
                    self._step_down("a leader with a newer term exists")
                if msg["term"] > self.term or self.leader != msg["leader"]:
                    log.info(self.component, "raft: following leader", leader=msg["leader"], term=msg["term"])
                self.term = msg["term"]
                self.leader = msg["leader"]
                self.peers = set(msg["peers"])
                self.last_heard = time.monotonic()
                snap = msg.get("snapshot")
            elif op == "raft.status":
                fresh = self.is_leader or (self.leader and time.monotonic() - self.last_heard < LEASE)
                return {"index": self.fsm.index, "term": self.term, "leader": bool(fresh)}
            elif op == "raft.vote":
                fresh = self.is_leader or (self.leader and time.monotonic() - self.last_heard < LEASE)
                grant = (not fresh and msg["term"] > self.term and msg["index"] >= self.fsm.index
                         and self.voted.get(msg["term"]) in (None, msg["candidate"]))
                if grant:
                    self.voted[msg["term"]] = msg["candidate"]
                    self.term = msg["term"]
                return {"granted": grant, "term": self.term}
            else:
                raise rpc.RPCError("unknown raft message")
        if snap is not None:
            self.fsm.restore(snap)
        return {"ok": True, "index": self.fsm.index}

    # -- roles ---------------------------------------------------------------
    def _step_down(self, why):
        if self.is_leader:
            log.warn(self.component, "raft: stepping down", reason=why)
        self.is_leader = False
        self.leader = ""
        self.on_leader(False)

    def _heartbeat_one(self, peer, term, peers):
        with self.lock:
            need = self.follower_index.get(peer, -1) < self.fsm.index
        msg = {"op": "raft.heartbeat", "term": term, "leader": self.me, "peers": peers}
        if need:
            msg["snapshot"] = self.fsm.snapshot()
        try:
            reply = self.call_fn(peer, msg)
        except (rpc.RPCError, OSError):
            return
        with self.lock:
            if reply.get("ok"):
                self.acks[peer] = time.monotonic()
                self.follower_index[peer] = reply.get("index", -1)
            elif reply.get("term", 0) > self.term:
                self.term = reply["term"]
                self._step_down("a peer has a newer term")

    def _lead(self):
        servers = self.servers_fn()
        with self.lock:
            for addr, status in servers.items():
                if status == "alive" and addr not in self.peers:
                    log.info(self.component, "raft: adding peer", peer=addr)
                    self.peers.add(addr)
                elif status == "left" and addr in self.peers and addr != self.me:
                    log.info(self.component, "raft: removing peer that left", peer=addr)
                    self.peers.discard(addr)
            peers = sorted(self.peers, key=_addr_key)
            term = self.term
            now = time.monotonic()
            live = 1 + sum(1 for p in peers if p != self.me and now - self.acks.get(p, 0) < LEASE)
            if live < self.quorum() and now - self.became_leader > LEASE:
                self._step_down("lost quorum (%d of %d peers reachable)" % (live, len(peers)))
                return
        threads = [threading.Thread(target=self._heartbeat_one, args=(p, term, peers), daemon=True)
                   for p in peers if p != self.me]
        for t in threads:
            t.start()
        for t in threads:
            t.join(LEASE)

    def _gather(self, peers, msg):
        out = {}

        def one(p):
            try:
                out[p] = self.call_fn(p, msg)
            except (rpc.RPCError, OSError):
                pass
        threads = [threading.Thread(target=one, args=(p,), daemon=True) for p in peers if p != self.me]
        for t in threads:
            t.start()
        for t in threads:
            t.join(LEASE)
        return out

    def _elect(self):
        with self.lock:
            peers = sorted(self.peers, key=_addr_key)
            my_index = self.fsm.index
        status = self._gather(peers, {"op": "raft.status"})
        if any(s.get("leader") for s in status.values()):
            return
        if len(status) + 1 < self.quorum():
            return
        ranked = sorted([(my_index, self.me)] + [(s["index"], p) for p, s in status.items()],
                        key=lambda x: (-x[0], _addr_key(x[1])))
        if ranked[0][1] != self.me:
            return
        with self.lock:
            term = max([self.term] + [s["term"] for s in status.values()]) + 1
            self.term = term
            self.voted[term] = self.me
        votes = self._gather(peers, {"op": "raft.vote", "term": term, "candidate": self.me, "index": my_index})
        granted = 1 + sum(1 for v in votes.values() if v.get("granted"))
        with self.lock:
            if granted >= self.quorum() and self.term == term:
                self.is_leader = True
                self.leader = self.me
                self.became_leader = time.monotonic()
                self.acks = {p: time.monotonic() for p in votes if votes[p].get("granted")}
                self.follower_index = {}
                log.info(self.component, "raft: cluster leadership acquired", term=term,
                         peers=len(self.peers))
        if self.is_leader:
            self.on_leader(True)

    def _loop(self):
        while not self.stopped:
            try:
                self._tick()
            except Exception as e:  # keep the loop alive; say why
                log.error(self.component, "raft: tick failed", error=repr(e))
            time.sleep(HEARTBEAT)

    def _tick(self):
        with self.lock:
            if self.peers is None:
                if self.bootstrap_expect <= 0:
                    return
                alive = [a for a, s in self.servers_fn().items() if s == "alive"]
                if len(alive) < self.bootstrap_expect:
                    return
                self.peers = set(alive)
                log.info(self.component, "raft: bootstrapping cluster", peers=",".join(sorted(alive)))
            leading = self.is_leader
            stale = time.monotonic() - self.last_heard > LEASE
            member = self.me in self.peers
        if leading:
            self._lead()
        elif stale and member:
            if self.leader:
                with self.lock:
                    log.warn(self.component, "raft: heartbeat timeout reached, leader lost", leader=self.leader)
                    self.leader = ""
            self._elect()
