# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the data-plane module tests: namespaces, playbooks built from task lists,
and the two Python interpreters (venv pyroute2 0.9, Debian python3-pyroute2 0.7)."""

from __future__ import annotations

import json
import os

import pytest

from dp_helpers import sh
from podnet_testlib import PYTHON_INTERPRETERS as INTERPRETERS


@pytest.fixture
def dp_ns(netns_factory):
    """The shared namespace factory (pt<pid>-<suffix>, lo up, removed at teardown)."""
    return netns_factory


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
