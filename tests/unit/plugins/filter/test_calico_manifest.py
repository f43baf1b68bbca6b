# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every pre-flight failure of a cluster build, by its message."""

from __future__ import annotations

import pytest

from ansible_collections.podnet.calico.plugins.filter.calico_manifest import calico_manifest_preflight

GOOD = {
    "datastore": "etcd",
    "pool_cidr": "10.244.0.0/16",
    "block_size": 26,
    "service_cidr": "10.96.0.0/12",
    "node_networks": ["10.89.0.0/24", {"network": "192.0.2.0", "netmask": "255.255.255.0"}],
    "ipip_mode": "Always",
    "vxlan_mode": "Never",
    "mtu": 1480,
    "underlay_mtu": 1500,
    "etcd_endpoints": ["https://10.89.0.11:2379"],
    "etcd_ca_file": "/tmp/ca.pem",
    "etcd_cert_file": "/tmp/cert.pem",
    "etcd_key_file": "/tmp/key.pem",
    "crds_url": "",
    "crds_sha256": "",
}
SHA = "ab" * 32


def test_good_settings_pass():
    assert calico_manifest_preflight(GOOD) == []
    assert calico_manifest_preflight(dict(GOOD, datastore="kubernetes", crds_url="http://x/crds.yaml",
                                          crds_sha256=SHA, etcd_endpoints=[])) == []


@pytest.mark.parametrize("change, message", [
    ({"pool_cidr": "10.244.0.1/16"}, "pool_cidr '10.244.0.1/16' is not a valid network"),
    ({"pool_cidr": "banana"}, "pool_cidr 'banana' is not a valid network"),
    ({"block_size": 19}, "block_size 19 is out of range for IPv4 (20 to 32)"),
    ({"pool_cidr": "10.244.0.0/27"}, "block_size /26 is larger than pool_cidr 10.244.0.0/27"),
    ({"service_cidr": "10.244.128.0/20"}, "pool_cidr 10.244.0.0/16 overlaps service_cidr 10.244.128.0/20"),
    ({"node_networks": ["10.244.3.0/24"]}, "pool_cidr 10.244.0.0/16 overlaps the node network 10.244.3.0/24"),
    ({"node_networks": [{"network": "10.244.0.0", "netmask": "255.255.0.0"}]},
     "pool_cidr 10.244.0.0/16 overlaps the node network 10.244.0.0/16"),
    ({"node_networks": ["10.96.0.0/24"]}, "service_cidr 10.96.0.0/12 overlaps the node network 10.96.0.0/24"),
    ({"vxlan_mode": "CrossSubnet", "mtu": 1400},
     "ipip_mode (Always) and vxlan_mode (CrossSubnet) are both enabled; a pool uses one encapsulation"),
    ({"ipip_mode": "Sometimes"}, "ipip_mode must be one of Always, CrossSubnet, Never, got 'Sometimes'"),
    ({"mtu": 1481}, "mtu 1481 is too large for ipip encapsulation on an underlay MTU of 1500: at most 1480"),
    ({"ipip_mode": "Never", "vxlan_mode": "Always", "mtu": 1480},
     "mtu 1480 is too large for vxlan encapsulation on an underlay MTU of 1500: at most 1450"),
    ({"ipip_mode": "Never", "mtu": 1501}, "mtu 1501 is too large for none encapsulation on an underlay MTU of 1500"),
    ({"mtu": 500}, "mtu 500 is below the IPv4 minimum of 576"),
    ({"mtu": "big"}, "mtu must be an integer, got 'big'"),
    ({"etcd_endpoints": []}, "etcd_endpoints is empty; the etcd datastore needs at least one endpoint"),
    ({"etcd_endpoints": "10.0.0.1:2379"}, "etcd endpoint '10.0.0.1:2379' must start with http:// or https://"),
    ({"etcd_key_file": ""}, "etcd TLS files must be given all or none: etcd_ca_file, etcd_cert_file set but etcd_key_file empty"),
    ({"etcd_endpoints": ["http://10.0.0.1:2379"]}, "etcd TLS files are set but an etcd endpoint uses http://"),
    ({"datastore": "consul"}, "datastore must be \"etcd\" or \"kubernetes\", got 'consul'"),
    ({"datastore": "kubernetes", "crds_sha256": SHA}, "crds_url is empty; the kubernetes datastore needs the Calico CRDs"),
    ({"datastore": "kubernetes", "crds_url": "http://x/crds.yaml", "crds_sha256": "abc"},
     "crds_sha256 must be the 64 hex digit sha256 of the CRD file, got 'abc'"),
])
def test_each_failure_has_its_message(change, message):
    errors = calico_manifest_preflight(dict(GOOD, **change))
    assert any(message in error for error in errors), errors


def test_mtu_at_the_limit_passes():
    assert calico_manifest_preflight(dict(GOOD, ipip_mode="Never", vxlan_mode="Always", mtu=1450)) == []
    assert calico_manifest_preflight(dict(GOOD, ipip_mode="Never", etcd_endpoints="https://a:2379,https://b:2379",
                                          mtu=1500)) == []


def test_cni_network_config_filter():
    from ansible_collections.podnet.calico.plugins.filter.calico_manifest import calico_manifest_cni_network_config
    text = calico_manifest_cni_network_config({"datastore": "etcd", "log_level": "info"})
    assert '"mtu": __CNI_MTU__,' in text
    assert '"etcd_endpoints": "__ETCD_ENDPOINTS__"' in text


@pytest.mark.parametrize("settings, message", [
    (["etcd"], "expects a dictionary of settings, got list"),
    ({"datastore": "etcd", "mtu": 1}, "unknown settings mtu"),
    ({"datastore": "zookeeper"}, "datastore must be one of etcd, kubernetes, got 'zookeeper'"),
])
def test_cni_network_config_filter_errors(settings, message):
    from ansible.errors import AnsibleFilterError

    from ansible_collections.podnet.calico.plugins.filter.calico_manifest import calico_manifest_cni_network_config
    with pytest.raises(AnsibleFilterError) as err:
        calico_manifest_cni_network_config(settings)
    assert message in str(err.value)
