#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: calico_dataplane_info
short_description: Inventory of a node's or a pod's Calico data plane
version_added: 0.1.0
description:
  - Reads, without changing anything, what a person inspects by hand when learning or debugging Calico.
  - For a node namespace; every C(cali*) interface (index, peer index, peer namespace id, MAC, MTU, master,
    C(proxy_arp), C(proxy_delay), C(forwarding)), the workload C(/32) routes, the block routes by kind
    (blackhole, tunnel, direct), the default routes, and the tunnel devices with their peers.
  - For a pod namespace; its interfaces with addresses, its routes and its neighbour entry for the
    gateway V(169.254.1.1) (present once the node has answered the pod's ARP request).
  - O(pod_netns) adds pod inventories to a node inventory in the same task.
extends_documentation_fragment:
  - podnet.calico.attributes
  - podnet.calico.attributes.linux
  - podnet.calico.netns
options:
  kind:
    description:
      - What O(netns) is. V(auto) takes a namespace with C(cali*) or tunnel interfaces, or without C(eth0),
        as a node and any other as a pod.
    type: str
    choices: [auto, node, pod]
    default: auto
  pod_netns:
    description:
      - Pod namespaces (names or paths) to inventory as well.
    type: list
    elements: str
    default: []
requirements:
  - pyroute2 >= 0.7.2 on the target (Debian 12's C(python3-pyroute2) or C(pip install pyroute2)).
attributes:
  check_mode:
    support: full
    details: The module never changes anything.
  diff_mode:
    support: N/A
seealso:
  - module: podnet.calico.calico_veth
  - module: podnet.calico.calico_route
  - module: podnet.calico.calico_tunnel
author:
  - podnet.calico contributors (@podnet)
'''

EXAMPLES = r'''
- name: Inventory node1 and two of its pods
  podnet.calico.calico_dataplane_info:
    netns: node1
    pod_netns: [pod-a, pod-b]
  register: dp

- name: Every workload interface answers ARP for the pods' gateway
  ansible.builtin.assert:
    that:
      - dp.dataplane.interfaces | rejectattr('proxy_arp') | list | length == 0
      - dp.dataplane.default_routes | length > 0
    fail_msg: without a default route the node does not answer ARP for 169.254.1.1

- name: A pod learnt its gateway's MAC
  ansible.builtin.assert:
    that: dp.pods[0].gateway_neighbour.mac == 'ee:ee:ee:ee:ee:ee'
'''

RETURN = r'''
dataplane:
  description: Inventory of O(netns); the keys depend on RV(dataplane.kind).
  returned: always
  type: dict
  contains:
    netns:
      description: The namespace as given.
      type: str
      sample: node1
    kind:
      description: V(node) or V(pod).
      type: str
      sample: node
    interfaces:
      description:
        - Node; the C(cali*) interfaces with ifname, ifindex, kind, peer_ifindex, peer_netnsid, mac, mtu,
          up, master, proxy_arp, proxy_delay, forwarding.
        - Pod; every interface with ifname, ifindex, kind, peer_ifindex, peer_netnsid, mac, mtu, up, addresses.
      type: list
      elements: dict
      sample: [{ifname: cali8e807cde39b, ifindex: 7, peer_ifindex: 2, peer_netnsid: 0, mac: ee:ee:ee:ee:ee:ee,
                mtu: 1500, up: true, master: null, proxy_arp: true, proxy_delay: 0, forwarding: true}]
    workload_routes:
      description: Node only; C(/32) routes through C(cali*) interfaces.
      type: list
      elements: dict
      returned: when kind is node
      sample: [{dst: 10.65.0.2/32, dev: cali8e807cde39b, scope: link, type: unicast, proto: 201}]
    block_routes:
      description: Node only; routes to blocks, by kind (C(blackhole), C(tunnel), C(direct)).
      type: dict
      returned: when kind is node
      sample: {blackhole: [{dst: 10.65.0.0/26, type: blackhole}], tunnel: [], direct: []}
    default_routes:
      description: Node only; default routes of the main table (proxy-ARP for 169.254.1.1 needs one).
      type: list
      elements: dict
      returned: when kind is node
      sample: [{dst: 0.0.0.0/0, via: 192.168.50.1, dev: eth0}]
    tunnels:
      description: Node only; tunnel devices with name, kind, ifindex, mac, mtu, up, addresses, vni, port,
        underlay_ip and peers (vtep_ip, vtep_mac, underlay_ip, permanent).
      type: list
      elements: dict
      returned: when kind is node
      sample: [{name: vxlan.calico, kind: vxlan, vni: 4096, port: 4789, peers: []}]
    routes:
      description: Pod only; every IPv4 route outside the local table.
      type: list
      elements: dict
      returned: when kind is pod
      sample: [{dst: 0.0.0.0/0, via: 169.254.1.1, dev: eth0, scope: global}]
    gateway_neighbour:
      description: Pod only; the neighbour entry for 169.254.1.1 (ip, mac, dev, state, permanent), or null.
      type: dict
      returned: when kind is pod
      sample: {ip: 169.254.1.1, mac: ee:ee:ee:ee:ee:ee, dev: eth0, state: 2, permanent: false}
pods:
  description: Inventories of the O(pod_netns) namespaces, each shaped like a pod RV(dataplane).
  returned: always
  type: list
  elements: dict
  sample: [{netns: pod-a, kind: pod, interfaces: [], routes: [], gateway_neighbour: null}]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.podnet.calico.plugins.module_utils._ansible import require_netlink, run_reader
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._base import NETNS_ARGUMENT_SPEC
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._info import gather


def main():
    argument_spec = dict(NETNS_ARGUMENT_SPEC)
    argument_spec.update(
        kind=dict(type='str', default='auto', choices=['auto', 'node', 'pod']),
        pod_netns=dict(type='list', elements='str', default=[]),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    require_netlink(module)
    p = module.params

    def read(cache):
        main_view, pods = gather(p['netns'], p['kind'], p['pod_netns'], cache)
        return {'dataplane': main_view, 'pods': pods}
    run_reader(module, read)


if __name__ == '__main__':
    main()
