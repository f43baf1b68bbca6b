# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The calico_ipam module's own logic: parameter checks, batch rollback, results and diffs."""

from __future__ import annotations

import pytest

from ansible_collections.podnet.calico.plugins.module_utils.ipam._allocator import Allocator
from ansible_collections.podnet.calico.plugins.module_utils.ipam._model import IPAMError, PoolExhaustedError
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
    with pytest.raises(PoolExhaustedError):
        calico_ipam.present(alloc, calico_ipam.IPAMRequest(p), p)
    assert [h["handle"] for h in alloc.info()["handles"]] == ["pre.1"]


def test_present_and_absent_results():
    alloc = Allocator(MemoryStore())
    p = params(pool="10.0.0.0/24", node="n1", handle="default.web", attributes={"pod": "web"})
    out = calico_ipam.present(alloc, calico_ipam.IPAMRequest(p), p)
    assert out["changed"] and out["ip"] == "10.0.0.0" and out["block"] == "10.0.0.0/26"
    assert out["diff"] == {"before": {"assignments": {}}, "after": {"assignments": {"default.web": "10.0.0.0"}}}
    again = calico_ipam.present(alloc, calico_ipam.IPAMRequest(p), p)
    assert not again["changed"] and again["diff"]["before"] == again["diff"]["after"]
    p = params(handle="default.web", state="absent")
    gone = calico_ipam.absent(alloc, calico_ipam.IPAMRequest(p), p)
    assert gone["changed"] and gone["released"] == [{"handle": "default.web", "ips": ["10.0.0.0"]}]
    assert not calico_ipam.absent(alloc, calico_ipam.IPAMRequest(p), p)["changed"]


def test_check_mode_batch_gives_distinct_answers_and_writes_nothing():
    base = MemoryStore()
    alloc = Allocator(OverlayStore(base))
    p = params(pool="10.0.0.0/24", node="n1", handles=[{"handle": "h.%d" % i} for i in range(3)])
    out = calico_ipam.present(alloc, calico_ipam.IPAMRequest(p), p)
    assert [a["ip"] for a in out["assignments"]] == ["10.0.0.0", "10.0.0.1", "10.0.0.2"]
    assert base.list("/") == []
