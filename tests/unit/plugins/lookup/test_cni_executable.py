# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cni_executable lookup: the builder's file, as text, for the interpreter asked for."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import stat
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


def test_one_build_per_run_through_ansible(tmp_path):
    """Three hosts in three workers, each templating the lookup twice for one interpreter and once for
    another: one build per interpreter in the run, every other call reads the run's cache file."""
    expression = ("[lookup('podnet.calico.cni_executable', python='/opt/a/python3'),"
                  " lookup('podnet.calico.cni_executable', python='/opt/a/python3'),"
                  " lookup('podnet.calico.cni_executable', python='/opt/b/python3')] | map('hash', 'sha256') | list")
    proc = subprocess.run([ANSIBLE, "all", "-i", "h1,h2,h3,", "-c", "local", "-f", "3", "-vvv",
                           "-e", "ansible_python_interpreter=%s" % sys.executable,
                           "-m", "ansible.builtin.debug", "-a", "msg={{ %s }}" % expression],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=300,
                          check=False, env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(tmp_path)))
    assert proc.returncode == 0, proc.stdout
    print(proc.stdout[-3000:])
    for python, calls in (("/opt/a/python3", 6), ("/opt/b/python3", 3)):
        assert proc.stdout.count("cni_executable: built the plugin for %s," % python) == 1, proc.stdout
        assert proc.stdout.count("cni_executable: the plugin for %s from this run's cache" % python) == calls - 1
        want = hashlib.sha256(cni_executable.executable_text(python).encode("ascii")).hexdigest()
        assert proc.stdout.count(want) == calls
    # the run's directory (and its cache) went with the run
    assert os.listdir(str(tmp_path)) == []


def copy_of_the_builders_inputs(root):
    """A collection tree with what the builder reads: its own file and plugins/module_utils."""
    shutil.copytree(os.path.join(cni_executable.ROOT, "plugins", "module_utils"), str(root / "plugins" / "module_utils"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    (root / os.path.dirname(cni_executable.BUILDER_IN_ROOT)).mkdir(parents=True)
    shutil.copy2(cni_executable.BUILDER, str(root / cni_executable.BUILDER_IN_ROOT))
    return str(root)


def test_the_cache_is_used_and_a_changed_key_rebuilds(tmp_path):
    root = copy_of_the_builders_inputs(tmp_path / "collection")
    run = tmp_path / "run"
    run.mkdir()
    text = cni_executable.executable_text("/usr/bin/python3", root=root, local_tmp=str(run))
    assert text == builder().render(root, "/usr/bin/python3")
    (cache,) = [name for name in os.listdir(str(run)) if not name.endswith(".lock")]
    path = run / cache
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o600
    # A second call reads the file: a (well-formed) text put there is what it returns.
    body = b"#!/usr/bin/python3\n# kept\n"
    path.write_bytes(hashlib.sha256(body).hexdigest().encode("ascii") + b"\n" + body)
    assert cni_executable.executable_text("/usr/bin/python3", root=root, local_tmp=str(run)) == body.decode("ascii")
    # A damaged file, or none, is built again.
    path.write_bytes(path.read_bytes()[:-3])
    assert cni_executable.executable_text("/usr/bin/python3", root=root, local_tmp=str(run)) == text
    path.unlink()
    assert cni_executable.executable_text("/usr/bin/python3", root=root, local_tmp=str(run)) == text
    # Another interpreter or an edited module: another key, another build.
    assert cni_executable.executable_text("/opt/py/bin/python3", root=root, local_tmp=str(run)).startswith("#!/opt/py/")
    client = os.path.join(root, "plugins", "module_utils", "cni", "_client.py")
    with open(client, "a") as handle:
        handle.write("# edited\n")
    edited = cni_executable.executable_text("/usr/bin/python3", root=root, local_tmp=str(run))
    assert edited != text
    out = tmp_path / "calico"
    out.write_text(edited, encoding="ascii")
    assert builder().carried(str(out))["ansible_collections/podnet/calico/plugins/module_utils/cni/_client.py"].endswith(
        b"# edited\n")
    assert len([name for name in os.listdir(str(run)) if not name.endswith(".lock")]) == 3
