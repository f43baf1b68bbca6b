# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The key-value contract every IPAM store implements (private to podnet.calico).

A store holds string values under string keys. Every key carries a revision: the store-wide
counter at the key's last write (etcd's ``mod_revision``). Writes are conditional:

``get(key)``                  -> ``(value, revision)`` or ``None``
``create(key, value)``        -> new revision; ``ConflictError`` if the key exists
``put(key, value, revision)`` -> new revision; ``ConflictError`` unless the key is at ``revision``
``delete(key, revision)``     -> ``None``; ``ConflictError`` unless the key is at ``revision``
``list(prefix, keys_only)``   -> ``[(key, value or None, revision)]`` sorted by key
``get_many(keys)``            -> ``{key: (value, revision)}`` for the keys that exist
``commit(ops)``               -> new revision; all ``Op`` in one atomic transaction, or none
                                 (``ConflictError`` if any condition fails)

Transient failures (a datastore that cannot be reached) raise ``StoreUnavailableError``;
the outcome of a write that failed that way is unknown, which is safe because every write
is conditional: a retry either applies once or reports a conflict.
"""

import threading


class StoreError(Exception):
    """A datastore problem; ``option`` names the module option to look at, if any."""

    def __init__(self, message, option=None):
        super(StoreError, self).__init__(message)
        self.option = option


class StoreUnavailableError(StoreError):
    """The datastore could not be reached (after trying every endpoint)."""


class ConflictError(StoreError):
    """A compare-and-swap condition failed: someone else wrote first.

    ``current`` may hold, for each key of the failed transaction, its value and revision at the
    time of the failure (``None`` for an absent key), so the caller can retry without reading.
    """

    def __init__(self, message, current=None):
        super(ConflictError, self).__init__(message)
        self.current = current


class Op(object):
    """One conditional write inside ``commit``.

    kind ``create``: key must be absent; ``put``/``delete``: key must be at ``revision``.
    """

    __slots__ = ('kind', 'key', 'value', 'revision')

    def __init__(self, kind, key, value=None, revision=None):
        if kind not in ('create', 'put', 'delete'):
            raise ValueError('unknown op %r' % kind)
        if kind != 'create' and revision is None:
            raise ValueError('op %s on %s needs a revision' % (kind, key))
        self.kind = kind
        self.key = key
        self.value = value
        self.revision = revision

    def __repr__(self):
        return 'Op(%s %s @%s)' % (self.kind, self.key, self.revision)


class Store(object):
    """Base class: the single-key calls are one-op commits."""

    def get(self, key):
        raise NotImplementedError

    def list(self, prefix, keys_only=False):
        raise NotImplementedError

    def commit(self, ops):
        raise NotImplementedError

    def get_many(self, keys):
        out = {}
        for key in keys:
            got = self.get(key)
            if got is not None:
                out[key] = got
        return out

    def read_many(self, keys, prefixes):
        """Several reads at one revision where the store can: ({key: (value, revision) or None},
        {(prefix, keys_only): [(key, value, revision)]}); here, one call each."""
        return (dict((key, self.get(key)) for key in keys),
                dict(((prefix, keys_only), self.list(prefix, keys_only)) for prefix, keys_only in prefixes))

    def create(self, key, value):
        return self.commit([Op('create', key, value)])

    def put(self, key, value, revision):
        return self.commit([Op('put', key, value, revision)])

    def delete(self, key, revision):
        self.commit([Op('delete', key, revision=revision)])

    def describe(self):
        return self.__class__.__name__

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def check_ops(ops):
    keys = [op.key for op in ops]
    if len(set(keys)) != len(keys):
        raise ValueError('a transaction writes a key twice: %s' % keys)


def check_conditions(ops, current):
    """Raise ConflictError unless every op's condition holds against ``current`` ({key: (value, revision) or
    None}): a create needs the key absent, a put or delete needs it at the op's revision."""
    for op in ops:
        cur = current[op.key]
        if op.kind == 'create':
            if cur is not None:
                raise ConflictError('%s already exists' % op.key, current)
        elif cur is None or cur[1] != op.revision:
            raise ConflictError('%s is not at revision %s' % (op.key, op.revision), current)


