# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A node's whole data plane in one run, on one journal (engine of the calico_dataplane module).

Private to the podnet.calico collection: not a public API, may change without notice.
Plain Python, no Ansible imports.

The sections, in the order they are applied: ``forwarding`` (ip_forward and its sysctl file),
``veths`` (VethManager), ``proxy_arp`` (ProxyArpManager), ``pod_routes`` (RouteManager),
``tunnel`` (TunnelManager), ``routes`` (RouteManager). Each is ``{state, config, ...}`` as the
single module of that engine takes it (``forwarding`` is ``{ip_forward, sysctl_file}``).

- Every section's input is checked (``parse``) before the first change.
- A section is planned (it reads the kernel) only once the sections before it were applied, so it
  sees what they built (the veths' host ends for the routes, the tunnel device for the routes through
  it). In check mode nothing is applied: the links the veths and tunnel sections would create are
  handed to the route sections, which plan routes through them instead of refusing them.
- All sections record their changes in ONE journal: a failure in any section (its planning or a
  kernel refusal) undoes the changes of every section before it and of its own, newest first, and
  the error says exactly what could not be undone. The changes that cannot be undone (removing a
  stale or set-aside veth) run last, after every section worked.
- Error messages name the section's option (``routes.config[2].via: ...``).
"""

import re

from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netns import DataplaneError
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._base import (
    InputError, Journal, fail_with_rollback,
)
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._forwarding import ForwardingManager
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._proxyarp import ProxyArpManager
from ansible_collections.podnet.calico.plugins.module_utils.calico._names import OWNED_ROUTE_PROTO

#: the sections in the order they are applied
SECTIONS = ('forwarding', 'veths', 'proxy_arp', 'pod_routes', 'tunnel', 'routes')
#: the sections whose engines talk netlink (pyroute2); forwarding and proxy_arp need none
NETLINK_SECTIONS = ('veths', 'pod_routes', 'tunnel', 'routes')

_OPTION_FIRST = re.compile(r'^(config|state|proto|force|ip_forward|sysctl_file)\b')


def section_message(section, exc):
    """The engine's message with the section in front: ``routes.config[1].dst: ...`` or ``routes: ...``."""
    text = str(exc)
    if text.startswith(section + '.') or text.startswith(section + ':'):
        return text
    if _OPTION_FIRST.match(text):
        return '%s.%s' % (section, text)
    return '%s: %s' % (section, text)


def section_error(section, exc):
    """The same kind of error (InputError stays InputError), its message naming the section."""
    kind = InputError if isinstance(exc, InputError) else DataplaneError
    return kind(section_message(section, exc))


def _make_manager(section, spec, netns, check_mode, cache):
    force = bool(spec.get('force'))
    if section == 'forwarding':
        return ForwardingManager(netns, check_mode, cache)
    if section == 'proxy_arp':
        return ProxyArpManager(netns, check_mode, cache, force)
    # the netlink engines are imported only when a netlink section is given (they load pyroute2)
    if section == 'veths':
        from ansible_collections.podnet.calico.plugins.module_utils.dataplane._veth import VethManager
        return VethManager(netns, check_mode, cache, force)
    if section == 'tunnel':
        from ansible_collections.podnet.calico.plugins.module_utils.dataplane._tunnel import TunnelManager
        return TunnelManager(netns, check_mode, cache, force)
    from ansible_collections.podnet.calico.plugins.module_utils.dataplane._route import RouteManager
    proto = spec.get('proto')
    return RouteManager(netns, check_mode, cache, OWNED_ROUTE_PROTO if proto is None else proto, force)


class NodeDataplane(object):
    """Apply the given sections in order on one journal; ``run`` returns the module's result."""

    def __init__(self, netns=None, check_mode=False, cache=None):
        self.netns = netns
        self.check_mode = check_mode
        self.cache = cache
        self.node = cache.get(netns, 'netns')
        self.warnings = []

    def _parse(self, sections):
        """Every given section's manager, state and checked entries, before any change."""
        parsed = []
        for section in SECTIONS:
            spec = sections.get(section)
            if spec is None:
                continue
            try:
                manager = _make_manager(section, spec, self.netns, self.check_mode, self.cache)
                if section == 'forwarding':
                    state, config = 'merged', spec
                else:
                    state = spec.get('state') or 'merged'
                    config = spec.get('config') or []
                    if state not in manager.STATES:
                        raise InputError('state: %r is not one of %s' % (state, ', '.join(manager.STATES)))
                entries = manager.parse(state, config)
            except DataplaneError as exc:
                raise section_error(section, exc)
            parsed.append((section, manager, state, entries))
        return parsed

    def _expected_links(self, section, manager, items):
        """(namespace inode, name) of the links a check-mode section would create."""
        links = set()
        for key, before, after, steps in items:
            if not steps or after is None:
                continue
            if section == 'veths':
                links.add((self.node.inode, key))
                entry = manager._entries.get(key)  # pylint: disable=protected-access
                if entry is not None and entry.get('cns') is not None:
                    links.add((entry['cns'].inode, entry['container_ifname']))
            elif section == 'tunnel':
                links.add((self.node.inode, key))
        return links

    def run(self, sections):
        parsed = self._parse(sections)
        journal = Journal(self.check_mode)
        planned, results, expected = [], {}, set()
        section = None
        try:
            for section, manager, state, entries in parsed:
                journal.tag = section
                if hasattr(manager, 'expected_links'):
                    manager.expected_links = set(expected)
                gathered, items = manager.plan_entries(state, entries)
                if gathered is not None:
                    results[section] = gathered
                    continue
                if self.check_mode and section in ('veths', 'tunnel'):
                    expected |= self._expected_links(section, manager, items)
                manager.queue(items, journal)
                planned.append((section, manager, items))
            journal.commit()
        except DataplaneError as exc:
            fail_with_rollback(journal, section_error(journal.tag or section or 'netns', exc))
        diffs = []
        for section, manager, items in planned:
            result = manager.report(items, journal.changes_of(section))
            diff = result.pop('diff')
            if diff['before'] or diff['after']:
                diffs.append({'before_header': '%s (before)' % section, 'after_header': '%s (after)' % section,
                              'before': diff['before'], 'after': diff['after']})
            if section == 'forwarding' and manager.file_diff is not None:
                diffs.append(manager.file_diff)
            results[section] = result
            self.warnings.extend('%s: %s' % (section, w) for w in manager.warnings)
        for section, manager, state, entries in parsed:
            if state == 'gathered':
                self.warnings.extend('%s: %s' % (section, w) for w in manager.warnings)
        results['changed'] = journal.changed
        results['diff'] = diffs
        return results
