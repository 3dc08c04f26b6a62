"""An instance from a request body or a template's properties, checked as Compute checks it.

Shared by instances.insert, instanceTemplates.insert (which checks the same
properties without a zone) and the managed instance groups' own launches.
"""
import ipaddress

from . import errors, refs
from .core import rfc3339

DISK_TYPES = ("pd-standard", "pd-ssd", "pd-balanced")
_SCHEDULING = {"onHostMaintenance": "MIGRATE", "automaticRestart": True, "preemptible": False}


class InstanceSpec:
    """Checks and completes instance properties; zone None for templates."""

    def __init__(self, service, ctx, zone, field, template=False):
        """zone None: check template properties only (no disks are made)."""
        self.service = service
        self.emulator = service.emulator
        self.ctx = ctx
        self.project = ctx.project
        self.zone = zone
        self.region = zone.rsplit("-", 1)[0] if zone else None
        self.field = field
        self.template = template  # template properties name machine and disk types bare

    def ref(self, text, field, want):
        return self.service.ref(self.ctx, text, field, want)

    # -- the parts ---------------------------------------------------------------------
    def machine_type(self, props):
        field = self.field + ".machineType"
        text = props.get("machineType")
        if not text:
            raise errors.required_field(field)
        catalog = self.emulator.services["catalog"]
        if self.template:
            # Templates name the machine type alone: it applies in any zone.
            mt = catalog.machine_type(self.ctx, self.zone or "any", refs.last(text))
            if mt is None:
                raise errors.invalid_field(field, text, "Instance properties must provide "
                                           "existing machine type.")
            return mt
        return catalog.resolve_machine_type(self.ctx, text, field, self.zone)

    def disks(self, props, instance_name):
        """[(attached disk, disk resource or None for templates)]."""
        field = self.field + ".disks"
        disks = props.get("disks") or []
        if not disks:
            raise errors.invalid_field(field, "", "Boot disk must be specified.")
        if sum(1 for d in disks if d.get("boot")) > 1 or not disks[0].get("boot"):
            raise errors.invalid_field(field, "", "Exactly one boot disk, the first, must be "
                                       "specified.")
        images = self.emulator.services["images"]
        out = []
        for i, spec in enumerate(disks):
            f = "%s[%d]" % (field, i)
            params = spec.get("initializeParams")
            if spec.get("type", "PERSISTENT") != "PERSISTENT":
                raise errors.invalid_field(f + ".type", spec["type"], "Only PERSISTENT disks "
                                           "are emulated.")
            if bool(params) == bool(spec.get("source")):
                raise errors.invalid_field(f, "", "Exactly one of initializeParams or source "
                                           "must be specified.")
            attached = {"kind": "compute#attachedDisk", "type": "PERSISTENT",
                        "mode": spec.get("mode", "READ_WRITE"), "index": i,
                        "boot": bool(spec.get("boot")), "autoDelete": bool(spec.get(
                            "autoDelete", False)), "interface": spec.get("interface", "SCSI"),
                        "deviceName": spec.get("deviceName") or "persistent-disk-%d" % i}
            if spec.get("source"):
                if self.zone is None:
                    attached["source"] = refs.last(spec["source"])
                    out.append((attached, None))
                    continue
                source = spec["source"]
                if self.template:
                    source = "zones/%s/disks/%s" % (self.zone, refs.last(source))
                disk = self.ref(source, f + ".source", "disks")
                if disk.get("users"):
                    raise errors.resource_in_use("The disk resource '%s' is already being used "
                                                 "by '%s'" % (_short(disk["selfLink"]),
                                                              _short(disk["users"][0])))
                attached["source"] = disk["selfLink"]
                out.append((attached, disk))
                continue
            pf = f + ".initializeParams"
            image = None
            if params.get("sourceImage"):
                image = images.resolve(self.ctx, params["sourceImage"], pf + ".sourceImage")
            elif spec.get("boot"):
                raise errors.invalid_field(pf + ".sourceImage", "", "The boot disk needs a "
                                           "source image.")
            size = params.get("diskSizeGb") or (image or {}).get("diskSizeGb", "10")
            if image is not None and int(size) < int(image.get("diskSizeGb", "10")):
                raise errors.invalid_field(pf + ".diskSizeGb", size, "Requested disk size "
                                           "cannot be smaller than the image size (%s GB)"
                                           % image.get("diskSizeGb", "10"))
            dtype = params.get("diskType") or "pd-standard"
            dname = refs.last(dtype)
            if dname not in DISK_TYPES:
                raise errors.invalid_field(pf + ".diskType", dtype, "Disk type '%s' does not "
                                           "exist." % dname)
            refs.check_labels(params.get("labels"), pf + ".labels")
            name = params.get("diskName") or (instance_name if i == 0 else
                                              "%s-%d" % (instance_name, i))
            refs.check_name(name, pf + ".diskName")
            if self.zone is None:
                out.append((dict(attached, initializeParams=params), None))
                continue
            scope = "zones/" + self.zone
            disk = {"kind": "compute#disk", "id": self.emulator.ids.numeric(),
                    "creationTimestamp": rfc3339(), "name": name, "sizeGb": str(size),
                    "zone": refs.scope_link(self.project.name, scope), "status": "READY",
                    "type": refs.link(self.project.name, scope, "diskTypes", dname),
                    "selfLink": refs.link(self.project.name, scope, "disks", name),
                    "physicalBlockSizeBytes": "4096",
                    "labelFingerprint": refs.fingerprint(params.get("labels") or {})}
            if params.get("labels"):
                disk["labels"] = params["labels"]
            if image is not None:
                disk["sourceImage"] = image["selfLink"]
                disk["sourceImageId"] = image["id"]
            attached["source"] = disk["selfLink"]
            out.append((attached, disk))
        return out

    def interfaces(self, props):
        field = self.field + ".networkInterfaces"
        nics = props.get("networkInterfaces") or []
        if not nics:
            raise errors.invalid_field(field, "", "At least one network interface is required.")
        out = []
        for i, spec in enumerate(nics):
            f = "%s[%d]" % (field, i)
            sub = network = None
            if spec.get("subnetwork"):
                sub = self.ref(spec["subnetwork"], f + ".subnetwork", "subnetworks")
                if self.region and refs.last(sub["region"]) != self.region:
                    raise errors.invalid_field(f + ".subnetwork", spec["subnetwork"],
                                               "The subnetwork must be in the instance's "
                                               "region '%s'." % self.region)
            if spec.get("network"):
                network = self.ref(spec["network"], f + ".network", "networks")
                if sub is not None and sub["network"] != network["selfLink"]:
                    raise errors.invalid_field(f + ".subnetwork", spec["subnetwork"],
                                               "The subnetwork does not belong to the network.")
            if sub is None:
                if network is None:
                    network = self.ref("global/networks/default", f + ".network", "networks")
                if not network.get("autoCreateSubnetworks"):
                    raise errors.invalid_field(f + ".network", spec.get("network", ""),
                                               "Subnetwork should be specified for custom "
                                               "subnetmode network")
                if self.region:
                    sub = self.project.coll("regions/" + self.region, "subnetworks").get(
                        network["name"])
            nic = {"kind": "compute#networkInterface", "name": "nic%d" % i,
                   "network": (network or {}).get("selfLink") or sub["network"]}
            if sub is not None:
                nic["subnetwork"] = sub["selfLink"]
            if spec.get("networkIP"):
                if sub is not None and ipaddress.ip_address(spec["networkIP"]) not in \
                        ipaddress.ip_network(sub["ipCidrRange"]):
                    raise errors.invalid_field(f + ".networkIP", spec["networkIP"],
                                               "Requested internal IP is outside the "
                                               "subnetwork CIDR range.")
                nic["networkIP"] = spec["networkIP"]
            configs = spec.get("accessConfigs") or []
            if len(configs) > 1:
                raise errors.invalid_field(f + ".accessConfigs", "", "At most one access "
                                           "config is allowed per network interface.")
            nic["accessConfigs"] = []
            for j, ac in enumerate(configs):
                if ac.get("type", "ONE_TO_ONE_NAT") != "ONE_TO_ONE_NAT":
                    raise errors.invalid_field("%s.accessConfigs[%d].type" % (f, j), ac["type"],
                                               "Only ONE_TO_ONE_NAT is supported.")
                config = {"kind": "compute#accessConfig", "type": "ONE_TO_ONE_NAT",
                          "name": ac.get("name", "External NAT"),
                          "networkTier": ac.get("networkTier", "PREMIUM")}
                if ac.get("natIP"):
                    config["natIP"] = self._static_nat(ac["natIP"], "%s.accessConfigs[%d].natIP"
                                                       % (f, j))
                nic["accessConfigs"].append(config)
            if not nic["accessConfigs"]:
                del nic["accessConfigs"]
            out.append(nic)
        return out

    def _static_nat(self, ip, field):
        for scope, items in self.project.scopes_of("addresses"):
            for addr in items.values():
                if addr["address"] == ip and addr.get("addressType") == "EXTERNAL":
                    if self.region and scope != "regions/" + self.region:
                        break
                    if addr.get("users"):
                        raise errors.invalid_field(field, ip, "IP address '%s' is already "
                                                   "being used by another resource." % ip)
                    return ip
        raise errors.invalid_field(field, ip, "The specified external IP address '%s' was not "
                                   "found in region '%s'." % (ip, self.region or "-"))

    def service_accounts(self, props):
        accounts = props.get("serviceAccounts") or []
        if len(accounts) > 1:
            raise errors.invalid_field(self.field + ".serviceAccounts", "", "At most one "
                                       "service account is allowed.")
        out = []
        for account in accounts:
            email = account.get("email") or "default"
            if email == "default":
                email = "%s-compute@developer.gserviceaccount.com" % self.project.number
            out.append({"email": email, "scopes": list(account.get("scopes") or [])})
        return out

    def common(self, props):
        """labels, metadata, tags, scheduling: checked and with their fingerprints."""
        refs.check_labels(props.get("labels"), self.field + ".labels")
        refs.check_metadata(props.get("metadata"), self.field + ".metadata")
        refs.check_tags(props.get("tags"), self.field + ".tags")
        out = {}
        labels = props.get("labels") or {}
        if labels:
            out["labels"] = dict(labels)
        out["labelFingerprint"] = refs.fingerprint(labels)
        items = [dict(i) for i in (props.get("metadata") or {}).get("items") or []]
        out["metadata"] = {"kind": "compute#metadata", "fingerprint": refs.fingerprint(items)}
        if items:
            out["metadata"]["items"] = items
        tags = list((props.get("tags") or {}).get("items") or [])
        out["tags"] = {"fingerprint": refs.fingerprint(tags)}
        if tags:
            out["tags"]["items"] = tags
        out["scheduling"] = dict(_SCHEDULING, **(props.get("scheduling") or {}))
        if out["scheduling"]["preemptible"] and out["scheduling"]["automaticRestart"] \
                and "automaticRestart" in (props.get("scheduling") or {}):
            raise errors.invalid_field(self.field + ".scheduling.automaticRestart", "true",
                                       "Preemptible instances cannot be automatically "
                                       "restarted.")
        if out["scheduling"]["preemptible"]:
            out["scheduling"].update(automaticRestart=False, onHostMaintenance="TERMINATE")
        return out


def _short(link):
    i = link.find("/projects/")
    return link[i + 1:] if i >= 0 else link
