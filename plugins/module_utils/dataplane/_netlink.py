# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""rtnetlink through pyroute2's IPRoute: links, addresses, routes, neighbours and FDB entries.

Private to the podnet.calico collection: not a public API, may change without notice.
Plain Python, no Ansible imports; errors are DataplaneError with a message for people.

Importing this file imports pyroute2 (about 0.3 s of CPU on a node): only the engines that talk
netlink import it. Namespaces (names, setns, the per-task cache) are _netns.py's, which needs the
standard library only; ``Namespace.ipr`` there opens its socket with ``iproute()`` below. Works with
pyroute2 0.7 and 0.9.
"""

import errno
import ipaddress
import os
import socket
import traceback

from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netns import DataplaneError

try:
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError
except ImportError:
    IPRoute = None
    NetlinkDumpInterrupted = None
    HAS_PYROUTE2 = False
    PYROUTE2_IMPORT_ERROR = traceback.format_exc()

    class NetlinkError(Exception):
        """Stand-in so that except clauses stay valid without pyroute2."""

        code = 0
else:
    HAS_PYROUTE2 = True
    PYROUTE2_IMPORT_ERROR = None
    try:
        from pyroute2.netlink.exceptions import NetlinkDumpInterrupted
    except ImportError:
        NetlinkDumpInterrupted = None

IFF_UP = 0x1
NUD_PERMANENT = 0x80
NTF_SELF = 0x02
RTNH_F_ONLINK = 0x4
AF_BRIDGE = getattr(socket, 'AF_BRIDGE', 7)

RT_SCOPES = {'global': 0, 'universe': 0, 'site': 200, 'link': 253, 'host': 254, 'nowhere': 255}
RT_SCOPE_NAMES = {0: 'global', 200: 'site', 253: 'link', 254: 'host', 255: 'nowhere'}
RT_TYPES = {'unicast': 1, 'local': 2, 'broadcast': 3, 'anycast': 4, 'multicast': 5,
            'blackhole': 6, 'unreachable': 7, 'prohibit': 8, 'throw': 9, 'nat': 10}
RT_TYPE_NAMES = dict((v, k) for k, v in RT_TYPES.items())
RT_TABLES = {'default': 253, 'main': 254, 'local': 255}


def iproute():
    """A new IPRoute socket in the namespace the calling thread is in (Namespace.ipr enters it first)."""
    if IPRoute is None:
        raise DataplaneError('pyroute2 is not installed')
    return IPRoute()


def describe_error(exc):
    """Readable text of a netlink or OS error."""
    code = getattr(exc, 'code', None)
    if isinstance(exc, NetlinkError) and code:
        return '%s (errno %d)' % (os.strerror(code), code)
    return str(exc)


def nl_call(what, func, *args, **kwargs):
    """Call an IPRoute method, turning a netlink error into DataplaneError naming ``what``."""
    try:
        return func(*args, **kwargs)
    except NetlinkError as exc:
        err = DataplaneError('%s failed: %s' % (what, describe_error(exc)))
        err.code = getattr(exc, 'code', None)
        raise err


# ---------------------------------------------------------------- links

#: how often a dump that the kernel interrupted (the table changed while it was read) is read again
DUMP_ATTEMPTS = 8


def dump(what, func, *args, **kwargs):
    """A netlink dump as a list, read again when the kernel flags it interrupted (NLM_F_DUMP_INTR).

    Another process adding or removing links, addresses or routes in the same namespace while the dump
    runs makes the kernel mark it inconsistent; pyroute2 raises NetlinkDumpInterrupted and the answer
    is simply to read again.
    """
    for _attempt in range(DUMP_ATTEMPTS):
        try:
            return list(func(*args, **kwargs))
        except NetlinkError as exc:
            if NetlinkDumpInterrupted is None or not isinstance(exc, NetlinkDumpInterrupted):
                raise
    raise DataplaneError('reading %s: the kernel interrupted the dump %d times in a row (the table kept changing '
                         'under it)' % (what, DUMP_ATTEMPTS))


def link_dict(msg):
    """The facts of a link message that the data-plane modules use."""
    info = msg.get_attr('IFLA_LINKINFO')
    kind = info.get_attr('IFLA_INFO_KIND') if info is not None else None
    result = {
        'ifname': msg.get_attr('IFLA_IFNAME'),
        'index': msg['index'],
        'mac': msg.get_attr('IFLA_ADDRESS'),
        'mtu': msg.get_attr('IFLA_MTU'),
        'kind': kind,
        'up': bool(msg['flags'] & IFF_UP),
        'operstate': msg.get_attr('IFLA_OPERSTATE'),
        'peer_ifindex': msg.get_attr('IFLA_LINK'),
        'link_netnsid': msg.get_attr('IFLA_LINK_NETNSID'),
        'master': msg.get_attr('IFLA_MASTER'),
    }
    if kind == 'vxlan' and info is not None:
        data = info.get_attr('IFLA_INFO_DATA')
        if data is not None:
            result['vxlan'] = {
                'vni': data.get_attr('IFLA_VXLAN_ID'),
                'port': data.get_attr('IFLA_VXLAN_PORT'),
                'local': data.get_attr('IFLA_VXLAN_LOCAL'),
                'link': data.get_attr('IFLA_VXLAN_LINK'),
                'learning': bool(data.get_attr('IFLA_VXLAN_LEARNING')),
            }
    return result


def get_links(ipr):
    """All links of the socket's namespace, by name."""
    return dict((d['ifname'], d) for d in (link_dict(m) for m in dump('the links', ipr.get_links)))


