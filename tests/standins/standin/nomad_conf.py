"""Nomad agent configuration (Nomad 1.7 agent configuration reference, JSON
form): the accepted keys, defaults and the checks `nomad agent` makes before
it starts."""
import base64
import binascii
import os
import socket

from . import confload
from .confload import ConfigError
from .util import is_ip, parse_duration, resolve_bind_template, split_hostport, private_ip

_TRIPLE = {"http": "str", "rpc": "str", "serf": "str"}
_PORTS = {"http": "int", "rpc": "int", "serf": "int"}
_JOIN = {"retry_join": "strlist", "retry_max": "int", "retry_interval": "dur", "start_join": "strlist"}
_ANY_BLOCK = {"*": "any"}

SPEC = {
    "region": "str", "datacenter": "str", "name": "str", "data_dir": "str", "plugin_dir": "str",
    "bind_addr": "str", "log_level": "str", "log_json": "bool", "log_file": "str",
    "log_rotate_bytes": "int", "log_rotate_duration": "dur", "log_rotate_max_files": "int",
    "log_include_location": "bool", "enable_debug": "bool", "enable_syslog": "bool",
    "syslog_facility": "str", "leave_on_interrupt": "bool", "leave_on_terminate": "bool",
    "disable_update_check": "bool", "disable_anonymous_signature": "bool",
    "http_api_response_headers": "strmap", "limits": {
        "https_handshake_timeout": "dur", "http_max_conns_per_client": "int",
        "rpc_handshake_timeout": "dur", "rpc_max_conns_per_client": "int",
        "rpc_default_write_rate": "int", "rpc_log_level": "str",
    },
    "addresses": _TRIPLE, "advertise": _TRIPLE, "ports": _PORTS,
    "acl": {"enabled": "bool", "token_ttl": "dur", "policy_ttl": "dur", "role_ttl": "dur",
            "token_min_expiration_ttl": "dur", "token_max_expiration_ttl": "dur",
            "replication_token": "str"},
    "server": {
        "enabled": "bool", "authoritative_region": "str", "bootstrap_expect": "int",
        "data_dir": "str", "protocol_version": "int", "raft_protocol": "int", "raft_multiplier": "int",
        "num_schedulers": "int", "enabled_schedulers": "strlist", "node_gc_threshold": "dur",
        "job_gc_interval": "dur", "job_gc_threshold": "dur", "eval_gc_threshold": "dur",
        "batch_eval_gc_threshold": "dur", "deployment_gc_threshold": "dur",
        "csi_volume_claim_gc_interval": "dur", "csi_volume_claim_gc_threshold": "dur",
        "csi_plugin_gc_threshold": "dur", "acl_token_gc_threshold": "dur",
        "root_key_gc_interval": "dur", "root_key_gc_threshold": "dur",
        "root_key_rotation_threshold": "dur", "heartbeat_grace": "dur", "min_heartbeat_ttl": "dur",
        "max_heartbeats_per_second": "float", "failover_heartbeat_ttl": "dur",
        "rejoin_after_leave": "bool", "non_voting_server": "bool", "redundancy_zone": "str",
        "upgrade_version": "str", "encrypt": "str", "license_path": "str",
        "raft_boltdb": {"no_freelist_sync": "bool"}, "raft_snapshot_threshold": "int",
        "raft_snapshot_interval": "dur", "raft_trailing_logs": "int",
        "job_max_priority": "int", "job_default_priority": "int", "event_buffer_size": "int",
        "deployment_query_rate_limit": "float", "oidc_issuer": "str",
        "start_join": "strlist", "retry_join": "strlist", "retry_max": "int", "retry_interval": "dur",
        "server_join": _JOIN, "search": _ANY_BLOCK, "default_scheduler_config": _ANY_BLOCK,
        "plan_rejection_tracker": {"enabled": "bool", "node_threshold": "int", "node_window": "dur"},
        "job_tracked_versions": "int",
    },
    "client": {
        "enabled": "bool", "state_dir": "str", "alloc_dir": "str", "servers": "strlist",
        "server_join": _JOIN, "node_class": "str", "node_pool": "str", "meta": "strmap",
        "options": "strmap", "network_interface": "str", "network_speed": "int",
        "cpu_total_compute": "int", "memory_total_mb": "int", "disk_total_mb": "int",
        "disk_free_mb": "int", "max_kill_timeout": "dur", "min_dynamic_port": "int",
        "max_dynamic_port": "int", "reserved": {"cpu": "int", "cores": "str", "memory": "int",
                                                 "disk": "int", "reserved_ports": "str"},
        "chroot_env": "strmap", "gc_interval": "dur", "gc_disk_usage_threshold": "float",
        "gc_inode_usage_threshold": "float", "gc_max_allocs": "int", "gc_parallel_destroys": "int",
        "no_host_uuid": "bool", "host_volume": ("labeled", {"path": "str", "read_only": "bool"}),
        "host_network": ("labeled", {"cidr": "str", "interface": "str", "reserved_ports": "str"}),
        "cni_path": "str", "cni_config_dir": "str", "bridge_network_name": "str",
        "bridge_network_subnet": "str", "bridge_network_hairpin_mode": "bool",
        "template": _ANY_BLOCK, "artifact": _ANY_BLOCK, "cgroup_parent": "str",
        "drain_on_shutdown": {"deadline": "dur", "force": "bool", "ignore_system_jobs": "bool"},
        "preferred_address_family": "str", "disable_remote_exec": "bool", "reservable_cores": "str",
        "nomad_service_discovery": "bool", "cpu_disable_dmidecode": "bool",
    },
    "tls": {"http": "bool", "rpc": "bool", "ca_file": "str", "cert_file": "str", "key_file": "str",
            "rpc_upgrade_mode": "bool", "verify_server_hostname": "bool",
            "verify_https_client": "bool", "tls_cipher_suites": "str", "tls_min_version": "str",
            "tls_prefer_server_cipher_suites": "bool"},
    "consul": {"address": "str", "allow_unauthenticated": "bool", "auth": "str", "auto_advertise": "bool",
               "ca_file": "str", "cert_file": "str", "key_file": "str", "checks_use_advertise": "bool",
               "client_auto_join": "bool", "client_service_name": "str", "client_http_check_name": "str",
               "grpc_address": "str", "grpc_ca_file": "str", "server_auto_join": "bool",
               "server_service_name": "str", "server_http_check_name": "str",
               "server_serf_check_name": "str", "server_rpc_check_name": "str", "ssl": "bool",
               "share_ssl": "bool", "tags": "strlist", "timeout": "dur", "token": "str",
               "verify_ssl": "bool", "namespace": "str", "name": "str",
               "service_identity": _ANY_BLOCK, "task_identity": _ANY_BLOCK,
               "service_auth_method": "str", "task_auth_method": "str"},
    "vault": _ANY_BLOCK,
    "plugin": ("labeled", {"args": "strlist", "config": "any"}),
    "telemetry": {
        "collection_interval": "dur", "disable_hostname": "bool", "use_node_name": "bool",
        "publish_allocation_metrics": "bool", "publish_node_metrics": "bool",
        "prometheus_metrics": "bool", "statsd_address": "str", "statsite_address": "str",
        "datadog_address": "str", "datadog_tags": "strlist", "filter_default": "bool",
        "prefix_filter": "strlist", "disable_dispatched_job_summary_metrics": "bool",
        "disable_quota_utilization_metrics": "bool", "disable_rpc_rate_metrics_labels": "bool",
        "disable_allocation_hook_metrics": "bool", "in_memory_collection_interval": "dur",
        "in_memory_retention_period": "dur", "circonus_api_token": "str", "circonus_api_app": "str",
        "circonus_api_url": "str", "circonus_submission_interval": "str",
        "circonus_submission_url": "str", "circonus_check_id": "str",
        "circonus_check_force_metric_activation": "str", "circonus_check_instance_id": "str",
        "circonus_check_search_tag": "str", "circonus_check_display_name": "str",
        "circonus_check_tags": "str", "circonus_broker_id": "str", "circonus_broker_select_tag": "str",
    },
    "autopilot": {"cleanup_dead_servers": "bool", "last_contact_threshold": "dur",
                  "max_trailing_logs": "int", "min_quorum": "int", "server_stabilization_time": "dur",
                  "enable_redundancy_zones": "bool", "disable_upgrade_migration": "bool",
                  "enable_custom_upgrades": "bool"},
    "ui": _ANY_BLOCK, "audit": _ANY_BLOCK, "sentinel": _ANY_BLOCK, "reporting": _ANY_BLOCK,
    "keyring": ("labeled", _ANY_BLOCK),
}

