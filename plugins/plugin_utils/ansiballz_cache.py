# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module payloads (AnsiballZ) kept from one ansible-playbook run to the next while their sources do not change.

ansible-core packs each Python module once per run: it finds the module_utils the module imports,
recursively, zips them with the module and keeps the zip in the run's own temporary directory
(ansiballz_cache), which goes when the run ends. Packing a module of the collection costs about
0.15-0.3 s of controller CPU, and the workers of the first task that runs the module wait for it.

keep() copies the payloads the run packed into a directory of the user's, each with a manifest: the
SHA-1 of every file of the zip, found again where the controller's Python finds it now (ansible-core
for ansible/, the installed collection for ansible_collections/). restore() copies into a new run's
directory the payloads whose every file is still the same; one changed, added or missing file leaves
its payload out, and ansible-core packs it again as without the cache. Entries that ansible-core
generates itself (package stubs, which are not the files on disk) are tied to ansible-core's version,
like everything else: a manifest of another version of Python or ansible-core is not used.

The payload files are ansible-core's own (pickles, which ansible-core loads): this code reads only
the manifests, and copies payloads only between the run's directory and one that only this user may
write to.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import os
import pickle
import re
import shutil
import sys
import zipfile

from ansible_collections.podnet.calico.plugins.plugin_utils.private_files import atomic_write

_MANIFEST = '.sources.json'
# ansible-core's file names: <module fqn>-<compression>-<extensions> (not its .lock and -part files).
_ENTRY = re.compile(r'^[A-Za-z0-9_.]+-ZIP_[A-Z]+-[A-Za-z0-9_~]+$')
_GENERATED = 'generated'
_DIGEST = re.compile(r'^[0-9a-f]{40}$')


def _salt():
    # pylint: disable-next=import-outside-toplevel
    from ansible.release import __version__
    return '%s|%s' % (sys.version, __version__)


class _Sources:
    """Where the controller's Python finds each file of a payload now (ansible/ in ansible-core, ansible_collections/
    <ns>/<name>/ in the installed collection), and the SHA-1 of those files, each found and read once."""

    def __init__(self):
        self._roots = {}
        self._sha1 = {}

    def path(self, name):
        """The file on disk for a payload entry, or None where no package holds it."""
        parts = name.split('/')
        if parts[0] == 'ansible':
            key, depth = 'ansible', 1
        elif parts[0] == 'ansible_collections' and len(parts) > 3:
            key, depth = '.'.join(parts[:3]), 3
        else:
            return None
        if key not in self._roots:
            try:
                spec = importlib.util.find_spec(key)
                locations = list(spec.submodule_search_locations or []) if spec else []
            except (ImportError, ValueError):
                locations = []
            self._roots[key] = locations[0] if locations else None
        root = self._roots[key]
        return os.path.join(root, *parts[depth:]) if root else None

    def sha1(self, path):
        """The SHA-1 of a file, or None when it cannot be read (or path is None)."""
        if path is None:
            return None
        if path not in self._sha1:
            try:
                with open(path, 'rb') as handle:
                    self._sha1[path] = hashlib.sha1(handle.read(), usedforsecurity=False).hexdigest()
            except OSError:
                self._sha1[path] = None
        return self._sha1[path]


def _namespace_stub(name):
    """ansible_collections/__init__.py and ansible_collections/<ns>/__init__.py: written by ansible-core."""
    parts = name.split('/')
    return parts[0] == 'ansible_collections' and len(parts) <= 3 and parts[-1] == '__init__.py'


def _generated(on_disk):
    return '%s:%s' % (_GENERATED, on_disk or 'absent')


