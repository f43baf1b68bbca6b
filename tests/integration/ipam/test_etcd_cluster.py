# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""IPAM on a real etcd cluster as users run it: 3 members (Debian's etcd), each in its own network
namespace, TLS for clients and peers, 8 worker processes x 250 assignments in a client namespace,
while the leader is killed and later restarted, and while the member the clients use first is cut off (link down).

Zero duplicates, zero lost handles, and every worker either succeeds at once or meets a clear
"cannot reach etcd" error and succeeds on retry.
"""

from __future__ import annotations

import os
import time

import pytest

from ansible_collections.podnet.calico.plugins.module_utils.ipam._allocator import Allocator
from ansible_collections.podnet.calico.plugins.module_utils.ipam._check import check
from ansible_collections.podnet.calico.plugins.module_utils.ipam._etcd import EtcdStore
from etcd_server import ETCD, EtcdCluster, in_netns
import workers

POOL = "10.244.0.0/16"
WORKERS = 8
PER_WORKER = 250


@pytest.fixture
def cluster(tmp_path):
    if not os.access(ETCD, os.X_OK):
        pytest.fail("%s is missing: install the Debian package etcd-server" % ETCD)
    if os.geteuid() != 0:
        pytest.skip("the etcd cluster test needs root: it creates network namespaces")
    c = EtcdCluster(str(tmp_path)).start()
    yield c
    c.stop()


def count_handles(c):
    def body():
        store = EtcdStore(**c.store_kwargs(timeout=1.0))
        try:
            return len(store.list("/calico/ipam/v2/handle/", keys_only=True))
        finally:
            store.close()
    try:
        return in_netns(c.client_ns, body)
    except Exception:  # noqa: BLE001 - a probe during an election may fail: try again later
        return None


def wait_progress(c, at_least, procs, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        n = count_handles(c)
        if n is not None and n >= at_least:
            return n
        if all(p.poll() is not None for p in procs):
            break
        time.sleep(0.1)
    raise AssertionError("the run did not reach %d handles" % at_least)


def run_with_fault(c, fault, name):
    jobs = [{"store": c.open_store_kwargs(timeout=2.0), "op": "assign", "pool": POOL, "node": "node%d" % (i % 4),
             "retry_unavailable": 120, "handles": ["%s%d.pod-%d" % (name, i, j) for j in range(PER_WORKER)]}
            for i in range(WORKERS)]
    t0 = time.time()
    procs = [workers.start(job, wrap=c.client_cmd) for job in jobs]
    total = WORKERS * PER_WORKER
    at = wait_progress(c, total // 4, procs)
    info = fault(c)
    results = [workers.collect(p, timeout=600) for p in procs]
    seconds = time.time() - t0
    successes, unavailable, errors = [], 0, []
    for rc, res, summary, err in results:
        if rc != 0:
            state = []
            for i, log in enumerate(c.logs):
                proc = c.procs[i]
                with open(log) as f:
                    state.append("m%d %s: %s" % (i, "running" if proc and proc.poll() is None else "exited %s"
                                                 % (proc and proc.returncode), f.read()[-1500:]))
            raise AssertionError("a worker failed for good:\n%s\n%s" % (err[-2000:], "\n".join(state)))
        successes.extend(res)
        unavailable += summary[0]["unavailable"]
        errors.extend(summary[0]["errors"])
    print("%s: fault at %d/%d handles (%s); %d retries after unavailable errors; %d assignments in %.1f s "
          "(%.0f/s, busy shared machine)" % (name, at, total, info, unavailable, len(successes), seconds,
                                             len(successes) / seconds))
    for e in errors[:3]:
        print("  error seen by a worker:", e[:200])
    assert at < total, "the run finished before the fault: nothing was tested"
    assert len(successes) == total, "lost handles: %d of %d" % (total - len(successes), total)
    ips = [r["ip"] for r in successes]
    assert len(set(ips)) == len(ips), "an address was given twice"
    for e in errors:
        assert "cannot reach etcd" in e and "etcd_endpoints=" in e, e

    def verify():
        store = EtcdStore(**c.store_kwargs(timeout=5.0))
        alloc = Allocator(store)
        stored = alloc.info()
        by_handle = dict((h["handle"], h["ips"]) for h in stored["handles"])
        for r in successes:
            assert by_handle.get(r["handle"]) == [r["ip"]], r
        assert len(by_handle) == total
        report = check(store)
        assert report["ok"], report["problems"][:5]
    in_netns(c.client_ns, verify)


def test_leader_killed_and_restarted(cluster):
    def fault(c):
        leader = c.leader()
        c.kill_member(leader)
        time.sleep(3)
        new = c.leader()
        assert new != leader
        c.start_member(leader)
        return "leader m%d killed, m%d elected, m%d restarted 3 s later" % (leader, new, leader)
    run_with_fault(cluster, fault, "k")


def test_member_partitioned(cluster):
    """Member m0, the first endpoint of every worker, is cut off: the workers must move on."""
    def fault(c):
        leader = c.leader()
        c.partition(0)
        time.sleep(5)
        c.heal(0)
        return "m0 (%s) cut off for 5 s, then its link up again" % ("the leader" if leader == 0 else "a follower")
    run_with_fault(cluster, fault, "p")