def get_link(ipr, ifname=None, index=None):
    """One link by name or index, or None when there is none."""
    try:
        if index is not None:
            msgs = ipr.link('get', index=index)
        else:
            msgs = ipr.link('get', ifname=ifname)
    except NetlinkError as exc:
        if getattr(exc, 'code', None) in (errno.ENODEV, errno.ENOENT, errno.EINVAL):
            return None
        raise DataplaneError('reading link %s failed: %s' % (ifname or index, describe_error(exc)))
    return link_dict(msgs[0]) if msgs else None


def set_link(ipr, ifname, what, label, **kwargs):
    """Set attributes (state, mtu, address) of the link called ``ifname`` in one request: the kernel finds
    the link by its name (no lookup of the index first). ``label`` names the namespace in the error.

    Errors are nl_call's, except ENODEV (no link of that name any more), which says the link is gone."""
    try:
        nl_call(what, ipr.link, 'set', ifname=ifname, **kwargs)
    except DataplaneError as exc:
        if getattr(exc, 'code', None) != errno.ENODEV:
            raise
        err = DataplaneError('%s failed: %s is gone from %s' % (what, ifname, label))
        err.code = errno.ENODEV
        raise err


def del_link(ipr, index, what):
    try:
        ipr.link('del', index=index)
    except NetlinkError as exc:
        if getattr(exc, 'code', None) == errno.ENODEV:
            return
        raise DataplaneError('%s failed: %s' % (what, describe_error(exc)))


# ---------------------------------------------------------------- addresses

