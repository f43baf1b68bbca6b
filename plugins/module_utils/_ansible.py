# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one glue between the plain-Python engines and Ansible modules.

Private to the podnet.calico collection: not a public API, may change without notice.
The only module_utils file that imports Ansible: it reports missing third-party libraries with
missing_required_lib, turns engine exceptions into fail_json and ends a resource module with the
common result shape (changed, before, after, changes, gathered, diff; see dataplane/_base.py).

It imports no pyroute2 of its own: a module whose engine talks netlink (dataplane/_netlink.py) has
it checked by dataplane_module (netlink=True, the default) or require_netlink; proxy_arp, which
only reads and writes /proc/sys/net, says netlink=False and never loads it.
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netns import DataplaneError, NamespaceCache
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._base import (
    FORCE_ARGUMENT_SPEC, NETNS_ARGUMENT_SPEC, STATE_ARGUMENT_SPEC,
)


def require_lib(module, name, ok, error, url=None):
    """fail_json with missing_required_lib and the import traceback when a library is missing."""
    if not ok:
        module.fail_json(msg=missing_required_lib(name, url=url), exception=error)


def require_netlink(module):
    """fail_json with missing_required_lib('pyroute2') when pyroute2 cannot be imported."""
    # imported here, not at the top: the modules that need no netlink must not load pyroute2
    from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netlink import (
        HAS_PYROUTE2, PYROUTE2_IMPORT_ERROR,
    )
    require_lib(module, 'pyroute2', HAS_PYROUTE2, PYROUTE2_IMPORT_ERROR)


def dataplane_module(config_options, extra=None, netlink=True, **kwargs):
    """An AnsibleModule for a data-plane resource module: netns, state, force, config and ``extra``.

    ``netlink``: the module's engine talks netlink, so pyroute2 must be there (checked at once).
    """
    spec = dict(NETNS_ARGUMENT_SPEC)
    spec.update(STATE_ARGUMENT_SPEC)
    spec.update(FORCE_ARGUMENT_SPEC)
    spec.update(extra or {})
    config = dict(type='list', elements='dict', default=[], options=config_options)
    config.update(kwargs.pop('config_kwargs', {}))
    spec['config'] = config
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True, **kwargs)
    if netlink:
        require_netlink(module)
    return module


def exit_result(module, result):
    """exit_json with the common result shape; ``diff`` only in diff mode, ``gathered`` only when read."""
    result = dict(result)
    diff = result.pop('diff', None)
    if module._diff and diff is not None:  # pylint: disable=protected-access
        result['diff'] = diff
    module.exit_json(**result)


def fail_error(module, exc):
    """fail_json with the engine's message; ``changed`` when a failure left something changed."""
    module.fail_json(msg=str(exc), changed=bool(getattr(exc, 'changed', False)),
                     not_undone=list(getattr(exc, 'not_undone', None) or []))


def run_engine(module, make_manager, run=None):
    """Run one data-plane task: ``make_manager(cache)`` builds the engine, its result ends the module.

    ``run(manager)`` runs the engine and returns its result; by default ``manager.run(state, config)``
    with the module's options, as every resource module does (calico_dataplane passes its sections).
    The engine's warnings become the module's. The namespaces the task entered are closed whatever happens.
    """
    cache = NamespaceCache()
    try:
        manager = make_manager(cache)
        if run is None:
            result = manager.run(module.params['state'], module.params['config'])
        else:
            result = run(manager)
        for warning in manager.warnings:
            module.warn(warning)
    except DataplaneError as exc:
        cache.close()
        fail_error(module, exc)
    cache.close()
    exit_result(module, result)


def run_reader(module, read):
    """Run a read-only data-plane task: ``read(cache)`` returns the result dict (changed false)."""
    cache = NamespaceCache()
    try:
        result = read(cache)
    except DataplaneError as exc:
        cache.close()
        fail_error(module, exc)
    cache.close()
    module.exit_json(changed=False, **result)
