# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmarks' one timing helper: run ansible-playbook, measure wall time and controller CPU.

timed_playbook() starts ansible-playbook with the tests' environment (tests/integration/podnet_testlib.py:
the collection from this checkout, the podnet_json stdout callback) and waits for it with os.wait4(),
whose resource usage is the playbook's own user + sys CPU plus that of every descendant it waited
for: the Ansible workers, the ssh clients and the modules run on the controller (delegate_to:
localhost, connection: local). Not counted: the nodes' sshd and the modules run on the nodes (on this
machine they run on the same cores and slow the wall time down, on a real fleet they are the nodes'
CPU), and ssh ControlPersist masters, which detach. With cpu_by_task=True the run goes through
cpu_by_task.py, which also records each host-task's worker CPU (PlaybookRun.task_cpu, cpu_of_roles()).
print_table() prints rows as a Markdown table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from podnet_testlib import VENV_BIN, ansible_env  # noqa: E402  (the tests' shared library)


@dataclass
class PlaybookRun:
    """One ansible-playbook run: wall seconds, controller CPU seconds, what it reported."""
    playbook: str
    rc: int
    wall: float
    cpu_user: float
    cpu_sys: float
    load: float
    data: dict = field(repr=False)
    output: str = field(repr=False)
    #: with cpu_by_task: one dict per host-task (cpu: the worker's own, waited: what it waited for)
    task_cpu: list = field(default_factory=list, repr=False)

    @property
    def cpu(self):
        return self.cpu_user + self.cpu_sys

    @property
    def stats(self):
        return self.data.get("stats", {})

    @property
    def changed(self):
        return sum(h.get("changed", 0) for h in self.stats.values())

    @property
    def tasks(self):
        """Task headers (a task counts once however many hosts ran it)."""
        return sum(len(play["tasks"]) for play in self.data.get("plays", []))

    def cpu_of_roles(self, roles):
        """CPU seconds of the workers (and what they waited for) of the host-tasks of ``roles``."""
        return sum(t["cpu"] + t["waited"] for t in self.task_cpu if t["role"] in roles)

    @property
    def host_tasks(self):
        """Host-tasks: each task once per host it ran or was skipped on (a worker each)."""
        return sum(len(task["hosts"]) for play in self.data.get("plays", []) for task in play["tasks"])


def timed_playbook(playbook, extra_vars=None, inventory="localhost,", forks=None, env=None, check=True,
                   cpu_by_task=False):
    """Run one playbook; return a PlaybookRun. With check=True a failed run stops the benchmark."""
    if cpu_by_task:
        cmd = [os.path.join(VENV_BIN, "python"), os.path.join(ROOT, "bench", "cpu_by_task.py"), "-i", inventory, playbook]
    else:
        cmd = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", inventory, playbook]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    extra_env = {"ANSIBLE_STDOUT_CALLBACK": "podnet_json"}
    if forks:
        extra_env["ANSIBLE_FORKS"] = str(forks)
    extra_env.update(env or {})
    tsv = None
    if cpu_by_task:
        handle, tsv = tempfile.mkstemp(prefix="pnt-bench-cpu-", suffix=".tsv")
        os.close(handle)
        extra_env["PODNET_BENCH_CPU_TSV"] = tsv
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=ansible_env(extra_env), stdout=out, stderr=err,
                                universal_newlines=True)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    try:
        data = json.loads(stdout[stdout.index('{"plays"'):]) if '{"plays"' in stdout else {}
    except ValueError:
        data = {}
    task_cpu = []
    if tsv:
        with open(tsv) as handle:
            for line in handle:
                own, waited, host, role, name = line.rstrip("\n").split("\t", 4)
                task_cpu.append({"cpu": float(own), "waited": float(waited), "host": host, "role": role, "task": name})
        os.unlink(tsv)
    run = PlaybookRun(playbook=os.path.basename(playbook), rc=proc.returncode, wall=wall, cpu_user=usage.ru_utime,
                      cpu_sys=usage.ru_stime, load=os.getloadavg()[0], data=data, output=stdout + stderr,
                      task_cpu=task_cpu)
    if check and run.rc != 0:
        sys.exit("%s failed (rc %d):\n%s\n%s" % (playbook, run.rc, stdout[-3000:], stderr[-3000:]))
    return run


def print_table(rows, columns):
    """rows: dicts; columns: (key, header, format) triples. Prints a Markdown table."""
    print("| " + " | ".join(header for _key, header, _fmt in columns) + " |")
    print("|" + "|".join("---:" if fmt != "s" else "---" for _key, _header, fmt in columns) + "|")
    for row in rows:
        print("| " + " | ".join(format(row[key], fmt) for key, _header, fmt in columns) + " |")
    sys.stdout.flush()
