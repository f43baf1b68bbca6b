# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kubelet_cni_config's file logic on real files in a temporary directory: the same texts as the
kubelet_cni filters, the first existing flag file, the restart list, errors, and nothing written
before apply()."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.podnet.calico.plugins.filter.kubelet_cni import (
    kubelet_cni_containerd,
    kubelet_cni_flags,
    kubelet_cni_static_pod,
)
from ansible_collections.podnet.calico.plugins.module_utils.cluster import _files as files
from ansible_collections.podnet.calico.plugins.module_utils.cluster import _kubelet_cni as editors
from ansible_collections.podnet.calico.plugins.module_utils.cluster import _kubelet_cni_config as config

LEGACY = {"--network-plugin": "cni", "--cni-conf-dir": "/etc/cni/net.d", "--cni-bin-dir": "/opt/cni/bin"}
REMOVED = ["--pod-cidr", "--network-plugin", "--cni-conf-dir", "--cni-bin-dir", "--network-plugin-mtu"]
KCM_FLAGS = {"--allocate-node-cidrs": "false"}

KUBEADM_FLAGS = 'KUBELET_KUBEADM_ARGS="--network-plugin=kubenet --pod-infra-container-image=pause:3.6"\n'
DEFAULT_KUBELET = 'KUBELET_EXTRA_ARGS="--node-ip=10.0.0.1 --cni-bin-dir=/usr/lib/cni"\n'
DROPIN = """[Service]
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBEADM_ARGS
"""
CONTAINERD_V2 = """version = 2
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "/etc/cni/net.d"
"""
KCM_UNIT = """[Service]
ExecStart=/usr/local/bin/kube-controller-manager \\
  --allocate-node-cidrs=true \\
  --cluster-cidr=10.200.0.0/16 \\
  --v=2
"""
STATIC_POD = """apiVersion: v1
kind: Pod
spec:
  containers:
  - command:
    - kube-controller-manager
    - --allocate-node-cidrs=true
    - --cluster-cidr=10.244.0.0/16
    name: kube-controller-manager
"""


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def node(tmp_path):
    """A node's files: kubeadm-flags.env (preferred), /etc/default/kubelet, a drop-in, containerd."""
    paths = {
        "kubeadm": tmp_path / "var/lib/kubelet/kubeadm-flags.env",
        "default": tmp_path / "etc/default/kubelet",
        "dropin": tmp_path / "etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
        "containerd": tmp_path / "etc/containerd/config.toml",
        "kcm_unit": tmp_path / "etc/systemd/system/kube-controller-manager.service",
        "pod": tmp_path / "etc/kubernetes/manifests/kube-controller-manager.yaml",
    }
    texts = {"kubeadm": KUBEADM_FLAGS, "default": DEFAULT_KUBELET, "dropin": DROPIN, "containerd": CONTAINERD_V2,
             "kcm_unit": KCM_UNIT, "pod": STATIC_POD}
    for name, path in paths.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(texts[name])
        os.chmod(path, 0o640 if name == "default" else 0o644)
    return {name: str(path) for name, path in paths.items()}


def kubelet(node, version, **kwargs):
    args = dict(files=[node["kubeadm"], node["default"], node["dropin"]], set_flags=LEGACY, remove_flags=REMOVED,
                kube_version=version, containerd_config=node["containerd"])
    args.update(kwargs)
    return config.plan_config("kubelet", **args)


def snapshot(node):
    out = {}
    for path in node.values():
        if os.path.exists(path):
            with open(path) as handle:
                out[path] = (handle.read(), mode(path))
    return out


