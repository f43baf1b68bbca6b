# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one etcd launcher of the tests, the benchmark and molecule/bgp_etcd/etcd_ctl.py.

``EtcdServer``: one real etcd (Debian's /usr/bin/etcd) on 127.0.0.1, free ports, its own data
dir, plain HTTP or TLS with client-certificate authentication (certificates made here with the
``cryptography`` package). Stopped by its pid.

``EtcdCluster``: three (or more) members, each in its own network namespace, joined by a bridge
that lives in a namespace of its own, with TLS for clients and peers; clients run in a client
namespace (``client_cmd``, ``in_client_netns``). Every address is inside those namespaces; the
host's own namespace gets nothing. Members can be killed, restarted and cut off (link down).
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


def make_certs(directory, server_ips=("127.0.0.1",)):
    """CA, server certificate (for ``server_ips``) and client certificate as PEM files; return their paths."""
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
    server, server_key = leaf(server_ips[0], [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
                              [x509.IPAddress(ipaddress.ip_address(ip)) for ip in server_ips] + [x509.DNSName("localhost")])
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

    def __init__(self, workdir, tls=False, name="pnt-etcd", host="127.0.0.1"):
        self.workdir = workdir
        self.data_dir = os.path.join(workdir, "data")
        self.name = name
        self.tls = tls
        # the client address (127.0.0.1, or an address of the namespace etcd runs in)
        self.host = host
        self.certs = make_certs(workdir, server_ips=tuple(dict.fromkeys((host, "127.0.0.1")))) if tls else None
        self.client_port = free_port()
        self.peer_port = free_port()
        self.proc = None
        self.log_path = os.path.join(workdir, "etcd.log")

    @property
    def scheme(self):
        return "https" if self.tls else "http"

    @property
    def url(self):
        return "%s://%s:%d" % (self.scheme, self.host, self.client_port)

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

    @property
    def pid(self):
        return None if self.proc is None else self.proc.pid

    @staticmethod
    def stop_pid(pid, timeout=10):
        """Stop an etcd started by another process (molecule's etcd_ctl.py keeps only the pid)."""
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
        return True

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


# -- a cluster in network namespaces --------------------------------------------------------------

def _ip(*args, check=True):
    return subprocess.run(["ip"] + list(args), check=check, capture_output=True, text=True)


def in_netns(name, fn, *args, **kwargs):
    """Run ``fn`` in a thread that entered network namespace ``name`` (the caller's thread stays)."""
    box = {}

    def body():
        fd = os.open("/run/netns/%s" % name, os.O_RDONLY)
        try:
            os.setns(fd, os.CLONE_NEWNET)
        finally:
            os.close(fd)
        try:
            box["result"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    import threading
    t = threading.Thread(target=body)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("result")


class EtcdCluster:
    """``size`` etcd members, each in namespace ``<prefix>m<i>``, on a bridge in ``<prefix>br``,
    TLS for clients and peers; the clients' namespace is ``<prefix>cl``.

    Addresses: 10.<a>.<b>.11.. for members, .100 for the client, a /24 chosen from the pid, used
    only inside these namespaces. ``stop()`` kills every process in them and deletes them.
    """

    def __init__(self, workdir, size=3, prefix=None):
        self.workdir = workdir
        self.size = size
        self.prefix = prefix or "pt%d-e" % os.getpid()
        pid = os.getpid()
        self.net = "10.%d.%d" % (200 + (pid >> 8) % 50, pid % 256)
        self.members = ["%sm%d" % (self.prefix, i) for i in range(size)]
        self.ips = ["%s.%d" % (self.net, 11 + i) for i in range(size)]
        self.bridge_ns = self.prefix + "br"
        self.client_ns = self.prefix + "cl"
        self.client_ip = "%s.100" % self.net
        self.certs = None
        self.procs = [None] * size
        self.logs = [os.path.join(workdir, "m%d.log" % i) for i in range(size)]

    # -- topology --------------------------------------------------------------------------
    def _namespaces(self):
        return self.members + [self.client_ns, self.bridge_ns]

    def _link(self, ns, idx, ip):
        host_end = "%sv%d" % (self.prefix, idx)   # side on the bridge, short enough for IFNAMSIZ
        _ip("link", "add", host_end, "netns", self.bridge_ns, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _ip("-n", self.bridge_ns, "link", "set", host_end, "master", "br0", "up")
        _ip("-n", ns, "addr", "add", "%s/24" % ip, "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        return host_end

    def create_network(self):
        for ns in self._namespaces():
            _ip("netns", "add", ns)
        _ip("-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.bridge_ns, "link", "set", "br0", "up")
        self.links = [self._link(ns, i, ip) for i, (ns, ip) in enumerate(zip(self.members, self.ips))]
        self._link(self.client_ns, len(self.members), self.client_ip)

    def partition(self, i):
        """Cut member ``i`` off: its link on the bridge goes down."""
        _ip("-n", self.bridge_ns, "link", "set", self.links[i], "down")

    def heal(self, i):
        _ip("-n", self.bridge_ns, "link", "set", self.links[i], "up")

    # -- members ---------------------------------------------------------------------------
    def url(self, i):
        return "https://%s:2379" % self.ips[i]

    @property
    def endpoints(self):
        return [self.url(i) for i in range(self.size)]

    def store_kwargs(self, timeout=2.0):
        return {"endpoints": self.endpoints, "ca_cert": self.certs["ca"], "cert": self.certs["client_cert"],
                "key": self.certs["client_key"], "timeout": timeout}

    def open_store_kwargs(self, timeout=2.0):
        return {"datastore": "etcd", "etcd_endpoints": self.endpoints, "etcd_ca_cert": self.certs["ca"],
                "etcd_cert": self.certs["client_cert"], "etcd_key": self.certs["client_key"], "etcd_timeout": timeout}

    def start_member(self, i, state="new"):
        c = self.certs
        peers = ",".join("%s=https://%s:2380" % (self.members[j], self.ips[j]) for j in range(self.size))
        cmd = ["ip", "netns", "exec", self.members[i], ETCD, "--name", self.members[i],
               "--data-dir", os.path.join(self.workdir, "data%d" % i),
               "--listen-client-urls", self.url(i), "--advertise-client-urls", self.url(i),
               "--listen-peer-urls", "https://%s:2380" % self.ips[i],
               "--initial-advertise-peer-urls", "https://%s:2380" % self.ips[i],
               "--initial-cluster", peers, "--initial-cluster-state", state,
               "--initial-cluster-token", self.prefix,
               "--cert-file", c["server_cert"], "--key-file", c["server_key"],
               "--client-cert-auth", "--trusted-ca-file", c["ca"],
               "--peer-cert-file", c["server_cert"], "--peer-key-file", c["server_key"],
               "--peer-client-cert-auth", "--peer-trusted-ca-file", c["ca"],
               "--heartbeat-interval", "100", "--election-timeout", "1000", "--log-level", "warn"]
        log = open(self.logs[i], "ab")
        self.procs[i] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def kill_member(self, i):
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        self.procs[i] = None

    def _status(self, i):
        c = self.certs
        r = requests.post(self.url(i) + "/v3/maintenance/status", json={}, timeout=1.5,
                          verify=c["ca"], cert=(c["client_cert"], c["client_key"]))
        r.raise_for_status()
        return r.json()

    def status(self, i):
        """Member ``i``'s status (as seen from the client namespace), or None when it does not answer."""
        try:
            return in_netns(self.client_ns, self._status, i)
        except (requests.RequestException, ValueError):
            return None

    def leader(self, timeout=20):
        """Index of the current leader (waits for one)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for i in range(self.size):
                if self.procs[i] is None:
                    continue
                st = self.status(i)
                if st and st.get("leader") and st["leader"] == st.get("header", {}).get("member_id"):
                    return i
            time.sleep(0.2)
        raise RuntimeError("the etcd cluster has no leader after %ss; logs in %s" % (timeout, self.workdir))

    def wait_member(self, i, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.procs[i] is not None and self.procs[i].poll() is not None:
                with open(self.logs[i]) as f:
                    raise RuntimeError("etcd member %d exited:\n%s" % (i, f.read()[-3000:]))
            st = self.status(i)
            if st and st.get("leader") not in (None, "0"):
                return
            time.sleep(0.2)
        raise RuntimeError("etcd member %d not ready after %ss; log %s" % (i, timeout, self.logs[i]))

    def start(self):
        try:
            self.create_network()
            self.certs = make_certs(self.workdir, server_ips=self.ips + ["127.0.0.1"])
            for i in range(self.size):
                self.start_member(i)
            for i in range(self.size):
                self.wait_member(i)
            self.leader()
        except BaseException:
            self.stop()
            raise
        return self

    def client_cmd(self, argv):
        """``argv`` run inside the client namespace."""
        return ["ip", "netns", "exec", self.client_ns] + list(argv)

    def stop(self):
        for i in range(self.size):
            try:
                self.kill_member(i)
            except (OSError, subprocess.TimeoutExpired):
                pass
        for ns in self._namespaces():
            pids = _ip("netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            _ip("netns", "del", ns, check=False)
