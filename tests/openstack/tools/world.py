#!/usr/bin/python3
"""The parts of tests/openstack/world.sh that speak HTTP or MySQL.

  world.py ports N                 N free TCP ports on 127.0.0.1, one per line
  world.py wait-http URL SECONDS [DIR]  until URL answers any HTTP status (and
                                   every process of the world in DIR runs)
  world.py wait-tcp PORT SECS DIR  until 127.0.0.1:PORT accepts connections
  world.py databases DIR           the services' databases and their user
  world.py keystone-keys DIR       keystone's fernet and credential keys
  world.py seed-identity DIR       keystone's part of the seed: users, catalog
  world.py seed DIR                the rest of what an OVH-like cloud has
  world.py wait-compute DIR SECS   until the compute host is up and in placement
  world.py env DIR [WHAT]          clouds.yaml, secure.yaml and openrc in DIR;
                                   prints WHAT: openrc (default), clouds, secure
  world.py memory DIR              how many processes, how much memory and CPU

Every value a command needs comes from DIR/world.env (KEY=VALUE lines that
world.sh writes); what seed creates goes to DIR/seed.env. Only the standard
library and PyMySQL are used, so the commands start fast.
"""
import os
import socket
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oshttp  # noqa: E402

SERVICE_USERS = ("glance", "placement", "nova", "neutron", "designate", "octavia")
DATABASES = ("keystone", "glance", "placement", "nova_api", "nova", "nova_cell0", "neutron",
             "designate", "octavia")
FLAVORS = (  # name, vcpus, ram MiB, disk GB: as OVH names and sizes them
    ("s1-2", 1, 2000, 10),
    ("s1-4", 1, 4000, 20),
    ("b2-7", 2, 7000, 50),
    ("b2-15", 4, 15000, 100),
)
IMAGES = (  # name, created_at written into glance's database
    ("Debian 12", "2026-10-15 08:00:00"),
    ("nomad-host-2026-11-01", "2026-11-01 10:00:00"),
    ("nomad-host-2026-11-02", "2026-11-02 10:00:00"),
)


def die(message):
    print("world.py: " + message, file=sys.stderr)
    sys.exit(1)


def read_env(path):
    values = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                values[key] = value.strip("'\"")
    return values


def world_env(directory):
    return read_env(os.path.join(directory, "world.env"))


def wait_until(what, seconds, probe):
    """Calls probe() until it returns a true value; dies naming what after SECONDS."""
    deadline = time.monotonic() + seconds
    delay = 0.1
    last = None
    while True:
        try:
            result = probe()
            if result:
                return result
        except (OSError, urllib.error.URLError, oshttp.HttpError) as e:
            last = e
        if time.monotonic() > deadline:
            die("timed out after %ss waiting for %s%s" % (
                seconds, what, (": %s" % last) if last else ""))
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)


# -- ports, readiness ---------------------------------------------------------

def cmd_ports(count):
    sockets = []
    for _ in range(int(count)):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    for s in sockets:
        print(s.getsockname()[1])
    for s in sockets:
        s.close()


def check_alive(directory):
    """Dies naming the first process of the world in DIRECTORY that has exited."""
    run = os.path.join(directory, "run")
    for name in sorted(os.listdir(run)):
        with open(os.path.join(run, name)) as f:
            pid = int(f.read().strip())
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            service = name[:-len(".pid")]
            die("%s exited (log: %s)" % (service, os.path.join(directory, "log",
                                                               service + ".log")))


def cmd_wait_http(url, seconds, directory=None):
    def probe():
        if directory:
            check_alive(directory)
        try:
            with urllib.request.urlopen(url, timeout=5):
                return True
        except urllib.error.HTTPError:
            return True
    wait_until(url, float(seconds), probe)


def cmd_wait_tcp(port, seconds, directory):
    """Until 127.0.0.1:PORT accepts connections (RabbitMQ listens once booted)."""
    def probe():
        check_alive(directory)
        with socket.create_connection(("127.0.0.1", int(port)), timeout=5):
            return True
    wait_until("127.0.0.1:%s" % port, float(seconds), probe)


# -- databases ----------------------------------------------------------------

