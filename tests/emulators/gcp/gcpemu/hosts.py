"""Real SSH hosts behind emulated instances: what Google's guest agent does at boot, over ssh.

At insert: log into the pool host as root (its host key checked against the
pool's fingerprint); for every `ssh-keys` metadata entry USER:KEY make USER
(a member of google-sudoers, which has passwordless sudo, as the guest agent
does) and install KEY for it; run the `startup-script` metadata value as root,
detached and marked with GCPEMU_INSTANCE_ID. Users, homes and the sudoers
rule live in copies private to the host's mount namespace (/run/gcpemu, a
tmpfs /home and /etc/sudoers.d), so the machine's own files are never touched.
At delete: stop the script's processes, remove the keys and users, free the host.
"""
import base64
import hashlib
import os
import shlex
import subprocess
import tempfile
import threading

_SSH_TIMEOUT = 60

_PREPARE = r"""
set -e
id=%(id)s
d=/root/.gcpemu/$id
mkdir -p "$d"
chmod 700 /root/.gcpemu "$d"
if [ ! -e /run/gcpemu/passwd ]; then
  # The guest agent's users, in files private to this host.
  mkdir -p /run/gcpemu
  for f in passwd group shadow; do cp -p /etc/$f /run/gcpemu/$f; mount --bind /run/gcpemu/$f /etc/$f; done
  grep -q '^google-sudoers:' /etc/group || echo 'google-sudoers:x:1999:' >> /etc/group
  mount -t tmpfs -o mode=0755 tmpfs /home
  mkdir -p /etc/sudoers.d
  mount -t tmpfs -o mode=0755 tmpfs /etc/sudoers.d
  echo '%%google-sudoers ALL=(ALL:ALL) NOPASSWD:ALL' > /etc/sudoers.d/google_sudoers
  chmod 0440 /etc/sudoers.d/google_sudoers
fi
# The AuthorizedKeysFile lines of the sshd serving this network namespace.
: > "$d/keyconf"
me=$(readlink /proc/self/ns/net)
for p in $(pgrep -x sshd); do
  [ "$(readlink /proc/$p/ns/net 2>/dev/null)" = "$me" ] || continue
  conf=$(tr '\0' ' ' < /proc/$p/cmdline | sed -n 's/.* -f \([^ ]*\).*/\1/p')
  conf=${conf:-/etc/ssh/sshd_config}
  [ -r "$conf" ] || continue
  grep -i '^[[:space:]]*AuthorizedKeysFile' "$conf" | head -n1 | cut -d' ' -f2- | tr ' ' '\n' >> "$d/keyconf"
done
[ -s "$d/keyconf" ] || echo .ssh/authorized_keys > "$d/keyconf"
sort -u "$d/keyconf" -o "$d/keyconf"
"""

