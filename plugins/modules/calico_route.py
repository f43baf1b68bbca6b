#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: calico_route
short_description: Routes of Calico's data plane, declaratively, marked with an owned protocol number
version_added: 0.1.0
description:
  - Adds, repairs, lists and removes the routes Calico programs, on a node or inside pods; the pod side
    (V(169.254.1.1) C(dev eth0 scope link) and C(default via 169.254.1.1)), the node's C(/32) route to
    each workload (C(dev cali...) C(scope link)), a blackhole for each block the node owns, and routes to
    the other nodes' blocks (C(via <node-ip>) directly, C(via <node-ip> dev tunl0 onlink) for IPIP,
    C(via <vtep-ip> dev vxlan.calico onlink) for VXLAN).
  - A route is identified by namespace, table, destination, type and metric, never by a substring. The
    kernel holds one IPv4 route per (table, destination, metric) slot, so a listed route takes its slot
    with one C(replace) request; an update is never a delete followed by an add.
  - Routes written by this module carry the protocol number O(proto) (default V(201), which neither the
    kernel (2), boot (3), static (4), BIRD (12) nor Felix (80) use). O(state=overridden) and O(state=deleted)
    only ever remove routes with that protocol; kernel routes and other daemons' routes are never removed.
  - Each entry may name its own namespace (O(config[].netns)), so one task can program the pod side of
    many pods; each namespace is entered once.
  - Routes without a gateway are programmed before routes with one. If the kernel refuses a route, every
    route this task had added, replaced or removed is put back.
extends_documentation_fragment:
  - podnet.calico.attributes
  - podnet.calico.attributes.full
  - podnet.calico.attributes.linux
  - podnet.calico.netns
  - podnet.calico.force
