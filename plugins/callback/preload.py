# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
name: preload
type: aggregate
short_description: Load the Jinja filter and test plugins once, before Ansible forks its workers
version_added: 1.1.0
description:
  - Ansible runs each task of each host in a worker process forked from its main process, and the
    task is templated in that worker. A worker that meets a filter or a test first loads every filter
    and test plugin of ansible-core, and for a filter of a collection every filter file of that
    collection, unless the main process loaded them before the fork. The main process templates
    little (play names, host patterns), so in most plays every worker loads them again.
  - This callback loads them in the main process when the playbook starts, so that every worker
    inherits them. It changes no result and no output, and writes nothing. Each worker that templates
    a filter is spared about 0.1 s of controller CPU (see the collection's docs/performance.md).
  - Enable it with C(callbacks_enabled = podnet.calico.preload) in the C([defaults]) section of
    C(ansible.cfg), or C(ANSIBLE_CALLBACKS_ENABLED=podnet.calico.preload) in the environment.
options:
  collections:
    description:
      - Collections whose filter and test plugins are loaded as well as those of ansible-core.
      - A collection that is not installed, or has no filter or test plugins, is left out without a message.
    type: list
    elements: str
    default: [podnet.calico]
    ini:
      - section: callback_podnet_preload
        key: collections
    env:
      - name: PODNET_PRELOAD_COLLECTIONS
requirements:
  - Enabled in C(callbacks_enabled).
notes:
  - A plugin that fails to load is named in a warning, and the run goes on as without the callback.
  - It asks ansible-core's plugin loader for a filter and a test name that no collection has, which
    makes the loader read each plugin file of the collection (as ansible-core 2.21, which the tests use, does). A
    release that resolves names otherwise would leave the callback with less to load, never with a
    different result; C(-vvv) shows what it loaded and the CPU it took.
'''

import time

from ansible.plugins.callback import CallbackBase
from ansible.plugins.loader import filter_loader, test_loader

# A name no collection has: resolving it loads each filter (or test) file of the collection once.
_ABSENT = '_podnet_preload_absent_'


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'podnet.calico.preload'
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_start(self, playbook):
        start = time.process_time()
        loaded = []
        targets = [('ansible.builtin', 'to_json', 'match')]
        targets += [(name, _ABSENT, _ABSENT) for name in self.get_option('collections') or []]
        for collection, filter_name, test_name in targets:
            for kind, loader, name in (('filter', filter_loader, filter_name), ('test', test_loader, test_name)):
                try:
                    loader.get_with_context('%s.%s' % (collection, name))
                except KeyError:
                    # The collection has no plugins of this kind (or is not installed).
                    continue
                except Exception as exc:  # pylint: disable=broad-exception-caught
                    self._display.warning('podnet.calico.preload: could not load the %s plugins of %s: %s' % (kind, collection, exc))
                    continue
                loaded.append('%s %s' % (collection, kind))
        self._display.vvv('podnet.calico.preload: loaded the %s plugins in %.3f s of CPU'
                          % (', '.join(loaded), time.process_time() - start))
