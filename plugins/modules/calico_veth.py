#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: calico_veth
short_description: Workload veth pairs wired the way Calico's CNI plugin wires them
version_added: 0.1.0
description:
  - Creates, repairs, lists and removes the veth pairs that connect pods to a node, as Calico's CNI
    plugin does. The host end stays in the node namespace (O(netns)) under the name C(cali) followed by
    the first 11 hex digits of sha1("<k8s-namespace>.<pod>"), with MAC V(ee:ee:ee:ee:ee:ee), no address
    and no bridge. The container end is created directly inside the pod's namespace under its final
    name (default V(eth0)) and gets the pod's addresses.
  - One task can wire a whole node; every namespace is entered once and gets one netlink socket.
  - Drift is repaired, not ignored; a wrong MTU, host MAC, address set, a link that is down, or a peer
    that sits in another namespace.
  - Every change is journaled; if a step fails, every change of the task is undone in reverse (a veth this
    task created is removed again, a repaired MTU, MAC or address is put back) and the error says exactly
    what could not be undone. A pair whose peer sits in another namespace is recreated as follows; the old
    host end is renamed aside, the new pair is made, and the old one is removed last, once everything
    else worked.
  - Only host interfaces named C(cali*) of type veth are owned by this module; O(state=overridden)
    and O(state=deleted) with an empty O(config) never touch anything else, and an explicit
    O(config[].host_ifname) of another interface needs O(force=true).
  - Routes of the pod (C(169.254.1.1 dev eth0 scope link), C(default via 169.254.1.1)) and the host's
    C(/32) routes are made by M(podnet.calico.calico_route); the host end's sysctls by M(podnet.calico.proxy_arp).
extends_documentation_fragment:
  - podnet.calico.attributes
  - podnet.calico.attributes.full
  - podnet.calico.attributes.linux
  - podnet.calico.netns
  - podnet.calico.force
options:
  state:
    description:
      - V(merged) creates the listed pairs or repairs what is listed (MTU, host MAC, link state) and adds the
        listed addresses; it never removes an address that is not listed.
      - V(replaced) makes each listed pair exactly as given; addresses not listed are removed from the
        container end, and any address is removed from the host end.
      - V(overridden) does what V(replaced) does and also removes every C(cali*) veth in O(netns) that is not
        listed (stale workloads).
      - V(deleted) removes the listed pairs; with an empty O(config) it removes every C(cali*) veth in O(netns).
      - V(gathered) changes nothing and returns the listed pairs, or all C(cali*) host ends when O(config) is empty.
    type: str
    choices: [merged, replaced, overridden, deleted, gathered]
    default: merged
  config:
    description:
      - The veth pairs, one entry per workload.
    type: list
    elements: dict
    default: []
    suboptions:
      workload:
        description:
          - The workload id C(<k8s-namespace>.<pod>) from which the host-side name is derived.
          - Exactly one of O(config[].workload) and O(config[].host_ifname) is required.
        type: str
      host_ifname:
        description:
          - An explicit host-side interface name (at most 15 characters) instead of the derived one.
          - A name that does not start with C(cali) is refused unless O(force=true).
        type: str
      container_netns:
        description:
          - The pod's network namespace, by name under C(/run/netns) or by path. It must exist and must
            not be O(netns) itself.
          - Required with O(state=merged) and O(state=overridden); with O(state=gathered) it lets the
            module report the container end too.
        type: str
      container_ifname:
        description:
          - Name of the container end inside O(config[].container_netns).
        type: str
        default: eth0
      mtu:
        description:
          - MTU of both ends, between 68 and 65535. When not set, a new pair gets the kernel default (1500)
            and an existing pair's MTU is left alone.
        type: int
      host_mac:
        description:
          - MAC address of the host end.
        type: str
        default: ee:ee:ee:ee:ee:ee
      addresses:
        description:
          - Addresses of the container end, as C(a.b.c.d) or C(a.b.c.d/32) (IPv6 C(/128)). Other prefix
            lengths are refused, as Calico gives each workload single addresses. With O(state=replaced) and
            O(state=overridden) addresses not listed are removed from the container end (IPv6 link-local
            ones excepted).
          - Refused before anything changes; an address given to two entries or already routed to another
            C(cali*) interface, and addresses no workload can have (V(0.0.0.0), C(127.0.0.0/8),
            V(169.254.1.1) and other link-local ones, multicast, V(255.255.255.255), C(240.0.0.0/4)).
        type: list
        elements: str
        default: []
