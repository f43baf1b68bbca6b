# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cni_executable lookup: the builder's file, as text, for the interpreter asked for."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from ansible_collections.podnet.calico.plugins.lookup import cni_executable

ANSIBLE = os.path.join(os.path.dirname(sys.executable), "ansible")


def builder():
    spec = importlib.util.spec_from_file_location("podnet_cni_build_for_test", cni_executable.BUILDER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_text_is_the_builders_file(tmp_path):
    out = tmp_path / "calico"
    builder().build(cni_executable.ROOT, str(out), "/opt/py/bin/python3")
    text = cni_executable.executable_text("/opt/py/bin/python3")
    assert text == out.read_text(encoding="ascii")
    assert text.startswith("#!/opt/py/bin/python3 -IS\n")
    # Another interpreter, another first line; the same interpreter, the same text (idempotent installs).
    other = cni_executable.executable_text("/usr/bin/python3")
    assert other.startswith("#!/usr/bin/python3 -IS\n") and other != text
    assert cni_executable.executable_text("/usr/bin/python3") == other


def test_the_text_runs_as_the_plugin(tmp_path):
    path = tmp_path / "calico"
    path.write_text(cni_executable.executable_text(sys.executable), encoding="ascii")
    os.chmod(path, 0o755)
    proc = subprocess.run([str(path)], input=b'{"cniVersion": "1.0.0"}', stdout=subprocess.PIPE,
                          env={"CNI_COMMAND": "VERSION", "PATH": "/usr/bin:/bin"}, check=True, timeout=60)
    assert "1.0.0" in json.loads(proc.stdout)["supportedVersions"]


def adhoc(expression):
    """Template expression on localhost with ansible's own plugin loader (options from the docs)."""
    return subprocess.run([ANSIBLE, "localhost", "-m", "ansible.builtin.debug", "-a", "msg={{ %s }}" % expression],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=120, check=False,
                          env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0"))


def test_through_ansible_with_its_options():
    proc = adhoc("lookup('podnet.calico.cni_executable', python='/opt/py/bin/python3') | hash('sha256')")
    assert proc.returncode == 0, proc.stdout
    want = hashlib.sha256(cni_executable.executable_text("/opt/py/bin/python3").encode("ascii")).hexdigest()
    assert want in proc.stdout


@pytest.mark.parametrize("arguments, message", [
    ("'x'", "cni_executable takes no terms"),
    ("python=''", "python must be the path of an interpreter"),
])
def test_bad_input_is_named(arguments, message):
    proc = adhoc("lookup('podnet.calico.cni_executable', %s)" % arguments)
    assert proc.returncode != 0 and message in proc.stdout, proc.stdout
