# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The namespace lab: up, reach, private files, idempotence, refusals, down."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from podnet_testlib import COLLECTIONS, LabUnderTest, ansible_env, VENV_BIN, ROOT


def host_netns_snapshot():
    """Addresses, routes and links of the host's own namespace."""
    def out(*args):
        return subprocess.run(["ip", "-j"] + list(args), stdout=subprocess.PIPE, universal_newlines=True,
                              check=True).stdout
    return out("addr"), out("route", "show", "table", "all"), out("-6", "route", "show", "table", "all")


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def test_lab_up_reach_and_private_files(test_lab, tmp_path):
    state = test_lab.state()
    names = [n["name"] for n in state["nodes"]]
    assert names == ["node1", "node2", "node3"]
    underlay = ipaddress.ip_network(state["underlay_cidr"])
    for node in state["nodes"]:
        assert node["netns"] == "%s-%s" % (test_lab.prefix, node["name"])
        assert ipaddress.ip_address(node["underlay_ip"]) in underlay
        assert node["ssh_address"] == node["underlay_ip"]
        assert alive(node["sshd_pid"])
        assert os.path.exists("/run/netns/" + node["netns"])

    # ansible all -m ping over real SSH through the ctl namespace.
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible"), "all", "-i", test_lab.inventory, "-m",
                           "ansible.builtin.ping", "-o"], cwd=ROOT, env=ansible_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in names:
        assert '%s | SUCCESS' % name in proc.stdout

    # Each node writes its own file under /etc/cni/net.d and sees only that one.
    playbook = tmp_path / "private.yml"
    playbook.write_text(textwrap.dedent("""\
        - hosts: lab_nodes
          gather_facts: false
          tasks:
            - name: Write a per-node CNI file
              ansible.builtin.copy:
                dest: "/etc/cni/net.d/50-{{ inventory_hostname }}.conf"
                content: "{{ inventory_hostname }}\\n"
                mode: "0644"
            - name: List the CNI dir
              ansible.builtin.find:
                paths: /etc/cni/net.d
                patterns: "50-*.conf"
              register: found
            - name: Read the hostname
              ansible.builtin.command: hostname
              register: hn
              changed_when: false
            - name: Report
              ansible.builtin.set_stats:
                data: {}
            - name: Show
              ansible.builtin.debug:
                msg: "{{ {'files': found.files | map(attribute='path') | list, 'hostname': hn.stdout} }}"
        """))
    result = test_lab.playbook(str(playbook))
    shown = result.results("Show")
    for name in names:
        assert shown[name]["msg"]["files"] == ["/etc/cni/net.d/50-%s.conf" % name]
        assert shown[name]["msg"]["hostname"] == name
    assert not os.path.exists("/etc/cni/net.d/50-node1.conf"), "a node's file leaked into the host's /etc"


def test_lab_up_again_changes_nothing(test_lab):
    before = host_netns_snapshot()
    result = test_lab.up()
    assert result.changed == 0, result.changed_tasks()
    msgs = [r.get("msg") for r in result.results("Build the lab's namespaces, nodes and sshds").values()]
    assert any("no change" in m for m in msgs), msgs
    assert host_netns_snapshot() == before


def test_lab_up_turns_the_sinks_forwarding_off_again(test_lab):
    """The sink never forwards: forwarding switched on behind the lab's back is switched off by the next
    up, which reads and writes the sysctl from inside the sink."""
    sink = test_lab.state()["sink_netns"]
    subprocess.run(["ip", "netns", "exec", sink, "sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True)
    result = test_lab.up()
    changes = [c for r in result.results("Build the lab's namespaces, nodes and sshds").values()
               for c in r.get("changes", [])]
    assert changes == ["turn forwarding off in %s" % sink]
    value = subprocess.run(["ip", "netns", "exec", sink, "sysctl", "-n", "net.ipv4.ip_forward"],
                           stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.strip()
    assert value == "0"


def test_port_open_connects_from_inside_the_namespace(netns_factory):
    """port_open() makes its socket inside the namespace: it reaches a listener on the namespace's own
    127.0.0.1 and not one on the host's 127.0.0.1, and a namespace that is not there is simply closed."""
    sys.path.insert(0, COLLECTIONS)
    from ansible_collections.podnet.calico.plugins.module_utils.lab._namespaces import port_open
    from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netns import Namespace
    name = netns_factory("portopen")
    namespace = Namespace(name)
    with namespace.entered():
        inside = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    host = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        inside.bind(("127.0.0.1", 0))
        inside.listen(4)
        host.bind(("127.0.0.1", 0))
        host.listen(4)
        inside_port, host_port = inside.getsockname()[1], host.getsockname()[1]
        assert port_open(name, "127.0.0.1", inside_port) is True
        assert port_open(name, "127.0.0.1", host_port, timeout=0.5) is False
        assert port_open(name + "-gone", "127.0.0.1", inside_port) is False
        inside.close()
        assert port_open(name, "127.0.0.1", inside_port, timeout=0.5) is False
    finally:
        inside.close()
        host.close()
        namespace.close()


def host_route_network():
    routes = json.loads(subprocess.run(["ip", "-j", "-4", "route"], stdout=subprocess.PIPE,
                                       universal_newlines=True, check=True).stdout)
    for route in routes:
        if route.get("dst") not in (None, "default"):
            return ipaddress.ip_network(route["dst"], strict=False), route.get("dev")
    return None, None


def test_lab_refuses_overlap_with_host_route():
    net, dev = host_route_network()
    if net is None:
        pytest.skip("the host namespace has no non-default IPv4 route to overlap with")
    lab = LabUnderTest(nodes=1, underlay=str(net))
    lab.prefix = lab.vars["lab_prefix"] = lab.prefix + "o"
    try:
        result = lab.up(expect_fail=True)
        msgs = " ".join(result.failures())
        assert "overlaps the host route %s dev %s" % (net, dev) in msgs, msgs
        assert lab.namespaces() == []
        assert not os.path.exists(lab.state_dir)
    finally:
        lab.cleanup()


def test_lab_refuses_other_settings_then_down_up_cycle():
    lab = LabUnderTest(nodes=1, underlay="10.89.201.0/24", pod_cidr="10.247.0.0/16")
    lab.prefix = lab.vars["lab_prefix"] = lab.prefix + "c"
    try:
        lab.up()
        pids = [n["sshd_pid"] for n in lab.state()["nodes"]]
        before = sorted(lab.namespaces())
        other = dict(lab.vars, lab_nodes=2)
        from podnet_testlib import run_playbook, LAB_PLAYBOOK_UP
        result = run_playbook(LAB_PLAYBOOK_UP, extra_vars=other, expect_fail=True)
        assert "different settings" in " ".join(result.failures())
        assert sorted(lab.namespaces()) == before

        # An SSH session leaves processes behind in the node; down must still remove everything.
        node = lab.state()["nodes"][0]
        lab.playbook(os.path.join(ROOT, "playbooks", "lab_up.yml"))
        lab.down()
        assert lab.namespaces() == []
        assert not any(alive(p) for p in pids)
        assert not os.path.exists(lab.state_dir)
        leftovers = subprocess.run(["pgrep", "-f", lab.state_dir], stdout=subprocess.PIPE,
                                   universal_newlines=True, check=False).stdout.split()
        assert leftovers == [], "processes of the lab survived: %s" % leftovers
        assert node["netns"] not in subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE,
                                                   universal_newlines=True, check=True).stdout

        # Up after down works.
        lab.up()
        assert len(lab.state()["nodes"]) == 1
    finally:
        lab.cleanup()
    assert lab.namespaces() == []
