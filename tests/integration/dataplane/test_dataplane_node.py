# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""calico_dataplane: a node's whole data plane (forwarding, veths, proxy-ARP, pod routes, tunnel, node
routes) in one module run, on real namespaces, under both interpreters: build, rerun without change,
check mode that changes nothing, a late failure that undoes the earlier sections (asserted on the
kernel), bad input that names the section's option."""

from __future__ import annotations

import json

from dp_helpers import addrs, links, result_of, routes, sh

MODULE = "podnet.calico.calico_dataplane"
CALICO_SYSCTLS = {"interface": "cali*", "proxy_arp": True, "proxy_delay": 0, "forwarding": True,
                  "route_localnet": True}


def dataplane(name, args, **extra):
    t = {"name": name, MODULE: args}
    t.update(extra)
    return t


def ip_forward(netns):
    return sh("ip", "netns", "exec", netns, "sysctl", "-n", "net.ipv4.ip_forward").strip()


def host_end(workload):
    """cali + the first 11 hex digits of sha1(workload), as calico_host_ifname computes it."""
    import hashlib
    return "cali" + hashlib.sha1(workload.encode()).hexdigest()[:11]


def node_args(node, pods, sysctl_file, routes_extra=(), tunnel=None):
    """The arguments the calico_node role gives the module for a node with these pods."""
    veths, pod_routes, node_routes = [], [], []
    for i, pod in enumerate(pods):
        workload, ip = "default.p%d" % i, "10.65.0.%d" % (i + 2)
        veths.append({"workload": workload, "container_netns": pod, "addresses": [ip + "/32"], "mtu": 1450})
        pod_routes += [{"netns": pod, "dst": "169.254.1.1", "dev": "eth0"},
                       {"netns": pod, "dst": "default", "via": "169.254.1.1", "dev": "eth0"}]
        node_routes.append({"dst": ip + "/32", "dev": host_end(workload)})
    node_routes += [{"dst": "10.65.0.0/26", "type": "blackhole"},
                    {"dst": "10.65.0.64/26", "via": "10.65.0.64", "dev": "vxlan.calico", "onlink": True}]
    node_routes += list(routes_extra)
    vxlan = tunnel or {"type": "vxlan", "node_name": "node1", "address": "10.65.0.1", "mtu": 1450,
                       "underlay_dev": "eth0", "underlay_ip": "192.168.77.2",
                       "peers": [{"vtep_ip": "10.65.0.64", "vtep_mac": "66:00:00:00:00:02",
                                  "underlay_ip": "192.168.77.3"}]}
    return {"netns": node,
            "forwarding": {"sysctl_file": sysctl_file},
            "veths": {"state": "overridden", "config": veths},
            "proxy_arp": {"config": [CALICO_SYSCTLS]},
            "pod_routes": {"config": pod_routes},
            "tunnel": {"state": "overridden", "config": [vxlan]},
            "routes": {"state": "overridden", "config": node_routes}}


def kernel_state(node, pods):
    """What the kernel says about everything the module touches in these namespaces."""
    node_links = links(node)
    state = {
        "links": sorted(n for n in node_links if n.startswith("cali") or n == "vxlan.calico"),
        "routes": routes(node),
        "neigh": sh("ip", "-n", node, "neigh", "show", "nud", "permanent").strip(),
        "fdb": sh("bridge", "-n", node, "fdb", "show", "dev", "vxlan.calico").strip()
        if "vxlan.calico" in node_links else "",
        "ip_forward": ip_forward(node),
        "pods": {},
    }
    for name in state["links"]:
        if name.startswith("cali"):
            state[name] = sh("ip", "netns", "exec", node, "sysctl", "-n", "net.ipv4.conf.%s.proxy_arp" % name,
                             "net.ipv4.neigh.%s.proxy_delay" % name).split()
    for pod in pods:
        pod_links = links(pod)
        state["pods"][pod] = {"eth0": addrs(pod, "eth0") if "eth0" in pod_links else None, "routes": routes(pod)}
    return state


