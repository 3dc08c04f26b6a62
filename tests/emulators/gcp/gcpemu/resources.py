"""What every Compute collection shares: creating, finding, listing, deleting, references."""
from . import errors, listing, refs
from .discovery import snake
from .core import public, rfc3339

# collection -> the kind of one item (list kinds append "List"/"AggregatedList").
KINDS = {
    "networks": "compute#network", "subnetworks": "compute#subnetwork",
    "firewalls": "compute#firewall", "routers": "compute#router",
    "addresses": "compute#address", "images": "compute#image", "disks": "compute#disk",
    "instances": "compute#instance", "instanceTemplates": "compute#instanceTemplate",
    "instanceGroupManagers": "compute#instanceGroupManager",
    "httpHealthChecks": "compute#httpHealthCheck", "targetPools": "compute#targetPool",
    "forwardingRules": "compute#forwardingRule", "zones": "compute#zone",
    "regions": "compute#region", "machineTypes": "compute#machineType",
}
_NOUNS = {"networks": "network", "subnetworks": "subnetwork", "firewalls": "firewall",
          "routers": "router", "addresses": "address", "images": "image", "disks": "disk",
          "instances": "instance", "instanceTemplates": "instanceTemplate",
          "instanceGroupManagers": "instanceGroupManager", "httpHealthChecks":
          "httpHealthCheck", "targetPools": "targetPool", "forwardingRules": "forwardingRule",
          "machineTypes": "machineType", "zones": "zone", "regions": "region"}


def noun(collection):
    return _NOUNS.get(collection, collection)


class Base:
    """Helpers for the Compute services; self.emulator is the shared state."""

    def __init__(self, emulator):
        self.emulator = emulator
        self.ids = emulator.ids

    @property
    def ops(self):
        return self.emulator.services["operations"]

    # -- lookups ----------------------------------------------------------------------
    def find(self, ctx, collection, name, scope=None, project=None):
        project = project or ctx.project
        scope = scope or ctx.scope
        items = project.coll(scope, collection)
        item = items.get(name)
        if item is None and name.isdigit():
            # Compute takes a resource's numeric id wherever it takes its name.
            item = next((i for i in items.values() if i.get("id") == name), None)
        if item is None:
            raise errors.not_found(refs.path(project.name, scope, collection, name))
        return item

    def ref(self, ctx, text, field, want):
        """The resource a reference names, or Google's 'cannot be found' error."""
        project_name, scope, collection, name = refs.parse(text, ctx.project.name, field, want)
        project = self.emulator.projects.get(project_name)
        item = None if project is None else project.coll(scope, collection).get(name)
        if item is None:
            raise errors.invalid_field(field, text, "The referenced %s resource cannot be "
                                       "found." % noun(collection))
        return item

    def pending(self, ctx, collection):
        """Resources of a collection whose insert is still running."""
        return [item for (_, coll, _), item in ctx.project.pending_items.items()
                if coll == collection]

    def ensure_new(self, ctx, collection, name, scope=None):
        """409 when the name is taken, or will be once a running insert finishes."""
        scope = scope or ctx.scope
        if name in ctx.project.coll(scope, collection) or \
                (scope, collection, name) in ctx.project.pending_names:
            raise errors.already_exists(refs.path(ctx.project.name, scope, collection, name))
        return (scope, collection, name)

    def new(self, ctx, collection, body, scope=None, keep=None):
        """An API-shaped resource from a request body: server fields filled in."""
        scope = scope or ctx.scope
        item = {}
        for key, value in body.items():
            if keep is None or key in keep:
                item[key] = value
        item["kind"] = KINDS[collection]
        item["id"] = self.ids.numeric()
        item["creationTimestamp"] = rfc3339()
        item["selfLink"] = refs.link(ctx.project.name, scope, collection, body["name"])
        if scope.startswith("zones/"):
            item["zone"] = refs.scope_link(ctx.project.name, scope)
        elif scope.startswith("regions/"):
            item["region"] = refs.scope_link(ctx.project.name, scope)
        return item

    def users(self, ctx, self_link, *places):
        """selfLinks of resources that reference self_link, from (collection, predicate) pairs."""
        out = []
        for collection, uses in places:
            for _scope, items in ctx.project.scopes_of(collection):
                for item in items.values():
                    if uses(item, self_link):
                        out.append(item["selfLink"])
        return out

    def in_use(self, item, users, collection):
        """The DONE error Google gives when deleting something still referenced."""
        if users:
            return errors.OperationError(
                "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE",
                "The %s resource '%s' is already being used by '%s'"
                % (snake(noun(collection)), _short(item["selfLink"]), _short(users[0])), 400)
        return None

    # -- the generic methods ---------------------------------------------------------
    def get_item(self, ctx, collection, name):
        return public(self.find(ctx, collection, name))

    def list_items(self, ctx, collection, scope=None):
        scope = scope or ctx.scope
        items = [public(i) for i in ctx.project.coll(scope, collection).values()]
        fields = listing.item_fields(ctx.method.doc, ctx.method.response_ref)
        page, token = listing.page(items, ctx.params, fields)
        out = {"kind": KINDS[collection] + "List",
               "id": "projects/%s/%s/%s" % (ctx.project.name, scope, collection),
               "selfLink": refs.link(ctx.project.name, scope, collection)}
        if page:
            out["items"] = page
        if token:
            out["nextPageToken"] = token
        return out

    def aggregated_items(self, ctx, collection, kind="zones"):
        config = self.emulator.config
        names = sorted(config.zones()) if kind == "zones" else sorted(config.regions)
        scopes = ["%s/%s" % (kind, n) for n in names]
        scoped = [(s, [public(i) for i in ctx.project.coll(s, collection).values()])
                  for s in scopes]
        fields = listing.item_fields(ctx.method.doc, ctx.method.response_ref)
        items, token = listing.aggregated(scoped, ctx.params, collection, fields)
        out = {"kind": KINDS[collection] + "AggregatedList",
               "id": "projects/%s/aggregated/%s" % (ctx.project.name, collection),
               "items": items,
               "selfLink": refs.link(ctx.project.name, "aggregated", collection)}
        if token:
            out["nextPageToken"] = token
        return out

    def insert_simple(self, ctx, collection, item, on_apply=None, abort=None):
        """Reserve the name now; the resource appears when the operation is DONE."""
        reserve = self.ensure_new(ctx, collection, item["name"])
        project, scope = ctx.project, ctx.scope
        project.pending_items[reserve] = item

        def apply():
            project.coll(scope, collection)[item["name"]] = item
            if on_apply is not None:
                on_apply(item)
            return item["id"]
        return self.ops.start(ctx, item["selfLink"], "insert", apply, target_id=item["id"],
                              reserve=reserve, abort=abort)

    def delete_simple(self, ctx, collection, name, check=None, on_delete=None):
        """The resource goes when the operation is DONE; check() may give a DONE error."""
        item = self.find(ctx, collection, name)
        project, scope = ctx.project, ctx.scope

        def apply():
            current = project.coll(scope, collection).get(name)
            if current is not item:
                raise errors.not_found(refs.path(project.name, scope, collection, name))
            if check is not None:
                err = check(item)
                if err is not None:
                    raise err
            del project.coll(scope, collection)[name]
            if on_delete is not None:
                on_delete(item)
        return self.ops.start(ctx, item["selfLink"], "delete", apply, target_id=item["id"])


def _short(link):
    """projects/P/... from a full URL, as Google's in-use messages name resources."""
    marker = "/projects/"
    i = link.find(marker)
    return link[i + 1:] if i >= 0 else link
