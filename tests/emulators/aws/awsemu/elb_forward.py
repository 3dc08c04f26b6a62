"""Classic ELB listeners that forward traffic, as TCP proxies on loopback.

Each HTTP or TCP listener of each load balancer gets a socket on
127.0.0.1 (port chosen by the system, published as the load balancer's
"_forward" {"LoadBalancerPort": port} in /_emulator/state). Every accepted
connection goes to the next InService instance, round robin in
registration order, on the listener's InstancePort; bytes are copied both
ways as they come (no HTTP parsing, no X-Forwarded-For). An instance that
refuses the connection is skipped for the next one, nothing having been
sent yet. With no InService instance an HTTP listener answers 503, as
Classic ELB does, and a TCP listener closes the connection.

Deregistration: without connection draining the instance's open
connections are closed at once; with it they may finish within the
draining Timeout (times --time-scale), then are closed. While any is open
and the timeout has not passed, DescribeInstanceHealth lists the instance
OutOfService, "Instance deregistration currently in progress.", as AWS does.
"""
import socket
import threading
import time

_BACKEND_CONNECT_TIMEOUT = 2.0
_NO_BACKEND = (b"HTTP/1.1 503 Service Unavailable: Back-end server is at capacity\r\n"
               b"Content-Length: 0\r\nConnection: close\r\n\r\n")


class _Listener:
    def __init__(self, forwarder, region, lb_name, lb_port, sock):
        self.forwarder = forwarder
        self.region = region
        self.lb_name = lb_name
        self.lb_port = lb_port
        self.sock = sock
        self.closed = False
        threading.Thread(target=self._accept, daemon=True,
                         name="awsemu-elb-%s-%d" % (lb_name, lb_port)).start()

    def close(self):
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.forwarder.serve, args=(self, client), daemon=True,
                             name="awsemu-elb-conn").start()


