"""Nomad's HTTP API (v1): the routes, the ACL each needs, and their answers.
Agent-local routes run on the agent that receives them; the others run on
the leader of the region the request names (forwarded like Nomad's RPCs)."""
import re
import time

from . import log, nomad_jobs
from .httpd import HTTPError, Response
from .nomad_jobs import JobError
from .nomad_state import NomadState, clean, TERMINAL_CLIENT
from .util import parse_duration

C = "http"
ROUTES = []


def route(methods, pattern, need=None, local=False):
    def deco(fn):
        ROUTES.append((set(methods.split()), re.compile("^" + pattern + "$"), fn, need, local))
        return fn
    return deco


def _ns(req):
    return req.q("namespace") or "default"


class NomadAPI:
    def __init__(self, agent):
        self.agent = agent
        self.cfg = agent.cfg

    @property
    def state(self):
        return self.agent.state

    def match(self, req):
        allowed = False
        for methods, rx, fn, need, local in ROUTES:
            m = rx.match(req.path)
            if not m:
                continue
            allowed = True
            if req.method in methods:
                return fn, m.groups(), need, local
        if allowed:
            raise HTTPError(405, "Invalid method")
        raise HTTPError(404, "Invalid URL path")

    def need_for(self, need, req):
        if need is None:
            return None
        if isinstance(need, str) and need.startswith("ns:"):
            return ("namespace", _ns(req), need[3:])
        if need == "management":
            return ("management",)
        res, level = need.split(":")
        return (res, level)

    def run(self, fn, args, need, req, ident_fn):
        ident = ident_fn(req.headers.get("x-nomad-token") or _bearer(req), self.need_for(need, req))
        return fn(self, req, ident, *args)

    def wrap(self, body, status=200):
        st = self.agent.state
        headers = {"X-Nomad-Index": str(st.index if st else 1),
                   "X-Nomad-KnownLeader": "true" if self.agent.known_leader() else "false",
                   "X-Nomad-LastContact": "0"}
        return Response(status, clean(body), headers)

    def block(self, req):
        """Blocking query: wait while the state index is not past ?index."""
        idx = req.q("index")
        if req.method != "GET" or not idx or not idx.isdigit() or self.state is None:
            return
        wait = min(parse_duration(req.q("wait") or "5m"), 600 * 10**9) / 1e9
        deadline = time.monotonic() + wait
        while self.state.index <= int(idx) and time.monotonic() < deadline:
            time.sleep(0.1)


def _bearer(req):
    a = req.headers.get("authorization", "")
    return a[7:].strip() if a.lower().startswith("bearer ") else ""


# -- agent-local -------------------------------------------------------------
@route("GET", "/v1/agent/self", need="agent:read", local=True)
def agent_self(api, req, ident):
    return api.wrap(api.agent.self_info())


@route("GET", "/v1/agent/health", local=True)
def agent_health(api, req, ident):
    body, ok = {}, True
    kind = req.q("type")
    if api.cfg.client and kind in (None, "client"):
        reg = api.agent.client.registered
        body["client"] = {"ok": reg, "message": "ok" if reg else "no known servers"}
        ok = ok and reg
    if api.cfg.server and kind in (None, "server"):
        leader = bool(api.agent.known_leader())
        body["server"] = {"ok": leader, "message": "ok" if leader else "No cluster leader"}
        ok = ok and leader
    return Response(200 if ok else 500, body)


@route("GET", "/v1/agent/members", need="node:read", local=True)
def agent_members(api, req, ident):
    if not api.cfg.server:
        return api.agent.forward_to_server(req)
    return api.wrap(api.agent.members())


@route("PUT POST", "/v1/agent/join", need="agent:write", local=True)
def agent_join(api, req, ident):
    if not api.cfg.server:
        raise HTTPError(501, "Invalid method")
    addrs = req.query.get("address") or []
    if not addrs:
        raise HTTPError(400, "missing address to join")
    n, errors = api.agent.serf.join(addrs, 4648)
    err = ""
    if errors:
        err = "%d error%s occurred:\n%s\n" % (len(errors), "" if len(errors) == 1 else "s",
                                              "".join("\t* %s\n" % e for e in errors))
    return Response(200, {"num_joined": n, "error": err})


