# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
name: cni_executable
short_description: The collection's CNI plugin as the text of one executable file
version_added: 1.1.0
description:
  - Builds, on the controller, the collection's own Calico-compatible CNI plugin (installed as
    C(calico), with C(calico-ipam) a link to it) from this collection's C(plugins/module_utils),
    and returns the file's text, to be written on the nodes with mode C(0755)
    (M(podnet.calico.node_files) with O(podnet.calico.node_files#module:files[].diff=false)).
  - The build is reproducible - an unchanged collection gives the same text - so writing it is
    idempotent. It is the build of C(roles/cni_plugins/files/podnet_cni_build.py) (see the
    collection's docs/cni.md, "The executable").
  - The text is built once per run - not once per host - and kept in a file (mode C(0600)) in
    Ansible's local temporary directory of the run (C(ANSIBLE_LOCAL_TEMP)), shared by the run's worker
    processes and removed with it at the end of the run. The file is named by a hash of O(python) and
    the builder's input files (names, sizes and modification times), so an edited collection is built
    again; a missing or damaged file is built again, too.
options:
  python:
    description:
      - The interpreter of the file's first line, the node's Python 3.9 or later with pyroute2.
    type: str
    default: /usr/bin/python3
notes:
  - Takes no terms.
seealso:
  - module: podnet.calico.node_files
'''

EXAMPLES = r'''
- name: Install the collection's CNI plugin as calico and calico-ipam
  podnet.calico.node_files:
    files:
      - path: /opt/cni/bin/calico
        content: "{{ lookup('podnet.calico.cni_executable', python='/usr/bin/python3') }}"
        mode: "0755"
        diff: false
    links:
      - path: /opt/cni/bin/calico-ipam
        target: calico
'''

RETURN = r'''
_raw:
  description: One item, the text of the executable (ASCII, newline-terminated lines).
  type: list
  elements: str
'''

import fcntl
import hashlib
import importlib.util
import os
import tempfile

from ansible import constants as C
from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

display = Display()

#: The collection's root: plugins/lookup/ is two levels below it.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: The builder, relative to the collection's root.
BUILDER_IN_ROOT = os.path.join('roles', 'cni_plugins', 'files', 'podnet_cni_build.py')
BUILDER = os.path.join(ROOT, BUILDER_IN_ROOT)
#: Cache files in the run's local temporary directory: PREFIX + key.
PREFIX = 'podnet-cni-executable-'


_BUILDERS = {}


def _builder(path):
    """The builder module, loaded once per process and file version (a template may call the lookup
    more than once: the later calls only check the cache key and read the cache file)."""
    st = os.stat(path)
    version = (path, st.st_size, st.st_mtime_ns)
    if version not in _BUILDERS:
        spec = importlib.util.spec_from_file_location('podnet_cni_build', path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _BUILDERS.clear()
        _BUILDERS[version] = module
    return _BUILDERS[version]


def cache_key(python, builder, root):
    """Hash of the interpreter line and the builder's inputs (the builder itself and the modules it
    carries): names, sizes and modification times. Any edit of them gives another key."""
    digest = hashlib.sha256(('python %s\n' % python).encode('utf-8', errors='surrogateescape'))
    for rel, path in [(BUILDER_IN_ROOT, os.path.join(root, BUILDER_IN_ROOT))] + builder.sources(root):
        st = os.stat(path)
        digest.update(('%s %d %d\n' % (rel, st.st_size, st.st_mtime_ns)).encode('utf-8', errors='surrogateescape'))
    return digest.hexdigest()


def _read_cache(path):
    """The text kept at path, or None when it is missing or damaged (its first line is the text's SHA-256)."""
    try:
        with open(path, 'rb') as handle:
            data = handle.read()
    except FileNotFoundError:
        return None
    check, _newline, body = data.partition(b'\n')
    if hashlib.sha256(body).hexdigest().encode('ascii') != check:
        return None
    try:
        return body.decode('ascii')
    except UnicodeDecodeError:
        return None


def _write_cache(path, text):
    body = text.encode('ascii')
    handle, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', dir=os.path.dirname(path))
    try:
        with os.fdopen(handle, 'wb') as out:
            out.write(hashlib.sha256(body).hexdigest().encode('ascii') + b'\n' + body)
        os.chmod(tmp, 0o600)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def executable_text(python, root=ROOT, local_tmp=None):
    """The executable's text for the interpreter python: from this run's cache file, else built (once per
    run: the run's workers wait for each other on a lock beside the file) and kept there."""
    builder_path = os.path.join(root, BUILDER_IN_ROOT)
    if not os.path.isfile(builder_path):
        raise AnsibleLookupError('cni_executable: the builder %s is missing from the collection' % builder_path)
    try:
        builder = _builder(builder_path)
        key = cache_key(python, builder, root)
        directory = local_tmp or C.DEFAULT_LOCAL_TMP
        path = os.path.join(directory, PREFIX + key)
        with os.fdopen(os.open(path + '.lock', os.O_RDWR | os.O_CREAT, 0o600), 'r+b') as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            text = _read_cache(path)
            if text is not None:
                display.vvv('cni_executable: the plugin for %s from this run\'s cache %s' % (python, path))
                return text
            text = builder.render(root, python)
            _write_cache(path, text)
            display.vvv('cni_executable: built the plugin for %s, kept in %s' % (python, path))
            return text
    except SystemExit as exc:
        raise AnsibleLookupError('cni_executable: %s' % exc) from None
    except OSError as exc:
        raise AnsibleLookupError('cni_executable: %s' % exc) from exc


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if terms:
            raise AnsibleLookupError('cni_executable takes no terms, got %r' % (terms,))
        python = self.get_option('python')
        if not isinstance(python, str) or not python.strip() or '\n' in python:
            raise AnsibleLookupError('cni_executable: python must be the path of an interpreter, got %r' % (python,))
        return [executable_text(python)]