class LinkIndex(object):
    """The links of one namespace by name and by index, read from the kernel only as far as needed.

    A node with many pods has hundreds of links, and decoding a dump of them costs about 1.5 ms a link
    with pyroute2 0.7: a run that names its interfaces asks for each one (get, name_of) instead; a run
    that needs them all (all) dumps them once, and every lookup after that is served from the dump.
    Given the namespace (``ns``, a _netns.Namespace), a name that is no link, an index wanted without
    the link's other facts (index_of) and a name wanted for an index (name_of) are asked with
    if_nametoindex(3) and if_indextoname(3) from inside it: no netlink request for them.
    """

    def __init__(self, ipr, ns=None):
        self.ipr = ipr
        self.ns = ns
        self._all = None
        self._by_name = {}
        self._by_index = {}
        self._index_by_name = {}
        self._name_by_index = {}

    def _keep(self, link):
        if link is not None:
            self._by_name[link['ifname']] = link
            self._by_index[link['index']] = link
        return link

    def all(self):
        """Every link, by name."""
        if self._all is None:
            self._all = get_links(self.ipr)
            self._by_name = dict(self._all)
            self._by_index = dict((d['index'], d) for d in self._all.values())
        return self._all

    def names(self):
        """ifindex -> name of every link (what get_routes needs to name each route's device)."""
        self.all()
        return dict((index, link['ifname']) for index, link in self._by_index.items())

    def get(self, name):
        """The link called ``name``, or None."""
        if name not in self._by_name and self._all is None:
            if self.ns is not None and self.index_of(name) is None:
                self._by_name[name] = None
            else:
                self._by_name[name] = self._keep(get_link(self.ipr, name))
        return self._by_name.get(name)

    def index_of(self, name):
        """The ifindex of the link called ``name``, or None."""
        if name in self._by_name or self._all is not None or self.ns is None:
            link = self.get(name)
            return link['index'] if link else None
        if name not in self._index_by_name:
            self._index_by_name[name] = self.ns.index_of(name)
        return self._index_by_name[name]

    def name_of(self, index):
        """The name of the link with ifindex ``index``, or None."""
        if index not in self._by_index and self._all is None:
            if self.ns is not None:
                if index not in self._name_by_index:
                    self._name_by_index[index] = self.ns.name_of(index)
                return self._name_by_index[index]
            self._by_index[index] = self._keep(get_link(self.ipr, index=index))
        link = self._by_index.get(index)
        return link['ifname'] if link else None


def get_addresses(ipr, index, family=None):
    """Addresses of a link as 'ip/prefixlen' strings, IPv6 link-local ones left out."""
    kwargs = {'index': index}
    if family is not None:
        kwargs['family'] = family
    result = []
    for msg in dump('the addresses', ipr.get_addr, **kwargs):
        if msg['index'] != index:
            continue
        addr = msg.get_attr('IFA_ADDRESS') if msg['family'] == socket.AF_INET6 else (
            msg.get_attr('IFA_LOCAL') or msg.get_attr('IFA_ADDRESS'))
        if addr is None:
            continue
        if msg['family'] == socket.AF_INET6 and ipaddress.ip_address(addr).is_link_local:
            continue
        result.append('%s/%d' % (addr, msg['prefixlen']))
    return result


def add_address(ipr, index, cidr, what):
    iface = ipaddress.ip_interface(cidr)
    nl_call(what, ipr.addr, 'add', index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen,
            family=socket.AF_INET if iface.version == 4 else socket.AF_INET6)


def del_address(ipr, index, cidr, what):
    iface = ipaddress.ip_interface(cidr)
    try:
        ipr.addr('del', index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen,
                 family=socket.AF_INET if iface.version == 4 else socket.AF_INET6)
    except NetlinkError as exc:
        if getattr(exc, 'code', None) == errno.EADDRNOTAVAIL:
            return
        raise DataplaneError('%s failed: %s' % (what, describe_error(exc)))


# ---------------------------------------------------------------- routes

def route_dict(msg, names=None):
    """A route message as the flat dict the modules compare and return."""
    family = msg['family']
    dst = msg.get_attr('RTA_DST')
    if dst is None:
        dst = '0.0.0.0' if family == socket.AF_INET else '::'
    table = msg.get_attr('RTA_TABLE')
    if table is None:
        table = msg['table']
    oif = msg.get_attr('RTA_OIF')
    metric = msg.get_attr('RTA_PRIORITY') or 0
    return {
        'dst': '%s/%d' % (dst, msg['dst_len']),
        'family': family,
        'type': RT_TYPE_NAMES.get(msg['type'], str(msg['type'])),
        'via': msg.get_attr('RTA_GATEWAY'),
        'dev': (names or {}).get(oif) if oif is not None else None,
        'oif': oif,
        'scope': RT_SCOPE_NAMES.get(msg['scope'], str(msg['scope'])),
        'onlink': bool(msg['flags'] & RTNH_F_ONLINK),
        'metric': metric,
        'table': table,
        'proto': msg['proto'],
        'prefsrc': msg.get_attr('RTA_PREFSRC'),
    }


