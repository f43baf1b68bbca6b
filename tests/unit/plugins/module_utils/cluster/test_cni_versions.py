# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""node_files' cni_check engine with real plugins: Debian's reference plugins and small scripts."""

from __future__ import annotations

import os
import shutil

import pytest

from ansible_collections.podnet.calico.plugins.module_utils.cluster import _cni_versions as versions


def script(path, text):
    path.write_text("#!/bin/sh\n" + text)
    os.chmod(path, 0o755)


@pytest.fixture
def bin_dir(tmp_path):
    out = tmp_path / "bin"
    out.mkdir()
    shutil.copy("/usr/lib/cni/loopback", out / "loopback")
    script(out / "old", "cat >/dev/null; echo '{\"cniVersion\": \"0.1.0\", \"supportedVersions\": [\"0.1.0\"]}'\n")
    script(out / "broken", "cat >/dev/null; echo 'no version here' >&2; exit 3\n")
    script(out / "chatty", "cat >/dev/null; echo 'hello'\n")
    return str(out)


def test_real_plugin_answers_and_missing_ones_are_left_out(bin_dir):
    answers, problems = versions.check(bin_dir, ["loopback", "portmap-not-here"], cni_version="1.0.0",
                                       minimums={"loopback": "0.2.0"}, need={"loopback": "needed"})
    assert problems == []
    assert list(answers) == ["loopback"] and '"1.0.0"' in answers["loopback"]


def test_each_problem_is_named(bin_dir):
    answers, problems = versions.check(bin_dir, ["old", "broken", "chatty", "loopback"], cni_version="0.3.1",
                                       minimums={"old": "0.2.0"}, required=["old", "loopback"],
                                       need={"bandwidth": "the config calls it"})
    assert set(answers) == {"old", "chatty", "loopback"}
    assert "%s/broken exited with 3: no version here" % bin_dir in problems
    assert "old does not support CNI version 0.3.1 (supports 0.1.0)" in problems
    assert "old must support CNI version 0.2.0 or later (supports 0.1.0)" in problems
    assert any(p.startswith("chatty did not answer CNI_COMMAND=VERSION") for p in problems)
    assert "%s/bandwidth is missing; the config calls it" % bin_dir in problems
    assert len(problems) == 5, problems


def test_check_mode_does_not_need_what_is_not_there_yet(bin_dir):
    assert versions.check(bin_dir, [], need={"bandwidth": "x"}, present=False)[1] == []


def test_exec_busy_is_tried_again(bin_dir, monkeypatch):
    import errno
    calls = []
    real = versions.subprocess.Popen

    def popen(*args, **kwargs):
        calls.append(args[0])
        if len(calls) < 3:
            raise OSError(errno.ETXTBSY, "Text file busy")
        return real(*args, **kwargs)
    monkeypatch.setattr(versions.subprocess, "Popen", popen)
    monkeypatch.setattr(versions, "_BUSY_DELAY", 0)
    answers, problems = versions.check(bin_dir, ["loopback"])
    assert problems == [] and "loopback" in answers and len(calls) == 3


@pytest.mark.parametrize("kwargs, message", [
    ({"minimums": ["loopback"]}, "minimums must be a dictionary"),
    ({"cni_version": "one"}, "cni_version must be a version such as 0.3.1, got 'one'"),
    ({"minimums": {"loopback": "x.y"}}, r"minimums\[loopback\] must be a version"),
])
def test_bad_input_is_named(bin_dir, kwargs, message):
    with pytest.raises(ValueError, match=message):
        versions.check(bin_dir, ["loopback"], **kwargs)
