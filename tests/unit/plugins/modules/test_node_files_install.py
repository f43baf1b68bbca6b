# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""node_files' option install (files and links as one value, the shape of cni_plugins_install_plan's
result), run through Ansible on the controller against a temporary directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys

ANSIBLE = os.path.join(os.path.dirname(sys.executable), "ansible")


def run(tmp_path, args, check=False):
    argv = [ANSIBLE, "localhost", "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable,
            "-m", "podnet.calico.node_files", "-a", json.dumps(args)] + (["--check"] if check else [])
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False,
                          env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0",
                                   ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json",
                                   ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp")))
    out = json.loads(proc.stdout)
    return out["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_install_leads_files_and_links(tmp_path):
    bin_dir = tmp_path / "bin"
    args = {"directories": [{"path": str(bin_dir), "mode": "0755"}],
            "install": {"files": [{"path": str(bin_dir / "calico"), "content": "#!/bin/sh\n", "mode": "0755"}],
                        "links": [{"path": str(bin_dir / "calico-ipam"), "target": "calico"}]},
            "files": [{"path": str(bin_dir / "note"), "content": "x\n"}]}
    assert run(tmp_path, args, check=True)["changed"] is True
    assert not bin_dir.exists()
    result = run(tmp_path, args)
    assert result["changed"] is True, result
    wanted = [str(bin_dir), str(bin_dir / "calico"), str(bin_dir / "calico-ipam"), str(bin_dir / "note")]
    assert sorted(result["changed_paths"]) == sorted(wanted)
    assert (bin_dir / "calico").read_text() == "#!/bin/sh\n"
    assert oct((bin_dir / "calico").stat().st_mode & 0o777) == "0o755"
    assert os.readlink(bin_dir / "calico-ipam") == "calico"
    assert run(tmp_path, args)["changed"] is False


def test_a_path_in_install_and_in_files_is_an_error(tmp_path):
    path = str(tmp_path / "calico")
    result = run(tmp_path, {"install": {"files": [{"path": path, "content": "a\n"}]},
                            "files": [{"path": path, "content": "b\n"}]})
    assert result.get("failed") is True, result
    assert path in result["msg"], result
    assert not os.path.exists(path)
