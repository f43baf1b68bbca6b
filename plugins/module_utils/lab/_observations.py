# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check a lab node against what Calico builds there, observation by observation (private to the collection).

The input is what a person collects by hand on a node (calico_dataplane_info for the node and its
pods, ``ip -j addr``, arping and ping results) plus what the node should have (its pods and blocks,
the other nodes' blocks, the transport). The output is one row per observation with ``ok`` and a
detail that says what was seen, so that a failure names the node, pod and observation. report()
turns the rows of every node into the lab's table. Plain Python, no Ansible import.
"""

from __future__ import annotations

import ipaddress
import json
import re

from ansible_collections.podnet.calico.plugins.module_utils.calico._names import (
    IPIP_IFNAME,
    POD_GATEWAY,
    VXLAN_IFNAME,
)


class ObservationError(ValueError):
    """Input that cannot be checked, with a message naming what is wrong."""


GATEWAY = POD_GATEWAY
_ARP_REPLY = re.compile(r"reply from %s \[([0-9A-Fa-f:]{17})\]" % re.escape(GATEWAY))


def _row(rows, node, pod, observation, ok, detail):
    rows.append({"node": node, "pod": pod, "observation": observation, "ok": bool(ok), "detail": detail})


def _ipv4_of(addr_entry):
    return [a for a in addr_entry.get("addr_info", []) if a.get("family") == "inet"]


def _global_ipv6_of(addr_entry):
    return [a for a in addr_entry.get("addr_info", [])
            if a.get("family") == "inet6" and a.get("scope") != "link"]


def _route_desc(route):
    parts = [route.get("type", "unicast") if route.get("type") != "unicast" else "", route.get("dst", "?")]
    if route.get("via"):
        parts += ["via", route["via"]]
    if route.get("dev"):
        parts += ["dev", route["dev"]]
    if route.get("onlink"):
        parts.append("onlink")
    return " ".join(p for p in parts if p)


def _all_routes(info):
    routes = list(info.get("workload_routes", [])) + list(info.get("default_routes", []))
    for kind_routes in (info.get("block_routes") or {}).values():
        routes += list(kind_routes)
    routes += list(info.get("other_routes", []))
    return routes


def _sections(text):
    """Split "== <name>" delimited command output into {name: text}."""
    out, name = {}, None
    for line in (text or "").splitlines():
        if line.startswith("== "):
            name = line[3:].strip()
            out[name] = ""
        elif name is not None:
            out[name] += line + "\n"
    return out


def _ping_lines(text):
    """Lines "<src netns> <dst ip> ok|fail" as dicts."""
    pings = []
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] in ("ok", "fail"):
            pings.append({"src": parts[0], "dst": parts[1], "ok": parts[2] == "ok"})
    return pings


def observations(spec):
    """Rows of observations for one node (see the calico_observations filter's documentation)."""
    if not isinstance(spec, dict):
        raise ObservationError("expects a dict, got %s" % type(spec).__name__)
    try:
        node = spec["node"]
        info = spec["info"]
    except KeyError as exc:
        raise ObservationError("%s is required" % exc) from exc
    pods = spec.get("pods", [])
    pod_infos = {p.get("netns"): p for p in spec.get("pod_info", [])}
    addresses = list(spec.get("addresses", []))
    arps = dict(spec.get("arp", {}))
    arps.update(_sections(spec.get("arp_output", "")))
    pings = list(spec.get("pings", [])) + _ping_lines(spec.get("ping_output", ""))
    # One probe script's output: "== addresses" (ip -j addr), "== arp <netns>" (arping), "== ping" (ping lines).
    for section, text in _sections(spec.get("probe_output", "")).items():
        if section == "addresses":
            try:
                addresses += json.loads(text or "[]")
            except ValueError as exc:
                raise ObservationError("probe_output: the addresses section is not ip -j addr output: %s" % exc) from exc
        elif section.startswith("arp "):
            arps[section[4:]] = text
        elif section == "ping":
            pings += _ping_lines(text)
    addrs = {a.get("ifname"): a for a in addresses}
    pool = ipaddress.ip_network(spec.get("pool", "0.0.0.0/0"))
    block_size = int(spec.get("block_size", 26))
    encapsulation = spec.get("encapsulation", "vxlan")
    routing = spec.get("routing", "static")
    own_blocks = spec.get("blocks", [])
    others = spec.get("other_nodes", [])
    host_ifs = {i["ifname"]: i for i in info.get("interfaces", [])}
    rows = []

    for pod in pods:
        name = "%s/%s" % (pod["namespace"], pod["name"])
        pinfo = pod_infos.get(pod["netns"])
        cali = host_ifs.get(pod["host_ifname"])
        if pinfo is None:
            _row(rows, node, name, "pod namespace present", False, "no namespace %s" % pod["netns"])
            continue
        eth0 = next((i for i in pinfo.get("interfaces", []) if i.get("ifname") == "eth0"), None)
        if eth0 is None or cali is None:
            _row(rows, node, name, "eth0 is a veth peered with the cali interface", False,
                 "eth0 %s, %s %s" % ("present" if eth0 else "missing", pod["host_ifname"],
                                     "present" if cali else "missing on the node"))
            continue
        paired = (eth0.get("kind") == "veth" and eth0.get("peer_ifindex") == cali.get("ifindex")
                  and cali.get("peer_ifindex") == eth0.get("ifindex"))
        seen = (eth0.get("ifindex"), eth0.get("peer_ifindex"), cali["ifname"], cali.get("ifindex"),
                cali.get("peer_ifindex"))
        _row(rows, node, name, "eth0 is a veth peered with the cali interface", paired,
             "eth0 ifindex %s @if%s, %s ifindex %s @if%s" % seen)
        host_addr = addrs.get(cali["ifname"], {})
        bare = cali.get("master") is None and not _ipv4_of(host_addr) and not _global_ipv6_of(host_addr)
        _row(rows, node, name, "host end has no master and no address", bare,
             "master %s, addresses %s" % (cali.get("master"),
                                          [a.get("local") for a in _ipv4_of(host_addr) + _global_ipv6_of(host_addr)]))
        v4 = [a for a in eth0.get("addresses", []) if ":" not in a]
        _row(rows, node, name, "pod has its /32", v4 == ["%s/32" % pod["ip"]], "eth0 addresses %s" % v4)
        proutes = pinfo.get("routes", [])
        gw_link = any(r.get("dst") == "%s/32" % GATEWAY and r.get("dev") == "eth0" and r.get("scope") == "link"
                      for r in proutes)
        default = any(r.get("dst") == "0.0.0.0/0" and r.get("via") == GATEWAY and r.get("dev") == "eth0"
                      for r in proutes)
        _row(rows, node, name, "default via %s, %s on link" % (GATEWAY, GATEWAY), gw_link and default,
             "; ".join(_route_desc(r) for r in proutes))
        sysctls = cali.get("proxy_arp") is True and cali.get("proxy_delay") == 0 and cali.get("forwarding") is True
        _row(rows, node, name, "proxy_arp on the cali interface", sysctls,
             "proxy_arp %s, proxy_delay %s, forwarding %s" % (cali.get("proxy_arp"), cali.get("proxy_delay"),
                                                              cali.get("forwarding")))
        arp_out = arps.get(pod["netns"], "")
        match = _ARP_REPLY.search(arp_out)
        answered = match.group(1).lower() if match else None
        _row(rows, node, name, "ARP for %s answered with the cali MAC" % GATEWAY,
             answered is not None and answered == (cali.get("mac") or "").lower(),
             "answered by %s, %s has %s" % (answered, cali["ifname"], cali.get("mac")))
        wroute = any(r.get("dst") == "%s/32" % pod["ip"] and r.get("dev") == cali["ifname"]
                     and r.get("scope") == "link" for r in info.get("workload_routes", []))
        _row(rows, node, name, "node routes the /32 to the cali interface", wroute,
             "%s/32 dev %s" % (pod["ip"], cali["ifname"]))
        mine = [p for p in pings if p.get("src") == pod["netns"]]
        failed = [p["dst"] for p in mine if not p.get("ok")]
        _row(rows, node, name, "pings every other pod", mine and not failed,
             "%d of %d answered%s" % (len(mine) - len(failed), len(mine),
                                      (", no answer from %s" % ", ".join(failed)) if failed else ""))

    holders = [ifname for ifname, entry in addrs.items()
               if any(a.get("local") == GATEWAY for a in entry.get("addr_info", []))]
    _row(rows, node, "-", "%s is on no interface of the node" % GATEWAY, not holders,
         "held by %s" % holders if holders else "not assigned")
    defaults = info.get("default_routes", [])
    _row(rows, node, "-", "node has a default route (proxy-ARP needs it)", bool(defaults),
         "; ".join(_route_desc(r) for r in defaults) or "none")
    blackholes = [r.get("dst") for r in (info.get("block_routes") or {}).get("blackhole", [])]
    for cidr in own_blocks:
        net = ipaddress.ip_network(cidr)
        _row(rows, node, "-", "block %s is a /%d of the pool" % (cidr, block_size),
             net.prefixlen == block_size and net.subnet_of(pool), "pool %s" % pool)
        _row(rows, node, "-", "blackhole for own block %s" % cidr, cidr in blackholes,
             "blackholes %s" % blackholes)
    if not own_blocks:
        _row(rows, node, "-", "node owns a block", False, "no block has affinity host:%s" % node)
    routes = _all_routes(info)
    for other in others:
        for cidr in other.get("blocks", []):
            found = [r for r in routes if r.get("dst") == cidr and r.get("type", "unicast") == "unicast"]
            if encapsulation == "vxlan":
                want = {"via": other.get("tunnel_ip"), "dev": VXLAN_IFNAME, "onlink": True}
            elif encapsulation == "ipip":
                want = {"via": other["ip"], "dev": IPIP_IFNAME, "onlink": True}
            else:
                want = {"via": other["ip"]}
            ok = any(all(r.get(k) == v for k, v in want.items()) for r in found)
            if ok and routing == "bgp":
                ok = any(r.get("proto") in (12, "bird") for r in found)
            transport = encapsulation + (", bgp" if routing == "bgp" else "")
            _row(rows, node, "-", "route to %s's block %s (%s)" % (other["name"], cidr, transport),
                 ok, "; ".join("%s proto %s" % (_route_desc(r), r.get("proto")) for r in found) or "no route")
    # Pods made by a container runtime: CNI CHECK with the runtime's cached ADD result, one per pod.
    if spec.get("cni_checks") is not None:
        checks = dict(("%s/%s" % (c.get("namespace"), c.get("name")), c) for c in spec["cni_checks"]
                      if c.get("node") in (None, node))
        for pod in pods:
            key = "%s/%s" % (pod["namespace"], pod["name"])
            check = checks.get(key)
            _row(rows, node, key, "CNI CHECK passes (the runtime's cached result)",
                 bool(check and check.get("ok")), check.get("msg") if check else "no CHECK result for the pod")
    return rows


def _links(info):
    """{host ifname: "<ifindex>@if<peer ifindex>"} from a calico_dataplane_info result."""
    return dict((i.get("ifname"), "%s@if%s" % (i.get("ifindex"), i.get("peer_ifindex")))
                for i in (info or {}).get("interfaces", []))


def report(lab, rows, infos=None):
    """The lab's report from its state (lab.json), every node's rows and, per node, its dataplane info.

    Returns {"table": [lines], "failed": ["node | pod | observation | detail"], "summary": str}.
    """
    if not isinstance(lab, dict) or not isinstance(rows, list):
        raise ObservationError("report expects the lab state (a dict) and the rows (a list)")
    infos = infos or {}
    table = ["%-7s %-16s %-12s %-13s %-16s %-9s %s" % ("node", "block", "pod", "ip", "host veth", "idx@peer", "checks")]
    for node in lab.get("nodes", []):
        links = _links(infos.get(node["name"]))
        for pod in lab.get("pods", []):
            if pod.get("node") != node["name"]:
                continue
            mine = [r for r in rows if r["node"] == node["name"] and r["pod"] == "%s/%s" % (pod["namespace"], pod["name"])]
            table.append("%-7s %-16s %-12s %-13s %-16s %-9s %d/%d ok" % (
                node["name"], ",".join(node.get("blocks") or ["-"]), pod["name"], pod["ip"], pod["host_ifname"],
                links.get(pod["host_ifname"], "?"), len([r for r in mine if r["ok"]]), len(mine)))
        nodewide = [r for r in rows if r["node"] == node["name"] and r["pod"] == "-"]
        table.append("%-7s node-wide checks: %d/%d ok" % (node["name"], len([r for r in nodewide if r["ok"]]),
                                                          len(nodewide)))
    failed = ["%s | %s | %s | %s" % (r["node"], r["pod"], r["observation"], r["detail"]) for r in rows if not r["ok"]]
    table.append("observations: %d, passed: %d, failed: %d" % (len(rows), len(rows) - len(failed), len(failed)))
    summary = "all %d observations hold on %d nodes" % (len(rows), len(lab.get("nodes", [])))
    return {"table": table, "failed": failed, "summary": summary}
