#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: calico_dataplane
short_description: A node's whole Calico data plane in one task - forwarding, veths, proxy-ARP, routes, tunnel
version_added: 1.1.0
description:
  - Builds what M(podnet.calico.calico_veth), M(podnet.calico.proxy_arp), M(podnet.calico.calico_route)
    and M(podnet.calico.calico_tunnel) build, and turns on IPv4 forwarding as C(ansible.posix.sysctl) does,
    in one module run on the node instead of one per resource.
  - Each section is optional and takes the options of the single module it stands for, with the same
    meaning. The sections are applied in this order; O(forwarding), O(veths), O(proxy_arp), O(pod_routes),
    O(tunnel), O(routes). A section is read and planned once the sections before it were applied, so the
    routes see the veths' host ends and the tunnel device that the same run made.
  - Every section's input is checked before the first change.
  - All sections share one undo journal. When a step of any section fails, or the kernel refuses one, every
    change of the run is undone, those of the earlier sections included, newest first, and the error says
    exactly what could not be undone. Changes that cannot be undone (removing a stale veth) run last, once
    every section worked.
  - Errors name the section's option, for example C(routes.config[2].via) or C(veths.config[0].addresses[0]).
  - In check mode nothing is changed; the route sections plan routes through the veths and the tunnel
    device that the run would create. The O(proxy_arp) section predicts the sysctls of the C(cali)
    interfaces that exist; those of pairs the O(veths) section would create are set by the real run.
extends_documentation_fragment:
  - podnet.calico.attributes
  - podnet.calico.attributes.full
  - podnet.calico.attributes.linux
  - podnet.calico.netns
