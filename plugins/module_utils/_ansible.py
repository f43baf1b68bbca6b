# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one glue between the plain-Python engines and Ansible modules.

Private to the podnet.calico collection: not a public API, may change without notice.
The only module_utils file that imports Ansible: it reports missing third-party libraries with
missing_required_lib, turns engine exceptions into fail_json and ends a resource module with the
common result shape (changed, before, after, changes, gathered, diff; see dataplane/_base.py).
It also holds the argument specs of the data-plane resources' config entries (veth_spec, proxy_arp_spec,
route_spec, tunnel_spec), which the single modules and calico_dataplane's sections share.

It imports no pyroute2 of its own: a module whose engine talks netlink (dataplane/_netlink.py) has
it checked by dataplane_module (netlink=True, the default) or require_netlink; proxy_arp, which
only reads and writes /proc/sys/net, says netlink=False and never loads it.
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.podnet.calico.plugins.module_utils.calico._names import (
    HOST_MAC, OWNED_ROUTE_PROTO, VXLAN_PORT, VXLAN_VNI,
)
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


def resource_options(config_options, extra=None, config_kwargs=None):
    """A data-plane resource's options: state, force, config (entries of ``config_options``) and ``extra``,
    as a resource module takes them and as calico_dataplane's section of that resource does."""
    spec = dict(STATE_ARGUMENT_SPEC)
    spec.update(FORCE_ARGUMENT_SPEC)
    spec.update(extra or {})
    spec['config'] = dict(type='list', elements='dict', default=[], options=config_options, **(config_kwargs or {}))
    return spec


def dataplane_module(config_options, extra=None, netlink=True, **kwargs):
    """An AnsibleModule for a data-plane resource module: netns, state, force, config and ``extra``.

    ``netlink``: the module's engine talks netlink, so pyroute2 must be there (checked at once).
    """
    spec = dict(NETNS_ARGUMENT_SPEC)
    spec.update(resource_options(config_options, extra, kwargs.pop('config_kwargs', None)))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True, **kwargs)
    if netlink:
        require_netlink(module)
    return module


# The config entries of each data-plane resource, as its single module and calico_dataplane's section of it
# both take them: dataplane_module(**veth_spec()) in calico_veth, section(**veth_spec()) in calico_dataplane.
# Functions, so that every use gets dicts of its own. Keep in step with the modules' documentation.

def veth_spec():
    """calico_veth's config entries (calico_dataplane's veths)."""
    return dict(
        config_options=dict(
            workload=dict(type='str'),
            host_ifname=dict(type='str'),
            container_netns=dict(type='str'),
            container_ifname=dict(type='str', default='eth0'),
            mtu=dict(type='int'),
            host_mac=dict(type='str', default=HOST_MAC),
            addresses=dict(type='list', elements='str', default=[]),
        ),
        config_kwargs=dict(mutually_exclusive=[('workload', 'host_ifname')],
                           required_one_of=[('workload', 'host_ifname')]),
    )


def proxy_arp_spec():
    """proxy_arp's config entries (calico_dataplane's proxy_arp)."""
    return dict(config_options=dict(
        interface=dict(type='str', required=True),
        proxy_arp=dict(type='bool'),
        proxy_delay=dict(type='int'),
        forwarding=dict(type='bool'),
        route_localnet=dict(type='bool'),
        proxy_ndp=dict(type='bool'),
        accept_ra=dict(type='int'),
    ))


def route_spec():
    """calico_route's config entries and its proto option (calico_dataplane's pod_routes and routes)."""
    return dict(
        config_options=dict(
            netns=dict(type='str'),
            dst=dict(type='str', required=True),
            via=dict(type='str', aliases=['gateway']),
            dev=dict(type='str'),
            scope=dict(type='str', choices=['link', 'global', 'host']),
            onlink=dict(type='bool', default=False),
            type=dict(type='str', default='unicast', choices=['unicast', 'blackhole', 'unreachable']),
            metric=dict(type='int'),
            table=dict(type='str', default='main'),
            proto=dict(type='int'),
        ),
        extra=dict(proto=dict(type='int', default=OWNED_ROUTE_PROTO)),
    )


def tunnel_spec():
    """calico_tunnel's config entries (calico_dataplane's tunnel)."""
    return dict(
        config_options=dict(
            type=dict(type='str', required=True, choices=['vxlan', 'ipip']),
            name=dict(type='str'),
            node_name=dict(type='str'),
            mac=dict(type='str'),
            vni=dict(type='int', default=VXLAN_VNI),
            port=dict(type='int', default=VXLAN_PORT),
            address=dict(type='str'),
            mtu=dict(type='int'),
            underlay_dev=dict(type='str'),
            underlay_ip=dict(type='str'),
            peers=dict(type='list', elements='dict', options=dict(
                vtep_ip=dict(type='str', required=True),
                vtep_mac=dict(type='str', required=True),
                underlay_ip=dict(type='str', required=True),
            )),
        ),
        config_kwargs=dict(mutually_exclusive=[('node_name', 'mac')]),
    )


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
