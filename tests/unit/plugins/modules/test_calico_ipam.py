# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The calico_ipam module's own logic: parameter checks, batch rollback, results and diffs."""

from __future__ import annotations

import pytest

from ansible_collections.podnet.calico.plugins.module_utils.ipam._allocator import Allocator
from ansible_collections.podnet.calico.plugins.module_utils.ipam._batch import BatchError
from ansible_collections.podnet.calico.plugins.module_utils.ipam._model import IPAMError
from ansible_collections.podnet.calico.plugins.module_utils.ipam._store import MemoryStore, OverlayStore
from ansible_collections.podnet.calico.plugins.modules import calico_ipam


def params(**kw):
    p = dict((k, v.get("default")) for k, v in calico_ipam.argument_spec().items())
    p.update(kw)
    return p


@pytest.mark.parametrize("kw,option", [
    ({"handle": "a b", "pool": "10.0.0.0/24", "node": "n"}, "handle"),
    ({"handles": [{"handle": "ok"}, {"handle": "x/y"}], "pool": "10.0.0.0/24", "node": "n"}, "handles[1].handle"),
    ({"handle": "h", "pool": "10.0.0.0/24", "node": "-bad"}, "node"),
    ({"handle": "h", "pool": "10.0.0.0/24", "node": "n", "ip": "10.0.1.1"}, "ip"),
    ({"handle": "h", "pool": "10.0.0.1/24", "node": "n"}, "pool"),
])
def test_request_checks_name_the_option(kw, option):
    with pytest.raises(IPAMError) as err:
        calico_ipam.IPAMRequest(params(**kw))
    assert err.value.option == option
    assert option.split("[")[0] in str(err.value)


def test_batch_rolls_back_on_exhaustion():
    store = MemoryStore()
    alloc = Allocator(store)
    alloc.assign("pre.1", "n1", "10.0.0.0/30", block_size=30)
    p = params(pool="10.0.0.0/30", node="n1", handles=[{"handle": "b.%d" % i} for i in range(4)])
    with pytest.raises(BatchError) as err:
        calico_ipam.merged(alloc, calico_ipam.IPAMRequest(p), p)
    assert "exhausted" in str(err.value) and "undone: released the 3 address(es)" in str(err.value)
    assert err.value.details["not_undone"] == [] and err.value.option == "pool"
    assert [h["handle"] for h in alloc.info()["handles"]] == ["pre.1"]


def test_failed_batch_keeps_what_existed_before_it():
    """Issue 11 item 1: a batch that also created the pool marked every result changed, and its undo
    released a handle it had only looked up; that address was then given to another pod."""
    store = MemoryStore()
    alloc = Allocator(store)
    pre = alloc.assign("pre.1", "n1", "10.0.0.0/30", block_size=30)
    pool_key = alloc.pools()[0]["key"]
    store.delete(pool_key, store.get(pool_key)[1])      # the pool record is gone, the block stays
    alloc = Allocator(store)
    p = params(pool="10.0.0.0/30", node="n1", block_size=30,
               handles=[{"handle": "pre.1"}] + [{"handle": "b.%d" % i} for i in range(4)])
    with pytest.raises(BatchError) as err:
        calico_ipam.merged(alloc, calico_ipam.IPAMRequest(p), p)
    assert alloc.lookup("pre.1") == [(pre["ip"], pre["block"])]
    assert [u["handle"] for u in err.value.details["undone"]] == ["b.0", "b.1", "b.2"]
    assert err.value.details["pool_kept"], "the pool still has a block, so it is kept and the message says so"
    assert "was kept" in str(err.value)


def test_failed_batch_deletes_the_pool_it_created():
    alloc = Allocator(MemoryStore())
    p = params(pool="10.0.0.0/24", node="n1", handles=[{"handle": "a.1"}, {"handle": "a.2", "ip": "10.0.0.0"}])
    with pytest.raises(BatchError) as err:
        calico_ipam.merged(alloc, calico_ipam.IPAMRequest(p), p)
    assert "already assigned to handle a.1" in str(err.value)
    assert alloc.pools() == [] and alloc.info()["blocks"] == [] and err.value.details["pool_kept"] is None


def test_handle_holding_an_address_of_another_pool_is_an_error():
    """Issue 11 item 1: the old answer was the other pool's address with changed=true."""
    alloc = Allocator(MemoryStore())
    alloc.assign("default.web", "n1", "10.0.0.0/24")
    p = params(pool="10.1.0.0/24", node="n1", handle="default.web")
    with pytest.raises(IPAMError) as err:
        calico_ipam.merged(alloc, calico_ipam.IPAMRequest(p), p)
    assert err.value.option == "pool" and "already holds 10.0.0.0" in str(err.value)
    assert [p["cidr"] for p in alloc.pools()] == ["10.0.0.0/24"], "the other pool is not left behind"