options:
  forwarding:
    description:
      - C(net.ipv4.ip_forward) of O(netns), and its line in a sysctl file.
      - The value is set in C(/proc/sys/net) of O(netns) when it differs. With O(forwarding.sysctl_file) the file
        says C(net.ipv4.ip_forward=1) as C(ansible.posix.sysctl) with C(sysctl_set=true) and C(reload=false)
        writes it; when the file does not already give that value it is written again with every assignment as
        C(key=value) (the first line of a key kept, the key's line in place or appended), comments and blank
        lines kept, mode and owner of the old file kept (V(0644) for a new file).
    type: dict
    suboptions:
      ip_forward:
        description:
          - Whether IPv4 forwarding is on (C(1)) or off (C(0)).
        type: bool
        default: true
      sysctl_file:
        description:
          - Absolute path of the sysctl file that keeps the value across reboots, on the machine the module runs
            on (not per namespace). Its directory must exist. Not set means the value is not persisted.
        type: path
  veths:
    description:
      - The workload veth pairs, as M(podnet.calico.calico_veth) takes them.
    type: dict
    suboptions:
      state:
        description:
          - As O(podnet.calico.calico_veth#module:state).
        type: str
        choices: [merged, replaced, overridden, deleted, gathered]
        default: merged
      force:
        description:
          - As O(podnet.calico.calico_veth#module:force), for this section.
        type: bool
        default: false
      config:
        description:
          - The veth pairs, one entry per workload, as O(podnet.calico.calico_veth#module:config).
        type: list
        elements: dict
        default: []
        suboptions:
          workload:
            description:
              - The workload id C(<k8s-namespace>.<pod>) from which the host-side name is derived.
              - Exactly one of O(veths.config[].workload) and O(veths.config[].host_ifname) is required.
            type: str
          host_ifname:
            description:
              - An explicit host-side interface name instead of the derived one.
            type: str
          container_netns:
            description:
              - The pod's network namespace, by name under C(/run/netns) or by path.
            type: str
          container_ifname:
            description:
              - Name of the container end.
            type: str
            default: eth0
          mtu:
            description:
              - MTU of both ends, between 68 and 65535.
            type: int
          host_mac:
            description:
              - MAC address of the host end.
            type: str
            default: ee:ee:ee:ee:ee:ee
          addresses:
            description:
              - Addresses of the container end, as C(a.b.c.d) or C(a.b.c.d/32).
            type: list
            elements: str
            default: []
  proxy_arp:
    description:
      - The workload interfaces' sysctls, as M(podnet.calico.proxy_arp) takes them.
    type: dict
    suboptions:
      state:
        description:
          - As O(podnet.calico.proxy_arp#module:state).
        type: str
        choices: [merged, replaced, overridden, deleted, gathered]
        default: merged
      force:
        description:
          - As O(podnet.calico.proxy_arp#module:force), for this section.
        type: bool
        default: false
      config:
        description:
          - Interfaces and their settings, as O(podnet.calico.proxy_arp#module:config).
        type: list
        elements: dict
        default: []
        suboptions:
          interface:
            description:
              - An interface name, which must exist, or a shell-style pattern such as V(cali*).
            type: str
            required: true
          proxy_arp:
            description:
              - C(net.ipv4.conf.<if>.proxy_arp).
            type: bool
          proxy_delay:
            description:
              - C(net.ipv4.neigh.<if>.proxy_delay) in hundredths of a second.
            type: int
          forwarding:
            description:
              - C(net.ipv4.conf.<if>.forwarding).
            type: bool
          route_localnet:
            description:
              - C(net.ipv4.conf.<if>.route_localnet).
            type: bool
          proxy_ndp:
            description:
              - C(net.ipv6.conf.<if>.proxy_ndp).
            type: bool
          accept_ra:
            description:
              - C(net.ipv6.conf.<if>.accept_ra) (0, 1 or 2).
            type: int
  pod_routes:
    description:
      - Routes applied after the veths and the sysctls, as M(podnet.calico.calico_route) takes them; meant for the
        pods' side (V(169.254.1.1) C(dev eth0) and the default route, each entry naming the pod's namespace).
    type: dict
    suboptions: &routes_options
      state:
        description:
          - As O(podnet.calico.calico_route#module:state).
        type: str
        choices: [merged, replaced, overridden, deleted, gathered]
        default: merged
      force:
        description:
          - As O(podnet.calico.calico_route#module:force), for this section.
        type: bool
        default: false
      proto:
        description:
          - The route protocol number that marks the routes this section owns (1-255), as
            O(podnet.calico.calico_route#module:proto).
        type: int
        default: 201
      config:
        description:
          - The routes, as O(podnet.calico.calico_route#module:config).
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
              - Destination network, V(default), or a single address.
            type: str
            required: true
          via:
            description:
              - Gateway address.
            type: str
            aliases: [gateway]
          dev:
            description:
              - Outgoing interface, which must exist in the route's namespace (or be made by an earlier section
                of the same run).
            type: str
          scope:
            description:
              - Route scope.
            type: str
            choices: [link, global, host]
          onlink:
            description:
              - Accept the gateway as reachable on the device without a connected route.
            type: bool
            default: false
          type:
            description:
              - Route type.
            type: str
            choices: [unicast, blackhole, unreachable]
            default: unicast
          metric:
            description:
              - Route metric.
            type: int
          table:
            description:
              - Routing table, a number or V(main), V(local), V(default).
            type: str
            default: main
          proto:
            description:
              - Protocol number of this route, when it is not the section's C(proto).
            type: int
  tunnel:
    description:
      - The tunnel devices and their VXLAN peers, as M(podnet.calico.calico_tunnel) takes them.
    type: dict
    suboptions:
      state:
        description:
          - As O(podnet.calico.calico_tunnel#module:state).
        type: str
        choices: [merged, replaced, overridden, deleted, gathered]
        default: merged
      force:
        description:
          - As O(podnet.calico.calico_tunnel#module:force), for this section.
        type: bool
        default: false
      config:
        description:
          - The tunnels, at most one per device name, as O(podnet.calico.calico_tunnel#module:config).
        type: list
        elements: dict
        default: []
        suboptions:
          type:
            description:
              - Tunnel kind.
            type: str
            choices: [vxlan, ipip]
            required: true
          name:
            description:
              - Device name. Default V(vxlan.calico) for VXLAN; IPIP is always V(tunl0).
            type: str
          node_name:
            description:
              - Kubernetes node name, from which the VXLAN MAC is derived as Calico does.
            type: str
          mac:
            description:
              - Explicit VXLAN device MAC instead of the derived one.
            type: str
          vni:
            description:
              - VXLAN network identifier.
            type: int
            default: 4096
          port:
            description:
              - VXLAN UDP destination port.
            type: int
            default: 4789
          address:
            description:
              - Tunnel address, one address from the node's block.
            type: str
          mtu:
            description:
              - Device MTU (68-65535).
            type: int
          underlay_dev:
            description:
              - Underlay interface the VXLAN packets leave by.
            type: str
          underlay_ip:
            description:
              - Local underlay IPv4 address, the source of VXLAN packets.
            type: str
          peers:
            description:
              - Other nodes' VTEPs. Not set means peers are left as they are.
            type: list
            elements: dict
            suboptions:
              vtep_ip:
                description: The peer's tunnel address.
                type: str
                required: true
              vtep_mac:
                description: The peer's VXLAN device MAC.
                type: str
                required: true
              underlay_ip:
                description: The peer node's underlay address.
                type: str
                required: true
  routes:
    description:
      - Routes applied last, after the tunnel, as M(podnet.calico.calico_route) takes them; meant for the node's
        side (the pods' C(/32) routes, the blackholes of its blocks, the routes to the other nodes' blocks).
    type: dict
    suboptions: *routes_options
  bird_socket:
    description:
      - Path of the control socket of the node's BIRD (Calico's BGP daemon), for example C(/run/bird/bird.ctl).
        When given, the result says in RV(bird_running) whether a BIRD daemon answers on it, as C(birdc show
        status) would, so that a play learns it without a task of its own.
      - Only read, after the sections were applied, in check mode too. The module connects, reads BIRD's
        greeting and closes; it never starts, stops or configures BIRD.
    type: path
requirements:
  - pyroute2 >= 0.7.2 on the target (Debian 12's C(python3-pyroute2) or C(pip install pyroute2)) when one of
    O(veths), O(pod_routes), O(tunnel) and O(routes) is given.
seealso:
  - module: podnet.calico.calico_veth
  - module: podnet.calico.proxy_arp
  - module: podnet.calico.calico_route
  - module: podnet.calico.calico_tunnel
  - module: podnet.calico.calico_dataplane_info
author:
  - podnet.calico contributors (@podnet)
'''

EXAMPLES = r'''
- name: The data plane of node1 with two pods, VXLAN to node2, in one task
  podnet.calico.calico_dataplane:
    netns: node1
    forwarding:
      sysctl_file: /etc/sysctl.d/60-podnet-calico.conf
    veths:
      state: overridden
      config:
        - workload: default.net-test
          container_netns: pod-net-test
          addresses: [10.65.0.2/32]
          mtu: 1450
    proxy_arp:
      config:
        - interface: cali*
          proxy_arp: true
          proxy_delay: 0
          forwarding: true
          route_localnet: true
    pod_routes:
      config:
        - netns: pod-net-test
          dst: 169.254.1.1
          dev: eth0
        - netns: pod-net-test
          dst: default
          via: 169.254.1.1
          dev: eth0
    tunnel:
      state: overridden
      config:
        - type: vxlan
          node_name: node1
          address: 10.65.0.0
          mtu: 1450
          underlay_dev: eth0
          underlay_ip: 192.168.50.11
          peers:
            - vtep_ip: 10.65.0.64
              vtep_mac: 66:3b:1c:0a:9e:52
              underlay_ip: 192.168.50.12
    routes:
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
  register: dataplane

- name: No encapsulation any more - remove the tunnel devices, route directly
  podnet.calico.calico_dataplane:
    netns: node1
    tunnel:
      state: deleted
    routes:
      state: overridden
      config:
        - dst: 10.65.0.0/26
          type: blackhole
        - dst: 10.65.0.64/26
          via: 192.168.50.12
'''

RETURN = r'''
changed:
  description: Whether any section changed something (or would, in check mode).
  returned: always
  type: bool
  sample: false
forwarding:
  description:
    - The result of the O(forwarding) section. RV(forwarding.before) and RV(forwarding.after) list
      C({name, netns, value}) for C(net.ipv4.ip_forward) and, with a sysctl file, C({sysctl_file, name, value})
      with the value the file gives (null when the file or its line is missing).
  returned: when O(forwarding) is given
  type: dict
  contains:
    changed:
      description: Whether this section changed something.
      type: bool
    before:
      description: The sysctl and the file line as they were.
      type: list
      elements: dict
    after:
      description: The same after the task (predicted in check mode).
      type: list
      elements: dict
    changes:
      description: One line per change, in the order they were made.
      type: list
      elements: str
  sample:
    changed: true
    before: [{name: net.ipv4.ip_forward, netns: null, value: 0}]
    after: [{name: net.ipv4.ip_forward, netns: null, value: 1}]
    changes: ['set net.ipv4.ip_forward = 1 (was 0)']
veths:
  description:
    - The result of the O(veths) section, shaped as M(podnet.calico.calico_veth)'s (RV(podnet.calico.calico_veth#module:before),
      RV(podnet.calico.calico_veth#module:after), RV(podnet.calico.calico_veth#module:changes), C(gathered)),
      without its diff (see RV(diff)).
  returned: when O(veths) is given
  type: dict
  sample: {changed: false, before: [], after: [], changes: []}
proxy_arp:
  description:
    - The result of the O(proxy_arp) section, shaped as M(podnet.calico.proxy_arp)'s, without its diff.
  returned: when O(proxy_arp) is given
  type: dict
  sample: {changed: false, before: [], after: [], changes: []}
pod_routes:
  description:
    - The result of the O(pod_routes) section, shaped as M(podnet.calico.calico_route)'s, without its diff.
  returned: when O(pod_routes) is given
  type: dict
  sample: {changed: false, before: [], after: [], changes: []}
tunnel:
  description:
    - The result of the O(tunnel) section, shaped as M(podnet.calico.calico_tunnel)'s, without its diff.
  returned: when O(tunnel) is given
  type: dict
  sample: {changed: false, before: [], after: [], changes: []}
routes:
  description:
    - The result of the O(routes) section, shaped as M(podnet.calico.calico_route)'s, without its diff.
  returned: when O(routes) is given
  type: dict
  sample: {changed: false, before: [], after: [], changes: []}
bird_running:
  description:
    - Whether a BIRD daemon greeted on O(bird_socket).
  returned: when O(bird_socket) is given and the run succeeded
  type: bool
  sample: false
bird_status:
  description:
    - BIRD's greeting without its reply code when RV(bird_running) is true, otherwise what was found instead
      (no socket, a socket that nobody listens on, another greeting).
  returned: when O(bird_socket) is given and the run succeeded
  type: str
  sample: BIRD 2.0.12 ready.
not_undone:
  description:
    - On failure, the changes of this run that could not be undone (empty when all were), any section.
  returned: failure
  type: list
  elements: str
  sample: []
diff:
  description:
    - One entry per section that changed something, with headers naming the section; C(before) and C(after)
      are the changed objects keyed as in the single module's diff. A sysctl file that changes gets an entry
      of its own with its old and new text.
  returned: when diff mode is on
  type: list
  elements: dict
  sample:
    - before_header: routes (before)
      after_header: routes (after)
      before: {10.65.0.0/26 table 254 metric 0: null}
      after: {10.65.0.0/26 table 254 metric 0: {dst: 10.65.0.0/26, type: blackhole}}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.podnet.calico.plugins.module_utils._ansible import (
    proxy_arp_spec, require_netlink, resource_options, route_spec, run_engine, tunnel_spec, veth_spec,
)
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._base import NETNS_ARGUMENT_SPEC
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._bird import bird_answers
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._node import (
    NETLINK_SECTIONS, SECTIONS, NodeDataplane,
)


def section(config_options, extra=None, config_kwargs=None):
    """A section's spec: state, force, config (and ``extra``), as the single module's."""
    return dict(type='dict', options=resource_options(config_options, extra, config_kwargs))


def argument_spec():
    spec = dict(NETNS_ARGUMENT_SPEC)
    spec.update(
        forwarding=dict(type='dict', options=dict(
            ip_forward=dict(type='bool', default=True),
            sysctl_file=dict(type='path'),
        )),
        veths=section(**veth_spec()),
        proxy_arp=section(**proxy_arp_spec()),
        pod_routes=section(**route_spec()),
        tunnel=section(**tunnel_spec()),
        routes=section(**route_spec()),
        bird_socket=dict(type='path'),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    if any(p[name] is not None for name in NETLINK_SECTIONS):
        require_netlink(module)

    def run(engine):
        result = engine.run(dict((name, p[name]) for name in SECTIONS))
        if p['bird_socket']:
            result['bird_running'], result['bird_status'] = bird_answers(p['bird_socket'])
        return result

    run_engine(module, lambda cache: NodeDataplane(p['netns'], module.check_mode, cache), run=run)


if __name__ == '__main__':
    main()
