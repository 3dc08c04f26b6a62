"""EC2 through botocore: every emulated resource, created, described, changed, deleted."""
import base64
import subprocess
import tempfile
import os
import unittest
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

from harness import ACCOUNT, IMAGE, EmulatorCase, wait_until


class Networking(EmulatorCase):
    def test_vpc_subnet_round_trip_with_tags_and_attributes(self):
        ec2 = self.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16", TagSpecifications=[
            {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "main"}]}])["Vpc"]
        self.assertEqual(vpc["State"], "available")
        self.assertEqual(vpc["Tags"], [{"Key": "Name", "Value": "main"}])
        found = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["ma*"]}])["Vpcs"]
        self.assertEqual([v["VpcId"] for v in found], [vpc["VpcId"]])
        ec2.modify_vpc_attribute(VpcId=vpc["VpcId"], EnableDnsHostnames={"Value": True})
        attr = ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute="enableDnsHostnames")
        self.assertTrue(attr["EnableDnsHostnames"]["Value"])
        sub = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.1.2.0/24",
                                AvailabilityZone="us-east-1b")["Subnet"]
        self.assertFalse(sub["MapPublicIpOnLaunch"])
        ec2.modify_subnet_attribute(SubnetId=sub["SubnetId"], MapPublicIpOnLaunch={"Value": True})
        got = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])
        self.assertTrue(got["Subnets"][0]["MapPublicIpOnLaunch"])
        self.assertError("InvalidSubnet.Conflict", ec2.create_subnet, VpcId=vpc["VpcId"],
                         CidrBlock="10.1.2.128/25")
        self.assertError("InvalidSubnet.Range", ec2.create_subnet, VpcId=vpc["VpcId"],
                         CidrBlock="10.2.0.0/24")
        self.assertError("InvalidVpc.Range", ec2.create_vpc, CidrBlock="10.0.0.0/8")
        self.assertError("InvalidParameterValue", ec2.create_vpc, CidrBlock="10.0.0.300/16")
        ec2.delete_subnet(SubnetId=sub["SubnetId"])
        ec2.delete_vpc(VpcId=vpc["VpcId"])
        self.assertError("InvalidVpcID.NotFound", ec2.describe_vpcs, VpcIds=[vpc["VpcId"]])

    def test_deleting_a_vpc_or_subnet_with_dependents_is_a_dependency_violation(self):
        ec2 = self.client("ec2")
        vpc, subnets, igw = self.network(ec2)
        self.assertError("DependencyViolation", ec2.delete_vpc, VpcId=vpc)
        res = ec2.run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1, SubnetId=subnets[0])
        iid = res["Instances"][0]["InstanceId"]
        self.assertError("DependencyViolation", ec2.delete_subnet, SubnetId=subnets[0])
        self.assertError("DependencyViolation", ec2.detach_internet_gateway,
                         InternetGatewayId=igw, VpcId=vpc)
        ec2.terminate_instances(InstanceIds=[iid])
        self.wait_state(ec2, [iid], "terminated")
        for s in subnets:
            ec2.delete_subnet(SubnetId=s)
        self.assertError("DependencyViolation", ec2.delete_internet_gateway,
                         InternetGatewayId=igw)
        ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        self.assertError("Gateway.NotAttached", ec2.detach_internet_gateway,
                         InternetGatewayId=igw, VpcId=vpc)
        ec2.delete_internet_gateway(InternetGatewayId=igw)
        ec2.delete_vpc(VpcId=vpc)
        self.assertEqual(ec2.describe_vpcs()["Vpcs"], [])
        self.assertEqual(ec2.describe_security_groups()["SecurityGroups"], [])

    def test_internet_gateway_attaches_to_one_vpc(self):
        ec2 = self.client("ec2")
        vpc, _, igw = self.network(ec2)
        other = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        self.assertError("Resource.AlreadyAssociated", ec2.attach_internet_gateway,
                         InternetGatewayId=igw, VpcId=other)
        got = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id",
                                                       "Values": [vpc]}])
        self.assertEqual(got["InternetGateways"][0]["Attachments"],
                         [{"State": "available", "VpcId": vpc}])

    def test_elastic_ip_and_nat_gateway_lifecycle_with_client_token(self):
        ec2 = self.client("ec2")
        vpc, subnets, _ = self.network(ec2)
        eip = ec2.allocate_address(Domain="vpc")
        nat = ec2.create_nat_gateway(SubnetId=subnets[0], AllocationId=eip["AllocationId"],
                                     ClientToken="nat-1")["NatGateway"]
        self.assertEqual(nat["State"], "pending")
        again = ec2.create_nat_gateway(SubnetId=subnets[0], AllocationId=eip["AllocationId"],
                                       ClientToken="nat-1")["NatGateway"]
        self.assertEqual(again["NatGatewayId"], nat["NatGatewayId"])
        self.assertError("IdempotentParameterMismatch", ec2.create_nat_gateway,
                         SubnetId=subnets[1], AllocationId=eip["AllocationId"],
                         ClientToken="nat-1")
        wait_until(lambda: ec2.describe_nat_gateways(NatGatewayIds=[nat["NatGatewayId"]])[
            "NatGateways"][0]["State"] == "available", what="NAT available")
        self.assertError("InvalidIPAddress.InUse", ec2.release_address,
                         AllocationId=eip["AllocationId"])
        addr = ec2.describe_addresses(AllocationIds=[eip["AllocationId"]])["Addresses"][0]
        self.assertEqual(addr["PublicIp"], eip["PublicIp"])
        ec2.delete_nat_gateway(NatGatewayId=nat["NatGatewayId"])
        wait_until(lambda: ec2.describe_nat_gateways(NatGatewayIds=[nat["NatGatewayId"]])[
            "NatGateways"][0]["State"] == "deleted", what="NAT deleted")
        ec2.release_address(AllocationId=eip["AllocationId"])
        self.assertError("InvalidAllocationID.NotFound", ec2.describe_addresses,
                         AllocationIds=[eip["AllocationId"]])

    def test_nat_gateway_fails_without_an_internet_gateway(self):
        ec2 = self.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.3.0.0/16")["Vpc"]["VpcId"]
        sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.3.0.0/24")["Subnet"]["SubnetId"]
        eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
        nat = ec2.create_nat_gateway(SubnetId=sub, AllocationId=eip)["NatGateway"]["NatGatewayId"]
        got = wait_until(lambda: [n for n in ec2.describe_nat_gateways(
            NatGatewayIds=[nat])["NatGateways"] if n["State"] == "failed"], what="NAT failed")
        self.assertEqual(got[0]["FailureCode"], "Gateway.NotAttached")

    def test_route_tables_routes_and_associations(self):
        ec2 = self.client("ec2")
        vpc, subnets, igw = self.network(ec2)
        main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                  {"Name": "association.main",
                                                   "Values": ["true"]}])["RouteTables"]
        self.assertEqual(len(main), 1)
        rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
        self.assertError("RouteAlreadyExists", ec2.create_route, RouteTableId=rtb,
                         DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
        assoc = ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnets[0])
        self.assertError("Resource.AlreadyAssociated", ec2.associate_route_table,
                         RouteTableId=rtb, SubnetId=subnets[0])
        table = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]
        self.assertEqual({r["DestinationCidrBlock"]: r.get("GatewayId") for r in table["Routes"]},
                         {"10.0.0.0/16": "local", "0.0.0.0/0": igw})
        self.assertEqual(table["Associations"][0]["SubnetId"], subnets[0])
        self.assertError("DependencyViolation", ec2.delete_route_table, RouteTableId=rtb)
        ec2.disassociate_route_table(AssociationId=assoc["AssociationId"])
        ec2.delete_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0")
        self.assertError("InvalidRoute.NotFound", ec2.delete_route, RouteTableId=rtb,
                         DestinationCidrBlock="0.0.0.0/0")
        ec2.delete_route_table(RouteTableId=rtb)
        self.assertError("InvalidRouteTableID.NotFound", ec2.describe_route_tables,
                         RouteTableIds=[rtb])

    def test_nat_instance_route_and_source_dest_check(self):
        ec2 = self.client("ec2")
        vpc, subnets, igw = self.network(ec2)
        iid = ec2.run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1,
                                SubnetId=subnets[0])["Instances"][0]["InstanceId"]
        ec2.modify_instance_attribute(InstanceId=iid, SourceDestCheck={"Value": False})
        inst = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        self.assertFalse(inst["SourceDestCheck"])
        self.assertError("InvalidParameterCombination", ec2.modify_instance_attribute,
                         InstanceId=iid, SourceDestCheck={"Value": True},
                         DisableApiTermination={"Value": True})
        rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", InstanceId=iid)
        table = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]
        route = [r for r in table["Routes"] if r["DestinationCidrBlock"] == "0.0.0.0/0"][0]
        self.assertEqual((route["InstanceId"], route["State"]), (iid, "active"))
        ec2.replace_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
        table = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]
        route = [r for r in table["Routes"] if r["DestinationCidrBlock"] == "0.0.0.0/0"][0]
        self.assertEqual((route.get("GatewayId"), route.get("InstanceId")), (igw, None))
        ec2.replace_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", InstanceId=iid)
        ec2.terminate_instances(InstanceIds=[iid])
        self.wait_state(ec2, [iid], "terminated")
        table = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]
        route = [r for r in table["Routes"] if r["DestinationCidrBlock"] == "0.0.0.0/0"][0]
        self.assertEqual(route["State"], "blackhole")


