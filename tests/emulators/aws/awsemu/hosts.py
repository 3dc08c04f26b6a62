"""Real SSH hosts behind emulated instances: what cloud-init does at boot, over ssh.

At launch: log into the pool host (its host key checked against the pool's
fingerprint), install the key pair's public key, and start the user data
detached (setsid, marked with AWSEMU_INSTANCE_ID so that daemonized
children can be found again). What the emulator keeps on a host lives in
/root/.awsemu/INSTANCE (private to each pool host). The console's host key
fingerprints are those of the keys the host's sshd presents. At termination: stop the user data's process
group and every process carrying the marker, remove the key, free the host.
"""
import base64
import hashlib
import os
import shlex
import subprocess
import tempfile
import threading

_SSH_TIMEOUT = 60

_BOOTSTRAP = r"""
set -e
umask 077
id=%(id)s
d=/root/.awsemu/$id
mkdir -p "$d" /root/.ssh
chmod 700 /root/.ssh
# cloud-init's file, plus whatever AuthorizedKeysFile the sshd serving this
# network namespace reads, so that the key works however sshd is set up.
echo /root/.ssh/authorized_keys > "$d/keyfiles"
me=$(readlink /proc/self/ns/net)
for p in $(pgrep -x sshd); do
  [ "$(readlink /proc/$p/ns/net 2>/dev/null)" = "$me" ] || continue
  # sshd retitles itself ("sshd: /usr/sbin/sshd -f CONF ..."): read words, not argv.
  conf=$(tr '\0' ' ' < /proc/$p/cmdline | sed -n 's/.* -f \([^ ]*\).*/\1/p')
  conf=${conf:-/etc/ssh/sshd_config}
  [ -r "$conf" ] || continue
  grep -i '^[[:space:]]*AuthorizedKeysFile' "$conf" | head -n1 | cut -d' ' -f2- |
    tr ' ' '\n' | sed -e 's|%%h|/root|g' -e 's|%%u|root|g' -e 's|%%%%|%%|g' |
    while read -r f; do
      [ -n "$f" ] || continue
      case $f in /*) echo "$f" ;; *) echo "/root/$f" ;; esac
    done >> "$d/keyfiles"
done
sort -u "$d/keyfiles" -o "$d/keyfiles"
if [ -n %(key)s ]; then
  while read -r f; do
    mkdir -p "$(dirname "$f")"
    touch "$f"
    grep -v " awsemu:$id\$" "$f" > "$d/keys" || true
    printf '%%s awsemu:%%s\n' %(key)s "$id" >> "$d/keys"
    cat "$d/keys" > "$f"
    rm -f "$d/keys"
  done < "$d/keyfiles"
fi
log=/var/log/cloud-init-output.log
touch "$log"
if [ -n %(user_data)s ]; then
  printf '%%s' %(user_data)s | base64 -d > "$d/user-data"
  chmod 700 "$d/user-data"
  if head -c 2 "$d/user-data" | grep -q '^#!'; then run="$d/user-data";
  elif head -c 13 "$d/user-data" | grep -q '^#cloud-config'; then
    echo "awsemu: #cloud-config user data is not run by the emulator" >> "$log"; run=;
  else run="/bin/sh $d/user-data"; fi
  if [ -n "$run" ]; then
    AWSEMU_INSTANCE_ID=$id setsid sh -c 'echo $$ > "$0/pgid"; exec $1' "$d" "$run" \
      >> "$log" 2>&1 < /dev/null &
    n=0; while [ ! -s "$d/pgid" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done
  fi
fi
"""

_CLEANUP = r"""
id=%(id)s
d=/root/.awsemu/$id
if [ -s "$d/pgid" ]; then
  pg=$(cat "$d/pgid")
  kill -TERM -- "-$pg" 2>/dev/null || true
fi
for e in /proc/[0-9]*/environ; do
  p=${e#/proc/}; p=${p%%/environ}
  if tr '\0' '\n' < "$e" 2>/dev/null | grep -qx "AWSEMU_INSTANCE_ID=$id"; then
    kill -TERM "$p" 2>/dev/null || true
  fi
done
sleep 0.3
[ -s "$d/pgid" ] && kill -KILL -- "-$(cat "$d/pgid")" 2>/dev/null || true
[ -s "$d/keyfiles" ] || echo /root/.ssh/authorized_keys > "$d/keyfiles"
while read -r f; do
  [ -f "$f" ] || continue
  grep -v " awsemu:$id\$" "$f" > "$d.keys" || true
  cat "$d.keys" > "$f"
  rm -f "$d.keys"
done < "$d/keyfiles"
rm -rf "$d"
"""


def _ip_name(address):
    return "ip-" + address.replace(".", "-")


