#!/usr/bin/env python
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark the lab's converge: N nodes x M pods, first run and idempotent second run.

Brings up its own lab (prefix pb, state dir /tmp/podnet-bench-lab, underlay 10.89.240.0/24), runs
playbooks/lab_deploy.yml twice and playbooks/lab_verify.yml once, and estimates the share of time
spent in SSH and module start-up by running as many no-op module tasks (ansible.builtin.ping) as the
deploy ran module tasks on the nodes. Every run is timed by bench/benchlib.py: wall time and the
controller's CPU (user + sys of ansible-playbook and its children). Takes the lab down at the end.

Usage: .venv/bin/python bench/lab/bench_lab.py [--nodes 3] [--pods 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchlib import ROOT, print_table, timed_playbook  # noqa: E402

STATE_DIR = "/tmp/podnet-bench-lab"


def node_module_tasks(data, nodes):
    """Tasks that ran a module on the nodes (not skipped, not controller-only)."""
    count = 0
    for play in data["plays"]:
        for task in play["tasks"]:
            ran = [h for h, r in task["hosts"].items() if h in nodes and not r.get("skipped")
                   and "ansible_facts" not in r and "include" not in task["task"]["name"].lower()]
            if ran and not task["task"]["name"].endswith(("Name the node's pods", "Check the settings",
                                                          "Work out the node's names and MTU",
                                                          "Plan the node's data plane")):
                count += 1
    return count


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--pods", type=int, default=10)
    parser.add_argument("--json")
    args = parser.parse_args()
    extra = {"lab_prefix": "pb", "lab_state_dir": STATE_DIR, "lab_nodes": args.nodes,
             "lab_underlay_cidr": "10.89.240.0/24", "lab_pod_cidr": "10.251.0.0/16",
             "lab_pods_per_node": args.pods,
             # calico_node's own converge: the Ansible-wired mode (the CRI mode needs lab_cluster.yml first)
             "lab_pods_by": "ansible"}
    inventory = os.path.join(STATE_DIR, "inventory.yml")
    results = {"nodes": args.nodes, "pods_per_node": args.pods}
    rows = []

    def timed(label, path, inv="localhost,"):
        run = timed_playbook(path, extra, inventory=inv)
        rows.append({"run": label, "wall_s": run.wall, "cpu_s": run.cpu, "cpu_s_per_node": run.cpu / args.nodes,
                     "tasks": run.tasks, "host_tasks": run.host_tasks, "changed": run.changed, "load": run.load})
        return run

    try:
        results["lab_up_s"] = round(timed("lab_up.yml", os.path.join(ROOT, "playbooks", "lab_up.yml")).wall, 2)
        nodes = ["node%d" % i for i in range(1, args.nodes + 1)]
        deploy = os.path.join(ROOT, "playbooks", "lab_deploy.yml")
        first = timed("lab_deploy.yml first", deploy, inventory)
        second = timed("lab_deploy.yml again", deploy, inventory)
        tasks = node_module_tasks(first.data, nodes)
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
            handle.write("- hosts: lab_nodes\n  gather_facts: false\n  tasks:\n")
            for i in range(tasks):
                handle.write("    - name: No-op %d\n      ansible.builtin.ping:\n" % i)
            noop_path = handle.name
        try:
            noop = timed("%d no-op ping tasks" % tasks, noop_path, inventory)
        finally:
            os.unlink(noop_path)
        verify = timed("lab_verify.yml", os.path.join(ROOT, "playbooks", "lab_verify.yml"), inventory)
        results.update({
            "first_run_s": round(first.wall, 2), "first_run_cpu_s": round(first.cpu, 2),
            "first_run_changed": first.changed,
            "second_run_s": round(second.wall, 2), "second_run_cpu_s": round(second.cpu, 2),
            "second_run_changed": second.changed,
            "node_module_tasks": tasks, "noop_tasks_s": round(noop.wall, 2),
            "startup_share_first": round(noop.wall / first.wall, 2),
            "startup_share_second": round(noop.wall / second.wall, 2),
            "verify_s": round(verify.wall, 2),
        })
    finally:
        timed_playbook(os.path.join(ROOT, "playbooks", "lab_down.yml"), extra, check=False)
    print_table(rows, [("run", "run", "s"), ("wall_s", "wall s", ".2f"), ("cpu_s", "controller CPU s", ".2f"),
                       ("cpu_s_per_node", "CPU s/node", ".2f"), ("tasks", "tasks", "d"),
                       ("host_tasks", "host-tasks", "d"), ("changed", "changed", "d"), ("load", "load", ".1f")])
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
