# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Opening the SQLite datastore while other processes open it: a lock met at once is waited out."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time

import pytest

from ansible_collections.podnet.calico.plugins.module_utils.ipam import _sqlite
from ansible_collections.podnet.calico.plugins.module_utils.ipam._store import StoreError


def flaky_connect(monkeypatch, failures, message="database is locked"):
    """_connect_read_write raises OperationalError(message) the first `failures` times."""
    real = _sqlite.SQLiteStore._connect_read_write
    calls = []

    def connect(self, path, busy_timeout, synchronous):
        calls.append(path)
        if len(calls) <= failures:
            self._db = sqlite3.connect(":memory:")   # what a failed try leaves open, closed before the next
            raise sqlite3.OperationalError(message)
        return real(self, path, busy_timeout, synchronous)

    monkeypatch.setattr(_sqlite.SQLiteStore, "_connect_read_write", connect)
    return calls


def test_a_lock_met_at_once_is_tried_again(tmp_path, monkeypatch):
    calls = flaky_connect(monkeypatch, failures=3)
    store = _sqlite.SQLiteStore(str(tmp_path / "ipam.sqlite"))
    try:
        assert len(calls) == 4
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        store.close()


def test_other_errors_are_not_tried_again(tmp_path, monkeypatch):
    calls = flaky_connect(monkeypatch, failures=1, message="disk I/O error")
    with pytest.raises(StoreError, match="cannot open the SQLite datastore .*disk I/O error"):
        _sqlite.SQLiteStore(str(tmp_path / "ipam.sqlite"))
    assert len(calls) == 1


def test_a_lock_that_stays_ends_after_busy_timeout(tmp_path, monkeypatch):
    flaky_connect(monkeypatch, failures=10 ** 6)
    start = time.monotonic()
    with pytest.raises(StoreError, match="database is locked"):
        _sqlite.SQLiteStore(str(tmp_path / "ipam.sqlite"), busy_timeout=0.3)
    assert 0.3 <= time.monotonic() - start < 5


def _open_and_close(path, start_at, errors):
    while time.time() < start_at:
        pass
    try:
        _sqlite.SQLiteStore(path).close()
    except StoreError as exc:
        errors.put(str(exc))


def test_processes_opening_a_new_file_together(tmp_path):
    """Four processes open a new file at the same moment, 20 times: every open succeeds.

    Without the retry about one round in 40 failed with "database is locked"; this is a smoke test
    of the real race, the tests above pin the retry itself."""
    errors = multiprocessing.Queue()
    for attempt in range(20):
        path = str(tmp_path / ("ipam-%d.sqlite" % attempt))
        start_at = time.time() + 0.2
        procs = [multiprocessing.Process(target=_open_and_close, args=(path, start_at, errors)) for _index in range(4)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(60)
            assert proc.exitcode == 0
    assert errors.empty(), errors.get()
