# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""set_link() against the kernel, under both interpreters (venv pyroute2 0.9, Debian python3-pyroute2 0.7):
a name with no link is ENODEV, said as "is gone"; any other refusal (an MTU above a veth's maximum) is
nl_call's message with the errno. The veth and tunnel engines rely on exactly this split.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

from dp_helpers import links, sh

COLLECTIONS = next(p for p in sys.path if p.endswith(os.path.join(".build", "collections")))

SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netlink import DataplaneError, set_link
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netns import Namespace
ns = Namespace(sys.argv[2])
out = []
for ifname, what, kwargs in [('nosuch0', 'setting nosuch0 up', {'state': 'up'}),
                             ('v0', 'setting mtu 70000 on v0', {'mtu': 70000}),
                             ('v0', 'setting mtu 1400 on v0', {'mtu': 1400, 'state': 'up'})]:
    try:
        set_link(ns.ipr, ifname, what, ns.label, **kwargs)
        out.append(None)
    except DataplaneError as exc:
        out.append([str(exc), getattr(exc, 'code', None)])
ns.close()
print(json.dumps(out))
"""


def test_set_link_errors_from_the_kernel(dp_ns, interpreter):
    node = dp_ns("setlink")
    sh("ip", "-n", node, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
    proc = subprocess.run([interpreter, "-c", SCRIPT, COLLECTIONS, node], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stderr
    gone, refused, done = json.loads(proc.stdout)
    assert gone == ["setting nosuch0 up failed: nosuch0 is gone from %s" % node, errno.ENODEV]
    assert refused == ["setting mtu 70000 on v0 failed: %s (errno %d)" % (os.strerror(errno.EINVAL), errno.EINVAL),
                       errno.EINVAL]
    assert done is None
    v0 = links(node)["v0"]
    assert v0["mtu"] == 1400 and "UP" in v0["flags"]


MADE_SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netns import NamespaceCache
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._veth import VethManager
node, pod_a, pod_b = sys.argv[2:5]
with NamespaceCache() as cache:
    res = VethManager(node, cache=cache).run('merged', [
        {'workload': 'made.a', 'container_netns': pod_a, 'addresses': ['10.70.0.2']},
        {'workload': 'made.b', 'container_netns': pod_b, 'mtu': 1400, 'addresses': ['10.70.0.3']}])
    missing = cache.get(pod_a).link_basics('nosuch0')
print(json.dumps([res['after'], missing]))
"""


def test_made_pair_is_reported_as_the_kernel_has_it(dp_ns, interpreter):
    """The after view of a pair the run made is read with ioctls (Namespace.link_basics), not netlink:
    every index, MAC, MTU and flag in it is what `ip` shows, and each end names the other as its peer."""
    node, pod_a, pod_b = dp_ns("made"), dp_ns("madea"), dp_ns("madeb")
    proc = subprocess.run([interpreter, "-c", MADE_SCRIPT, COLLECTIONS, node, pod_a, pod_b], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stderr
    after, missing = json.loads(proc.stdout)
    assert missing is None
    host_links = links(node)
    for view, pod, mtu in zip(after, (pod_a, pod_b), (1500, 1400)):
        host, cont = host_links[view["host_ifname"]], links(pod)["eth0"]
        assert view["host_ifindex"] == host["ifindex"] and view["container_ifindex"] == cont["ifindex"]
        assert view["host_peer_ifindex"] == cont["ifindex"] and view["container_peer_ifindex"] == host["ifindex"]
        assert host["link_index"] == cont["ifindex"] and cont["link_index"] == host["ifindex"]
        assert view["host_mac"] == host["address"] == "ee:ee:ee:ee:ee:ee"
        assert view["container_mac"] == cont["address"]
        assert view["mtu"] == host["mtu"] == cont["mtu"] == mtu
        assert view["host_up"] is True and "UP" in host["flags"]
        assert view["container_up"] is True and "UP" in cont["flags"]
        assert view["container_ifname"] == "eth0"
    assert [v["addresses"] for v in after] == [["10.70.0.2/32"], ["10.70.0.3/32"]]
