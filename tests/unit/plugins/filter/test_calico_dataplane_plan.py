# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-node plan: what Calico programs on a node, for each transport."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.podnet.calico.plugins.filter.calico_dataplane_plan import calico_dataplane_plan
from ansible_collections.podnet.calico.plugins.filter.calico_naming import calico_host_ifname, calico_vxlan_mac

NODES = [
    {"name": "node1", "ip": "10.89.0.11", "tunnel_ip": "10.244.0.128"},
    {"name": "node2", "ip": "10.89.0.12", "tunnel_ip": "10.244.0.0"},
    {"name": "node3", "ip": "10.89.0.13", "tunnel_ip": "10.244.0.64"},
]
BLOCKS = [
    {"cidr": "10.244.0.0/26", "node": "node2"},
    {"cidr": "10.244.0.64/26", "node": "node3"},
    {"cidr": "10.244.0.128/26", "node": "node1"},
    {"cidr": "10.244.1.0/26", "node": "node1"},
    {"cidr": "10.244.2.0/26", "node": None},
]


def spec(**over):
    base = {"node": "node1", "ip": "10.89.0.11", "tunnel_ip": "10.244.0.128", "mtu": 1450,
            "encapsulation": "vxlan", "routing": "static", "pods": [
                {"namespace": "default", "name": "net-test", "ip": "10.244.0.129"},
                {"namespace": "kube-system", "name": "dns", "ip": "10.244.0.130"}],
            "blocks": BLOCKS, "nodes": NODES}
    base.update(over)
    return base


def test_pods_veths_and_pod_routes():
    plan = calico_dataplane_plan(spec())
    assert [p["host_ifname"] for p in plan["pods"]] == ["cali8e807cde39b", calico_host_ifname("kube-system.dns")]
    assert plan["pods"][0]["netns"] == "pod-default.net-test"
    assert plan["veths"][0] == {"workload": "default.net-test", "container_netns": "pod-default.net-test",
                                "addresses": ["10.244.0.129/32"], "mtu": 1450}
    assert plan["pod_routes"][:2] == [
        {"netns": "pod-default.net-test", "dst": "169.254.1.1/32", "dev": "eth0", "scope": "link"},
        {"netns": "pod-default.net-test", "dst": "0.0.0.0/0", "via": "169.254.1.1", "dev": "eth0"},
    ]


def test_node_routes_own_blocks_are_blackholes_in_order():
    plan = calico_dataplane_plan(spec())
    assert plan["own_blocks"] == ["10.244.0.128/26", "10.244.1.0/26"]
    blackholes = [r["dst"] for r in plan["node_routes"] if r.get("type") == "blackhole"]
    assert blackholes == ["10.244.0.128/26", "10.244.1.0/26"]
    workload = [r for r in plan["node_routes"] if r["dst"].endswith("/32")]
    assert workload[0] == {"dst": "10.244.0.129/32", "dev": "cali8e807cde39b", "scope": "link"}
    assert not any(r["dst"] == "10.244.2.0/26" for r in plan["node_routes"]), "a block without affinity is nobody's"


@pytest.mark.parametrize("encapsulation, expected", [
    ("vxlan", {"dst": "10.244.0.0/26", "via": "10.244.0.0", "dev": "vxlan.calico", "onlink": True}),
    ("ipip", {"dst": "10.244.0.0/26", "via": "10.89.0.12", "dev": "tunl0", "onlink": True}),
    ("none", {"dst": "10.244.0.0/26", "via": "10.89.0.12", "dev": "eth0"}),
])
def test_remote_block_routes_per_transport(encapsulation, expected):
    plan = calico_dataplane_plan(spec(encapsulation=encapsulation))
    assert expected in plan["node_routes"]
    assert {"node": "node3", "cidr": "10.244.0.64/26"} in plan["remote_blocks"]


def test_vxlan_tunnel_and_peers():
    tunnel = calico_dataplane_plan(spec())["tunnel"]
    assert tunnel["type"] == "vxlan" and tunnel["address"] == "10.244.0.128" and tunnel["mtu"] == 1450
    assert tunnel["peers"] == [
        {"vtep_ip": "10.244.0.0", "vtep_mac": calico_vxlan_mac("node2"), "underlay_ip": "10.89.0.12"},
        {"vtep_ip": "10.244.0.64", "vtep_mac": calico_vxlan_mac("node3"), "underlay_ip": "10.89.0.13"},
    ]
    assert calico_vxlan_mac("node1") == "66:f9:37:c3:7e:94"


def test_bgp_leaves_remote_routes_to_bird():
    plan = calico_dataplane_plan(spec(routing="bgp", encapsulation="none"))
    assert plan["tunnel"] is None
    assert not [r for r in plan["node_routes"] if r.get("via")]
    assert plan["bgp_peers"] == [{"name": "node2", "ip": "10.89.0.12"}, {"name": "node3", "ip": "10.89.0.13"}]


@pytest.mark.parametrize("over, message", [
    ({"encapsulation": "gre"}, "encapsulation must be one of vxlan, ipip, none, got 'gre'"),
    ({"routing": "ospf"}, "routing must be one of static, bgp, got 'ospf'"),
    ({"node": ""}, "'node' is required"),
    ({"tunnel_ip": ""}, "'tunnel_ip' is required"),
    ({"nodes": [{"name": "node2", "ip": "10.89.0.12"}]}, "node node2 has no VXLAN tunnel address"),
    ({"pods": [{"namespace": "default", "name": "x"}]}, "'ip' is required"),
])
def test_bad_input_names_the_problem(over, message):
    with pytest.raises(AnsibleFilterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        calico_dataplane_plan(spec(**over))
