# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Calico's names and MTU rule as Jinja filters (the rules live in module_utils/calico/)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.podnet.calico.plugins.module_utils.calico._mtu import MTUError, pod_mtu
from ansible_collections.podnet.calico.plugins.module_utils.calico._names import NamingError, host_ifname, vxlan_mac


def _face(name, func):
    def run(*args):
        try:
            return func(*args)
        except (NamingError, MTUError) as exc:
            raise AnsibleFilterError("%s: %s" % (name, exc)) from exc
    run.__name__ = name
    run.__doc__ = func.__doc__
    return run


calico_host_ifname = _face("calico_host_ifname", host_ifname)
calico_vxlan_mac = _face("calico_vxlan_mac", vxlan_mac)
calico_pod_mtu = _face("calico_pod_mtu", pod_mtu)


class FilterModule:
    """Calico naming and MTU filters."""

    def filters(self):
        return {
            "calico_host_ifname": calico_host_ifname,
            "calico_vxlan_mac": calico_vxlan_mac,
            "calico_pod_mtu": calico_pod_mtu,
        }
