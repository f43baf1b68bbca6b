# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ask installed CNI plugins for their CNI versions, the CNI way, and check the answers (private).

Plain Python, no Ansible import. ask() runs each plugin that is there with CNI_COMMAND=VERSION and
'{"cniVersion": "1.0.0"}' on stdin, side by side; version_errors() checks the answers (the filter
cni_plugins_version_errors is its Jinja face); check() is both, as node_files' cni_check runs them.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import time

# A plugin written a moment ago can still be busy for exec (ETXTBSY) on some filesystems.
_BUSY_TRIES = 10
_BUSY_DELAY = 0.5


def _version_tuple(text):
    return tuple(int(part) for part in text.split('.'))


def _start(path, env):
    for attempt in range(_BUSY_TRIES):
        try:
            # Popen, not run_command: plain Python (no Ansible import), and the plugins run side by side.
            return subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,  # pylint: disable=ansible-bad-function
                                    stderr=subprocess.PIPE, env=env)
        except OSError as exc:
            if exc.errno != errno.ETXTBSY or attempt == _BUSY_TRIES - 1:
                raise
            time.sleep(_BUSY_DELAY)
    raise AssertionError('not reached')


def ask(bin_dir, names):
    """({plugin: stdout}, [problem]) for each of names that is in bin_dir (the others are left out)."""
    answers, problems, running = {}, [], []
    env = dict(os.environ, CNI_COMMAND='VERSION')
    # All started first, then read in order: the plugins answer side by side.
    for name in dict.fromkeys(names):
        path = os.path.join(bin_dir, name)
        if not os.path.lexists(path):
            continue
        try:
            proc = _start(path, env)
        except OSError as exc:
            problems.append('%s: %s' % (path, exc))
            continue
        running.append((name, path, proc))
    for name, path, proc in running:
        out, err = proc.communicate(b'{"cniVersion": "1.0.0"}')
        if proc.returncode != 0:
            problems.append('%s exited with %d: %s' % (path, proc.returncode, err.decode('utf-8', 'replace').strip()))
            continue
        answers[name] = out.decode('utf-8', 'replace').rstrip('\r\n')
    return answers, problems


def version_errors(answers, cni_version='0.3.1', minimums=None, required=None):
    """Problems of plugins' answers to CNI_COMMAND=VERSION ({plugin: stdout}).

    Every plugin must answer with JSON whose supportedVersions holds cni_version (only the plugins
    named in required, when given); minimums maps a plugin name to the lowest CNI version it must
    support at least (for example loopback >= 0.2.0).
    """
    if not isinstance(answers, dict):
        raise ValueError('the answers must be a dictionary plugin -> output, got %r' % (answers,))
    minimums = dict(minimums or {})
    errors = []
    for plugin, output in sorted(answers.items()):
        try:
            data = json.loads(output)
            supported = [str(item) for item in data['supportedVersions']]
            numeric = [_version_tuple(item) for item in supported]
        except (ValueError, KeyError, TypeError) as exc:
            errors.append('%s did not answer CNI_COMMAND=VERSION with a version list (%s): %r'
                          % (plugin, exc, output))
            continue
        if (required is None or plugin in required) and cni_version not in supported:
            errors.append('%s does not support CNI version %s (supports %s)'
                          % (plugin, cni_version, ', '.join(supported)))
        if plugin in minimums:
            floor = _version_tuple(minimums[plugin])
            if not any(item >= floor for item in numeric):
                errors.append('%s must support CNI version %s or later (supports %s)'
                              % (plugin, minimums[plugin], ', '.join(supported)))
    return errors


def check(bin_dir, plugins, cni_version='0.3.1', minimums=None, required=None, need=None, present=True):
    """({plugin: stdout}, [problem]): ask() and version_errors(), and each plugin of need (a dict
    name -> why it is needed) that did not answer is a problem, unless present is false (check mode:
    a plugin that would be installed is not there yet)."""
    for key, value in (('minimums', minimums), ('need', need)):
        if value is not None and not isinstance(value, dict):
            raise ValueError('%s must be a dictionary, got %r' % (key, value))
    for key, value in (('cni_version', cni_version),) + tuple(('minimums[%s]' % k, v) for k, v in (minimums or {}).items()):
        try:
            _version_tuple(str(value))
        except ValueError:
            raise ValueError('%s must be a version such as 0.3.1, got %r' % (key, value)) from None
    answers, problems = ask(bin_dir, plugins)
    problems = problems + version_errors(answers, cni_version, minimums, required)
    if present:
        for name, why in (need or {}).items():
            if name not in answers:
                problems.append('%s is missing%s' % (os.path.join(bin_dir, name), '; %s' % why if why else ''))
    return answers, problems
