# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The data-plane engines and Calico names the CNI plugin uses (private to podnet.calico).

The plugin builds exactly what the calico_veth, proxy_arp and calico_route modules build, by calling
their engines. This is the only file of the plugin that knows where those engines live: when they
move, only the imports below change.
"""

from ansible_collections.podnet.calico.plugins.module_utils._netlink import DataplaneError, NamespaceCache
from ansible_collections.podnet.calico.plugins.module_utils._naming import HOST_MAC, host_ifname, workload_id
from ansible_collections.podnet.calico.plugins.module_utils._dp_veth import VethManager
from ansible_collections.podnet.calico.plugins.module_utils._dp_proxyarp import ProxyArpManager
from ansible_collections.podnet.calico.plugins.module_utils._dp_route import RouteManager

__all__ = ['DataplaneError', 'NamespaceCache', 'HOST_MAC', 'host_ifname', 'workload_id', 'ProxyArpManager',
           'veth', 'proxy_arp', 'routes']


def veth(cache, state, config):
    """calico_veth in the current (node) namespace."""
    return VethManager(cache=cache).run(state, config)


def proxy_arp(cache, config):
    """proxy_arp, merged, in the current (node) namespace."""
    return ProxyArpManager(cache=cache).run('merged', config)


def routes(cache, state, config, netns=None):
    """calico_route in ``netns`` (None: the current namespace)."""
    return RouteManager(netns=netns, cache=cache).run(state, config)
