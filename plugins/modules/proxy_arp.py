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
  - The values are read and written in C(/proc/sys/net) of the namespace O(netns).
  - The node only answers for C(169.254.1.1) while it has a route to that address that leaves by another
    interface, normally its default route. Without one, pods lose their gateway.
  - Interfaces named C(cali*) are the ones this module owns for O(state=overridden) and for
    O(state=deleted) with an empty O(config).
extends_documentation_fragment:
  - podnet.calico.attributes
  - podnet.calico.netns
options:
  state:
    description:
      - V(merged) sets the listed values on every matching interface.
      - V(overridden) does the same and resets every other C(cali*) interface's IPv4 settings to the
        namespace defaults (C(net.ipv4.conf.default.*), C(net.ipv4.neigh.default.proxy_delay)).
      - V(deleted) resets the matching interfaces (all C(cali*) interfaces when O(config) is empty) to
        the namespace defaults.
      - V(gathered) changes nothing and returns the current values of the matching interfaces (all
        C(cali*) interfaces when O(config) is empty).
    type: str
    choices: [merged, overridden, deleted, gathered]
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
          - C(net.ipv4.conf.<if>.proxy_arp). Defaults to V(true) (Calico's value) with O(state=merged) and
            O(state=overridden).
        type: bool
      proxy_delay:
        description:
          - C(net.ipv4.neigh.<if>.proxy_delay) in hundredths of a second. Defaults to V(0) (Calico's value)
            with O(state=merged) and O(state=overridden).
        type: int
      forwarding:
        description:
          - C(net.ipv4.conf.<if>.forwarding). Defaults to V(true) (Calico's value) with O(state=merged) and
            O(state=overridden).
        type: bool
      proxy_ndp:
        description:
          - C(net.ipv6.conf.<if>.proxy_ndp); left alone when not set.
        type: bool
      accept_ra:
        description:
          - C(net.ipv6.conf.<if>.accept_ra) (0, 1 or 2); left alone when not set.
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
interfaces:
  description:
    - One entry per matching interface. With O(state=gathered) the values are at the top level of
      each entry; otherwise C(before) and C(after) hold them.
  returned: always
  type: list
  elements: dict
  contains:
    ifname:
      description: Interface name.
      type: str
      sample: cali8e807cde39b
    before:
      description: Values before the task.
      type: dict
      returned: unless state is gathered
      sample: {proxy_arp: false, proxy_delay: 80, forwarding: false}
    after:
      description: Values after the task (predicted in check mode).
      type: dict
      returned: unless state is gathered
      sample: {proxy_arp: true, proxy_delay: 0, forwarding: true}
    changed:
      description: Whether this interface changed.
      type: bool
      returned: unless state is gathered
      sample: true
    proxy_arp:
      description: Current proxy_arp.
      type: bool
      returned: when state is gathered
      sample: true
    proxy_delay:
      description: Current proxy_delay.
      type: int
      returned: when state is gathered
      sample: 0
    forwarding:
      description: Current forwarding.
      type: bool
      returned: when state is gathered
      sample: true
diff:
  description: Before and after values of the changed interfaces.
  returned: when diff mode is on and state is not gathered
  type: dict
  sample:
    before: {cali8e807cde39b: {proxy_arp: false}}
    after: {cali8e807cde39b: {proxy_arp: true}}
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.podnet.calico.plugins.module_utils._netlink import (
    HAS_PYROUTE2, PYROUTE2_IMPORT_ERROR,
)
from ansible_collections.podnet.calico.plugins.module_utils._dp_common import (
    NETNS_ARGUMENT_SPEC, STATE_ARGUMENT_SPEC, run_resource_module,
)
from ansible_collections.podnet.calico.plugins.module_utils._dp_proxyarp import ProxyArpManager


def main():
    argument_spec = dict(NETNS_ARGUMENT_SPEC)
    argument_spec.update(STATE_ARGUMENT_SPEC)
    argument_spec['config'] = dict(
        type='list', elements='dict', default=[],
        options=dict(
            interface=dict(type='str', required=True),
            proxy_arp=dict(type='bool'),
            proxy_delay=dict(type='int'),
            forwarding=dict(type='bool'),
            proxy_ndp=dict(type='bool'),
            accept_ra=dict(type='int'),
        ),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not HAS_PYROUTE2:
        module.fail_json(msg=missing_required_lib('pyroute2'), exception=PYROUTE2_IMPORT_ERROR)

    run_resource_module(module, lambda cache: ProxyArpManager(module.params['netns'], module.check_mode, cache))


if __name__ == '__main__':
    main()