class SecurityGroups(EmulatorCase):
    def test_rules_with_cidrs_and_group_references(self):
        ec2 = self.client("ec2")
        vpc, _, _ = self.network(ec2)
        web = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
        db = ec2.create_security_group(GroupName="db", Description="db", VpcId=vpc)["GroupId"]
        self.assertError("InvalidGroup.Duplicate", ec2.create_security_group, GroupName="web",
                         Description="again", VpcId=vpc)
        out = ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
             "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "http"}]}])
        self.assertTrue(out["Return"])
        self.assertTrue(out["SecurityGroupRules"][0]["SecurityGroupRuleId"].startswith("sgr-"))
        ec2.authorize_security_group_ingress(GroupId=db, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
             "UserIdGroupPairs": [{"GroupId": web}]}])
        err = self.assertError("InvalidPermission.Duplicate",
                               ec2.authorize_security_group_ingress, GroupId=web,
                               IpPermissions=[{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
                                               "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        self.assertIn("peer: 0.0.0.0/0, TCP, from port: 80, to port: 80, ALLOW",
                      err["Error"]["Message"])
        group = ec2.describe_security_groups(GroupIds=[db])["SecurityGroups"][0]
        self.assertEqual(group["IpPermissions"][0]["UserIdGroupPairs"],
                         [{"GroupId": web, "UserId": ACCOUNT}])
        self.assertEqual(group["IpPermissionsEgress"][0]["IpProtocol"], "-1")
        self.assertError("DependencyViolation", ec2.delete_security_group, GroupId=web)
        ec2.revoke_security_group_ingress(GroupId=db, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
             "UserIdGroupPairs": [{"GroupId": web}]}])
        self.assertError("InvalidPermission.NotFound", ec2.revoke_security_group_ingress,
                         GroupId=db, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 5432,
                                                     "ToPort": 5432,
                                                     "UserIdGroupPairs": [{"GroupId": web}]}])
        ec2.revoke_security_group_egress(GroupId=web, IpPermissions=[
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        self.assertEqual(ec2.describe_security_groups(GroupIds=[web])["SecurityGroups"][0][
            "IpPermissionsEgress"], [])
        ec2.delete_security_group(GroupId=web)
        default = ec2.describe_security_groups(Filters=[
            {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
        self.assertError("CannotDelete", ec2.delete_security_group, GroupId=default)

    def test_a_group_in_use_by_an_instance_cannot_be_deleted(self):
        ec2 = self.client("ec2")
        vpc, subnets, _ = self.network(ec2)
        sg = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
        iid = ec2.run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1, SubnetId=subnets[0],
                                SecurityGroupIds=[sg])["Instances"][0]["InstanceId"]
        self.assertError("DependencyViolation", ec2.delete_security_group, GroupId=sg)
        ec2.terminate_instances(InstanceIds=[iid])
        self.wait_state(ec2, [iid], "terminated")
        ec2.delete_security_group(GroupId=sg)

    def test_import_key_pair_gives_aws_fingerprints(self):
        ec2 = self.client("ec2")
        with tempfile.TemporaryDirectory() as tmp:
            for kind in ("ed25519", "rsa"):
                path = os.path.join(tmp, kind)
                subprocess.run(["ssh-keygen", "-q", "-t", kind, "-m", "PEM", "-N", "", "-f", path],
                               check=True)
                with open(path + ".pub", "rb") as f:
                    public = f.read()
                got = ec2.import_key_pair(KeyName=kind, PublicKeyMaterial=public)
                if kind == "ed25519":
                    openssh = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f",
                                              path + ".pub"], capture_output=True, text=True)
                    self.assertEqual(got["KeyFingerprint"].rstrip("="),
                                     openssh.stdout.split()[1][len("SHA256:"):])
                else:
                    der = subprocess.run(["openssl", "pkey", "-in", path, "-pubout", "-outform",
                                          "DER"], capture_output=True, check=True).stdout
                    import hashlib
                    md5 = hashlib.md5(der).hexdigest()
                    self.assertEqual(got["KeyFingerprint"],
                                     ":".join(md5[i:i + 2] for i in range(0, 32, 2)))
        self.assertError("InvalidKeyPair.Duplicate", ec2.import_key_pair, KeyName="rsa",
                         PublicKeyMaterial=public)
        self.assertError("InvalidKey.Format", ec2.import_key_pair, KeyName="bad",
                         PublicKeyMaterial=b"not a key")
        pairs = ec2.describe_key_pairs(KeyNames=["rsa"], IncludePublicKey=True)["KeyPairs"]
        self.assertTrue(pairs[0]["PublicKey"].startswith("ssh-rsa "))
        ec2.delete_key_pair(KeyName="rsa")
        self.assertError("InvalidKeyPair.NotFound", ec2.describe_key_pairs, KeyNames=["rsa"])


class Instances(EmulatorCase):
    def setUp(self):
        super().setUp()
        self.ec2 = self.client("ec2")
        self.vpc, self.subnets, _ = self.network(self.ec2)

    def test_run_instances_is_idempotent_on_client_token(self):
        ec2 = self.ec2
        args = dict(ImageId=IMAGE, InstanceType="t3.micro", MinCount=2, MaxCount=2,
                    SubnetId=self.subnets[0], ClientToken="launch-1")
        first = ec2.run_instances(**args)
        second = ec2.run_instances(**args)
        self.assertEqual(first["ReservationId"], second["ReservationId"])
        self.assertEqual([i["InstanceId"] for i in first["Instances"]],
                         [i["InstanceId"] for i in second["Instances"]])
        self.assertEqual(len(ec2.describe_instances()["Reservations"][0]["Instances"]), 2)
        self.assertError("IdempotentParameterMismatch", ec2.run_instances,
                         **dict(args, InstanceType="t3.large"))

    def test_instance_lifecycle_tags_filters_and_console(self):
        ec2 = self.ec2
        user_data = base64.b64encode(b"#!/bin/sh\necho hello\n").decode()
        res = ec2.run_instances(ImageId=IMAGE, InstanceType="t3.small", MinCount=1, MaxCount=1,
                                SubnetId=self.subnets[1], UserData=user_data,
                                TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                    {"Key": "role", "Value": "server"}]}])
        inst = res["Instances"][0]
        iid = inst["InstanceId"]
        self.assertEqual(inst["State"], {"Code": 0, "Name": "pending"})
        self.assertEqual(inst["Placement"]["AvailabilityZone"], "us-east-1b")
        self.assertIn("PublicIpAddress", inst)
        self.wait_state(ec2, [iid], "running")
        for name, values in (("tag:role", ["server"]), ("tag-key", ["role"]),
                             ("vpc-id", [self.vpc]), ("subnet-id", [self.subnets[1]]),
                             ("instance-id", [iid]), ("instance-state-name", ["running"])):
            got = ec2.describe_instances(Filters=[{"Name": name, "Values": values}])
            self.assertEqual([i["InstanceId"] for r in got["Reservations"]
                              for i in r["Instances"]], [iid], name)
        self.assertEqual(ec2.describe_instances(Filters=[
            {"Name": "tag:role", "Values": ["client"]}])["Reservations"], [])
        console = ec2.get_console_output(InstanceId=iid)["Output"]
        self.assertIn("-----BEGIN SSH HOST KEY FINGERPRINTS-----", console)
        ec2.create_tags(Resources=[iid], Tags=[{"Key": "env", "Value": "int"}])
        tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [iid]}])["Tags"]
        self.assertEqual({(t["Key"], t["Value"], t["ResourceType"]) for t in tags},
                         {("role", "server", "instance"), ("env", "int", "instance")})
        ec2.delete_tags(Resources=[iid], Tags=[{"Key": "env"}])
        self.assertError("InvalidParameterValue", ec2.create_tags, Resources=[iid],
                         Tags=[{"Key": "aws:x", "Value": "y"}])
        out = ec2.terminate_instances(InstanceIds=[iid])["TerminatingInstances"][0]
        self.assertEqual((out["PreviousState"]["Name"], out["CurrentState"]["Name"]),
                         ("running", "shutting-down"))
        self.wait_state(ec2, [iid], "terminated")
        # Terminated instances stay visible for a while, as on AWS.
        self.assertEqual(len(ec2.describe_instances(InstanceIds=[iid])["Reservations"]), 1)
        self.assertError("InvalidInstanceID.NotFound", ec2.describe_instances,
                         InstanceIds=["i-0000000000000000f"])

    def test_host_keys_of_the_user_data_are_what_the_console_shows(self):
        ec2 = self.ec2
        tmp = tempfile.mkdtemp(prefix="awsemu-test-")
        self.addCleanup(subprocess.run, ["rm", "-rf", tmp])
        key = os.path.join(tmp, "host")
        subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-b", "256", "-m", "PEM", "-N", "",
                        "-f", key], check=True)
        with open(key) as f:
            private = f.read()
        with open(key + ".pub") as f:
            public = f.read().strip()
        fingerprint = subprocess.run(["ssh-keygen", "-l", "-f", key + ".pub"], check=True,
                                     capture_output=True, text=True).stdout.split()[1]
        config = "#cloud-config\nssh_keys:\n  ecdsa_private: |\n%s  ecdsa_public: %s\n" % (
            "".join("    " + line + "\n" for line in private.splitlines()), public)

        def console_of(user_data):
            res = ec2.run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1,
                                    SubnetId=self.subnets[0], UserData=user_data)
            iid = res["Instances"][0]["InstanceId"]
            self.wait_state(ec2, [iid], "running")
            return iid, ec2.get_console_output(InstanceId=iid)["Output"]

        # A MIME multipart, as cloud-init reads it: the key and a script.
        mime = MIMEMultipart()
        mime.attach(MIMEText(config, "cloud-config"))
        mime.attach(MIMEText("#!/bin/sh\necho hi\n", "x-shellscript"))
        iid, console = console_of(mime.as_string())
        block = console.split("-----BEGIN SSH HOST KEY FINGERPRINTS-----\n")[1].split(
            "-----END")[0]
        self.assertEqual(block.split()[:2], ["256", fingerprint])
        self.assertIn("(ECDSA)", block)
        state = self.control("GET", "/_emulator/state")
        boot = state["regions"]["us-east-1"]["instances"][iid]["_boot"]
        self.assertEqual(boot, {"scripts": 1, "console": [],
                                "host_keys": {"ecdsa": fingerprint}})
        self.assertNotIn("PRIVATE KEY", str(state))
        # A cloud-config alone works the same.
        _, console = console_of(config)
        self.assertIn(fingerprint, console)
        # What cloud-init's schema refuses, or a public key of another private key,
        # installs nothing, and the console says why.
        _, console = console_of("#cloud-config\nssh_keys:\n  dsa_private: x\n")
        self.assertIn("cloud-init: schema error in cloud-config: ssh_keys", console)
        self.assertNotIn(fingerprint, console)
        other = config.replace(public.split()[1], public.split()[1][:-8] + "AAAAAAA=")
        _, console = console_of(other)
        self.assertIn("ecdsa_public is not the public half of ecdsa_private", console)

    def test_describe_instances_paginates_with_max_results(self):
        ec2 = self.ec2
        ec2.run_instances(ImageId=IMAGE, MinCount=7, MaxCount=7, SubnetId=self.subnets[0])
        seen, token, pages = [], None, 0
        while True:
            kwargs = {"MaxResults": 5}
            if token:
                kwargs["NextToken"] = token
            page = ec2.describe_instances(**kwargs)
            seen += [i["InstanceId"] for r in page["Reservations"] for i in r["Instances"]]
            pages += 1
            token = page.get("NextToken")
            if not token:
                break
        self.assertEqual((pages, len(seen), len(set(seen))), (2, 7, 7))
        self.assertError("InvalidParameterValue", ec2.describe_instances, MaxResults=2)
        self.assertError("InvalidParameterCombination", ec2.describe_instances,
                         InstanceIds=seen[:1], MaxResults=5)
        paginator = ec2.get_paginator("describe_instances")
        total = sum(len(r["Instances"]) for page in paginator.paginate(
            PaginationConfig={"PageSize": 5}) for r in page["Reservations"])
        self.assertEqual(total, 7)

    def test_run_instances_checks_what_it_references(self):
        ec2 = self.ec2
        self.assertError("InvalidAMIID.NotFound", ec2.run_instances, ImageId="ami-00000000",
                         MinCount=1, MaxCount=1, SubnetId=self.subnets[0])
        self.assertError("InvalidAMIID.Malformed", ec2.run_instances, ImageId="img-1",
                         MinCount=1, MaxCount=1, SubnetId=self.subnets[0])
        self.assertError("InvalidKeyPair.NotFound", ec2.run_instances, ImageId=IMAGE,
                         MinCount=1, MaxCount=1, SubnetId=self.subnets[0], KeyName="nope")
        self.assertError("VPCIdNotSpecified", ec2.run_instances, ImageId=IMAGE, MinCount=1,
                         MaxCount=1)
        other = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
        sg = ec2.create_security_group(GroupName="x", Description="x", VpcId=other)["GroupId"]
        self.assertError("InvalidParameter", ec2.run_instances, ImageId=IMAGE, MinCount=1,
                         MaxCount=1, SubnetId=self.subnets[0], SecurityGroupIds=[sg])

    def test_images_by_owner_name_glob_and_architecture(self):
        ec2 = self.ec2
        got = ec2.describe_images(Owners=["self"], Filters=[
            {"Name": "name", "Values": ["nomad-host-*"]},
            {"Name": "architecture", "Values": ["x86_64"]},
            {"Name": "state", "Values": ["available"]}])["Images"]
        self.assertEqual(sorted(i["CreationDate"] for i in got),
                         ["2026-10-01T10:00:00.000Z", "2026-11-01T10:00:00.000Z"])
        arm = ec2.describe_images(Filters=[{"Name": "architecture", "Values": ["arm64"]}])
        self.assertEqual([i["ImageId"] for i in arm["Images"]], ["ami-0aaaaaaaaaaaaaaa2"])
        ubuntu = ec2.describe_images(Owners=["099720109477"])["Images"]
        self.assertEqual([i["Name"] for i in ubuntu], ["ubuntu-22.04"])
        self.assertError("InvalidAMIID.NotFound", ec2.describe_images, ImageIds=["ami-0f0f0f0f"])
        eu = self.client("ec2", region="eu-west-1")
        self.assertEqual(eu.describe_images(Owners=["self"])["Images"], [])

    def test_stop_create_image_deregister_and_delete_snapshot(self):
        ec2 = self.ec2
        iid = ec2.run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1,
                                SubnetId=self.subnets[0])["Instances"][0]["InstanceId"]
        self.assertError("IncorrectInstanceState", ec2.stop_instances, InstanceIds=[iid])
        self.wait_state(ec2, [iid], "running")
        got = ec2.stop_instances(InstanceIds=[iid])["StoppingInstances"][0]
        self.assertEqual(got["CurrentState"]["Name"], "stopping")
        self.wait_state(ec2, [iid], "stopped")
        tags = [{"Key": "infra:build-hash", "Value": "abc"}]
        ami = ec2.create_image(InstanceId=iid, Name="baked-abc", TagSpecifications=[
            {"ResourceType": "image", "Tags": tags},
            {"ResourceType": "snapshot", "Tags": tags}])["ImageId"]
        self.assertError("InvalidAMIName.Duplicate", ec2.create_image, InstanceId=iid,
                         Name="baked-abc")
        self.assertError("InvalidAMIName.Malformed", ec2.create_image, InstanceId=iid,
                         Name="x!")
        image = ec2.describe_images(ImageIds=[ami])["Images"][0]
        self.assertEqual(image["State"], "pending")
        wait_until(lambda: ec2.describe_images(ImageIds=[ami])["Images"][0]["State"]
                   == "available")
        mine = ec2.describe_images(Owners=["self"], Filters=[
            {"Name": "tag:infra:build-hash", "Values": ["abc"]}])["Images"]
        self.assertEqual([i["ImageId"] for i in mine], [ami])
        snap = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
        self.assertError("InvalidSnapshot.InUse", ec2.delete_snapshot, SnapshotId=snap)
        # an instance of the new image
        ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, SubnetId=self.subnets[0])
        ec2.deregister_image(ImageId=ami)
        self.assertError("InvalidAMIID.NotFound", ec2.describe_images, ImageIds=[ami])
        self.assertError("InvalidAMIID.NotFound", ec2.deregister_image, ImageId=ami)
        ec2.delete_snapshot(SnapshotId=snap)
        self.assertError("InvalidSnapshot.NotFound", ec2.delete_snapshot, SnapshotId=snap)
        ec2.terminate_instances(InstanceIds=[iid])
        self.wait_state(ec2, [iid], "terminated")

    def test_availability_zones_come_from_the_seed(self):
        zones = self.ec2.describe_availability_zones()["AvailabilityZones"]
        self.assertEqual([z["ZoneName"] for z in zones], ["us-east-1a", "us-east-1b"])
        self.assertEqual(zones[0]["ZoneId"], "use1-az1")
        self.assertError("InvalidParameterValue", self.ec2.describe_availability_zones,
                         ZoneNames=["us-east-1z"])

    def test_launch_templates_versions_latest_and_default(self):
        ec2 = self.ec2
        lt = ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={
            "ImageId": IMAGE, "InstanceType": "t3.micro",
            "TagSpecifications": [{"ResourceType": "instance",
                                   "Tags": [{"Key": "from", "Value": "template"}]}]})
        tid = lt["LaunchTemplate"]["LaunchTemplateId"]
        self.assertError("InvalidLaunchTemplateName.AlreadyExistsException",
                         ec2.create_launch_template, LaunchTemplateName="web",
                         LaunchTemplateData={"ImageId": IMAGE})
        v2 = ec2.create_launch_template_version(LaunchTemplateId=tid, SourceVersion="1",
                                                LaunchTemplateData={"InstanceType": "t3.large"})
        self.assertEqual(v2["LaunchTemplateVersion"]["VersionNumber"], 2)
        self.assertEqual(v2["LaunchTemplateVersion"]["LaunchTemplateData"]["ImageId"], IMAGE)
        versions = ec2.describe_launch_template_versions(LaunchTemplateName="web", Versions=[
            "$Latest", "$Default"])["LaunchTemplateVersions"]
        self.assertEqual([(v["VersionNumber"], v["DefaultVersion"]) for v in versions],
                         [(2, False), (1, True)])
        res = ec2.run_instances(MinCount=1, MaxCount=1, SubnetId=self.subnets[0],
                                LaunchTemplate={"LaunchTemplateId": tid, "Version": "$Latest"})
        inst = res["Instances"][0]
        self.assertEqual(inst["InstanceType"], "t3.large")
        self.assertIn({"Key": "from", "Value": "template"}, inst["Tags"])
        ec2.modify_launch_template(LaunchTemplateId=tid, DefaultVersion="2")
        got = ec2.describe_launch_templates(LaunchTemplateIds=[tid])["LaunchTemplates"][0]
        self.assertEqual((got["DefaultVersionNumber"], got["LatestVersionNumber"]), (2, 2))
        self.assertError("InvalidLaunchTemplateId.VersionNotFound",
                         ec2.describe_launch_template_versions, LaunchTemplateId=tid,
                         Versions=["7"])
        # Without a template: the latest (or default) version of every template, and
        # only those two words (AWS's documentation of LaunchTemplateVersion).
        other = ec2.create_launch_template(LaunchTemplateName="dbs", LaunchTemplateData={
            "ImageId": IMAGE})["LaunchTemplate"]["LaunchTemplateId"]
        every = ec2.describe_launch_template_versions(Versions=["$Latest"])
        self.assertEqual(sorted((v["LaunchTemplateId"], v["VersionNumber"])
                                for v in every["LaunchTemplateVersions"]),
                         sorted([(tid, 2), (other, 1)]))
        page = ec2.describe_launch_template_versions(Versions=["$Latest"], MaxResults=1)
        self.assertEqual(len(page["LaunchTemplateVersions"]), 1)
        self.assertIn("NextToken", page)
        self.assertError("InvalidParameterValue", ec2.describe_launch_template_versions,
                         Versions=["1"])
        self.assertError("InvalidParameterValue", ec2.describe_launch_template_versions)
        ec2.delete_launch_template(LaunchTemplateId=other)
        ec2.delete_launch_template(LaunchTemplateName="web")
        self.assertError("InvalidLaunchTemplateName.NotFoundException",
                         ec2.describe_launch_templates, LaunchTemplateNames=["web"])

    def test_state_and_calls_are_visible_on_the_control_api(self):
        self.ec2.run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1, SubnetId=self.subnets[0])
        state = self.control("GET", "/_emulator/state")
        self.assertEqual(len(state["regions"]["us-east-1"]["instances"]), 1)
        calls = self.control("GET", "/_emulator/calls")
        self.assertGreaterEqual(calls["ec2"]["RunInstances"], 1)
        self.control("POST", "/_emulator/reset")
        self.assertEqual(self.ec2.describe_instances()["Reservations"], [])
        self.assertEqual(len(self.ec2.describe_images()["Images"]), 4)


class Retention(EmulatorCase):
    """--retention-seconds: how long a terminated instance stays visible, whatever
    the time scale (at time scale 1 AWS's own hour would keep it here)."""
    time_scale = 1.0
    retention_seconds = 0.5

    def test_config_retention_is_unscaled_when_given(self):
        from awsemu.core import Config
        self.assertEqual(Config({}, {}, [], time_scale=0.01).retention(3600), 36)
        self.assertEqual(Config({}, {}, [], time_scale=0.01, retention_seconds=3600)
                         .retention(3600), 3600)

    def test_a_terminated_instance_goes_after_the_retention(self):
        ec2 = self.client("ec2")
        _, subnets, _ = self.network(ec2)
        iid = ec2.run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1,
                                SubnetId=subnets[0])["Instances"][0]["InstanceId"]
        ec2.terminate_instances(InstanceIds=[iid])
        self.wait_state(ec2, [iid], "terminated")

        def gone():
            res = ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": [iid]}])
            return not res["Reservations"]
        wait_until(gone, 10, what="the terminated instance to go")


if __name__ == "__main__":
    unittest.main()
