#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: calico_ipam_info
short_description: Report Calico IPAM pools, blocks, handles and leaked addresses
version_added: 0.1.0
description:
  - Reads the IPAM records that M(podnet.calico.calico_ipam) (or Calico itself, in an etcd datastore)
    keeps and reports the IP pools, the blocks with their affinity and use, and the handles with
    their addresses.
  - Given O(live_handles), also reports the leaks, the assigned handles that are not live,
    as C(calicoctl ipam check) does. M(podnet.calico.calico_ipam) with O(podnet.calico.calico_ipam#module:live_handles)
    and O(podnet.calico.calico_ipam#module:state=absent) releases them.
  - Reads only, and opens the datastore read-only (a SQLite file is not switched to WAL and gets no
    table); a SQLite file that does not exist, or is empty, reads as empty. A SQLite database of
    another application is refused.
author:
  - podnet.calico contributors (@podnet)
extends_documentation_fragment:
  - podnet.calico.attributes
  - podnet.calico.attributes.posix
  - podnet.calico.datastore
  - podnet.calico.ipam_report
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: none
options:
  live_handles:
    description:
      - The handles that are in use (for pods, C(<namespace>.<pod>)). Every assigned handle not in
        this list is reported in RV(leaks).
    type: list
    elements: str
  check:
    description:
      - Also check the whole datastore for consistency and report it in RV(check) (every address has
        its handle record and the reverse, no address twice, affinities and blocks agree, no corrupt
        record). Reads only; M(podnet.calico.calico_ipam) with
        O(podnet.calico.calico_ipam#module:live_handles) releases leaks, C(playbooks/ipam_audit.yml) wraps both.
    type: bool
    default: false
'''

EXAMPLES = r'''
- name: Read the IPAM state of the lab
  podnet.calico.calico_ipam_info:
    sqlite_path: /var/lib/podnet-lab/ipam.sqlite
  delegate_to: localhost
  register: ipam

- name: Show how full each block is
  ansible.builtin.debug:
    msg: "{{ item.cidr }} ({{ item.affinity }}): {{ item.used }} used, {{ item.free }} free"
  loop: "{{ ipam.blocks }}"

- name: Find leaked addresses in a real Calico etcd datastore
  podnet.calico.calico_ipam_info:
    datastore: etcd
    etcd_endpoints: [https://10.0.0.11:2379]
    etcd_ca_cert: /etc/calico/certs/ca.pem
    etcd_cert: /etc/calico/certs/client.pem
    etcd_key: /etc/calico/certs/client-key.pem
    live_handles: "{{ pods | map(attribute='handle') | list }}"
  register: audit

- name: Check the datastore's consistency, as calicoctl ipam check does
  podnet.calico.calico_ipam_info:
    sqlite_path: /var/lib/podnet-lab/ipam.sqlite
    check: true
  delegate_to: localhost
  register: ipam_check

- name: Fail on an inconsistent datastore
  ansible.builtin.assert:
    that: ipam_check.check.ok
    fail_msg: "{{ ipam_check.check.problems }}"

- name: Fail when addresses leaked
  ansible.builtin.assert:
    that: audit.leaks | length == 0
    fail_msg: "leaked: {{ audit.leaks | map(attribute='handle') | join(', ') }}"
'''

RETURN = r'''
pools:
  description: The IP pools.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the IPPool resource.
      type: str
    cidr:
      description: The pool's CIDR.
      type: str
    block_size:
      description: Prefix length of its blocks.
      type: int
    ipip_mode:
      description: C(ipipMode) of the pool.
      type: str
    vxlan_mode:
      description: C(vxlanMode) of the pool.
      type: str
    nat_outgoing:
      description: C(natOutgoing) of the pool.
      type: bool
    disabled:
      description: Whether the pool is disabled.
      type: bool
    node_selector:
      description: The pool's node selector.
      type: str
    allowed_uses:
      description: The pool's C(allowedUses).
      type: list
      elements: str
  sample:
    - {name: podnet-ipv4-10-244-0-0-16, cidr: 10.244.0.0/16, block_size: 26, ipip_mode: Never,
       vxlan_mode: Never, nat_outgoing: false, disabled: false, node_selector: all()}
blocks:
  description: The allocation blocks.
  returned: always
  type: list
  elements: dict
  contains:
    cidr:
      description: The block.
      type: str
    affinity:
      description: Calico's affinity string, C(host:<node>), or null for a block without affinity.
      type: str
    node:
      description: The node the block is affine to, or null.
      type: str
    used:
      description: Addresses assigned.
      type: int
    free:
      description: Addresses free.
      type: int
  sample:
    - {cidr: 10.244.0.0/26, affinity: "host:node1", node: node1, used: 3, free: 61}
config:
  description:
    - Calico's cluster-wide IPAMConfig (C(/calico/ipam/v2/config)), with Calico's defaults when the record is absent.
  returned: always
  type: dict
  sample: {strict_affinity: false, auto_allocate_blocks: true, max_blocks_per_host: 0}
check:
  description:
    - With O(check=true), the consistency check of the whole datastore, as C(calicoctl ipam check) does it.
    - C(ok) is true when nothing is wrong (and, given O(live_handles), nothing leaked); C(problems)
      lists each inconsistency with a C(kind) (C(corrupt_record), C(address_twice), C(block_outside_pools),
      C(allocation_without_handle), C(missing_handle_record), C(handle_count_mismatch),
      C(empty_handle_record), C(affinity_without_block), C(block_without_affinity), C(affinity_mismatch));
      C(leaks) the assigned handles not in O(live_handles); C(counts) the records read.
  returned: O(check=true)
  type: dict
  sample: {ok: true, problems: [], counts: {pools: 1, blocks: 2, handles: 5, addresses: 5}}
handles:
  description: The handles that hold addresses.
  returned: always
  type: list
  elements: dict
  contains:
    handle:
      description: The handle.
      type: str
    ips:
      description: Its addresses.
      type: list
      elements: str
    nodes:
      description: The nodes of those addresses (attribute C(node), else the block's affinity).
      type: list
      elements: str
    blocks:
      description: The blocks of those addresses.
      type: list
      elements: str
    has_record:
      description: Whether the handle record exists (false means the addresses are orphans).
      type: bool
  sample:
    - {handle: default.nginx, ips: [10.244.0.3], nodes: [node1], blocks: [10.244.0.0/26], has_record: true}
leaks:
  description: The entries of RV(handles) whose handle is not in O(live_handles).
  returned: when O(live_handles) is given
  type: list
  elements: dict
  sample:
    - {handle: default.gone, ips: [10.244.0.9], nodes: [node1], blocks: [10.244.0.0/26], has_record: true}
problems:
  description:
    - Inconsistencies between records, for example a handle record whose blocks hold no address for it
      (C(kind=handle_without_addresses)) or addresses whose attributes name no handle (C(kind=addresses_without_handle)).
  returned: always
  type: list
  elements: dict
  sample: []
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.podnet.calico.plugins.module_utils.ipam._datastore import (
    DATASTORE_ARGUMENT_SPEC, DATASTORE_REQUIRED_IF, DATASTORE_REQUIRED_TOGETHER)
from ansible_collections.podnet.calico.plugins.module_utils.ipam._info import INFO_ARGUMENT_SPEC, read
from ansible_collections.podnet.calico.plugins.module_utils.ipam._model import IPAMError
from ansible_collections.podnet.calico.plugins.module_utils.ipam._store import StoreError


def main():
    spec = dict(INFO_ARGUMENT_SPEC)
    spec.update(DATASTORE_ARGUMENT_SPEC)
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           required_if=DATASTORE_REQUIRED_IF, required_together=DATASTORE_REQUIRED_TOGETHER)
    try:
        result = read(module.params)
    except (IPAMError, StoreError) as exc:
        module.fail_json(msg=str(exc), option=exc.option)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
