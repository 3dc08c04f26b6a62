"""The EC2 service: one object whose methods are the operations it implements."""
import datetime
import json
import time

from .ec2_common import RESOURCE_TYPES, Ec2Base
from .ec2_images import ImageMixin
from .ec2_instances import InstanceMixin
from .ec2_network import NetworkMixin
from .ec2_security import SecurityMixin
from .ec2_templates import TemplateMixin
from .errors import ApiError


def _fingerprint(params):
    """A stable digest of a call's parameters, ClientToken and DryRun left out."""
    clean = {k: v for k, v in params.items() if k not in ("ClientToken", "DryRun")}
    return json.dumps(clean, sort_keys=True, default=str)


class Ec2(NetworkMixin, SecurityMixin, InstanceMixin, ImageMixin, TemplateMixin, Ec2Base):
    def __init__(self, emulator, model):
        super().__init__(emulator)
        self.model = model
        emulator.add_ticker(0.1, self.tick)

    @staticmethod
    def clock():
        return time.monotonic()

    @staticmethod
    def utc():
        return datetime.datetime.now(datetime.timezone.utc)

    def idempotent(self, r, operation, token, params):
        """The resource an earlier call with this ClientToken made, or None."""
        if not token:
            return None
        if len(token) > 64:
            raise ApiError("InvalidParameterValue", "Value (%s...) for parameter clientToken is "
                           "invalid. Client tokens are limited to 64 ASCII characters."
                           % token[:16])
        earlier = r.client_tokens.get((operation, token))
        if earlier is None:
            return None
        if earlier[0] != _fingerprint(params):
            raise ApiError("IdempotentParameterMismatch", "Arguments on this idempotent request "
                           "are inconsistent with arguments used in previous request(s).")
        return earlier[1]

    def remember(self, r, operation, token, params, reference):
        if token:
            r.client_tokens[(operation, token)] = (_fingerprint(params), reference)

    def type_of(self, resource_id):
        kind = RESOURCE_TYPES.get(resource_id.split("-", 1)[0])
        return kind[0] if kind else "unknown"

    def model_conform(self, value, shape_name):
        """value reduced to what shape_name can hold (request form -> response form)."""
        shape = self.model.shape(shape_name)
        kind = shape["type"]
        if kind == "structure":
            members = shape.get("members", {})
            return {k: self.model_conform(v, members[k]["shape"])
                    for k, v in value.items() if k in members}
        if kind == "list":
            return [self.model_conform(v, shape["member"]["shape"]) for v in value]
        if kind == "blob" and isinstance(value, bytes):
            return value
        return value

    def tick(self):
        now = self.clock()
        for region in self.emulator.regions.values():
            self.tick_instances(region, now)
            self.tick_images(region, now)
            self.tick_nat_gateways(region, now)
