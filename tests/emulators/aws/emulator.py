#!/usr/bin/python3
"""A stateful emulator of EC2, Classic ELB, Auto Scaling and Route 53 on loopback.

See README.md beside this file for the command line, the control API, the
seed format and what is emulated.
"""
import argparse
import json
import os
import signal
import sys
import threading

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from awsemu.app import build  # noqa: E402


def _credentials(values):
    out = {}
    for value in values:
        parts = value.split(":", 2)
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise argparse.ArgumentTypeError("--credentials wants AKID:SECRET[:SESSION_TOKEN]")
        out[parts[0]] = (parts[1], parts[2] if len(parts) == 3 and parts[2] else None)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (loopback only)")
    ap.add_argument("--port-file", help="where to write the port once connections are accepted")
    ap.add_argument("--credentials", action="append", default=[], required=True,
                    metavar="AKID:SECRET[:TOKEN]")
    ap.add_argument("--seed", help="seed JSON: account, zones, images, hosted zones")
    ap.add_argument("--hosts", help="host pool JSON written by tests/harness/hostpool.sh")
    ap.add_argument("--pending-seconds", type=float, default=1.0)
    ap.add_argument("--time-scale", type=float, default=1.0,
                    help="multiplies AWS durations (health-check intervals, retention)")
    ap.add_argument("--retention-seconds", type=float,
                    help="how long terminated instances and deleted NAT gateways stay "
                    "visible (default: AWS's hour times --time-scale)")
    ap.add_argument("--faults", type=float, default=0.0, metavar="RATE")
    ap.add_argument("--fault-kinds", default="throttle,500,latency,drop")
    ap.add_argument("--latency-ms", type=int, default=300)
    ap.add_argument("--fault-seed", type=int)
    ap.add_argument("--log", help="one line per request")
    ap.add_argument("--instance-endpoint", metavar="ADDRESS",
                    help="TEST ONLY: also serve on ADDRESS (an address of this machine the pool "
                         "hosts reach); instances with an instance profile get it as AWS_ENDPOINT_URL")
    ap.add_argument("--loopback-addresses", action="store_true",
                    help="TEST ONLY: instances without a pool host get 127.0.0.N addresses")
    args = ap.parse_args(argv)

    host, _, port = args.listen.rpartition(":")
    if host not in ("127.0.0.1", "localhost", "::1"):
        ap.error("--listen must be a loopback address")
    try:
        credentials = _credentials(args.credentials)
    except argparse.ArgumentTypeError as e:
        ap.error(str(e))
    seed = {}
    if args.seed:
        with open(args.seed, encoding="utf-8") as f:
            seed = json.load(f)
    hosts = []
    if args.hosts:
        with open(args.hosts, encoding="utf-8") as f:
            hosts = json.load(f)
    kinds = [k for k in args.fault_kinds.split(",") if k]
    server = build(credentials, seed, hosts, (host, int(port or 0)),
                   pending_seconds=args.pending_seconds, time_scale=args.time_scale,
                   faults=(args.faults, kinds, args.latency_ms, args.fault_seed),
                   log_path=args.log, loopback_addresses=args.loopback_addresses,
                   instance_address=args.instance_endpoint,
                   retention_seconds=args.retention_seconds)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              daemon=True)
    thread.start()
    if server.instance_server is not None:
        threading.Thread(target=server.instance_server.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True).start()
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % server.server_address[1])
        os.replace(tmp, args.port_file)
    print("aws emulator listening on http://%s:%d" % server.server_address[:2], flush=True)
    stop.wait()
    server.shutdown()
    if server.instance_server is not None:
        server.instance_server.shutdown()
    server.gateway.emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
