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


def test_links_are_made_repointed_and_left_alone(tmp_path):
    plugin = tmp_path / "calico"
    link = tmp_path / "calico-ipam"
    wanted_files = [{"path": str(plugin), "content": "#!/bin/sh\n", "mode": "0755"}]
    wanted_links = [{"path": str(link), "target": "calico"}]
    actions = files.plan([], wanted_files, wanted_links)
    assert [a["kind"] for a in actions] == ["write", "link"]
    files.apply(actions)
    assert os.readlink(link) == "calico" and link.read_text() == "#!/bin/sh\n"
    assert files.plan([], wanted_files, wanted_links) == []
    os.unlink(link)
    os.symlink("elsewhere", link)
    actions = files.plan([], [], wanted_links)
    assert actions[0]["old_link"] == "elsewhere"
    assert files.diffs(actions)[0]["before"] == "link to elsewhere\n"
    files.apply(actions)
    assert os.readlink(link) == "calico"


def test_a_file_in_the_way_of_a_link_is_replaced_and_put_back_on_failure(tmp_path):
    link = tmp_path / "calico-ipam"
    link.write_bytes(b"old binary")
    os.chmod(link, 0o755)
    actions = files.plan([], [{"path": str(tmp_path / "no-dir" / "x"), "content": "x\n"}],
                         [{"path": str(link), "target": "calico"}])
    # The write fails (its directory is missing) before the link is made: nothing changed.
    with pytest.raises(files.FilesError, match=r"undone: 0 change"):
        files.apply(actions)
    assert not link.is_symlink() and link.read_bytes() == b"old binary"
    # A failure after the link was made puts the file back, with its mode.
    actions = files.plan([], [], [{"path": str(link), "target": "calico"}])
    actions.append({"kind": "write", "path": str(tmp_path / "no-dir" / "y"), "data": b"y", "old": None,
                    "mode": 0o644, "old_mode": None, "secret": False, "show": True})
    with pytest.raises(files.FilesError, match=r"undone: 1 change"):
        files.apply(actions)
    assert not link.is_symlink() and link.read_bytes() == b"old binary" and mode(link) == 0o755


@pytest.mark.parametrize("entry, message", [
    ({"path": "relative", "target": "x"}, r"links\[0\]: path must be an absolute path"),
    ({"path": "/tmp/podnet-test-link", "target": ""}, r"links\[0\]: give the target"),
])
def test_bad_links_name_the_entry(entry, message):
    with pytest.raises(files.FilesError, match=message):
        files.plan([], [], [entry])


