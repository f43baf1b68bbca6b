# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""CNI conformance of podnet.calico's plugin, exec'd as a runtime does (env + stdin), on real namespaces.

Every test runs the plugin inside a node namespace whose 127.0.0.1 has a real etcd (TLS), with
Debian's python3 (pyroute2 0.7) unless it says otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from cni_testlib import TEST_PREFIX, add_netns, build_plugin, call, cni_env, ip_json, k8s_args, kill_netns

VERSIONS = ["0.3.1", "0.4.0", "1.0.0", "1.1.0"]
_counter = [0]


def host_ifname(namespace, pod):
    return ("cali" + hashlib.sha1(("%s.%s" % (namespace, pod)).encode()).hexdigest())[:15]


class Pod:
    """A pod sandbox: its network namespace and the CNI identity a runtime gives it."""

    def __init__(self, node, tag):
        _counter[0] += 1
        self.node = node
        self.namespace = "default"
        self.name = "%s-%s-%d" % (tag, TEST_PREFIX, _counter[0])
        self.container_id = hashlib.sha256(self.name.encode()).hexdigest()[:64]
        self.netns_name = add_netns("%s-p%d" % (TEST_PREFIX, _counter[0]))
        self.netns = "/run/netns/%s" % self.netns_name
        self.host_ifname = host_ifname(self.namespace, self.name)

    def env(self, command, netns=True, **kw):
        return cni_env(command, self.container_id, self.netns if netns else "", kw.pop("ifname", "eth0"),
                       k8s_args(self.namespace, self.name, self.container_id), **kw)

    def call(self, command, conf, netns=True, plugin=None):
        return call(plugin or self.node.calico, self.node.name, conf, self.env(command, netns=netns))

    def remove(self):
        kill_netns(self.netns_name)


@pytest.fixture
def pods(cni_node):
    made = []

    def make(tag="pod"):
        pod = Pod(cni_node, tag)
        made.append(pod)
        return pod

    yield make
    for pod in made:
        call(cni_node.calico, cni_node.name, cni_node.conf(), pod.env("DEL", netns=False))
        pod.remove()


def node_state(node, pod):
    """What of ``pod`` exists: host veth, /32 route on the node, handle, WorkloadEndpoint."""
    links = [link["ifname"] for link in ip_json(node.name, "link", "show")]
    routes = [r["dst"] for r in ip_json(node.name, "route", "show")]
    handle = "k8s-pod-network.%s" % pod.container_id
    return {
        "veth": pod.host_ifname in links,
        "routes": [r for r in routes if r.startswith("10.77.")],
        "handle": handle in node.handles(),
        "weps": [k for k in node.weps() if k.endswith("-k8s-%s-eth0" % pod.name.replace("-", "--"))],
    }


def assert_gone(node, pod):
    state = node_state(node, pod)
    assert state == {"veth": False, "routes": [], "handle": False, "weps": []}, state


@pytest.mark.parametrize("version", VERSIONS)
def test_add_check_del(cni_node, pods, version):
    pod = pods()
    conf = cni_node.conf(version)
    add = pod.call("ADD", conf)
    assert add.rc == 0, add
    res = add.json
    assert res["cniVersion"] == version
    ip = res["ips"][0]["address"]
    assert ip.startswith("10.77.") and ip.endswith("/32")
    assert ("version" in res["ips"][0]) == (version < "1.0.0")
    assert res["interfaces"][0]["name"] == pod.host_ifname
    assert res["interfaces"][1] == {"name": "eth0", "mac": res["interfaces"][1]["mac"], "sandbox": pod.netns}
    # the pod side as Calico builds it
    addrs = ip_json(pod.netns_name, "-4", "addr", "show", "dev", "eth0")[0]
    assert ["%s/%s" % (a["local"], a["prefixlen"]) for a in addrs["addr_info"]] == [ip]
    assert addrs["mtu"] == 1450
    routes = ip_json(pod.netns_name, "route", "show")
    assert {"dst": "default", "gateway": "169.254.1.1", "dev": "eth0"}.items() <= \
        next(r for r in routes if r["dst"] == "default").items()
    assert any(r["dst"] == "169.254.1.1" and r.get("scope") == "link" for r in routes)
    # the node side
    host = ip_json(cni_node.name, "link", "show", "dev", pod.host_ifname)[0]
    assert host["address"] == "ee:ee:ee:ee:ee:ee"
    node_routes = ip_json(cni_node.name, "route", "show", ip.split("/")[0])
    assert node_routes and node_routes[0]["dev"] == pod.host_ifname and node_routes[0]["protocol"] == "201"
    with open("/proc/sys/net/ipv4/conf/all/forwarding"):
        pass
    proxy = subprocess.run(["ip", "netns", "exec", cni_node.name, "cat",
                            "/proc/sys/net/ipv4/conf/%s/proxy_arp" % pod.host_ifname,
                            "/proc/sys/net/ipv4/neigh/%s/proxy_delay" % pod.host_ifname],
                           stdout=subprocess.PIPE, text=True, check=True).stdout.split()
    assert proxy == ["1", "0"]
    # datastore: handle with attributes, WorkloadEndpoint in Calico's layout
    state = node_state(cni_node, pod)
    assert state["handle"] and len(state["weps"]) == 1
    wep = json.loads(cni_node.weps()[state["weps"][0]])
    assert state["weps"][0] == ("/calico/resources/v3/projectcalico.org/workloadendpoints/default/"
                                "cni--node1-k8s-%s-eth0" % pod.name.replace("-", "--"))
    assert wep["kind"] == "WorkloadEndpoint" and wep["apiVersion"] == "projectcalico.org/v3"
    assert wep["spec"]["ipNetworks"] == [ip] and wep["spec"]["interfaceName"] == pod.host_ifname
    assert wep["spec"]["containerID"] == pod.container_id and wep["spec"]["node"] == "cni-node1"
    assert wep["spec"]["pod"] == pod.name and wep["metadata"]["namespace"] == "default"
    blocks = cni_node.keys("/calico/ipam/v2/assignment/ipv4/block/")
    attrs = [a for v in blocks.values() for a in json.loads(v)["attributes"]
             if a.get("handle_id") == "k8s-pod-network.%s" % pod.container_id]
    assert attrs and attrs[0]["secondary"]["namespace"] == "default" and attrs[0]["secondary"]["pod"] == pod.name
    assert attrs[0]["secondary"]["node"] == "cni-node1"
    # CHECK (from 0.4.0 on), then DEL; the log names the container on every line
    check_conf = dict(conf, prevResult=res)
    check = pod.call("CHECK", check_conf)
    if version == "0.3.1":
        assert check.rc == 1 and check.json["code"] == 1, check
    else:
        assert check.rc == 0, check
    dele = pod.call("DEL", dict(conf, prevResult=res))
    assert dele.rc == 0 and not dele.stdout.strip(), dele
    assert_gone(cni_node, pod)
    with open(cni_node.log_path) as handle:
        lines = [line for line in handle if pod.container_id in line]
    assert any(" ADD " in line or "ADD netns" in line for line in lines)
    assert any("DEL done" in line for line in lines)
