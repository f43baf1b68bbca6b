# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Calico's rules the allocator follows (issue 10 item 4) and read-only opening of SQLite (issue 11 item 5)."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest

from ansible_collections.podnet.calico.plugins.module_utils.ipam import _model as m
from ansible_collections.podnet.calico.plugins.module_utils.ipam._allocator import Allocator
from ansible_collections.podnet.calico.plugins.module_utils.ipam._datastore import open_store
from ansible_collections.podnet.calico.plugins.module_utils.ipam._sqlite import SQLiteStore
from ansible_collections.podnet.calico.plugins.module_utils.ipam._store import MemoryStore, StoreError

POOL = "10.0.0.0/24"
# The fields of Calico's AllocationBlock (libcalico-go lib/backend/model/block.go); hostAffinity is omitempty.
BLOCK_FIELDS = {"cidr", "affinity", "allocations", "unallocated", "attributes", "sequenceNumber",
                "sequenceNumberForAllocation", "deleted"}


def test_new_block_has_only_calico_fields():
    store = MemoryStore()
    Allocator(store).assign("a.1", "n1", POOL, strict_affinity=True)
    block = json.loads(store.get(m.block_key("10.0.0.0/26"))[0])
    assert set(block) == BLOCK_FIELDS


def fill_node(alloc, node, n, tag="p"):
    return [alloc.assign("%s.%s%d" % (node, tag, i), node, POOL, block_size=26) for i in range(n)]


@pytest.mark.parametrize("config,borrows", [
    (None, True),
    ({"strict_affinity": False, "auto_allocate_blocks": True}, True),
    ({"strict_affinity": True, "auto_allocate_blocks": True}, False),
])
def test_ipam_config_strict_affinity_is_honoured(config, borrows):
    store = MemoryStore()
    if config is not None:
        store.create(m.CONFIG_KEY, json.dumps(config))
    alloc = Allocator(store)
    for i in range(4):
        fill_node(alloc, "n%d" % i, 1)      # every block of the /24 is claimed
    fill_node(alloc, "n0", 63, "q")        # n0's block is full
    if borrows:
        assert alloc.assign("extra", "n0", POOL)["borrowed"]
    else:
        with pytest.raises(m.PoolExhaustedError) as err:
            alloc.assign("extra", "n0", POOL)
        assert "IPAMConfig strict_affinity" in str(err.value)


def test_ipam_config_max_blocks_and_auto_allocate():
    store = MemoryStore()
    store.create(m.CONFIG_KEY, json.dumps({"auto_allocate_blocks": True, "maxBlocksPerHost": 1}))
    alloc = Allocator(store)
    fill_node(alloc, "n0", 64)
    fill_node(alloc, "n1", 1)
    r = alloc.assign("n0.more", "n0", POOL)
    assert r["borrowed"] and r["block"] == "10.0.0.64/26", "no second block for n0: it borrows instead"
    store2 = MemoryStore()
    store2.create(m.CONFIG_KEY, json.dumps({"strict_affinity": True}))   # auto_allocate_blocks absent = false
    with pytest.raises(m.PoolExhaustedError) as err:
        Allocator(store2).assign("x", "n0", POOL)
    assert "auto_allocate_blocks" in str(err.value)


@pytest.mark.parametrize("selector,labels,ok", [
    ("all()", {}, True), ("", {}, True),
    ("role == 'worker'", {"role": "worker"}, True), ("role == 'worker'", {"role": "gw"}, False),
    ("role != 'gw'", {}, True), ("role != 'gw'", {"role": "gw"}, False),
    ("has(edge)", {"edge": ""}, True), ("has(edge)", {}, False), ("!has(edge)", {}, True),
    ("has(zone) && zone == \"a\"", {"zone": "a"}, True), ("has(zone) && zone == 'a'", {"zone": "b"}, False),
])
def test_selectors(selector, labels, ok):
    assert m.selector_matches(selector, labels) is ok


@pytest.mark.parametrize("selector", ["role in {'a'}", "a == 'x' || b == 'y'", "!(a == 'b')", "a =="])
def test_unsupported_selectors_are_refused(selector):
    with pytest.raises(m.IPAMError) as err:
        m.parse_selector(selector)
    assert "are supported" in str(err.value)


def test_pool_created_with_calico_options():
    store = MemoryStore()
    options = {"vxlan_mode": "CrossSubnet", "nat_outgoing": True, "node_selector": "role == 'worker'"}
    Allocator(store).assign("a.1", "n1", POOL, pool_options=options, node_labels={"role": "worker"})
    (key, value, _rev), = store.list(m.POOL_PREFIX)
    spec = json.loads(value)["spec"]
    assert spec == {"cidr": POOL, "blockSize": 26, "ipipMode": "Never", "vxlanMode": "CrossSubnet",
                    "natOutgoing": True, "nodeSelector": "role == 'worker'", "allowedUses": ["Workload", "Tunnel"]}


def _journal_mode(path):
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        db.close()


def test_read_only_opening_writes_nothing(tmp_path):
    """Issue 11 item 5: opening switched the file to WAL and created tables before looking at it."""
    empty = str(tmp_path / "empty.sqlite")
    open(empty, "w").close()
    store = open_store("sqlite", empty, read_only=True)
    assert store.list("/") == [] and os.path.getsize(empty) == 0
    path = str(tmp_path / "ipam.sqlite")
    SQLiteStore(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=DELETE")
    db.close()
    with open(path, "rb") as f:
        before = f.read()
    ro = open_store("sqlite", path, read_only=True)
    assert ro.list("/") == []
    with pytest.raises(StoreError):
        ro.create("/x", "y")
    ro.close()
    assert _journal_mode(path) == "delete"
    with open(path, "rb") as f:
        assert f.read() == before


def test_foreign_sqlite_database_is_refused(tmp_path):
    path = str(tmp_path / "app.db")
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE kv (k TEXT)")
    db.commit()
    db.close()
    with open(path, "rb") as f:
        before = f.read()
    for read_only in (False, True):
        with pytest.raises(StoreError) as err:
            open_store("sqlite", path, read_only=read_only)
        assert err.value.option == "sqlite_path" and "not a podnet.calico IPAM datastore" in str(err.value)
    with open(path, "rb") as f:
        assert f.read() == before
    assert _journal_mode(path) == "delete"


class CountingStore(MemoryStore):
    """A MemoryStore that counts its range reads (the CNI plugin pays a round trip for each on etcd)."""

    def __init__(self):
        super().__init__()
        self.lists = []

    def list(self, prefix, keys_only=False):
        self.lists.append(prefix)
        return super().list(prefix, keys_only)


def test_pools_read_once_for_an_assignment_from_a_listed_pool():
    store = CountingStore()
    Allocator(store).ensure_pool(POOL)
    alloc = Allocator(store)
    store.lists.clear()
    pools = alloc.pools()
    got = alloc.assign("a.1", "n1", pools[0]["cidr"])
    assert got["changed"] and got["ip"].startswith("10.")
    assert store.lists.count(m.POOL_PREFIX) == 1, store.lists
    # a pool whose record is broken is not remembered: ensure_pool reads it again and names the problem
    bad = Allocator(store)
    store.lists.clear()
    bad._remember_pool({"cidr": "10.99.0.0/16", "block_size": 12})   # pylint: disable=protected-access
    assert "10.99.0.0/16" not in bad._pool_cache                     # pylint: disable=protected-access
