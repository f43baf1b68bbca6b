# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The per-node plan: what Calico's CNI plugin, Felix and confd program on one node.

Private to the podnet.calico collection: not a public API, may change without notice.
Plain Python, no Ansible imports (the filter podnet.calico.calico_dataplane_plan and the CNI plugin
use it). From the node, its pods with their addresses, every block of the pool with its affinity and
every node of the cluster, it returns the configuration of the data-plane modules: veth pairs, pod
routes, the node's routes (workload /32s, blackholes for its own blocks, routes to the other nodes'
blocks), the tunnel device and its peers.
"""

import ipaddress

from ansible_collections.podnet.calico.plugins.module_utils.calico._names import (
    IPIP_IFNAME, POD_GATEWAY, VXLAN_IFNAME, NamingError, host_ifname, vxlan_mac,
)
from ansible_collections.podnet.calico.plugins.module_utils.calico._mtu import ENCAPSULATIONS

ROUTINGS = ("static", "bgp")


class PlanError(ValueError):
    """A node description the plan cannot be computed from; the message names the field."""


def _require(spec, key):
    if key not in spec or spec[key] in (None, ""):
        raise PlanError("calico_dataplane_plan: %r is required" % key)
    return spec[key]


def _blocks_of(blocks, node):
    return sorted((b["cidr"] for b in blocks if b.get("node") == node),
                  key=ipaddress.ip_network)


def dataplane_plan(spec):
    """The data-plane configuration of one node (fields: see the filter podnet.calico.calico_dataplane_plan)."""
    if not isinstance(spec, dict):
        raise PlanError("calico_dataplane_plan: expects a dict, got %s" % type(spec).__name__)
    node = _require(spec, "node")
    encapsulation = spec.get("encapsulation", "vxlan")
    routing = spec.get("routing", "static")
    if encapsulation not in ENCAPSULATIONS:
        raise PlanError("calico_dataplane_plan: encapsulation must be one of %s, got %r"
                        % (", ".join(ENCAPSULATIONS), encapsulation))
    if routing not in ROUTINGS:
        raise PlanError("calico_dataplane_plan: routing must be one of %s, got %r"
                        % (", ".join(ROUTINGS), routing))
    mtu = int(spec.get("mtu", 1500))
    prefix = spec.get("pod_netns_prefix", "pod-")
    underlay_dev = spec.get("underlay_dev", "eth0")
    blocks = spec.get("blocks", [])
    nodes = spec.get("nodes", [])

    pods = []
    for pod in spec.get("pods", []):
        workload = "%s.%s" % (_require(pod, "namespace"), _require(pod, "name"))
        try:
            ifname = host_ifname(workload)
        except NamingError as exc:
            raise PlanError("calico_dataplane_plan: %s" % exc)
        ip = _require(pod, "ip")
        pods.append({
            "namespace": pod["namespace"],
            "name": pod["name"],
            "workload": workload,
            "netns": "%s%s" % (prefix, workload),
            "ip": ip,
            "host_ifname": ifname,
        })

    veths = [{"workload": p["workload"], "container_netns": p["netns"], "addresses": ["%s/32" % p["ip"]],
              "mtu": mtu} for p in pods]
    pod_routes = []
    for pod in pods:
        pod_routes.append({"netns": pod["netns"], "dst": "%s/32" % POD_GATEWAY, "dev": "eth0", "scope": "link"})
        pod_routes.append({"netns": pod["netns"], "dst": "0.0.0.0/0", "via": POD_GATEWAY, "dev": "eth0"})

    node_routes = [{"dst": "%s/32" % p["ip"], "dev": p["host_ifname"], "scope": "link"} for p in pods]
    own_blocks = _blocks_of(blocks, node)
    node_routes += [{"dst": cidr, "type": "blackhole"} for cidr in own_blocks]

    peers = []
    remote = []
    for other in nodes:
        name = _require(other, "name")
        if name == node:
            continue
        other_ip = _require(other, "ip")
        other_blocks = _blocks_of(blocks, name)
        if encapsulation == "vxlan":
            vtep_ip = other.get("tunnel_ip")
            if not vtep_ip:
                raise PlanError("calico_dataplane_plan: node %s has no VXLAN tunnel address" % name)
            peers.append({"vtep_ip": vtep_ip, "vtep_mac": vxlan_mac(name), "underlay_ip": other_ip})
        for cidr in other_blocks:
            remote.append({"node": name, "cidr": cidr})
            if routing != "static":
                continue
            if encapsulation == "vxlan":
                node_routes.append({"dst": cidr, "via": other["tunnel_ip"], "dev": VXLAN_IFNAME, "onlink": True})
            elif encapsulation == "ipip":
                node_routes.append({"dst": cidr, "via": other_ip, "dev": IPIP_IFNAME, "onlink": True})
            else:
                node_routes.append({"dst": cidr, "via": other_ip, "dev": underlay_dev})

    tunnel = None
    if encapsulation == "vxlan":
        tunnel = {"type": "vxlan", "node_name": node, "address": _require(spec, "tunnel_ip"), "mtu": mtu,
                  "underlay_dev": underlay_dev, "underlay_ip": _require(spec, "ip"), "peers": peers}
    elif encapsulation == "ipip":
        tunnel = {"type": "ipip", "address": _require(spec, "tunnel_ip"), "mtu": mtu}

    return {
        "node": node,
        "pods": pods,
        "veths": veths,
        "pod_routes": pod_routes,
        "node_routes": node_routes,
        "own_blocks": own_blocks,
        "remote_blocks": remote,
        "tunnel": tunnel,
        "bgp_peers": [{"name": n["name"], "ip": n["ip"]} for n in nodes if n["name"] != node],
    }
