# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""podman with its CNI backend: a second, independent client of the same plugin and conflist.

podman loads every conflist of its network config dir and picks one by --network; it passes
CNI_ARGS with K8S_POD_NAME only, so the plugin takes Calico's non-Kubernetes path (host interface
from the container id, WorkloadEndpoint of the "cni" orchestrator).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile

import pytest

from cni_testlib import TEST_PREFIX
from cri_lab import busybox_rootfs

CONTAINERS_CONF = """[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
[network]
network_backend = "cni"
cni_plugin_dirs = ["{bin_dir}"]
network_config_dir = "{conf_dir}"
default_network = "k8s-pod-network"
"""


@pytest.fixture
def podman(cri_lab):
    if not shutil.which("podman"):
        pytest.fail("podman is missing: scripts/install-deps.sh installs it")
    node = cri_lab.nodes[0]
    base = os.path.join(node.dir, "podman")
    os.makedirs(base, exist_ok=True)
    conf = os.path.join(base, "containers.conf")
    with open(conf, "w") as handle:
        handle.write(CONTAINERS_CONF.format(bin_dir=node.bin_dir, conf_dir=node.conf_dir))
    rootfs = busybox_rootfs(os.path.join(base, "rootfs")) if not os.path.exists(os.path.join(base, "rootfs")) \
        else os.path.join(base, "rootfs")
    env = dict(os.environ, CONTAINERS_CONF=conf)
    runroot = tempfile.mkdtemp(prefix="%s-pm" % TEST_PREFIX)   # podman wants a runroot under 50 characters

    def run(*args, check=True):
        cmd = ["nsenter", "--net=/run/netns/%s" % node.name, "podman", "--root", os.path.join(base, "root"),
               "--runroot", runroot, "--storage-driver", "vfs"] + list(args)
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=300, check=False)
        if check:
            assert proc.returncode == 0, "%s: %s" % (" ".join(args), proc.stdout)
        return proc

    run.node = node
    run.rootfs = rootfs
    yield run
    run("rm", "-f", "-t", "0", "--all", check=False)
    shutil.rmtree(runroot, ignore_errors=True)


def test_podman_runs_a_container_on_our_plugin(cri_lab, podman):
    node = podman.node
    out = podman("run", "-d", "--name", "pm1", "--network", "k8s-pod-network", "--rootfs", podman.rootfs,
                 "/bin/sleep", "3600").stdout.strip().splitlines()[-1]
    container_id = out.strip()
    info = json.loads(podman("inspect", "pm1").stdout)[0]
    ip = info["NetworkSettings"]["Networks"]["k8s-pod-network"]["IPAddress"]
    assert ip.startswith(cri_lab.pool.split(".0.0/")[0] + "."), info["NetworkSettings"]
    handle = "k8s-pod-network.%s" % container_id
    assert handle in cri_lab.handles()
    host_ifname = ("cali" + container_id)[:15]
    links = subprocess.run(["ip", "-n", node.name, "-o", "link"], stdout=subprocess.PIPE, text=True, check=True).stdout
    assert host_ifname in links
    # the node reaches the container through the /32 route and proxy-ARP
    res = subprocess.run(["ip", "netns", "exec", node.name, "ping", "-c", "1", "-W", "3", ip],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    assert res.returncode == 0, res.stdout
    podman("stop", "-t", "0", "pm1")
    assert handle not in cri_lab.handles()
    links = subprocess.run(["ip", "-n", node.name, "-o", "link"], stdout=subprocess.PIPE, text=True, check=True).stdout
    assert host_ifname not in links
    podman("rm", "pm1")
