#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: lab_probe
short_description: Probe a lab node and its pods and read their data plane, in one run
version_added: 1.1.0
description:
  - What the lab's verify looks at on a node, in one module run on the node (it took a shell probe and
    a M(podnet.calico.calico_dataplane_info) run).
  - From each pod of O(pods), pings every address of O(ips) but the pod's own once (from one shell in
    the pod's namespace, all pings at once, one second timeout each) and sends one ARP request for the pods' gateway
    V(169.254.1.1) (C(arping) on C(eth0)); on the node, lists the addresses (C(ip -j addr show)).
    RV(stdout) holds their output in the text the lab's observations read.
  - Then reads the node's data plane and every pod's, as M(podnet.calico.calico_dataplane_info) does with
    O(podnet.calico.calico_dataplane_info#module:kind=node) and the pods' namespaces in
    O(podnet.calico.calico_dataplane_info#module:pod_netns).
  - Reads only; changes nothing (an ARP request and pings are sent).
  - Runs in the namespaces of the node it runs on (a lab node, reached over SSH).
extends_documentation_fragment:
  - podnet.calico.attributes
  - podnet.calico.attributes.linux
options:
  pods:
    description:
      - The node's pods.
    type: list
    elements: dict
    default: []
    suboptions:
      netns:
        description: The pod's network namespace (a name under C(/run/netns)).
        type: str
        required: true
      ip:
        description: The pod's address, which its own pings skip.
        type: str
  ips:
    description:
      - The addresses every pod pings (normally every pod's address in the lab).
    type: list
    elements: str
    default: []
requirements:
  - pyroute2 >= 0.7.2 on the target (Debian 12's C(python3-pyroute2) or C(pip install pyroute2)).
  - C(ip) (iproute2), C(ping) and C(arping) on the target.
attributes:
  check_mode:
    support: full
    details: The module never changes anything; it runs in check mode as it does otherwise.
  diff_mode:
    support: N/A
seealso:
  - module: podnet.calico.calico_dataplane_info
  - name: The lab
    description: The lab's verify (docs/lab.md).
    link: https://github.com/podnet/calico/blob/main/docs/lab.md
author:
  - podnet.calico contributors (@podnet)
'''

EXAMPLES = r'''
- name: Probe the node and its two pods and read their data plane
  podnet.calico.lab_probe:
    pods:
      - {netns: node1-pod1, ip: 10.244.10.1}
      - {netns: node1-pod2, ip: 10.244.10.2}
    ips: [10.244.10.1, 10.244.10.2, 10.244.20.1, 10.244.20.2]
  register: probe
  # BGP routes may still be converging right after the lab is built.
  until: probe.stdout is not search(' fail$', multiline=True)
  retries: 5
  delay: 2
'''

RETURN = r'''
stdout:
  description:
    - The probe's output. C(== ping) with one line C(<pod netns> <ip> ok|fail) per ping, C(== addresses)
      with the JSON of C(ip -j addr show), and C(== arp <pod netns>) with C(arping)'s output for each pod.
  returned: always
  type: str
  sample: "== ping\nnode1-pod1 10.244.20.1 ok\n== addresses\n[]\n\n== arp node1-pod1\nUnicast reply from 169.254.1.1 [EE:EE:EE:EE:EE:EE]  0.1ms\n"
dataplane:
  description: The node's data plane, as M(podnet.calico.calico_dataplane_info) returns it for a node.
  returned: always
  type: dict
  sample: {netns: null, kind: node, interfaces: [], workload_routes: [], block_routes: {}, default_routes: [], tunnels: []}
pods:
  description: The pods' data plane, in the order of O(pods), each as M(podnet.calico.calico_dataplane_info) returns a pod.
  returned: always
  type: list
  elements: dict
  sample: [{netns: node1-pod1, kind: pod, interfaces: [], routes: [], gateway_neighbour: null}]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.podnet.calico.plugins.module_utils._ansible import require_netlink, run_reader
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._info import gather
from ansible_collections.podnet.calico.plugins.module_utils.lab._probe import ProbeError, probe


def main():
    module = AnsibleModule(
        argument_spec=dict(
            pods=dict(type='list', elements='dict', default=[], options=dict(
                netns=dict(type='str', required=True),
                ip=dict(type='str'),
            )),
            ips=dict(type='list', elements='str', default=[]),
        ),
        supports_check_mode=True,
    )
    require_netlink(module)
    p = module.params
    try:
        text = probe(p['pods'], p['ips'], lambda argv: module.run_command(argv, expand_user_and_vars=False))
    except ProbeError as exc:
        module.fail_json(msg='lab_probe: %s' % exc)

    def read(cache):
        node, pods = gather(None, 'node', [pod['netns'] for pod in p['pods']], cache)
        return {'stdout': text, 'dataplane': node, 'pods': pods}
    run_reader(module, read)


if __name__ == '__main__':
    main()