def test_before_1_24_the_first_existing_file_gets_the_flags(node):
    before = snapshot(node)
    planned = kubelet(node, "v1.23.17")
    assert snapshot(node) == before, "plan must not touch anything"
    assert planned["flag_file"] == node["kubeadm"]
    assert planned["restart"] == ["kubelet"]
    assert [a["path"] for a in planned["actions"]] == [node["kubeadm"], node["default"]]
    files.apply(planned["actions"])
    with open(node["kubeadm"]) as handle:
        assert handle.read() == kubelet_cni_flags(KUBEADM_FLAGS, set_flags=LEGACY, remove=REMOVED, binary="kubelet")
    with open(node["default"]) as handle:
        assert handle.read() == kubelet_cni_flags(DEFAULT_KUBELET, set_flags={}, remove=REMOVED, binary="kubelet")
    assert mode(node["default"]) == 0o640, "an existing file keeps its mode"
    # containerd is not the CNI selector before 1.24: untouched.
    assert snapshot(node)[node["containerd"]] == before[node["containerd"]]
    assert kubelet(node, "1.23.17")["actions"] == []


def test_from_1_24_containerd_gets_the_directories_and_the_kubelet_loses_its_flags(node):
    planned = kubelet(node, "1.30.2")
    assert planned["restart"] == ["kubelet", "containerd"]
    files.apply(planned["actions"])
    with open(node["kubeadm"]) as handle:
        assert handle.read() == kubelet_cni_flags(KUBEADM_FLAGS, remove=REMOVED, binary="kubelet")
    with open(node["containerd"]) as handle:
        assert handle.read() == kubelet_cni_containerd(CONTAINERD_V2, bin_dir="/opt/cni/bin", conf_dir="/etc/cni/net.d")
    again = kubelet(node, "1.30.2")
    assert again["actions"] == [] and again["restart"] == []


def test_only_containerd_changes(node):
    files.apply(kubelet(node, "1.30.2")["actions"])
    planned = kubelet(node, "1.30.2", bin_dir="/usr/libexec/cni")
    assert planned["restart"] == ["containerd"]
    assert [a["path"] for a in planned["actions"]] == [node["containerd"]]


def test_missing_containerd_config_is_created_with_its_directory(node, tmp_path):
    target = str(tmp_path / "etc/containerd2/config.toml")
    planned = kubelet(node, "1.30.2", containerd_config=target)
    assert [(a["kind"], a["path"]) for a in planned["actions"]] == [
        ("mkdir", os.path.dirname(target)), ("write", node["kubeadm"]), ("write", node["default"]), ("write", target)]
    assert "containerd" in planned["restart"]
    files.apply(planned["actions"])
    with open(target) as handle:
        assert handle.read() == kubelet_cni_containerd("", bin_dir="/opt/cni/bin", conf_dir="/etc/cni/net.d")
    assert mode(target) == 0o644 and mode(os.path.dirname(target)) == 0o755


def test_flag_file_required_before_1_24(node, tmp_path):
    missing = [str(tmp_path / "nope"), str(tmp_path / "neither")]
    with pytest.raises(config.ConfigError, match=r"None of the kubelet flag files exists on this node: .*nope, .*neither"):
        kubelet(node, "1.23.0", files=missing)
    # From 1.24 on none is needed.
    assert kubelet(node, "1.24", files=missing)["flag_file"] is None


@pytest.mark.parametrize("version", ["latest", "", None, 1.3, "1.30.2.1", "v1"])
def test_bad_kube_version(node, version):
    with pytest.raises(config.ConfigError, match=r'kube_version must be a Kubernetes version such as "1.30.2", got "'):
        kubelet(node, version)


def test_refused_edit_writes_nothing(node):
    with open(node["containerd"], "w") as handle:
        handle.write("version = 2\n[plugins\n")
    before = snapshot(node)
    with pytest.raises(config.ConfigError, match=r"config.toml: the containerd config is not valid TOML"):
        kubelet(node, "1.30.2")
    assert snapshot(node) == before


