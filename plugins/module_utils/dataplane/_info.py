# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Read-only inventory of a node's or a pod's Calico data plane (engine of calico_dataplane_info).

Private to the podnet.calico collection: not a public API, may change without notice.
Plain Python, no Ansible imports.
"""

import socket

from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netlink import (
    DataplaneError, get_addresses, get_fdb, get_links, get_neighbours, get_routes,
)
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netns import NamespaceCache
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._sysctl import read_int, sysctl_path
from ansible_collections.podnet.calico.plugins.module_utils.calico._names import (
    OWNED_TUNNEL_IFNAMES as TUNNEL_NAMES, POD_GATEWAY, is_calico_host_ifname,
)
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._route import route_view


def _routes(ns, links):
    names = dict((d['index'], d['ifname']) for d in links.values())
    return [r for r in get_routes(ns.ipr, socket.AF_INET, names) if r['table'] != 255]


def node_view(ns, netns):
    links = get_links(ns.ipr)
    interfaces = []
    with ns.entered():
        for name in sorted(links):
            link = links[name]
            if not is_calico_host_ifname(name):
                continue
            try:
                proxy_arp = bool(read_int(sysctl_path('ipv4', 'conf', name, 'proxy_arp')))
                proxy_delay = read_int(sysctl_path('ipv4', 'neigh', name, 'proxy_delay'))
                forwarding = bool(read_int(sysctl_path('ipv4', 'conf', name, 'forwarding')))
            except DataplaneError:
                proxy_arp = proxy_delay = forwarding = None
            interfaces.append({
                'ifname': name, 'ifindex': link['index'], 'kind': link['kind'], 'peer_ifindex': link['peer_ifindex'],
                'peer_netnsid': link['link_netnsid'], 'mac': link['mac'], 'mtu': link['mtu'], 'up': link['up'],
                'master': link['master'], 'proxy_arp': proxy_arp, 'proxy_delay': proxy_delay,
                'forwarding': forwarding,
            })
    routes = _routes(ns, links)
    workload_routes, blocks = [], {'blackhole': [], 'tunnel': [], 'direct': []}
    for r in routes:
        view = route_view(r, netns)
        prefix = int(r['dst'].split('/')[1])
        if r['type'] == 'unicast' and r['dev'] and is_calico_host_ifname(r['dev']) and prefix == 32:
            workload_routes.append(view)
        elif r['type'] in ('blackhole', 'unreachable', 'prohibit') and prefix > 0:
            blocks['blackhole'].append(view)
        elif r['type'] == 'unicast' and r['dev'] in TUNNEL_NAMES and prefix > 0:
            blocks['tunnel'].append(view)
        elif r['type'] == 'unicast' and r['via'] and prefix > 0:
            blocks['direct'].append(view)
    tunnels = []
    for name in TUNNEL_NAMES:
        link = links.get(name)
        if link is None:
            continue
        vx = link.get('vxlan') or {}
        fdb = dict((f['mac'], f['dst']) for f in get_fdb(ns.ipr, link['index']) if f['dst']) \
            if link['kind'] == 'vxlan' else {}
        peers = [{'vtep_ip': n['ip'], 'vtep_mac': n['mac'], 'underlay_ip': fdb.get(n['mac']),
                  'permanent': n['permanent']}
                 for n in get_neighbours(ns.ipr, link['index']) if n['mac']] if link['kind'] == 'vxlan' else []
        tunnels.append({'name': name, 'kind': link['kind'], 'ifindex': link['index'], 'mac': link['mac'],
                        'mtu': link['mtu'], 'up': link['up'],
                        'addresses': get_addresses(ns.ipr, link['index'], socket.AF_INET),
                        'vni': vx.get('vni'), 'port': vx.get('port'), 'underlay_ip': vx.get('local'),
                        'peers': sorted(peers, key=lambda p: p['vtep_ip'] or '')})
    default = [route_view(r, netns) for r in routes if r['dst'] == '0.0.0.0/0' and r['table'] == 254]
    return {'netns': netns, 'kind': 'node', 'interfaces': interfaces, 'workload_routes': workload_routes,
            'block_routes': blocks, 'tunnels': tunnels, 'default_routes': default}


def pod_view(ns, netns):
    links = get_links(ns.ipr)
    interfaces = []
    for name in sorted(links):
        link = links[name]
        interfaces.append({'ifname': name, 'ifindex': link['index'], 'kind': link['kind'],
                           'peer_ifindex': link['peer_ifindex'], 'peer_netnsid': link['link_netnsid'],
                           'mac': link['mac'], 'mtu': link['mtu'], 'up': link['up'],
                           'addresses': get_addresses(ns.ipr, link['index'])})
    routes = [route_view(r, netns) for r in _routes(ns, links)]
    gateway = None
    for link in links.values():
        for n in get_neighbours(ns.ipr, link['index']):
            if n['ip'] == POD_GATEWAY:
                gateway = {'ip': n['ip'], 'mac': n['mac'], 'dev': link['ifname'], 'state': n['state'],
                           'permanent': n['permanent']}
    return {'netns': netns, 'kind': 'pod', 'interfaces': interfaces, 'routes': routes, 'gateway_neighbour': gateway}


def gather(netns=None, kind='auto', pod_netns=None, cache=None):
    """Inventory of ``netns`` (a node or a pod) and of each namespace in ``pod_netns``."""
    own = cache is None
    cache = cache if cache is not None else NamespaceCache()
    try:
        ns = cache.get(netns, 'netns')
        if kind == 'auto':
            names = get_links(ns.ipr)
            kind = 'node' if any(is_calico_host_ifname(n) for n in names) or any(n in TUNNEL_NAMES for n in names) \
                or 'eth0' not in names else 'pod'
        main = node_view(ns, netns) if kind == 'node' else pod_view(ns, netns)
        pods = []
        for i, name in enumerate(pod_netns or []):
            pods.append(pod_view(cache.get(name, 'pod_netns[%d]' % i), name))
        return main, pods
    finally:
        if own:
            cache.close()
