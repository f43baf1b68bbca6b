# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The executable's first step: hand the request to the node's resident helper (private to podnet.calico).

This module imports the standard library only (no pyroute2, no etcd3gw): it is what every ``calico`` /
``calico-ipam`` call pays before the helper answers. It reads the environment and stdin, finds the
helper of this node (an abstract unix socket: one per network namespace, its name carrying the mount
namespace and a hash of this very executable), starts one when there is none (double fork, new
session, stdio on /dev/null), sends the request and writes back the helper's stdout and exit status.
Whatever stops it from reaching a helper before the helper has taken the request (no helper can start,
a peer that is not ours, the opt-out) runs the plugin in this process instead: same code, same results.
Once the helper has acknowledged the request, the request is never run twice: a helper that dies
afterwards gives a CNI error (code 11, try again later).

See docs/cni.md, "The resident helper".
"""

import errno
import fcntl
import hashlib
import io
import json
import os
import socket
import struct
import sys
import time

HELPER_FLAG = '--podnet-cni-helper'
#: conf fields of ours (Calico's binaries ignore unknown fields) and the environment variables that override them
CONF_HELPER = 'podnet_cni_helper'
CONF_IDLE = 'podnet_cni_helper_idle_timeout'
ENV_HELPER = 'PODNET_CNI_HELPER'
ENV_IDLE = 'PODNET_CNI_HELPER_IDLE_TIMEOUT'
ENV_TIMING = 'PODNET_CNI_TIMING_FILE'
ENV_LOCK_DIR = 'PODNET_CNI_LOCK_DIR'
ENV_START_TIMEOUT = 'PODNET_CNI_HELPER_START_TIMEOUT'
DEFAULT_IDLE = 300.0
DEFAULT_LOCK_DIR = '/run/podnet-cni/locks'
#: how long a client waits for a helper it started to listen, and for any helper to take the request
START_TIMEOUT = 10.0
ACK_TIMEOUT = 30.0
ACK = b'A'
#: commands that act on one container: serialised per container id (ADD, DEL, CHECK)
LOCKED_COMMANDS = ('ADD', 'DEL', 'CHECK')
TRY_AGAIN_LATER = 11
FALSE_WORDS = ('0', 'false', 'no', 'off', 'never')


class Fallback(Exception):
    """The helper cannot take this request: run it in this process."""


# ---------------------------------------------------------------------------------------------- identity
def archive_path():
    """The zip application this code runs from, or None (then there is no helper: in-process only)."""
    archive = getattr(globals().get('__loader__'), 'archive', None)
    if archive and os.path.isfile(archive):
        return os.path.realpath(archive)
    return None


def code_hash(path):
    """Hash of the executable's bytes (interpreter line included): an upgrade means a new helper."""
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b''):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def ns_id(kind, pid='self'):
    """'mnt:[4026531840]' -> '4026531840' (the namespace's inode)."""
    link = os.readlink('/proc/%s/ns/%s' % (pid, kind))
    return link.split('[', 1)[1].rstrip(']') if '[' in link else link


def socket_name(path):
    """The helper's abstract socket name (without the leading NUL) for the executable at ``path``."""
    return 'podnet-cni/%s/%s/%s' % (ns_id('mnt'), ns_id('uts'), code_hash(path))


# ---------------------------------------------------------------------------------------------- framing
def send_msg(sock, obj):
    data = json.dumps(obj).encode('utf-8')
    sock.sendall(struct.pack('!I', len(data)) + data)


def recv_exact(sock, size):
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 16))
        if not chunk:
            raise EOFError('connection closed')
        chunks.append(chunk)
        size -= len(chunk)
    return b''.join(chunks)


def recv_msg(sock):
    size = struct.unpack('!I', recv_exact(sock, 4))[0]
    return json.loads(recv_exact(sock, size).decode('utf-8'))


# ---------------------------------------------------------------------------------------------- locking
class ContainerLock(object):
    """flock on ``<lock dir>/<container id>.<plugin name>``: one ADD, DEL or CHECK of a container at a time.

    The plugin's name is part of the key: ``calico`` holds its lock while it execs an IPAM plugin
    (a ``calico-ipam`` that is not this program), which takes its own. A lock file is removed by the DEL that holds it; whoever then locks a removed file sees that the
    path no longer names its file and locks the new one.
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


# ---------------------------------------------------------------------------------------------- running
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
    """(use the helper, idle timeout, log file) from the environment, then the conf's own fields."""
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


