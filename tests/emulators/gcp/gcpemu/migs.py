"""Zonal managed instance groups: targetSize instances from a template, kept at that size.

A background loop converges each group: missing members are created from the
current template (named baseInstanceName-xxxx, or their old name when the
instance was deleted behind the group's back), each taking as long as an
instance insert; surplus members go (those still being created first, then
the newest); members join and leave the group's target pools. A failed
creation (quota, no pool host) is kept as the member's lastAttempt and tried
again.
"""
import collections
import time

from . import errors, listing, refs
from .core import public
from .errors import OperationError
from .instances import background_context
from .resources import Base
from .server import handles

_ACTIONS = ("abandoning", "creating", "creatingWithoutRetries", "deleting", "none",
            "recreating", "refreshing", "restarting", "verifying")
_RETRY = 5.0  # Google seconds between creation attempts of a failed member


class Groups(Base):
    def __init__(self, emulator):
        super().__init__(emulator)
        emulator.add_ticker(0.05, self.tick)

    @property
    def instances(self):
        return self.emulator.services["instances"]

    @property
    def lb(self):
        return self.emulator.services["lb"]

    # -- the API ---------------------------------------------------------------------
    def _pools(self, ctx, links, field):
        out = []
        region = ctx.zone.rsplit("-", 1)[0]
        for i, link in enumerate(links or []):
            pool = self.ref(ctx, link, "%s[%d]" % (field, i), "targetPools")
            if refs.last(pool["region"]) != region:
                raise errors.invalid_field("%s[%d]" % (field, i), link, "The target pool must "
                                           "be in the group's region '%s'." % region)
            out.append(pool["selfLink"])
        return out

    @handles("compute.instanceGroupManagers.insert")
    def insert(self, ctx):
        body = dict(ctx.body)
        if body["targetSize"] < 0:
            raise errors.invalid_field("resource.targetSize", str(body["targetSize"]),
                                       "Must be greater than or equal to 0.")
        if not body.get("instanceTemplate"):
            raise errors.required_field("resource.instanceTemplate")
        template = self.ref(ctx, body["instanceTemplate"], "resource.instanceTemplate",
                            "instanceTemplates")
        pools = self._pools(ctx, body.get("targetPools"), "resource.targetPools")
        item = self.new(ctx, "instanceGroupManagers", body,
                        keep=("name", "description", "baseInstanceName", "targetSize",
                              "namedPorts"))
        item.update({"instanceTemplate": template["selfLink"], "targetPools": pools,
                     "instanceGroup": refs.link(ctx.project.name, ctx.scope, "instanceGroups",
                                                body["name"]),
                     "fingerprint": refs.fingerprint(pools),
                     "_members": collections.OrderedDict()})
        if not pools:
            del item["targetPools"]
        self._summarize(item)
        return self.insert_simple(ctx, "instanceGroupManagers", item)

    def _describe(self, group):
        self._summarize(group)
        return public(group)

    @handles("compute.instanceGroupManagers.get")
    def get(self, ctx):
        return self._describe(self.find(ctx, "instanceGroupManagers",
                                        ctx.params["instanceGroupManager"]))

    @handles("compute.instanceGroupManagers.list")
    def list(self, ctx):
        for group in ctx.project.coll(ctx.scope, "instanceGroupManagers").values():
            self._summarize(group)
        return self.list_items(ctx, "instanceGroupManagers")

    @handles("compute.instanceGroupManagers.aggregatedList")
    def aggregated(self, ctx):
        for _, items in ctx.project.scopes_of("instanceGroupManagers"):
            for group in items.values():
                self._summarize(group)
        return self.aggregated_items(ctx, "instanceGroupManagers", "zones")

    def _op(self, ctx, group, verb, apply, gate=None):
        return self.ops.start(ctx, group["selfLink"], "compute.instanceGroupManagers." + verb,
                              apply, gate=gate, target_id=group["id"])

    @handles("compute.instanceGroupManagers.resize")
    def resize(self, ctx):
        group = self.find(ctx, "instanceGroupManagers", ctx.params["instanceGroupManager"])
        size = ctx.params["size"]
        if size < 0:
            raise errors.invalid_field("size", str(size), "Must be greater than or equal to 0.")

        def apply():
            group["targetSize"] = size
        return self._op(ctx, group, "resize", apply)

    @handles("compute.instanceGroupManagers.setInstanceTemplate")
    def set_template(self, ctx):
        group = self.find(ctx, "instanceGroupManagers", ctx.params["instanceGroupManager"])
        field = ctx.method.body_root() + ".instanceTemplate"
        template = self.ref(ctx, ctx.body.get("instanceTemplate"), field, "instanceTemplates")

        def apply():
            group["instanceTemplate"] = template["selfLink"]
        return self._op(ctx, group, "setInstanceTemplate", apply)

    @handles("compute.instanceGroupManagers.setTargetPools")
    def set_target_pools(self, ctx):
        group = self.find(ctx, "instanceGroupManagers", ctx.params["instanceGroupManager"])
        body = ctx.body
        if body.get("fingerprint") not in (None, group["fingerprint"]):
            raise errors.condition_not_met("Supplied fingerprint does not match current "
                                           "fingerprint of the instance group manager.")
        pools = self._pools(ctx, body.get("targetPools"),
                            ctx.method.body_root() + ".targetPools")
        project = ctx.project

        def apply():
            old = set(group.get("targetPools", []))
            for member in group["_members"].values():
                link = member["instance"]
                for pool in old - set(pools):
                    self.lb.remove_member(project, pool, link)
                if member["state"] == "running":
                    for pool in set(pools) - old:
                        self.lb.add_member(project, pool, link)
            if pools:
                group["targetPools"] = pools
            else:
                group.pop("targetPools", None)
            group["fingerprint"] = refs.fingerprint(pools)
        return self._op(ctx, group, "setTargetPools", apply)

    def _members_named(self, ctx, group, links, field):
        out = []
        for i, link in enumerate(links or []):
            name = refs.last(link)
            member = group["_members"].get(name)
            if member is None or member["state"] == "deleting":
                raise errors.invalid_field("%s[%d]" % (field, i), link, "The instance is not "
                                           "a member of the instance group manager.")
            out.append(member)
        return out

    @handles("compute.instanceGroupManagers.deleteInstances")
    def delete_instances(self, ctx):
        group = self.find(ctx, "instanceGroupManagers", ctx.params["instanceGroupManager"])
        members = self._members_named(ctx, group, ctx.body.get("instances"),
                                      ctx.method.body_root() + ".instances")
        project, zone = ctx.project, ctx.zone

        def apply():
            for member in members:
                if member["state"] != "deleting":
                    group["targetSize"] = max(0, group["targetSize"] - 1)
                    self._drop(project, zone, group, member)
        return self._op(ctx, group, "deleteInstances", apply)

    @handles("compute.instanceGroupManagers.recreateInstances")
    def recreate_instances(self, ctx):
        group = self.find(ctx, "instanceGroupManagers", ctx.params["instanceGroupManager"])
        members = self._members_named(ctx, group, ctx.body.get("instances"),
                                      ctx.method.body_root() + ".instances")
        project, zone = ctx.project, ctx.zone

        def apply():
            for member in members:
                if member["state"] != "deleting":
                    member["recreate"] = True
                    self._drop(project, zone, group, member, keep=True)
        return self._op(ctx, group, "recreateInstances", apply)

    @handles("compute.instanceGroupManagers.listManagedInstances")
    def list_managed(self, ctx):
        group = self.find(ctx, "instanceGroupManagers", ctx.params["instanceGroupManager"])
        items = [self._managed(ctx.project, ctx.zone, m) for m in group["_members"].values()]
        keep = listing.compile_filter(ctx.params.get("filter"),
                                      set(ctx.method.doc.schema("ManagedInstance")["properties"]))
        items = [i for i in items if keep(i)]
        return {"managedInstances": items} if items else {}

    @handles("compute.instanceGroupManagers.delete")
    def delete(self, ctx):
        group = self.find(ctx, "instanceGroupManagers", ctx.params["instanceGroupManager"])
        project, scope = ctx.project, ctx.scope
        group["_deleting"] = True

        def apply():
            project.coll(scope, "instanceGroupManagers").pop(group["name"], None)
        return self._op(ctx, group, "delete", apply, gate=lambda: not group["_members"])

    # -- members ------------------------------------------------------------------------
    def _managed(self, project, zone, member):
        out = {"instance": member["instance"], "currentAction": member["action"]}
        inst = member.get("inst")
        if inst is not None and member["state"] in ("running", "deleting"):
            out["id"] = inst["id"]
            out["instanceStatus"] = inst["status"]
        if member.get("error") is not None:
            out["lastAttempt"] = {"errors": {"errors": member["error"].errors()}}
        return out

    def _summarize(self, group):
        counts = dict.fromkeys(_ACTIONS, 0)
        for member in group["_members"].values():
            counts[{"CREATING": "creating", "DELETING": "deleting", "NONE": "none",
                    "RECREATING": "recreating"}[member["action"]]] += 1
        group["currentActions"] = counts
        # Stable: every member made and idle, as many as the target, nothing
        # scheduled (a deleted group or a member awaiting creation is not).
        members = group["_members"].values()
        group["status"] = {"isStable": not group.get("_deleting") and
                           len(members) == group["targetSize"] and
                           all(m["action"] == "NONE" and m["state"] == "running"
                               for m in members)}

    def _new_name(self, project, zone, group):
        taken = set(project.coll("zones/" + zone, "instances")) | set(group["_members"])
        taken |= {n for (s, c, n) in project.pending_names if c == "instances"}
        while True:
            name = "%s-%s" % (group["baseInstanceName"], self.ids.letters(4))
            if name not in taken:
                return name

    def _drop(self, project, zone, group, member, keep=False):
        """Start deleting a member's instance; keep: the member comes back (recreate)."""
        for pool in group.get("targetPools", []):
            self.lb.remove_member(project, pool, member["instance"])
        inst = member.get("inst")
        member["state"] = "deleting"
        member["action"] = "RECREATING" if keep else "DELETING"
        member["recreate"] = bool(keep)
        if inst is None:
            return
        if inst.get("_committed"):
            self.instances.begin_delete(inst)
        else:
            self.instances.release(inst)

    def _launch(self, project, zone, group, member):
        """One creation attempt from the group's current template."""
        scope = "zones/" + zone
        ctx = background_context(project)
        template = None
        for item in project.coll("global", "instanceTemplates").values():
            if item["selfLink"] == group["instanceTemplate"]:
                template = item
        name = member["name"]
        member["next_try"] = time.monotonic() + self.emulator.config.scaled(_RETRY)
        try:
            if template is None:
                raise OperationError("RESOURCE_NOT_FOUND", "The resource '%s' was not found"
                                     % group["instanceTemplate"], 404)
            if name in project.coll(scope, "instances"):
                raise OperationError("RESOURCE_ALREADY_EXISTS", "The resource '%s' already "
                                     "exists" % refs.path(project.name, scope, "instances",
                                                          name), 409)
            props = dict(public(template["properties"]), name=name)
            # As Google does, a member says which template and group made it.
            metadata = dict(props.get("metadata") or {})
            metadata["items"] = [i for i in metadata.get("items") or []
                                 if i.get("key") not in ("instance-template", "created-by")] + [
                {"key": "instance-template", "value": template["selfLink"]},
                {"key": "created-by", "value": refs.path(project.name, scope,
                                                         "instanceGroupManagers",
                                                         group["name"])}]
            props["metadata"] = metadata
            try:
                inst = self.instances.materialize(ctx, zone, props, name, "resource",
                                                  template=True)
            except errors.ApiError as e:
                raise OperationError.from_api(e)
            quota = self.instances.quota_error(project, zone, inst)
            if quota is not None:
                raise quota
            self.instances.place(project, inst, with_host=True)
            if self.instances.pool.enabled and inst["_host"] is None:
                self.instances.release(inst)
                raise OperationError(
                    "ZONE_RESOURCE_POOL_EXHAUSTED", "The zone 'projects/%s/zones/%s' does not "
                    "have enough resources available to fulfill the request.  Try a different "
                    "zone, or try again later." % (project.name, zone), 503)
        except OperationError as e:
            member["error"] = e
            return
        member["error"] = None
        inst["_mig"] = group["selfLink"]
        self.instances.boot(inst)
        # The name is taken while the instance is made, as an insert's is.
        project.pending_items[(scope, "instances", name)] = inst
        project.pending_names[(scope, "instances", name)] = group["selfLink"]
        member.update(inst=inst, state="launching", since=time.monotonic())

    @staticmethod
    def _unreserve(project, scope, name):
        project.pending_items.pop((scope, "instances", name), None)
        project.pending_names.pop((scope, "instances", name), None)

    def tick(self):
        for project in self.emulator.projects.values():
            for scope, items in project.scopes_of("instanceGroupManagers"):
                zone = scope.split("/", 1)[1]
                for group in list(items.values()):
                    self._converge(project, zone, group)

    def _converge(self, project, zone, group):
        scope = "zones/" + zone
        now = time.monotonic()
        members = group["_members"]
        target = 0 if group.get("_deleting") else group["targetSize"]
        for name, member in list(members.items()):
            inst = member.get("inst")
            if member["state"] == "launching":
                if now - member["since"] >= self.emulator.config.operation_seconds and \
                        inst["_ready"]:
                    self._unreserve(project, scope, name)
                    self.instances.commit(project, zone, inst)
                    inst["_committed"] = True
                    member.update(state="running", action="NONE")
                    for pool in group.get("targetPools", []):
                        self.lb.add_member(project, pool, member["instance"])
            elif member["state"] == "running":
                if project.coll(scope, "instances").get(name) is not inst:
                    # Deleted behind the group's back: the group makes it again.
                    member.update(state="waiting", action="CREATING", inst=None, next_try=0)
                    for pool in group.get("targetPools", []):
                        self.lb.remove_member(project, pool, member["instance"])
            elif member["state"] == "deleting":
                if inst is None or inst.get("_cleaned", True):
                    self._unreserve(project, scope, name)
                    if inst is not None and inst.get("_committed"):
                        self.instances.remove(project, zone, inst)
                    if member.get("recreate") and not group.get("_deleting"):
                        member.update(state="waiting", action="RECREATING", inst=None,
                                      next_try=0, recreate=False)
                    else:
                        del members[name]
        # A member being recreated still counts: the group makes it again,
        # not another one in its place.
        live = [m for m in members.values() if m["state"] != "deleting" or m.get("recreate")]
        while len(live) < target:
            name = self._new_name(project, zone, group)
            member = {"name": name, "instance": refs.link(project.name, scope, "instances",
                                                          name),
                      "state": "waiting", "action": "CREATING", "next_try": 0, "error": None}
            members[name] = member
            live.append(member)
        if len(live) > target:
            order = {"waiting": 0, "deleting": 1, "launching": 2, "running": 3}
            victims = sorted(live, key=lambda m: (order[m["state"]],
                                                  -(m.get("since") or 0)))[:len(live) - target]
            for member in victims:
                if member["state"] == "deleting":
                    member.update(recreate=False, action="DELETING")
                else:
                    self._drop(project, zone, group, member)
        for member in members.values():
            if member["state"] == "waiting" and now >= member["next_try"]:
                self._launch(project, zone, group, member)
        self._summarize(group)
