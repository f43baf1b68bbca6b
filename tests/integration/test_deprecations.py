# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deprecations seen, not hidden: the playbook runner fails on a deprecation warning of ours.

A real ansible-playbook run reads a fact as a top-level variable (INJECT_FACTS_AS_VARS, removed in
ansible-core 2.24): from a file outside the collection the warning is only recorded, from a file
under an ansible_collections/podnet/calico tree the run fails.
"""

from __future__ import annotations

import os

import pytest

import podnet_testlib
from podnet_testlib import deprecations, our_deprecations, run_playbook

PLAY = """\
- name: Read a fact as a top-level variable
  hosts: localhost
  connection: local
  gather_facts: true
  gather_subset: [min]
  tasks:
    - name: Top-level fact
      ansible.builtin.debug:
        msg: "{{ ansible_system }}"
"""


def _write(directory):
    os.makedirs(directory)
    path = os.path.join(directory, "deprecated.yml")
    with open(path, "w") as handle:
        handle.write(PLAY)
    return path


def test_deprecation_outside_the_collection_is_recorded(tmp_path):
    path = _write(str(tmp_path / "elsewhere"))
    before = len(podnet_testlib.SEEN_DEPRECATIONS)
    result = run_playbook(path)
    seen = podnet_testlib.SEEN_DEPRECATIONS[before:]
    assert any("INJECT_FACTS_AS_VARS" in block and path in block for block in seen), result.stderr[-3000:]


def test_deprecation_in_the_collection_fails_the_run(tmp_path):
    path = _write(str(tmp_path / "ansible_collections" / "podnet" / "calico" / "playbooks"))
    with pytest.raises(AssertionError, match="deprecation warnings from podnet.calico"):
        run_playbook(path)


def test_scanner_reads_blocks():
    text = ("[WARNING]: something else\n"
            "[DEPRECATION WARNING]: A is deprecated.\nOrigin: /x/ansible_collections/podnet/calico/roles/r/defaults/main.yml:7:17\n\n"
            "7 a: b\n"
            "[DEPRECATION WARNING]: B is deprecated.\nOrigin: /x/ansible_collections/other/coll/roles/r/tasks/main.yml:1:1\n"
            "PLAY RECAP *****\n")
    assert len(deprecations(text)) == 2
    assert [block.splitlines()[0] for block in our_deprecations(text)] == ["[DEPRECATION WARNING]: A is deprecated."]