# Arguments (set -- ...): the instance id, then USER KEY pairs (one word each).
_KEYS = r"""
set -e
id=$1; shift
d=/root/.gcpemu/$id
files() {  # the key files sshd reads for user $1 with home $2
  while read -r f; do
    [ -n "$f" ] || continue
    f=$(printf '%%s' "$f" | sed -e "s|%%h|$2|g" -e "s|%%u|$1|g" -e 's|%%%%|%%|g')
    case $f in /*) echo "$f" ;; *) echo "$2/$f" ;; esac
  done < "$d/keyconf"
  echo "$2/.ssh/authorized_keys"
}
strip() {  # drop this instance's lines from every key file it touched
  [ -s "$d/keyfiles" ] || return 0
  while read -r f; do
    [ -f "$f" ] || continue
    # Replaced whole (rename), never truncated: sshd may read it meanwhile.
    grep -v " gcpemu:$id\$" "$f" > "$f.gcpemu" || true
    chmod --reference="$f" "$f.gcpemu"; chown --reference="$f" "$f.gcpemu"
    mv -f "$f.gcpemu" "$f"
  done < "$d/keyfiles"
}
strip
touch "$d/keyfiles" "$d/users"
while [ $# -ge 2 ]; do
  user=$1; key=$(printf '%%s' "$2" | base64 -d); shift 2
  if [ "$user" = root ]; then home=/root; else
    home=/home/$user
    if ! grep -q "^$user:" /etc/passwd; then
      uid=2000; while cut -d: -f3 /etc/passwd | grep -qx "$uid"; do uid=$((uid+1)); done
      echo "$user:x:$uid:$uid::$home:/bin/bash" >> /etc/passwd
      echo "$user:x:$uid:" >> /etc/group
      echo "$user:*:20000:0:99999:7:::" >> /etc/shadow
      sed -e "/^google-sudoers:/{s/:\$/:$user/;t;s/\$/,$user/}" /etc/group > "$d/g"
      cat "$d/g" > /etc/group; rm -f "$d/g"
      mkdir -p "$home"; chown "$uid:$uid" "$home"; chmod 0750 "$home"
      echo "$user" >> "$d/users"
    fi
  fi
  files "$user" "$home" | while read -r f; do
    mkdir -p "$(dirname "$f")"
    if [ ! -e "$f" ]; then
      touch "$f"
      case $f in "$home"/*) chown -R "$user:" "$(dirname "$f")" 2>/dev/null || true ;; esac
      chmod 0600 "$f"
    fi
    # sshd reads a shared key file as the login user.
    case $f in "$home"/*) ;; *) chmod 0644 "$f" ;; esac
    printf '%%s gcpemu:%%s\n' "$key" "$id" >> "$f"
    grep -qx "$f" "$d/keyfiles" || echo "$f" >> "$d/keyfiles"
  done
done
"""

_STARTUP = r"""
id=%(id)s
d=/root/.gcpemu/$id
log=/var/log/startup-script.log
touch "$log"
printf '%%s' %(script)s | base64 -d > "$d/startup-script"
chmod 700 "$d/startup-script"
if head -c 2 "$d/startup-script" | grep -q '^#!'; then run="$d/startup-script"; else run="/bin/bash $d/startup-script"; fi
GCPEMU_INSTANCE_ID=$id %(env)s setsid sh -c 'echo $$ > "$0/pgid"; exec $1' "$d" "$run" >> "$log" 2>&1 < /dev/null &
n=0; while [ ! -s "$d/pgid" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done
"""

_CLEANUP = r"""
id=%(id)s
d=/root/.gcpemu/$id
if [ -s "$d/pgid" ]; then kill -TERM -- "-$(cat "$d/pgid")" 2>/dev/null || true; fi
# Daemonized children too: every process whose environment carries the mark.
for e in $(grep -lzx "GCPEMU_INSTANCE_ID=$id" /proc/[0-9]*/environ 2>/dev/null); do
  p=${e#/proc/}; kill -TERM "${p%%/environ}" 2>/dev/null || true
done
sleep 0.3
[ -s "$d/pgid" ] && kill -KILL -- "-$(cat "$d/pgid")" 2>/dev/null || true
if [ -s "$d/keyfiles" ]; then
  while read -r f; do
    [ -f "$f" ] || continue
    grep -v " gcpemu:$id\$" "$f" > "$f.gcpemu" || true
    chmod --reference="$f" "$f.gcpemu"; chown --reference="$f" "$f.gcpemu"
    mv -f "$f.gcpemu" "$f"
  done < "$d/keyfiles"
fi
if [ -s "$d/users" ]; then
  while read -r u; do
    # The user's processes on this host only: hosts share the machine's
    # process table, and the same uid is another host's user there.
    me=$(readlink /proc/self/ns/net)
    for p in $(pgrep -u "$u" 2>/dev/null); do
      [ "$(readlink "/proc/$p/ns/net" 2>/dev/null)" = "$me" ] && kill -KILL "$p" 2>/dev/null || true
    done
    for f in passwd shadow group; do
      grep -v "^$u:" /etc/$f | sed -e "/^google-sudoers:/s/\([:,]\)$u\(,\|\$\)/\1/" -e '/^google-sudoers:/s/,$//' > "$d.f"
      cat "$d.f" > /etc/$f; rm -f "$d.f"
    done
    rm -rf "/home/$u"
  done < "$d/users"
fi
rm -rf "$d"
"""


