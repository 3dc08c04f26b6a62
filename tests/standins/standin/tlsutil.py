"""TLS contexts from agent settings (Python's ssl module, OpenSSL)."""
import ssl


class TLSError(Exception):
    pass


def _load(ctx, ca, cert, key):
    try:
        if cert:
            ctx.load_cert_chain(cert, key)
    except ssl.SSLError as e:
        raise TLSError("failed to load cert/key pair %s / %s: %s" % (cert, key, e.reason or e))
    except OSError as e:
        raise TLSError("failed to read cert/key pair %s / %s: %s" % (cert, key, e.strerror))
    try:
        if ca:
            ctx.load_verify_locations(cafile=ca)
    except (ssl.SSLError, OSError) as e:
        raise TLSError("failed to load CA file %s: %s" % (ca, getattr(e, "reason", None) or e))


def check_files(ca, cert, key):
    """Raises TLSError unless the files load and the key matches the cert."""
    _load(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), ca, cert, key)


def server_context(ca, cert, key, require_client_cert):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    _load(ctx, ca, cert, key)
    if require_client_cert:
        ctx.verify_mode = ssl.CERT_REQUIRED
    elif ca:
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def client_context(ca, cert, key, verify_hostname):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = bool(verify_hostname)
    if ca:
        _load(ctx, ca, cert, key)
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        _load(ctx, None, cert, key)
        ctx.load_default_certs()
    return ctx
