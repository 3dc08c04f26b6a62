"""EC2 instances: RunInstances (ClientToken, launch templates), lifecycle, console."""
import base64
import binascii
import ipaddress

from . import cloudinit
from .ec2_common import RETENTION_SECONDS
from .errors import ApiError

STATE_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48,
               "stopping": 64, "stopped": 80}
_LIVE = ("pending", "running", "stopping", "stopped", "shutting-down")


def state(name):
    return {"Code": STATE_CODES[name], "Name": name}


class InstanceMixin:
    # -- launch -------------------------------------------------------------
    def _template_defaults(self, r, spec):
        if not spec:
            return {}
        template = self.find_template(r, spec.get("LaunchTemplateId"),
                                      spec.get("LaunchTemplateName"))
        version = self.template_version(template, spec.get("Version", "$Default"))
        return version["LaunchTemplateData"]

    def RunInstances(self, ctx, p):
        r = ctx.region
        token = p.get("ClientToken")
        replay = self.idempotent(r, "RunInstances", token, p)
        if replay is not None:
            return self._describe_reservation(r, replay)
        data = dict(self._template_defaults(r, p.get("LaunchTemplate")))
        data.update({k: v for k, v in p.items() if k != "LaunchTemplate"})
        if "ImageId" not in data:
            raise ApiError("MissingParameter", "The request must contain the parameter ImageId")
        image = self.image(r, data["ImageId"])
        if p["MinCount"] < 1 or p["MaxCount"] < p["MinCount"]:
            raise ApiError("InvalidParameterValue", "Value (%d) for parameter minCount is "
                           "invalid. Expected a value between 1 and maxCount (%d)."
                           % (p["MinCount"], p["MaxCount"]))
        nic = (data.get("NetworkInterfaces") or [{}])[0]
        subnet_id = data.get("SubnetId") or nic.get("SubnetId")
        if not subnet_id:
            raise ApiError("VPCIdNotSpecified", "No default VPC for this user. GroupName is "
                           "only supported for EC2-Classic and default VPC.")
        subnet = self._subnet(r, subnet_id)
        groups = self._launch_groups(r, subnet, data, nic)
        key_name = data.get("KeyName")
        key = None
        if key_name is not None:
            key = r.key_pairs.get(key_name)
            if key is None:
                raise ApiError("InvalidKeyPair.NotFound", "The key pair '%s' does not exist"
                               % key_name)
        user_data = self._user_data(data.get("UserData"))
        # What cloud-init will make of it: scripts to run, host keys to install.
        boot = cloudinit.read(user_data)
        wants_public = nic.get("AssociatePublicIpAddress", subnet["MapPublicIpOnLaunch"])
        count = p["MaxCount"]
        hosts = []
        pool = self.emulator.services.get("hosts")
        if pool is not None and pool.enabled:
            hosts = pool.acquire(p["MinCount"], p["MaxCount"])
            if hosts is None:
                raise ApiError("InsufficientInstanceCapacity", "We currently do not have "
                               "sufficient capacity in the Availability Zone you requested (%s)."
                               % subnet["AvailabilityZone"], 500, sender=False)
            count = len(hosts)
        reservation_id = self.ids.new("r")
        instance_ids = []
        for index in range(count):
            host = hosts[index] if hosts else None
            inst = self._new_instance(ctx, data, image, subnet, groups, key_name, index,
                                      reservation_id, host, wants_public)
            inst["_user_data"] = user_data
            inst["_boot"] = boot
            r.instances[inst["InstanceId"]] = inst
            for spec in data.get("TagSpecifications") or []:
                if spec.get("ResourceType") == "instance":
                    self.set_tags(r, inst["InstanceId"], spec.get("Tags", []))
            instance_ids.append(inst["InstanceId"])
            if host is not None:
                pool.bootstrap(ctx.region_name, inst["InstanceId"], host,
                               key["_public_key"] if key else None, boot,
                               has_profile="IamInstanceProfile" in inst)
        r.reservations[reservation_id] = {"ReservationId": reservation_id,
                                          "OwnerId": ctx.account_id, "Groups": [],
                                          "_instances": instance_ids}
        self.remember(r, "RunInstances", token, p, reservation_id)
        return self._describe_reservation(r, reservation_id)

    def _launch_groups(self, r, subnet, data, nic):
        ids = list(data.get("SecurityGroupIds") or nic.get("Groups") or [])
        for name in data.get("SecurityGroups") or []:
            ids.append(self._group(r, {"GroupName": name}, subnet["VpcId"])["GroupId"])
        if not ids:
            ids = [g["GroupId"] for g in r.security_groups.values()
                   if g["VpcId"] == subnet["VpcId"] and g["GroupName"] == "default"]
        groups = []
        for gid in ids:
            group = self.lookup(r.security_groups, gid, "InvalidGroup.NotFound",
                                "security group")
            if group["VpcId"] != subnet["VpcId"]:
                raise ApiError("InvalidParameter", "Security group %s and subnet %s belong to "
                               "different networks." % (gid, subnet["SubnetId"]))
            groups.append({"GroupName": group["GroupName"], "GroupId": gid})
        return groups

    @staticmethod
    def _user_data(text):
        if text is None:
            return None
        try:
            raw = base64.b64decode(text.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise ApiError("InvalidParameterValue", "Invalid BASE64 encoding of user data.")
        if len(raw) > 16384:
            raise ApiError("InvalidParameterValue", "User data is limited to 16384 bytes")
        return raw

    def _instance_address(self, r, subnet, host):
        if host is not None:
            return host["address"]
        if self.emulator.config.loopback_addresses:
            used = {i.get("PrivateIpAddress") for i in r.instances.values()
                    if i["State"]["Name"] != "terminated"}
            for n in range(2, 255):
                if "127.0.0.%d" % n not in used:
                    return "127.0.0.%d" % n
            raise ApiError("InsufficientInstanceCapacity", "No loopback address left.", 500,
                           sender=False)
        return self.private_ip(r, subnet)

    def _new_instance(self, ctx, data, image, subnet, groups, key_name, index, reservation_id,
                      host, wants_public):
        r = ctx.region
        instance_id = self.ids.new("i")
        private_ip = self._instance_address(r, subnet, host)
        inst = {
            "AmiLaunchIndex": index, "ImageId": image["ImageId"], "InstanceId": instance_id,
            "InstanceType": data.get("InstanceType", "m1.small"),
            "LaunchTime": ctx.now, "Monitoring": {"State": "disabled"},
            "Placement": {"AvailabilityZone": subnet["AvailabilityZone"], "GroupName": "",
                          "Tenancy": "default"},
            "PrivateDnsName": "ip-%s.ec2.internal" % private_ip.replace(".", "-"),
            "PrivateIpAddress": private_ip, "ProductCodes": [], "PublicDnsName": "",
            "State": state("pending"), "StateTransitionReason": "",
            "SubnetId": subnet["SubnetId"], "VpcId": subnet["VpcId"],
            "Architecture": image.get("Architecture", "x86_64"), "BlockDeviceMappings": [],
            "ClientToken": data.get("ClientToken", ""), "EbsOptimized": False,
            "EnaSupport": True, "Hypervisor": "xen", "RootDeviceName": "/dev/xvda",
            "RootDeviceType": "ebs", "SecurityGroups": groups, "SourceDestCheck": True,
            "VirtualizationType": "hvm",
            "_since": self.clock(), "_ready": host is None, "_host": host,
            "_reservation": reservation_id, "_cleaned": host is None,
        }
        if key_name:
            inst["KeyName"] = key_name
        if data.get("IamInstanceProfile"):
            profile = data["IamInstanceProfile"]
            name = profile.get("Name") or profile.get("Arn", "").rsplit("/", 1)[-1]
            inst["IamInstanceProfile"] = {
                "Arn": profile.get("Arn") or "arn:aws:iam::%s:instance-profile/%s"
                % (ctx.account_id, name), "Id": "AIPA" + self.ids.hex(17).upper()}
        if wants_public:
            public_ip = host["address"] if host is not None else (
                private_ip if self.emulator.config.loopback_addresses else self._public_ip(r))
            inst["PublicIpAddress"] = public_ip
            inst["PublicDnsName"] = "ec2-%s.compute-1.amazonaws.com" % public_ip.replace(".", "-")
        return inst

    # -- describe -----------------------------------------------------------
    def describe_instance(self, r, inst):
        out = self.with_tags(r, inst, inst["InstanceId"])
        out["State"] = dict(inst["State"])
        return out

    def _describe_reservation(self, r, reservation_id, only=None):
        res = r.reservations[reservation_id]
        ids = [i for i in res["_instances"] if i in r.instances and (only is None or i in only)]
        return {"ReservationId": reservation_id, "OwnerId": res["OwnerId"], "Groups": [],
                "Instances": [self.describe_instance(r, r.instances[i]) for i in ids]}

    def instance_filters(self, r):
        return {
            "instance-id": lambda i: i["InstanceId"],
            "instance-state-name": lambda i: i["State"]["Name"],
            "instance-state-code": lambda i: i["State"]["Code"],
            "vpc-id": lambda i: i.get("VpcId"), "subnet-id": lambda i: i.get("SubnetId"),
            "image-id": lambda i: i["ImageId"], "instance-type": lambda i: i["InstanceType"],
            "key-name": lambda i: i.get("KeyName"),
            "private-ip-address": lambda i: i.get("PrivateIpAddress"),
            "ip-address": lambda i: i.get("PublicIpAddress"),
            "availability-zone": lambda i: i["Placement"]["AvailabilityZone"],
            "reservation-id": lambda i: i["_reservation"],
            "client-token": lambda i: i.get("ClientToken"),
            "instance.group-id": lambda i: [g["GroupId"] for g in i["SecurityGroups"]],
            "instance.group-name": lambda i: [g["GroupName"] for g in i["SecurityGroups"]],
            "launch-time": lambda i: i["LaunchTime"].strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        }

    def DescribeInstances(self, ctx, p):
        r = ctx.region
        if p.get("InstanceIds") and "MaxResults" in p:
            raise ApiError("InvalidParameterCombination", "The parameter instancesSet cannot "
                           "be used with the parameter maxResults")
        items = (self.lookup_many(r.instances, p["InstanceIds"], "InvalidInstanceID.NotFound",
                                  "instance ID", "instance IDs")
                 if p.get("InstanceIds") else list(r.instances.values()))
        items = self.filtered(r, items, p.get("Filters"), self.instance_filters(r),
                              lambda i: i["InstanceId"])
        page, token = self.paginate(items, p.get("MaxResults"), p.get("NextToken"))
        reservations, order = {}, []
        for inst in page:
            rid = inst["_reservation"]
            if rid not in reservations:
                reservations[rid] = set()
                order.append(rid)
            reservations[rid].add(inst["InstanceId"])
        return {"Reservations": [self._describe_reservation(r, rid, reservations[rid])
                                 for rid in order], "NextToken": token}

    # -- lifecycle ----------------------------------------------------------
    def terminate(self, r, inst, reason="User initiated"):
        """Start terminating one instance; returns (previous, current) states."""
        previous = dict(inst["State"])
        if inst["State"]["Name"] in ("shutting-down", "terminated"):
            return previous, dict(inst["State"])
        inst["State"] = state("shutting-down")
        inst["StateTransitionReason"] = "%s (%s)" % (reason, self.utc().strftime(
            "%Y-%m-%d %H:%M:%S GMT"))
        inst["StateReason"] = {"Code": "Client.UserInitiatedShutdown",
                               "Message": "Client.UserInitiatedShutdown: User initiated shutdown"}
        inst["_since"] = self.clock()
        for addr in r.addresses.values():
            if addr.get("InstanceId") == inst["InstanceId"]:
                self._disassociate(r, addr)
        pool = self.emulator.services.get("hosts")
        if inst["_host"] is not None and pool is not None:
            pool.cleanup(r.name, inst["InstanceId"], inst["_host"])
        return previous, dict(inst["State"])

    def TerminateInstances(self, ctx, p):
        r = ctx.region
        insts = self.lookup_many(r.instances, p["InstanceIds"], "InvalidInstanceID.NotFound",
                                 "instance ID", "instance IDs")
        out = []
        for inst in insts:
            previous, current = self.terminate(r, inst)
            out.append({"InstanceId": inst["InstanceId"], "PreviousState": previous,
                        "CurrentState": current})
        return {"TerminatingInstances": out}

    def ModifyInstanceAttribute(self, ctx, p):
        """SourceDestCheck and Groups; one attribute a call, as EC2 wants."""
        r = ctx.region
        inst = self.lookup(r.instances, p["InstanceId"], "InvalidInstanceID.NotFound",
                           "instance ID")
        given = [k for k in p if k not in ("InstanceId", "DryRun")]
        if len(given) != 1:
            raise ApiError("InvalidParameterCombination", "Exactly one attribute must be "
                           "specified in the request" if given else "No attributes specified.")
        if inst["State"]["Name"] in ("shutting-down", "terminated"):
            raise ApiError("IncorrectInstanceState", "The instance '%s' is not in a state from "
                           "which it can be modified." % inst["InstanceId"])
        key = given[0]
        if key == "SourceDestCheck":
            if "Value" not in p[key]:
                raise ApiError("MissingParameter", "The request must contain the parameter "
                               "SourceDestCheck.Value")
            inst["SourceDestCheck"] = bool(p[key]["Value"])
        elif key == "Groups":
            groups = []
            for gid in p["Groups"]:
                group = self.lookup(r.security_groups, gid, "InvalidGroup.NotFound",
                                    "security group")
                if group["VpcId"] != inst["VpcId"]:
                    raise ApiError("InvalidGroup.NotFound", "The security group '%s' does not "
                                   "exist in VPC '%s'" % (gid, inst["VpcId"]))
                groups.append({"GroupName": group["GroupName"], "GroupId": gid})
            inst["SecurityGroups"] = groups
        else:
            raise ApiError("UnsupportedOperation", "ModifyInstanceAttribute of %s is not "
                           "supported by this emulator." % key)
        return {}

    def StopInstances(self, ctx, p):
        r = ctx.region
        insts = self.lookup_many(r.instances, p["InstanceIds"], "InvalidInstanceID.NotFound",
                                 "instance ID", "instance IDs")
        for inst in insts:
            if inst["State"]["Name"] in ("pending", "shutting-down", "terminated"):
                raise ApiError("IncorrectInstanceState", "This instance '%s' is not in a state "
                               "from which it can be stopped." % inst["InstanceId"])
        out = []
        for inst in insts:
            previous = dict(inst["State"])
            if inst["State"]["Name"] == "running":
                inst["State"] = state("stopping")
                inst["StateTransitionReason"] = "User initiated (%s)" % self.utc().strftime(
                    "%Y-%m-%d %H:%M:%S GMT")
                inst["_since"] = self.clock()
            out.append({"InstanceId": inst["InstanceId"], "PreviousState": previous,
                        "CurrentState": dict(inst["State"])})
        return {"StoppingInstances": out}

    def tick_instances(self, r, now):
        pending = self.emulator.config.pending_seconds
        retention = self.emulator.config.retention(RETENTION_SECONDS)
        for instance_id in list(r.instances):
            inst = r.instances[instance_id]
            name = inst["State"]["Name"]
            age = now - inst["_since"]
            if name == "pending" and age >= pending and inst["_ready"]:
                inst["State"] = state("running")
                inst["_since"] = now
            elif name == "stopping" and age >= pending:
                inst["State"] = state("stopped")
                inst["_since"] = now
            elif name == "shutting-down" and age >= pending and inst["_cleaned"]:
                inst["State"] = state("terminated")
                inst["_since"] = now
                pool = self.emulator.services.get("hosts")
                if inst["_host"] is not None and pool is not None:
                    pool.release(inst["_host"])
                    inst["_released"] = True
            elif name == "terminated" and age >= retention:
                del r.instances[instance_id]
                r.tags.pop(instance_id, None)
                res = r.reservations.get(inst["_reservation"])
                if res and not any(i in r.instances for i in res["_instances"]):
                    del r.reservations[inst["_reservation"]]

    def host_ready(self, region_name, instance_id, error=None):
        """Called by the host pool when the key is installed and user data started."""
        with self.emulator.lock:
            inst = self.emulator.region(region_name).instances.get(instance_id)
            if inst is not None:
                inst["_ready"] = True
                if error:
                    inst["_bootstrap_error"] = error

    def host_cleaned(self, region_name, instance_id):
        with self.emulator.lock:
            inst = self.emulator.region(region_name).instances.get(instance_id)
            if inst is not None:
                inst["_cleaned"] = True

    def GetConsoleOutput(self, ctx, p):
        r = ctx.region
        inst = self.lookup(r.instances, p["InstanceId"], "InvalidInstanceID.NotFound",
                           "instance ID")
        out = {"InstanceId": inst["InstanceId"], "Timestamp": ctx.now}
        if inst["State"]["Name"] == "pending":
            return out
        pool = self.emulator.services.get("hosts")
        text = pool.console_text(inst) if pool is not None else ""
        out["Output"] = base64.b64encode(text.encode("utf-8")).decode("ascii")
        return out

    # -- tags ---------------------------------------------------------------
    def CreateTags(self, ctx, p):
        r = ctx.region
        for tag in p["Tags"]:
            if tag["Key"].lower().startswith("aws:"):
                raise ApiError("InvalidParameterValue", "Tag keys starting with 'aws:' are "
                               "reserved for internal use")
        for resource_id in p["Resources"]:
            self.resource_exists(r, resource_id)
        for resource_id in p["Resources"]:
            current = r.tags.get(resource_id, {})
            new_keys = {t["Key"] for t in p["Tags"]} - set(current)
            if len(current) + len(new_keys) > 50:
                raise ApiError("TagLimitExceeded", "The maximum number of Tags for a resource "
                               "has been reached.")
            self.set_tags(r, resource_id, p["Tags"])
        return {}

    def DeleteTags(self, ctx, p):
        r = ctx.region
        for resource_id in p["Resources"]:
            self.resource_exists(r, resource_id)
            store = r.tags.get(resource_id, {})
            if "Tags" not in p:
                for key in [k for k in store if not k.startswith("aws:")]:
                    del store[key]
                continue
            for tag in p["Tags"]:
                if tag["Key"] in store and ("Value" not in tag
                                            or store[tag["Key"]] == tag["Value"]):
                    del store[tag["Key"]]
        return {}

    def DescribeTags(self, ctx, p):
        r = ctx.region
        rows = []
        for resource_id, tags in r.tags.items():
            kind = self.type_of(resource_id)
            for key, value in tags.items():
                rows.append({"Key": key, "ResourceId": resource_id, "ResourceType": kind,
                             "Value": value})
        rows = self.filtered(r, rows, p.get("Filters"), {
            "resource-id": lambda t: t["ResourceId"], "resource-type": lambda t: t["ResourceType"],
            "key": lambda t: t["Key"], "value": lambda t: t["Value"],
        }, lambda t: t["ResourceId"])
        page, token = self.paginate(rows, p.get("MaxResults"), p.get("NextToken"))
        return {"Tags": page, "NextToken": token}

    # -- zones --------------------------------------------------------------
    def _zone_id(self, ctx, zone):
        zones = self.emulator.config.zones.get(ctx.region_name, [])
        parts = ctx.region_name.split("-")
        short = parts[0] + "".join(x[0] for x in parts[1:-1]) + parts[-1] if len(parts) > 2 \
            else ctx.region_name
        return "%s-az%d" % (short, zones.index(zone) + 1 if zone in zones else 1)

    def DescribeAvailabilityZones(self, ctx, p):
        zones = self.emulator.config.zones.get(ctx.region_name, [])
        for name in p.get("ZoneNames") or []:
            if name not in zones:
                raise ApiError("InvalidParameterValue", "The zone '%s' does not exist in the "
                               "region %s" % (name, ctx.region_name))
        items = [{"State": "available", "OptInStatus": "opt-in-not-required", "Messages": [],
                  "RegionName": ctx.region_name, "ZoneName": z, "ZoneId": self._zone_id(ctx, z),
                  "GroupName": ctx.region_name, "NetworkBorderGroup": ctx.region_name,
                  "ZoneType": "availability-zone"}
                 for z in zones if not p.get("ZoneNames") or z in p["ZoneNames"]]
        if p.get("ZoneIds"):
            items = [z for z in items if z["ZoneId"] in p["ZoneIds"]]
        items = self.filtered(ctx.region, items, p.get("Filters"), {
            "zone-name": lambda z: z["ZoneName"], "zone-id": lambda z: z["ZoneId"],
            "state": lambda z: z["State"], "region-name": lambda z: z["RegionName"],
            "zone-type": lambda z: z["ZoneType"], "group-name": lambda z: z["GroupName"],
        }, lambda z: z["ZoneName"])
        return {"AvailabilityZones": items}

    def subnet_address_space(self, subnet):
        return ipaddress.IPv4Network(subnet["CidrBlock"])


def live(inst):
    return inst["State"]["Name"] in _LIVE
