"""Consul agent configuration (Consul 1.17 agent configuration reference,
JSON form): the accepted keys, defaults and the checks `consul agent` makes
before it starts."""
import base64
import binascii
import os
import re
import socket

from . import confload
from .confload import ConfigError
from .util import is_ip, private_ip, resolve_bind_template

_TLS_COMMON = {"ca_file": "str", "ca_path": "str", "cert_file": "str", "key_file": "str",
               "tls_min_version": "str", "tls_cipher_suites": "str", "verify_incoming": "bool",
               "verify_outgoing": "bool"}
_ANY = {"*": "any"}
_ACL_TOKENS = {"initial_management": "str", "replication": "str", "agent": "str", "agent_recovery": "str",
               "default": "str", "config_file_service_registration": "str", "dns": "str",
               "master": "str", "agent_master": "str", "managed_service_provider": "any"}

SPEC = {
    "acl": {"enabled": "bool", "policy_ttl": "dur", "role_ttl": "dur", "token_ttl": "dur", "down_policy": "str",
            "default_policy": "str", "enable_key_list_policy": "bool", "enable_token_replication": "bool",
            "enable_token_persistence": "bool", "msp_disable_bootstrap": "bool", "tokens": _ACL_TOKENS},
    "addresses": {"dns": "str", "http": "str", "https": "str", "grpc": "str", "grpc_tls": "str"},
    "advertise_addr": "str", "advertise_addr_ipv4": "str", "advertise_addr_ipv6": "str",
    "advertise_addr_wan": "str", "advertise_addr_wan_ipv4": "str", "advertise_addr_wan_ipv6": "str",
    "advertise_reconnect_timeout": "dur", "alt_domain": "str", "audit": _ANY, "auto_config": _ANY,
    "auto_encrypt": {"tls": "bool", "dns_san": "strlist", "ip_san": "strlist", "allow_tls": "bool"},
    "auto_reload_config": "bool", "autopilot": {"cleanup_dead_servers": "bool", "last_contact_threshold": "dur",
                                               "max_trailing_logs": "int", "min_quorum": "int",
                                               "server_stabilization_time": "dur", "redundancy_zone_tag": "str",
                                               "disable_upgrade_migration": "bool", "upgrade_version_tag": "str"},
    "bind_addr": "str", "bootstrap": "bool", "bootstrap_expect": "int", "cache": _ANY,
    "check_output_max_size": "int", "check_update_interval": "dur", "checks": "any", "check": "any",
    "client_addr": "str", "config_entries": _ANY,
    "connect": {"enabled": "bool", "ca_provider": "str", "ca_config": _ANY,
                "enable_mesh_gateway_wan_federation": "bool", "enable_serverless_plugin": "bool"},
    "datacenter": "str", "data_dir": "str", "default_query_time": "dur", "disable_anonymous_signature": "bool",
    "disable_coordinates": "bool", "disable_host_node_id": "bool", "disable_http_unprintable_char_filter": "bool",
    "disable_keyring_file": "bool", "disable_remote_exec": "bool", "disable_update_check": "bool",
    "discard_check_output": "bool", "discovery_max_stale": "dur", "dns_config": _ANY, "domain": "str",
    "enable_agent_tls_for_checks": "bool", "enable_central_service_config": "bool", "enable_debug": "bool",
    "enable_local_script_checks": "bool", "enable_script_checks": "bool", "enable_syslog": "bool",
    "encrypt": "str", "encrypt_verify_incoming": "bool", "encrypt_verify_outgoing": "bool",
    "experiments": "strlist", "gossip_lan": _ANY, "gossip_wan": _ANY, "http_config": _ANY,
    "leave_on_terminate": "bool", "license_path": "str", "limits": _ANY, "log_file": "str", "log_json": "bool",
    "log_level": "str", "log_rotate_bytes": "int", "log_rotate_duration": "dur", "log_rotate_max_files": "int",
    "max_query_time": "dur", "node_id": "str", "node_meta": "strmap", "node_name": "str", "peering": _ANY,
    "performance": {"leave_drain_time": "dur", "raft_multiplier": "int", "rpc_hold_timeout": "dur"},
    "pid_file": "str",
    "ports": {"dns": "int", "http": "int", "https": "int", "grpc": "int", "grpc_tls": "int", "serf_lan": "int",
              "serf_wan": "int", "server": "int", "sidecar_min_port": "int", "sidecar_max_port": "int",
              "expose_min_port": "int", "expose_max_port": "int"},
    "primary_datacenter": "str", "primary_gateways": "strlist", "primary_gateways_interval": "dur",
    "protocol": "int", "raft_boltdb": _ANY, "raft_logstore": _ANY, "raft_protocol": "int",
    "raft_snapshot_interval": "dur", "raft_snapshot_threshold": "int", "raft_trailing_logs": "int",
    "read_replica": "bool", "reconnect_timeout": "dur", "reconnect_timeout_wan": "dur", "recursors": "strlist",
    "rejoin_after_leave": "bool", "retry_interval": "dur", "retry_interval_wan": "dur", "retry_join": "strlist",
    "retry_join_wan": "strlist", "retry_max": "int", "retry_max_wan": "int", "rpc": _ANY, "segment": "str",
    "segments": "any", "serf_lan": "str", "serf_lan_allowed_cidrs": "strlist", "serf_wan": "str",
    "serf_wan_allowed_cidrs": "strlist", "server": "bool", "server_name": "str", "service": "any",
    "services": "any", "session_ttl_min": "dur", "skip_leave_on_interrupt": "bool", "start_join": "strlist",
    "start_join_wan": "strlist", "syslog_facility": "str", "telemetry": _ANY,
    "tls": {"defaults": _TLS_COMMON, "internal_rpc": dict(_TLS_COMMON, verify_server_hostname="bool"),
            "https": _TLS_COMMON, "grpc": dict(_TLS_COMMON, use_auto_cert="bool")},
    "translate_wan_addrs": "bool", "ui": "bool", "ui_dir": "str",
    "ui_config": {"enabled": "bool", "dir": "str", "content_path": "str", "metrics_provider": "str",
                  "metrics_provider_files": "strlist", "metrics_provider_options_json": "str",
                  "metrics_proxy": _ANY, "dashboard_url_templates": "strmap"},
    "unix_sockets": {"user": "str", "group": "str", "mode": "str"}, "use_streaming_backend": "bool",
    "watches": "any", "xds": _ANY, "locality": {"region": "str", "zone": "str"},
}

