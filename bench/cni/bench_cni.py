# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""RunPodSandbox latency through containerd: the collection's plugin versus ptp + host-local, same run.

One lab node (namespaces, Debian's containerd, etcd with TLS in a ctl namespace; the harness of
tests/integration/cni/cri_lab.py). Pods are created in rounds of 10, alternating between our conflist
and a reference conflist (ptp + host-local) that sorts first, so both see the same machine load; each
pod is stopped and removed after its measurement. Then the plugin's own ADD is timed when exec'd
directly: through the node's resident helper, cold (the call that starts the helper) and warm, split
into client start (exec, interpreter, client module), helper round trip and the work in the helper's
worker (the client's own timing record, PODNET_CNI_TIMING_FILE); and in-process (PODNET_CNI_HELPER=0),
split into the interpreter's start with the loader and the plugin's imports with its work, as every call
paid it before the helper; the imports alone are timed in a process of their own.

Then the warm ADD again with --resident pods (default 100) left on the node.

Usage (root): .venv/bin/python bench/cni/bench_cni.py [--pods 50] [--resident 100] [--json out.json]
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
sys.path.insert(0, os.path.join(ROOT, "roles", "cni_plugins", "files"))
import podnet_cni_build as builder  # noqa: E402  pylint: disable=wrong-import-position
from cni_testlib import add_netns, call, cni_env, k8s_args, kill_netns  # noqa: E402


def pct(values, p):
    values = sorted(values)
    k = (len(values) - 1) * p / 100.0
    f = int(k)
    c = min(f + 1, len(values) - 1)
    return values[f] + (values[c] - values[f]) * (k - f)


def helper_pids(netns):
    """The podnet CNI helpers running in ``netns`` (the bench's own lab node)."""
    out = subprocess.run(["ip", "netns", "pids", netns], stdout=subprocess.PIPE, text=True, check=False).stdout
    pids = []
    for pid in out.split():
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as handle:
                if b"--podnet-cni-helper" in handle.read().split(b"\0"):
                    pids.append(int(pid))
        except OSError:
            pass
    return pids


def direct_adds(plugin, node, conf, runs, tag, extra_env, timing_path, before=None):
    """ADD then DEL ``runs`` pods by exec'ing the plugin; [(wall seconds, client timing record)] of the ADDs."""
    out = []
    for i in range(runs):
        if before is not None:
            before()
        pod = add_netns("pnb%d-pod" % os.getpid())
        cid = "bench%s%d" % (tag, i)
        env = dict(cni_env("ADD", cid, "/run/netns/" + pod, "eth0", k8s_args("default", "%s-%d" % (tag, i), cid)),
                   PODNET_CNI_TIMING_FILE=timing_path, **extra_env)
        start = time.monotonic()
        res = call(plugin, node.name, conf, env)
        wall = time.monotonic() - start
        assert res.rc == 0, res
        with open(timing_path) as handle:
            record = json.loads(handle.readlines()[-1])
        out.append((wall, record))
        env["CNI_COMMAND"] = "DEL"
        call(plugin, node.name, conf, env)
        kill_netns(pod)
    return out


def split(samples):
    """Medians of wall time, client start, helper round trip and worker time over helper-mode samples."""
    walls = [w for w, _r in samples]
    trips = [r.get("roundtrip") or 0.0 for _w, r in samples]
    works = [r.get("work") or 0.0 for _w, r in samples]
    cpus = [r.get("client_cpu") or 0.0 for _w, r in samples]
    return {"total": statistics.median(walls), "client_start": statistics.median([w - t for w, t in zip(walls, trips)]),
            "client_cpu": statistics.median(cpus),
            "roundtrip": statistics.median(trips), "work": statistics.median(works),
            "modes": sorted(set("%s/%s" % (r.get("mode"), r.get("bytecode")) for _w, r in samples)),
            "etcd_prepared": sum(1 for _w, r in samples if r.get("etcd_prepared"))}


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
    parser.add_argument("--resident", type=int, default=100,
                        help="pods left on the node (ADD without DEL) before timing ADDs again (0: skip)")
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
        # the plugin's own ADD, exec'd directly (nsenter --net into the node, as cni_testlib.call does)
        plugin = os.path.join(lab.plugin_dir, "calico")
        conf = dict(node.calico_conflist()["plugins"][0], name="k8s-pod-network", cniVersion="1.0.0")
        timing_path = os.path.join(lab.workdir, "timing.jsonl")

        def kill_helpers():
            # only the helper the direct calls use (host mount namespace; containerd's has its own)
            for pid in helper_pids(node.name):
                if os.readlink("/proc/%d/ns/mnt" % pid) == os.readlink("/proc/self/ns/mnt"):
                    os.kill(pid, 9)
            time.sleep(0.1)
        cold = direct_adds(plugin, node, conf, 5, "cold", {}, timing_path, before=kill_helpers)
        warm = direct_adds(plugin, node, conf, 10, "warm", {}, timing_path)
        inproc = direct_adds(plugin, node, conf, 10, "inproc", {"PODNET_CNI_HELPER": "0"}, timing_path)
        # the same warm ADD with many pods already on the node (their veths and routes are in every read)
        crowded = []
        if args.resident:
            resident = []
            try:
                for i in range(args.resident):
                    pod = add_netns("pnb%d-r%d" % (os.getpid(), i))
                    cid = "benchres%d" % i
                    env = cni_env("ADD", cid, "/run/netns/" + pod, "eth0", k8s_args("default", "res-%d" % i, cid))
                    resident.append((pod, env))
                    res = call(plugin, node.name, conf, env)
                    assert res.rc == 0, res
                crowded = direct_adds(plugin, node, conf, 10, "crowded", {}, timing_path)
            finally:
                for pod, env in resident:
                    call(plugin, node.name, conf, dict(env, CNI_COMMAND="DEL"))
                    kill_netns(pod)
        start_only = timed(["/usr/bin/python3", "-c", "pass"])
        start_is = timed(["/usr/bin/python3", "-IS", "-c", "pass"])
        # the modules the executable carries, as files; -B: compiled from source at every run, as the
        # executable's loader does
        tree = os.path.join(lab.workdir, "carried")
        for name, data in builder.carried(plugin).items():
            os.makedirs(os.path.dirname(os.path.join(tree, name)), exist_ok=True)
            with open(os.path.join(tree, name), "wb") as handle:
                handle.write(data)
        imports = timed(["/usr/bin/python3", "-B", "-c",
                         "import sys; sys.path.insert(0, %r); "
                         "import ansible_collections.podnet.calico.plugins.module_utils.cni._plugin, "
                         "ansible_collections.podnet.calico.plugins.module_utils.cni._engine, "
                         "ansible_collections.podnet.calico.plugins.module_utils.ipam._etcd, "
                         "ansible_collections.podnet.calico.plugins.module_utils.ipam._allocator" % tree])
        for pid in helper_pids(node.name):
            if os.readlink("/proc/%d/ns/mnt" % pid) == os.readlink("/proc/self/ns/mnt"):
                os.kill(pid, 9)   # the bench's own direct-call helper; lab.down kills the rest with the node
    finally:
        lab.down()
    load = os.getloadavg()
    inproc_total = statistics.median([w for w, _r in inproc])
    report = {
        "pods": args.pods,
        "ours_p50": pct(results["ours"], 50), "ours_p95": pct(results["ours"], 95),
        "reference_p50": pct(results["reference"], 50), "reference_p95": pct(results["reference"], 95),
        "add_cold": split(cold), "add_warm": split(warm), "resident": args.resident,
        "add_warm_crowded": split(crowded) if crowded else None,
        # in-process: the client's record times run_in_process (the plugin's imports and its work); the rest
        # of the wall time is the interpreter's start and the loader. The imports alone are timed apart (from
        # the carried modules as files): that figure is not subtracted, it comes from another process
        "add_in_process": {"total": inproc_total,
                           "start": inproc_total - statistics.median([r.get("work") or 0.0 for _w, r in inproc]),
                           "imports_and_work": statistics.median([r.get("work") or 0.0 for _w, r in inproc]),
                           "imports_alone": imports - start_only},
        "python_start": start_only, "python_start_IS": start_is, "loadavg": load,
    }
    report["ratio_p50"] = report["ours_p50"] / report["reference_p50"]
    print("RunPodSandbox over %d pods each (s):" % args.pods)
    print("  ours (podnet calico):  p50 %.3f  p95 %.3f" % (report["ours_p50"], report["ours_p95"]))
    print("  ptp + host-local:      p50 %.3f  p95 %.3f" % (report["reference_p50"], report["reference_p95"]))
    print("  ratio p50: %.2f (target <= 1.5)" % report["ratio_p50"])
    for label, key, n in (("cold (starts the helper)", "add_cold", len(cold)), ("warm", "add_warm", len(warm))):
        got = report[key]
        print("plugin ADD exec'd directly, %s, median of %d (s): total %.3f = client start %.3f + helper round "
              "trip %.3f (of which work %.3f) [%s]; the client's own CPU %.3f; %d of %d used a prepared etcd "
              "connection" % (label, n, got["total"], got["client_start"], got["roundtrip"], got["work"],
                              ",".join(got["modes"]), got["client_cpu"], got["etcd_prepared"], n))
    if crowded:
        got = report["add_warm_crowded"]
        print("plugin ADD exec'd directly, warm, %d pods already on the node, median of %d (s): total %.3f = client "
              "start %.3f + helper round trip %.3f (of which work %.3f)" % (args.resident, len(crowded), got["total"],
                                                                            got["client_start"], got["roundtrip"],
                                                                            got["work"]))
    got = report["add_in_process"]
    print("plugin ADD in-process (PODNET_CNI_HELPER=0), median of %d (s): total %.3f = interpreter and loader %.3f + "
          "the plugin's imports and work %.3f; its imports alone (python3 -B, from the carried modules as files) %.3f"
          % (len(inproc), got["total"], got["start"], got["imports_and_work"], got["imports_alone"]))
    print("python3 -c pass %.3f s, python3 -IS -c pass %.3f s" % (start_only, start_is))
    print("load average: %.1f %.1f %.1f" % load)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)
    return 0 if report["ratio_p50"] <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
