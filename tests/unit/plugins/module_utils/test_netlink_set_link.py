# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""set_link(): one 'set' request by name; errors are nl_call's, ENODEV alone says the link is gone.

The link calls go to a stand-in of IPRoute.link that records its arguments or raises a NetlinkError with
the errno given; tests/integration/dataplane/test_dataplane_netlink.py asks the kernel itself.
"""

import errno
import os

import pytest

from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netlink import (
    DataplaneError, NetlinkError, set_link,
)


class FakeIPRoute(object):
    def __init__(self, code=None):
        self.code = code
        self.calls = []

    def link(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        if self.code is not None:
            raise NetlinkError(self.code, 'stand-in')
        return []


def test_one_set_request_by_name():
    ipr = FakeIPRoute()
    set_link(ipr, 'cali1', 'setting mtu 1400 on cali1', 'node', mtu=1400, state='up')
    assert ipr.calls == [(('set',), {'ifname': 'cali1', 'mtu': 1400, 'state': 'up'})]


def test_enodev_says_the_link_is_gone():
    with pytest.raises(DataplaneError) as info:
        set_link(FakeIPRoute(errno.ENODEV), 'cali1', 'setting cali1 up', 'node', state='up')
    assert str(info.value) == 'setting cali1 up failed: cali1 is gone from node'
    assert info.value.code == errno.ENODEV


@pytest.mark.parametrize('code', [errno.EINVAL, errno.EPERM, errno.EBUSY, errno.ENOENT])
def test_other_errors_are_nl_calls(code):
    with pytest.raises(DataplaneError) as info:
        set_link(FakeIPRoute(code), 'cali1', 'setting mtu 99999 on cali1', 'node', mtu=99999)
    assert str(info.value) == 'setting mtu 99999 on cali1 failed: %s (errno %d)' % (os.strerror(code), code)
    assert info.value.code == code