class MemoryStore(Store):
    """The contract in memory (thread-safe): for tests and dry runs."""

    def __init__(self):
        self._data = {}
        self._rev = 0
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            got = self._data.get(key)
            return None if got is None else (got[0], got[1])

    def list(self, prefix, keys_only=False):
        with self._lock:
            return [(k, None if keys_only else v[0], v[1])
                    for k, v in sorted(self._data.items()) if k.startswith(prefix)]

    def commit(self, ops):
        check_ops(ops)
        with self._lock:
            check_conditions(ops, dict((op.key, self._data.get(op.key)) for op in ops))
            self._rev += 1
            for op in ops:
                if op.kind == 'delete':
                    del self._data[op.key]
                else:
                    self._data[op.key] = (op.value, self._rev)
            return self._rev


class ReadAhead(Store):
    """A store whose first reads of some keys and prefixes come from one read_many.

    For a task that knows what it will read first (the CNI plugin's ADD: the pools, the pod's handle,
    the node's affinities and the IPAM config): on etcd that is one round trip instead of one per read.
    The read happens at the first read of anything, so errors come where they came before. Each answer
    is served once; a read again (a retry after a conflicting write) goes to the store, and so does
    everything else. Writes are compare-and-swap on the store, so an answer older than the store only
    ever costs a retry.
    """

    def __init__(self, base, keys=(), prefixes=()):
        self.base = base
        self._keys = list(keys)
        self._prefixes = list(prefixes)
        self._got = None

    def describe(self):
        return self.base.describe()

    def _ahead(self):
        if self._got is None:
            self._got = self.base.read_many(self._keys, self._prefixes)
        return self._got

    def get(self, key):
        gets = self._ahead()[0]
        if key in gets:
            return gets.pop(key)
        return self.base.get(key)

    def get_many(self, keys):
        keys = list(keys)
        gets = self._ahead()[0]
        out = self.base.get_many([k for k in keys if k not in gets])
        for k in keys:
            if k in gets:
                got = gets.pop(k)
                if got is not None:
                    out[k] = got
        return out

    def list(self, prefix, keys_only=False):
        lists = self._ahead()[1]
        if (prefix, keys_only) in lists:
            return lists.pop((prefix, keys_only))
        if keys_only and (prefix, False) in lists:
            return [(k, None, rev) for k, _v, rev in lists.pop((prefix, False))]
        return self.base.list(prefix, keys_only)

    def commit(self, ops):
        return self.base.commit(ops)

    def close(self):
        self.base.close()


class OverlayStore(Store):
    """Reads fall through to ``base``; writes stay in memory (check mode: nothing reaches ``base``).

    Conditions are checked against the merged view, so a sequence of operations gives the
    same answers it would give against the real store.
    """

    _TOMBSTONE = object()

    def __init__(self, base):
        self.base = base
        self._over = {}
        self._rev = 1 << 50

    def describe(self):
        return 'overlay(%s)' % self.base.describe()

    def get(self, key):
        if key in self._over:
            got = self._over[key]
            return None if got is self._TOMBSTONE else got
        return self.base.get(key)

    def get_many(self, keys):
        keys = list(keys)
        out = self.base.get_many([k for k in keys if k not in self._over])
        for k in keys:
            if k in self._over and self._over[k] is not self._TOMBSTONE:
                out[k] = self._over[k]
        return out

    def list(self, prefix, keys_only=False):
        merged = dict((k, (v, r)) for k, v, r in self.base.list(prefix, keys_only))
        for k, got in self._over.items():
            if not k.startswith(prefix):
                continue
            if got is self._TOMBSTONE:
                merged.pop(k, None)
            else:
                merged[k] = (None if keys_only else got[0], got[1])
        return [(k, merged[k][0], merged[k][1]) for k in sorted(merged)]

    def commit(self, ops):
        check_ops(ops)
        check_conditions(ops, dict((op.key, self.get(op.key)) for op in ops))
        self._rev += 1
        for op in ops:
            self._over[op.key] = self._TOMBSTONE if op.kind == 'delete' else (op.value, self._rev)
        return self._rev

    def close(self):
        self.base.close()
