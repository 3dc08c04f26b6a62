"""Cloud Routers with Cloud NAT, and regional static addresses."""
import ipaddress

from . import errors, refs
from .core import public
from .resources import Base
from .server import handles

# Documentation ranges: never routed, so nothing is ever sent to them.
PUBLIC_POOLS = [ipaddress.IPv4Network("203.0.113.0/24"), ipaddress.IPv4Network("198.51.100.0/24")]


def used_public_ips(project):
    used = set()
    for _, items in project.scopes_of("addresses"):
        used.update(a["address"] for a in items.values())
    for _, items in project.scopes_of("instances"):
        for inst in items.values():
            for nic in inst.get("networkInterfaces", []):
                used.update(ac.get("natIP") for ac in nic.get("accessConfigs", []))
    for _, items in project.scopes_of("forwardingRules"):
        used.update(r.get("IPAddress") for r in items.values())
    for item in project.pending_items.values():
        used.add(item.get("address"))
        used.add(item.get("IPAddress"))
    return used


def allocate_public_ip(project):
    used = used_public_ips(project)
    for pool in PUBLIC_POOLS:
        for host in pool.hosts():
            if str(host) not in used:
                return str(host)
    raise errors.OperationError("IP_SPACE_EXHAUSTED", "No external IP address is left.", 503)


def sync_address_users(project):
    """Each address's users and status (IN_USE / RESERVED) from what refers to it now."""
    by_value = {}
    for scope, items in project.scopes_of("addresses"):
        for addr in items.values():
            addr["_users"] = []
            by_value[(scope, addr["address"])] = addr
            by_value[addr["selfLink"]] = addr
    for scope, items in project.scopes_of("forwardingRules"):
        for rule in items.values():
            addr = by_value.get((scope, rule.get("IPAddress")))
            if addr is not None:
                addr["_users"].append(rule["selfLink"])
    for scope, items in project.scopes_of("instances"):
        region = scope.split("/", 1)[1].rsplit("-", 1)[0]
        for inst in items.values():
            for nic in inst.get("networkInterfaces", []):
                for ac in nic.get("accessConfigs", []):
                    addr = by_value.get(("regions/" + region, ac.get("natIP")))
                    if addr is not None:
                        addr["_users"].append(inst["selfLink"])
    for _, items in project.scopes_of("routers"):
        for router in items.values():
            for nat in router.get("nats", []):
                for ip in nat.get("natIps", []):
                    addr = by_value.get(ip)
                    if addr is not None:
                        addr["_users"].append(router["selfLink"])
    for _, items in project.scopes_of("addresses"):
        for addr in items.values():
            users = addr.pop("_users")
            if users:
                addr["users"] = users
                addr["status"] = "IN_USE"
            else:
                addr.pop("users", None)
                addr["status"] = "RESERVED"


