#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: calico_ipam
short_description: Assign and release pod addresses the way Calico IPAM does
version_added: 0.1.0
description:
  - Gives a handle (a pod, usually C(<namespace>.<pod>)) one IPv4 address from an IP pool on a
    node, with Calico's IPAM rules, or releases the addresses of handles.
  - The pool is cut into blocks of O(block_size) bits. A node claims a block (affinity
    C(host:<node>)) and hands out its addresses in Calico's order (the head of the block's free
    list, lowest first in a new block). When the node's blocks are full it claims the lowest
    free block of the pool; when the pool has no free block it borrows an address from another
    node's block, unless O(strict_affinity=true).
  - The IPPool resource is created when no pool with the CIDR O(pool) exists yet.
  - Every write is a compare-and-swap on the record's revision (block, handle and affinity in one
    transaction), retried on conflict, so several runs in parallel never hand out an address twice.
  - Records use Calico's etcdv3 keys and JSON (see the collection's C(docs/ipam.md)), in SQLite by
    default or in etcd.
author:
  - podnet.calico contributors (@podnet)
extends_documentation_fragment:
  - podnet.calico.attributes
  - podnet.calico.datastore
attributes:
  check_mode:
    support: full
    details: The answer (the address a handle would get) is computed from the datastore and nothing is written.
  diff_mode:
    support: full
  platform:
    platforms: posix
