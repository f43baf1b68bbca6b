# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make changelog` (antsibull-changelog release) works: before a version is released, run on a copy
of the tree it makes the release section of galaxy.yml's version from the fragments; once released
(changelogs/changelog.yaml has the version), the committed CHANGELOG.rst is what the changelog
generates and it shows the version (docs/development.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHANGELOG = os.path.join(os.path.dirname(sys.executable), "antsibull-changelog")
SKIP = {".venv", ".build", ".git", "tests", "bench", "molecule", "__pycache__", ".pytest_cache", ".hypothesis"}


def _released(version):
    with open(os.path.join(ROOT, "changelogs", "changelog.yaml"), encoding="utf-8") as handle:
        return version in ((yaml.safe_load(handle) or {}).get("releases") or {})


def test_release_section_is_generated_on_a_copy(tmp_path):
    copy = tmp_path / "ansible_collections" / "podnet" / "calico"
    shutil.copytree(ROOT, str(copy), ignore=lambda _d, names: [n for n in names if n in SKIP])
    with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        version = yaml.safe_load(handle)["version"]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(tmp_path))
    if _released(version):
        # Released: regenerating CHANGELOG.rst from changelog.yaml gives the committed file.
        proc = subprocess.run([CHANGELOG, "generate"], cwd=str(copy), env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, check=False)
        assert proc.returncode == 0, proc.stdout
        committed = open(os.path.join(ROOT, "CHANGELOG.rst"), encoding="utf-8").read()
        assert (copy / "CHANGELOG.rst").read_text(encoding="utf-8") == committed
        assert "v%s" % version in committed and "Breaking Changes" in committed
        return
    fragments = sorted(os.listdir(os.path.join(ROOT, "changelogs", "fragments")))
    assert fragments, "no changelog fragment to release"
    proc = subprocess.run([CHANGELOG, "release", "--date", "2026-12-01"], cwd=str(copy), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stdout
    with open(str(copy / "changelogs" / "changelog.yaml"), encoding="utf-8") as handle:
        releases = yaml.safe_load(handle)["releases"]
    assert version in releases, releases.keys()
    assert releases[version]["release_date"] == "2026-12-01"
    assert sorted(releases[version]["fragments"]) == fragments
    rst = (copy / "CHANGELOG.rst").read_text(encoding="utf-8")
    assert "v%s" % version in rst
    # The new modules and roles of the release are listed.
    assert "podnet.calico.calico_veth" in rst or "calico_veth" in rst
    # Releasing consumed the fragments (keep_fragments: false); the checkout is untouched.
    assert not os.listdir(str(copy / "changelogs" / "fragments"))
    assert sorted(os.listdir(os.path.join(ROOT, "changelogs", "fragments"))) == fragments
