#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: proxy_arp
short_description: Proxy-ARP and forwarding sysctls of workload interfaces, per namespace
version_added: 0.1.0
description:
  - Sets, resets and reads the per-interface sysctls that Calico sets on a workload's host interface
    so that the node answers the pod's ARP request for the link-local gateway C(169.254.1.1) with the
    host end's own MAC - C(net.ipv4.conf.<if>.proxy_arp=1), C(net.ipv4.neigh.<if>.proxy_delay=0) and
    C(net.ipv4.conf.<if>.forwarding=1) - and, for IPv6, C(proxy_ndp) and C(accept_ra).
  - The values are read and written in C(/proc/sys/net) of the namespace O(netns). The module needs only
    Python's standard library on the target, not pyroute2.
  - The node only answers for C(169.254.1.1) while it has a route to that address that leaves by another
    interface, normally its default route. Without one, pods lose their gateway.
  - Interfaces named C(cali*) are the ones this module owns. A pattern matches only those (never C(lo) or
    the uplink), and an exact other name is refused, unless O(force=true).
  - Every write is journaled and the earlier ones are written back when a later one fails.
extends_documentation_fragment:
  - podnet.calico.attributes
  - podnet.calico.attributes.full
  - podnet.calico.attributes.linux
  - podnet.calico.netns
  - podnet.calico.force
options:
  state:
    description:
      - V(merged) sets the values the entries give on every matching interface, and nothing else.
      - V(replaced) sets the given values on every matching interface and resets its other IPv4 settings
        (C(proxy_arp), C(proxy_delay), C(forwarding)) to the namespace defaults
        (C(net.ipv4.conf.default.*), C(net.ipv4.neigh.default.proxy_delay)).
      - V(overridden) does what V(replaced) does and resets every other C(cali*) interface's IPv4 settings to
        the namespace defaults.
      - V(deleted) resets the matching interfaces (all C(cali*) interfaces when O(config) is empty) to
        the namespace defaults.
      - V(gathered) changes nothing and returns the current values of the matching interfaces (all
        C(cali*) interfaces when O(config) is empty).
    type: str
    choices: [merged, replaced, overridden, deleted, gathered]
    default: merged
  config:
    description:
      - Interfaces and their settings. When several entries match one interface, later entries win.
    type: list
    elements: dict
    default: []
    suboptions:
      interface:
        description:
          - An interface name, which must exist, or a shell-style pattern such as V(cali*), which may match none.
        type: str
        required: true
      proxy_arp:
        description:
          - C(net.ipv4.conf.<if>.proxy_arp); Calico sets V(true). Left alone by O(state=merged) when not set.
        type: bool
      proxy_delay:
        description:
          - C(net.ipv4.neigh.<if>.proxy_delay) in hundredths of a second; Calico sets V(0). Left alone by
            O(state=merged) when not set.
        type: int
      forwarding:
        description:
          - C(net.ipv4.conf.<if>.forwarding); Calico sets V(true). Left alone by O(state=merged) when not set.
        type: bool
      route_localnet:
        description:
          - C(net.ipv4.conf.<if>.route_localnet); Felix sets V(true) on every workload interface, so that
            NAT to the node's loopback addresses (a host port on 127.0.0.1) reaches the pod. Left alone by
            O(state=merged) when not set.
        type: bool
      proxy_ndp:
        description:
          - C(net.ipv6.conf.<if>.proxy_ndp); left alone when not set.
        type: bool
      accept_ra:
        description:
          - C(net.ipv6.conf.<if>.accept_ra) (0, 1 or 2); left alone when not set.
        type: int
seealso:
  - module: podnet.calico.calico_veth
  - module: podnet.calico.calico_dataplane_info
author:
  - podnet.calico contributors (@podnet)
'''

EXAMPLES = r'''
- name: Calico's settings on every workload interface of node1
  podnet.calico.proxy_arp:
    netns: node1
    config:
      - interface: cali*
        proxy_arp: true
        proxy_delay: 0
        forwarding: true

- name: IPv6 as well, on one interface
  podnet.calico.proxy_arp:
    netns: node1
    config:
      - interface: cali8e807cde39b
        proxy_ndp: true
        accept_ra: 0

- name: Read the values
  podnet.calico.proxy_arp:
    netns: node1
    state: gathered
  register: sysctls
'''

RETURN = r'''
extends_documentation_fragment:
  - podnet.calico.dataplane.result
# from that fragment: returned and type of every entry, the description of changes, all of not_undone
before:
  description:
    - The interfaces this task is about (the listed ones and those it removes) as they were before it;
      absent ones are left out. With O(state=gathered), the gathered interfaces.
  sample: [{ifname: cali8e807cde39b, proxy_arp: true, proxy_delay: 0, forwarding: true}]
  contains:
    ifname:
      description: Interface name.
      type: str
      sample: cali8e807cde39b
    proxy_arp:
      description: C(net.ipv4.conf.<if>.proxy_arp).
      type: bool
      sample: true
    proxy_delay:
      description: C(net.ipv4.neigh.<if>.proxy_delay).
      type: int
      sample: 0
    forwarding:
      description: C(net.ipv4.conf.<if>.forwarding).
      type: bool
      sample: true
    route_localnet:
      description: C(net.ipv4.conf.<if>.route_localnet).
      type: bool
      sample: true
    proxy_ndp:
      description: C(net.ipv6.conf.<if>.proxy_ndp), when listed.
      type: bool
      returned: when an entry sets it
      sample: false
    accept_ra:
      description: C(net.ipv6.conf.<if>.accept_ra), when listed.
      type: int
      returned: when an entry sets it
      sample: 0
after:
  description:
    - The same interfaces after the task (predicted in check mode), in the same form as RV(before);
      removed ones are left out.
  sample: [{ifname: cali8e807cde39b, proxy_arp: true, proxy_delay: 0, forwarding: true}]
changes:
  sample:
    - 'set net.ipv4.conf.cali8e807cde39b.proxy_arp = 1 (was 0) in node1'
gathered:
  description: The interfaces read, in the form of RV(before).
  sample: [{ifname: cali8e807cde39b, proxy_arp: true, proxy_delay: 0, forwarding: true}]
diff:
  description: Before and after of every changed interface, keyed by interface name (null when absent).
  contains:
    before:
      description: The changed interfaces as they were.
      type: dict
    after:
      description: The changed interfaces after the task.
      type: dict
'''

from ansible_collections.podnet.calico.plugins.module_utils._ansible import (
    dataplane_module, proxy_arp_spec, run_engine,
)
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._proxyarp import ProxyArpManager


def main():
    # only /proc/sys/net: no pyroute2 (see module_utils/dataplane/_netns.py)
    module = dataplane_module(netlink=False, **proxy_arp_spec())
    p = module.params
    run_engine(module, lambda cache: ProxyArpManager(p['netns'], module.check_mode, cache, p['force']))


if __name__ == '__main__':
    main()
