# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kept module payloads: used only while every file they were packed from is the same.

tests/integration/plugins/test_preload_callback.py runs ansible-playbook with a test collection and
changes one of its module_utils; these tests take the manifests and the directory apart."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import pickle
import zipfile

import ansible
from ansible.executor.module_common import _CachedModule

from ansible_collections.podnet.calico.plugins.plugin_utils import ansiballz_cache

ANSIBLE_DIR = os.path.dirname(ansible.__file__)
NAME = "ansible.modules.ping-ZIP_DEFLATED-none"


def sha1(data):
    return hashlib.sha1(data).hexdigest()


def payload(path, entries):
    """A payload file as ansible-core writes it: a pickled _CachedModule with a base64 zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    cached = _CachedModule(zip_data=base64.b64encode(buffer.getvalue()), metadata=None, source_mapping={})
    with open(path, "wb") as handle:
        pickle.dump(cached, handle)


def real(relative):
    with open(os.path.join(ANSIBLE_DIR, relative), "rb") as handle:
        return handle.read()


def test_manifest_names_each_file_and_the_stubs(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    payload(run / NAME, {"ansible/modules/ping.py": real("modules/ping.py"), "ansible/__init__.py": b"# stub\n"})
    files = ansiballz_cache.manifest(str(run / NAME))
    assert files == {"ansible/modules/ping.py": sha1(real("modules/ping.py")),
                     "ansible/__init__.py": "generated:" + sha1(real("__init__.py"))}
    assert ansiballz_cache.is_fresh(files)


def test_a_source_that_differs_from_the_payload_is_not_kept(tmp_path):
    run, kept = tmp_path / "run", tmp_path / "kept"
    run.mkdir()
    kept.mkdir()
    payload(run / NAME, {"ansible/modules/ping.py": b"# not what is on disk\n"})
    assert ansiballz_cache.manifest(str(run / NAME)) is None
    assert ansiballz_cache.keep(str(kept), str(run)) == []


def test_is_fresh_follows_the_files(tmp_path):
    assert not ansiballz_cache.is_fresh({"ansible/modules/ping.py": sha1(b"other")})
    assert not ansiballz_cache.is_fresh({"ansible/modules/no_such_module.py": sha1(b"")})
    # A stub recorded where no file was: a file there now makes the payload out of date.
    assert ansiballz_cache.is_fresh({"ansible/no_such_dir/__init__.py": "generated:absent"})
    assert not ansiballz_cache.is_fresh({"ansible/modules/__init__.py": "generated:absent"})
    assert not ansiballz_cache.is_fresh({"elsewhere/x.py": sha1(b"")})
    assert not ansiballz_cache.is_fresh({"ansible/modules/ping.py": None})


def test_keep_then_restore(tmp_path):
    run, kept, later = tmp_path / "run", tmp_path / "kept", tmp_path / "later"
    run.mkdir()
    kept.mkdir()
    payload(run / NAME, {"ansible/modules/ping.py": real("modules/ping.py")})
    (run / (NAME + ".lock")).write_bytes(b"")
    assert ansiballz_cache.keep(str(kept), str(run)) == [NAME]
    stored = sorted(os.listdir(kept))
    assert stored == [".sources.json", "%s@%s" % (NAME, sha1((run / NAME).read_bytes()))]
    assert ansiballz_cache.restore(str(kept), str(later)) == ([NAME], [])
    assert (later / NAME).read_bytes() == (run / NAME).read_bytes()
    assert not (later / (NAME + ".lock")).exists()


def kept_ping(tmp_path):
    """A run's payload of ping, kept: (kept directory, a later run's cache directory, not made yet)."""
    run, kept, later = tmp_path / "run", tmp_path / "kept", tmp_path / "later"
    run.mkdir()
    kept.mkdir()
    payload(run / NAME, {"ansible/modules/ping.py": real("modules/ping.py")})
    assert ansiballz_cache.keep(str(kept), str(run)) == [NAME]
    return kept, later


def test_a_manifest_of_another_version_is_not_used(tmp_path):
    kept, later = kept_ping(tmp_path)
    data = json.loads((kept / ".sources.json").read_text())
    data["salt"] = "another Python|0.0.0"
    (kept / ".sources.json").write_text(json.dumps(data))
    assert ansiballz_cache.restore(str(kept), str(later)) == ([], [])
    (kept / ".sources.json").write_text("{not json")
    assert ansiballz_cache.restore(str(kept), str(later)) == ([], [])
    assert not later.exists()


def test_an_entry_whose_payload_file_is_gone_is_skipped(tmp_path):
    kept, later = kept_ping(tmp_path)
    for name in os.listdir(kept):
        if "@" in name:
            os.unlink(kept / name)
    assert ansiballz_cache.restore(str(kept), str(later)) == ([], [NAME])
