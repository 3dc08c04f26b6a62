"""Marathon 1.11 command lines as its scallop parser reads them: every flag
the ScallopConf traits of mesosphere/marathon define (src/main/scala/
mesosphere/marathon/{MarathonConf,HttpConf,ZookeeperConf,...}.scala at the
1.11 release), `--name value` or `--name=value`, toggles as `--name` /
`--disable_name`, MARATHON_<NAME> environment variables turned into
arguments first (Main.envToArgs), and scallop's messages."""
import os

VALUE_FLAGS = set("""
accepted_resource_roles_default_behavior access_control_allow_origin
app_info_module_execution_context_size assets_path backup_location decline_offer_duration
default_accepted_resource_roles default_info_service_execution_context_size default_network_name
deployment_manager_request_timeout deprecated_features draining_seconds enable_features
env_vars_prefix event_stream_max_outstanding_messages executor failover_timeout framework_name
gpu_scheduling_behavior graceful_shutdown_timeout group_manager_execution_context_size
group_manager_request_timeout hostname http_address http_credentials http_max_concurrent_requests
http_port http_realm https_address https_port instance_tracker_num_parallel_loads
instance_tracker_num_parallel_updates instance_tracker_update_queue_size kill_chunk_size
kill_retry_timeout launch_queue_request_timeout launch_token_refresh_interval launch_tokens
leader_election_backend leader_proxy_connection_timeout leader_proxy_max_open_connections
leader_proxy_read_timeout local_port_max local_port_min logging_level logstash master
max_actor_startup_time max_apps max_concurrent_marathon_health_checks max_instances_per_offer
max_parallel_offers max_parallel_status_updates max_queued_offers max_queued_root_group_updates
max_queued_status_updates max_running_deployments mesos_authentication_principal
mesos_authentication_secret mesos_authentication_secret_file mesos_bridge_name
mesos_heartbeat_failure_threshold mesos_heartbeat_interval mesos_leader_ui_url mesos_role mesos_user
metrics_datadog_api_key metrics_datadog_host metrics_datadog_port metrics_datadog_protocol
metrics_datadog_transmission_interval_ms metrics_histogram_reservoir_highest_trackable_value
metrics_histogram_reservoir_resetting_chunks metrics_histogram_reservoir_resetting_interval_ms
metrics_histogram_reservoir_significant_digits metrics_name_prefix metrics_statsd_host
metrics_statsd_port metrics_statsd_transmission_interval_ms
min_mesos_offer_constraints_update_interval min_revive_offers_interval new_group_enforce_role
offer_matching_timeout on_elected_prepare_timeout plugin_conf plugin_dir
reconciliation_initial_delay reconciliation_interval scale_apps_initial_delay scale_apps_interval
scheduler_actions_execution_context_size sentry sentry_tags ssl_keystore_password ssl_keystore_path
task_launch_confirm_timeout task_launch_timeout task_lost_expunge_initial_delay
task_lost_expunge_interval task_operation_notification_timeout task_reservation_timeout
task_tracker_request_timeout task_update_request_timeout webui_url zk zk_compression_threshold
zk_connection_timeout zk_max_node_size zk_operation_base_retry_sleep_ms zk_operation_max_retries
zk_session_timeout zk_timeout
""".split())
INT_FLAGS = set("""
app_info_module_execution_context_size decline_offer_duration
default_info_service_execution_context_size deployment_manager_request_timeout draining_seconds
event_stream_max_outstanding_messages failover_timeout graceful_shutdown_timeout
group_manager_execution_context_size group_manager_request_timeout http_max_concurrent_requests
http_port https_port instance_tracker_num_parallel_loads instance_tracker_num_parallel_updates
instance_tracker_update_queue_size kill_chunk_size kill_retry_timeout launch_queue_request_timeout
launch_token_refresh_interval launch_tokens leader_proxy_connection_timeout
leader_proxy_max_open_connections leader_proxy_read_timeout local_port_max local_port_min
max_actor_startup_time max_apps max_concurrent_marathon_health_checks max_instances_per_offer
max_parallel_offers max_parallel_status_updates max_queued_offers max_queued_root_group_updates
max_queued_status_updates max_running_deployments mesos_heartbeat_failure_threshold
mesos_heartbeat_interval metrics_datadog_port metrics_datadog_transmission_interval_ms
metrics_histogram_reservoir_highest_trackable_value metrics_histogram_reservoir_resetting_chunks
metrics_histogram_reservoir_resetting_interval_ms metrics_histogram_reservoir_significant_digits
metrics_statsd_port metrics_statsd_transmission_interval_ms
min_mesos_offer_constraints_update_interval min_revive_offers_interval offer_matching_timeout
on_elected_prepare_timeout reconciliation_initial_delay reconciliation_interval
scale_apps_initial_delay scale_apps_interval scheduler_actions_execution_context_size
task_launch_confirm_timeout task_launch_timeout task_lost_expunge_initial_delay
task_lost_expunge_interval task_operation_notification_timeout task_reservation_timeout
task_tracker_request_timeout task_update_request_timeout zk_compression_threshold
zk_connection_timeout zk_max_node_size zk_operation_base_retry_sleep_ms zk_operation_max_retries
zk_session_timeout zk_timeout
""".split())
BOOLEAN_FLAGS = set("""
disable_http leader_proxy_ssl_ignore_hostname
""".split())
TOGGLES = set("""
checkpoint ha http_compression maintenance_mode mesos_authentication mesos_offer_constraints metrics
metrics_datadog metrics_histogram_reservoir_reset_periodically metrics_prometheus metrics_statsd
suppress_offers zk_compression
""".split())
REQUIRED = ['master']


class FlagError(Exception):
    """str() is what scallop prints after `[scallop] Error: `."""


def env_to_args(environ):
    """Main.envToArgs: MARATHON_X=v -> --x v; an empty value -> --x;
    MARATHON_APP_* are left alone (Marathon gives those to its tasks)."""
    out = []
    for k, v in environ.items():
        if k.startswith("MARATHON_APP_") or not k.startswith("MARATHON_"):
            continue
        out.append("--" + k[len("MARATHON_"):].lower())
        if v:
            out.append(v)
    return out


def load(argv, environ=None):
    """-> {name: value}; toggles and booleans are True/False. Raises FlagError."""
    environ = os.environ if environ is None else environ
    args = env_to_args(environ) + list(argv)
    out = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            raise FlagError("Excess arguments provided: '%s'" % " ".join(args[i:]))
        name, value = arg[2:], None
        if "=" in name:
            name, value = name.split("=", 1)
        if name in TOGGLES or (name.startswith("disable_") and name[8:] in TOGGLES):
            if value is not None:
                raise FlagError("Bad arguments for option '%s': '%s' - wrong arguments format" % (name, value))
            if name in TOGGLES:
                out[name] = True
            else:
                out[name[8:]] = False
            i += 1
            continue
        if name in BOOLEAN_FLAGS:
            out[name] = value not in ("false",) if value is not None else True
            i += 1
            continue
        if name not in VALUE_FLAGS:
            raise FlagError("Unknown option '%s'" % name)
        if value is None:
            if i + 1 >= len(args) or args[i + 1].startswith("--"):
                raise FlagError("Bad arguments for option '%s': '' - wrong arguments format" % name)
            value = args[i + 1]
            i += 1
        if name in INT_FLAGS:
            try:
                int(value)
            except ValueError:
                raise FlagError("Bad arguments for option '%s': '%s' - wrong arguments format" % (name, value))
        out[name] = value
        i += 1
    for name in REQUIRED:
        if name not in out:
            raise FlagError("Required option '%s' not found" % name)
    return out
