# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The text editors of the kubelet_cni role: flags, containerd config, static pod manifests."""

from __future__ import annotations

import tomllib

import pytest
import yaml

from ansible.errors import AnsibleFilterError
from ansible_collections.podnet.calico.plugins.filter.kubelet_cni import (
    kubelet_cni_containerd,
    kubelet_cni_flags,
    kubelet_cni_static_pod,
)

CNI = {"--network-plugin": "cni", "--cni-conf-dir": "/etc/cni/net.d", "--cni-bin-dir": "/opt/cni/bin"}
KUBELET_REMOVED = ["--pod-cidr", "--network-plugin", "--cni-conf-dir", "--cni-bin-dir"]

UNIT = """[Unit]
Description=Kubernetes Kubelet

[Service]
ExecStart=/usr/local/bin/kubelet \\
  --config=/var/lib/kubelet/kubelet-config.yaml \\
  --network-plugin=kubenet \\
  --pod-cidr 10.200.1.0/24 \\
  --v=2
Restart=on-failure
"""

DROPIN = """[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_NETWORK_ARGS=--network-plugin=kubenet --pod-cidr=10.1.0.0/24"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_NETWORK_ARGS $KUBELET_KUBEADM_ARGS
"""

KCM_UNIT = """[Service]
ExecStart=/usr/local/bin/kube-controller-manager \\
  --allocate-node-cidrs=true \\
  --cluster-cidr=10.200.0.0/16 \\
  --kubeconfig=/var/lib/kubernetes/kube-controller-manager.kubeconfig
Restart=on-failure
"""

STATIC_POD = """apiVersion: v1
kind: Pod
metadata:
  labels:
    component: kube-controller-manager
  name: kube-controller-manager
  namespace: kube-system
spec:
  containers:
  - command:
    - kube-controller-manager
    - --allocate-node-cidrs=true
    - --authentication-kubeconfig=/etc/kubernetes/controller-manager.conf
    - --cluster-cidr=10.244.0.0/16
    - --use-service-account-credentials=true
    image: registry.k8s.io/kube-controller-manager:v1.30.2
    name: kube-controller-manager
  hostNetwork: true
"""

CONTAINERD_V2 = """version = 2
root = "/var/lib/containerd"

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "registry.k8s.io/pause:3.9"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"  # distribution path
      conf_dir = "/etc/cni/net.d"
      conf_template = ""
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
"""

CONTAINERD_V3 = """version = 3

[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'

  [plugins.'io.containerd.cri.v1.runtime']
    enable_selinux = false

    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ['/usr/lib/cni']
      conf_dir = '/etc/cni/net.d'
      max_conf_num = 1
"""


def test_env_file_gets_cni_flags_and_loses_kubenet():
    text = 'KUBELET_KUBEADM_ARGS="--container-runtime=remote --network-plugin=kubenet --pod-cidr=10.244.1.0/24"\n'
    out = kubelet_cni_flags(text, CNI, ["--pod-cidr"])
    assert out == ('KUBELET_KUBEADM_ARGS="--container-runtime=remote --network-plugin=cni '
                   '--cni-conf-dir=/etc/cni/net.d --cni-bin-dir=/opt/cni/bin"\n')
    assert kubelet_cni_flags(out, CNI, ["--pod-cidr"]) is out


def test_env_file_keeps_other_lines_and_prefers_kubeadm_args():
    text = "# kubelet flags\nKUBELET_EXTRA_ARGS=--node-ip=10.0.0.1\nKUBELET_KUBEADM_ARGS=''\nOTHER=1\n"
    out = kubelet_cni_flags(text, CNI, [])
    lines = out.splitlines()
    assert lines[0] == "# kubelet flags"
    assert lines[1] == 'KUBELET_EXTRA_ARGS=--node-ip=10.0.0.1'  # untouched
    assert lines[2] == "KUBELET_KUBEADM_ARGS='--network-plugin=cni --cni-conf-dir=/etc/cni/net.d --cni-bin-dir=/opt/cni/bin'"
    assert lines[3] == "OTHER=1"


