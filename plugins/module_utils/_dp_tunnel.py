# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Calico's tunnel devices, vxlan.calico and tunl0 (engine of the calico_tunnel module).

Private to the podnet.calico collection: not a public API, may change without notice.
Plain Python, no Ansible imports.
"""

import errno
import os
import socket

from ansible_collections.podnet.calico.plugins.module_utils._netlink import (
    DataplaneError, NamespaceCache, NetlinkError, add_address, del_address, del_fdb, del_link, del_neighbour, describe_error, get_addresses,
    get_fdb, get_link, get_links, get_neighbours, nl_call, replace_fdb, replace_neighbour,
)
from ansible_collections.podnet.calico.plugins.module_utils._naming import (
    IPIP_IFNAME, VXLAN_IFNAME, VXLAN_PORT, VXLAN_V6_IFNAME, VXLAN_VNI, NamingError, normalize_mac, vxlan_mac,
)
from ansible_collections.podnet.calico.plugins.module_utils._dp_common import (
    InputError, Journal, check_host_cidr, check_ifname, check_ip, check_mtu, fail_with_rollback, opt,
)

TYPES = ('vxlan', 'ipip')
DEFAULT_NAMES = {'vxlan': VXLAN_IFNAME, 'ipip': IPIP_IFNAME}
OWNED_VXLAN = (VXLAN_IFNAME, VXLAN_V6_IFNAME)


def no_ipip_message(option, detail):
    return ('%s: this kernel has no ipip support (creating %s of type ipip failed: %s); load the ipip module '
            'where the kernel has one, or use type vxlan' % (option, IPIP_IFNAME, detail))


class TunnelManager(object):
    """Computes and applies the difference between listed tunnels and the kernel."""

    def __init__(self, netns=None, check_mode=False, cache=None):
        self.cache = cache if cache is not None else NamespaceCache()
        self.ns = self.cache.get(netns, 'netns')
        self.check_mode = check_mode
        self.warnings = []

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
            if name in seen:
                raise InputError('config[%d]: tunnel %s is listed twice (also config[%d])' % (i, name, seen[name]))
            seen[name] = i
            e = {'i': i, 'type': ttype, 'name': name, 'mtu': check_mtu(raw.get('mtu'), opt(i, 'mtu')),
                 'address': None, 'peers': None, 'mac': None}
            if raw.get('address'):
                e['address'] = check_host_cidr(raw['address'], opt(i, 'address'))
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
                if e['mac'] is None and state in ('merged', 'overridden'):
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

    def plan(self, e, obs, links, overridden):
        i = e['i']
        link = obs['link']
        if link is not None and link['kind'] != e['type']:
            raise InputError('%s: %s exists in %s and is a %s device, not %s; not touching it'
                             % (opt(i, 'name'), e['name'], self.ns.label, link['kind'] or 'plain', e['type']))
        parent = None
        if e['type'] == 'vxlan' and e['underlay_dev']:
            if e['underlay_dev'] not in links:
                raise InputError('%s: there is no interface %s in %s' % (opt(i, 'underlay_dev'), e['underlay_dev'],
                                                                         self.ns.label))
            parent = links[e['underlay_dev']]['index']
        e['parent'] = parent
        steps = []
        if link is None:
            steps.append('create')
        elif e['type'] == 'vxlan':
            vx = link.get('vxlan') or {}
            if (vx.get('vni') != e['vni'] or vx.get('port') != e['port'] or vx.get('learning')
                    or (e['underlay_ip'] and vx.get('local') != e['underlay_ip'])
                    or (parent and vx.get('link') != parent)):
                steps.append('recreate')
        fresh = bool(steps)
        if not fresh:
            if e['mac'] and link['mac'] != e['mac']:
                steps.append('mac')
            if e['mtu'] is not None and link['mtu'] != e['mtu']:
                steps.append('mtu')
            if not link['up']:
                steps.append('up')
        if e['address'] is not None and (fresh or sorted(obs['addresses']) != [e['address']]):
            steps.append('address')
        if e['type'] == 'vxlan' and e['peers'] is not None:
            have_n = dict((n['ip'], n['mac']) for n in obs['neigh'])
            have_f = dict((f['mac'], f['dst']) for f in obs['fdb'])
            e['add_peers'] = [p for p in e['peers'] if fresh or have_n.get(p['vtep_ip']) != p['vtep_mac']
                              or have_f.get(p['vtep_mac']) != p['underlay_ip']]
            e['stale_neigh'], e['stale_fdb'] = [], []
            if overridden and not fresh:
                ips = set(p['vtep_ip'] for p in e['peers'])
                pairs = set((p['vtep_mac'], p['underlay_ip']) for p in e['peers'])
                e['stale_neigh'] = [n for n in obs['neigh'] if n['ip'] not in ips]
                e['stale_fdb'] = [f for f in obs['fdb'] if (f['mac'], f['dst']) not in pairs]
            if e['add_peers']:
                steps.append('peers')
            if e['stale_neigh'] or e['stale_fdb']:
                steps.append('stale peers')
        return steps

    # ------------------------------------------------------------ acting
    def _create(self, e, journal):
        ipr = self.ns.ipr
        if e['type'] == 'vxlan':
            kwargs = {'ifname': e['name'], 'kind': 'vxlan', 'vxlan_id': e['vni'], 'vxlan_port': e['port'],
                      'vxlan_learning': 0}
            if e['underlay_ip']:
                kwargs['vxlan_local'] = e['underlay_ip']
            if e['parent']:
                kwargs['vxlan_link'] = e['parent']
            if e['mac']:
                kwargs['address'] = e['mac']
            if e['mtu'] is not None:
                kwargs['mtu'] = e['mtu']
            nl_call('creating %s (vxlan, VNI %d, port %d) in %s' % (e['name'], e['vni'], e['port'], self.ns.label),
                    ipr.link, 'add', **kwargs)
        else:
            kwargs = {'ifname': IPIP_IFNAME, 'kind': 'ipip'}
            if e['mtu'] is not None:
                kwargs['mtu'] = e['mtu']
            try:
                ipr.link('add', **kwargs)
            except NetlinkError as exc:
                if getattr(exc, 'code', None) in (errno.EOPNOTSUPP, errno.ENOENT, errno.EINVAL):
                    raise DataplaneError(no_ipip_message(opt(e['i'], 'type'), describe_error(exc)))
                raise DataplaneError('creating %s failed: %s' % (IPIP_IFNAME, describe_error(exc)))
        link = get_link(ipr, e['name'])
        journal.add(del_link, ipr, link['index'], 'removing %s again' % e['name'])
        return link

    def _apply(self, e, obs, steps, journal):
        ipr = self.ns.ipr
        link = obs['link']
        fresh = 'create' in steps or 'recreate' in steps
        if 'recreate' in steps:
            del_link(ipr, link['index'], 'removing %s to recreate it with new VNI/port/underlay' % e['name'])
            link = None
        if link is None:
            link = self._create(e, journal)
        kwargs = {}
        if e['mac'] and link['mac'] != e['mac']:
            kwargs['address'] = e['mac']
        if e['mtu'] is not None and link['mtu'] != e['mtu']:
            kwargs['mtu'] = e['mtu']
        if kwargs or not link['up']:
            nl_call('setting %s up' % e['name'], ipr.link, 'set', index=link['index'], state='up', **kwargs)
        if e['address'] is not None:
            have = [] if fresh else obs['addresses']
            if e['address'] not in have:
                add_address(ipr, link['index'], e['address'], 'adding %s to %s (%s)'
                            % (e['address'], e['name'], opt(e['i'], 'address')))
            for cidr in have:
                if cidr != e['address']:
                    del_address(ipr, link['index'], cidr, 'removing %s from %s' % (cidr, e['name']))
        if e['type'] == 'vxlan' and e['peers'] is not None:
            for n in e['stale_neigh']:
                del_neighbour(ipr, link['index'], n['ip'], 'removing ARP entry %s from %s' % (n['ip'], e['name']))
            for f in e['stale_fdb']:
                del_fdb(ipr, link['index'], f['mac'], f['dst'], 'removing FDB entry %s from %s' % (f['mac'], e['name']))
            for p in e['add_peers']:
                replace_neighbour(ipr, link['index'], p['vtep_ip'], p['vtep_mac'],
                                  'adding ARP entry %s lladdr %s on %s' % (p['vtep_ip'], p['vtep_mac'], e['name']))
                replace_fdb(ipr, link['index'], p['vtep_mac'], p['underlay_ip'],
                            'adding FDB entry %s dst %s on %s' % (p['vtep_mac'], p['underlay_ip'], e['name']))

    def _predict(self, e, obs, links):
        view = self.view(e, obs, links)
        view.update({'up': True})
        for key in ('mac', 'mtu'):
            if e.get(key) is not None:
                view[key] = e[key]
        if e['address'] is not None:
            view['addresses'] = [e['address']]
        if e['type'] == 'vxlan':
            view.update({'vni': e['vni'], 'port': e['port']})
            if e['underlay_ip']:
                view['underlay_ip'] = e['underlay_ip']
            if e['underlay_dev']:
                view['underlay_dev'] = e['underlay_dev']
            if e['peers'] is not None:
                peers = dict((p['vtep_ip'], p) for p in view['peers'])
                for n in e.get('stale_neigh') or []:
                    peers.pop(n['ip'], None)
                for p in e['peers']:
                    peers[p['vtep_ip']] = p
                view['peers'] = [peers[k] for k in sorted(peers)]
        return view

    # ------------------------------------------------------------ states
    def run(self, state, config):
        entries = self.parse(state, config)
        links = get_links(self.ns.ipr)
        if state == 'gathered':
            names = [e['name'] for e in entries] or sorted(
                n for n, l in links.items() if (n in OWNED_VXLAN and l['kind'] == 'vxlan')
                or (n == IPIP_IFNAME and l['kind'] == 'ipip'))
            tunnels = []
            for name in names:
                if name in links:
                    e = {'type': links[name]['kind'], 'name': name}
                    tunnels.append(self.view(e, self.observe(e, links), links))
            return {'changed': False, 'tunnels': tunnels, 'removed': []}
        if state == 'deleted':
            return self.deleted(entries, links)
        return self.merged(entries, links, state == 'overridden')

    def merged(self, entries, links, overridden):
        journal = Journal()
        before, after, tunnels, removed = {}, {}, [], []
        plans = []
        for e in entries:
            obs = self.observe(e, links)
            plans.append((e, obs, self.plan(e, obs, links, overridden)))
        try:
            for e, obs, steps in plans:
                if not steps:
                    tunnels.append(dict(self.view(e, obs, links), changed=False))
                    continue
                before[e['name']] = self.view(e, obs, links) if obs['link'] else None
                if 'create' in steps and e['type'] == 'ipip' and self.check_mode and \
                        not os.path.exists('/sys/module/ipip'):
                    self.warnings.append('%s is not there and the ipip module is not loaded; a real run fails on '
                                         'kernels without ipip' % IPIP_IFNAME)
                if self.check_mode:
                    view = self._predict(e, obs, links)
                else:
                    self._apply(e, obs, steps, journal)
                    fresh_links = get_links(self.ns.ipr)
                    view = self.view(e, self.observe(e, fresh_links), fresh_links)
                after[e['name']] = view
                tunnels.append(dict(view, changed=True, changes=steps))
            if overridden:
                listed = set(e['name'] for e in entries)
                for name in OWNED_VXLAN:
                    link = links.get(name)
                    if link is not None and link['kind'] == 'vxlan' and name not in listed:
                        before[name] = {'name': name, 'ifindex': link['index']}
                        after[name] = None
                        removed.append(name)
                        if not self.check_mode:
                            del_link(self.ns.ipr, link['index'], 'removing %s' % name)
        except DataplaneError as exc:
            fail_with_rollback(journal, exc)
        return {'changed': bool(after), 'tunnels': tunnels, 'removed': removed,
                'diff': {'before': before, 'after': after}}

    def deleted(self, entries, links):
        before, after, removed, tunnels = {}, {}, [], []
        if not entries:
            entries = [{'i': -1, 'type': 'vxlan', 'name': n, 'peers': None} for n in OWNED_VXLAN
                       if n in links and links[n]['kind'] == 'vxlan']
        for e in entries:
            link = links.get(e['name'])
            if link is None:
                continue
            if link['kind'] != e['type']:
                raise InputError('%s: %s in %s is a %s device, not %s; not removing it'
                                 % (opt(e['i'], 'name'), e['name'], self.ns.label, link['kind'] or 'plain', e['type']))
            obs = self.observe(e, links)
            view = self.view(e, obs, links)
            ipr = self.ns.ipr
            if e['type'] == 'vxlan' and e['peers']:
                ips = set(p['vtep_ip'] for p in e['peers'])
                macs = set(p['vtep_mac'] for p in e['peers'])
                gone_n = [n for n in obs['neigh'] if n['ip'] in ips]
                gone_f = [f for f in obs['fdb'] if f['mac'] in macs]
                if not gone_n and not gone_f:
                    continue
                before[e['name']] = view
                if not self.check_mode:
                    for n in gone_n:
                        del_neighbour(ipr, link['index'], n['ip'], 'removing ARP entry %s' % n['ip'])
                    for f in gone_f:
                        del_fdb(ipr, link['index'], f['mac'], f['dst'], 'removing FDB entry %s' % f['mac'])
                new = dict(view, peers=[p for p in view['peers'] if p['vtep_ip'] not in ips])
                after[e['name']] = new
                tunnels.append(new)
            elif e['type'] == 'ipip':
                if not obs['addresses'] and not link['up']:
                    continue
                before[e['name']] = view
                if not self.check_mode:
                    for cidr in obs['addresses']:
                        del_address(ipr, link['index'], cidr, 'removing %s from %s' % (cidr, e['name']))
                    nl_call('setting %s down' % e['name'], ipr.link, 'set', index=link['index'], state='down')
                after[e['name']] = dict(view, addresses=[], up=False)
            else:
                before[e['name']] = view
                after[e['name']] = None
                removed.append(e['name'])
                if not self.check_mode:
                    del_link(ipr, link['index'], 'removing %s' % e['name'])
        return {'changed': bool(before), 'tunnels': tunnels, 'removed': removed,
                'diff': {'before': before, 'after': after}}
