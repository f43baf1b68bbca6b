# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Datastore options shared by the IPAM modules (private to podnet.calico).

``DATASTORE_ARGUMENT_SPEC`` is kept in step with the doc fragment ``podnet.calico.datastore``.
"""

import os

from ansible_collections.podnet.calico.plugins.module_utils.ipam._store import MemoryStore, StoreError

DEFAULT_SQLITE_PATH = '/var/lib/podnet-calico/ipam.sqlite'

DATASTORE_ARGUMENT_SPEC = dict(
    datastore=dict(type='str', default='sqlite', choices=['sqlite', 'etcd']),
    sqlite_path=dict(type='path', default=DEFAULT_SQLITE_PATH),
    etcd_endpoints=dict(type='list', elements='str'),
    etcd_ca_cert=dict(type='path'),
    etcd_cert=dict(type='path'),
    etcd_key=dict(type='path', no_log=False),
    etcd_timeout=dict(type='float', default=5.0),
)

DATASTORE_REQUIRED_IF = [
    ('datastore', 'etcd', ('etcd_endpoints',)),
]

DATASTORE_REQUIRED_TOGETHER = [
    ('etcd_cert', 'etcd_key'),
]


def open_store(datastore='sqlite', sqlite_path=DEFAULT_SQLITE_PATH, etcd_endpoints=None, etcd_ca_cert=None,
               etcd_cert=None, etcd_key=None, etcd_timeout=5.0, read_only=False):
    """Open the store the options describe.

    With ``read_only`` a SQLite file that does not exist yet is not created: an empty
    in-memory store stands in for it (check mode, info).
    """
    if datastore == 'sqlite':
        if read_only and (not os.path.exists(sqlite_path)
                          or (os.path.isfile(sqlite_path) and os.path.getsize(sqlite_path) == 0)):
            return MemoryStore()
        from ansible_collections.podnet.calico.plugins.module_utils.ipam._sqlite import SQLiteStore
        return SQLiteStore(sqlite_path, read_only=read_only)
    if datastore == 'etcd':
        from ansible_collections.podnet.calico.plugins.module_utils.ipam._etcd import EtcdStore
        if etcd_timeout is not None and etcd_timeout <= 0:
            raise StoreError('etcd_timeout=%s must be greater than 0' % etcd_timeout, 'etcd_timeout')
        return EtcdStore(etcd_endpoints or [], ca_cert=etcd_ca_cert, cert=etcd_cert, key=etcd_key,
                         timeout=etcd_timeout)
    raise StoreError('datastore=%r is not one of sqlite, etcd' % (datastore,), 'datastore')


def store_params(params):
    """The datastore options out of a module's params."""
    return dict((k, params.get(k)) for k in DATASTORE_ARGUMENT_SPEC)
