# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The executable's first step: hand the request to the node's resident helper (private to podnet.calico).

This module is what every ``calico`` / ``calico-ipam`` call pays before the helper answers, so it imports
only built-in modules (no pyroute2, no etcd store, not even json or socket): it reads the environment and
stdin, finds the helper of this node (an abstract unix socket: one per network namespace, its name
carrying the mount and UTS namespaces and the build hash of this very executable), starts one when there
is none (_runner.start_helper), sends the request and writes back the helper's stdout and exit status.
Whatever stops it from reaching a helper before the helper has taken the request (no helper can start,
a peer that is not ours, the opt-out) runs the plugin in this process instead: same code, same results.
Once the helper has acknowledged the request, the request is never run twice: a helper that dies
afterwards gives a CNI error (code 11, try again later).

Messages are a 4-byte length and a marshal'd dict (frame, unframe; the helper's pipe uses them too): client
and helper are the same interpreter (the helper is started with this interpreter, and the socket name
carries the executable's build hash, which covers its interpreter line).

See docs/cni.md, "The resident helper".
"""

import _socket
import marshal
import os
import sys
import time

HELPER_FLAG = '--podnet-cni-helper'
ENV_HELPER = 'PODNET_CNI_HELPER'
ENV_TIMING = 'PODNET_CNI_TIMING_FILE'
ENV_START_TIMEOUT = 'PODNET_CNI_HELPER_START_TIMEOUT'
#: how long a client waits for a helper it started to listen, and for any helper to take the request
START_TIMEOUT = 10.0
ACK_TIMEOUT = 30.0
ACK = b'A'
#: the commands the helper serves: VERSION needs none of the heavy modules and never starts a helper
HELPER_COMMANDS = ('ADD', 'DEL', 'CHECK', 'GC', 'STATUS')


class Fallback(Exception):
    """The helper cannot take this request: run it in this process."""


# ---------------------------------------------------------------------------------------------- identity
def archive_path():
    """The executable this code runs from (its loader is the ``archive`` and carries the build hash), or None
    (then there is no helper: in-process only)."""
    loader = globals().get('__loader__')
    archive = getattr(loader, 'archive', None)
    if archive and getattr(loader, 'build_hash', None) and os.path.isfile(archive):
        return os.path.realpath(archive)
    return None


def build_hash():
    """The executable's build hash, a constant of its loader (written by the builder, podnet_cni_build.py):
    16 hex digits of the SHA-256 of the whole file but these digits. An upgrade means a new helper."""
    return globals()['__loader__'].build_hash


def ns_id(kind, pid='self'):
    """'mnt:[4026531840]' -> '4026531840' (the namespace's inode)."""
    link = os.readlink('/proc/%s/ns/%s' % (pid, kind))
    return link.split('[', 1)[1].rstrip(']') if '[' in link else link


def socket_name(build):
    """The helper's abstract socket name (without the leading NUL) for the executable whose build hash is
    ``build``."""
    return 'podnet-cni/%s/%s/%s' % (ns_id('mnt'), ns_id('uts'), build)


# ---------------------------------------------------------------------------------------------- bytecode
#: where this module's code was loaded from: 'cache' when the executable's entry point found the node's
#: bytecode copy (it sets this), else the executable's carried modules, the "archive" (the entry point then
#: calls save_bytecode)
BYTECODE = 'archive'


def save_bytecode(path):
    """Write this module's compiled code to ``path`` for the next calls (root only, best effort).

    The executable's entry point loads it instead of compiling this module from the archive, which is
    about as costly as the interpreter's start. The directory is made root-only-writable; the file is
    written whole under a temporary name and renamed.
    """
    if os.geteuid() != 0:
        return False
    tmp = '%s.%d.tmp' % (path, os.getpid())
    try:
        code = globals()['__loader__'].get_code(__name__)
        directory = os.path.dirname(path)
        try:
            os.makedirs(directory, 0o755)
        except FileExistsError:
            pass
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), 'wb') as handle:
            handle.write(marshal.dumps(code))
        os.rename(tmp, path)
        return True
    except Exception:  # pylint: disable=broad-except
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False


# ---------------------------------------------------------------------------------------------- framing
# One framing for the client's socket and the helper's pipe (_helper.notify): a message is a dict, framed as
# its marshal'd bytes behind their length in 4 bytes, big-endian.
class FrameError(ValueError):
    """A complete frame whose body is no marshal'd dict; ``rest`` is what follows that frame."""

    def __init__(self, msg, rest):
        ValueError.__init__(self, msg)
        self.rest = rest


def frame(message):
    """The bytes of one message."""
    data = marshal.dumps(message)
    return len(data).to_bytes(4, 'big') + data


def unframe(buf):
    """Split the first message off ``buf``: (message, rest), or (None, buf) while no frame is complete.

    A complete frame that holds no dict raises FrameError (a ValueError), which carries the rest.
    """
    if len(buf) < 4:
        return None, buf
    end = 4 + int.from_bytes(buf[:4], 'big')
    if len(buf) < end:
        return None, buf
    try:
        message = marshal.loads(buf[4:end])
    except (ValueError, EOFError, TypeError) as exc:
        raise FrameError('not a message: %s' % exc, buf[end:])
    if not isinstance(message, dict):
        raise FrameError('not a message', buf[end:])
    return message, buf[end:]


