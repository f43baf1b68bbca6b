# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's main job (playbooks/lab.yml) in both modes, each on a lab of its own (2 nodes):

- cri (the default): containerd in every node, pods asked for through CRI by lab_pods, wired by the
  collection's CNI plugin through site.yml's conflist, the lab's TLS etcd; CNI CHECK of every pod (in
  the pods' task in lab.yml, in the verify play when lab_verify.yml runs alone);
- ansible: calico_node wires the pods.

Each: pods on every node, cross-node ping, every observation holds, a rerun changes nothing, and
lab_down leaves no namespace, process or mount of the lab behind.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

import pytest

from podnet_testlib import ROOT, TEST_PREFIX, kill_netns, namespaces_with_prefix, run_playbook

MAIN = os.path.join(ROOT, "playbooks", "lab.yml")
DOWN = os.path.join(ROOT, "playbooks", "lab_down.yml")
VERIFY = os.path.join(ROOT, "playbooks", "lab_verify.yml")

MODES = {
    # prefix suffix, underlay, pool: ranges of their own (the session lab uses 10.89.200.0/24, 10.246/16)
    "cri": ("c", "10.89.203.0/24", "10.243.0.0/16"),
    "ansible": ("a", "10.89.204.0/24", "10.242.0.0/16"),
}


def _state(state_dir):
    import json
    with open(os.path.join(state_dir, "lab.json")) as handle:
        return json.load(handle)


def _in_node(node, *cmd):
    return subprocess.run(["nsenter", "-t", str(node["sshd_pid"]), "-n", "-m", "-u"] + list(cmd),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)


def _report(result):
    for host_result in result.results("Every observation holds").values():
        return host_result.get("msg")
    return None


@pytest.fixture(params=sorted(MODES), name="main_lab")
def main_lab_fixture(request):
    suffix, underlay, pool = MODES[request.param]
    prefix = (TEST_PREFIX + suffix)[:8]
    state_dir = tempfile.mkdtemp(prefix="podnet-test-main-")
    os.rmdir(state_dir)
    extra = {"lab_prefix": prefix, "lab_state_dir": state_dir, "lab_nodes": 2, "lab_underlay_cidr": underlay,
             "lab_pod_cidr": pool, "lab_pods_by": request.param}
    try:
        yield request.param, extra
    finally:
        run_playbook(DOWN, extra_vars=extra)
        for name in namespaces_with_prefix(prefix):
            kill_netns(name)
        shutil.rmtree(state_dir, ignore_errors=True)


def _pids_of(state):
    pids = set()
    for node in state["nodes"]:
        for key in ("sshd_pid", "containerd_pid"):
            if node.get(key):
                pids.add(node[key])
    etcd_dir = os.path.join(state["state_dir"], "etcd")
    for name in ("etcd.pid", "relay.pid"):
        try:
            with open(os.path.join(etcd_dir, name)) as handle:
                pids.add(int(handle.read().strip()))
        except OSError:
            pass
    return pids


def _alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def test_main_job(main_lab):
    mode, extra = main_lab
    first = run_playbook(MAIN, extra_vars=extra)
    assert first.rc == 0, first
    state = _state(extra["lab_state_dir"])
    assert state["calico"]["pods_by"] == mode
    pods = state["pods"]
    nodes = dict((n["name"], n) for n in state["nodes"])
    assert sorted(set(p["node"] for p in pods)) == sorted(nodes), pods
    assert len(pods) == 2 * len(nodes)
    for pod in pods:
        assert pod["ip"] and pod["netns"] and pod["host_ifname"].startswith("cali"), pod
        if mode == "cri":
            assert re.match(r"^[0-9a-f]{64}$", pod["sandbox_id"]), pod
    # every observation held, CNI CHECK included in CRI mode
    summary = [line for line in first.stdout.splitlines() if "observations:" in line]
    assert summary and re.search(r"observations: (\d+), passed: \1, failed: 0", summary[-1]), summary
    if mode == "cri":
        # lab.yml checks the pods in the task that syncs them; the verify play's CHECK task is left out
        checks = [r for r in first.results("Ask the nodes' containerd for the pods through CRI").values()
                  if r.get("checks")]
        assert checks and len(checks[0]["checks"]) == len(pods), checks
        assert all(c["ok"] for c in checks[0]["checks"]), checks
        verify_checks = first.results("Run CNI CHECK for every pod the runtime made").values()
        assert verify_checks and all(r.get("skipped") for r in verify_checks), verify_checks
        # containerd of every node knows the pods (the runtime's own view)
        for name, node in nodes.items():
            listing = subprocess.run(["ctr", "-a", node["containerd_socket"], "-n", "k8s.io", "containers", "ls", "-q"],
                                     stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.split()
            assert sorted(p["sandbox_id"] for p in pods if p["node"] == name) == sorted(listing)
    # cross-node ping, pod to pod
    src = pods[0]
    for dst in [p for p in pods if p["node"] != src["node"]]:
        res = _in_node(nodes[src["node"]], "ip", "netns", "exec", src["netns"], "ping", "-c", "1", "-W", "3", dst["ip"])
        assert res.returncode == 0, res.stdout
    # a rerun changes nothing
    again = run_playbook(MAIN, extra_vars=extra)
    assert again.rc == 0 and again.changed == 0, again.changed_tasks()
    if mode == "cri":
        assert [p["sandbox_id"] for p in _state(extra["lab_state_dir"])["pods"]] == [p["sandbox_id"] for p in pods]
        # lab_verify.yml on its own runs CNI CHECK in its verify play
        verify = run_playbook(VERIFY, extra_vars=extra, inventory=os.path.join(extra["lab_state_dir"], "inventory.yml"))
        assert verify.rc == 0, verify
        checks = [r for r in verify.results("Run CNI CHECK for every pod the runtime made").values() if r.get("checks")]
        assert checks and len(checks[0]["checks"]) == len(pods), checks
        assert all(c["ok"] for c in checks[0]["checks"]), checks
        assert "observations hold on 2 nodes" in _report(verify), _report(verify)
    # down leaves nothing
    from ansible_collections.podnet.calico.plugins.module_utils.lab._namespaces import descendants
    pids = _pids_of(state)
    pids |= descendants(pids)  # containerd's shims and the pods' pause processes
    down = run_playbook(DOWN, extra_vars=extra)
    assert down.rc == 0, down
    assert not namespaces_with_prefix(extra["lab_prefix"])
    assert not [p for p in pids if _alive(p)], pids
    with open("/proc/self/mountinfo") as handle:
        assert extra["lab_state_dir"] not in handle.read()
    assert not os.path.exists(extra["lab_state_dir"])
