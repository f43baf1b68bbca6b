# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small lab of node namespaces running Debian's containerd, asked for pods through CRI as the kubelet does.

- an underlay bridge in a sink namespace (no forwarding, the nodes' default gateway: proxy-ARP needs it);
- a ctl namespace on the underlay with a real etcd (TLS, the ipam tests' launcher) listening on its
  underlay address, which the nodes reach directly, as a node reaches a control plane's etcd;
- per node: containerd in a private mount namespace with its own root, state, gRPC and ttrpc addresses,
  config per ../shared CNI facts, CNI dirs set by kubelet_cni's containerd filter, a pause image built
  from busybox-static and imported; the plugin under test and the reference plugins in its bin dir.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid

from cni_testlib import ROOT, TEST_PREFIX, add_netns, build_plugin, in_netns, kill_netns

if os.path.join(ROOT, ".build", "collections") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))

PAUSE_IMAGE = "podnet.local/pause:1"
BUSYBOX = "/bin/busybox"


# ------------------------------------------------------------------ pause image
def pause_image_tar(path):
    """The collection's pause image (module_utils/lab/_runtime, what the lab module imports into its nodes)."""
    from ansible_collections.podnet.calico.plugins.module_utils.lab._runtime import pause_image_tar as build
    return build(path, image=PAUSE_IMAGE, busybox=BUSYBOX)


# ------------------------------------------------------------------ containerd
CONTAINERD_TOML = """version = 2
root = "{d}/root"
state = "{d}/state"
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{image}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
  [plugins."io.containerd.grpc.v1.cri".cni]
    max_conf_num = 1
"""


def containerd_config(directory, bin_dir, conf_dir):
    """Our containerd settings, then the CNI dirs set the way kubelet_cni's containerd path sets them."""
    from ansible_collections.podnet.calico.plugins.filter.kubelet_cni import kubelet_cni_containerd
    return kubelet_cni_containerd(CONTAINERD_TOML.format(d=directory, image=PAUSE_IMAGE),
                                  bin_dir=bin_dir, conf_dir=conf_dir)


