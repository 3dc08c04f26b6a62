"""The leader's scheduler: placements, rolling updates, reschedules,
migrations off draining nodes, lost allocations of down nodes, and the
deployment watcher. Everything runs under the state lock, on the leader."""
import copy
import fnmatch
import random
import re
import time

from . import log
from .nomad_jobs import group_spec
from .nomad_state import TERMINAL_CLIENT
from .util import new_uuid, now_ns

C = "nomad"


def _index(a):
    m = re.search(r"\[(\d+)\]$", a["Name"])
    return int(m.group(1)) if m else 0


def _live(a):
    return a["DesiredStatus"] == "run" and a["ClientStatus"] not in TERMINAL_CLIENT


def _rfc3339(ns):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns / 1e9)) + "Z"


def public(obj):
    return {k: v for k, v in obj.items() if not k.startswith("_")}


class Scheduler:
    def __init__(self, state, ttl_ns, grace_ns):
        self.state = state
        self.ttl = ttl_ns / 1e9
        self.grace = grace_ns / 1e9
        self.heartbeat_at = {}

    @property
    def d(self):
        return self.state.data

    # -- nodes ---------------------------------------------------------------
    def became_leader(self):
        now = time.monotonic()
        with self.state.lock:
            self.heartbeat_at = {nid: now for nid in self.d["nodes"]}

    def heartbeat(self, node_id):
        self.heartbeat_at[node_id] = time.monotonic()
        n = self.d["nodes"].get(node_id)
        if n is not None and n["Status"] != "ready":
            self.state.set_node_status(n, "ready")
            log.info(C, "node is ready", node_id=node_id, name=n["Name"])

    def _check_heartbeats(self):
        now = time.monotonic()
        for nid, n in self.d["nodes"].items():
            last = self.heartbeat_at.setdefault(nid, now)
            if n["Status"] != "down" and now - last > self.ttl + self.grace:
                self.state.set_node_status(n, "down", "node heartbeat missed")
                log.warn(C, "node heartbeat missed, marking down", node_id=nid, name=n["Name"])
                for a in self.state.allocs_of_node(nid):
                    if a["ClientStatus"] not in TERMINAL_CLIENT:
                        a["ClientStatus"] = "lost"
                        a["DesiredStatus"] = "stop"
                        a["DesiredDescription"] = "alloc is lost since its node is down"
                        a["ClientDescription"] = "alloc is lost since its node is down"
                        self.state.touch_alloc(a)

    # -- feasibility ---------------------------------------------------------
    def _interp(self, target, n):
        m = re.fullmatch(r"\$\{(.+)\}", target or "")
        if not m:
            return target
        key = m.group(1)
        if key.startswith("attr."):
            return n["Attributes"].get(key[5:])
        if key.startswith("meta."):
            return (n.get("Meta") or {}).get(key[5:])
        return {"node.datacenter": n["Datacenter"], "node.unique.name": n["Name"], "node.unique.id": n["ID"],
                "node.class": n.get("NodeClass", ""), "node.pool": n.get("NodePool", "default"),
                "node.region": n.get("_region", "")}.get(key)

    def _constraint_ok(self, c, n, job, tg):
        op = c.get("Operand") or "="
        if op in ("distinct_hosts", "distinct_property"):
            if op == "distinct_property" or str(c.get("RTarget", "true")).lower() == "false":
                return True
            return not any(a["NodeID"] == n["ID"] and _live(a) for a in self.state.allocs_of_job(job["Namespace"], job["ID"]))
        lv, rv = self._interp(c.get("LTarget", ""), n), self._interp(c.get("RTarget", ""), n)
        if op == "is_set":
            return lv is not None
        if op == "is_not_set":
            return lv is None
        if lv is None:
            return False
        if op in ("=", "==", "is"):
            return str(lv) == str(rv)
        if op in ("!=", "not"):
            return str(lv) != str(rv)
        if op == "regexp":
            return re.search(str(rv), str(lv)) is not None
        if op in ("set_contains", "set_contains_all"):
            have = {x.strip() for x in str(lv).split(",")}
            return all(x.strip() in have for x in str(rv).split(","))
        if op == "set_contains_any":
            have = {x.strip() for x in str(lv).split(",")}
            return any(x.strip() in have for x in str(rv).split(","))
        if op in ("<", "<=", ">", ">="):
            try:
                a, b = float(lv), float(rv)
            except ValueError:
                a, b = str(lv), str(rv)
            return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        return True

    def _used(self, node_id):
        cpu = mem = 0
        ports = set()
        for a in self.state.allocs_of_node(node_id):
            if a["ClientStatus"] in TERMINAL_CLIENT or a["DesiredStatus"] != "run":
                continue
            for t in a["AllocatedResources"]["Tasks"].values():
                cpu += t["Cpu"]["CpuShares"]
                mem += t["Memory"]["MemoryMB"]
            for p in a["AllocatedResources"]["Shared"]["Ports"]:
                ports.add(p["Value"])
        return cpu, mem, ports

    def feasible(self, job, tg):
        """Nodes that can take one more allocation of tg, and why others cannot."""
        out, why = [], {}
        need_cpu = sum(t["Resources"].get("CPU", 100) for t in tg["Tasks"])
        need_mem = sum(t["Resources"].get("MemoryMB", 300) for t in tg["Tasks"])
        static = [p["Value"] for net in tg.get("Networks") or [] for p in net.get("ReservedPorts") or []]
        for n in sorted(self.d["nodes"].values(), key=lambda x: x["ID"]):
            if n["Status"] != "ready" or n["SchedulingEligibility"] != "eligible":
                continue
            if not any(fnmatch.fnmatchcase(n["Datacenter"], dc) for dc in job["Datacenters"]):
                continue
            pool = job.get("NodePool") or "default"
            if pool != "all" and n.get("NodePool", "default") != pool:
                why["node pool"] = why.get("node pool", 0) + 1
                continue
            bad = [t["Driver"] for t in tg["Tasks"]
                   if not ((n["Drivers"].get(t["Driver"]) or {}).get("Detected") and
                           (n["Drivers"].get(t["Driver"]) or {}).get("Healthy"))]
            if bad:
                key = "missing drivers"
                why[key] = why.get(key, 0) + 1
                continue
            cons = job.get("Constraints", []) + tg.get("Constraints", []) + \
                [c for t in tg["Tasks"] for c in t.get("Constraints") or []]
            failed = [c for c in cons if not self._constraint_ok(c, n, job, tg)]
            if failed:
                c = failed[0]
                key = "%s %s %s" % (c.get("LTarget", ""), c.get("Operand", "="), c.get("RTarget", ""))
                why[key.strip()] = why.get(key.strip(), 0) + 1
                continue
            cpu, mem, ports = self._used(n["ID"])
            res = n["NodeResources"]
            if cpu + need_cpu > res["Cpu"]["CpuShares"]:
                why["cpu"] = why.get("cpu", 0) + 1
                continue
            if mem + need_mem > res["Memory"]["MemoryMB"]:
                why["memory"] = why.get("memory", 0) + 1
                continue
            if any(p in ports for p in static):
                why["network: reserved port collision"] = why.get("network: reserved port collision", 0) + 1
                continue
            out.append(n)
        return out, why

    def _rank(self, job, nodes):
        counts = {}
        for a in self.state.allocs_of_job(job["Namespace"], job["ID"]):
            if _live(a):
                counts[a["NodeID"]] = counts.get(a["NodeID"], 0) + 1
        return sorted(nodes, key=lambda n: (counts.get(n["ID"], 0), -self._used(n["ID"])[0], n["ID"]))

    # -- placements ----------------------------------------------------------
    def _ports(self, tg, n):
        _, _, used = self._used(n["ID"])
        ip = n["_ip"]
        lo, hi = n["NodeResources"].get("MinDynamicPort", 20000), n["NodeResources"].get("MaxDynamicPort", 32000)
        shared, ports = [], []
        for net in tg.get("Networks") or []:
            dyn, res = [], []
            for p in net.get("ReservedPorts") or []:
                res.append({"Label": p["Label"], "Value": p["Value"], "To": p.get("To", 0), "HostNetwork": "default"})
            for p in net.get("DynamicPorts") or []:
                while True:
                    v = random.randint(lo, hi)
                    if v not in used:
                        used.add(v)
                        break
                dyn.append({"Label": p["Label"], "Value": v, "To": p.get("To", 0), "HostNetwork": "default"})
            shared.append({"Mode": net.get("Mode") or "host", "IP": ip, "CIDR": "", "MBits": 0,
                           "ReservedPorts": res or None, "DynamicPorts": dyn or None})
            ports += [{"Label": p["Label"], "Value": p["Value"], "To": p["To"] or p["Value"] if p["To"] > 0 else p["Value"],
                       "HostIP": ip} for p in res + dyn]
        return shared, ports

    def place(self, job, tg, index, node, ev, deployment_id="", prev=None):
        st = self.state
        shared, ports = self._ports(tg, node)
        a = {"ID": new_uuid(), "Namespace": job["Namespace"], "EvalID": ev["ID"],
             "Name": "%s.%s[%d]" % (job["ID"], tg["Name"], index), "NodeID": node["ID"], "NodeName": node["Name"],
             "JobID": job["ID"], "JobType": job["Type"], "JobVersion": job["Version"], "Job": copy.deepcopy(job),
             "TaskGroup": tg["Name"],
             "AllocatedResources": {"Tasks": {t["Name"]: {"Cpu": {"CpuShares": t["Resources"].get("CPU", 100)},
                                                          "Memory": {"MemoryMB": t["Resources"].get("MemoryMB", 300)},
                                                          "Networks": None} for t in tg["Tasks"]},
                                    "Shared": {"DiskMB": (tg.get("EphemeralDisk") or {}).get("SizeMB", 300),
                                               "Networks": shared, "Ports": ports}},
             "DesiredStatus": "run", "DesiredDescription": "", "DesiredTransition": {},
             "ClientStatus": "pending", "ClientDescription": "No tasks have started", "TaskStates": None,
             "DeploymentID": deployment_id, "DeploymentStatus": None, "PreviousAllocation": "",
             "NextAllocation": "", "RescheduleTracker": None, "FollowupEvalID": "",
             "PreemptedAllocations": None, "PreemptedByAllocation": "",
             "CreateIndex": st.index, "ModifyIndex": st.index, "AllocModifyIndex": st.index,
             "CreateTime": now_ns(), "ModifyTime": now_ns()}
        if prev is not None:
            a["PreviousAllocation"] = prev["ID"]
            prev["NextAllocation"] = a["ID"]
            if prev["ClientStatus"] == "failed":
                events = list((prev.get("RescheduleTracker") or {}).get("Events") or [])
                events.append({"RescheduleTime": now_ns(), "PrevAllocID": prev["ID"], "PrevNodeID": prev["NodeID"],
                               "Delay": prev.get("_delay", 0)})
                a["RescheduleTracker"] = {"Events": events}
            if (prev.get("DesiredTransition") or {}).get("Migrate"):
                a["_migration"] = True
            st.touch_alloc(prev)
        st.data["allocs"][a["ID"]] = a
        st.dirty = True
        log.info(C, "placed allocation", alloc_id=a["ID"], name=a["Name"], node=node["Name"])
        return a

    def stop(self, a, why, migrate=False):
        a["DesiredStatus"] = "stop"
        a["DesiredDescription"] = why
        if migrate:
            a["DesiredTransition"] = {"Migrate": True}
        self.state.touch_alloc(a)

    def _reschedule_wait(self, tg, last):
        """None when last (failed) may be replaced now; else seconds to wait,
        or -1 when its reschedule policy is exhausted."""
        dep = self.d["deployments"].get(last.get("DeploymentID") or "")
        if dep is not None and dep["Status"] == "failed":
            return -1
        pol = tg.get("ReschedulePolicy")
        if not pol:
            return -1
        events = (last.get("RescheduleTracker") or {}).get("Events") or []
        if not pol.get("Unlimited"):
            window = pol.get("Interval", 0)
            recent = [e for e in events if now_ns() - e["RescheduleTime"] < window] if window else events
            if len(recent) >= pol.get("Attempts", 0):
                return -1
        delay = pol.get("Delay", 0)
        if pol.get("DelayFunction") == "exponential":
            delay = delay * (2 ** len(events))
        elif pol.get("DelayFunction") == "fibonacci":
            a, b = delay, delay
            for _ in range(len(events)):
                a, b = b, a + b
            delay = a
        if pol.get("MaxDelay"):
            delay = min(delay, pol["MaxDelay"])
        last["_delay"] = delay
        wait = (last["ModifyTime"] + delay - now_ns()) / 1e9
        return None if wait <= 0 else wait

    def reconcile(self, job, ev=None):
        """Brings the allocations of job to what it asks; returns the number
        of placements that found no node, per group."""
        st = self.state
        allocs = st.allocs_of_job(job["Namespace"], job["ID"])
        failed_tgs = {}
        if job.get("Stop"):
            for a in allocs:
                if a["DesiredStatus"] == "run" and a["ClientStatus"] not in TERMINAL_CLIENT:
                    self.stop(a, "alloc not needed as job is stopped")
            return failed_tgs
        dep = self._deployment_for(job)
        names = {tg["Name"] for tg in job["TaskGroups"]}
        for a in allocs:
            if a["TaskGroup"] not in names and _live(a):
                self.stop(a, "alloc not needed due to job update")
        for tg in job["TaskGroups"]:
            galloc = [a for a in allocs if a["TaskGroup"] == tg["Name"]]
            if job["Type"] in ("system", "sysbatch"):
                self._reconcile_system(job, tg, galloc, ev)
                continue
            q = self._reconcile_group(job, tg, galloc, dep, ev)
            if q:
                failed_tgs[tg["Name"]] = q
        return failed_tgs

    def _deployment_for(self, job):
        for d in self.d["deployments"].values():
            if d["JobID"] == job["ID"] and d["Namespace"] == job["Namespace"] and d["JobVersion"] == job["Version"]:
                return d
        return None

    def _eval(self, job, ev, trigger="job-register"):
        return ev if ev is not None else self.state.new_eval(job, trigger)

    def _reconcile_group(self, job, tg, allocs, dep, ev):
        live = [a for a in allocs if _live(a)]
        count = tg["Count"]
        for a in live:
            if _index(a) >= count:
                self.stop(a, "alloc not needed due to job update")
        live = [a for a in live if _index(a) < count]
        # Rolling update: in place when only the count changed, else replace
        # up to MaxParallel allocations that are not yet healthy.
        old = [a for a in live if a["JobVersion"] != job["Version"]]
        destructive = []
        for a in old:
            old_tg = next((g for g in a["Job"]["TaskGroups"] if g["Name"] == tg["Name"]), None)
            if old_tg is not None and group_spec(old_tg) == group_spec(tg):
                a["Job"] = copy.deepcopy(job)
                a["JobVersion"] = job["Version"]
                if dep is not None:
                    a["DeploymentID"] = dep["ID"]
                    a["DeploymentStatus"] = None
                self.state.touch_alloc(a)
            else:
                destructive.append(a)
        if destructive and (dep is None or dep["Status"] == "running"):
            maxp = (tg.get("Update") or {}).get("MaxParallel", 0)
            if maxp > 0 and dep is not None:
                inflight = [a for a in live if a.get("DeploymentID") == dep["ID"] and
                            (a.get("DeploymentStatus") or {}).get("Healthy") is not True]
                budget = max(0, maxp - len(inflight))
            else:
                budget = len(destructive)
            for a in sorted(destructive, key=_index)[:budget]:
                self.stop(a, "alloc is being updated due to job update")
        # Migrations off draining nodes.
        mig = tg.get("Migrate") or {"MaxParallel": 1}
        draining = {nid for nid, n in self.d["nodes"].items() if n.get("DrainStrategy")}
        forced = {nid for nid in draining if self._drain_forced(self.d["nodes"][nid])}
        live = [a for a in allocs if _live(a)]
        inflight = [a for a in live if a.get("_migration") and a["ClientStatus"] != "running"]
        budget = max(0, mig.get("MaxParallel", 1) - len(inflight))
        for a in sorted(live, key=_index):
            if a["NodeID"] in forced or (a["NodeID"] in draining and budget > 0):
                if a["NodeID"] not in forced:
                    budget -= 1
                self.stop(a, "alloc is being migrated", migrate=True)
        # Fill every index that has no live allocation.
        live_idx = {_index(a) for a in allocs if _live(a)}
        queued = 0
        for i in range(count):
            if i in live_idx:
                continue
            hist = sorted((a for a in allocs if _index(a) == i), key=lambda a: a["CreateIndex"])
            last = hist[-1] if hist else None
            prev = None
            if last is not None:
                if last["ClientStatus"] == "complete" and last["DesiredStatus"] == "run":
                    continue
                if last["ClientStatus"] == "failed" and last["DesiredStatus"] == "run":
                    if last.get("NextAllocation"):
                        continue
                    wait = self._reschedule_wait(tg, last)
                    if wait is not None:
                        continue
                prev = last
            nodes, why = self.feasible(job, tg)
            if not nodes:
                queued += 1
                continue
            node = self._rank(job, nodes)[0]
            ev = self._eval(job, ev, "alloc-failure" if prev and prev["ClientStatus"] == "failed" else "job-register")
            dep_id = dep["ID"] if dep is not None and dep["Status"] == "running" else ""
            self.place(job, tg, i, node, ev, dep_id, prev)
        if queued and ev is not None:
            nodes_total = len(self.d["nodes"])
            ev["FailedTGAllocs"] = ev.get("FailedTGAllocs") or {}
            ev["FailedTGAllocs"][tg["Name"]] = {"NodesEvaluated": nodes_total, "NodesFiltered": nodes_total,
                                                "ConstraintFiltered": self.feasible(job, tg)[1],
                                                "CoalescedFailures": queued - 1}
            ev["QueuedAllocations"] = dict(ev.get("QueuedAllocations") or {}, **{tg["Name"]: queued})
        return queued

    def _reconcile_system(self, job, tg, allocs, ev):
        nodes, _ = self.feasible(job, tg)
        wanted = {n["ID"] for n in nodes}
        have = {}
        for a in allocs:
            if _live(a):
                node = self.d["nodes"].get(a["NodeID"])
                ignore = node and (node.get("DrainStrategy") or {}).get("DrainSpec", {}).get("IgnoreSystemJobs")
                if node and node.get("DrainStrategy") and not ignore:
                    self.stop(a, "alloc is being migrated", migrate=True)
                elif a["JobVersion"] != job["Version"]:
                    self.stop(a, "alloc is being updated due to job update")
                else:
                    have[a["NodeID"]] = a
        for i, n in enumerate(nodes):
            if n["ID"] in have:
                continue
            done = [a for a in allocs if a["NodeID"] == n["ID"] and a["JobVersion"] == job["Version"]
                    and a["ClientStatus"] in ("complete", "failed") and job["Type"] == "sysbatch"]
            if done or n["ID"] not in wanted:
                continue
            self.place(job, tg, 0, n, self._eval(job, ev, "job-register"))

    # -- drains --------------------------------------------------------------
    def _drain_forced(self, n):
        ds = n.get("DrainStrategy") or {}
        dl = (ds.get("DrainSpec") or {}).get("Deadline", 0)
        if dl < 0:
            return True
        return bool(dl) and now_ns() > ds.get("_started_ns", 0) + dl

    def _drains(self):
        for n in self.d["nodes"].values():
            ds = n.get("DrainStrategy")
            if not ds:
                continue
            ignore = (ds.get("DrainSpec") or {}).get("IgnoreSystemJobs", False)
            left = [a for a in self.state.allocs_of_node(n["ID"])
                    if a["ClientStatus"] not in TERMINAL_CLIENT and not (ignore and a["JobType"] in ("system", "sysbatch"))]
            pending_migration = [a for a in self.d["allocs"].values() if a.get("_migration") and _live(a)
                                 and a["ClientStatus"] != "running"]
            if not left and not pending_migration:
                self.state.bump()
                n["Drain"] = False
                n["DrainStrategy"] = None
                n["LastDrain"] = dict(n.get("LastDrain") or {}, Status="complete", UpdatedAt=_rfc3339(now_ns()))
                n["ModifyIndex"] = self.state.index
                self.state.node_event(n, "Node drain complete", "Drain")
                log.info(C, "node drain complete", node_id=n["ID"])

    # -- deployments ---------------------------------------------------------
    def create_deployment(self, job):
        for d in self.d["deployments"].values():
            if d["JobID"] == job["ID"] and d["Namespace"] == job["Namespace"] and d["Status"] in ("running", "pending"):
                d["Status"] = "cancelled"
                d["StatusDescription"] = "Cancelled due to newer version of job"
                d["ModifyIndex"] = self.state.index
        if job["Type"] != "service" or job.get("Stop"):
            return None
        groups = {}
        for tg in job["TaskGroups"]:
            u = tg.get("Update") or {}
            if u.get("MaxParallel", 0) <= 0:
                continue
            pd = u.get("ProgressDeadline", 0)
            groups[tg["Name"]] = {"AutoRevert": u.get("AutoRevert", False), "AutoPromote": u.get("AutoPromote", False),
                                  "ProgressDeadline": pd, "RequireProgressBy": _rfc3339(now_ns() + pd) if pd else None,
                                  "_progress_by": now_ns() + pd if pd else 0, "Promoted": False,
                                  "PlacedCanaries": None, "DesiredCanaries": 0, "DesiredTotal": tg["Count"],
                                  "PlacedAllocs": 0, "HealthyAllocs": 0, "UnhealthyAllocs": 0}
        if not groups:
            return None
        d = {"ID": new_uuid(), "Namespace": job["Namespace"], "JobID": job["ID"], "JobVersion": job["Version"],
             "JobModifyIndex": job["JobModifyIndex"], "JobSpecModifyIndex": job["JobModifyIndex"],
             "JobCreateIndex": job["CreateIndex"], "IsMultiregion": False, "TaskGroups": groups,
             "Status": "running", "StatusDescription": "Deployment is running", "EvalPriority": job["Priority"],
             "CreateIndex": self.state.index, "ModifyIndex": self.state.index}
        self.d["deployments"][d["ID"]] = d
        log.info(C, "deployment created", deployment_id=d["ID"], job=job["ID"], version=job["Version"])
        return d

    def _watch_deployments(self, reregister):
        for d in list(self.d["deployments"].values()):
            if d["Status"] != "running":
                continue
            job = self.state.job(d["Namespace"], d["JobID"])
            if job is None or job["Version"] != d["JobVersion"]:
                d["Status"] = "cancelled"
                d["StatusDescription"] = "Cancelled because job is stopped" if job is None or job.get("Stop") \
                    else "Cancelled due to newer version of job"
                continue
            allocs = [a for a in self.d["allocs"].values() if a.get("DeploymentID") == d["ID"]]
            changed, unhealthy, done, late = False, False, True, False
            for name, g in d["TaskGroups"].items():
                mine = [a for a in allocs if a["TaskGroup"] == name]
                healthy = sum(1 for a in mine if (a.get("DeploymentStatus") or {}).get("Healthy") is True)
                bad = sum(1 for a in mine if (a.get("DeploymentStatus") or {}).get("Healthy") is False or
                          (a["ClientStatus"] == "failed" and (a.get("DeploymentStatus") or {}).get("Healthy") is None))
                if healthy > g["HealthyAllocs"] and g["ProgressDeadline"]:
                    g["_progress_by"] = now_ns() + g["ProgressDeadline"]
                    g["RequireProgressBy"] = _rfc3339(g["_progress_by"])
                new = (len(mine), healthy, bad)
                if new != (g["PlacedAllocs"], g["HealthyAllocs"], g["UnhealthyAllocs"]):
                    g["PlacedAllocs"], g["HealthyAllocs"], g["UnhealthyAllocs"] = new
                    changed = True
                unhealthy = unhealthy or bad > 0
                old_live = [a for a in self.state.allocs_of_job(d["Namespace"], d["JobID"])
                            if a["TaskGroup"] == name and _live(a) and a.get("DeploymentID") != d["ID"]]
                if healthy < g["DesiredTotal"] or old_live:
                    done = False
                if g["_progress_by"] and now_ns() > g["_progress_by"] and healthy < g["DesiredTotal"]:
                    late = True
            if unhealthy or late:
                self._fail(d, job, "Failed due to unhealthy allocations" if unhealthy
                           else "Failed due to progress deadline", reregister)
                changed = True
            elif done:
                d["Status"] = "successful"
                d["StatusDescription"] = "Deployment completed successfully"
                self.state.mark_stable(d["Namespace"], d["JobID"], d["JobVersion"])
                log.info(C, "deployment successful", deployment_id=d["ID"], job=d["JobID"])
                changed = True
            if changed:
                self.state.bump()
                d["ModifyIndex"] = self.state.index

    def _fail(self, d, job, why, reregister):
        d["Status"] = "failed"
        d["StatusDescription"] = why
        log.warn(C, "deployment failed", deployment_id=d["ID"], job=d["JobID"], reason=why)
        if not any(g["AutoRevert"] for g in d["TaskGroups"].values()):
            return
        versions = self.d["versions"].get("%s/%s" % (d["Namespace"], d["JobID"]), [])
        stable = [v for v in versions if v.get("Stable") and v["Version"] < d["JobVersion"]]
        if not stable:
            return
        target = stable[-1]
        d["StatusDescription"] = "%s - rolling back to job version %d" % (why, target["Version"])
        reregister(copy.deepcopy(target))

    # -- the loop ------------------------------------------------------------
    def tick(self, reregister):
        with self.state.lock:
            self._check_heartbeats()
            for job in list(self.d["jobs"].values()):
                self.reconcile(job)
            self._watch_deployments(reregister)
            self._drains()
            for job in self.d["jobs"].values():
                self._job_status(job)
            self._gc()
            if self.state.dirty:
                self.state.bump()

    def _gc(self):
        """Terminal allocations of purged jobs go, as Nomad's GC takes them."""
        jobs = self.d["jobs"]
        for aid, a in list(self.d["allocs"].items()):
            if "%s/%s" % (a["Namespace"], a["JobID"]) not in jobs and a["ClientStatus"] in TERMINAL_CLIENT:
                del self.d["allocs"][aid]
                self.state.dirty = True
        for did, d in list(self.d["deployments"].items()):
            if "%s/%s" % (d["Namespace"], d["JobID"]) not in jobs:
                del self.d["deployments"][did]
                self.state.dirty = True

    def _job_status(self, job):
        allocs = self.state.allocs_of_job(job["Namespace"], job["ID"])
        if job.get("Stop"):
            status = "dead"
        elif any(a["ClientStatus"] not in TERMINAL_CLIENT and a["DesiredStatus"] == "run" for a in allocs):
            status = "running"
        elif job["Type"] in ("batch", "sysbatch") and allocs and all(a["ClientStatus"] in TERMINAL_CLIENT for a in allocs):
            status = "dead"
        else:
            status = "pending"
        if job.get("Status") != status:
            job["Status"] = status
            self.state.bump()
            job["ModifyIndex"] = self.state.index
