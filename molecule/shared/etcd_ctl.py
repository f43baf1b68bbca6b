#!/usr/bin/env python
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start or stop the scenario's etcd on 127.0.0.1 with the tests' one etcd launcher
(tests/integration/ipam/etcd_server.py: free ports, its own data dir, stopped by its pid).

Usage: etcd_ctl.py start|stop <dir>; prints {"changed": ..., "endpoint": ...} as JSON.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration", "ipam"))

from etcd_server import EtcdServer  # noqa: E402  pylint: disable=wrong-import-position


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def read(path):
    with open(path) as handle:
        return handle.read().strip()


def start(base):
    pidfile = os.path.join(base, "etcd.pid")
    if os.path.exists(pidfile) and alive(int(read(pidfile))):
        return {"changed": False, "endpoint": read(os.path.join(base, "endpoint"))}
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base, 0o700)
    server = EtcdServer(base, name="podnet").start(timeout=20)
    with open(pidfile, "w") as handle:
        handle.write(str(server.pid))
    with open(os.path.join(base, "endpoint"), "w") as handle:
        handle.write(server.url + "\n")
    return {"changed": True, "endpoint": server.url, "pid": server.pid}


def stop(base):
    pidfile = os.path.join(base, "etcd.pid")
    changed = False
    if os.path.exists(pidfile):
        changed = EtcdServer.stop_pid(int(read(pidfile)))
    if os.path.isdir(base):
        shutil.rmtree(base)
        changed = True
    return {"changed": changed}


if __name__ == "__main__":
    action, directory = sys.argv[1], sys.argv[2]
    print(json.dumps(start(directory) if action == "start" else stop(directory)))