VALID_DC = re.compile(r"^[a-z0-9_-]+$")


# The settings that are Go maps in Consul's Config: merge.go replaces them
# whole with a later non-empty one.
MAPS = ("node_meta", "http_config.response_headers", "ui_config.dashboard_url_templates")


def _decode_file(path):
    raw = confload.read_any(path)
    errors = []
    value = confload.decode(raw, SPEC, "", errors)
    problems = []
    for kind, p, detail in errors:
        if kind == "key":
            problems.append("invalid config key %s" % p)
        else:
            problems.append("'%s' %s" % (p, detail))
    if problems:
        text = "%d error%s occurred:\n%s\n" % (len(problems), "" if len(problems) == 1 else "s",
                                              "".join("\t* %s\n" % x for x in problems))
        raise ConfigError("failed to parse %s: %s" % (path, text.rstrip("\n")))
    return value


def load(files, dirs):
    cfg = {}
    for f in files:
        if not os.path.isfile(f):
            raise ConfigError("Error loading %s: stat %s: no such file or directory" % (f, f))
        cfg = confload.merge_consul(cfg, _decode_file(f), MAPS)
    # -config-dir: its .hcl and .json files in lexical order, merged by
    # merge.go's rules (agent/config/builder.go, merge.go).
    for d in dirs:
        if not os.path.isdir(d):
            raise ConfigError("Error loading %s: stat %s: no such file or directory" % (d, d))
        for f in confload.list_files(d, (".json", ".hcl")):
            cfg = confload.merge_consul(cfg, _decode_file(f), MAPS)
    return cfg


