"""Target pool health, measured for real: HTTP GETs at each member's address.

Every checkIntervalSec (times --time-scale) each RUNNING member of a pool
with an HTTP health check is probed at networkIP:port/requestPath, with
timeoutSec (times --time-scale, at least 0.2 s); a 200 is a success. The
probe counts only if the member's network lets Google's legacy health
checkers in: ingress firewall rules must allow TCP on the port from all of
35.191.0.0/16, 209.85.152.0/22 and 209.85.204.0/22. healthyThreshold
successes in a row make a member HEALTHY, unhealthyThreshold failures
UNHEALTHY; members start UNHEALTHY. A pool without a health check reports
every RUNNING member HEALTHY.
"""
import concurrent.futures
import http.client
import threading
import time

from .networks import ingress_allowed

PROBE_SOURCES = ("35.191.0.1", "209.85.152.1", "209.85.204.1")


class HealthChecker:
    def __init__(self, emulator):
        self.emulator = emulator
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=8,
                                                           thread_name_prefix="gcpemu-probe")
        self._records = {}  # (pool link, instance link) -> record
        self._inflight = set()
        threading.Thread(target=self._loop, name="gcpemu-health", daemon=True).start()

    def clear(self):
        self._records = {}

    def forget(self, pool_link, instance_link=None):
        for key in [k for k in self._records if k[0] == pool_link and
                    (instance_link is None or k[1] == instance_link)]:
            del self._records[key]

    @staticmethod
    def _new():
        return {"state": "UNHEALTHY", "successes": 0, "failures": 0, "next": 0.0}

    def _check_of(self, project, pool):
        links = pool.get("healthChecks") or []
        if not links:
            return None
        return project.coll("global", "httpHealthChecks").get(links[0].rsplit("/", 1)[1])

    def _instance(self, project, link):
        parts = link.split("/")
        return project.coll("zones/" + parts[-3], "instances").get(parts[-1])

    def state(self, project, pool, instance_link):
        """HEALTHY or UNHEALTHY, as getHealth reports it now."""
        inst = self._instance(project, instance_link)
        if inst is None or inst["status"] != "RUNNING":
            return "UNHEALTHY"
        if self._check_of(project, pool) is None:
            return "HEALTHY"
        record = self._records.get((pool["selfLink"], instance_link))
        return record["state"] if record else "UNHEALTHY"

    @staticmethod
    def probe(address, check, timeout):
        headers = {"User-Agent": "GoogleHC/1.0"}
        if check.get("host"):
            headers["Host"] = check["host"]
        try:
            conn = http.client.HTTPConnection(address, check["port"], timeout=timeout)
            try:
                conn.request("GET", check["requestPath"], headers=headers)
                return conn.getresponse().status == 200
            finally:
                conn.close()
        except (OSError, http.client.HTTPException):
            return False

    def _loop(self):
        while not self.emulator.stopped.wait(0.05):
            jobs = []
            with self.emulator.lock:
                now = time.monotonic()
                config = self.emulator.config
                for project in self.emulator.projects.values():
                    for _, pools in project.scopes_of("targetPools"):
                        for pool in pools.values():
                            check = self._check_of(project, pool)
                            if check is None:
                                continue
                            for link in pool.get("instances", []):
                                key = (pool["selfLink"], link)
                                record = self._records.setdefault(key, self._new())
                                inst = self._instance(project, link)
                                if inst is None or inst["status"] != "RUNNING" or \
                                        now < record["next"] or key in self._inflight:
                                    continue
                                record["next"] = now + max(0.05, config.scaled(
                                    check["checkIntervalSec"]))
                                open_ = all(ingress_allowed(project, inst, src, "tcp",
                                                            check["port"])
                                            for src in PROBE_SOURCES)
                                address = inst["networkInterfaces"][0].get("networkIP")
                                timeout = max(0.2, config.scaled(check["timeoutSec"]))
                                self._inflight.add(key)
                                jobs.append((key, dict(check), address, timeout, open_))
            for key, check, address, timeout, open_ in jobs:
                self._pool.submit(self._run, key, check, address, timeout, open_)

    def _run(self, key, check, address, timeout, open_):
        try:
            ok = open_ and self.probe(address, check, timeout)
            with self.emulator.lock:
                record = self._records.get(key)
                if record is None:
                    return
                if ok:
                    record["successes"] += 1
                    record["failures"] = 0
                    if record["successes"] >= check["healthyThreshold"]:
                        record["state"] = "HEALTHY"
                else:
                    record["failures"] += 1
                    record["successes"] = 0
                    if record["failures"] >= check["unhealthyThreshold"]:
                        record["state"] = "UNHEALTHY"
        finally:
            with self.emulator.lock:
                self._inflight.discard(key)
