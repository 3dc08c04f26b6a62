"""VPC networks (custom and auto mode), subnetworks, firewall rules and their evaluation."""
import ipaddress

from . import errors, refs
from .core import public
from .resources import Base
from .server import handles

_PROTOCOLS = ("tcp", "udp", "icmp", "esp", "ah", "sctp", "ipip", "all")
_PORTED = ("tcp", "udp", "sctp")


def parse_cidr(text, field):
    try:
        net = ipaddress.IPv4Network(text, strict=True)
    except (ValueError, TypeError):
        raise errors.invalid_field(field, text or "", "Invalid IPCidrRange: %s" % (text or ""))
    return net


class Networks(Base):
    # -- networks ---------------------------------------------------------------------
    @handles("compute.networks.insert")
    def network_insert(self, ctx):
        body = ctx.body
        if body.get("IPv4Range"):
            raise errors.invalid_field("resource.IPv4Range", body["IPv4Range"], "Legacy "
                                       "networks are not supported; set autoCreateSubnetworks.")
        if "autoCreateSubnetworks" not in body:
            raise errors.invalid_field("resource.autoCreateSubnetworks", "", "Legacy networks "
                                       "are not supported; set autoCreateSubnetworks.")
        for out_only in ("gatewayIPv4", "subnetworks", "peerings"):
            body.pop(out_only, None)
        item = self.new(ctx, "networks", body)
        item.setdefault("routingConfig", {}).setdefault("routingMode", "REGIONAL")
        project = ctx.project

        def make_auto(network):
            if not network["autoCreateSubnetworks"]:
                return
            for i, region in enumerate(sorted(self.emulator.config.regions)):
                scope = "regions/" + region
                net = ipaddress.IPv4Network("10.%d.0.0/20" % (128 + 4 * i))
                sub = {"kind": "compute#subnetwork", "id": self.ids.numeric(),
                       "creationTimestamp": network["creationTimestamp"],
                       "name": network["name"], "network": network["selfLink"],
                       "ipCidrRange": str(net), "gatewayAddress": str(net[1]),
                       "region": refs.scope_link(project.name, scope),
                       "selfLink": refs.link(project.name, scope, "subnetworks",
                                             network["name"]),
                       "privateIpGoogleAccess": False, "_auto": True}
                sub["fingerprint"] = refs.fingerprint(sub)
                project.coll(scope, "subnetworks")[sub["name"]] = sub
                network.setdefault("subnetworks", []).append(sub["selfLink"])
        return self.insert_simple(ctx, "networks", item, on_apply=make_auto)

    @handles("compute.networks.get")
    def network_get(self, ctx):
        return self.get_item(ctx, "networks", ctx.params["network"])

    @handles("compute.networks.list")
    def network_list(self, ctx):
        return self.list_items(ctx, "networks")

    @handles("compute.networks.delete")
    def network_delete(self, ctx):
        project = ctx.project

        def uses(item, link):
            if item.get("network") == link and not item.get("_auto"):
                return True
            return any(n.get("network") == link for n in item.get("networkInterfaces", []))

        def check(network):
            users = self.users(ctx, network["selfLink"], ("subnetworks", uses),
                               ("firewalls", uses), ("routers", uses), ("instances", uses))
            return self.in_use(network, users, "networks")

        def drop_auto(network):
            for scope, items in project.scopes_of("subnetworks"):
                for name, sub in list(items.items()):
                    if sub.get("network") == network["selfLink"]:
                        del items[name]
        return self.delete_simple(ctx, "networks", ctx.params["network"], check, drop_auto)

    # -- subnetworks ---------------------------------------------------------------------
    def _overlap(self, ctx, network_link, net, skip=None):
        for scope, items in ctx.project.scopes_of("subnetworks"):
            for sub in items.values():
                if sub["network"] != network_link or sub is skip:
                    continue
                if ipaddress.IPv4Network(sub["ipCidrRange"]).overlaps(net):
                    return sub, scope
        return None, None

    @handles("compute.subnetworks.insert")
    def subnetwork_insert(self, ctx):
        body = ctx.body
        network = self.ref(ctx, body.get("network"), "resource.network", "networks")
        net = parse_cidr(body.get("ipCidrRange"), "resource.ipCidrRange")
        if not 8 <= net.prefixlen <= 29:
            raise errors.invalid_field("resource.ipCidrRange", body["ipCidrRange"],
                                       "Invalid IPCidrRange: %s; the prefix length must be "
                                       "between 8 and 29." % body["ipCidrRange"])
        other, scope = self._overlap(ctx, network["selfLink"], net)
        if other is None:
            for sub in self.pending(ctx, "subnetworks"):
                if sub["network"] == network["selfLink"] and \
                        ipaddress.IPv4Network(sub["ipCidrRange"]).overlaps(net):
                    other, scope = sub, refs.scope_name(sub["region"])
        if other is not None:
            raise errors.invalid_field("resource.ipCidrRange", body["ipCidrRange"],
                                       "Invalid IPCidrRange: %s conflicts with existing "
                                       "subnetwork '%s' in region '%s'."
                                       % (body["ipCidrRange"], other["name"],
                                          scope.split("/", 1)[1]))
        for out_only in ("gatewayAddress", "fingerprint"):
            body.pop(out_only, None)
        body["network"] = network["selfLink"]
        item = self.new(ctx, "subnetworks", body)
        item["gatewayAddress"] = str(net[1])
        item.setdefault("privateIpGoogleAccess", False)
        item["fingerprint"] = refs.fingerprint(item)

        def link_network(sub):
            network.setdefault("subnetworks", []).append(sub["selfLink"])
        return self.insert_simple(ctx, "subnetworks", item, on_apply=link_network)

    @handles("compute.subnetworks.get")
    def subnetwork_get(self, ctx):
        return self.get_item(ctx, "subnetworks", ctx.params["subnetwork"])

    @handles("compute.subnetworks.list")
    def subnetwork_list(self, ctx):
        return self.list_items(ctx, "subnetworks")

    @handles("compute.subnetworks.aggregatedList")
    def subnetwork_aggregated(self, ctx):
        return self.aggregated_items(ctx, "subnetworks", "regions")

    @handles("compute.subnetworks.setPrivateIpGoogleAccess")
    def subnetwork_private_access(self, ctx):
        sub = self.find(ctx, "subnetworks", ctx.params["subnetwork"])
        wanted = bool(ctx.body.get("privateIpGoogleAccess", False))

        def apply():
            sub["privateIpGoogleAccess"] = wanted
            sub["fingerprint"] = refs.fingerprint(public(sub))
        return self.ops.start(ctx, sub["selfLink"], "setPrivateIpGoogleAccess", apply,
                              target_id=sub["id"])

    @handles("compute.subnetworks.delete")
    def subnetwork_delete(self, ctx):
        project = ctx.project

        def uses(item, link):
            if any(n.get("subnetwork") == link for n in item.get("networkInterfaces", [])):
                return True
            return any(s.get("name") == link for nat in item.get("nats", [])
                       for s in nat.get("subnetworks", []))

        def check(sub):
            if sub.get("_auto"):
                return errors.OperationError(
                    "INVALID_USAGE", "Subnetworks of an auto mode network cannot be deleted.",
                    400)
            users = self.users(ctx, sub["selfLink"], ("instances", uses), ("routers", uses))
            return self.in_use(sub, users, "subnetworks")

        def unlink(sub):
            network = None
            for item in project.coll("global", "networks").values():
                if item["selfLink"] == sub["network"]:
                    network = item
            if network is not None and sub["selfLink"] in network.get("subnetworks", []):
                network["subnetworks"].remove(sub["selfLink"])
                if not network["subnetworks"]:
                    del network["subnetworks"]
        return self.delete_simple(ctx, "subnetworks", ctx.params["subnetwork"], check, unlink)

    # -- firewalls ----------------------------------------------------------------------
    def _firewall(self, ctx, body, name_fixed=None):
        """The stored form of a firewall rule body, checked as Compute checks it."""
        if name_fixed is not None and body.get("name", name_fixed) != name_fixed:
            raise errors.invalid_field("resource.name", body["name"], "The name of a firewall "
                                       "rule cannot be changed.")
        network = self.ref(ctx, body.get("network") or "global/networks/default",
                           "resource.network", "networks")
        body["network"] = network["selfLink"]
        direction = body.setdefault("direction", "INGRESS")
        priority = body.setdefault("priority", 1000)
        if not 0 <= priority <= 65535:
            raise errors.invalid_field("resource.priority", str(priority),
                                       "Must be between 0 and 65535.")
        allowed, denied = body.get("allowed") or [], body.get("denied") or []
        if bool(allowed) == bool(denied):
            raise errors.invalid_field("resource", "", "Exactly one of 'allowed' or 'denied' "
                                       "must be specified.")
        kind = "allowed" if allowed else "denied"
        for i, rule in enumerate(allowed or denied):
            self._rule(rule, "resource.%s[%d]" % (kind, i))
        for key in ("sourceRanges", "destinationRanges"):
            for i, cidr in enumerate(body.get(key) or []):
                try:
                    ipaddress.ip_network(cidr, strict=False)
                except ValueError:
                    raise errors.invalid_field("resource.%s[%d]" % (key, i), cidr,
                                               "Must be a CIDR address range that is "
                                               "contained in the network.")
        for key in ("sourceTags", "targetTags"):
            refs.check_tags({"items": body.get(key) or []}, "resource." + key)
        if body.get("targetTags") and body.get("targetServiceAccounts"):
            raise errors.invalid_field("resource.targetServiceAccounts", "", "targetTags and "
                                       "targetServiceAccounts cannot be used together.")
        if body.get("sourceTags") and body.get("sourceServiceAccounts"):
            raise errors.invalid_field("resource.sourceServiceAccounts", "", "sourceTags and "
                                       "sourceServiceAccounts cannot be used together.")
        if direction == "INGRESS":
            if body.get("destinationRanges"):
                raise errors.invalid_field("resource.destinationRanges", "", "Destination "
                                           "ranges are not supported for INGRESS rules.")
            if not (body.get("sourceRanges") or body.get("sourceTags") or
                    body.get("sourceServiceAccounts")):
                body["sourceRanges"] = ["0.0.0.0/0"]
        else:
            if body.get("sourceTags") or body.get("sourceServiceAccounts"):
                raise errors.invalid_field("resource.sourceTags", "", "Source tags and source "
                                           "service accounts are not supported for EGRESS "
                                           "rules.")
            if not body.get("destinationRanges"):
                body["destinationRanges"] = ["0.0.0.0/0"]
        body.setdefault("disabled", False)
        body.setdefault("logConfig", {"enable": False})
        return body

    @staticmethod
    def _rule(rule, field):
        proto = rule.get("IPProtocol")
        if proto is None:
            raise errors.required_field(field + ".IPProtocol")
        if proto not in _PROTOCOLS and not (proto.isdigit() and 0 <= int(proto) <= 255):
            raise errors.invalid_field(field + ".IPProtocol", proto, "Must be one of tcp, udp, "
                                       "icmp, esp, ah, sctp, ipip, all, or an IP protocol "
                                       "number.")
        ports = rule.get("ports") or []
        if ports and proto not in _PORTED:
            raise errors.invalid_field(field + ".ports", "", "Ports may only be specified for "
                                       "tcp, udp and sctp.")
        for j, text in enumerate(ports):
            low, _, high = text.partition("-")
            try:
                a, b = int(low), int(high or low)
            except ValueError:
                a, b = -1, -1
            if not (0 <= a <= b <= 65535) or not low.isdigit() or (high and not high.isdigit()):
                raise errors.invalid_field("%s.ports[%d]" % (field, j), text, "Must be a port "
                                           "number or a range such as '8000-8100' within "
                                           "0-65535.")

    @handles("compute.firewalls.insert")
    def firewall_insert(self, ctx):
        body = self._firewall(ctx, dict(ctx.body))
        item = self.new(ctx, "firewalls", body)
        return self.insert_simple(ctx, "firewalls", item)

    @handles("compute.firewalls.update", "compute.firewalls.patch")
    def firewall_change(self, ctx):
        name = ctx.params["firewall"]
        current = self.find(ctx, "firewalls", name)
        if ctx.method.verb == "patch":
            merged = {k: v for k, v in public(current).items()
                      if k not in ("kind", "id", "creationTimestamp", "selfLink")}
            merged.update(ctx.body)
        else:
            merged = dict(ctx.body)
        merged.setdefault("name", name)
        if ctx.method.verb == "update":
            merged.setdefault("network", current["network"])
        body = self._firewall(ctx, merged, name_fixed=name)
        if body["network"] != current["network"]:
            raise errors.invalid_field("resource.network", body["network"], "The network of "
                                       "a firewall rule cannot be changed.")

        def apply():
            keep = {k: current[k] for k in ("kind", "id", "creationTimestamp", "selfLink")}
            current.clear()
            current.update(body)
            current.update(keep)
        return self.ops.start(ctx, current["selfLink"], ctx.method.verb, apply,
                              target_id=current["id"])

    @handles("compute.firewalls.get")
    def firewall_get(self, ctx):
        return self.get_item(ctx, "firewalls", ctx.params["firewall"])

    @handles("compute.firewalls.list")
    def firewall_list(self, ctx):
        return self.list_items(ctx, "firewalls")

    @handles("compute.firewalls.delete")
    def firewall_delete(self, ctx):
        return self.delete_simple(ctx, "firewalls", ctx.params["firewall"])