def parse_ssh_keys(text):
    """[(user, 'type base64 [comment]')] from an ssh-keys metadata value."""
    out = []
    for line in (text or "").splitlines():
        user, sep, key = line.strip().partition(":")
        fields = key.split()
        if not sep or not user or len(fields) < 2:
            continue
        out.append((user, " ".join(fields[:2])))
    return out


class HostPool:
    """The pool hosts from --hosts; all methods but the workers run under the emulator lock."""

    def __init__(self, emulator, hosts):
        self.emulator = emulator
        self.hosts = list(hosts)
        self.enabled = bool(self.hosts)
        self.free = list(self.hosts)
        self.console = {}  # address -> [(bits, fingerprint, (TYPE), key type, key)]
        self._known = {}  # address -> known_hosts text
        self.errors = {}

    def snapshot(self):
        return {"hosts": [h["address"] for h in self.hosts],
                "free": [h["address"] for h in self.free], "errors": dict(self.errors)}

    def acquire(self):
        return self.free.pop(0) if self.free else None

    def release(self, host):
        if host not in self.free:
            self.free.append(host)

    # -- ssh ---------------------------------------------------------------------------
    def _keygen(self, directory, line):
        probe = os.path.join(directory, "probe")
        with open(probe, "w") as f:
            f.write(line + "\n")
        done = subprocess.run(["ssh-keygen", "-l", "-f", probe], capture_output=True, text=True)
        return done.stdout.split() if done.returncode == 0 else []

    def _known_hosts(self, host, directory):
        """A known_hosts file holding only the key whose fingerprint the pool gave.

        Host keys are scanned once per host: they do not change while the pool lives."""
        path = os.path.join(directory, "known_hosts")
        with self.emulator.lock:
            cached = self._known.get(host["address"])
        if cached is not None:
            with open(path, "w") as f:
                f.write(cached)
            return path
        scan = subprocess.run(["ssh-keyscan", "-T", "5", host["address"]],
                              capture_output=True, text=True, timeout=_SSH_TIMEOUT)
        wanted = host.get("ssh_host_key_fingerprint", "")
        lines = [line for line in scan.stdout.splitlines()
                 if line and not line.startswith("#")
                 and self._keygen(directory, line)[1:2] == [wanted]]
        if not lines:
            raise RuntimeError("host %s: no host key with fingerprint %s"
                               % (host["address"], wanted))
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        presented = []
        for line in sorted(set(scan.stdout.splitlines())):
            fields = line.split()
            parts = self._keygen(directory, line) if len(fields) >= 3 and \
                not line.startswith("#") else []
            if len(parts) >= 3:
                presented.append((parts[0], parts[1], parts[-1], fields[1], fields[2]))
        with self.emulator.lock:
            self.console[host["address"]] = presented
            self._known[host["address"]] = "\n".join(lines) + "\n"
        return path

    def _ssh(self, host, script):
        with tempfile.TemporaryDirectory(prefix="gcpemu-ssh-") as tmp:
            known = self._known_hosts(host, tmp)
            remote = "sh -s"
            cmd = ["ssh", "-i", host["ssh_private_key"], "-o", "BatchMode=yes",
                   "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + known,
                   "-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10",
                   "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes",
                   "root@" + host["address"], remote]
            done = subprocess.run(cmd, input=script, capture_output=True, text=True,
                                  timeout=_SSH_TIMEOUT)
            if done.returncode != 0:
                raise RuntimeError("ssh to %s failed (%d): %s" % (
                    host["address"], done.returncode, done.stderr.strip()[-300:]))
            return done.stdout

    @staticmethod
    def _keys_script(instance_id, ssh_keys):
        """_KEYS with its arguments: the instance id, then USER KEY pairs."""
        args = [instance_id]
        for user, key in ssh_keys:
            args += [user, base64.b64encode(key.encode()).decode()]
        return "set -- %s\n%s" % (" ".join(shlex.quote(a) for a in args), _KEYS % {})

    # -- lifecycle -----------------------------------------------------------------------
    def bootstrap(self, instance_id, host, ssh_keys, startup_script, done, env=None):
        """Keys, users and the startup script (with env, {NAME: value}, in its
        environment) on the host; done(error or None) after."""
        def work():
            error = None
            try:
                script = _PREPARE % {"id": shlex.quote(instance_id)} + \
                    "(\n%s\n) || exit 1\n" % self._keys_script(instance_id, ssh_keys)
                if startup_script:
                    script += _STARTUP % {"id": shlex.quote(instance_id),
                                          "env": " ".join("%s=%s" % (k, shlex.quote(v)) for k, v
                                                          in sorted((env or {}).items())),
                                          "script": shlex.quote(base64.b64encode(
                                              startup_script.encode()).decode())}
                self._ssh(host, script)
            except (OSError, RuntimeError, subprocess.SubprocessError) as e:
                error = str(e)
            with self.emulator.lock:
                if error:
                    self.errors[instance_id] = error
                done(error)

        threading.Thread(target=work, name="gcpemu-boot-" + instance_id, daemon=True).start()

    def update_keys(self, instance_id, host, ssh_keys):
        """The guest agent noticing new ssh-keys metadata."""
        def work():
            try:
                self._ssh(host, self._keys_script(instance_id, ssh_keys))
            except (OSError, RuntimeError, subprocess.SubprocessError) as e:
                with self.emulator.lock:
                    self.errors[instance_id] = str(e)

        threading.Thread(target=work, name="gcpemu-keys-" + instance_id, daemon=True).start()

    def cleanup(self, instance_id, host, done):
        """Processes, keys and users of the instance gone; the host free; then done()."""
        def work():
            try:
                self._ssh(host, _CLEANUP % {"id": shlex.quote(instance_id)})
            except (OSError, RuntimeError, subprocess.SubprocessError) as e:
                with self.emulator.lock:
                    self.errors[instance_id] = str(e)
            with self.emulator.lock:
                self.release(host)
                done()

        threading.Thread(target=work, name="gcpemu-clean-" + instance_id, daemon=True).start()

    def console_text(self, inst):
        """The serial console: boot lines and cloud-init's SSH host key block."""
        host = inst.get("_host")
        name = "root@" + inst["name"]
        if host is not None:
            presented = self.console.get(host["address"], [])
            fps = ["%s %s %s %s" % (bits, fp, name, kind) for bits, fp, kind, _, _ in presented]
            keys = ["%s %s %s" % (ktype, blob, name) for _, _, _, ktype, blob in presented]
        else:
            # No real host: a stable stand-in so that API-only clients can parse the block.
            digest = base64.b64encode(hashlib.sha256(inst["id"].encode()).digest())
            fps = ["256 SHA256:%s %s (ECDSA)" % (digest.decode().rstrip("="), name)]
            keys = []
        lines = ["[    0.000000] Linux version 6.1.0 (emulated serial console of %s)"
                 % inst["name"],
                 "Cloud-init v. 22.4.2 running 'modules:config'."]
        if inst.get("_bootstrap_error"):
            lines.append("google_guest_agent: bootstrap failed: %s" % inst["_bootstrap_error"])
        lines.append("-----BEGIN SSH HOST KEY FINGERPRINTS-----")
        lines.extend(fps)
        lines.append("-----END SSH HOST KEY FINGERPRINTS-----")
        if keys:
            lines.append("-----BEGIN SSH HOST KEY KEYS-----")
            lines.extend(keys)
            lines.append("-----END SSH HOST KEY KEYS-----")
        lines.append("Cloud-init v. 22.4.2 finished.")
        return "\n".join(lines) + "\n"
