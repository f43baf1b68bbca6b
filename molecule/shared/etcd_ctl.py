#!/usr/bin/env python
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start or stop the scenario's etcd on 127.0.0.1 (free ports, its own data dir, stopped by its pid)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time


def free_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def start(base):
    pidfile = os.path.join(base, "etcd.pid")
    if os.path.exists(pidfile) and alive(int(open(pidfile).read())):
        return {"changed": False, "endpoint": open(os.path.join(base, "endpoint")).read().strip()}
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base, 0o700)
    client, peer = free_port(), free_port()
    endpoint = "http://127.0.0.1:%d" % client
    cmd = ["etcd", "--name", "podnet", "--data-dir", os.path.join(base, "data"),
           "--listen-client-urls", endpoint, "--advertise-client-urls", endpoint,
           "--listen-peer-urls", "http://127.0.0.1:%d" % peer,
           "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peer,
           "--initial-cluster", "podnet=http://127.0.0.1:%d" % peer]
    with open(os.path.join(base, "etcd.log"), "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    with open(pidfile, "w") as handle:
        handle.write(str(proc.pid))
    deadline = time.time() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", client), timeout=0.5).close()
            break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                raise SystemExit("etcd did not start, see %s/etcd.log" % base)
            time.sleep(0.1)
    with open(os.path.join(base, "endpoint"), "w") as handle:
        handle.write(endpoint + "\n")
    return {"changed": True, "endpoint": endpoint, "pid": proc.pid}


def stop(base):
    pidfile = os.path.join(base, "etcd.pid")
    changed = False
    if os.path.exists(pidfile):
        pid = int(open(pidfile).read())
        if alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.time() + 10
            while alive(pid) and time.time() < deadline:
                time.sleep(0.1)
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
            changed = True
    if os.path.isdir(base):
        shutil.rmtree(base)
        changed = True
    return {"changed": changed}


if __name__ == "__main__":
    action, directory = sys.argv[1], sys.argv[2]
    print(json.dumps(start(directory) if action == "start" else stop(directory)))
