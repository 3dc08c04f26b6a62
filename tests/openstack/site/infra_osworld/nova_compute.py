"""nova-compute with the world's virt driver.

nova loads its compute_driver from the nova.virt package only
(compute_driver = infra_pool.PoolDriver means nova.virt.infra_pool), so the
directory holding infra_pool.py is added to that package's search path
before nova-compute starts.
"""
import os
import sys


def main():
    import nova.cmd.compute  # monkey-patches eventlet before anything else loads
    import nova.virt
    nova.virt.__path__.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "virt"))
    return nova.cmd.compute.main()


if __name__ == "__main__":
    sys.exit(main())
