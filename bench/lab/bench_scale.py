#!/usr/bin/env python
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scale benchmark of the lab's main job: N nodes x 2 pods, first run and rerun of playbooks/lab.yml.

For each node count it brings up its own lab (prefix pbs, state dir /tmp/podnet-bench-scale,
underlay 10.89.248.0/22) through the first run of lab.yml, runs lab.yml again (the rerun must
report changed=0), and takes the lab down. It reports per run the wall time and the controller's
own CPU seconds (user + sys of ansible-playbook and all its children: the Ansible workers, the ssh
clients and the tasks that run on the controller), in total and per node. On this machine the
nodes run on the same cores (their sshd and modules are not children of ansible-playbook and are
not counted in the controller figure, but they do slow its wall time down).

Usage: .venv/bin/python bench/lab/bench_scale.py [--nodes 3 10 20] [--pods 2] [--forks 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.dirname(sys.executable)
STATE_DIR = "/tmp/podnet-bench-scale"


def run(playbook, extra, forks):
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".build", "collections"),
        "ANSIBLE_CALLBACK_PLUGINS": os.path.join(ROOT, "tests", "integration", "callback_plugins"),
        "ANSIBLE_STDOUT_CALLBACK": "podnet_json",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_FORKS": str(forks),
        "PODNET_LAB_DIR": STATE_DIR,
    })
    start = time.monotonic()
    proc = subprocess.Popen([os.path.join(VENV_BIN, "ansible-playbook"), "-i", "localhost,", playbook, "-e",
                             json.dumps(extra)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True)
    out, err = proc.communicate()
    wall = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit("%s failed:\n%s\n%s" % (playbook, out[-3000:], err[-3000:]))
    data = json.loads(out[out.index('{"plays"'):])
    changed = sum(h.get("changed", 0) for h in data["stats"].values())
    tasks = sum(len(play["tasks"]) for play in data["plays"])
    return wall, changed, tasks


def cpu_of_children():
    usage = os.times()
    return usage.children_user + usage.children_system


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[3, 10, 20])
    parser.add_argument("--pods", type=int, default=2)
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--json")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the lab makes network namespaces")
    rows = []
    for nodes in args.nodes:
        extra = {"lab_prefix": "pbs", "lab_state_dir": STATE_DIR, "lab_nodes": nodes,
                 "lab_underlay_cidr": "10.89.248.0/22", "lab_pod_cidr": "10.250.0.0/16",
                 "lab_pods_per_node": args.pods}
        try:
            for label in ("first", "rerun"):
                cpu = cpu_of_children()
                wall, changed, tasks = run(os.path.join(ROOT, "playbooks", "lab.yml"), extra, args.forks)
                cpu = cpu_of_children() - cpu
                row = {"nodes": nodes, "run": label, "wall_s": round(wall, 1), "controller_cpu_s": round(cpu, 1),
                       "wall_s_per_node": round(wall / nodes, 2), "cpu_s_per_node": round(cpu / nodes, 2),
                       "changed": changed, "tasks": tasks, "load": round(os.getloadavg()[0], 1)}
                rows.append(row)
                print(json.dumps(row), flush=True)
        finally:
            run(os.path.join(ROOT, "playbooks", "lab_down.yml"), extra, args.forks)
    print("| nodes | run | wall s | wall s/node | controller CPU s | CPU s/node | changed | load |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print("| %(nodes)d | %(run)s | %(wall_s).1f | %(wall_s_per_node).2f | %(controller_cpu_s).1f | "
              "%(cpu_s_per_node).2f | %(changed)d | %(load).1f |" % row)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
