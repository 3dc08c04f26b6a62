#!/usr/bin/python3
"""openstack/world: the test world is real and usable, with plain HTTP calls.

    test_world.py DIR      DIR: a world started by world.sh start

Reads the cloud `ovh` from DIR/clouds.yaml merged with DIR/secure.yaml (as a
client does), then: tokens by password and by application credential, the
GRA7 catalog, an expired token refused, networks + subnet + router with the
Ext-Net gateway + security group + rule + port + floating IP, images and
flavors as OVH names them, a server to ACTIVE and back, and where they run a
Designate record set (answered by BIND) and an Octavia load balancer.
"""
import datetime
import os
import subprocess
import sys
import tempfile
import time

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tools"))
import oshttp  # noqa: E402
from oshttp import call  # noqa: E402

COMPUTE_VERSION = {"OpenStack-API-Version": "compute 2.79"}
passed = 0


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def ok(name):
    global passed
    passed += 1
    print("ok %d - %s" % (passed, name), flush=True)


def wait_for(what, seconds, probe):
    deadline = time.monotonic() + seconds
    delay = 0.1
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            fail("timed out after %ss waiting for %s" % (seconds, what))
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)


def merged_cloud(directory, name):
    """The clouds.yaml entry NAME with secure.yaml's values merged in."""
    with open(os.path.join(directory, "clouds.yaml")) as f:
        clouds = yaml.safe_load(f)["clouds"]
    with open(os.path.join(directory, "secure.yaml")) as f:
        secure = yaml.safe_load(f)["clouds"]
    cloud = clouds[name]
    for key, value in secure.get(name, {}).items():
        if isinstance(value, dict):
            cloud.setdefault(key, {}).update(value)
        else:
            cloud[key] = value
    return cloud


def endpoint(catalog, kind, region, interface="public"):
    for service in catalog:
        if service["type"] == kind:
            for e in service["endpoints"]:
                if e["region_id"] == region and e["interface"] == interface:
                    return e["url"].rstrip("/")
    fail("no %s endpoint (%s) in region %s" % (kind, interface, region))


class World:
    def __init__(self, directory):
        self.dir = directory
        self.env = {}
        with open(os.path.join(directory, "world.env")) as f:
            for line in f:
                if "=" in line and not line.startswith("#"):
                    k, v = line.strip().split("=", 1)
                    self.env[k] = v
        self.cloud = merged_cloud(directory, "ovh")
        self.appcred = merged_cloud(directory, "ovh-appcred")
        self.keystone = self.cloud["auth"]["auth_url"].rstrip("/")
        self.region = self.cloud["region_name"]


def test_tokens(w):
    auth = w.cloud["auth"]
    check(auth.get("password"), "secure.yaml gave no password for cloud ovh")
    token, body = oshttp.token(w.keystone, oshttp.password_auth(
        auth["username"], auth["password"], auth["project_name"]))
    check(body["project"]["name"] == auth["project_name"], "token scoped to another project")
    catalog = body["catalog"]
    regions = {e["region_id"] for s in catalog for e in s["endpoints"]}
    check(regions == {"GRA7"}, "catalog regions are %s, not only GRA7" % sorted(regions))
    kinds = ["identity", "compute", "network", "image", "placement"]
    if w.env.get("DESIGNATE") == "1":
        kinds.append("dns")
    if w.env.get("OCTAVIA") == "1":
        kinds.append("load-balancer")
    for kind in kinds:
        endpoint(catalog, kind, w.region, "public")
        endpoint(catalog, kind, w.region, "internal")
    ok("token by password, catalog with GRA7 public and internal endpoints for "
       + " ".join(kinds))

    a = w.appcred["auth"]
    app_token, app_body = oshttp.token(w.keystone, oshttp.app_cred_auth(
        a["application_credential_id"], a["application_credential_secret"]))
    check(app_body["project"]["id"] == body["project"]["id"],
          "application credential token for another project")
    check("application_credential" in app_body["methods"], "token not by application credential")
    ok("token by application credential")

    bad = oshttp.password_auth(auth["username"], auth["password"] + "x", auth["project_name"])
    status = call("POST", w.keystone + "/auth/tokens", bad, expect=None)[0]
    check(status == 401, "wrong password answered %s, not 401" % status)
    ok("wrong password refused with 401")
    return token, body


