# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Calico's names and constants for data-plane objects, each written down once here.

Private to the podnet.calico collection: not a public API, may change without notice.
Plain Python, no Ansible imports.
"""

import hashlib
import re

#: Linux IFNAMSIZ is 16 bytes including the terminating NUL.
IFNAME_MAX = 15
HOST_IFNAME_PREFIX = 'cali'
VXLAN_IFNAME = 'vxlan.calico'
VXLAN_V6_IFNAME = 'vxlan-v6.calico'
IPIP_IFNAME = 'tunl0'
VXLAN_VNI = 4096
VXLAN_PORT = 4789
HOST_MAC = 'ee:ee:ee:ee:ee:ee'
#: The pods' link-local gateway, answered by the host end's proxy-ARP.
POD_GATEWAY = '169.254.1.1'
#: Tunnel devices this collection owns (the ownership mark of calico_tunnel).
OWNED_TUNNEL_IFNAMES = (VXLAN_IFNAME, VXLAN_V6_IFNAME, IPIP_IFNAME)

#: Route protocol number marking the routes this collection owns (see docs/modules.md).
#: Not used by the kernel (2), boot (3), static (4), BIRD (12), Felix (80) or the routing daemons
#: listed in iproute2's rt_protos.
OWNED_ROUTE_PROTO = 201
#: Protocols that are never ours: the kernel's own, never accepted as an owned protocol.
KERNEL_ROUTE_PROTOS = {0: 'unspec', 1: 'redirect', 2: 'kernel', 3: 'boot', 4: 'static'}
#: Protocols of routing daemons (iproute2's rt_protos; Felix 80): taken as owned only with force.
DAEMON_ROUTE_PROTOS = {8: 'gated', 9: 'ra', 10: 'mrt', 11: 'zebra', 12: 'bird', 13: 'dnrouted', 14: 'xorp',
                       15: 'ntk', 16: 'dhcp', 42: 'babel', 80: 'felix', 186: 'bgp', 187: 'isis', 188: 'ospf',
                       189: 'rip', 192: 'eigrp'}

_MAC_RE = re.compile(r'^[0-9a-f]{2}(:[0-9a-f]{2}){5}$')


class NamingError(ValueError):
    """A name or address that Calico's rules cannot accept."""


def host_ifname(workload, prefix=HOST_IFNAME_PREFIX):
    """Host-side veth name for a workload "<k8s-namespace>.<pod>".

    ``cali`` followed by the first 11 hex digits of sha1 of the workload id, which is
    exactly 15 characters, the longest name Linux accepts.
    """
    if not isinstance(workload, str) or not workload:
        raise NamingError('workload must be a non-empty string "<namespace>.<pod>", got %r' % (workload,))
    digest = hashlib.sha1(workload.encode('utf-8')).hexdigest()
    return (prefix + digest)[:IFNAME_MAX]


def workload_id(namespace, pod):
    """The "<namespace>.<pod>" string Calico hashes for the interface name."""
    return '%s.%s' % (namespace, pod)


def vxlan_mac(node_name):
    """MAC of a node's VXLAN device: 0x66 then the first 5 bytes of sha1(node name)."""
    if not isinstance(node_name, str) or not node_name:
        raise NamingError('node name must be a non-empty string, got %r' % (node_name,))
    digest = hashlib.sha1(node_name.encode('utf-8')).digest()
    return ':'.join('%02x' % b for b in bytearray(b'\x66' + digest[:5]))


def normalize_mac(value):
    """Lower-case colon form of a MAC, or NamingError."""
    if not isinstance(value, str):
        raise NamingError('MAC address must be a string, got %r' % (value,))
    mac = value.strip().lower().replace('-', ':')
    if not _MAC_RE.match(mac):
        raise NamingError('%r is not a MAC address (expected six hex octets like ee:ee:ee:ee:ee:ee)' % (value,))
    if int(mac[:2], 16) & 1:
        raise NamingError('%r is a multicast MAC address, a device needs a unicast one' % (value,))
    if mac == '00:00:00:00:00:00':
        raise NamingError('%r is the all-zero MAC address' % (value,))
    return mac


def validate_ifname(name):
    """Return the name when Linux would accept it as an interface name, else NamingError."""
    if not isinstance(name, str) or not name:
        raise NamingError('interface name must be a non-empty string, got %r' % (name,))
    if len(name) > IFNAME_MAX:
        raise NamingError('interface name %r is %d characters long, Linux allows at most %d'
                          % (name, len(name), IFNAME_MAX))
    if name in ('.', '..') or '/' in name or ':' in name or any(c.isspace() for c in name):
        raise NamingError('interface name %r contains a character Linux refuses ("/", ":" or white space) '
                          'or is "." or ".."' % (name,))
    return name


def is_calico_host_ifname(name):
    """True for names this collection treats as Calico workload interfaces (cali*)."""
    return isinstance(name, str) and name.startswith(HOST_IFNAME_PREFIX)