options:
  state:
    description:
      - V(merged) adds the listed routes or repairs them. A route takes its slot (table, destination,
        metric); a slot held by a route of another protocol (an administrator's static route, a
        daemon's route) is an error unless O(force=true).
      - V(replaced) is the same as V(merged) for routes, a listed route being a whole object.
      - V(overridden) does the same and removes every route with protocol O(proto) that is not listed, in
        O(netns) and in every namespace named by an entry.
      - V(deleted) removes the listed routes if they carry protocol O(proto); with an empty O(config) it
        removes every route with protocol O(proto) in O(netns).
      - V(gathered) changes nothing and returns the routes with protocol O(proto) in O(netns) and in the
        namespaces named by the entries.
    type: str
    choices: [merged, replaced, overridden, deleted, gathered]
    default: merged
  proto:
    description:
      - The route protocol number that marks the routes this module owns (1-255).
      - The kernel's protocols (0 kernel-unspec, 1 redirect, 2 kernel, 3 boot, 4 static) are refused, so that
        O(state=overridden) can never remove the kernel's or the boot routes.
      - A routing daemon's protocol (Felix 80, BIRD 12, zebra 11, dhcp 16, ...) needs O(force=true); use one
        only to take over routes that daemon made.
    type: int
    default: 201
  config:
    description:
      - The routes.
    type: list
    elements: dict
    default: []
    suboptions:
      netns:
        description:
          - Namespace of this route when it is not O(netns), for example a pod's namespace.
        type: str
      dst:
        description:
          - Destination network, V(default), or a single address (taken as C(/32) or C(/128)).
          - Host bits must be zero (V(10.65.0.0/26), not V(10.65.0.1/26)).
        type: str
        required: true
      via:
        description:
          - Gateway address. The gateway must be on a directly connected network of O(config[].dev) unless
            O(config[].onlink) is set.
        type: str
        aliases: [gateway]
      dev:
        description:
          - Outgoing interface, which must exist in the route's namespace.
        type: str
      scope:
        description:
          - Route scope. Default V(link) for a unicast route without gateway, V(global) otherwise.
        type: str
        choices: [link, global, host]
      onlink:
        description:
          - Accept the gateway as reachable on O(config[].dev) without a connected route (IPIP and VXLAN
            routes to remote blocks). Needs O(config[].via) and O(config[].dev).
        type: bool
        default: false
      type:
        description:
          - Route type; V(blackhole) and V(unreachable) routes take no gateway or device.
        type: str
        choices: [unicast, blackhole, unreachable]
        default: unicast
      metric:
        description:
          - Route metric (priority). Default 0 for IPv4 and 1024 for IPv6, as the kernel does.
        type: int
      table:
        description:
          - Routing table, a number or V(main), V(local), V(default).
        type: str
        default: main
      proto:
        description:
          - Protocol number of this route, when it is not O(proto); the same rules as for O(proto).
        type: int
requirements:
  - pyroute2 >= 0.7.2 on the target (Debian 12's C(python3-pyroute2) or C(pip install pyroute2)).
seealso:
  - module: podnet.calico.calico_veth
  - module: podnet.calico.calico_tunnel
author:
  - podnet.calico contributors (@podnet)
'''

EXAMPLES = r'''
- name: Pod side of one pod (its gateway is the node's proxy-ARP answer)
  podnet.calico.calico_route:
    netns: pod-net-test
    config:
      - dst: 169.254.1.1
        dev: eth0
      - dst: default
        via: 169.254.1.1
        dev: eth0

- name: Node side - workload routes, own block blackhole, remote blocks over VXLAN and directly
  podnet.calico.calico_route:
    netns: node1
    state: overridden
    config:
      - dst: 10.65.0.2/32
        dev: cali8e807cde39b
      - dst: 10.65.0.0/26
        type: blackhole
      - dst: 10.65.0.64/26
        via: 10.65.0.64
        dev: vxlan.calico
        onlink: true
      - dst: 10.65.0.128/26
        via: 192.168.50.13

- name: Pod side of many pods in one task (one entry per route, each with its namespace)
  vars:
    pod_namespaces: [pod-a, pod-b, pod-c]
  podnet.calico.calico_route:
    config: >-
      {% set routes = [] %}{% for ns in pod_namespaces %}{% set _ = routes.extend([
      {'netns': ns, 'dst': '169.254.1.1', 'dev': 'eth0'},
      {'netns': ns, 'dst': 'default', 'via': '169.254.1.1', 'dev': 'eth0'}]) %}{% endfor %}{{ routes }}

- name: Routes this collection owns on node1
  podnet.calico.calico_route:
    netns: node1
    state: gathered
  register: owned_routes
'''

RETURN = r'''
extends_documentation_fragment:
  - podnet.calico.dataplane.result
# from that fragment: returned and type of every entry, the description of changes, all of not_undone
before:
  description:
    - The routes this task is about (the listed ones and those it removes) as they were before it;
      absent ones are left out. With O(state=gathered), the gathered routes.
  sample: [{dst: 10.65.0.0/26, type: blackhole, table: 254, metric: 0, proto: 201, netns: node1}]
  contains:
    netns:
      description: Namespace of the route as given (null for the module's own namespace).
      type: str
      sample: node1
    dst:
      description: Destination network.
      type: str
      sample: 10.65.0.0/26
    type:
      description: Route type.
      type: str
      sample: blackhole
    via:
      description: Gateway.
      type: str
      sample: 169.254.1.1
    dev:
      description: Outgoing interface.
      type: str
      sample: eth0
    scope:
      description: Scope name.
      type: str
      sample: link
    onlink:
      description: Whether the onlink flag is set.
      type: bool
      sample: false
    metric:
      description: Metric.
      type: int
      sample: 0
    table:
      description: Table number.
      type: int
      sample: 254
    proto:
      description: Protocol number.
      type: int
      sample: 201
after:
  description:
    - The same routes after the task (predicted in check mode), in the same form as RV(before);
      removed ones are left out.
  sample: [{dst: 10.65.0.0/26, type: blackhole, table: 254, metric: 0, proto: 201, netns: node1}]
changes:
  sample:
    - 'add route blackhole 10.65.0.0/26 proto 201'
    - 'delete route 10.65.0.5/32 dev cali0a1b2c3d4e5 proto 201'
gathered:
  description: The routes read, in the form of RV(before).
  sample: [{dst: 10.65.0.2/32, dev: cali8e807cde39b, scope: link, type: unicast, table: 254, metric: 0, proto: 201}]
diff:
  description: Before and after of every changed route, keyed by "<dst> table <table> metric <metric> [in <netns>]" (null when absent).
  contains:
    before:
      description: The changed routes as they were.
      type: dict
    after:
      description: The changed routes after the task.
      type: dict
'''

from ansible_collections.podnet.calico.plugins.module_utils._ansible import dataplane_module, route_spec, run_engine
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._route import RouteManager


def main():
    module = dataplane_module(**route_spec())
    p = module.params
    run_engine(module, lambda cache: RouteManager(p['netns'], module.check_mode, cache, p['proto'], p['force']))


if __name__ == '__main__':
    main()
