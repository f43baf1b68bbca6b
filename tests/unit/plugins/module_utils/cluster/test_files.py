# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""node_files' engine on real files in a temporary directory: plan, apply, idempotence, undo."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.podnet.calico.plugins.module_utils.cluster import _files as files


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_writes_then_changes_nothing(tmp_path):
    conf = tmp_path / "etc" / "cni"
    dirs = [{"path": str(conf), "mode": "0700"}]
    wanted = [{"path": str(conf / "a.conf"), "content": "a\n", "mode": "0600"},
              {"path": str(conf / "b.conf"), "content": "b\n"}]
    actions = files.plan(dirs, wanted)
    assert [a["kind"] for a in actions] == ["mkdir", "write", "write"]
    assert not conf.exists(), "plan must not touch anything"
    files.apply(actions)
    assert (conf / "a.conf").read_text() == "a\n" and mode(conf / "a.conf") == 0o600
    assert mode(conf / "b.conf") == 0o644 and mode(conf) == 0o700
    assert files.plan(dirs, wanted) == []


def test_mode_only_and_force_false(tmp_path):
    path = tmp_path / "f"
    path.write_text("old\n")
    os.chmod(path, 0o644)
    actions = files.plan([], [{"path": str(path), "content": "new\n", "mode": "0600", "force": False}])
    assert [a["kind"] for a in actions] == ["chmod"]
    files.apply(actions)
    assert path.read_text() == "old\n" and mode(path) == 0o600


def test_existing_mode_is_kept_when_not_given(tmp_path):
    path = tmp_path / "f"
    path.write_text("old\n")
    os.chmod(path, 0o640)
    files.apply(files.plan([], [{"path": str(path), "content": "new\n"}]))
    assert path.read_text() == "new\n" and mode(path) == 0o640


def test_copies_from_a_source_on_the_node(tmp_path):
    src = tmp_path / "plugin"
    src.write_bytes(b"\x7fELF\x00binary")
    dest = tmp_path / "bin" / "plugin"
    files.apply(files.plan([{"path": str(dest.parent)}], [{"path": str(dest), "src": str(src), "mode": "0755"}]))
    assert dest.read_bytes() == src.read_bytes() and mode(dest) == 0o755
    with pytest.raises(files.FilesError, match=r"files\[0\]: the source .*missing does not exist"):
        files.plan([], [{"path": str(dest), "src": str(tmp_path / "missing")}])


@pytest.mark.parametrize("entry, message", [
    ({"path": "relative", "content": ""}, r"files\[0\]: path must be an absolute path"),
    ({"path": "/tmp/x", "content": "", "mode": "rw"}, r"files\[0\]: mode 'rw' is not an octal number"),
    ({"path": "/tmp/x"}, r"files\[0\]: give content or src"),
])
def test_bad_input_names_the_entry(entry, message):
    with pytest.raises(files.FilesError, match=message):
        files.plan([], [entry])


def test_failure_undoes_the_run(tmp_path):
    keep = tmp_path / "keep"
    keep.write_text("before\n")
    new_dir = tmp_path / "new" / "deeper"
    actions = files.plan([{"path": str(new_dir)}],
                         [{"path": str(keep), "content": "after\n"},
                          {"path": str(tmp_path / "missing-dir" / "x"), "content": "x\n"}])
    with pytest.raises(files.FilesError, match=r"undone: 2 change"):
        files.apply(actions)
    assert keep.read_text() == "before\n"
    assert not (tmp_path / "new").exists()


def test_gather_reads_what_is_there(tmp_path):
    path = tmp_path / "f"
    path.write_text("x=1\n")
    os.chmod(path, 0o600)
    out = files.gather([str(path), str(tmp_path / "none")])
    assert out[str(path)] == {"exists": True, "content": "x=1\n", "mode": "0600"}
    assert out[str(tmp_path / "none")] == {"exists": False, "content": None, "mode": None}


def test_diff_hides_secrets(tmp_path):
    actions = files.plan([], [{"path": str(tmp_path / "key"), "content": "SECRET\n", "secret": True},
                              {"path": str(tmp_path / "conf"), "content": "plain\n"}])
    out = files.diffs(actions)
    assert "SECRET" not in repr(out[0]) and out[1]["after"] == "plain\n"
