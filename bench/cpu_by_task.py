# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-playbook that also writes, for every host-task, the CPU seconds of the worker that ran it.

Used by benchlib.timed_playbook(cpu_by_task=PATH) in place of ansible-playbook: same arguments, same
behaviour, and one line per host-task appended to the file named by PODNET_BENCH_CPU_TSV:
``<worker CPU s>\t<CPU s of the processes the worker waited for>\t<host>\t<role or ->\t<task name>``.
The worker's own user + sys CPU is read with getrusage(RUSAGE_SELF) as it ends (a forked worker starts
at zero); the second figure is RUSAGE_CHILDREN: a module the worker ran on the controller (connection
local) and the ssh clients it started. The main ansible-playbook process is in neither figure.

It wraps ansible-core's WorkerProcess._run, an internal method (present in ansible-core 2.19 to
2.21): a benchmark aid, not part of the collection.
"""

import os
import resource
import sys

from ansible.executor.process import worker


def _install(path):
    original = worker.WorkerProcess._run

    def _run(self):
        try:
            return original(self)
        finally:
            own, waited = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
            role = self._task._role.get_name() if getattr(self._task, "_role", None) else "-"
            name = self._task.get_name(include_role_fqcn=False).replace("\t", " ").replace("\n", " ")
            line = "%.4f\t%.4f\t%s\t%s\t%s\n" % (own.ru_utime + own.ru_stime, waited.ru_utime + waited.ru_stime,
                                                 self._host.name, role, name)
            with open(path, "a") as handle:
                handle.write(line)

    worker.WorkerProcess._run = _run


def main():
    _install(os.environ["PODNET_BENCH_CPU_TSV"])
    from ansible.cli.playbook import main as playbook_main
    sys.argv[0] = "ansible-playbook"
    return playbook_main()


if __name__ == "__main__":
    sys.exit(main())
