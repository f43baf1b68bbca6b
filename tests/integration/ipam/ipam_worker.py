# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A worker process of the IPAM concurrency and fault tests (and of bench/ipam).

Usage: python ipam_worker.py '<json job>'; prints one JSON line per successful operation,
flushed at once, so a parent sees every success even if the worker dies afterwards.

job: {"store": {"datastore": "sqlite"|"etcd", ...open_store kwargs}, "op": "assign"|"release",
      "pool": CIDR, "node": str, "handles": [str], "retry_unavailable": seconds, "start_at": epoch}
"""

from __future__ import annotations

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))

from ansible_collections.podnet.calico.plugins.module_utils.ipam._allocator import Allocator  # noqa: E402
from ansible_collections.podnet.calico.plugins.module_utils.ipam._datastore import open_store  # noqa: E402
from ansible_collections.podnet.calico.plugins.module_utils.ipam._store import StoreUnavailableError  # noqa: E402


def main():
    job = json.loads(sys.argv[1])
    store = open_store(**job["store"])
    alloc = Allocator(store)
    retry = float(job.get("retry_unavailable", 0))
    if job.get("start_at"):
        time.sleep(max(0.0, job["start_at"] - time.time()))
    t0 = time.time()
    failures = 0
    errors = []
    for handle in job["handles"]:
        deadline = time.time() + retry
        while True:
            try:
                if job["op"] == "assign":
                    res = alloc.assign(handle, job["node"], job["pool"], block_size=job.get("block_size"),
                                       attributes={"worker": str(os.getpid())})
                    out = {"handle": handle, "ip": res["ip"], "block": res["block"], "node": job["node"],
                           "borrowed": res["borrowed"], "changed": res["changed"]}
                else:
                    res = alloc.release(handle)
                    out = {"handle": handle, "ips": res["ips"], "changed": res["changed"]}
                break
            except StoreUnavailableError as exc:
                failures += 1
                text = str(exc)[:300]
                if len(errors) < 5 and text not in errors:
                    errors.append(text)
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
    sys.stdout.write(json.dumps({"done": True, "seconds": time.time() - t0, "unavailable": failures,
                                 "errors": errors}) + "\n")
    sys.stdout.flush()
    store.close()


if __name__ == "__main__":
    main()
