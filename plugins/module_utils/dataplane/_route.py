# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Routes of Calico's data plane (engine of the calico_route module).

Private to the podnet.calico collection: not a public API, may change without notice.
Plain Python, no Ansible imports.

A route's identity is (namespace, table, dst, type, metric). The kernel keeps one IPv4 route per
(table, dst, tos, metric) slot, so a listed route replaces whatever sits in its slot (one
``replace`` request, never delete then add). Routes this collection owns carry the protocol
number OWNED_ROUTE_PROTO; only those are ever removed by ``overridden`` or ``deleted``, and a listed
route never takes over a slot held by a route of another protocol unless ``force`` is set. The
kernel's own protocols (0-4) are never accepted as ours; routing daemons' (BIRD 12, Felix 80, ...)
only with ``force``.
"""

import errno
import socket

from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netlink import (
    RT_TABLES, DataplaneError, LinkIndex, del_route, get_routes, replace_route,
)
from ansible_collections.podnet.calico.plugins.module_utils.calico._names import (
    DAEMON_ROUTE_PROTOS, KERNEL_ROUTE_PROTOS, OWNED_ROUTE_PROTO,
)
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._base import (
    InputError, ResourceManager, check_ifname, check_ip, check_network, opt,
)

ROUTE_TYPES = ('unicast', 'blackhole', 'unreachable')
SCOPES = ('link', 'global', 'host')
COMPARED = ('type', 'via', 'oif', 'scope', 'onlink', 'proto')


def check_proto(value, option, force=False):
    """A protocol number that may mark routes as ours."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 255:
        raise InputError('%s: route protocol %r is out of range, it must be between 1 and 255' % (option, value))
    if value in KERNEL_ROUTE_PROTOS:
        raise InputError('%s: route protocol %d (%s) belongs to the kernel and is never ours; use one of our own, '
                         'default %d' % (option, value, KERNEL_ROUTE_PROTOS[value], OWNED_ROUTE_PROTO))
    if value in DAEMON_ROUTE_PROTOS and not force:
        raise InputError('%s: route protocol %d is the one of %s; set force: true to take over that daemon\'s '
                         'routes' % (option, value, DAEMON_ROUTE_PROTOS[value]))
    return value


def check_table(value, option):
    if value is None:
        return 254
    if isinstance(value, str) and not value.isdigit():
        if value not in RT_TABLES:
            raise InputError('%s: unknown table %r (use a number or one of %s)'
                             % (option, value, ', '.join(sorted(RT_TABLES))))
        return RT_TABLES[value]
    try:
        table = int(value)
    except (TypeError, ValueError):
        raise InputError('%s: %r is not a routing table' % (option, value))
    if not 1 <= table <= 4294967295:
        raise InputError('%s: table %r is out of range (1 to 4294967295)' % (option, value))
    return table


def route_view(route, netns):
    return {
        'netns': netns,
        'dst': route['dst'],
        'type': route['type'],
        'via': route.get('via'),
        'dev': route.get('dev'),
        'scope': route['scope'],
        'onlink': bool(route.get('onlink')),
        'metric': route.get('metric') or 0,
        'table': route['table'],
        'proto': route['proto'],
    }


