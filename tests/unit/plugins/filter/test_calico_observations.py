# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's verify checks: a healthy node passes every observation, each fault fails its own."""

from __future__ import annotations

import copy
import json

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.podnet.calico.plugins.filter.calico_observations import (
    calico_observations,
    calico_observations_report,
)

POD = {"namespace": "default", "name": "p1", "netns": "pod-default.p1", "ip": "10.244.0.1",
       "host_ifname": "cali0000000000a"}


def healthy():
    info = {
        "interfaces": [{"ifname": "cali0000000000a", "ifindex": 3, "peer_ifindex": 2, "kind": "veth",
                        "mac": "ee:ee:ee:ee:ee:ee", "master": None, "proxy_arp": True, "proxy_delay": 0,
                        "forwarding": True}],
        "workload_routes": [{"dst": "10.244.0.1/32", "dev": "cali0000000000a", "scope": "link", "type": "unicast"}],
        "block_routes": {"blackhole": [{"dst": "10.244.0.0/26", "type": "blackhole"}],
                         "tunnel": [{"dst": "10.244.0.64/26", "via": "10.244.0.64", "dev": "vxlan.calico",
                                     "onlink": True, "type": "unicast", "proto": 201}],
                         "direct": []},
        "default_routes": [{"dst": "0.0.0.0/0", "via": "10.89.0.1", "dev": "eth0", "type": "unicast"}],
    }
    pod_info = [{"netns": "pod-default.p1", "interfaces": [
        {"ifname": "eth0", "ifindex": 2, "peer_ifindex": 3, "kind": "veth", "addresses": ["10.244.0.1/32"]}],
        "routes": [{"dst": "169.254.1.1/32", "dev": "eth0", "scope": "link"},
                   {"dst": "0.0.0.0/0", "via": "169.254.1.1", "dev": "eth0"}]}]
    return {
        "node": "node1", "info": info, "pod_info": pod_info, "pods": [POD],
        "addresses": [{"ifname": "eth0", "addr_info": [{"family": "inet", "local": "10.89.0.11"}]},
                      {"ifname": "cali0000000000a", "addr_info": [{"family": "inet6", "local": "fe80::1",
                                                                   "scope": "link"}]}],
        "arp_output": "== pod-default.p1\nUnicast reply from 169.254.1.1 [EE:EE:EE:EE:EE:EE]  0.6ms\n",
        "ping_output": "pod-default.p1 10.244.0.65 ok\n",
        "pool": "10.244.0.0/16", "block_size": 26, "encapsulation": "vxlan", "routing": "static",
        "blocks": ["10.244.0.0/26"],
        "other_nodes": [{"name": "node2", "ip": "10.89.0.12", "tunnel_ip": "10.244.0.64",
                         "blocks": ["10.244.0.64/26"]}],
    }


def failed(spec):
    return [(r["pod"], r["observation"]) for r in calico_observations(spec) if not r["ok"]]


def test_healthy_node_passes_everything():
    rows = calico_observations(healthy())
    # 8 per pod; per node: gateway, default route, block size, blackhole, one route per remote block.
    assert len(rows) == 8 + 5
    assert failed(healthy()) == []


def _break_veth_peer(s):
    s["pod_info"][0]["interfaces"][0]["peer_ifindex"] = 9


def _address_on_host_end(s):
    s["addresses"][1]["addr_info"].append({"family": "inet", "local": "10.0.0.1"})


def _no_default_in_pod(s):
    s["pod_info"][0]["routes"].pop()


def _proxy_arp_off(s):
    s["info"]["interfaces"][0]["proxy_arp"] = False


def _arp_unanswered(s):
    s["arp_output"] = "== pod-default.p1\nSent 1 probes\nReceived 0 response(s)\n"


def _no_workload_route(s):
    s["info"]["workload_routes"] = []


def _ping_fails(s):
    s["ping_output"] = "pod-default.p1 10.244.0.65 fail\n"


def _gateway_on_node(s):
    s["addresses"][0]["addr_info"].append({"family": "inet", "local": "169.254.1.1"})


