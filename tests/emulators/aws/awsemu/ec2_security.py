"""EC2 security groups (rules, group references) and key pairs."""
import base64
import hashlib
import os
import subprocess
import tempfile

from .errors import ApiError

_PROTOCOLS = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp",
              "-1": "-1", "all": "-1"}
_LIVE = ("pending", "running", "stopping", "stopped", "shutting-down")


def _rule_text(rule):
    proto = {"-1": "ALL", "tcp": "TCP", "udp": "UDP", "icmp": "ICMP"}.get(
        rule["IpProtocol"], rule["IpProtocol"])
    peer = rule.get("CidrIpv4") or rule.get("CidrIpv6") or rule.get("_group")
    if rule["IpProtocol"] == "-1":
        return "peer: %s, %s, ALLOW" % (peer, proto)
    return "peer: %s, %s, from port: %s, to port: %s, ALLOW" % (
        peer, proto, rule.get("FromPort"), rule.get("ToPort"))


class SecurityMixin:
    # -- security groups ----------------------------------------------------
    def _new_group(self, ctx, vpc_id, name, description):
        gid = self.ids.new("sg")
        group = {"Description": description, "GroupName": name, "OwnerId": ctx.account_id,
                 "GroupId": gid, "VpcId": vpc_id, "_rules": []}
        ctx.region.security_groups[gid] = group
        self._add_rule(group, True, "-1", None, None, ("CidrIpv4", "0.0.0.0/0"), None)
        return group

    def _new_default_group(self, ctx, vpc):
        group = self._new_group(ctx, vpc["VpcId"], "default", "default VPC security group")
        self._add_rule(group, False, "-1", None, None, ("_group", group["GroupId"]), None)
        return group

    def _add_rule(self, group, egress, proto, from_port, to_port, peer, description):
        rule = {"SecurityGroupRuleId": self.ids.new("sgr"), "GroupId": group["GroupId"],
                "GroupOwnerId": group["OwnerId"], "IsEgress": egress, "IpProtocol": proto}
        if proto != "-1":
            rule["FromPort"], rule["ToPort"] = from_port, to_port
        rule[peer[0]] = peer[1]
        if description:
            rule["Description"] = description
        group["_rules"].append(rule)
        return rule

    def _group(self, r, p, vpc_id=None):
        if "GroupId" in p:
            return self.lookup(r.security_groups, p["GroupId"], "InvalidGroup.NotFound",
                               "security group")
        if "GroupName" in p:
            for g in r.security_groups.values():
                if g["GroupName"] == p["GroupName"] and vpc_id in (None, g["VpcId"]):
                    return g
            raise ApiError("InvalidGroup.NotFound", "The security group '%s' does not exist"
                           % p["GroupName"])
        raise ApiError("MissingParameter", "The request must contain the parameter groupId")

    def CreateSecurityGroup(self, ctx, p):
        r = ctx.region
        if "VpcId" not in p:
            raise ApiError("VPCIdNotSpecified", "No default VPC for this user")
        vpc = self._vpc(r, p["VpcId"])
        if p["GroupName"].startswith("sg-"):
            raise ApiError("InvalidParameterValue", "Group names may not be in the format sg-*")
        for g in r.security_groups.values():
            if g["VpcId"] == vpc["VpcId"] and g["GroupName"] == p["GroupName"]:
                raise ApiError("InvalidGroup.Duplicate", "The security group '%s' already "
                               "exists for VPC '%s'" % (p["GroupName"], vpc["VpcId"]))
        group = self._new_group(ctx, vpc["VpcId"], p["GroupName"], p["Description"])
        self.tag_specs(r, p.get("TagSpecifications"), "security-group", group["GroupId"])
        return {"GroupId": group["GroupId"], "Tags": self.tags_of(r, group["GroupId"]) or None}

    def DeleteSecurityGroup(self, ctx, p):
        r = ctx.region
        group = self._group(r, p)
        gid = group["GroupId"]
        if group["GroupName"] == "default":
            raise ApiError("CannotDelete", "the specified group: \"%s\" name: \"default\" "
                           "cannot be deleted by a user" % gid)
        in_use = (any(gid in [s["GroupId"] for s in i.get("SecurityGroups", [])]
                      and i["State"]["Name"] in _LIVE for i in r.instances.values())
                  or any(rule.get("_group") == gid for g in r.security_groups.values()
                         if g["GroupId"] != gid for rule in g["_rules"])
                  or any(gid in lb["SecurityGroups"] for lb in r.load_balancers.values()))
        if in_use:
            raise ApiError("DependencyViolation", "resource %s has a dependent object" % gid)
        del r.security_groups[gid]
        r.tags.pop(gid, None)
        return {}

    def _describe_group(self, r, group):
        out = self.with_tags(r, group, group["GroupId"])
        for egress, key in ((False, "IpPermissions"), (True, "IpPermissionsEgress")):
            perms = {}
            for rule in group["_rules"]:
                if rule["IsEgress"] != egress:
                    continue
                k = (rule["IpProtocol"], rule.get("FromPort"), rule.get("ToPort"))
                perm = perms.setdefault(k, {"IpProtocol": k[0], "IpRanges": [],
                                            "Ipv6Ranges": [], "PrefixListIds": [],
                                            "UserIdGroupPairs": []})
                if k[0] != "-1":
                    perm["FromPort"], perm["ToPort"] = k[1], k[2]
                extra = {"Description": rule["Description"]} if "Description" in rule else {}
                if "CidrIpv4" in rule:
                    perm["IpRanges"].append(dict(CidrIp=rule["CidrIpv4"], **extra))
                elif "CidrIpv6" in rule:
                    perm["Ipv6Ranges"].append(dict(CidrIpv6=rule["CidrIpv6"], **extra))
                else:
                    perm["UserIdGroupPairs"].append(dict(GroupId=rule["_group"],
                                                         UserId=group["OwnerId"], **extra))
            out[key] = list(perms.values())
        return out

    def DescribeSecurityGroups(self, ctx, p):
        r = ctx.region
        items = list(r.security_groups.values())
        if p.get("GroupIds"):
            items = self.lookup_many(r.security_groups, p["GroupIds"], "InvalidGroup.NotFound",
                                     "security group", "security groups")
        if p.get("GroupNames"):
            names = p["GroupNames"]
            items = [g for g in items if g["GroupName"] in names]
            missing = set(names) - {g["GroupName"] for g in items}
            if missing:
                raise ApiError("InvalidGroup.NotFound", "The security group '%s' does not exist"
                               % sorted(missing)[0])
        items = self.filtered(r, items, p.get("Filters"), {
            "group-id": lambda g: g["GroupId"], "group-name": lambda g: g["GroupName"],
            "vpc-id": lambda g: g["VpcId"], "description": lambda g: g["Description"],
            "owner-id": lambda g: g["OwnerId"],
        }, lambda g: g["GroupId"])
        page, token = self.paginate(items, p.get("MaxResults"), p.get("NextToken"))
        return {"SecurityGroups": [self._describe_group(r, g) for g in page], "NextToken": token}

    def _permissions(self, r, group, p):
        """The (protocol, from, to, peer, description) rules a call names."""
        perms = list(p.get("IpPermissions", []))
        if "IpProtocol" in p or "CidrIp" in p:
            legacy = {"IpProtocol": p.get("IpProtocol", "-1"), "FromPort": p.get("FromPort"),
                      "ToPort": p.get("ToPort")}
            if "CidrIp" in p:
                legacy["IpRanges"] = [{"CidrIp": p["CidrIp"]}]
            perms.append(legacy)
        if "SourceSecurityGroupName" in p:
            source = self._group(r, {"GroupName": p["SourceSecurityGroupName"]}, group["VpcId"])
            perms.append({"IpProtocol": "-1",
                          "UserIdGroupPairs": [{"GroupId": source["GroupId"]}]})
        if not perms:
            raise ApiError("MissingParameter", "The request must contain the parameter "
                           "ipPermissions")
        rules = []
        for perm in perms:
            raw = str(perm.get("IpProtocol", ""))
            proto = _PROTOCOLS.get(raw.lower())
            if proto is None:
                raise ApiError("InvalidParameterValue", "Invalid value '%s' for IP protocol. "
                               "Unknown protocol." % raw)
            lo, hi = perm.get("FromPort"), perm.get("ToPort")
            if proto in ("tcp", "udp"):
                if lo is None or hi is None:
                    raise ApiError("InvalidParameterValue", "Invalid value 'Must specify both "
                                   "from and to ports with TCP/UDP.' for portRange.")
                if not (0 <= lo <= hi <= 65535):
                    raise ApiError("InvalidParameterValue", "Invalid port range %s-%s" % (lo, hi))
            peers = []
            for rng in perm.get("IpRanges", []):
                peers.append((("CidrIpv4", rng.get("CidrIp")), rng.get("Description")))
            for rng in perm.get("Ipv6Ranges", []):
                peers.append((("CidrIpv6", rng.get("CidrIpv6")), rng.get("Description")))
            for pair in perm.get("UserIdGroupPairs", []):
                ref = self._group(r, {k: v for k, v in pair.items()
                                      if k in ("GroupId", "GroupName")}, group["VpcId"])
                peers.append((("_group", ref["GroupId"]), pair.get("Description")))
            if not peers:
                raise ApiError("MissingParameter", "The request must contain a source or "
                               "destination (IpRanges, Ipv6Ranges or UserIdGroupPairs)")
            for peer, description in peers:
                rules.append((proto, lo if proto != "-1" else None,
                              hi if proto != "-1" else None, peer, description))
        return rules

    def _find_rule(self, group, egress, proto, lo, hi, peer):
        for rule in group["_rules"]:
            if (rule["IsEgress"] == egress and rule["IpProtocol"] == proto
                    and rule.get("FromPort") == lo and rule.get("ToPort") == hi
                    and rule.get(peer[0]) == peer[1]):
                return rule
        return None

    def _authorize(self, ctx, p, egress):
        r = ctx.region
        group = self._group(r, p)
        wanted = self._permissions(r, group, p)
        for proto, lo, hi, peer, _ in wanted:
            existing = self._find_rule(group, egress, proto, lo, hi, peer)
            if existing is not None:
                raise ApiError("InvalidPermission.Duplicate", "the specified rule \"%s\" "
                               "already exists" % _rule_text(existing))
        added = [self._add_rule(group, egress, proto, lo, hi, peer, description)
                 for proto, lo, hi, peer, description in wanted]
        for rule in added:
            self.tag_specs(r, p.get("TagSpecifications"), "security-group-rule",
                           rule["SecurityGroupRuleId"])
        out = []
        for rule in added:
            item = {k: v for k, v in rule.items() if not k.startswith("_")}
            if "_group" in rule:
                item["ReferencedGroupInfo"] = {"GroupId": rule["_group"],
                                               "UserId": group["OwnerId"]}
            out.append(item)
        return {"Return": True, "SecurityGroupRules": out}

    def _revoke(self, ctx, p, egress):
        r = ctx.region
        group = self._group(r, p)
        if p.get("SecurityGroupRuleIds"):
            for rule_id in p["SecurityGroupRuleIds"]:
                rule = next((x for x in group["_rules"] if x["SecurityGroupRuleId"] == rule_id),
                            None)
                if rule is None or rule["IsEgress"] != egress:
                    raise ApiError("InvalidSecurityGroupRuleId.NotFound", "The security group "
                                   "rule ID '%s' does not exist" % rule_id)
                group["_rules"].remove(rule)
            return {"Return": True}
        for proto, lo, hi, peer, _ in self._permissions(r, group, p):
            rule = self._find_rule(group, egress, proto, lo, hi, peer)
            if rule is None:
                raise ApiError("InvalidPermission.NotFound", "The specified rule does not "
                               "exist in this security group.")
            group["_rules"].remove(rule)
        return {"Return": True}

    def AuthorizeSecurityGroupIngress(self, ctx, p):
        return self._authorize(ctx, p, False)

    def AuthorizeSecurityGroupEgress(self, ctx, p):
        return self._authorize(ctx, p, True)

    def RevokeSecurityGroupIngress(self, ctx, p):
        return self._revoke(ctx, p, False)

    def RevokeSecurityGroupEgress(self, ctx, p):
        return self._revoke(ctx, p, True)

    # -- key pairs ----------------------------------------------------------
    def ImportKeyPair(self, ctx, p):
        r = ctx.region
        name = p["KeyName"]
        if name in r.key_pairs:
            raise ApiError("InvalidKeyPair.Duplicate", "The keypair '%s' already exists." % name)
        material = p["PublicKeyMaterial"]
        if isinstance(material, bytes):
            material = material.decode("utf-8", "replace")
        key_type, fingerprint, normalized = _fingerprint(material)
        pair = {"KeyPairId": self.ids.new("key"), "KeyFingerprint": fingerprint,
                "KeyName": name, "KeyType": key_type, "CreateTime": ctx.now,
                "_public_key": normalized}
        r.key_pairs[name] = pair
        self.tag_specs(r, p.get("TagSpecifications"), "key-pair", pair["KeyPairId"])
        return {"KeyFingerprint": fingerprint, "KeyName": name, "KeyPairId": pair["KeyPairId"],
                "Tags": self.tags_of(r, pair["KeyPairId"]) or None}

    def _key_pairs(self, r, p):
        items = list(r.key_pairs.values())
        if p.get("KeyNames"):
            for name in p["KeyNames"]:
                if name not in r.key_pairs:
                    raise ApiError("InvalidKeyPair.NotFound", "The key pair '%s' does not exist"
                                   % name)
            items = [k for k in items if k["KeyName"] in p["KeyNames"]]
        if p.get("KeyPairIds"):
            ids = {k["KeyPairId"] for k in items}
            for key_id in p["KeyPairIds"]:
                if key_id not in ids:
                    raise ApiError("InvalidKeyPair.NotFound", "The key pair '%s' does not exist"
                                   % key_id)
            items = [k for k in items if k["KeyPairId"] in p["KeyPairIds"]]
        return items

    def DescribeKeyPairs(self, ctx, p):
        r = ctx.region
        items = self.filtered(r, self._key_pairs(r, p), p.get("Filters"), {
            "key-name": lambda k: k["KeyName"], "key-pair-id": lambda k: k["KeyPairId"],
            "fingerprint": lambda k: k["KeyFingerprint"], "key-type": lambda k: k["KeyType"],
        }, lambda k: k["KeyPairId"])
        out = []
        for k in items:
            item = self.with_tags(r, k, k["KeyPairId"])
            if p.get("IncludePublicKey"):
                item["PublicKey"] = k["_public_key"]
            out.append(item)
        return {"KeyPairs": out}

    def DeleteKeyPair(self, ctx, p):
        r = ctx.region
        # AWS answers success for a key pair that does not exist.
        for name, k in list(r.key_pairs.items()):
            if name == p.get("KeyName") or k["KeyPairId"] == p.get("KeyPairId"):
                del r.key_pairs[name]
                r.tags.pop(k["KeyPairId"], None)
        return {}


