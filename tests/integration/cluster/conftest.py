# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the cluster role tests (helpers live in cluster_testlib)."""

from __future__ import annotations

import pytest

from cluster_testlib import HttpServer


@pytest.fixture
def local_http(tmp_path):
    """An HTTP server on 127.0.0.1 serving a fresh directory; stopped at teardown."""
    directory = tmp_path / "www"
    directory.mkdir()
    server = HttpServer(str(directory))
    try:
        yield server
    finally:
        server.stop()
