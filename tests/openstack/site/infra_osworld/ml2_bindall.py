"""An ML2 mechanism driver that binds every port to its first segment.

The world runs no L2 agent (no traffic flows between fake servers), so no
agent-based driver can bind a port; nova would then see binding_failed and
put the server in ERROR. This driver binds with VIF type "ovs" and marks the
port ACTIVE at once, which is what a working agent reports after wiring it.
It is registered as the mechanism driver "osworld_bindall" through this
directory's entry_points.txt.
"""
from neutron_lib.api.definitions import portbindings
from neutron_lib import constants
from neutron_lib.plugins.ml2 import api


class BindAllMechanismDriver(api.MechanismDriver):
    """Binds any port, on any network type, to the first segment offered."""

    def initialize(self):
        pass

    @property
    def connectivity(self):
        return portbindings.CONNECTIVITY_L2

    def bind_port(self, context):
        for segment in context.segments_to_bind:
            context.set_binding(segment[api.ID], portbindings.VIF_TYPE_OVS,
                                {portbindings.CAP_PORT_FILTER: True,
                                 portbindings.OVS_HYBRID_PLUG: False},
                                status=constants.PORT_STATUS_ACTIVE)
            return
