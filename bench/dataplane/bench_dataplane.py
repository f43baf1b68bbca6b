# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wire N pods into one node namespace: our modules (one task per module, ansible-playbook) against
the reference CNI plugins (/usr/lib/cni/ptp + host-local, one exec per pod, called the CNI way).

Also times the module_utils engines directly (no Ansible) so the Ansible overhead is visible.
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

CNI_DIR = "/usr/lib/cni"
PREFIX = TEST_PREFIX + "b"


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


def empty_playbook(path):
    with open(path, "w") as handle:
        json.dump([{"name": "empty", "hosts": "localhost", "connection": "local", "gather_facts": False,
                    "tasks": [{"name": "noop", "ansible.builtin.ping": {}}]}], handle)


def run_playbook(path, interpreter):
    """(wall seconds, changed tasks) of one ansible-playbook run (the tests' runner)."""
    result = run_ansible_playbook(path, interpreter=interpreter)
    return result.wall, result.changed


def bench_modules(pods_n, interpreter, tmp):
    with NamespaceFactory(PREFIX) as namespaces:
        node = namespaces("node")
        pods = namespaces.many("p%d" % i for i in range(pods_n))
        path = os.path.join(tmp, "bench.json")
        playbook(node, pods, path)
        first = run_playbook(path, interpreter)
        second = run_playbook(path, interpreter)
        cali = subprocess.run(["ip", "-n", node, "-o", "link"], stdout=subprocess.PIPE, universal_newlines=True,
                              check=True).stdout.count(": cali")
        assert cali == pods_n, "expected %d veths, found %d" % (pods_n, cali)
        return first, second


def bench_engines(pods_n):
    """The same work through module_utils directly, in this process (no Ansible)."""
    sys.path.insert(0, COLLECTIONS)
    from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netlink import NamespaceCache
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


def bench_cni(pods_n, tmp):
    namespaces = NamespaceFactory(PREFIX)
    node = namespaces("cnode")
    pods = namespaces.many("c%d" % i for i in range(pods_n))
    data_dir = os.path.join(tmp, "host-local")
    conf = json.dumps({"cniVersion": "0.4.0", "name": "bench", "type": "ptp", "ipMasq": False, "mtu": 1500,
                       "ipam": {"type": "host-local", "subnet": "10.66.0.0/16", "dataDir": data_dir,
                                "routes": [{"dst": "0.0.0.0/0"}]}})
    node_fd = os.open("/run/netns/" + node, os.O_RDONLY)

    def in_node():
        os.setns(node_fd, 0x40000000)  # the plugin runs in the node namespace, never in the host's

    try:
        start = time.time()
        for i, pod in enumerate(pods):
            env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "bench%05d" % i, "CNI_NETNS": "/run/netns/" + pod,
                   "CNI_IFNAME": "eth0", "CNI_PATH": CNI_DIR, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
            proc = subprocess.run([os.path.join(CNI_DIR, "ptp")], input=conf, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, universal_newlines=True, preexec_fn=in_node, check=False)
            if proc.returncode != 0:
                raise SystemExit("ptp ADD failed for %s: %s %s" % (pod, proc.stdout, proc.stderr))
        return time.time() - start
    finally:
        os.close(node_fd)
        namespaces.cleanup()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=100)
    parser.add_argument("--interpreter", action="append",
                        help="target Python(s) for the modules (default: this venv and /usr/bin/python3)")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    interpreters = args.interpreter or [sys.executable, "/usr/bin/python3"]
    tmp = tempfile.mkdtemp(prefix="pnt-bench-")
    figures = {"pods": args.pods}
    try:
        empty = os.path.join(tmp, "empty.json")
        empty_playbook(empty)
        figures["ansible_empty_play_s"] = run_playbook(empty, sys.executable)[0]
        figures["cni_ptp_host_local_s"] = bench_cni(args.pods, tmp)
        figures["engines_first_s"], figures["engines_second_s"] = bench_engines(args.pods)
        figures["modules"] = {}
        for interp in interpreters:
            (first, ch1), (second, ch2) = bench_modules(args.pods, interp, tmp)
            figures["modules"][interp] = {"first_s": first, "first_changed": ch1, "second_s": second,
                                          "second_changed": ch2}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    cni = figures["cni_ptp_host_local_s"]
    print("pods: %d" % args.pods)
    print("reference CNI (ptp + host-local, one exec per pod): %.2f s (%.1f ms/pod)" % (cni, cni / args.pods * 1000))
    print("module_utils engines, no Ansible: first %.2f s, second %.2f s"
          % (figures["engines_first_s"], figures["engines_second_s"]))
    print("ansible-playbook with one ping task (fixed cost): %.2f s" % figures["ansible_empty_play_s"])
    for interp, f in figures["modules"].items():
        print("modules via ansible-playbook [%s]: first %.2f s (changed=%d, %.2fx CNI), second %.2f s "
              "(changed=%d, %.0f%% of first)" % (interp, f["first_s"], f["first_changed"], f["first_s"] / cni,
                                                 f["second_s"], f["second_changed"], f["second_s"] / f["first_s"] * 100))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(figures, handle, indent=2)


if __name__ == "__main__":
    main()
