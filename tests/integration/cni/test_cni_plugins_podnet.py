# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cni_plugins with cni_plugins_calico_impl=podnet: the collection's plugin installed as calico and calico-ipam,
then used the CNI way with the conflist, kubeconfig and etcd TLS files the role wrote."""

from __future__ import annotations

import json
import os

from cni_testlib import add_netns, call, cni_env, ip_json, k8s_args, kill_netns
from podnet_testlib import run_playbook

HERE = os.path.dirname(os.path.abspath(__file__))


def _vars(cni_node, root, **extra):
    evars = {
        "cni_plugins_calico_impl": "podnet",
        "cni_plugins_bin_dir": os.path.join(root, "bin"),
        "cni_plugins_conf_dir": os.path.join(root, "net.d"),
        "cni_plugins_reference_package_install": False,
        "cni_plugins_podnet_package_install": False,
        "cni_plugins_reference_plugins": ["loopback", "host-local"],
        "cni_plugins_portmap": False,
        "cni_plugins_datastore": "etcd",
        "cni_plugins_etcd_endpoints": [cni_node.etcd.url],
        "cni_plugins_etcd_ca_file": cni_node.etcd.certs["ca"],
        "cni_plugins_etcd_cert_file": cni_node.etcd.certs["client_cert"],
        "cni_plugins_etcd_key_file": cni_node.etcd.certs["client_key"],
        "cni_plugins_log_file_path": os.path.join(root, "cni.log"),
        "cni_plugins_nodename": "role-node",
    }
    evars.update(extra)
    return evars


def test_podnet_impl_installs_our_plugin_and_it_serves_the_role_conflist(cni_node, tmp_path):
    root = str(tmp_path)
    playbook = os.path.join(HERE, "files", "cni_plugins.yml")
    evars = _vars(cni_node, root)
    first = run_playbook(playbook, extra_vars=evars)
    assert first.changed
    bindir = evars["cni_plugins_bin_dir"]
    assert os.path.islink(os.path.join(bindir, "calico-ipam"))
    assert os.readlink(os.path.join(bindir, "calico-ipam")) == "calico"
    with open(os.path.join(bindir, "calico"), "rb") as handle:
        assert handle.readline() == b"#!/usr/bin/python3 -IS\n"   # the client starts without site (docs/cni.md)
    second = run_playbook(playbook, extra_vars=evars)
    assert not second.changed, second.changed_tasks()
    check = run_playbook(playbook, extra_vars=evars, check=True)
    assert not check.changed, check.changed_tasks()

    with open(os.path.join(evars["cni_plugins_conf_dir"], "10-calico.conflist")) as handle:
        conflist = json.load(handle)
    conf = dict(conflist["plugins"][0], name=conflist["name"], cniVersion=conflist["cniVersion"])
    assert conf["etcd_cert_file"].startswith(evars["cni_plugins_conf_dir"])   # the files the role laid down
    cni_node.alive()
    pod = add_netns("%s-rolepod" % cni_node.name)
    try:
        env = cni_env("ADD", "rolepod0", "/run/netns/%s" % pod, "eth0", k8s_args("default", "role-pod", "rolepod0"))
        add = call(os.path.join(bindir, "calico"), cni_node.name, conf, env)
        assert add.rc == 0, (add, conf)
        ip = add.json["ips"][0]["address"]
        have = ip_json(pod, "-4", "addr", "show", "dev", "eth0")[0]["addr_info"]
        assert "%s/%s" % (have[0]["local"], have[0]["prefixlen"]) == ip
        assert "k8s-pod-network.rolepod0" in cni_node.handles()
        env["CNI_COMMAND"] = "DEL"
        assert call(os.path.join(bindir, "calico"), cni_node.name, conf, env).rc == 0
        assert "k8s-pod-network.rolepod0" not in cni_node.handles()
        with open(evars["cni_plugins_log_file_path"]) as handle:
            assert "ContainerID=rolepod0" in handle.read()
    finally:
        kill_netns(pod)


def test_podnet_impl_refuses_the_kubernetes_datastore(cni_node, tmp_path):
    evars = _vars(cni_node, str(tmp_path), cni_plugins_datastore="kubernetes")
    res = run_playbook(os.path.join(HERE, "files", "cni_plugins.yml"), extra_vars=evars, expect_fail=True)
    assert "cni_plugins_calico_impl=podnet needs the etcd datastore" in res.stdout
    assert not os.path.exists(os.path.join(evars["cni_plugins_bin_dir"], "calico"))
