"""Runs an OpenStack console script through its entry point.

    python3 -m infra_osworld.run MODULE:FUNCTION NAME ARGS...

Debian's python3-* packages carry the services' code; their console scripts
are in the daemon packages, which the world does not install (their install
scripts would configure and start system-wide services). NAME becomes
sys.argv[0], which the services use as their program name.
"""
import importlib
import sys


def main():
    if len(sys.argv) < 3 or ":" not in sys.argv[1]:
        sys.stderr.write(__doc__)
        return 2
    module_name, function = sys.argv[1].split(":", 1)
    sys.argv = sys.argv[2:]
    return getattr(importlib.import_module(module_name), function)()


if __name__ == "__main__":
    sys.exit(main())