def manifest(payload_path, sources=None):
    """The manifest of one payload file of ansible-core's, or None.

    {zip entry: its SHA-1 (the file where it is found now), or 'generated:<SHA-1 of that file or absent>'}."""
    sources = sources or _Sources()
    try:
        with open(payload_path, 'rb') as handle:
            cached = pickle.load(handle)  # ansible-core's own file, in this run's private directory
        archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(cached.zip_data)))
    except Exception:  # pylint: disable=broad-exception-caught
        return None
    files = {}
    for info in archive.infolist():
        path = sources.path(info.filename)
        if path is None and not _namespace_stub(info.filename):
            return None
        on_disk = sources.sha1(path)
        content_sha1 = hashlib.sha1(archive.read(info), usedforsecurity=False).hexdigest()
        if on_disk == content_sha1:
            files[info.filename] = content_sha1
        elif info.filename.endswith('/__init__.py'):
            # A package stub of ansible-core's making, tied to its version; the file on disk in its
            # place, or its absence, must stay as it is.
            files[info.filename] = _generated(on_disk)
        else:
            # A source that changed on disk since it was packed: nothing to keep.
            return None
    return files


def is_fresh(files, sources=None):
    """Whether every file of a manifest is still the same where it is found now."""
    sources = sources or _Sources()
    for name, recorded in files.items():
        if not isinstance(recorded, str):
            return False
        path = sources.path(name)
        on_disk = sources.sha1(path)
        if recorded.startswith(_GENERATED + ':'):
            if recorded != _generated(on_disk):
                return False
        elif path is None or on_disk != recorded:
            return False
    return True


def _read_manifests(directory):
    try:
        with open(os.path.join(directory, _MANIFEST), encoding='utf-8') as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get('salt') != _salt() or not isinstance(data.get('payloads'), dict):
        return {}
    return data['payloads']


def _stored(name, digest):
    return '%s@%s' % (name, digest)


def restore(directory, run_cache):
    """Copy the fresh payloads of directory into run_cache. Returns (restored names, stale names)."""
    payloads = _read_manifests(directory)
    restored, stale = [], []
    sources = _Sources()
    for name, entry in sorted(payloads.items()):
        if not _ENTRY.match(name) or not isinstance(entry, dict) or not _DIGEST.match(str(entry.get('payload'))):
            continue
        if not isinstance(entry.get('files'), dict) or not is_fresh(entry['files'], sources):
            stale.append(name)
            continue
        target = os.path.join(run_cache, name)
        if os.path.exists(target):
            continue
        try:
            os.makedirs(run_cache, exist_ok=True)
            _copy(os.path.join(directory, _stored(name, entry['payload'])), target)
        except OSError:
            stale.append(name)
            continue
        restored.append(name)
    return restored, stale


def keep(directory, run_cache, restored=(), stale=()):
    """Copy the payloads this run packed (not those restore() brought) into directory, with their
    manifests; drop the entries restore() found stale. Returns the names kept.

    A payload is stored under its own digest, which its manifest entry names: runs that keep at the
    same time cannot pair one's manifest with the other's payload. An entry whose files changed since
    restore() looked is left for the next restore() to find stale."""
    try:
        names = sorted(name for name in os.listdir(run_cache) if _ENTRY.match(name))
    except OSError:
        return []
    sources = _Sources()
    payloads = {name: entry for name, entry in _read_manifests(directory).items()
                if _ENTRY.match(name) and name not in stale and isinstance(entry, dict)}
    kept = []
    for name in names:
        if name in restored:
            continue
        source = os.path.join(run_cache, name)
        files = manifest(source, sources)
        if files is None:
            continue
        try:
            with open(source, 'rb') as handle:
                digest = hashlib.sha1(handle.read(), usedforsecurity=False).hexdigest()
            _copy(source, os.path.join(directory, _stored(name, digest)))
        except OSError:
            continue
        payloads[name] = {'payload': digest, 'files': files}
        kept.append(name)
    _write_json(os.path.join(directory, _MANIFEST), {'salt': _salt(), 'payloads': payloads})
    wanted = {_stored(name, entry.get('payload')) for name, entry in payloads.items()}
    for stored in os.listdir(directory):
        if '@' in stored and stored not in wanted:
            try:
                os.unlink(os.path.join(directory, stored))
            except OSError:
                pass
    return kept


def _copy(source, target):
    def write(out):
        with open(source, 'rb') as src:
            shutil.copyfileobj(src, out)
    atomic_write(target, write)


def _write_json(path, data):
    atomic_write(path, lambda out: json.dump(data, out, sort_keys=True), mode='w')