class Routers(Base):
    # -- addresses --------------------------------------------------------------------
    @handles("compute.addresses.insert")
    def address_insert(self, ctx):
        body = dict(ctx.body)
        for out_only in ("users", "status"):
            body.pop(out_only, None)
        kind = body.setdefault("addressType", "EXTERNAL")
        project = ctx.project
        if kind == "INTERNAL":
            sub = self.ref(ctx, body.get("subnetwork"), "resource.subnetwork", "subnetworks")
            net = ipaddress.IPv4Network(sub["ipCidrRange"])
            if body.get("address"):
                if ipaddress.IPv4Address(body["address"]) not in net:
                    raise errors.invalid_field("resource.address", body["address"],
                                               "The address is not in the subnetwork's range.")
            else:
                taken = {a["address"] for _, i in project.scopes_of("addresses")
                         for a in i.values()}
                free = [str(h) for h in list(net.hosts())[1:-1] if str(h) not in taken]
                body["address"] = free[0]
            body["subnetwork"] = sub["selfLink"]
        else:
            body.setdefault("networkTier", "PREMIUM")
            if body.get("address"):
                if body["address"] in used_public_ips(project):
                    raise errors.invalid_field("resource.address", body["address"],
                                               "Specified IP address is in-use and would "
                                               "result in a conflict.")
            else:
                try:
                    body["address"] = allocate_public_ip(project)
                except errors.OperationError as e:
                    raise errors.ApiError(503, e.message, "backendError")
        item = self.new(ctx, "addresses", body)
        item["status"] = "RESERVED"
        return self.insert_simple(ctx, "addresses", item)

    @handles("compute.addresses.get")
    def address_get(self, ctx):
        return self.get_item(ctx, "addresses", ctx.params["address"])

    @handles("compute.addresses.list")
    def address_list(self, ctx):
        return self.list_items(ctx, "addresses")

    @handles("compute.addresses.aggregatedList")
    def address_aggregated(self, ctx):
        return self.aggregated_items(ctx, "addresses", "regions")

    @handles("compute.addresses.delete")
    def address_delete(self, ctx):
        def check(addr):
            sync_address_users(ctx.project)
            return self.in_use(addr, addr.get("users", []), "addresses")
        return self.delete_simple(ctx, "addresses", ctx.params["address"], check)

    # -- routers ----------------------------------------------------------------------
    def _router(self, ctx, body, name):
        network = self.ref(ctx, body.get("network"), "resource.network", "networks")
        body["network"] = network["selfLink"]
        bgp = body.get("bgp")
        if bgp and "asn" in bgp:
            asn = bgp["asn"]
            if not (64512 <= asn <= 65534 or 4200000000 <= asn <= 4294967294):
                raise errors.invalid_field("resource.bgp.asn", str(asn), "The ASN must be a "
                                           "private ASN: 64512-65534 or "
                                           "4200000000-4294967294.")
        names = set()
        for i, nat in enumerate(body.get("nats") or []):
            self._nat(ctx, network, nat, "resource.nats[%d]" % i, name)
            if nat["name"] in names:
                raise errors.invalid_field("resource.nats[%d].name" % i, nat["name"],
                                           "Duplicate NAT name.")
            names.add(nat["name"])
        return body

    def _nat(self, ctx, network, nat, field, router_name):
        if not nat.get("name"):
            raise errors.required_field(field + ".name")
        refs.check_name(nat["name"], field + ".name")
        option = nat.get("natIpAllocateOption")
        ranges = nat.get("sourceSubnetworkIpRangesToNat")
        if option is None:
            raise errors.required_field(field + ".natIpAllocateOption")
        if ranges is None:
            raise errors.required_field(field + ".sourceSubnetworkIpRangesToNat")
        ips = nat.get("natIps") or []
        if option == "AUTO_ONLY" and ips:
            raise errors.invalid_field(field + ".natIps", ips[0], "natIps must be empty when "
                                       "natIpAllocateOption is AUTO_ONLY.")
        if option == "MANUAL_ONLY" and not ips:
            raise errors.invalid_field(field + ".natIps", "", "natIps must not be empty when "
                                       "natIpAllocateOption is MANUAL_ONLY.")
        for j, ip in enumerate(ips):
            addr = self.ref(ctx, ip, "%s.natIps[%d]" % (field, j), "addresses")
            if addr.get("region") != refs.scope_link(ctx.project.name, ctx.scope) or \
                    addr.get("addressType") != "EXTERNAL":
                raise errors.invalid_field("%s.natIps[%d]" % (field, j), ip, "NAT IPs must be "
                                           "static external addresses in the router's region.")
            ips[j] = addr["selfLink"]
        subnets = nat.get("subnetworks") or []
        if ranges == "LIST_OF_SUBNETWORKS":
            if not subnets:
                raise errors.invalid_field(field + ".subnetworks", "", "subnetworks must not be "
                                           "empty with LIST_OF_SUBNETWORKS.")
            for j, entry in enumerate(subnets):
                sub = self.ref(ctx, entry.get("name"), "%s.subnetworks[%d].name" % (field, j),
                               "subnetworks")
                if sub["network"] != network["selfLink"] or sub["region"] != \
                        refs.scope_link(ctx.project.name, ctx.scope):
                    raise errors.invalid_field("%s.subnetworks[%d].name" % (field, j),
                                               entry["name"], "The subnetwork must be in the "
                                               "router's network and region.")
                entry["name"] = sub["selfLink"]
                entry.setdefault("sourceIpRangesToNat", ["ALL_IP_RANGES"])
        elif subnets:
            raise errors.invalid_field(field + ".subnetworks", "", "subnetworks may only be "
                                       "given with LIST_OF_SUBNETWORKS.")
        else:
            for _, items in ctx.project.scopes_of("routers"):
                for other in items.values():
                    if other["name"] == router_name or other["network"] != network["selfLink"] \
                            or other["region"] != refs.scope_link(ctx.project.name, ctx.scope):
                        continue
                    if other.get("nats"):
                        raise errors.invalid_field(
                            field + ".sourceSubnetworkIpRangesToNat", ranges,
                            "The subnetworks of network '%s' in this region are already "
                            "translated by NAT '%s' of router '%s'."
                            % (network["name"], other["nats"][0]["name"], other["name"]))

    @handles("compute.routers.insert")
    def router_insert(self, ctx):
        body = self._router(ctx, dict(ctx.body), ctx.body.get("name"))
        item = self.new(ctx, "routers", body)
        project = ctx.project
        return self.insert_simple(ctx, "routers", item,
                                  on_apply=lambda _: sync_address_users(project))

    @handles("compute.routers.patch", "compute.routers.update")
    def router_change(self, ctx):
        name = ctx.params["router"]
        current = self.find(ctx, "routers", name)
        if ctx.method.verb == "patch":
            merged = {k: v for k, v in public(current).items()
                      if k not in ("kind", "id", "creationTimestamp", "selfLink", "region")}
            merged.update(ctx.body)
        else:
            merged = dict(ctx.body)
            merged.setdefault("network", current["network"])
        if merged.get("name", name) != name:
            raise errors.invalid_field("resource.name", merged["name"], "The name of a router "
                                       "cannot be changed.")
        merged["name"] = name
        body = self._router(ctx, merged, name)
        if body["network"] != current["network"]:
            raise errors.invalid_field("resource.network", body["network"], "The network of a "
                                       "router cannot be changed.")
        project = ctx.project

        def apply():
            keep = {k: current[k] for k in ("kind", "id", "creationTimestamp", "selfLink",
                                            "region")}
            current.clear()
            current.update(body)
            current.update(keep)
            sync_address_users(project)
        return self.ops.start(ctx, current["selfLink"], ctx.method.verb, apply,
                              target_id=current["id"])

    @handles("compute.routers.get")
    def router_get(self, ctx):
        return self.get_item(ctx, "routers", ctx.params["router"])

    @handles("compute.routers.list")
    def router_list(self, ctx):
        return self.list_items(ctx, "routers")

    @handles("compute.routers.aggregatedList")
    def router_aggregated(self, ctx):
        return self.aggregated_items(ctx, "routers", "regions")

    @handles("compute.routers.delete")
    def router_delete(self, ctx):
        project = ctx.project
        return self.delete_simple(ctx, "routers", ctx.params["router"],
                                  on_delete=lambda _: sync_address_users(project))
