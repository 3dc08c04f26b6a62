#!/usr/bin/python3
"""A stateful emulator of Compute Engine, Cloud DNS and Google OAuth on loopback.

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

from gcpemu.app import build  # noqa: E402
from gcpemu.auth import CLOUD_PLATFORM, load_public_key  # noqa: E402


def _service_accounts(values):
    out = {}
    for value in values:
        email, sep, path = value.partition("=")
        if not sep or "@" not in email or not path:
            raise argparse.ArgumentTypeError("--service-account wants EMAIL=PEMFILE")
        out.setdefault(email, []).append(load_public_key(path))
    return out


def _authorized_users(values):
    out = {}
    for value in values:
        parts = value.split(":", 2)
        if len(parts) != 3 or not all(parts):
            raise argparse.ArgumentTypeError(
                "--authorized-user wants CLIENT_ID:CLIENT_SECRET:REFRESH_TOKEN")
        out[parts[0]] = (parts[1], parts[2])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (loopback only)")
    ap.add_argument("--port-file", help="where to write the port once connections are accepted")
    ap.add_argument("--service-account", action="append", default=[], metavar="EMAIL=PEMFILE",
                    help="a service account and its public key (PEM key, certificate or "
                    "JSON key file); repeatable")
    ap.add_argument("--authorized-user", action="append", default=[],
                    metavar="CLIENT_ID:CLIENT_SECRET:REFRESH_TOKEN")
    ap.add_argument("--metadata-service-account", metavar="EMAIL",
                    help="the account the metadata server hands tokens for")
    ap.add_argument("--metadata-scopes", default=CLOUD_PLATFORM,
                    help="comma-separated scopes of the metadata server's tokens")
    ap.add_argument("--seed", help="seed JSON: project, regions, quotas, images, DNS zones")
    ap.add_argument("--hosts", help="host pool JSON written by tests/harness/hostpool.sh")
    ap.add_argument("--operation-seconds", type=float, default=1.0,
                    help="how long an operation takes from PENDING to DONE")
    ap.add_argument("--time-scale", type=float, default=1.0,
                    help="multiplies Google's durations (health-check intervals, retries)")
    ap.add_argument("--token-seconds", type=int, default=3600,
                    help="lifetime of the access tokens issued")
    ap.add_argument("--faults", type=float, default=0.0, metavar="RATE")
    ap.add_argument("--fault-kinds", default="ratelimit,userratelimit,500,503,latency,drop")
    ap.add_argument("--latency-ms", type=int, default=300)
    ap.add_argument("--fault-seed", type=int)
    ap.add_argument("--log", help="one line per request")
    ap.add_argument("--instance-endpoint", metavar="ADDRESS",
                    help="an address of this machine the pool hosts reach: the metadata server "
                    "and the APIs listen there too, for instances with a service account")
    ap.add_argument("--loopback-addresses", action="store_true",
                    help="TEST ONLY: instances without a pool host get 127.0.0.N addresses")
    args = ap.parse_args(argv)

    host, _, port = args.listen.rpartition(":")
    if host not in ("127.0.0.1", "localhost", "::1"):
        ap.error("--listen must be a loopback address")
    if args.token_seconds < 2:
        ap.error("--token-seconds must be at least 2")
    try:
        accounts = _service_accounts(args.service_account)
        users = _authorized_users(args.authorized_user)
    except (argparse.ArgumentTypeError, OSError, ValueError) as e:
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
    try:
        server = build(seed, (host, int(port or 0)), accounts, users, hosts,
                       operation_seconds=args.operation_seconds, time_scale=args.time_scale,
                       token_seconds=args.token_seconds,
                       faults=(args.faults, kinds, args.latency_ms, args.fault_seed),
                       log_path=args.log, loopback_addresses=args.loopback_addresses,
                       metadata_account=args.metadata_service_account,
                       metadata_scopes=[s for s in args.metadata_scopes.split(",") if s],
                       instance_address=args.instance_endpoint)
    except ValueError as e:
        ap.error(str(e))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              daemon=True)
    thread.start()
    if server.instance_server is not None:
        threading.Thread(target=server.instance_server.serve_forever,
                         kwargs={"poll_interval": 0.2}, daemon=True).start()
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % server.server_address[1])
        os.replace(tmp, args.port_file)
    print("gcp emulator listening on http://%s:%d" % server.server_address[:2], flush=True)
    stop.wait()
    if server.instance_server is not None:
        server.instance_server.shutdown()
    server.shutdown()
    server.gateway.emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
