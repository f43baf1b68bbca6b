#!/usr/bin/env python
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark the lab's converge: N nodes x M pods, first run and idempotent second run.

Brings up its own lab (prefix pb, state dir /tmp/podnet-bench-lab, underlay 10.89.240.0/24), runs
playbooks/lab_deploy.yml twice and playbooks/lab_verify.yml once, and estimates the share of time
spent in SSH and module start-up by running as many no-op module tasks (ansible.builtin.ping) as the
deploy ran module tasks on the nodes. Takes the lab down at the end.

Usage: .venv/bin/python bench/lab/bench_lab.py [--nodes 3] [--pods 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from podnet_testlib import run_playbook  # noqa: E402  (the tests' shared library)

STATE_DIR = "/tmp/podnet-bench-lab"


def playbook(path, extra, inventory="localhost,"):
    """(wall seconds, changed tasks, JSON callback data) of one run, with the tests' runner."""
    result = run_playbook(path, extra_vars=extra, inventory=inventory)
    return result.wall, result.changed, result.data


def node_module_tasks(data, nodes):
    """Tasks that ran a module on the nodes (not skipped, not controller-only)."""
    count = 0
    for play in data["plays"]:
        for task in play["tasks"]:
            ran = [h for h, r in task["hosts"].items() if h in nodes and not r.get("skipped")
                   and "ansible_facts" not in r and "include" not in task["task"]["name"].lower()]
            if ran and not task["task"]["name"].endswith(("Name the node's pods", "Check the settings",
                                                          "Work out the node's names and MTU",
                                                          "Remember the tunnel address",
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
             "lab_pods_per_node": args.pods}
    inventory = os.path.join(STATE_DIR, "inventory.yml")
    results = {"nodes": args.nodes, "pods_per_node": args.pods}
    try:
        results["lab_up_s"] = playbook(os.path.join(ROOT, "playbooks", "lab_up.yml"), extra)[0]
        nodes = ["node%d" % i for i in range(1, args.nodes + 1)]
        wall1, changed1, data1 = playbook(os.path.join(ROOT, "playbooks", "lab_deploy.yml"), extra, inventory)
        wall2, changed2 = playbook(os.path.join(ROOT, "playbooks", "lab_deploy.yml"), extra, inventory)[:2]
        tasks = node_module_tasks(data1, nodes)
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
            handle.write("- hosts: lab_nodes\n  gather_facts: false\n  tasks:\n")
            for i in range(tasks):
                handle.write("    - name: No-op %d\n      ansible.builtin.ping:\n" % i)
            noop_path = handle.name
        noop_wall = playbook(noop_path, extra, inventory)[0]
        os.unlink(noop_path)
        verify_wall = playbook(os.path.join(ROOT, "playbooks", "lab_verify.yml"), extra, inventory)[0]
        results.update({
            "first_run_s": round(wall1, 2), "first_run_changed": changed1,
            "second_run_s": round(wall2, 2), "second_run_changed": changed2,
            "node_module_tasks": tasks, "noop_tasks_s": round(noop_wall, 2),
            "startup_share_first": round(noop_wall / wall1, 2),
            "startup_share_second": round(noop_wall / wall2, 2),
            "verify_s": round(verify_wall, 2), "lab_up_s": round(results["lab_up_s"], 2),
        })
    finally:
        playbook(os.path.join(ROOT, "playbooks", "lab_down.yml"), extra)
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
