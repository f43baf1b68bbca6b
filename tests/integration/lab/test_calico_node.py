# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Role calico_node in the test lab: build, verify, idempotence, pod removal, a broken node."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap

import pytest

from podnet_testlib import ROOT

DEPLOY = os.path.join(ROOT, "playbooks", "lab_deploy.yml")
VERIFY = os.path.join(ROOT, "playbooks", "lab_verify.yml")
DATAPLANE_TASK = "Build the node's data plane (forwarding, veth pairs, proxy-ARP, pod routes, tunnel, routes)"


def in_node(lab, node, *cmd):
    """Run a command in a lab node's network, mount and UTS namespaces (as its sshd sees them)."""
    pid = [n for n in lab.state()["nodes"] if n["name"] == node][0]["sshd_pid"]
    return subprocess.run(["nsenter", "-t", str(pid), "-n", "-m", "-u"] + list(cmd), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, check=False)


def ipam_handles(lab, tmp_path):
    playbook = tmp_path / "ipam.yml"
    playbook.write_text(textwrap.dedent("""\
        - hosts: localhost
          connection: local
          gather_facts: false
          vars:
            ansible_python_interpreter: "{{ ansible_playbook_python }}"
          tasks:
            - name: Read IPAM
              podnet.calico.calico_ipam_info:
                sqlite_path: "{{ lab_state_dir }}/ipam.sqlite"
        """))
    result = lab.playbook(str(playbook), inventory="localhost,")
    return {h["handle"]: h["ips"] for h in result.results("Read IPAM")["localhost"]["handles"]}


@pytest.fixture(scope="module")
def deployed(test_lab):
    test_lab.playbook(DEPLOY, extra_vars={"lab_pods_per_node": 2})
    return test_lab


def test_verify_passes_and_deploy_is_idempotent(deployed):
    result = deployed.playbook(VERIFY)
    msg = result.results("Every observation holds")["localhost"]["msg"]
    assert msg.startswith("all ") and "observations hold on 3 nodes" in msg
    state = deployed.state()
    assert len(state["pods"]) == 6
    for node in state["nodes"]:
        assert len(node["blocks"]) == 1 and node["blocks"][0].endswith("/26")
        assert node["tunnel_ip"]
    again = deployed.playbook(DEPLOY, extra_vars={"lab_pods_per_node": 2})
    assert again.changed == 0, again.changed_tasks()


def test_check_mode_predicts_and_changes_nothing(deployed):
    quiet = deployed.playbook(DEPLOY, extra_vars={"lab_pods_per_node": 2}, check=True)
    assert quiet.changed == 0, quiet.changed_tasks()
    before = in_node(deployed, "node3", "ip", "-j", "link").stdout
    routes_before = in_node(deployed, "node3", "ip", "-j", "route").stdout
    fewer = deployed.playbook(DEPLOY, extra_vars={"lab_pods_per_node": 2, "lab_pods_per_node_by_node": {"node3": 1}},
                              check=True)
    predicted = [t for t in fewer.changed_tasks() if t.startswith("node3 |")]
    assert any(DATAPLANE_TASK in t for t in predicted), predicted
    # one task builds the data plane: its veths and routes sections predict the pod's removal
    plane = fewer.results(DATAPLANE_TASK)["node3"]
    assert plane["changed"] and any(c.startswith("remove veth") for c in plane["veths"]["changes"]), plane
    assert any(c.startswith("delete route") for c in plane["routes"]["changes"]), plane
    assert in_node(deployed, "node3", "ip", "-j", "link").stdout == before
    assert in_node(deployed, "node3", "ip", "-j", "route").stdout == routes_before
    assert len([p for p in deployed.state()["pods"] if p["node"] == "node3"]) == 2


