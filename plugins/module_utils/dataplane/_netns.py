# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Network namespaces: resolving names, opening and entering them (setns), with the standard library only.

Private to the podnet.calico collection: not a public API, may change without notice.
Plain Python, no Ansible imports, and no pyroute2: code that needs only namespaces and the files
under /proc/sys/net (the proxy_arp engine, _sysctl) imports this file and never loads pyroute2.
Errors are DataplaneError with a message for people.

A namespace is entered by opening its file (``/run/netns/<name>`` or a path) and calling
setns(2) on that descriptor only long enough to open a netlink socket (the socket stays bound to
the namespace it was opened in) or a file under /proc/sys/net (which shows the namespace of the
thread that opens it). Nothing here ever creates a namespace.

The netlink socket of a namespace (``Namespace.ipr``) is pyroute2's IPRoute, made by _netlink.py:
pyroute2 is imported the first time an engine asks for that socket, not before.
"""

import contextlib
import ctypes
import errno
import fcntl
import os
import socket
import stat
import struct

CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = '/run/netns'

# interface ioctls (linux/sockios.h): each takes a struct ifreq, the name in its first 16 bytes
SIOCGIFFLAGS = 0x8913
SIOCGIFMTU = 0x8921
SIOCGIFHWADDR = 0x8927
SIOCGIFINDEX = 0x8933
IFF_UP = 0x1

_libc = None


class DataplaneError(Exception):
    """A data-plane operation that cannot be done; the message names what and why."""


class NamespaceError(DataplaneError):
    """A network namespace that does not exist or cannot be entered."""


def _setns(fd):
    if hasattr(os, 'setns'):
        os.setns(fd, CLONE_NEWNET)
        return
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def netns_path(netns, option='netns'):
    """Path of a namespace given by name (under /run/netns) or by path; None for the current one."""
    if netns is None:
        return None
    if not isinstance(netns, str):
        raise NamespaceError('%s: a namespace must be a name or a path, got %r' % (option, netns))
    if netns.strip() == '':
        raise NamespaceError('%s: %r is not a namespace; leave %s out to work in the namespace the module '
                             'runs in' % (option, netns, option))
    if '/' in netns:
        return netns
    if netns in ('.', '..'):
        raise NamespaceError('%s: %r is not a namespace name' % (option, netns))
    return os.path.join(NETNS_RUN_DIR, netns)


def _nsfs_device():
    return os.stat('/proc/self/ns/net').st_dev


def open_netns(path, netns, option):
    """Open a namespace file read-only, refusing quickly what is not one (FIFO, socket, regular file)."""
    try:
        info = os.stat(path)
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            raise NamespaceError('%s: network namespace %r does not exist (no %s); this collection never '
                                 'creates namespaces, create it first (ip netns add)' % (option, netns, path))
        raise NamespaceError('%s: cannot open network namespace %r (%s): %s' % (option, netns, path, exc.strerror))
    # a namespace file is a regular file of the nsfs file system; anything else is refused before
    # open(), which would block on a FIFO
    if not stat.S_ISREG(info.st_mode) or info.st_dev != _nsfs_device():
        kind = ('a FIFO' if stat.S_ISFIFO(info.st_mode) else 'a socket' if stat.S_ISSOCK(info.st_mode)
                else 'a directory' if stat.S_ISDIR(info.st_mode) else 'a device' if
                (stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)) else 'a file that is no namespace')
        raise NamespaceError('%s: %r (%s) is %s, not a network namespace' % (option, netns, path, kind))
    try:
        return os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, 'O_CLOEXEC', 0))
    except (IOError, OSError) as exc:
        raise NamespaceError('%s: cannot open network namespace %r (%s): %s' % (option, netns, path, exc.strerror))


class Namespace(object):
    """An existing network namespace (or the current one) and, once asked for, one IPRoute socket in it."""

    def __init__(self, netns=None, option='netns'):
        self.name = netns
        self.option = option
        self.path = netns_path(netns, option)
        self.fd = None
        self._ipr = None
        self._ioctl_sock = None
        if self.path is not None:
            self.fd = open_netns(self.path, netns, option)
        self.inode = os.fstat(self.fd).st_ino if self.fd is not None else os.stat('/proc/thread-self/ns/net').st_ino

    @property
    def label(self):
        return self.name if self.name else '(current namespace)'

    @contextlib.contextmanager
    def entered(self):
        """Run the block with this thread inside the namespace, then return to where it was."""
        if self.fd is None:
            yield self
            return
        home = os.open('/proc/thread-self/ns/net', os.O_RDONLY | getattr(os, 'O_CLOEXEC', 0))
        try:
            try:
                _setns(self.fd)
            except OSError as exc:
                if exc.errno == errno.EINVAL:
                    raise NamespaceError('%s: %r (%s) is not a network namespace' % (self.option, self.name, self.path))
                raise NamespaceError('%s: cannot enter network namespace %r: %s' % (self.option, self.name, exc.strerror))
            try:
                yield self
            finally:
                _setns(home)
        finally:
            os.close(home)

    def index_of(self, ifname):
        """The ifindex of the link called ``ifname`` in this namespace, or None: if_nametoindex(3), one
        ioctl from inside the namespace, instead of a netlink request whose reply pyroute2 decodes."""
        with self.entered():
            return _ifindex(ifname)

    def name_of(self, index):
        """The name of the link with ifindex ``index`` in this namespace, or None (if_indextoname(3))."""
        with self.entered():
            try:
                return socket.if_indextoname(index)
            except (IOError, OSError, ValueError, OverflowError):
                return None

    def link_basics(self, ifname):
        """Index, MAC, MTU and up flag of the link called ``ifname`` in this namespace, or None when there
        is none: four ioctls on a socket opened inside it (about 30 us), where a netlink request and the
        decoding of its reply take about 0.5 ms. The peer and the kind of a link need netlink. The socket
        is opened once per namespace (it stays bound to it) and closed with it."""
        if self._ioctl_sock is None:
            with self.entered():
                self._ioctl_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock = self._ioctl_sock
        request = struct.pack('16s24x', ifname.encode('utf-8', 'replace')[:15])
        try:
            index = struct.unpack_from('i', fcntl.ioctl(sock, SIOCGIFINDEX, request), 16)[0]
            hwaddr = bytearray(fcntl.ioctl(sock, SIOCGIFHWADDR, request)[18:24])
            mtu = struct.unpack_from('i', fcntl.ioctl(sock, SIOCGIFMTU, request), 16)[0]
            flags = struct.unpack_from('H', fcntl.ioctl(sock, SIOCGIFFLAGS, request), 16)[0]
        except (IOError, OSError) as exc:
            if exc.errno == errno.ENODEV:
                return None
            raise DataplaneError('reading link %s in %s failed: %s' % (ifname, self.label, exc.strerror or exc))
        return {'ifname': ifname, 'index': index, 'mac': ':'.join('%02x' % b for b in hwaddr), 'mtu': mtu,
                'up': bool(flags & IFF_UP)}

    @property
    def ipr(self):
        """The namespace's pyroute2 IPRoute socket, opened (and pyroute2 imported) on first use."""
        if self._ipr is None:
            # pyroute2 is loaded here, by the engines that need netlink, never by those that do not
            from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netlink import iproute
            with self.entered():
                self._ipr = iproute()
        return self._ipr

    def close(self):
        if self._ioctl_sock is not None:
            self._ioctl_sock.close()
            self._ioctl_sock = None
        if self._ipr is not None:
            try:
                self._ipr.close()
            except Exception:  # pylint: disable=broad-except
                pass
            self._ipr = None
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class NamespaceCache(object):
    """Namespaces by path, each opened once per task run (one netlink socket each, when one is used)."""

    def __init__(self):
        self._by_path = {}

    def get(self, netns, option='netns'):
        key = netns_path(netns, option)
        ns = self._by_path.get(key)
        if ns is None:
            ns = Namespace(netns, option)
            self._by_path[key] = ns
        return ns

    def close(self):
        for ns in self._by_path.values():
            ns.close()
        self._by_path = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# ---------------------------------------------------------------- interface names without pyroute2

