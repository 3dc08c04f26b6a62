#!/usr/bin/python3
"""A Nomad client pool as an Auto Scaling group on the AWS emulator's real
hosts (tests/harness/hostpool.sh), joining by itself from the user data the
nomad plugin renders (tests/nomad/pool_user_data):

- a server instance (stand-in consul and nomad servers, started by its own
  user data) carries the infra:join tag;
- a launch template with the pool's user data and an instance profile, and
  a group of 2: both instances boot, their Consul finds the server through
  DescribeInstances on the tag (cloud auto-join, with the profile's
  credentials), their Nomad finds the servers through Consul, and both are
  ready in /v1/nodes (nomad_pool_wait; asked for one more, it names the
  instance not registered): nothing logs in to them but the emulator's
  cloud-init;
- a job runs on them; scaling in drains the chosen node (nomad_pool_drain:
  Nomad's drain API, waited for until complete, its allocation moved), then
  TerminateInstanceInAutoScalingGroup with ShouldDecrementDesiredCapacity
  (checked by the emulator against botocore's model) removes it: 1 client,
  the job's 2 allocations running, none lost;
- deleting the group and the server leaves no instance.

Needs root (exit 77 otherwise). Arguments: INFRA binary, pool_tool.
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "emulators", "aws", "tests"))
HOSTPOOL = os.path.join(REPO, "tests", "harness", "hostpool.sh")
# The stand-ins as tests/standins/stage.sh copies them where the pool hosts
# see them (a host has its own /tmp, /root, /opt and /run, where the
# checkout may live).
STAGE = os.path.join(REPO, "tests", "standins", "stage.sh")
STANDINS = None
TAG = "asg-pools.default.main.europe"
TOOL = None
WORK = None
HOSTS = []


def log(*args):
    print("asg-pools:", *args, flush=True)


def wait_until(what, predicate, timeout, interval=0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ds waiting for %s" % (timeout, what))
        time.sleep(interval)


def server_user_data():
    """Stand-in consul and nomad servers of region europe (plain, one server)."""
    ip = "{{ GetPrivateIP }}"
    consul = {"datacenter": "europe", "data_dir": "/var/lib/consul", "server": True,
              "bootstrap_expect": 1, "bind_addr": ip, "advertise_addr": ip,
              "client_addr": "127.0.0.1"}
    nomad = {"region": "europe", "datacenter": "dc-a", "data_dir": "/var/lib/nomad",
             "bind_addr": ip, "advertise": {"http": ip, "rpc": ip, "serf": ip},
             "server": {"enabled": True, "bootstrap_expect": 1},
             "consul": {"address": "127.0.0.1:8500"}}
    return ("#!/bin/sh\n"
            "mkdir -p /etc/consul.d /etc/nomad.d /var/lib/consul /var/lib/nomad\n"
            "rm -f /etc/consul.d/* /etc/nomad.d/* 2>/dev/null\n"
            "echo '%s' > /etc/consul.d/agent.json\n"
            "echo '%s' > /etc/nomad.d/agent.json\n"
            "%s/consul agent -config-dir=/etc/consul.d >> /var/log/consul.log 2>&1 &\n"
            "%s/nomad agent -config=/etc/nomad.d >> /var/log/nomad.log 2>&1 &\n"
            "wait\n" % (json.dumps(consul), json.dumps(nomad), STANDINS, STANDINS))


def nomad(address, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://%s:4646%s" % (address, path), data=data, method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")


def pool_nodes(server):
    try:
        nodes = nomad(server, "GET", "/v1/nodes")
    except OSError:
        return []
    return [n for n in nodes if n["Datacenter"] == "dc-pool"]


def ready(nodes):
    return [n for n in nodes if n["Status"] == "ready"]


def running_allocs(server):
    allocs = nomad(server, "GET", "/v1/job/sleep/allocations")
    return [a for a in allocs if a["ClientStatus"] == "running"]


def tool(*args, ok=True):
    done = subprocess.run([TOOL] + [str(a) for a in args], capture_output=True, text=True)
    if ok and done.returncode != 0:
        raise AssertionError("pool_tool %s failed: %s" % (args[0], done.stderr))
    return done


def scenario(ec2, asg, pool_script):
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24",
                               AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    from harness import IMAGE
    srv = ec2.run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1, SubnetId=subnet,
                            UserData=server_user_data(),
                            TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                {"Key": "infra:join", "Value": TAG},
                                {"Key": "role", "Value": "server"}]}])["Instances"][0]
    server = srv["PrivateIpAddress"]
    log("server", srv["InstanceId"], server)
    wait_until("a Nomad leader", lambda: _leader(server), 120)

    template = ec2.create_launch_template(LaunchTemplateName="pool", LaunchTemplateData={
        "ImageId": IMAGE, "UserData": _b64(pool_script),
        "IamInstanceProfile": {"Name": "consul-join"}})["LaunchTemplate"]["LaunchTemplateId"]
    asg.create_auto_scaling_group(AutoScalingGroupName="pool", MinSize=1, MaxSize=2,
                                  DesiredCapacity=2, VPCZoneIdentifier=subnet,
                                  LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
                                  HealthCheckType="EC2")
    group = wait_until("the group's 2 instances", lambda: [
        g for g in asg.describe_auto_scaling_groups(AutoScalingGroupNames=["pool"])["AutoScalingGroups"]
        if len(g["Instances"]) == 2], 60)[0]
    ids = [i["InstanceId"] for i in group["Instances"]]
    described = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    ip_of = {i["InstanceId"]: i["PrivateIpAddress"] for r in described for i in r["Instances"]}
    tool("wait", server, "europe", "dc-pool", 2, 180, *sorted(ip_of.values()))
    nodes = ready(pool_nodes(server))
    assert sorted(n["Address"] for n in nodes) == sorted(ip_of.values()), (nodes, ip_of)
    # One more than the group has: past the deadline, the report names it.
    missing = tool("wait", server, "europe", "dc-pool", 3, 2, *(sorted(ip_of.values()) + ["192.0.2.77"]),
                   ok=False)
    assert missing.returncode == 1, missing
    assert "2 of 3 clients ready" in missing.stderr and "not registered: 192.0.2.77" in missing.stderr, \
        missing.stderr
    log("up: 2 clients registered by themselves:", ", ".join(sorted(ip_of.values())))

    job = {"Job": {"ID": "sleep", "Name": "sleep", "Type": "service", "Datacenters": ["dc-pool"],
                   "TaskGroups": [{"Name": "g", "Count": 2, "Tasks": [{
                       "Name": "t", "Driver": "raw_exec",
                       "Config": {"command": "/bin/sleep", "args": ["3600"]},
                       "Resources": {"CPU": 10, "MemoryMB": 10}}]}]}}
    nomad(server, "POST", "/v1/jobs", job)
    allocs = wait_until("the job's 2 allocations running",
                        lambda: len(running_allocs(server)) == 2 and running_allocs(server), 120)
    log("job running on", ", ".join(sorted(a["NodeID"][:8] for a in allocs)))

    # Scale in by one: drain the instance to be removed, then terminate it
    # with the group's desired capacity decremented.
    victim = ids[0]
    node = [n for n in nodes if n["Address"] == ip_of[victim]][0]
    tool("drain", server, "europe", "dc-pool", ip_of[victim])
    n = nomad(server, "GET", "/v1/node/%s" % node["ID"])
    assert not n.get("Drain") and (n.get("LastDrain") or {}).get("Status") == "complete", n
    left = [a for a in running_allocs(server) if a["NodeID"] == node["ID"]]
    assert not left, "allocations still running on the drained node: %r" % left
    wait_until("the job's 2 allocations running elsewhere", lambda: len(running_allocs(server)) == 2, 60)
    asg.terminate_instance_in_auto_scaling_group(InstanceId=victim, ShouldDecrementDesiredCapacity=True)

    def scaled_in():
        g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["pool"])["AutoScalingGroups"][0]
        state = ec2.describe_instances(InstanceIds=[victim])["Reservations"][0]["Instances"][0]["State"]
        return g["DesiredCapacity"] == 1 and len(g["Instances"]) == 1 and state["Name"] == "terminated"
    wait_until("the group at 1 instance, %s terminated" % victim, scaled_in, 120)
    allocs = nomad(server, "GET", "/v1/job/sleep/allocations")
    lost = [a for a in allocs if a["ClientStatus"] in ("lost", "failed")]
    assert not lost, "allocations lost or failed: %r" % lost
    assert len(running_allocs(server)) == 2
    log("scaled in to 1: drained first, then terminated; no allocation lost")

    # The hosts' sshd logs: every login is the emulator's cloud-init one,
    # with the pool's key; nothing else logged in to any of them.
    pool_keys = set()
    for h in HOSTS:
        fp = subprocess.run(["ssh-keygen", "-lf", h["ssh_private_key"]], capture_output=True,
                            text=True, check=True).stdout.split()[1]
        pool_keys.add(fp)
    logins = 0
    for path in glob.glob(os.path.join(WORK, "run", "*", "hosts", "*", "root", "var", "log", "sshd.log")):
        with open(path, errors="replace") as f:
            for line in f:
                if "Accepted " in line:
                    logins += 1
                    assert any(k in line for k in pool_keys), "a login other than cloud-init's: " + line
    assert logins >= 3, "no cloud-init login seen in the hosts' sshd logs"
    log("sshd logs: %d logins, all the emulator's cloud-init" % logins)

    asg.delete_auto_scaling_group(AutoScalingGroupName="pool", ForceDelete=True)
    ec2.terminate_instances(InstanceIds=[srv["InstanceId"]])

    def nothing_left():
        res = ec2.describe_instances(Filters=[{"Name": "instance-state-name",
                                               "Values": ["pending", "running", "shutting-down"]}])
        return not any(r["Instances"] for r in res["Reservations"])
    wait_until("no instance left", nothing_left, 120)
    log("down: nothing left")


def _leader(server):
    try:
        return nomad(server, "GET", "/v1/status/leader")
    except OSError:
        return ""


def _b64(text):
    import base64
    return base64.b64encode(text.encode()).decode()


def main():
    if os.geteuid() != 0:
        print("asg-pools: needs root (namespace hosts)")
        return 77
    global TOOL, WORK, HOSTS, STANDINS
    infra, TOOL = sys.argv[1], sys.argv[2]
    work = WORK = tempfile.mkdtemp(prefix="asg-pools-")
    STANDINS = subprocess.run([STAGE], capture_output=True, text=True,
                              check=True).stdout.strip()
    staged = os.path.dirname(STANDINS)
    env = dict(os.environ, INFRA=infra, PATH=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    server = None
    try:
        for attempt in range(4):
            done = subprocess.run([HOSTPOOL, "create", "3", work], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if done.returncode == 0:
                break
            if attempt == 3 or "overlaps" not in done.stderr:
                raise RuntimeError("hostpool.sh create failed:\n" + done.stderr[-2000:])
            time.sleep(1 + attempt)
        with open(os.path.join(work, "hosts.json")) as f:
            hosts = HOSTS = json.load(f)
        route = subprocess.run(["ip", "-4", "-o", "route", "get", hosts[0]["address"]],
                               capture_output=True, text=True, check=True).stdout.split()
        gateway = route[route.index("src") + 1]
        join = "provider=aws tag_key=infra:join tag_value=%s" % TAG
        pool_script = subprocess.run([TOOL, "user-data", "europe", "dc-pool", join,
                                      os.path.join(STANDINS, "consul"), os.path.join(STANDINS, "nomad")],
                                     capture_output=True, text=True, check=True).stdout
        from harness import AKID, SECRET, SEED
        from awsemu.app import build
        import botocore.session
        import threading
        server = build({AKID: (SECRET, None)}, SEED, hosts, ("127.0.0.1", 0), pending_seconds=0.2,
                       time_scale=0.05, instance_address=gateway)
        for s in (server, server.instance_server):
            threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        endpoint = "http://127.0.0.1:%d" % server.server_address[1]
        session = botocore.session.get_session()

        def client(name):
            return session.create_client(name, region_name="us-east-1", endpoint_url=endpoint,
                                         aws_access_key_id=AKID, aws_secret_access_key=SECRET)
        scenario(client("ec2"), client("autoscaling"), pool_script)
        return 0
    finally:
        if server is not None:
            server.shutdown()
            server.instance_server.shutdown()
            server.gateway.emulator.stop()
        subprocess.run([HOSTPOOL, "destroy", work], env=env, stdout=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(staged, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