class RouteManager(ResourceManager):
    """Computes and applies the difference between listed routes and the kernel's."""

    def __init__(self, netns=None, check_mode=False, cache=None, proto=OWNED_ROUTE_PROTO, force=False):
        super(RouteManager, self).__init__(netns, check_mode, cache, force)
        self.default_ns = self.ns
        self.proto = check_proto(proto, 'proto', force)
        self._state = {}
        self.all_links = True
        self.want_v6 = True
        #: (namespace inode, interface name) of links an earlier step of the same check-mode run would
        #: create (calico_dataplane): a route through one of them is planned instead of refused
        self.expected_links = set()

    # ------------------------------------------------------------ input
    def parse(self, state, config):
        entries = []
        seen = {}
        for i, raw in enumerate(config or []):
            raw = raw or {}
            netns = raw.get('netns') if raw.get('netns') is not None else self.netns
            ns = self.cache.get(netns, opt(i, 'netns')) if raw.get('netns') is not None else self.default_ns
            if raw.get('dst') in (None, ''):
                raise InputError('%s is required' % opt(i, 'dst'))
            via = raw.get('via') or raw.get('gateway')
            rtype = raw.get('type') or 'unicast'
            if rtype not in ROUTE_TYPES:
                raise InputError('%s: %r is not one of %s' % (opt(i, 'type'), rtype, ', '.join(ROUTE_TYPES)))
            dst_text = str(raw['dst']).strip()
            if dst_text == 'default' and via and ':' in str(via):
                dst_text = 'default6'
            net = check_network(dst_text, opt(i, 'dst'))
            if via:
                via = str(check_ip(via, opt(i, 'via'), net.version))
            dev = raw.get('dev')
            onlink = bool(raw.get('onlink'))
            if rtype != 'unicast':
                if via or dev or onlink:
                    raise InputError('config[%d]: a %s route takes no via, dev or onlink' % (i, rtype))
            elif not via and not dev:
                raise InputError('config[%d]: a unicast route to %s needs via or dev' % (i, net))
            if onlink and not (via and dev):
                raise InputError('%s: onlink needs both via and dev' % opt(i, 'onlink'))
            scope = raw.get('scope')
            if scope is None:
                scope = 'link' if (rtype == 'unicast' and not via) else 'global'
            if scope not in SCOPES:
                raise InputError('%s: %r is not one of %s' % (opt(i, 'scope'), scope, ', '.join(SCOPES)))
            if via and scope != 'global':
                raise InputError('%s: a route via a gateway must have scope global, not %s' % (opt(i, 'scope'), scope))
            metric = raw.get('metric')
            if metric is None:
                metric = 1024 if net.version == 6 else 0
            if isinstance(metric, bool) or not isinstance(metric, int) or not 0 <= metric <= 4294967295:
                raise InputError('%s: %r is out of range (0 to 4294967295)' % (opt(i, 'metric'), metric))
            route = {
                'i': i, 'ns': ns, 'netns': netns, 'dst': str(net), 'family': socket.AF_INET if net.version == 4
                else socket.AF_INET6, 'type': rtype, 'via': via, 'dev': dev, 'oif': None, 'scope': scope,
                'onlink': onlink, 'metric': metric, 'table': check_table(raw.get('table'), opt(i, 'table')),
                'proto': (check_proto(raw['proto'], opt(i, 'proto'), self.force) if raw.get('proto') is not None
                          else self.proto),
            }
            if dev:
                check_ifname(dev, opt(i, 'dev'))
            key = self.key(route)
            if key in seen:
                raise InputError('config[%d]: the route %s (table %s, type %s, metric %s) is listed twice (also '
                                 'config[%d])' % (i, route['dst'], route['table'], rtype, metric, seen[key]))
            seen[key] = i
            entries.append(route)
        # IPv6 routes are read only when some are listed or owned ones may have to be found
        self.want_v6 = state not in ('merged', 'replaced') or any(e['family'] == socket.AF_INET6 for e in entries)
        # merged and replaced report only the listed routes: their devices are looked up by name and by
        # index, not read all at once (a node with many pods has many links)
        self.all_links = state not in ('merged', 'replaced')
        return entries

    @staticmethod
    def key(route):
        return (route['ns'].inode, route['table'], route['dst'], route['metric'])

    @staticmethod
    def label(route, netns):
        return '%s table %s metric %s%s' % (route['dst'], route['table'], route.get('metric') or 0,
                                            (' in %s' % netns) if netns else '')

    # ------------------------------------------------------------ reading
    def state_of(self, ns):
        """(links: LinkIndex, routes) of a namespace, read once per run.

        When only listed routes matter the routes come without device names (``dev`` None); resolve
        names the device of the one it finds.
        """
        if ns.inode not in self._state:
            links = LinkIndex(ns.ipr, ns)
            names = links.names() if self.all_links else {}
            routes = get_routes(ns.ipr, socket.AF_INET, names)
            if self.want_v6:
                routes += get_routes(ns.ipr, socket.AF_INET6, names)
            self._state[ns.inode] = (links, routes)
        return self._state[ns.inode]

    def resolve(self, entry):
        links, routes = self.state_of(entry['ns'])
        if entry['dev']:
            index = links.index_of(entry['dev'])
            if index is None and (entry['ns'].inode, entry['dev']) not in self.expected_links:
                raise InputError('%s: there is no interface %s in %s'
                                 % (opt(entry['i'], 'dev'), entry['dev'], entry['ns'].label))
            entry['oif'] = index
        current = None
        for r in routes:
            if r['family'] == entry['family'] and (r['table'], r['dst'], r['metric']) == \
                    (entry['table'], entry['dst'], entry['metric']) and r['type'] in ('unicast', 'blackhole',
                                                                                      'unreachable', 'prohibit'):
                current = r
                break
        if current is not None and current['dev'] is None and current['oif'] is not None:
            current['dev'] = links.name_of(current['oif'])
        return current

    @staticmethod
    def differs(entry, current):
        if current is None:
            return True
        for field in COMPARED:
            want, have = entry.get(field), current.get(field)
            if field == 'oif' and (entry['type'] != 'unicast' or not entry.get('dev')):
                continue
            if field == 'via' and not want and not have:
                continue
            if want != have:
                return True
        return False

    def owned(self, ns):
        links, routes = self.state_of(ns)
        return [r for r in routes if r['proto'] == self.proto and r['table'] != RT_TABLES['local']]

    def namespaces(self, entries):
        seen = {self.default_ns.inode: (self.default_ns, self.netns)}
        for e in entries:
            seen.setdefault(e['ns'].inode, (e['ns'], e['netns']))
        return list(seen.values())

    def gather(self, entries):
        routes = []
        for ns, netns in self.namespaces(entries):
            routes.extend(route_view(r, netns) for r in self.owned(ns))
        return routes

    def read_after(self, key, predicted):
        return predicted

    # ------------------------------------------------------------ planning
    def plan(self, state, entries):
        for e in entries:
            e['current'] = self.resolve(e)
        if state == 'deleted':
            if entries:
                doomed = [(e['ns'], e['netns'], e['current']) for e in entries
                          if e['current'] is not None and e['current']['proto'] == e['proto']
                          and e['current']['type'] == e['type']]
            else:
                doomed = [(ns, netns, r) for ns, netns in self.namespaces([]) for r in self.owned(ns)]
            return [self._removal(ns, netns, r) for ns, netns, r in doomed]
        items = []
        # link routes (no gateway) first: a gateway must be reachable when its route is added
        for e in sorted(entries, key=lambda e: (1 if e['via'] else 0, e['i'])):
            current = e['current']
            if not self.differs(e, current):
                view = route_view(current, e['netns'])
                items.append((self.label(e, e['netns']), view, view, []))
                continue
            if current is not None and current['proto'] != e['proto'] and not self.force:
                raise InputError('config[%d]: %s in %s is held by a route of protocol %s, not ours (%s): %s; not '
                                 'taking it over (set force: true to replace it)'
                                 % (e['i'], e['dst'], e['ns'].label, current['proto'], e['proto'],
                                    describe_route(current)))
            view = route_view(e, e['netns'])
            text = ('%s route %s' % ('replace' if current else 'add', describe_route(e))
                    + ('' if not e['netns'] else ' in %s' % e['netns'])
                    + ((' (was %s)' % describe_route(current)) if current else ''))
            items.append((self.label(e, e['netns']), route_view(current, e['netns']) if current else None, view,
                          [(text, self._replacer(e), self._undo_replace(e, current))]))
        if state == 'overridden':
            wanted = set(self.key(e) for e in entries)
            for ns, netns in self.namespaces(entries):
                for r in self.owned(ns):
                    if (ns.inode, r['table'], r['dst'], r['metric']) not in wanted:
                        items.append(self._removal(ns, netns, r))
        return items

    def _removal(self, ns, netns, r):
        text = 'delete route %s%s' % (describe_route(r), (' in %s' % netns) if netns else '')
        return (self.label(r, netns), route_view(r, netns), None,
                [(text, lambda: del_route(ns.ipr, r, 'removing route %s (table %s) in %s' % (r['dst'], r['table'],
                                                                                             ns.label)),
                  lambda: replace_route(ns.ipr, r, 'restoring route %s in %s' % (r['dst'], ns.label)))])

    @staticmethod
    def _undo_replace(e, current):
        if current is None:
            return lambda: del_route(e['ns'].ipr, dict(e), 'removing route %s again' % e['dst'])
        return lambda: replace_route(e['ns'].ipr, dict(current), 'restoring route %s' % e['dst'])

    @staticmethod
    def _replacer(e):
        what = ('adding route %s %s in %s (config[%d])'
                % (e['dst'], ('via %s' % e['via']) if e['via'] else ('dev %s' % e['dev'] if e['dev'] else e['type']),
                   e['ns'].label, e['i']))

        def run():
            try:
                replace_route(e['ns'].ipr, e, what)
            except DataplaneError as exc:
                code = getattr(exc, 'code', None)
                if e['via'] and code in (errno.ENETUNREACH, errno.EINVAL) and not e['onlink']:
                    raise DataplaneError('%s: gateway %s is not on a directly connected network%s in %s (%s); set '
                                         'onlink: true when it is reachable on that link anyway'
                                         % (opt(e['i'], 'via'), e['via'], (' of %s' % e['dev']) if e['dev'] else '',
                                            e['ns'].label, exc))
                if e['via'] and code == errno.EINVAL and e['onlink']:
                    raise DataplaneError('%s: the kernel refused gateway %s on link %s in %s (%s); the namespace '
                                         'needs an IPv4 route or address of its own in that table before an onlink '
                                         'gateway is accepted' % (opt(e['i'], 'via'), e['via'], e['dev'],
                                                                  e['ns'].label, exc))
                raise
        return run


def describe_route(r):
    """A route in `ip route` words."""
    words = [r['dst']] if r['type'] == 'unicast' else [r['type'], r['dst']]
    if r.get('via'):
        words += ['via', r['via']]
    if r.get('dev'):
        words += ['dev', r['dev']]
    if r.get('onlink'):
        words.append('onlink')
    if r.get('metric'):
        words += ['metric', str(r['metric'])]
    if r.get('table') not in (None, RT_TABLES['main']):
        words += ['table', str(r['table'])]
    words += ['proto', str(r['proto'])]
    return ' '.join(words)
