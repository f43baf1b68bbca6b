# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_netns's link names without pyroute2: the parser of /proc/<pid>/net/dev, and the current namespace as the
C library sees it; tests/integration/dataplane compares the listing with `ip link` inside lab namespaces."""

import socket

import pytest

from ansible_collections.podnet.calico.plugins.module_utils.dataplane import _netns
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netns import (
    DataplaneError, Namespace, existing_interfaces, has_interface, interface_names, link_names_in,
)

NET_DEV = """Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0
cali8e807cde39b:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
  eth0: 1234 5 0 0 0 0 0 0 1234 5 0 0 0 0 0 0
"""


def test_names_after_the_two_header_lines():
    assert link_names_in(NET_DEV) == ["lo", "cali8e807cde39b", "eth0"]
    assert link_names_in(NET_DEV.split("\n", 2)[0]) == []


def test_an_unreadable_file_names_the_file(monkeypatch, tmp_path):
    monkeypatch.setattr(_netns, "NET_DEV", str(tmp_path / "missing"))
    with pytest.raises(DataplaneError, match="reading the links of .* from .*missing failed"):
        interface_names(Namespace())


def test_the_current_namespace_as_the_c_library_sees_it():
    assert sorted(interface_names(Namespace())) == sorted(name for _index, name in socket.if_nameindex())


def test_existing_interfaces_keeps_only_links_of_the_namespace():
    names = [name for _index, name in socket.if_nameindex()]
    assert existing_interfaces(Namespace(), names + ["nosuch0", "x" * 40]) == names
    assert has_interface(Namespace(), names[0])
    assert not has_interface(Namespace(), "nosuch0")