options:
  pool:
    description:
      - The IP pool, an IPv4 CIDR such as V(10.244.0.0/16). Required with O(state=present).
      - With O(state=absent) and O(live_handles) or only O(node), limits the release to this pool.
    type: str
  block_size:
    description:
      - Prefix length of the pool's blocks, from the pool's own prefix length up to 32.
      - Used when the pool is created; a new pool gets V(26) when this is not given.
        When the pool exists, a value that differs from its block size is an error.
    type: int
  node:
    description:
      - The node (Calico's host name) the address is for; its blocks are used first.
      - Required with O(state=present).
      - With O(state=absent) and neither O(handle), O(handles) nor O(live_handles), releases the
        node's empty blocks and their affinities (what happens when a node leaves the cluster).
      - With O(live_handles), limits the leak release to addresses of this node.
    type: str
  handle:
    description:
      - The handle that owns the address, for example V(default.nginx) (C(<namespace>.<pod>)) or
        C(<network>.<container id>).
    type: str
  handles:
    description:
      - Several handles in one task, each assigned (O(state=present)) or released (O(state=absent))
        as if given to O(handle) one after the other. Cheaper than a loop over O(handle).
      - If one assignment fails, the addresses this task assigned before it are released again.
    type: list
    elements: dict
    suboptions:
      handle:
        description: The handle.
        type: str
        required: true
      ip:
        description: A specific address for this handle, as O(ip).
        type: str
      attributes:
        description: Attributes for this handle, merged over O(attributes).
        type: dict
  ip:
    description:
      - Ask for this address. It must be inside O(pool) and free, or already held by O(handle).
      - Its block is claimed for O(node) when nobody has claimed it yet.
    type: str
  attributes:
    description:
      - Attributes stored with the address (Calico's C(secondary) attributes), for example
        C(namespace) and C(pod). C(node) is added from O(node) when absent. Values are strings.
    type: dict
  strict_affinity:
    description:
      - Never borrow addresses from blocks of other nodes; fail when the node's blocks are full and
        the pool has no free block. New blocks are marked C(strictAffinity).
    type: bool
    default: false
  live_handles:
    description:
      - With O(state=absent), release every assigned handle that is not in this list (leaked
        addresses, as C(calicoctl ipam check) reports them). An empty list releases every handle.
    type: list
    elements: str
  state:
    description:
      - V(present) assigns one address to each handle (nothing changes when it holds one already).
      - V(absent) releases the addresses of the handles; a block left empty and without affinity is deleted.
    type: str
    choices: [present, absent]
    default: present
notes:
  - A handle holds one address through this module. The same handle again returns the same address
    with C(changed=false).
seealso:
  - module: podnet.calico.calico_ipam_info
'''

EXAMPLES = r'''
- name: Give pod default/nginx an address on node1 (SQLite datastore on the controller)
  podnet.calico.calico_ipam:
    sqlite_path: /var/lib/podnet-lab/ipam.sqlite
    pool: 10.244.0.0/16
    node: node1
    handle: default.nginx
    attributes:
      namespace: default
      pod: nginx
  delegate_to: localhost
  register: nginx_ip

- name: Use the address
  ansible.builtin.debug:
    msg: "nginx has {{ nginx_ip.ip }} from block {{ nginx_ip.block }}"

- name: Assign the addresses of all pods of a node in one task
  podnet.calico.calico_ipam:
    pool: 10.244.0.0/16
    node: node2
    handles:
      - handle: default.web-1
      - handle: default.web-2
      - handle: kube-system.dns
        ip: 10.244.0.10
  delegate_to: localhost

- name: Assign from a real Calico etcd datastore with client certificates
  podnet.calico.calico_ipam:
    datastore: etcd
    etcd_endpoints:
      - https://10.0.0.11:2379
      - https://10.0.0.12:2379
    etcd_ca_cert: /etc/calico/certs/ca.pem
    etcd_cert: /etc/calico/certs/client.pem
    etcd_key: /etc/calico/certs/client-key.pem
    pool: 192.168.0.0/16
    node: worker-3
    handle: k8s-pod-network.4f1c2a
    strict_affinity: true

- name: Release the pod's address
  podnet.calico.calico_ipam:
    pool: 10.244.0.0/16
    handle: default.nginx
    state: absent
  delegate_to: localhost

- name: Release leaked addresses of node1 (handles of pods that no longer exist)
  podnet.calico.calico_ipam:
    node: node1
    live_handles: "{{ running_pods | map('regex_replace', '/', '.') | list }}"
    state: absent
  delegate_to: localhost

- name: Node node3 left the cluster; release its empty blocks
  podnet.calico.calico_ipam:
    node: node3
    state: absent
  delegate_to: localhost
'''

RETURN = r'''
ip:
  description: The address of O(handle), without prefix length.
  returned: O(state=present) with O(handle)
  type: str
  sample: 10.244.0.3
block:
  description: The block (CIDR) the address comes from.
  returned: O(state=present) with O(handle)
  type: str
  sample: 10.244.0.0/26
handle:
  description: The handle.
  returned: when O(handle) is given
  type: str
  sample: default.nginx
node:
  description: The node.
  returned: O(state=present)
  type: str
  sample: node1
claimed_block:
  description: Whether the assignment claimed a new block for the node.
  returned: O(state=present) with O(handle)
  type: bool
  sample: false
borrowed:
  description: Whether the address comes from a block that is not affine to the node.
  returned: O(state=present) with O(handle)
  type: bool
  sample: false
assignments:
  description: One entry per handle, in order, for O(state=present).
  returned: O(state=present)
  type: list
  elements: dict
  contains:
    handle:
      description: The handle.
      type: str
    ip:
      description: Its address.
      type: str
    block:
      description: The address's block.
      type: str
    changed:
      description: Whether this handle got its address in this run.
      type: bool
  sample:
    - {handle: default.nginx, ip: 10.244.0.3, block: 10.244.0.0/26, changed: true}
released:
  description: The handles released (or that would be released in check mode) with their addresses.
  returned: O(state=absent)
  type: list
  elements: dict
  contains:
    handle:
      description: The handle.
      type: str
    ips:
      description: The addresses it held.
      type: list
      elements: str
  sample:
    - {handle: default.nginx, ips: [10.244.0.3]}
released_blocks:
  description: Blocks deleted because they were left empty (and, for O(node) alone, their affinities).
  returned: O(state=absent)
  type: list
  elements: str
  sample: [10.244.0.64/26]
kept_blocks:
  description: With O(state=absent) and only O(node), the node's blocks that still hold addresses and were kept.
  returned: O(state=absent) with only O(node)
  type: list
  elements: str
  sample: [10.244.0.0/26]
leaks:
  description: With O(live_handles), the assigned handles that were not live.
  returned: O(state=absent) with O(live_handles)
  type: list
  elements: dict
  sample:
    - {handle: default.old-pod, ips: [10.244.0.7], nodes: [node1], blocks: [10.244.0.0/26], has_record: true}
'''

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.podnet.calico.plugins.module_utils.ipam._allocator import Allocator
from ansible_collections.podnet.calico.plugins.module_utils.ipam._datastore import (
    DATASTORE_ARGUMENT_SPEC, DATASTORE_REQUIRED_IF, DATASTORE_REQUIRED_TOGETHER, open_store, store_params)
from ansible_collections.podnet.calico.plugins.module_utils.ipam._etcd import ETCD3GW_IMPORT_ERROR
from ansible_collections.podnet.calico.plugins.module_utils.ipam._model import IPAMError, check_handle, check_node
from ansible_collections.podnet.calico.plugins.module_utils.ipam._store import OverlayStore, StoreError


def argument_spec():
    spec = dict(
        pool=dict(type='str'),
        block_size=dict(type='int'),
        node=dict(type='str'),
        handle=dict(type='str'),
        handles=dict(type='list', elements='dict', options=dict(
            handle=dict(type='str', required=True),
            ip=dict(type='str'),
            attributes=dict(type='dict'),
        )),
        ip=dict(type='str'),
        attributes=dict(type='dict'),
        strict_affinity=dict(type='bool', default=False),
        live_handles=dict(type='list', elements='str'),
        state=dict(type='str', default='present', choices=['present', 'absent']),
    )
    spec.update(DATASTORE_ARGUMENT_SPEC)
    return spec


class IPAMRequest(object):
    """The module's parameters, checked before anything is read or written."""

    def __init__(self, params):
        self.params = params
        self.state = params['state']
        self.pool = params['pool']
        self.node = params['node']
        self.items = []
        if params['handle'] is not None:
            self.items.append({'handle': params['handle'], 'ip': params['ip'],
                               'attributes': params['attributes'], 'option': 'handle'})
        for i, item in enumerate(params['handles'] or []):
            attrs = dict(params['attributes'] or {})
            attrs.update(item.get('attributes') or {})
            self.items.append({'handle': item['handle'], 'ip': item.get('ip'), 'attributes': attrs,
                               'option': 'handles[%d].handle' % i})
        for item in self.items:
            check_handle(item['handle'], item['option'])
        if self.node is not None:
            check_node(self.node)
        if self.state == 'present':
            for item in self.items:
                Allocator.check_ip(item['ip'], self.pool)
        elif self.pool is not None:
            Allocator.check_ip(None, self.pool)


def present(alloc, req, params):
    results = []
    done = []
    try:
        for item in req.items:
            res = alloc.assign(item['handle'], req.node, req.pool, block_size=params['block_size'],
                               ip=item['ip'], attributes=item['attributes'],
                               strict_affinity=params['strict_affinity'])
            results.append(res)
            if res['changed']:
                done.append(item['handle'])
    except (IPAMError, StoreError):
        for handle in done:
            try:
                alloc.release(handle)
            except (IPAMError, StoreError):
                pass
        raise
    out = {'changed': any(r['changed'] for r in results), 'node': req.node,
           'assignments': [dict((k, r[k]) for k in ('handle', 'ip', 'block', 'changed')) for r in results]}
    if req.params['handle'] is not None:
        first = results[0]
        out.update(ip=first['ip'], block=first['block'], handle=first['handle'],
                   claimed_block=first['claimed_block'], borrowed=first['borrowed'])
    before = dict((r['handle'], r['ip']) for r in results if not r['changed'])
    after = dict((r['handle'], r['ip']) for r in results)
    out['diff'] = {'before': {'assignments': before}, 'after': {'assignments': after}}
    return out


def absent(alloc, req, params):
    if req.items:
        released = []
        deleted = []
        for item in req.items:
            res = alloc.release(item['handle'])
            if res['changed']:
                released.append({'handle': item['handle'], 'ips': res['ips']})
                deleted.extend(res['deleted_blocks'])
        out = {'changed': bool(released), 'released': released, 'released_blocks': sorted(set(deleted))}
        if params['handle'] is not None:
            out['handle'] = params['handle']
    elif params['live_handles'] is not None:
        res = alloc.release_leaks(params['live_handles'], node=req.node, pool=req.pool)
        out = {'changed': res['changed'], 'released': res['released'], 'leaks': res['leaks'],
               'released_blocks': []}
    else:
        res = alloc.release_node_blocks(req.node, pool=req.pool)
        out = {'changed': res['changed'], 'released': [], 'released_blocks': res['released_blocks'],
               'kept_blocks': res['kept_blocks']}
        out['diff'] = {'before': {'blocks': res['released_blocks'] + res['kept_blocks']},
                       'after': {'blocks': res['kept_blocks']}}
        return out
    out['diff'] = {'before': {'assignments': dict((r['handle'], r['ips']) for r in out['released'])},
                   'after': {'assignments': {}}}
    return out


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        mutually_exclusive=[('handle', 'handles'), ('handle', 'live_handles'), ('handles', 'live_handles'),
                            ('ip', 'handles')],
        required_if=[
            ('state', 'present', ('pool', 'node')),
            ('state', 'present', ('handle', 'handles'), True),
            ('state', 'absent', ('handle', 'handles', 'live_handles', 'node'), True),
        ] + DATASTORE_REQUIRED_IF,
        required_together=DATASTORE_REQUIRED_TOGETHER,
    )
    params = module.params
    if params['datastore'] == 'etcd' and ETCD3GW_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib('etcd3gw'), exception=''.join(
            traceback.format_exception(type(ETCD3GW_IMPORT_ERROR), ETCD3GW_IMPORT_ERROR,
                                       ETCD3GW_IMPORT_ERROR.__traceback__)))
    store = None
    result = {}
    try:
        req = IPAMRequest(params)
        store = open_store(read_only=module.check_mode, **store_params(params))
        if module.check_mode:
            store = OverlayStore(store)
        alloc = Allocator(store)
        result = present(alloc, req, params) if req.state == 'present' else absent(alloc, req, params)
    except (IPAMError, StoreError) as exc:
        module.fail_json(msg=str(exc), option=exc.option)
    finally:
        if store is not None:
            store.close()
    if not module._diff:
        result.pop('diff', None)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
