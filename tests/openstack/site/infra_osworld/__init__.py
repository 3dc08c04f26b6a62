"""Code the OpenStack test world puts on its services' Python path.

ml2_bindall: an ML2 mechanism driver that binds every port (there is no L2
agent in the world). pool_driver: nova's fake virt driver, with servers on a
host pool subnet mapped to real namespace hosts. nova_compute: runs
nova-compute with pool_driver loadable as a nova.virt driver. wsgi: the WSGI
applications uwsgi serves, each reading the world's own configuration.
"""