def setup_node(node, tmp_path, text=None):
    sh("ip", "netns", "exec", node, "sysctl", "-qw", "net.ipv4.ip_forward=0")
    path = tmp_path / "sysctl.d" / "60-podnet-calico.conf"
    path.parent.mkdir()
    if text is not None:
        path.write_text(text)
    return path


def test_whole_node_in_one_run_check_mode_rerun(play, node_with_uplink, dp_ns, tmp_path):
    """Check mode on a bare node predicts every section and changes nothing; the run builds the node as the
    single modules did; a rerun and a check-mode rerun change nothing."""
    node, _sink = node_with_uplink
    pods = [dp_ns("pa"), dp_ns("pb")]
    path = setup_node(node, tmp_path, "# kept\nnet.ipv4.conf.all.rp_filter = 1\nnet.ipv4.ip_forward = 0\n")
    args = node_args(node, pods, str(path))
    bare = kernel_state(node, pods)

    res = play([dataplane("node", args)], check=True)
    predicted = result_of(res, "node")
    assert predicted["changed"]
    assert kernel_state(node, pods) == bare
    assert path.read_text() == "# kept\nnet.ipv4.conf.all.rp_filter = 1\nnet.ipv4.ip_forward = 0\n"
    assert not list(path.parent.glob(".podnet_sysctl_*"))
    assert predicted["forwarding"]["changes"] == [
        "set net.ipv4.ip_forward = 1 (was 0) in %s" % node,
        "write net.ipv4.ip_forward=1 to %s (was 0)" % path]
    assert len([c for c in predicted["veths"]["changes"] if c.startswith("create veth")]) == 2
    # the routes through the pairs and the device the run would create are predicted, not refused
    assert len([c for c in predicted["pod_routes"]["changes"] if c.startswith("add route")]) == 4
    assert ("add route 10.65.0.64/26 via 10.65.0.64 dev vxlan.calico onlink proto 201 in %s" % node
            in predicted["routes"]["changes"])
    assert len(predicted["routes"]["changes"]) == 4
    assert predicted["tunnel"]["changes"][0].startswith("create vxlan.calico")

    res = play([dataplane("node", args, register="built"), dataplane("again", args)])
    built, again = result_of(res, "node"), result_of(res, "again")
    assert built["changed"] and not again["changed"], again
    for section in ("forwarding", "veths", "proxy_arp", "pod_routes", "tunnel", "routes"):
        assert built[section]["changed"], section
        assert again[section] == dict(again[section], changed=False, changes=[]), section
        assert again[section]["before"] == again[section]["after"], section
    # the diff names each section; the file's diff is its text
    headers = [d["before_header"] for d in built["diff"]]
    assert headers == ["forwarding (before)", str(path), "veths (before)", "proxy_arp (before)",
                       "pod_routes (before)", "tunnel (before)", "routes (before)"], headers
    assert built["diff"][1]["after"] == "# kept\nnet.ipv4.conf.all.rp_filter=1\nnet.ipv4.ip_forward=1\n"
    assert again["diff"] == []

    state = kernel_state(node, pods)
    hosts = [host_end("default.p0"), host_end("default.p1")]
    assert state["links"] == sorted(hosts + ["vxlan.calico"])
    assert state["ip_forward"] == "1"
    for host in hosts:
        assert state[host] == ["1", "0"], host
    for i, pod in enumerate(pods):
        assert state["pods"][pod]["eth0"] == ["10.65.0.%d/32" % (i + 2)]
        assert state["pods"][pod]["routes"] == ["default via 169.254.1.1 dev eth0 proto 201",
                                                "169.254.1.1 dev eth0 proto 201 scope link"]
    assert "10.65.0.2 dev %s proto 201 scope link" % hosts[0] in state["routes"]
    assert "blackhole 10.65.0.0/26 proto 201" in state["routes"]
    assert "10.65.0.64/26 via 10.65.0.64 dev vxlan.calico proto 201 onlink" in state["routes"]
    assert "10.65.0.64 dev vxlan.calico lladdr 66:00:00:00:00:02 PERMANENT" in state["neigh"]
    assert path.read_text() == "# kept\nnet.ipv4.conf.all.rp_filter=1\nnet.ipv4.ip_forward=1\n"

    res = play([dataplane("node", args)], check=True)
    assert not result_of(res, "node")["changed"]
    assert kernel_state(node, pods) == state


