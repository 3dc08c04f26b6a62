"""Mesos 1.11 command lines as stout's flags parser reads them
(3rdparty/stout/include/stout/flags/flags.hpp): `--name=value`, `--name`
and `--no-name` for booleans, environment variables MESOS_<NAME>, an unknown
or doubled flag refused. The flag names are those that src/master/flags.cpp,
src/slave/flags.cpp and src/logging/flags.cpp of Mesos 1.11.0 add; a `?`
marks a boolean flag."""
import os
import re


def _table(text):
    out = {}
    for word in text.split():
        out[word.rstrip("?")] = word.endswith("?")
    return out


MASTER_FLAGS = _table("""
version? hostname hostname_lookup? root_submissions? work_dir registry quorum zk_session_timeout
registry_strict? registry_fetch_timeout registry_store_timeout log_auto_initialize?
agent_reregister_timeout recovery_agent_removal_limit agent_removal_rate_limit webui_dir whitelist
role_sorter framework_sorter allocation_interval cluster roles weights authenticate_frameworks?
authenticate_agents? authentication_v0_timeout authenticate_http_readwrite?
authenticate_http_readonly? authenticate_http_frameworks? credentials acls firewall_rules
rate_limits max_executors_per_agent offer_timeout modules authenticators allocator
allocator_agent_recovery_factor allocator_recovery_timeout fair_sharing_excluded_resource_names
filter_gpu_resources? min_allocatable_resources hooks agent_ping_timeout max_agent_ping_timeouts
authorizers http_authenticators http_framework_authenticators max_operator_event_stream_subscribers
max_completed_frameworks max_completed_tasks_per_framework max_unreachable_tasks_per_framework
master_contender master_detector registry_gc_interval registry_max_agent_age
registry_max_agent_count ip port advertise_ip advertise_port memory_profiling? zk
ip_discovery_command require_agent_domain? publish_per_framework_metrics? domain
offer_constraints_re2_max_mem offer_constraints_re2_max_program_size
""")
MASTER_ALIASES = {
    'slave_reregister_timeout': 'agent_reregister_timeout',
    'recovery_slave_removal_limit': 'recovery_agent_removal_limit',
    'slave_removal_rate_limit': 'agent_removal_rate_limit',
    'user_sorter': 'role_sorter',
    'authenticate': 'authenticate_frameworks',
    'authenticate_slaves': 'authenticate_agents',
    'authenticate_http': 'authenticate_http_readwrite',
    'max_executors_per_slave': 'max_executors_per_agent',
    'slave_ping_timeout': 'agent_ping_timeout',
    'max_slave_ping_timeouts': 'max_agent_ping_timeouts',
}
AGENT_FLAGS = _table("""
hostname hostname_lookup? version? resources resource_provider_config_dir csi_plugin_config_dir
disk_profile_adaptor isolation launcher image_providers image_provisioner_backend image_gc_config
appc_simple_discovery_uri_prefix appc_store_dir docker_registry docker_store_dir
docker_volume_checkpoint_dir docker_volume_chown? docker_ignore_runtime? default_role attributes
fetcher_cache_size fetcher_cache_dir fetcher_stall_timeout work_dir runtime_dir hadoop_home
switch_user? volume_gid_range http_heartbeat_interval frameworks_home registration_backoff_factor
authentication_backoff_factor authentication_timeout_min authentication_timeout_max
executor_environment_variables executor_registration_timeout executor_reregistration_timeout
executor_reregistration_retry_interval executor_shutdown_grace_period jwt_secret_key gc_delay
gc_disk_headroom gc_non_executor_container_sandboxes? disk_watch_interval container_logger recover
recovery_timeout reconfiguration_policy strict? max_completed_executors_per_framework
cgroups_destroy_timeout cgroups_hierarchy cgroups_root cgroups_enable_cfs? cgroups_limit_swap?
cgroups_cpu_enable_pids_and_tids_count? cgroups_net_cls_primary_handle
cgroups_net_cls_secondary_handles allowed_devices agent_subsystems host_path_volume_force_creation
nvidia_gpu_devices perf_events perf_interval perf_duration revocable_cpu_low_priority?
systemd_enable_support? systemd_runtime_directory effective_capabilities bounding_capabilities
default_container_shm_size disallow_sharing_agent_ipc_namespace?
disallow_sharing_agent_pid_namespace? agent_features firewall_rules credential acls containerizers
docker docker_remove_delay docker_kill_orphans? docker_mesos_image docker_socket docker_config
sandbox_directory domain_socket_location default_container_dns default_container_info
docker_stop_timeout ephemeral_ports_per_container eth0_name lo_name egress_rate_limit_per_container
egress_unique_flow_per_container? egress_flow_classifier_parent
network_enable_socket_statistics_summary? network_enable_socket_statistics_details?
network_enable_snmp_statistics? container_ports_watch_interval check_agent_port_range_only?
enforce_container_ports? container_ports_isolated_range network_cni_plugins_dir
network_cni_config_dir network_cni_root_dir_persist? network_cni_metrics?
container_disk_watch_interval enforce_container_disk_quota? modules authenticatee authorizer
http_authenticators authenticate_http_readwrite? authenticate_http_readonly?
authenticate_http_executors? http_executor_domain_sockets? http_credentials hooks secret_resolver
resource_estimator qos_controller qos_correction_interval_min oversubscribed_resources_interval
master_detector xfs_project_range xfs_kill_containers? seccomp_config_dir seccomp_profile_name
http_command_executor? ip ip6 port advertise_ip advertise_port master zk_session_timeout
ip_discovery_command ip6_discovery_command memory_profiling? domain
""")
AGENT_ALIASES = {
    'executor_secret_key': 'jwt_secret_key',
    'slave_subsystems': 'agent_subsystems',
    'allowed_capabilities': 'effective_capabilities',
}
LOGGING_FLAGS = _table("""
quiet? logging_level log_dir logbufsecs initialize_driver_logging? external_log_file
""")
LOGGING_ALIASES = {}


