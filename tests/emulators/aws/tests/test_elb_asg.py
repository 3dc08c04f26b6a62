"""Classic ELB with real health checks, and Auto Scaling groups converging on them."""
import http.client
import http.server
import socket
import threading
import unittest

from harness import IMAGE, EmulatorCase, wait_until


def closed(sock):
    """True once the peer closed sock (nothing read meanwhile)."""
    sock.settimeout(0.05)
    try:
        return sock.recv(1) == b""
    except socket.timeout:
        return False
    except ConnectionError:
        return True


class Backends:
    """HTTP servers on 127.0.0.2..N, one port; each answers /health with 200 while healthy."""

    def __init__(self, count):
        probe = socket.socket()
        probe.bind(("127.0.0.2", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.healthy = {}
        self.servers = []
        backends = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keeps connections, for draining

            def log_message(self, *args):
                pass

            def do_GET(self):
                address = self.server.server_address[0]
                if self.path == "/who":  # which backend a load balancer sent us to
                    body = address.encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                ok = backends.healthy.get(address, False)
                self.send_response(200 if ok and self.path == "/health" else 503)
                self.send_header("Content-Length", "0")
                self.end_headers()

        for n in range(2, 2 + count):
            address = "127.0.0.%d" % n
            server = http.server.ThreadingHTTPServer((address, self.port), Handler)
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                             daemon=True).start()
            self.healthy[address] = True
            self.servers.append(server)

    def close(self):
        for server in self.servers:
            server.shutdown()
            server.server_close()


class LoadBalancers(EmulatorCase):
    def setUp(self):
        super().setUp()
        self.ec2 = self.client("ec2")
        self.elb = self.client("elb")
        self.vpc, self.subnets, _ = self.network(self.ec2)
        self.backends = Backends(3)
        self.addCleanup(self.backends.close)

    def create(self, name="web"):
        return self.elb.create_load_balancer(
            LoadBalancerName=name, Subnets=self.subnets,
            Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80,
                        "InstancePort": self.backends.port}],
            Tags=[{"Key": "env", "Value": "test"}])

    def test_load_balancer_round_trip(self):
        dns = self.create()["DNSName"]
        self.assertRegex(dns, r"^web-\d{10}\.us-east-1\.elb\.amazonaws\.com$")
        self.assertEqual(self.create()["DNSName"], dns)  # same parameters: idempotent
        self.assertError("DuplicateLoadBalancerName", self.elb.create_load_balancer,
                         LoadBalancerName="web", Subnets=self.subnets[:1],
                         Listeners=[{"Protocol": "TCP", "LoadBalancerPort": 22,
                                     "InstancePort": 22}])
        lb = self.elb.describe_load_balancers(LoadBalancerNames=["web"])[
            "LoadBalancerDescriptions"][0]
        self.assertEqual(lb["CanonicalHostedZoneNameID"], "Z35SXDOTRQ7X7K")
        self.assertEqual(lb["VPCId"], self.vpc)
        self.assertEqual(lb["HealthCheck"]["Target"], "TCP:%d" % self.backends.port)
        self.elb.create_load_balancer_listeners(LoadBalancerName="web", Listeners=[
            {"Protocol": "TCP", "LoadBalancerPort": 8443, "InstancePort": 443}])
        self.elb.delete_load_balancer_listeners(LoadBalancerName="web", LoadBalancerPorts=[80])
        ports = [d["Listener"]["LoadBalancerPort"] for d in self.elb.describe_load_balancers()[
            "LoadBalancerDescriptions"][0]["ListenerDescriptions"]]
        self.assertEqual(ports, [8443])
        sg = self.ec2.create_security_group(GroupName="lb", Description="lb",
                                            VpcId=self.vpc)["GroupId"]
        self.assertEqual(self.elb.apply_security_groups_to_load_balancer(
            LoadBalancerName="web", SecurityGroups=[sg])["SecurityGroups"], [sg])
        self.assertError("DependencyViolation", self.ec2.delete_security_group, GroupId=sg)
        self.assertError("DependencyViolation", self.ec2.delete_subnet, SubnetId=self.subnets[0])
        self.assertEqual(self.elb.detach_load_balancer_from_subnets(
            LoadBalancerName="web", Subnets=[self.subnets[1]])["Subnets"], self.subnets[:1])
        self.elb.attach_load_balancer_to_subnets(LoadBalancerName="web",
                                                 Subnets=[self.subnets[1]])
        self.elb.add_tags(LoadBalancerNames=["web"], Tags=[{"Key": "team", "Value": "a"}])
        self.elb.remove_tags(LoadBalancerNames=["web"], Tags=[{"Key": "env"}])
        tags = self.elb.describe_tags(LoadBalancerNames=["web"])["TagDescriptions"][0]["Tags"]
        self.assertEqual(tags, [{"Key": "team", "Value": "a"}])
        attrs = self.elb.describe_load_balancer_attributes(LoadBalancerName="web")
        self.assertFalse(attrs["LoadBalancerAttributes"]["CrossZoneLoadBalancing"]["Enabled"])
        self.elb.delete_load_balancer(LoadBalancerName="web")
        self.elb.delete_load_balancer(LoadBalancerName="web")
        self.assertError("LoadBalancerNotFound", self.elb.describe_load_balancers,
                         LoadBalancerNames=["web"])

    def test_health_goes_in_service_and_out_of_service_against_real_servers(self):
        self.create()
        self.elb.configure_health_check(LoadBalancerName="web", HealthCheck={
            "Target": "HTTP:%d/health" % self.backends.port, "Interval": 5, "Timeout": 2,
            "UnhealthyThreshold": 2, "HealthyThreshold": 3})
        self.assertError("ValidationError", self.elb.configure_health_check,
                         LoadBalancerName="web", HealthCheck={
                             "Target": "HTTP:80", "Interval": 5, "Timeout": 2,
                             "UnhealthyThreshold": 2, "HealthyThreshold": 3})
        res = self.ec2.run_instances(ImageId=IMAGE, MinCount=2, MaxCount=2,
                                     SubnetId=self.subnets[0])
        ids = [i["InstanceId"] for i in res["Instances"]]
        addresses = {i["InstanceId"]: i["PrivateIpAddress"] for i in res["Instances"]}
        self.elb.register_instances_with_load_balancer(
            LoadBalancerName="web", Instances=[{"InstanceId": i} for i in ids])
        first = self.elb.describe_instance_health(LoadBalancerName="web")["InstanceStates"]
        self.assertEqual({s["State"] for s in first}, {"OutOfService"})

        def states():
            return {s["InstanceId"]: s for s in self.elb.describe_instance_health(
                LoadBalancerName="web")["InstanceStates"]}
        wait_until(lambda: all(s["State"] == "InService" for s in states().values()),
                   what="both InService")
        self.assertEqual(states()[ids[0]]["ReasonCode"], "N/A")
        self.backends.healthy[addresses[ids[1]]] = False
        wait_until(lambda: states()[ids[1]]["State"] == "OutOfService", what="OutOfService")
        down = states()[ids[1]]
        self.assertEqual(down["ReasonCode"], "Instance")
        self.assertEqual(down["Description"], "Instance has failed at least the "
                         "UnhealthyThreshold number of health checks consecutively.")
        self.assertEqual(states()[ids[0]]["State"], "InService")
        self.backends.healthy[addresses[ids[1]]] = True
        wait_until(lambda: states()[ids[1]]["State"] == "InService", what="back InService")
        self.ec2.terminate_instances(InstanceIds=[ids[0]])
        wait_until(lambda: states()[ids[0]]["Description"] == "Instance is in terminated state.",
                   what="terminated")
        out = self.elb.deregister_instances_from_load_balancer(
            LoadBalancerName="web", Instances=[{"InstanceId": ids[0]}])
        self.assertEqual(out["Instances"], [{"InstanceId": ids[1]}])
        self.assertError("InvalidInstance", self.elb.describe_instance_health,
                         LoadBalancerName="web", Instances=[{"InstanceId": ids[0]}])

    def forward_port(self, name, lb_port):
        state = self.control("GET", "/_emulator/state")
        return state["regions"]["us-east-1"]["load_balancers"][name]["_forward"][str(lb_port)]

    def through(self, port, path="/who"):
        """(status, body) of GET path through a forwarding listener."""
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", path)
            answer = conn.getresponse()
            return answer.status, answer.read().decode()
        finally:
            conn.close()

    def test_listeners_forward_to_in_service_instances_in_turn(self):
        self.create()
        self.elb.create_load_balancer_listeners(LoadBalancerName="web", Listeners=[
            {"Protocol": "TCP", "LoadBalancerPort": 81, "InstancePort": self.backends.port},
            {"Protocol": "HTTPS", "LoadBalancerPort": 443, "InstancePort": self.backends.port,
             "SSLCertificateId": "arn:aws:iam::123456789012:server-certificate/web"}])
        state = self.control("GET", "/_emulator/state")["regions"]["us-east-1"]
        self.assertEqual(sorted(state["load_balancers"]["web"]["_forward"]), ["80", "81"])
        http_port, tcp_port = self.forward_port("web", 80), self.forward_port("web", 81)
        # Nothing InService: the HTTP listener answers 503, the TCP one closes.
        self.assertEqual(self.through(http_port)[0], 503)
        with socket.create_connection(("127.0.0.1", tcp_port), timeout=5) as sock:
            self.assertEqual(sock.recv(1), b"")
        self.elb.configure_health_check(LoadBalancerName="web", HealthCheck={
            "Target": "HTTP:%d/health" % self.backends.port, "Interval": 5, "Timeout": 2,
            "UnhealthyThreshold": 2, "HealthyThreshold": 2})
        res = self.ec2.run_instances(ImageId=IMAGE, MinCount=3, MaxCount=3,
                                     SubnetId=self.subnets[0])
        ids = [i["InstanceId"] for i in res["Instances"]]
        address = {i["InstanceId"]: i["PrivateIpAddress"] for i in res["Instances"]}
        self.elb.register_instances_with_load_balancer(
            LoadBalancerName="web", Instances=[{"InstanceId": i} for i in ids])

        def in_service():
            return {s["InstanceId"] for s in self.elb.describe_instance_health(
                LoadBalancerName="web")["InstanceStates"] if s["State"] == "InService"}
        wait_until(lambda: in_service() == set(ids), what="all InService")
        seen = [self.through(http_port) for _ in range(6)]
        self.assertEqual({s for s, _ in seen}, {200})
        self.assertEqual(sorted(b for _, b in seen), sorted(list(address.values()) * 2))
        # Out of service by its health check: no new connection goes there.
        self.backends.healthy[address[ids[0]]] = False
        wait_until(lambda: ids[0] not in in_service(), what="OutOfService")
        self.assertEqual({self.through(http_port)[1] for _ in range(4)},
                         {address[ids[1]], address[ids[2]]})
        # Deregistered without connection draining: open connections are cut at once.
        kept = http.client.HTTPConnection("127.0.0.1", tcp_port, timeout=5)
        self.addCleanup(kept.close)
        kept.request("GET", "/who")
        target = {v: k for k, v in address.items()}[kept.getresponse().read().decode()]
        self.assertIn(target, ids[1:])
        self.elb.deregister_instances_from_load_balancer(
            LoadBalancerName="web", Instances=[{"InstanceId": target}])
        wait_until(lambda: closed(kept.sock), what="the connection cut")
        remaining = [i for i in ids[1:] if i != target][0]
        self.assertEqual({self.through(http_port)[1] for _ in range(3)}, {address[remaining]})
        # With draining, an open connection lives on until the (scaled) timeout.
        self.elb.modify_load_balancer_attributes(LoadBalancerName="web", LoadBalancerAttributes={
            "ConnectionDraining": {"Enabled": True, "Timeout": 100}})
        kept = http.client.HTTPConnection("127.0.0.1", tcp_port, timeout=5)
        self.addCleanup(kept.close)
        kept.request("GET", "/who")
        self.assertEqual(kept.getresponse().read().decode(), address[remaining])
        self.elb.deregister_instances_from_load_balancer(
            LoadBalancerName="web", Instances=[{"InstanceId": remaining}])
        self.assertEqual(self.through(http_port)[0], 503)
        # While it drains AWS lists it OutOfService, deregistration in progress.

        def states():
            return {s["InstanceId"]: (s["State"], s["Description"])
                    for s in self.elb.describe_instance_health(
                        LoadBalancerName="web")["InstanceStates"]}
        self.assertEqual(states()[remaining], (
            "OutOfService", "Instance deregistration currently in progress."))
        kept.request("GET", "/who")
        self.assertEqual(kept.getresponse().read().decode(), address[remaining])
        wait_until(lambda: closed(kept.sock), timeout=10, what="the drained connection closed")
        wait_until(lambda: remaining not in states(), what="the drain over")
        # A deleted load balancer's listeners are closed.
        self.elb.delete_load_balancer(LoadBalancerName="web")
        self.assertRaises(OSError, socket.create_connection, ("127.0.0.1", http_port), 2)

    def test_tcp_health_check_needs_a_listener(self):
        self.create()
        self.elb.configure_health_check(LoadBalancerName="web", HealthCheck={
            "Target": "TCP:%d" % self.backends.port, "Interval": 5, "Timeout": 2,
            "UnhealthyThreshold": 2, "HealthyThreshold": 2})
        res = self.ec2.run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1,
                                     SubnetId=self.subnets[0])
        iid = res["Instances"][0]["InstanceId"]
        self.elb.register_instances_with_load_balancer(LoadBalancerName="web",
                                                       Instances=[{"InstanceId": iid}])
        wait_until(lambda: self.elb.describe_instance_health(LoadBalancerName="web")[
            "InstanceStates"][0]["State"] == "InService", what="TCP InService")
        self.backends.servers[0].shutdown()
        self.backends.servers[0].server_close()
        wait_until(lambda: self.elb.describe_instance_health(LoadBalancerName="web")[
            "InstanceStates"][0]["State"] == "OutOfService", what="TCP OutOfService")


