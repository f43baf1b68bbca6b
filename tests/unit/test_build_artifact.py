# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection artifact holds what a user needs and none of the checkout's local state.

Checks the tarball that `make build` made (PODNET_BUILD_TARBALL), or builds one with
`ansible-galaxy collection build` into a temporary directory.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import tarfile

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GALAXY = os.path.join(os.path.dirname(sys.executable), "ansible-galaxy")


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    path = os.environ.get("PODNET_BUILD_TARBALL")
    if not path:
        out = tmp_path_factory.mktemp("dist")
        subprocess.run([GALAXY, "collection", "build", "--force", "--output-path", str(out), ROOT],
                       check=True, stdout=subprocess.PIPE, universal_newlines=True)
        path = glob.glob(str(out / "podnet-calico-*.tar.gz"))[0]
    with tarfile.open(path) as tar:
        names = {member.name.rstrip("/") for member in tar.getmembers()}
        manifest = json.load(tar.extractfile("MANIFEST.json"))
        files = json.load(tar.extractfile("FILES.json"))
    return {"path": path, "names": names, "manifest": manifest, "files": files}


def _tracked(pattern):
    """Files of the checkout matching a glob, relative to it."""
    return {os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, pattern), recursive=True) if os.path.isfile(p)}


def test_metadata_matches_galaxy_yml(artifact):
    with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        galaxy = yaml.safe_load(handle)
    info = artifact["manifest"]["collection_info"]
    assert (info["namespace"], info["name"], info["version"]) == ("podnet", "calico", galaxy["version"])
    assert os.path.basename(artifact["path"]) == "podnet-calico-%s.tar.gz" % galaxy["version"]
    assert info["dependencies"] == galaxy["dependencies"]
    assert {"kubernetes.core", "community.crypto"} <= set(info["dependencies"])
    # Only a test uses ansible.posix (to compare calico_dataplane's sysctl file with its): not a dependency.
    assert "ansible.posix" not in info["dependencies"]
    assert info["license"] == ["GPL-3.0-or-later"]


def test_what_a_user_needs_is_in(artifact):
    names = artifact["names"]
    for required in ("MANIFEST.json", "FILES.json", "README.md", "LICENSE", "meta/runtime.yml",
                     "meta/execution-environment.yml", "changelogs/changelog.yaml", "tests/config.yml"):
        assert required in names, required
    for pattern in ("plugins/modules/*.py", "plugins/module_utils/**/*.py", "plugins/filter/*.py",
                    "plugins/doc_fragments/*.py", "roles/*/meta/argument_specs.yml", "roles/*/tasks/*.yml",
                    "roles/*/defaults/main.yml", "playbooks/*.yml", "docs/*.md"):
        expected = _tracked(pattern) - {p for p in _tracked(pattern) if "__pycache__" in p}
        assert expected, pattern
        assert expected <= names, "missing from the artifact: %s" % sorted(expected - names)


def test_no_local_state_or_tooling(artifact):
    unwanted = ("/.git/", ".venv/", ".build/", ".ci/", "bench/", "molecule/", "scripts/", "requirements/",
                "tests/output/", ".pytest_cache/", ".hypothesis/", "__pycache__/", ".ansible/")
    bad = sorted(n for n in artifact["names"]
                 if any(("/" + n + "/").find("/" + u) >= 0 for u in unwanted)
                 or n.endswith((".pyc", ".tar.gz", ".retry")) or n in ("Makefile", ".ansible-lint", ".yamllint", ".gitignore", "ansible.cfg"))
    assert not bad, bad


def test_files_json_lists_every_file(artifact):
    listed = {entry["name"] for entry in artifact["files"]["files"] if entry["name"] != "."}
    assert listed == artifact["names"] - {"MANIFEST.json", "FILES.json"}
