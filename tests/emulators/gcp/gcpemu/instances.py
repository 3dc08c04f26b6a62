"""Instances: insert (pool hosts, quota), lifecycle, labels/metadata/tags with fingerprints, serial port."""
import ipaddress
import types

from . import errors, refs
from .core import public, rfc3339
from .errors import OperationError
from .hosts import parse_ssh_keys
from .images import set_labels
from .instance_spec import InstanceSpec
from .resources import Base
from .routers import allocate_public_ip, sync_address_users
from .server import handles

_SERIAL_PORTS = (1, 2, 3, 4)


def background_context(project):
    """What InstanceSpec needs when no request is behind the work (group launches)."""
    return types.SimpleNamespace(project=project, principal="system", params={})


class Instances(Base):
    def __init__(self, emulator):
        super().__init__(emulator)
        self._loopback = set()

    def before_reset(self):
        """Pool hosts are cleaned and given back; the state itself is then dropped."""
        for project in self.emulator.projects.values():
            for _, items in project.scopes_of("instances"):
                for inst in items.values():
                    self.release(inst)
            for (_, coll, _), item in project.pending_items.items():
                if coll == "instances":
                    self.release(item)

    def after_reset(self):
        self._loopback = set()

    @property
    def pool(self):
        return self.emulator.services["hosts"]

    # -- building one --------------------------------------------------------------------
    def materialize(self, ctx, zone, props, name, field, template=False):
        """An instance (not yet placed or stored) and the disks it makes."""
        spec = InstanceSpec(self, ctx, zone, field, template)
        mt = spec.machine_type(props)
        disks = spec.disks(props, name)
        nics = spec.interfaces(props)
        accounts = spec.service_accounts(props)
        scope = "zones/" + zone
        project = ctx.project
        link = refs.link(project.name, scope, "instances", name)
        inst = {"kind": "compute#instance", "id": self.ids.numeric(),
                "creationTimestamp": rfc3339(), "name": name,
                "machineType": mt["selfLink"], "status": "RUNNING",
                "zone": refs.scope_link(project.name, scope),
                "canIpForward": bool(props.get("canIpForward", False)),
                "networkInterfaces": nics, "disks": [a for a, _ in disks],
                "selfLink": link, "cpuPlatform": "Intel Broadwell", "startRestricted": False,
                "deletionProtection": bool(props.get("deletionProtection", False)),
                "_cpus": mt["guestCpus"], "_disks": [d for _, d in disks if d is not None],
                "_host": None, "_ready": True}
        if props.get("description"):
            inst["description"] = props["description"]
        if accounts:
            inst["serviceAccounts"] = accounts
        inst.update(spec.common(props))
        for disk in inst["_disks"]:
            disk["users"] = [link]
            disk["lastAttachTimestamp"] = inst["creationTimestamp"]
        for disk in inst["_disks"]:
            if disk["name"] in project.coll(scope, "disks") or \
                    (scope, "disks", disk["name"]) in project.pending_names:
                raise errors.already_exists(refs.path(project.name, scope, "disks",
                                                      disk["name"]))
        return inst

    def place(self, project, inst, with_host):
        """Addresses: a pool host's, a loopback one (test mode) or the subnetwork's."""
        host = self.pool.acquire() if with_host and self.pool.enabled else None
        inst["_host"] = host
        for i, nic in enumerate(inst["networkInterfaces"]):
            if "networkIP" not in nic:
                if i == 0 and host is not None:
                    nic["networkIP"] = host["address"]
                elif i == 0 and self.emulator.config.loopback_addresses:
                    nic["networkIP"] = self._loopback_address()
                else:
                    nic["networkIP"] = self._subnet_address(project, nic)
            for ac in nic.get("accessConfigs", []):
                if "natIP" in ac:
                    continue
                if i == 0 and (host is not None or self.emulator.config.loopback_addresses):
                    ac["natIP"] = nic["networkIP"]
                else:
                    ac["natIP"] = allocate_public_ip(project)

    def _loopback_address(self):
        for n in range(2, 255):
            address = "127.0.0.%d" % n
            if address not in self._loopback:
                self._loopback.add(address)
                return address
        raise OperationError("ZONE_RESOURCE_POOL_EXHAUSTED", "No loopback address is left.",
                             503)

    def _subnet_address(self, project, nic):
        sub = None
        for _, items in project.scopes_of("subnetworks"):
            for item in items.values():
                if item["selfLink"] == nic.get("subnetwork"):
                    sub = item
        if sub is None:
            return "10.0.0.2"
        used = set()
        for _, items in project.scopes_of("instances"):
            for inst in items.values():
                used.update(n.get("networkIP") for n in inst["networkInterfaces"])
        for item in project.pending_items.values():
            used.update(n.get("networkIP") for n in item.get("networkInterfaces", []))
        hosts = list(ipaddress.IPv4Network(sub["ipCidrRange"]).hosts())
        for host in hosts[1:-1]:
            if str(host) not in used:
                return str(host)
        raise OperationError("IP_SPACE_EXHAUSTED", "The subnetwork '%s' has no free address."
                             % sub["name"], 400)

    def boot(self, inst):
        """Start the guest agent's work on a pool host; the instance is ready after it."""
        host = inst["_host"]
        if host is None:
            return
        inst["_ready"] = False
        metadata = inst.get("metadata")
        keys = parse_ssh_keys(refs.metadata_value(metadata, "ssh-keys")) + \
            parse_ssh_keys(refs.metadata_value(metadata, "sshKeys"))
        script = refs.metadata_value(metadata, "startup-script")

        def done(error):
            inst["_ready"] = True
            if error:
                inst["_bootstrap_error"] = error
        self.pool.bootstrap(inst["id"], host, keys, script, done, self._guest_env(inst))

    def _guest_env(self, inst):
        """What a service account gives the instance's programs through the
        metadata server at 169.254.169.254 / metadata.google.internal, which
        a pool host cannot reach: the variables Google's libraries (and the
        stand-in agents) read to find it and the Compute API elsewhere.
        Empty without a service account or --instance-endpoint."""
        endpoint = self.emulator.config.instance_endpoint
        if not endpoint or not inst.get("serviceAccounts"):
            return {}
        return {"GCE_METADATA_HOST": endpoint, "GCE_METADATA_ROOT": endpoint,
                "GCE_METADATA_IP": endpoint,
                "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE": "http://%s/compute/v1/" % endpoint}

    def release(self, inst, done=None):
        """Give back what place() took; done() once a pool host is clean again."""
        for nic in inst["networkInterfaces"]:
            self._loopback.discard(nic.get("networkIP"))
        host = inst.get("_host")
        if host is None:
            if done is not None:
                done()
            return
        inst["_host"] = None
        inst["_cleaned"] = False

        def cleaned():
            inst["_cleaned"] = True
            if done is not None:
                done()
        self.pool.cleanup(inst["id"], host, cleaned)

    def commit(self, project, zone, inst):
        """The instance and its disks become visible."""
        scope = "zones/" + zone
        for disk in inst["_disks"]:
            project.coll(scope, "disks")[disk["name"]] = disk
        project.coll(scope, "instances")[inst["name"]] = inst
        sync_address_users(project)

    def quota_error(self, project, zone, inst):
        catalog = self.emulator.services["catalog"]
        region = zone.rsplit("-", 1)[0]
        limit = float(self.emulator.config.quotas["CPUS"])
        if catalog.region_usage(project, region, inst["_cpus"]) > limit:
            return OperationError("QUOTA_EXCEEDED", "Quota 'CPUS' exceeded. Limit: %.1f in "
                                  "region %s." % (limit, region), 403)
        return None

    def remove(self, project, zone, inst):
        """Gone: disks deleted or detached, out of target pools, addresses freed."""
        scope = "zones/" + zone
        project.coll(scope, "instances").pop(inst["name"], None)
        auto = {a["source"] for a in inst["disks"] if a.get("autoDelete")}
        for disk in project.coll(scope, "disks").values():
            if inst["selfLink"] in disk.get("users", []):
                disk["users"].remove(inst["selfLink"])
                disk["lastDetachTimestamp"] = rfc3339()
                if not disk["users"]:
                    del disk["users"]
        for link in auto:
            project.coll(scope, "disks").pop(refs.last(link), None)
        lb = self.emulator.services.get("lb")
        if lb is not None:
            lb.instance_gone(project, inst["selfLink"])
        sync_address_users(project)

    # -- the API -----------------------------------------------------------------------------
    @handles("compute.instances.insert")
    def insert(self, ctx):
        props = dict(ctx.body)
        if ctx.params.get("sourceInstanceTemplate"):
            template = self.ref(ctx, ctx.params["sourceInstanceTemplate"],
                                "sourceInstanceTemplate", "instanceTemplates")
            merged = dict(public(template["properties"]))
            merged.update(props)
            props = merged
        for out_only in ("id", "status", "statusMessage", "cpuPlatform", "selfLink", "zone",
                         "creationTimestamp", "labelFingerprint", "kind"):
            props.pop(out_only, None)
        name = props["name"]
        zone = ctx.zone
        reserve = self.ensure_new(ctx, "instances", name)
        inst = self.materialize(ctx, zone, props, name, "resource",
                                template=bool(ctx.params.get("sourceInstanceTemplate")))
        project = ctx.project
        injected = self.ops.take_injection(ctx.method.id, inst["selfLink"])
        quota = self.quota_error(project, zone, inst)
        failing = injected or quota
        if failing is not None:
            inst["_cpus"] = 0
        try:
            self.place(project, inst, with_host=failing is None)
        except OperationError as e:
            failing = failing or e
        exhausted = failing is None and self.pool.enabled and inst["_host"] is None
        if failing is None and not exhausted:
            self.boot(inst)

        def apply():
            if quota is not None:
                raise quota
            if exhausted:
                raise OperationError(
                    "ZONE_RESOURCE_POOL_EXHAUSTED", "The zone 'projects/%s/zones/%s' does not "
                    "have enough resources available to fulfill the request.  Try a different "
                    "zone, or try again later." % (project.name, zone), 503)
            if failing is not None:
                raise failing
            self.commit(project, zone, inst)
            return inst["id"]

        def abort():
            self.release(inst)
        project.pending_items[reserve] = inst
        return self.ops.start(ctx, inst["selfLink"], "insert", apply,
                              gate=lambda: inst["_ready"], target_id=inst["id"],
                              reserve=reserve, abort=abort, injected=None)

    @handles("compute.instances.get")
    def get(self, ctx):
        return self.get_item(ctx, "instances", ctx.params["instance"])

    @handles("compute.instances.list")
    def list(self, ctx):
        return self.list_items(ctx, "instances")

    @handles("compute.instances.aggregatedList")
    def aggregated(self, ctx):
        return self.aggregated_items(ctx, "instances", "zones")

    @handles("compute.instances.delete")
    def delete(self, ctx):
        inst = self.find(ctx, "instances", ctx.params["instance"])
        if inst.get("deletionProtection"):
            raise errors.bad_request("Invalid resource usage: 'Resource cannot be deleted if "
                                     "it's protected against deletion.'", "resourceInUseByAnotherResource")
        return self.delete_instance(ctx, inst)

    def delete_instance(self, ctx, inst):
        """Start deleting one instance through the API; returns the operation."""
        project, zone = ctx.project, ctx.zone
        injected = self.ops.take_injection(ctx.method.id, inst["selfLink"])
        if injected is None:
            self.begin_delete(inst)

        def apply():
            if injected is not None:
                raise injected
            self.remove(project, zone, inst)
        return self.ops.start(ctx, inst["selfLink"], "delete", apply,
                              gate=lambda: inst.get("_cleaned", True), target_id=inst["id"],
                              injected=None)

    def begin_delete(self, inst):
        """STOPPING now; the host is cleaned in the background (see _cleaned)."""
        inst["status"] = "STOPPING"
        inst["_deleting"] = True
        self.release(inst)

    @handles("compute.instances.stop")
    def stop(self, ctx):
        inst = self.find(ctx, "instances", ctx.params["instance"])
        if inst["status"] != "TERMINATED":
            inst["status"] = "STOPPING"

        def apply():
            if inst["status"] == "STOPPING":
                inst["status"] = "TERMINATED"
        return self.ops.start(ctx, inst["selfLink"], "stop", apply, target_id=inst["id"])

    @handles("compute.instances.start")
    def start(self, ctx):
        inst = self.find(ctx, "instances", ctx.params["instance"])
        if inst["status"] == "TERMINATED":
            inst["status"] = "STAGING"

        def apply():
            if inst["status"] == "STAGING":
                inst["status"] = "RUNNING"
        return self.ops.start(ctx, inst["selfLink"], "start", apply, target_id=inst["id"])

    @handles("compute.instances.setLabels")
    def set_labels(self, ctx):
        return set_labels(self, ctx, self.find(ctx, "instances", ctx.params["instance"]))

    @handles("compute.instances.setMetadata")
    def set_metadata(self, ctx):
        inst = self.find(ctx, "instances", ctx.params["instance"])
        body = ctx.body
        refs.check_metadata(body, "metadata_resource")
        if body.get("fingerprint") != inst["metadata"]["fingerprint"]:
            raise errors.condition_not_met("Supplied fingerprint does not match current "
                                           "metadata fingerprint.")
        items = [dict(i) for i in body.get("items") or []]

        def apply():
            inst["metadata"] = {"kind": "compute#metadata",
                                "fingerprint": refs.fingerprint(items)}
            if items:
                inst["metadata"]["items"] = items
            host = inst.get("_host")
            if host is not None:
                keys = parse_ssh_keys(refs.metadata_value(inst["metadata"], "ssh-keys")) + \
                    parse_ssh_keys(refs.metadata_value(inst["metadata"], "sshKeys"))
                self.pool.update_keys(inst["id"], host, keys)
        return self.ops.start(ctx, inst["selfLink"], "setMetadata", apply, target_id=inst["id"])

    @handles("compute.instances.setTags")
    def set_tags(self, ctx):
        inst = self.find(ctx, "instances", ctx.params["instance"])
        body = ctx.body
        refs.check_tags(body, "tags_resource")
        if body.get("fingerprint") != inst["tags"]["fingerprint"]:
            raise errors.condition_not_met("Supplied fingerprint does not match current tags "
                                           "fingerprint.")
        tags = list(body.get("items") or [])

        def apply():
            inst["tags"] = {"fingerprint": refs.fingerprint(tags)}
            if tags:
                inst["tags"]["items"] = tags
        return self.ops.start(ctx, inst["selfLink"], "setTags", apply, target_id=inst["id"])

    @handles("compute.instances.getSerialPortOutput")
    def serial_port(self, ctx):
        inst = self.find(ctx, "instances", ctx.params["instance"])
        port = ctx.params.get("port", 1)
        if port not in _SERIAL_PORTS:
            raise errors.invalid_field("port", str(port), "Must be between 1 and 4.")
        start = ctx.params.get("start", 0)
        if start < 0:
            raise errors.invalid_field("start", str(start), "Must be greater than or equal "
                                       "to 0.")
        text = self.pool.console_text(inst) if port == 1 else ""
        data = text.encode()
        chunk = data[start:]
        out = {"kind": "compute#serialPortOutput", "contents": chunk.decode("utf-8", "replace"),
               "start": str(min(start, len(data))), "next": str(len(data)),
               "selfLink": inst["selfLink"] + "/serialPort"}
        if port != 1:
            out["selfLink"] += "?port=%d" % port
        return out