def test_sysctl_file_as_ansible_posix_sysctl_writes_it(play, dp_ns, tmp_path):
    """The same file text as ansible.posix.sysctl (sysctl_set, reload false) for a new file and an old one
    with duplicates, comments and spaces; a file already saying 1 is left alone."""
    node = dp_ns("node")
    sh("ip", "netns", "exec", node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    old = "; a\n# b\n\nkernel.x = 2\n  net.ipv4.ip_forward=0  \nkernel.x=3\nnet.ipv4.ip_forward = 0\nno-equals line\n"
    cases = {"new": None, "old": old, "done": "net.ipv4.ip_forward = 1\n#x\n"}
    tasks = []
    for name, text in cases.items():
        for who in ("ours", "posix"):
            path = tmp_path / who / name
            path.parent.mkdir(exist_ok=True)
            if text is not None:
                path.write_text(text)
        tasks.append(dataplane("ours " + name, {"netns": node, "forwarding": {"sysctl_file": str(tmp_path / "ours" / name)}}))
        tasks.append({"name": "posix " + name, "ansible.posix.sysctl": {
            "name": "net.ipv4.ip_forward", "value": "1", "sysctl_set": True, "reload": False,
            "sysctl_file": str(tmp_path / "posix" / name)}})
    res = play(tasks)
    for name, text in cases.items():
        ours, posix = result_of(res, "ours " + name), result_of(res, "posix " + name)
        assert (tmp_path / "ours" / name).read_text() == (tmp_path / "posix" / name).read_text(), name
        assert ours["changed"] == posix["changed"] == (name != "done"), (name, ours, posix)
    assert oct((tmp_path / "ours" / "new").stat().st_mode & 0o777) == "0o644"
    assert (tmp_path / "ours" / "done").read_text() == cases["done"]


def test_failure_in_the_last_section_undoes_every_section(play, node_with_uplink, dp_ns, tmp_path):
    """The kernel refuses a node route (gateway not on the link): the forwarding, veths, sysctls, pod routes
    and tunnel of the same run are undone, as the kernel shows; the message names routes.config[N].via."""
    node, _sink = node_with_uplink
    pods = [dp_ns("pa")]
    path = setup_node(node, tmp_path, "net.ipv4.conf.all.rp_filter = 1\n")
    bare = kernel_state(node, pods)
    bad = {"dst": "10.65.1.0/26", "via": "10.200.0.1", "dev": "eth0"}
    res = play([dataplane("node", node_args(node, pods, str(path), routes_extra=[bad]))], expect_fail=True)
    result = result_of(res, "node")
    assert "routes.config[3].via: gateway 10.200.0.1 is not on a directly connected network" in result["msg"], result
    assert "every change this run had made was undone" in result["msg"], result
    assert not result["changed"] and result["not_undone"] == []
    assert kernel_state(node, pods) == bare
    assert path.read_text() == "net.ipv4.conf.all.rp_filter = 1\n"


def test_refused_tunnel_undoes_the_sections_before_it(play, node_with_uplink, dp_ns, tmp_path):
    """Another VXLAN device holds VNI 4096 on port 4789 over eth0: creating vxlan.calico fails, and the
    pairs, sysctls, pod routes, forwarding and the new sysctl file of the run are gone again."""
    node, _sink = node_with_uplink
    pods = [dp_ns("pa"), dp_ns("pb")]
    path = setup_node(node, tmp_path)
    sh("ip", "-n", node, "link", "add", "vxother", "type", "vxlan", "id", "4096", "dstport", "4789", "dev", "eth0")
    bare = kernel_state(node, pods)
    res = play([dataplane("node", node_args(node, pods, str(path)))], expect_fail=True)
    result = result_of(res, "node")
    assert result["msg"].startswith("tunnel: "), result
    assert "creating vxlan.calico" in result["msg"] and "was undone" in result["msg"], result
    assert not result["changed"] and result["not_undone"] == []
    assert kernel_state(node, pods) == bare
    assert not path.exists()


def test_a_late_section_planned_on_a_missing_link_undoes_the_earlier_ones(play, dp_ns, tmp_path):
    """pod_routes names a device no section makes: planning it fails after the veths were made, and they are
    removed again (not in check mode, where the same task fails without touching anything)."""
    node, pod = dp_ns("node"), dp_ns("pa")
    path = setup_node(node, tmp_path)
    args = {"netns": node, "forwarding": {"sysctl_file": str(path)},
            "veths": {"config": [{"workload": "default.p0", "container_netns": pod, "addresses": ["10.65.0.2"]}]},
            "pod_routes": {"config": [{"netns": pod, "dst": "169.254.1.1", "dev": "eth1"}]}}
    bare = kernel_state(node, [pod])
    for check in (True, False):
        res = play([dataplane("node", args)], check=check, expect_fail=True)
        msg = result_of(res, "node")["msg"]
        assert msg.startswith("pod_routes.config[0].dev: there is no interface eth1 in %s" % pod), msg
        assert kernel_state(node, [pod]) == bare
        assert not path.exists()


def test_bad_input_names_the_section_option_and_changes_nothing(play, dp_ns, tmp_path):
    node, pod = dp_ns("node"), dp_ns("pa")
    ok_veth = {"workload": "default.p0", "container_netns": pod, "addresses": ["10.65.0.2"]}
    cases = [
        ({"veths": {"config": [dict(ok_veth, addresses=["10.65.0.2/24"])]}},
         "veths.config[0].addresses[0]: '10.65.0.2/24' must be a host address"),
        ({"veths": {"config": [ok_veth]}, "routes": {"config": [{"dst": "10.65.0.1/26", "type": "blackhole"}]}},
         "routes.config[0].dst: '10.65.0.1/26' has host bits set"),
        ({"veths": {"config": [ok_veth]}, "pod_routes": {"proto": 3}},
         "pod_routes.proto: route protocol 3 (boot) belongs to the kernel"),
        ({"veths": {"config": [ok_veth]}, "tunnel": {"config": [{"type": "vxlan", "node_name": "n1", "vni": 0}]}},
         "tunnel.config[0].vni: VNI 0 is out of range"),
        ({"veths": {"config": [ok_veth]}, "proxy_arp": {"config": [{"interface": "eth0", "proxy_arp": True}]}},
         "proxy_arp.config[0].interface: interface 'eth0' (not named cali*) does not carry our mark"),
        ({"forwarding": {"sysctl_file": "relative/60.conf"}, "veths": {"config": [ok_veth]}},
         "forwarding.sysctl_file: 'relative/60.conf' is not an absolute path"),
        ({"forwarding": {"sysctl_file": str(tmp_path / "missing" / "60.conf")}, "veths": {"config": [ok_veth]}},
         "forwarding.sysctl_file: the directory %s of" % (tmp_path / "missing")),
        ({"veths": {"config": [ok_veth]}, "routes": {"config": [{"dst": "10.65.0.0/26", "dev": "x" * 16}]}},
         "routes.config[0].dev: "),
    ]
    tasks = [dataplane("case%d" % i, dict(args, netns=node), ignore_errors=True) for i, (args, _msg) in enumerate(cases)]
    tasks.append(dataplane("no netns", {"netns": "pt-no-such-ns", "forwarding": {}}, ignore_errors=True))
    res = play(tasks)
    for i, (_args, msg) in enumerate(cases):
        result = result_of(res, "case%d" % i)
        assert result.get("failed") and result["msg"].startswith(msg), (msg, result)
        assert not result["changed"]
    result = result_of(res, "no netns")
    assert result["msg"].startswith("netns: network namespace 'pt-no-such-ns' does not exist"), result
    assert not [n for n in links(node) if n.startswith("cali")]
    assert json.loads(sh("ip", "-j", "-n", pod, "link", "show"))[0]["ifname"] == "lo"