@route("PUT POST", "/v1/agent/force-leave", need="agent:write", local=True)
def agent_force_leave(api, req, ident):
    if not api.cfg.server:
        raise HTTPError(501, "Invalid method")
    node = req.q("node")
    if not node:
        raise HTTPError(400, "missing node to force leave")
    api.agent.serf.force_leave(node)
    return Response(200, None)


@route("GET PUT POST", "/v1/agent/servers", need="agent:read", local=True)
def agent_servers(api, req, ident):
    if not api.cfg.client:
        raise HTTPError(501, "Invalid method")
    c = api.agent.client
    if req.method == "GET":
        return Response(200, ["%s:%d" % s for s in c.servers])
    if not ident.allowed(("agent", "write")):
        raise HTTPError(403, "Permission denied")
    from .util import split_hostport
    addrs = req.query.get("address") or []
    if not addrs:
        raise HTTPError(400, "missing server address")
    c.servers = [split_hostport(a, 4647) for a in addrs]
    return Response(200, None)


@route("GET", "/v1/status/leader", local=True)
def status_leader(api, req, ident):
    return Response(200, api.agent.leader_addr(), {"X-Nomad-Index": "1"})


@route("GET", "/v1/status/peers", local=True)
def status_peers(api, req, ident):
    return Response(200, api.agent.peers())


@route("GET", "/v1/regions", local=True)
def regions(api, req, ident):
    if not api.cfg.server:
        return api.agent.forward_to_server(req)
    return Response(200, api.agent.regions())


@route("POST PUT", "/v1/jobs/parse", need="ns:parse-job", local=True)
def jobs_parse(api, req, ident):
    from . import jobspec
    try:
        body = nomad_jobs.decode_register(req.json(), "JobsParseRequest")
    except JobError as e:
        raise HTTPError(e.status, str(e))
    raw = req.json()
    variables = next((v for k, v in raw.items() if k.lower() == "variables"), "") or ""
    if body.get("hclv1"):
        raise HTTPError(400, "failed to parse job: HCLv1 job files are not supported, use HCL2")
    try:
        job = jobspec.parse_job(body.get("JobHCL", ""), variables)
    except jobspec.JobspecError as e:
        raise HTTPError(400, str(e))
    if body.get("Canonicalize"):
        job = nomad_jobs.canonicalize(job, "global")
    return Response(200, job)


# -- jobs ----------------------------------------------------------------------
def _job_stub(st, j):
    return {"ID": j["ID"], "ParentID": j.get("ParentID", ""), "Name": j["Name"], "Namespace": j["Namespace"],
            "Datacenters": j["Datacenters"], "Multiregion": None, "Type": j["Type"], "Priority": j["Priority"],
            "Periodic": False, "ParameterizedJob": False, "Stop": j.get("Stop", False), "Status": j["Status"],
            "StatusDescription": "", "JobSummary": _summary(st, j), "CreateIndex": j["CreateIndex"],
            "ModifyIndex": j["ModifyIndex"], "JobModifyIndex": j["JobModifyIndex"], "SubmitTime": j["SubmitTime"],
            "Meta": j.get("Meta")}


def _summary(st, j):
    out = {}
    allocs = st.allocs_of_job(j["Namespace"], j["ID"])
    for tg in j["TaskGroups"]:
        s = {"Queued": 0, "Complete": 0, "Failed": 0, "Running": 0, "Starting": 0, "Lost": 0, "Unknown": 0}
        mine = [a for a in allocs if a["TaskGroup"] == tg["Name"]]
        for a in mine:
            key = {"pending": "Starting", "running": "Running", "complete": "Complete", "failed": "Failed",
                   "lost": "Lost", "unknown": "Unknown"}.get(a["ClientStatus"])
            if key:
                s[key] += 1
        live = sum(1 for a in mine if a["DesiredStatus"] == "run" and a["ClientStatus"] not in TERMINAL_CLIENT)
        if not j.get("Stop") and j["Type"] in ("service",):
            s["Queued"] = max(0, tg["Count"] - live)
        out[tg["Name"]] = s
    return {"JobID": j["ID"], "Namespace": j["Namespace"], "Summary": out,
            "Children": {"Pending": 0, "Running": 0, "Dead": 0}, "CreateIndex": j["CreateIndex"],
            "ModifyIndex": j["ModifyIndex"]}


