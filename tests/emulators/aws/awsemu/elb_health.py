"""ELB health checks, made for real against each registered instance's address.

Every Interval (times --time-scale) each running registered instance is
probed on the health-check target: HTTP(S):PORT/PATH wants a 200 answer,
TCP:PORT (SSL:PORT) a connection (and TLS handshake). HealthyThreshold
successes in a row put it InService, UnhealthyThreshold failures take it out.
"""
import concurrent.futures
import http.client
import re
import socket
import ssl
import threading
import time

from .errors import ApiError

_TARGET = re.compile(r"^(HTTP|HTTPS|TCP|SSL):(\d{1,5})(/.*)?$")
_FAILED = "Instance has failed at least the UnhealthyThreshold number of health checks consecutively."
_NOT_PASSED = ("Instance has not passed the configured HealthyThreshold number of health "
               "checks consecutively.")
_REGISTERING = "Instance registration is still in progress."


class HealthChecker:
    def __init__(self, emulator):
        self.emulator = emulator
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=8,
                                                           thread_name_prefix="awsemu-probe")
        self._inflight = set()
        threading.Thread(target=self._loop, name="awsemu-health", daemon=True).start()

    @staticmethod
    def new_record():
        return {"State": "OutOfService", "ReasonCode": "ELB", "Description": _REGISTERING,
                "successes": 0, "failures": 0, "was_in_service": False}

    @staticmethod
    def parse_target(target):
        m = _TARGET.match(target)
        if not m or not 1 <= int(m.group(2)) <= 65535:
            raise ApiError("ValidationError", "Invalid health check target: %s. It must be "
                           "PROTOCOL:PORT[/PATH] with PROTOCOL one of HTTP, HTTPS, TCP, SSL."
                           % target)
        proto, port, path = m.group(1), int(m.group(2)), m.group(3)
        if proto in ("HTTP", "HTTPS") and not path:
            raise ApiError("ValidationError", "Health check target %s needs a path." % target)
        if proto in ("TCP", "SSL") and path:
            raise ApiError("ValidationError", "Health check target %s takes no path." % target)
        return proto, port, path

    @staticmethod
    def probe(address, target, timeout):
        proto, port, path = HealthChecker.parse_target(target)
        try:
            if proto in ("HTTP", "HTTPS"):
                if proto == "HTTPS":
                    context = ssl.create_default_context()
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE  # ELB does not verify backends
                    conn = http.client.HTTPSConnection(address, port, timeout=timeout,
                                                       context=context)
                else:
                    conn = http.client.HTTPConnection(address, port, timeout=timeout)
                try:
                    conn.request("GET", path, headers={"User-Agent": "ELB-HealthChecker/1.0"})
                    return conn.getresponse().status == 200
                finally:
                    conn.close()
            with socket.create_connection((address, port), timeout=timeout) as sock:
                if proto == "SSL":
                    context = ssl.create_default_context()
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                    with context.wrap_socket(sock):
                        pass
            return True
        except (OSError, http.client.HTTPException, ssl.SSLError):
            return False

    def _loop(self):
        while not self.emulator.stopped.wait(0.05):
            jobs = []
            with self.emulator.lock:
                now = time.monotonic()
                for region in self.emulator.regions.values():
                    for lb in region.load_balancers.values():
                        if now < lb["_next_probe"] or not lb["Instances"]:
                            continue
                        check = lb["HealthCheck"]
                        lb["_next_probe"] = now + max(0.05, self.emulator.config.scaled(
                            check["Interval"]))
                        timeout = max(0.2, self.emulator.config.scaled(check["Timeout"]))
                        for ref in lb["Instances"]:
                            inst = region.instances.get(ref["InstanceId"])
                            if inst is None or inst["State"]["Name"] != "running":
                                continue
                            key = (region.name, lb["LoadBalancerName"], ref["InstanceId"])
                            if key in self._inflight:
                                continue
                            self._inflight.add(key)
                            jobs.append((key, lb, inst["PrivateIpAddress"], check["Target"],
                                         timeout))
            for job in jobs:
                self._pool.submit(self._run, *job)

    def _run(self, key, lb, address, target, timeout):
        try:
            ok = self.probe(address, target, timeout)
        finally:
            with self.emulator.lock:
                self._inflight.discard(key)
        with self.emulator.lock:
            rec = lb["_health"].get(key[2])
            if rec is None:  # deregistered meanwhile
                return
            self.record(rec, ok, lb["HealthCheck"])

    @staticmethod
    def record(rec, ok, check):
        if ok:
            rec["successes"] += 1
            rec["failures"] = 0
            if rec["State"] != "InService" and rec["successes"] >= check["HealthyThreshold"]:
                rec.update(State="InService", ReasonCode="N/A", Description="N/A",
                           was_in_service=True)
            elif rec["State"] != "InService" and rec["Description"] == _FAILED:
                rec.update(ReasonCode="Instance", Description=_NOT_PASSED)
        else:
            rec["failures"] += 1
            rec["successes"] = 0
            if rec["failures"] >= check["UnhealthyThreshold"]:
                rec.update(State="OutOfService", ReasonCode="Instance", Description=_FAILED)
            elif rec["State"] != "InService" and rec["Description"] == _NOT_PASSED:
                rec.update(Description=_NOT_PASSED)
