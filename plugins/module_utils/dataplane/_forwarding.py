# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""IPv4 forwarding of a namespace and its line in a sysctl file (the forwarding section of calico_dataplane).

Private to the podnet.calico collection: not a public API, may change without notice.
Plain Python, no Ansible imports, no pyroute2.

``net.ipv4.ip_forward`` is read and written in /proc/sys/net of the namespace. The sysctl file is
kept the way ansible.posix.sysctl keeps it (``sysctl_set: true``, ``reload: false``), so that a
node converged by either writes the same file: the file is read line by line; when it does not say
``net.ipv4.ip_forward=<value>`` (spaces around ``=`` allowed) it is written again with every
assignment as ``key=value`` (the first of a key kept), comments and blank lines as they were
(stripped), the key's line in place or appended, through a temporary file in the same directory
renamed over it (mode and owner of the old file kept, 0644 for a new one). The undo puts the old
text back (or removes a file the run created).
"""

import errno
import os
import tempfile

from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netns import DataplaneError
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._sysctl import PROC_SYS_NET, read_value, write_in
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._base import InputError, ResourceManager

IP_FORWARD = 'net.ipv4.ip_forward'
IP_FORWARD_PATH = os.path.join(PROC_SYS_NET, 'ipv4', 'ip_forward')
NEW_FILE_MODE = 0o644


def _assignment(line):
    """(key, value) of a sysctl file line, or None for a blank line, a comment or a line without '='."""
    text = line.strip()
    if not text or text.startswith(('#', ';')) or '=' not in text:
        return None
    key, value = text.split('=', 1)
    return key.strip(), value.strip()


def fixed_text(lines, name, value):
    """The file's text with ``name=value``, as ansible.posix.sysctl writes it (state present)."""
    out, seen = [], []
    for line in lines:
        pair = _assignment(line)
        if pair is None:
            out.append(line.strip())
            continue
        key, val = pair
        if key in seen:
            continue
        seen.append(key)
        out.append('%s=%s' % (key, value if key == name else val))
    if name not in seen:
        out.append('%s=%s' % (name, value))
    return ''.join(l + '\n' for l in out)


def file_value(lines, name):
    """The value the file gives ``name``, or None: the last assignment wins, as in sysctl -p and in
    ansible.posix.sysctl's comparison."""
    found = None
    for line in lines:
        pair = _assignment(line)
        if pair is not None and pair[0] == name:
            found = pair[1]
    return found


def read_text(path, option):
    """The file's text, or None when it does not exist."""
    try:
        with open(path, 'r') as handle:
            return handle.read()
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise InputError('%s: cannot read %s: %s' % (option, path, exc.strerror))


def write_text(path, text, what):
    """Replace ``path`` by ``text`` through a renamed temporary file; keep the old file's mode and owner."""
    real = os.path.realpath(path)
    directory = os.path.dirname(real)
    try:
        old = os.stat(real)
    except (IOError, OSError):
        old = None
    try:
        fd, tmp = tempfile.mkstemp(suffix='.conf', prefix='.podnet_sysctl_', dir=directory)
    except (IOError, OSError) as exc:
        raise DataplaneError('%s failed: cannot create a file in %s: %s' % (what, directory, exc.strerror))
    try:
        try:
            with os.fdopen(fd, 'w') as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, (old.st_mode & 0o7777) if old is not None else NEW_FILE_MODE)
            if old is not None and os.geteuid() == 0:
                os.chown(tmp, old.st_uid, old.st_gid)
            os.rename(tmp, real)
        except (IOError, OSError) as exc:
            raise DataplaneError('%s failed: %s: %s' % (what, real, exc.strerror))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def remove_file(path, what):
    try:
        os.unlink(os.path.realpath(path))
    except (IOError, OSError) as exc:
        if exc.errno != errno.ENOENT:
            raise DataplaneError('%s failed: %s' % (what, exc.strerror))


class ForwardingManager(ResourceManager):
    """IPv4 forwarding of the namespace, and its line in a sysctl file when one is given.

    ``config`` is one dict: ``ip_forward`` (bool, default true) and ``sysctl_file`` (absolute path or
    None: not persisted). The only state is merged. ``file_diff`` is the text diff of the file
    (before/after with headers) once planned, when the file changes.
    """

    STATES = ['merged']

    def __init__(self, netns=None, check_mode=False, cache=None, force=False, option='forwarding'):
        super(ForwardingManager, self).__init__(netns, check_mode, cache, force)
        self.option = option
        self.file_diff = None

    def parse(self, state, config):
        config = config or {}
        value = config.get('ip_forward', True)
        if not isinstance(value, bool):
            raise InputError('%s.ip_forward: %r is not a boolean' % (self.option, value))
        path = config.get('sysctl_file')
        if path is not None:
            if not isinstance(path, str) or not os.path.isabs(path):
                raise InputError('%s.sysctl_file: %r is not an absolute path' % (self.option, path))
            if os.path.isdir(path):
                raise InputError('%s.sysctl_file: %r is a directory, not a file' % (self.option, path))
            directory = os.path.dirname(os.path.realpath(path))
            if not os.path.isdir(directory):
                raise InputError('%s.sysctl_file: the directory %s of %r does not exist'
                                 % (self.option, directory, path))
        return {'value': 1 if value else 0, 'sysctl_file': path}

    def gather(self, entries):
        raise InputError('%s: nothing to gather' % self.option)

    def plan(self, state, entries):
        want = entries['value']
        where = (' in %s' % self.netns) if self.netns else ''
        with self.ns.entered():
            text = read_value(IP_FORWARD_PATH)
        try:
            have = int(text)
        except ValueError:
            raise DataplaneError('sysctl %s holds %r, not a number' % (IP_FORWARD_PATH, text))
        view = {'name': IP_FORWARD, 'netns': self.netns, 'value': have}
        steps = []
        if have != want:
            steps.append(('set %s = %d (was %d)%s' % (IP_FORWARD, want, have, where),
                          self._writer(want), self._writer(have)))
        items = [(IP_FORWARD, view, dict(view, value=want), steps)]
        path = entries['sysctl_file']
        if path is None:
            return items
        old_text = read_text(path, '%s.sysctl_file' % self.option)
        lines = (old_text or '').splitlines()
        current = file_value(lines, IP_FORWARD) if old_text is not None else None
        fview = {'sysctl_file': path, 'name': IP_FORWARD, 'value': current}
        fsteps = []
        if current != str(want):
            new_text = fixed_text(lines, IP_FORWARD, want)
            what = 'writing %s=%d to %s' % (IP_FORWARD, want, path)

            def undo():
                if old_text is None:
                    remove_file(path, 'removing %s again' % path)
                else:
                    write_text(path, old_text, 'putting the old text of %s back' % path)
            fsteps.append(('write %s=%d to %s%s' % (IP_FORWARD, want, path,
                                                    ' (new file)' if old_text is None else
                                                    ' (was %s)' % ('not set' if current is None else current)),
                           lambda: write_text(path, new_text, what), undo))
            self.file_diff = {'before_header': path if old_text is not None else '%s (absent)' % path,
                              'after_header': path, 'before': old_text or '', 'after': new_text}
        items.append((path, fview if old_text is not None else None, dict(fview, value=str(want)), fsteps))
        return items

    def _writer(self, value):
        return lambda: write_in(self.ns, {IP_FORWARD_PATH: value})
