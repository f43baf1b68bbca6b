# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dump(): a netlink dump the kernel flagged interrupted (NLM_F_DUMP_INTR) is read again, then given up.

The kernel interrupts a dump when the table changes while it is read, which happens under parallel CNI
calls on one node (tests/integration/cni: eight parallel DELs); here the reader is a plain function that
raises pyroute2's own exception, so the retry rule is checked without racing the kernel.
"""

import pytest

from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netlink import (
    DUMP_ATTEMPTS, DataplaneError, NetlinkError, dump,
)

NetlinkDumpInterrupted = pytest.importorskip("pyroute2.netlink.exceptions").NetlinkDumpInterrupted


def reader(failures, exc=NetlinkDumpInterrupted):
    calls = []

    def read(*args, **kwargs):
        calls.append((args, kwargs))
        if len(calls) <= failures:
            raise exc()
        return iter([{"index": 1}, {"index": 2}])
    return read, calls


def test_interrupted_dump_is_read_again():
    read, calls = reader(3)
    assert dump("the links", read, "dump", family=2) == [{"index": 1}, {"index": 2}]
    assert len(calls) == 4 and calls[-1] == (("dump",), {"family": 2})


def test_gives_up_naming_what_it_read():
    read, calls = reader(DUMP_ATTEMPTS)
    with pytest.raises(DataplaneError, match="reading the routes: the kernel interrupted the dump %d times"
                                             % DUMP_ATTEMPTS):
        dump("the routes", read)
    assert len(calls) == DUMP_ATTEMPTS


def test_other_netlink_errors_are_not_retried():
    read, calls = reader(1, exc=lambda: NetlinkError(1, "Operation not permitted"))
    with pytest.raises(NetlinkError):
        dump("the links", read)
    assert len(calls) == 1
