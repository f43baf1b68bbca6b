# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Calico's CNI config list: the node's list, the manifest's template, and both agreeing."""

from __future__ import annotations

import json

import pytest

from ansible_collections.podnet.calico.plugins.module_utils.calico._cniconf import (
    CniConfError,
    calico_conflist,
    calico_conflist_template,
    chained_plugin_types,
)


def fill(template, **values):
    """install-cni's substitutions for the placeholders our template uses."""
    conf_dir = values.get("conf_dir", "/etc/cni/net.d")
    tls = values.get("tls", False)
    text = template
    for placeholder, value in (
            ("__KUBERNETES_NODE_NAME__", values["nodename"]),
            ("__CNI_MTU__", str(values["mtu"])),
            ("__KUBECONFIG_FILEPATH__", conf_dir + "/calico-kubeconfig"),
            ("__ETCD_ENDPOINTS__", values.get("endpoints", "")),
            ("__ETCD_CERT_FILE__", conf_dir + "/calico-tls/etcd-cert" if tls else ""),
            ("__ETCD_KEY_FILE__", conf_dir + "/calico-tls/etcd-key" if tls else ""),
            ("__ETCD_CA_CERT_FILE__", conf_dir + "/calico-tls/etcd-ca" if tls else "")):
        text = text.replace(placeholder, value)
    return json.loads(text)


def test_kubernetes_node_list():
    conf = calico_conflist(datastore="kubernetes", mtu="1450", nodename="node1")
    assert conf == {
        "name": "k8s-pod-network", "cniVersion": "0.3.1",
        "plugins": [
            {"type": "calico", "log_level": "info", "log_file_path": "/var/log/calico/cni/cni.log",
             "datastore_type": "kubernetes", "nodename": "node1", "mtu": 1450, "ipam": {"type": "calico-ipam"},
             "policy": {"type": "k8s"}, "kubernetes": {"kubeconfig": "/etc/cni/net.d/calico-kubeconfig"}},
            {"type": "portmap", "snat": True, "capabilities": {"portMappings": True}},
            {"type": "bandwidth", "capabilities": {"bandwidth": True}},
        ]}


def test_etcd_node_list_with_tls_in_a_custom_conf_dir():
    conf = calico_conflist(datastore="etcd", mtu=1480, nodename="node1", conf_dir="/var/lib/cni/net.d/",
                           etcd_endpoints=["https://10.0.0.1:2379", " https://10.0.0.2:2379"], etcd_tls=True,
                           portmap=False, bandwidth=False, log_level="DEBUG")
    calico = conf["plugins"][0]
    assert [plugin["type"] for plugin in conf["plugins"]] == ["calico"]
    assert calico["datastore_type"] == "etcdv3"
    assert calico["etcd_endpoints"] == "https://10.0.0.1:2379,https://10.0.0.2:2379"
    assert calico["etcd_cert_file"] == "/var/lib/cni/net.d/calico-tls/etcd-cert"
    assert calico["etcd_key_file"] == "/var/lib/cni/net.d/calico-tls/etcd-key"
    assert calico["etcd_ca_cert_file"] == "/var/lib/cni/net.d/calico-tls/etcd-ca"
    assert calico["kubernetes"] == {"kubeconfig": "/var/lib/cni/net.d/calico-kubeconfig"}
    assert calico["log_level"] == "debug"


def test_etcd_without_tls_leaves_the_file_fields_empty_as_install_cni_does():
    calico = calico_conflist(datastore="etcd", mtu=1440, nodename="n", etcd_endpoints="http://127.0.0.1:2379")["plugins"][0]
    assert (calico["etcd_cert_file"], calico["etcd_key_file"], calico["etcd_ca_cert_file"]) == ("", "", "")


def test_kubeconfig_name():
    calico = calico_conflist(nodename="n", conf_dir="/etc/cni/net.d", kubeconfig_name="calico.kubeconfig")["plugins"][0]
    assert calico["kubernetes"] == {"kubeconfig": "/etc/cni/net.d/calico.kubeconfig"}


def test_ipam_fields():
    calico = calico_conflist(nodename="n", ipam={"assign_ipv4": True, "ipv4_pools": ["10.244.0.0/16"]})["plugins"][0]
    assert calico["ipam"] == {"type": "calico-ipam", "assign_ipv4": "true", "ipv4_pools": ["10.244.0.0/16"]}


def test_template_mtu_placeholder_is_bare():
    text = calico_conflist_template(datastore="kubernetes")
    assert '"mtu": __CNI_MTU__,' in text
    assert '"__CNI_MTU__"' not in text
    with pytest.raises(ValueError):
        json.loads(text)


@pytest.mark.parametrize("datastore, extra, values", [
    ("kubernetes", {}, {}),
    ("kubernetes", {"conf_dir": "/var/lib/cni/net.d"}, {"conf_dir": "/var/lib/cni/net.d"}),
    ("etcd", {"etcd_endpoints": ["https://10.0.0.1:2379"], "etcd_tls": True},
     {"endpoints": "https://10.0.0.1:2379", "tls": True}),
    ("etcd", {"etcd_endpoints": "http://10.0.0.1:2379"}, {"endpoints": "http://10.0.0.1:2379"}),
])
def test_template_after_install_cni_equals_node_list(datastore, extra, values):
    node = calico_conflist(datastore=datastore, mtu=1430, nodename="worker-7", **extra)
    filled = fill(calico_conflist_template(datastore=datastore), nodename="worker-7", mtu=1430, **values)
    assert filled == node


def test_chained_types():
    assert chained_plugin_types() == ["portmap", "bandwidth"]
    assert chained_plugin_types(portmap=False) == ["bandwidth"]


@pytest.mark.parametrize("kwargs, message", [
    ({"datastore": "consul"}, "datastore must be one of etcd, kubernetes, got 'consul'"),
    ({"mtu": "big"}, "mtu must be an integer, got 'big'"),
    ({"mtu": True}, "mtu must be an integer, got True"),
    ({"mtu": 100}, "mtu must be between 576 and 65535, got 100"),
    ({"nodename": ""}, "nodename must be the Kubernetes node name, got ''"),
    ({"nodename": "Node_1"}, "nodename must be a Kubernetes node name (lowercase DNS subdomain), got 'Node_1'"),
    ({"log_level": "loud"}, "log_level must be one of debug, info, warning, error, fatal, panic, got 'loud'"),
    ({"conf_dir": "etc/cni"}, "conf_dir must be an absolute path, got 'etc/cni'"),
    ({"kubeconfig_name": "../kubeconfig"}, "kubeconfig_name must be a file name, got '../kubeconfig'"),
    ({"datastore": "etcd"}, "etcd_endpoints must name at least one endpoint for the etcd datastore, got None"),
    ({"datastore": "etcd", "etcd_endpoints": ["10.0.0.1:2379"]},
     "etcd endpoint '10.0.0.1:2379' in etcd_endpoints must start with http:// or https://"),
    ({"ipam": {"assign_ipv4": "maybe"}}, "ipam.assign_ipv4 must be true or false, got 'maybe'"),
    ({"ipam": {"ipv4_pools": "10.0.0.0/8"}}, "ipam.ipv4_pools must be a list of pool CIDRs or names, got '10.0.0.0/8'"),
    ({"ipam": {"subnet": "10.0.0.0/8"}}, "ipam takes type, assign_ipv4 and ipv4_pools, got subnet"),
])
def test_bad_settings_name_the_setting(kwargs, message):
    settings = dict({"nodename": "node1"}, **kwargs)
    with pytest.raises(CniConfError) as err:
        calico_conflist(**settings)
    assert str(err.value) == message
