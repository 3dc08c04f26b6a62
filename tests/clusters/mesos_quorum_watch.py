#!/usr/bin/python3
"""Watches a mesos-local cluster while its masters are replaced.

  usage: mesos_quorum_watch.py HOSTS_DIR ENSEMBLE_SIZE PASSWORD_FILE LOG

HOSTS_DIR is the local provider's hosts directory of the run. About four
times a second, every host there that holds a ZooKeeper myid (the old
masters until their instances go, the new ones once made) is asked `srvr`.
A look is good when the members that answer have exactly one leader and a
Marathon on one of those hosts names a leader (/v2/leader, with the
credentials of PASSWORD_FILE, user infra); each look is one line of LOG,
`ok LEADER_IP members=N marathon=HOST:PORT` or `bad TIME MODES`.

A look where fewer than a majority of ENSEMBLE_SIZE members run at all is
a `minority` look: the quorum itself is gone. A leader that stops (its
node replaced) costs one election of ZooKeeper, or of Marathon, however
the replacement is made with ZooKeeper's static configuration: those bad
looks are counted as stretches (consecutive bad looks) with the longest
one's length. On SIGTERM the last line is
`looks=N bad=M minority=K stretches=S longest=SECONDS`.
"""
import base64
import glob
import json
import os
import signal
import socket
import sys
import time
import urllib.request

hosts_dir, ensemble, password_file, log_path = sys.argv[1:5]
majority = int(ensemble) // 2 + 1
password = open(password_file).read().strip()
auth = "Basic " + base64.b64encode(("infra:" + password).encode()).decode()
looks = bad = minority = stretches = 0
longest = 0.0
bad_since = None  # when the current stretch of bad looks began
log = open(log_path, "a", buffering=1)


def stop(*_):
    log.write("looks=%d bad=%d minority=%d stretches=%d longest=%.1f\n" % (
        looks, bad, minority, stretches, max(longest, time.monotonic() - bad_since if bad_since else 0)))
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)


def members():
    """The addresses of the hosts that hold a ZooKeeper myid."""
    out = []
    for d in glob.glob(os.path.join(hosts_dir, "*")):
        if not os.path.exists(os.path.join(d, "root/var/lib/zookeeper/myid")):
            continue
        try:
            out.append(json.load(open(os.path.join(d, "host.json")))["address"])
        except (OSError, ValueError, KeyError):
            continue
    return sorted(out)


def mode(ip):
    """ZooKeeper's Mode: line, 'not serving', or None when nothing answers."""
    try:
        with socket.create_connection((ip, 2181), timeout=1) as s:
            s.settimeout(1)
            s.sendall(b"srvr")
            reply = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                reply += chunk
    except OSError:
        return None
    for line in reply.decode(errors="replace").splitlines():
        if line.startswith("Mode: "):
            return line[6:]
    return "not serving"


def marathon_leader(ips):
    for ip in ips:
        req = urllib.request.Request("http://%s:8080/v2/leader" % ip, headers={"Authorization": auth})
        try:
            with urllib.request.urlopen(req, timeout=2) as r:
                leader = json.load(r).get("leader")
                if leader:
                    return leader
        except (OSError, ValueError):
            continue
    return None


while True:
    looks += 1
    ips = members()
    modes = {ip: mode(ip) for ip in ips}
    live = [ip for ip, m in modes.items() if m is not None]
    leaders = [ip for ip in live if modes[ip] == "leader"]
    m = marathon_leader(live) if len(leaders) == 1 else None
    if len(live) < majority:
        minority += 1
    if len(leaders) == 1 and m:
        log.write("ok %s members=%d marathon=%s\n" % (leaders[0], len(live), m))
        if bad_since is not None:
            longest = max(longest, time.monotonic() - bad_since)
            bad_since = None
    else:
        bad += 1
        if bad_since is None:
            bad_since = time.monotonic()
            stretches += 1
        log.write("bad %s %s marathon=%s\n" % (time.strftime("%H:%M:%S"),
                                               " ".join("%s=%s" % kv for kv in sorted(modes.items())), m))
    time.sleep(0.25)