@route("GET", "/v1/jobs", need="ns:list-jobs")
def jobs_list(api, req, ident):
    api.block(req)
    st, prefix, ns = api.state, req.q("prefix", ""), _ns(req)
    with st.lock:
        jobs = [_job_stub(st, j) for j in st.data["jobs"].values()
                if j["ID"].startswith(prefix) and (ns == "*" or j["Namespace"] == ns)]
    return api.wrap(sorted(jobs, key=lambda j: j["ID"]))


def _register(api, req, ident, path_id=None):
    try:
        body = nomad_jobs.decode_register(req.json())
    except JobError as e:
        raise HTTPError(e.status, str(e))
    job = body.get("Job")
    if not job:
        raise HTTPError(400, "Job must be specified")
    if path_id is not None and job.get("ID") != path_id:
        raise HTTPError(400, "Job ID does not match name")
    if body.get("Namespace") and not job.get("Namespace"):
        job["Namespace"] = body["Namespace"]
    job["Namespace"] = job.get("Namespace") or _ns(req)
    if not ident.allowed(("namespace", job["Namespace"], "submit-job")):
        raise HTTPError(403, "Permission denied")
    job = nomad_jobs.canonicalize(job, api.cfg.region)
    job["Region"] = api.cfg.region
    try:
        nomad_jobs.validate(job)
    except JobError as e:
        raise HTTPError(e.status, str(e))
    out = api.agent.register_job(job, body)
    return api.wrap(out)


@route("POST PUT", "/v1/jobs")
def jobs_register(api, req, ident):
    return _register(api, req, ident)


@route("GET POST PUT DELETE", "/v1/job/([^/]+)")
def job_one(api, req, ident, jid):
    if req.method in ("POST", "PUT"):
        return _register(api, req, ident, jid)
    st, ns = api.state, _ns(req)
    if req.method == "DELETE":
        if not ident.allowed(("namespace", ns, "submit-job")):
            raise HTTPError(403, "Permission denied")
        return api.wrap(api.agent.deregister_job(ns, jid, req.flag("purge")))
    if not ident.allowed(("namespace", ns, "read-job")):
        raise HTTPError(403, "Permission denied")
    api.block(req)
    j = st.job(ns, jid)
    if j is None:
        raise HTTPError(404, "job not found")
    return api.wrap(j)


def _job_or_404(api, req, ident, jid):
    ns = _ns(req)
    if not ident.allowed(("namespace", ns, "read-job")):
        raise HTTPError(403, "Permission denied")
    api.block(req)
    j = api.state.job(ns, jid)
    if j is None:
        raise HTTPError(404, "job not found")
    return j


@route("GET", "/v1/job/([^/]+)/allocations")
def job_allocs(api, req, ident, jid):
    ns = _ns(req)
    if not ident.allowed(("namespace", ns, "read-job")):
        raise HTTPError(403, "Permission denied")
    api.block(req)
    st = api.state
    with st.lock:
        allocs = [NomadState.alloc_stub(a) for a in st.allocs_of_job(ns, jid)]
    return api.wrap(sorted(allocs, key=lambda a: a["CreateIndex"]))


def _deployments_of(st, ns, jid):
    return sorted((d for d in st.data["deployments"].values() if d["JobID"] == jid and d["Namespace"] == ns),
                  key=lambda d: d["CreateIndex"], reverse=True)


@route("GET", "/v1/job/([^/]+)/deployment")
def job_deployment(api, req, ident, jid):
    _job_or_404(api, req, ident, jid)
    deps = _deployments_of(api.state, _ns(req), jid)
    return api.wrap(deps[0] if deps else None)


@route("GET", "/v1/job/([^/]+)/deployments")
def job_deployments(api, req, ident, jid):
    _job_or_404(api, req, ident, jid)
    return api.wrap(_deployments_of(api.state, _ns(req), jid))


