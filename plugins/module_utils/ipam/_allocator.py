# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Calico's IPAM algorithm over the compare-and-swap contract of ``_store`` (private to podnet.calico).

Assigning an address to a handle on a node:

1. the handle already holds an address: return it (nothing written);
2. else take the next free address, in Calico's order (the head of the block's ``unallocated``
   list), from the node's affine blocks, lowest block first;
3. else claim the lowest block of the pool that nobody has claimed (block and affinity are
   created in the same transaction as the assignment);
4. else, unless ``strict_affinity``, borrow a free address from another node's block;
5. else the pool is exhausted.

Every write is one transaction that names the revision it read (or "absent" for a new key):
the block, the handle and, for a new block, the affinity. A conflicting writer makes the
transaction fail as a whole and the step is retried from fresh reads, so no address is ever
given twice. An allocator object remembers the block it wrote last for each node, so that in a
long-lived process the next assignment is a single transaction when nobody else wrote meanwhile.
"""

import ipaddress
import random
import time
import uuid

from ansible_collections.podnet.calico.plugins.module_utils.ipam import _model as m
from ansible_collections.podnet.calico.plugins.module_utils.ipam._store import ConflictError, Op

DEFAULT_BLOCK_SIZE = 26


class Allocator(object):

    def __init__(self, store, max_retries=200):
        self.store = store
        self.max_retries = max_retries
        self._hot = {}          # node -> (Block, revision, pool) of the node's last written block
        self._pool_cache = {}   # pool CIDR -> pool dict
        self.created_pools = []  # pools this object created (a batch's undo deletes them again)

    # -- pools and configuration -----------------------------------------------------------

    def pools(self):
        """Every IPPool resource: [{'name', 'cidr', 'block_size', ..., 'revision'}]."""
        out = []
        for key, value, rev in self.store.list(m.POOL_PREFIX):
            data = m.loads(value, key)
            spec = data.get('spec') or {}
            out.append({
                'name': (data.get('metadata') or {}).get('name') or key[len(m.POOL_PREFIX):],
                'cidr': spec.get('cidr'),
                'block_size': int(spec.get('blockSize') or DEFAULT_BLOCK_SIZE),
                'ipip_mode': spec.get('ipipMode') or 'Never',
                'vxlan_mode': spec.get('vxlanMode') or 'Never',
                'nat_outgoing': bool(spec.get('natOutgoing', False)),
                'disabled': bool(spec.get('disabled', False)),
                'node_selector': spec.get('nodeSelector') or 'all()',
                'allowed_uses': list(spec.get('allowedUses') or m.DEFAULT_ALLOWED_USES),
                'key': key,
                'revision': rev,
            })
            self._remember_pool(out[-1])
        return out

    def _remember_pool(self, pool):
        """Keep a pool just read, so that assigning from it (ensure_pool) does not read the pools again."""
        try:
            net = ipaddress.IPv4Network(pool['cidr'], strict=False)
            m.check_block_size(net, pool['block_size'])
        except (ValueError, TypeError, m.IPAMError):
            return   # ensure_pool reads it again and reports what is wrong with it
        self._pool_cache[pool['cidr']] = dict(pool, net=net)

    def ipam_config(self):
        """Calico's cluster-wide IPAMConfig (``/calico/ipam/v2/config``), with Calico's defaults when absent.

        The record's JSON omits false and zero values, so a field that is absent from an existing
        record is false (or 0), as Calico's Go types read it.
        """
        got = self.store.get(m.CONFIG_KEY)
        if got is None:
            return {'strict_affinity': False, 'auto_allocate_blocks': True, 'max_blocks_per_host': 0}
        data = m.loads(got[0], m.CONFIG_KEY)
        try:
            max_blocks = int(data.get('maxBlocksPerHost') or 0)
        except (TypeError, ValueError):
            raise m.IPAMError('record %s: maxBlocksPerHost=%r is not a number' % (m.CONFIG_KEY, data.get('maxBlocksPerHost')))
        return {'strict_affinity': data.get('strict_affinity') is True,
                'auto_allocate_blocks': data.get('auto_allocate_blocks') is True,
                'max_blocks_per_host': max_blocks}

    def ensure_pool(self, cidr, block_size=None, options=None):
        """Find the IPPool for ``cidr`` or create it; return (pool dict, created).

        ``options`` (ipip_mode, vxlan_mode, nat_outgoing, node_selector; None values ignored) are
        written into a new pool; for an existing pool a value that differs is an error.
        """
        options = dict((k, v) for k, v in (options or {}).items() if v is not None)
        cached = self._pool_cache.get(cidr)
        if cached is not None and (block_size is None or block_size == cached['block_size']) and not options:
            return cached, False
        net = m.parse_pool(cidr)
        if block_size is not None:
            m.check_block_size(net, block_size)
        m.check_pool_options(options.get('ipip_mode', 'Never'), options.get('vxlan_mode', 'Never'))
        if 'node_selector' in options:
            m.parse_selector(options['node_selector'], 'node_selector')
        for _attempt in range(self.max_retries):
            for pool in self.pools():
                try:
                    other = ipaddress.IPv4Network(pool['cidr'], strict=False)
                except (ValueError, TypeError):
                    continue
                if other == net:
                    if block_size is not None and block_size != pool['block_size']:
                        raise m.IPAMError('block_size=%d differs from blockSize %d of the existing IP pool %s (%s)'
                                          % (block_size, pool['block_size'], pool['name'], net), 'block_size')
                    for option, value in sorted(options.items()):
                        if pool[option] != value:
                            raise m.IPAMError('%s=%r differs from %r of the existing IP pool %s (%s); this module '
                                              'does not change an existing pool' % (option, value, pool[option],
                                                                                    pool['name'], net), option)
                    m.check_block_size(net, pool['block_size'])
                    pool['net'] = net
                    self._pool_cache[cidr] = pool
                    return pool, False
                if other.overlaps(net):
                    raise m.IPAMError('pool=%s overlaps the existing IP pool %s (%s)' % (net, pool['name'], other),
                                      'pool')
            size = DEFAULT_BLOCK_SIZE if block_size is None else block_size
            m.check_block_size(net, size)
            name = m.pool_name_for(net)
            record = m.new_pool(name, net, size, str(uuid.uuid4()),
                                time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), **options)
            try:
                rev = self.store.create(m.pool_key(name), m.dumps(record))
            except ConflictError:
                continue
            spec = record['spec']
            pool = {'name': name, 'cidr': str(net), 'block_size': size, 'ipip_mode': spec['ipipMode'],
                    'vxlan_mode': spec['vxlanMode'], 'nat_outgoing': spec['natOutgoing'], 'disabled': False,
                    'node_selector': spec['nodeSelector'], 'allowed_uses': spec['allowedUses'],
                    'key': m.pool_key(name), 'revision': rev, 'net': net}
            self._pool_cache[cidr] = pool
            self.created_pools.append(pool)
            return pool, True
        raise m.IPAMError('could not create the IP pool %s: too many conflicting writers' % net, 'pool')

    def delete_pool_if_unused(self, pool):
        """Delete a pool this run created, when no block lies in it (undo of a failed batch).

        Returns True when it was deleted (or is gone already)."""
        net = pool['net']
        for key, _v, _r in self.store.list(m.BLOCK_PREFIX, keys_only=True):
            parsed = m.token_ints(key[len(m.BLOCK_PREFIX):])
            if parsed and ipaddress.IPv4Network('%s/%d' % (ipaddress.IPv4Address(parsed[0]), parsed[1])).overlaps(net):
                return False
        got = self.store.get(pool['key'])
        self._pool_cache.clear()
        if got is None:
            return True
        try:
            self.store.delete(pool['key'], got[1])
        except ConflictError:
            return False
        return True

    def release_block_if_empty(self, node, cidr):
        """Delete ``node``'s block ``cidr`` and its affinity when the block holds no address (undo of a
        claim). Returns True when done or gone already, False when the block is in use or changed."""
        bkey = m.block_key(cidr)
        akey = m.affinity_key(node, cidr)
        got = self.store.get_many([bkey, akey])
        ops = []
        if bkey in got:
            blk = m.Block(m.loads(got[bkey][0], bkey), bkey)
            if not blk.is_empty() or blk.host != node:
                return False
            ops.append(Op('delete', bkey, revision=got[bkey][1]))
        if akey in got:
            ops.append(Op('delete', akey, revision=got[akey][1]))
        self._hot.pop(node, None)
        if not ops:
            return True
        try:
            self.store.commit(ops)
        except ConflictError:
            return False
        return True

    @staticmethod
    def check_pool_usable(pool, node, node_labels):
        """Calico never assigns from a disabled pool or from a pool whose nodeSelector does not match the node."""
        if pool['disabled']:
            raise m.IPAMError('pool=%s: the IP pool %s is disabled; Calico assigns no address from it'
                              % (pool['cidr'], pool['name']), 'pool')
        labels = node_labels or {}
        try:
            matches = m.selector_matches(pool['node_selector'], labels)
        except m.IPAMError as exc:
            raise m.IPAMError('pool=%s: the IP pool %s has %s; refusing to guess whether it matches node %s'
                              % (pool['cidr'], pool['name'], exc, node), 'pool')
        if not matches:
            raise m.IPAMError('pool=%s: the nodeSelector %r of IP pool %s does not match node %s (node_labels %s)'
                              % (pool['cidr'], pool['node_selector'], pool['name'], node,
                                 dict(sorted(labels.items()))), 'pool')

    # -- reading ----------------------------------------------------------------------------

    def _get_block(self, key):
        got = self.store.get(key)
        if got is None:
            return None, None
        return m.Block(m.loads(got[0], key), key), got[1]

    def _handle_addresses(self, handle, record):
        """[(ip, block cidr)] held by ``handle`` according to its record and the blocks."""
        out = []
        keys = [m.block_key(c) for c in sorted((record.get('block') or {}).keys())]
        for key, (value, _rev) in sorted(self.store.get_many(keys).items()):
            blk = m.Block(m.loads(value, key), key)
            for o in blk.ordinals_of(handle):
                out.append((blk.ip_of(o), blk.cidr))
        return out

    def lookup(self, handle):
        """Addresses held by ``handle``: [(ip, block)] (empty when it holds none)."""
        m.check_handle(handle)
        got = self.store.get(m.handle_key(handle))
        if got is None:
            return []
        return self._handle_addresses(handle, m.loads(got[0], m.handle_key(handle)))

    # -- assigning --------------------------------------------------------------------------

    @staticmethod
    def check_ip(ip, pool):
        """Parse ``ip`` and check that it lies in ``pool`` (before anything is written)."""
        if ip is None:
            m.parse_pool(pool)
            return None
        net = m.parse_pool(pool)
        try:
            want = ipaddress.IPv4Address(str(ip))
        except (ValueError, TypeError) as exc:
            raise m.IPAMError('ip=%r is not an IPv4 address: %s' % (ip, exc), 'ip')
        if want not in net:
            raise m.IPAMError('ip=%s is not inside pool %s' % (want, net), 'ip')
        return want

    def assign(self, handle, node, pool, block_size=None, ip=None, attributes=None,
               strict_affinity=False, pool_options=None, node_labels=None):
        """Assign one address to ``handle`` on ``node`` from ``pool``.

        Strict affinity applies when ``strict_affinity`` is true or the cluster's IPAMConfig says so.
        Returns {'ip', 'block', 'handle', 'node', 'changed', 'claimed_block', 'borrowed', 'pool_created'};
        ``changed`` is true only when this call gave the handle its address.
        """
        m.check_handle(handle)
        m.check_node(node)
        want = self.check_ip(ip, pool) if ip is not None or pool not in self._pool_cache else None
        pool_rec, pool_created = self.ensure_pool(pool, block_size, pool_options)
        self.check_pool_usable(pool_rec, node, node_labels)
        net, size = pool_rec['net'], pool_rec['block_size']
        secondary = dict((str(k), str(v)) for k, v in (attributes or {}).items())
        secondary.setdefault('node', node)
        fast = want is None
        for attempt in range(self.max_retries):
            try:
                result = self._assign_once(handle, node, net, size, want, secondary, strict_affinity, fast)
            except ConflictError:
                if attempt > 1:
                    time.sleep(random.uniform(0, 0.002 * min(attempt, 20)))
                continue
            result['pool_created'] = pool_created
            return result
        raise m.IPAMError('gave up assigning an address to handle %s after %d conflicting writes'
                          % (handle, self.max_retries))

    def _assign_once(self, handle, node, net, size, want, secondary, strict_option, fast):
        store = self.store
        hkey = m.handle_key(handle)
        hrec = None
        hrev = None
        if fast:
            hot = self._hot.get(node)
            if hot is not None and hot[0].free_count() and hot[0].host == node and hot[2] == net:
                blk, rev = hot[0], hot[1]
                ordinal = blk.assign(handle, secondary)
                hrec = m.new_handle()
                hrec['block'][blk.cidr] = 1
                ops = [Op('put', blk.key, blk.to_json(), rev), Op('create', hkey, m.dumps(hrec))]
                try:
                    newrev = store.commit(ops)
                except ConflictError as exc:
                    self._refresh_hot(node, net, blk.key, hkey, exc.current)
                    raise
                except Exception:
                    self._hot.pop(node, None)
                    raise
                self._hot[node] = (blk, newrev, net)
                return self._result(handle, node, blk, ordinal, True, False, False)
        got = store.get(hkey)
        if got is not None:
            hrec = m.loads(got[0], hkey)
            hrev = got[1]
            held = self._handle_addresses(handle, hrec) if m.handle_count(hrec) else []
            if held:
                if want is not None and str(want) not in [a for a, _b in held]:
                    raise m.IPAMError('handle=%s already holds %s; release it before asking for ip=%s'
                                      % (handle, held[0][0], want), 'ip')
                if want is None and not any(ipaddress.IPv4Address(a) in net for a, _b in held):
                    raise m.IPAMError('handle=%s already holds %s, which is not in pool=%s: a handle holds one '
                                      'address; release it (state=deleted) before asking for one in another pool'
                                      % (handle, ', '.join(a for a, _b in held), net), 'pool')
                hit = [h for h in held if (want is None and ipaddress.IPv4Address(h[0]) in net)
                       or h[0] == str(want)][0]
                return {'ip': hit[0], 'block': hit[1], 'handle': handle, 'node': node, 'changed': False,
                        'claimed_block': False, 'borrowed': False}
            hrec = m.new_handle()   # a stale record that holds nothing: rewrite it
        else:
            hrec = m.new_handle()

        ops = []
        claimed = borrowed = False
        blk = rev = ordinal = None
        if want is not None:
            bnet = m.block_of(want, size)
            blk, rev = self._get_block(m.block_key(bnet))
            if blk is None:
                blk = m.Block.new(bnet, node)
                claimed = True
            ordinal = blk.ordinal_of(want)
            holder = blk.handle_at(ordinal)
            if blk.data['allocations'][ordinal] is not None:
                if holder == handle:
                    return self._result(handle, node, blk, ordinal, False, False, False)
                raise m.IPAMError('ip=%s is already assigned to handle %s' % (want, holder), 'ip')
            borrowed = blk.host != node
            if borrowed and (strict_option or self.ipam_config()['strict_affinity']):
                raise m.IPAMError('ip=%s lies in block %s of node %s and strict affinity forbids borrowing it '
                                  'for node %s' % (want, blk.cidr, blk.host, node), 'ip')
            blk.assign(handle, secondary, ordinal)
        else:
            blk, rev = self._affine_block_with_room(node, net)
            if blk is None:
                config = self.ipam_config()
                strict = strict_option or config['strict_affinity']
                why = None
                if not config['auto_allocate_blocks']:
                    why = 'the IPAMConfig %s forbids claiming blocks (auto_allocate_blocks)' % m.CONFIG_KEY
                elif config['max_blocks_per_host'] and self._count_node_blocks(node) >= config['max_blocks_per_host']:
                    why = 'node %s has maxBlocksPerHost=%d blocks (IPAMConfig %s)' % (
                        node, config['max_blocks_per_host'], m.CONFIG_KEY)
                else:
                    blk = self._unclaimed_block(node, net, size)
                    if blk is not None:
                        claimed = True
                if blk is None:
                    if strict:
                        raise m.PoolExhaustedError(
                            'pool %s has no free address in the blocks of node %s and %s; strict affinity '
                            '(%s) forbids borrowing from other nodes\' blocks'
                            % (net, node, why or 'no free block left',
                               'strict_affinity=true' if strict_option else 'IPAMConfig strict_affinity'), 'pool')
                    blk, rev = self._block_to_borrow(node, net)
                    if blk is None:
                        raise m.PoolExhaustedError('pool %s is exhausted: all %d addresses are assigned'
                                                   % (net, net.num_addresses), 'pool')
                    borrowed = True
            ordinal = blk.assign(handle, secondary)
        if claimed:
            ops.append(Op('create', blk.key, blk.to_json()))
            ops.append(Op('create', m.affinity_key(node, blk.cidr), m.dumps(m.new_affinity())))
        else:
            ops.append(Op('put', blk.key, blk.to_json(), rev))
        hrec['block'][blk.cidr] = int(hrec['block'].get(blk.cidr, 0)) + 1
        ops.append(Op('put', hkey, m.dumps(hrec), hrev) if hrev is not None else Op('create', hkey, m.dumps(hrec)))
        try:
            newrev = self.store.commit(ops)
        except ConflictError:
            self._hot.pop(node, None)
            raise
        if blk.host == node and want is None and blk.net.subnet_of(net):
            self._hot[node] = (blk, newrev, net)
        else:
            self._hot.pop(node, None)
        return self._result(handle, node, blk, ordinal, True, claimed, borrowed)

    def _count_node_blocks(self, node):
        return len(self.store.list(m.affinity_prefix(node), keys_only=True))

    def _refresh_hot(self, node, net, bkey, hkey, current):
        """After a conflict on the fast path: keep going with the block as the store has it now,
        when the store said so and the handle is still absent; else forget it (fresh reads)."""
        self._hot.pop(node, None)
        if not current or hkey not in current or current[hkey] is not None or not current.get(bkey):
            return
        value, rev = current[bkey]
        try:
            blk = m.Block(m.loads(value, bkey), bkey)
        except m.IPAMError:
            return
        if blk.host == node and not blk.data.get('deleted') and blk.free_count():
            self._hot[node] = (blk, rev, net)

    @staticmethod
    def _result(handle, node, blk, ordinal, changed, claimed, borrowed):
        return {'ip': blk.ip_of(ordinal), 'block': blk.cidr, 'handle': handle, 'node': node,
                'changed': changed, 'claimed_block': claimed, 'borrowed': borrowed}

    def _node_blocks(self, node, net=None):
        """The node's affine blocks as [(Block or None, revision, affinity key, affinity revision)]."""
        out = []
        affs = self.store.list(m.affinity_prefix(node), keys_only=True)
        wanted = []
        for akey, _v, arev in affs:
            parsed = m.parse_affinity_key(akey)
            if parsed is None:
                continue
            try:
                bnet = ipaddress.IPv4Network(parsed[1])
            except ValueError:
                continue
            if net is not None and not bnet.subnet_of(net):
                continue
            wanted.append((bnet, akey, arev))
        got = self.store.get_many([m.block_key(b) for b, _k, _r in wanted])
        for bnet, akey, arev in sorted(wanted, key=lambda w: int(w[0].network_address)):
            bkey = m.block_key(bnet)
            if bkey in got:
                out.append((m.Block(m.loads(got[bkey][0], bkey), bkey), got[bkey][1], akey, arev))
            else:
                out.append((None, None, akey, arev))
        return out

    def _affine_block_with_room(self, node, net, chunk=8):
        """The node's lowest affine block with a free address, reading a few blocks at a time."""
        wanted = []
        lo = int(net.network_address)
        hi = lo + net.num_addresses
        prefix = m.affinity_prefix(node)
        for akey, _v, _arev in self.store.list(prefix, keys_only=True):
            parsed = m.token_ints(akey[len(prefix):])
            if parsed is None:
                continue
            base, plen = parsed
            if plen >= net.prefixlen and lo <= base < hi:
                wanted.append((base, akey[len(prefix):]))
        wanted.sort()
        for i in range(0, len(wanted), chunk):
            keys = [m.BLOCK_PREFIX + token for _base, token in wanted[i:i + chunk]]
            got = self.store.get_many(keys)
            for key in keys:
                if key not in got:
                    continue
                value, rev = got[key]
                if '"unallocated":[]' in value:
                    continue   # full: skip without decoding the whole record
                blk = m.Block(m.loads(value, key), key)
                if blk.host == node and not blk.data.get('deleted') and blk.free_count():
                    return blk, rev
        return None, None

    def _unclaimed_block(self, node, net, size):
        taken = set()
        for key, _v, _r in self.store.list(m.BLOCK_PREFIX, keys_only=True):
            try:
                bnet = ipaddress.IPv4Network(m.token_cidr(key[len(m.BLOCK_PREFIX):]))
            except ValueError:
                continue
            if bnet.overlaps(net):
                taken.add(int(bnet.network_address))
        step = 1 << (32 - size)
        start = int(net.network_address)
        for base in range(start, start + net.num_addresses, step):
            if base not in taken:
                return m.Block.new('%s/%d' % (ipaddress.IPv4Address(base), size), node)
        return None

    def _block_to_borrow(self, node, net):
        for key, value, rev in self.store.list(m.BLOCK_PREFIX):
            parsed = m.token_ints(key[len(m.BLOCK_PREFIX):])
            if parsed is None or not (int(net.network_address) <= parsed[0] < int(net.broadcast_address) + 1):
                continue
            blk = m.Block(m.loads(value, key), key)
            if not blk.net.subnet_of(net) or blk.data.get('deleted'):
                continue
            if blk.free_count():
                return blk, rev
        return None, None

    # -- releasing --------------------------------------------------------------------------

    def release(self, handle, extra_blocks=()):
        """Release every address of ``handle``; delete blocks left empty without affinity.

        Returns {'handle', 'changed', 'ips', 'deleted_blocks'}.
        """
        m.check_handle(handle)
        hkey = m.handle_key(handle)
        for attempt in range(self.max_retries):
            got = self.store.get(hkey)
            cidrs = set(extra_blocks)
            if got is not None:
                hrec = m.loads(got[0], hkey)
                cidrs.update((hrec.get('block') or {}).keys())
            ops = []
            ips = []
            deleted = []
            keys = [m.block_key(c) for c in sorted(cidrs)]
            for key, (value, rev) in sorted(self.store.get_many(keys).items()):
                blk = m.Block(m.loads(value, key), key)
                ords = blk.ordinals_of(handle)
                if not ords:
                    continue
                ips.extend(blk.ip_of(o) for o in ords)
                blk.release(ords)
                if blk.is_empty() and blk.host is None:
                    ops.append(Op('delete', key, revision=rev))
                    deleted.append(blk.cidr)
                else:
                    ops.append(Op('put', key, blk.to_json(), rev))
            if got is not None:
                ops.append(Op('delete', hkey, revision=got[1]))
            result = {'handle': handle, 'changed': bool(ops), 'ips': ips, 'deleted_blocks': deleted}
            if not ops:
                return result
            try:
                self.store.commit(ops)
            except ConflictError:
                if attempt > 1:
                    time.sleep(random.uniform(0, 0.002 * min(attempt, 20)))
                continue
            finally:
                self._hot.clear()
            return result
        raise m.IPAMError('gave up releasing handle %s after %d conflicting writes' % (handle, self.max_retries))

    def release_node_blocks(self, node, pool=None):
        """Delete the node's empty affine blocks and their affinities (a node leaving the cluster).

        Blocks that still hold addresses keep their affinity. Returns {'changed', 'released_blocks', 'kept_blocks'}.
        """
        m.check_node(node)
        net = m.parse_pool(pool) if pool is not None else None
        released, kept = [], []
        for _attempt in range(self.max_retries):
            conflicts = False
            for blk, rev, akey, arev in self._node_blocks(node, net):
                if blk is None:
                    ops = [Op('delete', akey, revision=arev)]
                    label = m.token_cidr(akey.rsplit('/', 1)[1])
                elif blk.is_empty():
                    ops = [Op('delete', blk.key, revision=rev), Op('delete', akey, revision=arev)]
                    label = blk.cidr
                else:
                    if blk.cidr not in kept:
                        kept.append(blk.cidr)
                    continue
                try:
                    self.store.commit(ops)
                except ConflictError:
                    conflicts = True
                    continue
                released.append(label)
            if not conflicts:
                break
        self._hot.pop(node, None)
        return {'changed': bool(released), 'released_blocks': sorted(set(released)), 'kept_blocks': sorted(kept)}

    # -- reporting --------------------------------------------------------------------------

    def info(self, live_handles=None, node=None):
        """Pools, blocks, handles and (given ``live_handles``) leaks, as plain data."""
        pools = self.pools()
        for p in pools:
            for k in ('revision', 'key', 'net'):
                p.pop(k, None)
        blocks = []
        holders = {}   # handle -> {'ips': [...], 'nodes': set(), 'blocks': set()}
        problems = []
        for key, value, _rev in self.store.list(m.BLOCK_PREFIX):
            try:
                blk = m.parse_block(value, key)
            except m.IPAMError as exc:
                problems.append({'kind': 'corrupt_block', 'key': key, 'detail': str(exc)})
                continue
            blocks.append({'cidr': blk.cidr, 'affinity': blk.data.get('affinity'), 'node': blk.host,
                           'used': blk.used_count(), 'free': blk.free_count()})
            attrs = blk.data['attributes']
            for o, idx in enumerate(blk.data['allocations']):
                if idx is None:
                    continue
                attr = attrs[idx] if 0 <= idx < len(attrs) else {}
                hid = attr.get('handle_id')
                entry = holders.setdefault(hid, {'ips': [], 'nodes': set(), 'blocks': set()})
                entry['ips'].append(blk.ip_of(o))
                entry['blocks'].add(blk.cidr)
                owner = (attr.get('secondary') or {}).get('node') or blk.host
                if owner:
                    entry['nodes'].add(owner)
        records = {}
        for key, value, _rev in self.store.list(m.HANDLE_PREFIX):
            records[key[len(m.HANDLE_PREFIX):]] = m.loads(value, key)
        handles = []
        for hid in sorted(h for h in holders if h is not None):
            e = holders[hid]
            if node is not None and node not in e['nodes']:
                continue
            handles.append({'handle': hid, 'ips': e['ips'], 'nodes': sorted(e['nodes']),
                            'blocks': sorted(e['blocks']), 'has_record': hid in records})
        for hid, rec in sorted(records.items()):
            if hid not in holders:
                problems.append({'kind': 'handle_without_addresses', 'handle': hid,
                                 'blocks': sorted((rec.get('block') or {}).keys())})
        if None in holders:
            problems.append({'kind': 'addresses_without_handle', 'handle': None, 'ips': holders[None]['ips']})
        out = {'pools': pools, 'blocks': blocks, 'handles': handles, 'problems': problems,
               'config': self.ipam_config()}
        if live_handles is not None:
            live = set(live_handles)
            out['leaks'] = [h for h in handles if h['handle'] not in live]
        return out

    def release_leaks(self, live_handles, node=None, pool=None):
        """Release every assigned handle (on ``node``, in ``pool`` if given) that is not in ``live_handles``."""
        net = m.parse_pool(pool) if pool is not None else None
        leaks = self.info(live_handles=live_handles, node=node)['leaks']
        if net is not None:
            leaks = [lk for lk in leaks if any(ipaddress.IPv4Network(b).subnet_of(net) for b in lk['blocks'])]
        released = []
        for leak in leaks:
            res = self.release(leak['handle'], extra_blocks=leak['blocks'])
            if res['changed']:
                released.append({'handle': leak['handle'], 'ips': res['ips']})
        return {'changed': bool(released), 'released': released, 'leaks': leaks}
