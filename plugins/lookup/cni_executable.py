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
    collection's docs/cni.md, "The executable"); a build is kept for the rest of the worker process.
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

import importlib.util
import os
import shutil
import tempfile

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

#: The collection's root: plugins/lookup/ is two levels below it.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILDER = os.path.join(ROOT, 'roles', 'cni_plugins', 'files', 'podnet_cni_build.py')
_BUILT = {}


def _builder():
    spec = importlib.util.spec_from_file_location('podnet_cni_build', BUILDER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def executable_text(python):
    """The executable's text for the interpreter python, built once per process."""
    if python not in _BUILT:
        if not os.path.isfile(BUILDER):
            raise AnsibleLookupError('cni_executable: the builder %s is missing from the collection' % BUILDER)
        workdir = tempfile.mkdtemp(prefix='podnet-cni-')
        try:
            output = os.path.join(workdir, 'calico')
            try:
                _builder().build(ROOT, output, python)
            except SystemExit as exc:
                raise AnsibleLookupError('cni_executable: %s' % exc) from None
            with open(output, encoding='ascii') as handle:
                _BUILT[python] = handle.read()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return _BUILT[python]


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if terms:
            raise AnsibleLookupError('cni_executable takes no terms, got %r' % (terms,))
        python = self.get_option('python')
        if not isinstance(python, str) or not python.strip() or '\n' in python:
            raise AnsibleLookupError('cni_executable: python must be the path of an interpreter, got %r' % (python,))
        return [executable_text(python)]