def ingress_allowed(project, instance, source_ip, protocol, port):
    """Whether the instance's network's rules let this packet in (priority order,
    deny first on ties, targets by tag or service account, the implied deny)."""
    nic = (instance.get("networkInterfaces") or [{}])[0]
    network = nic.get("network")
    tags = set((instance.get("tags") or {}).get("items") or [])
    accounts = {a.get("email") for a in instance.get("serviceAccounts") or []}
    source = ipaddress.ip_address(source_ip)
    rules = [r for r in project.coll("global", "firewalls").values()
             if r.get("network") == network and r.get("direction") == "INGRESS"
             and not r.get("disabled")]
    rules.sort(key=lambda r: (r.get("priority", 1000), 0 if r.get("denied") else 1))
    for rule in rules:
        if rule.get("targetTags") and not tags & set(rule["targetTags"]):
            continue
        if rule.get("targetServiceAccounts") and not accounts & set(
                rule["targetServiceAccounts"]):
            continue
        ranges = rule.get("sourceRanges") or []
        if not any(source in ipaddress.ip_network(c, strict=False) for c in ranges):
            continue
        entries = rule.get("allowed") or rule.get("denied") or []
        if any(_matches(e, protocol, port) for e in entries):
            return bool(rule.get("allowed"))
    return False


def _matches(entry, protocol, port):
    proto = entry.get("IPProtocol")
    if proto not in ("all", protocol, {"tcp": "6", "udp": "17"}.get(protocol)):
        return False
    ports = entry.get("ports") or []
    if not ports or proto == "all":
        return True
    for text in ports:
        low, _, high = text.partition("-")
        if int(low) <= port <= int(high or low):
            return True
    return False