class ConsulConfig:
    def __init__(self, raw):
        g = lambda k, d=None: confload.get(raw, k, d)
        self.raw = raw
        self.server = bool(g("server", False))
        self.datacenter = (g("datacenter", "dc1") or "").lower()
        if not self.datacenter:
            raise ConfigError("datacenter cannot be empty")
        if not VALID_DC.match(self.datacenter):
            raise ConfigError("datacenter cannot be %r. Please use only [a-z0-9-_]." % self.datacenter)
        self.data_dir = g("data_dir", "")
        if not self.data_dir:
            raise ConfigError("data_dir cannot be empty")
        if not os.path.isabs(self.data_dir):
            raise ConfigError("data_dir %r must be an absolute path" % self.data_dir)
        self.node_name = g("node_name", "") or socket.gethostname()
        self.domain = g("domain", "consul")
        self.bootstrap = bool(g("bootstrap", False))
        self.bootstrap_expect = g("bootstrap_expect", 0)
        if self.bootstrap and not self.server:
            raise ConfigError("'bootstrap = true' requires 'server = true'")
        if self.bootstrap_expect < 0:
            raise ConfigError("bootstrap_expect cannot be %d. Must be greater than or equal to zero"
                              % self.bootstrap_expect)
        if self.bootstrap_expect > 0 and not self.server:
            raise ConfigError("'bootstrap_expect > 0' requires 'server = true'")
        if self.bootstrap_expect > 0 and self.bootstrap:
            raise ConfigError("'bootstrap_expect > 0' and 'bootstrap = true' are mutually exclusive")
        if self.bootstrap:
            self.bootstrap_expect = 1
        # builder.go lower-cases both names before checking them
        self.primary_datacenter = (g("primary_datacenter", "") or "").lower() or self.datacenter
        if not VALID_DC.match(self.primary_datacenter):
            raise ConfigError("primary_datacenter cannot be %r. Please use only [a-z0-9-_]."
                              % self.primary_datacenter)
        self.token_replication = bool(g("acl.enable_token_replication", False))
        self.encrypt = g("encrypt", "")
        self.gossip_key = None
        if self.encrypt:
            try:
                key = base64.b64decode(self.encrypt, validate=True)
            except (binascii.Error, ValueError) as e:
                raise ConfigError("Failed to decode encryption key: %s" % e)
            if len(key) not in (16, 24, 32):
                raise ConfigError("Failed to configure keyring: key size must be 16, 24 or 32 bytes")
            self.gossip_key = key
        self.ports = {"http": g("ports.http", 8500), "https": g("ports.https", -1), "dns": g("ports.dns", 8600),
                      "server": g("ports.server", 8300), "serf_lan": g("ports.serf_lan", 8301),
                      "serf_wan": g("ports.serf_wan", 8302), "grpc": g("ports.grpc", -1)}
        for k, v in self.ports.items():
            if v > 65535 or v == 0 or v < -1:
                raise ConfigError("ports.%s: invalid port %d" % (k, v))
        self.bind_addr = self._addr("bind_addr", g("bind_addr", "0.0.0.0"))
        adv = g("advertise_addr")
        if adv:
            self.advertise = self._addr("advertise_addr", adv)
        elif self.bind_addr in ("0.0.0.0", "::"):
            try:
                self.advertise = private_ip(unique=True)
            except ValueError as e:
                raise ConfigError(str(e))
        else:
            self.advertise = self.bind_addr
        if self.advertise in ("0.0.0.0", "::"):
            raise ConfigError("Advertise address cannot be 0.0.0.0, :: or [::]")
        self.advertise_wan = self._addr("advertise_addr_wan", g("advertise_addr_wan") or self.advertise)
        clients = g("client_addr", "127.0.0.1")
        self.client_addrs = [self._addr("client_addr", a) for a in clients.split()]
        if not self.client_addrs:
            raise ConfigError("client_addr cannot be empty")
        self.http_addrs = [self._addr("addresses.http", a) for a in (g("addresses.http") or "").split()] \
            or self.client_addrs
        self.https_addrs = [self._addr("addresses.https", a) for a in (g("addresses.https") or "").split()] \
            or self.client_addrs
        self.retry_join = list(g("retry_join") or []) + list(g("start_join") or [])
        self.retry_join_wan = list(g("retry_join_wan") or []) + list(g("start_join_wan") or [])
        if self.retry_join_wan and not self.server:
            raise ConfigError("'retry_join_wan' requires 'server = true'")
        from .util import parse_duration
        self.retry_interval = parse_duration(g("retry_interval", "30s"))
        self.retry_interval_wan = parse_duration(g("retry_interval_wan", "30s"))
        self.log_level = g("log_level", "INFO")
        self.leave_on_terminate = g("leave_on_terminate", not self.server)
        self.skip_leave_on_interrupt = g("skip_leave_on_interrupt", self.server)
        acl = g("acl") or {}
        self.acl_enabled = bool(acl.get("enabled", False))
        self.default_policy = acl.get("default_policy", "allow")
        if self.default_policy not in ("allow", "deny"):
            raise ConfigError("acl.default_policy must be 'allow' or 'deny', got %r" % self.default_policy)
        self.down_policy = acl.get("down_policy", "extend-cache")
        self.token_persistence = bool(acl.get("enable_token_persistence", False))
        tokens = acl.get("tokens") or {}
        self.initial_management = tokens.get("initial_management") or tokens.get("master") or ""
        self.agent_token = tokens.get("agent", "")
        self.default_token = tokens.get("default", "")
        self.replication_token = tokens.get("replication", "")
        self.agent_recovery = tokens.get("agent_recovery") or tokens.get("agent_master") or ""
        self.node_meta = dict(g("node_meta") or {})
        self._check_tls(g("tls") or {})

    def _addr(self, key, text):
        try:
            a = resolve_bind_template(text)
        except ValueError as e:
            raise ConfigError("%s: %s" % (key, e))
        if not is_ip(a):
            raise ConfigError("%s: %r is not a valid IP address" % (key, text))
        return a

    def _check_tls(self, t):
        d = t.get("defaults") or {}
        self.tls = {}
        for part in ("internal_rpc", "https", "grpc"):
            merged = dict(d)
            merged.update(t.get(part) or {})
            self.tls[part] = merged
        from . import tlsutil
        for part, c in self.tls.items():
            for k in ("ca_file", "cert_file", "key_file"):
                p = c.get(k)
                if p and not os.path.isfile(p):
                    raise ConfigError("Failed to load TLS configurator: failed to read %s: open %s: no such file "
                                      "or directory" % (k, p))
            if bool(c.get("cert_file")) != bool(c.get("key_file")):
                raise ConfigError("Failed to load TLS configurator: %s: cert_file and key_file must both be set"
                                  % part)
            if c.get("verify_incoming") and not c.get("ca_file") and not c.get("ca_path"):
                raise ConfigError("Failed to load TLS configurator: %s: VerifyIncoming set but no CA file "
                                  "provided" % part)
            if c.get("verify_incoming") and not c.get("cert_file"):
                raise ConfigError("Failed to load TLS configurator: %s: VerifyIncoming set but no certificate "
                                  "configured" % part)
            if c.get("cert_file"):
                try:
                    tlsutil.check_files(c.get("ca_file"), c["cert_file"], c["key_file"])
                except tlsutil.TLSError as e:
                    raise ConfigError("Failed to load TLS configurator: %s" % e)
        rpc = self.tls["internal_rpc"]
        if rpc.get("verify_outgoing") and not rpc.get("ca_file") and not rpc.get("ca_path"):
            raise ConfigError("Failed to load TLS configurator: VerifyOutgoing set but no CA file provided")
        if self.ports["https"] > 0 and not self.tls["https"].get("cert_file"):
            raise ConfigError("HTTPS port is enabled (ports.https = %d) but no certificate is configured "
                              "(tls.https or tls.defaults cert_file/key_file)" % self.ports["https"])
