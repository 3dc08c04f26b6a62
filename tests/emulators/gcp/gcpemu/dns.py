"""Cloud DNS: seeded managed zones, record sets, and atomic changes (pending -> done).

A change is checked as a whole before any of it applies: every deletion must
match an existing record set exactly (name, type, ttl, rrdatas), every
addition must not exist unless the same change deletes it, names must lie in
the zone, a CNAME stands alone at its name, and the apex keeps one SOA and
its NS set. The SOA serial goes up by one with every change. A change's
record sets apply at once; the change reads `pending` until --operation-seconds
have passed, then `done`.
"""
import ipaddress
import time

from . import errors
from .core import rfc3339
from .resources import Base
from .server import handles

NAME_SERVERS = ["ns-cloud-a1.googledomains.com.", "ns-cloud-a2.googledomains.com.",
                "ns-cloud-a3.googledomains.com.", "ns-cloud-a4.googledomains.com."]
_TYPES = ("A", "AAAA", "CAA", "CNAME", "MX", "NAPTR", "NS", "PTR", "SOA", "SPF", "SRV", "TXT")


def _key(rrset):
    return (rrset["name"].lower(), rrset["type"])


def _show(rrset):
    return "%s (%s)" % (rrset["name"], rrset["type"])


class Dns(Base):
    def __init__(self, emulator):
        super().__init__(emulator)
        self.zones = {}
        self.after_reset()

    def after_reset(self):
        self.zones = {}
        for spec in self.emulator.config.managed_zones:
            dns_name = spec["dnsName"] if spec["dnsName"].endswith(".") else spec["dnsName"] + "."
            zone = {"kind": "dns#managedZone", "name": spec["name"], "dnsName": dns_name,
                    "description": spec.get("description", ""), "id": self.ids.numeric(),
                    "nameServers": list(NAME_SERVERS), "creationTime": rfc3339()}
            soa = {"kind": "dns#resourceRecordSet", "name": dns_name, "type": "SOA",
                   "ttl": 21600, "rrdatas": ["%s cloud-dns-hostmaster.google.com. 1 21600 3600 "
                                             "259200 300" % NAME_SERVERS[0]]}
            ns = {"kind": "dns#resourceRecordSet", "name": dns_name, "type": "NS",
                  "ttl": 21600, "rrdatas": list(NAME_SERVERS)}
            self.zones[spec["name"]] = {
                "zone": zone, "rrsets": {_key(soa): soa, _key(ns): ns},
                "changes": [{"kind": "dns#change", "id": "0", "startTime": zone["creationTime"],
                             "status": "done", "additions": [soa, ns], "_at": 0.0}],
                "client_ids": {}}

    def snapshot(self):
        return {name: {"dnsName": z["zone"]["dnsName"], "rrsets": list(z["rrsets"].values())}
                for name, z in self.zones.items()}

    def _zone(self, ctx):
        wanted = ctx.params["managedZone"]
        for entry in self.zones.values():
            if wanted in (entry["zone"]["name"], entry["zone"]["id"]):
                return entry
        raise errors.ApiError(404, "The 'parameters.managedZone' resource named '%s' does not "
                              "exist." % wanted, "notFound")

    def _change_out(self, change):
        out = {k: v for k, v in change.items() if not k.startswith("_")}
        if out["status"] == "pending" and \
                time.monotonic() - change["_at"] >= self.emulator.config.operation_seconds:
            change["status"] = out["status"] = "done"
        return out

    # -- zones ----------------------------------------------------------------------------
    @handles("dns.managedZones.list")
    def zone_list(self, ctx):
        zones = [dict(e["zone"]) for e in self.zones.values()]
        if ctx.params.get("dnsName"):
            wanted = ctx.params["dnsName"].rstrip(".").lower() + "."
            zones = [z for z in zones if z["dnsName"].lower() == wanted]
        page, token = self._ordered_page(ctx, sorted(zones, key=lambda z: z["name"]))
        out = {"kind": "dns#managedZonesListResponse", "managedZones": page}
        if token:
            out["nextPageToken"] = token
        return out

    @handles("dns.managedZones.get")
    def zone_get(self, ctx):
        return dict(self._zone(ctx)["zone"])

    # -- record sets -------------------------------------------------------------------------
    @handles("dns.resourceRecordSets.list")
    def rrset_list(self, ctx):
        entry = self._zone(ctx)
        name, rtype = ctx.params.get("name"), ctx.params.get("type")
        if rtype and not name:
            raise errors.ApiError(400, "Invalid value for 'parameters.type': '%s'. It may only "
                                  "be given together with 'parameters.name'." % rtype, "invalid")
        items = sorted(entry["rrsets"].values(), key=lambda r: (r["name"].lower(), r["type"]))
        if name:
            items = [r for r in items if r["name"].lower() == name.lower()]
        if rtype:
            items = [r for r in items if r["type"] == rtype]
        page, token = self._ordered_page(ctx, items)
        out = {"kind": "dns#resourceRecordSetsListResponse", "rrsets": page}
        if token:
            out["nextPageToken"] = token
        return out

    @staticmethod
    def _ordered_page(ctx, items):
        size = ctx.params.get("maxResults") or 500
        if size < 0:
            raise errors.ApiError(400, "Invalid value for 'parameters.maxResults': '%d'" % size,
                                  "invalid")
        token = ctx.params.get("pageToken")
        start = 0
        if token:
            try:
                start = int(token)
            except ValueError:
                raise errors.ApiError(400, "Invalid value for 'parameters.pageToken': '%s'"
                                      % token, "invalid")
        chunk = [dict(r) for r in items[start:start + size]]
        return chunk, (str(start + size) if start + size < len(items) else None)

    # -- changes -----------------------------------------------------------------------------
    @handles("dns.changes.create")
    def change_create(self, ctx):
        entry = self._zone(ctx)
        client_id = ctx.params.get("clientOperationId")
        if client_id and client_id in entry["client_ids"]:
            return self._change_out(entry["client_ids"][client_id])
        body = ctx.body
        additions = [dict(r) for r in body.get("additions") or []]
        deletions = [dict(r) for r in body.get("deletions") or []]
        if not additions and not deletions:
            raise errors.ApiError(400, "The 'entity.change' parameter is required but was "
                                  "missing.", "required")
        zone_name = entry["zone"]["dnsName"].lower()
        for kind, items in (("deletions", deletions), ("additions", additions)):
            for i, rrset in enumerate(items):
                self._check_rrset(rrset, "entity.change.%s[%d]" % (kind, i), zone_name)
        rrsets = dict(entry["rrsets"])
        for i, rrset in enumerate(deletions):
            where = "entity.change.deletions[%d]" % i
            current = rrsets.get(_key(rrset))
            if current is None:
                raise errors.ApiError(404, "The resource '%s' named '%s' does not exist."
                                      % (where, _show(rrset)), "notFound")
            if current["ttl"] != rrset.get("ttl") or \
                    sorted(current["rrdatas"]) != sorted(rrset["rrdatas"]):
                raise errors.ApiError(412, "Precondition not met for '%s'" % where,
                                      "conditionNotMet")
            del rrsets[_key(rrset)]
        for i, rrset in enumerate(additions):
            where = "entity.change.additions[%d]" % i
            if _key(rrset) in rrsets:
                raise errors.ApiError(409, "The resource '%s' named '%s' already exists"
                                      % (where, _show(rrset)), "alreadyExists")
            rrset.setdefault("ttl", 300)
            rrsets[_key(rrset)] = rrset
        self._check_zone(rrsets, zone_name, additions)
        soa = rrsets[(zone_name, "SOA")]
        explicit = any(_key(r) == (zone_name, "SOA") for r in additions)
        if not explicit:
            parts = soa["rrdatas"][0].split()
            parts[2] = str(int(parts[2]) + 1)
            rrsets[(zone_name, "SOA")] = dict(soa, rrdatas=[" ".join(parts)])
        entry["rrsets"] = rrsets
        change = {"kind": "dns#change", "id": str(len(entry["changes"])),
                  "startTime": rfc3339(), "status": "pending", "_at": time.monotonic()}
        if additions:
            change["additions"] = additions
        if deletions:
            change["deletions"] = deletions
        entry["changes"].append(change)
        if client_id:
            entry["client_ids"][client_id] = change
        return self._change_out(change)

    def _check_rrset(self, rrset, where, zone_name):
        for key in ("name", "type", "rrdatas"):
            if not rrset.get(key):
                raise errors.ApiError(400, "The '%s.%s' parameter is required but was missing."
                                      % (where, key), "required")
        rrset.setdefault("kind", "dns#resourceRecordSet")
        name = rrset["name"]
        if not name.endswith(".") or not (name.lower() == zone_name or
                                          name.lower().endswith("." + zone_name)):
            raise errors.ApiError(400, "Invalid value for '%s.name': '%s'" % (where, name),
                                  "invalid")
        if rrset["type"] not in _TYPES:
            raise errors.ApiError(400, "Invalid value for '%s.type': '%s'"
                                  % (where, rrset["type"]), "invalid")
        if rrset.get("ttl", 0) < 0:
            raise errors.ApiError(400, "Invalid value for '%s.ttl': '%d'"
                                  % (where, rrset["ttl"]), "invalid")
        for j, data in enumerate(rrset["rrdatas"]):
            if not self._rrdata_ok(rrset["type"], data):
                raise errors.ApiError(400, "Invalid value for '%s.rrdata[%d]': '%s'"
                                      % (where, j, data), "invalid")
        if rrset["type"] in ("CNAME", "SOA") and len(rrset["rrdatas"]) != 1:
            raise errors.ApiError(400, "Invalid value for '%s.rrdata': a %s record set holds "
                                  "exactly one record." % (where, rrset["type"]), "invalid")

    @staticmethod
    def _rrdata_ok(rtype, data):
        try:
            if rtype == "A":
                ipaddress.IPv4Address(data)
            elif rtype == "AAAA":
                ipaddress.IPv6Address(data)
            elif rtype in ("CNAME", "NS", "PTR"):
                return data.endswith(".") and " " not in data
            elif rtype == "MX":
                pref, host = data.split()
                return pref.isdigit() and host.endswith(".")
            return bool(data)
        except ValueError:
            return False
        return True

    @staticmethod
    def _check_zone(rrsets, zone_name, additions):
        if (zone_name, "SOA") not in rrsets or (zone_name, "NS") not in rrsets:
            raise errors.ApiError(400, "The zone's apex must keep exactly one SOA and one NS "
                                  "record set.", "invalid")
        names = {}
        for name, rtype in rrsets:
            names.setdefault(name, set()).add(rtype)
        for i, rrset in enumerate(additions):
            types = names.get(rrset["name"].lower(), set())
            if "CNAME" in types and len(types) > 1:
                raise errors.ApiError(400, "The resource record set 'entity.change.additions"
                                      "[%d]' is invalid because the DNS name '%s' may have "
                                      "either one CNAME resource record set or resource record "
                                      "sets of other types, but not both."
                                      % (i, rrset["name"]), "cnameResourceRecordSetConflict")

    @handles("dns.changes.get")
    def change_get(self, ctx):
        entry = self._zone(ctx)
        for change in entry["changes"]:
            if change["id"] == ctx.params["changeId"]:
                return self._change_out(change)
        raise errors.ApiError(404, "The 'parameters.changeId' resource named '%s' does not "
                              "exist." % ctx.params["changeId"], "notFound")

    @handles("dns.changes.list")
    def change_list(self, ctx):
        entry = self._zone(ctx)
        changes = [self._change_out(c) for c in entry["changes"]]
        if ctx.params.get("sortOrder") == "descending":
            changes.reverse()
        page, token = self._ordered_page(ctx, changes)
        out = {"kind": "dns#changesListResponse", "changes": page}
        if token:
            out["nextPageToken"] = token
        return out
