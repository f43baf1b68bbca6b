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
  - podnet.calico.netns
options:
  state:
    description:
      - V(merged) adds the listed routes or repairs them.
      - V(overridden) does the same and removes every route with protocol O(proto) that is not listed, in
        O(netns) and in every namespace named by an entry.
      - V(deleted) removes the listed routes if they carry protocol O(proto); with an empty O(config) it
        removes every route with protocol O(proto) in O(netns).
      - V(gathered) changes nothing and returns the routes with protocol O(proto) in O(netns) and in the
        namespaces named by the entries.
    type: str
    choices: [merged, overridden, deleted, gathered]
    default: merged
  proto:
    description:
      - The route protocol number that marks the routes this module owns (1-255).
      - Felix uses 80 and BIRD 12; use those only to take over routes those daemons made.
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
          - Protocol number of this route, when it is not O(proto).
        type: int
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: linux
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
routes:
  description:
    - The listed routes after the task (predicted in check mode), or the gathered ones.
  returned: always
  type: list
  elements: dict
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
    changed:
      description: Whether this route was added or replaced.
      type: bool
      returned: unless state is gathered
      sample: true
removed:
  description: Routes removed (or that would be removed in check mode), same fields as O(config).
  returned: always
  type: list
  elements: dict
  sample: [{dst: 10.65.0.5/32, dev: cali0a1b2c3d4e5, type: unicast, table: 254, metric: 0, proto: 201}]
diff:
  description: Routes before and after, in matching positions (null for absent).
  returned: when diff mode is on and state is not gathered
  type: dict
  sample:
    before: [null]
    after: [{dst: 10.65.0.0/26, type: blackhole, table: 254, proto: 201}]
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.podnet.calico.plugins.module_utils._netlink import (
    HAS_PYROUTE2, PYROUTE2_IMPORT_ERROR,
)
from ansible_collections.podnet.calico.plugins.module_utils._dp_common import (
    NETNS_ARGUMENT_SPEC, OWNED_ROUTE_PROTO, STATE_ARGUMENT_SPEC, run_resource_module,
)
from ansible_collections.podnet.calico.plugins.module_utils._dp_route import RouteManager


def main():
    argument_spec = dict(NETNS_ARGUMENT_SPEC)
    argument_spec.update(STATE_ARGUMENT_SPEC)
    argument_spec['proto'] = dict(type='int', default=OWNED_ROUTE_PROTO)
    argument_spec['config'] = dict(
        type='list', elements='dict', default=[],
        options=dict(
            netns=dict(type='str'),
            dst=dict(type='str', required=True),
            via=dict(type='str', aliases=['gateway']),
            dev=dict(type='str'),
            scope=dict(type='str', choices=['link', 'global', 'host']),
            onlink=dict(type='bool', default=False),
            type=dict(type='str', default='unicast', choices=['unicast', 'blackhole', 'unreachable']),
            metric=dict(type='int'),
            table=dict(type='str', default='main'),
            proto=dict(type='int'),
        ),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not HAS_PYROUTE2:
        module.fail_json(msg=missing_required_lib('pyroute2'), exception=PYROUTE2_IMPORT_ERROR)

    run_resource_module(module, lambda cache: RouteManager(module.params['netns'], module.check_mode, cache, module.params['proto']))


if __name__ == '__main__':
    main()