# Settings of the drivers this agent fingerprints (their documented plugin options).
PLUGIN_SPECS = {
    "raw_exec": {"enabled": "bool", "no_cgroups": "bool"},
    "exec": {"no_pivot": "bool", "default_pid_mode": "str", "default_ipc_mode": "str",
             "cap_add": "strlist", "cap_drop": "strlist", "allow_caps": "strlist"},
}


# Lists Nomad's Merge appends rather than replaces (command/agent/config.go:
# ServerConfig.Merge, ClientConfig.Merge), and settings it keeps as pointers,
# where a later false or 0 still wins.
APPENDED = ("client.servers", "server.start_join", "server.retry_join", "server.enabled_schedulers")
POINTERS = ("disable_update_check", "client.no_host_uuid", "client.nomad_service_discovery",
            "server.num_schedulers", "server.raft_multiplier", "server.job_default_priority",
            "server.job_max_priority", "server.enable_event_broker", "server.event_buffer_size",
            "consul.ssl", "consul.verify_ssl", "consul.auto_advertise", "consul.server_auto_join",
            "consul.client_auto_join", "consul.checks_use_advertise", "consul.share_ssl",
            "consul.allow_unauthenticated", "tls.verify_https_client")


def _decode_file(path):
    raw = confload.read_any(path)
    errors = []
    value = confload.decode(raw, SPEC, "", errors)
    plugins = value.get("plugin") or {}
    for name, block in plugins.items():
        spec = PLUGIN_SPECS.get(name)
        if spec and block.get("config") is not None:
            block["config"] = confload.decode(block["config"], spec, "plugin.%s.config" % name, errors)
    keys = [p for kind, p, _ in errors if kind == "key"]
    if keys:
        raise ConfigError("Error loading configuration from %s: unexpected keys %s" % (path, ", ".join(keys)))
    for _, p, detail in errors:
        raise ConfigError("Error loading configuration from %s: '%s' %s" % (path, p, detail))
    return value


