"""Small helpers shared by both agents: durations, addresses, ids."""
import ipaddress
import os
import re
import socket
import subprocess
import time
import uuid

_DUR = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1, "us": 1000, "µs": 1000, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def parse_duration(text):
    """Go time.ParseDuration: "1m30s" -> nanoseconds. Raises ValueError."""
    s = text.strip()
    if s in ("0", "+0", "-0"):
        return 0
    sign = 1
    if s[:1] in "+-":
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if not s:
        raise ValueError('time: invalid duration "%s"' % text)
    pos, total = 0, 0.0
    while pos < len(s):
        m = _DUR.match(s, pos)
        if not m:
            raise ValueError('time: invalid duration "%s"' % text)
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    return sign * int(total)


def format_duration(ns):
    """Nanoseconds -> Go-style duration text ("10s", "1m30s", "500ms")."""
    if ns == 0:
        return "0s"
    if ns % 10**9 == 0:
        s = ns // 10**9
        h, rem = divmod(s, 3600)
        m, sec = divmod(rem, 60)
        out = ""
        if h:
            out += "%dh" % h
        if h or m:
            out += "%dm" % m
        return out + "%ds" % sec
    if ns % 10**6 == 0:
        return "%dms" % (ns // 10**6)
    return "%dns" % ns


def now_ns():
    return time.time_ns()


def new_uuid():
    return str(uuid.uuid4())


def is_ip(text):
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def split_hostport(text, default_port):
    """"ip", "ip:port", "[v6]:port" -> (host, port). Raises ValueError."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError("missing ']' in address %s" % text)
        host, rest = text[1:end], text[end + 1:]
        if rest and not rest.startswith(":"):
            raise ValueError("malformed address %s" % text)
        port = rest[1:] if rest else ""
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, ""
    if not host:
        raise ValueError("missing host in address %s" % text)
    if port == "":
        return host, default_port
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("invalid port in address %s" % text)
    return host, int(port)


def resolve_host(host):
    """A name or an IP -> IPv4 text; raises OSError when it cannot."""
    if is_ip(host):
        return host
    return socket.gethostbyname(host)


def local_ipv4s():
    """IPv4 addresses of this network namespace, loopback excluded."""
    try:
        out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True,
                             text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    addrs = []
    for line in out.splitlines():
        m = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/(\d+)", line)
        if m and not m.group(1).startswith("127."):
            addrs.append((m.group(1), int(m.group(2)), line.split()[1]))
    return addrs


def interface_ip(name):
    for ip, _, dev in local_ipv4s():
        if dev == name:
            return ip
    return None


_TEMPLATE = re.compile(r'^\{\{\s*(GetPrivateIP|GetPublicIP|GetAllInterfaces|GetInterfaceIP\s+"([^"]+)")\s*\}\}$')


def resolve_bind_template(text):
    """The go-sockaddr templates agents accept in address settings, the common
    forms only. Returns the address, or raises ValueError."""
    t = text.strip()
    if not t.startswith("{{"):
        return t
    m = _TEMPLATE.match(t)
    if not m:
        raise ValueError("unable to parse address template %r" % text)
    if m.group(2):
        ip = interface_ip(m.group(2))
        if not ip:
            raise ValueError('No IP address found on interface "%s"' % m.group(2))
        return ip
    private = [a for a, _, _ in local_ipv4s() if ipaddress.ip_address(a).is_private]
    if not private:
        raise ValueError("No private IPv4 address found")
    return private[0]


def private_ip(unique=False):
    """The address an agent advertises when bound to 0.0.0.0: the first
    private one (Nomad), or the only one (Consul: unique=True)."""
    addrs = [a for a, _, _ in local_ipv4s()]
    private = [a for a in addrs if ipaddress.ip_address(a).is_private]
    if unique and len(private) > 1:
        raise ValueError("Multiple private IPv4 addresses found. Please configure one with 'bind' and/or 'advertise'.")
    if private:
        return private[0]
    if addrs:
        return addrs[0]
    return "127.0.0.1"


def hostname():
    return socket.gethostname()


def mkdirs(path, mode=0o755):
    os.makedirs(path, mode=mode, exist_ok=True)