class Forwarder:
    """The forwarding listeners of every load balancer; sync() follows the state."""

    def __init__(self, emulator, elb, address="127.0.0.1"):
        self.emulator = emulator
        self.elb = elb
        self.address = address
        self._listeners = {}  # (region, lb name, DNS name, lb port) -> _Listener
        self._turn = {}  # DNS name -> connections handed out so far
        self._open = {}  # (DNS name, instance id) -> set of backend sockets
        self._draining = {}  # (DNS name, instance id) -> (deadline, sockets left)

    def sync(self):
        """Opens a listener for each HTTP/TCP listener of each load balancer and
        closes those of listeners and load balancers that are gone. Called
        under emulator.lock."""
        wanted = {}
        for region in self.emulator.regions.values():
            for lb in region.load_balancers.values():
                forward = {}
                for desc in lb["ListenerDescriptions"]:
                    listener = desc["Listener"]
                    if listener["Protocol"] not in ("HTTP", "TCP"):
                        continue
                    key = (region.name, lb["LoadBalancerName"], lb["DNSName"],
                           listener["LoadBalancerPort"])
                    wanted[key] = lb
                    if key not in self._listeners:
                        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                        sock.bind((self.address, 0))
                        sock.listen(64)
                        self._listeners[key] = _Listener(self, region.name,
                                                         lb["LoadBalancerName"], key[3], sock)
                    forward[str(key[3])] = self._listeners[key].sock.getsockname()[1]
                lb["_forward"] = forward
        for key in [k for k in self._listeners if k not in wanted]:
            self._listeners.pop(key).close()
        live = {k[2] for k in wanted}
        for (dns, iid) in [k for k in self._open if k[0] not in live]:
            self._close_all(self._open.pop((dns, iid)))

    def stop(self):
        with self.emulator.lock:
            for listener in self._listeners.values():
                listener.close()
            self._listeners.clear()
            for conns in self._open.values():
                self._close_all(conns)
            self._open.clear()

    def deregistered(self, lb, instance_ids):
        """An instance left the load balancer: its connections are closed now,
        or after the draining timeout when connection draining is on. Called
        under emulator.lock."""
        draining = lb["_attributes"]["ConnectionDraining"]
        delay = self.emulator.config.scaled(draining.get("Timeout", 300))
        for iid in instance_ids:
            conns = self._open.pop((lb["DNSName"], iid), set())
            if not conns:
                continue
            if not draining.get("Enabled"):
                self._close_all(conns)
                continue
            self._draining[(lb["DNSName"], iid)] = (time.monotonic() + delay, conns)
            timer = threading.Timer(delay, self._close_all, args=(conns,))
            timer.daemon = True
            timer.start()

    def draining(self, lb):
        """Ids of lb's deregistered instances with connections still open within
        the draining timeout (each set shrinks as its connections end). Called
        under emulator.lock."""
        now = time.monotonic()
        for key, (until, conns) in list(self._draining.items()):
            if until <= now or not conns:
                del self._draining[key]
        registered = {i["InstanceId"] for i in lb["Instances"]}
        return [iid for (dns, iid) in self._draining
                if dns == lb["DNSName"] and iid not in registered]

    @staticmethod
    def _close_all(conns):
        for sock in list(conns):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _backends(self, listener):
        """[(instance id, (address, port))] to try for one new connection, the
        next in turn first; [] when no instance is InService. The
        listener's HTTP flag rides along."""
        with self.emulator.lock:
            region = self.emulator.regions.get(listener.region)
            lb = region.load_balancers.get(listener.lb_name) if region else None
            if lb is None:
                return None, False, []
            desc = [d["Listener"] for d in lb["ListenerDescriptions"]
                    if d["Listener"]["LoadBalancerPort"] == listener.lb_port]
            if not desc:
                return lb["DNSName"], False, []
            port = desc[0]["InstancePort"]
            ready = []
            for ref in lb["Instances"]:
                iid = ref["InstanceId"]
                inst = region.instances.get(iid)
                if inst is None or self.elb.instance_state(region, lb, iid)[0] != "InService":
                    continue
                ready.append((iid, (inst["PrivateIpAddress"], port)))
            turn = self._turn.get(lb["DNSName"], 0)
            self._turn[lb["DNSName"]] = turn + 1
            if ready:
                start = turn % len(ready)
                ready = ready[start:] + ready[:start]
            return lb["DNSName"], desc[0]["Protocol"] == "HTTP", ready

    def serve(self, listener, client):
        dns, http, backends = self._backends(listener)
        backend = key = None
        for iid, address in backends:
            try:
                backend = socket.create_connection(address, timeout=_BACKEND_CONNECT_TIMEOUT)
            except OSError:
                continue
            with self.emulator.lock:
                if not self._still_in_service(listener, iid):
                    backend.close()
                    backend = None
                    continue
                key = (dns, iid)
                bucket = self._open.setdefault(key, set())
                bucket.add(backend)
            break
        if backend is None:
            try:
                if http:
                    client.sendall(_NO_BACKEND)
            except OSError:
                pass
            client.close()
            return
        backend.settimeout(None)
        try:
            self._pump(client, backend)
        finally:
            with self.emulator.lock:
                # The set may have left _open to drain; it shrinks there too.
                bucket.discard(backend)
                if not bucket and self._open.get(key) is bucket:
                    del self._open[key]
            backend.close()
            client.close()

    def _still_in_service(self, listener, iid):
        region = self.emulator.regions.get(listener.region)
        lb = region.load_balancers.get(listener.lb_name) if region else None
        return (lb is not None and any(r["InstanceId"] == iid for r in lb["Instances"])
                and self.elb.instance_state(region, lb, iid)[0] == "InService")

    @staticmethod
    def _pump(client, backend):
        """Copies both ways; a half-close is passed on, either side's error ends both."""
        def copy(src, dst):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                for sock in (src, dst):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        upstream = threading.Thread(target=copy, args=(client, backend), daemon=True)
        upstream.start()
        copy(backend, client)
        upstream.join()
