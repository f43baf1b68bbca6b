# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Per-namespace network sysctls (/proc/sys/net).

Private to the podnet.calico collection: not a public API, may change without notice.
Plain Python, no Ansible imports.

A file under /proc/sys/net shows the network namespace of the thread that opens it, so every read
and write here happens inside ``Namespace.entered()``; nothing is mounted.
"""

import errno
import os

from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netns import DataplaneError

PROC_SYS_NET = '/proc/sys/net'


def sysctl_path(family, section, ifname, key):
    """/proc/sys/net/<ipv4|ipv6>/<conf|neigh>/<ifname>/<key>; the name is used as is (dots stay dots)."""
    if '/' in ifname or ifname in ('.', '..'):
        raise DataplaneError('interface name %r cannot be used in a sysctl path' % (ifname,))
    return os.path.join(PROC_SYS_NET, family, section, ifname, key)


def read_value(path):
    """Read one sysctl as a string, inside the namespace the caller entered."""
    try:
        with open(path, 'r') as handle:
            return handle.read().strip()
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            raise DataplaneError('sysctl %s does not exist in this namespace' % path)
        raise DataplaneError('reading sysctl %s failed: %s' % (path, exc.strerror))


def write_value(path, value):
    """Write one sysctl, inside the namespace the caller entered."""
    try:
        with open(path, 'w') as handle:
            handle.write('%s\n' % (value,))
    except (IOError, OSError) as exc:
        raise DataplaneError('writing %s to sysctl %s failed: %s' % (value, path, exc.strerror))


def read_int(path):
    text = read_value(path)
    try:
        return int(text)
    except ValueError:
        raise DataplaneError('sysctl %s holds %r, not a number' % (path, text))


def read_in(namespace, paths):
    """Read several sysctls in one visit to ``namespace``; returns {path: int} (used by the CNI plugin)."""
    with namespace.entered():
        return dict((p, read_int(p)) for p in paths)


def write_in(namespace, values):
    """Write {path: value} in one visit to ``namespace``."""
    with namespace.entered():
        for path, value in values.items():
            write_value(path, value)
