#!/usr/bin/python3
"""Calls to the GCP emulator through Google's own client library (googleapiclient,
built from the discovery documents of tests/conformance), for the gcp scenarios:
changes made behind infra's back (drift), probes, and listings.

    gcpctl.py call API RESOURCE METHOD [JSON_PARAMS] [--wait]
        API compute or dns; prints the answer as JSON; --wait waits for the
        Compute operation it answered to be DONE (and fails on its error)
    gcpctl.py probe-health POOL_ID SECONDS OUT
        every 0.2 s: getHealth of every member of the target pool, one line
        "TIME HEALTHY MEMBERS" (or "TIME error KIND") per poll, until SECONDS
        passed or OUT.stop exists
    gcpctl.py objects
        every object of the project as "COLLECTION NAME" lines, sorted
    gcpctl.py token
        an access token of the key, from google-auth (for quick calls with curl)

Credentials: GOOGLE_APPLICATION_CREDENTIALS (a key whose token_uri is the
emulator's); endpoint: GCP_EMULATOR, as lib.sh sets them.
"""
import json
import os
import sys
import time
import warnings

import google_auth_httplib2
import httplib2
from google.oauth2 import service_account
from googleapiclient import discovery
from googleapiclient.errors import HttpError

HERE = os.path.dirname(os.path.abspath(__file__))
CONFORMANCE = os.path.join(HERE, "..", "conformance")
DOCUMENTS = {"compute": "gce-compute-v1-discovery.json", "dns": "gce-dns-v1-discovery.json"}
PROJECT = "infra-test"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def service(api):
    warnings.simplefilter("ignore")
    with open(os.path.join(CONFORMANCE, DOCUMENTS[api]), encoding="utf-8") as f:
        doc = json.load(f)
    doc["rootUrl"] = os.environ["GCP_EMULATOR"] + "/"
    doc["baseUrl"] = doc["rootUrl"] + doc["servicePath"]
    creds = service_account.Credentials.from_service_account_file(
        os.environ["GOOGLE_APPLICATION_CREDENTIALS"], scopes=[SCOPE])
    http = google_auth_httplib2.AuthorizedHttp(creds, http=httplib2.Http(timeout=30))
    return discovery.build_from_document(doc, http=http)


def wait_operation(compute, op):
    while op.get("status") != "DONE":
        time.sleep(0.1)
        if op.get("zone"):
            op = compute.zoneOperations().get(project=PROJECT, zone=op["zone"].rsplit("/", 1)[-1],
                                              operation=op["name"]).execute(num_retries=5)
        elif op.get("region"):
            op = compute.regionOperations().get(project=PROJECT,
                                                region=op["region"].rsplit("/", 1)[-1],
                                                operation=op["name"]).execute(num_retries=5)
        else:
            op = compute.globalOperations().get(project=PROJECT,
                                                operation=op["name"]).execute(num_retries=5)
    if op.get("error"):
        raise SystemExit("operation failed: %s" % json.dumps(op["error"]))
    return op


def call(api, resource, method, params, wait):
    svc = service(api)
    params = dict(params)
    params.setdefault("project", PROJECT)
    answer = getattr(getattr(svc, resource)(), method)(**params).execute(num_retries=5)
    if wait:
        answer = wait_operation(svc, answer)
    print(json.dumps(answer))


def probe_health(pool_id, seconds, out):
    compute = service("compute")
    parts = pool_id.split("/")
    region, name = parts[-3], parts[-1]
    end = time.time() + float(seconds)
    with open(out, "a") as f:
        while time.time() < end and not os.path.exists(out + ".stop"):
            try:
                pool = compute.targetPools().get(project=PROJECT, region=region,
                                                 targetPool=name).execute()
                healthy = 0
                members = pool.get("instances", [])
                for link in members:
                    try:
                        health = compute.targetPools().getHealth(
                            project=PROJECT, region=region, targetPool=name,
                            body={"instance": link}).execute()
                    except HttpError as e:
                        if e.resp.status == 400:
                            continue  # left the pool since the pool was read
                        raise
                    if any(h.get("healthState") == "HEALTHY"
                           for h in health.get("healthStatus", [])):
                        healthy += 1
                f.write("%.2f %d %d\n" % (time.time(), healthy, len(members)))
            except Exception as e:  # noqa: BLE001 - a failed poll is a line too
                f.write("%.2f error %s\n" % (time.time(), type(e).__name__))
            f.flush()
            time.sleep(0.2)


def objects():
    compute = service("compute")
    lines = []
    for coll in ("networks", "firewalls", "httpHealthChecks", "instanceTemplates"):
        for item in getattr(compute, coll)().list(project=PROJECT).execute().get("items", []):
            lines.append("%s %s" % (coll, item["name"]))
    for coll in ("subnetworks", "routers", "addresses", "targetPools", "forwardingRules",
                 "instances", "instanceGroupManagers"):
        scoped = getattr(compute, coll)().aggregatedList(project=PROJECT).execute()["items"]
        for holder in scoped.values():
            for item in holder.get(coll, []):
                lines.append("%s %s" % (coll, item["name"]))
    dns = service("dns")
    for zone in dns.managedZones().list(project=PROJECT).execute().get("managedZones", []):
        sets = dns.resourceRecordSets().list(project=PROJECT,
                                             managedZone=zone["name"]).execute()["rrsets"]
        for rrset in sets:
            if rrset["type"] not in ("SOA", "NS"):
                lines.append("rrsets %s/%s" % (rrset["name"], rrset["type"]))
    for line in sorted(lines):
        print(line)


def token():
    creds = service_account.Credentials.from_service_account_file(
        os.environ["GOOGLE_APPLICATION_CREDENTIALS"], scopes=[SCOPE])
    creds.refresh(google_auth_httplib2.Request(httplib2.Http(timeout=30)))
    print(creds.token)


def main():
    args = [a for a in sys.argv[1:] if a != "--wait"]
    wait = "--wait" in sys.argv[1:]
    if len(args) >= 4 and args[0] == "call":
        call(args[1], args[2], args[3], json.loads(args[4]) if len(args) > 4 else {}, wait)
    elif len(args) == 4 and args[0] == "probe-health":
        probe_health(args[1], args[2], args[3])
    elif args == ["objects"]:
        objects()
    elif args == ["token"]:
        token()
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