def test_expired_token(w, token, body):
    """A token ends at its application credential's expiry; then services answer 401."""
    user = body["user"]["id"]
    expires = (datetime.datetime.utcnow() + datetime.timedelta(seconds=12)).replace(microsecond=0)
    cred = call("POST", "%s/users/%s/application_credentials" % (w.keystone, user),
                {"application_credential": {"name": "expiring-%d" % os.getpid(),
                                            "expires_at": expires.isoformat(),
                                            # Named, not copied from the token: once
                                            # keystone copied a role the user lacks.
                                            "roles": [{"name": "member"}]}},
                token=token)[1]["application_credential"]
    short, short_body = oshttp.token(w.keystone, oshttp.app_cred_auth(cred["id"],
                                                                      cred["secret"]))
    nova = endpoint(short_body["catalog"], "compute", w.region)
    check(call("GET", nova + "/servers", token=short, expect=None)[0] == 200,
          "fresh short token not accepted")
    wait_for("the expired token to be refused", 60,
             lambda: call("GET", nova + "/servers", token=short, expect=None)[0] == 401)
    status = call("GET", w.keystone + "/auth/tokens", token=token, expect=None,
                  headers={"X-Subject-Token": short})[0]
    check(status == 404, "keystone validated an expired token (%s)" % status)
    call("DELETE", "%s/users/%s/application_credentials/%s" % (w.keystone, user, cred["id"]),
         token=token)
    ok("expired token refused with 401 (token expiry: %s s in this world)"
       % w.env.get("TOKEN_EXPIRATION"))


def test_images_flavors(w, token, catalog):
    glance = endpoint(catalog, "image", w.region)
    # The world's own images are public; the scenarios sharing the world
    # make private ones of their own, some not yet active.
    images = call("GET", glance + "/v2/images?sort=created_at:desc&visibility=public",
                  token=token)[1]["images"]
    names = [i["name"] for i in images]
    for name in ("Debian 12", "nomad-host-2026-11-01", "nomad-host-2026-11-02"):
        check(name in names, "image %s missing (have %s)" % (name, names))
    nomad = [i for i in images if i["name"].startswith("nomad-host-")]
    check(nomad[0]["name"] == "nomad-host-2026-11-02" and
          nomad[0]["created_at"] > nomad[1]["created_at"],
          "newest nomad-host image is not 2026-11-02: %s" % nomad)
    check(all(i["status"] == "active" for i in images), "an image is not active")
    ok("images Debian 12 and nomad-host-2026-11-0{1,2}, newest by created_at")

    nova = endpoint(catalog, "compute", w.region)
    flavors = {f["name"]: f for f in call("GET", nova + "/flavors/detail",
                                          token=token)[1]["flavors"]}
    check(flavors.get("s1-2", {}).get("vcpus") == 1 and flavors["s1-2"]["ram"] == 2000,
          "flavor s1-2 wrong: %s" % flavors.get("s1-2"))
    check(flavors.get("b2-7", {}).get("vcpus") == 2 and flavors["b2-7"]["disk"] == 50,
          "flavor b2-7 wrong: %s" % flavors.get("b2-7"))
    ok("flavors s1-2 and b2-7")
    return images, flavors


def test_network(w, token, catalog, suffix):
    neutron = endpoint(catalog, "network", w.region) + "/v2.0"
    ext = call("GET", neutron + "/networks?name=Ext-Net", token=token)[1]["networks"]
    check(len(ext) == 1 and ext[0]["router:external"], "no external network Ext-Net")
    ext = ext[0]
    net = call("POST", neutron + "/networks", {"network": {"name": "net-" + suffix}},
               token=token, expect=(201,))[1]["network"]
    subnet = call("POST", neutron + "/subnets", {"subnet": {
        "network_id": net["id"], "name": "sub-" + suffix, "ip_version": 4,
        "cidr": "192.168.77.0/24", "dns_nameservers": ["213.186.33.99"]}},
        token=token, expect=(201,))[1]["subnet"]
    router = call("POST", neutron + "/routers", {"router": {
        "name": "r-" + suffix, "external_gateway_info": {"network_id": ext["id"]}}},
        token=token, expect=(201,))[1]["router"]
    check(router["external_gateway_info"]["network_id"] == ext["id"], "router without gateway")
    call("PUT", "%s/routers/%s/add_router_interface" % (neutron, router["id"]),
         {"subnet_id": subnet["id"]}, token=token)
    sg = call("POST", neutron + "/security-groups", {"security_group": {
        "name": "sg-" + suffix, "description": "test world"}}, token=token,
        expect=(201,))[1]["security_group"]
    rule_body = {"security_group_rule": {
        "security_group_id": sg["id"], "direction": "ingress", "ethertype": "IPv4",
        "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
        "remote_ip_prefix": "0.0.0.0/0"}}
    call("POST", neutron + "/security-group-rules", rule_body, token=token, expect=(201,))
    status = call("POST", neutron + "/security-group-rules", rule_body, token=token,
                  expect=None)[0]
    check(status == 409, "duplicate rule answered %s, not 409" % status)
    port = call("POST", neutron + "/ports", {"port": {
        "network_id": net["id"], "name": "p-" + suffix, "security_groups": [sg["id"]]}},
        token=token, expect=(201,))[1]["port"]
    fip = call("POST", neutron + "/floatingips", {"floatingip": {
        "floating_network_id": ext["id"], "port_id": port["id"]}},
        token=token, expect=(201,))[1]["floatingip"]
    check(fip["floating_ip_address"].startswith("203.0.113.") and
          fip["fixed_ip_address"] == port["fixed_ips"][0]["ip_address"],
          "floating IP not associated: %s" % fip)
    ok("network, subnet, router with Ext-Net gateway, security group + rule, port, "
       "floating IP")
    return {"neutron": neutron, "net": net, "subnet": subnet, "router": router, "sg": sg,
            "port": port, "fip": fip}


