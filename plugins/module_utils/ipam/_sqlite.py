# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The embedded IPAM store: one SQLite file (private to podnet.calico).

Same contract, keys and JSON as the etcd store. The file is in WAL mode, so readers never
wait for the writer; every write is one ``BEGIN IMMEDIATE`` transaction that checks its
conditions and bumps a store-wide revision counter, like etcd's. Several processes can share
the file; a writer that finds the file locked waits up to ``busy_timeout`` seconds.
"""

import os
import sqlite3
import time

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover
    from urllib import quote  # type: ignore

from ansible_collections.podnet.calico.plugins.module_utils.ipam._store import ConflictError, Store, StoreError, StoreUnavailableError, check_ops

_SCHEMA = (
    'CREATE TABLE IF NOT EXISTS kv ('
    ' key TEXT PRIMARY KEY, value TEXT NOT NULL,'
    ' create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL) WITHOUT ROWID',
    'CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)',
    "INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 0)",
)


def _upper(prefix):
    """The smallest string greater than every string that starts with ``prefix``."""
    if not prefix:
        return None
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class SQLiteStore(Store):

    def __init__(self, path, busy_timeout=30.0, synchronous='NORMAL', read_only=False):
        """Open (read-write: create when absent or empty) the datastore at ``path``.

        Nothing is written before the file is known to be ours: a SQLite database with other
        tables, or a file that is not a SQLite database, is refused. ``read_only`` opens the file
        read-only (no WAL switch, no table created) and refuses a file without our tables.
        """
        self.path = path
        self._db = None
        if not path or not isinstance(path, str):
            raise StoreError('sqlite_path=%r is not a file path' % (path,), 'sqlite_path')
        try:
            if read_only:
                self._open_read_only(path, busy_timeout)
            else:
                self._open_read_write(path, busy_timeout, synchronous)
        except (sqlite3.Error, OSError) as exc:
            self.close()
            raise StoreError('cannot open the SQLite datastore sqlite_path=%s: %s' % (path, exc), 'sqlite_path')
        except StoreError:
            self.close()
            raise

    def _open_read_only(self, path, busy_timeout):
        if not os.path.isfile(path):
            raise StoreError('sqlite_path=%s does not exist or is not a file' % path, 'sqlite_path')
        uri = 'file:%s?mode=ro' % quote(os.path.abspath(path))
        self._db = sqlite3.connect(uri, uri=True, timeout=busy_timeout, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute('PRAGMA busy_timeout=%d' % int(busy_timeout * 1000))
        self._check_ours(allow_empty=False)

    def _open_read_write(self, path, busy_timeout, synchronous):
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o700)
        if os.path.exists(path) and not os.path.isfile(path):
            raise StoreError('sqlite_path=%s is not a regular file' % path, 'sqlite_path')
        # Processes that open a new file at the same moment race for the switch to WAL, and SQLite
        # answers "database is locked" at once, without waiting, to the one whose shared lock would
        # deadlock the switch. Such an open is tried again until busy_timeout has passed.
        deadline = time.monotonic() + busy_timeout
        while True:
            try:
                self._connect_read_write(path, busy_timeout, synchronous)
                return
            except sqlite3.OperationalError as exc:
                if 'locked' not in str(exc) or time.monotonic() >= deadline:
                    raise
                self.close()
                time.sleep(0.01)

    def _connect_read_write(self, path, busy_timeout, synchronous):
        self._db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        self._db.execute('PRAGMA busy_timeout=%d' % int(busy_timeout * 1000))
        if not self._check_ours(allow_empty=True):
            self._db.execute('BEGIN IMMEDIATE')
            try:
                if self._tables():   # someone else created tables meanwhile: look again
                    self._db.execute('ROLLBACK')
                    self._check_ours(allow_empty=False)
                else:
                    for stmt in _SCHEMA:
                        self._db.execute(stmt)
                    self._db.execute('COMMIT')
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute('ROLLBACK')
                raise
            try:
                os.chmod(path, 0o600)
            except OSError:
                pass
        self._db.execute('PRAGMA journal_mode=WAL')
        self._db.execute('PRAGMA synchronous=%s' % synchronous)

    def _tables(self):
        return sorted(r[0] for r in self._db.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"))

    def _check_ours(self, allow_empty):
        """True when the file holds exactly our tables; False when it is empty (and that is allowed)."""
        tables = self._tables()
        if not tables and allow_empty:
            return False
        if tables != ['kv', 'meta']:
            raise StoreError('sqlite_path=%s is not a podnet.calico IPAM datastore (its tables: %s); refusing to '
                             'use it: give the path of a new file or of a datastore this module created'
                             % (self.path, ', '.join(tables) or 'none'), 'sqlite_path')
        row = self._db.execute("SELECT count(*) FROM meta WHERE name = 'revision'").fetchone()
        if not row or row[0] != 1:
            raise StoreError('sqlite_path=%s is not a podnet.calico IPAM datastore (no revision counter)'
                             % self.path, 'sqlite_path')
        return True

    def describe(self):
        return 'sqlite:%s' % self.path

    def _fail(self, exc):
        if isinstance(exc, sqlite3.OperationalError) and 'locked' in str(exc):
            return StoreUnavailableError('SQLite datastore sqlite_path=%s stayed locked: %s'
                                         % (self.path, exc), 'sqlite_path')
        return StoreError('SQLite datastore sqlite_path=%s: %s' % (self.path, exc), 'sqlite_path')

    def get(self, key):
        try:
            row = self._db.execute('SELECT value, mod_rev FROM kv WHERE key = ?', (key,)).fetchone()
        except sqlite3.Error as exc:
            raise self._fail(exc)
        return None if row is None else (row[0], row[1])

    def get_many(self, keys):
        keys = list(keys)
        out = {}
        try:
            for i in range(0, len(keys), 500):
                chunk = keys[i:i + 500]
                marks = ','.join('?' * len(chunk))
                for k, v, r in self._db.execute(
                        'SELECT key, value, mod_rev FROM kv WHERE key IN (%s)' % marks, chunk):
                    out[k] = (v, r)
        except sqlite3.Error as exc:
            raise self._fail(exc)
        return out

    def list(self, prefix, keys_only=False):
        cols = 'key, NULL, mod_rev' if keys_only else 'key, value, mod_rev'
        upper = _upper(prefix)
        try:
            if upper is None:
                cur = self._db.execute('SELECT %s FROM kv ORDER BY key' % cols)
            else:
                cur = self._db.execute('SELECT %s FROM kv WHERE key >= ? AND key < ? ORDER BY key' % cols,
                                       (prefix, upper))
            return list(cur)
        except sqlite3.Error as exc:
            raise self._fail(exc)

    def commit(self, ops):
        check_ops(ops)
        db = self._db
        try:
            db.execute('BEGIN IMMEDIATE')
        except sqlite3.Error as exc:
            raise self._fail(exc)
        try:
            keys = [op.key for op in ops]
            revs = dict(db.execute('SELECT key, mod_rev FROM kv WHERE key IN (%s)' % ','.join('?' * len(keys)),
                                   keys).fetchall())
            for op in ops:
                rev = revs.get(op.key)
                if (op.kind == 'create' and rev is not None) or (op.kind != 'create' and rev != op.revision):
                    rows = db.execute('SELECT key, value, mod_rev FROM kv WHERE key IN (%s)'
                                      % ','.join('?' * len(keys)), keys).fetchall()
                    current = dict((k, None) for k in keys)
                    current.update((k, (v, r)) for k, v, r in rows)
                    raise ConflictError('%s: expected %s, found revision %s'
                                        % (op.key, 'absent' if op.kind == 'create' else op.revision, rev), current)
            db.execute("UPDATE meta SET value = value + 1 WHERE name = 'revision'")
            rev = db.execute("SELECT value FROM meta WHERE name = 'revision'").fetchone()[0]
            for op in ops:
                if op.kind == 'create':
                    db.execute('INSERT INTO kv (key, value, create_rev, mod_rev) VALUES (?, ?, ?, ?)',
                               (op.key, op.value, rev, rev))
                elif op.kind == 'put':
                    db.execute('UPDATE kv SET value = ?, mod_rev = ? WHERE key = ?', (op.value, rev, op.key))
                else:
                    db.execute('DELETE FROM kv WHERE key = ?', (op.key,))
            db.execute('COMMIT')
            return rev
        except ConflictError:
            db.execute('ROLLBACK')
            raise
        except sqlite3.Error as exc:
            try:
                db.execute('ROLLBACK')
            except sqlite3.Error:
                pass
            raise self._fail(exc)

    def close(self):
        if getattr(self, '_db', None) is not None:
            self._db.close()
            self._db = None
