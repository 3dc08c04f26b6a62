"""What every EC2 resource shares: tags, filters, pagination, lookups."""
import collections
import fnmatch
import re

from .errors import ApiError

# Resource id prefix -> (DescribeTags resource-type, region attribute, not-found code, noun)
RESOURCE_TYPES = {
    "i": ("instance", "instances", "InvalidInstanceID.NotFound", "instance ID"),
    "vpc": ("vpc", "vpcs", "InvalidVpcID.NotFound", "vpc ID"),
    "subnet": ("subnet", "subnets", "InvalidSubnetID.NotFound", "subnet ID"),
    "igw": ("internet-gateway", "internet_gateways", "InvalidInternetGatewayID.NotFound",
            "internet gateway ID"),
    "eipalloc": ("elastic-ip", "addresses", "InvalidAllocationID.NotFound", "allocation ID"),
    "nat": ("natgateway", "nat_gateways", "NatGatewayNotFound", "NAT gateway ID"),
    "rtb": ("route-table", "route_tables", "InvalidRouteTableID.NotFound", "route table ID"),
    "sg": ("security-group", "security_groups", "InvalidGroup.NotFound", "security group"),
    "key": ("key-pair", "key_pairs_by_id", "InvalidKeyPair.NotFound", "key pair ID"),
    "lt": ("launch-template", "launch_templates", "InvalidLaunchTemplateId.NotFound",
           "launch template ID"),
    "ami": ("image", None, "InvalidAMIID.NotFound", "image id"),
    "snap": ("snapshot", "snapshots", "InvalidSnapshot.NotFound", "snapshot"),
}

RETENTION_SECONDS = 3600  # deleted NAT gateways and terminated instances stay visible


def public(obj):
    """A stored object without its internal ('_'-prefixed) fields."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def glob_match(pattern, value):
    """EC2 filter values: '*' and '?' wildcards, everything else literal."""
    if value is None:
        return False
    value = str(value)
    if "*" not in pattern and "?" not in pattern:
        return pattern == value
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


class Ec2Base:
    """Helpers for the EC2 handler mixins; self.emulator is the shared state."""

    def __init__(self, emulator):
        self.emulator = emulator
        self.ids = emulator.ids

    # -- tags -----------------------------------------------------------------
    def tags_of(self, region, resource_id):
        return [{"Key": k, "Value": v} for k, v in region.tags.get(resource_id, {}).items()]

    def set_tags(self, region, resource_id, tags):
        store = region.tags.setdefault(resource_id, collections.OrderedDict())
        for tag in tags:
            store[tag["Key"]] = tag.get("Value", "")

    def tag_specs(self, region, specs, resource_type, resource_id):
        """Apply the TagSpecification.N of a create call to the new resource."""
        for spec in specs or []:
            kind = spec.get("ResourceType")
            if kind is None:
                raise ApiError("InvalidParameterValue",
                               "Value () for parameter TagSpecification.ResourceType is invalid.")
            if kind == resource_type:
                self.set_tags(region, resource_id, spec.get("Tags", []))

    def with_tags(self, region, obj, resource_id):
        out = public(obj)
        tags = self.tags_of(region, resource_id)
        if tags:
            out["Tags"] = tags
        return out

    # -- filters --------------------------------------------------------------
    def filtered(self, region, items, filters, fields, id_of):
        """items that match every filter; fields: filter name -> fn(item) -> value(s)."""
        result = list(items)
        for flt in filters or []:
            name = flt.get("Name")
            values = flt.get("Values", [])
            if name is None:
                raise ApiError("InvalidParameterValue", "The filter 'null' is invalid")
            if name.startswith("tag:"):
                key = name[4:]
                getter = lambda item, key=key: region.tags.get(id_of(item), {}).get(key)
            elif name == "tag-key":
                getter = lambda item: list(region.tags.get(id_of(item), {}).keys())
            elif name == "tag-value":
                getter = lambda item: list(region.tags.get(id_of(item), {}).values())
            elif name in fields:
                getter = fields[name]
            else:
                raise ApiError("InvalidParameterValue", "The filter '%s' is invalid" % name)
            result = [item for item in result if _matches(getter(item), values)]
        return result

    # -- pagination -----------------------------------------------------------
    @staticmethod
    def paginate(items, max_results, next_token, low=5, high=1000, name="MaxResults"):
        """(page, next token or None); tokens are opaque offsets."""
        start = 0
        if next_token:
            if not next_token.startswith("tok-") or not next_token[4:].isdigit():
                raise ApiError("InvalidPaginationToken",
                               "Invalid pagination token: %s" % next_token[:40])
            start = int(next_token[4:])
        if max_results is None:
            return items[start:], None
        if not low <= max_results <= high:
            raise ApiError("InvalidParameterValue", "Value ( %d ) for parameter %s is "
                           "invalid. Parameter must be between %d and %d."
                           % (max_results, name, low, high))
        page = items[start:start + max_results]
        more = start + max_results < len(items)
        return page, ("tok-%d" % (start + max_results)) if more else None

    # -- lookups --------------------------------------------------------------
    def lookup(self, table, resource_id, code, noun):
        obj = table.get(resource_id)
        if obj is None:
            raise ApiError(code, "The %s '%s' does not exist" % (noun, resource_id))
        return obj

    def lookup_many(self, table, ids, code, noun, plural):
        missing = [i for i in ids if i not in table]
        if len(missing) == 1:
            raise ApiError(code, "The %s '%s' does not exist" % (noun, missing[0]))
        if missing:
            raise ApiError(code, "The %s '%s' do not exist" % (plural, ", ".join(missing)))
        return [table[i] for i in ids]

    def resource_exists(self, region, resource_id):
        prefix = resource_id.split("-", 1)[0]
        kind = RESOURCE_TYPES.get(prefix)
        if kind is None or "-" not in resource_id:
            raise ApiError("InvalidID", "The ID '%s' is not valid" % resource_id)
        if prefix == "ami":
            found = any(i["ImageId"] == resource_id for i in self.images(region))
        elif prefix == "key":
            found = any(k["KeyPairId"] == resource_id for k in region.key_pairs.values())
        else:
            found = resource_id in getattr(region, kind[1])
        if not found:
            raise ApiError(kind[2], "The %s '%s' does not exist" % (kind[3], resource_id))
        return kind[0]


def _matches(actual, wanted):
    if isinstance(actual, (list, tuple, set)):
        return any(glob_match(w, str_value(a)) for a in actual for w in wanted)
    return any(glob_match(w, str_value(actual)) for w in wanted)


def str_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return None if value is None else str(value)
