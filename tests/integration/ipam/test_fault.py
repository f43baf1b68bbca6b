# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""etcd is killed (SIGKILL) and restarted in the middle of a run of assignments."""

from __future__ import annotations

import time

from ansible_collections.podnet.calico.plugins.module_utils.ipam._allocator import Allocator
from ansible_collections.podnet.calico.plugins.module_utils.ipam._etcd import EtcdStore
from etcd_server import EtcdServer
import workers

POOL = "10.244.0.0/16"


def test_etcd_killed_and_restarted_mid_run(tmp_path):
    server = EtcdServer(str(tmp_path), name="pnt-etcd-fault").start()
    try:
        kw = server.store_kwargs()
        store_job = {"datastore": "etcd", "etcd_endpoints": kw["endpoints"], "etcd_timeout": 2.0}
        jobs = [{"store": store_job, "op": "assign", "pool": POOL, "node": "node%d" % i, "retry_unavailable": 60,
                 "handles": ["f%d.pod-%d" % (i, j) for j in range(300)]} for i in range(3)]
        procs = [workers.start(job) for job in jobs]
        probe = EtcdStore(**kw)
        # Wait until the run is well under way, then kill etcd without warning.
        deadline = time.time() + 30
        while time.time() < deadline and len(probe.list("/calico/ipam/v2/handle/", keys_only=True)) < 150:
            time.sleep(0.05)
        before_kill = len(probe.list("/calico/ipam/v2/handle/", keys_only=True))
        assert 150 <= before_kill < 900, "the run finished before etcd could be killed (%d)" % before_kill
        server.kill()
        time.sleep(1.5)
        server.start()
        results = [workers.collect(p, timeout=120) for p in procs]
        successes = []
        unavailable = 0
        for rc, res, summary, err in results:
            assert rc == 0, err[-3000:]
            successes.extend(res)
            unavailable += summary[0]["unavailable"]
        print("handles before kill: %d, unavailable errors seen by workers: %d" % (before_kill, unavailable))
        assert unavailable > 0, "the workers never saw etcd down: the test did not test anything"
        assert len(successes) == 900
        ips = [r["ip"] for r in successes]
        assert len(set(ips)) == len(ips), "an address was given twice"
        alloc = Allocator(EtcdStore(**kw))
        for r in successes:
            assert alloc.lookup(r["handle"]) == [(r["ip"], r["block"])], r
        info = alloc.info()
        stored = [ip for h in info["handles"] for ip in h["ips"]]
        assert len(stored) == len(set(stored)) == 900
        assert not info["problems"]
    finally:
        server.stop()
