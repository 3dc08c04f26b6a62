"""Images (seeded public families, project images baked from disks) and persistent disks."""
from . import errors, refs
from .core import rfc3339
from .resources import Base
from .server import handles

# Public images every project may read: two debian-12 generations (the newer wins
# getFromFamily), a deprecated one that must not, debian-11 and an Ubuntu image.
DEFAULT_IMAGES = [
    {"project": "debian-cloud", "name": "debian-12-bookworm-v20261001", "family": "debian-12",
     "creationTimestamp": "2026-10-01T10:00:00.000+00:00", "diskSizeGb": "10"},
    {"project": "debian-cloud", "name": "debian-12-bookworm-v20261101", "family": "debian-12",
     "creationTimestamp": "2026-11-01T10:00:00.000+00:00", "diskSizeGb": "10"},
    {"project": "debian-cloud", "name": "debian-12-bookworm-v20261201", "family": "debian-12",
     "creationTimestamp": "2026-12-01T10:00:00.000+00:00", "diskSizeGb": "10",
     "deprecated": {"state": "DEPRECATED"}},
    {"project": "debian-cloud", "name": "debian-11-bullseye-v20261101", "family": "debian-11",
     "creationTimestamp": "2026-11-01T09:00:00.000+00:00", "diskSizeGb": "10"},
    {"project": "ubuntu-os-cloud", "name": "ubuntu-2204-jammy-v20261101",
     "family": "ubuntu-2204-lts", "creationTimestamp": "2026-11-01T08:00:00.000+00:00",
     "diskSizeGb": "10"},
]


def _live(image):
    return (image.get("deprecated") or {}).get("state", "ACTIVE") == "ACTIVE"