def test_links_refuse_a_directory_and_a_path_listed_twice(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(files.FilesError, match=r"links\[0\]: .*/d is a directory"):
        files.plan([], [], [{"path": str(tmp_path / "d"), "target": "x"}])
    with pytest.raises(files.FilesError, match=r"links\[0\]: .*/f is listed twice"):
        files.plan([], [{"path": str(tmp_path / "f"), "content": ""}], [{"path": str(tmp_path / "f"), "target": "x"}])


def test_diff_false_shows_size_and_hash_only(tmp_path):
    path = tmp_path / "calico"
    path.write_text("old body\n")
    out = files.diffs(files.plan([], [{"path": str(path), "content": "new body\n", "diff": False}]))
    assert "body" not in repr(out)
    assert out[0]["before"].startswith("9 bytes, sha256 ") and out[0]["after"].startswith("9 bytes, sha256 ")
    assert out[0]["before"] != out[0]["after"]


def test_plan_compares_with_what_gather_read_without_reading_again(tmp_path, count_opens):
    same, other, binary = tmp_path / "same", tmp_path / "other", tmp_path / "binary"
    same.write_text("same\n")
    other.write_text("old\n")
    binary.write_bytes(b"\xff\xfe not utf-8 \x80\n")
    os.chmod(other, 0o640)
    paths = [str(same), str(other), str(binary), str(tmp_path / "new")]
    read = files.gather(paths)
    wanted = [{"path": str(same), "content": "same\n"}, {"path": str(other), "content": "new\n"},
              {"path": str(binary), "content": b"\xff\xfe not utf-8 \x80\n".decode("utf-8", "surrogateescape")},
              {"path": str(tmp_path / "new"), "content": "n\n", "mode": "0600"}]
    without = files.plan([], wanted)
    start, stop = count_opens
    opened = start()
    with_read = files.plan([], wanted, read=read)
    stop()
    assert [p for p in opened if p.startswith(str(tmp_path))] == []
    assert with_read == without
    assert [(a["path"], a["old"], a["mode"]) for a in with_read] == [
        (str(other), b"old\n", 0o640), (str(tmp_path / "new"), None, 0o600)]


def test_one_reader_for_files_and_links(tmp_path):
    """A file entry reads through a symbolic link (content and mode of the file it points to); a link
    entry sees the link itself; a directory is refused for both, naming the entry."""
    real = tmp_path / "real"
    real.write_text("same\n")
    os.chmod(real, 0o600)
    (tmp_path / "alias").symlink_to("real")
    assert files.plan([], [{"path": str(tmp_path / "alias"), "content": "same\n", "mode": "0600"}]) == []
    assert files.plan([], [], [{"path": str(tmp_path / "alias"), "target": "real"}]) == []
    changed = files.plan([], [{"path": str(tmp_path / "alias"), "content": "new\n"}])
    assert [(a["kind"], a["old"], a["old_mode"], a["mode"]) for a in changed] == [("write", b"same\n", 0o600, 0o600)]
    relink = files.plan([], [], [{"path": str(tmp_path / "alias"), "target": "other"}])
    assert [(a["old_link"], a["old"]) for a in relink] == [("real", None)]
    (tmp_path / "d").mkdir()
    with pytest.raises(files.FilesError, match=r"files\[0\]: .*/d is a directory"):
        files.plan([], [{"path": str(tmp_path / "d"), "content": ""}])
    with pytest.raises(files.FilesError, match=r"files\[0\]: .*/d is a directory"):
        files.plan([], [{"path": str(tmp_path / "f"), "src": str(tmp_path / "d")}])
    assert files.gather([str(tmp_path / "alias")])[str(tmp_path / "alias")] == {
        "exists": True, "content": "same\n", "mode": "0600"}


def test_absent_removes_files_and_links_and_undo_puts_them_back(tmp_path):
    conf = tmp_path / "net.d"
    conf.mkdir()
    (conf / "05-old.conflist").write_text("old\n")
    os.chmod(conf / "05-old.conflist", 0o640)
    os.symlink("elsewhere", conf / "06-link.conf")
    gone = str(conf / "07-missing.conf")
    actions = files.plan([], [], absent=[str(conf / "05-old.conflist"), str(conf / "06-link.conf"), gone])
    assert [a["kind"] for a in actions] == ["remove", "remove"]
    assert files.diffs(actions)[0]["before"] == "a file of 4 bytes, mode 0640\n"
    assert files.diffs(actions)[1]["before"] == "link to elsewhere\n"
    files.apply(actions)
    assert sorted(os.listdir(conf)) == []
    assert files.plan([], [], absent=[str(conf / "05-old.conflist")]) == []
    assert files.undo(actions) == []
    assert (conf / "05-old.conflist").read_text() == "old\n" and mode(conf / "05-old.conflist") == 0o640
    assert os.readlink(conf / "06-link.conf") == "elsewhere"


def test_absent_refuses_a_directory_and_a_path_listed_twice(tmp_path):
    with pytest.raises(files.FilesError, match=r"absent\[0\]: .* is a directory"):
        files.plan([], [], absent=[str(tmp_path)])
    with pytest.raises(files.FilesError, match=r"absent\[0\]: .* is listed twice"):
        files.plan([], [{"path": str(tmp_path / "f"), "content": "x"}], absent=[str(tmp_path / "f")])
