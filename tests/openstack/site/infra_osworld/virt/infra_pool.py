"""nova's fake virt driver, with servers on host pool subnets made real hosts.

A server of nova's FakeDriver is no host at all: nothing answers at its
address. For SSH bootstrap tests the world maps servers to the namespace
hosts of tests/harness/hostpool.sh pools:

- A pool is registered by putting its hosts.json (or a copy) into the
  world's pools directory, DIR/pools/NAME.json; every file there is read
  again at each boot.
- When a server is booted with a port on a Neutron subnet whose CIDR holds
  addresses of registered pool hosts, the port's fixed IP on that subnet is
  changed, through Neutron, to the address of a pool host that no other port
  holds (Neutron allocated the first address; Neutron refuses an address
  another port has, so two servers never share a host). No free host: the
  build fails with a fault saying so.
- A snapshot (the createImage action) uploads to Glance, as a real driver
  uploads the disk, a few bytes naming the server and the pool host it
  ran on, so that the image goes `active` as on a cloud. What a build put
  on the host is not in those bytes: a server booted from the image is
  another pool host, not a copy of the disk.
- The console (os-getConsoleOutput) shows, as cloud-init does, the SSH host
  key fingerprints and keys of the host the server was mapped to, read from
  that host's sshd. Servers on other subnets show a stable made-up
  fingerprint, so clients can parse the block.

nova loads it as compute_driver = infra_pool.PoolDriver (see
infra_osworld.nova_compute for how it gets into nova.virt).
"""
import base64
import glob
import hashlib
import io
import ipaddress
import json
import os
import tempfile

from neutronclient.common import exceptions as neutron_exc
from oslo_concurrency import processutils
from oslo_log import log as logging

from nova import exception
from nova.image import glance
from nova.network import neutron as neutron_api
from nova.virt import fake

LOG = logging.getLogger(__name__)


def _pools_dir():
    return os.environ.get("OSWORLD_POOLS", "")


def pool_hosts():
    """Every host of every registered pool: dicts with address, ssh_host_key_fingerprint..."""
    hosts = []
    directory = _pools_dir()
    if not directory:
        return hosts
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        try:
            with open(path) as f:
                listed = json.load(f)
        except (OSError, ValueError) as e:
            LOG.warning("host pool file %s unreadable: %s", path, e)
            continue
        for host in listed if isinstance(listed, list) else []:
            if isinstance(host, dict) and host.get("address"):
                hosts.append(host)
    return hosts


def _in_subnet(address, cidr):
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False


