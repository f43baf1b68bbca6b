# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/site.yml on the lab nodes, render-only: check mode, apply, idempotence, downloads.

The nodes' /etc, /opt and /var/lib are private overlays, so real cluster files can be laid down
there. Downloads (Calico's CRDs, the calico plugin) come from an HTTP server in the lab's
controller-side namespace. The test CRD file is one of these tests' own (conftest.TEST_CRD), and
the "calico" binary served is Debian's reference loopback plugin under that name: a real CNI
plugin that answers CNI_COMMAND=VERSION (the download path is what is under test, not Calico).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import pytest
import yaml

from cluster_testlib import FILES, TEST_CRD, HttpServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SITE = os.path.join(ROOT, "playbooks", "site.yml")
NODES = ["node1", "node2", "node3"]


def sha256_file(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


@pytest.fixture
def lab_inventory(test_lab, tmp_path):
    """The lab's inventory plus this test's host vars (node3 runs Kubernetes 1.23)."""
    with open(test_lab.inventory) as handle:
        inventory = yaml.safe_load(handle)
    hosts = inventory["all"]["children"]["lab_nodes"]["hosts"]
    assert sorted(hosts) == NODES
    # Per host, so not as an extra var (those would win over host vars).
    for node in NODES:
        hosts[node]["calico_kube_version"] = "1.23.17" if node == "node3" else "1.30.2"
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory))
    return str(path)


@pytest.fixture
def ctl_http(test_lab, tmp_path):
    """An HTTP server in the lab's controller-side namespace, on its underlay address."""
    state = test_lab.state()
    directory = tmp_path / "ctl-www"
    directory.mkdir()
    server = HttpServer(str(directory), address=state["ctl_ip"], port=18080, netns=state["ctl_netns"])
    try:
        yield server
    finally:
        server.stop()


def read_nodes(test_lab, inventory, tmp_path):
    out = tmp_path / "read"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    test_lab.playbook(os.path.join(FILES, "read_files.yml"), inventory=inventory, extra_vars={"out_dir": str(out)})
    data = {}
    for node in NODES:
        with open(out / ("%s.json" % node)) as handle:
            data[node] = json.load(handle)
    return data


def site_vars(tmp_path, ctl_http):
    ca = tmp_path / "cluster-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nTEST\n-----END CERTIFICATE-----\n")
    sha = ctl_http.add("crds.yaml", TEST_CRD)
    return {
        "calico_datastore": "kubernetes",
        "calico_pool_cidr": "10.246.0.0/16",
        "calico_service_cidr": "10.96.0.0/12",
        "calico_ipip_mode": "Never",
        "calico_vxlan_mode": "Always",
        "calico_mtu": 1450,
        "calico_crds_sha256": sha,
        "calico_manifest_crds_url": ctl_http.url("crds.yaml"),
        "calico_manifest_render_only": "true",   # as an AWX survey passes it
        "kubelet_cni_manage_services": "false",
        "cni_plugins_kubeconfig_server": "https://10.89.200.11:6443",
        "cni_plugins_kubeconfig_ca_file": str(ca),
        "cni_plugins_kubeconfig_token": "test-token-not-secret",
    }


