# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The node's resident helper of the CNI plugin (private to podnet.calico).

Started by a client (_client.py) that found none. It binds its abstract unix socket first (a second
helper of the same name loses the bind and exits: one helper per network namespace, mount namespace
and plugin build), then imports the plugin's heavy modules once (pyroute2, the etcd store, the engines and the
allocator), does once the one-time work that every request would otherwise repeat (warm_up: pyroute2's
netlink decoders, OpenSSL's configuration), and forks one child per request: the child runs the plugin's
code exactly as the executable would (_main.main with the request's environment and stdin, under the
container's lock), sends back stdout and the exit status, and exits. The warm-up's netlink socket is
closed before the first fork and no etcd session is ever opened in the helper itself, so requests share
nothing. Only peers with uid 0 in the helper's own mount namespace are
served. The helper exits after ``idle`` seconds without a request and without a running child.
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


def handle(conn, log):
    """In the forked child: one request, start to finish."""
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
    client.send_msg(conn, {'status': status, 'stdout': stdout.getvalue(), 'stderr': stderr.getvalue(),
                           'work': time.time() - started})


def _child(listener, conn, log):
    status = 0
    try:
        listener.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        handle(conn, log)
    except BaseException:  # pylint: disable=broad-except
        log.error('helper child: %s', traceback.format_exc().replace('\n', ' | '))
        status = 1
    finally:
        try:
            conn.close()
        finally:
            log.close()
            os._exit(status)


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
    children = set()
    last = time.time()
    while True:
        while children:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except OSError:
                children.clear()
                break
            if not pid:
                break
            children.discard(pid)
            last = time.time()
        if not children and time.time() - last >= idle:
            break
        ready = select.select([listener], [], [], 0.2 if children else max(0.05, min(1.0, idle - (time.time() - last))))[0]
        if not ready:
            continue
        try:
            conn, _addr = listener.accept()
        except OSError:
            continue
        last = time.time()
        ok, why = peer_ok(conn, mnt)
        if not ok:
            log.warning('helper: refused a client: %s', why)
            conn.close()
            continue
        pid = os.fork()
        if pid == 0:
            _child(listener, conn, log)
        children.add(pid)
        conn.close()
    listener.close()
    log.info('helper pid %d: idle for %.1f s, exiting', os.getpid(), idle)
    log.close()
    return 0