def cmd_databases(directory):
    import pymysql
    env = world_env(directory)

    def connect():
        try:
            return pymysql.connect(unix_socket=env["DB_SOCKET"], user="root", autocommit=True)
        except pymysql.err.OperationalError:
            return None
    conn = wait_until("MariaDB on " + env["DB_SOCKET"], float(env["START_TIMEOUT"]), connect)
    with conn.cursor() as cur:
        for name in DATABASES:
            cur.execute("CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8mb4" % name)
        cur.execute("CREATE USER IF NOT EXISTS 'openstack'@'localhost' IDENTIFIED BY %s",
                    (env["DB_PASSWORD"],))
        # A schema template has the user with another world's password.
        cur.execute("ALTER USER 'openstack'@'localhost' IDENTIFIED BY %s", (env["DB_PASSWORD"],))
        for name in DATABASES:
            cur.execute("GRANT ALL PRIVILEGES ON `%s`.* TO 'openstack'@'localhost'" % name)
    conn.close()


def cmd_keystone_keys(directory):
    """Keystone's fernet token and credential key repositories: a staged key (0)
    and a primary key (1) each, as keystone-manage fernet_setup and
    credential_setup make them, without starting keystone's code twice."""
    from cryptography.fernet import Fernet
    for repository in ("fernet-keys", "credential-keys"):
        path = os.path.join(directory, "state", "keystone", repository)
        os.makedirs(path, mode=0o700, exist_ok=True)
        for name in ("0", "1"):
            with open(os.path.join(path, name), "wb") as f:
                os.fchmod(f.fileno(), 0o600)
                f.write(Fernet.generate_key())


# -- seed ---------------------------------------------------------------------

