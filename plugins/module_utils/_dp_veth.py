# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Workload veth pairs as Calico's CNI plugin makes them (engine of the calico_veth module).

Private to the podnet.calico collection: not a public API, may change without notice.
Plain Python, no Ansible imports.
"""

import socket

from ansible_collections.podnet.calico.plugins.module_utils._netlink import (
    DataplaneError, NamespaceCache, add_address, del_address, del_link, get_addresses, get_link, get_links, nl_call,
)
from ansible_collections.podnet.calico.plugins.module_utils._naming import (
    HOST_MAC, NamingError, host_ifname as calico_host_ifname, is_calico_host_ifname, normalize_mac,
)
from ansible_collections.podnet.calico.plugins.module_utils._dp_common import (
    InputError, Journal, check_host_cidr, check_ifname, check_mtu, fail_with_rollback, opt,
)

DEFAULT_CONTAINER_IFNAME = 'eth0'


class VethManager(object):
    """Computes and applies the difference between listed veth pairs and the kernel."""

    def __init__(self, netns=None, check_mode=False, cache=None):
        self.cache = cache if cache is not None else NamespaceCache()
        self.node = self.cache.get(netns, 'netns')
        self.check_mode = check_mode
        self._node_links = None
        self._node_v4 = None

    # ------------------------------------------------------------ input
    def parse(self, state, config):
        entries = []
        seen_host = {}
        seen_cont = {}
        for i, raw in enumerate(config or []):
            raw = raw or {}
            workload = raw.get('workload')
            name = raw.get('host_ifname')
            if name:
                name = check_ifname(name, opt(i, 'host_ifname'))
            elif workload:
                try:
                    name = calico_host_ifname(workload)
                except NamingError as exc:
                    raise InputError('%s: %s' % (opt(i, 'workload'), exc))
            else:
                raise InputError('config[%d]: set workload or host_ifname' % i)
            if name in seen_host:
                raise InputError('config[%d]: host interface %s is listed twice (also config[%d])'
                                 % (i, name, seen_host[name]))
            seen_host[name] = i
            entry = {'i': i, 'workload': workload, 'host_ifname': name,
                     'container_netns': raw.get('container_netns'),
                     'container_ifname': check_ifname(raw.get('container_ifname') or DEFAULT_CONTAINER_IFNAME,
                                                      opt(i, 'container_ifname')),
                     'mtu': check_mtu(raw.get('mtu'), opt(i, 'mtu')),
                     'addresses': [], 'cns': None}
            try:
                entry['host_mac'] = normalize_mac(raw.get('host_mac') or HOST_MAC)
            except NamingError as exc:
                raise InputError('%s: %s' % (opt(i, 'host_mac'), exc))
            for j, addr in enumerate(raw.get('addresses') or []):
                cidr = check_host_cidr(addr, '%s[%d]' % (opt(i, 'addresses'), j))
                if cidr not in entry['addresses']:
                    entry['addresses'].append(cidr)
            if entry['container_netns']:
                cns = self.cache.get(entry['container_netns'], opt(i, 'container_netns'))
                if cns.inode == self.node.inode:
                    raise InputError('%s: %r is the node namespace itself (netns); the container end must live in '
                                     'another namespace' % (opt(i, 'container_netns'), entry['container_netns']))
                entry['cns'] = cns
                key = (cns.inode, entry['container_ifname'])
                if key in seen_cont:
                    raise InputError('%s: %s in %s is already used by config[%d]'
                                     % (opt(i, 'container_ifname'), entry['container_ifname'],
                                        entry['container_netns'], seen_cont[key]))
                seen_cont[key] = i
            elif state in ('merged', 'overridden'):
                raise InputError('%s is required with state %s' % (opt(i, 'container_netns'), state))
            entries.append(entry)
        return entries

    # ------------------------------------------------------------ reading
    def node_links(self, refresh=False):
        if self._node_links is None or refresh:
            self._node_links = get_links(self.node.ipr)
        return self._node_links

    def node_v4(self, index):
        if self._node_v4 is None:
            self._node_v4 = {}
            for msg in self.node.ipr.get_addr(family=socket.AF_INET):
                addr = msg.get_attr('IFA_LOCAL') or msg.get_attr('IFA_ADDRESS')
                self._node_v4.setdefault(msg['index'], []).append('%s/%d' % (addr, msg['prefixlen']))
        return self._node_v4.get(index, [])

    def observe(self, entry, host=None, fresh=False):
        if host is None:
            host = get_link(self.node.ipr, entry['host_ifname']) if fresh else self.node_links().get(entry['host_ifname'])
        obs = {'host': host, 'container': None, 'paired': False, 'addresses': [], 'host_addresses': []}
        cns = entry.get('cns')
        if cns is not None:
            cont = get_link(cns.ipr, entry['container_ifname'])
            obs['container'] = cont
            if host is not None and cont is not None:
                obs['paired'] = (host['kind'] == 'veth' and cont['kind'] == 'veth'
                                 and cont['peer_ifindex'] == host['index'] and host['peer_ifindex'] == cont['index']
                                 and host['link_netnsid'] is not None and cont['link_netnsid'] is not None)
            if obs['paired']:
                obs['addresses'] = get_addresses(cns.ipr, cont['index'])
        if host is not None:
            obs['host_addresses'] = (get_addresses(self.node.ipr, host['index'], socket.AF_INET) if fresh
                                     else self.node_v4(host['index']))
        return obs

    @staticmethod
    def view(entry, obs):
        host = obs['host'] or {}
        cont = (obs['container'] if obs.get('paired') else None) or {}
        return {
            'workload': entry.get('workload'),
            'host_ifname': entry['host_ifname'],
            'host_ifindex': host.get('index'),
            'host_mac': host.get('mac'),
            'host_peer_ifindex': host.get('peer_ifindex'),
            'host_up': host.get('up'),
            'container_netns': entry.get('container_netns'),
            'container_ifname': entry.get('container_ifname') if cont else None,
            'container_ifindex': cont.get('index'),
            'container_mac': cont.get('mac'),
            'container_peer_ifindex': cont.get('peer_ifindex'),
            'container_up': cont.get('up'),
            'mtu': host.get('mtu'),
            'addresses': sorted(obs.get('addresses') or []),
        }

    # ------------------------------------------------------------ planning
    def plan(self, entry, obs):
        """List of changes needed for one merged entry (empty when it is right)."""
        i = entry['i']
        host, cont = obs['host'], obs['container']
        if host is not None and host['kind'] != 'veth':
            raise InputError('%s: %s already exists in %s and is a %s device, not a veth; not touching it'
                             % (opt(i, 'host_ifname' if not entry['workload'] else 'workload'), entry['host_ifname'],
                                self.node.label, host['kind'] or 'plain'))
        if cont is not None and not obs['paired']:
            raise InputError('%s: %s already exists in %s and is not the peer of %s; not touching it'
                             % (opt(i, 'container_ifname'), entry['container_ifname'], entry['container_netns'],
                                entry['host_ifname']))
        if host is None:
            return ['create']
        if not obs['paired']:
            return ['recreate (peer not in %s as %s)' % (entry['container_netns'], entry['container_ifname'])]
        changes = []
        if entry['mtu'] is not None and (host['mtu'] != entry['mtu'] or cont['mtu'] != entry['mtu']):
            changes.append('mtu')
        if host['mac'] != entry['host_mac']:
            changes.append('host_mac')
        if not host['up']:
            changes.append('host up')
        if not cont['up']:
            changes.append('container up')
        if sorted(obs['addresses']) != sorted(entry['addresses']):
            changes.append('addresses')
        if obs['host_addresses']:
            changes.append('remove host addresses')
        return changes

    def predicted(self, entry, obs):
        view = self.view(entry, obs)
        view.update({'host_mac': entry['host_mac'], 'container_ifname': entry['container_ifname'],
                     'addresses': sorted(entry['addresses']), 'host_up': True, 'container_up': True})
        if entry['mtu'] is not None:
            view['mtu'] = entry['mtu']
        return view

    # ------------------------------------------------------------ acting
    def _create(self, entry, journal):
        node = self.node.ipr
        cns = entry['cns']
        name = entry['host_ifname']
        peer = {'ifname': entry['container_ifname'], 'net_ns_fd': cns.fd}
        kwargs = {'ifname': name, 'kind': 'veth', 'address': entry['host_mac'], 'peer': peer}
        if entry['mtu'] is not None:
            kwargs['mtu'] = entry['mtu']
        nl_call('creating veth %s (peer %s in %s)' % (name, entry['container_ifname'], entry['container_netns']),
                node.link, 'add', **kwargs)
        host = get_link(node, name)
        if host is None:
            raise DataplaneError('veth %s vanished right after it was created' % name)
        journal.add(del_link, node, host['index'], 'removing veth %s again' % name)
        return host

    def _repair(self, entry, host, obs, created, journal):
        node = self.node.ipr
        cns = entry['cns']
        name = entry['host_ifname']
        cont = get_link(cns.ipr, entry['container_ifname']) if created else obs['container']
        if cont is None:
            raise DataplaneError('the peer %s of %s is not in %s after creating it'
                                 % (entry['container_ifname'], name, entry['container_netns']))
        mtu = entry['mtu']
        if mtu is not None and cont['mtu'] != mtu:
            set_kwargs = {'mtu': mtu}
        else:
            set_kwargs = {}
        if not cont['up'] or set_kwargs:
            nl_call('setting %s in %s up' % (entry['container_ifname'], entry['container_netns']),
                    cns.ipr.link, 'set', index=cont['index'], state='up', **set_kwargs)
        have = [] if created else obs['addresses']
        for cidr in entry['addresses']:
            if cidr not in have:
                add_address(cns.ipr, cont['index'], cidr, 'adding address %s to %s in %s (config[%d].addresses)'
                            % (cidr, entry['container_ifname'], entry['container_netns'], entry['i']))
        for cidr in have:
            if cidr not in entry['addresses']:
                del_address(cns.ipr, cont['index'], cidr, 'removing address %s from %s in %s'
                            % (cidr, entry['container_ifname'], entry['container_netns']))
        host_kwargs = {}
        if mtu is not None and host['mtu'] != mtu:
            host_kwargs['mtu'] = mtu
        if host['mac'] != entry['host_mac']:
            host_kwargs['address'] = entry['host_mac']
        if not host['up'] or host_kwargs:
            nl_call('setting %s up' % name, node.link, 'set', index=host['index'], state='up', **host_kwargs)
        if not created:
            for cidr in obs['host_addresses']:
                del_address(node, host['index'], cidr, 'removing address %s from host end %s' % (cidr, name))

    # ------------------------------------------------------------ states
    def run(self, state, config):
        entries = self.parse(state, config)
        if state == 'gathered':
            return self.gathered(entries)
        if state == 'deleted':
            return self.deleted(entries)
        return self.merged(entries, overridden=(state == 'overridden'))

    def gathered(self, entries):
        if entries:
            pairs = [self.view(e, self.observe(e)) for e in entries if self.node_links().get(e['host_ifname'])]
        else:
            pairs = []
            for name in sorted(self.node_links()):
                link = self.node_links()[name]
                if is_calico_host_ifname(name) and link['kind'] == 'veth':
                    entry = {'workload': None, 'host_ifname': name, 'container_netns': None}
                    view = self.view(entry, {'host': link})
                    view['container_ifindex'] = link['peer_ifindex']
                    pairs.append(view)
        return {'changed': False, 'pairs': pairs, 'removed': []}

    def _owned_unlisted(self, entries):
        listed = set(e['host_ifname'] for e in entries)
        return [link for name, link in sorted(self.node_links().items())
                if is_calico_host_ifname(name) and link['kind'] == 'veth' and name not in listed]

    def _remove(self, links, before, after):
        removed = []
        for link in links:
            before[link['ifname']] = {'host_ifname': link['ifname'], 'host_ifindex': link['index'],
                                      'host_mac': link['mac'], 'mtu': link['mtu']}
            after[link['ifname']] = None
            if not self.check_mode:
                del_link(self.node.ipr, link['index'], 'removing veth %s' % link['ifname'])
            removed.append(link['ifname'])
        return removed

    def deleted(self, entries):
        before, after = {}, {}
        if entries:
            doomed = []
            for e in entries:
                link = self.node_links().get(e['host_ifname'])
                if link is None:
                    continue
                if link['kind'] != 'veth':
                    raise InputError('%s: %s in %s is a %s device, not a veth; not removing it'
                                     % (opt(e['i'], 'host_ifname' if not e['workload'] else 'workload'),
                                        e['host_ifname'], self.node.label, link['kind'] or 'plain'))
                doomed.append(link)
        else:
            doomed = self._owned_unlisted([])
        removed = self._remove(doomed, before, after)
        return {'changed': bool(removed), 'pairs': [], 'removed': removed,
                'diff': {'before': before, 'after': after}}

    def merged(self, entries, overridden=False):
        before, after = {}, {}
        plans = []
        for e in entries:
            obs = self.observe(e)
            changes = self.plan(e, obs)
            plans.append((e, obs, changes))
        pairs = []
        journal = Journal()
        changed = False
        try:
            for e, obs, changes in plans:
                if not changes:
                    pairs.append(self.view(e, obs))
                    continue
                changed = True
                before[e['host_ifname']] = self.view(e, obs) if obs['host'] else None
                if self.check_mode:
                    view = self.predicted(e, obs)
                else:
                    host = obs['host']
                    created = False
                    if changes[0].startswith('recreate'):
                        del_link(self.node.ipr, host['index'], 'removing veth %s whose peer is elsewhere'
                                 % e['host_ifname'])
                        host = None
                    if host is None:
                        host = self._create(e, journal)
                        created = True
                    self._repair(e, host, obs, created, journal)
                    # read both ends back; the address set is exactly what _repair just made
                    after_obs = {'host': get_link(self.node.ipr, e['host_ifname']),
                                 'container': get_link(e['cns'].ipr, e['container_ifname']),
                                 'paired': True, 'addresses': list(e['addresses'])}
                    view = self.view(e, after_obs)
                view['changes'] = changes
                after[e['host_ifname']] = dict((k, v) for k, v in view.items() if k != 'changes')
                pairs.append(view)
            removed = []
            if overridden:
                removed = self._remove(self._owned_unlisted(entries), before, after)
                changed = changed or bool(removed)
        except DataplaneError as exc:
            fail_with_rollback(journal, exc)
        return {'changed': changed, 'pairs': pairs, 'removed': removed,
                'diff': {'before': before, 'after': after}}
