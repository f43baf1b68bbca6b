# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Several processes assign and release at once: no address twice, every handle stored, blocks freed."""

from __future__ import annotations

import ipaddress

import pytest

from ansible_collections.podnet.calico.plugins.module_utils.ipam._allocator import Allocator
from ansible_collections.podnet.calico.plugins.module_utils.ipam._datastore import open_store
import workers

POOL = "10.244.0.0/16"


def _store_job(kind, server=None, path=None):
    if kind == "sqlite":
        return {"datastore": "sqlite", "sqlite_path": path}
    kw = server.store_kwargs()
    return {"datastore": "etcd", "etcd_endpoints": kw["endpoints"], "etcd_ca_cert": kw.get("ca_cert"),
            "etcd_cert": kw.get("cert"), "etcd_key": kw.get("key")}


def _check_and_release(store_job, procs, nodes, per_proc):
    jobs = [{"store": store_job, "op": "assign", "pool": POOL, "node": nodes[i % len(nodes)],
             "handles": ["ns%d.pod-%d" % (i, j) for j in range(per_proc)]} for i in range(procs)]
    results = workers.run_all(jobs)
    assigned = []
    for rc, res, summary, err in results:
        assert rc == 0, err[-3000:]
        assert summary, err[-3000:]
        assigned.extend(res)
    total = procs * per_proc
    assert len(assigned) == total
    ips = [r["ip"] for r in assigned]
    assert len(set(ips)) == total, "an address was given twice"
    assert all(ipaddress.IPv4Address(ip) in ipaddress.IPv4Network(POOL) for ip in ips)
    assert all(r["changed"] for r in assigned)

    store = open_store(**store_job)
    try:
        alloc = Allocator(store)
        info = alloc.info()
        held = dict((h["handle"], h["ips"]) for h in info["handles"])
        assert len(held) == total
        for r in assigned:
            assert held[r["handle"]] == [r["ip"]], r
            assert alloc.lookup(r["handle"]) == [(r["ip"], r["block"])]
        blocks = dict((b["cidr"], b) for b in info["blocks"])
        for r in assigned:
            blk = blocks[r["block"]]
            if not r["borrowed"]:
                assert blk["node"] == r["node"], (r, blk)
        assert sum(b["used"] for b in info["blocks"]) == total
        assert set(b["node"] for b in info["blocks"]) <= set(nodes)
        assert not info["problems"]
    finally:
        store.close()

    # Release everything, in parallel too.
    rjobs = [{"store": store_job, "op": "release", "handles": job["handles"]} for job in jobs]
    released = []
    for rc, res, summary, err in workers.run_all(rjobs):
        assert rc == 0, err[-3000:]
        released.extend(res)
    assert sorted(ip for r in released for ip in r["ips"]) == sorted(ips)

    store = open_store(**store_job)
    try:
        alloc = Allocator(store)
        info = alloc.info()
        assert info["handles"] == [] and not info["problems"]
        assert all(b["used"] == 0 for b in info["blocks"])
        assert store.list("/calico/ipam/v2/handle/") == []
        for node in nodes:
            res = alloc.release_node_blocks(node)
            assert not res["kept_blocks"]
        assert store.list("/calico/ipam/v2/assignment/") == []
        assert store.list("/calico/ipam/v2/host/") == []
    finally:
        store.close()


def test_etcd_8_processes_4_nodes(etcd_plain):
    _check_and_release(_store_job("etcd", etcd_plain), procs=8, nodes=["node%d" % i for i in range(4)], per_proc=250)


def test_sqlite_4_processes_one_file(tmp_path):
    _check_and_release(_store_job("sqlite", path=str(tmp_path / "ipam.sqlite")), procs=4,
                       nodes=["node%d" % i for i in range(4)], per_proc=500)


@pytest.mark.parametrize("kind", ["sqlite", "etcd"])
def test_small_pool_contention_borrowing_and_exhaustion(kind, etcd_plain, tmp_path):
    """4 processes on 4 nodes race for a /26 pool of /28 blocks: 64 addresses, then the pool is exhausted."""
    store_job = _store_job(kind, etcd_plain, str(tmp_path / "ipam.sqlite"))
    pool = "10.250.0.0/26"
    jobs = [{"store": store_job, "op": "assign", "pool": pool, "block_size": 28, "node": "node%d" % i,
             "handles": ["p%d.%d" % (i, j) for j in range(16)]} for i in range(4)]
    results = workers.run_all(jobs)
    ips = []
    for rc, res, _summary, err in results:
        assert rc == 0, err[-3000:]
        ips.extend(r["ip"] for r in res)
    assert len(ips) == 64 and len(set(ips)) == 64
    store = open_store(**store_job)
    try:
        from ansible_collections.podnet.calico.plugins.module_utils.ipam._model import PoolExhaustedError
        with pytest.raises(PoolExhaustedError):
            Allocator(store).assign("one.more", "node0", pool)
    finally:
        store.close()
