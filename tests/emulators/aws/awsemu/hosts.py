"""Real SSH hosts behind emulated instances: what cloud-init does at boot, over ssh.

At launch: log into the pool host (its host key checked against the pool's
fingerprint), install the key pair's public key, install the SSH host keys the
user data gives (cloud-init's ssh_keys: the sshd's own keys are set aside and it
is reloaded with SIGHUP, so it presents only those), and start the user data's
scripts detached (setsid, marked with AWSEMU_INSTANCE_ID so that daemonized
children can be found again). What the emulator keeps on a host lives in
/root/.awsemu/INSTANCE (private to each pool host). The console's host key
fingerprints are those of the keys the host's sshd presents. At termination:
stop the scripts' process group and every process carrying the marker, remove
the key, give the sshd its own host keys back, free the host.
"""
import base64
import hashlib
import os
import shlex
import subprocess
import tempfile
import threading
import time

_SSH_TIMEOUT = 60
_RELOAD_WAIT = 20  # seconds an sshd has to present the host keys it was given

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
# cloud-init's ssh_keys: the listening sshd's host keys set aside, the given
# ones in their place (in its HostKey files, in order), then a reload.
if [ -n %(have_keys)s ]; then
  mkdir -p "$d/hostkeys"
  for p in $(pgrep -x sshd); do
    [ "$(readlink /proc/$p/ns/net 2>/dev/null)" = "$me" ] || continue
    conf=$(tr '\0' ' ' < /proc/$p/cmdline | sed -n 's/.* -f \([^ ]*\).*/\1/p')
    conf=${conf:-/etc/ssh/sshd_config}
    [ -r "$conf" ] || continue
    pidfile=$(grep -i '^[[:space:]]*PidFile' "$conf" | head -n1 | awk '{print $2}')
    pidfile=${pidfile:-/run/sshd.pid}
    [ -s "$pidfile" ] && [ "$(cat "$pidfile")" = "$p" ] || continue
    files=$(grep -i '^[[:space:]]*HostKey[[:space:]]' "$conf" | awk '{print $2}')
    [ -n "$files" ] || files="/etc/ssh/ssh_host_rsa_key /etc/ssh/ssh_host_ecdsa_key /etc/ssh/ssh_host_ed25519_key"
    set -- %(host_keys)s
    i=0
    for k in $files; do
      i=$((i+1))
      if [ ! -e "$d/hostkeys/$i.path" ]; then
        echo "$k" > "$d/hostkeys/$i.path"
        [ -e "$k" ] && cp -p "$k" "$d/hostkeys/$i.key"
        [ -e "$k.pub" ] && cp -p "$k.pub" "$d/hostkeys/$i.pub"
      fi
      rm -f "$k" "$k.pub"
      if [ $# -ge 2 ]; then
        printf '%%s' "$1" | base64 -d > "$k.new"
        chmod 600 "$k.new"
        mv "$k.new" "$k"
        printf '%%s' "$2" | base64 -d > "$k.pub"
        shift 2
      fi
    done
    echo "$pidfile" > "$d/hostkeys/pidfile"
    kill -HUP "$p"
  done
fi
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
n=0
for part in %(parts)s; do
  n=$((n+1))
  f=$(printf '%%s/part-%%03d' "$d" "$n")
  printf '%%s' "$part" | base64 -d > "$f"
  chmod 700 "$f"
done
if [ "$n" -gt 0 ]; then
  # Each part in turn, as cloud-init's scripts-user: "#!" as is, else /bin/sh.
  %(profile_env)sAWSEMU_INSTANCE_ID=$id setsid sh -c 'echo $$ > "$0/pgid"
    for f in "$0"/part-*; do
      if head -c 2 "$f" | grep -q "^#!"; then "$f"; else /bin/sh "$f"; fi
    done' "$d" >> "$log" 2>&1 < /dev/null &
  n=0; while [ ! -s "$d/pgid" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done
fi
"""

_CLEANUP = r"""
id=%(id)s
d=/root/.awsemu/$id
if [ -s "$d/pgid" ]; then
  pg=$(cat "$d/pgid")
  kill -TERM -- "-$pg" 2>/dev/null || true
fi
# One grep over every environment (the host shares the machine's processes).
for e in $(grep -lzxF -- "AWSEMU_INSTANCE_ID=$id" /proc/[0-9]*/environ 2>/dev/null); do
  p=${e#/proc/}; kill -TERM "${p%%/environ}" 2>/dev/null || true
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
if [ -s "$d/hostkeys/pidfile" ]; then
  for f in "$d"/hostkeys/*.path; do
    [ -e "$f" ] || continue
    i=${f%%.path}
    k=$(cat "$f")
    rm -f "$k" "$k.pub"
    [ -e "$i.key" ] && cp -p "$i.key" "$k"
    [ -e "$i.pub" ] && cp -p "$i.pub" "$k.pub"
  done
  pf=$(cat "$d/hostkeys/pidfile")
  [ -s "$pf" ] && kill -HUP "$(cat "$pf")"
fi
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
        self.console_of = {}  # instance id -> the same, once its own host keys are in place
        self.presented = {}  # address -> fingerprint its sshd presents instead of the pool's
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
    def _wanted(self, host):
        """The fingerprint the host's sshd presents: the pool's, or the one an
        instance's user data gave it."""
        with self.emulator.lock:
            return self.presented.get(host["address"], host.get("ssh_host_key_fingerprint", ""))

    def _fingerprints(self, scanned, directory):
        """Fingerprints of the key lines ssh-keyscan printed."""
        out = set()
        for line in scanned.splitlines():
            if not line or line.startswith("#"):
                continue
            probe = os.path.join(directory, "probe")
            with open(probe, "w") as f:
                f.write(line + "\n")
            fp = subprocess.run(["ssh-keygen", "-l", "-f", probe], capture_output=True,
                                text=True)
            if fp.returncode == 0 and len(fp.stdout.split()) > 1:
                out.add(fp.stdout.split()[1])
        return out

    def _wait_presented(self, host, fingerprints):
        """Waits until the host's sshd presents exactly these keys (after a reload);
        returns what its console shows then."""
        deadline = time.monotonic() + _RELOAD_WAIT
        with tempfile.TemporaryDirectory(prefix="awsemu-scan-") as tmp:
            while True:
                scan = subprocess.run(["ssh-keyscan", "-T", "5", host["address"]],
                                      capture_output=True, text=True, timeout=_SSH_TIMEOUT)
                if self._fingerprints(scan.stdout, tmp) == set(fingerprints):
                    return self._remember_keys(host, scan.stdout, tmp)
                if time.monotonic() > deadline:
                    raise RuntimeError("host %s: sshd does not present the host keys %s after "
                                       "a reload" % (host["address"], ", ".join(fingerprints)))
                time.sleep(0.1)

    def _known_hosts(self, host, directory):
        """A known_hosts file holding only the key whose fingerprint the host presents."""
        scan = subprocess.run(["ssh-keyscan", "-T", "5", host["address"]],
                              capture_output=True, text=True, timeout=_SSH_TIMEOUT)
        wanted = self._wanted(host)
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
        return fps, keys

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
    def profile_env(self, region, has_profile):
        """What an instance profile gives the instance's programs through the
        instance metadata service, which the emulator does not serve: the
        role's credentials (the emulator's first access key), the region, and
        the endpoint the instances reach (--instance-endpoint), as the AWS
        SDKs' environment variables. Empty without a profile or endpoint."""
        endpoint = self.emulator.config.instance_endpoint
        if not has_profile or not endpoint:
            return ""
        akid, (secret, token) = next(iter(self.emulator.config.credentials.items()))
        env = [("AWS_REGION", region), ("AWS_DEFAULT_REGION", region), ("AWS_ACCESS_KEY_ID", akid),
               ("AWS_SECRET_ACCESS_KEY", secret), ("AWS_ENDPOINT_URL", endpoint)]
        if token:
            env.append(("AWS_SESSION_TOKEN", token))
        return "".join("%s=%s " % (k, shlex.quote(v)) for k, v in env)

    def bootstrap(self, region, instance_id, host, public_key, boot, has_profile=False):
        """Logs in as cloud-init would act at boot: the key pair's key, boot's host
        keys (cloudinit.UserData), then its scripts (with the instance profile's
        environment, profile_env)."""
        def b64(text):
            data = text if isinstance(text, bytes) else text.encode()
            return base64.b64encode(data).decode()

        keys = [boot.host_keys[k] for k in ("ecdsa", "ed25519", "rsa") if k in boot.host_keys]
        script = _BOOTSTRAP % {
            "id": shlex.quote(instance_id), "key": shlex.quote(public_key or ""),
            "have_keys": shlex.quote("1" if keys else ""),
            "host_keys": " ".join("%s %s" % (b64(k["private"]), b64(k["public"] + "\n"))
                                  for k in keys),
            "parts": " ".join(b64(part) for part in boot.scripts),
            "profile_env": self.profile_env(region, has_profile),
        }

        def work():
            error = None
            try:
                self._ssh(host, script)
                if keys:
                    shown = self._wait_presented(host, [k["fingerprint"] for k in keys])
                    with self.emulator.lock:
                        self.presented[host["address"]] = keys[0]["fingerprint"]
                        self.console_of[instance_id] = shown
            except (OSError, RuntimeError, subprocess.SubprocessError) as e:
                error = str(e)
            self._ec2().host_ready(region, instance_id, error)

        threading.Thread(target=work, name="awsemu-boot-" + instance_id, daemon=True).start()

    def cleanup(self, region, instance_id, host):
        script = _CLEANUP % {"id": shlex.quote(instance_id)}

        def work():
            try:
                self._ssh(host, script)
                with self.emulator.lock:
                    given = self.presented.get(host["address"])
                if given is not None:
                    # The pool's own key again before the host serves another instance.
                    self._wait_presented(host, [host.get("ssh_host_key_fingerprint", "")])
                    with self.emulator.lock:
                        self.presented.pop(host["address"], None)
            except (OSError, RuntimeError, subprocess.SubprocessError) as e:
                with self.emulator.lock:
                    self.errors[instance_id] = str(e)
            self._ec2().host_cleaned(region, instance_id)

        threading.Thread(target=work, name="awsemu-clean-" + instance_id, daemon=True).start()

    def console_text(self, inst):
        """cloud-init's console: boot lines and the SSH host key fingerprint block."""
        address = inst.get("PrivateIpAddress") or "0.0.0.0"
        host = inst.get("_host")
        boot = inst.get("_boot")
        name = "root@" + _ip_name(address)
        if inst["InstanceId"] in self.console_of:
            fps, keys = self.console_of[inst["InstanceId"]]
        elif boot is not None and boot.host_keys and host is None:
            # The keys the user data gave, as cloud-init prints them.
            given = [boot.host_keys[k] for k in ("ecdsa", "ed25519", "rsa")
                     if k in boot.host_keys]
            fps = ["%s %s %s (%s)" % (k["bits"], k["fingerprint"], name, k["label"])
                   for k in given]
            keys = ["%s %s" % (" ".join(k["public"].split()[:2]), name) for k in given]
        elif host is not None and host["address"] in self.console:
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
        if boot is not None:
            lines.extend(boot.console)
        lines.append("-----BEGIN SSH HOST KEY FINGERPRINTS-----")
        lines.extend(fps)
        lines.append("-----END SSH HOST KEY FINGERPRINTS-----")
        if keys:
            lines.append("-----BEGIN SSH HOST KEY KEYS-----")
            lines.extend(keys)
            lines.append("-----END SSH HOST KEY KEYS-----")
        lines.append("Cloud-init v. 22.4.2 finished.")
        return "\n".join(lines) + "\n"