def get_routes(ipr, family=socket.AF_INET, names=None):
    """Every route of one family in every table; ``names`` maps ifindex to ifname for ``dev``."""
    if names is None:
        names = LinkIndex(ipr).names()
    return [route_dict(m, names) for m in dump('the routes', ipr.route, 'dump', family=family)]


def route_kwargs(route):
    """pyroute2 keyword arguments that create or replace the route described by a flat dict."""
    net = ipaddress.ip_network(route['dst'])
    kwargs = {
        'dst': str(net.network_address),
        'dst_len': net.prefixlen,
        'family': socket.AF_INET if net.version == 4 else socket.AF_INET6,
        'type': RT_TYPES[route['type']],
        'proto': route['proto'],
        'scope': RT_SCOPES[route['scope']],
        'table': route['table'],
    }
    if route.get('metric'):
        kwargs['priority'] = route['metric']
    if route.get('via'):
        kwargs['gateway'] = route['via']
    if route.get('oif') is not None:
        kwargs['oif'] = route['oif']
    if route.get('onlink'):
        kwargs['flags'] = RTNH_F_ONLINK
    return kwargs


def replace_route(ipr, route, what):
    nl_call(what, ipr.route, 'replace', **route_kwargs(route))


def del_route(ipr, route, what):
    kwargs = route_kwargs(route)
    kwargs.pop('flags', None)
    try:
        ipr.route('del', **kwargs)
    except NetlinkError as exc:
        if getattr(exc, 'code', None) == errno.ESRCH:
            return
        raise DataplaneError('%s failed: %s' % (what, describe_error(exc)))


# ---------------------------------------------------------------- neighbours and FDB

def get_neighbours(ipr, index, family=socket.AF_INET):
    """Neighbour (ARP/NDP) entries of a link: list of dicts with ip, mac, permanent."""
    result = []
    for msg in dump('the neighbours', ipr.neigh, 'dump', family=family):
        if msg['ifindex'] != index:
            continue
        result.append({'ip': msg.get_attr('NDA_DST'), 'mac': msg.get_attr('NDA_LLADDR'),
                       'state': msg['state'], 'permanent': bool(msg['state'] & NUD_PERMANENT)})
    return result


def get_fdb(ipr, index):
    """Forwarding-database entries of a (VXLAN) link: list of dicts with mac, dst, permanent."""
    result = []
    for msg in dump('the bridge forwarding entries', ipr.neigh, 'dump', family=AF_BRIDGE):
        if msg['ifindex'] != index:
            continue
        result.append({'mac': msg.get_attr('NDA_LLADDR'), 'dst': msg.get_attr('NDA_DST'),
                       'state': msg['state'], 'permanent': bool(msg['state'] & NUD_PERMANENT)})
    return result


def replace_neighbour(ipr, index, ip, mac, what):
    nl_call(what, ipr.neigh, 'replace', dst=ip, lladdr=mac, ifindex=index, state=NUD_PERMANENT,
            family=socket.AF_INET if ipaddress.ip_address(ip).version == 4 else socket.AF_INET6)


def del_neighbour(ipr, index, ip, what):
    try:
        ipr.neigh('del', dst=ip, ifindex=index,
                  family=socket.AF_INET if ipaddress.ip_address(ip).version == 4 else socket.AF_INET6)
    except NetlinkError as exc:
        if getattr(exc, 'code', None) == errno.ENOENT:
            return
        raise DataplaneError('%s failed: %s' % (what, describe_error(exc)))


def replace_fdb(ipr, index, mac, dst, what):
    nl_call(what, ipr.neigh, 'replace', family=AF_BRIDGE, lladdr=mac, dst=dst, ifindex=index,
            state=NUD_PERMANENT, flags=NTF_SELF)


def del_fdb(ipr, index, mac, dst, what):
    kwargs = {'family': AF_BRIDGE, 'lladdr': mac, 'ifindex': index, 'flags': NTF_SELF}
    if dst:
        kwargs['dst'] = dst
    try:
        ipr.neigh('del', **kwargs)
    except NetlinkError as exc:
        if getattr(exc, 'code', None) == errno.ENOENT:
            return
        raise DataplaneError('%s failed: %s' % (what, describe_error(exc)))
