# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""RunPodSandbox latency through containerd: the collection's plugin versus ptp + host-local, same run.

One lab node (namespaces, Debian's containerd, etcd with TLS in a ctl namespace; the harness of
tests/integration/cni/cri_lab.py). Pods are created in rounds of 10, alternating between our conflist
and a reference conflist (ptp + host-local) that sorts first, so both see the same machine load; each
pod is stopped and removed after its measurement. Then the plugin's own ADD is timed when exec'd
directly, split into interpreter start, imports and work.

Usage (root): .venv/bin/python bench/cni/bench_cni.py [--pods 50] [--json out.json]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
for path in (os.path.join(ROOT, ".build", "collections"), os.path.join(ROOT, "tests", "integration"),
             os.path.join(ROOT, "tests", "integration", "ipam"), os.path.join(ROOT, "tests", "integration", "cni")):
    sys.path.insert(0, path)

import cri_lab  # noqa: E402  pylint: disable=wrong-import-position
from cni_testlib import add_netns, call, cni_env, k8s_args, kill_netns  # noqa: E402


def pct(values, p):
    values = sorted(values)
    k = (len(values) - 1) * p / 100.0
    f = int(k)
    c = min(f + 1, len(values) - 1)
    return values[f] + (values[c] - values[f]) * (k - f)


def timed(cmd, runs=10):
    out = []
    for _run in range(runs):
        start = time.monotonic()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append(time.monotonic() - start)
    return statistics.median(out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=50)
    parser.add_argument("--json")
    args = parser.parse_args()
    lab = cri_lab.CriLab(tempfile.mkdtemp(prefix="pnb%d-cni-" % os.getpid()), nodes=1)
    results = {"ours": [], "reference": []}
    try:
        lab.up()
        node = lab.nodes[0]
        cri = node.cri()
        n = 0
        while len(results["ours"]) < args.pods or len(results["reference"]) < args.pods:
            for kind in ("ours", "reference"):
                if kind == "reference":
                    node.write_conf("05-ptp.conflist", node.ptp_conflist())
                for _pod in range(10):
                    if len(results[kind]) >= args.pods:
                        break
                    n += 1
                    sandbox, seconds = cri.run("bench-%d" % n, "default", "uid-bench-%d" % n)
                    results[kind].append(seconds)
                    cri.stop(sandbox)
                    cri.remove(sandbox)
                if kind == "reference":
                    node.remove_conf("05-ptp.conflist")
        # the plugin's own ADD, exec'd directly, split into interpreter start, imports and work
        plugin = os.path.join(lab.plugin_dir, "calico")
        conf = dict(node.calico_conflist()["plugins"][0], name="k8s-pod-network", cniVersion="1.0.0")
        start_only = timed(["/usr/bin/python3", "-c", "pass"])
        imports = timed(["/usr/bin/python3", "-c",
                         "import sys; sys.path.insert(0, %r); "
                         "import ansible_collections.podnet.calico.plugins.module_utils.cni._plugin, "
                         "ansible_collections.podnet.calico.plugins.module_utils.cni._engine, "
                         "ansible_collections.podnet.calico.plugins.module_utils.ipam._etcd, "
                         "ansible_collections.podnet.calico.plugins.module_utils.ipam._allocator" % plugin])
        adds = []
        for i in range(10):
            pod = add_netns("pnb%d-pod" % os.getpid())
            env = cni_env("ADD", "benchdirect%d" % i, "/run/netns/" + pod, "eth0",
                          k8s_args("default", "direct-%d" % i, "benchdirect%d" % i))
            start = time.monotonic()
            res = call(plugin, node.name, conf, env)
            adds.append(time.monotonic() - start)
            assert res.rc == 0, res
            env["CNI_COMMAND"] = "DEL"
            call(plugin, node.name, conf, env)
            kill_netns(pod)
        add = statistics.median(adds)
    finally:
        lab.down()
    load = os.getloadavg()
    report = {
        "pods": args.pods,
        "ours_p50": pct(results["ours"], 50), "ours_p95": pct(results["ours"], 95),
        "reference_p50": pct(results["reference"], 50), "reference_p95": pct(results["reference"], 95),
        "add_total": add, "add_interpreter": start_only, "add_imports": imports - start_only,
        "add_work": add - imports, "loadavg": load,
    }
    report["ratio_p50"] = report["ours_p50"] / report["reference_p50"]
    print("RunPodSandbox over %d pods each (s):" % args.pods)
    print("  ours (podnet calico):  p50 %.3f  p95 %.3f" % (report["ours_p50"], report["ours_p95"]))
    print("  ptp + host-local:      p50 %.3f  p95 %.3f" % (report["reference_p50"], report["reference_p95"]))
    print("  ratio p50: %.2f (target <= 1.5)" % report["ratio_p50"])
    print("plugin ADD exec'd directly, median of 10 (s): total %.3f = interpreter %.3f + imports %.3f + work %.3f"
          % (add, start_only, imports - start_only, add - imports))
    print("load average: %.1f %.1f %.1f" % load)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)
    return 0 if report["ratio_p50"] <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
