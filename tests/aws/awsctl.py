#!/usr/bin/python3
"""Signed calls to the AWS emulator with botocore, for the aws scenarios:
changes made behind infra's back (drift), probes, and counts.

    awsctl.py call SERVICE OPERATION [JSON_PARAMS]   print the answer as JSON
    awsctl.py probe-page ELB PORT PATH SECONDS OUT   GET PATH from the balancer's InService
                                                     instances in turn, one line per request
    awsctl.py count-instances STATE_JSON ADDRESS     live instances of /_emulator/state tagged
                                                     infra:address=ADDRESS

Credentials, region and endpoint come from the environment (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL) as lib.sh sets them.
"""
import datetime
import http.client
import json
import os
import sys
import time

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


def in_service(c, elb):
    """(ids InService on ELB, number of registered instances)."""
    states = c.describe_instance_health(LoadBalancerName=elb)["InstanceStates"]
    return [s["InstanceId"] for s in states if s["State"] == "InService"], len(states)


def probe_page(elb, port, path, seconds, out):
    """Does what the balancer does with a request, as the emulator has no
    listener that forwards traffic: sends it to the next instance that is
    InService, in turn, and writes "TIME ok INSTANCE BODY" or "TIME error
    WHY" per request until SECONDS have passed or OUT.stop appears. A request
    that fails on an instance the balancer no longer counts InService (it
    was deregistered meanwhile, as a group being deleted deregisters its
    instances) goes to the next one, as the balancer would have sent it;
    a failure on an instance still InService, or no InService instance at
    all, is an error."""
    elb_c, ec2_c = client("elb"), client("ec2")
    addresses = {}
    turn = 0
    end = time.time() + float(seconds)
    with open(out, "a") as f:
        while time.time() < end and not os.path.exists(out + ".stop"):
            line = None
            try:
                for _ in range(3):
                    ids, _total = in_service(elb_c, elb)
                    if not ids:
                        line = "error no InService instance"
                        break
                    turn += 1
                    iid = sorted(ids)[turn % len(ids)]
                    if iid not in addresses:
                        r = ec2_c.describe_instances(InstanceIds=[iid])
                        addresses[iid] = r["Reservations"][0]["Instances"][0]["PrivateIpAddress"]
                    try:
                        conn = http.client.HTTPConnection(addresses[iid], int(port), timeout=3)
                        conn.request("GET", path)
                        answer = conn.getresponse()
                        body = answer.read().decode("utf-8", "replace").strip()
                        conn.close()
                        if answer.status == 200:
                            line = "ok %s %s" % (iid, body)
                            break
                        why = "HTTP %d" % answer.status
                    except (OSError, http.client.HTTPException) as e:
                        why = type(e).__name__
                    line = "error %s from %s" % (why, iid)
                    if iid in in_service(elb_c, elb)[0]:
                        break
            except Exception as e:  # noqa: BLE001 - a failed poll is a line too
                line = "error %s" % type(e).__name__
            f.write("%.2f %s\n" % (time.time(), line))
            f.flush()
            time.sleep(0.2)


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
    elif cmd == "probe-page":
        probe_page(*sys.argv[2:7])
    elif cmd == "count-instances":
        count_instances(sys.argv[2], sys.argv[3])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