def test_env_file_without_variable_gets_extra_args():
    assert kubelet_cni_flags("", CNI, []) == (
        'KUBELET_EXTRA_ARGS="--network-plugin=cni --cni-conf-dir=/etc/cni/net.d --cni-bin-dir=/opt/cni/bin"\n')


def test_unit_with_continuation_lines():
    out = kubelet_cni_flags(UNIT, CNI, ["--pod-cidr"])
    assert "kubenet" not in out and "--pod-cidr" not in out and "10.200.1.0/24" not in out
    assert out.startswith("[Unit]\nDescription=Kubernetes Kubelet\n\n[Service]\nExecStart=/usr/local/bin/kubelet \\\n")
    assert "  --network-plugin=cni \\\n" in out
    assert out.endswith("  --cni-bin-dir=/opt/cni/bin\nRestart=on-failure\n")
    assert kubelet_cni_flags(out, CNI, ["--pod-cidr"]) == out


def test_dropin_environment_lines_lose_managed_flags():
    out = kubelet_cni_flags(DROPIN, {}, KUBELET_REMOVED)
    assert 'Environment="KUBELET_NETWORK_ARGS="\n' in out
    assert "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf" in out
    assert out.endswith("ExecStart=\nExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_NETWORK_ARGS "
                        "$KUBELET_KUBEADM_ARGS\n")


def test_unchanged_input_is_returned_as_is():
    text = "[Service]\nExecStart=/usr/bin/kubelet   --v=2\n"
    assert kubelet_cni_flags(text, {}, KUBELET_REMOVED) is text


@pytest.mark.parametrize("drop_last", [False, True])
def test_controller_manager_unit(drop_last):
    text = KCM_UNIT
    if drop_last:
        text = text.replace(" \\\n  --kubeconfig=/var/lib/kubernetes/kube-controller-manager.kubeconfig", "")
    out = kubelet_cni_flags(text, {"--allocate-node-cidrs": "false"}, ["--cluster-cidr"],
                            binary="kube-controller-manager")
    assert "--cluster-cidr" not in out
    assert "--allocate-node-cidrs=false" in out
    assert "Restart=on-failure" in out
    if drop_last:
        # the removed flag was on the last line: no dangling continuation remains
        assert "--allocate-node-cidrs=false\nRestart" in out
    else:
        assert "--allocate-node-cidrs=false \\\n  --kubeconfig" in out


def test_bool_flag_does_not_swallow_next_flag():
    text = "KUBE_CONTROLLER_MANAGER_ARGS=\"--allocate-node-cidrs --leader-elect=true\"\n"
    out = kubelet_cni_flags(text, {"--allocate-node-cidrs": "false"}, [], env_vars=["KUBE_CONTROLLER_MANAGER_ARGS"])
    assert out == "KUBE_CONTROLLER_MANAGER_ARGS=\"--allocate-node-cidrs=false --leader-elect=true\"\n"


def test_unit_for_another_binary_refuses_to_set():
    with pytest.raises(AnsibleFilterError, match="no ExecStart= line runs kubelet"):
        kubelet_cni_flags(KCM_UNIT, CNI, [])


def test_bad_flag_name():
    with pytest.raises(AnsibleFilterError, match='start with "--"'):
        kubelet_cni_flags("", {"network-plugin": "cni"}, [])


def _cni_table(text, path):
    data = tomllib.loads(text)
    for part in path:
        data = data[part]
    return data


def test_containerd_v2_edits_only_the_cni_table():
    out = kubelet_cni_containerd(CONTAINERD_V2, "/opt/cni/bin", "/etc/cni/net.d")
    assert '      bin_dir = "/opt/cni/bin"  # distribution path\n' in out
    assert out.replace('"/opt/cni/bin"', '"/usr/lib/cni"') == CONTAINERD_V2
    assert _cni_table(out, ["plugins", "io.containerd.grpc.v1.cri", "cni"])["conf_template"] == ""
    assert kubelet_cni_containerd(out, "/opt/cni/bin", "/etc/cni/net.d") is out