@route("GET", "/v1/job/([^/]+)/summary")
def job_summary(api, req, ident, jid):
    j = _job_or_404(api, req, ident, jid)
    with api.state.lock:
        return api.wrap(_summary(api.state, j))


@route("GET", "/v1/job/([^/]+)/evaluations")
def job_evals(api, req, ident, jid):
    _job_or_404(api, req, ident, jid)
    return api.wrap(list(reversed(api.state.data["evals"].get("%s/%s" % (_ns(req), jid), []))))


@route("GET", "/v1/job/([^/]+)/versions")
def job_versions(api, req, ident, jid):
    _job_or_404(api, req, ident, jid)
    vs = api.state.data["versions"].get("%s/%s" % (_ns(req), jid), [])
    return api.wrap({"Versions": list(reversed(vs)), "Diffs": None})


# -- deployments, allocations, evaluations -----------------------------------
@route("GET", "/v1/deployments", need="ns:read-job")
def deployments(api, req, ident):
    api.block(req)
    return api.wrap(sorted(api.state.data["deployments"].values(), key=lambda d: d["CreateIndex"]))


@route("GET", "/v1/deployment/([^/]+)", need="ns:read-job")
def deployment(api, req, ident, did):
    api.block(req)
    d = api.state.data["deployments"].get(did)
    if d is None:
        raise HTTPError(404, "deployment not found")
    return api.wrap(d)


@route("GET", "/v1/deployment/allocations/([^/]+)", need="ns:read-job")
def deployment_allocs(api, req, ident, did):
    return api.wrap([NomadState.alloc_stub(a) for a in api.state.data["allocs"].values()
                     if a.get("DeploymentID") == did])


@route("POST PUT", "/v1/deployment/fail/([^/]+)", need="ns:submit-job")
def deployment_fail(api, req, ident, did):
    return api.wrap(api.agent.fail_deployment(did))


@route("GET", "/v1/allocations", need="ns:read-job")
def allocations(api, req, ident):
    api.block(req)
    return api.wrap([NomadState.alloc_stub(a) for a in api.state.data["allocs"].values()])


@route("GET", "/v1/allocation/([^/]+)", need="ns:read-job")
def allocation(api, req, ident, aid):
    api.block(req)
    a = api.state.data["allocs"].get(aid)
    if a is None:
        raise HTTPError(404, "alloc not found")
    return api.wrap(a)


@route("POST PUT", "/v1/allocation/([^/]+)/stop", need="ns:alloc-lifecycle")
def allocation_stop(api, req, ident, aid):
    return api.wrap(api.agent.stop_alloc(aid))


@route("GET", "/v1/evaluation/([^/]+)", need="ns:read-job")
def evaluation(api, req, ident, eid):
    for evs in api.state.data["evals"].values():
        for e in evs:
            if e["ID"] == eid:
                return api.wrap(e)
    raise HTTPError(404, "eval not found")


# -- nodes ---------------------------------------------------------------------
@route("GET", "/v1/nodes", need="node:read")
def nodes(api, req, ident):
    api.block(req)
    prefix = req.q("prefix", "")
    with api.state.lock:
        out = [NomadState.node_stub(n, req.flag("resources")) for n in api.state.data["nodes"].values()
               if n["ID"].startswith(prefix)]
    return api.wrap(sorted(out, key=lambda n: n["ID"]))


def _node(api, nid):
    n = api.state.data["nodes"].get(nid)
    if n is None:
        matches = [x for k, x in api.state.data["nodes"].items() if k.startswith(nid)] if len(nid) >= 4 else []
        if len(matches) != 1:
            raise HTTPError(404, "node not found")
        n = matches[0]
    return n


@route("GET", "/v1/node/([^/]+)", need="node:read")
def node_one(api, req, ident, nid):
    api.block(req)
    return api.wrap(NomadState.node_public(_node(api, nid)))


@route("GET", "/v1/node/([^/]+)/allocations", need="node:read")
def node_allocs(api, req, ident, nid):
    n = _node(api, nid)
    return api.wrap([a for a in api.state.data["allocs"].values() if a["NodeID"] == n["ID"]])


