# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Calico's keys and block records, and the key-value contract on the embedded stores."""

from __future__ import annotations

import time

import pytest

from ansible_collections.podnet.calico.plugins.module_utils.ipam import _model as m
from ansible_collections.podnet.calico.plugins.module_utils.ipam._datastore import open_store
from ansible_collections.podnet.calico.plugins.module_utils.ipam._sqlite import SQLiteStore
from ansible_collections.podnet.calico.plugins.module_utils.ipam._store import (
    ConflictError, MemoryStore, Op, OverlayStore, StoreError)


@pytest.mark.parametrize("func,args,want", [
    (m.block_key, ("10.244.0.0/26",), "/calico/ipam/v2/assignment/ipv4/block/10.244.0.0-26"),
    (m.affinity_key, ("node1", "10.244.0.64/26"), "/calico/ipam/v2/host/node1/ipv4/block/10.244.0.64-26"),
    (m.handle_key, ("default.nginx",), "/calico/ipam/v2/handle/default.nginx"),
    (m.pool_key, ("default-ipv4-ippool",), "/calico/resources/v3/projectcalico.org/ippools/default-ipv4-ippool"),
    (m.parse_affinity_key, ("/calico/ipam/v2/host/n1/ipv4/block/10.0.0.0-26",), ("n1", "10.0.0.0/26")),
    (m.parse_affinity_key, ("/calico/ipam/v2/host/n1/ipv6/block/fd00::-122",), None),
])
def test_keys(func, args, want):
    assert func(*args) == want


@pytest.mark.parametrize("pool,size,ok", [
    ("10.244.0.0/16", 26, True), ("10.244.0.0/16", 20, True), ("10.244.0.0/16", 32, True),
    # Calico's IPv4 bounds are 20..32: a /16 block would be a 65536-entry record (issue 11).
    ("10.244.0.0/16", 16, False), ("10.244.0.0/16", 19, False), ("10.0.0.0/8", 8, False),
    ("10.244.0.0/24", 22, False),
    ("10.244.0.0/16", 15, False), ("10.244.0.0/16", 33, False), ("10.244.0.0/16", True, False),
])
def test_block_size_range(pool, size, ok):
    net = m.parse_pool(pool)
    if ok:
        m.check_block_size(net, size)
    else:
        with pytest.raises(m.IPAMError) as err:
            m.check_block_size(net, size)
        assert err.value.option == "block_size" and "block_size=" in str(err.value)


@pytest.mark.parametrize("pool", ["10.244.0.1/16", "10.244.0.0/33", "fd00::/64", "", "x"])
def test_bad_pools(pool):
    with pytest.raises(m.IPAMError) as err:
        m.parse_pool(pool)
    assert err.value.option == "pool"


def test_block_order_release_and_compaction():
    before = time.time_ns()
    blk = m.Block.new("10.0.0.0/29", "n1")
    start = blk.data["sequenceNumber"]
    # Calico starts a new block's sequence number at the creation time in nanoseconds.
    assert before <= start <= time.time_ns()
    assert [blk.assign("h%d" % i, {"node": "n1"}) for i in range(3)] == [0, 1, 2]
    blk.release(blk.ordinals_of("h0"))
    assert blk.data["unallocated"] == [3, 4, 5, 6, 7, 0]
    assert blk.data["allocations"][:3] == [None, 0, 1]
    assert [a["handle_id"] for a in blk.data["attributes"]] == ["h1", "h2"]
    assert blk.assign("h3", None) == 3
    assert blk.assign("h4", None, ordinal=0) == 0
    assert blk.assign("h5", None, ordinal=0) is None
    assert blk.handles() == {"h1": [1], "h2": [2], "h3": [3], "h4": [0]}
    assert blk.used_count() == 4 and blk.free_count() == 4
    assert blk.data["sequenceNumber"] == start + 6
    with pytest.raises(m.IPAMError):
        blk.ordinal_of("10.0.0.8")


def _stores(tmp_path):
    yield MemoryStore()
    yield SQLiteStore(str(tmp_path / "a.sqlite"))
    yield OverlayStore(MemoryStore())


@pytest.mark.parametrize("index", [0, 1, 2])
def test_contract(tmp_path, index):
    s = list(_stores(tmp_path))[index]
    r1 = s.create("/k/a", "1")
    with pytest.raises(ConflictError):
        s.create("/k/a", "1")
    with pytest.raises(ConflictError):
        s.put("/k/a", "2", r1 + 100)
    r2 = s.put("/k/a", "2", r1)
    assert r2 > r1 and s.get("/k/a") == ("2", r2)
    with pytest.raises(ConflictError):
        s.commit([Op("create", "/k/b", "b"), Op("delete", "/k/a", revision=r1)])
    assert s.get("/k/b") is None
    s.commit([Op("create", "/k/b", "b"), Op("delete", "/k/a", revision=r2)])
    assert s.list("/k/") == [("/k/b", "b", s.get("/k/b")[1])]
    assert s.get_many(["/k/a", "/k/b"]) == {"/k/b": s.get("/k/b")}
    with pytest.raises(ValueError):
        s.commit([Op("create", "/k/c", "1"), Op("create", "/k/c", "2")])


def test_overlay_writes_nothing_through(tmp_path):
    base = SQLiteStore(str(tmp_path / "b.sqlite"))
    rev = base.create("/k/x", "base")
    over = OverlayStore(base)
    over.put("/k/x", "over", rev)
    over.create("/k/y", "y")
    assert over.get("/k/x")[0] == "over" and [k for k, _v, _r in over.list("/k/")] == ["/k/x", "/k/y"]
    assert base.get("/k/x") == ("base", rev) and base.get("/k/y") is None
    over.delete("/k/x", over.get("/k/x")[1])
    assert over.get("/k/x") is None and base.get("/k/x") is not None


def test_sqlite_shared_by_two_connections(tmp_path):
    path = str(tmp_path / "c.sqlite")
    a, b = SQLiteStore(path), SQLiteStore(path)
    r = a.create("/k/x", "1")
    with pytest.raises(ConflictError):
        b.create("/k/x", "2")
    b.put("/k/x", "2", r)
    with pytest.raises(ConflictError):
        a.put("/k/x", "3", r)
    assert a.get("/k/x")[0] == "2"


def test_open_store_read_only_creates_nothing(tmp_path):
    path = tmp_path / "sub" / "none.sqlite"
    store = open_store(datastore="sqlite", sqlite_path=str(path), read_only=True)
    assert isinstance(store, MemoryStore) and not path.exists()
    with pytest.raises(StoreError) as err:
        open_store(datastore="consul")
    assert err.value.option == "datastore"
    bad = tmp_path / "file"
    bad.write_text("x")
    with pytest.raises(StoreError) as err:
        open_store(datastore="sqlite", sqlite_path=str(bad / "ipam.sqlite"))
    assert err.value.option == "sqlite_path" and str(bad) in str(err.value)
