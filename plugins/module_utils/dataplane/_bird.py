# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Whether a BIRD daemon answers on its control socket, with the standard library only.

Private to the podnet.calico collection: not a public API, may change without notice.

BIRD greets every client of its control socket with a line that starts with the reply code
``0001`` (``0001 BIRD 2.0.12 ready.``) before the client sends anything; ``birdc`` exits with
status 0 exactly when it got that greeting. Reading the greeting and closing the connection asks
BIRD nothing and changes nothing.
"""

import errno
import socket

#: seconds to wait for the connection and for the greeting
TIMEOUT = 2.0


def bird_answers(path, timeout=TIMEOUT):
    """(answers, why): whether a BIRD daemon greets on the UNIX socket ``path``; ``why`` says what was
    found when it does not (no socket, nobody listening, something else answering)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(path)
        except (IOError, OSError) as exc:
            if exc.errno == errno.ENOENT:
                return False, 'no socket at %s' % path
            if exc.errno == errno.ECONNREFUSED:
                return False, 'nothing listens on %s (a socket left by a BIRD that stopped)' % path
            return False, 'cannot connect to %s: %s' % (path, exc.strerror or exc)
        data = b''
        try:
            while b'\n' not in data and len(data) < 512:
                chunk = sock.recv(512)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            return False, 'no greeting on %s within %.0f s' % (path, timeout)
        except (IOError, OSError) as exc:
            return False, 'reading the greeting on %s failed: %s' % (path, exc.strerror or exc)
        line = data.split(b'\n', 1)[0].decode('utf-8', 'replace').strip()
        if line.startswith('0001'):
            return True, line[4:].strip()
        return False, 'the greeting on %s is not BIRD\'s: %r' % (path, line[:80])
    finally:
        sock.close()
