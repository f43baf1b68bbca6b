# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the CNI plugin tests: a node namespace with its own etcd on 127.0.0.1, the built plugin."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from cni_testlib import (  # noqa: E402  pylint: disable=wrong-import-position
    DEBIAN_PYTHON, TEST_PREFIX, add_netns, build_plugin, in_netns, kill_netns,
)
from etcd_server import ETCD, EtcdServer  # noqa: E402  pylint: disable=wrong-import-position

POOL = "10.77.0.0/16"


class CniNode:
    """A node namespace, the etcd it reaches on its own 127.0.0.1, the plugin and a config maker."""

    def __init__(self, workdir, name, etcd, bindir):
        self.workdir = workdir
        self.name = name
        self.etcd = etcd
        self.bindir = bindir
        self.log_path = os.path.join(workdir, "cni.log")

    @property
    def calico(self):
        return os.path.join(self.bindir, "calico")

    def conf(self, version="1.0.0", **overrides):
        conf = {
            "cniVersion": version, "name": "k8s-pod-network", "type": "calico",
            "datastore_type": "etcdv3", "etcd_endpoints": self.etcd.url,
            "etcd_ca_cert_file": self.etcd.certs["ca"], "etcd_cert_file": self.etcd.certs["client_cert"],
            "etcd_key_file": self.etcd.certs["client_key"],
            "mtu": 1450, "nodename": "cni-node1", "log_level": "debug", "log_file_path": self.log_path,
            "ipam": {"type": "calico-ipam", "assign_ipv4": "true", "ipv4_pools": [POOL]},
            "kubernetes": {"kubeconfig": "/nonexistent/calico-kubeconfig"},
            "policy": {"type": "k8s"},
        }
        for key, value in overrides.items():
            if value is None:
                conf.pop(key, None)
            else:
                conf[key] = value
        return conf

    def alive(self):
        """Fail with etcd's own last words when it is no longer running."""
        code = self.etcd.proc.poll() if self.etcd.proc is not None else "not started"
        if code is not None:
            with open(self.etcd.log_path) as handle:
                tail = handle.read()[-2000:]
            raise AssertionError("the test etcd is gone (exit status %s); its log ends:\n%s" % (code, tail))

    def store(self):
        from ansible_collections.podnet.calico.plugins.module_utils.ipam._etcd import EtcdStore
        return EtcdStore(**self.etcd.store_kwargs())

    def keys(self, prefix="/calico/"):
        with in_netns(self.name):
            store = self.store()
            try:
                return dict((k, v) for k, v, _r in store.list(prefix))
            finally:
                store.close()

    def handles(self):
        return sorted(k.rsplit("/", 1)[1] for k in self.keys("/calico/ipam/v2/handle/"))

    def weps(self):
        return self.keys("/calico/resources/v3/projectcalico.org/workloadendpoints/")


@pytest.fixture(scope="session")
def cni_node():
    if not os.access(ETCD, os.X_OK):
        pytest.fail("%s is missing: install etcd-server (scripts/install-deps.sh)" % ETCD)
    workdir = tempfile.mkdtemp(prefix="%s-cni-" % TEST_PREFIX)
    name = add_netns("%s-cninode" % TEST_PREFIX)
    server = None
    try:
        bindir = build_plugin(os.path.join(workdir, "bin"), DEBIAN_PYTHON)
        for ref in ("loopback", "host-local", "ptp"):
            os.symlink("/usr/lib/cni/%s" % ref, os.path.join(bindir, ref))
        with in_netns(name):
            os.makedirs(os.path.join(workdir, "etcd"))
            server = EtcdServer(os.path.join(workdir, "etcd"), tls=True, name="%s-cni" % TEST_PREFIX)
            server.start()
            from ansible_collections.podnet.calico.plugins.module_utils.ipam._allocator import Allocator
            from ansible_collections.podnet.calico.plugins.module_utils.ipam._etcd import EtcdStore
            store = EtcdStore(**server.store_kwargs())
            Allocator(store).ensure_pool(POOL, 26)
            store.close()
        yield CniNode(workdir, name, server, bindir)
    finally:
        if server is not None:
            with in_netns(name):
                server.stop()
        kill_netns(name)
        shutil.rmtree(workdir, ignore_errors=True)


def _need(binary):
    if not shutil.which(binary):
        pytest.fail("%s is missing: scripts/install-deps.sh installs containerd, runc and busybox-static" % binary)


@pytest.fixture(scope="session")
def cri_lab():
    for binary in ("containerd", "runc", "ctr", "busybox"):
        _need(binary)
    from cri_lab import CriLab
    lab = CriLab(tempfile.mkdtemp(prefix="%s-crilab-" % TEST_PREFIX), nodes=2)
    try:
        lab.up()
        yield lab
    finally:
        lab.down()