def _no_default_route(s):
    s["info"]["default_routes"] = []


def _no_blackhole(s):
    s["info"]["block_routes"]["blackhole"] = []


def _remote_route_direct(s):
    s["info"]["block_routes"]["tunnel"][0].update(dev="eth0", via="10.89.0.12", onlink=False)


def _block_wrong_size(s):
    s["blocks"] = ["10.244.0.0/24"]


@pytest.mark.parametrize("fault, pod, observation", [
    (_break_veth_peer, "default/p1", "eth0 is a veth peered with the cali interface"),
    (_address_on_host_end, "default/p1", "host end has no master and no address"),
    (_no_default_in_pod, "default/p1", "default via 169.254.1.1, 169.254.1.1 on link"),
    (_proxy_arp_off, "default/p1", "proxy_arp on the cali interface"),
    (_arp_unanswered, "default/p1", "ARP for 169.254.1.1 answered with the cali MAC"),
    (_no_workload_route, "default/p1", "node routes the /32 to the cali interface"),
    (_ping_fails, "default/p1", "pings every other pod"),
    (_gateway_on_node, "-", "169.254.1.1 is on no interface of the node"),
    (_no_default_route, "-", "node has a default route (proxy-ARP needs it)"),
    (_no_blackhole, "-", "blackhole for own block 10.244.0.0/26"),
    (_remote_route_direct, "-", "route to node2's block 10.244.0.64/26 (vxlan)"),
    (_block_wrong_size, "-", "block 10.244.0.0/24 is a /26 of the pool"),
])
def test_each_fault_fails_its_own_observation(fault, pod, observation):
    spec = copy.deepcopy(healthy())
    fault(spec)
    assert (pod, observation) in failed(spec)


def test_bgp_routes_must_come_from_bird():
    spec = healthy()
    spec.update(routing="bgp", encapsulation="none")
    spec["info"]["block_routes"]["tunnel"] = []
    spec["info"]["block_routes"]["direct"] = [{"dst": "10.244.0.64/26", "via": "10.89.0.12", "dev": "eth0",
                                               "type": "unicast", "proto": 201}]
    assert ("-", "route to node2's block 10.244.0.64/26 (none, bgp)") in failed(spec)
    spec["info"]["block_routes"]["direct"][0]["proto"] = 12
    assert failed(spec) == []


def test_one_probe_output_equals_the_separate_outputs():
    spec = healthy()
    probe = ("== ping\n" + spec.pop("ping_output") + "== addresses\n" + json.dumps(spec.pop("addresses")) + "\n"
             + spec.pop("arp_output").replace("== pod-default.p1", "== arp pod-default.p1"))
    spec["probe_output"] = probe
    assert calico_observations(spec) == calico_observations(healthy())


def test_probe_output_with_broken_addresses_names_the_section():
    spec = healthy()
    spec["probe_output"] = "== addresses\nnot json\n"
    with pytest.raises(AnsibleFilterError, match="probe_output: the addresses section"):
        calico_observations(spec)


def test_report_table_counts_and_names_failures():
    spec = healthy()
    spec["ping_output"] = "pod-default.p1 10.244.0.65 fail\n"
    rows = calico_observations(spec)
    lab = {"nodes": [{"name": "node1", "blocks": ["10.244.0.0/26"]}],
           "pods": [dict(POD, node="node1")]}
    out = calico_observations_report(rows, lab, {"node1": spec["info"]})
    assert out["table"][1].split()[:6] == ["node1", "10.244.0.0/26", "p1", "10.244.0.1", "cali0000000000a", "3@if2"]
    assert out["table"][1].endswith("7/8 ok")
    assert out["table"][-1] == "observations: 13, passed: 12, failed: 1"
    assert out["failed"] == ["node1 | default/p1 | pings every other pod | 0 of 1 answered, no answer from 10.244.0.65"]


def test_report_refuses_what_is_not_a_lab():
    with pytest.raises(AnsibleFilterError, match="calico_observations_report"):
        calico_observations_report([], "lab")