@route("POST PUT", "/v1/node/([^/]+)/drain", need="node:write")
def node_drain(api, req, ident, nid):
    try:
        body = nomad_jobs.decode_register(req.json(), "NodeUpdateDrainRequest")
    except JobError as e:
        raise HTTPError(e.status, str(e))
    return api.wrap(api.agent.drain_node(_node(api, nid)["ID"], body))


@route("POST PUT", "/v1/node/([^/]+)/eligibility", need="node:write")
def node_eligibility(api, req, ident, nid):
    body = req.json()
    elig = next((v for k, v in body.items() if k.lower() == "eligibility"), None)
    if elig not in ("eligible", "ineligible"):
        raise HTTPError(400, "invalid scheduling eligibility %r" % elig)
    return api.wrap(api.agent.node_eligibility(_node(api, nid)["ID"], elig))


@route("POST PUT", "/v1/node/([^/]+)/purge", need="node:write")
def node_purge(api, req, ident, nid):
    return api.wrap(api.agent.purge_node(_node(api, nid)["ID"]))


# -- ACL -----------------------------------------------------------------------
@route("POST PUT", "/v1/acl/bootstrap")
def acl_bootstrap(api, req, ident):
    body = req.json() if req.body else {}
    secret = next((v for k, v in body.items() if k.lower() == "bootstrapsecret"), "") if isinstance(body, dict) else ""
    with api.state.lock:
        tok = api.agent.acl.bootstrap(secret)
    log.info("acl", "ACL bootstrap complete")
    return api.wrap(tok)


@route("GET", "/v1/acl/token/self")
def acl_token_self(api, req, ident):
    if not api.cfg.acl_enabled:
        raise HTTPError(400, "ACL support disabled")
    if ident.token is None:
        raise HTTPError(403, "ACL token not found")
    return api.wrap(ident.token)


@route("GET", "/v1/acl/tokens", need="management")
def acl_tokens(api, req, ident):
    return api.wrap([{k: v for k, v in t.items() if k != "SecretID"}
                     for t in api.state.data["acl"]["tokens"].values()])


@route("POST PUT", "/v1/acl/token", need="management")
def acl_token_create(api, req, ident):
    with api.state.lock:
        return api.wrap(api.agent.acl.create_token(req.json()))


@route("GET DELETE", "/v1/acl/token/([^/]+)", need="management")
def acl_token_one(api, req, ident, accessor):
    toks = api.state.data["acl"]["tokens"]
    if accessor not in toks:
        raise HTTPError(404, "ACL token not found")
    if req.method == "DELETE":
        with api.state.lock:
            api.state.bump()
            toks.pop(accessor)
        return api.wrap(None)
    return api.wrap(toks[accessor])


@route("GET", "/v1/acl/policies", need="management")
def acl_policies(api, req, ident):
    from .nomad_acl import public_policy
    return api.wrap([public_policy(p) for p in api.state.data["acl"]["policies"].values()])


@route("GET POST PUT DELETE", "/v1/acl/policy/([^/]+)", need="management")
def acl_policy(api, req, ident, name):
    from .nomad_acl import public_policy
    pols = api.state.data["acl"]["policies"]
    if req.method in ("POST", "PUT"):
        with api.state.lock:
            api.agent.acl.upsert_policy(name, req.json())
        return api.wrap(None)
    if name not in pols:
        raise HTTPError(404, "ACL policy not found")
    if req.method == "DELETE":
        with api.state.lock:
            api.state.bump()
            pols.pop(name)
        return api.wrap(None)
    return api.wrap(public_policy(pols[name]))


@route("GET", "/v1/operator/raft/configuration", need="operator:read")
def raft_configuration(api, req, ident):
    servers = []
    leader = api.agent.raft.known_leader()
    for p in api.agent.raft.peer_list():
        m = next((m for m in api.agent.serf.snapshot() if "%s:%s" % (m["Addr"], m["Tags"].get("port")) == p), None)
        servers.append({"ID": m["Tags"].get("id", p) if m else p, "Node": m["Name"] if m else p, "Address": p,
                        "Leader": p == leader, "Voter": True, "RaftProtocol": "3"})
    return api.wrap({"Servers": servers, "Index": api.state.index})
