#!/usr/bin/python3
"""openstack/pool: servers on a host pool subnet are the pool's real hosts.

    test_pool.py WORLD_DIR HOSTPOOL_SH POOL_DIR

Makes a pool of two namespace hosts (tests/harness/hostpool.sh, needs root
and INFRA), registers it with the world (WORLD_DIR/pools), makes a Neutron
network whose subnet has the pool's CIDR, and boots servers on it: each
gets the address of a pool host as fixed IP, its console shows that host's
SSH host keys as cloud-init does, and SSH with those keys pinned and the
pool's private key reaches the host. A third server finds no free host and
goes to ERROR saying so. Everything it made is removed again.
"""
import ipaddress
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_world import (COMPUTE_VERSION, World, call, check, endpoint, fail, ok,  # noqa: E402
                        oshttp, wait_for)
import test_world  # noqa: E402


def console_block(text, name):
    lines = text.splitlines()
    begin, end = "-----BEGIN %s-----" % name, "-----END %s-----" % name
    if begin not in lines or end not in lines:
        return []
    return lines[lines.index(begin) + 1:lines.index(end)]


def ssh_with_console_keys(address, console, private_key):
    """SSH to address trusting only the host keys the console printed."""
    keys = console_block(console, "SSH HOST KEY KEYS")
    check(keys, "console has no host keys: %s" % console)
    with tempfile.TemporaryDirectory() as tmp:
        known = os.path.join(tmp, "known_hosts")
        with open(known, "w") as f:
            for line in keys:
                kind, blob = line.split()[:2]
                f.write("%s %s %s\n" % (address, kind, blob))
        done = subprocess.run(
            ["ssh", "-i", private_key, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
             "-o", "UserKnownHostsFile=" + known, "-o", "GlobalKnownHostsFile=/dev/null",
             "-o", "ConnectTimeout=10", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
             "root@" + address, "hostname -I"],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        check(done.returncode == 0 and address in done.stdout.split(),
              "ssh to %s failed (%d): %s" % (address, done.returncode, done.stderr.strip()))


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    world_dir, hostpool, pool_dir = sys.argv[1:]
    if os.geteuid() != 0:
        print("SKIP: needs root (namespace hosts)")
        return 77
    w = World(world_dir)
    suffix = "p%d" % os.getpid()
    registration = os.path.join(world_dir, "pools", suffix + ".json")
    made = {}
    try:
        done = subprocess.run([hostpool, "create", "2", pool_dir], capture_output=True, text=True)
        if done.returncode != 0:
            fail("hostpool create: %s" % done.stderr.strip())
        made["pool"] = True
        with open(os.path.join(pool_dir, "hosts.json")) as f:
            hosts = json.load(f)
        with open(os.path.join(pool_dir, "pool.yaml")) as f:
            cidr = [line.split(":", 1)[1].strip() for line in f
                    if line.strip().startswith("cidr:")][0]
        ok("host pool of %d hosts in %s" % (len(hosts), cidr))
        # Registering = copying hosts.json into the world's pools directory.
        with open(registration + ".tmp", "w") as f:
            json.dump(hosts, f)
        os.replace(registration + ".tmp", registration)

        auth = w.cloud["auth"]
        token, body = oshttp.token(w.keystone, oshttp.password_auth(
            auth["username"], auth["password"], auth["project_name"]))
        catalog = body["catalog"]
        nova = endpoint(catalog, "compute", w.region)
        neutron = endpoint(catalog, "network", w.region) + "/v2.0"
        net = call("POST", neutron + "/networks", {"network": {"name": "pool-" + suffix}},
                   token=token, expect=(201,))[1]["network"]
        made["net"] = net["id"]
        # Neutron allocates from .100 on, away from the pool hosts' addresses,
        # so that each server's port must be moved to its host.
        network = ipaddress.ip_network(cidr)
        call("POST", neutron + "/subnets", {"subnet": {
            "network_id": net["id"], "ip_version": 4, "cidr": cidr,
            "gateway_ip": str(network[1]), "name": "pool-" + suffix,
            "allocation_pools": [{"start": str(network[100]), "end": str(network[200])}]}},
            token=token, expect=(201,))
        images = call("GET", endpoint(catalog, "image", w.region) + "/v2/images?name=Debian%2012",
                      token=token)[1]["images"]
        flavor = [f for f in call("GET", nova + "/flavors/detail", token=token)[1]["flavors"]
                  if f["name"] == "s1-2"][0]

        def boot(name):
            server = call("POST", nova + "/servers", {"server": {
                "name": name, "imageRef": images[0]["id"], "flavorRef": flavor["id"],
                "networks": [{"uuid": net["id"]}]}}, token=token, headers=COMPUTE_VERSION,
                expect=(202,))[1]["server"]
            made.setdefault("servers", []).append(server["id"])
            return server["id"]

        def settled(sid):
            def probe():
                s = call("GET", "%s/servers/%s" % (nova, sid), token=token,
                         headers=COMPUTE_VERSION)[1]["server"]
                return s if s["status"] in ("ACTIVE", "ERROR") else None
            return wait_for("server %s to settle" % sid, 120, probe)

        by_address = {h["address"]: h for h in hosts}
        seen = set()
        for i in range(len(hosts)):
            s = settled(boot("pool-%s-%d" % (suffix, i)))
            check(s["status"] == "ACTIVE", "server went to ERROR: %s" % s.get("fault"))
            address = s["addresses"]["pool-" + suffix][0]["addr"]
            check(address in by_address, "server address %s is no pool host (%s)"
                  % (address, sorted(by_address)))
            check(address not in seen, "two servers got host %s" % address)
            seen.add(address)
            port = call("GET", "%s/ports?device_id=%s" % (neutron, s["id"]),
                        token=token)[1]["ports"][0]
            check(port["fixed_ips"][0]["ip_address"] == address,
                  "neutron port has %s, server shows %s" % (port["fixed_ips"], address))
            console = call("POST", "%s/servers/%s/action" % (nova, s["id"]),
                           {"os-getConsoleOutput": {}}, token=token)[1]["output"]
            fingerprints = console_block(console, "SSH HOST KEY FINGERPRINTS")
            wanted = by_address[address]["ssh_host_key_fingerprint"]
            check(any(line.split()[1] == wanted for line in fingerprints),
                  "console fingerprints %s lack the pool's %s" % (fingerprints, wanted))
            ssh_with_console_keys(address, console, by_address[address]["ssh_private_key"])
            ok("server %d is pool host %s: fixed IP, console host keys, SSH" % (i + 1, address))

        s = settled(boot("pool-%s-extra" % suffix))
        check(s["status"] == "ERROR" and "no free host" in (s.get("fault") or {}).get(
            "message", ""), "a server beyond the pool: %s %s" % (s["status"], s.get("fault")))
        ok("a server beyond the pool's hosts goes to ERROR: %s" % s["fault"]["message"])
    finally:
        cleanup(w, made, registration, hostpool, pool_dir)
    print("%d passed, 0 failed" % test_world.passed)
    return 0


def cleanup(w, made, registration, hostpool, pool_dir):
    errors = []
    try:
        if os.path.exists(registration):
            os.remove(registration)
        if made.get("net"):
            auth = w.cloud["auth"]
            token, body = oshttp.token(w.keystone, oshttp.password_auth(
                auth["username"], auth["password"], auth["project_name"]))
            nova = endpoint(body["catalog"], "compute", w.region)
            neutron = endpoint(body["catalog"], "network", w.region) + "/v2.0"
            for sid in made.get("servers", []):
                call("DELETE", "%s/servers/%s" % (nova, sid), token=token, expect=(204, 404))
            for sid in made.get("servers", []):
                wait_for("server %s deleted" % sid, 60, lambda: call(
                    "GET", "%s/servers/%s" % (nova, sid), token=token, expect=None)[0] == 404)
            wait_for("the pool network's ports to go", 60, lambda: not call(
                "GET", "%s/ports?network_id=%s" % (neutron, made["net"]), token=token)[1]["ports"])
            call("DELETE", "%s/networks/%s" % (neutron, made["net"]), token=token)
    except (OSError, oshttp.HttpError) as e:
        errors.append(str(e))
    if made.get("pool"):
        done = subprocess.run([hostpool, "destroy", pool_dir], capture_output=True, text=True)
        if done.returncode != 0:
            errors.append("hostpool destroy: " + done.stderr.strip())
    if errors:
        fail("cleanup: " + "; ".join(errors))


if __name__ == "__main__":
    sys.exit(main())
