# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wire N pods into one node namespace: our modules (one task per module, ansible-playbook; and the
whole node in one calico_dataplane task, as the calico_node role runs it) against the reference CNI
plugins (/usr/lib/cni/ptp + host-local, one exec per pod, called the CNI way).

Also times the module_utils engines directly (no Ansible, under each interpreter: pyroute2 0.9 in the venv,
Debian's python3-pyroute2 0.7 in /usr/bin/python3) so the Ansible overhead is visible.
Every namespace is named pnt<pid>b-... and removed at the end. Run as root:

    .venv/bin/python bench/dataplane/bench_dataplane.py [--pods 100] [--interpreter /usr/bin/python3]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from podnet_testlib import COLLECTIONS, NamespaceFactory, TEST_PREFIX  # noqa: E402  (the tests' shared library)
from podnet_testlib import run_playbook as run_ansible_playbook  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cni_ptp_loop import wire as wire_with_ptp  # noqa: E402
sys.path.insert(0, COLLECTIONS)
from ansible_collections.podnet.calico.plugins.module_utils.calico._names import host_ifname  # noqa: E402

PREFIX = TEST_PREFIX + "b"
LOOP_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cni_ptp_loop.py")


def tasks_for(node, pods):
    veths = [{"workload": "bench.%s" % p, "container_netns": p, "addresses": ["10.65.%d.%d" % divmod(i + 2, 256)]}
             for i, p in enumerate(pods)]
    routes = [{"dst": "10.65.0.0/16", "type": "blackhole"}]
    for i, p in enumerate(pods):
        routes += [{"netns": p, "dst": "169.254.1.1", "dev": "eth0"},
                   {"netns": p, "dst": "default", "via": "169.254.1.1", "dev": "eth0"}]
    node_routes = [{"dst": "%s/32" % v["addresses"][0], "dev": "{{ veths.after[%d].host_ifname }}" % i}
                   for i, v in enumerate(veths)]
    return veths, routes, node_routes


def playbook(node, pods, path):
    veths, routes, node_routes = tasks_for(node, pods)
    play = [{"name": "bench", "hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": [
        {"name": "veths", "podnet.calico.calico_veth": {"netns": node, "config": veths}, "register": "veths"},
        {"name": "sysctls", "podnet.calico.proxy_arp": {"netns": node, "config": [
            {"interface": "cali*", "proxy_arp": True, "proxy_delay": 0, "forwarding": True}]}},
        {"name": "routes", "podnet.calico.calico_route": {"netns": node, "config": routes + node_routes}},
    ]}]
    with open(path, "w") as handle:
        json.dump(play, handle)


def dataplane_playbook(node, pods, path):
    """The same node in one calico_dataplane task (the calico_node role's way): forwarding with its
    sysctl file (beside the playbook), the veths, proxy-ARP, the pods' routes and the node's routes,
    host ends named as the module names them."""
    sysctl_file = os.path.join(os.path.dirname(path), "99-bench-forwarding.conf")
    veths, routes, dummy = tasks_for(node, pods)
    pod_routes = [r for r in routes if "netns" in r]
    node_routes = [r for r in routes if "netns" not in r]
    node_routes += [{"dst": "%s/32" % v["addresses"][0], "dev": host_ifname(v["workload"])} for v in veths]
    play = [{"name": "bench", "hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": [
        {"name": "node", "podnet.calico.calico_dataplane": {
            "netns": node,
            "forwarding": {"ip_forward": True, "sysctl_file": sysctl_file},
            "veths": {"config": veths},
            "proxy_arp": {"config": [{"interface": "cali*", "proxy_arp": True, "proxy_delay": 0, "forwarding": True}]},
            "pod_routes": {"config": pod_routes},
            "routes": {"config": node_routes}}},
    ]}]
    with open(path, "w") as handle:
        json.dump(play, handle)


def empty_playbook(path):
    with open(path, "w") as handle:
        json.dump([{"name": "empty", "hosts": "localhost", "connection": "local", "gather_facts": False,
                    "tasks": [{"name": "noop", "ansible.builtin.ping": {}}]}], handle)


def run_playbook(path, interpreter):
    """(wall seconds, changed tasks) of one ansible-playbook run (the tests' runner)."""
    result = run_ansible_playbook(path, interpreter=interpreter)
    return result.wall, result.changed


def bench_modules(pods_n, interpreter, tmp, write=playbook, tag="p"):
    """(first, second) ansible-playbook runs of the playbook that write() makes for a node and its pods."""
    with NamespaceFactory(PREFIX) as namespaces:
        node = namespaces(tag + "node")
        pods = namespaces.many("%s%d" % (tag, i) for i in range(pods_n))
        path = os.path.join(tmp, tag + "bench.json")
        write(node, pods, path)
        first = run_playbook(path, interpreter)
        second = run_playbook(path, interpreter)
        cali = subprocess.run(["ip", "-n", node, "-o", "link"], stdout=subprocess.PIPE, universal_newlines=True,
                              check=True).stdout.count(": cali")
        assert cali == pods_n, "expected %d veths, found %d" % (pods_n, cali)
        return first, second


def bench_dataplane_module(pods_n, interpreter, tmp):
    return bench_modules(pods_n, interpreter, tmp, write=dataplane_playbook, tag="d")


def bench_engines(pods_n):
    """The same work through module_utils directly, in this process (no Ansible)."""
    from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netns import NamespaceCache
    from ansible_collections.podnet.calico.plugins.module_utils.dataplane._veth import VethManager
    from ansible_collections.podnet.calico.plugins.module_utils.dataplane._proxyarp import ProxyArpManager
    from ansible_collections.podnet.calico.plugins.module_utils.dataplane._route import RouteManager
    with NamespaceFactory(PREFIX) as namespaces:
        node = namespaces("enode")
        pods = namespaces.many("e%d" % i for i in range(pods_n))
        times = []
        for dummy in range(2):
            start = time.time()
            veths, routes, dummy = tasks_for(node, pods)
            with NamespaceCache() as cache:
                res = VethManager(node, cache=cache).run("merged", veths)
                ProxyArpManager(node, cache=cache).run("merged", [
                    {"interface": "cali*", "proxy_arp": True, "proxy_delay": 0, "forwarding": True}])
                node_routes = [{"dst": "%s/32" % v["addresses"][0], "dev": p["host_ifname"]}
                               for v, p in zip(veths, res["after"])]
                RouteManager(node, cache=cache).run("merged", routes + node_routes)
            times.append(time.time() - start)
        return times


def bench_engines_with(interpreter, pods_n):
    """bench_engines under ``interpreter`` (its own pyroute2: 0.9 in the venv, 0.7 in Debian's python3),
    in a process of its own: (first, second) seconds."""
    out = subprocess.run([interpreter, os.path.abspath(__file__), "--engines-only", "--pods", str(pods_n)],
                         stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def bench_cni(pods_n, tmp):
    """The reference plugins, exec'd from this process: (seconds)."""
    with NamespaceFactory(PREFIX) as namespaces:
        node = namespaces("cnode")
        pods = namespaces.many("c%d" % i for i in range(pods_n))
        return wire_with_ptp(node, pods, os.path.join(tmp, "host-local"))


def bench_cni_ansible(pods_n, interpreter, tmp):
    """The reference plugins driven by ansible-playbook, like our modules: one task (a command that
    execs ptp for every pod, cni_ptp_loop.py), the cheapest honest way to run them from Ansible.
    Returns (playbook wall seconds, seconds of the exec loop inside it)."""
    with NamespaceFactory(PREFIX) as namespaces:
        node = namespaces("anode")
        pods = namespaces.many("a%d" % i for i in range(pods_n))
        args = {"node": node, "pods": pods, "data_dir": os.path.join(tmp, "host-local-ansible")}
        path = os.path.join(tmp, "cni.json")
        with open(path, "w") as handle:
            json.dump([{"name": "reference plugins", "hosts": "localhost", "connection": "local",
                        "gather_facts": False, "tasks": [
                            {"name": "ptp + host-local for every pod", "register": "ptp_loop",
                             "ansible.builtin.command": {"argv": [interpreter, LOOP_SCRIPT, json.dumps(args)]}},
                            {"name": "loop time", "ansible.builtin.debug": {"var": "ptp_loop.stdout"}}]}], handle)
        result = run_ansible_playbook(path, interpreter=interpreter)
        inner = json.loads(result.results("loop time")["localhost"]["ptp_loop.stdout"])["seconds"]
        return result.wall, inner


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=100)
    parser.add_argument("--interpreter", action="append",
                        help="target Python(s) for the modules (default: this venv and /usr/bin/python3)")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--engines-only", action="store_true",
                        help="only time the engines in this interpreter and print [first, second] as JSON")
    args = parser.parse_args()
    if args.engines_only:
        print(json.dumps(bench_engines(args.pods)))
        return
    interpreters = args.interpreter or [sys.executable, "/usr/bin/python3"]
    tmp = tempfile.mkdtemp(prefix="pnt-bench-")
    figures = {"pods": args.pods}
    try:
        empty = os.path.join(tmp, "empty.json")
        empty_playbook(empty)
        figures["ansible_empty_play_s"] = run_playbook(empty, sys.executable)[0]
        figures["cni_ptp_host_local_s"] = bench_cni(args.pods, tmp)
        figures["cni_via_ansible_s"], figures["cni_via_ansible_loop_s"] = bench_cni_ansible(args.pods, sys.executable, tmp)
        figures["engines"] = {}
        for interp in interpreters:
            first, second = bench_engines_with(interp, args.pods)
            figures["engines"][interp] = {"first_s": first, "second_s": second}
        figures["modules"], figures["dataplane_module"] = {}, {}
        for interp in interpreters:
            for key, bench in (("modules", bench_modules), ("dataplane_module", bench_dataplane_module)):
                (first, ch1), (second, ch2) = bench(args.pods, interp, tmp)
                figures[key][interp] = {"first_s": first, "first_changed": ch1, "second_s": second,
                                        "second_changed": ch2}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    cni = figures["cni_ptp_host_local_s"]
    cni_ansible = figures["cni_via_ansible_s"]
    print("pods: %d, load average %.1f" % (args.pods, os.getloadavg()[0]))
    print("reference CNI (ptp + host-local, one exec per pod): %.2f s (%.1f ms/pod)" % (cni, cni / args.pods * 1000))
    print("reference CNI driven by ansible-playbook (one command task execing ptp per pod): %.2f s "
          "(of which the exec loop %.2f s)" % (cni_ansible, figures["cni_via_ansible_loop_s"]))
    print("ansible-playbook with one ping task (fixed cost): %.2f s" % figures["ansible_empty_play_s"])
    for interp, f in figures["engines"].items():
        ratio = f["first_s"] / cni
        print("module_utils engines, no Ansible [%s]: first %.2f s (%.2fx reference, target 0.5x: %s), second %.2f s"
              % (interp, f["first_s"], ratio, "met" if ratio <= 0.5 else "NOT met", f["second_s"]))
    rows = [("three modules (calico_veth, proxy_arp, calico_route)", interp, f) for interp, f in figures["modules"].items()]
    rows += [("one calico_dataplane task", interp, f) for interp, f in figures["dataplane_module"].items()]
    for what, interp, f in rows:
        raw, like = f["first_s"] / cni, f["first_s"] / cni_ansible
        print("%s via ansible-playbook [%s]: first %.2f s (changed=%d), second %.2f s (changed=%d, %.0f%% of "
              "first, target 30%%: %s)" % (what, interp, f["first_s"], f["first_changed"], f["second_s"], f["second_changed"],
                                           f["second_s"] / f["first_s"] * 100,
                                           "met" if f["second_s"] <= 0.3 * f["first_s"] else "NOT met"))
        verdicts = ("met" if raw <= 1.0 else "NOT met", "met" if like <= 1.0 else "NOT met")
        print("    vs the raw reference: %.2fx (target 1.0x: %s); like for like, vs the reference through "
              "ansible-playbook: %.2fx (target 1.0x: %s)" % (raw, verdicts[0], like, verdicts[1]))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(figures, handle, indent=2)


if __name__ == "__main__":
    main()
