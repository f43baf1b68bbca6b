# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""containerd end to end: pods asked for through CRI (as the kubelet does) on every node of a small lab get
their network from the collection's plugin through the conflist in containerd's CNI conf dir."""

from __future__ import annotations

import os
import subprocess

import pytest


def ping(pid, address):
    """Ping from inside the pod (the sandbox's network namespace, entered by the pause process)."""
    return subprocess.run(["nsenter", "-t", str(pid), "-n", "ping", "-c", "1", "-W", "3", address],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)


def test_pods_on_every_node_ping_across_nodes_and_give_everything_back(cri_lab):
    pods = []
    for node in cri_lab.nodes:
        cri = node.cri()
        sandbox, _seconds = cri.run("web-%s" % node.hostname, "default", "uid-%s" % node.hostname)
        status = cri.status(sandbox)
        assert status["ip"], status
        pods.append((node, cri, sandbox, status))
    cri_lab.route_blocks()
    for node, _cri, _sb, status in pods:
        # the host end Calico names from namespace and pod, with the pod's /32 routed to it
        routes = subprocess.run(["ip", "-n", node.name, "route", "show", status["ip"]], stdout=subprocess.PIPE,
                                text=True, check=True).stdout
        assert "dev cali" in routes, routes
    handles = cri_lab.handles()
    assert len([h for h in handles if h.startswith("k8s-pod-network.")]) == len(pods)
    (_n1, _c1, _s1, first), (_n2, _c2, _s2, second) = pods[0], pods[1]
    res = ping(first["pid"], second["ip"])
    assert res.returncode == 0, res.stdout
    res = ping(second["pid"], first["ip"])
    assert res.returncode == 0, res.stdout
    for node, cri, sandbox, status in pods:
        cri.stop(sandbox)
        cri.remove(sandbox)
        links = subprocess.run(["ip", "-n", node.name, "-o", "link"], stdout=subprocess.PIPE, text=True,
                               check=True).stdout
        assert " cali" not in links, links
        with open(os.path.join(node.dir, "log", "cni.log")) as handle:
            lines = [line for line in handle if sandbox in line]
        assert any("ADD" in line for line in lines) and any("DEL done" in line for line in lines)
    assert not [h for h in cri_lab.handles() if h.startswith("k8s-pod-network.")]


def test_a_conf_that_sorts_first_takes_new_pods_and_ours_back_restores(cri_lab):
    node = cri_lab.nodes[0]
    cri = node.cri()
    node.write_conf("05-ptp.conflist", node.ptp_conflist())
    try:
        sandbox, _s = cri.run("other-net", "default", "uid-other")
        status = cri.status(sandbox)
        subnet = node.ptp_conflist()["plugins"][0]["ipam"]["subnet"].rsplit(".", 2)[0]
        assert status["ip"].startswith(subnet + "."), status
        assert not [h for h in cri_lab.handles() if h.startswith("k8s-pod-network.")]
        cri.stop(sandbox)
        cri.remove(sandbox)
    finally:
        node.remove_conf("05-ptp.conflist")
    sandbox, _s = cri.run("ours-again", "default", "uid-ours-again")
    status = cri.status(sandbox)
    assert status["ip"].startswith(cri_lab.pool.split(".0.0/")[0] + "."), status
    assert [h for h in cri_lab.handles() if h.startswith("k8s-pod-network.")]
    cri.stop(sandbox)
    cri.remove(sandbox)
    assert not [h for h in cri_lab.handles() if h.startswith("k8s-pod-network.")]


def test_a_failing_add_reaches_containerd_and_leaves_nothing(cri_lab):
    node = cri_lab.nodes[1]
    broken = node.calico_conflist()
    broken["plugins"][0]["ipam"]["ipv4_pools"] = ["10.3.0.0/16"]
    node.write_conf("10-calico.conflist", broken)
    cri = node.cri()
    try:
        with pytest.raises(Exception) as info:
            cri.run("no-pool", "default", "uid-no-pool")
        assert "plugin type=\"calico\" failed (add)" in str(info.value) and "ipv4_pools" in str(info.value)
    finally:
        node.write_conf("10-calico.conflist", node.calico_conflist())
    for item in cri.list():
        if item.metadata.name == "no-pool":
            cri.remove(item.id)
    assert not [h for h in cri_lab.handles() if h.startswith("k8s-pod-network.")]
    links = subprocess.run(["ip", "-n", node.name, "-o", "link"], stdout=subprocess.PIPE, text=True, check=True).stdout
    assert " cali" not in links
