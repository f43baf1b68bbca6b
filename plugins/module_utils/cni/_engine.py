# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The data-plane engines and Calico names the CNI plugin uses (private to podnet.calico).

The plugin builds exactly what the calico_veth, proxy_arp and calico_route modules build, by calling
their engines. This is the only file of the plugin that knows where those engines live: when they
move, only the imports below change.
"""

import socket

from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netlink import (
    DataplaneError, LinkIndex, get_addresses, get_routes)
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netns import NamespaceCache
from ansible_collections.podnet.calico.plugins.module_utils.calico._names import HOST_MAC, host_ifname, workload_id
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._veth import VethManager
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._proxyarp import ProxyArpManager
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._route import RouteManager

__all__ = ['DataplaneError', 'NamespaceCache', 'HOST_MAC', 'host_ifname', 'workload_id', 'ProxyArpManager',
           'veth', 'proxy_arp', 'routes', 'warm_up']


#: The sysctls Felix sets on a workload's host interface (proxy_arp module options).
WORKLOAD_SYSCTLS = {'proxy_arp': True, 'proxy_delay': 0, 'forwarding': True, 'route_localnet': True, 'accept_ra': 0}


def _objects(state, result):
    """The objects of an engine result: what gathered read, else the state after the run."""
    return result.get('gathered', []) if state == 'gathered' else result.get('after', [])


def veth(cache, state, config):
    """calico_veth in the current (node) namespace; ``pairs``: the resulting veth pairs."""
    result = VethManager(cache=cache).run(state, config)
    result['pairs'] = _objects(state, result)
    return result


def proxy_arp(cache, config):
    """proxy_arp, merged, in the current (node) namespace, with Felix's workload sysctls."""
    return ProxyArpManager(cache=cache).run('merged', [dict(WORKLOAD_SYSCTLS, **entry) for entry in config])


def routes(cache, state, config, netns=None):
    """calico_route in ``netns`` (None: the current namespace); ``routes``: the resulting routes."""
    result = RouteManager(netns=netns, cache=cache).run(state, config)
    result['routes'] = _objects(state, result)
    return result


def warm_up():
    """Read (never write) the current namespace's links, addresses and routes once.

    pyroute2 builds its decoders for each kind of netlink message the first time it meets one (about
    40 ms of CPU per process on pyroute2 0.7). The resident helper calls this once before it forks its
    first worker, so that every worker inherits the decoders instead of building them again.
    """
    cache = NamespaceCache()
    try:
        ns = cache.get(None)
        links = LinkIndex(ns.ipr)
        names = links.names()
        if names:
            get_addresses(ns.ipr, min(names))
        get_routes(ns.ipr, socket.AF_INET, names)
    finally:
        cache.close()
