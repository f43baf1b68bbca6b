# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start ipam_worker.py processes and collect what they report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ipam_worker.py")


def start(job, wrap=None):
    """Start a worker; ``wrap`` turns its argv into another (e.g. run it in a network namespace)."""
    argv = [sys.executable, WORKER, json.dumps(job)]
    if wrap is not None:
        argv = wrap(argv)
    return subprocess.Popen(argv, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True)


def collect(proc, timeout=300):
    out, err = proc.communicate(timeout=timeout)
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    return proc.returncode, [x for x in lines if "done" not in x], [x for x in lines if "done" in x], err


def run_all(jobs, timeout=300, wrap=None):
    """Run the jobs in parallel, started together; return [(rc, results, summary, stderr)]."""
    start_at = time.time() + 0.5
    procs = [start(dict(job, start_at=start_at), wrap) for job in jobs]
    return [collect(p, timeout) for p in procs]
