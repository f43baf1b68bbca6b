# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The node's resident helper of the CNI plugin (private to podnet.calico).

Started by a client (_client.py) that found none. It binds its abstract unix socket first (a second
helper of the same name loses the bind and exits: one helper per network namespace, mount namespace
and plugin build), then imports the plugin's heavy modules once (pyroute2, the etcd store, the engines and the
allocator), does once the one-time work that every request would otherwise repeat (warm_up: pyroute2's
netlink decoders, OpenSSL's configuration), and keeps one worker forked ahead of the next request (the
spare). The spare connects to the etcd of the previous requests while it waits, takes the next
connection itself, tells the helper (a pipe), which forks the next spare, and runs the plugin's code
exactly as the executable would (_main.main with the request's environment and stdin, under the
container's lock), sends back stdout and the exit status, and exits. The helper itself never opens a
netlink socket after the warm-up nor an etcd session: requests share nothing but what the workers tell
the helper (the etcd settings and the last block, paths and keys only). Only peers with uid 0 in the
helper's own mount namespace are served. The helper exits after ``idle`` seconds without a request and
without a running worker; a waiting spare exits with it.
"""

import errno
import gc
import io
import os
import select
import signal
import socket
import ssl
import struct
import sys
import time
import traceback

from ansible_collections.podnet.calico.plugins.module_utils.cni import _client as client
from ansible_collections.podnet.calico.plugins.module_utils.cni import _runner as runner
from ansible_collections.podnet.calico.plugins.module_utils.cni._log import Log

#: modules every request needs, imported once before the first fork
PRELOAD = (
    'ansible_collections.podnet.calico.plugins.module_utils.cni._main',
    'ansible_collections.podnet.calico.plugins.module_utils.cni._config',
    'ansible_collections.podnet.calico.plugins.module_utils.cni._plugin',
    'ansible_collections.podnet.calico.plugins.module_utils.cni._engine',
    'ansible_collections.podnet.calico.plugins.module_utils.ipam._etcd',
    'ansible_collections.podnet.calico.plugins.module_utils.ipam._allocator',
)


def warm_up(log):
    """One-time initialisations every worker would otherwise repeat after its fork (read-only)."""
    try:
        from ansible_collections.podnet.calico.plugins.module_utils.cni import _engine as engine
        engine.warm_up()
    except Exception as exc:  # pylint: disable=broad-except
        log.warning('helper: warming up the netlink decoders failed (each request builds its own): %s', exc)
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)   # OpenSSL reads its configuration on the first context
    except Exception as exc:  # pylint: disable=broad-except
        log.warning('helper: creating a TLS context failed: %s', exc)
    # the objects made so far live as long as the helper: keep the collector off them, so that a
    # worker's collections neither scan them nor copy their pages after the fork
    gc.freeze()


def peer_ok(conn, mnt):
    """(ok, why): the peer is uid 0 and in our mount namespace."""
    pid, uid, _gid = struct.unpack('3i', conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                         struct.calcsize('3i')))
    if uid != 0:
        return False, 'peer pid %d has uid %d, only uid 0 is served' % (pid, uid)
    try:
        theirs = client.ns_id('mnt', pid)
    except OSError as exc:
        return False, 'peer pid %d: cannot read its mount namespace: %s' % (pid, exc)
    if theirs != mnt:
        return False, 'peer pid %d is in mount namespace %s, not %s' % (pid, theirs, mnt)
    return True, 'pid %d' % pid


#: a spare worker's prepared etcd connection is opened again when it has waited this long (seconds), so
#: that a request never finds one that a firewall or load balancer has silently dropped
SPARE_REFRESH = 60.0
#: children -> helper messages: framed as on the socket (_client.frame), written in one write() (atomic on a pipe)
PIPE_MESSAGE_MAX = 4096


def notify(fd, message):
    """Tell the helper something (one atomic write on its pipe); never fails the request."""
    if fd is None:
        return
    data = client.frame(message)
    if len(data) > PIPE_MESSAGE_MAX:
        return
    try:
        os.write(fd, data)
    except OSError:
        pass   # the helper is gone: nothing to tell


def handle(conn, log, notify_fd=None):
    """In the worker: one request, start to finish."""
    request = client.recv_msg(conn)
    conn.sendall(client.ACK)
    started = time.time()
    environ = request.get('environ') or {}
    os.environ.clear()
    os.environ.update(environ)
    try:
        os.chdir(request.get('cwd') or '/')
    except OSError:
        os.chdir('/')
    log.container_id = environ.get('CNI_CONTAINERID') or '-'
    stdout = io.StringIO()
    stderr = io.StringIO()
    sys.stderr = stderr
    try:
        status = runner.run_plugin(request.get('argv0') or 'calico', os.environ, request.get('stdin') or '', stdout)
    except BaseException:  # pylint: disable=broad-except
        # _main.main turns every error into a CNI error object; anything escaping it is reported the same way
        log.error('helper child: %s', traceback.format_exc().replace('\n', ' | '))
        from ansible_collections.podnet.calico.plugins.module_utils.cni._spec import CNIError, dumps
        stdout.write(dumps(CNIError(999, 'internal error of the podnet CNI helper: %s'
                                    % traceback.format_exc().strip().splitlines()[-1]).to_json('1.0.0')) + '\n')
        status = 1
    plugin = sys.modules.get('ansible_collections.podnet.calico.plugins.module_utils.cni._plugin')
    client.send_msg(conn, {'status': status, 'stdout': stdout.getvalue(), 'stderr': stderr.getvalue(),
                           'work': time.time() - started,
                           'etcd_prepared': bool(plugin is not None and plugin.HINTS.get('used_store'))})
    if plugin is not None and plugin.LEARNT:
        notify(notify_fd, {'hints': dict(plugin.LEARNT)})


def _prepare(hints, log):
    """In a spare: what the next request can use ready-made (the etcd connection of the last request)."""
    from ansible_collections.podnet.calico.plugins.module_utils.cni import _plugin as plugin
    plugin.HINTS.clear()
    plugin.HINTS.update((k, v) for k, v in hints.items() if k not in ('store', 'used_store'))
    if hints.get('etcd'):
        try:
            plugin.HINTS['store'] = plugin.prepare_store(hints['etcd'])
        except Exception as exc:  # pylint: disable=broad-except
            # the request builds its own and reports what is wrong
            log.debug('helper spare: preparing the etcd connection failed: %s', exc)
    return plugin


def _set_name(name):
    try:
        with open('/proc/self/comm', 'w') as handle:
            handle.write(name)
    except OSError:
        pass


def _spare(listener, mnt, pipes, hints, log):
    """A worker forked ahead of its request: it prepares, takes the next connection and serves it."""
    status = 0
    notify_fd, alive_fd = pipes
    conn = None
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _set_name('podnet-cni-spare')
        plugin = _prepare(hints, log)
        listener.setblocking(False)
        refresh = time.time() + SPARE_REFRESH
        while conn is None:
            ready = select.select([listener, alive_fd], [], [], max(0.0, refresh - time.time()))[0]
            if alive_fd in ready:
                return   # the helper is gone (or exiting): a new client starts a new helper
            if listener in ready:
                try:
                    conn, _addr = listener.accept()
                except (BlockingIOError, InterruptedError):
                    continue
            elif time.time() >= refresh:
                old = plugin.HINTS.get('store')
                if old is not None:
                    old[2].close()
                plugin = _prepare(hints, log)
                refresh = time.time() + SPARE_REFRESH
        _set_name('podnet-cni-work')
        notify(notify_fd, {'taken': os.getpid()})
        listener.close()
        os.close(alive_fd)
        conn.setblocking(True)
        ok, why = peer_ok(conn, mnt)
        if not ok:
            log.warning('helper: refused a client: %s', why)
            return
        handle(conn, log, notify_fd)
    except BaseException:  # pylint: disable=broad-except
        log.error('helper child: %s', traceback.format_exc().replace('\n', ' | '))
        status = 1
    finally:
        try:
            if conn is not None:
                conn.close()
        finally:
            log.close()
            os._exit(status)


def _messages(buf):
    """Split complete messages off ``buf``: (messages, rest)."""
    out = []
    while True:
        try:
            message, buf = client.unframe(buf)
        except client.FrameError as exc:
            buf = exc.rest   # not a message: skipped
            continue
        if message is None:
            return out, buf
        out.append(message)


def serve(name, idle, log_path):
    log = Log(log_path or None, container_id='-', plugin='calico-helper')
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind('\0' + name)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return 0   # another helper of this node and build won the race: it serves
        log.error('helper: cannot bind @%s: %s', name, exc)
        return 1
    listener.listen(128)
    mnt = client.ns_id('mnt')
    log.info('helper pid %d listening on @%s (idle timeout %.1f s)', os.getpid(), name, idle)
    for module in PRELOAD:
        try:
            __import__(module)
        except Exception as exc:  # pylint: disable=broad-except
            # the child will import it again and report the failure as a CNI error, as in-process would
            log.warning('helper: preloading %s failed: %s', module, exc)
    warm_up(log)
    notify_r, notify_w = os.pipe()   # workers -> helper: a request taken, what a request learnt
    alive_r, alive_w = os.pipe()     # helper -> spare: end of file when the helper is gone
    hints = {}
    spare = None
    workers = set()
    gone = set()   # reaped before their "taken" was read
    buf = b''
    last = time.time()
    while True:
        while True:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except OSError:
                break
            if not pid:
                break
            if pid == spare:
                spare = None   # ended before its "taken" was read (or without a request): another one follows
            if pid in workers:
                workers.discard(pid)
            else:
                gone.add(pid)
        if not workers and time.time() - last >= idle:
            break
        if spare is None:
            try:
                spare = os.fork()
            except OSError as exc:
                log.error('helper: cannot fork a worker: %s', exc)
                spare = None
                time.sleep(0.2)
                continue
            if spare == 0:
                os.close(notify_r)
                os.close(alive_w)
                _spare(listener, mnt, (notify_w, alive_r), hints, log)
        ready = select.select([notify_r], [], [], 0.2 if workers else max(0.05, min(1.0, idle - (time.time() - last))))[0]
        if not ready:
            continue
        buf += os.read(notify_r, 1 << 16)
        messages, buf = _messages(buf)
        for message in messages:
            if 'taken' in message:
                last = time.time()
                pid = message['taken']
                if pid == spare:
                    spare = None
                if pid in gone:
                    gone.discard(pid)
                else:
                    workers.add(pid)
            if isinstance(message.get('hints'), dict):
                hints.update(message['hints'])
    os.close(alive_w)   # a spare still waiting exits; one that has just taken a request serves it
    listener.close()
    log.info('helper pid %d: idle for %.1f s, exiting', os.getpid(), idle)
    log.close()
    return 0
