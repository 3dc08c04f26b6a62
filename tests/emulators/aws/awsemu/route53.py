"""Route 53: hosted zones from the seed, record sets, change batches and their status."""
import collections
import copy
import re
import time

from .errors import ApiError, modeled

_SAFE = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")
_NAME_SERVERS = ["ns-1.awsdns-01.org", "ns-2.awsdns-02.co.uk", "ns-3.awsdns-03.net",
                 "ns-4.awsdns-04.com"]


def normalize_name(name):
    """Lowercase, absolute, with Route 53's octal escapes (`*` -> `\\052`)."""
    plain = re.sub(r"\\(\d{3})", lambda m: chr(int(m.group(1), 8)), name).lower()
    if not plain.endswith("."):
        plain += "."
    return "".join(c if c in _SAFE else "\\%03o" % ord(c) for c in plain)


def _sort_key(name):
    return list(reversed(name.rstrip(".").split(".")))


def _invalid_input(message):
    return ApiError("InvalidInput", message)


def _describe_set(rrset):
    return "[name='%s', type='%s'%s]" % (
        rrset["Name"], rrset["Type"],
        ", set-identifier='%s'" % rrset["SetIdentifier"] if rrset.get("SetIdentifier") else "")


class Route53:
    def __init__(self, emulator, model):
        self.emulator = emulator
        self.model = model
        self.after_reset()

    def after_reset(self):
        self.zones = collections.OrderedDict()
        self.changes = {}
        for seed in self.emulator.config.hosted_zones:
            zone_id = seed["Id"].rsplit("/", 1)[-1]
            name = normalize_name(seed["Name"])
            zone = {"Id": "/hostedzone/" + zone_id, "Name": name,
                    "CallerReference": seed.get("CallerReference", "seed-" + zone_id),
                    "Config": {"Comment": seed.get("Comment", ""),
                               "PrivateZone": bool(seed.get("PrivateZone", False))},
                    "_records": collections.OrderedDict()}
            soa = {"Name": name, "Type": "SOA", "TTL": 900, "ResourceRecords": [
                {"Value": "%s. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"
                          % _NAME_SERVERS[0]}]}
            ns = {"Name": name, "Type": "NS", "TTL": 172800, "ResourceRecords": [
                {"Value": server + "."} for server in _NAME_SERVERS]}
            for rrset in (ns, soa):
                zone["_records"][(name, rrset["Type"], None)] = rrset
            self.zones[zone_id] = zone

    def snapshot(self):
        return {"zones": {zid: dict({k: v for k, v in z.items() if k != "_records"},
                                    records=list(z["_records"].values()))
                          for zid, z in self.zones.items()},
                "changes": {cid: {k: v for k, v in c.items() if not k.startswith("_")}
                            for cid, c in self.changes.items()}}

    def _zone(self, zone_id):
        zone = self.zones.get(zone_id.rsplit("/", 1)[-1])
        if zone is None:
            raise modeled(self.model, "NoSuchHostedZone", "No hosted zone found with ID: %s"
                          % zone_id)
        return zone

    def _public_zone(self, zone):
        out = {k: copy.deepcopy(v) for k, v in zone.items() if not k.startswith("_")}
        out["ResourceRecordSetCount"] = len(zone["_records"])
        return out

    @staticmethod
    def _max_items(text, default=100, high=300):
        if text is None:
            return default
        if not text.isdigit() or not 1 <= int(text) <= high:
            raise _invalid_input("1 validation error detected: Value '%s' at 'maxItems' failed "
                                 "to satisfy constraint: Member must be an integer between 1 "
                                 "and %d" % (text, high))
        return int(text)

    # -- zones ----------------------------------------------------------------
    def ListHostedZones(self, ctx, p):
        zones = list(self.zones.values())
        size = self._max_items(p.get("MaxItems"))
        start = 0
        if p.get("Marker"):
            ids = [z["Id"].rsplit("/", 1)[-1] for z in zones]
            if p["Marker"] not in ids:
                raise _invalid_input("Invalid marker: %s" % p["Marker"])
            start = ids.index(p["Marker"])
        page = zones[start:start + size]
        out = {"HostedZones": [self._public_zone(z) for z in page],
               "Marker": p.get("Marker", ""), "IsTruncated": start + size < len(zones),
               "MaxItems": str(size)}
        if out["IsTruncated"]:
            out["NextMarker"] = zones[start + size]["Id"].rsplit("/", 1)[-1]
        return out

    def ListHostedZonesByName(self, ctx, p):
        zones = sorted(self.zones.values(), key=lambda z: (_sort_key(z["Name"]), z["Id"]))
        size = self._max_items(p.get("MaxItems"))
        if p.get("HostedZoneId") and not p.get("DNSName"):
            raise _invalid_input("DNSName is required when HostedZoneId is given")
        if p.get("DNSName"):
            wanted = _sort_key(normalize_name(p["DNSName"]))
            zones = [z for z in zones if _sort_key(z["Name"]) >= wanted]
        if p.get("HostedZoneId"):
            ids = [z["Id"].rsplit("/", 1)[-1] for z in zones]
            if p["HostedZoneId"] in ids:
                zones = zones[ids.index(p["HostedZoneId"]):]
        page = zones[:size]
        out = {"HostedZones": [self._public_zone(z) for z in page],
               "IsTruncated": len(zones) > size, "MaxItems": str(size)}
        if p.get("DNSName"):
            out["DNSName"] = p["DNSName"]
        if p.get("HostedZoneId"):
            out["HostedZoneId"] = p["HostedZoneId"]
        if out["IsTruncated"]:
            out["NextDNSName"] = zones[size]["Name"]
            out["NextHostedZoneId"] = zones[size]["Id"].rsplit("/", 1)[-1]
        return out

    def GetHostedZone(self, ctx, p):
        zone = self._zone(p["Id"])
        out = {"HostedZone": self._public_zone(zone)}
        if not zone["Config"]["PrivateZone"]:
            out["DelegationSet"] = {"NameServers": list(_NAME_SERVERS)}
        return out

    # -- record sets ----------------------------------------------------------
    def _check_rrset(self, zone, change):
        rrset = copy.deepcopy(change["ResourceRecordSet"])
        rrset["Name"] = normalize_name(rrset["Name"])
        if not (rrset["Name"] == zone["Name"] or rrset["Name"].endswith("." + zone["Name"])):
            raise ApiError("InvalidChangeBatch", "[RRSet with DNS name %s is not permitted in "
                           "zone %s]" % (rrset["Name"], zone["Name"]))
        has_alias = "AliasTarget" in rrset
        has_records = "ResourceRecords" in rrset or "TTL" in rrset
        if has_alias == has_records or (has_records and not (
                "ResourceRecords" in rrset and "TTL" in rrset)):
            raise _invalid_input("Invalid request: Expected exactly one of [AliasTarget, all of "
                                 "[TTL, and ResourceRecords], or TrafficPolicyInstanceId], but "
                                 "found %s in Change with [Action=%s, Name=%s, Type=%s, "
                                 "SetIdentifier=%s]" % (
                                     "more than one" if has_alias and has_records else "none",
                                     change["Action"], rrset["Name"], rrset["Type"],
                                     rrset.get("SetIdentifier", "null")))
        if has_alias:
            target = rrset["AliasTarget"]
            target["DNSName"] = normalize_name(target["DNSName"])
        elif not rrset["ResourceRecords"]:
            raise _invalid_input("ResourceRecords must not be empty")
        return rrset

    def ChangeResourceRecordSets(self, ctx, p):
        zone = self._zone(p["HostedZoneId"])
        records = collections.OrderedDict(zone["_records"])
        errors = []
        seen = set()
        for change in p["ChangeBatch"]["Changes"]:
            rrset = self._check_rrset(zone, change)
            key = (rrset["Name"], rrset["Type"], rrset.get("SetIdentifier"))
            if key in seen:
                raise ApiError("InvalidChangeBatch", "[The request contains an invalid set of "
                               "changes for a resource record set '%s %s']"
                               % (rrset["Type"], rrset["Name"]))
            seen.add(key)
            action = change["Action"]
            current = records.get(key)
            if action == "CREATE":
                if current is not None:
                    errors.append("Tried to create resource record set %s but it already "
                                  "exists" % _describe_set(rrset))
                    continue
            elif action == "DELETE":
                if current is None:
                    errors.append("Tried to delete resource record set %s but it was not found"
                                  % _describe_set(rrset))
                elif current != rrset:
                    errors.append("Tried to delete resource record set %s but the values "
                                  "provided do not match the current values"
                                  % _describe_set(rrset))
                elif rrset["Name"] == zone["Name"] and rrset["Type"] in ("SOA", "NS"):
                    errors.append("A HostedZone must contain at least one NS record for the "
                                  "zone itself and exactly one SOA record.")
                else:
                    del records[key]
                continue
            others = {t for (n, t, _) in records if n == rrset["Name"] and t != rrset["Type"]}
            if others and (rrset["Type"] == "CNAME" or "CNAME" in others):
                errors.append("RRSet of type %s with DNS name %s is not permitted because a "
                              "conflicting RRSet of type %s with the same DNS name already "
                              "exists in zone %s" % (rrset["Type"], rrset["Name"],
                                                     "CNAME" if "CNAME" in others
                                                     else sorted(others)[0], zone["Name"]))
                continue
            records[key] = rrset
        if errors:
            raise ApiError("InvalidChangeBatch", "[%s]" % ", ".join(errors))
        zone["_records"] = records
        change_id = "C" + self.emulator.ids.hex(20).upper()[:20]
        info = {"Id": "/change/" + change_id, "Status": "PENDING", "SubmittedAt": ctx.now,
                "_since": time.monotonic()}
        if p["ChangeBatch"].get("Comment"):
            info["Comment"] = p["ChangeBatch"]["Comment"]
        self.changes[change_id] = info
        return {"ChangeInfo": self._change_info(info)}

    def _change_info(self, info):
        if info["Status"] == "PENDING" and (time.monotonic() - info["_since"]
                                            >= self.emulator.config.pending_seconds):
            info["Status"] = "INSYNC"
        return {k: v for k, v in info.items() if not k.startswith("_")}

    def GetChange(self, ctx, p):
        info = self.changes.get(p["Id"].rsplit("/", 1)[-1])
        if info is None:
            raise modeled(self.model, "NoSuchChange", "A change with the specified change ID "
                          "does not exist.")
        return {"ChangeInfo": self._change_info(info)}

    def ListResourceRecordSets(self, ctx, p):
        zone = self._zone(p["HostedZoneId"])
        size = self._max_items(p.get("MaxItems"), default=300)
        rows = sorted(zone["_records"].values(),
                      key=lambda s: (_sort_key(s["Name"]), s["Type"], s.get("SetIdentifier", "")))
        if p.get("StartRecordType") and not p.get("StartRecordName"):
            raise _invalid_input("The input is not valid: StartRecordType needs "
                                 "StartRecordName")
        if p.get("StartRecordName"):
            start = (_sort_key(normalize_name(p["StartRecordName"])),
                     p.get("StartRecordType", ""), p.get("StartRecordIdentifier", ""))
            rows = [s for s in rows if (_sort_key(s["Name"]), s["Type"],
                                        s.get("SetIdentifier", "")) >= start]
        page = rows[:size]
        out = {"ResourceRecordSets": copy.deepcopy(page), "IsTruncated": len(rows) > size,
               "MaxItems": str(size)}
        if out["IsTruncated"]:
            out["NextRecordName"] = rows[size]["Name"]
            out["NextRecordType"] = rows[size]["Type"]
            if rows[size].get("SetIdentifier"):
                out["NextRecordIdentifier"] = rows[size]["SetIdentifier"]
        return out
