"""EC2 networking: VPCs, subnets, internet gateways, Elastic IPs, NAT gateways, routes."""
import ipaddress

from .ec2_common import RETENTION_SECONDS, public
from .errors import ApiError

LIVE_INSTANCE_STATES = ("pending", "running", "stopping", "stopped", "shutting-down")


def _cidr(text, param):
    try:
        net = ipaddress.IPv4Network(text, strict=True)
    except ValueError:
        raise ApiError("InvalidParameterValue", "Value (%s) for parameter %s is invalid. "
                       "This is not a valid CIDR block." % (text, param))
    return net


class NetworkMixin:
    # -- VPCs ---------------------------------------------------------------
    def CreateVpc(self, ctx, p):
        r = ctx.region
        if "CidrBlock" not in p:
            raise ApiError("MissingParameter", "The request must contain the parameter "
                           "CidrBlock or Ipv4IpamPoolId")
        net = _cidr(p["CidrBlock"], "CidrBlock")
        if not 16 <= net.prefixlen <= 28:
            raise ApiError("InvalidVpc.Range", "The CIDR '%s' is invalid." % p["CidrBlock"])
        vpc_id = self.ids.new("vpc")
        vpc = {
            "CidrBlock": str(net), "DhcpOptionsId": "dopt-" + self.ids.hex(8),
            "State": "available", "VpcId": vpc_id, "OwnerId": ctx.account_id,
            "InstanceTenancy": p.get("InstanceTenancy", "default"),
            "CidrBlockAssociationSet": [{
                "AssociationId": self.ids.new("vpc-cidr-assoc"), "CidrBlock": str(net),
                "CidrBlockState": {"State": "associated"}}],
            "IsDefault": False,
            "_attributes": {"EnableDnsSupport": True, "EnableDnsHostnames": False},
        }
        r.vpcs[vpc_id] = vpc
        self.tag_specs(r, p.get("TagSpecifications"), "vpc", vpc_id)
        # Every VPC comes with a main route table and a default security group.
        rtb = self._new_route_table(ctx, vpc)
        rtb["Associations"].append({
            "Main": True, "RouteTableAssociationId": self.ids.new("rtbassoc"),
            "RouteTableId": rtb["RouteTableId"], "AssociationState": {"State": "associated"}})
        self._new_default_group(ctx, vpc)
        return {"Vpc": self.with_tags(r, vpc, vpc_id)}

    def _vpc(self, r, vpc_id):
        return self.lookup(r.vpcs, vpc_id, "InvalidVpcID.NotFound", "vpc ID")

    def DescribeVpcs(self, ctx, p):
        r = ctx.region
        items = (self.lookup_many(r.vpcs, p["VpcIds"], "InvalidVpcID.NotFound", "vpc ID",
                                  "vpc IDs") if p.get("VpcIds") else list(r.vpcs.values()))
        items = self.filtered(r, items, p.get("Filters"), {
            "vpc-id": lambda v: v["VpcId"], "cidr": lambda v: v["CidrBlock"],
            "cidr-block-association.cidr-block": lambda v: v["CidrBlock"],
            "state": lambda v: v["State"], "is-default": lambda v: v["IsDefault"],
            "owner-id": lambda v: v["OwnerId"], "dhcp-options-id": lambda v: v["DhcpOptionsId"],
        }, lambda v: v["VpcId"])
        page, token = self.paginate(items, p.get("MaxResults"), p.get("NextToken"))
        return {"Vpcs": [self.with_tags(r, v, v["VpcId"]) for v in page], "NextToken": token}

    def DeleteVpc(self, ctx, p):
        r = ctx.region
        vpc = self._vpc(r, p["VpcId"])
        vpc_id = vpc["VpcId"]
        busy = (any(s["VpcId"] == vpc_id for s in r.subnets.values())
                or any(any(a["VpcId"] == vpc_id for a in g["Attachments"])
                       for g in r.internet_gateways.values())
                or any(g["VpcId"] == vpc_id and g["GroupName"] != "default"
                       for g in r.security_groups.values())
                or any(t["VpcId"] == vpc_id and not self._is_main(t)
                       for t in r.route_tables.values())
                or any(n["VpcId"] == vpc_id and n["State"] not in ("deleted", "failed")
                       for n in r.nat_gateways.values())
                or any(i.get("VpcId") == vpc_id and i["State"]["Name"] in LIVE_INSTANCE_STATES
                       for i in r.instances.values()))
        if busy:
            raise ApiError("DependencyViolation", "The vpc '%s' has dependencies and cannot "
                           "be deleted." % vpc_id)
        for table in (r.route_tables, r.security_groups):
            for key in [k for k, v in table.items() if v["VpcId"] == vpc_id]:
                del table[key]
                r.tags.pop(key, None)
        del r.vpcs[vpc_id]
        r.tags.pop(vpc_id, None)
        return {"Return": True} if self._has_member(ctx, "Return") else {}

    def _has_member(self, ctx, name):
        op = self.model.operations[ctx.action]
        if "output" not in op:
            return False
        return name in self.model.shape(op["output"]["shape"]).get("members", {})

    def ModifyVpcAttribute(self, ctx, p):
        vpc = self._vpc(ctx.region, p["VpcId"])
        for attr in ("EnableDnsSupport", "EnableDnsHostnames"):
            if attr in p:
                vpc["_attributes"][attr] = p[attr].get("Value", False)
        return {}

    def DescribeVpcAttribute(self, ctx, p):
        vpc = self._vpc(ctx.region, p["VpcId"])
        names = {"enableDnsSupport": "EnableDnsSupport", "enableDnsHostnames": "EnableDnsHostnames"}
        if p["Attribute"] not in names:
            raise ApiError("InvalidParameterValue", "Value (%s) for parameter attribute is "
                           "invalid." % p["Attribute"])
        member = names[p["Attribute"]]
        return {"VpcId": vpc["VpcId"], member: {"Value": vpc["_attributes"][member]}}

    # -- subnets ------------------------------------------------------------
    def CreateSubnet(self, ctx, p):
        r = ctx.region
        vpc = self._vpc(r, p["VpcId"])
        if "CidrBlock" not in p:
            raise ApiError("MissingParameter", "The request must contain the parameter CidrBlock")
        net = _cidr(p["CidrBlock"], "CidrBlock")
        if not net.subnet_of(ipaddress.IPv4Network(vpc["CidrBlock"])) or net.prefixlen > 28:
            raise ApiError("InvalidSubnet.Range", "The CIDR '%s' is invalid." % p["CidrBlock"])
        for other in r.subnets.values():
            if other["VpcId"] == vpc["VpcId"] and net.overlaps(
                    ipaddress.IPv4Network(other["CidrBlock"])):
                raise ApiError("InvalidSubnet.Conflict", "The CIDR '%s' conflicts with another "
                               "subnet" % p["CidrBlock"])
        zones = self.emulator.config.zones.get(ctx.region_name, [])
        zone = p.get("AvailabilityZone") or (zones[0] if zones else ctx.region_name + "a")
        if zones and zone not in zones:
            raise ApiError("InvalidParameterValue", "Value (%s) for parameter availabilityZone "
                           "is invalid. Subnets can currently only be created in the following "
                           "availability zones: %s." % (zone, ", ".join(zones)))
        subnet_id = self.ids.new("subnet")
        subnet = {
            "AvailabilityZone": zone, "AvailabilityZoneId": self._zone_id(ctx, zone),
            "AvailableIpAddressCount": net.num_addresses - 5, "CidrBlock": str(net),
            "DefaultForAz": False, "MapPublicIpOnLaunch": False, "State": "available",
            "SubnetId": subnet_id, "VpcId": vpc["VpcId"], "OwnerId": ctx.account_id,
            "AssignIpv6AddressOnCreation": False, "Ipv6CidrBlockAssociationSet": [],
            "SubnetArn": "arn:aws:ec2:%s:%s:subnet/%s" % (ctx.region_name, ctx.account_id,
                                                          subnet_id),
        }
        r.subnets[subnet_id] = subnet
        self.tag_specs(r, p.get("TagSpecifications"), "subnet", subnet_id)
        return {"Subnet": self.with_tags(r, subnet, subnet_id)}

    def _subnet(self, r, subnet_id):
        return self.lookup(r.subnets, subnet_id, "InvalidSubnetID.NotFound", "subnet ID")

    def DescribeSubnets(self, ctx, p):
        r = ctx.region
        items = (self.lookup_many(r.subnets, p["SubnetIds"], "InvalidSubnetID.NotFound",
                                  "subnet ID", "subnet IDs")
                 if p.get("SubnetIds") else list(r.subnets.values()))
        items = self.filtered(r, items, p.get("Filters"), {
            "subnet-id": lambda s: s["SubnetId"], "vpc-id": lambda s: s["VpcId"],
            "cidr-block": lambda s: s["CidrBlock"], "cidr": lambda s: s["CidrBlock"],
            "availability-zone": lambda s: s["AvailabilityZone"],
            "state": lambda s: s["State"], "default-for-az": lambda s: s["DefaultForAz"],
            "map-public-ip-on-launch": lambda s: s["MapPublicIpOnLaunch"],
            "owner-id": lambda s: s["OwnerId"],
        }, lambda s: s["SubnetId"])
        page, token = self.paginate(items, p.get("MaxResults"), p.get("NextToken"))
        return {"Subnets": [self.with_tags(r, s, s["SubnetId"]) for s in page],
                "NextToken": token}

    def ModifySubnetAttribute(self, ctx, p):
        subnet = self._subnet(ctx.region, p["SubnetId"])
        if "MapPublicIpOnLaunch" in p:
            subnet["MapPublicIpOnLaunch"] = p["MapPublicIpOnLaunch"].get("Value", False)
        if "AssignIpv6AddressOnCreation" in p:
            subnet["AssignIpv6AddressOnCreation"] = p["AssignIpv6AddressOnCreation"].get(
                "Value", False)
        return {}

    def DeleteSubnet(self, ctx, p):
        r = ctx.region
        subnet = self._subnet(r, p["SubnetId"])
        sid = subnet["SubnetId"]
        busy = (any(i.get("SubnetId") == sid and i["State"]["Name"] in LIVE_INSTANCE_STATES
                    for i in r.instances.values())
                or any(n["SubnetId"] == sid and n["State"] not in ("deleted", "failed")
                       for n in r.nat_gateways.values())
                or any(sid in lb["Subnets"] for lb in r.load_balancers.values()))
        if busy:
            raise ApiError("DependencyViolation", "The subnet '%s' has dependencies and cannot "
                           "be deleted." % sid)
        for rtb in r.route_tables.values():
            rtb["Associations"] = [a for a in rtb["Associations"] if a.get("SubnetId") != sid]
        del r.subnets[sid]
        r.tags.pop(sid, None)
        return {}

    # -- internet gateways --------------------------------------------------
    def CreateInternetGateway(self, ctx, p):
        r = ctx.region
        igw_id = self.ids.new("igw")
        igw = {"Attachments": [], "InternetGatewayId": igw_id, "OwnerId": ctx.account_id}
        r.internet_gateways[igw_id] = igw
        self.tag_specs(r, p.get("TagSpecifications"), "internet-gateway", igw_id)
        return {"InternetGateway": self.with_tags(r, igw, igw_id)}

    def _igw(self, r, igw_id):
        return self.lookup(r.internet_gateways, igw_id, "InvalidInternetGatewayID.NotFound",
                           "internet gateway ID")

    def AttachInternetGateway(self, ctx, p):
        r = ctx.region
        igw = self._igw(r, p["InternetGatewayId"])
        vpc = self._vpc(r, p["VpcId"])
        if igw["Attachments"]:
            raise ApiError("Resource.AlreadyAssociated", "resource %s is already attached to "
                           "network %s" % (igw["InternetGatewayId"],
                                           igw["Attachments"][0]["VpcId"]))
        for other in r.internet_gateways.values():
            if any(a["VpcId"] == vpc["VpcId"] for a in other["Attachments"]):
                raise ApiError("Resource.AlreadyAssociated", "network %s already has an "
                               "internet gateway attached" % vpc["VpcId"])
        igw["Attachments"].append({"State": "available", "VpcId": vpc["VpcId"]})
        return {}

    def DetachInternetGateway(self, ctx, p):
        r = ctx.region
        igw = self._igw(r, p["InternetGatewayId"])
        vpc_id = p["VpcId"]
        if not any(a["VpcId"] == vpc_id for a in igw["Attachments"]):
            raise ApiError("Gateway.NotAttached", "resource %s is not attached to network %s"
                           % (igw["InternetGatewayId"], vpc_id))
        mapped = any(i.get("VpcId") == vpc_id and i.get("PublicIpAddress")
                     and i["State"]["Name"] in LIVE_INSTANCE_STATES
                     for i in r.instances.values())
        if mapped:
            raise ApiError("DependencyViolation", "Network %s has some mapped public "
                           "address(es). Please unmap those public address(es) before "
                           "detaching the gateway." % vpc_id)
        igw["Attachments"] = []
        return {}

    def DeleteInternetGateway(self, ctx, p):
        r = ctx.region
        igw = self._igw(r, p["InternetGatewayId"])
        if igw["Attachments"]:
            raise ApiError("DependencyViolation", "The internetGateway '%s' has dependencies "
                           "and cannot be deleted." % igw["InternetGatewayId"])
        del r.internet_gateways[igw["InternetGatewayId"]]
        r.tags.pop(igw["InternetGatewayId"], None)
        return {}

    def DescribeInternetGateways(self, ctx, p):
        r = ctx.region
        items = (self.lookup_many(r.internet_gateways, p["InternetGatewayIds"],
                                  "InvalidInternetGatewayID.NotFound", "internet gateway ID",
                                  "internet gateway IDs")
                 if p.get("InternetGatewayIds") else list(r.internet_gateways.values()))
        items = self.filtered(r, items, p.get("Filters"), {
            "internet-gateway-id": lambda g: g["InternetGatewayId"],
            "attachment.vpc-id": lambda g: [a["VpcId"] for a in g["Attachments"]],
            "attachment.state": lambda g: [a["State"] for a in g["Attachments"]],
            "owner-id": lambda g: g["OwnerId"],
        }, lambda g: g["InternetGatewayId"])
        page, token = self.paginate(items, p.get("MaxResults"), p.get("NextToken"))
        return {"InternetGateways": [self.with_tags(r, g, g["InternetGatewayId"]) for g in page],
                "NextToken": token}

    def vpc_has_gateway(self, r, vpc_id):
        return any(any(a["VpcId"] == vpc_id for a in g["Attachments"])
                   for g in r.internet_gateways.values())

    # -- Elastic IPs --------------------------------------------------------
    def _public_ip(self, r):
        used = {a["PublicIp"] for a in r.addresses.values()}
        used |= {i.get("PublicIpAddress") for i in r.instances.values()}
        # Documentation ranges (RFC 5737): never anybody's real address.
        for net in ("198.51.100.0/24", "203.0.113.0/24"):
            for host in ipaddress.IPv4Network(net).hosts():
                if str(host) not in used:
                    return str(host)
        raise ApiError("AddressLimitExceeded", "The maximum number of addresses has been reached.")

    def AllocateAddress(self, ctx, p):
        r = ctx.region
        alloc_id = self.ids.new("eipalloc")
        addr = {"PublicIp": self._public_ip(r), "AllocationId": alloc_id, "Domain": "vpc",
                "PublicIpv4Pool": "amazon", "NetworkBorderGroup": ctx.region_name}
        r.addresses[alloc_id] = addr
        self.tag_specs(r, p.get("TagSpecifications"), "elastic-ip", alloc_id)
        return dict(addr)

    def _address(self, r, p):
        if "AllocationId" in p:
            return self.lookup(r.addresses, p["AllocationId"], "InvalidAllocationID.NotFound",
                               "allocation ID")
        if "PublicIp" in p:
            for addr in r.addresses.values():
                if addr["PublicIp"] == p["PublicIp"]:
                    return addr
            raise ApiError("InvalidAddress.NotFound", "Address '%s' not found." % p["PublicIp"])
        raise ApiError("MissingParameter", "The request must contain the parameter AllocationId")

    def _nat_using(self, r, alloc_id):
        return [n for n in r.nat_gateways.values() if n["State"] not in ("deleted", "failed")
                and any(a.get("AllocationId") == alloc_id for a in n["NatGatewayAddresses"])]

    def ReleaseAddress(self, ctx, p):
        r = ctx.region
        addr = self._address(r, p)
        if addr.get("AssociationId") or self._nat_using(r, addr["AllocationId"]):
            raise ApiError("InvalidIPAddress.InUse", "Address %s is in use."
                           % addr["AllocationId"])
        del r.addresses[addr["AllocationId"]]
        r.tags.pop(addr["AllocationId"], None)
        return {}

    def AssociateAddress(self, ctx, p):
        r = ctx.region
        addr = self._address(r, p)
        if "InstanceId" not in p:
            raise ApiError("MissingParameter", "The request must contain the parameter "
                           "InstanceId or NetworkInterfaceId")
        inst = self.lookup(r.instances, p["InstanceId"], "InvalidInstanceID.NotFound",
                           "instance ID")
        if addr.get("AssociationId") and not p.get("AllowReassociation"):
            raise ApiError("Resource.AlreadyAssociated", "resource %s is already associated "
                           "with associate-id %s" % (addr["AllocationId"], addr["AssociationId"]))
        if not self.vpc_has_gateway(r, inst.get("VpcId")):
            raise ApiError("Gateway.NotAttached", "Network %s is not attached to any internet "
                           "gateway" % inst.get("VpcId"))
        self._disassociate(r, addr)
        addr["AssociationId"] = self.ids.new("eipassoc")
        addr["InstanceId"] = inst["InstanceId"]
        addr["PrivateIpAddress"] = inst.get("PrivateIpAddress")
        inst["_ip_before_eip"] = inst.get("PublicIpAddress")
        inst["PublicIpAddress"] = addr["PublicIp"]
        return {"AssociationId": addr["AssociationId"]}

    def _disassociate(self, r, addr):
        inst = r.instances.get(addr.get("InstanceId"))
        if inst is not None:
            inst["PublicIpAddress"] = inst.pop("_ip_before_eip", None)
        for key in ("AssociationId", "InstanceId", "PrivateIpAddress"):
            addr.pop(key, None)

    def DisassociateAddress(self, ctx, p):
        r = ctx.region
        for addr in r.addresses.values():
            if (addr.get("AssociationId") == p.get("AssociationId")
                    or ("PublicIp" in p and addr["PublicIp"] == p["PublicIp"])):
                self._disassociate(r, addr)
                return {}
        raise ApiError("InvalidAssociationID.NotFound", "The association ID '%s' does not "
                       "exist" % p.get("AssociationId", p.get("PublicIp")))

    def DescribeAddresses(self, ctx, p):
        r = ctx.region
        items = list(r.addresses.values())
        if p.get("AllocationIds"):
            items = self.lookup_many(r.addresses, p["AllocationIds"],
                                     "InvalidAllocationID.NotFound", "allocation ID",
                                     "allocation IDs")
        if p.get("PublicIps"):
            items = [a for a in items if a["PublicIp"] in p["PublicIps"]]
        items = self.filtered(r, items, p.get("Filters"), {
            "allocation-id": lambda a: a["AllocationId"], "public-ip": lambda a: a["PublicIp"],
            "instance-id": lambda a: a.get("InstanceId"), "domain": lambda a: a["Domain"],
            "association-id": lambda a: a.get("AssociationId"),
        }, lambda a: a["AllocationId"])
        return {"Addresses": [self.with_tags(r, a, a["AllocationId"]) for a in items]}

    # -- NAT gateways -------------------------------------------------------
    def CreateNatGateway(self, ctx, p):
        r = ctx.region
        token = p.get("ClientToken")
        replay = self.idempotent(r, "CreateNatGateway", token, p)
        if replay is not None:
            nat = r.nat_gateways[replay]
            return {"ClientToken": token, "NatGateway": self.with_tags(r, nat, replay)}
        subnet = self._subnet(r, p["SubnetId"])
        kind = p.get("ConnectivityType", "public")
        addresses = []
        if kind == "public":
            if "AllocationId" not in p:
                raise ApiError("MissingParameter", "The request must contain the parameter "
                               "AllocationId")
            addr = self.lookup(r.addresses, p["AllocationId"], "InvalidAllocationID.NotFound",
                               "allocation ID")
            if addr.get("AssociationId") or self._nat_using(r, addr["AllocationId"]):
                raise ApiError("Resource.AlreadyAssociated", "Elastic IP address [%s] is "
                               "already associated" % addr["AllocationId"])
            addresses.append({"AllocationId": addr["AllocationId"],
                              "PublicIp": addr["PublicIp"]})
        nat_id = self.ids.new("nat")
        nat = {
            "CreateTime": ctx.now, "NatGatewayAddresses": addresses, "NatGatewayId": nat_id,
            "State": "pending", "SubnetId": subnet["SubnetId"], "VpcId": subnet["VpcId"],
            "ConnectivityType": kind, "_since": self.clock(),
        }
        ip = self.private_ip(r, subnet)
        for a in addresses or [{}]:
            a.update({"NetworkInterfaceId": self.ids.new("eni"), "PrivateIp": ip})
        nat["NatGatewayAddresses"] = addresses
        r.nat_gateways[nat_id] = nat
        self.tag_specs(r, p.get("TagSpecifications"), "natgateway", nat_id)
        self.remember(r, "CreateNatGateway", token, p, nat_id)
        return {"ClientToken": token, "NatGateway": self.with_tags(r, nat, nat_id)}

    def DeleteNatGateway(self, ctx, p):
        r = ctx.region
        nat = self.lookup(r.nat_gateways, p["NatGatewayId"], "NatGatewayNotFound",
                          "NAT gateway ID")
        if nat["State"] in ("pending", "available", "failed"):
            nat["State"] = "deleting"
            nat["_since"] = self.clock()
        return {"NatGatewayId": nat["NatGatewayId"]}

    def DescribeNatGateways(self, ctx, p):
        r = ctx.region
        items = (self.lookup_many(r.nat_gateways, p["NatGatewayIds"], "NatGatewayNotFound",
                                  "NAT gateway ID", "NAT gateway IDs")
                 if p.get("NatGatewayIds") else list(r.nat_gateways.values()))
        items = self.filtered(r, items, p.get("Filter"), {
            "nat-gateway-id": lambda n: n["NatGatewayId"], "state": lambda n: n["State"],
            "subnet-id": lambda n: n["SubnetId"], "vpc-id": lambda n: n["VpcId"],
        }, lambda n: n["NatGatewayId"])
        page, token = self.paginate(items, p.get("MaxResults"), p.get("NextToken"))
        return {"NatGateways": [self.with_tags(r, n, n["NatGatewayId"]) for n in page],
                "NextToken": token}

    def tick_nat_gateways(self, r, now):
        pending = self.emulator.config.pending_seconds
        for nat_id in list(r.nat_gateways):
            nat = r.nat_gateways[nat_id]
            age = now - nat["_since"]
            if nat["State"] == "pending" and age >= pending:
                if nat["ConnectivityType"] == "public" and not self.vpc_has_gateway(
                        r, nat["VpcId"]):
                    nat.update(State="failed", FailureCode="Gateway.NotAttached",
                               FailureMessage="Network %s has no Internet gateway attached"
                               % nat["VpcId"], _since=now)
                else:
                    nat.update(State="available", _since=now)
            elif nat["State"] == "deleting" and age >= pending:
                nat.update(State="deleted", DeleteTime=self.utc(), _since=now)
            elif nat["State"] in ("deleted", "failed") and age >= self.emulator.config.retention(
                    RETENTION_SECONDS):
                del r.nat_gateways[nat_id]
                r.tags.pop(nat_id, None)

    # -- route tables -------------------------------------------------------
    def _new_route_table(self, ctx, vpc):
        rtb_id = self.ids.new("rtb")
        rtb = {"Associations": [], "PropagatingVgws": [], "RouteTableId": rtb_id,
               "Routes": [{"DestinationCidrBlock": vpc["CidrBlock"], "GatewayId": "local",
                           "Origin": "CreateRouteTable", "State": "active"}],
               "VpcId": vpc["VpcId"], "OwnerId": ctx.account_id}
        ctx.region.route_tables[rtb_id] = rtb
        return rtb

    @staticmethod
    def _is_main(rtb):
        return any(a.get("Main") for a in rtb["Associations"])

    def _rtb(self, r, rtb_id):
        return self.lookup(r.route_tables, rtb_id, "InvalidRouteTableID.NotFound",
                           "routeTable ID")

    def CreateRouteTable(self, ctx, p):
        r = ctx.region
        rtb = self._new_route_table(ctx, self._vpc(r, p["VpcId"]))
        self.tag_specs(r, p.get("TagSpecifications"), "route-table", rtb["RouteTableId"])
        return {"RouteTable": self._describe_rtb(r, rtb)}

    def _describe_rtb(self, r, rtb):
        out = self.with_tags(r, rtb, rtb["RouteTableId"])
        routes = []
        for route in rtb["Routes"]:
            route = dict(route)
            gw = route.get("GatewayId")
            nat = route.get("NatGatewayId")
            dead = ((gw and gw.startswith("igw-") and not any(
                a["VpcId"] == rtb["VpcId"] for a in r.internet_gateways.get(gw, {}).get(
                    "Attachments", [])))
                    or (nat and r.nat_gateways.get(nat, {}).get("State") in (
                        None, "deleted", "deleting", "failed"))
                    or (route.get("InstanceId") and r.instances.get(
                        route["InstanceId"], {}).get("State", {}).get("Name") in (
                        None, "shutting-down", "terminated")))
            route["State"] = "blackhole" if dead else "active"
            if route.get("InstanceId"):
                route["InstanceOwnerId"] = rtb["OwnerId"]
            routes.append(route)
        out["Routes"] = routes
        out["Associations"] = [dict(a) for a in rtb["Associations"]]
        return out

    def _route_target(self, r, rtb, p):
        targets = [k for k in ("GatewayId", "NatGatewayId", "InstanceId", "NetworkInterfaceId",
                               "VpcPeeringConnectionId", "TransitGatewayId") if k in p]
        if len(targets) != 1:
            raise ApiError("InvalidParameterCombination" if targets else "MissingParameter",
                           "The request must contain exactly one route target (GatewayId, "
                           "NatGatewayId, InstanceId, ...)")
        key = targets[0]
        value = p[key]
        if key == "GatewayId":
            igw = self.lookup(r.internet_gateways, value, "InvalidGatewayID.NotFound",
                              "gateway ID")
            if not any(a["VpcId"] == rtb["VpcId"] for a in igw["Attachments"]):
                raise ApiError("InvalidParameterValue", "route table %s and network gateway %s "
                               "belong to different networks" % (rtb["RouteTableId"], value))
        elif key == "NatGatewayId":
            self.lookup(r.nat_gateways, value, "NatGatewayNotFound", "NAT gateway ID")
        elif key == "InstanceId":
            inst = self.lookup(r.instances, value, "InvalidInstanceID.NotFound", "instance ID")
            if inst["VpcId"] != rtb["VpcId"]:
                raise ApiError("InvalidParameterValue", "route table %s and instance %s belong "
                               "to different networks" % (rtb["RouteTableId"], value))
        else:
            raise ApiError("UnsupportedOperation", "Route targets of type %s are not supported "
                           "by this emulator." % key)
        return key, value

    def _destination(self, p):
        if "DestinationCidrBlock" not in p:
            raise ApiError("MissingParameter", "The request must contain the parameter "
                           "destinationCidrBlock")
        return str(_cidr(p["DestinationCidrBlock"], "DestinationCidrBlock"))

    def CreateRoute(self, ctx, p):
        r = ctx.region
        rtb = self._rtb(r, p["RouteTableId"])
        dest = self._destination(p)
        if any(route.get("DestinationCidrBlock") == dest for route in rtb["Routes"]):
            raise ApiError("RouteAlreadyExists", "The route identified by %s already exists."
                           % dest)
        key, value = self._route_target(r, rtb, p)
        rtb["Routes"].append({"DestinationCidrBlock": dest, key: value,
                              "Origin": "CreateRoute", "State": "active"})
        return {"Return": True}

    def ReplaceRoute(self, ctx, p):
        r = ctx.region
        rtb = self._rtb(r, p["RouteTableId"])
        dest = self._destination(p)
        for index, route in enumerate(rtb["Routes"]):
            if route.get("DestinationCidrBlock") == dest and route.get("GatewayId") != "local":
                key, value = self._route_target(r, rtb, p)
                rtb["Routes"][index] = {"DestinationCidrBlock": dest, key: value,
                                        "Origin": "CreateRoute", "State": "active"}
                return {}
        raise ApiError("InvalidRoute.NotFound", "no route with destination-cidr-block %s in "
                       "route table %s" % (dest, rtb["RouteTableId"]))

    def DeleteRoute(self, ctx, p):
        r = ctx.region
        rtb = self._rtb(r, p["RouteTableId"])
        dest = self._destination(p)
        for route in rtb["Routes"]:
            if route.get("DestinationCidrBlock") == dest:
                if route.get("GatewayId") == "local":
                    raise ApiError("InvalidParameterValue", "cannot remove local route %s in "
                                   "route table %s" % (dest, rtb["RouteTableId"]))
                rtb["Routes"].remove(route)
                return {}
        raise ApiError("InvalidRoute.NotFound", "no route with destination-cidr-block %s in "
                       "route table %s" % (dest, rtb["RouteTableId"]))

    def AssociateRouteTable(self, ctx, p):
        r = ctx.region
        rtb = self._rtb(r, p["RouteTableId"])
        if "SubnetId" not in p:
            raise ApiError("MissingParameter", "The request must contain the parameter SubnetId")
        subnet = self._subnet(r, p["SubnetId"])
        if subnet["VpcId"] != rtb["VpcId"]:
            raise ApiError("InvalidParameterValue", "Route table %s and subnet %s belong to "
                           "different networks" % (rtb["RouteTableId"], subnet["SubnetId"]))
        for other in r.route_tables.values():
            if any(a.get("SubnetId") == subnet["SubnetId"] for a in other["Associations"]):
                raise ApiError("Resource.AlreadyAssociated", "the specified association for "
                               "route table %s conflicts with an existing association"
                               % rtb["RouteTableId"])
        assoc = {"Main": False, "RouteTableAssociationId": self.ids.new("rtbassoc"),
                 "RouteTableId": rtb["RouteTableId"], "SubnetId": subnet["SubnetId"],
                 "AssociationState": {"State": "associated"}}
        rtb["Associations"].append(assoc)
        return {"AssociationId": assoc["RouteTableAssociationId"],
                "AssociationState": {"State": "associated"}}

    def DisassociateRouteTable(self, ctx, p):
        for rtb in ctx.region.route_tables.values():
            for assoc in rtb["Associations"]:
                if assoc["RouteTableAssociationId"] == p["AssociationId"]:
                    if assoc.get("Main"):
                        raise ApiError("InvalidParameterValue", "cannot disassociate the main "
                                       "route table association %s" % p["AssociationId"])
                    rtb["Associations"].remove(assoc)
                    return {}
        raise ApiError("InvalidAssociationID.NotFound", "The association ID '%s' does not "
                       "exist" % p["AssociationId"])

    def DeleteRouteTable(self, ctx, p):
        r = ctx.region
        rtb = self._rtb(r, p["RouteTableId"])
        if rtb["Associations"]:
            raise ApiError("DependencyViolation", "The routeTable '%s' has dependencies and "
                           "cannot be deleted." % rtb["RouteTableId"])
        del r.route_tables[rtb["RouteTableId"]]
        r.tags.pop(rtb["RouteTableId"], None)
        return {}

    def DescribeRouteTables(self, ctx, p):
        r = ctx.region
        items = (self.lookup_many(r.route_tables, p["RouteTableIds"],
                                  "InvalidRouteTableID.NotFound", "route table ID",
                                  "route table IDs")
                 if p.get("RouteTableIds") else list(r.route_tables.values()))
        items = self.filtered(r, items, p.get("Filters"), {
            "route-table-id": lambda t: t["RouteTableId"], "vpc-id": lambda t: t["VpcId"],
            "association.subnet-id": lambda t: [a.get("SubnetId") for a in t["Associations"]],
            "association.route-table-association-id":
                lambda t: [a["RouteTableAssociationId"] for a in t["Associations"]],
            "association.main": lambda t: [a.get("Main") for a in t["Associations"]] or [False],
            "route.destination-cidr-block":
                lambda t: [x.get("DestinationCidrBlock") for x in t["Routes"]],
            "route.gateway-id": lambda t: [x.get("GatewayId") for x in t["Routes"]],
            "route.nat-gateway-id": lambda t: [x.get("NatGatewayId") for x in t["Routes"]],
            "owner-id": lambda t: t["OwnerId"],
        }, lambda t: t["RouteTableId"])
        page, token = self.paginate(items, p.get("MaxResults"), p.get("NextToken"))
        return {"RouteTables": [self._describe_rtb(r, t) for t in page], "NextToken": token}

    # -- addresses inside subnets -------------------------------------------
    def private_ip(self, r, subnet):
        net = ipaddress.IPv4Network(subnet["CidrBlock"])
        used = {i.get("PrivateIpAddress") for i in r.instances.values()
                if i["State"]["Name"] != "terminated"}
        used |= {a.get("PrivateIp") for n in r.nat_gateways.values()
                 for a in n["NatGatewayAddresses"]}
        hosts = list(net.hosts())[3:]  # AWS reserves .1-.3 (and the broadcast address)
        for host in hosts:
            if str(host) not in used:
                return str(host)
        raise ApiError("InsufficientFreeAddressesInSubnet", "There are not enough free "
                       "addresses in subnet '%s' to satisfy the requested number of instances."
                       % subnet["SubnetId"])

    def public_copy(self, obj):
        return public(obj)
