# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the ansible-test targets (tests/integration/targets/) cannot express: the modules under both
interpreters (venv pyroute2 0.9, Debian python3-pyroute2 0.7) and fault injection, where the kernel
refuses a step in the middle of a run and the journal must put back every change, deletes and
repairs included, or say exactly what it could not.

The per-state behaviour (merged, replaced, overridden, deleted, gathered, check mode, idempotence)
is covered by the targets: `ansible-test integration --local <module>`.
"""

from __future__ import annotations

from dp_helpers import addrs, links, result_of, routes, sh

FQ = "podnet.calico."


def task(name, module, args, **extra):
    t = {"name": name, FQ + module: args}
    t.update(extra)
    return t


VXLAN = {"type": "vxlan", "node_name": "node1", "address": "10.65.0.0", "mtu": 1450, "underlay_dev": "eth0",
         "underlay_ip": "192.168.77.2",
         "peers": [{"vtep_ip": "10.65.0.64", "vtep_mac": "66:00:00:00:00:02", "underlay_ip": "192.168.77.3"}]}


def test_round_trip_of_every_module(play, node_with_uplink, dp_ns):
    """Each resource module builds, reruns without change, gathers and removes, with this interpreter."""
    node, _sink = node_with_uplink
    pod = dp_ns("pod")
    veth = {"netns": node, "config": [{"workload": "default.a", "container_netns": pod, "addresses": ["10.65.0.2"],
                                       "mtu": 1450}]}
    sysctl = {"netns": node, "config": [{"interface": "cali*", "proxy_arp": True, "proxy_delay": 0,
                                         "forwarding": True}]}
    route = {"netns": node, "config": [{"dst": "10.65.0.2/32", "dev": "{{ v.after[0].host_ifname }}"},
                                       {"dst": "10.65.0.0/26", "type": "blackhole"},
                                       {"netns": pod, "dst": "169.254.1.1", "dev": "eth0"},
                                       {"netns": pod, "dst": "default", "via": "169.254.1.1", "dev": "eth0"}]}
    tunnel = {"netns": node, "config": [VXLAN]}
    build = [task("veth", "calico_veth", veth, register="v"), task("sysctl", "proxy_arp", sysctl),
             task("route", "calico_route", route), task("tunnel", "calico_tunnel", tunnel)]
    res = play(build + [dict(t, name=t["name"] + " again") for t in build] + [
        task("info", "calico_dataplane_info", {"netns": node, "pod_netns": [pod]})])
    for name in ("veth", "sysctl", "route", "tunnel"):
        first, again = result_of(res, name), result_of(res, name + " again")
        assert first["changed"] and first["changes"], (name, first)
        assert not again["changed"] and again["changes"] == [], (name, again)
        assert again["before"] == again["after"], (name, again)
    host = result_of(res, "veth")["after"][0]["host_ifname"]
    info = result_of(res, "info")
    assert [i["ifname"] for i in info["dataplane"]["interfaces"]] == [host]
    assert info["pods"][0]["routes"] and "10.65.0.2 dev %s proto 201 scope link" % host in routes(node)

    gone = [task("route", "calico_route", {"netns": node, "state": "deleted"}),
            task("tunnel", "calico_tunnel", {"netns": node, "state": "deleted"}),
            task("veth", "calico_veth", {"netns": node, "state": "deleted"})]
    res = play(gone)
    assert all(result_of(res, t["name"])["changed"] for t in gone)
    assert not [n for n in links(node) if n.startswith("cali") or n == "vxlan.calico"]
    assert not [r for r in routes(node) if "proto 201" in r]


def test_veth_failure_midway_undoes_creations_and_repairs(play, dp_ns):
    """A later entry fails: an earlier new pair is removed, an earlier repaired pair gets its MTU, MAC,
    link state and addresses back, and the message says everything was undone."""
    node = dp_ns("node")
    old, good, bad = dp_ns("old"), dp_ns("good"), dp_ns("bad")
    base = {"workload": "default.old", "container_netns": old, "addresses": ["10.65.0.1"], "mtu": 1450}
    res = play([task("wire", "calico_veth", {"netns": node, "config": [base]}, register="w")])
    host = result_of(res, "wire")["after"][0]["host_ifname"]
    # drift on the existing pair, to be repaired by the failing run
    sh("ip", "-n", node, "link", "set", host, "mtu", "1400", "address", "02:00:00:00:00:01")
    sh("ip", "-n", old, "addr", "add", "10.9.9.9/32", "dev", "eth0")
    before_host = links(node)[host]
    # IPv6 off in the last pod: adding its IPv6 address fails after its veth was created
    sh("ip", "netns", "exec", bad, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
       "net.ipv6.conf.default.disable_ipv6=1")
    cfg = [dict(base, addresses=["10.65.0.1", "10.65.0.5"]),
           {"workload": "default.good", "container_netns": good, "addresses": ["10.65.0.2"]},
           {"workload": "default.bad", "container_netns": bad, "addresses": ["10.65.0.3", "fd00::3"]}]
    res = play([task("wire", "calico_veth", {"netns": node, "state": "replaced", "config": cfg})],
               expect_fail=True)
    result = result_of(res, "wire")
    assert "fd00::3/128" in result["msg"] and "every change this run had made was undone" in result["msg"], result
    assert not result["changed"] and result["not_undone"] == []
    now = links(node)[host]
    assert (now["ifindex"], now["mtu"], now["address"]) == (before_host["ifindex"], 1400, "02:00:00:00:00:01")
    assert addrs(old, "eth0") == ["10.65.0.1/32", "10.9.9.9/32"], "the address repair was not undone"
    assert sorted(n for n in links(node) if n.startswith("cali")) == [host], "a new veth was left behind"
    assert "eth0" not in links(good) and "eth0" not in links(bad)


def test_veth_recreate_keeps_the_old_pair_until_everything_worked(play, dp_ns):
    """A pair whose peer sits elsewhere is recreated; when a later entry fails, the old pair is back under
    its own name (same ifindex, up), nothing new is left."""
    node, pod, stray, bad = dp_ns("node"), dp_ns("pod"), dp_ns("stray"), dp_ns("bad")
    one = {"workload": "default.one", "container_netns": pod, "addresses": ["10.65.0.1"]}
    res = play([task("wire", "calico_veth", {"netns": node, "config": [one]})])
    host = result_of(res, "wire")["after"][0]["host_ifname"]
    sh("ip", "-n", pod, "link", "set", "eth0", "netns", stray)
    old = links(node)[host]
    sh("ip", "netns", "exec", bad, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
       "net.ipv6.conf.default.disable_ipv6=1")
    cfg = [one, {"workload": "default.bad", "container_netns": bad, "addresses": ["fd00::3"]}]
    res = play([task("wire", "calico_veth", {"netns": node, "config": cfg})], expect_fail=True)
    result = result_of(res, "wire")
    assert "every change this run had made was undone" in result["msg"], result
    now = links(node)
    assert now[host]["ifindex"] == old["ifindex"] and "UP" in now[host]["flags"], now.get(host)
    assert sorted(n for n in now if n.startswith("cali")) == [host], sorted(now)
    assert "eth0" in links(stray) and "eth0" not in links(pod)

    res = play([task("wire", "calico_veth", {"netns": node, "config": [one]})])
    result = result_of(res, "wire")
    assert result["changed"] and any(c.startswith("rename %s" % host) for c in result["changes"]), result
    assert result["changes"][-1].startswith("remove the old %s" % host), result["changes"]
    assert addrs(pod, "eth0") == ["10.65.0.1/32"] and links(node)[host]["ifindex"] != old["ifindex"]


def test_tunnel_recreate_refused_by_the_kernel_puts_the_old_device_back(play, node_with_uplink):
    """vxlan.calico must be recreated (new VNI) and the kernel refuses the new device: the old one comes
    back with its MAC, MTU, address, peers and the routes through it; the task says so, changed false."""
    node, _sink = node_with_uplink
    res = play([task("vxlan", "calico_tunnel", {"netns": node, "config": [VXLAN]}),
                task("route", "calico_route", {"netns": node, "config": [
                    {"dst": "10.65.0.64/26", "via": "10.65.0.64", "dev": "vxlan.calico", "onlink": True}]})])
    assert result_of(res, "vxlan")["changed"]
    before = (links(node)["vxlan.calico"]["address"], links(node)["vxlan.calico"]["mtu"],
              addrs(node, "vxlan.calico"), sh("ip", "-n", node, "neigh", "show", "dev", "vxlan.calico"),
              [r for r in routes(node) if "vxlan.calico" in r])
    # another VXLAN device already holds VNI 5000 on port 4789 over eth0: the kernel refuses a second one
    sh("ip", "-n", node, "link", "add", "vxother", "type", "vxlan", "id", "5000", "dstport", "4789", "dev", "eth0")
    res = play([task("vxlan", "calico_tunnel", {"netns": node, "config": [dict(VXLAN, vni=5000)]})],
               expect_fail=True)
    result = result_of(res, "vxlan")
    assert "creating vxlan.calico" in result["msg"] and "was undone" in result["msg"], result
    assert not result["changed"]
    dev = links(node)["vxlan.calico"]
    assert dev["linkinfo"]["info_data"]["id"] == 4096
    after = (dev["address"], dev["mtu"], addrs(node, "vxlan.calico"),
             sh("ip", "-n", node, "neigh", "show", "dev", "vxlan.calico"),
             [r for r in routes(node) if "vxlan.calico" in r])
    assert after == before


def test_route_failure_rolls_back_replacements(play, node_with_uplink):
    """An overridden run replaces one route, then the kernel refuses a gateway: the route is put back and
    the owned route the run would have removed is still there."""
    node, _sink = node_with_uplink
    first = [{"dst": "10.65.0.0/26", "type": "blackhole"}, {"dst": "10.65.0.64/26", "via": "192.168.77.3"}]
    play([task("routes", "calico_route", {"netns": node, "config": first})])
    before = routes(node)
    cfg = [{"dst": "10.65.0.0/26", "type": "unreachable"},
           {"dst": "10.65.1.0/26", "via": "10.200.0.1", "dev": "eth0"}]  # gateway not on link
    res = play([task("routes", "calico_route", {"netns": node, "state": "overridden", "config": cfg})],
               expect_fail=True)
    msg = result_of(res, "routes")["msg"]
    assert "config[1].via" in msg and "not on a directly connected network" in msg and "was undone" in msg, msg
    assert routes(node) == before, "a route changed before the failure was not put back"
