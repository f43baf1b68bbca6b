# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Calico's MTU rule: the pod MTU is the underlay MTU minus the encapsulation's overhead.

Private to the podnet.calico collection: not a public API, may change without notice.
Plain Python, no Ansible imports. The one place of this rule: modules, filters
(podnet.calico.calico_pod_mtu) and the roles' templates use it.
"""

#: Bytes each encapsulation adds to a packet: IPIP an outer IPv4 header (20), VXLAN outer IPv4 + UDP +
#: VXLAN headers and the inner Ethernet header (20 + 8 + 8 + 14 = 50).
ENCAP_OVERHEAD = {'ipip': 20, 'vxlan': 50, 'none': 0}
ENCAPSULATIONS = ('vxlan', 'ipip', 'none')


class MTUError(ValueError):
    """An MTU or encapsulation that the rule cannot accept."""


def encap_overhead(encapsulation):
    """Bytes of overhead of ``encapsulation`` (vxlan, ipip or none)."""
    try:
        return ENCAP_OVERHEAD[encapsulation]
    except (KeyError, TypeError):
        raise MTUError('encapsulation must be one of %s, got %r' % (', '.join(ENCAPSULATIONS), encapsulation))


def pod_mtu(underlay_mtu, encapsulation):
    """The largest pod MTU that fits in ``underlay_mtu`` with ``encapsulation``."""
    try:
        underlay = int(underlay_mtu)
    except (TypeError, ValueError):
        raise MTUError('underlay MTU %r is not a number' % (underlay_mtu,))
    mtu = underlay - encap_overhead(encapsulation)
    if mtu < 68:
        raise MTUError('underlay MTU %d leaves %d bytes with %s encapsulation, below the IPv4 minimum of 68'
                       % (underlay, mtu, encapsulation))
    return mtu


def mtu_problem(mtu, encapsulation, underlay_mtu):
    """None when ``mtu`` fits in ``underlay_mtu`` with ``encapsulation``, else the reason as text."""
    limit = int(underlay_mtu) - encap_overhead(encapsulation)
    if int(mtu) > limit:
        return ('MTU %d is too large for %s encapsulation on an underlay MTU of %d: at most %d '
                '(the encapsulation adds %d bytes)' % (int(mtu), encapsulation, int(underlay_mtu), limit,
                                                       encap_overhead(encapsulation)))
    return None