class Images(Base):
    def __init__(self, emulator):
        super().__init__(emulator)
        self.after_reset()

    def after_reset(self):
        config = self.emulator.config
        seed = config.images if config.images is not None else DEFAULT_IMAGES
        for spec in seed:
            spec = dict(spec)
            project = self.emulator.project(spec.pop("project", config.project))
            spec.setdefault("creationTimestamp", rfc3339())
            image = {"kind": "compute#image", "id": self.ids.numeric(), "status": "READY",
                     "sourceType": "RAW", "diskSizeGb": "10", "archiveSizeBytes": "1073741824",
                     "selfLink": refs.link(project.name, "global", "images", spec["name"]),
                     "labelFingerprint": refs.fingerprint({})}
            image.update(spec)
            if "labels" in spec:
                image["labelFingerprint"] = refs.fingerprint(spec["labels"])
            project.coll("global", "images")[image["name"]] = image

    # -- resolving ---------------------------------------------------------------------
    def from_family(self, project, family):
        candidates = [i for i in project.coll("global", "images").values()
                      if i.get("family") == family and _live(i)]
        if not candidates:
            return None
        return max(candidates, key=lambda i: (i["creationTimestamp"], i["name"]))

    def resolve(self, ctx, text, field):
        """The image a sourceImage reference names (families resolve to their newest)."""
        project_name, scope, collection, name = refs.parse(text, ctx.project.name, field,
                                                           "images")
        project = self.emulator.projects.get(project_name)
        image = None
        if project is not None and scope == "global":
            if name.startswith("family/"):
                image = self.from_family(project, name[len("family/"):])
            else:
                image = project.coll("global", "images").get(name)
        if image is None:
            raise errors.invalid_field(field, text, "The referenced image resource cannot be "
                                       "found.")
        state = (image.get("deprecated") or {}).get("state")
        if state in ("OBSOLETE", "DELETED"):
            raise errors.invalid_field(field, text, "The image resource '%s' is %s."
                                       % (refs.path(project_name, "global", "images",
                                                    image["name"]), state.lower()))
        return image

    # -- images ------------------------------------------------------------------------
    @handles("compute.images.get")
    def image_get(self, ctx):
        return self.get_item(ctx, "images", ctx.params["image"])

    @handles("compute.images.getFromFamily")
    def image_from_family(self, ctx):
        image = self.from_family(ctx.project, ctx.params["family"])
        if image is None:
            raise errors.not_found(refs.path(ctx.project.name, "global", "images",
                                             "family/" + ctx.params["family"]))
        return self.get_item(ctx, "images", image["name"])

    @handles("compute.images.list")
    def image_list(self, ctx):
        return self.list_items(ctx, "images")

    @handles("compute.images.insert")
    def image_insert(self, ctx):
        body = dict(ctx.body)
        sources = [k for k in ("sourceDisk", "sourceImage", "sourceSnapshot") if body.get(k)]
        if (body.get("rawDisk") or {}).get("source"):
            sources.append("rawDisk.source")
        if len(sources) != 1:
            raise errors.invalid_field("resource", "", "Exactly one of sourceDisk, "
                                       "sourceImage, sourceSnapshot or rawDisk.source must be "
                                       "given.")
        if sources[0] not in ("sourceDisk", "sourceImage"):
            raise errors.invalid_field("resource." + sources[0], "", "Only sourceDisk and "
                                       "sourceImage are emulated.")
        refs.check_labels(body.get("labels"))
        for out_only in ("status", "sourceDiskId", "sourceImageId", "archiveSizeBytes",
                         "labelFingerprint", "deprecated"):
            body.pop(out_only, None)
        if body.get("family") is not None:
            refs.check_name(body["family"], "resource.family")
        if sources[0] == "sourceDisk":
            disk = self.ref(ctx, body["sourceDisk"], "resource.sourceDisk", "disks")
            running = [u for u in disk.get("users", []) if self._running(ctx, u)]
            if running and not ctx.params.get("forceCreate"):
                raise errors.resource_in_use("The disk resource '%s' is already being used by "
                                             "'%s'" % (_short(disk["selfLink"]),
                                                       _short(running[0])))
            body["sourceDisk"] = disk["selfLink"]
            body["sourceDiskId"] = disk["id"]
            body["diskSizeGb"] = disk["sizeGb"]
        else:
            source = self.resolve(ctx, body["sourceImage"], "resource.sourceImage")
            body["sourceImage"] = source["selfLink"]
            body["sourceImageId"] = source["id"]
            body["diskSizeGb"] = source.get("diskSizeGb", "10")
        item = self.new(ctx, "images", body)
        item.update({"status": "READY", "sourceType": "RAW", "archiveSizeBytes": "1073741824",
                     "labelFingerprint": refs.fingerprint(body.get("labels") or {})})
        return self.insert_simple(ctx, "images", item)

    def _running(self, ctx, instance_link):
        parts = instance_link.split("/")
        inst = ctx.project.coll("zones/" + parts[-3], "instances").get(parts[-1])
        return inst is not None and inst["status"] not in ("TERMINATED", "STOPPED")

    @handles("compute.images.delete")
    def image_delete(self, ctx):
        return self.delete_simple(ctx, "images", ctx.params["image"])

    @handles("compute.images.deprecate")
    def image_deprecate(self, ctx):
        image = self.find(ctx, "images", ctx.params["image"])
        status = dict(ctx.body)
        if status.get("replacement"):
            status["replacement"] = self.resolve(ctx, status["replacement"],
                                                 "deprecation_status_resource.replacement"
                                                 )["selfLink"]

        def apply():
            if status.get("state", "ACTIVE") == "ACTIVE":
                image.pop("deprecated", None)
            else:
                image["deprecated"] = status
        return self.ops.start(ctx, image["selfLink"], "deprecate", apply, target_id=image["id"])

    @handles("compute.images.setLabels")
    def image_set_labels(self, ctx):
        image = self.find(ctx, "images", ctx.params["image"])
        return set_labels(self, ctx, image)

    # -- disks (made by instances; read, and deleted once detached) --------------------
    @handles("compute.disks.get")
    def disk_get(self, ctx):
        return self.get_item(ctx, "disks", ctx.params["disk"])

    @handles("compute.disks.list")
    def disk_list(self, ctx):
        return self.list_items(ctx, "disks")

    @handles("compute.disks.delete")
    def disk_delete(self, ctx):
        def check(disk):
            return self.in_use(disk, disk.get("users", []), "disks")
        return self.delete_simple(ctx, "disks", ctx.params["disk"], check)


def set_labels(service, ctx, item):
    """setLabels with Google's labelFingerprint check (412 when stale)."""
    body = ctx.body
    root = ctx.method.body_root()
    refs.check_labels(body.get("labels"), root + ".labels")
    if body.get("labelFingerprint") != item.get("labelFingerprint"):
        raise errors.condition_not_met("Labels fingerprint either invalid or resource labels "
                                       "have changed")
    labels = dict(body.get("labels") or {})

    def apply():
        if labels:
            item["labels"] = labels
        else:
            item.pop("labels", None)
        item["labelFingerprint"] = refs.fingerprint(labels)
    return service.ops.start(ctx, item["selfLink"], "setLabels", apply, target_id=item["id"])


def _short(link):
    i = link.find("/projects/")
    return link[i + 1:] if i >= 0 else link