def test_site_render_only(test_lab, lab_inventory, ctl_http, tmp_path):
    test_lab.playbook(os.path.join(FILES, "lay_down.yml"), inventory=lab_inventory)
    before = read_nodes(test_lab, lab_inventory, tmp_path)
    evars = site_vars(tmp_path, ctl_http)

    # Check mode first: it runs through and nothing changes on any node.
    check = test_lab.playbook(SITE, inventory=lab_inventory, extra_vars=evars, check=True)
    assert check.changed > 0
    assert read_nodes(test_lab, lab_inventory, tmp_path) == before

    first = test_lab.playbook(SITE, inventory=lab_inventory, extra_vars=evars)
    assert first.changed > 0
    # The token is written (below) but never shown: it goes to node_files as a no_log value.
    assert "test-token-not-secret" not in first.stdout and "test-token-not-secret" not in check.stdout
    skipped = first.results("Say which calico binaries were skipped")
    assert sorted(skipped) == NODES
    assert all(r["msg"].startswith("Skipped calico and calico-ipam: no source given") for r in skipped.values())
    after = read_nodes(test_lab, lab_inventory, tmp_path)

    for node in NODES:
        texts = after[node]["texts"]
        listing = {line.split(" ", 2)[2]: line.split(" ", 2)[:2] for line in after[node]["listing"]}
        # CNI plugins, copied from the distribution package and checked the CNI way.
        for plugin in ("loopback", "portmap", "host-local"):
            mode, digest = listing["/opt/cni/bin/%s" % plugin]
            assert mode == "755" and digest == sha256_file("/usr/lib/cni/%s" % plugin)
        assert "/opt/cni/bin/calico" not in listing
        # The network config list.
        conflist = json.loads(texts["/etc/cni/net.d/10-calico.conflist"])
        assert conflist["cniVersion"] == "0.3.1" and conflist["name"] == "k8s-pod-network"
        calico, portmap, bandwidth = conflist["plugins"]
        assert calico == {
            "type": "calico", "datastore_type": "kubernetes", "nodename": node, "mtu": 1450,
            "log_level": "info", "log_file_path": "/var/log/calico/cni/cni.log",
            "ipam": {"type": "calico-ipam"}, "policy": {"type": "k8s"},
            "kubernetes": {"kubeconfig": "/etc/cni/net.d/calico-kubeconfig"}}
        assert portmap["type"] == "portmap" and portmap["capabilities"] == {"portMappings": True}
        assert bandwidth == {"type": "bandwidth", "capabilities": {"bandwidth": True}}
        mode, digest = listing["/opt/cni/bin/bandwidth"]
        assert mode == "755" and digest == sha256_file("/usr/lib/cni/bandwidth")
        # The kubeconfig: secret, 0600.
        assert listing["/etc/cni/net.d/calico-kubeconfig"][0] == "600"
        kubeconfig = yaml.safe_load(texts["/etc/cni/net.d/calico-kubeconfig"])
        assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://10.89.200.11:6443"
        assert kubeconfig["users"][0]["user"]["token"] == "test-token-not-secret"
        assert kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"]
        # The kubeadm drop-in is not the preferred flag file and carries no managed flag: untouched.
        dropin = "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf"
        assert texts[dropin] == before[node]["texts"][dropin]
        # /etc/default/kubelet lost its --cni-bin-dir (kubeadm-flags.env is the preferred file).
        assert texts["/etc/default/kubelet"] == 'KUBELET_EXTRA_ARGS="--node-ip=%s"\n' % (
            test_lab.state()["nodes"][NODES.index(node)]["underlay_ip"])

    # Kubernetes 1.30: containerd carries the CNI dirs, the kubelet flags are left alone.
    node1 = after["node1"]["texts"]
    assert node1["/etc/containerd/config.toml"] == before["node1"]["texts"]["/etc/containerd/config.toml"].replace(
        'bin_dir = "/usr/lib/cni"', 'bin_dir = "/opt/cni/bin"')
    assert node1["/var/lib/kubelet/kubeadm-flags.env"] == before["node1"]["texts"]["/var/lib/kubelet/kubeadm-flags.env"]
    node2 = after["node2"]["texts"]["/etc/containerd/config.toml"]
    assert node2.startswith(before["node2"]["texts"]["/etc/containerd/config.toml"])
    assert node2.endswith("\n[plugins.'io.containerd.cri.v1.runtime'.cni]\n  bin_dir = '/opt/cni/bin'\n"
                          "  conf_dir = '/etc/cni/net.d'\n")
    # Kubernetes 1.23 on node3: the kubelet's own flags select CNI; kubenet and --pod-cidr are gone.
    assert after["node3"]["texts"]["/var/lib/kubelet/kubeadm-flags.env"] == (
        'KUBELET_KUBEADM_ARGS="--network-plugin=cni --pod-infra-container-image=k8s.gcr.io/pause:3.6 '
        '--cni-conf-dir=/etc/cni/net.d --cni-bin-dir=/opt/cni/bin"\n')
    assert after["node3"]["texts"]["/etc/containerd/config.toml"] == before["node3"]["texts"]["/etc/containerd/config.toml"]

    # kube-controller-manager on the control plane: unit and static pod.
    unit = node1["/etc/systemd/system/kube-controller-manager.service"]
    assert "--allocate-node-cidrs=false \\\n" in unit and "--cluster-cidr" not in unit
    assert unit == before["node1"]["texts"]["/etc/systemd/system/kube-controller-manager.service"].replace(
        "--allocate-node-cidrs=true", "--allocate-node-cidrs=false").replace("  --cluster-cidr=10.246.0.0/16 \\\n", "")
    pod = yaml.safe_load(node1["/etc/kubernetes/manifests/kube-controller-manager.yaml"])
    command = pod["spec"]["containers"][0]["command"]
    assert "--allocate-node-cidrs=false" in command
    assert not [flag for flag in command if flag.startswith("--cluster-cidr")]
    assert len(command) == 8
    assert "/etc/systemd/system/kube-controller-manager.service" not in after["node2"]["texts"]

    # The manifest, rendered once on the first control-plane host, and the CRDs next to it.
    manifest = list(yaml.safe_load_all(node1["/etc/kubernetes/calico/calico.yaml"]))
    kinds = sorted(doc["kind"] for doc in manifest if doc)
    assert kinds == ["ClusterRole"] * 3 + ["ClusterRoleBinding"] * 3 + [
        "ConfigMap", "DaemonSet", "Deployment", "PodDisruptionBudget"] + ["ServiceAccount"] * 3
    listing1 = {line.split(" ", 2)[2]: line.split(" ", 2)[:2] for line in after["node1"]["listing"]}
    assert listing1["/etc/kubernetes/calico/crds.yaml"][1] == hashlib.sha256(TEST_CRD.encode()).hexdigest()
    assert "/etc/kubernetes/calico/calico.yaml" not in after["node2"]["texts"]

    # Again: nothing to do.
    second = test_lab.playbook(SITE, inventory=lab_inventory, extra_vars=evars)
    assert second.changed == 0, second.changed_tasks()
    assert read_nodes(test_lab, lab_inventory, tmp_path) == after


