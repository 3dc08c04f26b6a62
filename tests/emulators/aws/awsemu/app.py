"""Wiring: models, state, services, gateway and server."""
from .autoscaling import AutoScaling
from .core import Config, Emulator
from .ec2 import Ec2
from .elb import Elb
from .faults import Faults
from .hosts import HostPool
from .model import load_models
from .route53 import Route53
from .s3 import S3
from .server import Gateway, Server


def build(credentials, seed, hosts, address, pending_seconds=1.0, time_scale=1.0,
          faults=(0.0, ("throttle", "500", "latency", "drop"), 300, None), log_path=None,
          loopback_addresses=False, instance_address=None, retention_seconds=None):
    """A bound, not yet serving, Server; its .gateway.emulator holds the state.
    With instance_address (an address of this machine that the pool hosts
    reach), a second bound Server there is .instance_server: the endpoint
    instances with an instance profile are given."""
    models = load_models()
    config = Config(credentials, seed, hosts, pending_seconds, time_scale, loopback_addresses,
                    retention_seconds=retention_seconds)
    emulator = Emulator(config)
    services = {
        "ec2": Ec2(emulator, models["ec2"]),
        "elasticloadbalancing": Elb(emulator, models["elasticloadbalancing"]),
        "autoscaling": AutoScaling(emulator, models["autoscaling"]),
        "route53": Route53(emulator, models["route53"]),
        "s3": S3(emulator, models["s3"]),
    }
    emulator.services = dict(services, hosts=HostPool(emulator, hosts))
    gateway = Gateway(emulator, models, services, Faults(*faults), log_path)
    server = Server(address, gateway)
    server.instance_server = None
    if instance_address is not None:
        server.instance_server = Server((instance_address, 0), gateway)
        config.instance_endpoint = "http://%s:%d" % server.instance_server.server_address[:2]
    emulator.start()
    return server