class Seeder:
    def __init__(self, directory):
        self.dir = directory
        self.env = world_env(directory)
        self.keystone = "http://127.0.0.1:%s/v3" % self.env["KEYSTONE_PORT"]
        self.token = oshttp.password_token(self.keystone, "admin", self.env["ADMIN_PASSWORD"],
                                          "admin")
        self.out = {}

    def url(self, service):
        return "http://127.0.0.1:%s" % self.env[service.upper() + "_PORT"]

    def call(self, method, url, body=None, expect=(200, 201, 202, 204), token=None):
        return oshttp.call(method, url, body, token=token or self.token, expect=expect)

    def find_or_create(self, kind, plural, name, body, extra_filter=""):
        found = self.call("GET", "%s/%s?name=%s%s" % (self.keystone, plural,
                                                      urllib.request.quote(name),
                                                      extra_filter))[1][plural]
        if found:
            return found[0]["id"]
        return self.call("POST", "%s/%s" % (self.keystone, plural), {kind: body})[1][kind]["id"]

    def identity(self):
        env = self.env
        default = "default"
        service_project = self.find_or_create("project", "projects", "service",
                                              {"name": "service", "domain_id": default})
        project = self.find_or_create("project", "projects", env["PROJECT_NAME"],
                                      {"name": env["PROJECT_NAME"], "domain_id": default,
                                       "description": "infra test world project"})
        roles = {}
        for name in ("admin", "member", "reader", "service", "load-balancer_member"):
            roles[name] = self.find_or_create("role", "roles", name, {"name": name})
        for svc in SERVICE_USERS:
            uid = self.find_or_create("user", "users", svc,
                                      {"name": svc, "domain_id": default,
                                       "password": env["SERVICE_PASSWORD"]})
            # nova and neutron send service tokens to each other; the service
            # role on the service project is what keystonemiddleware requires.
            for role in ("admin", "service"):
                self.call("PUT", "%s/projects/%s/users/%s/roles/%s" % (
                    self.keystone, service_project, uid, roles[role]))
        user = self.find_or_create("user", "users", env["USER_NAME"],
                                   {"name": env["USER_NAME"], "domain_id": default,
                                    "password": env["USER_PASSWORD"]})
        for role in ("member", "reader", "load-balancer_member"):
            self.call("PUT", "%s/projects/%s/users/%s/roles/%s" % (
                self.keystone, project, user, roles[role]))
        self.out.update(PROJECT_ID=project, USER_ID=user, SERVICE_PROJECT_ID=service_project)

        # The catalog: every service in region GRA7, public and internal.
        endpoints = [("glance", "image", self.url("glance")),
                     ("placement", "placement", self.url("placement")),
                     ("nova", "compute", self.url("nova") + "/v2.1"),
                     ("neutron", "network", self.url("neutron"))]
        if env.get("DESIGNATE") == "1":
            endpoints.append(("designate", "dns", self.url("designate")))
        if env.get("OCTAVIA") == "1":
            endpoints.append(("octavia", "load-balancer", self.url("octavia")))
        for name, kind, url in endpoints:
            sid = self.find_or_create("service", "services", name, {"name": name, "type": kind})
            have = self.call("GET", "%s/endpoints?service_id=%s" % (self.keystone, sid))[1]
            interfaces = {e["interface"] for e in have["endpoints"]}
            for interface in ("public", "internal"):
                if interface not in interfaces:
                    self.call("POST", self.keystone + "/endpoints",
                              {"endpoint": {"service_id": sid, "interface": interface,
                                            "region_id": env["REGION"], "url": url}})

        # The application credential belongs to the user and is made with the
        # user's own token, as a user of the cloud makes it.
        user_token = oshttp.password_token(self.keystone, env["USER_NAME"], env["USER_PASSWORD"],
                                           env["PROJECT_NAME"])
        creds = self.call("GET", "%s/users/%s/application_credentials?name=infra-test" % (
            self.keystone, user), token=user_token)[1]["application_credentials"]
        for c in creds:
            self.call("DELETE", "%s/users/%s/application_credentials/%s" % (
                self.keystone, user, c["id"]), token=user_token)
        cred = self.call("POST", "%s/users/%s/application_credentials" % (self.keystone, user),
                         {"application_credential": {"name": "infra-test",
                                                     "description": "infra test world"}},
                         token=user_token)[1]["application_credential"]
        self.out.update(APP_CRED_ID=cred["id"], APP_CRED_SECRET=cred["secret"])

    def compute(self):
        nova = self.url("nova") + "/v2.1"
        have = {f["name"] for f in self.call("GET", nova + "/flavors/detail?is_public=None")[1]
                ["flavors"]}
        for name, vcpus, ram, disk in FLAVORS:
            if name not in have:
                self.call("POST", nova + "/flavors",
                          {"flavor": {"name": name, "vcpus": vcpus, "ram": ram, "disk": disk}})

    def images(self):
        glance = self.url("glance") + "/v2/images"
        ids = {}
        for name, _created in IMAGES:
            found = self.call("GET", glance + "?name=" + urllib.request.quote(name))[1]["images"]
            if found and found[0]["status"] == "active":
                ids[name] = found[0]["id"]
                continue
            for image in found:
                self.call("DELETE", "%s/%s" % (glance, image["id"]))
            image = self.call("POST", glance, {"name": name, "disk_format": "raw",
                                               "container_format": "bare",
                                               "visibility": "public",
                                               "os_distro": "debian"})[1]
            oshttp.call("PUT", "%s/%s/file" % (glance, image["id"]),
                        raw=("%s: a tiny image of the test world\n" % name).encode(),
                        token=self.token, expect=(204,),
                        headers={"Content-Type": "application/octet-stream"})
            ids[name] = image["id"]
        # Newest-image selection needs created_at values that differ and follow
        # the names; images made by one seed are created within one second.
        import pymysql
        conn = pymysql.connect(unix_socket=self.env["DB_SOCKET"], user="root", database="glance",
                               autocommit=True)
        with conn.cursor() as cur:
            for name, created in IMAGES:
                cur.execute("UPDATE images SET created_at = %s WHERE id = %s",
                            (created, ids[name]))
        conn.close()
        self.out["IMAGE_DEBIAN_ID"] = ids["Debian 12"]

    def network(self):
        neutron = self.url("neutron") + "/v2.0"
        env = self.env
        found = self.call("GET", neutron + "/networks?name=Ext-Net")[1]["networks"]
        if found:
            net = found[0]["id"]
        else:
            net = self.call("POST", neutron + "/networks", {"network": {
                "name": "Ext-Net", "router:external": True, "shared": True,
                "provider:network_type": "flat", "provider:physical_network": "public"}}
            )[1]["network"]["id"]
        subnets = self.call("GET", neutron + "/subnets?network_id=" + net)[1]["subnets"]
        if not subnets:
            self.call("POST", neutron + "/subnets", {"subnet": {
                "name": "Ext-Net", "network_id": net, "ip_version": 4,
                "cidr": env["EXT_CIDR"], "gateway_ip": env["EXT_GATEWAY"],
                "enable_dhcp": False}})
        self.out["EXT_NET_ID"] = net

    def dns(self):
        if self.env.get("DESIGNATE") != "1":
            return
        designate = self.url("designate") + "/v2/zones"
        token = oshttp.password_token(self.keystone, self.env["USER_NAME"],
                                      self.env["USER_PASSWORD"], self.env["PROJECT_NAME"])
        zones = self.call("GET", designate + "?name=example.org.", token=token)[1]["zones"]
        if zones:
            zone = zones[0]["id"]
        else:
            zone = self.call("POST", designate, {"name": "example.org.",
                                                 "email": "hostmaster@example.org",
                                                 "ttl": 300}, token=token)[1]["id"]

        def active():
            z = self.call("GET", "%s/%s" % (designate, zone), token=token)[1]
            if z["status"] == "ERROR":
                die("zone example.org. went to ERROR")
            return z["status"] == "ACTIVE"
        wait_until("zone example.org. ACTIVE", 60, active)
        self.out["ZONE_ID"] = zone

    def write(self):
        path = os.path.join(self.dir, "seed.env")
        with open(path + ".tmp", "w") as f:
            os.chmod(path + ".tmp", 0o600)
            for key, value in sorted(self.out.items()):
                f.write("%s=%s\n" % (key, value))
        os.replace(path + ".tmp", path)


