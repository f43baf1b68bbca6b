# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real etcd (Debian's /usr/bin/etcd) on 127.0.0.1 for the IPAM tests and benchmarks.

Free ports, its own data dir, plain HTTP or TLS with client-certificate authentication
(certificates made here with the ``cryptography`` package). Stopped by its pid.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import signal
import socket
import subprocess
import time

import requests

ETCD = "/usr/bin/etcd"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certs(directory):
    """CA, server certificate (127.0.0.1) and client certificate as PEM files; return their paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def key():
        return ec.generate_private_key(ec.SECP256R1())

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write(fname, data):
        path = os.path.join(directory, fname)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o600)
        return path

    def pem_key(k):
        return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())

    ca_key = key()
    ca = (x509.CertificateBuilder().subject_name(name("pnt-etcd-ca")).issuer_name(name("pnt-etcd-ca"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))

    def leaf(cn, usage, san=None):
        k = key()
        b = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca.subject)
             .public_key(k.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
             # Python 3.13 verifies strictly (VERIFY_X509_STRICT): key identifiers are required.
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(k.public_key()), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                            critical=False))
        if san:
            b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return b.sign(ca_key, hashes.SHA256()), k

    # etcd's JSON gateway dials its own gRPC port with the server certificate: it needs clientAuth too.
    server, server_key = leaf("127.0.0.1", [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
                              [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")])
    client, client_key = leaf("pnt-ipam-client", [ExtendedKeyUsageOID.CLIENT_AUTH])
    # A second CA that signed nothing: "wrong CA" tests.
    other_key = key()
    other = (x509.CertificateBuilder().subject_name(name("pnt-other-ca")).issuer_name(name("pnt-other-ca"))
             .public_key(other_key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(other_key.public_key()), critical=False)
             .sign(other_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return {
        "ca": write("ca.pem", ca.public_bytes(pem)),
        "server_cert": write("server.pem", server.public_bytes(pem)),
        "server_key": write("server-key.pem", pem_key(server_key)),
        "client_cert": write("client.pem", client.public_bytes(pem)),
        "client_key": write("client-key.pem", pem_key(client_key)),
        "other_ca": write("other-ca.pem", other.public_bytes(pem)),
    }


class EtcdServer:
    """One etcd member. ``start()``, ``kill()`` (SIGKILL), ``stop()``; data survives a restart."""

    def __init__(self, workdir, tls=False, name="pnt-etcd"):
        self.workdir = workdir
        self.data_dir = os.path.join(workdir, "data")
        self.name = name
        self.tls = tls
        self.certs = make_certs(workdir) if tls else None
        self.client_port = free_port()
        self.peer_port = free_port()
        self.proc = None
        self.log_path = os.path.join(workdir, "etcd.log")

    @property
    def scheme(self):
        return "https" if self.tls else "http"

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.client_port)

    def store_kwargs(self):
        """Keyword arguments for EtcdStore / open_store(datastore='etcd')."""
        if not self.tls:
            return {"endpoints": [self.url]}
        return {"endpoints": [self.url], "ca_cert": self.certs["ca"], "cert": self.certs["client_cert"],
                "key": self.certs["client_key"]}

    def module_args(self):
        args = {"datastore": "etcd", "etcd_endpoints": [self.url]}
        if self.tls:
            args.update(etcd_ca_cert=self.certs["ca"], etcd_cert=self.certs["client_cert"],
                        etcd_key=self.certs["client_key"])
        return args

    def start(self, timeout=15):
        peer = "http://127.0.0.1:%d" % self.peer_port
        cmd = [ETCD, "--name", self.name, "--data-dir", self.data_dir,
               "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
               "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
               "--initial-cluster", "%s=%s" % (self.name, peer),
               "--initial-cluster-state", "new", "--log-level", "warn"]
        if self.tls:
            cmd += ["--cert-file", self.certs["server_cert"], "--key-file", self.certs["server_key"],
                    "--client-cert-auth", "--trusted-ca-file", self.certs["ca"]]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.time() + timeout
        kwargs = {}
        if self.tls:
            kwargs = {"verify": self.certs["ca"], "cert": (self.certs["client_cert"], self.certs["client_key"])}
        while time.time() < deadline:
            if self.proc.poll() is not None:
                with open(self.log_path) as f:
                    tail = f.read()[-3000:]
                raise RuntimeError("etcd exited with %s; log %s:\n%s" % (self.proc.returncode, self.log_path, tail))
            try:
                r = requests.get(self.url + "/health", timeout=1, **kwargs)
                if r.status_code == 200 and r.json().get("health") in ("true", True):
                    return self
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("etcd did not become healthy in %ss; log %s" % (timeout, self.log_path))

    def _signal(self, sig):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None

    def kill(self):
        self._signal(signal.SIGKILL)

    def stop(self):
        self._signal(signal.SIGTERM)

    def wipe(self, prefix="/calico/"):
        """Delete every key under ``prefix`` (between tests)."""
        from ansible_collections.podnet.calico.plugins.module_utils.ipam._etcd import EtcdStore
        store = EtcdStore(**self.store_kwargs())
        try:
            store._call("/kv/deleterange", {"key": _b64(prefix), "range_end": _b64_end(prefix)})
        finally:
            store.close()


def _b64(text):
    import base64
    return base64.b64encode(text.encode()).decode()


def _b64_end(prefix):
    import base64
    raw = bytearray(prefix.encode())
    raw[-1] += 1
    return base64.b64encode(bytes(raw)).decode()