class PoolDriver(fake.FakeDriver):
    """FakeDriver whose servers on pool subnets take pool hosts' addresses."""

    def __init__(self, virtapi, read_only=False):
        super().__init__(virtapi, read_only)
        self._keys = {}  # (address, pool fingerprint) -> (fingerprint lines, key lines)

    def spawn(self, context, instance, image_meta, injected_files, admin_password,
              allocations, network_info=None, block_device_info=None, power_on=True,
              accel_info=None):
        if network_info:
            self._map_to_pool(context, instance, network_info)
        super().spawn(context, instance, image_meta, injected_files, admin_password,
                      allocations, network_info=network_info,
                      block_device_info=block_device_info, power_on=power_on,
                      accel_info=accel_info)

    def snapshot(self, context, instance, image_id, update_task_state):
        super().snapshot(context, instance, image_id, update_task_state)
        api = glance.API()
        image = api.get(context, image_id)
        addresses = [ip["address"] for vif in instance.get_network_info()
                     for ip in vif.fixed_ips()]
        data = ("snapshot of server %s (%s)\n" % (instance.uuid, " ".join(addresses))).encode()
        metadata = {"disk_format": image.get("disk_format") or "raw",
                    "container_format": image.get("container_format") or "bare"}
        api.update(context, image_id, metadata, data=io.BytesIO(data), purge_props=False)
        LOG.info("server %s: snapshot %s uploaded (%d bytes)", instance.uuid, image_id, len(data))

    def _map_to_pool(self, context, instance, network_info):
        hosts = pool_hosts()
        if not hosts:
            return
        client = neutron_api.get_client(context, admin=True)
        changed = False
        for vif in network_info:
            port = client.show_port(vif["id"])["port"]
            fixed = [{"subnet_id": f["subnet_id"], "ip_address": f["ip_address"]}
                     for f in port["fixed_ips"]]
            for i, entry in enumerate(list(fixed)):
                cidr = client.show_subnet(entry["subnet_id"])["subnet"]["cidr"]
                candidates = [h["address"] for h in hosts if _in_subnet(h["address"], cidr)]
                if not candidates or entry["ip_address"] in candidates:
                    continue
                for address in candidates:
                    wanted = list(fixed)
                    wanted[i] = {"subnet_id": entry["subnet_id"], "ip_address": address}
                    try:
                        client.update_port(port["id"], {"port": {"fixed_ips": wanted}})
                    except (neutron_exc.Conflict, neutron_exc.BadRequest):
                        continue  # another port holds it, or it is the gateway
                    LOG.info("server %s: port %s now has pool host address %s",
                             instance.uuid, port["id"], address)
                    fixed = wanted
                    changed = True
                    break
                else:
                    raise exception.BuildAbortException(
                        instance_uuid=instance.uuid,
                        reason="no free host of the test pool in subnet %s (%s)" % (
                            entry["subnet_id"], cidr))
        if changed:
            # The instance's network info cache holds the first address.
            neutron_api.API().get_instance_nw_info(context, instance)

    def get_console_output(self, context, instance):
        addresses = []
        for vif in instance.get_network_info():
            addresses.extend(ip["address"] for ip in vif.fixed_ips())
        hosts = {h["address"]: h for h in pool_hosts()}
        name = "root@" + (instance.hostname or instance.uuid)
        fps, keys = None, []
        for address in addresses:
            if address in hosts:
                fps, keys = self._host_keys(hosts[address], name)
                break
        if fps is None:
            digest = base64.b64encode(hashlib.sha256(instance.uuid.encode()).digest())
            fps = ["256 SHA256:%s %s (ECDSA)" % (digest.decode().rstrip("="), name)]
        lines = ["[    0.000000] Linux version 6.1.0 (console of the test world's %s)"
                 % instance.uuid,
                 "Cloud-init v. 22.4.2 running 'modules:config'.",
                 "-----BEGIN SSH HOST KEY FINGERPRINTS-----"]
        lines.extend(fps)
        lines.append("-----END SSH HOST KEY FINGERPRINTS-----")
        if keys:
            lines.append("-----BEGIN SSH HOST KEY KEYS-----")
            lines.extend(keys)
            lines.append("-----END SSH HOST KEY KEYS-----")
        lines.append("Cloud-init v. 22.4.2 finished.")
        return "\n".join(lines) + "\n"

    def _host_keys(self, host, name):
        """Fingerprint and key lines of every key the pool host's sshd presents."""
        cache_key = (host["address"], host.get("ssh_host_key_fingerprint", ""), name)
        if cache_key in self._keys:
            return self._keys[cache_key]
        try:
            scanned, _err = processutils.execute("ssh-keyscan", "-T", "5", host["address"])
        except processutils.ProcessExecutionError as e:
            LOG.warning("ssh-keyscan %s failed: %s", host["address"], e)
            return [], []
        fps, keys = [], []
        with tempfile.TemporaryDirectory(prefix="osworld-keys-") as tmp:
            for line in sorted(set(scanned.splitlines())):
                fields = line.split()
                if len(fields) < 3 or line.startswith("#"):
                    continue
                probe = os.path.join(tmp, "key")
                with open(probe, "w") as f:
                    f.write(line + "\n")
                try:
                    out, _err = processutils.execute("ssh-keygen", "-l", "-f", probe)
                except processutils.ProcessExecutionError:
                    continue
                parts = out.split()
                if len(parts) >= 3:
                    fps.append("%s %s %s %s" % (parts[0], parts[1], name, parts[-1]))
                    keys.append("%s %s %s" % (fields[1], fields[2], name))
        if fps:
            self._keys[cache_key] = (fps, keys)
        return fps, keys
