"""ZooKeeper (the real one, Debian's package), the stand-in mesos-master,
mesos-agent and marathon on namespace hosts, started over SSH as a node
would run them (see README.md, "ZooKeeper on a node")."""
import os
import shlex
import socket
import subprocess
import sys

import harness

MASTER = os.path.join(harness.STAGED, "mesos-master")
AGENT = os.path.join(harness.STAGED, "mesos-agent")
MARATHON = os.path.join(harness.STAGED, "marathon")
ZK_JAR = "/usr/share/java/zookeeper.jar"
# Debian's zookeeper.jar names its dependencies in its manifest; slf4j-simple
# sends the server's log to stderr.
ZK_CLASSPATH = "/opt/zookeeper/conf:%s:/usr/share/java/slf4j-simple.jar" % ZK_JAR
ZK_JAVA = ("java -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dorg.slf4j.simpleLogger.defaultLogLevel=info "
           "-Dzookeeper.log.dir=/var/log -cp %s org.apache.zookeeper.server.quorum.QuorumPeerMain "
           "/opt/zookeeper/conf/zoo.cfg" % ZK_CLASSPATH)


def require_tools():
    harness.require_root()
    if not os.path.exists(ZK_JAR) or not shutil_which("java"):
        print("SKIP: zookeeper or java is not installed (scripts/deps.sh)")
        sys.exit(harness.SKIP)
    try:
        import kazoo  # noqa: F401
    except ImportError:
        print("SKIP: python3-kazoo is not installed (scripts/deps.sh)")
        sys.exit(harness.SKIP)


def shutil_which(name):
    import shutil
    return shutil.which(name)


def zoo_cfg(ips):
    lines = ["tickTime=500", "initLimit=20", "syncLimit=5", "dataDir=/var/lib/zookeeper", "clientPort=2181",
             "admin.enableServer=false", "4lw.commands.whitelist=srvr,ruok,mntr",
             "standaloneEnabled=false"]
    lines += ["server.%d=%s:2888:3888" % (i + 1, ip) for i, ip in enumerate(ips)]
    return "\n".join(lines) + "\n"


def start_zk(host, myid, ips):
    """zoo.cfg in /opt/zookeeper/conf, myid in the dataDir, the server in the
    background (pid in /run/zookeeper.pid, log /var/log/zookeeper.log)."""
    host.ssh("rm -rf /var/lib/zookeeper/* /var/log/zookeeper.log")
    host.write("/opt/zookeeper/conf/zoo.cfg", zoo_cfg(ips), mode="0644")
    host.write("/var/lib/zookeeper/myid", "%s\n" % myid, mode="0644")
    host.ssh("nohup %s >>/var/log/zookeeper.log 2>&1 </dev/null & echo $! > /run/zookeeper.pid" % ZK_JAVA)


def four(ip, word, timeout=3):
    """A four-letter word to ZooKeeper's client port; -> reply text."""
    with socket.create_connection((ip, 2181), timeout=timeout) as s:
        s.sendall(word.encode())
        chunks = []
        while True:
            b = s.recv(4096)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks).decode()


def mode(ip):
    """leader / follower / standalone, or None (down or not serving)."""
    try:
        text = four(ip, "srvr")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Mode: "):
            return line[6:].strip()
    return None


def start(host, kind, argv, env=None):
    """Runs a stand-in (kind: mesos-master, mesos-agent, marathon) in the
    background with argv; pid in /run/KIND.pid, log /var/log/KIND.log."""
    exe = {"mesos-master": MASTER, "mesos-agent": AGENT, "marathon": MARATHON}[kind]
    envs = " ".join("%s=%s" % (k, shlex.quote(v)) for k, v in (env or {}).items())
    host.ssh("nohup env %s %s %s >>/var/log/%s.log 2>&1 </dev/null & echo $! > /run/%s.pid" % (
        envs, exe, " ".join(shlex.quote(a) for a in argv), kind, kind))


def kill_tasks(host):
    """Ends this host's task processes (their cwd is under /opt/mesos)."""
    host.ssh("me=$(readlink /proc/self/ns/net); for p in $(ls /proc | grep -E '^[0-9]+$'); do "
             "[ \"$(readlink /proc/$p/ns/net 2>/dev/null)\" = \"$me\" ] || continue; "
             "readlink /proc/$p/cwd 2>/dev/null | grep -q '^/opt/mesos/' && kill -9 $p; done; true", check=False)


def zk_url(ips, path):
    return "zk://%s%s" % (",".join("%s:2181" % ip for ip in ips), path)


def dump_logs(host, kinds=("zookeeper", "mesos-master", "mesos-agent", "marathon")):
    for k in kinds:
        sys.stderr.write("---- %s log on %s ----\n%s\n" % (k, host.ip, host.log(k)[-3000:]))


def run(argv, env=None):
    """A stand-in run here (no host): -> (exit status, stderr)."""
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
    return r.returncode, r.stderr
