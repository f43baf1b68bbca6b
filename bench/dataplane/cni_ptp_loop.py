# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wire pods with the reference CNI plugins: one exec of ptp (+ host-local IPAM) per pod, the CNI way.

Used by bench_dataplane.py in two ways: in its own process (the raw reference figure), and as the
command of one ansible-playbook task (the like-for-like figure: the reference plugins driven by
Ansible, as our modules are). The plugin runs in the node's network namespace, never in the host's.

    python cni_ptp_loop.py '{"node": "<netns>", "pods": ["<netns>", ...], "data_dir": "<dir>"}'
"""

import json
import os
import subprocess
import sys
import time

CNI_DIR = "/usr/lib/cni"
CLONE_NEWNET = 0x40000000


def wire(node, pods, data_dir, cni_dir=CNI_DIR, subnet="10.66.0.0/16"):
    """ADD every pod (a netns name) with ptp + host-local; return the seconds it took."""
    conf = json.dumps({"cniVersion": "0.4.0", "name": "bench", "type": "ptp", "ipMasq": False, "mtu": 1500,
                       "ipam": {"type": "host-local", "subnet": subnet, "dataDir": data_dir,
                                "routes": [{"dst": "0.0.0.0/0"}]}})
    node_fd = os.open("/run/netns/" + node, os.O_RDONLY)

    def in_node():
        os.setns(node_fd, CLONE_NEWNET)

    try:
        start = time.time()
        for i, pod in enumerate(pods):
            env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "bench%05d" % i, "CNI_NETNS": "/run/netns/" + pod,
                   "CNI_IFNAME": "eth0", "CNI_PATH": cni_dir, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
            proc = subprocess.run([os.path.join(cni_dir, "ptp")], input=conf, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, universal_newlines=True, preexec_fn=in_node, check=False)
            if proc.returncode != 0:
                raise SystemExit("ptp ADD failed for %s: %s %s" % (pod, proc.stdout, proc.stderr))
        return time.time() - start
    finally:
        os.close(node_fd)


if __name__ == "__main__":
    args = json.loads(sys.argv[1])
    print(json.dumps({"seconds": wire(args["node"], args["pods"], args["data_dir"])}))