def _connect(name):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect('\0' + name)
    except OSError:
        sock.close()
        raise
    return sock


def start_helper(archive, name, idle, log_path):
    """Double fork: the helper is in a session of its own, its stdio on /dev/null, no fd of ours open."""
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
        env = dict((k, v) for k, v in os.environ.items() if not k.startswith('CNI_'))
        os.execve(sys.executable, [sys.executable, archive, HELPER_FLAG, name, repr(idle), log_path or ''], env)
    finally:
        os._exit(127)


def via_helper(archive, argv0, stdin_text, idle, log_path, timing):
    """Send the request to the helper (starting it if needed); returns the helper's reply."""
    t0 = time.time()
    name = socket_name(archive)
    try:
        sock = _connect(name)
    except OSError:
        timing['started_helper'] = True
        start_helper(archive, name, idle, log_path)
        try:
            wait = float(os.environ.get(ENV_START_TIMEOUT, START_TIMEOUT))
        except ValueError:
            wait = START_TIMEOUT
        deadline = time.time() + wait
        while True:
            try:
                sock = _connect(name)
                break
            except OSError:
                if time.time() > deadline:
                    raise Fallback('no helper listening %.1f s after starting one' % wait)
                time.sleep(0.005)
    timing['connect'] = time.time() - t0
    try:
        sock.settimeout(ACK_TIMEOUT)
        try:
            send_msg(sock, {'argv0': argv0, 'environ': dict(os.environ), 'stdin': stdin_text, 'cwd': os.getcwd()})
            ack = sock.recv(1)
        except (OSError, socket.timeout) as exc:
            raise Fallback('the helper did not take the request: %s' % exc)
        if ack != ACK:
            raise Fallback('the helper refused the request')
        sock.settimeout(None)
        try:
            reply = recv_msg(sock)
        except (OSError, EOFError, ValueError) as exc:
            return {'status': 1, 'stdout': json.dumps({
                'cniVersion': _cni_version(stdin_text), 'code': TRY_AGAIN_LATER,
                'msg': 'the podnet CNI helper took the request but ended without a result (killed?): %s; '
                       'the request may have been partly done: run DEL, then ADD again' % exc,
                'details': 'helper socket @%s' % name}) + '\n', 'stderr': ''}
    finally:
        sock.close()
    timing['roundtrip'] = time.time() - t0
    timing['work'] = reply.get('work')
    return reply


def _cni_version(stdin_text):
    try:
        return str(json.loads(stdin_text).get('cniVersion') or '1.0.0')
    except (ValueError, AttributeError):
        return '1.0.0'


def _write_timing(environ, timing):
    path = environ.get(ENV_TIMING)
    if path:
        try:
            with open(path, 'a') as handle:
                handle.write(json.dumps(timing) + '\n')
        except OSError:
            pass


def main():
    if len(sys.argv) > 1 and sys.argv[1] == HELPER_FLAG:
        from ansible_collections.podnet.calico.plugins.module_utils.cni._helper import serve
        return serve(sys.argv[2], float(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else '')
    t0 = time.time()
    argv0 = sys.argv[0]
    stdin_text = sys.stdin.buffer.read().decode('utf-8', 'surrogateescape')
    use, idle, log_path = settings(os.environ, stdin_text)
    # VERSION needs none of the heavy modules: it never starts a helper (a runtime's or a role's probe)
    archive = archive_path() if use and os.environ.get('CNI_COMMAND') != 'VERSION' else None
    timing = {'mode': 'in-process', 'started_helper': False, 'client_start': t0}
    if archive is not None and os.geteuid() == 0:
        try:
            reply = via_helper(archive, argv0, stdin_text, idle, log_path, timing)
        except (Fallback, OSError) as exc:
            timing['fallback'] = str(exc)
        else:
            timing['mode'] = 'helper'
            sys.stdout.write(reply.get('stdout') or '')
            sys.stdout.flush()
            if reply.get('stderr'):
                sys.stderr.write(reply['stderr'])
                sys.stderr.flush()
            _write_timing(os.environ, timing)
            return int(reply.get('status', 1))
    t1 = time.time()
    status = run_in_process(argv0, stdin_text)
    timing['work'] = time.time() - t1
    _write_timing(os.environ, timing)
    return status
