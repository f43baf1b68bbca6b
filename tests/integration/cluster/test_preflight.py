# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pre-flight failures through Ansible: the play stops with the message, before any change.

The filter's full list of messages is covered in tests/unit/plugins/filter/test_calico_manifest.py;
here each check category runs through the real role and site.yml.
"""

from __future__ import annotations

import os
import shutil
import sys

import pytest

from cluster_testlib import FILES, file_tree

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SITE = os.path.join(ROOT, "playbooks", "site.yml")
LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
BASE = dict(LOCAL, calico_datastore="etcd", calico_etcd_endpoints=["https://10.89.0.11:2379"],
            calico_pool_cidr="10.244.0.0/16", calico_service_cidr="10.96.0.0/12", calico_mtu=1440)


@pytest.mark.parametrize("extra, message", [
    ({"calico_service_cidr": "10.244.0.0/20"}, "pool_cidr 10.244.0.0/16 overlaps service_cidr 10.244.0.0/20"),
    ({"calico_manifest_node_networks": ["10.244.7.0/24"]},
     "pool_cidr 10.244.0.0/16 overlaps the node network 10.244.7.0/24"),
    ({"calico_pool_cidr": "10.244.0.0/33"}, "pool_cidr '10.244.0.0/33' is not a valid network"),
    ({"calico_ipip_mode": "Always", "calico_vxlan_mode": "Always"},
     "ipip_mode (Always) and vxlan_mode (Always) are both enabled"),
    ({"calico_ipip_mode": "Never", "calico_vxlan_mode": "Always", "calico_mtu": 1480},
     "mtu 1480 is too large for vxlan encapsulation on an underlay MTU of 1500: at most 1450"),
    ({"calico_mtu": 1481}, "mtu 1481 is too large for ipip encapsulation on an underlay MTU of 1500: at most 1480"),
    ({"calico_etcd_endpoints": []}, "etcd_endpoints is empty; the etcd datastore needs at least one endpoint"),
    ({"calico_etcd_ca_file": "/etc/hostname"},
     "etcd TLS files must be given all or none: etcd_ca_file set but etcd_cert_file, etcd_key_file empty"),
    ({"calico_etcd_ca_file": "/nonexistent/ca", "calico_etcd_cert_file": "/nonexistent/cert",
      "calico_etcd_key_file": "/nonexistent/key"}, "etcd TLS file /nonexistent/ca not found on the controller"),
    ({"calico_datastore": "kubernetes"}, "crds_sha256 must be the 64 hex digit sha256 of the CRD file"),
])
def test_preflight_failure(run_playbook, extra, message):
    result = run_playbook(os.path.join(FILES, "preflight.yml"), extra_vars=dict(BASE, **extra), expect_fail=True)
    failures = result.failures()
    assert any(message in failure for failure in failures), failures


def test_preflight_passes(run_playbook):
    result = run_playbook(os.path.join(FILES, "preflight.yml"), extra_vars=BASE)
    assert result.results("Check the cluster network settings")["localhost"]["msg"] == "Calico pre-flight checks passed."


def _inventory(tmp_path):
    path = tmp_path / "inventory.ini"
    path.write_text("[kube_control_plane]\nlocalhost\n[kube_node]\nlocalhost\n"
                    "[k8s_cluster:children]\nkube_control_plane\nkube_node\n")
    return str(path)


def _site_vars(root, **extra):
    evars = dict(BASE)
    evars.update({
        "calico_kube_version": "1.30.2",
        "calico_cni_conf_dir": str(root / "etc/cni/net.d"),
        "calico_cni_bin_dir": str(root / "opt/cni/bin"),
        "kubelet_cni_manage_services": False,
        "kubelet_cni_kubelet_files": [str(root / "etc/default/kubelet")],
        "kubelet_cni_containerd_config": str(root / "etc/containerd/config.toml"),
        "kubelet_cni_controller_manager_files": [str(root / "etc/systemd/system/kube-controller-manager.service")],
        "kubelet_cni_controller_manager_manifest": str(root / "etc/kubernetes/manifests/kube-controller-manager.yaml"),
        "cni_plugins_reference_package_install": False,
        "calico_manifest_dir": str(root / "etc/kubernetes/calico"),
        "calico_manifest_render_only": True,
    })
    evars.update(extra)
    return evars


@pytest.fixture
def node_root(tmp_path):
    root = tmp_path / "root"
    (root / "etc/cni/net.d").mkdir(parents=True)
    (root / "etc/containerd").mkdir(parents=True)
    (root / "etc/containerd/config.toml").write_text('version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n')
    (root / "etc/kubernetes/manifests").mkdir(parents=True)
    (root / "etc/kubernetes/manifests/kube-controller-manager.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-controller-manager\nspec:\n  containers:\n"
        "  - name: kube-controller-manager\n    command:\n    - kube-controller-manager\n"
        "    - --cluster-cidr=10.244.0.0/16\n")
    (root / "etc/cni/net.d/05-flannel.conflist").write_text('{"name": "cbr0", "cniVersion": "0.3.1", "plugins": []}\n')
    (root / "etc/cni/net.d/99-loopback.conf").write_text('{"name": "lo", "cniVersion": "0.3.1", "type": "loopback"}\n')
    return root


@pytest.mark.parametrize("extra, message", [
    ({"calico_mtu": 1490}, "mtu 1490 is too large for ipip encapsulation"),
    ({}, "05-flannel.conflist in {conf} sorts before 10-calico.conflist"),
    ({"cni_plugins_calico_url": "http://127.0.0.1:9/calico"}, "cni_plugins_calico_sha256 must be its 64 hex digit sha256"),
    ({"calico_kube_version": "latest"}, "Set calico_kube_version (or kubelet_cni_kube_version)"),
])
def test_site_stops_before_any_change(run_playbook, tmp_path, node_root, extra, message):
    if "05-flannel" not in message:
        extra = dict(extra, cni_plugins_remove_conflicting=True)
    before = file_tree(node_root)
    result = run_playbook(SITE, inventory=_inventory(tmp_path), extra_vars=_site_vars(node_root, **extra),
                          expect_fail=True)
    failures = " ".join(result.failures())
    assert message.format(conf=node_root / "etc/cni/net.d") in failures, failures
    assert file_tree(node_root) == before
    plays = [play["play"]["name"] for play in result.data["plays"]]
    assert plays == ["Pre-flight checks (nothing changes before all of them pass)"], plays


def test_conflicting_config_removed_when_asked(run_playbook, tmp_path, node_root):
    result = run_playbook(SITE, inventory=_inventory(tmp_path),
                          extra_vars=_site_vars(node_root, cni_plugins_remove_conflicting=True))
    names = sorted(os.listdir(node_root / "etc/cni/net.d"))
    assert names == ["10-calico.conflist", "99-loopback.conf"]
    assert result.results("Say which calico binaries were skipped")["localhost"]["msg"].startswith(
        "Skipped calico and calico-ipam: no source given")
    # No kubeconfig server given (the role's default): the note says who writes the kubeconfig.
    assert result.results("Say that no kubeconfig was written")["localhost"]["msg"].startswith(
        "No %s/calico-kubeconfig written" % (node_root / "etc/cni/net.d"))


def test_reference_plugins_seen_by_the_preflight_look(run_playbook, tmp_path, node_root):
    """The role does not install the package: the pre-flight look covers the package directory, and
    the install reuses it (no look of its own) and copies what it found."""
    package = tmp_path / "package"
    package.mkdir()
    for name in ("loopback", "portmap", "bandwidth"):
        with open("/usr/lib/cni/" + name, "rb") as src, open(package / name, "wb") as dst:
            dst.write(src.read())
        os.chmod(package / name, 0o755)
    # A config file in the package directory is not a config of the node, nor a plugin.
    (package / "00-stray.conflist").write_text("{}\n")
    result = run_playbook(SITE, inventory=_inventory(tmp_path), extra_vars=_site_vars(
        node_root, cni_plugins_remove_conflicting=True, cni_plugins_reference_package_dir=str(package),
        cni_plugins_reference_plugins=["loopback", "portmap", "bandwidth"]))
    look = result.results("Look for the reference plugins in the package directory")["localhost"]
    assert look.get("skipped"), look
    for name in ("loopback", "portmap", "bandwidth"):
        with open(package / name, "rb") as src, open(node_root / "opt/cni/bin" / name, "rb") as dst:
            assert src.read() == dst.read(), name
    assert sorted(os.listdir(node_root / "etc/cni/net.d")) == ["10-calico.conflist", "99-loopback.conf"]


def test_reference_plugin_missing_from_the_package(run_playbook, tmp_path, node_root):
    package = tmp_path / "package"
    package.mkdir()
    with open("/usr/lib/cni/loopback", "rb") as src, open(package / "loopback", "wb") as dst:
        dst.write(src.read())
    result = run_playbook(SITE, inventory=_inventory(tmp_path), expect_fail=True, extra_vars=_site_vars(
        node_root, cni_plugins_remove_conflicting=True, cni_plugins_reference_package_dir=str(package),
        cni_plugins_reference_plugins=["loopback", "portmap"]))
    failures = " ".join(result.failures())
    assert "portmap not found in %s" % package in failures, failures
    assert not (node_root / "opt/cni/bin/loopback").exists()


def _package(path, names):
    path.mkdir()
    for name in names:
        with open("/usr/lib/cni/" + name, "rb") as src, open(path / name, "wb") as dst:
            dst.write(src.read())
        os.chmod(path / name, 0o755)
    return str(path)


@pytest.mark.parametrize("case", ["same", "other directory", "trailing slash", "more plugins"])
def test_reference_look_reused_only_for_the_same_search(run_playbook, tmp_path, node_root, case):
    """The install reuses the pre-flight look only when that look searched the same package directory
    for every plugin of the list; a play before with other settings does not leave a stale answer."""
    first = _package(tmp_path / "first", ["loopback", "portmap"])
    second = _package(tmp_path / "second", ["loopback", "portmap", "host-local"])
    preflight = {"preflight_package_dir": first, "preflight_plugins": ["loopback", "portmap"]}
    install = {"install_package_dir": first, "install_plugins": ["loopback", "portmap"]}
    if case == "other directory":
        install["install_package_dir"] = second
    elif case == "trailing slash":
        install["install_package_dir"] = first + "/"
    elif case == "more plugins":
        preflight = {"preflight_package_dir": second, "preflight_plugins": ["loopback", "portmap"]}
        install = {"install_package_dir": second, "install_plugins": ["loopback", "portmap", "host-local"]}
    evars = _site_vars(node_root, cni_plugins_remove_conflicting=True, calico_datastore="kubernetes", **preflight, **install)
    for name in list(evars):
        if name.startswith(("kubelet_cni_", "calico_manifest_")):
            del evars[name]
    result = run_playbook(os.path.join(FILES, "reference_reuse.yml"), inventory=_inventory(tmp_path), extra_vars=evars)
    look = result.results("Look for the reference plugins in the package directory")["localhost"]
    assert bool(look.get("skipped")) == (case in ("same", "trailing slash")), look
    source = install["install_package_dir"].rstrip("/")
    for name in install["install_plugins"]:
        with open(os.path.join(source, name), "rb") as src, open(node_root / "opt/cni/bin" / name, "rb") as dst:
            assert src.read() == dst.read(), name


@pytest.mark.parametrize("impl, check", [("podnet", False), ("upstream", False), ("upstream", True)])
def test_broken_plugin_stops_before_the_config(run_playbook, tmp_path, node_root, impl, check):
    """A plugin that fails the CNI check stops the role before 10-calico.conflist points the runtime at
    it (and before the configs that sort before ours are removed). With the collection's plugin the
    install, the check and the config write are one task, and the plugins it wrote are put back; with
    Calico's binaries (installed between the two) the install is a task of its own. In check mode a
    plugin that is there already is asked too, and nothing is written."""
    package = _package(tmp_path / "package", ["loopback"])
    with open(os.path.join(package, "portmap"), "w") as handle:
        handle.write("#!/bin/sh\necho 'portmap is broken' >&2\nexit 2\n")
    os.chmod(os.path.join(package, "portmap"), 0o755)
    bin_dir = node_root / "opt/cni/bin"
    if check:
        bin_dir.mkdir(parents=True)
        shutil.copy(os.path.join(package, "portmap"), bin_dir / "portmap")
    before = file_tree(node_root)
    cni_before = file_tree(node_root / "etc/cni")
    evars = _site_vars(node_root, cni_plugins_remove_conflicting=True, cni_plugins_reference_package_dir=package,
                       cni_plugins_reference_plugins=["loopback", "portmap"], cni_plugins_calico_impl=impl,
                       cni_plugins_podnet_package_install=False)
    result = run_playbook(SITE, inventory=_inventory(tmp_path), expect_fail=True, check=check, extra_vars=evars)
    failures = " ".join(result.failures())
    assert "%s/portmap exited with 2: portmap is broken" % bin_dir in failures, failures
    assert not (node_root / "etc/cni/net.d/10-calico.conflist").exists()
    assert (node_root / "etc/cni/net.d/05-flannel.conflist").exists()
    if check:
        assert file_tree(node_root) == before
    elif impl == "podnet":
        # Everything the task made is gone again, the bin dir it created included.
        assert not bin_dir.exists()
        assert file_tree(node_root / "etc/cni") == cni_before
        assert "undone: " in failures, failures
    else:
        assert sorted(os.listdir(bin_dir)) == ["loopback", "portmap"]


def _default_network():
    """The network of the controller's default-route interface (what the setup module reports as
    default_ipv4), or None."""
    import ipaddress
    import json
    import subprocess
    routes = json.loads(subprocess.run(["ip", "-j", "-4", "route", "show", "default"], check=True,
                                       capture_output=True, text=True).stdout or "[]")
    if not routes or "dev" not in routes[0]:
        return None
    addrs = json.loads(subprocess.run(["ip", "-j", "-4", "addr", "show", "dev", routes[0]["dev"]], check=True,
                                      capture_output=True, text=True).stdout or "[]")
    for info in (addrs[0].get("addr_info", []) if addrs else []):
        if info.get("family") == "inet" and info.get("prefixlen", 32) <= 26:
            return ipaddress.ip_interface("%s/%s" % (info["local"], info["prefixlen"])).network
    return None


@pytest.mark.parametrize("gather", [True, False])
def test_node_network_from_the_facts(run_playbook, tmp_path, node_root, gather):
    """With the facts, a pool on the node's own network stops site.yml; calico_gather_facts false
    gathers nothing (the setup task is skipped), so only the networks given are checked."""
    network = _default_network()
    if network is None:
        pytest.skip("the controller has no IPv4 default route with a /26 or larger network to overlap")
    extra = dict(cni_plugins_remove_conflicting=True, calico_pool_cidr=str(network), calico_gather_facts=gather)
    result = run_playbook(SITE, inventory=_inventory(tmp_path), extra_vars=_site_vars(node_root, **extra),
                          expect_fail=gather)
    setup = result.results("Gather the nodes' network and Python facts")["localhost"]
    failures = " ".join(result.failures())
    if gather:
        assert not setup.get("skipped"), setup
        assert "overlaps the node network %s" % network in failures, failures
    else:
        assert setup.get("skipped"), setup
        assert not failures, failures
        assert (node_root / "etc/cni/net.d/10-calico.conflist").exists()