def test_missing_toml_library_edits_unchecked_with_a_warning(node, monkeypatch):
    checked = kubelet(node, "1.30.2")
    assert checked["warnings"] == []
    monkeypatch.setattr(editors, "tomllib", None)
    unchecked = kubelet(node, "1.30.2")
    assert len(unchecked["warnings"]) == 1 and "without a TOML check" in unchecked["warnings"][0]
    assert node["containerd"] in unchecked["warnings"][0]
    # The same edit as with the check.
    assert [(a["path"], a.get("data")) for a in unchecked["actions"]] == \
        [(a["path"], a.get("data")) for a in checked["actions"]]
    # Before 1.24 containerd's config is not read: nothing to warn about.
    assert kubelet(node, "1.23.1")["warnings"] == []


def test_controller_manager_unit_and_static_pod(node):
    args = dict(files=[node["kcm_unit"]], set_flags=KCM_FLAGS, remove_flags=["--cluster-cidr"],
                env_vars=["KUBE_CONTROLLER_MANAGER_ARGS"], static_pod=node["pod"])
    planned = config.plan_config("kube-controller-manager", **args)
    assert planned["restart"] == ["kube-controller-manager"]
    files.apply(planned["actions"])
    with open(node["kcm_unit"]) as handle:
        assert handle.read() == kubelet_cni_flags(KCM_UNIT, set_flags=KCM_FLAGS, remove=["--cluster-cidr"],
                                                  binary="kube-controller-manager",
                                                  env_vars=["KUBE_CONTROLLER_MANAGER_ARGS"])
    with open(node["pod"]) as handle:
        assert handle.read() == kubelet_cni_static_pod(STATIC_POD, set_flags=KCM_FLAGS, remove=["--cluster-cidr"])
    assert config.plan_config("kube-controller-manager", **args)["actions"] == []
    # Only the static pod changes: no restart, the kubelet restarts the pod.
    with open(node["pod"], "w") as handle:
        handle.write(STATIC_POD)
    planned = config.plan_config("kube-controller-manager", **args)
    assert [a["path"] for a in planned["actions"]] == [node["pod"]] and planned["restart"] == []


def test_controller_manager_needs_a_file(tmp_path):
    with pytest.raises(config.ConfigError, match=r"Found neither .*manifest.yaml nor any of .*unit on this node"):
        config.plan_config("kube-controller-manager", files=[str(tmp_path / "unit")],
                           static_pod=str(tmp_path / "manifest.yaml"))


def test_static_pod_without_yaml(node, monkeypatch):
    monkeypatch.setattr(editors, "yaml", None)
    with pytest.raises(config.MissingLibrary, match="PyYAML is needed to edit the static pod manifest"):
        config.plan_config("kube-controller-manager", files=[node["kcm_unit"]], set_flags=KCM_FLAGS,
                           static_pod=node["pod"])


def test_options_of_the_other_service(node):
    with pytest.raises(config.ConfigError, match="static_pod is for the service kube-controller-manager"):
        kubelet(node, "1.30.2", static_pod=node["pod"])
    with pytest.raises(config.ConfigError, match="containerd_config is for the service kubelet"):
        config.plan_config("kube-controller-manager", files=[node["kcm_unit"]], containerd_config=node["containerd"])


@pytest.mark.parametrize("service", ["kubelet-1.23", "kubelet-1.30", "kube-controller-manager"])
def test_each_file_is_read_once(node, count_opens, service):
    start, stop = count_opens
    opened = start()
    if service == "kube-controller-manager":
        planned = config.plan_config(service, files=[node["kcm_unit"]], set_flags=KCM_FLAGS, static_pod=node["pod"])
        wanted = [node["kcm_unit"], node["pod"]]
    else:
        planned = kubelet(node, service.split("-")[1])
        # before 1.24 containerd's config is not read: the kubelet's flags select CNI
        wanted = [node["kubeadm"], node["default"], node["dropin"]] + ([node["containerd"]] if service == "kubelet-1.30" else [])
    stop()
    assert planned["actions"], "the files differ from what is wanted: something to compare"
    assert sorted(path for path in opened if path in node.values()) == sorted(wanted)
