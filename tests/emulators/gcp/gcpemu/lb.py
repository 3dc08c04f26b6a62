"""Network load balancing as Compute had it first: legacy HTTP health checks, target
pools (members, health) and regional forwarding rules."""
import ipaddress

from . import errors, refs
from .core import public
from .lb_health import HealthChecker
from .resources import Base
from .routers import allocate_public_ip, sync_address_users
from .server import handles

_HC_DEFAULTS = {"port": 80, "requestPath": "/", "checkIntervalSec": 5, "timeoutSec": 5,
                "healthyThreshold": 2, "unhealthyThreshold": 2}


class LoadBalancing(Base):
    def __init__(self, emulator):
        super().__init__(emulator)
        self.health = HealthChecker(emulator)

    def after_reset(self):
        self.health.clear()

    # -- membership, also for the groups ----------------------------------------------------
    def _pool(self, project, link):
        parts = link.split("/")
        return project.coll("regions/" + parts[-3], "targetPools").get(parts[-1])

    def add_member(self, project, pool_link, instance_link):
        pool = self._pool(project, pool_link)
        if pool is not None and instance_link not in pool.setdefault("instances", []):
            pool["instances"].append(instance_link)

    def remove_member(self, project, pool_link, instance_link):
        pool = self._pool(project, pool_link)
        if pool is not None and instance_link in pool.get("instances", []):
            pool["instances"].remove(instance_link)
            if not pool["instances"]:
                del pool["instances"]
        self.health.forget(pool_link, instance_link)

    def instance_gone(self, project, instance_link):
        for _, items in project.scopes_of("targetPools"):
            for pool in items.values():
                self.remove_member(project, pool["selfLink"], instance_link)

    # -- httpHealthChecks -----------------------------------------------------------------
    def _health_check(self, body, root="resource"):
        for key, value in _HC_DEFAULTS.items():
            body.setdefault(key, value)
        if not 1 <= body["port"] <= 65535:
            raise errors.invalid_field(root + ".port", str(body["port"]),
                                       "Must be between 1 and 65535.")
        for key in ("checkIntervalSec", "timeoutSec", "healthyThreshold", "unhealthyThreshold"):
            if body[key] < 1:
                raise errors.invalid_field("%s.%s" % (root, key), str(body[key]),
                                           "Must be greater than or equal to 1.")
        if body["timeoutSec"] > body["checkIntervalSec"]:
            raise errors.invalid_field(root + ".timeoutSec", str(body["timeoutSec"]),
                                       "timeoutSec must be less than or equal to "
                                       "checkIntervalSec.")
        if not body["requestPath"].startswith("/"):
            raise errors.invalid_field(root + ".requestPath", body["requestPath"],
                                       "The request path must start with '/'.")
        return body

    @handles("compute.httpHealthChecks.insert")
    def hc_insert(self, ctx):
        body = self._health_check(dict(ctx.body))
        return self.insert_simple(ctx, "httpHealthChecks", self.new(ctx, "httpHealthChecks",
                                                                    body))

    @handles("compute.httpHealthChecks.update", "compute.httpHealthChecks.patch")
    def hc_change(self, ctx):
        name = ctx.params["httpHealthCheck"]
        current = self.find(ctx, "httpHealthChecks", name)
        fixed = ("kind", "id", "creationTimestamp", "selfLink")
        if ctx.method.verb == "patch":
            merged = {k: v for k, v in public(current).items() if k not in fixed}
            merged.update(ctx.body)
        else:
            merged = dict(ctx.body)
        if merged.setdefault("name", name) != name:
            raise errors.invalid_field("resource.name", merged["name"], "The name of a health "
                                       "check cannot be changed.")
        body = self._health_check(merged)

        def apply():
            keep = {k: current[k] for k in fixed}
            current.clear()
            current.update(body)
            current.update(keep)
        return self.ops.start(ctx, current["selfLink"], ctx.method.verb, apply,
                              target_id=current["id"])

    @handles("compute.httpHealthChecks.get")
    def hc_get(self, ctx):
        return self.get_item(ctx, "httpHealthChecks", ctx.params["httpHealthCheck"])

    @handles("compute.httpHealthChecks.list")
    def hc_list(self, ctx):
        return self.list_items(ctx, "httpHealthChecks")

    @handles("compute.httpHealthChecks.delete")
    def hc_delete(self, ctx):
        def uses(item, link):
            return link in item.get("healthChecks", [])

        def check(hc):
            return self.in_use(hc, self.users(ctx, hc["selfLink"], ("targetPools", uses)),
                               "httpHealthChecks")
        return self.delete_simple(ctx, "httpHealthChecks", ctx.params["httpHealthCheck"], check)

    # -- targetPools --------------------------------------------------------------------------
    def _members(self, ctx, links, field):
        out = []
        for i, link in enumerate(links):
            inst = self.ref(ctx, link, "%s[%d]" % (field, i), "instances")
            if refs.last(inst["zone"]).rsplit("-", 1)[0] != ctx.region:
                raise errors.invalid_field("%s[%d]" % (field, i), link, "The instance must be "
                                           "in the target pool's region '%s'." % ctx.region)
            out.append(inst["selfLink"])
        return out

    def _checks(self, ctx, links, field):
        if len(links) > 1:
            raise errors.invalid_field(field, "", "A target pool can have at most one health "
                                       "check.")
        return [self.ref(ctx, link, "%s[%d]" % (field, i), "httpHealthChecks")["selfLink"]
                for i, link in enumerate(links)]

    @handles("compute.targetPools.insert")
    def pool_insert(self, ctx):
        body = dict(ctx.body)
        body["instances"] = self._members(ctx, body.get("instances") or [], "resource.instances")
        body["healthChecks"] = self._checks(ctx, body.get("healthChecks") or [],
                                            "resource.healthChecks")
        if body.get("backupPool"):
            raise errors.invalid_field("resource.backupPool", body["backupPool"],
                                       "Backup pools are not emulated.")
        body.setdefault("sessionAffinity", "NONE")
        item = self.new(ctx, "targetPools", body)
        for key in ("instances", "healthChecks"):
            if not item[key]:
                del item[key]
        return self.insert_simple(ctx, "targetPools", item)

    @handles("compute.targetPools.get")
    def pool_get(self, ctx):
        return self.get_item(ctx, "targetPools", ctx.params["targetPool"])

    @handles("compute.targetPools.list")
    def pool_list(self, ctx):
        return self.list_items(ctx, "targetPools")

    @handles("compute.targetPools.aggregatedList")
    def pool_aggregated(self, ctx):
        return self.aggregated_items(ctx, "targetPools", "regions")

    @handles("compute.targetPools.delete")
    def pool_delete(self, ctx):
        def rule_uses(item, link):
            return item.get("target") == link

        def group_uses(item, link):
            return link in item.get("targetPools", [])

        def check(pool):
            users = self.users(ctx, pool["selfLink"], ("forwardingRules", rule_uses),
                               ("instanceGroupManagers", group_uses))
            return self.in_use(pool, users, "targetPools")
        return self.delete_simple(ctx, "targetPools", ctx.params["targetPool"], check,
                                  on_delete=lambda pool: self.health.forget(pool["selfLink"]))

    @handles("compute.targetPools.addInstance", "compute.targetPools.removeInstance")
    def pool_members(self, ctx):
        pool = self.find(ctx, "targetPools", ctx.params["targetPool"])
        field = ctx.method.body_root() + ".instances"
        links = [i.get("instance") for i in ctx.body.get("instances") or []]
        if ctx.method.verb == "addInstance":
            links = self._members(ctx, links, field)
        else:
            links = [refs.link(*refs.parse(link, ctx.project.name, "%s[%d]" % (field, i),
                                           "instances")) for i, link in enumerate(links)]
        project, verb = ctx.project, ctx.method.verb

        def apply():
            for link in links:
                if verb == "addInstance":
                    self.add_member(project, pool["selfLink"], link)
                else:
                    self.remove_member(project, pool["selfLink"], link)
        return self.ops.start(ctx, pool["selfLink"], verb, apply, target_id=pool["id"])

    @handles("compute.targetPools.addHealthCheck", "compute.targetPools.removeHealthCheck")
    def pool_checks(self, ctx):
        pool = self.find(ctx, "targetPools", ctx.params["targetPool"])
        field = ctx.method.body_root() + ".healthChecks"
        links = [h.get("healthCheck") for h in ctx.body.get("healthChecks") or []]
        verb = ctx.method.verb
        if verb == "addHealthCheck":
            links = self._checks(ctx, links, field)
            if pool.get("healthChecks") and links and links != pool["healthChecks"]:
                raise errors.invalid_field(field, links[0], "A target pool can have at most one "
                                           "health check.")
        else:
            links = [refs.link(*refs.parse(link, ctx.project.name, "%s[%d]" % (field, i),
                                           "httpHealthChecks")) for i, link in enumerate(links)]

        def apply():
            current = pool.setdefault("healthChecks", [])
            for link in links:
                if verb == "addHealthCheck" and link not in current:
                    current.append(link)
                elif verb == "removeHealthCheck" and link in current:
                    current.remove(link)
            if not current:
                del pool["healthChecks"]
            self.health.forget(pool["selfLink"])
        return self.ops.start(ctx, pool["selfLink"], verb, apply, target_id=pool["id"])

    @handles("compute.targetPools.getHealth")
    def pool_health(self, ctx):
        pool = self.find(ctx, "targetPools", ctx.params["targetPool"])
        field = ctx.method.body_root() + ".instance"
        text = ctx.body.get("instance")
        link = refs.link(*refs.parse(text, ctx.project.name, field, "instances"))
        if link not in pool.get("instances", []):
            raise errors.invalid_field(field, text, "The instance is not a member of the "
                                       "target pool.")
        state = self.health.state(ctx.project, pool, link)
        rules = [r for _, items in ctx.project.scopes_of("forwardingRules")
                 for r in items.values() if r.get("target") == pool["selfLink"]]
        statuses = []
        for rule in rules or [None]:
            status = {"instance": link, "healthState": state}
            if rule is not None:
                status["ipAddress"] = rule["IPAddress"]
                status["port"] = int(rule["portRange"].split("-")[0])
            statuses.append(status)
        return {"kind": "compute#targetPoolInstanceHealth", "healthStatus": statuses}

    # -- forwardingRules -------------------------------------------------------------------------
    def _ports(self, text, field):
        low, _, high = (text or "1-65535").partition("-")
        try:
            a, b = int(low), int(high or low)
        except ValueError:
            a, b = 0, -1
        if not 1 <= a <= b <= 65535:
            raise errors.invalid_field(field, text, "The port range must be 'PORT' or "
                                       "'LOW-HIGH' within 1-65535.")
        return a, b

    @handles("compute.forwardingRules.insert")
    def rule_insert(self, ctx):
        body = dict(ctx.body)
        scheme = body.setdefault("loadBalancingScheme", "EXTERNAL")
        if scheme != "EXTERNAL":
            raise errors.invalid_field("resource.loadBalancingScheme", scheme, "Only EXTERNAL "
                                       "forwarding rules are emulated.")
        proto = body.setdefault("IPProtocol", "TCP")
        if not body.get("target"):
            raise errors.invalid_field("resource.target", "", "A target pool must be given.")
        pool = self.ref(ctx, body["target"], "resource.target", "targetPools")
        if refs.last(pool["region"]) != ctx.region:
            raise errors.invalid_field("resource.target", body["target"], "The target pool "
                                       "must be in the forwarding rule's region.")
        body["target"] = pool["selfLink"]
        low, high = self._ports(body.get("portRange"), "resource.portRange")
        body["portRange"] = "%d-%d" % (low, high)
        body.setdefault("networkTier", "PREMIUM")
        body["IPAddress"] = self._address(ctx, body.get("IPAddress"), proto, low, high)
        item = self.new(ctx, "forwardingRules", body)
        project = ctx.project
        return self.insert_simple(ctx, "forwardingRules", item,
                                  on_apply=lambda _: sync_address_users(project))

    def _address(self, ctx, text, proto, low, high):
        field = "resource.IPAddress"
        if not text:
            try:
                return allocate_public_ip(ctx.project)
            except errors.OperationError as e:
                raise errors.ApiError(503, e.message, "backendError")
        try:
            ipaddress.IPv4Address(text)
            value = text
        except ValueError:
            value = self.ref(ctx, text, field, "addresses")["address"]
        static = [a for a in ctx.project.coll(ctx.scope, "addresses").values()
                  if a["address"] == value and a.get("addressType") == "EXTERNAL"]
        if not static:
            raise errors.invalid_field(field, text, "Specified IP address is not a static "
                                       "external address of region '%s'." % ctx.region)
        for rule in list(ctx.project.coll(ctx.scope, "forwardingRules").values()) + \
                self.pending(ctx, "forwardingRules"):
            if rule.get("IPAddress") == value and rule.get("IPProtocol") == proto:
                a, b = self._ports(rule["portRange"], field)
                if a <= high and low <= b:
                    raise errors.invalid_field(field, text, "Specified IP address is in-use "
                                               "and would result in a conflict.")
        return value

    @handles("compute.forwardingRules.get")
    def rule_get(self, ctx):
        return self.get_item(ctx, "forwardingRules", ctx.params["forwardingRule"])

    @handles("compute.forwardingRules.list")
    def rule_list(self, ctx):
        return self.list_items(ctx, "forwardingRules")

    @handles("compute.forwardingRules.aggregatedList")
    def rule_aggregated(self, ctx):
        return self.aggregated_items(ctx, "forwardingRules", "regions")

    @handles("compute.forwardingRules.setTarget")
    def rule_set_target(self, ctx):
        rule = self.find(ctx, "forwardingRules", ctx.params["forwardingRule"])
        field = ctx.method.body_root() + ".target"
        pool = self.ref(ctx, ctx.body.get("target"), field, "targetPools")

        def apply():
            rule["target"] = pool["selfLink"]
        return self.ops.start(ctx, rule["selfLink"], "setTarget", apply, target_id=rule["id"])

    @handles("compute.forwardingRules.delete")
    def rule_delete(self, ctx):
        project = ctx.project
        return self.delete_simple(ctx, "forwardingRules", ctx.params["forwardingRule"],
                                  on_delete=lambda _: sync_address_users(project))
