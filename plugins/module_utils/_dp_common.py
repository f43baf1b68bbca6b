# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Shared pieces of the data-plane modules: option specs, input checks, undo journal.

Private to the podnet.calico collection: not a public API, may change without notice.
Plain Python, no Ansible imports. Keep NETNS_ARGUMENT_SPEC in step with the doc fragment
plugins/doc_fragments/netns.py.
"""

import ipaddress

from ansible_collections.podnet.calico.plugins.module_utils._netlink import DataplaneError, NamespaceCache
from ansible_collections.podnet.calico.plugins.module_utils._naming import NamingError, validate_ifname

#: Route protocol number marking the routes this collection owns (see docs/modules.md).
#: Not used by the kernel (2), boot (3), static (4), BIRD (12), Felix (80) or the routing daemons
#: listed in iproute2's rt_protos.
OWNED_ROUTE_PROTO = 201

STATES = ['merged', 'overridden', 'deleted', 'gathered']

#: The options every data-plane module has (the doc fragment podnet.calico.netns).
NETNS_ARGUMENT_SPEC = {
    'netns': {'type': 'str'},
}

STATE_ARGUMENT_SPEC = {
    'state': {'type': 'str', 'default': 'merged', 'choices': STATES},
}


class InputError(DataplaneError):
    """Bad input; the message names the option and the value."""


def opt(index, key, parent='config'):
    return '%s[%d].%s' % (parent, index, key)


def check_ifname(name, option):
    try:
        return validate_ifname(name)
    except NamingError as exc:
        raise InputError('%s: %s' % (option, exc))


def check_mtu(value, option, low=68, high=65535):
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InputError('%s: MTU %r is out of range, it must be between %d and %d' % (option, value, low, high))
    return value


def check_ip(value, option, version=None):
    try:
        ip = ipaddress.ip_address(str(value).strip())
    except ValueError:
        raise InputError('%s: %r is not an IP address' % (option, value))
    if version is not None and ip.version != version:
        raise InputError('%s: %r is not an IPv%d address' % (option, value, version))
    return ip


def check_host_cidr(value, option):
    """An address for a workload or tunnel: bare or with the host prefix (/32, /128)."""
    text = str(value).strip()
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError:
        raise InputError('%s: %r is not an IP address or address/prefix' % (option, value))
    full = 32 if iface.version == 4 else 128
    if '/' in text and iface.network.prefixlen != full:
        raise InputError('%s: %r must be a host address (/%d), Calico gives workloads and tunnels single '
                         'addresses' % (option, value, full))
    return '%s/%d' % (iface.ip, full)


def check_network(value, option):
    """A destination: 'default' or a CIDR without host bits."""
    text = str(value).strip()
    if text == 'default':
        return ipaddress.ip_network('0.0.0.0/0')
    if text == 'default6':
        return ipaddress.ip_network('::/0')
    try:
        return ipaddress.ip_network(text)
    except ValueError:
        pass
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InputError('%s: %r is not an IP network (expected a.b.c.d/nn, an address, or default)' % (option, value))
    raise InputError('%s: %r has host bits set, did you mean %s?' % (option, value, net))


class Journal(object):
    """Undo steps for what a task run changed, replayed in reverse when a later step fails."""

    def __init__(self):
        self._undo = []

    def add(self, func, *args, **kwargs):
        self._undo.append((func, args, kwargs))

    def rollback(self):
        """Undo everything; returns the texts of undo steps that failed themselves."""
        problems = []
        while self._undo:
            func, args, kwargs = self._undo.pop()
            try:
                func(*args, **kwargs)
            except Exception as exc:  # pylint: disable=broad-except
                problems.append(str(exc))
        return problems

    def forget(self):
        self._undo = []


def fail_with_rollback(journal, exc):
    """Roll back and raise DataplaneError telling what failed and whether the rollback was clean."""
    problems = journal.rollback()
    text = str(exc)
    if problems:
        text += '; rolling back this run also failed: ' + '; '.join(problems)
    else:
        text += '; everything this run had changed was undone'
    raise DataplaneError(text)


def run_resource_module(module, make_manager):
    """Run one data-plane resource task and end it with the module's exit_json or fail_json.

    ``module`` is the module's AnsibleModule, used only through its methods and params (this file
    stays free of Ansible imports); ``make_manager(cache)`` builds the manager for the task. The
    namespaces the task entered are closed whatever happens.
    """
    cache = NamespaceCache()
    try:
        manager = make_manager(cache)
        result = manager.run(module.params['state'], module.params['config'])
        for warning in getattr(manager, 'warnings', None) or []:
            module.warn(warning)
    except DataplaneError as exc:
        module.fail_json(msg=str(exc))
    finally:
        cache.close()
    diff = result.pop('diff', None)
    if module._diff and diff is not None:  # pylint: disable=protected-access
        result['diff'] = diff
    module.exit_json(**result)
