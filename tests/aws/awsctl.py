#!/usr/bin/python3
"""Signed calls to the AWS emulator with botocore, for the aws scenarios:
changes made behind infra's back (drift), names resolved through Route 53, and counts.

    awsctl.py call SERVICE OPERATION [JSON_PARAMS]   print the answer as JSON
    awsctl.py resolve NAME PORT                      where a connection to NAME:PORT goes, as
                                                     ADDRESS:PORT (for curl --connect-to)
    awsctl.py count-instances STATE_JSON ADDRESS     live instances of /_emulator/state tagged
                                                     infra:address=ADDRESS

Credentials, region and endpoint come from the environment (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL) as lib.sh sets them.
"""
import datetime
import json
import os
import re
import sys
import urllib.request

import botocore.session
from botocore.config import Config


def client(service):
    session = botocore.session.get_session()
    return session.create_client(
        service, region_name=os.environ["AWS_REGION"],
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        config=Config(retries={"max_attempts": 10, "mode": "standard"}))


def jsonable(value):
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(type(value))


def call(service, operation, params):
    c = client(service)
    method = getattr(c, botocore.xform_name(operation))
    answer = method(**params)
    answer.pop("ResponseMetadata", None)
    print(json.dumps(answer, default=jsonable))


def _unescape(name):
    """A Route 53 name as stored (octal escapes such as \\052 for *), lowercase, no final dot."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), name).lower().rstrip(".")


def _record_sets(r53, zone_id):
    out, start = [], {}
    while True:
        page = r53.list_resource_record_sets(HostedZoneId=zone_id, **start)
        out += page["ResourceRecordSets"]
        if not page.get("IsTruncated"):
            return out
        start = {"StartRecordName": page["NextRecordName"],
                 "StartRecordType": page["NextRecordType"]}


def _answer(r53, zones, name):
    """The A or CNAME record set that Route 53 answers for name: the name's
    own, else the wildcard at its closest encloser (RFC 4592, as Route 53
    does it: a name that exists, or has names below it, blocks wildcards
    above it)."""
    zone = max((z for z in zones if name == z[0] or name.endswith("." + z[0])),
               key=lambda z: len(z[0]), default=None)
    if zone is None:
        raise LookupError("%s is in no hosted zone of the emulator" % name)
    sets = [(_unescape(s["Name"]), s) for s in _record_sets(r53, zone[1])]

    def exists(n):
        return any(got == n or got.endswith("." + n) for got, _ in sets)

    def pick(n):
        found = [s for got, s in sets if got == n and s["Type"] in ("A", "CNAME")]
        if not found:
            raise LookupError("%s has no A or CNAME record" % n)
        return found[0]
    if exists(name):
        return pick(name)
    labels = name.split(".")
    for i in range(1, len(labels)):
        encloser = ".".join(labels[i:])
        if exists(encloser) or encloser == zone[0]:
            if not exists("*." + encloser):
                raise LookupError("%s does not exist (nor does *.%s)" % (name, encloser))
            return pick("*." + encloser)
    raise LookupError("%s does not exist" % name)


def resolve(name, port):
    """Follows NAME through Route 53 (aliases, CNAMEs, wildcards) to a load
    balancer or an address, and prints where a connection to NAME:PORT
    lands: the balancer's forwarding listener for PORT (from the emulator's
    state) or ADDRESS:PORT."""
    r53, elb = client("route53"), client("elb")
    zones = [(_unescape(z["Name"]), z["Id"].rsplit("/", 1)[-1])
             for z in r53.list_hosted_zones()["HostedZones"]]
    lbs = {}
    for page in elb.get_paginator("describe_load_balancers").paginate():
        for lb in page["LoadBalancerDescriptions"]:
            lbs[lb["DNSName"].lower()] = lb["LoadBalancerName"]
    name = _unescape(name)
    for _ in range(8):
        target = name[len("dualstack."):] if name.startswith("dualstack.") else name
        if target in lbs:
            url = os.environ["AWS_ENDPOINT_URL"] + "/_emulator/state"
            with urllib.request.urlopen(url, timeout=10) as answer:
                state = json.load(answer)
            lb = state["regions"][os.environ["AWS_REGION"]]["load_balancers"][lbs[target]]
            forward = lb.get("_forward", {}).get(str(int(port)))
            if forward is None:
                raise LookupError("load balancer %s forwards nothing on port %s"
                                  % (lbs[target], port))
            print("127.0.0.1:%d" % forward)
            return
        record = _answer(r53, zones, name)
        if "AliasTarget" in record:
            name = _unescape(record["AliasTarget"]["DNSName"])
        elif record["Type"] == "CNAME":
            name = _unescape(record["ResourceRecords"][0]["Value"])
        else:
            print("%s:%d" % (record["ResourceRecords"][0]["Value"], int(port)))
            return
    raise LookupError("%s: more than 8 aliases or CNAMEs" % name)


def count_instances(state_file, address):
    """Instances of /_emulator/state that are not terminated and carry the
    tag infra:address=ADDRESS."""
    with open(state_file) as f:
        state = json.load(f)
    n = 0
    for region in state.get("regions", {}).values():
        tags = region.get("tags", {})
        for iid, inst in region.get("instances", {}).items():
            if inst.get("State", {}).get("Name") in ("terminated", "shutting-down"):
                continue
            if tags.get(iid, {}).get("infra:address") == address:
                n += 1
    print(n)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    cmd = sys.argv[1]
    if cmd == "call":
        params = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
        call(sys.argv[2], sys.argv[3], params)
    elif cmd == "resolve":
        try:
            resolve(sys.argv[2], sys.argv[3])
        except LookupError as e:
            print("awsctl resolve: %s" % e.args[0], file=sys.stderr)
            sys.exit(1)
    elif cmd == "count-instances":
        count_instances(sys.argv[2], sys.argv[3])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
