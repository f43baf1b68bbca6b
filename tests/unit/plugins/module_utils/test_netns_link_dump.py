# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_netns's link dump without pyroute2: the parser on crafted datagrams, and the retry of an interrupted dump
(the kernel's NLM_F_DUMP_INTR), as _netlink.dump does it; tests/integration/dataplane asks the kernel itself."""

import errno
import socket
import struct

import pytest

from ansible_collections.podnet.calico.plugins.module_utils.dataplane import _netns
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netns import (
    LINK_DUMP_ATTEMPTS, DataplaneError, Namespace, interface_names, link_names_in,
)


def attr(kind, payload):
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (((length + 3) & ~3) - length)


def message(kind, body, flags=0x2):
    length = 16 + len(body)
    return struct.pack("=IHHII", length, kind, flags, 1, 0) + body + b"\0" * (((length + 3) & ~3) - length)


def link(name, index, flags=0x2):
    body = struct.pack("=BxHiII", 0, 1, index, 0, 0) + attr(4, struct.pack("=I", 1500)) + attr(3, name + b"\0")
    return message(16, body, flags)


def test_names_in_one_datagram_and_done():
    data = link(b"lo", 1) + link(b"cali8e807cde39b", 2) + message(3, struct.pack("=i", 0))
    assert link_names_in(data) == (["lo", "cali8e807cde39b"], True, False)


def test_a_datagram_without_done_and_an_interrupted_one():
    assert link_names_in(link(b"eth0", 3)) == (["eth0"], False, False)
    assert link_names_in(link(b"eth0", 3, flags=0x2 | 0x10)) == (["eth0"], False, True)


def test_an_error_message_is_an_oserror():
    with pytest.raises(OSError) as info:
        link_names_in(message(2, struct.pack("=i", -errno.EPERM) + b"\0" * 16))
    assert info.value.errno == errno.EPERM


def test_interrupted_dump_is_read_again_then_given_up(monkeypatch):
    answers = [(["lo"], True), (["lo", "cali1"], False)]
    monkeypatch.setattr(_netns, "_dump_link_names", lambda: answers.pop(0))
    assert interface_names(Namespace()) == ["lo", "cali1"]
    monkeypatch.setattr(_netns, "_dump_link_names", lambda: (["lo"], True))
    with pytest.raises(DataplaneError, match="interrupted the dump %d times in a row" % LINK_DUMP_ATTEMPTS):
        interface_names(Namespace())


def test_the_current_namespace_as_the_c_library_sees_it():
    assert interface_names(Namespace()) == [name for _index, name in socket.if_nameindex()]