#: the links of the calling thread's network namespace, one line each after two header lines
NET_DEV = '/proc/thread-self/net/dev'


def link_names_in(text):
    """The link names in the text of /proc/<pid>/net/dev: each line after the two header lines is
    ``<name>: <counters>`` (a link name cannot hold a colon)."""
    return [line.split(':', 1)[0].strip() for line in text.splitlines()[2:] if ':' in line]


def interface_names(namespace):
    """The names of every link of ``namespace``: /proc/thread-self/net/dev read from inside it (the
    file shows the namespace of the thread that reads it; the standard library, not pyroute2)."""
    with namespace.entered():
        try:
            with open(NET_DEV) as handle:
                text = handle.read()
        except (IOError, OSError) as exc:
            raise DataplaneError('reading the links of %s from %s failed: %s' % (namespace.label, NET_DEV,
                                                                                 exc.strerror or exc))
    return link_names_in(text)


def _ifindex(ifname):
    """if_nametoindex(3) in the calling thread's namespace: the index, or None when there is no such link."""
    try:
        return socket.if_nametoindex(ifname) or None
    except (IOError, OSError, ValueError):
        # no link of that name (or a name the kernel cannot hold): the C library says only "no"
        return None


def existing_interfaces(namespace, ifnames):
    """Those of ``ifnames`` that are links of ``namespace``: the namespace is entered once, then
    if_nametoindex(3) (one ioctl) asks for each name."""
    with namespace.entered():
        return [ifname for ifname in ifnames if _ifindex(ifname) is not None]


def has_interface(namespace, ifname):
    """Whether ``namespace`` has a link called ``ifname``."""
    return bool(existing_interfaces(namespace, [ifname]))
