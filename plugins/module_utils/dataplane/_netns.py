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
import os
import socket
import stat
import struct

CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = '/run/netns'

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

NETLINK_ROUTE = 0
RTM_NEWLINK = 16
RTM_GETLINK = 18
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLM_F_DUMP_INTR = 0x10
IFLA_IFNAME = 3
#: how often a link dump that the kernel interrupted is read again (as _netlink.DUMP_ATTEMPTS)
LINK_DUMP_ATTEMPTS = 8

_NLMSGHDR = struct.Struct('=IHHII')     # length, type, flags, sequence, port id
_IFINFOMSG = struct.Struct('=BxHiII')   # family, type, index, flags, change
_RTATTR = struct.Struct('=HH')          # length, type


def _align(length):
    return (length + 3) & ~3


def link_names_in(data):
    """Parse one datagram of an RTM_GETLINK dump: (names, done, interrupted).

    ``done``: the dump's NLMSG_DONE was in it; ``interrupted``: a message carried NLM_F_DUMP_INTR
    (the link table changed while it was read). A netlink error message raises OSError.
    """
    names, done, interrupted = [], False, False
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, kind, flags, _seq, _port = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size or offset + length > len(data):
            raise OSError(errno.EBADMSG, 'malformed netlink message')
        if flags & NLM_F_DUMP_INTR:
            interrupted = True
        if kind == NLMSG_DONE:
            done = True
            break
        if kind == NLMSG_ERROR:
            code = -struct.unpack_from('=i', data, offset + _NLMSGHDR.size)[0]
            if code:
                raise OSError(code, os.strerror(code))
        elif kind == RTM_NEWLINK:
            pos, end = offset + _NLMSGHDR.size + _IFINFOMSG.size, offset + length
            while pos + _RTATTR.size <= end:
                rta_len, rta_type = _RTATTR.unpack_from(data, pos)
                if rta_len < _RTATTR.size:
                    break
                if rta_type == IFLA_IFNAME:
                    raw = data[pos + _RTATTR.size:pos + rta_len].split(b'\0', 1)[0]
                    names.append(raw.decode('utf-8', 'surrogateescape'))
                    break
                pos += _align(rta_len)
        offset += _align(length)
    return names, done, interrupted


def _dump_link_names():
    """One RTM_GETLINK dump on a netlink socket of the calling thread's namespace: (names, interrupted)."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | getattr(socket, 'SOCK_CLOEXEC', 0), NETLINK_ROUTE)
    try:
        sock.bind((0, 0))
        sock.sendall(_NLMSGHDR.pack(_NLMSGHDR.size + _IFINFOMSG.size, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
                     + _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0))
        names, interrupted = [], False
        while True:
            data, _anc, msg_flags, _addr = sock.recvmsg(1 << 16)
            if msg_flags & socket.MSG_TRUNC:
                raise OSError(errno.EMSGSIZE, 'netlink message larger than 64 KiB')
            part, done, intr = link_names_in(data)
            names.extend(part)
            interrupted = interrupted or intr
            if done or not data:
                return names, interrupted
    finally:
        sock.close()


def interface_names(namespace):
    """The names of every link of ``namespace``: an rtnetlink link dump on a plain socket (the standard
    library, not pyroute2), read again when the kernel flags it interrupted, as _netlink.dump does."""
    with namespace.entered():
        for _attempt in range(LINK_DUMP_ATTEMPTS):
            try:
                names, interrupted = _dump_link_names()
            except (IOError, OSError) as exc:
                raise DataplaneError('reading the links of %s failed: %s' % (namespace.label, exc.strerror or exc))
            if not interrupted:
                return names
    raise DataplaneError('reading the links: the kernel interrupted the dump %d times in a row (the table kept '
                         'changing under it)' % LINK_DUMP_ATTEMPTS)


def has_interface(namespace, ifname):
    """Whether ``namespace`` has a link called ``ifname`` (if_nametoindex(3), one ioctl, inside it)."""
    with namespace.entered():
        try:
            return socket.if_nametoindex(ifname) > 0
        except (IOError, OSError, ValueError):
            # no link of that name (or a name the kernel cannot hold): the C library says only "no"
            return False