def send_msg(sock, message):
    sock.sendall(frame(message))


def recv_msg(sock):
    """One message; the socket carries nothing after it (its sender waits for an answer, or closes)."""
    buf = b''
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            raise EOFError('connection closed')
        buf += chunk
        message, rest = unframe(buf)
        if message is not None:
            if rest:
                raise ValueError('%d bytes after the message' % len(rest))
            return message


# ---------------------------------------------------------------------------------------------- the helper
def _connect(name):
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect('\0' + name)
    except OSError:
        sock.close()
        raise
    return sock


def via_helper(archive, argv0, stdin_text, timing):
    """Send the request to the helper (starting it if needed); returns the helper's reply."""
    t0 = time.time()
    name = socket_name(build_hash())
    try:
        sock = _connect(name)
    except OSError:
        from ansible_collections.podnet.calico.plugins.module_utils.cni import _runner as runner
        timing['started_helper'] = True
        runner.start_helper(archive, name, stdin_text)
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
        except OSError as exc:   # socket.timeout is an OSError
            raise Fallback('the helper did not take the request: %s' % exc)
        if ack != ACK:
            raise Fallback('the helper refused the request')
        sock.settimeout(None)
        try:
            reply = recv_msg(sock)
        except (OSError, EOFError, ValueError, TypeError) as exc:
            from ansible_collections.podnet.calico.plugins.module_utils.cni import _runner as runner
            return runner.error_reply(
                stdin_text, 'the podnet CNI helper took the request but ended without a result (killed?): %s; '
                            'the request may have been partly done: run DEL, then ADD again' % exc,
                'helper socket @%s' % name)
    finally:
        sock.close()
    timing['roundtrip'] = time.time() - t0
    timing['work'] = reply.get('work')
    timing['etcd_prepared'] = reply.get('etcd_prepared')
    return reply


def _json_value(value):
    if value is None or isinstance(value, bool):
        return {None: 'null', True: 'true', False: 'false'}[value]
    if isinstance(value, (int, float)):
        return repr(value)
    return '"%s"' % ''.join(c if c.isprintable() and c not in '"\\' else '\\u%04x' % ord(c) for c in str(value))


def write_timing(path, timing):
    """Append the call's timing record as one JSON line (PODNET_CNI_TIMING_FILE; without importing json).

    ``client_cpu``: CPU seconds of this process so far, interpreter start included.
    """
    cpu = os.times()
    timing = dict(timing, client_cpu=cpu.user + cpu.system)
    line = '{%s}\n' % ', '.join('"%s": %s' % (key, _json_value(timing[key])) for key in sorted(timing))
    try:
        with open(path, 'a') as handle:
            handle.write(line)
    except OSError:
        pass


def _wants_helper(environ, stdin_text):
    """Cheap: the conf is parsed only when it mentions our fields (json costs more than the rest here)."""
    if environ.get('CNI_COMMAND') not in HELPER_COMMANDS or os.geteuid() != 0:
        return False
    if ENV_HELPER not in environ and 'PODNET_CNI_HELPER_IDLE_TIMEOUT' not in environ \
            and 'podnet_cni_helper' not in stdin_text:
        return True
    from ansible_collections.podnet.calico.plugins.module_utils.cni import _runner as runner
    return runner.settings(environ, stdin_text)[0]


def main():
    if len(sys.argv) > 1 and sys.argv[1] == HELPER_FLAG:
        from ansible_collections.podnet.calico.plugins.module_utils.cni._helper import serve
        return serve(sys.argv[2], float(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else '')
    t0 = time.time()
    argv0 = sys.argv[0]
    stdin_text = sys.stdin.buffer.read().decode('utf-8', 'surrogateescape')
    timing = {'mode': 'in-process', 'started_helper': False, 'client_start': t0, 'bytecode': BYTECODE}
    archive = archive_path() if _wants_helper(os.environ, stdin_text) else None
    if archive is not None:
        try:
            reply = via_helper(archive, argv0, stdin_text, timing)
        except (Fallback, OSError) as exc:
            timing['fallback'] = str(exc)
        else:
            timing['mode'] = 'helper'
            sys.stdout.write(reply.get('stdout') or '')
            sys.stdout.flush()
            if reply.get('stderr'):
                sys.stderr.write(reply['stderr'])
                sys.stderr.flush()
            if os.environ.get(ENV_TIMING):
                write_timing(os.environ[ENV_TIMING], timing)
            return int(reply.get('status', 1))
    from ansible_collections.podnet.calico.plugins.module_utils.cni import _runner as runner
    t1 = time.time()
    status = runner.run_in_process(argv0, stdin_text)
    timing['work'] = time.time() - t1
    if os.environ.get(ENV_TIMING):
        write_timing(os.environ[ENV_TIMING], timing)
    return status
