# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files of the controller's caches (plugins/callback/preload.py): a directory only this user may write
to, and files replaced whole."""

from __future__ import annotations

import os
import stat
import tempfile


def private_directory(path):
    """Make path (0700) or check it: a directory of this user's that only this user may write to.

    Returns None when it is fit, else why not (then the caller keeps its cache in memory or not at all)."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.lstat(path)
    except OSError as exc:
        return 'cannot make %s: %s' % (path, exc.strerror or exc)
    if not stat.S_ISDIR(info.st_mode):
        return '%s is not a directory' % path
    if info.st_uid != os.geteuid():
        return '%s belongs to uid %d, not to this user' % (path, info.st_uid)
    if info.st_mode & 0o022:
        return '%s may be written by others (mode %04o)' % (path, stat.S_IMODE(info.st_mode))
    return None


def atomic_write(path, write, mode='wb'):
    """Write path (0600) through a temporary file beside it: readers see the old file or the whole new
    one. ``write`` gets the open file."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix='.tmp-')
    try:
        with os.fdopen(fd, mode, **({} if 'b' in mode else {'encoding': 'utf-8'})) as out:
            write(out)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