def test_network_delete(w, token, n):
    neutron = n["neutron"]
    call("DELETE", "%s/floatingips/%s" % (neutron, n["fip"]["id"]), token=token)
    call("DELETE", "%s/ports/%s" % (neutron, n["port"]["id"]), token=token)
    call("PUT", "%s/routers/%s/remove_router_interface" % (neutron, n["router"]["id"]),
         {"subnet_id": n["subnet"]["id"]}, token=token)
    call("DELETE", "%s/routers/%s" % (neutron, n["router"]["id"]), token=token)
    call("DELETE", "%s/security-groups/%s" % (neutron, n["sg"]["id"]), token=token)
    call("DELETE", "%s/networks/%s" % (neutron, n["net"]["id"]), token=token)
    status = call("GET", "%s/networks/%s" % (neutron, n["net"]["id"]), token=token,
                  expect=None)[0]
    check(status == 404, "deleted network still there (%s)" % status)
    ok("network objects deleted")


def test_server(w, token, catalog, images, flavors, n, suffix):
    nova = endpoint(catalog, "compute", w.region)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", tmp + "/k"],
                       check=True)
        with open(tmp + "/k.pub") as f:
            public = f.read().strip()
    call("POST", nova + "/os-keypairs", {"keypair": {"name": "kp-" + suffix,
                                                    "public_key": public}}, token=token)
    image = [i for i in images if i["name"] == "Debian 12"][0]
    started = time.monotonic()
    server = call("POST", nova + "/servers", {"server": {
        "name": "node-" + suffix, "imageRef": image["id"],
        "flavorRef": flavors["s1-2"]["id"], "key_name": "kp-" + suffix,
        "networks": [{"uuid": n["net"]["id"]}], "security_groups": [{"name": n["sg"]["name"]}],
        "metadata": {"cluster": "c1"}, "user_data": "IyEvYmluL3NoCmVjaG8gaGkK"}},
        token=token, headers=COMPUTE_VERSION, expect=(202,))[1]["server"]

    def active():
        s = call("GET", "%s/servers/%s" % (nova, server["id"]), token=token,
                 headers=COMPUTE_VERSION)[1]["server"]
        if s["status"] == "ERROR":
            fail("server went to ERROR: %s" % s.get("fault"))
        return s if s["status"] == "ACTIVE" else None
    s = wait_for("server ACTIVE", 120, active)
    addrs = s["addresses"]["net-" + suffix]
    check(addrs and addrs[0]["addr"].startswith("192.168.77."), "server addresses: %s" % addrs)
    ports = call("GET", "%s/ports?device_id=%s" % (n["neutron"], server["id"]),
                 token=token)[1]["ports"]
    check(len(ports) == 1 and ports[0]["status"] == "ACTIVE",
          "server port not ACTIVE: %s" % ports)
    ok("server booted to ACTIVE in %.1f s, port bound and ACTIVE" % (time.monotonic() - started))

    console = call("POST", "%s/servers/%s/action" % (nova, server["id"]),
                   {"os-getConsoleOutput": {"length": 50}}, token=token)[1]["output"]
    check("-----BEGIN SSH HOST KEY FINGERPRINTS-----" in console and "SHA256:" in console,
          "console without host key fingerprints: %s" % console)
    ok("console output with the cloud-init host key block")

    call("DELETE", "%s/servers/%s" % (nova, server["id"]), token=token, expect=(204,))
    wait_for("server deleted", 60, lambda: call(
        "GET", "%s/servers/%s" % (nova, server["id"]), token=token, expect=None)[0] == 404)
    wait_for("server port deleted", 30, lambda: not call(
        "GET", "%s/ports?device_id=%s" % (n["neutron"], server["id"]), token=token)[1]["ports"])
    call("DELETE", "%s/os-keypairs/kp-%s" % (nova, suffix), token=token, expect=(202, 204))
    ok("server deleted, its port removed")


