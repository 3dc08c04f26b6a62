"""The replicated state of a Nomad region: nodes, jobs and their versions,
evaluations, allocations, deployments, ACL tokens. Changed only on the
leader, under the lock; followers receive whole snapshots."""
import copy
import json
import threading

from .util import new_uuid, now_ns

MAX_VERSIONS = 6
MAX_EVALS = 20
TERMINAL_CLIENT = ("complete", "failed", "lost")


def job_key(ns, jid):
    return "%s/%s" % (ns or "default", jid)


class NomadState:
    def __init__(self):
        self.lock = threading.RLock()
        self.index = 1
        self.dirty = False
        self.data = {"nodes": {}, "jobs": {}, "versions": {}, "evals": {}, "allocs": {},
                     "deployments": {}, "acl": {"bootstrap_index": 0, "tokens": {}, "policies": {}}}

    # -- replication ---------------------------------------------------------
    def snapshot(self):
        with self.lock:
            return {"index": self.index, "data": json.loads(json.dumps(self.data))}

    def restore(self, snap):
        with self.lock:
            self.index = snap["index"]
            self.data = snap["data"]

    def bump(self):
        self.dirty = False
        self.index += 1
        return self.index

    # -- evaluations ---------------------------------------------------------
    def new_eval(self, job, trigger, node_id="", deployment_id=""):
        ev = {"ID": new_uuid(), "Namespace": job.get("Namespace", "default"), "Priority": job.get("Priority", 50),
              "Type": job.get("Type", "service"), "TriggeredBy": trigger, "JobID": job["ID"],
              "JobModifyIndex": job.get("JobModifyIndex", 0), "NodeID": node_id,
              "DeploymentID": deployment_id, "Status": "complete", "StatusDescription": "",
              "FailedTGAllocs": None, "QueuedAllocations": {}, "CreateIndex": self.index,
              "ModifyIndex": self.index, "CreateTime": now_ns(), "ModifyTime": now_ns()}
        evs = self.data["evals"].setdefault(job_key(job.get("Namespace"), job["ID"]), [])
        evs.append(ev)
        del evs[:-MAX_EVALS]
        return ev

    # -- jobs ----------------------------------------------------------------
    def job(self, ns, jid):
        return self.data["jobs"].get(job_key(ns, jid))

    def register_job(self, job, spec_of):
        """Stores a canonical job; a changed spec makes a new version.
        Returns (job, created_new_version)."""
        key = job_key(job["Namespace"], job["ID"])
        idx = self.bump()
        old = self.data["jobs"].get(key)
        job = copy.deepcopy(job)
        job["SubmitTime"] = now_ns()
        job["ModifyIndex"] = idx
        job["JobModifyIndex"] = idx
        job["Stop"] = bool(job.get("Stop", False))
        changed = True
        if old is None:
            job["Version"] = 0
            job["CreateIndex"] = idx
        else:
            job["CreateIndex"] = old["CreateIndex"]
            changed = spec_of(old) != spec_of(job) or old.get("Stop") != job["Stop"]
            job["Version"] = old["Version"] + 1 if changed else old["Version"]
            if not changed:
                job["Stable"] = old.get("Stable", False)
                job["JobModifyIndex"] = old["JobModifyIndex"]
        job.setdefault("Stable", False)
        job["Status"] = "pending" if old is None else old.get("Status", "pending")
        job["StatusDescription"] = ""
        self.data["jobs"][key] = job
        if changed:
            vs = self.data["versions"].setdefault(key, [])
            vs.append(copy.deepcopy(job))
            del vs[:-MAX_VERSIONS]
        return job, changed

    def mark_stable(self, ns, jid, version):
        key = job_key(ns, jid)
        for v in self.data["versions"].get(key, []):
            if v["Version"] == version:
                v["Stable"] = True
        j = self.data["jobs"].get(key)
        if j and j["Version"] == version:
            j["Stable"] = True

    def stop_job(self, ns, jid, purge):
        key = job_key(ns, jid)
        job = self.data["jobs"].get(key)
        idx = self.bump()
        if purge:
            self.data["jobs"].pop(key, None)
            self.data["versions"].pop(key, None)
            stopped = dict(job, Stop=True)
        else:
            job["Stop"] = True
            job["ModifyIndex"] = idx
            job["JobModifyIndex"] = idx
            job["Version"] += 1
            vs = self.data["versions"].setdefault(key, [])
            vs.append(copy.deepcopy(job))
            del vs[:-MAX_VERSIONS]
            stopped = job
        return stopped, idx

    # -- allocations ---------------------------------------------------------
    def allocs_of_job(self, ns, jid):
        return [a for a in self.data["allocs"].values() if a["JobID"] == jid and a["Namespace"] == (ns or "default")]

    def allocs_of_node(self, node_id):
        return [a for a in self.data["allocs"].values() if a["NodeID"] == node_id]

    def touch_alloc(self, a):
        self.dirty = True
        a["ModifyIndex"] = self.index
        a["ModifyTime"] = now_ns()

    @staticmethod
    def alloc_stub(a):
        keys = ("ID", "EvalID", "Name", "Namespace", "NodeID", "NodeName", "JobID", "JobType", "JobVersion",
                "TaskGroup", "AllocatedResources", "DesiredStatus", "DesiredDescription", "ClientStatus",
                "ClientDescription", "DesiredTransition", "TaskStates", "DeploymentStatus", "FollowupEvalID",
                "RescheduleTracker", "PreemptedAllocations", "PreemptedByAllocation", "CreateIndex",
                "ModifyIndex", "CreateTime", "ModifyTime")
        return {k: a.get(k) for k in keys}

    def client_update_allocs(self, updates):
        """Status reports from a client: ClientStatus, TaskStates, health."""
        self.bump()
        for u in updates:
            a = self.data["allocs"].get(u["ID"])
            if a is None:
                continue
            if a["ClientStatus"] in TERMINAL_CLIENT and u.get("ClientStatus") not in TERMINAL_CLIENT:
                continue
            if a["ClientStatus"] == "lost":
                continue
            for k in ("ClientStatus", "ClientDescription", "TaskStates"):
                if k in u:
                    a[k] = u[k]
            ds = u.get("DeploymentStatus")
            if ds and a.get("DeploymentID") and (a.get("DeploymentStatus") or {}).get("Healthy") is None:
                a["DeploymentStatus"] = {"Healthy": ds.get("Healthy"), "Timestamp": ds.get("Timestamp"),
                                         "Canary": False, "ModifyIndex": self.index}
            self.touch_alloc(a)

    # -- nodes ---------------------------------------------------------------
    @staticmethod
    def node_stub(n, resources=False):
        keys = ("Address", "ID", "Attributes", "Datacenter", "Name", "NodeClass", "NodePool", "Version",
                "Drain", "SchedulingEligibility", "Status", "StatusDescription", "Drivers", "HostVolumes",
                "NodeResources", "ReservedResources", "LastDrain", "CreateIndex", "ModifyIndex")
        out = {k: n.get(k) for k in keys}
        if not resources:
            out.pop("NodeResources")
            out.pop("ReservedResources")
        out.pop("Attributes")
        return out

    @staticmethod
    def node_public(n):
        return {k: v for k, v in n.items() if k != "SecretID"}


    def node_event(self, n, message, subsystem="Cluster"):
        n.setdefault("Events", []).append({"Message": message, "Subsystem": subsystem, "Details": None,
                                           "Timestamp": now_ns(), "CreateIndex": self.index})
        del n["Events"][:-10]

    def upsert_node(self, node):
        idx = self.bump()
        old = self.data["nodes"].get(node["ID"])
        if old is None:
            node["CreateIndex"] = idx
            node["SchedulingEligibility"] = "eligible"
            node["Drain"] = False
            node["DrainStrategy"] = None
            node["LastDrain"] = None
            node["Events"] = []
            self.node_event(node, "Node registered")
        else:
            for k in ("CreateIndex", "SchedulingEligibility", "Drain", "DrainStrategy", "LastDrain", "Events"):
                node[k] = old.get(k)
        node["ModifyIndex"] = idx
        node["StatusUpdatedAt"] = now_ns() // 10**9
        self.data["nodes"][node["ID"]] = node
        return node

    def set_node_status(self, n, status, why=""):
        if n["Status"] == status:
            return
        self.bump()
        n["Status"] = status
        n["StatusDescription"] = why
        n["ModifyIndex"] = self.index
        n["StatusUpdatedAt"] = now_ns() // 10**9
        self.node_event(n, "Node heartbeat missed" if status == "down" else "Node reregistered by heartbeat")


def clean(obj):
    """What the API shows: the leader's private bookkeeping (keys starting
    with "_") removed, at any depth."""
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, list):
        return [clean(v) for v in obj]
    return obj