def cmd_seed_identity(directory):
    seeder = Seeder(directory)
    seeder.identity()
    seeder.write()


def cmd_seed(directory):
    seeder = Seeder(directory)
    seeder.out.update(read_env(os.path.join(directory, "seed.env")))
    seeder.compute()
    seeder.images()
    seeder.network()
    seeder.dns()
    seeder.write()


def cmd_wait_compute(directory, seconds):
    """The compute service is up in nova and its resource provider is in placement."""
    env = world_env(directory)
    keystone = "http://127.0.0.1:%s/v3" % env["KEYSTONE_PORT"]
    token = oshttp.password_token(keystone, "admin", env["ADMIN_PASSWORD"], "admin")
    nova = "http://127.0.0.1:%s/v2.1" % env["NOVA_PORT"]
    placement = "http://127.0.0.1:%s" % env["PLACEMENT_PORT"]

    def ready():
        check_alive(directory)
        services = oshttp.call("GET", nova + "/os-services?binary=nova-compute",
                               token=token)[1]["services"]
        if not any(s["state"] == "up" for s in services):
            return False
        hypervisors = oshttp.call("GET", nova + "/os-hypervisors", token=token)[1]
        if not hypervisors["hypervisors"]:
            return False
        providers = oshttp.call("GET", placement + "/resource_providers", token=token,
                                headers={"OpenStack-API-Version": "placement 1.0"}
                                )[1]["resource_providers"]
        if not providers:
            return False
        inventory = oshttp.call("GET", "%s/resource_providers/%s/inventories" % (
            placement, providers[0]["uuid"]), token=token)[1]["inventories"]
        return "VCPU" in inventory
    wait_until("the compute host in nova and placement", float(seconds), ready)