def test_designate(w, token, catalog, suffix):
    designate = endpoint(catalog, "dns", w.region) + "/v2"
    zones = call("GET", designate + "/zones?name=example.org.", token=token)[1]["zones"]
    check(len(zones) == 1 and zones[0]["status"] == "ACTIVE", "zone example.org. %s" % zones)
    zone = zones[0]["id"]
    name = "www-%s.example.org." % suffix
    rs = call("POST", "%s/zones/%s/recordsets" % (designate, zone), {
        "name": name, "type": "A", "ttl": 60, "records": ["203.0.113.10"]},
        token=token, expect=(201, 202))[1]

    def rs_status():
        r = call("GET", "%s/zones/%s/recordsets/%s" % (designate, zone, rs["id"]),
                 token=token)[1]
        check(r["status"] != "ERROR", "record set went to ERROR")
        return r["status"] == "ACTIVE"
    wait_for("record set ACTIVE", 60, rs_status)
    check(dns_query(w, name) == ["203.0.113.10"], "BIND does not answer %s" % name)
    ok("Designate record set %s ACTIVE, answered by BIND" % name)
    call("DELETE", "%s/zones/%s/recordsets/%s" % (designate, zone, rs["id"]), token=token,
         expect=(202, 204))
    wait_for("record set deleted", 60, lambda: call(
        "GET", "%s/zones/%s/recordsets/%s" % (designate, zone, rs["id"]), token=token,
        expect=None)[0] == 404)
    wait_for("BIND to forget %s" % name, 60, lambda: dns_query(w, name) == [])
    ok("Designate record set deleted, gone from BIND")


def dns_query(w, name):
    import dns.message
    import dns.query
    import dns.rdatatype
    query = dns.message.make_query(name, dns.rdatatype.A)
    answer = dns.query.udp(query, "127.0.0.1", port=int(w.env["BIND_PORT"]), timeout=5)
    return sorted(r.address for rrset in answer.answer for r in rrset
                  if rrset.rdtype == dns.rdatatype.A)


def test_octavia(w, token, catalog, n, suffix):
    octavia = endpoint(catalog, "load-balancer", w.region) + "/v2"
    lb = call("POST", octavia + "/lbaas/loadbalancers", {"loadbalancer": {
        "name": "lb-" + suffix, "vip_subnet_id": n["subnet"]["id"]}},
        token=token, expect=(201,))[1]["loadbalancer"]

    def lb_status():
        b = call("GET", "%s/lbaas/loadbalancers/%s" % (octavia, lb["id"]),
                 token=token)[1]["loadbalancer"]
        check(b["provisioning_status"] != "ERROR", "load balancer went to ERROR")
        return b if b["provisioning_status"] == "ACTIVE" else None
    b = wait_for("load balancer ACTIVE", 120, lb_status)
    ok("Octavia load balancer ACTIVE (VIP %s)" % b["vip_address"])
    call("DELETE", "%s/lbaas/loadbalancers/%s?cascade=true" % (octavia, lb["id"]),
         token=token, expect=(204,))

    def gone():
        status, body, _h = call("GET", "%s/lbaas/loadbalancers/%s" % (octavia, lb["id"]),
                                token=token, expect=None)
        return status == 404 or body["loadbalancer"]["provisioning_status"] == "DELETED"
    wait_for("load balancer deleted", 120, gone)
    ok("Octavia load balancer deleted")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    if os.geteuid() != 0 and not os.path.exists(os.path.join(sys.argv[1], "seed.env")):
        print("SKIP: no world (world.sh start needs root)")
        return 77
    w = World(sys.argv[1])
    suffix = "w%d" % os.getpid()
    token, body = test_tokens(w)
    catalog = body["catalog"]
    test_expired_token(w, token, body)
    images, flavors = test_images_flavors(w, token, catalog)
    n = test_network(w, token, catalog, suffix)
    test_server(w, token, catalog, images, flavors, n, suffix)
    if w.env.get("OCTAVIA") == "1":
        test_octavia(w, token, catalog, n, suffix)
    else:
        print("# octavia does not run in this world")
    test_network_delete(w, token, n)
    if w.env.get("DESIGNATE") == "1":
        test_designate(w, token, catalog, suffix)
    else:
        print("# designate does not run in this world")
    print("%d passed, 0 failed" % passed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
