# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What calico_ipam_info reports, for the module and for the lookup of the same name.

Private to the podnet.calico collection: not a public API, may change without notice.
Plain Python, no Ansible imports.
"""

import ipaddress

from ansible_collections.podnet.calico.plugins.module_utils.ipam._allocator import Allocator
from ansible_collections.podnet.calico.plugins.module_utils.ipam._check import check
from ansible_collections.podnet.calico.plugins.module_utils.ipam._datastore import open_store, store_params
from ansible_collections.podnet.calico.plugins.module_utils.ipam._model import check_handle, check_node, parse_pool

#: The report's own options (the datastore's are DATASTORE_ARGUMENT_SPEC).
INFO_ARGUMENT_SPEC = dict(
    pool=dict(type='str'),
    node=dict(type='str'),
    handle=dict(type='str'),
    live_handles=dict(type='list', elements='str'),
    check=dict(type='bool', default=False),
)


def gather(alloc, params):
    """The report of an open Allocator, as calico_ipam_info returns it (changed aside)."""
    net = parse_pool(params['pool']) if params['pool'] is not None else None
    if params['node'] is not None:
        check_node(params['node'])
    if params['handle'] is not None:
        check_handle(params['handle'])
    info = alloc.info(live_handles=params['live_handles'], node=params['node'])

    def in_pool(cidr):
        if net is None:
            return True
        try:
            return ipaddress.IPv4Network(cidr, strict=False).subnet_of(net)
        except (ValueError, TypeError):
            return False

    def keep(entry):
        if params['handle'] is not None and entry['handle'] != params['handle']:
            return False
        return any(in_pool(b) for b in entry['blocks'])

    out = {
        'pools': [p for p in info['pools'] if in_pool(p['cidr'])],
        'blocks': [b for b in info['blocks'] if in_pool(b['cidr'])],
        'handles': [h for h in info['handles'] if keep(h)],
        'problems': info['problems'],
        'config': info['config'],
    }
    if params.get('check'):
        out['check'] = check(alloc.store, live_handles=params['live_handles'])
    if 'leaks' in info:
        out['leaks'] = [h for h in info['leaks'] if keep(h)]
    return out


def read(params):
    """Open the datastore read-only, report, close. Raises IPAMError or StoreError."""
    store = open_store(read_only=True, **store_params(params))
    try:
        return gather(Allocator(store), params)
    finally:
        store.close()
