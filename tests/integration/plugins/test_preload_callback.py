# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The podnet.calico.preload callback: workers forked after it start with the filter plugins loaded.

A lookup plugin of the test's own (in a temporary directory) reports, from inside the worker that
templates the task, whether the collection's filter files and ansible-core's filter wrappers are
already loaded there, before the task has used any filter.
"""

from __future__ import annotations

import sys

PROBE = '''
import sys
from ansible.plugins.lookup import LookupBase
from ansible.plugins.loader import filter_loader


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        return [{
            "collection_filters": "ansible_collections.podnet.calico.plugins.filter.calico_naming" in sys.modules,
            "core_filters": bool(filter_loader._cached_non_collection_wrappers),
        }]
'''

PLAY = '''
- name: Probe a worker
  hosts: localhost
  gather_facts: false
  tasks:
    - name: What the worker has loaded
      ansible.builtin.debug:
        msg: "{{ lookup('pn_preload_probe') }}"

    - name: A filter of the collection still works
      ansible.builtin.debug:
        msg: "{{ 1500 | podnet.calico.calico_pod_mtu('vxlan') }}"
'''


def _run(run_playbook, tmp_path, env):
    lookups = tmp_path / "lookup"
    lookups.mkdir(exist_ok=True)
    (lookups / "pn_preload_probe.py").write_text(PROBE)
    playbook = tmp_path / "probe.yml"
    playbook.write_text(PLAY)
    result = run_playbook(str(playbook), extra_vars={"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
                          env=dict({"ANSIBLE_LOOKUP_PLUGINS": str(lookups), "ANSIBLE_VERBOSITY": "3"}, **env))
    probe = result.results("What the worker has loaded")["localhost"]["msg"]
    mtu = result.results("A filter of the collection still works")["localhost"]["msg"]
    return result, probe, mtu


def test_workers_inherit_the_loaded_filters(run_playbook, tmp_path):
    result, probe, mtu = _run(run_playbook, tmp_path, {"ANSIBLE_CALLBACKS_ENABLED": "podnet.calico.preload"})
    assert probe == {"collection_filters": True, "core_filters": True}, probe
    assert int(mtu) == 1450
    assert "podnet.calico.preload: loaded the ansible.builtin filter, ansible.builtin test, podnet.calico filter plugins" in result.stdout


def test_without_the_callback_each_worker_loads_them(run_playbook, tmp_path):
    result, probe, mtu = _run(run_playbook, tmp_path, {"ANSIBLE_CALLBACKS_ENABLED": None})
    assert probe == {"collection_filters": False, "core_filters": False}, probe
    assert int(mtu) == 1450
    assert "podnet.calico.preload" not in result.stdout


def test_a_collection_that_is_not_there_is_left_out(run_playbook, tmp_path):
    env = {"ANSIBLE_CALLBACKS_ENABLED": "podnet.calico.preload", "PODNET_PRELOAD_COLLECTIONS": "nosuch.collection,podnet.calico"}
    result, probe, mtu = _run(run_playbook, tmp_path, env)
    assert probe == {"collection_filters": True, "core_filters": True}, probe
    assert "WARNING" not in result.stderr + result.stdout, result.stderr
    assert "podnet.calico filter plugins" in result.stdout


def test_compiled_templates_are_kept_for_the_next_run(run_playbook, tmp_path):
    cache = tmp_path / "jinja"
    env = {"ANSIBLE_CALLBACKS_ENABLED": "podnet.calico.preload", "PODNET_PRELOAD_JINJA_CACHE_DIR": str(cache)}
    first, probe, mtu = _run(run_playbook, tmp_path, env)
    assert int(mtu) == 1450
    entries = sorted(path.name for path in cache.iterdir())
    assert entries, "the first run kept no compiled template"
    assert oct(cache.stat().st_mode & 0o777) == "0o700"
    assert "0 compiled templates read from %s" % cache in first.stdout
    second, probe, mtu = _run(run_playbook, tmp_path, env)
    assert int(mtu) == 1450
    assert "%d compiled templates read from %s" % (len(entries), cache) in second.stdout
    # Nothing new to compile: the same templates, read from the directory.
    assert sorted(path.name for path in cache.iterdir()) == entries


def test_a_directory_others_may_write_is_not_used(run_playbook, tmp_path):
    cache = tmp_path / "open"
    cache.mkdir()
    cache.chmod(0o777)
    env = {"ANSIBLE_CALLBACKS_ENABLED": "podnet.calico.preload", "PODNET_PRELOAD_JINJA_CACHE_DIR": str(cache)}
    result, probe, mtu = _run(run_playbook, tmp_path, env)
    assert int(mtu) == 1450
    assert "compiled templates are kept in memory only: %s may be written by others (mode 0777)" % cache in result.stdout + result.stderr
    assert list(cache.iterdir()) == []


def test_the_cache_can_be_turned_off(run_playbook, tmp_path):
    cache = tmp_path / "jinja"
    env = {"ANSIBLE_CALLBACKS_ENABLED": "podnet.calico.preload", "PODNET_PRELOAD_JINJA_CACHE_DIR": str(cache),
           "PODNET_PRELOAD_JINJA_CACHE": "false"}
    result, probe, mtu = _run(run_playbook, tmp_path, env)
    assert int(mtu) == 1450
    assert not cache.exists()
    assert "compiled templates read from" not in result.stdout


ANSWER_MODULE = '''#!/usr/bin/python
from __future__ import annotations
from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pntest.cache.plugins.module_utils.answer import ANSWER


def main():
    AnsibleModule(argument_spec={}).exit_json(changed=False, answer=ANSWER)


if __name__ == "__main__":
    main()
'''

ANSWER_PLAY = '''
- name: Run a module of a test collection
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Ask
      pntest.cache.answer:
'''


def test_module_payloads_are_kept_while_their_sources_do_not_change(run_playbook, tmp_path):
    from podnet_testlib import COLLECTIONS

    collection = tmp_path / "collections" / "ansible_collections" / "pntest" / "cache"
    (collection / "plugins" / "modules").mkdir(parents=True)
    (collection / "plugins" / "module_utils").mkdir(parents=True)
    (collection / "plugins" / "modules" / "answer.py").write_text(ANSWER_MODULE)
    helper = collection / "plugins" / "module_utils" / "answer.py"
    helper.write_text("ANSWER = 1\n")
    playbook = tmp_path / "answer.yml"
    playbook.write_text(ANSWER_PLAY)
    kept = tmp_path / "payloads"
    env = {"ANSIBLE_CALLBACKS_ENABLED": "podnet.calico.preload", "PODNET_PRELOAD_MODULE_CACHE_DIR": str(kept),
           "ANSIBLE_COLLECTIONS_PATH": "%s:%s" % (tmp_path / "collections", COLLECTIONS), "ANSIBLE_VERBOSITY": "3"}
    extra = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}

    def run():
        result = run_playbook(str(playbook), extra_vars=extra, env=env)
        line = [text for text in result.stdout.splitlines() if "module payloads restored" in text]
        return result.results("Ask")["localhost"]["answer"], line[0] if line else result.stdout[-2000:]

    answer, line = run()
    assert answer == 1 and "0 module payloads restored" in line, line
    assert len([p for p in kept.iterdir() if p.name.startswith("ansible_collections.pntest.cache.plugins.modules.answer-")]) == 1
    answer, line = run()
    assert answer == 1 and "1 module payloads restored from %s (0 out of date)" % kept in line, line
    # A module_utils file changes: the kept payload is out of date, the module is packed again.
    helper.write_text("ANSWER = 2\n")
    answer, line = run()
    assert answer == 2 and "0 module payloads restored from %s (1 out of date)" % kept in line, line
    answer, line = run()
    assert answer == 2 and "1 module payloads restored from %s (0 out of date)" % kept in line, line
    # The payload of the first version is gone from the directory: one file for the module.
    assert len([p for p in kept.iterdir() if p.name.startswith("ansible_collections.pntest.cache.plugins.modules.answer-")]) == 1
