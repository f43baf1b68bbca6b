# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The plugin's slower paths around the helper (private to podnet.calico): the per-container lock,
running the plugin (in the helper's worker or in-process), the conf's helper settings, starting a helper.

Kept apart from _client.py so that a warm call (the helper is there) compiles and imports only the
client's fast path.
"""

import errno
import fcntl
import hashlib
import io
import json
import os
import sys

from ansible_collections.podnet.calico.plugins.module_utils.cni import _client as client

#: conf fields of ours (Calico's binaries ignore unknown fields) and the environment variables that override them
CONF_HELPER = 'podnet_cni_helper'
CONF_IDLE = 'podnet_cni_helper_idle_timeout'
ENV_HELPER = 'PODNET_CNI_HELPER'
ENV_IDLE = 'PODNET_CNI_HELPER_IDLE_TIMEOUT'
ENV_LOCK_DIR = 'PODNET_CNI_LOCK_DIR'
DEFAULT_IDLE = 300.0
DEFAULT_LOCK_DIR = '/run/podnet-cni/locks'
#: commands that act on one container: serialised per container id (ADD, DEL, CHECK)
LOCKED_COMMANDS = ('ADD', 'DEL', 'CHECK')
FALSE_WORDS = ('0', 'false', 'no', 'off', 'never')


class ContainerLock(object):
    """flock on ``<lock dir>/<container id>.<plugin name>``: one ADD, DEL or CHECK of a container at a time.

    The plugin's name is part of the key: ``calico`` holds its lock while it execs an IPAM plugin
    (a ``calico-ipam`` that is not this program), which takes its own. A lock file is removed by the
    DEL that holds it; whoever then locks a removed file sees that the path no longer names its file
    and locks the new one.
    """

    def __init__(self, environ, argv0='calico'):
        self.fd = None
        self.path = None
        command = environ.get('CNI_COMMAND', '')
        container = environ.get('CNI_CONTAINERID', '')
        if command not in LOCKED_COMMANDS or not container:
            return
        if len(container) > 200 or not all(c.isalnum() or c in '-_.' for c in container) or container[0] == '.':
            container = 'sha256-' + hashlib.sha256(container.encode('utf-8', 'replace')).hexdigest()
        plugin = ''.join(c for c in os.path.basename(argv0 or 'calico') if c.isalnum() or c in '-_') or 'calico'
        self.path = os.path.join(environ.get(ENV_LOCK_DIR) or DEFAULT_LOCK_DIR, '%s.%s' % (container, plugin))
        self.remove = command == 'DEL'

    def __enter__(self):
        if self.path is None:
            return self
        try:
            os.makedirs(os.path.dirname(self.path), 0o700)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                self.path = None
                return self
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, 'O_CLOEXEC', 0), 0o600)
            except OSError:
                self.path = None
                return self
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except OSError:
                same = False
            if same:
                self.fd = fd
                return self
            os.close(fd)

    def __exit__(self, *exc_info):
        if self.fd is not None:
            if self.remove and exc_info[0] is None:
                try:
                    os.unlink(self.path)
                except OSError:
                    pass
            os.close(self.fd)
            self.fd = None
        return False


def run_plugin(argv0, environ, stdin_text, stdout):
    """The plugin itself (_main.main) under the container's lock; returns the exit status."""
    from ansible_collections.podnet.calico.plugins.module_utils.cni._main import main as plugin_main
    with ContainerLock(environ, argv0):
        return plugin_main(argv0, environ=environ, stdin=io.StringIO(stdin_text), stdout=stdout)


def run_in_process(argv0, stdin_text):
    if sys.flags.no_site:
        # started with -S (cheap for the helper's client): the plugin's libraries need site-packages
        import site
        site.main()
    return run_plugin(argv0, os.environ, stdin_text, sys.stdout)


def settings(environ, stdin_text):
    """(use the helper, idle timeout, log file) from the conf's own fields, then the environment."""
    try:
        conf = json.loads(stdin_text) if stdin_text.strip() else {}
    except ValueError:
        conf = {}
    if not isinstance(conf, dict):
        conf = {}
    use = conf.get(CONF_HELPER, True)
    if isinstance(use, str):
        use = use.strip().lower() not in FALSE_WORDS
    if ENV_HELPER in environ:
        use = environ[ENV_HELPER].strip().lower() not in FALSE_WORDS
    idle = environ.get(ENV_IDLE, conf.get(CONF_IDLE, DEFAULT_IDLE))
    try:
        idle = float(idle)
    except (TypeError, ValueError):
        idle = DEFAULT_IDLE
    log_path = conf.get('log_file_path') if isinstance(conf.get('log_file_path'), str) else ''
    return bool(use) and idle > 0, idle, log_path


def start_helper(archive, name, stdin_text):
    """Double fork: the helper is in a session of its own, its stdio on /dev/null, no fd of ours open."""
    _use, idle, log_path = settings(os.environ, stdin_text)
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)
        return
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, 65536)
        os.chdir('/')   # hold no directory of the runtime's busy
        env = dict((k, v) for k, v in os.environ.items() if not k.startswith('CNI_'))
        os.execve(sys.executable, [sys.executable, archive, client.HELPER_FLAG, name, repr(idle), log_path or ''],
                  env)
    finally:
        os._exit(127)


def error_reply(stdin_text, msg, details):
    """A CNI error (11, try again later) as the helper's reply would carry it."""
    try:
        version = str(json.loads(stdin_text).get('cniVersion') or '1.0.0')
    except (ValueError, AttributeError):
        version = '1.0.0'
    return {'status': 1, 'stdout': json.dumps({'cniVersion': version, 'code': 11, 'msg': msg,
                                               'details': details}) + '\n', 'stderr': ''}