def test_containerd_v3_bin_dirs_list():
    out = kubelet_cni_containerd(CONTAINERD_V3, "/opt/cni/bin", "/etc/cni/custom")
    cni = _cni_table(out, ["plugins", "io.containerd.cri.v1.runtime", "cni"])
    assert cni == {"bin_dirs": ["/opt/cni/bin"], "conf_dir": "/etc/cni/custom", "max_conf_num": 1}
    assert "      bin_dirs = ['/opt/cni/bin']\n" in out
    assert "conf_dir = '/etc/cni/custom'" in out
    assert kubelet_cni_containerd(out, "/opt/cni/bin", "/etc/cni/custom") is out


def test_containerd_v3_without_cni_table_gets_one():
    text = "version = 3\n\n[plugins.'io.containerd.cri.v1.runtime']\n  enable_selinux = false\n"
    out = kubelet_cni_containerd(text, "/opt/cni/bin", "/etc/cni/net.d")
    assert out.startswith(text)
    cni = _cni_table(out, ["plugins", "io.containerd.cri.v1.runtime", "cni"])
    assert cni == {"bin_dir": "/opt/cni/bin", "conf_dir": "/etc/cni/net.d"}


def test_containerd_missing_key_is_inserted_in_its_table():
    text = ('version = 2\n[plugins."io.containerd.grpc.v1.cri".cni]\n    conf_dir = "/etc/cni/net.d"\n\n'
            '[plugins."io.containerd.grpc.v1.cri".containerd]\n    snapshotter = "overlayfs"\n')
    out = kubelet_cni_containerd(text, "/opt/cni/bin", "/etc/cni/net.d")
    assert out == text.replace('conf_dir = "/etc/cni/net.d"\n', 'conf_dir = "/etc/cni/net.d"\n    bin_dir = "/opt/cni/bin"\n')


def test_containerd_v1_and_empty():
    out = kubelet_cni_containerd('[plugins.cri]\n  stream_server_port = "0"\n', "/opt/cni/bin", "/etc/cni/net.d")
    assert _cni_table(out, ["plugins", "cri", "cni"])["bin_dir"] == "/opt/cni/bin"
    out = kubelet_cni_containerd("", "/opt/cni/bin", "/etc/cni/net.d")
    assert tomllib.loads(out)["version"] == 2
    assert _cni_table(out, ["plugins", "io.containerd.grpc.v1.cri", "cni"])["conf_dir"] == "/etc/cni/net.d"


@pytest.mark.parametrize("text, message", [
    ("version = 2\n[plugins\n", "not valid TOML"),
    ("version = 4\n", "version 4 is not supported"),
    ('version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  cni.bin_dir = "/x"\n', "inline"),
])
def test_containerd_refuses(text, message):
    with pytest.raises(AnsibleFilterError, match=message):
        kubelet_cni_containerd(text, "/opt/cni/bin", "/etc/cni/net.d")


def test_static_pod():
    out = kubelet_cni_static_pod(STATIC_POD, set_flags={"--allocate-node-cidrs": "false"}, remove=["--cluster-cidr"])
    command = yaml.safe_load(out)["spec"]["containers"][0]["command"]
    assert command == ["kube-controller-manager", "--allocate-node-cidrs=false",
                       "--authentication-kubeconfig=/etc/kubernetes/controller-manager.conf",
                       "--use-service-account-credentials=true"]
    assert out.replace("    - --allocate-node-cidrs=false\n", "    - --allocate-node-cidrs=true\n") == \
        STATIC_POD.replace("    - --cluster-cidr=10.244.0.0/16\n", "")
    assert kubelet_cni_static_pod(out, set_flags={"--allocate-node-cidrs": "false"}, remove=["--cluster-cidr"]) is out


def test_static_pod_appends_missing_flag_after_last_item():
    text = STATIC_POD.replace("    - --allocate-node-cidrs=true\n", "")
    out = kubelet_cni_static_pod(text, set_flags={"--allocate-node-cidrs": "false"}, remove=["--cluster-cidr"])
    command = yaml.safe_load(out)["spec"]["containers"][0]["command"]
    assert command[-1] == "--allocate-node-cidrs=false"


def test_static_pod_without_the_container():
    with pytest.raises(AnsibleFilterError, match="no container named kube-controller-manager"):
        kubelet_cni_static_pod(STATIC_POD.replace("name: kube-controller-manager\n  hostNetwork",
                                                  "name: other\n  hostNetwork"))
