# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
name: preload
type: aggregate
short_description: Load the Jinja plugins once and keep compiled templates, before Ansible forks its workers
version_added: 1.1.0
description:
  - Ansible runs each task of each host in a worker process forked from its main process, and the
    task is templated in that worker. A worker that meets a filter or a test first loads every filter
    and test plugin of ansible-core, and for a filter of a collection every filter file of that
    collection, unless the main process loaded them before the fork. The main process templates
    little (play names, host patterns), so in most plays every worker loads them again.
  - This callback loads them in the main process when the playbook starts, so that every worker
    inherits them. Each worker that templates a filter is spared about 0.1 s of controller CPU (see the
    collection's docs/performance.md).
  - Each worker also compiles every template and expression it meets (role variables, task options,
    conditions), again in each task and on each host. With O(jinja_cache) on, a compiled template is
    kept by its source, the compile settings and the versions of Python, Jinja and ansible-core, in
    memory, and as a file in O(jinja_cache_dir), which the main process reads before the first fork. A
    template compiled once, in this run or an earlier one, is not compiled again. Rendering is
    unchanged, as are results and output.
  - ansible-core packs each module it sends (AnsiballZ, the module with every module_utils it
    imports) once per run, in the run's own temporary directory. With O(module_cache) on, the
    payloads a run packed are kept in O(module_cache_dir) with the checksum of each of their files,
    and a later run starts with those whose every file is still the same where ansible-core would
    find it. A changed, missing or added file leaves its payload out, and it is packed again.
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
  jinja_cache:
    description:
      - Keep compiled templates in memory and in O(jinja_cache_dir), for this run's workers and later runs.
    type: bool
    default: true
    version_added: 1.2.0
    ini:
      - section: callback_podnet_preload
        key: jinja_cache
    env:
      - name: PODNET_PRELOAD_JINJA_CACHE
  jinja_cache_dir:
    description:
      - Where compiled templates are kept, one file (mode 0600) for each. Made with mode 0700 when missing.
      - It must be a directory of the user who runs ansible-playbook that no other user may write to; if
        it is not, the callback warns and keeps compiled templates in memory only, for this run.
      - Removing it at any time is safe; the next run compiles again.
      - Each file holds a template's text, compiled. A secret written literally into a template (not
        passed in a variable) is kept there too, readable by this user only; turn O(jinja_cache) off
        for plays that do that.
      - The default is C(podnet_calico/jinja) in Ansible's home (C(ANSIBLE_HOME), C(~/.ansible) unless set).
    type: path
    version_added: 1.2.0
    ini:
      - section: callback_podnet_preload
        key: jinja_cache_dir
    env:
      - name: PODNET_PRELOAD_JINJA_CACHE_DIR
  module_cache:
    description:
      - Keep the module payloads of a run in O(module_cache_dir) for the next runs.
    type: bool
    default: true
    version_added: 1.2.0
    ini:
      - section: callback_podnet_preload
        key: module_cache
    env:
      - name: PODNET_PRELOAD_MODULE_CACHE
  module_cache_dir:
    description:
      - Where the module payloads are kept, with their manifest. Made with mode 0700 when missing; the
        same rules as for O(jinja_cache_dir) apply.
      - The default is C(podnet_calico/ansiballz) in Ansible's home.
    type: path
    version_added: 1.2.0
    ini:
      - section: callback_podnet_preload
        key: module_cache_dir
    env:
      - name: PODNET_PRELOAD_MODULE_CACHE_DIR
requirements:
  - Enabled in C(callbacks_enabled).
notes:
  - A plugin that fails to load is named in a warning, and the run goes on as without the callback.
  - The template cache wraps two methods of ansible-core's private Jinja environment class (compile and
    compile_expression). With an ansible-core that does not have them, the callback warns once and runs
    without the cache. Entries of other Python, Jinja or ansible-core versions are never used.
  - It asks ansible-core's plugin loader for a filter and a test name that no collection has, which
    makes the loader read each plugin file of the collection (as ansible-core 2.21, which the tests use, does). A
    release that resolves names otherwise would leave the callback with less to load, never with a
    different result; C(-vvv) shows what it loaded and the CPU it took.
'''

import os
import time

from ansible import constants as C
from ansible.plugins.callback import CallbackBase
from ansible.plugins.loader import filter_loader, test_loader

from ansible_collections.podnet.calico.plugins.plugin_utils import ansiballz_cache
from ansible_collections.podnet.calico.plugins.plugin_utils.jinja_cache import install
from ansible_collections.podnet.calico.plugins.plugin_utils.private_files import private_directory

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
        if self.get_option('jinja_cache'):
            self._start_jinja_cache()
        if self.get_option('module_cache'):
            self._restore_modules()

    def _private(self, option, default, what):
        directory = self.get_option(option) or os.path.join(C.ANSIBLE_HOME, 'podnet_calico', default)
        unfit = private_directory(directory)
        if unfit:
            self._display.warning('podnet.calico.preload: %s: %s' % (what, unfit))
            return None
        return directory

    def _restore_modules(self):
        start = time.process_time()
        self._module_dir = self._private('module_cache_dir', 'ansiballz', 'module payloads are not kept')
        if not self._module_dir:
            return
        self._run_cache = os.path.join(C.DEFAULT_LOCAL_TMP, 'ansiballz_cache')
        self._restored, self._stale = ansiballz_cache.restore(self._module_dir, self._run_cache)
        self._display.vvv('podnet.calico.preload: %d module payloads restored from %s (%d out of date) in %.3f s of CPU'
                          % (len(self._restored), self._module_dir, len(self._stale), time.process_time() - start))

    def v2_playbook_on_stats(self, stats):
        if not getattr(self, '_module_dir', None):
            return
        start = time.process_time()
        kept = ansiballz_cache.keep(self._module_dir, self._run_cache, self._restored, self._stale)
        self._display.vvv('podnet.calico.preload: %d module payloads kept in %s in %.3f s of CPU'
                          % (len(kept), self._module_dir, time.process_time() - start))

    def _start_jinja_cache(self):
        start = time.process_time()
        directory = self._private('jinja_cache_dir', 'jinja', 'compiled templates are kept in memory only')
        try:
            cache = install(directory)
        except (ImportError, AttributeError) as exc:
            self._display.warning('podnet.calico.preload: this ansible-core has no place for the template cache (%s); '
                                  'templates are compiled as without it' % exc)
            return
        count = cache.load_all()
        self._display.vvv('podnet.calico.preload: %d compiled templates read from %s in %.3f s of CPU'
                          % (count, directory or 'nowhere (memory only)', time.process_time() - start))