class FlagError(Exception):
    """A command line the real binary refuses; str() is its message."""


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ns|us|ms|secs|mins|hrs|days|weeks)$")
_DUR_SECS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "secs": 1, "mins": 60, "hrs": 3600, "days": 86400,
             "weeks": 604800}


def parse_duration(text):
    """stout Duration::parse: "10secs", "500ms" -> seconds."""
    m = _DURATION.match(text.strip())
    if not m:
        raise ValueError("Invalid duration '%s'" % text)
    return float(m.group(1)) * _DUR_SECS[m.group(2)]


def load(argv, table, aliases, environ=None, prefix="MESOS_"):
    """argv (without the program name) -> {flag name: text value}; booleans
    are "true"/"false". Raises FlagError with stout's message."""
    table = dict(table, help=True, **LOGGING_FLAGS)
    environ = os.environ if environ is None else environ
    given = []
    for raw in argv:
        arg = raw.strip()
        if arg == "--":
            break
        if not arg.startswith("--"):
            continue  # stout skips what does not look like a flag
        if "=" in arg:
            name, value = arg[2:].split("=", 1)
        else:
            name, value = arg[2:], None
        given.append((name.lower(), value))
    names = {n for n, _ in given}
    for key, value in sorted(environ.items()):
        if not key.startswith(prefix):
            continue
        name = key[len(prefix):].lower()
        bare = name[3:] if name.startswith("no-") else name
        if (bare in table or bare in aliases) and name not in names:
            given.append((name, value))
    out, loaded = {}, {}
    for name, value in given:
        negated = name.startswith("no-")
        flag = name[3:] if negated else name
        real = aliases.get(flag, flag)
        if real not in table:
            raise FlagError("Failed to load unknown flag '%s'%s" % (flag, " via '%s'" % name if negated else ""))
        if real in loaded:
            raise FlagError("Flag '%s' is already loaded via name '%s'" % (flag, loaded[real]))
        loaded[real] = name
        if not table[real]:
            if negated:
                raise FlagError("Failed to load non-boolean flag '%s' via '%s'" % (flag, name))
            if value is None:
                raise FlagError("Failed to load non-boolean flag '%s': Missing value" % flag)
            out[real] = value
        else:
            if value is None or value == "":
                out[real] = "false" if negated else "true"
            elif negated:
                raise FlagError("Failed to load boolean flag '%s' via '%s' with value '%s'" % (flag, name, value))
            elif value.lower() in ("true", "1", "false", "0"):
                out[real] = "true" if value.lower() in ("true", "1") else "false"
            else:
                raise FlagError("Failed to load flag '%s': Expecting a boolean (e.g., true or false)" % flag)
    return out


def integer(flags, name, default=None):
    """An int flag (stout's parse<T>: a number or the load fails)."""
    if name not in flags:
        return default
    try:
        return int(flags[name].strip())
    except ValueError:
        raise FlagError("Failed to load flag '%s': Failed to convert into required type" % name)


def secure_value(text):
    """SecurePathOrValue: "file:///path" reads the file, else the text."""
    if text.startswith("file://"):
        path = text[len("file://"):]
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError as e:
            raise FlagError("Error reading file '%s': %s" % (path, e.strerror))
    return text


def parse_attributes(text):
    """"rack:r1;env:staging;cores:4" -> {"rack": "r1", ...}; numbers become
    scalars, as Attributes::parse does."""
    out = {}
    for item in filter(None, (s.strip() for s in text.split(";"))):
        if ":" not in item:
            raise FlagError("Failed to load flag 'attributes': Invalid attribute '%s'" % item)
        k, v = item.split(":", 1)
        try:
            out[k] = float(v) if re.match(r"^-?\d+(\.\d+)?$", v) else v
        except ValueError:
            out[k] = v
    return out


_RANGE = re.compile(r"^\[\s*(\d+)\s*-\s*(\d+)\s*(?:,\s*(\d+)\s*-\s*(\d+)\s*)*\]$")


def parse_resources(text):
    """"cpus:2;mem:1024;ports:[31000-32000]" (roles "cpus(r):2" accepted) ->
    {"cpus": 2.0, "mem": 1024.0, "disk": ..., "ports": [(lo, hi), ...]}."""
    out = {}
    text = text.strip()
    if text.startswith("["):
        import json
        try:
            items = json.loads(text)
        except ValueError as e:
            raise FlagError("Failed to load flag 'resources': %s" % e)
        for r in items:
            if r.get("type") == "RANGES":
                out[r["name"]] = [(x["begin"], x["end"]) for x in r["ranges"]["range"]]
            else:
                out[r["name"]] = float(r["scalar"]["value"])
        return out
    for item in filter(None, (s.strip() for s in text.split(";"))):
        if ":" not in item:
            raise FlagError("Bad value for resources, missing ':' within %s" % item)
        name, value = item.split(":", 1)
        name = name.split("(")[0].strip()
        value = value.strip()
        if value.startswith("["):
            ranges = re.findall(r"(\d+)\s*-\s*(\d+)", value)
            if not ranges:
                raise FlagError("Failed to parse resource %s value %s error Expecting one or more \"ranges\"" %
                                (name, value))
            out[name] = [(int(a), int(b)) for a, b in ranges]
        else:
            try:
                out[name] = float(value)
            except ValueError:
                raise FlagError("Failed to parse resource %s value %s error Expecting a number" % (name, value))
    return out


def ranges_text(ranges):
    return "[" + ", ".join("%d-%d" % r for r in ranges) + "]"
