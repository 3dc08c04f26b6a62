#!/usr/bin/python3
"""Plain API calls to the test world for the plugin's scenario tests.

    osctl.py WORLD get SERVICE PATH              the JSON answer of GET
    osctl.py WORLD call METHOD SERVICE PATH [BODY] any call; prints the JSON answer
    osctl.py WORLD endpoint SERVICE              the catalog URL of SERVICE
    osctl.py WORLD token                         a token of the user (cloud ovh)
    osctl.py WORLD revoke TOKEN                  revokes TOKEN (DELETE /v3/auth/tokens)

SERVICE is a catalog type (compute, network, image, dns, load-balancer) or
identity. PATH is below the service's base as the plugin uses it (network:
/v2.0 is added; image, dns, load-balancer: /v2). The user's token and
catalog are kept in OSCTL_CACHE (a file) when that is set, for 30 minutes.
A status outside 2xx exits 1 with the answer on stderr, except that `get`
of a missing object prints null and exits 3.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oshttp  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from test_world import World, endpoint  # noqa: E402

SUFFIX = {"network": "/v2.0", "image": "/v2", "dns": "/v2", "load-balancer": "/v2"}


def session(world):
    cache = os.environ.get("OSCTL_CACHE")
    if cache and os.path.exists(cache) and time.time() - os.path.getmtime(cache) < 1800:
        with open(cache) as f:
            s = json.load(f)
        return s["token"], s["catalog"]
    auth = world.cloud["auth"]
    token, body = oshttp.token(world.keystone, oshttp.password_auth(
        auth["username"], auth["password"], auth["project_name"]))
    if cache:
        with open(cache + ".tmp", "w") as f:
            os.chmod(cache + ".tmp", 0o600)
            json.dump({"token": token, "catalog": body["catalog"]}, f)
        os.replace(cache + ".tmp", cache)
    return token, body["catalog"]


def base(world, catalog, service):
    if service == "identity":
        return world.keystone
    return endpoint(catalog, service, world.region) + SUFFIX.get(service, "")


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    world = World(argv[1])
    command = argv[2]
    token, catalog = session(world)
    if command == "token" and len(argv) == 3:
        print(token)
        return 0
    if command == "endpoint" and len(argv) == 4:
        print(base(world, catalog, argv[3]))
        return 0
    if command == "revoke" and len(argv) == 4:
        status = oshttp.call("DELETE", world.keystone + "/auth/tokens", token=token,
                             headers={"X-Subject-Token": argv[3]}, expect=None)[0]
        return 0 if status in (204, 404) else 1
    if command == "get" and len(argv) == 5:
        method, service, path, body = "GET", argv[3], argv[4], None
    elif command == "call" and len(argv) in (6, 7):
        method, service, path = argv[3], argv[4], argv[5]
        body = json.loads(argv[6]) if len(argv) == 7 else None
    else:
        print(__doc__, file=sys.stderr)
        return 2
    headers = {"OpenStack-API-Version": "compute 2.79"} if service == "compute" else {}
    status, answer, _h = oshttp.call(method, base(world, catalog, service) + path, body,
                                     token=token, headers=headers, expect=None)
    if command == "get" and status == 404:
        print("null")
        return 3
    if status < 200 or status >= 300:
        print("%s %s: HTTP %s: %s" % (method, path, status, json.dumps(answer)), file=sys.stderr)
        return 1
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