def test_removing_a_pod_removes_its_veth_routes_and_address(deployed, tmp_path):
    state = deployed.state()
    gone = [p for p in state["pods"] if p["node"] == "node1" and p["name"] == "node1-pod2"][0]
    handle = "%s.%s" % (gone["namespace"], gone["name"])
    assert handle in ipam_handles(deployed, tmp_path)

    deployed.playbook(DEPLOY, extra_vars={"lab_pods_per_node": 2, "lab_pods_per_node_by_node": {"node1": 1}})
    links = in_node(deployed, "node1", "ip", "-j", "link").stdout
    assert gone["host_ifname"] not in [link["ifname"] for link in json.loads(links)]
    routes = in_node(deployed, "node1", "ip", "-j", "route").stdout
    assert gone["ip"] not in [r["dst"] for r in json.loads(routes)]
    assert not os.path.exists("/proc/%s/root/run/netns/%s" % (
        [n for n in deployed.state()["nodes"] if n["name"] == "node1"][0]["sshd_pid"], gone["netns"]))
    assert handle not in ipam_handles(deployed, tmp_path)
    assert [p["name"] for p in deployed.state()["pods"] if p["node"] == "node1"] == ["node1-pod1"]
    deployed.playbook(VERIFY)

    # And back: the pod comes again, with an address of node1's block.
    deployed.playbook(DEPLOY, extra_vars={"lab_pods_per_node": 2})
    back = [p for p in deployed.state()["pods"] if p["name"] == "node1-pod2"][0]
    assert back["host_ifname"] == gone["host_ifname"]
    deployed.playbook(VERIFY)


def test_verify_names_node_pod_and_observation_when_proxy_arp_loses_its_default_route(deployed):
    node = [n for n in deployed.state()["nodes"] if n["name"] == "node2"][0]
    gateway = deployed.state()["gateway"]
    in_node(deployed, "node2", "ip", "neigh", "flush", "all")
    for pod in [p for p in deployed.state()["pods"] if p["node"] == "node2"]:
        in_node(deployed, "node2", "ip", "netns", "exec", pod["netns"], "ip", "neigh", "flush", "all")
    subprocess.run(["ip", "-n", node["netns"], "route", "del", "default"], check=True)
    try:
        result = deployed.playbook(VERIFY, expect_fail=True)
        failures = " ".join(result.failures())
        assert "node2 | default/node2-pod1 | ARP for 169.254.1.1 answered with the cali MAC" in failures, failures
        assert "node2 | - | node has a default route (proxy-ARP needs it)" in failures, failures
        assert "node1 | default/node1-pod1 | ARP" not in failures
    finally:
        subprocess.run(["ip", "-n", node["netns"], "route", "replace", "default", "via", gateway, "dev", "eth0"],
                       check=True)
    deployed.playbook(VERIFY)


def kernel_has_ipip(netns):
    probe = subprocess.run(["ip", "-n", netns, "link", "add", "pt-ipip-probe", "type", "ipip"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
    if probe.returncode == 0:
        subprocess.run(["ip", "-n", netns, "link", "del", "pt-ipip-probe"], check=False)
    return probe.returncode == 0


def test_ipip_encapsulation(deployed):
    node = deployed.state()["nodes"][0]
    extra = {"lab_pods_per_node": 2, "lab_encapsulation": "ipip"}
    try:
        if kernel_has_ipip(node["netns"]):
            deployed.playbook(DEPLOY, extra_vars=extra)
            result = deployed.playbook(VERIFY)
            assert "observations hold" in result.results("Every observation holds")["localhost"]["msg"]
        else:
            result = deployed.playbook(DEPLOY, extra_vars=extra, expect_fail=True)
            failures = " ".join(result.failures())
            assert "ipip" in failures and "kernel" in failures, failures
            print("IPIP data path not tested: this kernel has no ipip support (ip link add type ipip fails); "
                  "the role failed with: %s" % failures[:300])
    finally:
        deployed.playbook(DEPLOY, extra_vars={"lab_pods_per_node": 2})
    deployed.playbook(VERIFY)
