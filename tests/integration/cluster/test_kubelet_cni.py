# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role kubelet_cni through Ansible on files under a test directory: one task per concern, check
mode writes nothing, and the handlers go only for the service whose files changed.

kubelet_cni_manage_services is false (nothing is restarted on the test machine): a handler that is
notified shows as skipped, with the condition that stopped it. The restart condition is the first of
each handler's conditions, so a handler skipped by `kubelet_cni_manage_services | bool` passed it.
"""

from __future__ import annotations

import os
import sys

import pytest
import yaml

from cluster_testlib import FILES, file_tree

PLAYBOOK = os.path.join(FILES, "kubelet_cni.yml")
LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
MAIN_TASK = "Point the kubelet or containerd at the CNI directories"
KCM_TASK = "Stop kube-controller-manager from allocating node CIDRs"
MANAGE = "kubelet_cni_manage_services | bool"

KUBEADM_FLAGS = 'KUBELET_KUBEADM_ARGS="--network-plugin=kubenet --pod-infra-container-image=pause:3.6"\n'
CONTAINERD = 'version = 2\n[plugins."io.containerd.grpc.v1.cri".cni]\n  bin_dir = "/usr/lib/cni"\n  conf_dir = "/etc/cni/net.d"\n'
KCM_UNIT = ("[Service]\nExecStart=/usr/local/bin/kube-controller-manager \\\n  --allocate-node-cidrs=true \\\n"
            "  --cluster-cidr=10.200.0.0/16 \\\n  --v=2\n")
STATIC_POD = ("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - command:\n    - kube-controller-manager\n"
              "    - --cluster-cidr=10.244.0.0/16\n    name: kube-controller-manager\n")


@pytest.fixture
def node_root(tmp_path):
    root = tmp_path / "root"
    texts = {
        "var/lib/kubelet/kubeadm-flags.env": KUBEADM_FLAGS,
        "etc/containerd/config.toml": CONTAINERD,
        "etc/systemd/system/kube-controller-manager.service": KCM_UNIT,
        "etc/kubernetes/manifests/kube-controller-manager.yaml": STATIC_POD,
    }
    for name, text in texts.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def role_vars(root, **extra):
    evars = dict(LOCAL)
    evars.update({
        "kubelet_cni_kube_version": "1.30.2",
        "kubelet_cni_manage_services": False,
        "kubelet_cni_kubelet_files": [str(root / "var/lib/kubelet/kubeadm-flags.env"), str(root / "etc/default/kubelet")],
        "kubelet_cni_containerd_config": str(root / "etc/containerd/config.toml"),
        "kubelet_cni_conf_dir": "/etc/cni/net.d",
        "kubelet_cni_bin_dir": "/opt/cni/bin",
        "kubelet_cni_controller_manager_files": [str(root / "etc/systemd/system/kube-controller-manager.service")],
        "kubelet_cni_controller_manager_manifest": str(root / "etc/kubernetes/manifests/kube-controller-manager.yaml"),
    })
    evars.update(extra)
    return evars


def handlers(result):
    """{handler name: the condition that skipped it} for the handlers that were notified."""
    out = {}
    for task in result.tasks():
        name = task["task"]["name"]
        if name.startswith("podnet.calico.kubelet_cni : Restart "):
            res = task["hosts"]["localhost"]
            assert res.get("skipped"), res
            out[name.rsplit(" : ", 1)[1]] = res.get("false_condition")
    return out


def host_tasks(result):
    return [task["task"]["name"] for task in result.tasks() if "localhost" in task["hosts"]]


def test_role_one_task_per_concern_check_mode_and_handlers(run_playbook, node_root):
    evars = role_vars(node_root)
    before = file_tree(node_root)

    # Check mode: the changes are predicted, nothing is written.
    check = run_playbook(PLAYBOOK, extra_vars=evars, check=True, diff=True)
    assert check.results(MAIN_TASK)["localhost"]["restart"] == ["kubelet", "containerd"]
    assert check.results(KCM_TASK)["localhost"]["restart"] == ["kube-controller-manager"]
    diffs = check.results(MAIN_TASK)["localhost"]["diff"]
    assert [d["after_header"] for d in diffs] == [
        str(node_root / "var/lib/kubelet/kubeadm-flags.env"), str(node_root / "etc/containerd/config.toml")]
    assert file_tree(node_root) == before

    first = run_playbook(PLAYBOOK, extra_vars=evars)
    # One task per concern on the host (besides Ansible's argument checks), then the handlers.
    tasks = [name for name in host_tasks(first) if "Validating arguments" not in name]
    assert tasks[:2] == ["podnet.calico.kubelet_cni : " + MAIN_TASK, "podnet.calico.kubelet_cni : " + KCM_TASK], tasks
    assert handlers(first) == {"Restart kubelet": MANAGE, "Restart containerd": MANAGE,
                               "Restart kube-controller-manager": MANAGE}
    assert (node_root / "var/lib/kubelet/kubeadm-flags.env").read_text() == (
        'KUBELET_KUBEADM_ARGS="--pod-infra-container-image=pause:3.6"\n')
    assert 'bin_dir = "/opt/cni/bin"' in (node_root / "etc/containerd/config.toml").read_text()
    unit = (node_root / "etc/systemd/system/kube-controller-manager.service").read_text()
    assert "--allocate-node-cidrs=false" in unit and "--cluster-cidr" not in unit
    pod = yaml.safe_load((node_root / "etc/kubernetes/manifests/kube-controller-manager.yaml").read_text())
    assert pod["spec"]["containers"][0]["command"] == ["kube-controller-manager", "--allocate-node-cidrs=false"]
    after = file_tree(node_root)

    # Again: nothing changes, no handler is notified.
    second = run_playbook(PLAYBOOK, extra_vars=evars)
    assert second.changed == 0, second.changed_tasks()
    assert handlers(second) == {}
    assert file_tree(node_root) == after

    # Only containerd's config differs: only containerd's handler gets past its restart condition.
    (node_root / "etc/containerd/config.toml").write_text(CONTAINERD)
    (node_root / "etc/kubernetes/manifests/kube-controller-manager.yaml").write_text(STATIC_POD)
    third = run_playbook(PLAYBOOK, extra_vars=evars)
    assert third.results(MAIN_TASK)["localhost"]["restart"] == ["containerd"]
    assert third.results(MAIN_TASK)["localhost"]["changed_paths"] == [str(node_root / "etc/containerd/config.toml")]
    # The static pod changed, which the kubelet picks up itself: no restart of kube-controller-manager.
    assert third.results(KCM_TASK)["localhost"]["restart"] == []
    found = handlers(third)
    assert found["Restart containerd"] == MANAGE
    assert found["Restart kubelet"].startswith("'kubelet' in ")
    assert found["Restart kube-controller-manager"].startswith("'kube-controller-manager' in ")
    assert file_tree(node_root) == after


def test_missing_flag_file_before_1_24(run_playbook, node_root):
    evars = role_vars(node_root, kubelet_cni_kube_version="1.23.17",
                      kubelet_cni_kubelet_files=[str(node_root / "etc/default/kubelet")])
    before = file_tree(node_root)
    result = run_playbook(PLAYBOOK, extra_vars=evars, expect_fail=True)
    failures = " ".join(result.failures())
    assert "None of the kubelet flag files exists on this node: %s" % (node_root / "etc/default/kubelet") in failures
    assert file_tree(node_root) == before


@pytest.mark.parametrize("version", ["latest", 1.3])
def test_bad_kube_version(run_playbook, node_root, version):
    result = run_playbook(PLAYBOOK, extra_vars=role_vars(node_root, kubelet_cni_kube_version=version),
                          expect_fail=True)
    assert 'kube_version must be a Kubernetes version such as "1.30.2", got "%s"' % version in " ".join(
        result.failures())
