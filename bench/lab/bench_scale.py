#!/usr/bin/env python
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scale benchmark of the lab's main job: N nodes x 2 pods, first run and rerun of playbooks/lab.yml.

For each node count it brings up its own lab (prefix pbs, state dir /tmp/podnet-bench-scale,
underlay 10.89.248.0/22) through the first run of lab.yml, runs lab.yml again (the rerun must
report changed=0), and takes the lab down. It reports per run the wall time and the controller's
own CPU seconds (user + sys of ansible-playbook and all its children: the Ansible workers, the ssh
clients and the tasks that run on the controller; bench/benchlib.py measures it with os.wait4), in
total and per node, with the task and host-task counts and the load average at the end of each run. It
also reports the part of that CPU spent by the workers of the lab role's own tasks (bench/cpu_by_task.py:
each worker's CPU and that of the modules it ran on the controller), which a cluster of real machines
does not run, and the CPU per node without it; the main ansible-playbook process's share of those tasks
stays in both figures. On this machine the nodes run on the same cores (their sshd and modules are not
children of ansible-playbook and are not counted in the controller figure, but they do slow its wall
time down).

Usage: .venv/bin/python bench/lab/bench_scale.py [--nodes 3 10 20] [--pods 2] [--forks 10] [--no-preload] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchlib import ROOT, print_table, timed_playbook  # noqa: E402

STATE_DIR = "/tmp/podnet-bench-scale"
#: the lab's own role: it builds the namespaces, runs etcd and containerd, asks containerd for the pods
#: through CRI, probes and reports. None of its tasks runs against a cluster of real machines (site.yml).
LAB_ROLES = ("podnet.calico.lab", "lab")
COLUMNS = [("nodes", "nodes", "d"), ("run", "run", "s"), ("wall_s", "wall s", ".1f"),
           ("wall_s_per_node", "wall s/node", ".2f"), ("controller_cpu_s", "controller CPU s", ".1f"),
           ("cpu_s_per_node", "CPU s/node", ".2f"), ("lab_role_cpu_s", "of it lab role", ".1f"),
           ("cpu_s_per_node_without_lab", "CPU s/node without it", ".2f"), ("tasks", "tasks", "d"), ("host_tasks", "host-tasks", "d"),
           ("changed", "changed", "d"), ("load", "load", ".1f")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[3, 10, 20])
    parser.add_argument("--pods", type=int, default=2)
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--json")
    parser.add_argument("--no-preload", action="store_true",
                        help="run without the podnet.calico.preload callback (make lab enables it)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the lab makes network namespaces")
    env = {"PODNET_LAB_DIR": STATE_DIR,
           "ANSIBLE_CALLBACKS_ENABLED": None if args.no_preload else "podnet.calico.preload"}
    rows = []
    for nodes in args.nodes:
        extra = {"lab_prefix": "pbs", "lab_state_dir": STATE_DIR, "lab_nodes": nodes,
                 "lab_underlay_cidr": "10.89.248.0/22", "lab_pod_cidr": "10.250.0.0/16",
                 "lab_pods_per_node": args.pods}
        try:
            for label in ("first", "rerun"):
                run = timed_playbook(os.path.join(ROOT, "playbooks", "lab.yml"), extra, forks=args.forks, env=env,
                                     cpu_by_task=True)
                lab_cpu = run.cpu_of_roles(LAB_ROLES)
                row = {"nodes": nodes, "run": label, "wall_s": round(run.wall, 1), "controller_cpu_s": round(run.cpu, 1),
                       "wall_s_per_node": round(run.wall / nodes, 2), "cpu_s_per_node": round(run.cpu / nodes, 2),
                       "lab_role_cpu_s": round(lab_cpu, 2),
                       "cpu_s_per_node_without_lab": round((run.cpu - lab_cpu) / nodes, 2),
                       "changed": run.changed, "tasks": run.tasks, "host_tasks": run.host_tasks,
                       "load": round(run.load, 1)}
                rows.append(row)
                print(json.dumps(row), flush=True)
                if label == "rerun" and run.changed:
                    print("warning: the rerun at %d nodes changed %d tasks" % (nodes, run.changed), file=sys.stderr)
        finally:
            timed_playbook(os.path.join(ROOT, "playbooks", "lab_down.yml"), extra, forks=args.forks, env=env, check=False)
    print_table(rows, COLUMNS)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
