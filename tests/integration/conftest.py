# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared fixtures of the integration tests (helpers live in podnet_testlib, which tests import)."""

from __future__ import annotations

import pytest

from podnet_testlib import LabUnderTest, NamespaceFactory, run_playbook


@pytest.fixture(name="run_playbook")
def run_playbook_fixture():
    return run_playbook


@pytest.fixture
def netns_factory():
    """Create test namespaces (pt<pid>-<suffix>, lo up); all are removed at teardown."""
    with NamespaceFactory() as factory:
        yield factory


@pytest.fixture(scope="session")
def test_lab():
    """A running 3-node lab for the whole session; yields the LabUnderTest (state(), inventory, playbook())."""
    lab = LabUnderTest()
    try:
        lab.up()
        yield lab
    finally:
        lab.cleanup()
