# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the data-plane module tests: pnt-prefixed namespaces, playbooks built from task lists,
and the two Python interpreters (venv pyroute2 0.9, Debian python3-pyroute2 0.7)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from dp_helpers import sh

PREFIX = "pnt%d" % (os.getpid() % 100000)

INTERPRETERS = [sys.executable]
if os.path.exists("/usr/bin/python3"):
    INTERPRETERS.append("/usr/bin/python3")


def _kill_and_delete(name):
    pids = sh("ip", "netns", "pids", name, check=False).split()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(int(pid), sig)
            except OSError:
                pass
        if pids:
            time.sleep(0.05)
    subprocess.run(["ip", "netns", "del", name], check=False, stderr=subprocess.DEVNULL)


@pytest.fixture
def dp_ns():
    """Create namespaces named pnt<pid>-<suffix> (lo up); every one is removed at teardown."""
    made = []

    def make(suffix):
        name = "%s-%s" % (PREFIX, suffix)
        if os.path.exists("/run/netns/" + name):
            _kill_and_delete(name)
        sh("ip", "netns", "add", name)
        made.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        return name

    yield make
    for name in reversed(made):
        _kill_and_delete(name)


@pytest.fixture
def node_with_uplink(dp_ns):
    """A node namespace whose eth0 is a veth to a sink namespace (192.168.77.0/24), default via the sink."""
    node = dp_ns("node")
    sink = dp_ns("sink")
    sh("ip", "-n", node, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", sink)
    sh("ip", "-n", node, "addr", "add", "192.168.77.2/24", "dev", "eth0")
    sh("ip", "-n", sink, "addr", "add", "192.168.77.1/24", "dev", "eth0")
    sh("ip", "-n", node, "link", "set", "eth0", "up")
    sh("ip", "-n", sink, "link", "set", "eth0", "up")
    sh("ip", "-n", node, "route", "add", "default", "via", "192.168.77.1")
    return node, sink


@pytest.fixture(params=INTERPRETERS, ids=lambda p: "py-" + os.path.basename(os.path.dirname(os.path.dirname(p)))
                if ".venv" in p else "py-system")
def interpreter(request):
    return request.param


@pytest.fixture
def play(run_playbook, tmp_path, interpreter):
    """Run a list of tasks as a localhost play with the chosen interpreter; returns PlaybookResult."""
    counter = [0]

    def run(tasks, check=False, diff=True, expect_fail=False):
        counter[0] += 1
        path = tmp_path / ("play%d.yml" % counter[0])
        playbook = [{"name": "dataplane", "hosts": "localhost", "connection": "local", "gather_facts": False,
                     "tasks": tasks}]
        path.write_text(json.dumps(playbook, indent=1))
        return run_playbook(str(path), check=check, diff=diff, interpreter=interpreter, expect_fail=expect_fail)

    return run
