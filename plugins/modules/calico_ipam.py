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
  - podnet.calico.attributes.full
  - podnet.calico.attributes.posix
  - podnet.calico.datastore
attributes:
  check_mode:
    details: The answer (the address a handle would get) is computed from the datastore and nothing is written.
options:
  pool:
    description:
      - The IP pool, an IPv4 CIDR such as V(10.244.0.0/16). Required with O(state=merged).
      - With O(state=deleted) and O(live_handles) or only O(node), limits the release to this pool.
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
      - Required with O(state=merged), unless every item of O(handles) names its own node.
      - With O(state=deleted) and neither O(handle), O(handles) nor O(live_handles), releases the
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
      - Several handles in one task, each assigned (O(state=merged)) or released (O(state=deleted))
        as if given to O(handle) one after the other. Cheaper than a loop over O(handle).
      - If one assignment fails, the addresses this task assigned before it are released again, and
        only those (a handle that already held its address keeps it); a pool this task created is deleted
        again when no block is left in it. When that undo cannot finish (the datastore became
        unreachable), the error lists the handles that stay assigned in RV(not_undone).
      - Items may name their own node (O(handles[].node)), for example one tunnel address for each node
        of a play in one task. The items are then assigned node by node (in the order each node first
        appears), and the undo above applies to the node whose assignment failed; the handles of the
        nodes done before it keep their addresses, as they would after one task per node, and the
        error names them.
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
      node:
        description:
          - The node this handle's address is for (O(state=merged) only), instead of O(node).
        type: str
        version_added: 1.1.0
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
        the pool has no free block.
      - Strict affinity is also on, whatever this option says, when the cluster-wide IPAMConfig
        (C(/calico/ipam/v2/config), C(strict_affinity)) says so, as Calico's own allocator does. The
        same record's C(auto_allocate_blocks) and C(maxBlocksPerHost) are honoured too.
      - Blocks carry no strict affinity flag (Calico's AllocationBlock has none).
    type: bool
    default: false
  ipip_mode:
    description:
      - C(ipipMode) of the IP pool when this task creates it (Calico's default V(Never)).
      - When the pool exists, a value that differs from the pool's is an error (the module never changes a pool).
    type: str
    choices: [Never, Always, CrossSubnet]
  vxlan_mode:
    description:
      - C(vxlanMode) of the IP pool when this task creates it (Calico's default V(Never)); not together
        with an O(ipip_mode) other than V(Never). Checked against an existing pool as O(ipip_mode).
    type: str
    choices: [Never, Always, CrossSubnet]
  nat_outgoing:
    description:
      - C(natOutgoing) of the IP pool when this task creates it (Calico's default V(false)).
        Checked against an existing pool as O(ipip_mode).
    type: bool
  node_selector:
    description:
      - C(nodeSelector) of the IP pool when this task creates it (Calico's default V(all(\))).
        Checked against an existing pool as O(ipip_mode).
      - The supported forms are V(all(\)), C(key == 'value'), C(key != 'value'), C(has(key\)),
        C(!has(key\)), joined with C(&&). Other selectors are refused with an error.
    type: str
  node_labels:
    description:
      - The labels of O(node), to evaluate the pool's C(nodeSelector). Calico never assigns from a pool
        whose selector does not match the node, nor from a disabled pool; both are errors here.
      - Without it the node has no labels, so only selectors such as V(all(\)) match.
    type: dict
  live_handles:
    description:
      - With O(state=deleted), release every assigned handle that is not in this list (leaked
        addresses, as C(calicoctl ipam check) reports them). An empty list releases every handle.
    type: list
    elements: str
  state:
    description:
      - V(merged) assigns one address to each handle (nothing changes when it holds one already).
      - V(deleted) releases the addresses of the handles; a block left empty and without affinity is deleted.
      - V(gathered) reads the addresses of the handles (or, without handles, of every handle of O(node)
        and O(pool)) into RV(gathered) and writes nothing; the datastore is opened read-only.
      - V(present) and V(absent) are the former names of V(merged) and V(deleted) and mean the same.
    type: str
    choices: [merged, deleted, gathered, present, absent]
    default: merged
notes:
  - A handle holds one address through this module. The same handle again returns the same address
    with C(changed=false). A handle that holds an address outside O(pool) is an error (release it first);
    the module never answers with an address of another pool.
  - Check mode opens the datastore read-only (a SQLite file is neither switched to WAL nor given tables)
    and computes the answers in memory. A SQLite file that is not an IPAM datastore of this collection
    (other tables) is refused, never written into.
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
before:
  description: The listed handles' addresses before the task (C(assignments), handle to address).
  returned: O(state=merged) and O(state=deleted) with handles
  type: dict
  sample: {assignments: {default.web: null}}
after:
  description: The same after the task (in check mode, as it would be).
  returned: O(state=merged) and O(state=deleted) with handles
  type: dict
  sample: {assignments: {default.web: 10.244.0.3}}
changes:
  description: What the task changed (or would change, in check mode), one sentence each.
  returned: always
  type: list
  elements: str
  sample: ["created IP pool podnet-ipv4-10-244-0-0-16 (10.244.0.0/16)", "assigned 10.244.0.3 to default.web (block 10.244.0.0/26)"]
gathered:
  description: With O(state=gathered), the handles and their addresses.
  returned: O(state=gathered)
  type: list
  elements: dict
  sample: [{handle: default.web, ips: [10.244.0.3], blocks: [10.244.0.0/26]}]
not_undone:
  description: On failure of a batch, the handles this task assigned that could not be released again.
  returned: failure of a batch whose undo could not finish
  type: list
  elements: dict
  sample: [{handle: default.web-1, ip: 10.244.0.4}]
uncertain:
  description: On failure, the handle whose write met an unreachable datastore (it may or may not hold an address).
  returned: failure
  type: list
  elements: str
  sample: [default.web-2]
ip:
  description: The address of O(handle), without prefix length.
  returned: O(state=merged) with O(handle)
  type: str
  sample: 10.244.0.3
block:
  description: The block (CIDR) the address comes from.
  returned: O(state=merged) with O(handle)
  type: str
  sample: 10.244.0.0/26
handle:
  description: The handle.
  returned: when O(handle) is given
  type: str
  sample: default.nginx
node:
  description: The node.
  returned: O(state=merged)
  type: str
  sample: node1
claimed_block:
  description: Whether the assignment claimed a new block for the node.
  returned: O(state=merged) with O(handle)
  type: bool
  sample: false
borrowed:
  description: Whether the address comes from a block that is not affine to the node.
  returned: O(state=merged) with O(handle)
  type: bool
  sample: false
assignments:
  description: One entry per handle, in order, for O(state=merged).
  returned: O(state=merged)
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
    node:
      description: The node the address is for (O(node), or the item's own node).
      type: str
      version_added: 1.1.0
  sample:
    - {handle: default.nginx, ip: 10.244.0.3, block: 10.244.0.0/26, changed: true, node: node1}
released:
  description: The handles released (or that would be released in check mode) with their addresses.
  returned: O(state=deleted)
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
  returned: O(state=deleted)
  type: list
  elements: str
  sample: [10.244.0.64/26]
kept_blocks:
  description: With O(state=deleted) and only O(node), the node's blocks that still hold addresses and were kept.
  returned: O(state=deleted) with only O(node)
  type: list
  elements: str
  sample: [10.244.0.0/26]
leaks:
  description: With O(live_handles), the assigned handles that were not live.
  returned: O(state=deleted) with O(live_handles)
  type: list
  elements: dict
  sample:
    - {handle: default.old-pod, ips: [10.244.0.7], nodes: [node1], blocks: [10.244.0.0/26], has_record: true}
'''

import ipaddress

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.podnet.calico.plugins.module_utils.ipam._allocator import Allocator
from ansible_collections.podnet.calico.plugins.module_utils.ipam._datastore import (
    DATASTORE_ARGUMENT_SPEC, DATASTORE_REQUIRED_IF, DATASTORE_REQUIRED_TOGETHER, open_store, store_params)
from ansible_collections.podnet.calico.plugins.module_utils.ipam._batch import BatchError, assign_batch, release_batch
from ansible_collections.podnet.calico.plugins.module_utils.ipam._model import (
    IPAMError, check_block_size, check_handle, check_node, check_pool_options, parse_pool, parse_selector)
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
            node=dict(type='str'),
        )),
        ip=dict(type='str'),
        attributes=dict(type='dict'),
        strict_affinity=dict(type='bool', default=False),
        ipip_mode=dict(type='str', choices=['Never', 'Always', 'CrossSubnet']),
        vxlan_mode=dict(type='str', choices=['Never', 'Always', 'CrossSubnet']),
        nat_outgoing=dict(type='bool'),
        node_selector=dict(type='str'),
        node_labels=dict(type='dict'),
        live_handles=dict(type='list', elements='str'),
        state=dict(type='str', default='merged', choices=['merged', 'deleted', 'gathered', 'present', 'absent']),
    )
    spec.update(DATASTORE_ARGUMENT_SPEC)
    return spec


STATE_ALIASES = {'present': 'merged', 'absent': 'deleted'}


class IPAMRequest(object):
    """The module's parameters, checked before anything is read or written."""

    def __init__(self, params):
        self.params = params
        self.state = STATE_ALIASES.get(params['state'], params['state'])
        self.pool = params['pool']
        self.node = params['node']
        self.items = []
        if params['handle'] is not None:
            self.items.append({'handle': params['handle'], 'ip': params['ip'],
                               'attributes': params['attributes'], 'option': 'handle', 'node': self.node})
        for i, item in enumerate(params['handles'] or []):
            attrs = dict(params['attributes'] or {})
            attrs.update(item.get('attributes') or {})
            if item.get('node') is not None:
                try:
                    check_node(item['node'])
                except IPAMError as exc:
                    raise IPAMError('handles[%d].%s' % (i, exc), 'handles[%d].node' % i)
            self.items.append({'handle': item['handle'], 'ip': item.get('ip'), 'attributes': attrs,
                               'option': 'handles[%d].handle' % i,
                               'node': item['node'] if item.get('node') is not None else self.node})
        seen = set()
        for item in self.items:
            check_handle(item['handle'], item['option'])
            if item['handle'] in seen:
                raise IPAMError('%s=%s is listed twice' % (item['option'], item['handle']), item['option'])
            seen.add(item['handle'])
        if self.node is not None:
            check_node(self.node)
        self.pool_options = dict((k, params.get(k)) for k in ('ipip_mode', 'vxlan_mode', 'nat_outgoing', 'node_selector'))
        if self.state == 'merged':
            if any(item['node'] is None for item in self.items):
                raise IPAMError('state=merged needs node (or a node on every item of handles)', 'node')
            for item in self.items:
                Allocator.check_ip(item['ip'], self.pool)
            if params['block_size'] is not None:
                check_block_size(parse_pool(self.pool), params['block_size'])
            check_pool_options(self.pool_options['ipip_mode'] or 'Never', self.pool_options['vxlan_mode'] or 'Never')
            if self.pool_options['node_selector'] is not None:
                parse_selector(self.pool_options['node_selector'], 'node_selector')
            labels = params.get('node_labels') or {}
            self.node_labels = dict((str(k), str(v)) for k, v in labels.items())
        elif self.pool is not None:
            Allocator.check_ip(None, self.pool)


def _by_node(items):
    """The items grouped by node, each node in the order it first appears."""
    groups = []
    for item in items:
        for node, group in groups:
            if node == item['node']:
                group.append(item)
                break
        else:
            groups.append((item['node'], [item]))
    return groups


def merged(alloc, req, params):
    results = []
    done = []             # (node, results) of the nodes assigned before a failure
    for node, items in _by_node(req.items):
        try:
            batch = assign_batch(alloc, items, node, req.pool, block_size=params['block_size'],
                                 strict_affinity=params['strict_affinity'], pool_options=req.pool_options,
                                 node_labels=req.node_labels)
        except BatchError as exc:
            if not done:
                raise
            kept = ', '.join('%s %s' % (r['handle'], r['ip']) for _n, rs in done for r in rs if r['changed'])
            raise BatchError('node %s: %s; the handles of the nodes before it (%s) keep their addresses%s'
                             % (node, exc, ', '.join(n for n, _rs in done), ': ' + kept if kept else ''),
                             exc.option, exc.details)
        for r in batch:
            r['node'] = node
        done.append((node, batch))
        results.extend(batch)
    changes = []
    for r in results:
        if r.get('pool_created'):
            pool = alloc._pool_cache.get(req.pool) or {}
            changes.append('created IP pool %s (%s)' % (pool.get('name'), req.pool))
        if r['claimed_block']:
            changes.append('claimed block %s for node %s' % (r['block'], r['node']))
        if r['changed']:
            borrowed = ', borrowed' if r['borrowed'] else ''
            changes.append('assigned %s to %s (block %s%s)' % (r['ip'], r['handle'], r['block'], borrowed))
    after = dict((r['handle'], r['ip']) for r in results)
    # A handle that already held its address was only looked up (changed=false).
    before = dict((r['handle'], None if r['changed'] else r['ip']) for r in results)
    out = {'changed': bool(changes), 'node': req.node, 'changes': changes,
           'before': {'assignments': before}, 'after': {'assignments': after},
           'assignments': [dict((k, r[k]) for k in ('handle', 'ip', 'block', 'changed', 'node')) for r in results]}
    if req.params['handle'] is not None:
        first = results[0]
        out.update(ip=first['ip'], block=first['block'], handle=first['handle'],
                   claimed_block=first['claimed_block'], borrowed=first['borrowed'])
    return out


def deleted(alloc, req, params):
    if req.items:
        handles = [i['handle'] for i in req.items]
        released = release_batch(alloc, handles)
        held = dict((r['handle'], r['ips'][0] if len(r['ips']) == 1 else r['ips']) for r in released)
        before = dict((h, held.get(h)) for h in handles)
        deleted_blocks = sorted(set(b for r in released for b in r['deleted_blocks']))
        out = {'changed': bool(released),
               'released': [{'handle': r['handle'], 'ips': r['ips']} for r in released],
               'released_blocks': deleted_blocks,
               'before': {'assignments': before},
               'after': {'assignments': dict((h, None) for h in handles)},
               'changes': ['released %s of %s' % (', '.join(r['ips']), r['handle']) for r in released]
               + ['deleted empty block %s' % b for b in deleted_blocks]}
        if params['handle'] is not None:
            out['handle'] = params['handle']
        return out
    if params['live_handles'] is not None:
        res = alloc.release_leaks(params['live_handles'], node=req.node, pool=req.pool)
        leaked = dict((lk['handle'], lk['ips']) for lk in res['leaks'])
        gone = set(r['handle'] for r in res['released'])
        return {'changed': res['changed'], 'released': res['released'], 'leaks': res['leaks'],
                'released_blocks': [],
                'before': {'leaks': leaked},
                'after': {'leaks': dict((h, ips) for h, ips in leaked.items() if h not in gone)},
                'changes': ['released leaked %s of %s' % (', '.join(r['ips']), r['handle']) for r in res['released']]}
    res = alloc.release_node_blocks(req.node, pool=req.pool)
    return {'changed': res['changed'], 'released': [], 'released_blocks': res['released_blocks'],
            'kept_blocks': res['kept_blocks'],
            'before': {'blocks': sorted(res['released_blocks'] + res['kept_blocks'])},
            'after': {'blocks': res['kept_blocks']},
            'changes': ['released empty block %s of node %s' % (b, req.node) for b in res['released_blocks']]}


def gathered(alloc, req, params):
    if req.items:
        out = []
        for item in req.items:
            held = alloc.lookup(item['handle'])
            out.append({'handle': item['handle'], 'ips': [a for a, _b in held], 'blocks': sorted(set(b for _a, b in held))})
    else:
        net = parse_pool(req.pool) if req.pool is not None else None
        out = []
        for h in alloc.info(node=req.node)['handles']:
            if net is not None and not any(ipaddress.IPv4Network(b).subnet_of(net) for b in h['blocks']):
                continue
            out.append({'handle': h['handle'], 'ips': h['ips'], 'blocks': h['blocks']})
    return {'changed': False, 'gathered': out, 'changes': []}


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        mutually_exclusive=[('handle', 'handles'), ('handle', 'live_handles'), ('handles', 'live_handles'),
                            ('ip', 'handles')],
        required_if=[
            ('state', 'merged', ('pool',)),
            ('state', 'merged', ('handle', 'handles'), True),
            ('state', 'present', ('pool',)),
            ('state', 'present', ('handle', 'handles'), True),
            ('state', 'deleted', ('handle', 'handles', 'live_handles', 'node'), True),
            ('state', 'absent', ('handle', 'handles', 'live_handles', 'node'), True),
        ] + DATASTORE_REQUIRED_IF,
        required_together=DATASTORE_REQUIRED_TOGETHER,
    )
    params = module.params
    store = None
    result = {}
    try:
        req = IPAMRequest(params)
        read_only = module.check_mode or req.state == 'gathered'
        store = open_store(read_only=read_only, **store_params(params))
        if module.check_mode and req.state != 'gathered':
            store = OverlayStore(store)
        alloc = Allocator(store)
        action = {'merged': merged, 'deleted': deleted, 'gathered': gathered}[req.state]
        result = action(alloc, req, params)
    except BatchError as exc:
        module.fail_json(msg=str(exc), option=exc.option, **exc.details)
    except (IPAMError, StoreError) as exc:
        module.fail_json(msg=str(exc), option=exc.option)
    finally:
        if store is not None:
            store.close()
    if module._diff and 'before' in result:
        result['diff'] = {'before': result['before'], 'after': result['after']}
    module.exit_json(**result)


if __name__ == '__main__':
    main()
