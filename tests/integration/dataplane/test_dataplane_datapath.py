# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real data path built by the modules, and every bad input failing with its message."""

from __future__ import annotations


import json
import os

from dp_helpers import links, result_of, routes, sh

FQ = "podnet.calico."


def wire_tasks(node, pods):
    """One task per module for all pods, as the lab role does."""
    veths = [{"workload": "default.%s" % p, "container_netns": p, "addresses": ["10.65.0.%d" % (2 + i)]}
             for i, p in enumerate(pods)]
    route_cfg = [{"dst": "10.65.0.0/26", "type": "blackhole"}]
    for i, p in enumerate(pods):
        route_cfg += [{"netns": p, "dst": "169.254.1.1", "dev": "eth0"},
                      {"netns": p, "dst": "default", "via": "169.254.1.1", "dev": "eth0"}]
    return [
        {"name": "veths", FQ + "calico_veth": {"netns": node, "config": veths}, "register": "veths"},
        {"name": "sysctls", FQ + "proxy_arp": {"netns": node, "config": [
            {"interface": "cali*", "proxy_arp": True, "proxy_delay": 0, "forwarding": True}]}},
        {"name": "routes", FQ + "calico_route": {"netns": node, "config": route_cfg + [
            {"dst": "10.65.0.%d/32" % (2 + i), "dev": "{{ veths.after[%d].host_ifname }}" % i} for i in range(len(pods))]}},
        {"name": "info", FQ + "calico_dataplane_info": {"netns": node, "pod_netns": pods}},
    ]


def arp_gateway(pod):
    """Ask for 169.254.1.1 from the pod; returns arping's output and whether a reply came."""
    sh("ip", "-n", pod, "neigh", "flush", "dev", "eth0", check=False)
    out = sh("ip", "netns", "exec", pod, "arping", "-c", "1", "-w", "2", "-I", "eth0", "169.254.1.1", check=False)
    return out, "reply from 169.254.1.1" in out.lower()


def test_two_pods_ping_and_proxy_arp_needs_default_route(play, node_with_uplink, dp_ns):
    node, _sink = node_with_uplink
    pods = [dp_ns("pa"), dp_ns("pb")]
    res = play(wire_tasks(node, pods))
    info = result_of(res, "info")
    host_macs = dict((i["ifname"], i["mac"]) for i in info["dataplane"]["interfaces"])
    assert set(host_macs.values()) == {"ee:ee:ee:ee:ee:ee"} and len(host_macs) == 2
    assert all(i["proxy_arp"] and i["proxy_delay"] == 0 and i["forwarding"] for i in info["dataplane"]["interfaces"])
    assert [r["dst"] for r in info["dataplane"]["block_routes"]["blackhole"]] == ["10.65.0.0/26"]
    assert len(info["dataplane"]["workload_routes"]) == 2
    sh("ip", "netns", "exec", node, "sysctl", "-qw", "net.ipv4.ip_forward=1")

    out = sh("ip", "netns", "exec", pods[0], "ping", "-c", "2", "-W", "2", "10.65.0.3", check=False)
    assert " 0% packet loss" in out, out
    out = sh("ip", "netns", "exec", pods[1], "ping", "-c", "1", "-W", "2", "10.65.0.2", check=False)
    assert " 0% packet loss" in out, out

    out, answered = arp_gateway(pods[0])
    assert answered and "[EE:EE:EE:EE:EE:EE]" in out.upper(), out
    sh("ip", "netns", "exec", pods[0], "ping", "-c", "1", "-W", "2", "10.65.0.3")  # fills the pod's ARP table
    res = play([{"name": "pod info", FQ + "calico_dataplane_info": {"netns": pods[0]}}])
    neighbour = result_of(res, "pod info")["dataplane"]["gateway_neighbour"]
    assert neighbour and neighbour["mac"] == "ee:ee:ee:ee:ee:ee"

    # without a route to 169.254.1.1 that leaves by another interface, the node stays silent
    sh("ip", "-n", node, "route", "del", "default")
    out, answered = arp_gateway(pods[0])
    assert not answered, "proxy-ARP answered without a default route on the node:\n" + out
    sh("ip", "-n", node, "route", "add", "default", "via", "192.168.77.1")
    out, answered = arp_gateway(pods[0])
    assert answered and "[EE:EE:EE:EE:EE:EE]" in out.upper(), out

    # the whole wiring is idempotent
    res = play(wire_tasks(node, pods))
    assert res.changed == 0, res.changed_tasks()


