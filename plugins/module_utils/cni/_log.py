# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The plugin's log file: one line per event, the container id on each (private to podnet.calico)."""

import os
import time

LEVEL_NAMES = {10: 'DEBUG', 20: 'INFO', 30: 'WARNING', 40: 'ERROR', 50: 'FATAL'}


class Log(object):
    """Appends to ``path`` (created 0600 with its directory when missing); never fails the plugin."""

    def __init__(self, path=None, level=20, container_id='', plugin='calico'):
        self.path = path
        self.level = level
        self.container_id = container_id or '-'
        self.plugin = plugin
        self._fd = None

    def _open(self):
        if self._fd is None and self.path:
            try:
                directory = os.path.dirname(self.path)
                if directory and not os.path.isdir(directory):
                    os.makedirs(directory, 0o755)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, 'O_CLOEXEC', 0),
                                   0o600)
            except OSError:
                self.path = None
        return self._fd

    def log(self, level, text, *args):
        if level < self.level or not self.path:
            return
        fd = self._open()
        if fd is None:
            return
        if args:
            text = text % args
        now = time.time()
        stamp = time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(now)) + '.%03d' % (int(now * 1000) % 1000)
        line = '%s [%s][%d] %s ContainerID=%s %s\n' % (stamp, LEVEL_NAMES.get(level, str(level)), os.getpid(),
                                                       self.plugin, self.container_id, text)
        try:
            os.write(fd, line.encode('utf-8', 'replace'))
        except OSError:
            pass

    def debug(self, text, *args):
        self.log(10, text, *args)

    def info(self, text, *args):
        self.log(20, text, *args)

    def warning(self, text, *args):
        self.log(30, text, *args)

    def error(self, text, *args):
        self.log(40, text, *args)

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
