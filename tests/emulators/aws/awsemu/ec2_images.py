"""EC2 images: the seed's, and those CreateImage makes of an instance (with
one EBS snapshot each); DescribeImages, DeregisterImage, DeleteSnapshot."""
import re

from .errors import ApiError

# AWS: "AMI names must be between 3 and 128 characters long, and may contain
# letters, numbers, '(', ')', '.', '-', '/' and '_'" (plus space, '[', ']',
# '@' and "'" in the current text of the CreateImage reference).
_AMI_NAME = re.compile(r"[A-Za-z0-9()\[\] ./\-'@_]{3,128}")


class ImageMixin:
    def images(self, r):
        out = []
        for seed in self.emulator.config.images:
            if seed.get("Region", r.name) != r.name or seed["ImageId"] in r.deregistered:
                continue
            image = {"ImageType": "machine", "Public": False, "RootDeviceType": "ebs",
                     "RootDeviceName": "/dev/xvda", "VirtualizationType": "hvm",
                     "Hypervisor": "xen", "EnaSupport": True, "BlockDeviceMappings": [],
                     "Architecture": "x86_64", "State": "available",
                     "OwnerId": self.emulator.config.account_id}
            image.update({k: v for k, v in seed.items() if k != "Region"})
            image.setdefault("ImageLocation", "%s/%s" % (image["OwnerId"],
                                                         image.get("Name", image["ImageId"])))
            out.append(image)
        out.extend(r.images.values())
        return out

    def image(self, r, image_id):
        if not image_id.startswith("ami-"):
            raise ApiError("InvalidAMIID.Malformed", "Invalid id: \"%s\" (expecting \"ami-...\")"
                           % image_id)
        for image in self.images(r):
            if image["ImageId"] == image_id:
                if image["State"] != "available":
                    raise ApiError("InvalidAMIID.Unavailable", "AMI %s is not available" % image_id)
                return image
        raise ApiError("InvalidAMIID.NotFound", "The image id '[%s]' does not exist" % image_id)

    def DescribeImages(self, ctx, p):
        r = ctx.region
        account = self.emulator.config.account_id
        items = self.images(r)
        if p.get("ImageIds"):
            for image_id in p["ImageIds"]:
                self.image(r, image_id) if not image_id.startswith("ami-") else None
                if not any(i["ImageId"] == image_id for i in items):
                    raise ApiError("InvalidAMIID.NotFound", "The image id '[%s]' does not exist"
                                   % image_id)
            items = [i for i in items if i["ImageId"] in p["ImageIds"]]
        if p.get("Owners"):
            owners = set(p["Owners"])
            items = [i for i in items if i["OwnerId"] in owners
                     or ("self" in owners and i["OwnerId"] == account)
                     or (i.get("ImageOwnerAlias") in owners)]
        items = self.filtered(r, items, p.get("Filters"), {
            "name": lambda i: i.get("Name"), "state": lambda i: i["State"],
            "architecture": lambda i: i["Architecture"], "image-id": lambda i: i["ImageId"],
            "owner-id": lambda i: i["OwnerId"], "root-device-type": lambda i: i["RootDeviceType"],
            "virtualization-type": lambda i: i["VirtualizationType"],
            "is-public": lambda i: i["Public"], "image-type": lambda i: i["ImageType"],
            "owner-alias": lambda i: i.get("ImageOwnerAlias"),
            "description": lambda i: i.get("Description"),
            "block-device-mapping.snapshot-id":
                lambda i: [m.get("Ebs", {}).get("SnapshotId") for m in i["BlockDeviceMappings"]],
        }, lambda i: i["ImageId"])
        return {"Images": [self.with_tags(r, i, i["ImageId"]) for i in items]}

    # -- CreateImage ------------------------------------------------------------
    def CreateImage(self, ctx, p):
        r = ctx.region
        inst = self.lookup(r.instances, p["InstanceId"], "InvalidInstanceID.NotFound",
                           "instance ID")
        if inst["State"]["Name"] not in ("running", "stopped"):
            raise ApiError("IncorrectInstanceState", "The instance '%s' is not in a state from "
                           "which it can be imaged." % inst["InstanceId"])
        name = p["Name"]
        if not _AMI_NAME.fullmatch(name):
            raise ApiError("InvalidAMIName.Malformed", "AMI names must be between 3 and 128 "
                           "characters long, and may contain letters, numbers, '(', ')', '.', "
                           "'-', '/' and '_'")
        if any(i.get("Name") == name and i["OwnerId"] == ctx.account_id
               for i in self.images(r)):
            raise ApiError("InvalidAMIName.Duplicate", "AMI name %s is already in use by AMI "
                           "%s" % (name, next(i["ImageId"] for i in self.images(r)
                                             if i.get("Name") == name)))
        for spec in p.get("TagSpecifications") or []:
            if spec.get("ResourceType") not in ("image", "snapshot"):
                raise ApiError("InvalidParameterValue", "'%s' is not a valid taggable resource "
                               "type for this operation." % spec.get("ResourceType"))
        image_id = self.ids.new("ami")
        snapshot_id = self.ids.new("snap")
        r.snapshots[snapshot_id] = {
            "SnapshotId": snapshot_id, "VolumeId": "vol-" + self.ids.hex(17),
            "State": "completed", "VolumeSize": 8, "OwnerId": ctx.account_id,
            "Description": "Created by CreateImage(%s) for %s" % (inst["InstanceId"], image_id),
            "StartTime": ctx.now, "Progress": "100%", "Encrypted": False}
        r.images[image_id] = {
            "ImageId": image_id, "Name": name, "Description": p.get("Description", ""),
            "ImageLocation": "%s/%s" % (ctx.account_id, name), "State": "pending",
            "OwnerId": ctx.account_id, "Public": False, "ImageType": "machine",
            "Architecture": inst.get("Architecture", "x86_64"), "RootDeviceType": "ebs",
            "RootDeviceName": "/dev/xvda", "VirtualizationType": "hvm", "Hypervisor": "xen",
            "EnaSupport": True,
            "CreationDate": self.utc().strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {
                "SnapshotId": snapshot_id, "VolumeSize": 8, "DeleteOnTermination": True,
                "VolumeType": "gp2", "Encrypted": False}}],
            "_since": self.clock(), "_source_instance": inst["InstanceId"],
            "_source_image": inst["ImageId"]}
        for spec in p.get("TagSpecifications") or []:
            target = image_id if spec["ResourceType"] == "image" else snapshot_id
            self.set_tags(r, target, spec.get("Tags", []))
        return {"ImageId": image_id}

    def tick_images(self, r, now):
        for image in r.images.values():
            if image["State"] == "pending" and \
                    now - image["_since"] >= self.emulator.config.pending_seconds:
                image["State"] = "available"

    # -- DeregisterImage, DeleteSnapshot ----------------------------------------
    def DeregisterImage(self, ctx, p):
        r = ctx.region
        image_id = p["ImageId"]
        if not image_id.startswith("ami-"):
            raise ApiError("InvalidAMIID.Malformed", "Invalid id: \"%s\" (expecting \"ami-...\")"
                           % image_id)
        if image_id in r.images:
            del r.images[image_id]
            r.tags.pop(image_id, None)
            return {}
        if any(i["ImageId"] == image_id for i in self.images(r)):
            r.deregistered.add(image_id)
            return {}
        raise ApiError("InvalidAMIID.NotFound", "The image id '[%s]' does not exist" % image_id)

    def DeleteSnapshot(self, ctx, p):
        r = ctx.region
        snapshot_id = p["SnapshotId"]
        if not snapshot_id.startswith("snap-"):
            raise ApiError("InvalidSnapshotID.Malformed", "Invalid id: \"%s\" (expecting "
                           "\"snap-...\")" % snapshot_id)
        self.lookup(r.snapshots, snapshot_id, "InvalidSnapshot.NotFound", "snapshot")
        for image in r.images.values():
            for m in image["BlockDeviceMappings"]:
                if m.get("Ebs", {}).get("SnapshotId") == snapshot_id:
                    raise ApiError("InvalidSnapshot.InUse", "The snapshot %s is currently in "
                                   "use by %s" % (snapshot_id, image["ImageId"]))
        del r.snapshots[snapshot_id]
        r.tags.pop(snapshot_id, None)
        return {}
