"""A throw-away CA and node certificates, made with the openssl command line."""
import os
import subprocess


def _run(*argv, cwd):
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True)


def make_ca(d):
    os.makedirs(d, exist_ok=True)
    _run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Test Agent CA", cwd=d)
    return os.path.join(d, "ca.pem")


def make_cert(d, name, dns, ips):
    """name.pem / name.key signed by d/ca.pem, with the given SANs."""
    san = ",".join(["DNS:%s" % x for x in dns] + ["IP:%s" % x for x in ips])
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n" % san)
    _run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=%s" % (dns[0] if dns else name), cwd=d)
    _run("openssl", "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", ext, cwd=d)
    return os.path.join(d, name + ".pem"), os.path.join(d, name + ".key")


def make_key(d, name):
    _run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name, cwd=d)
    return os.path.join(d, name)
