"""Auto Scaling groups on launch templates; a background loop converges them."""
import time

from .autoscaling_loop import Converger
from .errors import ApiError, modeled
from .server import Context


def _validation(message):
    return ApiError("ValidationError", message)


class AutoScaling(Converger):
    def __init__(self, emulator, model):
        self.emulator = emulator
        self.model = model
        period = max(0.1, min(1.0, emulator.config.scaled(10)))
        emulator.add_ticker(period, self.tick)

    def _ec2(self):
        return self.emulator.services["ec2"]

    def _elb(self):
        return self.emulator.services["elasticloadbalancing"]

    def ec2_context(self, region_name, action="RunInstances"):
        return Context(self.emulator, "ec2", region_name, action, self.emulator.ids.request_id())

    def _group(self, r, name):
        group = r.auto_scaling_groups.get(name)
        if group is None or group.get("_deleted"):
            raise _validation("AutoScalingGroup name not found - AutoScalingGroup '%s' not found"
                              % name)
        return group

    # -- validation ---------------------------------------------------------
    def _launch_template(self, r, spec):
        if bool(spec.get("LaunchTemplateId")) == bool(spec.get("LaunchTemplateName")):
            raise _validation("Valid requests must contain either launchTemplateId or "
                              "LaunchTemplateName")
        try:
            template = self._ec2().find_template(r, spec.get("LaunchTemplateId"),
                                                 spec.get("LaunchTemplateName"))
            version = spec.get("Version", "$Default")
            self._ec2().template_version(template, version)
        except ApiError as e:
            raise _validation("You must use a valid fully-formed launch template. %s" % e.message)
        return {"LaunchTemplateId": template["LaunchTemplateId"],
                "LaunchTemplateName": template["LaunchTemplateName"], "Version": version}

    def _subnets(self, r, identifier):
        ids = [s.strip() for s in identifier.split(",") if s.strip()]
        for sid in ids:
            if sid not in r.subnets:
                raise _validation("The subnet ID '%s' does not exist" % sid)
        if len({r.subnets[s]["VpcId"] for s in ids}) > 1:
            raise _validation("The subnets of an Auto Scaling group must belong to one VPC.")
        return ids

    def _load_balancers(self, r, names):
        for name in names:
            if name not in r.load_balancers:
                raise _validation("Provided Load Balancers may not be valid. Please ensure they "
                                  "exist and try again.")
        return list(names)

    @staticmethod
    def _bounds(min_size, max_size, desired):
        if max_size < min_size:
            raise _validation("Max bound, %d, must be greater than or equal to min bound, %d"
                              % (max_size, min_size))
        if not min_size <= desired <= max_size:
            raise _validation("Desired capacity:%d must be between the specified min size:%d "
                              "and max size:%d" % (desired, min_size, max_size))

    def _tags(self, name, tags):
        out = []
        for tag in tags:
            if tag.get("Key", "").startswith("aws:"):
                raise _validation("Tag keys starting with 'aws:' are reserved for internal use")
            out.append({"ResourceId": name, "ResourceType": "auto-scaling-group",
                        "Key": tag["Key"], "Value": tag.get("Value", ""),
                        "PropagateAtLaunch": tag.get("PropagateAtLaunch", False)})
        return out

    # -- groups ---------------------------------------------------------------
    def CreateAutoScalingGroup(self, ctx, p):
        r = ctx.region
        name = p["AutoScalingGroupName"]
        if name in r.auto_scaling_groups:
            raise modeled(self.model, "AlreadyExistsFault", "AutoScalingGroup by this name "
                          "already exists - A group with the name %s already exists" % name)
        sources = [k for k in ("LaunchTemplate", "LaunchConfigurationName", "InstanceId",
                               "MixedInstancesPolicy") if k in p]
        if len(sources) != 1:
            raise _validation("Valid requests must contain either LaunchTemplate, "
                              "LaunchConfigurationName, InstanceId or MixedInstancesPolicy "
                              "parameter.")
        if sources[0] != "LaunchTemplate":
            raise ApiError("UnsupportedOperation", "Only launch templates are supported by this "
                           "emulator (not %s)." % sources[0])
        template = self._launch_template(r, p["LaunchTemplate"])
        desired = p.get("DesiredCapacity", p["MinSize"])
        self._bounds(p["MinSize"], p["MaxSize"], desired)
        if not p.get("VPCZoneIdentifier"):
            raise _validation("At least one Availability Zone or VPC Subnet is required.")
        subnets = self._subnets(r, p["VPCZoneIdentifier"])
        check_type = p.get("HealthCheckType", "EC2")
        if check_type not in ("EC2", "ELB"):
            raise _validation("Invalid health check type: %s (EC2 or ELB)" % check_type)
        group = {
            "AutoScalingGroupName": name,
            "AutoScalingGroupARN": "arn:aws:autoscaling:%s:%s:autoScalingGroup:%s:"
                                   "autoScalingGroupName/%s" % (
                                       ctx.region_name, ctx.account_id,
                                       self.emulator.ids.request_id(), name),
            "LaunchTemplate": template, "MinSize": p["MinSize"], "MaxSize": p["MaxSize"],
            "DesiredCapacity": desired, "DefaultCooldown": p.get("DefaultCooldown", 300),
            "AvailabilityZones": sorted({r.subnets[s]["AvailabilityZone"] for s in subnets}),
            "LoadBalancerNames": self._load_balancers(r, p.get("LoadBalancerNames", [])),
            "TargetGroupARNs": [], "HealthCheckType": check_type,
            "HealthCheckGracePeriod": p.get("HealthCheckGracePeriod", 0),
            "CreatedTime": ctx.now, "SuspendedProcesses": [],
            "VPCZoneIdentifier": ",".join(subnets), "EnabledMetrics": [],
            "Tags": self._tags(name, p.get("Tags", [])),
            "TerminationPolicies": p.get("TerminationPolicies") or ["Default"],
            "NewInstancesProtectedFromScaleIn": p.get("NewInstancesProtectedFromScaleIn", False),
            "ServiceLinkedRoleARN": "arn:aws:iam::%s:role/aws-service-role/autoscaling."
                                    "amazonaws.com/AWSServiceRoleForAutoScaling" % ctx.account_id,
            "_members": {}, "_retry_at": 0.0,
        }
        r.auto_scaling_groups[name] = group
        return {}

    def UpdateAutoScalingGroup(self, ctx, p):
        r = ctx.region
        group = self._group(r, p["AutoScalingGroupName"])
        if group.get("Status"):
            raise modeled(self.model, "ScalingActivityInProgressFault", "The group is being "
                          "deleted.")
        min_size = p.get("MinSize", group["MinSize"])
        max_size = p.get("MaxSize", group["MaxSize"])
        desired = p.get("DesiredCapacity")
        if desired is None:
            desired = min(max(group["DesiredCapacity"], min_size), max_size)
        self._bounds(min_size, max_size, desired)
        if "LaunchTemplate" in p:
            group["LaunchTemplate"] = self._launch_template(r, p["LaunchTemplate"])
        if "VPCZoneIdentifier" in p:
            subnets = self._subnets(r, p["VPCZoneIdentifier"])
            group["VPCZoneIdentifier"] = ",".join(subnets)
            group["AvailabilityZones"] = sorted({r.subnets[s]["AvailabilityZone"]
                                                 for s in subnets})
        if "HealthCheckType" in p:
            if p["HealthCheckType"] not in ("EC2", "ELB"):
                raise _validation("Invalid health check type: %s (EC2 or ELB)"
                                  % p["HealthCheckType"])
            group["HealthCheckType"] = p["HealthCheckType"]
        for key in ("HealthCheckGracePeriod", "DefaultCooldown", "TerminationPolicies",
                    "NewInstancesProtectedFromScaleIn"):
            if key in p:
                group[key] = p[key]
        group.update(MinSize=min_size, MaxSize=max_size, DesiredCapacity=desired)
        return {}

    def DeleteAutoScalingGroup(self, ctx, p):
        r = ctx.region
        group = self._group(r, p["AutoScalingGroupName"])
        members = group["_members"]
        if p.get("ForceDelete"):
            group["Status"] = "Delete in progress"
            group["DesiredCapacity"] = group["MinSize"] = 0
            for iid in list(members):
                self.terminate_member(r, group, iid, "the group is being deleted")
            if not members:
                self.forget(r, group)
            return {}
        if group.get("Status"):
            raise modeled(self.model, "ScalingActivityInProgressFault", "You cannot delete an "
                          "AutoScalingGroup while there are scaling activities in progress for "
                          "that group.")
        if any(m["LifecycleState"] in ("Pending", "Terminating") for m in members.values()):
            raise modeled(self.model, "ScalingActivityInProgressFault", "You cannot delete an "
                          "AutoScalingGroup while there are scaling activities in progress for "
                          "that group.")
        if members:
            raise modeled(self.model, "ResourceInUseFault", "You cannot delete an "
                          "AutoScalingGroup while there are instances or pending Spot instance "
                          "request(s) still in the group.")
        self.forget(r, group)
        return {}

    def forget(self, r, group):
        group["_deleted"] = True
        r.auto_scaling_groups.pop(group["AutoScalingGroupName"], None)

    def _describe_group(self, r, group):
        out = {k: v for k, v in group.items() if not k.startswith("_")}
        out["Tags"] = [dict(t) for t in group["Tags"]]
        out["Instances"] = []
        for iid, m in group["_members"].items():
            inst = r.instances.get(iid)
            out["Instances"].append({
                "InstanceId": iid, "InstanceType": inst["InstanceType"] if inst else "",
                "AvailabilityZone": m["AvailabilityZone"], "LifecycleState": m["LifecycleState"],
                "HealthStatus": m["HealthStatus"], "LaunchTemplate": dict(m["LaunchTemplate"]),
                "ProtectedFromScaleIn": False})
        return out

    @staticmethod
    def _page(items, token, max_records, high=100, default=50):
        start = 0
        if token:
            if not token.isdigit():
                raise modeled_invalid_token()
            start = int(token)
        size = default if max_records is None else max_records
        if not 1 <= size <= high:
            raise _validation("MaxRecords must be between 1 and %d" % high)
        page = items[start:start + size]
        return page, (str(start + size) if start + size < len(items) else None)

    def DescribeAutoScalingGroups(self, ctx, p):
        r = ctx.region
        groups = list(r.auto_scaling_groups.values())
        if p.get("AutoScalingGroupNames"):
            groups = [g for g in groups if g["AutoScalingGroupName"] in p["AutoScalingGroupNames"]]
        for flt in p.get("Filters") or []:
            name, values = flt.get("Name", ""), flt.get("Values", [])
            if name == "tag-key":
                groups = [g for g in groups if any(t["Key"] in values for t in g["Tags"])]
            elif name == "tag-value":
                groups = [g for g in groups if any(t["Value"] in values for t in g["Tags"])]
            elif name.startswith("tag:"):
                groups = [g for g in groups if any(t["Key"] == name[4:] and t["Value"] in values
                                                   for t in g["Tags"])]
            else:
                raise _validation("Unsupported filter name: %s" % name)
        page, token = self._page(groups, p.get("NextToken"), p.get("MaxRecords"))
        return {"AutoScalingGroups": [self._describe_group(r, g) for g in page],
                "NextToken": token}

    def _member_of(self, r, instance_id):
        for group in r.auto_scaling_groups.values():
            if instance_id in group["_members"]:
                return group
        return None

    def DescribeAutoScalingInstances(self, ctx, p):
        r = ctx.region
        rows = []
        for group in r.auto_scaling_groups.values():
            for g in [self._describe_group(r, group)]:
                for inst in g["Instances"]:
                    if p.get("InstanceIds") and inst["InstanceId"] not in p["InstanceIds"]:
                        continue
                    row = dict(inst, AutoScalingGroupName=group["AutoScalingGroupName"])
                    rows.append(row)
        page, token = self._page(rows, p.get("NextToken"), p.get("MaxRecords"), high=50)
        return {"AutoScalingInstances": page, "NextToken": token}

    def SetDesiredCapacity(self, ctx, p):
        group = self._group(ctx.region, p["AutoScalingGroupName"])
        desired = p["DesiredCapacity"]
        if desired > group["MaxSize"]:
            raise _validation("New SetDesiredCapacity value %d is above max value %d for the "
                              "AutoScalingGroup." % (desired, group["MaxSize"]))
        if desired < group["MinSize"]:
            raise _validation("New SetDesiredCapacity value %d is below min value %d for the "
                              "AutoScalingGroup." % (desired, group["MinSize"]))
        group["DesiredCapacity"] = desired
        return {}

    def TerminateInstanceInAutoScalingGroup(self, ctx, p):
        r = ctx.region
        group = self._member_of(r, p["InstanceId"])
        if group is None:
            raise _validation("Instance Id not found - No managed instance found for instance "
                              "ID: %s" % p["InstanceId"])
        if p["ShouldDecrementDesiredCapacity"]:
            if group["DesiredCapacity"] <= group["MinSize"]:
                raise _validation("Currently, desiredCapacity (%d) is equal to minSize (%d); "
                                  "decrementing would violate the minimum size."
                                  % (group["DesiredCapacity"], group["MinSize"]))
            group["DesiredCapacity"] -= 1
        activity = self.terminate_member(r, group, p["InstanceId"], "user request")
        return {"Activity": self.describe_activity(activity)}

    def SetInstanceHealth(self, ctx, p):
        r = ctx.region
        group = self._member_of(r, p["InstanceId"])
        if group is None:
            raise _validation("Instance Id not found - No managed instance found for instance "
                              "ID: %s" % p["InstanceId"])
        if p["HealthStatus"] not in ("Healthy", "Unhealthy"):
            raise _validation("Invalid health status: %s" % p["HealthStatus"])
        member = group["_members"][p["InstanceId"]]
        in_grace = time.monotonic() < member["_grace_until"]
        if p.get("ShouldRespectGracePeriod", True) and in_grace:
            return {}
        member["HealthStatus"] = p["HealthStatus"]
        return {}

    # -- load balancers -------------------------------------------------------
    def AttachLoadBalancers(self, ctx, p):
        r = ctx.region
        group = self._group(r, p["AutoScalingGroupName"])
        for name in self._load_balancers(r, p["LoadBalancerNames"]):
            if name not in group["LoadBalancerNames"]:
                group["LoadBalancerNames"].append(name)
        self.sync_load_balancers(r, group)
        return {}

    def DetachLoadBalancers(self, ctx, p):
        r = ctx.region
        group = self._group(r, p["AutoScalingGroupName"])
        for name in p["LoadBalancerNames"]:
            if name in group["LoadBalancerNames"]:
                group["LoadBalancerNames"].remove(name)
                lb = r.load_balancers.get(name)
                if lb is not None:
                    self._elb().deregister(lb, list(group["_members"]))
        return {}

    def DescribeLoadBalancers(self, ctx, p):
        group = self._group(ctx.region, p["AutoScalingGroupName"])
        rows = [{"LoadBalancerName": n, "State": "InService"} for n in group["LoadBalancerNames"]]
        page, token = self._page(rows, p.get("NextToken"), p.get("MaxRecords"))
        return {"LoadBalancers": page, "NextToken": token}

    # -- tags -----------------------------------------------------------------
    def CreateOrUpdateTags(self, ctx, p):
        r = ctx.region
        for tag in p["Tags"]:
            group = self._group(r, tag.get("ResourceId", ""))
            new = self._tags(group["AutoScalingGroupName"], [tag])[0]
            group["Tags"] = [t for t in group["Tags"] if t["Key"] != new["Key"]] + [new]
        return {}

    def DeleteTags(self, ctx, p):
        r = ctx.region
        for tag in p["Tags"]:
            group = self._group(r, tag.get("ResourceId", ""))
            group["Tags"] = [t for t in group["Tags"] if t["Key"] != tag["Key"]]
        return {}

    def DescribeTags(self, ctx, p):
        rows = [dict(t) for g in ctx.region.auto_scaling_groups.values() for t in g["Tags"]]
        fields = {"auto-scaling-group": "ResourceId", "key": "Key", "value": "Value",
                  "propagate-at-launch": "PropagateAtLaunch"}
        for flt in p.get("Filters") or []:
            field = fields.get(flt.get("Name"))
            if field is None:
                raise _validation("Unsupported filter name: %s" % flt.get("Name"))
            values = flt.get("Values", [])
            rows = [t for t in rows if str(t[field]).lower() in [v.lower() for v in values]
                    or t[field] in values]
        page, token = self._page(rows, p.get("NextToken"), p.get("MaxRecords"))
        return {"Tags": page, "NextToken": token}

    def DescribeScalingActivities(self, ctx, p):
        r = ctx.region
        rows = list(reversed(r.scaling_activities))
        if p.get("AutoScalingGroupName"):
            rows = [a for a in rows if a["AutoScalingGroupName"] == p["AutoScalingGroupName"]]
        if p.get("ActivityIds"):
            rows = [a for a in rows if a["ActivityId"] in p["ActivityIds"]]
        page, token = self._page(rows, p.get("NextToken"), p.get("MaxRecords"))
        return {"Activities": [self.describe_activity(a) for a in page], "NextToken": token}


def modeled_invalid_token():
    return ApiError("InvalidNextToken", "The token is invalid.")