requirements:
  - pyroute2 >= 0.7.2 on the target (Debian 12's C(python3-pyroute2) or C(pip install pyroute2)).
seealso:
  - module: podnet.calico.calico_route
  - module: podnet.calico.proxy_arp
  - module: podnet.calico.calico_dataplane_info
author:
  - podnet.calico contributors (@podnet)
'''

EXAMPLES = r'''
- name: Wire two pods into the node namespace node1
  podnet.calico.calico_veth:
    netns: node1
    config:
      - workload: default.net-test          # host end cali8e807cde39b
        container_netns: pod-net-test
        addresses: [10.65.0.2/32]
        mtu: 1450
      - workload: kube-system.coredns-0
        container_netns: pod-coredns-0
        addresses: [10.65.0.3]

- name: Keep exactly these workloads, remove stale cali* veths
  podnet.calico.calico_veth:
    netns: node1
    state: overridden
    config:
      - workload: default.net-test
        container_netns: pod-net-test
        addresses: [10.65.0.2/32]

- name: List every cali* pair of the node
  podnet.calico.calico_veth:
    netns: node1
    state: gathered
  register: pairs

- name: Remove one workload's pair
  podnet.calico.calico_veth:
    netns: node1
    state: deleted
    config:
      - workload: default.net-test
'''

RETURN = r'''
extends_documentation_fragment:
  - podnet.calico.dataplane.result
# from that fragment: returned and type of every entry, the description of changes, all of not_undone
before:
  description:
    - The veth pairs this task is about (the listed ones and those it removes) as they were before it;
      absent ones are left out. With O(state=gathered), the gathered veth pairs.
  sample: [{host_ifname: cali8e807cde39b, container_netns: pod-net-test, mtu: 1450, addresses: [10.65.0.2/32]}]
  contains:
    workload:
      description: The workload id, when given.
      type: str
      sample: default.net-test
    host_ifname:
      description: Host-side interface name.
      type: str
      sample: cali8e807cde39b
    host_ifindex:
      description: Index of the host end in the node namespace (null in check mode for a new pair).
      type: int
      sample: 7
    host_mac:
      description: MAC of the host end.
      type: str
      sample: ee:ee:ee:ee:ee:ee
    host_peer_ifindex:
      description: The peer index the host end points at (its C(@ifN)), the container end's index.
      type: int
      sample: 2
    host_up:
      description: Whether the host end is administratively up.
      type: bool
      sample: true
    container_netns:
      description: The pod namespace as given.
      type: str
      sample: pod-net-test
    container_ifname:
      description: Name of the container end.
      type: str
      sample: eth0
    container_ifindex:
      description: Index of the container end inside the pod namespace.
      type: int
      sample: 2
    container_mac:
      description: MAC of the container end (chosen by the kernel).
      type: str
      sample: 3a:1f:5c:00:12:9e
    container_peer_ifindex:
      description: The peer index the container end points at (its C(@ifN)), the host end's index.
      type: int
      sample: 7
    container_up:
      description: Whether the container end is administratively up.
      type: bool
      sample: true
    mtu:
      description: MTU of the host end.
      type: int
      sample: 1450
    addresses:
      description: Addresses of the container end, IPv6 link-local left out.
      type: list
      elements: str
      sample: [10.65.0.2/32]
after:
  description:
    - The same veth pairs after the task (predicted in check mode), in the same form as RV(before);
      removed ones are left out.
  sample: [{host_ifname: cali8e807cde39b, container_netns: pod-net-test, mtu: 1450, addresses: [10.65.0.2/32]}]
changes:
  sample:
    - 'create veth cali8e807cde39b with peer eth0 in pod-net-test, MTU 1450, cali8e807cde39b up'
    - 'set eth0 in pod-net-test up'
    - 'add 10.65.0.2/32 to eth0 in pod-net-test'
gathered:
  description: The veth pairs read, in the form of RV(before).
  sample: [{host_ifname: cali8e807cde39b, host_ifindex: 7, mtu: 1450}]
diff:
  description: Before and after of every changed veth pair, keyed by host interface name (null when absent).
  contains:
    before:
      description: The changed veth pairs as they were.
      type: dict
    after:
      description: The changed veth pairs after the task.
      type: dict
'''

from ansible_collections.podnet.calico.plugins.module_utils._ansible import dataplane_module, run_engine, veth_spec
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._veth import VethManager


def main():
    module = dataplane_module(**veth_spec())
    p = module.params
    run_engine(module, lambda cache: VethManager(p['netns'], module.check_mode, cache, p['force']))


if __name__ == '__main__':
    main()
