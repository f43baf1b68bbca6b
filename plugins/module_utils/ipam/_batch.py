# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A batch of assignments or releases with an undo journal (private to podnet.calico).

The rule: a batch that fails undoes what it changed, and only that. The journal records the
handles this batch gave an address (a handle that already held one is only looked up and is
never released by the undo) and the IP pool it created. When the undo itself cannot finish
(the datastore is gone), the error says exactly which handles stay assigned, and which single
handle's write had an unknown outcome.
"""

from ansible_collections.podnet.calico.plugins.module_utils.ipam import _model as m
from ansible_collections.podnet.calico.plugins.module_utils.ipam._store import StoreError, StoreUnavailableError


class BatchError(m.IPAMError):
    """A failed batch; ``details`` says what was undone and what stays (for the module's result)."""

    def __init__(self, message, option=None, details=None):
        super(BatchError, self).__init__(message, option)
        self.details = details or {}


def assign_batch(alloc, items, node, pool, block_size=None, strict_affinity=False, pool_options=None,
                 node_labels=None):
    """Assign each item ({'handle', 'ip', 'attributes'}) in order; return the list of results.

    On failure every handle this call assigned is released again (and a pool it created is
    deleted when no block is left in it), then ``BatchError`` is raised.
    """
    results = []
    journal = []          # results of the handles this batch assigned
    pools_before = len(alloc.created_pools)
    current = None
    try:
        for item in items:
            current = item['handle']
            res = alloc.assign(item['handle'], node, pool, block_size=block_size, ip=item.get('ip'),
                               attributes=item.get('attributes'), strict_affinity=strict_affinity,
                               pool_options=pool_options, node_labels=node_labels)
            current = None
            results.append(res)
            if res['changed']:
                journal.append(res)
    except (m.IPAMError, StoreError) as exc:
        raise _undo(alloc, exc, journal, alloc.created_pools[pools_before:], node, current)
    return results


def _undo(alloc, exc, journal, created_pools, node, current):
    undone = []
    not_undone = []
    undo_errors = []
    for res in reversed(journal):
        try:
            alloc.release(res['handle'])
            undone.append({'handle': res['handle'], 'ip': res['ip']})
        except (m.IPAMError, StoreError) as err:
            not_undone.append({'handle': res['handle'], 'ip': res['ip']})
            if not undo_errors:
                undo_errors.append(str(err))
    blocks_kept = []
    for res in reversed(journal):
        if res['claimed_block'] and res['handle'] not in [u['handle'] for u in not_undone]:
            try:
                if not alloc.release_block_if_empty(node, res['block']):
                    blocks_kept.append(res['block'])
            except (m.IPAMError, StoreError):
                blocks_kept.append(res['block'])
    pool_kept = None
    for created in created_pools:
        try:
            if not alloc.delete_pool_if_unused(created):
                pool_kept = created['name']
        except (m.IPAMError, StoreError):
            pool_kept = created['name']
    uncertain = current if isinstance(exc, StoreUnavailableError) else None
    parts = [str(exc)]
    if undone:
        parts.append('undone: released the %d address(es) this task had assigned (%s)'
                     % (len(undone), ', '.join('%s %s' % (u['handle'], u['ip']) for u in reversed(undone))))
    elif not not_undone:
        parts.append('nothing had been assigned by this task')
    if not_undone:
        parts.append('NOT undone (%s): these handles stay assigned: %s'
                     % (undo_errors[0], ', '.join('%s %s' % (u['handle'], u['ip']) for u in reversed(not_undone))))
    if uncertain is not None:
        parts.append('handle %s: the datastore failed during its write, so it may or may not hold an address '
                     '(calico_ipam_info with handle=%s tells)' % (uncertain, uncertain))
    if blocks_kept:
        parts.append('the blocks %s this task claimed were kept (other addresses are in them now)'
                     % ', '.join(blocks_kept))
    if pool_kept is not None:
        parts.append('the IP pool %s this task created was kept (blocks are in it)' % pool_kept)
    details = {'undone': list(reversed(undone)), 'not_undone': list(reversed(not_undone)),
               'uncertain': [uncertain] if uncertain else [], 'pool_kept': pool_kept, 'blocks_kept': blocks_kept}
    return BatchError('; '.join(parts), getattr(exc, 'option', None), details)


def release_batch(alloc, handles):
    """Release each handle; on failure the error lists the handles already released (a release
    cannot be undone: the addresses are free again, which is what was asked)."""
    released = []
    current = None
    try:
        for handle in handles:
            current = handle
            res = alloc.release(handle)
            current = None
            if res['changed']:
                released.append(res)
    except (m.IPAMError, StoreError) as exc:
        msg = str(exc)
        if released:
            msg += '; released before the failure: %s' % ', '.join(
                '%s %s' % (r['handle'], ','.join(r['ips'])) for r in released)
        if current is not None and isinstance(exc, StoreUnavailableError):
            msg += '; handle %s: the datastore failed during its release, which may or may not have happened' % current
        raise BatchError(msg, getattr(exc, 'option', None),
                         {'released': [{'handle': r['handle'], 'ips': r['ips']} for r in released],
                          'uncertain': [current] if current and isinstance(exc, StoreUnavailableError) else []})
    return released
