# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Calico's names for data-plane objects, as Jinja filters (host veth names, VXLAN MACs)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.podnet.calico.plugins.module_utils._naming import NamingError, host_ifname, vxlan_mac


def calico_host_ifname(workload):
    """cali + first 11 hex digits of sha1("<namespace>.<pod>")."""
    try:
        return host_ifname(workload)
    except NamingError as exc:
        raise AnsibleFilterError("calico_host_ifname: %s" % exc) from exc


def calico_vxlan_mac(node_name):
    """MAC of a node's vxlan.calico device: 66 then the first 5 bytes of sha1(node name)."""
    try:
        return vxlan_mac(node_name)
    except NamingError as exc:
        raise AnsibleFilterError("calico_vxlan_mac: %s" % exc) from exc


class FilterModule:
    """Calico naming filters."""

    def filters(self):
        return {
            "calico_host_ifname": calico_host_ifname,
            "calico_vxlan_mac": calico_vxlan_mac,
        }