def test_calico_download(test_lab, lab_inventory, ctl_http, tmp_path):
    plugins = os.path.join(FILES, "cni_plugins.yml")
    good = ctl_http.add("calico", open("/usr/lib/cni/loopback", "rb").read())
    evars = {
        "calico_datastore": "kubernetes",
        "cni_plugins_calico_url": ctl_http.url("calico"),
        "cni_plugins_calico_sha256": good,
        "cni_plugins_remove_conflicting": True,
    }
    first = test_lab.playbook(plugins, inventory=lab_inventory, extra_vars=evars)
    # One task per node installs, asks every plugin for its CNI versions and writes the config.
    versions = first.results("Install and check the plugins, write the network config list, the calico kubeconfig and the etcd TLS files")
    assert sorted(versions) == NODES
    assert all(set(r["cni_versions"]) >= {"calico", "calico-ipam", "loopback"} for r in versions.values()), versions
    installed = read_nodes(test_lab, lab_inventory, tmp_path)
    for node in NODES:
        listing = {line.split(" ", 2)[2]: line.split(" ", 2)[:2] for line in installed[node]["listing"]}
        assert listing["/opt/cni/bin/calico"] == ["755", good]
        assert listing["/opt/cni/bin/calico-ipam"] == ["755", good]
    again = test_lab.playbook(plugins, inventory=lab_inventory, extra_vars=evars)
    assert again.changed == 0, again.changed_tasks()

    # A new file on the server with a checksum that does not match it: the play fails, the
    # installed plugin stays as it was.
    ctl_http.add("calico", open("/usr/lib/cni/portmap", "rb").read())
    bad = test_lab.playbook(plugins, inventory=lab_inventory, expect_fail=True,
                            extra_vars=dict(evars, cni_plugins_calico_sha256="1" * 64))
    failures = bad.failures()
    assert len([f for f in failures if "Download and check the sha256 of calico" in f]) == 3, failures
    assert all("checksum" in f.lower() for f in failures if "Download and check the sha256 of calico" in f), failures
    assert read_nodes(test_lab, lab_inventory, tmp_path) == installed
