# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Calico's tunnel devices, vxlan.calico and tunl0 (engine of the calico_tunnel module).

Private to the podnet.calico collection: not a public API, may change without notice.
Plain Python, no Ansible imports.

Owned: vxlan.calico and vxlan-v6.calico of kind vxlan, and tunl0; another name only with force.
A device that has to be removed (deleted, or recreated with another VNI, port or underlay) is first
read completely (link, addresses, ARP and FDB entries, the routes through it), so that the undo
step can build it again as it was when a later step fails.
"""

import errno
import os
import socket

from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netlink import (
    DataplaneError, NetlinkError, add_address, del_address, del_fdb, del_link, del_neighbour, describe_error,
    get_addresses, get_fdb, get_link, get_links, get_neighbours, get_routes, nl_call, replace_fdb,
    replace_neighbour, replace_route, set_link,
)
from ansible_collections.podnet.calico.plugins.module_utils.calico._names import (
    IPIP_IFNAME, POD_GATEWAY, VXLAN_IFNAME, VXLAN_PORT, VXLAN_V6_IFNAME, VXLAN_VNI, NamingError, normalize_mac,
    vxlan_mac,
)
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._base import (
    InputError, ResourceManager, check_ifname, check_ip, check_mtu, check_pod_address, opt,
)

TYPES = ('vxlan', 'ipip')
DEFAULT_NAMES = {'vxlan': VXLAN_IFNAME, 'ipip': IPIP_IFNAME}
OWNED_VXLAN = (VXLAN_IFNAME, VXLAN_V6_IFNAME)


def no_ipip_message(option, detail):
    return ('%s: this kernel has no ipip support (creating %s of type ipip failed: %s); load the ipip module '
            'where the kernel has one, or use type vxlan' % (option, IPIP_IFNAME, detail))


class TunnelManager(ResourceManager):
    """Computes and applies the difference between listed tunnels and the kernel."""

    def __init__(self, netns=None, check_mode=False, cache=None, force=False):
        super(TunnelManager, self).__init__(netns, check_mode, cache, force)
        self._links = None
        self._entries = {}

    # ------------------------------------------------------------ input
    def parse(self, state, config):
        entries = []
        seen = {}
        for i, raw in enumerate(config or []):
            raw = raw or {}
            ttype = raw.get('type')
            if ttype not in TYPES:
                raise InputError('%s: %r is not one of %s' % (opt(i, 'type'), ttype, ', '.join(TYPES)))
            name = check_ifname(raw.get('name') or DEFAULT_NAMES[ttype], opt(i, 'name'))
            if ttype == 'ipip' and name != IPIP_IFNAME:
                raise InputError('%s: the IPIP device is always %s (the kernel\'s fallback tunnel), not %r'
                                 % (opt(i, 'name'), IPIP_IFNAME, name))
            if ttype == 'vxlan' and name not in OWNED_VXLAN and state != 'gathered':
                self.refuse_unowned(opt(i, 'name'), 'device %r (ours are %s)' % (name, ', '.join(OWNED_VXLAN)))
            if name in seen:
                raise InputError('config[%d]: tunnel %s is listed twice (also config[%d])' % (i, name, seen[name]))
            seen[name] = i
            e = {'i': i, 'type': ttype, 'name': name, 'mtu': check_mtu(raw.get('mtu'), opt(i, 'mtu')),
                 'address': None, 'peers': None, 'mac': None}
            if raw.get('address'):
                e['address'] = check_pod_address(raw['address'], opt(i, 'address'), POD_GATEWAY)
                if ':' in e['address']:
                    raise InputError('%s: %r is IPv6; this module builds IPv4 tunnels' % (opt(i, 'address'), raw['address']))
            if ttype == 'vxlan':
                vni = raw.get('vni', VXLAN_VNI)
                vni = VXLAN_VNI if vni is None else vni
                if isinstance(vni, bool) or not isinstance(vni, int) or not 1 <= vni <= 16777215:
                    raise InputError('%s: VNI %r is out of range (1 to 16777215)' % (opt(i, 'vni'), vni))
                port = raw.get('port', VXLAN_PORT)
                port = VXLAN_PORT if port is None else port
                if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
                    raise InputError('%s: port %r is out of range (1 to 65535)' % (opt(i, 'port'), port))
                e.update({'vni': vni, 'port': port, 'underlay_dev': None, 'underlay_ip': None})
                try:
                    if raw.get('mac'):
                        e['mac'] = normalize_mac(raw['mac'])
                    elif raw.get('node_name'):
                        e['mac'] = vxlan_mac(raw['node_name'])
                except NamingError as exc:
                    raise InputError('%s: %s' % (opt(i, 'mac' if raw.get('mac') else 'node_name'), exc))
                if e['mac'] is None and state in ('merged', 'replaced', 'overridden'):
                    raise InputError('config[%d]: set node_name (the MAC is derived from it as Calico does) or mac' % i)
                if raw.get('underlay_dev'):
                    e['underlay_dev'] = check_ifname(raw['underlay_dev'], opt(i, 'underlay_dev'))
                if raw.get('underlay_ip'):
                    e['underlay_ip'] = str(check_ip(raw['underlay_ip'], opt(i, 'underlay_ip'), 4))
                if raw.get('peers') is not None:
                    e['peers'] = []
                    for j, peer in enumerate(raw['peers']):
                        popt = '%s[%d]' % (opt(i, 'peers'), j)
                        peer = peer or {}
                        for key in ('vtep_ip', 'vtep_mac', 'underlay_ip'):
                            if not peer.get(key):
                                raise InputError('%s.%s is required' % (popt, key))
                        try:
                            pmac = normalize_mac(peer['vtep_mac'])
                        except NamingError as exc:
                            raise InputError('%s.vtep_mac: %s' % (popt, exc))
                        e['peers'].append({'vtep_ip': str(check_ip(peer['vtep_ip'], popt + '.vtep_ip', 4)),
                                           'vtep_mac': pmac,
                                           'underlay_ip': str(check_ip(peer['underlay_ip'], popt + '.underlay_ip', 4))})
                    ips = [p['vtep_ip'] for p in e['peers']]
                    macs = [p['vtep_mac'] for p in e['peers']]
                    if len(set(ips)) != len(ips) or len(set(macs)) != len(macs):
                        raise InputError('%s: every peer needs its own vtep_ip and vtep_mac' % opt(i, 'peers'))
            elif raw.get('peers'):
                raise InputError('%s: IPIP tunnels have no peers, remote blocks are routed via the node IP with '
                                 'calico_route' % opt(i, 'peers'))
            entries.append(e)
        return entries

    # ------------------------------------------------------------ reading
    def links(self):
        if self._links is None:
            self._links = get_links(self.ns.ipr)
        return self._links

    def observe(self, e, links):
        link = links.get(e['name'])
        obs = {'link': link, 'addresses': [], 'neigh': [], 'fdb': []}
        if link is not None:
            ipr = self.ns.ipr
            obs['addresses'] = get_addresses(ipr, link['index'], socket.AF_INET)
            if link['kind'] == 'vxlan':
                obs['neigh'] = [n for n in get_neighbours(ipr, link['index']) if n['permanent']]
                obs['fdb'] = [f for f in get_fdb(ipr, link['index']) if f['permanent'] and f['dst']]
        return obs

    def view(self, e, obs, links):
        link = obs['link'] or {}
        vx = link.get('vxlan') or {}
        index_names = dict((d['index'], d['ifname']) for d in links.values())
        peers = []
        fdb = dict((f['mac'], f['dst']) for f in obs['fdb'])
        for n in sorted(obs['neigh'], key=lambda n: n['ip']):
            peers.append({'vtep_ip': n['ip'], 'vtep_mac': n['mac'], 'underlay_ip': fdb.get(n['mac'])})
        return {
            'type': e['type'], 'name': e['name'], 'ifindex': link.get('index'), 'mac': link.get('mac'),
            'mtu': link.get('mtu'), 'up': link.get('up'), 'addresses': sorted(obs['addresses']),
            'vni': vx.get('vni'), 'port': vx.get('port'), 'underlay_ip': vx.get('local'),
            'underlay_dev': index_names.get(vx.get('link')) if vx.get('link') else None,
            'peers': peers if e['type'] == 'vxlan' else [],
        }

    def gather(self, entries):
        links = self.links()
        names = [e['name'] for e in entries] or sorted(
            n for n, l in links.items() if (n in OWNED_VXLAN and l['kind'] == 'vxlan')
            or (n == IPIP_IFNAME and l['kind'] == 'ipip'))
        tunnels = []
        for name in names:
            if name in links:
                e = {'type': links[name]['kind'], 'name': name}
                tunnels.append(self.view(e, self.observe(e, links), links))
        return tunnels

    def read_after(self, key, predicted):
        e = self._entries.get(key)
        if e is None:
            return predicted
        links = get_links(self.ns.ipr)
        return self.view(e, self.observe(e, links), links) if key in links else None

    def snapshot(self, link):
        """Everything needed to build ``link`` again: attributes, addresses, ARP/FDB entries, routes."""
        ipr = self.ns.ipr
        names = dict((d['index'], d['ifname']) for d in self.links().values())
        routes = [r for r in get_routes(ipr, socket.AF_INET, names) if r['oif'] == link['index']
                  and r['proto'] not in (2,) and r['table'] != 255]
        return {'link': dict(link), 'addresses': get_addresses(ipr, link['index'], socket.AF_INET),
                'neigh': [n for n in get_neighbours(ipr, link['index']) if n['permanent']],
                'fdb': [f for f in get_fdb(ipr, link['index']) if f['permanent'] and f['dst']],
                'routes': routes}

    def rebuild(self, snap):
        """Build a removed device again from its snapshot (the undo of a removal)."""
        ipr = self.ns.ipr
        link = snap['link']
        name = link['ifname']
        current = get_link(ipr, name)
        if current is not None:
            del_link(ipr, current['index'], 'removing the new %s before restoring the old one' % name)
        kwargs = {'ifname': name, 'kind': link['kind'], 'mtu': link['mtu']}
        if link['kind'] == 'vxlan':
            vx = link.get('vxlan') or {}
            kwargs.update({'vxlan_id': vx.get('vni'), 'vxlan_port': vx.get('port'),
                           'vxlan_learning': 1 if vx.get('learning') else 0, 'address': link['mac']})
            if vx.get('local'):
                kwargs['vxlan_local'] = vx['local']
            if vx.get('link'):
                kwargs['vxlan_link'] = vx['link']
        nl_call('building %s again' % name, ipr.link, 'add', **kwargs)
        new = get_link(ipr, name)
        nl_call('setting %s up again' % name, ipr.link, 'set', index=new['index'],
                state='up' if link['up'] else 'down')
        for cidr in snap['addresses']:
            add_address(ipr, new['index'], cidr, 'putting %s back on %s' % (cidr, name))
        for n in snap['neigh']:
            replace_neighbour(ipr, new['index'], n['ip'], n['mac'], 'putting ARP entry %s back' % n['ip'])
        for f in snap['fdb']:
            replace_fdb(ipr, new['index'], f['mac'], f['dst'], 'putting FDB entry %s back' % f['mac'])
        for r in sorted(snap['routes'], key=lambda r: 1 if r['via'] else 0):
            replace_route(ipr, dict(r, oif=new['index']), 'putting route %s back' % r['dst'])

    # ------------------------------------------------------------ planning
    def plan(self, state, entries):
        links = self.links()
        if state == 'deleted':
            return self._plan_deleted(entries, links)
        items = []
        replace = state != 'merged'
        for e in entries:
            self._entries[e['name']] = e
            obs = self.observe(e, links)
            items.append(self._plan_entry(e, obs, links, replace))
        if state == 'overridden':
            listed = set(e['name'] for e in entries)
            for name in OWNED_VXLAN:
                link = links.get(name)
                if link is not None and link['kind'] == 'vxlan' and name not in listed:
                    e = {'type': 'vxlan', 'name': name}
                    items.append((name, self.view(e, self.observe(e, links), links), None, [self._removal(link)]))
        return items

    def _removal(self, link):
        snap = self.snapshot(link)
        return ('delete %s' % link['ifname'],
                lambda: del_link(self.ns.ipr, link['index'], 'removing %s' % link['ifname']),
                lambda: self.rebuild(snap))

    def _plan_entry(self, e, obs, links, replace):
        i, name = e['i'], e['name']
        link = obs['link']
        ipr = self.ns.ipr
        if link is not None and link['kind'] != e['type']:
            raise InputError('%s: %s exists in %s and is a %s device, not %s; not touching it'
                             % (opt(i, 'name'), name, self.ns.label, link['kind'] or 'plain', e['type']))
        parent = None
        if e['type'] == 'vxlan' and e['underlay_dev']:
            if e['underlay_dev'] not in links:
                raise InputError('%s: there is no interface %s in %s' % (opt(i, 'underlay_dev'), e['underlay_dev'],
                                                                         self.ns.label))
            parent = links[e['underlay_dev']]['index']
        e['parent'] = parent
        before = self.view(e, obs, links) if link else None
        steps = []
        fresh = link is None
        if link is not None and e['type'] == 'vxlan':
            vx = link.get('vxlan') or {}
            if (vx.get('vni') != e['vni'] or vx.get('port') != e['port'] or vx.get('learning')
                    or (e['underlay_ip'] and vx.get('local') != e['underlay_ip'])
                    or (parent and vx.get('link') != parent)):
                text, action, undo = self._removal(link)
                steps.append(('%s to recreate it with VNI %d, port %d, underlay %s' % (
                    text, e['vni'], e['port'], e['underlay_ip'] or e['underlay_dev'] or 'any'), action, undo))
                fresh = True
        if fresh:
            steps.append(self._create(e))
        else:
            if e['mac'] and link['mac'] != e['mac']:
                steps.append(('set MAC %s on %s (was %s)' % (e['mac'], name, link['mac']),
                              self._setter(name, address=e['mac']), self._setter(name, address=link['mac'])))
            if e['mtu'] is not None and link['mtu'] != e['mtu']:
                steps.append(('set MTU %d on %s (was %s)' % (e['mtu'], name, link['mtu']),
                              self._setter(name, mtu=e['mtu']), self._setter(name, mtu=link['mtu'])))
        if fresh or not link['up']:
            steps.append(('set %s up' % name, self._setter(name, state='up'),
                          _covered if fresh else self._setter(name, state='down')))
        have = [] if fresh else obs['addresses']
        if e['address'] is not None:
            if e['address'] not in have:
                steps.append(('add %s to %s' % (e['address'], name), self._addr(add_address, name, e['address']),
                              _covered if fresh else self._addr(del_address, name, e['address'])))
            if replace:
                for cidr in have:
                    if cidr != e['address']:
                        steps.append(('remove %s from %s' % (cidr, name), self._addr(del_address, name, cidr),
                                      self._addr(add_address, name, cidr)))
        peers_after = None
        if e['type'] == 'vxlan' and e['peers'] is not None:
            have_n = {} if fresh else dict((n['ip'], n['mac']) for n in obs['neigh'])
            have_f = {} if fresh else dict((f['mac'], f['dst']) for f in obs['fdb'])
            if replace and not fresh:
                ips = set(p['vtep_ip'] for p in e['peers'])
                pairs = set((p['vtep_mac'], p['underlay_ip']) for p in e['peers'])
                for n in obs['neigh']:
                    if n['ip'] not in ips:
                        steps.append(('remove ARP entry %s lladdr %s from %s' % (n['ip'], n['mac'], name),
                                      self._neigh(name, n['ip'], None), self._neigh(name, n['ip'], n['mac'])))
                for f in obs['fdb']:
                    if (f['mac'], f['dst']) not in pairs:
                        steps.append(('remove FDB entry %s dst %s from %s' % (f['mac'], f['dst'], name),
                                      self._fdb(name, f['mac'], f['dst'], False),
                                      self._fdb(name, f['mac'], f['dst'], True)))
            for p in e['peers']:
                if have_n.get(p['vtep_ip']) != p['vtep_mac']:
                    old = have_n.get(p['vtep_ip'])
                    steps.append(('add ARP entry %s lladdr %s on %s' % (p['vtep_ip'], p['vtep_mac'], name),
                                  self._neigh(name, p['vtep_ip'], p['vtep_mac']),
                                  _covered if fresh else self._neigh(name, p['vtep_ip'], old)))
                if have_f.get(p['vtep_mac']) != p['underlay_ip']:
                    old = have_f.get(p['vtep_mac'])
                    steps.append(('add FDB entry %s dst %s on %s' % (p['vtep_mac'], p['underlay_ip'], name),
                                  self._fdb(name, p['vtep_mac'], p['underlay_ip'], True),
                                  _covered if fresh else (self._fdb(name, p['vtep_mac'], old, True) if old else
                                                          self._fdb(name, p['vtep_mac'], p['underlay_ip'], False))))
            peers = {} if (replace or fresh) else dict((p['vtep_ip'], p) for p in (before or {}).get('peers', []))
            for p in e['peers']:
                peers[p['vtep_ip']] = p
            peers_after = [peers[k] for k in sorted(peers)]
        if not steps:
            return (name, before, before, [])
        after = self.view(e, obs, links) if not fresh else self.view(e, {'link': None, 'addresses': [], 'neigh': [],
                                                                         'fdb': []}, links)
        after['up'] = True
        for key in ('mac', 'mtu'):
            if e.get(key) is not None:
                after[key] = e[key]
        if e['address'] is not None:
            after['addresses'] = [e['address']] if (replace or fresh) else sorted(set(have) | set([e['address']]))
        if e['type'] == 'vxlan':
            after.update({'vni': e['vni'], 'port': e['port']})
            if e['underlay_ip']:
                after['underlay_ip'] = e['underlay_ip']
            if e['underlay_dev']:
                after['underlay_dev'] = e['underlay_dev']
            if peers_after is not None:
                after['peers'] = peers_after
        if fresh and e['type'] == 'ipip' and self.check_mode and not os.path.exists('/sys/module/ipip'):
            self.warnings.append('%s is not there and the ipip module is not loaded; a real run fails on '
                                 'kernels without ipip' % IPIP_IFNAME)
        return (name, before, after, steps)

    def _plan_deleted(self, entries, links):
        items = []
        if not entries:
            entries = [{'i': -1, 'type': 'vxlan', 'name': n, 'peers': None} for n in OWNED_VXLAN
                       if n in links and links[n]['kind'] == 'vxlan']
        for e in entries:
            name = e['name']
            link = links.get(name)
            if link is None:
                continue
            if link['kind'] != e['type']:
                raise InputError('%s: %s in %s is a %s device, not %s; not removing it'
                                 % (opt(e['i'], 'name'), name, self.ns.label, link['kind'] or 'plain', e['type']))
            obs = self.observe(e, links)
            view = self.view(e, obs, links)
            if e['type'] == 'vxlan' and e['peers']:
                ips = set(p['vtep_ip'] for p in e['peers'])
                macs = set(p['vtep_mac'] for p in e['peers'])
                steps = [('remove ARP entry %s from %s' % (n['ip'], name), self._neigh(name, n['ip'], None),
                          self._neigh(name, n['ip'], n['mac'])) for n in obs['neigh'] if n['ip'] in ips]
                steps += [('remove FDB entry %s dst %s from %s' % (f['mac'], f['dst'], name),
                           self._fdb(name, f['mac'], f['dst'], False), self._fdb(name, f['mac'], f['dst'], True))
                          for f in obs['fdb'] if f['mac'] in macs]
                if steps:
                    items.append((name, view, dict(view, peers=[p for p in view['peers'] if p['vtep_ip'] not in ips]),
                                  steps))
            elif e['type'] == 'ipip':
                if not obs['addresses'] and not link['up']:
                    continue
                steps = [('remove %s from %s' % (cidr, name), self._addr(del_address, name, cidr),
                          self._addr(add_address, name, cidr)) for cidr in obs['addresses']]
                if link['up']:
                    steps.append(('set %s down' % name, self._setter(name, state='down'),
                                  self._setter(name, state='up')))
                items.append((name, view, dict(view, addresses=[], up=False), steps))
            else:
                items.append((name, view, None, [self._removal(link)]))
        return items

    # ------------------------------------------------------------ steps (run later, outside check mode)
    def _index(self, name, what):
        link = get_link(self.ns.ipr, name)
        if link is None:
            raise DataplaneError('%s failed: %s is gone from %s' % (what, name, self.ns.label))
        return link['index']

    def _setter(self, name, **kwargs):
        what = 'setting %s on %s' % (', '.join('%s %s' % kv for kv in sorted(kwargs.items())), name)
        return lambda: set_link(self.ns.ipr, name, what, self.ns.label, **kwargs)

    def _addr(self, func, name, cidr):
        what = '%s %s %s %s' % ('adding' if func is add_address else 'removing', cidr,
                                'to' if func is add_address else 'from', name)
        return lambda: func(self.ns.ipr, self._index(name, what), cidr, what)

    def _neigh(self, name, ip, mac):
        if mac is None:
            what = 'removing ARP entry %s from %s' % (ip, name)
            return lambda: del_neighbour(self.ns.ipr, self._index(name, what), ip, what)
        what = 'adding ARP entry %s lladdr %s on %s' % (ip, mac, name)
        return lambda: replace_neighbour(self.ns.ipr, self._index(name, what), ip, mac, what)

    def _fdb(self, name, mac, dst, add):
        if not add:
            what = 'removing FDB entry %s dst %s from %s' % (mac, dst, name)
            return lambda: del_fdb(self.ns.ipr, self._index(name, what), mac, dst, what)
        what = 'adding FDB entry %s dst %s on %s' % (mac, dst, name)
        return lambda: replace_fdb(self.ns.ipr, self._index(name, what), mac, dst, what)

    def _create(self, e):
        ipr = self.ns.ipr
        name = e['name']
        if e['type'] == 'vxlan':
            kwargs = {'ifname': name, 'kind': 'vxlan', 'vxlan_id': e['vni'], 'vxlan_port': e['port'],
                      'vxlan_learning': 0}
            if e['underlay_ip']:
                kwargs['vxlan_local'] = e['underlay_ip']
            if e['parent']:
                kwargs['vxlan_link'] = e['parent']
            if e['mac']:
                kwargs['address'] = e['mac']
            if e['mtu'] is not None:
                kwargs['mtu'] = e['mtu']
            text = 'create %s (vxlan, VNI %d, port %d)' % (name, e['vni'], e['port'])

            def create():
                nl_call('creating %s (vxlan, VNI %d, port %d) in %s' % (name, e['vni'], e['port'], self.ns.label),
                        ipr.link, 'add', **kwargs)
        else:
            kwargs = {'ifname': IPIP_IFNAME, 'kind': 'ipip'}
            if e['mtu'] is not None:
                kwargs['mtu'] = e['mtu']
            text = 'create %s (ipip)' % IPIP_IFNAME

            def create():
                try:
                    ipr.link('add', **kwargs)
                except NetlinkError as exc:
                    if getattr(exc, 'code', None) in (errno.EOPNOTSUPP, errno.ENOENT, errno.EINVAL):
                        raise DataplaneError(no_ipip_message(opt(e['i'], 'type'), describe_error(exc)))
                    raise DataplaneError('creating %s failed: %s' % (IPIP_IFNAME, describe_error(exc)))

        def undo():
            link = get_link(ipr, name)
            if link is not None:
                del_link(ipr, link['index'], 'removing %s again' % name)
        return (text, create, undo)


def _covered():
    """Undo of a change to a device this run created: removing the device undoes it."""
