# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Calico's IPAM records, in Calico's etcdv3 layout (private to podnet.calico).

Keys::

    /calico/resources/v3/projectcalico.org/ippools/<name>     IPPool resource
    /calico/ipam/v2/assignment/ipv4/block/<a.b.c.d-NN>        allocation block
    /calico/ipam/v2/host/<node>/ipv4/block/<a.b.c.d-NN>       block affinity
    /calico/ipam/v2/handle/<handle id>                        handle

Records are kept as the decoded JSON dicts, so that fields this code does not know
(written by another Calico version) survive a read-modify-write.
"""

import ipaddress
import json
import re
import time

POOL_PREFIX = '/calico/resources/v3/projectcalico.org/ippools/'
BLOCK_PREFIX = '/calico/ipam/v2/assignment/ipv4/block/'
HOST_PREFIX = '/calico/ipam/v2/host/'
HANDLE_PREFIX = '/calico/ipam/v2/handle/'
CONFIG_KEY = '/calico/ipam/v2/config'

# Calico's bounds for the blockSize of an IPv4 pool (its IPPool validation).
MIN_BLOCK_SIZE = 20
MAX_BLOCK_SIZE = 32

# The IPPool options this code writes, with Calico's defaults.
ENCAP_MODES = ('Never', 'Always', 'CrossSubnet')
DEFAULT_ALLOWED_USES = ['Workload', 'Tunnel']

_NODE_RE = re.compile(r'^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$')
_HANDLE_RE = re.compile(r'^[^/\s\x00-\x1f\x7f-\x9f]{1,512}$')


class IPAMError(Exception):
    """An IPAM request that cannot be satisfied; the message says why.

    ``option`` names the module option the problem is about, when there is one.
    """

    def __init__(self, message, option=None):
        super(IPAMError, self).__init__(message)
        self.option = option


class PoolExhaustedError(IPAMError):
    """No free address is left for the request."""


def dumps(record):
    """Serialise a record the way it is stored (compact JSON, stable key order)."""
    return json.dumps(record, separators=(',', ':'), sort_keys=True)


def loads(text, key):
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise IPAMError('record %s is not valid JSON: %s' % (key, exc))
    if not isinstance(value, dict):
        raise IPAMError('record %s is not a JSON object' % key)
    return value


def parse_pool(cidr, option='pool'):
    """Parse an IPv4 pool CIDR strictly (host bits must be zero)."""
    try:
        net = ipaddress.IPv4Network(str(cidr), strict=True)
    except (ValueError, TypeError) as exc:
        raise IPAMError('%s=%r is not a valid IPv4 CIDR: %s' % (option, cidr, exc), option)
    return net


def check_block_size(pool, block_size):
    if not isinstance(block_size, int) or isinstance(block_size, bool):
        raise IPAMError('block_size=%r is not an integer' % (block_size,), 'block_size')
    if block_size < MIN_BLOCK_SIZE or block_size > MAX_BLOCK_SIZE:
        raise IPAMError('block_size=%d is outside %d..%d, the block sizes Calico allows for an IPv4 pool'
                        % (block_size, MIN_BLOCK_SIZE, MAX_BLOCK_SIZE), 'block_size')
    if block_size < pool.prefixlen:
        raise IPAMError('block_size=%d is shorter than the prefix length of pool %s: a block must fit in its pool'
                        % (block_size, pool), 'block_size')


def check_node(node):
    if not isinstance(node, str) or not _NODE_RE.match(node):
        raise IPAMError('node=%r is not a valid node name (letters, digits, ".", "_", "-")' % (node,), 'node')


def check_handle(handle, option='handle'):
    if not isinstance(handle, str) or not _HANDLE_RE.match(handle):
        shown = repr(handle) if not isinstance(handle, str) or len(handle) <= 64 else \
            '%r... (%d characters)' % (handle[:40], len(handle))
        raise IPAMError('%s=%s is not a valid handle (1..512 characters, no "/", whitespace or control '
                        'characters)' % (option, shown), option)


def cidr_token(cidr):
    """'10.244.0.0/26' -> '10.244.0.0-26' (the form used in keys)."""
    return str(cidr).replace('/', '-', 1)


def token_cidr(token):
    return token.replace('-', '/', 1)


def token_ints(token):
    """'10.244.0.64-26' -> (address as an integer, 26), or None when it is not such a token."""
    try:
        addr, plen = token.split('-', 1)
        a, b, c, d = [int(x) for x in addr.split('.')]
        plen = int(plen)
    except ValueError:
        return None
    if not (0 <= a < 256 and 0 <= b < 256 and 0 <= c < 256 and 0 <= d < 256 and 0 <= plen <= 32):
        return None
    return (a << 24) | (b << 16) | (c << 8) | d, plen


def block_key(cidr):
    return BLOCK_PREFIX + cidr_token(cidr)


def affinity_prefix(node):
    return '%s%s/ipv4/block/' % (HOST_PREFIX, node)


def affinity_key(node, cidr):
    return affinity_prefix(node) + cidr_token(cidr)


def handle_key(handle):
    return HANDLE_PREFIX + handle


def pool_key(name):
    return POOL_PREFIX + name


def parse_affinity_key(key):
    """'/calico/ipam/v2/host/n1/ipv4/block/10.0.0.0-26' -> ('n1', '10.0.0.0/26') or None."""
    if not key.startswith(HOST_PREFIX):
        return None
    parts = key[len(HOST_PREFIX):].split('/')
    if len(parts) != 4 or parts[1] != 'ipv4' or parts[2] != 'block':
        return None
    return parts[0], token_cidr(parts[3])


def pool_name_for(cidr):
    """Name given to an IPPool resource created by this code for ``cidr``."""
    return 'podnet-ipv4-' + cidr_token(cidr).replace('.', '-')


def new_pool(name, cidr, block_size, uid, timestamp, ipip_mode='Never', vxlan_mode='Never', nat_outgoing=False,
             node_selector='all()', disabled=False):
    """An IPPool resource as Calico's v3 API writes it, with Calico's defaults for what is not given."""
    spec = {
        'cidr': str(cidr),
        'blockSize': block_size,
        'ipipMode': ipip_mode,
        'vxlanMode': vxlan_mode,
        'natOutgoing': bool(nat_outgoing),
        'nodeSelector': node_selector,
        'allowedUses': list(DEFAULT_ALLOWED_USES),
    }
    if disabled:
        spec['disabled'] = True
    return {
        'kind': 'IPPool',
        'apiVersion': 'projectcalico.org/v3',
        'metadata': {'name': name, 'uid': uid, 'creationTimestamp': timestamp},
        'spec': spec,
    }


def check_pool_options(ipip_mode, vxlan_mode):
    """Calico refuses an IP pool with both encapsulations on."""
    for option, value in (('ipip_mode', ipip_mode), ('vxlan_mode', vxlan_mode)):
        if value not in ENCAP_MODES:
            raise IPAMError('%s=%r is not one of %s' % (option, value, ', '.join(ENCAP_MODES)), option)
    if ipip_mode != 'Never' and vxlan_mode != 'Never':
        raise IPAMError('ipip_mode=%s and vxlan_mode=%s: Calico allows only one encapsulation per IP pool'
                        % (ipip_mode, vxlan_mode), 'vxlan_mode')


# -- node selectors ---------------------------------------------------------------------------

_SEL_TERM = re.compile(
    r"""^\s*(?:(?P<all>all\(\s*\))"""
    r"""|(?P<neg>!\s*)?has\(\s*(?P<has>[A-Za-z0-9_./-]+)\s*\)"""
    r"""|(?P<key>[A-Za-z0-9_./-]+)\s*(?P<op>==|!=)\s*(?P<q>['"])(?P<val>[^'"]*)(?P=q))\s*$""")


def parse_selector(selector, option='nodeSelector'):
    """Parse the subset of Calico's selector language this code evaluates.

    Supported: ``all()``, an empty selector (same as ``all()``), ``key == 'value'``,
    ``key != 'value'``, ``has(key)``, ``!has(key)``, and terms joined with ``&&``.
    Anything else raises ``IPAMError``: a selector that cannot be evaluated is never guessed at.
    """
    text = '' if selector is None else str(selector)
    if not text.strip():
        return []
    terms = []
    for part in text.split('&&'):
        found = _SEL_TERM.match(part)
        if found is None:
            raise IPAMError("%s=%r: only all(), key == 'value', key != 'value', has(key), !has(key) and && "
                            "are supported" % (option, selector), option)
        if found.group('all'):
            continue
        if found.group('has'):
            terms.append(('!has' if found.group('neg') else 'has', found.group('has'), None))
        else:
            terms.append((found.group('op'), found.group('key'), found.group('val')))
    return terms


def selector_matches(selector, labels, option='nodeSelector'):
    labels = labels or {}
    for op, key, value in parse_selector(selector, option):
        if op == 'has' and key not in labels:
            return False
        if op == '!has' and key in labels:
            return False
        if op == '==' and labels.get(key) != value:
            return False
        if op == '!=' and labels.get(key) == value:
            return False
    return True


def new_affinity():
    return {'state': 'confirmed', 'deleted': False}


def new_handle():
    return {'block': {}, 'deleted': False}


def handle_count(record):
    return sum(int(n) for n in (record.get('block') or {}).values())


def block_problems(data):
    """What is wrong with a block record, as a list of sentences (empty when it is sound).

    A sound block: a valid CIDR; ``allocations`` has one entry per address, each ``null`` or the
    index of an entry of ``attributes``; ``unallocated`` lists each free ordinal exactly once and
    no allocated one. Anything else could hand out an address that a handle holds.
    """
    try:
        net = ipaddress.IPv4Network(data.get('cidr'), strict=True)
    except (ValueError, TypeError, AttributeError) as exc:
        return ['no valid cidr (%s)' % exc]
    size = net.num_addresses
    out = []
    allocs = data.get('allocations')
    attrs = data.get('attributes')
    unalloc = data.get('unallocated')
    if attrs is not None and (not isinstance(attrs, list) or not all(isinstance(a, dict) for a in attrs)):
        return ['attributes is not a list of objects']
    nattrs = len(attrs or [])
    if allocs is not None:
        if not isinstance(allocs, list) or len(allocs) != size:
            return ['allocations has %s entries, the block has %d addresses'
                    % (len(allocs) if isinstance(allocs, list) else 'no list of', size)]
        for o, a in enumerate(allocs):
            if a is not None and (not isinstance(a, int) or isinstance(a, bool) or a < 0 or a >= nattrs):
                out.append('allocations[%d]=%r names no entry of attributes' % (o, a))
    if unalloc is not None:
        if not isinstance(unalloc, list) or not all(isinstance(u, int) and not isinstance(u, bool)
                                                    for u in unalloc):
            return out + ['unallocated is not a list of ordinals']
        bad = [u for u in unalloc if u < 0 or u >= size]
        if bad:
            out.append('unallocated holds ordinals outside the block: %s' % bad[:5])
        if len(set(unalloc)) != len(unalloc):
            out.append('unallocated lists an ordinal twice')
        if allocs is not None and isinstance(allocs, list) and len(allocs) == size:
            taken = [u for u in unalloc if 0 <= u < size and allocs[u] is not None]
            if taken:
                out.append('unallocated lists allocated ordinals %s' % taken[:5])
            free = set(o for o, a in enumerate(allocs) if a is None)
            lost = sorted(free - set(unalloc))
            if lost:
                out.append('free ordinals %s are missing from unallocated' % lost[:5])
    return out


def parse_block(value, key):
    """The Block of a stored record; IPAMError naming every problem of a corrupt one."""
    data = loads(value, key)
    bad = block_problems(data)
    if bad:
        raise IPAMError('; '.join(bad))
    return Block(data, key)


class Block(object):
    """An allocation block: a view over the block's JSON dict.

    Only the fields of Calico's AllocationBlock are written; fields another Calico version wrote
    are kept as they are.
    """

    __slots__ = ('data', 'net', 'base', 'size')

    def __init__(self, data, key=None, check=True):
        self.data = data
        if check:
            problems = block_problems(data)
            if problems:
                raise IPAMError('block record %s is corrupt: %s; nothing was assigned from it '
                                '(calico_ipam_info with check=true lists the problems)'
                                % (key or data.get('cidr'), '; '.join(problems)))
        try:
            self.net = ipaddress.IPv4Network(data['cidr'], strict=True)
        except (KeyError, ValueError, TypeError) as exc:
            raise IPAMError('block record %s has no valid cidr: %s' % (key, exc))
        self.base = int(self.net.network_address)
        self.size = self.net.num_addresses
        if data.get('allocations') is None:
            data['allocations'] = [None] * self.size
        if data.get('unallocated') is None:
            data['unallocated'] = [i for i in range(self.size) if data['allocations'][i] is None]
        if data.get('attributes') is None:
            data['attributes'] = []

    @classmethod
    def new(cls, cidr, node):
        """A new block as Calico creates it: every ordinal free, in order, and a sequence number
        that starts at the creation time in nanoseconds (so a recreated block never repeats one)."""
        net = ipaddress.IPv4Network(str(cidr))
        size = net.num_addresses
        return cls({
            'cidr': str(net),
            'affinity': ('host:' + node) if node else None,
            'allocations': [None] * size,
            'unallocated': list(range(size)),
            'attributes': [],
            'sequenceNumber': time.time_ns(),
            'sequenceNumberForAllocation': {},
            'deleted': False,
        })

    @property
    def cidr(self):
        return str(self.net)

    @property
    def key(self):
        return block_key(self.net)

    @property
    def host(self):
        aff = self.data.get('affinity')
        if isinstance(aff, str) and aff.startswith('host:'):
            return aff[5:]
        return None

    def set_affinity(self, node):
        self.data['affinity'] = ('host:' + node) if node else None

    def free_count(self):
        return len(self.data['unallocated'])

    def used_count(self):
        return self.size - len(self.data['unallocated'])

    def is_empty(self):
        return len(self.data['unallocated']) == self.size

    def ip_of(self, ordinal):
        return str(ipaddress.IPv4Address(self.base + ordinal))

    def ordinal_of(self, ip):
        ordinal = int(ipaddress.IPv4Address(ip)) - self.base
        if ordinal < 0 or ordinal >= self.size:
            raise IPAMError('address %s is not in block %s' % (ip, self.cidr))
        return ordinal

    def handle_at(self, ordinal):
        idx = self.data['allocations'][ordinal]
        if idx is None:
            return None
        attrs = self.data['attributes']
        if idx < 0 or idx >= len(attrs):
            return None
        return attrs[idx].get('handle_id')

    def ordinals_of(self, handle):
        attrs = self.data['attributes']
        idxs = set(i for i, a in enumerate(attrs) if a.get('handle_id') == handle)
        if not idxs:
            return []
        return [o for o, a in enumerate(self.data['allocations']) if a is not None and a in idxs]

    def handles(self):
        """{handle_id: [ordinals]} for every allocated address."""
        out = {}
        attrs = self.data['attributes']
        for o, idx in enumerate(self.data['allocations']):
            if idx is None:
                continue
            hid = attrs[idx].get('handle_id') if 0 <= idx < len(attrs) else None
            out.setdefault(hid, []).append(o)
        return out

    def _attr_index(self, handle, secondary):
        attrs = self.data['attributes']
        for i, a in enumerate(attrs):
            if a.get('handle_id') == handle and (a.get('secondary') or None) == (secondary or None):
                return i
        attrs.append({'handle_id': handle, 'secondary': secondary or None})
        return len(attrs) - 1

    def _touch(self):
        self.data['sequenceNumber'] = int(self.data.get('sequenceNumber') or 0) + 1

    def assign(self, handle, secondary, ordinal=None):
        """Allocate ``ordinal`` (or the next one in Calico's order) to ``handle``; return the ordinal."""
        unalloc = self.data['unallocated']
        if ordinal is None:
            if not unalloc:
                return None
            ordinal = unalloc[0]
            del unalloc[0]
        else:
            if self.data['allocations'][ordinal] is not None:
                return None
            unalloc.remove(ordinal)
        self.data['allocations'][ordinal] = self._attr_index(handle, secondary)
        seqs = self.data.get('sequenceNumberForAllocation')
        if not isinstance(seqs, dict):
            seqs = self.data['sequenceNumberForAllocation'] = {}
        seqs[str(ordinal)] = int(self.data.get('sequenceNumber') or 0)
        self._touch()
        return ordinal

    def release(self, ordinals):
        """Free ``ordinals`` (released addresses go to the end of the free list, as in Calico)."""
        allocs = self.data['allocations']
        seqs = self.data.get('sequenceNumberForAllocation') or {}
        for o in ordinals:
            if allocs[o] is None:
                continue
            allocs[o] = None
            self.data['unallocated'].append(o)
            seqs.pop(str(o), None)
        self._compact_attributes()
        self._touch()

    def _compact_attributes(self):
        allocs = self.data['allocations']
        attrs = self.data['attributes']
        used = sorted(set(a for a in allocs if a is not None))
        if used == list(range(len(attrs))):
            return
        remap = dict((old, new) for new, old in enumerate(used))
        self.data['attributes'] = [attrs[i] for i in used]
        self.data['allocations'] = [None if a is None else remap[a] for a in allocs]

    def to_json(self):
        return dumps(self.data)


def pool_blocks(pool, block_size):
    """Every block CIDR of ``pool`` in address order (a generator)."""
    return pool.subnets(new_prefix=block_size)


def block_of(ip, block_size):
    return ipaddress.IPv4Network('%s/%d' % (ip, block_size), strict=False)
