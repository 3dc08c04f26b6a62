"""The WSGI applications the world serves with uwsgi.

uwsgi imports this module with OSWORLD_APP naming the service and
OSWORLD_ETC the world's configuration directory; `application` is that
service's WSGI application built from the world's configuration file (not
from /etc, which belongs to the machine).
"""
import os


def _keystone(etc):
    os.environ["OS_KEYSTONE_CONFIG_DIR"] = os.path.join(etc, "keystone")
    os.environ["OS_KEYSTONE_CONFIG_FILES"] = "keystone.conf"
    from keystone.server import wsgi
    return wsgi.initialize_public_application()


def _placement(etc):
    os.environ["OS_PLACEMENT_CONFIG_DIR"] = os.path.join(etc, "placement")
    from placement import wsgi
    return wsgi.init_application()


_BUILDERS = {"keystone": _keystone, "placement": _placement}

application = _BUILDERS[os.environ["OSWORLD_APP"]](os.environ["OSWORLD_ETC"])
