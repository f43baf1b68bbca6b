# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Input checks and difference computation of the data-plane engines (no kernel changes).

The engines are given the current namespace (no netns option) and only parse or compare here, so
these tests change nothing on the machine.
"""

import pytest

from ansible_collections.podnet.calico.plugins.module_utils._dp_common import (
    InputError, Journal, check_host_cidr, check_mtu, check_network,
)
from ansible_collections.podnet.calico.plugins.module_utils._dp_route import RouteManager, check_table
from ansible_collections.podnet.calico.plugins.module_utils._dp_tunnel import TunnelManager
from ansible_collections.podnet.calico.plugins.module_utils._dp_proxyarp import ProxyArpManager
from ansible_collections.podnet.calico.plugins.module_utils._dp_veth import VethManager
from ansible_collections.podnet.calico.plugins.module_utils._netlink import NamespaceError, netns_path


@pytest.mark.parametrize("value, expected", [
    ("10.65.0.2", "10.65.0.2/32"), ("10.65.0.2/32", "10.65.0.2/32"), ("fd00::2", "fd00::2/128"),
])
def test_host_cidr(value, expected):
    assert check_host_cidr(value, "x") == expected


@pytest.mark.parametrize("value, words", [
    ("10.65.0.2/24", "must be a host address"), ("10.65.0.300", "not an IP"), ("pod", "not an IP"),
])
def test_host_cidr_bad(value, words):
    with pytest.raises(InputError, match=words) as err:
        check_host_cidr(value, "config[0].addresses[0]")
    assert "config[0].addresses[0]" in str(err.value)


@pytest.mark.parametrize("value, expected", [
    ("default", "0.0.0.0/0"), ("10.65.0.0/26", "10.65.0.0/26"), ("169.254.1.1", "169.254.1.1/32"),
])
def test_network(value, expected):
    assert str(check_network(value, "dst")) == expected


@pytest.mark.parametrize("value, words", [("10.65.0.1/26", "host bits set, did you mean 10.65.0.0/26"),
                                          ("10.65.0.0/33", "not an IP network")])
def test_network_bad(value, words):
    with pytest.raises(InputError, match=words):
        check_network(value, "config[0].dst")


@pytest.mark.parametrize("mtu", [67, 65536, True, "1500"])
def test_mtu_out_of_range(mtu):
    with pytest.raises(InputError, match="config\\[0\\].mtu"):
        check_mtu(mtu, "config[0].mtu")


@pytest.mark.parametrize("table, expected", [(None, 254), ("main", 254), ("100", 100), (100, 100), ("local", 255)])
def test_table(table, expected):
    assert check_table(table, "t") == expected


def test_table_bad():
    with pytest.raises(InputError, match="unknown table 'nosuch'"):
        check_table("nosuch", "config[0].table")


@pytest.mark.parametrize("entry, words", [
    ({"dst": "10.65.0.0/26", "type": "blackhole", "via": "10.0.0.1"}, "takes no via"),
    ({"dst": "10.65.0.0/26"}, "needs via or dev"),
    ({"dst": "10.65.0.0/26", "via": "10.0.0.1", "onlink": True}, "onlink needs both"),
    ({"dst": "10.65.0.0/26", "via": "fd00::1"}, "not an IPv4 address"),
    ({"dst": "10.65.0.0/26", "via": "10.0.0.1", "scope": "link"}, "scope global"),
    ({"dst": "10.65.0.0/26", "dev": "x" * 16}, "at most 15"),
    ({"dst": "10.65.0.0/26", "type": "nat"}, "not one of"),
    ({"dst": "10.65.0.0/26", "dev": "eth0", "metric": -1}, "out of range"),
])
def test_route_parse_errors(entry, words):
    with pytest.raises(InputError, match=words):
        RouteManager(None).parse("merged", [entry])


def test_route_parse_defaults_and_duplicates():
    routes = RouteManager(None).parse("merged", [{"dst": "169.254.1.1", "dev": "eth0"},
                                                 {"dst": "default", "via": "169.254.1.1", "dev": "eth0"}])
    assert [(r["dst"], r["scope"], r["proto"], r["table"], r["metric"]) for r in routes] == [
        ("169.254.1.1/32", "link", 201, 254, 0), ("0.0.0.0/0", "global", 201, 254, 0)]
    with pytest.raises(InputError, match="listed twice"):
        RouteManager(None).parse("merged", [{"dst": "10.65.0.0/26", "type": "blackhole"},
                                            {"dst": "10.65.0.0/26", "dev": "eth0"}])


@pytest.mark.parametrize("current, differs", [
    (None, True),
    ({"type": "unicast", "via": None, "oif": 3, "scope": "link", "onlink": False, "proto": 201}, False),
    ({"type": "unicast", "via": None, "oif": 4, "scope": "link", "onlink": False, "proto": 201}, True),
    ({"type": "unicast", "via": None, "oif": 3, "scope": "link", "onlink": False, "proto": 80}, True),
    ({"type": "blackhole", "via": None, "oif": None, "scope": "global", "onlink": False, "proto": 201}, True),
])
def test_route_difference(current, differs):
    wanted = {"type": "unicast", "via": None, "dev": "cali1", "oif": 3, "scope": "link", "onlink": False,
              "proto": 201}
    assert RouteManager.differs(wanted, current) is differs


def test_route_proto_range():
    with pytest.raises(InputError, match="proto: route protocol 300"):
        RouteManager(None, proto=300)


@pytest.mark.parametrize("entry, words", [
    ({"type": "gre"}, "not one of"),
    ({"type": "vxlan"}, "set node_name"),
    ({"type": "vxlan", "node_name": "n1", "vni": 0}, "VNI 0 is out of range"),
    ({"type": "vxlan", "node_name": "n1", "mtu": 10}, "MTU 10 is out of range"),
    ({"type": "vxlan", "mac": "01:00:00:00:00:01"}, "multicast"),
    ({"type": "vxlan", "node_name": "n1", "peers": [{"vtep_ip": "10.0.0.1", "vtep_mac": "66:00:00:00:00:01"}]},
     "underlay_ip is required"),
    ({"type": "ipip", "name": "tunl1"}, "always tunl0"),
    ({"type": "vxlan", "node_name": "n1", "address": "10.65.0.0/26"}, "must be a host address"),
])
def test_tunnel_parse_errors(entry, words):
    with pytest.raises(InputError, match=words):
        TunnelManager(None).parse("merged", [entry])


def test_tunnel_parse_derives_mac():
    (entry,) = TunnelManager(None).parse("merged", [{"type": "vxlan", "node_name": "node1", "address": "10.65.0.0"}])
    assert (entry["name"], entry["mac"], entry["vni"], entry["port"], entry["address"]) == (
        "vxlan.calico", "66:f9:37:c3:7e:94", 4096, 4789, "10.65.0.0/32")


@pytest.mark.parametrize("entry, words", [
    ({"interface": "a" * 16}, "at most 15"),
    ({"interface": "cali*", "accept_ra": 3}, "between 0 and 2"),
    ({"interface": "cali*", "proxy_delay": -1}, "out of range"),
])
def test_proxy_arp_parse_errors(entry, words):
    with pytest.raises(InputError, match=words):
        ProxyArpManager(None).parse([entry])


@pytest.mark.parametrize("entry, words", [
    ({"workload": "default.a", "container_ifname": "x" * 16, "container_netns": None}, "container_ifname"),
    ({"workload": "default.a"}, "container_netns is required"),
    ({"host_ifname": "calithisistoolong"}, "at most 15"),
    ({"workload": "default.a", "host_mac": "nope"}, "host_mac"),
    ({"workload": "default.a", "addresses": ["10.0.0.1/24"]}, "addresses\\[0\\]"),
    ({"workload": "default.a", "mtu": 70000}, "MTU 70000"),
    ({}, "set workload or host_ifname"),
])
def test_veth_parse_errors(entry, words):
    with pytest.raises(InputError, match=words):
        VethManager(None).parse("merged", [entry])


def test_veth_missing_container_netns_is_named():
    with pytest.raises(NamespaceError, match="config\\[0\\].container_netns: network namespace 'pnt-never-made'"):
        VethManager(None).parse("merged", [{"workload": "default.a", "container_netns": "pnt-never-made"}])


def test_missing_netns_is_an_error_and_not_created(tmp_path):
    with pytest.raises(NamespaceError, match="netns: network namespace 'pnt-never-made' does not exist"):
        VethManager("pnt-never-made")
    assert netns_path("pnt-never-made") == "/run/netns/pnt-never-made"
    import os
    assert not os.path.exists("/run/netns/pnt-never-made")


def test_journal_rolls_back_in_reverse_and_reports_failures():
    done = []
    journal = Journal()
    journal.add(done.append, 1)
    journal.add(done.append, 2)

    def broken():
        raise RuntimeError("cannot undo")
    journal.add(broken)
    problems = journal.rollback()
    assert done == [2, 1]
    assert problems == ["cannot undo"]
