"""Wiring: discovery documents, state, services, gateway and server."""
from .auth import CLOUD_PLATFORM, Auth
from .catalog import Catalog
from .core import Config, Emulator
from .discovery import Discovery
from .dns import Dns
from .faults import KINDS, Faults
from .hosts import HostPool
from .images import Images
from .instances import Instances
from .lb import LoadBalancing
from .migs import Groups
from .networks import Networks
from .operations import OperationMethods, Operations
from .routers import Routers
from .server import Gateway, Server
from .templates import Templates


def build(seed, address, service_accounts=None, authorized_users=None, hosts=(),
          operation_seconds=1.0, time_scale=1.0, token_seconds=3600,
          faults=(0.0, KINDS, 300, None), log_path=None, loopback_addresses=False,
          metadata_account=None, metadata_scopes=(CLOUD_PLATFORM,), instance_address=None):
    """A bound, not yet serving, Server; its .gateway.emulator holds the state.

    service_accounts: {email: [public keys]}; authorized_users: {client_id:
    (secret, refresh_token)}; hosts: the pool hostpool.sh wrote. With instance_address (an address of
    this machine that the pool hosts reach), a second bound Server there is
    .instance_server: the metadata server and the APIs as instances with a
    service account reach them (their startup script's environment)."""
    config = Config(seed, list(hosts), operation_seconds, time_scale, token_seconds,
                    loopback_addresses)
    emulator = Emulator(config)
    discovery = Discovery()
    auth = Auth(emulator, service_accounts or {}, authorized_users or {}, metadata_account,
                metadata_scopes)
    emulator.services["operations"] = Operations(emulator)
    emulator.services["hosts"] = HostPool(emulator, hosts)
    services = {
        "catalog": Catalog(emulator), "networks": Networks(emulator),
        "routers": Routers(emulator), "images": Images(emulator),
        "instances": Instances(emulator), "templates": Templates(emulator),
        "groups": Groups(emulator), "lb": LoadBalancing(emulator), "dns": Dns(emulator),
        "operation_methods": OperationMethods(emulator),
    }
    emulator.services.update(services)
    emulator.services["auth"] = auth
    gateway = Gateway(emulator, discovery, auth, Faults(*faults), log_path)
    for service in services.values():
        gateway.register(service)
    server = Server(address, gateway)
    server.instance_server = None
    if instance_address is not None:
        server.instance_server = Server((instance_address, 0), gateway)
        config.instance_endpoint = "%s:%d" % server.instance_server.server_address[:2]
    emulator.start()
    return server
