# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared fixtures of the integration tests (helpers live in podnet_testlib, which tests import)."""

from __future__ import annotations

import subprocess

import pytest

from podnet_testlib import TEST_PREFIX, LabUnderTest, kill_netns, netns_exists, run_playbook


@pytest.fixture(name="run_playbook")
def run_playbook_fixture():
    return run_playbook


@pytest.fixture
def netns_factory():
    """Create test namespaces (pt<pid>-<suffix>); all are removed at teardown."""
    made = []

    def make(suffix):
        name = "%s-%s" % (TEST_PREFIX, suffix)
        if netns_exists(name):
            kill_netns(name)
        subprocess.run(["ip", "netns", "add", name], check=True)
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        made.append(name)
        return name

    yield make
    for name in reversed(made):
        kill_netns(name)


@pytest.fixture(scope="session")
def test_lab():
    """A running 3-node lab for the whole session; yields the LabUnderTest (state(), inventory, playbook())."""
    lab = LabUnderTest()
    try:
        lab.up()
        yield lab
    finally:
        lab.cleanup()
