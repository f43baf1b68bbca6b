# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Input checks and difference computation of the data-plane engines (no kernel changes).

The engines are given the current namespace (no netns option) and only parse or compare here, so
these tests change nothing on the machine.
"""

import pytest

from ansible_collections.podnet.calico.plugins.module_utils.dataplane._base import (
    InputError, Journal, RunFailed, check_host_cidr, check_mtu, check_network, check_pod_address, fail_with_rollback,
)
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._route import RouteManager, check_table
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._tunnel import TunnelManager
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._proxyarp import ProxyArpManager
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._veth import VethManager
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netns import NamespaceError, netns_path


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
        ProxyArpManager(None).parse("merged", [entry])


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


def test_journal_undoes_in_reverse_and_names_what_it_could_not_undo():
    done = []
    journal = Journal()
    journal.do("add one", lambda: None, lambda: done.append(1))
    journal.do("delete two", lambda: None, None)

    def broken():
        raise RuntimeError("kernel said no")
    journal.do("set three", lambda: None, broken)
    journal.do("add four", lambda: None, lambda: done.append(4))
    with pytest.raises(RunFailed) as info:
        fail_with_rollback(journal, InputError("adding five failed"))
    assert done == [4, 1]
    assert info.value.changed
    assert info.value.not_undone == ["set three (undoing it failed: kernel said no)", "delete two (cannot be undone)"]
    assert "NOT undone: set three (undoing it failed: kernel said no); delete two" in str(info.value)


def test_journal_runs_last_steps_only_after_everything_else_and_not_in_check_mode():
    order = []
    journal = Journal()
    journal.last("remove old", lambda: order.append("last"))
    journal.do("create new", lambda: order.append("do"), lambda: None)
    journal.commit()
    assert order == ["do", "last"] and journal.changes == ["create new", "remove old"]
    check = Journal(check_mode=True)
    check.do("create new", lambda: order.append("never"), None)
    check.last("remove old", lambda: order.append("never"))
    check.commit()
    assert "never" not in order and check.changes == ["create new", "remove old"] and check.changed


def test_journal_clean_rollback_says_so():
    journal = Journal()
    journal.do("add one", lambda: None, lambda: None)
    with pytest.raises(RunFailed) as info:
        fail_with_rollback(journal, InputError("step two failed"))
    assert not info.value.changed and "every change this run had made was undone (1)" in str(info.value)


@pytest.mark.parametrize("address, words", [
    ("0.0.0.0", "unspecified"),
    ("127.0.0.1", "loopback"),
    ("127.9.9.9/32", "loopback"),
    ("169.254.1.1", "gateway"),
    ("169.254.7.7", "link-local"),
    ("224.0.0.5", "multicast"),
    ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "reserved"),
    ("::1", "loopback"),
    ("ff02::1", "multicast"),
])
def test_pod_addresses_no_workload_can_have(address, words):
    with pytest.raises(InputError, match="config\\[0\\].addresses\\[0\\]: .*%s" % words):
        check_pod_address(address, "config[0].addresses[0]", "169.254.1.1")


def test_pod_address_accepts_block_addresses():
    assert check_pod_address("10.244.0.0", "x", "169.254.1.1") == "10.244.0.0/32"
    assert check_pod_address("10.244.0.63/32", "x", "169.254.1.1") == "10.244.0.63/32"


def test_veth_same_address_on_two_pods_is_refused():
    with pytest.raises(InputError, match="config\\[1\\].addresses\\[0\\]: 10.65.0.2/32 is also given to config\\[0\\]"):
        VethManager(None).parse("deleted", [{"workload": "default.a", "addresses": ["10.65.0.2"]},
                                            {"workload": "default.b", "addresses": ["10.65.0.2/32"]}])


@pytest.mark.parametrize("state", ["merged", "replaced", "overridden", "deleted"])
def test_veth_explicit_foreign_host_ifname_needs_force(state):
    with pytest.raises(InputError, match="config\\[0\\].host_ifname: interface 'eth0' .*force: true"):
        VethManager(None).parse(state, [{"host_ifname": "eth0"}])
    VethManager(None, force=True).parse("deleted", [{"host_ifname": "eth0"}])


@pytest.mark.parametrize("proto, words", [
    (2, "route protocol 2 \\(kernel\\) belongs to the kernel"),
    (3, "route protocol 3 \\(boot\\)"),
    (4, "route protocol 4 \\(static\\)"),
    (12, "route protocol 12 is the one of bird; set force: true"),
    (80, "route protocol 80 is the one of felix; set force: true"),
])
def test_route_kernel_and_daemon_protocols_are_not_ours(proto, words):
    with pytest.raises(InputError, match="proto: " + words):
        RouteManager(None, proto=proto)
    with pytest.raises(InputError, match="config\\[0\\].proto: " + words):
        RouteManager(None).parse("overridden", [{"dst": "10.0.0.0/8", "type": "blackhole", "proto": proto}])


def test_route_daemon_protocol_with_force_and_kernel_never():
    assert RouteManager(None, proto=80, force=True).proto == 80
    with pytest.raises(InputError, match="never ours"):
        RouteManager(None, proto=3, force=True)


def test_tunnel_other_device_name_needs_force():
    with pytest.raises(InputError, match="config\\[0\\].name: device 'eth0' .*force: true"):
        TunnelManager(None).parse("deleted", [{"type": "vxlan", "name": "eth0"}])
    TunnelManager(None, force=True).parse("deleted", [{"type": "vxlan", "name": "eth0"}])


@pytest.mark.parametrize("name", ["eth0", "lo"])
def test_proxy_arp_exact_foreign_interface_needs_force(name):
    with pytest.raises(InputError, match="config\\[0\\].interface: interface '%s' .*force: true" % name):
        ProxyArpManager(None).parse("merged", [{"interface": name, "proxy_arp": True}])


def test_proxy_arp_patterns_match_only_cali_interfaces_unless_forced():
    manager = ProxyArpManager(None)
    entries = manager.parse("merged", [{"interface": "*", "proxy_arp": True}])
    assert list(manager._matches(entries, ["lo", "eth0", "cali1234567890a"])) == ["cali1234567890a"]
    forced = ProxyArpManager(None, force=True)
    assert sorted(forced._matches(entries, ["lo", "eth0", "cali1"])) == ["cali1", "eth0", "lo"]


def test_empty_netns_is_an_error_naming_the_option():
    with pytest.raises(NamespaceError, match="netns: '' is not a namespace"):
        VethManager("")
    with pytest.raises(NamespaceError, match="config\\[0\\].container_netns: '' is not a namespace"):
        VethManager(None).parse("merged", [{"workload": "default.a", "container_netns": ""}])


def test_netns_fifo_and_regular_file_are_refused_without_blocking(tmp_path):
    import os
    fifo = tmp_path / "fifo"
    os.mkfifo(str(fifo))
    with pytest.raises(NamespaceError, match="netns: .* is a FIFO, not a network namespace"):
        VethManager(str(fifo))
    plain = tmp_path / "plain"
    plain.write_text("")
    with pytest.raises(NamespaceError, match="netns: .* is a file that is no namespace, not a network namespace"):
        VethManager(str(plain))
    with pytest.raises(NamespaceError, match="netns: .* is a directory"):
        VethManager(str(tmp_path))
