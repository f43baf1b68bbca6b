# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One IPAM operation on a SQLite datastore that SIGKILLs its own process at the N-th SQL statement.

Usage: python fault_worker.py <sqlite path> '<json op>' <N>   (N=0: never killed)

The statement counter is SQLite's trace callback, which runs as each statement starts, so
"killed at N" means the process dies with statements 1..N-1 done and N not started: every
point of the operation, inside and between transactions, is reached by some N. Prints
``{"statements": count, "result": ...}`` when the operation finished without being killed.
"""

from __future__ import annotations

import json
import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))

from ansible_collections.podnet.calico.plugins.module_utils.ipam._allocator import Allocator  # noqa: E402
from ansible_collections.podnet.calico.plugins.module_utils.ipam._sqlite import SQLiteStore  # noqa: E402


def run(alloc, op):
    if op["op"] == "assign":
        return alloc.assign(op["handle"], op["node"], op["pool"], block_size=op.get("block_size"), ip=op.get("ip"))
    if op["op"] == "release":
        return alloc.release(op["handle"])
    if op["op"] == "release_node_blocks":
        return alloc.release_node_blocks(op["node"])
    raise ValueError(op)


def main():
    path, op, kill_at = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
    count = [0]

    def trace(_sql):
        count[0] += 1
        if kill_at and count[0] >= kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    store = SQLiteStore(path)
    store._db.set_trace_callback(trace)
    result = run(Allocator(store), op)
    store._db.set_trace_callback(None)
    store.close()
    sys.stdout.write(json.dumps({"statements": count[0], "result": result}) + "\n")


if __name__ == "__main__":
    main()