class HostPool:
    """The pool hosts from --hosts; all methods but the workers run under the emulator lock."""

    def __init__(self, emulator, hosts):
        self.emulator = emulator
        self.hosts = list(hosts)
        self.enabled = bool(self.hosts)
        self.free = list(self.hosts)
        self.console = {}  # address -> (fingerprint lines, key lines)
        self.errors = {}

    def snapshot(self):
        return {"hosts": [h["address"] for h in self.hosts],
                "free": [h["address"] for h in self.free]}

    def acquire(self, min_count, max_count):
        if len(self.free) < min_count:
            return None
        taken = self.free[:max_count]
        self.free = self.free[len(taken):]
        return taken

    def release(self, host):
        if host not in self.free:
            self.free.append(host)

    def _ec2(self):
        return self.emulator.services["ec2"]

    # -- ssh --------------------------------------------------------------
    def _known_hosts(self, host, directory):
        """A known_hosts file holding only the key whose fingerprint the pool gave."""
        scan = subprocess.run(["ssh-keyscan", "-T", "5", host["address"]],
                              capture_output=True, text=True, timeout=_SSH_TIMEOUT)
        wanted = host.get("ssh_host_key_fingerprint", "")
        lines = []
        for line in scan.stdout.splitlines():
            if not line or line.startswith("#"):
                continue
            probe = os.path.join(directory, "probe")
            with open(probe, "w") as f:
                f.write(line + "\n")
            fp = subprocess.run(["ssh-keygen", "-l", "-f", probe], capture_output=True,
                                text=True)
            if fp.returncode == 0 and fp.stdout.split()[1:2] == [wanted]:
                lines.append(line)
        if not lines:
            raise RuntimeError("host %s: no host key with fingerprint %s"
                               % (host["address"], wanted))
        path = os.path.join(directory, "known_hosts")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        self._remember_keys(host, scan.stdout, directory)
        return path

    def _remember_keys(self, host, scanned, directory):
        """Fingerprint and key lines of every key the host's sshd presents."""
        name = "root@" + _ip_name(host["address"])
        fps, keys = [], []
        for line in sorted(set(scanned.splitlines())):
            fields = line.split()
            if len(fields) < 3 or line.startswith("#"):
                continue
            probe = os.path.join(directory, "key")
            with open(probe, "w") as f:
                f.write(line + "\n")
            fp = subprocess.run(["ssh-keygen", "-l", "-f", probe], capture_output=True,
                                text=True)
            parts = fp.stdout.split()
            if fp.returncode == 0 and len(parts) >= 3:
                fps.append("%s %s %s %s" % (parts[0], parts[1], name, parts[-1]))
                keys.append("%s %s %s" % (fields[1], fields[2], name))
        with self.emulator.lock:
            self.console[host["address"]] = (fps, keys)

    def _ssh(self, host, script):
        with tempfile.TemporaryDirectory(prefix="awsemu-ssh-") as tmp:
            known = self._known_hosts(host, tmp)
            cmd = ["ssh", "-i", host["ssh_private_key"], "-o", "BatchMode=yes",
                   "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + known,
                   "-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10",
                   "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes",
                   "root@" + host["address"], "sh -s"]
            done = subprocess.run(cmd, input=script, capture_output=True, text=True,
                                  timeout=_SSH_TIMEOUT)
            if done.returncode != 0:
                raise RuntimeError("ssh to %s failed (%d): %s" % (
                    host["address"], done.returncode, done.stderr.strip()[-300:]))
            return done.stdout

    # -- lifecycle --------------------------------------------------------
    def bootstrap(self, region, instance_id, host, public_key, user_data):
        script = _BOOTSTRAP % {
            "id": shlex.quote(instance_id), "key": shlex.quote(public_key or ""),
            "user_data": shlex.quote(base64.b64encode(user_data).decode() if user_data else ""),
        }

        def work():
            error = None
            try:
                self._ssh(host, script)
            except (OSError, RuntimeError, subprocess.SubprocessError) as e:
                error = str(e)
            self._ec2().host_ready(region, instance_id, error)

        threading.Thread(target=work, name="awsemu-boot-" + instance_id, daemon=True).start()

    def cleanup(self, region, instance_id, host):
        script = _CLEANUP % {"id": shlex.quote(instance_id)}

        def work():
            try:
                self._ssh(host, script)
            except (OSError, RuntimeError, subprocess.SubprocessError) as e:
                with self.emulator.lock:
                    self.errors[instance_id] = str(e)
            self._ec2().host_cleaned(region, instance_id)

        threading.Thread(target=work, name="awsemu-clean-" + instance_id, daemon=True).start()

    def console_text(self, inst):
        """cloud-init's console: boot lines and the SSH host key fingerprint block."""
        address = inst.get("PrivateIpAddress") or "0.0.0.0"
        host = inst.get("_host")
        name = "root@" + _ip_name(address)
        if host is not None and host["address"] in self.console:
            fps, keys = self.console[host["address"]]
        elif host is not None:
            fps, keys = [], []
        else:
            # No real host: a stable stand-in so that API-only clients can parse the block.
            digest = base64.b64encode(hashlib.sha256(inst["InstanceId"].encode()).digest())
            fps = ["256 SHA256:%s %s (ECDSA)" % (digest.decode().rstrip("="), name)]
            keys = []
        lines = ["[    0.000000] Linux version 6.1.0 (emulated console of %s)" % inst["InstanceId"],
                 "Cloud-init v. 22.4.2 running 'modules:config'."]
        if inst.get("_bootstrap_error"):
            lines.append("cloud-init: bootstrap failed: %s" % inst["_bootstrap_error"])
        lines.append("-----BEGIN SSH HOST KEY FINGERPRINTS-----")
        lines.extend(fps)
        lines.append("-----END SSH HOST KEY FINGERPRINTS-----")
        if keys:
            lines.append("-----BEGIN SSH HOST KEY KEYS-----")
            lines.extend(keys)
            lines.append("-----END SSH HOST KEY KEYS-----")
        lines.append("Cloud-init v. 22.4.2 finished.")
        return "\n".join(lines) + "\n"
