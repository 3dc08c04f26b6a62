"""The private protocol between agent processes: one JSON request and one
JSON reply per TCP connection, each a line. A listener with a TLS context
accepts TLS (first byte 0x16) and, unless it requires TLS, plain requests,
as Consul's and Nomad's RPC ports multiplex both."""
import json
import socket
import socketserver
import ssl
import threading

from . import log

MAX_LINE = 64 * 1024 * 1024


class RPCError(Exception):
    pass


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        srv = self.server
        sock = self.request
        sock.settimeout(30)
        try:
            first = sock.recv(1, socket.MSG_PEEK)
            if not first:
                return
            if first == b"\x16" and srv.tls_ctx is not None:
                sock = srv.tls_ctx.wrap_socket(sock, server_side=True)
                peer = sock.getpeercert()
            elif srv.require_tls:
                _send(sock, {"error": "rpc error: TLS is required on this port"})
                return
            else:
                peer = None
            msg = _recv(sock)
            if msg is None:
                return
            try:
                reply = srv.dispatch(msg, {"peer": self.client_address[0], "cert": peer})
            except RPCError as e:
                reply = {"error": str(e)}
            except Exception as e:  # a bug must not kill the listener
                log.error(srv.component, "rpc handler failed", op=msg.get("op"), error=repr(e))
                reply = {"error": "internal error: %r" % e}
            _send(sock, reply if reply is not None else {})
        except (OSError, ssl.SSLError, ValueError) as e:
            log.debug(srv.component, "rpc connection failed", peer=self.client_address[0], error=str(e))


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _send(sock, obj):
    sock.sendall(json.dumps(obj, separators=(",", ":")).encode() + b"\n")


def _recv(sock):
    buf = bytearray()
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
        if buf.endswith(b"\n"):
            break
        if len(buf) > MAX_LINE:
            raise ValueError("message too large")
    if not buf:
        return None
    return json.loads(buf.decode())


def listen(component, addr, port, dispatch, tls_ctx=None, require_tls=False):
    """Starts a listener in a thread; dispatch(msg, info) -> reply dict."""
    srv = _Server((addr, port), _Handler, bind_and_activate=True)
    srv.component = component
    srv.dispatch = dispatch
    srv.tls_ctx = tls_ctx
    srv.require_tls = require_tls
    threading.Thread(target=srv.serve_forever, name="rpc-%d" % port, daemon=True).start()
    return srv


def call(host, port, msg, timeout=5.0, tls_ctx=None, server_name=None):
    """Sends msg, returns the reply dict. Raises RPCError (reply "error" or a
    transport failure, with its reason)."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as e:
        raise RPCError("dial tcp %s:%d: %s" % (host, port, e.strerror or e))
    try:
        sock.settimeout(timeout)
        if tls_ctx is not None:
            try:
                sock = tls_ctx.wrap_socket(sock, server_hostname=server_name or host)
            except ssl.SSLCertVerificationError as e:
                raise RPCError("x509: %s" % e.verify_message)
            except (ssl.SSLError, OSError) as e:
                raise RPCError("remote error: tls: %s" % (getattr(e, "reason", None) or e))
        _send(sock, msg)
        reply = _recv(sock)
    except (OSError, ValueError) as e:
        raise RPCError("rpc to %s:%d failed: %s" % (host, port, e))
    finally:
        try:
            sock.close()
        except OSError:
            pass
    if reply is None:
        raise RPCError("rpc to %s:%d: connection closed" % (host, port))
    if "error" in reply and reply["error"]:
        raise RPCError(reply["error"])
    return reply
