# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab module's node files (O(node_files)): laid down under each node's root, first-node files
only on the first node, written once and never overwritten, nothing when all is there."""

import os
import stat

import pytest

from ansible_collections.podnet.calico.plugins.module_utils.cluster._files import FilesError, apply
from ansible_collections.podnet.calico.plugins.modules.lab import node_file_actions

SPEC = {
    "directories": [{"path": "/etc/containerd", "mode": "0755"}, {"path": "/etc/kubernetes/manifests", "mode": "0755"}],
    "files": [
        {"path": "/etc/containerd/config.toml", "content": "version = 2\n", "mode": "0644", "nodes": "all"},
        {"path": "/etc/kubernetes/manifests/kube-controller-manager.yaml", "content": "kind: Pod\n",
         "mode": "0600", "nodes": "first"},
    ],
}


def _roots(tmp_path):
    roots = []
    for name in ("node1", "node2"):
        root = tmp_path / name
        root.mkdir()
        roots.append((name, str(root)))
    return roots


def test_laid_down_once_per_node(tmp_path):
    roots = _roots(tmp_path)
    planned = node_file_actions(roots, SPEC)
    assert [name for name, _root, _actions in planned] == ["node1", "node2"]
    for _name, _root, actions in planned:
        apply(actions)
    node1, node2 = (tmp_path / "node1", tmp_path / "node2")
    assert (node1 / "etc/containerd/config.toml").read_text() == "version = 2\n"
    assert (node2 / "etc/containerd/config.toml").read_text() == "version = 2\n"
    static_pod = node1 / "etc/kubernetes/manifests/kube-controller-manager.yaml"
    assert stat.S_IMODE(os.stat(static_pod).st_mode) == 0o600
    assert not (node2 / "etc/kubernetes/manifests/kube-controller-manager.yaml").exists()
    assert (node2 / "etc/kubernetes/manifests").is_dir()
    # Converged: nothing to do.
    assert all(actions == [] for _name, _root, actions in node_file_actions(roots, SPEC))


def test_an_edited_file_is_left_as_it_is(tmp_path):
    roots = _roots(tmp_path)
    for _name, _root, actions in node_file_actions(roots, SPEC):
        apply(actions)
    edited = tmp_path / "node2" / "etc/containerd/config.toml"
    edited.write_text("version = 2\n# edited by site.yml\n")
    assert all(actions == [] for _name, _root, actions in node_file_actions(roots, SPEC))
    assert edited.read_text().endswith("# edited by site.yml\n")


def test_relative_path_is_refused(tmp_path):
    with pytest.raises(FilesError, match="node_files: path must be an absolute path, got 'etc/x'"):
        node_file_actions(_roots(tmp_path), {"files": [{"path": "etc/x", "content": ""}]})
