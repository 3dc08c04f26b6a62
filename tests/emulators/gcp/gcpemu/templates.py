"""Instance templates: instance properties checked once, kept as given, never changed."""
import copy

from . import errors
from .instance_spec import InstanceSpec
from .resources import Base
from .server import handles


class Templates(Base):
    @handles("compute.instanceTemplates.insert")
    def insert(self, ctx):
        body = dict(ctx.body)
        if body.get("sourceInstance"):
            raise errors.invalid_field("resource.sourceInstance", body["sourceInstance"],
                                       "Templates from a source instance are not emulated.")
        props = copy.deepcopy(body.get("properties") or {})
        if not props:
            raise errors.required_field("resource.properties")
        spec = InstanceSpec(self, ctx, None, "resource.properties", template=True)
        spec.machine_type(props)
        spec.disks(props, body["name"])
        nics = spec.interfaces(props)
        spec.common(props)
        spec.service_accounts(props)
        for given, checked in zip(props["networkInterfaces"], nics):
            # References are kept as full URLs, as Compute returns them.
            if given.get("network") or not given.get("subnetwork"):
                given["network"] = checked["network"]
            if checked.get("subnetwork"):
                given["subnetwork"] = checked["subnetwork"]
        item = self.new(ctx, "instanceTemplates", body,
                        keep=("name", "description", "properties"))
        item["properties"] = props
        return self.insert_simple(ctx, "instanceTemplates", item)

    @handles("compute.instanceTemplates.get")
    def get(self, ctx):
        return self.get_item(ctx, "instanceTemplates", ctx.params["instanceTemplate"])

    @handles("compute.instanceTemplates.list")
    def list(self, ctx):
        return self.list_items(ctx, "instanceTemplates")

    @handles("compute.instanceTemplates.delete")
    def delete(self, ctx):
        def uses(item, link):
            return item.get("instanceTemplate") == link

        def check(template):
            users = self.users(ctx, template["selfLink"], ("instanceGroupManagers", uses))
            return self.in_use(template, users, "instanceTemplates")
        return self.delete_simple(ctx, "instanceTemplates", ctx.params["instanceTemplate"],
                                  check)