def test_merged_deleted_results():
    alloc = Allocator(MemoryStore())
    p = params(pool="10.0.0.0/24", node="n1", handle="default.web", attributes={"pod": "web"})
    out = calico_ipam.merged(alloc, calico_ipam.IPAMRequest(p), p)
    assert out["changed"] and out["ip"] == "10.0.0.0" and out["block"] == "10.0.0.0/26"
    assert out["before"] == {"assignments": {"default.web": None}}
    assert out["after"] == {"assignments": {"default.web": "10.0.0.0"}}
    assert out["changes"] == ["created IP pool podnet-ipv4-10-0-0-0-24 (10.0.0.0/24)",
                              "claimed block 10.0.0.0/26 for node n1",
                              "assigned 10.0.0.0 to default.web (block 10.0.0.0/26)"]
    again = calico_ipam.merged(alloc, calico_ipam.IPAMRequest(p), p)
    assert not again["changed"] and again["before"] == again["after"] and again["changes"] == []
    p = params(handle="default.web", state="deleted")
    gone = calico_ipam.deleted(alloc, calico_ipam.IPAMRequest(p), p)
    assert gone["changed"] and gone["released"] == [{"handle": "default.web", "ips": ["10.0.0.0"]}]
    assert gone["before"] == {"assignments": {"default.web": "10.0.0.0"}}
    assert gone["after"] == {"assignments": {"default.web": None}}
    assert not calico_ipam.deleted(alloc, calico_ipam.IPAMRequest(p), p)["changed"]
    p = params(handle="default.web", state="absent")
    assert calico_ipam.IPAMRequest(p).state == "deleted"


def test_gathered_reads():
    alloc = Allocator(MemoryStore())
    alloc.assign("a.1", "n1", "10.0.0.0/24")
    alloc.assign("a.2", "n2", "10.0.0.0/24")
    p = params(handle="a.2", state="gathered")
    out = calico_ipam.gathered(alloc, calico_ipam.IPAMRequest(p), p)
    assert out == {"changed": False, "changes": [], "gathered": [{"handle": "a.2", "ips": ["10.0.0.64"],
                                                                  "blocks": ["10.0.0.64/26"]}]}
    p = params(node="n1", state="gathered")
    assert [g["handle"] for g in calico_ipam.gathered(alloc, calico_ipam.IPAMRequest(p), p)["gathered"]] == ["a.1"]


def test_check_mode_batch_gives_distinct_answers_and_writes_nothing():
    base = MemoryStore()
    alloc = Allocator(OverlayStore(base))
    p = params(pool="10.0.0.0/24", node="n1", handles=[{"handle": "h.%d" % i} for i in range(3)])
    out = calico_ipam.merged(alloc, calico_ipam.IPAMRequest(p), p)
    assert [a["ip"] for a in out["assignments"]] == ["10.0.0.0", "10.0.0.1", "10.0.0.2"]
    assert base.list("/") == []


@pytest.mark.parametrize("kw,option", [
    ({"handles": [{"handle": "a", "node": "n1"}, {"handle": "b"}], "pool": "10.0.0.0/24"}, "node"),
    ({"handles": [{"handle": "a", "node": "n1"}, {"handle": "b", "node": "-bad"}], "pool": "10.0.0.0/24"},
     "handles[1].node"),
])
def test_items_without_a_node_or_with_a_bad_one_are_refused(kw, option):
    with pytest.raises(IPAMError) as err:
        calico_ipam.IPAMRequest(params(**kw))
    assert err.value.option == option and option in str(err.value)


def test_handles_of_several_nodes_in_one_task():
    """One task for every node's tunnel address: each node claims its own block, as one task per node did."""
    alloc = Allocator(MemoryStore())
    p = params(pool="10.0.0.0/24", block_size=26,
               handles=[{"handle": "vxlan-tunnel-addr-n%d" % i, "node": "n%d" % i,
                         "attributes": {"node": "n%d" % i, "type": "vxlanTunnelAddress"}} for i in (1, 2, 3)])
    out = calico_ipam.merged(alloc, calico_ipam.IPAMRequest(p), p)
    assert [(a["node"], a["ip"], a["block"]) for a in out["assignments"]] == [
        ("n1", "10.0.0.0", "10.0.0.0/26"), ("n2", "10.0.0.64", "10.0.0.64/26"), ("n3", "10.0.0.128", "10.0.0.128/26")]
    assert [c for c in out["changes"] if c.startswith("claimed")] == [
        "claimed block 10.0.0.0/26 for node n1", "claimed block 10.0.0.64/26 for node n2",
        "claimed block 10.0.0.128/26 for node n3"]
    assert out["node"] is None
    again = calico_ipam.merged(alloc, calico_ipam.IPAMRequest(p), p)
    assert not again["changed"] and [a["ip"] for a in again["assignments"]] == ["10.0.0.0", "10.0.0.64", "10.0.0.128"]
    # The same handles one task per node give the same answer (node n1's handle given with node=).
    single = params(pool="10.0.0.0/24", node="n1", handle="vxlan-tunnel-addr-n1")
    assert calico_ipam.merged(alloc, calico_ipam.IPAMRequest(single), single)["ip"] == "10.0.0.0"


def test_failure_of_a_later_node_keeps_the_nodes_before_it():
    """Node by node: the node that failed is undone, the nodes before it keep what they got (as one task per node)."""
    alloc = Allocator(MemoryStore())
    p = params(pool="10.0.0.0/29", block_size=30, strict_affinity=True,
               handles=[{"handle": "a.%d" % i, "node": "n1"} for i in range(2)]
               + [{"handle": "b.%d" % i, "node": "n2"} for i in range(6)])
    with pytest.raises(BatchError) as err:
        calico_ipam.merged(alloc, calico_ipam.IPAMRequest(p), p)
    msg = str(err.value)
    assert msg.startswith("node n2: ") and "the handles of the nodes before it (n1) keep their addresses" in msg, msg
    assert sorted(h["handle"] for h in alloc.info()["handles"]) == ["a.0", "a.1"]