BAD = [
    ("calico_veth", {"netns": "@NODE", "config": [{"host_ifname": "calithisnameistoolong", "container_netns": "@POD"}]},
     "config[0].host_ifname: interface name 'calithisnameistoolong' is 21 characters long"),
    ("calico_veth", {"netns": "@NODE", "config": [{"workload": "default.a", "container_netns": "@POD",
                                                   "addresses": ["10.65.0.2/24"]}]},
     "config[0].addresses[0]: '10.65.0.2/24' must be a host address"),
    ("calico_veth", {"netns": "@NODE", "config": [{"workload": "default.a", "container_netns": "@POD", "mtu": 40}]},
     "config[0].mtu: MTU 40 is out of range"),
    ("calico_veth", {"netns": "@PREFIX-nosuch", "config": []},
     "netns: network namespace '@PREFIX-nosuch' does not exist"),
    ("calico_veth", {"netns": "@NODE", "config": [{"workload": "default.a", "container_netns": "@PREFIX-nosuch"}]},
     "config[0].container_netns: network namespace '@PREFIX-nosuch' does not exist"),
    ("calico_route", {"netns": "@NODE", "config": [{"dst": "10.65.0.1/26", "type": "blackhole"}]},
     "config[0].dst: '10.65.0.1/26' has host bits set"),
    ("calico_route", {"netns": "@NODE", "config": [{"dst": "10.65.0.0/26", "via": "10.65.300.1"}]},
     "config[0].via: '10.65.300.1' is not an IP address"),
    ("calico_route", {"netns": "@NODE", "config": [{"dst": "10.65.0.0/26", "via": "10.200.0.1", "dev": "eth0"}]},
     "config[0].via: gateway 10.200.0.1 is not on a directly connected network of eth0"),
    ("calico_route", {"netns": "@NODE", "config": [{"dst": "10.65.0.0/26", "dev": "nosuch0"}]},
     "config[0].dev: there is no interface nosuch0"),
    ("calico_tunnel", {"netns": "@NODE", "config": [{"type": "vxlan", "node_name": "n1", "mtu": 70000}]},
     "config[0].mtu: MTU 70000 is out of range"),
    ("calico_tunnel", {"netns": "@NODE", "config": [{"type": "vxlan", "node_name": "n1", "underlay_dev": "nosuch0"}]},
     "config[0].underlay_dev: there is no interface nosuch0"),
    ("proxy_arp", {"netns": "@NODE", "config": [{"interface": "calinosuch0", "proxy_arp": True}]},
     "config[0].interface: there is no interface calinosuch0"),
    # ownership: objects without our mark are refused unless force is set
    ("calico_veth", {"netns": "@NODE", "config": [{"host_ifname": "eth0", "container_netns": "@POD"}]},
     "config[0].host_ifname: interface 'eth0' (not named cali*) does not carry our mark"),
    ("calico_veth", {"netns": "@NODE", "state": "deleted", "config": [{"host_ifname": "eth0"}]},
     "config[0].host_ifname: interface 'eth0' (not named cali*) does not carry our mark"),
    ("calico_veth", {"netns": "", "config": []}, "netns: '' is not a namespace"),
    ("calico_route", {"netns": "", "state": "gathered"}, "netns: '' is not a namespace"),
    ("calico_route", {"netns": "@NODE", "state": "overridden", "proto": 3, "config": []},
     "proto: route protocol 3 (boot) belongs to the kernel"),
    ("calico_route", {"netns": "@NODE", "state": "deleted", "proto": 2, "config": []},
     "proto: route protocol 2 (kernel) belongs to the kernel"),
    ("calico_route", {"netns": "@NODE", "config": [{"dst": "192.168.77.0/24", "dev": "eth0"}]},
     "config[0]: 192.168.77.0/24 in @NODE is held by a route of protocol 2, not ours (201)"),
    ("proxy_arp", {"netns": "@NODE", "config": [{"interface": "lo", "proxy_arp": True}]},
     "config[0].interface: interface 'lo' (not named cali*) does not carry our mark"),
    ("calico_tunnel", {"netns": "@NODE", "state": "deleted", "config": [{"type": "vxlan", "name": "eth0"}]},
     "config[0].name: device 'eth0' (ours are vxlan.calico, vxlan-v6.calico) does not carry our mark"),
    # validation: addresses no workload can have, one address on two workloads
    ("calico_veth", {"netns": "@NODE", "config": [{"workload": "default.a", "container_netns": "@POD",
                                                   "addresses": ["127.0.0.1"]}]},
     "config[0].addresses[0]: '127.0.0.1' is a loopback address"),
    ("calico_veth", {"netns": "@NODE", "config": [{"workload": "default.a", "container_netns": "@POD",
                                                   "addresses": ["169.254.1.1"]}]},
     "config[0].addresses[0]: '169.254.1.1' is the pods' gateway"),
    ("calico_veth", {"netns": "@NODE", "config": [{"workload": "default.a", "container_netns": "@POD",
                                                   "addresses": ["0.0.0.0"]}]},
     "config[0].addresses[0]: '0.0.0.0' is the unspecified address"),
    ("calico_veth", {"netns": "@NODE", "config": [{"workload": "default.a", "container_netns": "@POD",
                                                   "addresses": ["255.255.255.255"]}]},
     "config[0].addresses[0]: '255.255.255.255' is the broadcast address"),
    ("calico_veth", {"netns": "@NODE", "config": [{"workload": "default.a", "container_netns": "@POD",
                                                   "addresses": ["10.65.0.2"]},
                                                  {"workload": "default.b", "container_netns": "@PREFIX-sink",
                                                   "addresses": ["10.65.0.2"]}]},
     "config[1].addresses[0]: 10.65.0.2/32 is also given to config[0]"),
    ("calico_tunnel", {"netns": "@NODE", "config": [{"type": "vxlan", "node_name": "n1", "address": "224.0.0.1"}]},
     "config[0].address: '224.0.0.1' is a multicast address"),
    ("calico_dataplane_info", {"netns": "@PREFIX-nosuch"},
     "netns: network namespace '@PREFIX-nosuch' does not exist"),
]