class AutoScalingGroups(EmulatorCase):
    def setUp(self):
        super().setUp()
        self.ec2 = self.client("ec2")
        self.elb = self.client("elb")
        self.asg = self.client("autoscaling")
        self.vpc, self.subnets, _ = self.network(self.ec2)
        self.backends = Backends(8)
        self.addCleanup(self.backends.close)
        self.template = self.ec2.create_launch_template(
            LaunchTemplateName="node", LaunchTemplateData={"ImageId": IMAGE,
                                                           "InstanceType": "t3.micro"})[
            "LaunchTemplate"]["LaunchTemplateId"]

    def group(self):
        groups = self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=["g"])
        return groups["AutoScalingGroups"][0] if groups["AutoScalingGroups"] else None

    def in_service(self):
        g = self.group()
        return sorted(i["InstanceId"] for i in g["Instances"]
                      if i["LifecycleState"] == "InService") if g else []

    def test_group_converges_registers_and_replaces_an_unhealthy_instance(self):
        self.elb.create_load_balancer(LoadBalancerName="web", Subnets=self.subnets, Listeners=[
            {"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": self.backends.port}])
        self.elb.configure_health_check(LoadBalancerName="web", HealthCheck={
            "Target": "HTTP:%d/health" % self.backends.port, "Interval": 5, "Timeout": 2,
            "UnhealthyThreshold": 2, "HealthyThreshold": 2})
        self.asg.create_auto_scaling_group(
            AutoScalingGroupName="g", MinSize=1, MaxSize=4, DesiredCapacity=2,
            LaunchTemplate={"LaunchTemplateName": "node", "Version": "$Latest"},
            VPCZoneIdentifier=",".join(self.subnets), LoadBalancerNames=["web"],
            HealthCheckType="ELB", HealthCheckGracePeriod=100,
            Tags=[{"Key": "role", "Value": "client", "PropagateAtLaunch": True},
                  {"Key": "internal", "Value": "x", "PropagateAtLaunch": False}])
        self.assertError("AlreadyExists", self.asg.create_auto_scaling_group,
                         AutoScalingGroupName="g", MinSize=1, MaxSize=1,
                         LaunchTemplate={"LaunchTemplateId": self.template},
                         VPCZoneIdentifier=self.subnets[0])
        members = wait_until(lambda: len(self.in_service()) == 2 and self.in_service(),
                             what="two InService")
        zones = {i["AvailabilityZone"] for i in self.group()["Instances"]}
        self.assertEqual(zones, {"us-east-1a", "us-east-1b"})
        inst = self.ec2.describe_instances(InstanceIds=members)["Reservations"]
        tags = {t["Key"]: t["Value"] for r in inst for i in r["Instances"] for t in i["Tags"]}
        self.assertEqual(tags, {"role": "client", "aws:autoscaling:groupName": "g"})

        def health():
            return {s["InstanceId"]: s["State"] for s in self.elb.describe_instance_health(
                LoadBalancerName="web")["InstanceStates"]}
        wait_until(lambda: health() == {m: "InService" for m in members}, what="ELB InService")
        address = {i["InstanceId"]: i["PrivateIpAddress"] for r in inst for i in r["Instances"]}
        victim = members[0]
        self.backends.healthy[address[victim]] = False
        replaced = wait_until(lambda: victim not in [i["InstanceId"] for i in self.group()[
            "Instances"]] and len(self.in_service()) == 2 and self.in_service(), timeout=20,
            what="the unhealthy instance replaced")
        self.assertNotIn(victim, replaced)
        self.assertEqual(self.ec2.describe_instances(InstanceIds=[victim])["Reservations"][0][
            "Instances"][0]["State"]["Name"], "terminated")
        wait_until(lambda: set(health()) == set(replaced), what="ELB registration follows")
        causes = [a["Description"] for a in self.asg.describe_scaling_activities(
            AutoScalingGroupName="g")["Activities"]]
        self.assertIn("Terminating EC2 instance: %s" % victim, causes)

    def test_capacity_changes_and_deletion_rules(self):
        self.asg.create_auto_scaling_group(
            AutoScalingGroupName="g", MinSize=0, MaxSize=3, DesiredCapacity=1,
            LaunchTemplate={"LaunchTemplateId": self.template},
            VPCZoneIdentifier=self.subnets[0])
        wait_until(lambda: len(self.in_service()) == 1, what="one InService")
        self.asg.set_desired_capacity(AutoScalingGroupName="g", DesiredCapacity=3)
        wait_until(lambda: len(self.in_service()) == 3, what="three InService")
        self.assertError("ValidationError", self.asg.set_desired_capacity,
                         AutoScalingGroupName="g", DesiredCapacity=4)
        self.assertError("ValidationError", self.asg.update_auto_scaling_group,
                         AutoScalingGroupName="g", MinSize=3, MaxSize=2)
        victim = self.in_service()[0]
        out = self.asg.terminate_instance_in_auto_scaling_group(
            InstanceId=victim, ShouldDecrementDesiredCapacity=True)
        self.assertIn(victim, out["Activity"]["Description"])
        wait_until(lambda: len(self.group()["Instances"]) == 2, what="two left")
        self.assertEqual(self.group()["DesiredCapacity"], 2)
        details = self.asg.describe_auto_scaling_instances()["AutoScalingInstances"]
        self.assertEqual({d["AutoScalingGroupName"] for d in details}, {"g"})
        self.asg.update_auto_scaling_group(AutoScalingGroupName="g", MaxSize=1)
        wait_until(lambda: len(self.group()["Instances"]) == 1, what="scaled in to max 1")
        self.assertEqual(self.group()["DesiredCapacity"], 1)
        code = self.assertError("ResourceInUse", self.asg.delete_auto_scaling_group,
                                AutoScalingGroupName="g")
        self.assertIn("instances", code["Error"]["Message"])
        self.asg.update_auto_scaling_group(AutoScalingGroupName="g", MinSize=0, MaxSize=3,
                                           DesiredCapacity=1)
        self.asg.set_desired_capacity(AutoScalingGroupName="g", DesiredCapacity=2)
        wait_until(lambda: any(i["LifecycleState"] == "Pending"
                               for i in self.group()["Instances"]), interval=0.01,
                   what="a launch in progress")
        self.assertError("ScalingActivityInProgress", self.asg.delete_auto_scaling_group,
                         AutoScalingGroupName="g")
        ids = [i["InstanceId"] for i in self.group()["Instances"]]
        self.asg.delete_auto_scaling_group(AutoScalingGroupName="g", ForceDelete=True)
        wait_until(lambda: self.group() is None, what="group gone")
        self.wait_state(self.ec2, ids, "terminated")

    def test_attach_and_detach_load_balancers_and_tags(self):
        self.elb.create_load_balancer(LoadBalancerName="lb1", Subnets=self.subnets, Listeners=[
            {"Protocol": "TCP", "LoadBalancerPort": 80, "InstancePort": self.backends.port}])
        self.asg.create_auto_scaling_group(
            AutoScalingGroupName="g", MinSize=1, MaxSize=1,
            LaunchTemplate={"LaunchTemplateId": self.template, "Version": "1"},
            VPCZoneIdentifier=self.subnets[1])
        member = wait_until(lambda: self.in_service(), what="InService")[0]
        self.asg.attach_load_balancers(AutoScalingGroupName="g", LoadBalancerNames=["lb1"])
        lbs = self.asg.describe_load_balancers(AutoScalingGroupName="g")["LoadBalancers"]
        self.assertEqual([lb["LoadBalancerName"] for lb in lbs], ["lb1"])
        registered = self.elb.describe_load_balancers(LoadBalancerNames=["lb1"])[
            "LoadBalancerDescriptions"][0]["Instances"]
        self.assertEqual(registered, [{"InstanceId": member}])
        self.asg.detach_load_balancers(AutoScalingGroupName="g", LoadBalancerNames=["lb1"])
        self.assertEqual(self.elb.describe_load_balancers(LoadBalancerNames=["lb1"])[
            "LoadBalancerDescriptions"][0]["Instances"], [])
        self.asg.create_or_update_tags(Tags=[{"ResourceId": "g",
                                              "ResourceType": "auto-scaling-group",
                                              "Key": "k", "Value": "v",
                                              "PropagateAtLaunch": True}])
        tags = self.asg.describe_tags(Filters=[{"Name": "auto-scaling-group",
                                                "Values": ["g"]}])["Tags"]
        self.assertEqual([(t["Key"], t["Value"]) for t in tags], [("k", "v")])
        self.asg.delete_tags(Tags=[{"ResourceId": "g", "ResourceType": "auto-scaling-group",
                                    "Key": "k"}])
        self.assertEqual(self.asg.describe_tags()["Tags"], [])
        self.assertError("ValidationError", self.asg.create_auto_scaling_group,
                         AutoScalingGroupName="h", MinSize=1, MaxSize=1,
                         LaunchTemplate={"LaunchTemplateName": "missing"},
                         VPCZoneIdentifier=self.subnets[0])


if __name__ == "__main__":
    unittest.main()
