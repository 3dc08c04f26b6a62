"""What a project sees without creating anything: itself, regions, zones, machine types."""
from . import errors, listing, refs
from .resources import Base
from .server import handles

# name -> (guestCpus, memoryMb, isSharedCpu)
MACHINE_TYPES = {
    "f1-micro": (1, 614, True), "g1-small": (1, 1740, True),
    "e2-micro": (2, 1024, True), "e2-small": (2, 2048, True), "e2-medium": (2, 4096, True),
    "e2-standard-2": (2, 8192, False), "e2-standard-4": (4, 16384, False),
    "e2-standard-8": (8, 32768, False),
    "n1-standard-1": (1, 3840, False), "n1-standard-2": (2, 7680, False),
    "n1-standard-4": (4, 15360, False), "n1-standard-8": (8, 30720, False),
    "n2-standard-2": (2, 8192, False), "n2-standard-4": (4, 16384, False),
}
_CREATED = "2018-01-01T00:00:00.000+00:00"


def region_of(zone):
    return zone.rsplit("-", 1)[0]


class Catalog(Base):
    def machine_type(self, ctx, zone, name):
        if name not in MACHINE_TYPES:
            return None
        cpus, memory, shared = MACHINE_TYPES[name]
        return {"kind": "compute#machineType", "id": str(1000 + sorted(MACHINE_TYPES).index(name)),
                "creationTimestamp": _CREATED, "name": name,
                "description": "%d vCPU%s, %d MB RAM" % (cpus, "s" if cpus > 1 else "", memory),
                "guestCpus": cpus, "memoryMb": memory, "imageSpaceGb": 0,
                "maximumPersistentDisks": 128, "maximumPersistentDisksSizeGb": "263168",
                "isSharedCpu": shared, "zone": zone,
                "selfLink": refs.link(ctx.project.name, "zones/" + zone, "machineTypes", name)}

    def resolve_machine_type(self, ctx, text, field, zone):
        """guestCpus and the full URL of a machineType reference in zone."""
        project, scope, _, name = refs.parse(text, ctx.project.name, field, "machineTypes")
        if project != ctx.project.name or scope != "zones/" + zone:
            raise errors.invalid_field(field, text, "Machine type must be in the instance's "
                                       "zone '%s'." % zone)
        mt = self.machine_type(ctx, zone, name)
        if mt is None:
            raise errors.invalid_field(field, text, "Machine type with name '%s' does not "
                                       "exist in zone '%s'." % (name, zone))
        return mt

    def region_usage(self, project, region, extra_cpus=0):
        cpus = extra_cpus
        for zone in self.emulator.config.regions.get(region, []):
            for inst in project.coll("zones/" + zone, "instances").values():
                if inst["status"] not in ("TERMINATED",):
                    cpus += inst["_cpus"]
            for (scope, coll, _), item in project.pending_items.items():
                if coll == "instances" and scope == "zones/" + zone:
                    cpus += item["_cpus"]
        return cpus

    # -- projects, regions, zones -------------------------------------------------------
    @handles("compute.projects.get")
    def project_get(self, ctx):
        p = ctx.project
        return {"kind": "compute#project", "id": p.number, "name": p.name,
                "creationTimestamp": _CREATED, "defaultNetworkTier": "PREMIUM",
                "defaultServiceAccount": "%s-compute@developer.gserviceaccount.com" % p.number,
                "commonInstanceMetadata": {"kind": "compute#metadata",
                                           "fingerprint": refs.fingerprint([])},
                "quotas": [{"metric": "CPUS_ALL_REGIONS",
                            "limit": float(self.emulator.config.quotas["CPUS"]) *
                            len(self.emulator.config.regions),
                            "usage": float(sum(self.region_usage(p, r)
                                               for r in self.emulator.config.regions))}],
                "selfLink": refs.link(p.name, None), "xpnProjectStatus": "UNSPECIFIED_XPN_PROJECT_STATUS"}

    def _region(self, ctx, name):
        config = self.emulator.config
        return {"kind": "compute#region", "id": str(1100 + sorted(config.regions).index(name)),
                "creationTimestamp": _CREATED, "name": name, "description": name,
                "status": "UP", "zones": [refs.link(ctx.project.name, "zones/" + z)
                                          for z in config.regions[name]],
                "quotas": [{"metric": "CPUS", "limit": float(config.quotas["CPUS"]),
                            "usage": float(self.region_usage(ctx.project, name))}],
                "selfLink": refs.link(ctx.project.name, "regions/" + name)}

    def _zone(self, ctx, name):
        zones = self.emulator.config.zones()
        return {"kind": "compute#zone", "id": str(2100 + sorted(zones).index(name)),
                "creationTimestamp": _CREATED, "name": name, "description": name,
                "status": "UP", "region": refs.link(ctx.project.name, "regions/" + zones[name]),
                "availableCpuPlatforms": ["Intel Broadwell", "Intel Skylake", "AMD Rome"],
                "selfLink": refs.link(ctx.project.name, "zones/" + name)}

    def _listed(self, ctx, kind, items, collection):
        fields = listing.item_fields(ctx.method.doc, ctx.method.response_ref)
        page, token = listing.page(items, ctx.params, fields)
        out = {"kind": kind, "id": "projects/%s/%s" % (ctx.project.name, collection),
               "selfLink": refs.link(ctx.project.name, None, collection)}
        if page:
            out["items"] = page
        if token:
            out["nextPageToken"] = token
        return out

    @handles("compute.regions.get")
    def region_get(self, ctx):
        if ctx.params["region"] not in self.emulator.config.regions:
            raise errors.not_found("projects/%s/regions/%s" % (ctx.project.name,
                                                               ctx.params["region"]))
        return self._region(ctx, ctx.params["region"])

    @handles("compute.regions.list")
    def region_list(self, ctx):
        items = [self._region(ctx, r) for r in self.emulator.config.regions]
        return self._listed(ctx, "compute#regionList", items, "regions")

    @handles("compute.zones.get")
    def zone_get(self, ctx):
        if ctx.params["zone"] not in self.emulator.config.zones():
            raise errors.not_found("projects/%s/zones/%s" % (ctx.project.name,
                                                             ctx.params["zone"]))
        return self._zone(ctx, ctx.params["zone"])

    @handles("compute.zones.list")
    def zone_list(self, ctx):
        items = [self._zone(ctx, z) for z in self.emulator.config.zones()]
        return self._listed(ctx, "compute#zoneList", items, "zones")

    # -- machine types --------------------------------------------------------------------
    @handles("compute.machineTypes.get")
    def machine_type_get(self, ctx):
        mt = self.machine_type(ctx, ctx.zone, ctx.params["machineType"])
        if mt is None:
            raise errors.not_found(refs.path(ctx.project.name, ctx.scope, "machineTypes",
                                             ctx.params["machineType"]))
        return mt

    @handles("compute.machineTypes.list")
    def machine_type_list(self, ctx):
        items = [self.machine_type(ctx, ctx.zone, n) for n in MACHINE_TYPES]
        out = self._listed(ctx, "compute#machineTypeList", items, "zones/%s/machineTypes"
                           % ctx.zone)
        out["id"] = "projects/%s/zones/%s/machineTypes" % (ctx.project.name, ctx.zone)
        return out
