# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``ipam check``: each kind of inconsistency is found, a sound store is ok, and leaks are listed."""

from __future__ import annotations

import json

import pytest

from ansible_collections.podnet.calico.plugins.module_utils.ipam import _model as m
from ansible_collections.podnet.calico.plugins.module_utils.ipam._allocator import Allocator
from ansible_collections.podnet.calico.plugins.module_utils.ipam._check import check
from ansible_collections.podnet.calico.plugins.module_utils.ipam._store import MemoryStore

POOL = "10.244.0.0/16"


def populated():
    store = MemoryStore()
    alloc = Allocator(store)
    for i in range(5):
        alloc.assign("ns.p%d" % i, "n%d" % (i % 2), POOL)
    return store


def edit(store, key, fn):
    value, rev = store.get(key)
    data = json.loads(value)
    fn(data)
    store.put(key, json.dumps(data), rev)


def drop(store, key):
    store.delete(key, store.get(key)[1])


BLOCK0 = m.block_key("10.244.0.0/26")


def _corrupt(store):
    edit(store, BLOCK0, lambda d: d["unallocated"].insert(0, 0))


def _no_handle_attr(store):
    edit(store, BLOCK0, lambda d: d["attributes"][0].update(handle_id=None))


def _count(store):
    edit(store, m.handle_key("ns.p0"), lambda d: d["block"].update({"10.244.0.0/26": 2}))


def _stray_handle(store):
    store.create(m.handle_key("ns.ghost"), json.dumps({"block": {"10.244.0.0/26": 1}, "deleted": False}))


def _stray_affinity(store):
    store.create(m.affinity_key("n9", "10.244.9.0/26"), json.dumps({"state": "confirmed", "deleted": False}))


def _wrong_affinity(store):
    store.create(m.affinity_key("n1", "10.244.0.0/26"), json.dumps({"state": "confirmed", "deleted": False}))


def _overlap(store):
    blk = m.Block.new("10.244.0.0/27", "n7")
    blk.assign("ns.dup", {"node": "n7"})
    store.create(m.block_key("10.244.0.0/27"), blk.to_json())
    store.create(m.handle_key("ns.dup"), json.dumps({"block": {"10.244.0.0/27": 1}, "deleted": False}))
    store.create(m.affinity_key("n7", "10.244.0.0/27"), json.dumps({"state": "confirmed", "deleted": False}))


def _outside(store):
    blk = m.Block.new("10.99.0.0/26", "n0")
    store.create(m.block_key("10.99.0.0/26"), blk.to_json())
    store.create(m.affinity_key("n0", "10.99.0.0/26"), json.dumps({"state": "confirmed", "deleted": False}))


@pytest.mark.parametrize("damage,kind", [
    (_corrupt, "corrupt_record"),
    (lambda s: drop(s, m.handle_key("ns.p0")), "missing_handle_record"),
    (_no_handle_attr, "allocation_without_handle"),
    (_count, "handle_count_mismatch"),
    (_stray_handle, "empty_handle_record"),
    (_stray_affinity, "affinity_without_block"),
    (lambda s: drop(s, m.affinity_key("n0", "10.244.0.0/26")), "block_without_affinity"),
    (_wrong_affinity, "affinity_mismatch"),
    (_overlap, "address_twice"),
    (_outside, "block_outside_pools"),
])
def test_each_inconsistency_is_found(damage, kind):
    store = populated()
    assert check(store)["ok"]
    damage(store)
    got = check(store)
    assert not got["ok"] and kind in [p["kind"] for p in got["problems"]], got["problems"]


def test_leaks_and_counts():
    store = populated()
    got = check(store, live_handles=["ns.p0", "ns.p1", "ns.p2"])
    assert [lk["handle"] for lk in got["leaks"]] == ["ns.p3", "ns.p4"] and not got["ok"]
    assert got["counts"] == {"pools": 1, "blocks": 2, "handles": 5, "addresses": 5}
    Allocator(store).release_leaks(["ns.p0", "ns.p1", "ns.p2"])
    assert check(store, live_handles=["ns.p0", "ns.p1", "ns.p2"])["ok"]


def test_corrupt_block_is_never_assigned_from():
    """Issue 11: a corrupt block gave a traceback or handed out an address that another handle holds."""
    store = populated()
    _corrupt(store)
    with pytest.raises(m.IPAMError) as err:
        Allocator(store).assign("ns.new", "n0", POOL)
    assert "is corrupt" in str(err.value) and "unallocated lists allocated ordinals [0]" in str(err.value)
    assert store.get(m.handle_key("ns.new")) is None