def cmd_memory(directory):
    """Processes of the world and their proportional memory (Pss), in total."""
    marker = ("OSWORLD_PROCESS_OF=%s" % directory).encode()
    count, pss_kib, ticks = 0, 0, 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % pid, "rb") as f:
                if marker not in f.read().split(b"\0"):
                    continue
            with open("/proc/%s/smaps_rollup" % pid) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss_kib += int(line.split()[1])
            with open("/proc/%s/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
            count += 1
        except OSError:
            continue
    print("%d processes, %d MiB (proportional set size), %d CPU seconds so far" % (
        count, pss_kib // 1024, ticks // os.sysconf("SC_CLK_TCK")))


# -- client configuration ------------------------------------------------------

def cmd_env(directory, show="openrc"):
    env = world_env(directory)
    seed = read_env(os.path.join(directory, "seed.env"))
    auth_url = "http://127.0.0.1:%s/v3" % env["KEYSTONE_PORT"]
    clouds = (
        "# The infra OpenStack test world, as an OVH-like cloud. The password\n"
        "# is in secure.yaml beside this file (merged by clients).\n"
        "clouds:\n"
        "  ovh:\n"
        "    auth:\n"
        "      auth_url: %(auth)s\n"
        "      username: %(user)s\n"
        "      project_name: \"%(project)s\"\n"
        "      project_id: %(project_id)s\n"
        "      user_domain_name: Default\n"
        "      project_domain_name: Default\n"
        "    region_name: %(region)s\n"
        "    interface: public\n"
        "    identity_api_version: 3\n"
        "  ovh-appcred:\n"
        "    auth_type: v3applicationcredential\n"
        "    auth:\n"
        "      auth_url: %(auth)s\n"
        "      application_credential_id: %(cred)s\n"
        "    region_name: %(region)s\n"
        "    interface: public\n"
        "    identity_api_version: 3\n"
    ) % {"auth": auth_url, "user": env["USER_NAME"], "project": env["PROJECT_NAME"],
         "project_id": seed["PROJECT_ID"], "region": env["REGION"], "cred": seed["APP_CRED_ID"]}
    secure = (
        "clouds:\n"
        "  ovh:\n"
        "    auth:\n"
        "      password: \"%s\"\n"
        "  ovh-appcred:\n"
        "    auth:\n"
        "      application_credential_secret: \"%s\"\n"
    ) % (env["USER_PASSWORD"], seed["APP_CRED_SECRET"])
    openrc = (
        "export OS_AUTH_URL=%s\n"
        "export OS_IDENTITY_API_VERSION=3\n"
        "export OS_USERNAME=%s\n"
        "export OS_PASSWORD='%s'\n"
        "export OS_PROJECT_NAME='%s'\n"
        "export OS_PROJECT_ID=%s\n"
        "export OS_USER_DOMAIN_NAME=Default\n"
        "export OS_PROJECT_DOMAIN_NAME=Default\n"
        "export OS_REGION_NAME=%s\n"
        "export OS_INTERFACE=public\n"
        "export OS_CLIENT_CONFIG_FILE=%s\n"
        "export OS_CLIENT_SECURE_FILE=%s\n"
    ) % (auth_url, env["USER_NAME"], env["USER_PASSWORD"], env["PROJECT_NAME"],
         seed["PROJECT_ID"], env["REGION"], os.path.join(directory, "clouds.yaml"),
         os.path.join(directory, "secure.yaml"))
    for name, text in (("clouds.yaml", clouds), ("secure.yaml", secure), ("openrc", openrc)):
        path = os.path.join(directory, name)
        with open(path + ".tmp", "w") as f:
            os.chmod(path + ".tmp", 0o600)
            f.write(text)
        os.replace(path + ".tmp", path)
    shown = {"openrc": openrc, "clouds": clouds, "secure": secure}
    if show not in shown:
        die("env shows openrc, clouds or secure, not %s" % show)
    sys.stdout.write(shown[show])


def main(argv):
    commands = {"ports": (cmd_ports, 1), "wait-http": (cmd_wait_http, (2, 3)), "wait-tcp": (cmd_wait_tcp, 3),
                "databases": (cmd_databases, 1), "keystone-keys": (cmd_keystone_keys, 1),
                "seed-identity": (cmd_seed_identity, 1),
                "seed": (cmd_seed, 1),
                "wait-compute": (cmd_wait_compute, 2), "env": (cmd_env, (1, 2)),
                "memory": (cmd_memory, 1)}
    counts = commands[argv[1]][1] if len(argv) >= 2 and argv[1] in commands else ()
    if len(argv) - 2 not in (counts if isinstance(counts, tuple) else (counts,)):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        commands[argv[1]][0](*argv[2:])
    except oshttp.HttpError as e:
        die(str(e))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
