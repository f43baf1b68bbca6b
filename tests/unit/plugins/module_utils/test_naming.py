# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Calico's naming rules: known vectors and the interface-name limits."""

import hashlib

import pytest

from ansible_collections.podnet.calico.plugins.module_utils.calico._names import (
    NamingError, host_ifname, normalize_mac, validate_ifname, vxlan_mac, workload_id,
)


@pytest.mark.parametrize("workload, expected", [
    ("default.net-test", "cali8e807cde39b"),
    (workload_id("default", "net-test"), "cali8e807cde39b"),
])
def test_host_ifname_known_vectors(workload, expected):
    assert host_ifname(workload) == expected


@pytest.mark.parametrize("workload", ["kube-system.coredns-5d78c9869d-abcde", "a.b", "x" * 300])
def test_host_ifname_is_cali_plus_11_hex_of_sha1(workload):
    name = host_ifname(workload)
    assert len(name) == 15
    assert name == "cali" + hashlib.sha1(workload.encode()).hexdigest()[:11]


@pytest.mark.parametrize("node, expected", [
    ("node1", "66:f9:37:c3:7e:94"),
])
def test_vxlan_mac_known_vectors(node, expected):
    assert vxlan_mac(node) == expected


def test_vxlan_mac_is_0x66_and_5_sha1_bytes():
    mac = vxlan_mac("worker-17")
    digest = hashlib.sha1(b"worker-17").hexdigest()
    assert mac.replace(":", "") == "66" + digest[:10]


@pytest.mark.parametrize("bad", ["", None, 5])
def test_bad_workload_and_node(bad):
    with pytest.raises(NamingError):
        host_ifname(bad)
    with pytest.raises(NamingError):
        vxlan_mac(bad)


@pytest.mark.parametrize("name", ["eth0", "cali8e807cde39b", "vxlan.calico", "a" * 15])
def test_valid_ifnames(name):
    assert validate_ifname(name) == name


@pytest.mark.parametrize("name, words", [
    ("a" * 16, "16 characters"),
    ("", "non-empty"),
    ("a/b", "refuses"),
    ("a b", "refuses"),
    ("..", "refuses"),
])
def test_invalid_ifnames(name, words):
    with pytest.raises(NamingError, match=words):
        validate_ifname(name)


@pytest.mark.parametrize("value, expected", [
    ("EE:EE:EE:EE:EE:EE", "ee:ee:ee:ee:ee:ee"),
    ("66-f9-37-c3-7e-94", "66:f9:37:c3:7e:94"),
])
def test_normalize_mac(value, expected):
    assert normalize_mac(value) == expected


@pytest.mark.parametrize("value", ["ee:ee:ee:ee:ee", "zz:ee:ee:ee:ee:ee", "01:00:5e:00:00:01", "00:00:00:00:00:00"])
def test_bad_macs(value):
    with pytest.raises(NamingError):
        normalize_mac(value)
