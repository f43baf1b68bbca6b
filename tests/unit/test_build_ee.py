# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The execution environment definition, checked offline with ansible-builder (pinned in requirements/).

- `ansible-builder introspect` reads meta/execution-environment.yml the way an image build does and
  finds the collection's Python and system requirements;
- `ansible-builder create` renders a build context for an EE with podnet.calico and its dependencies
  (base image, ansible-core, ansible-runner, Python and system requirements as declared);
- what the EE declares agrees with what the tests run with: requirements/ (versions within the EE's
  bounds, same ansible-core and ansible-runner) and scripts/install-deps.sh (every Debian package).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILDER = os.path.join(os.path.dirname(sys.executable), "ansible-builder")
BASE_IMAGE = "quay.io/ansible/awx-ee:latest"


def _load(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _lines(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as handle:
        return [line.split("#", 1)[0].strip() for line in handle if line.split("#", 1)[0].strip()]


def _pins(path):
    pins = {}
    for line in _lines(path):
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([0-9][^\s;]*)", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def _key(version):
    return tuple(int(p) for p in re.findall(r"\d+", version))


@pytest.fixture(scope="module")
def ee():
    return _load("meta/execution-environment.yml")


def test_definition_shape(ee):
    assert ee["version"] == 3
    deps = ee["dependencies"]
    assert deps["python"] == "meta/ee-requirements.txt" and deps["system"] == "meta/ee-bindep.txt"
    for path in (deps["python"], deps["system"]):
        assert os.path.isfile(os.path.join(ROOT, path)), path


def test_introspect_finds_the_declared_requirements(tmp_path):
    coll = tmp_path / "collections" / "ansible_collections" / "podnet"
    coll.mkdir(parents=True)
    os.symlink(ROOT, str(coll / "calico"))
    proc = subprocess.run([BUILDER, "introspect", "--sanitize", str(tmp_path / "collections")], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stdout
    found = yaml.safe_load(proc.stdout[proc.stdout.index("python:"):]) if "python:" in proc.stdout else {}
    python = " ".join(found.get("python") or [])
    system = " ".join(found.get("system") or [])
    for req in _lines("meta/ee-requirements.txt"):
        assert req.split(">=")[0] in python, (req, proc.stdout)
    assert "iproute2" in system and "openssh-client" in system, proc.stdout


def test_create_renders_the_build_context_offline(tmp_path, ee):
    galaxy = _load("galaxy.yml")
    requirements = tmp_path / "requirements.yml"
    requirements.write_text(yaml.safe_dump({"collections": [{"name": name, "version": spec}
                                                            for name, spec in galaxy["dependencies"].items()]}))
    definition = {
        "version": 3,
        "images": {"base_image": {"name": BASE_IMAGE}},
        "dependencies": {
            "ansible_core": ee["dependencies"]["ansible_core"],
            "ansible_runner": ee["dependencies"]["ansible_runner"],
            "python": os.path.join(ROOT, ee["dependencies"]["python"]),
            "system": os.path.join(ROOT, ee["dependencies"]["system"]),
            "galaxy": str(requirements),
        },
    }
    path = tmp_path / "execution-environment.yml"
    path.write_text(yaml.safe_dump(definition))
    context = tmp_path / "context"
    proc = subprocess.run([BUILDER, "create", "-f", str(path), "--context", str(context), "--output-filename",
                           "Containerfile"], cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stdout
    containerfile = (context / "Containerfile").read_text()
    assert BASE_IMAGE in containerfile
    assert ee["dependencies"]["ansible_core"]["package_pip"] in containerfile
    assert ee["dependencies"]["ansible_runner"]["package_pip"] in containerfile
    build = context / "_build"
    assert [line for line in (build / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")] \
        == _lines("meta/ee-requirements.txt")
    assert [line for line in (build / "bindep.txt").read_text().splitlines() if line and not line.startswith("#")] \
        == _lines("meta/ee-bindep.txt")
    rendered = yaml.safe_load((build / "requirements.yml").read_text())
    assert sorted(c["name"] for c in rendered["collections"]) == sorted(galaxy["dependencies"])


def test_ee_and_tests_use_the_same_versions(ee):
    controller = _pins("requirements/controller.txt")
    tests = _pins("requirements/tests.txt")
    assert ee["dependencies"]["ansible_core"]["package_pip"] == "ansible-core==%s" % controller["ansible-core"]
    assert ee["dependencies"]["ansible_runner"]["package_pip"] == "ansible-runner==%s" % tests["ansible-runner"]
    declared = {}
    for req in _lines("meta/ee-requirements.txt"):
        name, bound = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", req).groups()
        declared[name.lower()] = bound
    # Every library the EE installs is pinned for the tests at a version within the EE's bound ...
    for name, bound in declared.items():
        assert name in controller, "%s (meta/ee-requirements.txt) is not pinned in requirements/controller.txt" % name
        assert _key(controller[name]) >= _key(bound), (name, controller[name], bound)
    # ... and every controller library the tests pin is one the EE installs.
    assert set(controller) - {"ansible-core"} == set(declared)


def test_every_debian_package_of_the_ee_is_installed_for_the_tests():
    with open(os.path.join(ROOT, "scripts", "install-deps.sh"), encoding="utf-8") as handle:
        script = handle.read()
    installed = set(re.search(r'PKGS="([^"]*)"', script).group(1).split())
    dpkg = [line.split()[0] for line in _lines("meta/ee-bindep.txt")
            if "platform:dpkg" in line or "[" not in line]
    assert dpkg
    assert not [p for p in dpkg if p not in installed], "in meta/ee-bindep.txt, not in scripts/install-deps.sh"