def _fingerprint(material):
    """(type, AWS fingerprint, normalized key) of an OpenSSH public key, via ssh-keygen.

    AWS's fingerprint of an imported key: RSA, MD5 of the DER-encoded public
    key (colon-separated hex); ED25519, the base64 SHA-256 of the key blob.
    """
    fields = material.strip().split()
    if len(fields) < 2 or fields[0] not in ("ssh-rsa", "ssh-ed25519"):
        raise ApiError("InvalidKey.Format", "Key is not in valid OpenSSH public key format")
    try:
        blob = base64.b64decode(fields[1], validate=True)
    except ValueError:
        raise ApiError("InvalidKey.Format", "Key is not in valid OpenSSH public key format")
    normalized = "%s %s" % (fields[0], fields[1])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "key.pub")
        with open(path, "w") as f:
            f.write(normalized + "\n")
        check = subprocess.run(["ssh-keygen", "-l", "-f", path], capture_output=True)
        if check.returncode != 0:
            raise ApiError("InvalidKey.Format", "Key is not in valid OpenSSH public key format")
        if fields[0] == "ssh-ed25519":
            digest = base64.b64encode(hashlib.sha256(blob).digest()).decode()
            return "ed25519", digest, normalized
        pem = subprocess.run(["ssh-keygen", "-e", "-m", "PKCS8", "-f", path],
                             capture_output=True, text=True)
        if pem.returncode != 0:
            raise ApiError("InvalidKey.Format", "Key is not in valid OpenSSH public key format")
        der = base64.b64decode("".join(line for line in pem.stdout.splitlines()
                                       if not line.startswith("-----")))
    md5 = hashlib.md5(der).hexdigest()
    return "rsa", ":".join(md5[i:i + 2] for i in range(0, 32, 2)), normalized
