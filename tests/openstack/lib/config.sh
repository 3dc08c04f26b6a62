# shellcheck shell=bash
# Every configuration file of the world (sourced by world.sh), written into
# DIR/etc from the values of DIR/world.env. Needs $site, $tools and die.

# config_world_env DIR: ports, passwords and names of this world, in
# DIR/world.env (mode 600: it holds the passwords).
config_world_env() {
  local dir=$1 ports designate=0 octavia=0
  mapfile -t ports < <(/usr/bin/python3 "$tools/world.py" ports 14)
  [ ${#ports[@]} -eq 14 ] || die "could not find free ports on 127.0.0.1"
  if [ "${OSWORLD_DESIGNATE:-1}" = 1 ] && /usr/bin/python3 -c 'import designate' 2>/dev/null &&
    command -v named >/dev/null && command -v rndc >/dev/null; then
    designate=1
  fi
  if [ "${OSWORLD_OCTAVIA:-1}" = 1 ] && /usr/bin/python3 -c 'import octavia' 2>/dev/null; then
    octavia=1
  fi
  pw() { openssl rand -hex 16; }
  umask 077
  cat >"$dir/world.env" <<EOF
# The OpenStack test world in $dir (written by world.sh start).
OSWORLD_DIR=$dir
REGION=GRA7
KEYSTONE_PORT=${ports[0]}
PLACEMENT_PORT=${ports[1]}
GLANCE_PORT=${ports[2]}
NOVA_PORT=${ports[3]}
NEUTRON_PORT=${ports[4]}
DESIGNATE_PORT=${ports[5]}
OCTAVIA_PORT=${ports[6]}
RABBIT_PORT=${ports[7]}
RABBIT_DIST_PORT=${ports[8]}
EPMD_PORT=${ports[9]}
BIND_PORT=${ports[10]}
MDNS_PORT=${ports[11]}
RNDC_CONTROL_PORT=${ports[12]}
KEYSTONE_URL=http://127.0.0.1:${ports[0]}/v3
DESIGNATE=$designate
OCTAVIA=$octavia
TOKEN_EXPIRATION=${OSWORLD_TOKEN_EXPIRATION:-3600}
TOKEN_CACHE_TIME=${OSWORLD_TOKEN_CACHE_TIME:-300}
START_TIMEOUT=${OSWORLD_START_TIMEOUT:-180}
DB_SOCKET=$dir/state/mysql.sock
DB_PASSWORD=$(pw)
ADMIN_PASSWORD=$(pw)
SERVICE_PASSWORD=$(pw)
PROJECT_NAME=9d5e5ad1c4b84f5a
USER_NAME=user-osworld
USER_PASSWORD=$(pw)
EXT_CIDR=203.0.113.0/24
EXT_GATEWAY=203.0.113.1
HM_PORT=${ports[13]}
EOF
  umask 022
}

# The [keystone_authtoken] of a service whose keystone user is USER.
config_authtoken() {
  cat <<EOF
[keystone_authtoken]
www_authenticate_uri = $KEYSTONE_URL
auth_url = $KEYSTONE_URL
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $SERVICE_PASSWORD
region_name = $REGION
service_token_roles_required = true
service_type = $2
token_cache_time = $TOKEN_CACHE_TIME
EOF
}

# A keystone password section [NAME] for USER (nova's [neutron], [placement]...).
config_auth_section() {
  cat <<EOF
[$1]
auth_url = $KEYSTONE_URL
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $2
password = $SERVICE_PASSWORD
region_name = $REGION
EOF
}

db_url() { echo "mysql+pymysql://openstack:$DB_PASSWORD@localhost/$1?unix_socket=$DB_SOCKET&charset=utf8mb4"; }
rabbit_url() { echo "rabbit://guest:guest@127.0.0.1:$RABBIT_PORT/"; }

# The [DEFAULT] lines every service shares; its own [DEFAULT] lines follow.
config_default() {
  cat <<EOF
[DEFAULT]
debug = false
use_stderr = true
transport_url = $(rabbit_url)
state_path = $1
graceful_shutdown_timeout = 5
EOF
}

# The sections every service shares, at the end of its file.
config_shared() {
  cat <<EOF

[oslo_concurrency]
lock_path = $1/locks

[oslo_messaging_notifications]
driver = noop

[oslo_policy]
enforce_scope = false
enforce_new_defaults = false
EOF
}

config_keystone() {
  local dir=$1 etc=$1/etc/keystone
  mkdir -p "$etc" "$dir/state/keystone"
  cat >"$etc/keystone.conf" <<EOF
$(config_default "$dir/state/keystone")

[database]
connection = $(db_url keystone)

[token]
provider = fernet
expiration = $TOKEN_EXPIRATION

[fernet_tokens]
key_repository = $dir/state/keystone/fernet-keys

[fernet_receipts]
key_repository = $dir/state/keystone/fernet-keys

[credential]
key_repository = $dir/state/keystone/credential-keys
$(config_shared "$dir/state/keystone")
EOF
}

config_placement() {
  local dir=$1 etc=$1/etc/placement
  mkdir -p "$etc"
  cat >"$etc/placement.conf" <<EOF
$(config_default "$dir/state")

[api]
auth_strategy = keystone

[placement_database]
connection = $(db_url placement)

$(config_authtoken placement placement)
$(config_shared "$dir/state")
EOF
}

config_glance() {
  local dir=$1 etc=$1/etc/glance
  mkdir -p "$etc" "$dir/state/glance/images" "$dir/state/glance/staging" "$dir/state/glance/tasks"
  cat >"$etc/glance-api.conf" <<EOF
$(config_default "$dir/state/glance")
bind_host = 127.0.0.1
bind_port = $GLANCE_PORT
workers = 1
enabled_backends = fs:file
show_image_direct_url = false

[database]
connection = $(db_url glance)

[glance_store]
default_backend = fs

[fs]
filesystem_store_datadir = $dir/state/glance/images

[os_glance_staging_store]
filesystem_store_datadir = $dir/state/glance/staging

[os_glance_tasks_store]
filesystem_store_datadir = $dir/state/glance/tasks

[paste_deploy]
flavor = keystone
config_file = $etc/glance-api-paste.ini

$(config_authtoken glance image)
$(config_shared "$dir/state/glance")
EOF
  cat >"$etc/glance-api-paste.ini" <<'EOF'
[pipeline:glance-api-keystone]
pipeline = versionnegotiation authtoken context rootapp

[composite:rootapp]
paste.composite_factory = glance.api:root_app_factory
/: apiversions
/v2: apiv2app

[app:apiversions]
paste.app_factory = glance.api.versions:create_resource

[app:apiv2app]
paste.app_factory = glance.api.v2.router:API.factory

[filter:versionnegotiation]
paste.filter_factory = glance.api.middleware.version_negotiation:VersionNegotiationFilter.factory

[filter:context]
paste.filter_factory = glance.api.middleware.context:ContextMiddleware.factory

[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
delay_auth_decision = true
EOF
}

# nova.conf for the API, conductor and scheduler; nova-compute.conf the same
# without database access (a compute node reaches the database through the
# conductor only).
config_nova() {
  local dir=$1 etc=$1/etc/nova
  mkdir -p "$etc" "$dir/state/nova/instances"
  local body
  body=$(
    cat <<EOF
$(config_default "$dir/state/nova")
host = osworld-compute
my_ip = 127.0.0.1
enabled_apis = osapi_compute
osapi_compute_listen = 127.0.0.1
osapi_compute_listen_port = $NOVA_PORT
osapi_compute_workers = 1
compute_driver = infra_pool.PoolDriver
instances_path = $dir/state/nova/instances
heal_instance_info_cache_interval = -1

[api]
auth_strategy = keystone

[wsgi]
api_paste_config = $etc/api-paste.ini

[conductor]
workers = 1

[scheduler]
workers = 1
discover_hosts_in_cells_interval = 2

[filter_scheduler]
enabled_filters = ComputeFilter,ImagePropertiesFilter

[vnc]
enabled = false

[glance]
region_name = $REGION
valid_interfaces = internal,public

[cinder]
os_region_name = $REGION

$(config_auth_section placement placement)
valid_interfaces = internal,public

$(config_auth_section neutron neutron)
valid_interfaces = internal,public

$(config_auth_section service_user nova)
send_service_user_token = true

$(config_authtoken nova compute)
$(config_shared "$dir/state/nova")
EOF
  )
  printf '%s\n' "$body" >"$etc/nova-compute.conf"
  cat >"$etc/nova.conf" <<EOF
$body

[api_database]
connection = $(db_url nova_api)

[database]
connection = $(db_url nova)
EOF
  cat >"$etc/api-paste.ini" <<'EOF'
[composite:osapi_compute]
use = call:nova.api.openstack.urlmap:urlmap_factory
/: oscomputeversions
/v2.1: oscomputeversion_v2
/v2.1/+: openstack_compute_api_v21

[composite:openstack_compute_api_v21]
use = call:nova.api.auth:pipeline_factory_v21
keystone = compute_req_id faultwrap request_log sizelimit authtoken keystonecontext osapi_compute_app_v21

[filter:request_log]
paste.filter_factory = nova.api.openstack.requestlog:RequestLog.factory

[filter:compute_req_id]
paste.filter_factory = nova.api.compute_req_id:ComputeReqIdMiddleware.factory

[filter:faultwrap]
paste.filter_factory = nova.api.openstack:FaultWrapper.factory

[filter:sizelimit]
paste.filter_factory = oslo_middleware:RequestBodySizeLimiter.factory

[filter:keystonecontext]
paste.filter_factory = nova.api.auth:NovaKeystoneContext.factory

[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory

[app:osapi_compute_app_v21]
paste.app_factory = nova.api.openstack.compute.routes:APIRouterV21.factory

[pipeline:oscomputeversions]
pipeline = faultwrap request_log oscomputeversionapp

[app:oscomputeversionapp]
paste.app_factory = nova.api.openstack.compute.versions:Versions.factory

[pipeline:oscomputeversion_v2]
pipeline = compute_req_id faultwrap request_log oscomputeversionapp_v2

[app:oscomputeversionapp_v2]
paste.app_factory = nova.api.openstack.compute.versions:VersionsV2.factory
EOF
}

config_neutron() {
  local dir=$1 etc=$1/etc/neutron
  mkdir -p "$etc" "$dir/state/neutron"
  cat >"$etc/neutron.conf" <<EOF
$(config_default "$dir/state/neutron")
bind_host = 127.0.0.1
bind_port = $NEUTRON_PORT
api_workers = 1
rpc_workers = 1
rpc_state_report_workers = 0
core_plugin = ml2
service_plugins = router
allow_overlapping_ips = true
auth_strategy = keystone
api_paste_config = $etc/api-paste.ini
notify_nova_on_port_status_changes = true
notify_nova_on_port_data_changes = true

[database]
connection = $(db_url neutron)

[ml2]
type_drivers = flat,vxlan
tenant_network_types = vxlan
mechanism_drivers = osworld_bindall
extension_drivers = port_security

[ml2_type_flat]
flat_networks = public

[ml2_type_vxlan]
vni_ranges = 1:10000

$(config_auth_section nova nova)

$(config_authtoken neutron network)
$(config_shared "$dir/state/neutron")
EOF
  cat >"$etc/api-paste.ini" <<'EOF'
[composite:neutron]
use = egg:Paste#urlmap
/: neutronversions_composite
/v2.0: neutronapi_v2_0

[composite:neutronapi_v2_0]
use = call:neutron.auth:pipeline_factory
keystone = request_id catch_errors extensions_authtoken keystonecontext extensions neutronapiapp_v2_0

[composite:neutronversions_composite]
use = call:neutron.auth:pipeline_factory
keystone = neutronversions

[filter:request_id]
paste.filter_factory = oslo_middleware:RequestId.factory

[filter:catch_errors]
paste.filter_factory = oslo_middleware:CatchErrors.factory

[filter:keystonecontext]
paste.filter_factory = neutron.auth:NeutronKeystoneContext.factory

[filter:extensions_authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory

[filter:extensions]
paste.filter_factory = neutron.api.extensions:plugin_aware_extension_middleware_factory

[app:neutronversions]
paste.app_factory = neutron.pecan_wsgi.app:versions_factory

[app:neutronapiapp_v2_0]
paste.app_factory = neutron.api.v2.router:APIRouter.factory
EOF
}

config_designate() {
  local dir=$1 etc=$1/etc/designate bind=$1/etc/bind state=$1/state/bind
  mkdir -p "$etc" "$bind" "$state" "$dir/state/designate"
  # BIND: loopback only, zones added over rndc by designate's bind9 backend
  # and transferred from designate-mdns.
  tsig-keygen -a hmac-sha256 rndc-key >"$bind/rndc.key"
  cat >"$bind/named.conf" <<EOF
include "$bind/rndc.key";
options {
  directory "$state";
  pid-file "$state/named.pid";
  listen-on port $BIND_PORT { 127.0.0.1; };
  listen-on-v6 { none; };
  allow-new-zones yes;
  allow-query { 127.0.0.1; };
  allow-notify { 127.0.0.1; };
  recursion no;
  notify no;
  dnssec-validation no;
  empty-zones-enable no;
  session-keyfile "$state/session.key";
  managed-keys-directory "$state";
};
controls {
  inet 127.0.0.1 port $RNDC_CONTROL_PORT allow { 127.0.0.1; } keys { "rndc-key"; };
};
logging {
  channel out { stderr; severity info; print-time yes; };
  category default { out; };
};
EOF
  cat >"$bind/rndc.conf" <<EOF
include "$bind/rndc.key";
options {
  default-key "rndc-key";
  default-server 127.0.0.1;
  default-port $RNDC_CONTROL_PORT;
};
EOF
  cat >"$etc/designate.conf" <<EOF
$(config_default "$dir/state/designate")

[service:api]
listen = 127.0.0.1:$DESIGNATE_PORT
api_base_uri = http://127.0.0.1:$DESIGNATE_PORT/
auth_strategy = keystone
enable_api_v2 = true
enable_api_admin = true
enabled_extensions_admin = quotas
workers = 1
api_paste_config = $etc/api-paste.ini

[service:central]
workers = 1

[service:worker]
workers = 1
poll_delay = 1
poll_retry_interval = 1

[service:producer]
workers = 1

[service:mdns]
listen = 127.0.0.1:$MDNS_PORT
workers = 1

[storage:sqlalchemy]
connection = $(db_url designate)

$(config_authtoken designate dns)
$(config_shared "$dir/state/designate")
EOF
  cat >"$etc/pools.yaml" <<EOF
- name: default
  description: BIND of the test world
  attributes: {}
  ns_records:
    - hostname: ns1.osworld.test.
      priority: 1
  nameservers:
    - host: 127.0.0.1
      port: $BIND_PORT
  targets:
    - type: bind9
      description: BIND of the test world
      masters:
        - host: 127.0.0.1
          port: $MDNS_PORT
      options:
        host: 127.0.0.1
        port: $BIND_PORT
        rndc_host: 127.0.0.1
        rndc_port: $RNDC_CONTROL_PORT
        rndc_config_file: $bind/rndc.conf
EOF
  cat >"$etc/api-paste.ini" <<'EOF'
[composite:osapi_dns]
use = egg:Paste#urlmap
/: osapi_dns_versions
/v2: osapi_dns_v2
/admin: osapi_dns_admin

[composite:osapi_dns_versions]
use = call:designate.api.middleware:auth_pipeline_factory
keystone = faultwrapper osapi_dns_app_versions

[app:osapi_dns_app_versions]
paste.app_factory = designate.api.versions:factory

[composite:osapi_dns_v2]
use = call:designate.api.middleware:auth_pipeline_factory
keystone = request_id faultwrapper validation_API_v2 authtoken keystonecontext maintenance normalizeuri osapi_dns_app_v2

[app:osapi_dns_app_v2]
paste.app_factory = designate.api.v2:factory

[composite:osapi_dns_admin]
use = call:designate.api.middleware:auth_pipeline_factory
keystone = request_id faultwrapper authtoken keystonecontext maintenance normalizeuri osapi_dns_app_admin

[app:osapi_dns_app_admin]
paste.app_factory = designate.api.admin:factory

[filter:request_id]
paste.filter_factory = oslo_middleware:RequestId.factory

[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory

[filter:keystonecontext]
paste.filter_factory = designate.api.middleware:KeystoneContextMiddleware.factory

[filter:maintenance]
paste.filter_factory = designate.api.middleware:MaintenanceMiddleware.factory

[filter:normalizeuri]
paste.filter_factory = designate.api.middleware:NormalizeURIMiddleware.factory

[filter:faultwrapper]
paste.filter_factory = designate.api.middleware:FaultWrapperMiddleware.factory

[filter:validation_API_v2]
paste.filter_factory = designate.api.middleware:APIv2ValidationErrorMiddleware.factory
EOF
}

config_octavia() {
  local dir=$1 etc=$1/etc/octavia
  mkdir -p "$etc" "$dir/state/octavia"
  # The CA that signs the (noop) amphorae's certificates, as a deployment has.
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=osworld-octavia-ca \
    -keyout "$etc/ca.key" -out "$etc/ca.pem" 2>/dev/null || die "openssl could not make the Octavia CA"
  cat >"$etc/octavia.conf" <<EOF
$(config_default "$dir/state/octavia")

[api_settings]
bind_host = 127.0.0.1
bind_port = $OCTAVIA_PORT
auth_strategy = keystone
api_base_uri = http://127.0.0.1:$OCTAVIA_PORT
default_provider_driver = amphora
enabled_provider_drivers = amphora:The Octavia amphora driver (noop amphorae in this world)

[database]
connection = $(db_url octavia)

[controller_worker]
workers = 1
client_ca = $etc/ca.pem
amphora_driver = amphora_noop_driver
compute_driver = compute_noop_driver
network_driver = network_noop_driver
volume_driver = volume_noop_driver
image_driver = image_noop_driver
loadbalancer_topology = SINGLE
amp_image_tag = amphora
amp_flavor_id = amphora
amp_boot_network_list = 00000000-0000-0000-0000-000000000001
amp_secgroup_list = 00000000-0000-0000-0000-000000000002

[task_flow]
jobboard_enabled = false

[health_manager]
bind_ip = 127.0.0.1
bind_port = $HM_PORT
controller_ip_port_list = 127.0.0.1:$HM_PORT
heartbeat_key = $(openssl rand -hex 16)
health_update_threads = 1
stats_update_threads = 1

[house_keeping]
cleanup_interval = 3600

[oslo_messaging]
topic = octavia_prov

[certificates]
cert_manager = local_cert_manager
cert_generator = local_cert_generator
ca_certificate = $etc/ca.pem
ca_private_key = $etc/ca.key
server_certs_key_passphrase = $(openssl rand -hex 16)
storage_path = $dir/state/octavia/certs

$(config_auth_section service_auth octavia)

$(config_authtoken octavia load-balancer)
$(config_shared "$dir/state/octavia")
EOF
}

config_write_all() {
  local dir=$1
  mkdir -p "$dir/state/locks"
  config_keystone "$dir"
  config_placement "$dir"
  config_glance "$dir"
  config_nova "$dir"
  config_neutron "$dir"
  [ "$DESIGNATE" != 1 ] || config_designate "$dir"
  [ "$OCTAVIA" != 1 ] || config_octavia "$dir"
}
