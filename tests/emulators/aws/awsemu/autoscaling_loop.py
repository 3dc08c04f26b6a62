"""The Auto Scaling control loop: health, replacement, capacity and ELB registration."""
import json
import time

from .errors import ApiError

_LIFECYCLE = {"pending": "Pending", "running": "InService", "stopping": "InService",
              "stopped": "InService", "shutting-down": "Terminating", "terminated": "Terminated"}


class Converger:
    def tick(self):
        now = time.monotonic()
        for r in self.emulator.regions.values():
            for group in list(r.auto_scaling_groups.values()):
                self._converge(r, group, now)

    # -- activities -----------------------------------------------------------
    def _activity(self, r, group, description, cause, details=None, status="InProgress"):
        activity = {"ActivityId": self.emulator.ids.request_id(),
                    "AutoScalingGroupName": group["AutoScalingGroupName"],
                    "AutoScalingGroupARN": group["AutoScalingGroupARN"],
                    "Description": description, "Cause": cause,
                    "StartTime": self._ec2().utc(), "StatusCode": status, "Progress": 0,
                    "Details": json.dumps(details or {})}
        if status != "InProgress":
            activity.update(EndTime=activity["StartTime"], Progress=100)
        r.scaling_activities.append(activity)
        del r.scaling_activities[:-500]
        return activity

    @staticmethod
    def _finish(activity, status="Successful", message=None):
        if activity and activity["StatusCode"] == "InProgress":
            activity.update(StatusCode=status, Progress=100, EndTime=activity["StartTime"].now(
                activity["StartTime"].tzinfo))
            if message:
                activity["StatusMessage"] = message[:255]

    @staticmethod
    def describe_activity(activity):
        return {k: v for k, v in activity.items() if not k.startswith("_")}

    # -- members --------------------------------------------------------------
    def terminate_member(self, r, group, iid, why):
        member = group["_members"].get(iid)
        inst = r.instances.get(iid)
        before = len(group["_members"])
        activity = self._activity(
            r, group, "Terminating EC2 instance: %s" % iid,
            "At %s an instance was taken out of service in response to %s." % (
                self._ec2().utc().strftime("%Y-%m-%dT%H:%M:%SZ"), why))
        if member is not None:
            member["LifecycleState"] = "Terminating"
            member["_activity"] = activity
        for name in group["LoadBalancerNames"]:
            lb = r.load_balancers.get(name)
            if lb is not None:
                self._elb().deregister(lb, [iid])
        if inst is not None:
            self._ec2().terminate(r, inst, "User initiated")
        activity["Details"] = json.dumps({"Capacity before": before})
        return activity

    def sync_load_balancers(self, r, group):
        for name in group["LoadBalancerNames"]:
            lb = r.load_balancers.get(name)
            if lb is None:
                continue
            ready = [iid for iid, m in group["_members"].items()
                     if m["LifecycleState"] == "InService"]
            self._elb().register(r, lb, ready)

    def _unhealthy(self, r, group, iid, member, now):
        inst = r.instances.get(iid)
        if inst is None or inst["State"]["Name"] not in ("pending", "running"):
            return True
        if member["HealthStatus"] == "Unhealthy":
            return True
        if group["HealthCheckType"] != "ELB" or now < member["_grace_until"]:
            return False
        if member["LifecycleState"] != "InService":
            return False
        for name in group["LoadBalancerNames"]:
            lb = r.load_balancers.get(name)
            if lb is not None and any(i["InstanceId"] == iid for i in lb["Instances"]):
                state = self._elb().instance_state(r, lb, iid)[0]
                if state == "OutOfService":
                    return True
        return False

    def _converge(self, r, group, now):
        members = group["_members"]
        for iid in list(members):
            member = members[iid]
            inst = r.instances.get(iid)
            state = inst["State"]["Name"] if inst else "terminated"
            if state == "terminated" or (inst is None):
                self._finish(member.get("_activity"))
                del members[iid]
                continue
            if member["LifecycleState"] == "Terminating":
                continue
            new_state = _LIFECYCLE[state]
            if new_state == "InService" and member["LifecycleState"] == "Pending":
                self._finish(member.get("_activity"))
                member["_activity"] = None
            member["LifecycleState"] = new_state
            if new_state == "Terminating":
                continue
            if self._unhealthy(r, group, iid, member, now):
                member["HealthStatus"] = "Unhealthy"
                self.terminate_member(r, group, iid, "an instance health check failure "
                                      "(%s health check)" % group["HealthCheckType"])
        if group.get("Status"):
            if not members:
                self.forget(r, group)
            return
        self.sync_load_balancers(r, group)
        active = [iid for iid, m in members.items() if m["LifecycleState"] != "Terminating"]
        missing = group["DesiredCapacity"] - len(active)
        if missing > 0 and now >= group["_retry_at"]:
            for _ in range(missing):
                if not self._launch(r, group, len(active), now):
                    group["_retry_at"] = now + max(0.5, self.emulator.config.scaled(10))
                    break
                active.append(None)
        elif missing < 0:
            for iid in self._victims(r, group, active, -missing):
                self.terminate_member(r, group, iid, "a user request update of "
                                      "AutoScalingGroup constraints to min: %d, max: %d, "
                                      "desired: %d" % (group["MinSize"], group["MaxSize"],
                                                       group["DesiredCapacity"]))

    def _victims(self, r, group, active, count):
        """Default termination policy: the fullest zone first, its oldest instance first."""
        chosen = []
        pool = list(active)
        for _ in range(count):
            by_zone = {}
            for iid in pool:
                by_zone.setdefault(group["_members"][iid]["AvailabilityZone"], []).append(iid)
            zone = max(by_zone, key=lambda z: len(by_zone[z]))
            victim = min(by_zone[zone], key=lambda i: group["_members"][i]["_launched"])
            chosen.append(victim)
            pool.remove(victim)
        return chosen

    def _pick_subnet(self, r, group):
        subnets = [s for s in group["VPCZoneIdentifier"].split(",") if s in r.subnets]
        if not subnets:
            return None
        counts = {s: 0 for s in subnets}
        for m in group["_members"].values():
            if m["LifecycleState"] != "Terminating" and m.get("_subnet") in counts:
                counts[m["_subnet"]] += 1
        return min(subnets, key=lambda s: (counts[s], subnets.index(s)))

    def _launch(self, r, group, current, now):
        ec2 = self._ec2()
        subnet = self._pick_subnet(r, group)
        cause = ("At %s an instance was started in response to a difference between desired "
                 "and actual capacity, increasing the capacity from %d to %d." % (
                     ec2.utc().strftime("%Y-%m-%dT%H:%M:%SZ"), current, current + 1))
        name = group["AutoScalingGroupName"]
        try:
            if subnet is None:
                raise ApiError("InvalidSubnetID.NotFound", "No subnet of the group exists")
            spec = group["LaunchTemplate"]
            template = ec2.find_template(r, spec["LaunchTemplateId"])
            data = ec2.template_version(template, spec["Version"])["LaunchTemplateData"]
            tags = [{"Key": "aws:autoscaling:groupName", "Value": name}]
            for tag_spec in data.get("TagSpecifications") or []:
                if tag_spec.get("ResourceType") == "instance":
                    tags = list(tag_spec.get("Tags", [])) + tags
            tags += [{"Key": t["Key"], "Value": t["Value"]} for t in group["Tags"]
                     if t.get("PropagateAtLaunch")]
            params = {"MinCount": 1, "MaxCount": 1, "SubnetId": subnet,
                      "LaunchTemplate": {"LaunchTemplateId": spec["LaunchTemplateId"],
                                         "Version": spec["Version"]},
                      "TagSpecifications": [{"ResourceType": "instance", "Tags": tags}]}
            nics = data.get("NetworkInterfaces")
            if nics:
                nic = dict(nics[0], SubnetId=subnet)
                params["NetworkInterfaces"] = [nic]
                params.pop("SubnetId")
            reservation = ec2.RunInstances(self.ec2_context(r.name), params)
        except ApiError as e:
            self._activity(r, group, "Launching a new EC2 instance.  Status Reason: %s"
                           % e.message, cause, {"Subnet ID": subnet}, status="Failed")
            return False
        inst = reservation["Instances"][0]
        iid = inst["InstanceId"]
        activity = self._activity(r, group, "Launching a new EC2 instance: %s" % iid, cause,
                                  {"Subnet ID": subnet, "Availability Zone":
                                   inst["Placement"]["AvailabilityZone"]})
        group["_members"][iid] = {
            "LifecycleState": "Pending", "HealthStatus": "Healthy",
            "AvailabilityZone": inst["Placement"]["AvailabilityZone"],
            "LaunchTemplate": dict(group["LaunchTemplate"]), "_subnet": subnet,
            "_launched": now, "_activity": activity,
            "_grace_until": now + self.emulator.config.scaled(group["HealthCheckGracePeriod"]),
        }
        return True
