# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""IPAM benchmark: assignments per second on SQLite and etcd, and raw etcd CAS transactions per second.

    .venv/bin/python bench/ipam/bench_ipam.py [--count 1000] [--json out.json]

Starts its own etcd (Debian's /usr/bin/etcd, 127.0.0.1, free ports, a temp data dir) and a temp
SQLite file, measures, prints a table and checks the targets (etcd sequential assignments >= 0.45x
the raw CAS rate measured in the same run; SQLite sequential >= 2000/s). Exit status 1 when a target
is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "ipam"))

from ansible_collections.podnet.calico.plugins.module_utils.ipam._allocator import Allocator  # noqa: E402
from ansible_collections.podnet.calico.plugins.module_utils.ipam._etcd import EtcdStore  # noqa: E402
from ansible_collections.podnet.calico.plugins.module_utils.ipam._sqlite import SQLiteStore  # noqa: E402
from etcd_server import EtcdCluster, EtcdServer  # noqa: E402
import workers  # noqa: E402

POOL = "10.96.0.0/12"


def raw_cas(store, count):
    """Sequential compare-and-swap transactions on one key (what every IPAM write costs)."""
    rev = store.create("/bench/cas", "0")
    t0 = time.perf_counter()
    for i in range(count):
        rev = store.put("/bench/cas", str(i), rev)
    return count / (time.perf_counter() - t0)


def sequential(store, count, prefix, fresh=False):
    """One node, ``count`` new handles, one allocator (or a new one per call with ``fresh``)."""
    alloc = Allocator(store)
    alloc.assign("%s.warmup" % prefix, "bench-node", POOL)
    t0 = time.perf_counter()
    for i in range(count):
        if fresh:
            alloc = Allocator(store)
        alloc.assign("%s.%d" % (prefix, i), "bench-node", POOL)
    return count / (time.perf_counter() - t0)


def concurrent(store_job, count, prefix, procs=4, wrap=None, nodes=None):
    jobs = [{"store": store_job, "op": "assign", "pool": POOL, "node": "%s-node%d" % (prefix, i % (nodes or procs)),
             "retry_unavailable": 60,
             "handles": ["%s%d.%d" % (prefix, i, j) for j in range(count // procs)]} for i in range(procs)]
    start_at = time.time() + 1.0
    procs_ = [workers.start(dict(job, start_at=start_at), wrap) for job in jobs]
    results = [workers.collect(p, timeout=600) for p in procs_]
    end = time.time()
    n = 0
    for rc, res, _summary, err in results:
        if rc != 0:
            raise RuntimeError(err[-2000:])
        n += len(res)
    return n / (end - start_at)


def cluster_vs_single(count):
    """8 processes x count/8 assignments on 4 nodes, TLS: one member on 127.0.0.1, then the 3-member
    cluster in network namespaces (the workers in the client namespace). Needs root."""
    tmp = tempfile.mkdtemp(prefix="pnt%d-bench-cluster-" % os.getpid())
    out = {}
    try:
        os.makedirs(os.path.join(tmp, "single"))
        single = EtcdServer(os.path.join(tmp, "single"), tls=True, name="pnt-bench-single").start()
        try:
            kw = single.store_kwargs()
            job = {"datastore": "etcd", "etcd_endpoints": kw["endpoints"], "etcd_ca_cert": kw["ca_cert"],
                   "etcd_cert": kw["cert"], "etcd_key": kw["key"]}
            out["etcd_tls_single_8way_per_s"] = concurrent(job, count, "s", procs=8, nodes=4)
        finally:
            single.stop()
        os.makedirs(os.path.join(tmp, "cluster"))
        cluster = EtcdCluster(os.path.join(tmp, "cluster")).start()
        try:
            job = cluster.open_store_kwargs()
            out["etcd_tls_cluster3_8way_per_s"] = concurrent(job, count, "c", procs=8, wrap=cluster.client_cmd, nodes=4)
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for name, key in (("etcd TLS, 1 member, 8 processes on 4 nodes", "etcd_tls_single_8way_per_s"),
                      ("etcd TLS, 3 members in namespaces, 8 processes on 4 nodes", "etcd_tls_cluster3_8way_per_s")):
        print("%-58s %8.0f /s" % (name, out[key]))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--json")
    ap.add_argument("--cluster", action="store_true",
                    help="only compare a TLS single member with a 3-member TLS cluster (8 workers; root)")
    args = ap.parse_args()
    if args.cluster:
        out = cluster_vs_single(args.count)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(out, f, indent=2)
        return 0
    tmp = tempfile.mkdtemp(prefix="pnt%d-bench-ipam-" % os.getpid())
    os.makedirs(os.path.join(tmp, "etcd"))
    server = EtcdServer(os.path.join(tmp, "etcd"), name="pnt-bench-etcd").start()
    out = {}
    try:
        et = EtcdStore([server.url])
        out["etcd_raw_cas_per_s"] = raw_cas(et, args.count)
        out["etcd_seq_per_s"] = sequential(et, args.count, "eseq")
        out["etcd_seq_cold_per_s"] = sequential(et, max(args.count // 4, 50), "ecold", fresh=True)
        out["etcd_4way_per_s"] = concurrent({"datastore": "etcd", "etcd_endpoints": [server.url]}, args.count, "econ")
        et.close()
        path = os.path.join(tmp, "ipam.sqlite")
        sq = SQLiteStore(path)
        out["sqlite_seq_per_s"] = sequential(sq, args.count * 4, "sseq")
        out["sqlite_seq_cold_per_s"] = sequential(sq, args.count, "scold", fresh=True)
        out["sqlite_4way_per_s"] = concurrent({"datastore": "sqlite", "sqlite_path": path}, args.count * 4, "scon")
        sq.close()
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    ratio = out["etcd_seq_per_s"] / out["etcd_raw_cas_per_s"]
    out["etcd_seq_vs_raw"] = ratio
    rows = [
        ("etcd raw CAS transactions (sequential)", out["etcd_raw_cas_per_s"]),
        ("etcd assignments, sequential (one allocator)", out["etcd_seq_per_s"]),
        ("etcd assignments, sequential, new allocator per call", out["etcd_seq_cold_per_s"]),
        ("etcd assignments, 4 processes on 4 nodes", out["etcd_4way_per_s"]),
        ("SQLite assignments, sequential (one allocator)", out["sqlite_seq_per_s"]),
        ("SQLite assignments, sequential, new allocator per call", out["sqlite_seq_cold_per_s"]),
        ("SQLite assignments, 4 processes on 4 nodes", out["sqlite_4way_per_s"]),
    ]
    for name, value in rows:
        print("%-58s %8.0f /s" % (name, value))
    print("%-58s %8.2f x  (target >= 0.45)" % ("etcd sequential assignments / raw CAS", ratio))
    ok = ratio >= 0.45 and out["sqlite_seq_per_s"] >= 2000
    print("targets:", "met" if ok else "MISSED")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
