# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property tests of the IPAM allocator (hypothesis) over the in-memory and SQLite stores."""

from __future__ import annotations

import ipaddress
import json
import os
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.podnet.calico.plugins.module_utils.ipam import _model as m
from ansible_collections.podnet.calico.plugins.module_utils.ipam._allocator import Allocator
from ansible_collections.podnet.calico.plugins.module_utils.ipam._model import PoolExhaustedError
from ansible_collections.podnet.calico.plugins.module_utils.ipam._sqlite import SQLiteStore
from ansible_collections.podnet.calico.plugins.module_utils.ipam._store import MemoryStore

POOL = "10.10.0.0/26"
NODES = ["n0", "n1", "n2"]

ops = st.lists(st.one_of(
    st.tuples(st.just("assign"), st.integers(0, 79), st.integers(0, 2), st.booleans()),
    st.tuples(st.just("release"), st.integers(0, 79), st.just(0), st.just(False)),
), min_size=1, max_size=120)


def check_invariants(store, pool, held):
    """No address twice, every address in a block of the pool, blocks and handles consistent."""
    net = ipaddress.IPv4Network(pool)
    seen = {}
    for key, value, _rev in store.list(m.BLOCK_PREFIX):
        blk = m.Block(json.loads(value))
        assert key == m.block_key(blk.cidr)
        assert ipaddress.IPv4Network(blk.cidr).subnet_of(net)
        allocs = blk.data["allocations"]
        free = blk.data["unallocated"]
        assert len(free) == len(set(free))
        assert sorted(free + [o for o, a in enumerate(allocs) if a is not None]) == list(range(blk.size))
        for o, a in enumerate(allocs):
            if a is None:
                continue
            assert 0 <= a < len(blk.data["attributes"])
            ip = blk.ip_of(o)
            assert ip not in seen, "address %s given twice" % ip
            seen[ip] = blk.handle_at(o)
        if blk.host is not None:
            assert store.get(m.affinity_key(blk.host, blk.cidr)) is not None
    # What the allocator returned is exactly what the store holds.
    assert dict((h, ip) for ip, h in seen.items()) == held
    for key, value, _rev in store.list(m.HANDLE_PREFIX):
        handle = key[len(m.HANDLE_PREFIX):]
        assert handle in held and m.handle_count(json.loads(value)) == 1


def run_ops(store, sequence, block_size, strict):
    alloc = Allocator(store)
    held = {}
    for op, h, n, fresh in sequence:
        handle = "ns.pod-%d" % h
        if op == "assign":
            if fresh:
                alloc = Allocator(store)   # a new process: no remembered block
            try:
                r = alloc.assign(handle, NODES[n], POOL, block_size=block_size, strict_affinity=strict)
            except PoolExhaustedError:
                assert handle not in held
                continue
            if handle in held:
                assert r["ip"] == held[handle] and not r["changed"]
                continue
            else:
                assert r["changed"] and r["ip"] not in held.values()
                held[handle] = r["ip"]
            blk = m.Block(json.loads(store.get(m.block_key(r["block"]))[0]))
            assert ipaddress.IPv4Address(r["ip"]) in ipaddress.IPv4Network(r["block"])
            if r["borrowed"]:
                assert not strict and blk.host != NODES[n]
            else:
                assert blk.host == NODES[n], "affinity not respected"
        else:
            r = alloc.release(handle)
            assert r["changed"] == (handle in held)
            if handle in held:
                assert r["ips"] == [held.pop(handle)]
        check_invariants(store, POOL, held)
    return alloc, held


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=ops, block_size=st.sampled_from([28, 29, 30]), strict=st.booleans())
def test_allocator_invariants_memory(sequence, block_size, strict):
    run_ops(MemoryStore(), sequence, block_size, strict)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=ops, block_size=st.sampled_from([28, 30]))
def test_allocator_invariants_sqlite(sequence, block_size):
    with tempfile.TemporaryDirectory(prefix="pnt-ipam-") as d:
        store = SQLiteStore(os.path.join(d, "ipam.sqlite"))
        try:
            run_ops(store, sequence, block_size, False)
        finally:
            store.close()


@settings(max_examples=30, deadline=None)
@given(block_size=st.sampled_from([27, 28, 29, 30, 31, 32]), order=st.permutations(list(range(64))))
def test_release_then_assign_gives_back_capacity(block_size, order):
    """Fill the pool, release some in any order: exactly that many assignments succeed again."""
    store = MemoryStore()
    alloc = Allocator(store)
    for i in range(64):
        alloc.assign("h.%d" % i, NODES[i % 3], POOL, block_size=block_size)
    with pytest.raises(PoolExhaustedError):
        alloc.assign("h.extra", "n0", POOL)
    freed = order[:10]
    for i in freed:
        alloc.release("h.%d" % i)
    got = set()
    for i in range(10):
        got.add(alloc.assign("again.%d" % i, NODES[i % 3], POOL)["ip"])
    assert len(got) == 10
    with pytest.raises(PoolExhaustedError):
        alloc.assign("h.extra", "n0", POOL)
    check_invariants(store, POOL, dict((h["handle"], h["ips"][0]) for h in alloc.info()["handles"]))


@settings(max_examples=40, deadline=None)
@given(ips=st.lists(st.integers(0, 63), min_size=1, max_size=20, unique=True))
def test_specific_addresses(ips):
    store = MemoryStore()
    alloc = Allocator(store)
    for i, o in enumerate(ips):
        ip = str(ipaddress.IPv4Address("10.10.0.0") + o)
        r = alloc.assign("s.%d" % i, NODES[o % 3], POOL, block_size=28, ip=ip)
        assert r["ip"] == ip
    # Automatic assignments never hand out one of those.
    auto = [alloc.assign("a.%d" % i, "n0", POOL)["ip"] for i in range(64 - len(ips))]
    assert not set(auto) & set(str(ipaddress.IPv4Address("10.10.0.0") + o) for o in ips)