def load(paths):
    """Reads every -config PATH; returns the merged configuration dict."""
    cfg = {}
    if not paths:
        raise ConfigError("Must specify data directory")
    # LoadConfigDir: every .hcl and .json file of a directory (not editor
    # temporary files), sorted, each merged over the ones before.
    for p in paths:
        for f in confload.list_files(p, (".json", ".hcl"), skip_temporary=True):
            cfg = confload.merge_nomad(cfg, _decode_file(f), APPENDED, POINTERS)
    return cfg


class NomadConfig:
    """The merged configuration with defaults applied and checks made."""

    def __init__(self, raw):
        g = lambda k, d=None: confload.get(raw, k, d)
        self.raw = raw
        self.region = g("region", "global")
        self.datacenter = g("datacenter", "dc1")
        self.data_dir = g("data_dir", "")
        self.log_level = g("log_level", "INFO")
        self.server = bool(g("server.enabled", False))
        self.client = bool(g("client.enabled", False))
        if not self.server and not self.client:
            raise ConfigError("Must specify either server, client or dev mode for the agent.")
        if not self.data_dir:
            raise ConfigError("Must specify data directory")
        for key, d in (("data-dir", self.data_dir), ("plugin-dir", g("plugin_dir")),
                       ("alloc-dir", g("client.alloc_dir")), ("state-dir", g("client.state_dir"))):
            if d and not os.path.isabs(d):
                raise ConfigError("%s must be given as an absolute path: got %s" % (key, d))
        self.bootstrap_expect = g("server.bootstrap_expect", 0)
        if self.bootstrap_expect and not self.server:
            raise ConfigError("Bootstrap requires server mode to be enabled")
        if self.bootstrap_expect < 0:
            raise ConfigError("Invalid bootstrap_expect value: %d" % self.bootstrap_expect)
        self.authoritative_region = g("server.authoritative_region", "") or self.region
        self.name = g("name", "") or socket.gethostname()
        self.encrypt = g("server.encrypt", "")
        self.gossip_key = None
        if self.encrypt:
            try:
                key = base64.b64decode(self.encrypt, validate=True)
            except (binascii.Error, ValueError) as e:
                raise ConfigError("Failed to decode encryption key: %s" % e)
            if len(key) not in (16, 24, 32):
                raise ConfigError("Failed to decode encryption key: key size must be 16, 24 or 32 bytes")
            self.gossip_key = key
        self.ports = {"http": g("ports.http", 4646), "rpc": g("ports.rpc", 4647), "serf": g("ports.serf", 4648)}
        for k, v in self.ports.items():
            if not 0 < v < 65536:
                raise ConfigError("Invalid %s port: %d" % (k, v))
        try:
            bind = resolve_bind_template(g("bind_addr", "0.0.0.0"))
        except ValueError as e:
            raise ConfigError("Failed to parse bind_addr: %s" % e)
        if not is_ip(bind):
            raise ConfigError("Failed to parse bind_addr: %r is not a valid IP address" % bind)
        self.bind = {}
        for k in ("http", "rpc", "serf"):
            try:
                a = resolve_bind_template(g("addresses." + k, bind))
            except ValueError as e:
                raise ConfigError("Failed to parse addresses.%s: %s" % (k, e))
            if not is_ip(a):
                raise ConfigError("Failed to parse HTTP advertise address: %s" % a if k == "http"
                                  else "Failed to parse %s address: %s" % (k, a))
            self.bind[k] = a
        self.advertise = {}
        for k in ("http", "rpc", "serf"):
            adv = g("advertise." + k)
            try:
                if adv:
                    host, port = split_hostport(resolve_bind_template(adv), self.ports[k])
                    if not is_ip(host):
                        raise ValueError("%s is not an IP address" % host)
                elif self.bind[k] in ("0.0.0.0", "::"):
                    host, port = private_ip(), self.ports[k]
                else:
                    host, port = self.bind[k], self.ports[k]
            except ValueError as e:
                raise ConfigError("Failed to parse advertise %s address %r: %s" % (k, adv, e))
            self.advertise[k] = (host, port)
        self.retry_join = g("server.server_join.retry_join") or g("server.retry_join") or []
        self.start_join = g("server.server_join.start_join") or g("server.start_join") or []
        self.retry_interval = parse_duration(g("server.server_join.retry_interval") or g("server.retry_interval") or "30s")
        self.client_servers = list(g("client.servers") or [])
        self.client_join = g("client.server_join.retry_join") or []
        if g("client.server_join.start_join"):
            raise ConfigError("server_join: start_join is not supported for Nomad clients")
        for a in self.client_servers + self.client_join:
            try:
                split_hostport(a, 4647)
            except ValueError as e:
                raise ConfigError("client.servers: %s" % e)
        for a in self.retry_join + self.start_join:
            if a.startswith("provider="):
                continue
            try:
                split_hostport(a, 4648)
            except ValueError as e:
                raise ConfigError("server_join: %s" % e)
        self.heartbeat_grace = parse_duration(g("server.heartbeat_grace", "10s"))
        self.min_heartbeat_ttl = parse_duration(g("server.min_heartbeat_ttl", "10s"))
        self.acl_enabled = bool(g("acl.enabled", False))
        self.replication_token = g("acl.replication_token", "")
        self.leave_on_interrupt = bool(g("leave_on_interrupt", False))
        self.leave_on_terminate = bool(g("leave_on_terminate", False))
        self.node_class = g("client.node_class", "")
        self.node_pool = g("client.node_pool", "default")
        self.meta = dict(g("client.meta") or {})
        self.alloc_dir = g("client.alloc_dir") or os.path.join(self.data_dir, "alloc")
        self.min_dynamic_port = g("client.min_dynamic_port", 20000)
        self.max_dynamic_port = g("client.max_dynamic_port", 32000)
        self.network_interface = g("client.network_interface", "")
        self.raw_exec_enabled = bool(g("plugin.raw_exec.config.enabled", False)) or \
            (g("client.options") or {}).get("driver.raw_exec.enable") in ("1", "true")
        self.consul_address = g("consul.address", "127.0.0.1:8500")
        self.consul_token = g("consul.token", "")
        self.consul_ssl = bool(g("consul.ssl", False))
        self.consul_ca = g("consul.ca_file", "")
        self.tls = dict(g("tls") or {})
        self._check_tls()

    def _check_tls(self):
        t = self.tls
        self.tls_http = bool(t.get("http"))
        self.tls_rpc = bool(t.get("rpc"))
        if not (self.tls_http or self.tls_rpc):
            return
        for k in ("ca_file", "cert_file", "key_file"):
            p = t.get(k)
            if p and not os.path.isfile(p):
                raise ConfigError("Failed to load TLS configuration: failed to read %s %s: open %s: no such file or directory"
                                  % (k, p, p))
        if not t.get("cert_file") or not t.get("key_file"):
            raise ConfigError("Failed to load TLS configuration: tls: cert_file and key_file must both be provided "
                              "when TLS is enabled")
        if self.tls_rpc and not t.get("ca_file"):
            raise ConfigError("Failed to load TLS configuration: ca_file must be provided when tls.rpc is enabled")
        from . import tlsutil
        try:
            tlsutil.check_files(t.get("ca_file"), t["cert_file"], t["key_file"])
        except tlsutil.TLSError as e:
            raise ConfigError("Failed to load TLS configuration: %s" % e)
