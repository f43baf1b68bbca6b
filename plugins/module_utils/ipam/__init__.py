# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Calico IP address management for podnet.calico (private to the collection).
#
# _model.py      Calico's etcdv3 keys and JSON records (IP pool, block, affinity, handle)
# _store.py      the compare-and-swap key-value contract and an in-memory store
# _sqlite.py     the embedded SQLite store
# _etcd.py       the etcd v3 store (JSON gateway, with the standard library's http.client)
# _allocator.py  the allocation algorithm, written once against the contract
# _datastore.py  the shared datastore options (spec dict) and the store factory
