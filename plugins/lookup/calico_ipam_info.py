# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
name: calico_ipam_info
short_description: Read Calico IPAM pools, blocks, handles and leaked addresses on the controller
version_added: 1.2.0
description:
  - Returns what the module M(podnet.calico.calico_ipam_info) returns (without C(changed)), read by the
    same code, in the worker process that templates it. No module is packed, sent or started. For a
    datastore the controller reads anyway (a SQLite file on the controller, or etcd from the
    controller), it is the cheaper way to read.
  - Opens the datastore read-only; a SQLite file that does not exist, or is empty, reads as empty.
  - Options are checked as the module checks them, with the same messages.
options:
  live_handles:
    description:
      - The handles that are in use. Every assigned handle not in this list is reported in C(leaks).
    type: list
    elements: str
  check:
    description: Also check the whole datastore for consistency and report it in C(check).
    type: bool
    default: false
extends_documentation_fragment:
  - podnet.calico.datastore
  - podnet.calico.ipam_report
notes:
  - Takes no terms.
  - Runs where Ansible templates, on the controller, with ansible-core's own Python. Use the module to
    read a datastore from a node.
seealso:
  - module: podnet.calico.calico_ipam_info
  - module: podnet.calico.calico_ipam
'''

EXAMPLES = r'''
- name: Read the pool's blocks once for the whole play
  ansible.builtin.set_fact:
    pool_report: "{{ lookup('podnet.calico.calico_ipam_info', pool='10.244.0.0/16', sqlite_path='/var/lib/podnet-calico/ipam.sqlite') }}"
  run_once: true

- name: Blocks of the pool with their node
  ansible.builtin.debug:
    msg: "{{ pool_report.blocks | items2dict(key_name='cidr', value_name='affinity') }}"
'''

RETURN = r'''
_raw:
  description:
    - One item, the report as the module M(podnet.calico.calico_ipam_info) returns it (C(pools), C(blocks),
      C(handles), C(problems), C(config), C(leaks) with O(live_handles), C(check) with O(check)).
  type: list
  elements: dict
'''

from collections.abc import Mapping

from ansible.errors import AnsibleLookupError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.lookup import LookupBase

from ansible_collections.podnet.calico.plugins.module_utils.ipam._datastore import (
    DATASTORE_ARGUMENT_SPEC, DATASTORE_REQUIRED_IF, DATASTORE_REQUIRED_TOGETHER)
from ansible_collections.podnet.calico.plugins.module_utils.ipam._info import INFO_ARGUMENT_SPEC, read
from ansible_collections.podnet.calico.plugins.module_utils.ipam._model import IPAMError
from ansible_collections.podnet.calico.plugins.module_utils.ipam._store import StoreError

_SPEC = dict(INFO_ARGUMENT_SPEC, **DATASTORE_ARGUMENT_SPEC)
_VALIDATOR = ArgumentSpecValidator(_SPEC, required_if=DATASTORE_REQUIRED_IF, required_together=DATASTORE_REQUIRED_TOGETHER)


def _plain(value):
    """Plain dicts, lists and strings: the options come as the templating engine's lazy containers and
    tagged strings, which the argument check would deep-copy with the templar they hold."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, str):
        return str(value)
    return value


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        if terms:
            raise AnsibleLookupError('podnet.calico.calico_ipam_info takes no terms, got %r' % (list(terms),))
        unknown = sorted(set(kwargs) - set(_SPEC))
        if unknown:
            raise AnsibleLookupError('podnet.calico.calico_ipam_info: no option %s; the options are %s'
                                     % (', '.join(unknown), ', '.join(sorted(_SPEC))))
        result = _VALIDATOR.validate(_plain(kwargs))
        if result.error_messages:
            raise AnsibleLookupError('podnet.calico.calico_ipam_info: %s' % '; '.join(result.error_messages))
        try:
            return [read(result.validated_parameters)]
        except (IPAMError, StoreError) as exc:
            option = ' (option %s)' % exc.option if getattr(exc, 'option', None) else ''
            raise AnsibleLookupError('podnet.calico.calico_ipam_info: %s%s' % (exc, option)) from exc
