"""Classic Elastic Load Balancing: load balancers, listeners that forward, registration,
real health checks."""
import copy

from .elb_forward import Forwarder
from .elb_health import HealthChecker
from .errors import ApiError, modeled

# Classic ELB's hosted zone per region (the alias target zone of its DNS names).
HOSTED_ZONE_IDS = {
    "us-east-1": "Z35SXDOTRQ7X7K", "us-east-2": "Z3AADJGX6KTTL2",
    "us-west-1": "Z368ELLRRE2KJ0", "us-west-2": "Z1H1FL5HABSF5",
    "eu-west-1": "Z32O12XQLNTSW2", "eu-central-1": "Z215JYRZR1TBD5",
}
DEFAULT_HEALTH_CHECK = {"Interval": 30, "Timeout": 5, "UnhealthyThreshold": 2,
                        "HealthyThreshold": 10}
_PROTOCOLS = ("HTTP", "HTTPS", "TCP", "SSL")


def _validation(message):
    return ApiError("ValidationError", message)


class Elb:
    def __init__(self, emulator, model):
        self.emulator = emulator
        self.model = model
        self.health = HealthChecker(emulator)
        self.forward = Forwarder(emulator, self)

    def after_reset(self):
        self.forward.sync()

    def stop(self):
        """Closes the forwarding listeners and their connections."""
        self.forward.stop()

    def _ec2(self):
        return self.emulator.services["ec2"]

    def _lb(self, r, name):
        lb = r.load_balancers.get(name)
        if lb is None:
            raise modeled(self.model, "AccessPointNotFoundException",
                          "There is no ACTIVE Load Balancer named '%s'" % name)
        return lb

    def _listeners(self, listeners):
        out = []
        for listener in listeners:
            proto = listener["Protocol"].upper()
            inst_proto = listener.get("InstanceProtocol", proto).upper()
            if proto not in _PROTOCOLS or inst_proto not in _PROTOCOLS:
                raise _validation("Invalid protocol: %s. Protocol must be one of HTTP, HTTPS, "
                                  "TCP or SSL." % listener["Protocol"])
            if proto in ("HTTPS", "SSL") and not listener.get("SSLCertificateId"):
                raise _validation("SSLCertificateId is required for an %s listener." % proto)
            entry = {"Protocol": proto, "LoadBalancerPort": listener["LoadBalancerPort"],
                     "InstanceProtocol": inst_proto, "InstancePort": listener["InstancePort"]}
            if listener.get("SSLCertificateId"):
                entry["SSLCertificateId"] = listener["SSLCertificateId"]
            out.append({"Listener": entry, "PolicyNames": []})
        return out

    def _subnets(self, r, subnet_ids):
        subnets = []
        for sid in subnet_ids:
            if sid not in r.subnets:
                raise modeled(self.model, "SubnetNotFoundException",
                              "One or more subnets not found: %s" % sid)
            subnets.append(r.subnets[sid])
        if len({s["VpcId"] for s in subnets}) > 1:
            raise modeled(self.model, "InvalidConfigurationRequestException",
                          "Subnets must all belong to the same VPC")
        zones = [s["AvailabilityZone"] for s in subnets]
        for zone in zones:
            if zones.count(zone) > 1:
                raise modeled(self.model, "InvalidConfigurationRequestException",
                              "LoadBalancer attached to multiple subnets in AZ: %s." % zone)
        return subnets

    def _groups(self, r, group_ids, vpc_id):
        for gid in group_ids:
            group = r.security_groups.get(gid)
            if group is None or group["VpcId"] != vpc_id:
                raise modeled(self.model, "InvalidSecurityGroupException",
                              "One or more security groups are invalid: %s" % gid)
        return list(group_ids)

    def CreateLoadBalancer(self, ctx, p):
        r = ctx.region
        name = p["LoadBalancerName"]
        if (len(name) > 32 or not all(c.isalnum() or c == "-" for c in name)
                or name.startswith("-") or name.endswith("-")):
            raise _validation("LoadBalancerName '%s' must have at most 32 characters, only "
                              "letters, digits and hyphens, and neither begin nor end with a "
                              "hyphen." % name)
        listeners = self._listeners(p["Listeners"])
        if not p.get("Subnets") and not p.get("AvailabilityZones"):
            raise _validation("Either AvailabilityZones or SubnetIds must be specified")
        subnets = self._subnets(r, p.get("Subnets", []))
        vpc_id = subnets[0]["VpcId"] if subnets else None
        scheme = p.get("Scheme", "internet-facing")
        if scheme not in ("internet-facing", "internal"):
            raise modeled(self.model, "InvalidSchemeException", "Invalid scheme: %s" % scheme)
        existing = r.load_balancers.get(name)
        if existing is not None:
            same = (existing["ListenerDescriptions"] == listeners
                    and existing["Subnets"] == [s["SubnetId"] for s in subnets]
                    and existing["Scheme"] == scheme)
            if same:
                return {"DNSName": existing["DNSName"]}
            raise modeled(self.model, "DuplicateAccessPointNameException", "Load Balancer named "
                          "'%s' already exists and it is configured with different parameters."
                          % name)
        groups = p.get("SecurityGroups") or []
        if vpc_id and not groups:
            groups = [g["GroupId"] for g in r.security_groups.values()
                      if g["VpcId"] == vpc_id and g["GroupName"] == "default"]
        groups = self._groups(r, groups, vpc_id) if vpc_id else []
        prefix = "internal-" if scheme == "internal" else ""
        dns = "%s%s-%s.%s.elb.amazonaws.com" % (prefix, name, self.emulator.ids.digits(10),
                                                ctx.region_name)
        zones = ([s["AvailabilityZone"] for s in subnets] if subnets
                 else list(p.get("AvailabilityZones", [])))
        first_port = listeners[0]["Listener"]["InstancePort"]
        group_name = r.security_groups[groups[0]]["GroupName"] if groups else "amazon-elb-sg"
        lb = {
            "LoadBalancerName": name, "DNSName": dns, "CanonicalHostedZoneName": dns,
            "CanonicalHostedZoneNameID": HOSTED_ZONE_IDS.get(ctx.region_name, "Z35SXDOTRQ7X7K"),
            "ListenerDescriptions": listeners,
            "Policies": {"AppCookieStickinessPolicies": [], "LBCookieStickinessPolicies": [],
                         "OtherPolicies": []},
            "BackendServerDescriptions": [], "AvailabilityZones": zones,
            "Subnets": [s["SubnetId"] for s in subnets], "Instances": [],
            "HealthCheck": dict(DEFAULT_HEALTH_CHECK, Target="TCP:%d" % first_port),
            "SourceSecurityGroup": {"OwnerAlias": ctx.account_id, "GroupName": group_name},
            "SecurityGroups": groups, "CreatedTime": ctx.now, "Scheme": scheme,
            "_tags": [], "_health": {}, "_next_probe": 0.0,
            "_attributes": {"CrossZoneLoadBalancing": {"Enabled": False},
                            "AccessLog": {"Enabled": False},
                            "ConnectionDraining": {"Enabled": False, "Timeout": 300},
                            "ConnectionSettings": {"IdleTimeout": 60}},
        }
        if vpc_id:
            lb["VPCId"] = vpc_id
        self._set_tags(lb, p.get("Tags", []))
        r.load_balancers[name] = lb
        self.forward.sync()
        return {"DNSName": dns}

    def _describe(self, lb):
        out = {k: copy.deepcopy(v) for k, v in lb.items() if not k.startswith("_")}
        if "DNSName" in out and out["Scheme"] == "internal":
            out.pop("CanonicalHostedZoneName", None)
        return out

    def DescribeLoadBalancers(self, ctx, p):
        r = ctx.region
        names = p.get("LoadBalancerNames")
        items = [self._lb(r, n) for n in names] if names else list(r.load_balancers.values())
        start = 0
        if p.get("Marker"):
            if not p["Marker"].isdigit():
                raise _validation("Invalid Marker: %s" % p["Marker"][:40])
            start = int(p["Marker"])
        size = p.get("PageSize", 400)
        if not 1 <= size <= 400:
            raise _validation("PageSize must be between 1 and 400")
        page = items[start:start + size]
        out = {"LoadBalancerDescriptions": [self._describe(lb) for lb in page]}
        if start + size < len(items):
            out["NextMarker"] = str(start + size)
        return out

    def DeleteLoadBalancer(self, ctx, p):
        # Deleting a load balancer that does not exist succeeds, as on AWS.
        ctx.region.load_balancers.pop(p["LoadBalancerName"], None)
        self.forward.sync()
        return {}

    def CreateLoadBalancerListeners(self, ctx, p):
        lb = self._lb(ctx.region, p["LoadBalancerName"])
        for new in self._listeners(p["Listeners"]):
            port = new["Listener"]["LoadBalancerPort"]
            old = [d for d in lb["ListenerDescriptions"]
                   if d["Listener"]["LoadBalancerPort"] == port]
            if old and old[0]["Listener"] != new["Listener"]:
                raise modeled(self.model, "DuplicateListenerException", "A listener already "
                              "exists for %s with LoadBalancerPort %d, but with a different "
                              "InstancePort, Protocol, or SSLCertificateId"
                              % (lb["LoadBalancerName"], port))
            if not old:
                lb["ListenerDescriptions"].append(new)
        self.forward.sync()
        return {}

    def DeleteLoadBalancerListeners(self, ctx, p):
        lb = self._lb(ctx.region, p["LoadBalancerName"])
        ports = set(p["LoadBalancerPorts"])
        lb["ListenerDescriptions"] = [d for d in lb["ListenerDescriptions"]
                                      if d["Listener"]["LoadBalancerPort"] not in ports]
        self.forward.sync()
        return {}

    def ConfigureHealthCheck(self, ctx, p):
        lb = self._lb(ctx.region, p["LoadBalancerName"])
        check = dict(p["HealthCheck"])
        HealthChecker.parse_target(check["Target"])
        if check["Timeout"] >= check["Interval"]:
            raise _validation("HealthCheck Interval must be greater than the Timeout.")
        lb["HealthCheck"] = check
        lb["_next_probe"] = 0.0
        return {"HealthCheck": dict(check)}

    def _instances(self, r, lb, refs):
        ids = []
        for ref in refs:
            iid = ref.get("InstanceId")
            inst = r.instances.get(iid)
            if inst is None or inst["State"]["Name"] == "terminated" or (
                    lb.get("VPCId") and inst.get("VpcId") != lb["VPCId"]):
                raise modeled(self.model, "InvalidEndPointException",
                              "The requested instance %s is not valid for load balancer %s"
                              % (iid, lb["LoadBalancerName"]))
            ids.append(iid)
        return ids

    def register(self, r, lb, instance_ids):
        for iid in instance_ids:
            if {"InstanceId": iid} not in lb["Instances"]:
                lb["Instances"].append({"InstanceId": iid})
                lb["_health"][iid] = HealthChecker.new_record()

    def deregister(self, lb, instance_ids):
        lb["Instances"] = [i for i in lb["Instances"] if i["InstanceId"] not in instance_ids]
        for iid in instance_ids:
            lb["_health"].pop(iid, None)
        self.forward.deregistered(lb, instance_ids)

    def RegisterInstancesWithLoadBalancer(self, ctx, p):
        r = ctx.region
        lb = self._lb(r, p["LoadBalancerName"])
        self.register(r, lb, self._instances(r, lb, p["Instances"]))
        return {"Instances": [dict(i) for i in lb["Instances"]]}

    def DeregisterInstancesFromLoadBalancer(self, ctx, p):
        lb = self._lb(ctx.region, p["LoadBalancerName"])
        registered = {i["InstanceId"] for i in lb["Instances"]}
        ids = [ref.get("InstanceId") for ref in p["Instances"]]
        for iid in ids:
            if iid not in registered:
                raise modeled(self.model, "InvalidEndPointException",
                              "The requested instance %s is not registered with load "
                              "balancer %s" % (iid, lb["LoadBalancerName"]))
        self.deregister(lb, ids)
        return {"Instances": [dict(i) for i in lb["Instances"]]}

    def instance_state(self, r, lb, iid):
        """(State, ReasonCode, Description) of one registered instance, as AWS words it."""
        inst = r.instances.get(iid)
        name = inst["State"]["Name"] if inst else "terminated"
        if name in ("pending", "stopped", "terminated"):
            return "OutOfService", "Instance", "Instance is in %s state." % name
        if name in ("shutting-down", "stopping"):
            return "OutOfService", "Instance", "Instance is in %s state." % (
                "terminated" if name == "shutting-down" else "stopped")
        rec = lb["_health"].get(iid) or HealthChecker.new_record()
        return rec["State"], rec["ReasonCode"], rec["Description"]

    def DescribeInstanceHealth(self, ctx, p):
        r = ctx.region
        lb = self._lb(r, p["LoadBalancerName"])
        registered = [i["InstanceId"] for i in lb["Instances"]]
        draining = self.forward.draining(lb)
        wanted = ([ref.get("InstanceId") for ref in p.get("Instances") or []]
                  or registered + draining)
        out = []
        for iid in wanted:
            if iid in draining:
                out.append({"InstanceId": iid, "State": "OutOfService", "ReasonCode": "ELB",
                            "Description": "Instance deregistration currently in progress."})
                continue
            if iid not in registered:
                raise modeled(self.model, "InvalidEndPointException",
                              "Could not find EC2 instance %s." % iid)
            s, code, text = self.instance_state(r, lb, iid)
            out.append({"InstanceId": iid, "State": s, "ReasonCode": code, "Description": text})
        return {"InstanceStates": out}

    def _set_tags(self, lb, tags):
        keys = [t["Key"] for t in tags]
        if len(keys) != len(set(keys)):
            raise modeled(self.model, "DuplicateTagKeysException", "Duplicate tag keys")
        current = {t["Key"]: t for t in lb["_tags"]}
        for tag in tags:
            current[tag["Key"]] = {"Key": tag["Key"], "Value": tag.get("Value", "")}
        if len(current) > 10:
            raise modeled(self.model, "TooManyTagsException", "Too many tags (at most 10)")
        lb["_tags"] = list(current.values())

    def AddTags(self, ctx, p):
        for name in p["LoadBalancerNames"]:
            self._set_tags(self._lb(ctx.region, name), p["Tags"])
        return {}

    def RemoveTags(self, ctx, p):
        keys = {t["Key"] for t in p["Tags"]}
        for name in p["LoadBalancerNames"]:
            lb = self._lb(ctx.region, name)
            lb["_tags"] = [t for t in lb["_tags"] if t["Key"] not in keys]
        return {}

    def DescribeTags(self, ctx, p):
        return {"TagDescriptions": [
            {"LoadBalancerName": name, "Tags": [dict(t) for t in self._lb(ctx.region,
                                                                          name)["_tags"]]}
            for name in p["LoadBalancerNames"]]}

    def ApplySecurityGroupsToLoadBalancer(self, ctx, p):
        r = ctx.region
        lb = self._lb(r, p["LoadBalancerName"])
        if not lb.get("VPCId"):
            raise modeled(self.model, "InvalidConfigurationRequestException",
                          "Security groups apply only to load balancers in a VPC")
        lb["SecurityGroups"] = self._groups(r, p["SecurityGroups"], lb["VPCId"])
        return {"SecurityGroups": list(lb["SecurityGroups"])}

    def AttachLoadBalancerToSubnets(self, ctx, p):
        r = ctx.region
        lb = self._lb(r, p["LoadBalancerName"])
        wanted = lb["Subnets"] + [s for s in p["Subnets"] if s not in lb["Subnets"]]
        subnets = self._subnets(r, wanted)
        if lb.get("VPCId") and subnets and subnets[0]["VpcId"] != lb["VPCId"]:
            raise modeled(self.model, "InvalidSubnetException",
                          "Subnets must belong to the load balancer's VPC %s" % lb["VPCId"])
        lb["Subnets"] = wanted
        lb["AvailabilityZones"] = [s["AvailabilityZone"] for s in subnets]
        return {"Subnets": list(wanted)}

    def DetachLoadBalancerFromSubnets(self, ctx, p):
        r = ctx.region
        lb = self._lb(r, p["LoadBalancerName"])
        remaining = [s for s in lb["Subnets"] if s not in p["Subnets"]]
        if not remaining:
            raise modeled(self.model, "InvalidConfigurationRequestException",
                          "A load balancer must keep at least one subnet")
        lb["Subnets"] = remaining
        lb["AvailabilityZones"] = [r.subnets[s]["AvailabilityZone"] for s in remaining
                                   if s in r.subnets]
        return {"Subnets": list(remaining)}

    def DescribeLoadBalancerAttributes(self, ctx, p):
        lb = self._lb(ctx.region, p["LoadBalancerName"])
        return {"LoadBalancerAttributes": copy.deepcopy(lb["_attributes"])}

    def ModifyLoadBalancerAttributes(self, ctx, p):
        lb = self._lb(ctx.region, p["LoadBalancerName"])
        for key, value in p["LoadBalancerAttributes"].items():
            if key in lb["_attributes"]:
                lb["_attributes"][key].update(value)
        return {"LoadBalancerName": lb["LoadBalancerName"],
                "LoadBalancerAttributes": copy.deepcopy(lb["_attributes"])}
