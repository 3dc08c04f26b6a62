"""Code the OpenStack test world puts on its services' Python path.

run: starts a service through its entry point. wsgi: the WSGI applications
uwsgi serves, each reading the world's own configuration. ml2_bindall: an
ML2 mechanism driver that binds every port (there is no L2 agent in the
world). nova_compute: runs nova-compute with virt/infra_pool.py (nova's fake
virt driver, with servers on a host pool subnet mapped to real namespace
hosts) loadable as a nova.virt driver.
"""