def test_bad_inputs_fail_with_their_message_and_change_nothing(play, node_with_uplink, dp_ns):
    node, _sink = node_with_uplink
    pod = dp_ns("pod")
    prefix = node.rsplit("-", 1)[0]

    def fill(value):
        if isinstance(value, dict):
            return dict((k, fill(v)) for k, v in value.items())
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, str):
            return value.replace("@NODE", node).replace("@POD", pod).replace("@PREFIX", prefix)
        return value

    before = (sorted(links(node)), sorted(links(pod)), routes(node))
    tasks = [{"name": "bad%d" % i, FQ + module: fill(args), "ignore_errors": True}
             for i, (module, args, _msg) in enumerate(BAD)]
    res = play(tasks)
    for i, (module, _args, msg) in enumerate(BAD):
        result = result_of(res, "bad%d" % i)
        assert result.get("failed"), (module, result)
        assert fill(msg) in result["msg"], (module, result["msg"])
    assert before == (sorted(links(node)), sorted(links(pod)), routes(node))
    assert not [n for n in sh("ip", "netns", "list").split() if n.startswith(prefix + "-nosuch")], \
        "a missing namespace was created"


DOC = os.path.join(os.path.dirname(__file__), "..", "..", "..", "docs", "modules.md")
TABLE_BEGIN = "<!-- bad-input table: generated from BAD in tests/integration/dataplane/test_dataplane_datapath.py -->"
TABLE_END = "<!-- end of the bad-input table -->"


def bad_input_table():
    """The catalogue of BAD as a markdown table (@NODE, @POD, @PREFIX: the test's namespaces)."""
    def cell(text):
        return "`%s`" % text.replace("|", "\\|")
    rows = ["| module | input | error (start of the message) |", "| --- | --- | --- |"]
    for module, args, msg in BAD:
        rows.append("| %s | %s | %s |" % (cell(module), cell(json.dumps(args, sort_keys=True)), cell(msg)))
    return "\n".join(rows)


def test_bad_input_catalogue_in_docs_is_the_tested_one():
    """docs/modules.md carries the table of BAD; PODNET_UPDATE_DOCS=1 rewrites it."""
    with open(DOC, encoding="utf-8") as handle:
        text = handle.read()
    assert TABLE_BEGIN in text and TABLE_END in text, "docs/modules.md lacks the bad-input table markers"
    head, rest = text.split(TABLE_BEGIN, 1)
    current, tail = rest.split(TABLE_END, 1)
    wanted = "\n" + bad_input_table() + "\n"
    if os.environ.get("PODNET_UPDATE_DOCS") == "1" and current != wanted:
        with open(DOC, "w", encoding="utf-8") as handle:
            handle.write(head + TABLE_BEGIN + wanted + TABLE_END + tail)
        current = wanted
    assert current == wanted, "docs/modules.md's bad-input table differs from BAD (PODNET_UPDATE_DOCS=1 rewrites it)"
