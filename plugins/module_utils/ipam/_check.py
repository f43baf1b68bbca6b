# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""``ipam check``: the consistency of an IPAM datastore, in the spirit of ``calicoctl ipam check``
(private to podnet.calico).

Reads every pool, block, affinity and handle record once and reports, each as a problem with a
``kind``:

``corrupt_record``            a record that is not JSON, or a block that fails ``block_problems``
``address_twice``             one address in two blocks (overlapping block records)
``block_outside_pools``       a block that lies in no IP pool
``allocation_without_handle`` an address whose attributes name no handle
``missing_handle_record``     an address whose handle has no handle record
``handle_count_mismatch``     a handle record whose per-block counts differ from the blocks
``empty_handle_record``       a handle record whose blocks hold no address for it
``affinity_without_block``    an affinity record whose block does not exist
``block_without_affinity``    a block affine to a node that has no affinity record for it
``affinity_mismatch``         an affinity record of a node for a block affine to another node

Given the live handles, ``leaks`` lists the assigned handles that are not live. Nothing is
written; ``repair`` (calico_ipam with live_handles) releases the leaks.
"""

import ipaddress

from ansible_collections.podnet.calico.plugins.module_utils.ipam import _model as m


def check(store, live_handles=None):
    """Return {'ok', 'problems', 'leaks' (given live_handles), 'counts'}."""
    problems = []
    pools = []
    for key, value, _rev in store.list(m.POOL_PREFIX):
        try:
            spec = m.loads(value, key).get('spec') or {}
            pools.append(ipaddress.IPv4Network(spec.get('cidr'), strict=False))
        except (m.IPAMError, ValueError, TypeError) as exc:
            problems.append({'kind': 'corrupt_record', 'key': key, 'detail': str(exc)})

    blocks = {}          # cidr -> Block
    owner_of = {}        # ip -> (handle, block)
    held = {}            # handle -> {block cidr: count}
    for key, value, _rev in store.list(m.BLOCK_PREFIX):
        try:
            blk = m.parse_block(value, key)
        except m.IPAMError as exc:
            problems.append({'kind': 'corrupt_record', 'key': key, 'detail': str(exc)})
            continue
        if key != blk.key:
            problems.append({'kind': 'corrupt_record', 'key': key,
                             'detail': 'the key does not match the block cidr %s' % blk.cidr})
        blocks[blk.cidr] = blk
        if pools and not any(blk.net.subnet_of(p) for p in pools):
            problems.append({'kind': 'block_outside_pools', 'block': blk.cidr})
        attrs = blk.data['attributes']
        for o, idx in enumerate(blk.data['allocations']):
            if idx is None:
                continue
            ip = blk.ip_of(o)
            hid = attrs[idx].get('handle_id')
            if ip in owner_of:
                problems.append({'kind': 'address_twice', 'ip': ip, 'handles': [owner_of[ip][0], hid],
                                 'blocks': [owner_of[ip][1], blk.cidr]})
            owner_of[ip] = (hid, blk.cidr)
            if not hid:
                problems.append({'kind': 'allocation_without_handle', 'ip': ip, 'block': blk.cidr})
                continue
            per = held.setdefault(hid, {})
            per[blk.cidr] = per.get(blk.cidr, 0) + 1

    records = {}
    for key, value, _rev in store.list(m.HANDLE_PREFIX):
        hid = key[len(m.HANDLE_PREFIX):]
        try:
            records[hid] = dict((str(b), int(n)) for b, n in (m.loads(value, key).get('block') or {}).items())
        except (m.IPAMError, ValueError, TypeError, AttributeError) as exc:
            problems.append({'kind': 'corrupt_record', 'key': key, 'detail': str(exc)})
            records[hid] = None
    for hid in sorted(held):
        if hid not in records:
            problems.append({'kind': 'missing_handle_record', 'handle': hid,
                             'ips': sorted(ip for ip, (h, _b) in owner_of.items() if h == hid)})
        elif records[hid] is not None and dict((b, n) for b, n in records[hid].items() if n) != held[hid]:
            problems.append({'kind': 'handle_count_mismatch', 'handle': hid, 'record': records[hid],
                             'blocks': held[hid]})
    for hid in sorted(records):
        if hid not in held and records[hid] is not None:
            problems.append({'kind': 'empty_handle_record', 'handle': hid, 'record': records[hid]})

    affinities = {}      # block cidr -> [nodes]
    for key, _v, _rev in store.list(m.HOST_PREFIX, keys_only=True):
        parsed = m.parse_affinity_key(key)
        if parsed is None:
            continue
        node, cidr = parsed
        try:
            cidr = str(ipaddress.IPv4Network(cidr))
        except ValueError:
            problems.append({'kind': 'corrupt_record', 'key': key, 'detail': 'not a block CIDR'})
            continue
        affinities.setdefault(cidr, []).append(node)
        blk = blocks.get(cidr)
        if blk is None:
            problems.append({'kind': 'affinity_without_block', 'node': node, 'block': cidr})
        elif blk.host != node:
            problems.append({'kind': 'affinity_mismatch', 'node': node, 'block': cidr,
                             'block_affinity': blk.data.get('affinity')})
    for cidr, blk in sorted(blocks.items()):
        if blk.host is not None and blk.host not in affinities.get(cidr, []):
            problems.append({'kind': 'block_without_affinity', 'block': cidr, 'node': blk.host})

    out = {'ok': not problems, 'problems': problems,
           'counts': {'pools': len(pools), 'blocks': len(blocks), 'handles': len(records),
                      'addresses': len(owner_of)}}
    if live_handles is not None:
        live = set(live_handles)
        out['leaks'] = [{'handle': h, 'ips': sorted(ip for ip, (o, _b) in owner_of.items() if o == h),
                         'blocks': sorted(held[h])} for h in sorted(held) if h not in live]
        out['ok'] = out['ok'] and not out['leaks']
    return out
