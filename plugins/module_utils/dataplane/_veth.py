# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Workload veth pairs as Calico's CNI plugin makes them (engine of the calico_veth module).

Private to the podnet.calico collection: not a public API, may change without notice.
Plain Python, no Ansible imports.

Owned: host interfaces named cali* of kind veth. A pair whose peer sits elsewhere is recreated
without losing the old one before the new one works: the old host end is renamed aside, the new
pair is made, and the old one is removed last, once every other change of the run worked.
"""

import socket

from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netlink import (
    DataplaneError, LinkIndex, add_address, del_address, del_link, dump, get_addresses, get_link, get_routes, nl_call,
    set_link,
)
from ansible_collections.podnet.calico.plugins.module_utils.calico._names import (
    HOST_MAC, POD_GATEWAY, NamingError, host_ifname as calico_host_ifname, is_calico_host_ifname, normalize_mac,
)
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._base import (
    InputError, ResourceManager, check_ifname, check_mtu, check_pod_address, opt,
)

DEFAULT_CONTAINER_IFNAME = 'eth0'


def _covered():
    """Undo of a change to an object this run created: removing the object undoes it."""


class VethManager(ResourceManager):
    """Computes and applies the difference between listed veth pairs and the kernel."""

    def __init__(self, netns=None, check_mode=False, cache=None, force=False):
        super(VethManager, self).__init__(netns, check_mode, cache, force)
        self.node = self.ns
        self._node_links = None
        self._node_v4 = None
        self._entries = {}

    # ------------------------------------------------------------ input
    def parse(self, state, config):
        entries = []
        seen_host, seen_cont, seen_addr = {}, {}, {}
        for i, raw in enumerate(config or []):
            raw = raw or {}
            workload = raw.get('workload')
            name = raw.get('host_ifname')
            if name:
                name = check_ifname(name, opt(i, 'host_ifname'))
                if not is_calico_host_ifname(name) and state != 'gathered':
                    self.refuse_unowned(opt(i, 'host_ifname'), 'interface %r (not named cali*)' % name)
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
                option = '%s[%d]' % (opt(i, 'addresses'), j)
                cidr = check_pod_address(addr, option, POD_GATEWAY)
                if cidr in seen_addr and seen_addr[cidr] != i:
                    raise InputError('%s: %s is also given to config[%d]; one address belongs to one workload'
                                     % (option, cidr, seen_addr[cidr]))
                seen_addr[cidr] = i
                if cidr not in entry['addresses']:
                    entry['addresses'].append(cidr)
            if entry['container_netns'] is not None:
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
            elif state in ('merged', 'replaced', 'overridden'):
                raise InputError('%s is required with state %s' % (opt(i, 'container_netns'), state))
            entries.append(entry)
        return entries

    # ------------------------------------------------------------ reading
    def node_links(self):
        """The node's links (LinkIndex): looked up by name, or all of them when a run needs every one."""
        if self._node_links is None:
            self._node_links = LinkIndex(self.node.ipr, self.node)
        return self._node_links

    def node_v4(self, index):
        if self._node_v4 is None:
            self._node_v4 = {}
            for msg in dump('the addresses', self.node.ipr.get_addr, family=socket.AF_INET):
                addr = msg.get_attr('IFA_LOCAL') or msg.get_attr('IFA_ADDRESS')
                self._node_v4.setdefault(msg['index'], []).append('%s/%d' % (addr, msg['prefixlen']))
        return self._node_v4.get(index, [])

    def observe(self, entry, host=None, fresh=False, addresses=None):
        """What the kernel has of the entry's pair. ``addresses``: the container end's addresses when the
        caller knows them (the pair this run made, every step acknowledged), not read again."""
        if host is None:
            host = get_link(self.node.ipr, entry['host_ifname']) if fresh else self.node_links().get(entry['host_ifname'])
        obs = {'host': host, 'container': None, 'paired': False, 'addresses': [], 'host_addresses': []}
        cns = entry.get('cns')
        if cns is not None:
            # a name that is no link there is known without a netlink request (the common case: a new pod)
            cont = (get_link(cns.ipr, entry['container_ifname'])
                    if cns.index_of(entry['container_ifname']) is not None else None)
            obs['container'] = cont
            if host is not None and cont is not None:
                obs['paired'] = (host['kind'] == 'veth' and cont['kind'] == 'veth'
                                 and cont['peer_ifindex'] == host['index'] and host['peer_ifindex'] == cont['index']
                                 and host['link_netnsid'] is not None and cont['link_netnsid'] is not None)
            if obs['paired']:
                obs['addresses'] = list(addresses) if addresses is not None else get_addresses(cns.ipr, cont['index'])
        if host is not None and not fresh:
            # what plan removes in replaced/overridden; the view of a pair (read_after) has no use for it
            obs['host_addresses'] = self.node_v4(host['index'])
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

    def gather(self, entries):
        if entries:
            return [self.view(e, self.observe(e)) for e in entries if self.node_links().get(e['host_ifname'])]
        pairs = []
        links = self.node_links().all()
        for name in sorted(links):
            link = links[name]
            if is_calico_host_ifname(name) and link['kind'] == 'veth':
                entry = {'workload': None, 'host_ifname': name, 'container_netns': None}
                view = self.view(entry, {'host': link})
                view['container_ifindex'] = link['peer_ifindex']
                pairs.append(view)
        return pairs

    def read_after(self, key, predicted):
        entry = self._entries[key]
        # a pair this run made (its plan had no ifindex yet) has exactly the addresses the run added
        made = predicted is not None and predicted.get('host_ifindex') is None
        if made:
            obs = self._observe_made(entry, predicted['addresses'])
            if obs is not None:
                return self.view(entry, obs)
        return self.view(entry, self.observe(entry, fresh=True, addresses=predicted['addresses'] if made else None))

    def _observe_made(self, entry, addresses):
        """observe() of a pair this run made in one request: the two ends made together are each other's
        peer, so the indexes, MACs, MTUs and flags are all that is read, with ioctls (Namespace.link_basics)
        instead of two netlink requests. None when either end is not there under its name."""
        host = self.node.link_basics(entry['host_ifname'])
        cont = entry['cns'].link_basics(entry['container_ifname']) if host is not None else None
        if cont is None:
            return None
        host.update(kind='veth', peer_ifindex=cont['index'])
        cont.update(kind='veth', peer_ifindex=host['index'])
        return {'host': host, 'container': cont, 'paired': True, 'addresses': list(addresses), 'host_addresses': []}

    # ------------------------------------------------------------ planning
    def _owned_unlisted(self, entries):
        listed = set(e['host_ifname'] for e in entries)
        return [link for name, link in sorted(self.node_links().all().items())
                if is_calico_host_ifname(name) and link['kind'] == 'veth' and name not in listed]

    def _check_addresses_free(self, entries, leaving):
        """An address already routed to another cali interface belongs to another workload."""
        wanted = dict((cidr, e) for e in entries for cidr in e['addresses'] if ':' not in cidr)
        if not wanted:
            return
        # the routes without their device names: only a route to a wanted address needs its device's name
        for route in get_routes(self.node.ipr, socket.AF_INET, {}):
            e = wanted.get(route['dst'])
            if e is None or route.get('oif') is None:
                continue
            dev = self.node_links().name_of(route['oif'])
            if not dev or not is_calico_host_ifname(dev) or dev == e['host_ifname'] or dev in leaving:
                continue
            j = e['addresses'].index(route['dst'])
            raise InputError('%s[%d]: %s is already routed to %s in %s, another workload\'s interface; one address '
                             'belongs to one workload' % (opt(e['i'], 'addresses'), j, route['dst'], dev,
                                                          self.node.label))

    def plan(self, state, entries):
        items = []
        if state == 'deleted':
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
            return [self._removal(link) for link in doomed]
        leaving = self._owned_unlisted(entries) if state == 'overridden' else []
        self._check_addresses_free(entries, set(link['ifname'] for link in leaving))
        for e in entries:
            self._entries[e['host_ifname']] = e
            items.append(self._plan_entry(e, self.observe(e), replace=(state != 'merged')))
        items.extend(self._removal(link) for link in leaving)
        return items

    def _removal(self, link):
        name, index = link['ifname'], link['index']
        before = {'host_ifname': name, 'host_ifindex': index, 'host_mac': link['mac'], 'mtu': link['mtu'],
                  'host_peer_ifindex': link['peer_ifindex']}
        step = ('remove veth %s from %s' % (name, self.node.label),
                lambda: del_link(self.node.ipr, index, 'removing veth %s' % name), None, 'last')
        return (name, before, None, [step])

    def _plan_entry(self, e, obs, replace):
        i, name = e['i'], e['host_ifname']
        host, cont = obs['host'], obs['container']
        if host is not None and host['kind'] != 'veth':
            raise InputError('%s: %s already exists in %s and is a %s device, not a veth; not touching it'
                             % (opt(i, 'host_ifname' if not e['workload'] else 'workload'), name,
                                self.node.label, host['kind'] or 'plain'))
        if cont is not None and not obs['paired']:
            raise InputError('%s: %s already exists in %s and is not the peer of %s; not touching it'
                             % (opt(i, 'container_ifname'), e['container_ifname'], e['container_netns'], name))
        before = self.view(e, obs) if host else None
        steps = []
        where = '%s in %s' % (e['container_ifname'], e['container_netns'])
        if host is not None and not obs['paired']:
            steps.extend(self._set_aside(e, host))
            host = None
        if host is None:
            # one request makes the pair with its MTU on both ends and the host end up (the kernel cannot
            # be asked to set the peer up in the same request: that stays a step of its own)
            steps.extend(self._create(e))
            have, host_addresses, created = [], [], True
            cont_state = {'mtu': e['mtu'], 'up': False}
            host_state = {'mtu': e['mtu'], 'mac': e['host_mac'], 'up': True}
        else:
            have, host_addresses, created = obs['addresses'], obs['host_addresses'], False
            cont_state = {'mtu': cont['mtu'], 'up': cont['up']}
            host_state = {'mtu': host['mtu'], 'mac': host['mac'], 'up': host['up']}
        undo_kind = _covered if created else None
        cns = e['cns']
        mtu = e['mtu']
        if mtu is not None and cont_state['mtu'] != mtu:
            old = cont_state['mtu']
            steps.append(('set MTU %d on %s' % (mtu, where) + ('' if created else ' (was %s)' % old),
                          self._setter(cns, e['container_ifname'], 'setting the MTU of %s' % where, mtu=mtu),
                          undo_kind or self._setter(cns, e['container_ifname'], 'restoring the MTU of %s' % where,
                                                    mtu=old)))
        if not cont_state['up']:
            steps.append(('set %s up' % where, self._setter(cns, e['container_ifname'], 'setting %s up' % where,
                                                            state='up'),
                          undo_kind or self._setter(cns, e['container_ifname'], 'setting %s down' % where,
                                                    state='down')))
        for cidr in e['addresses']:
            if cidr not in have:
                steps.append(('add %s to %s' % (cidr, where),
                              self._addr(add_address, cns, e['container_ifname'], cidr,
                                         'adding address %s to %s (config[%d].addresses)' % (cidr, where, i)),
                              undo_kind or self._addr(del_address, cns, e['container_ifname'], cidr,
                                                      'removing address %s from %s again' % (cidr, where))))
        if replace:
            for cidr in have:
                if cidr not in e['addresses']:
                    steps.append(('remove %s from %s' % (cidr, where),
                                  self._addr(del_address, cns, e['container_ifname'], cidr,
                                             'removing address %s from %s' % (cidr, where)),
                                  self._addr(add_address, cns, e['container_ifname'], cidr,
                                             'putting address %s back on %s' % (cidr, where))))
        if not created and mtu is not None and host_state['mtu'] != mtu:
            steps.append(('set MTU %d on %s (was %s)' % (mtu, name, host_state['mtu']),
                          self._setter(self.node, name, 'setting the MTU of %s' % name, mtu=mtu),
                          self._setter(self.node, name, 'restoring the MTU of %s' % name, mtu=host_state['mtu'])))
        if not created and host_state['mac'] != e['host_mac']:
            steps.append(('set MAC %s on %s (was %s)' % (e['host_mac'], name, host_state['mac']),
                          self._setter(self.node, name, 'setting the MAC of %s' % name, address=e['host_mac']),
                          self._setter(self.node, name, 'restoring the MAC of %s' % name,
                                       address=host_state['mac'])))
        if not host_state['up']:
            steps.append(('set %s up' % name, self._setter(self.node, name, 'setting %s up' % name, state='up'),
                          undo_kind or self._setter(self.node, name, 'setting %s down' % name, state='down')))
        if replace:
            for cidr in host_addresses:
                steps.append(('remove %s from host end %s' % (cidr, name),
                              self._addr(del_address, self.node, name, cidr,
                                         'removing address %s from host end %s' % (cidr, name)),
                              self._addr(add_address, self.node, name, cidr,
                                         'putting address %s back on %s' % (cidr, name))))
        after = None
        if steps:
            after = self.view(e, obs)
            after.update({'host_mac': e['host_mac'], 'container_ifname': e['container_ifname'],
                          'host_up': True, 'container_up': True,
                          'addresses': sorted(set(e['addresses']) | (set() if replace else set(have)))})
            if created:
                after.update({'host_ifindex': None, 'host_peer_ifindex': None, 'container_ifindex': None,
                              'container_mac': None, 'container_peer_ifindex': None, 'mtu': mtu})
            elif mtu is not None:
                after['mtu'] = mtu
        else:
            after = before
        return (name, before, after, steps)

    # ------------------------------------------------------------ steps (run later, outside check mode)
    @staticmethod
    def _setter(ns, ifname, what, **kwargs):
        return lambda: set_link(ns.ipr, ifname, what, ns.label, **kwargs)

    @staticmethod
    def _addr(func, ns, ifname, cidr, what):
        def run():
            index = ns.index_of(ifname)
            if index is None:
                raise DataplaneError('%s failed: %s is gone from %s' % (what, ifname, ns.label))
            func(ns.ipr, index, cidr, what)
        return run

    def _create(self, e):
        name, cns = e['host_ifname'], e['cns']
        kwargs = {'ifname': name, 'kind': 'veth', 'address': e['host_mac'], 'state': 'up'}
        peer = {'ifname': e['container_ifname'], 'net_ns_fd': cns.fd}
        if e['mtu'] is not None:
            kwargs['mtu'] = peer['mtu'] = e['mtu']
        what = 'creating veth %s (peer %s in %s)' % (name, e['container_ifname'], e['container_netns'])

        def create():
            nl_call(what, self.node.ipr.link, 'add', peer=peer, **kwargs)

        def undo():
            link = get_link(self.node.ipr, name)
            if link is not None:
                del_link(self.node.ipr, link['index'], 'removing veth %s again' % name)
        return [('create veth %s with peer %s in %s%s, %s up' % (
            name, e['container_ifname'], e['container_netns'],
            '' if e['mtu'] is None else ', MTU %d' % e['mtu'], name), create, undo)]

    def _set_aside(self, e, host):
        """Rename the old host end out of the way (removed last), so a failure can put it back."""
        name, index = e['host_ifname'], host['index']
        aside = ('calix%010d' % index)[:15]
        was_up = host['up']

        def rename():
            # down first: kernels before 6.x refuse to rename a link that is up (EBUSY)
            nl_call('setting %s down before recreating it' % name, self.node.ipr.link, 'set', index=index,
                    state='down')
            nl_call('renaming %s to %s before recreating it' % (name, aside), self.node.ipr.link, 'set',
                    index=index, ifname=aside)

        def undo():
            new = get_link(self.node.ipr, name)
            if new is not None and new['index'] != index:
                del_link(self.node.ipr, new['index'], 'removing the new %s' % name)
            nl_call('renaming %s back to %s' % (aside, name), self.node.ipr.link, 'set', index=index, ifname=name)
            if was_up:
                nl_call('setting %s up again' % name, self.node.ipr.link, 'set', index=index, state='up')
        return [('rename %s (peer not in %s as %s) to %s' % (name, e['container_netns'], e['container_ifname'],
                                                             aside), rename, undo),
                ('remove the old %s (renamed %s)' % (name, aside),
                 lambda: del_link(self.node.ipr, index, 'removing the old %s (%s)' % (name, aside)), None, 'last')]
