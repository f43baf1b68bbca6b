# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the cluster file-handling tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def count_opens(monkeypatch):
    """Start recording the paths opened with open(); returns (paths, stop)."""
    opened = []
    real_open = open

    def counting_open(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    def start():
        monkeypatch.setattr("builtins.open", counting_open)
        return opened

    return start, monkeypatch.undo
