#!/usr/bin/python3
"""Signed calls to the AWS emulator with botocore, for the aws scenarios:
changes made behind infra's back (drift), probes, and counts.

    awsctl.py call SERVICE OPERATION [JSON_PARAMS]   print the answer as JSON
    awsctl.py probe-health ELB SECONDS OUT           poll DescribeInstanceHealth, one line per poll
    awsctl.py count-instances STATE_JSON ADDRESS     live instances of /_emulator/state tagged
                                                     infra:address=ADDRESS

Credentials, region and endpoint come from the environment (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL) as lib.sh sets them.
"""
import datetime
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


def probe_health(elb, seconds, out):
    """Writes "TIME IN_SERVICE TOTAL" per poll until SECONDS have passed or
    the file OUT.stop appears."""
    c = client("elb")
    end = time.time() + float(seconds)
    with open(out, "a") as f:
        while time.time() < end and not os.path.exists(out + ".stop"):
            try:
                states = c.describe_instance_health(LoadBalancerName=elb)["InstanceStates"]
                up = sum(1 for s in states if s["State"] == "InService")
                f.write("%.2f %d %d\n" % (time.time(), up, len(states)))
            except Exception as e:  # noqa: BLE001 - a failed poll is a line too
                f.write("%.2f error %s\n" % (time.time(), type(e).__name__))
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
    elif cmd == "probe-health":
        probe_health(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "count-instances":
        count_instances(sys.argv[2], sys.argv[3])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
