# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's inventory file, written by the lab module: the same text the role's former template
(roles/lab/templates/inventory.yml.j2) wrote, only rewritten when it differs, nothing in check mode."""

import os
import stat

from ansible_collections.podnet.calico.plugins.modules.lab import ensure_inventory, render_inventory

LAB = {
    "prefix": "pf4", "state_dir": "/tmp/podnet-pf4", "ctl_ip": "10.89.244.2",
    "ssh_key": "/tmp/podnet-pf4/id_ed25519", "known_hosts": "/tmp/podnet-pf4/known_hosts",
    "proxy_command": "ip netns exec pf4-ctl nc %h %p",
    "nodes": [{"name": "node%d" % i, "netns": "pf4-node%d" % i, "ssh_address": "10.89.244.1%d" % i,
               "ssh_port": 22, "underlay_ip": "10.89.244.1%d" % i} for i in (1, 2, 3)],
}
SETTINGS = {"prefix": "pf4", "state_dir": "/tmp/podnet-pf4", "underlay_cidr": "10.89.244.0/24",
            "pod_cidr": "10.246.0.0/16"}

# What the template wrote for this lab with playbooks/lab_up.yml's groups (copied from a lab).
EXPECTED = """---
# Ansible managed
# Inventory of the podnet.calico lab "pf4" (state in /tmp/podnet-pf4).
all:
  vars:
    ansible_user: root
    ansible_ssh_private_key_file: /tmp/podnet-pf4/id_ed25519
    ansible_ssh_common_args: >-
      -o ProxyCommand="ip netns exec pf4-ctl nc %h %p"
      -o UserKnownHostsFile=/tmp/podnet-pf4/known_hosts
      -o StrictHostKeyChecking=accept-new
    ansible_control_path_dir: /tmp/podnet-pf4/cp
    ansible_pipelining: true
    lab_state_dir: /tmp/podnet-pf4
    lab_prefix: pf4
    lab_pod_cidr: 10.246.0.0/16
    lab_underlay_cidr: 10.89.244.0/24
    lab_ctl_ip: 10.89.244.2
  children:
    lab_nodes:
      hosts:
        node1:
          ansible_host: 10.89.244.11
          ansible_port: 22
          ansible_python_interpreter: /usr/bin/python3
          lab_netns: pf4-node1
          lab_underlay_ip: 10.89.244.11
        node2:
          ansible_host: 10.89.244.12
          ansible_port: 22
          ansible_python_interpreter: /usr/bin/python3
          lab_netns: pf4-node2
          lab_underlay_ip: 10.89.244.12
        node3:
          ansible_host: 10.89.244.13
          ansible_port: 22
          ansible_python_interpreter: /usr/bin/python3
          lab_netns: pf4-node3
          lab_underlay_ip: 10.89.244.13
    k8s_cluster:
      hosts:
        node1:
        node2:
        node3:
    kube_node:
      hosts:
        node1:
        node2:
        node3:
    kube_control_plane:
      hosts:
        node1:
    etcd:
      hosts:
        node1:
"""


def _render(groups=("lab_nodes", "k8s_cluster", "kube_node"), first=("kube_control_plane", "etcd")):
    return render_inventory(LAB, SETTINGS, list(groups), list(first), "/usr/bin/python3")


def test_same_text_as_the_former_template():
    assert _render() == EXPECTED


def test_first_node_groups_already_in_groups_are_not_repeated():
    text = _render(groups=["lab_nodes"], first=["lab_nodes", "etcd"])
    assert text.count("    lab_nodes:\n") == 1
    assert text.endswith("    etcd:\n      hosts:\n        node1:\n")


def test_written_once_with_mode_0600_and_nothing_in_check_mode(tmp_path):
    path = str(tmp_path / "inventory.yml")
    changes, before = ensure_inventory(path, EXPECTED, check=True)
    assert changes == ["write inventory %s" % path] and before is None
    assert not os.path.exists(path)
    changes, _before = ensure_inventory(path, EXPECTED, check=False)
    assert changes == ["write inventory %s" % path]
    assert open(path).read() == EXPECTED
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    mtime = os.stat(path).st_mtime_ns
    assert ensure_inventory(path, EXPECTED, check=False) == ([], EXPECTED)
    assert os.stat(path).st_mtime_ns == mtime
    os.chmod(path, 0o644)
    assert ensure_inventory(path, EXPECTED, check=True)[0] == ["set mode 0600 of inventory %s" % path]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert ensure_inventory(path, EXPECTED, check=False)[0] == ["set mode 0600 of inventory %s" % path]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    changes, before = ensure_inventory(path, EXPECTED.replace("pf4", "pf5"), check=True)
    assert changes == ["write inventory %s" % path] and before == EXPECTED
    assert open(path).read() == EXPECTED
