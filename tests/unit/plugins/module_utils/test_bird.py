# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""bird_answers(): real UNIX sockets in a temporary directory, served by a thread that greets as BIRD
does (or otherwise); molecule's bgp_etcd scenario asks a real BIRD through calico_dataplane."""

import os
import socket
import threading

from ansible_collections.podnet.calico.plugins.module_utils.dataplane._bird import bird_answers


class Server(object):
    """A listening UNIX socket that sends ``greeting`` to each client (nothing when None) and waits."""

    def __init__(self, path, greeting):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        self.greeting = greeting
        self.clients = []
        self.thread = threading.Thread(target=self.serve)
        self.thread.daemon = True
        self.thread.start()

    def serve(self):
        try:
            conn, dummy = self.sock.accept()
        except OSError:
            return
        self.clients.append(conn)
        if self.greeting is not None:
            conn.sendall(self.greeting)

    def close(self):
        self.sock.close()
        for conn in self.clients:
            conn.close()


def test_bird_greeting(tmp_path):
    path = str(tmp_path / 'bird.ctl')
    server = Server(path, b'0001 BIRD 2.0.12 ready.\n')
    try:
        assert bird_answers(path) == (True, 'BIRD 2.0.12 ready.')
    finally:
        server.close()


def test_greeting_in_pieces(tmp_path):
    path = str(tmp_path / 'bird.ctl')
    server = Server(path, b'0001 BIRD 2.0.12 ready.')
    try:
        # no newline: the server keeps the connection open, so the read ends at the timeout
        answers, why = bird_answers(path, timeout=0.3)
        assert not answers and 'no greeting' in why
    finally:
        server.close()


def test_no_socket(tmp_path):
    path = str(tmp_path / 'bird.ctl')
    assert bird_answers(path) == (False, 'no socket at %s' % path)


def test_stale_socket(tmp_path):
    path = str(tmp_path / 'bird.ctl')
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()
    assert os.path.exists(path)
    answers, why = bird_answers(path)
    assert not answers and why.startswith('nothing listens on %s' % path)


def test_another_daemon(tmp_path):
    path = str(tmp_path / 'bird.ctl')
    server = Server(path, b'220 not bird\n')
    try:
        answers, why = bird_answers(path)
        assert not answers and "is not BIRD's" in why and '220 not bird' in why
    finally:
        server.close()