class Node:
    def __init__(self, lab, index):
        self.lab = lab
        self.index = index
        self.name = "%s-cn%d" % (TEST_PREFIX, index)
        self.hostname = "cri-node%d" % index
        self.ip = "10.88.%d.%d" % (lab.subnet, 10 + index)
        self.dir = os.path.join(lab.workdir, self.hostname)
        self.bin_dir = os.path.join(self.dir, "bin")
        self.conf_dir = os.path.join(self.dir, "net.d")
        self.sock = os.path.join(self.dir, "containerd.sock")
        self.proc = None

    def up(self):
        lab = self.lab
        add_netns(self.name)

        def run(*args):
            subprocess.run(list(args), check=True)

        run("ip", "link", "add", "u%s" % self.index + TEST_PREFIX[-6:], "type", "veth", "peer", "name", "eth0",
            "netns", self.name)
        host_end = "u%s" % self.index + TEST_PREFIX[-6:]
        run("ip", "link", "set", host_end, "netns", lab.sink)
        run("ip", "-n", lab.sink, "link", "set", host_end, "master", "br0", "up")
        run("ip", "-n", self.name, "addr", "add", "%s/24" % self.ip, "dev", "eth0")
        run("ip", "-n", self.name, "link", "set", "eth0", "up")
        run("ip", "-n", self.name, "route", "add", "default", "via", lab.gateway)
        run("ip", "netns", "exec", self.name, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        for d in (self.bin_dir, self.conf_dir, os.path.join(self.dir, "opt"), os.path.join(self.dir, "log")):
            os.makedirs(d, exist_ok=True)
        for name in ("calico", "calico-ipam"):
            os.symlink(os.path.join(lab.plugin_dir, name), os.path.join(self.bin_dir, name))
        for name in ("loopback", "ptp", "host-local", "bridge"):
            os.symlink("/usr/lib/cni/" + name, os.path.join(self.bin_dir, name))
        with open(os.path.join(self.dir, "config.toml"), "w") as handle:
            handle.write(containerd_config(self.dir, self.bin_dir, self.conf_dir))
        self.write_conf("10-calico.conflist", self.calico_conflist())
        log = open(os.path.join(self.dir, "containerd.log"), "ab")
        self.proc = subprocess.Popen(
            ["nsenter", "--net=/run/netns/%s" % self.name, "unshare", "--mount", "--propagation", "private", "--uts",
             "sh", "-c", 'hostname "$0" && exec containerd --config "$1"', self.hostname,
             os.path.join(self.dir, "config.toml")],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.time() + 60
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("containerd of %s did not start; see %s/containerd.log" % (self.name, self.dir))
            time.sleep(0.05)
        subprocess.run(["ctr", "-a", self.sock, "-n", "k8s.io", "images", "import", "--snapshotter", "native",
                        lab.pause_tar], check=True, stdout=subprocess.DEVNULL, timeout=300)
        return self

    def calico_conflist(self, version="1.0.0"):
        etcd = self.lab.etcd
        return {"name": "k8s-pod-network", "cniVersion": version, "plugins": [{
            "type": "calico", "datastore_type": "etcdv3", "etcd_endpoints": etcd.url,
            "etcd_ca_cert_file": etcd.certs["ca"], "etcd_cert_file": etcd.certs["client_cert"],
            "etcd_key_file": etcd.certs["client_key"], "mtu": 1450, "nodename": self.hostname,
            "log_level": "info", "log_file_path": os.path.join(self.dir, "log", "cni.log"),
            "ipam": {"type": "calico-ipam", "ipv4_pools": [self.lab.pool]},
            "kubernetes": {"kubeconfig": os.path.join(self.conf_dir, "calico-kubeconfig")},
            "policy": {"type": "k8s"}}]}

    def ptp_conflist(self):
        return {"name": "ptp-ref", "cniVersion": "1.0.0", "plugins": [{
            "type": "ptp", "ipMasq": False, "mtu": 1450,
            "ipam": {"type": "host-local", "subnet": "10.%d.%d.0/24" % (90 + self.lab.subnet % 10, self.index),
                     "dataDir": os.path.join(self.dir, "host-local")}}]}

    def write_conf(self, name, conflist):
        path = os.path.join(self.conf_dir, name)
        with open(path + ".tmp", "w") as handle:
            json.dump(conflist, handle)
        os.rename(path + ".tmp", path)
        return path

    def remove_conf(self, name):
        os.unlink(os.path.join(self.conf_dir, name))

    def cri(self):
        from cri_client import CRI
        return CRI(self.sock)

    def down(self):
        kill_netns(self.name)
        if self.proc is not None:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass


class CriLab:
    def __init__(self, workdir, nodes=2):
        self.workdir = workdir
        self.subnet = 100 + os.getpid() % 100
        self.pool = "10.%d.0.0/16" % (150 + os.getpid() % 50)
        self.sink = "%s-csink" % TEST_PREFIX
        self.ctl = "%s-cctl" % TEST_PREFIX
        self.gateway = "10.88.%d.1" % self.subnet
        self.ctl_ip = "10.88.%d.2" % self.subnet
        self.nodes = [Node(self, i + 1) for i in range(nodes)]
        self.etcd = None
        self.plugin_dir = os.path.join(workdir, "plugin")
        self.pause_tar = os.path.join(workdir, "pause.tar")

    def up(self):
        from etcd_server import EtcdServer
        build_plugin(self.plugin_dir)
        pause_image_tar(self.pause_tar)
        add_netns(self.sink)
        subprocess.run(["ip", "-n", self.sink, "link", "add", "br0", "type", "bridge"], check=True)
        subprocess.run(["ip", "-n", self.sink, "addr", "add", "%s/24" % self.gateway, "dev", "br0"], check=True)
        subprocess.run(["ip", "-n", self.sink, "link", "set", "br0", "up"], check=True)
        add_netns(self.ctl)
        port = "uc" + TEST_PREFIX[-6:]
        for cmd in (["ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", self.ctl],
                    ["ip", "link", "set", port, "netns", self.sink],
                    ["ip", "-n", self.sink, "link", "set", port, "master", "br0", "up"],
                    ["ip", "-n", self.ctl, "addr", "add", "%s/24" % self.ctl_ip, "dev", "eth0"],
                    ["ip", "-n", self.ctl, "link", "set", "eth0", "up"]):
            subprocess.run(cmd, check=True)
        with in_netns(self.ctl):
            os.makedirs(os.path.join(self.workdir, "etcd"))
            self.etcd = EtcdServer(os.path.join(self.workdir, "etcd"), tls=True, name="%s-cri" % TEST_PREFIX,
                                   host=self.ctl_ip)
            self.etcd.start()
            from ansible_collections.podnet.calico.plugins.module_utils.ipam._allocator import Allocator
            from ansible_collections.podnet.calico.plugins.module_utils.ipam._etcd import EtcdStore
            store = EtcdStore(**self.etcd.store_kwargs())
            Allocator(store).ensure_pool(self.pool, 26)
            store.close()
        for node in self.nodes:
            node.up()
        self.route_blocks()
        return self

    def blocks(self):
        with in_netns(self.ctl):
            from ansible_collections.podnet.calico.plugins.module_utils.ipam._etcd import EtcdStore
            store = EtcdStore(**self.etcd.store_kwargs())
            try:
                out = {}
                for key, value, _rev in store.list("/calico/ipam/v2/assignment/ipv4/block/"):
                    data = json.loads(value)
                    out[data["cidr"]] = (data.get("affinity") or "").replace("host:", "")
                return out
            finally:
                store.close()

    def handles(self):
        with in_netns(self.ctl):
            from ansible_collections.podnet.calico.plugins.module_utils.ipam._etcd import EtcdStore
            store = EtcdStore(**self.etcd.store_kwargs())
            try:
                return sorted(k.rsplit("/", 1)[1] for k, _v, _r in store.list("/calico/ipam/v2/handle/"))
            finally:
                store.close()

    def route_blocks(self):
        """Direct routes (shared L2) to the other nodes' blocks, with the collection's calico_route engine's
        protocol, as calico_node's static mode would; blackholes for a node's own blocks."""
        by_name = dict((n.hostname, n) for n in self.nodes)
        for cidr, owner in self.blocks().items():
            for node in self.nodes:
                if owner == node.hostname:
                    cmd = ["ip", "-n", node.name, "route", "replace", "blackhole", cidr, "proto", "201"]
                elif owner in by_name:
                    cmd = ["ip", "-n", node.name, "route", "replace", cidr, "via", by_name[owner].ip, "proto", "201"]
                else:
                    continue
                subprocess.run(cmd, check=True)

    def down(self):
        for node in self.nodes:
            node.down()
        if self.etcd is not None:
            with in_netns(self.ctl):
                self.etcd.stop()
        for ns in (self.ctl, self.sink):
            kill_netns(ns)
        # containerd's mounts lived in private mount namespaces that died with it
        shutil.rmtree(self.workdir, ignore_errors=True)


def busybox_rootfs(directory):
    """A busybox-static root file system for podman's --rootfs."""
    for sub in ("bin", "proc", "sys", "dev", "etc", "tmp", "run"):
        os.makedirs(os.path.join(directory, sub), exist_ok=True)
    shutil.copy2(BUSYBOX, os.path.join(directory, "bin", "busybox"))
    for applet in ("sh", "sleep", "ip", "ping"):
        os.symlink("busybox", os.path.join(directory, "bin", applet))
    for name in ("hosts", "resolv.conf", "hostname", "passwd", "group"):
        open(os.path.join(directory, "etc", name), "a").close()
    return directory


def new_uid():
    return str(uuid.uuid4())
