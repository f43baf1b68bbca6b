# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The calico_ipam_info lookup in a play: options from the templating engine's lazy values, and the
worker's filters still whole after it (the options it checks are plain copies, not the templar's)."""

from __future__ import annotations

import sys

PLAY = '''
- name: Read IPAM through the lookup
  hosts: localhost
  gather_facts: false
  vars:
    live: "{{ ['default', 'other'] | map('regex_replace', '$', '.pod1') | list }}"
    store: {sqlite_path: "%(path)s"}
  tasks:
    - name: Read and use a filter plugin after it
      ansible.builtin.set_fact:
        report: "{{ lookup('podnet.calico.calico_ipam_info', pool='10.244.0.0/16', live_handles=live, **store) }}"
        parsed: "{{ '{\\"a\\": 1}' | from_json }}"

    - name: Show them
      ansible.builtin.debug:
        msg: "{{ {'blocks': report.blocks, 'leaks': report.leaks, 'parsed': parsed} }}"
'''


def test_lazy_options_and_the_filters_after_the_lookup(run_playbook, tmp_path):
    path = tmp_path / "none" / "ipam.sqlite"
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY % {"path": path})
    result = run_playbook(str(playbook), extra_vars={"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
                          env={"ANSIBLE_DEPRECATION_WARNINGS": "1"})
    assert result.results("Show them")["localhost"]["msg"] == {"blocks": [], "leaks": [], "parsed": {"a": 1}}
    # Deep-copying the templar's containers rebuilt the filter loader (and warned about its aliases).
    assert "PluginLoader with aliases" not in result.stdout + result.stderr
    assert not path.parent.exists()
