# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Per-interface proxy-ARP and forwarding sysctls (engine of the proxy_arp module).

Private to the podnet.calico collection: not a public API, may change without notice.
Plain Python, no Ansible imports.
"""

import fnmatch

from ansible_collections.podnet.calico.plugins.module_utils._netlink import DataplaneError, NamespaceCache, get_links
from ansible_collections.podnet.calico.plugins.module_utils._sysctl import read_int, sysctl_path, write_value
from ansible_collections.podnet.calico.plugins.module_utils._naming import is_calico_host_ifname
from ansible_collections.podnet.calico.plugins.module_utils._dp_common import InputError, Journal, opt

#: setting -> (family, section, key, kind)
SETTINGS = {
    'proxy_arp': ('ipv4', 'conf', 'proxy_arp', bool),
    'proxy_delay': ('ipv4', 'neigh', 'proxy_delay', int),
    'forwarding': ('ipv4', 'conf', 'forwarding', bool),
    'proxy_ndp': ('ipv6', 'conf', 'proxy_ndp', bool),
    'accept_ra': ('ipv6', 'conf', 'accept_ra', int),
}
#: What Calico sets on a workload's host interface.
CALICO_VALUES = {'proxy_arp': True, 'proxy_delay': 0, 'forwarding': True}
IPV4_SETTINGS = ('proxy_arp', 'proxy_delay', 'forwarding')
#: Linux defaults, used when a namespace shows no default entry to read them from.
KERNEL_DEFAULTS = {'proxy_arp': 0, 'proxy_delay': 80, 'forwarding': 0, 'proxy_ndp': 0, 'accept_ra': 1}
RANGES = {'proxy_delay': (0, 2147483647), 'accept_ra': (0, 2)}


def _is_pattern(text):
    return any(c in text for c in '*?[')


class ProxyArpManager(object):
    """Computes and applies the difference between listed interface settings and /proc/sys/net."""

    def __init__(self, netns=None, check_mode=False, cache=None):
        self.cache = cache if cache is not None else NamespaceCache()
        self.ns = self.cache.get(netns, 'netns')
        self.check_mode = check_mode

    def parse(self, config):
        entries = []
        for i, raw in enumerate(config or []):
            raw = raw or {}
            pattern = raw.get('interface')
            if not pattern or not isinstance(pattern, str) or '/' in pattern or len(pattern) > 64:
                raise InputError('%s: %r is not an interface name or pattern' % (opt(i, 'interface'), pattern))
            if not _is_pattern(pattern) and len(pattern) > 15:
                raise InputError('%s: interface name %r is %d characters long, Linux allows at most 15'
                                 % (opt(i, 'interface'), pattern, len(pattern)))
            values = {}
            for key in SETTINGS:
                value = raw.get(key)
                if value is None:
                    continue
                low, high = RANGES.get(key, (0, 1))
                if SETTINGS[key][3] is int and (isinstance(value, bool) or not isinstance(value, int)
                                                or not low <= value <= high):
                    raise InputError('%s: %r is out of range, it must be an integer between %d and %d'
                                     % (opt(i, key), value, low, high))
                values[key] = int(value)
            entries.append({'i': i, 'interface': pattern, 'values': values})
        return entries

    def _matches(self, entries, names):
        """{ifname: {setting: wanted}} with later entries winning; exact names must exist."""
        wanted = {}
        for e in entries:
            if _is_pattern(e['interface']):
                hits = [n for n in names if fnmatch.fnmatchcase(n, e['interface'])]
            else:
                if e['interface'] not in names:
                    raise InputError('%s: there is no interface %s in %s'
                                     % (opt(e['i'], 'interface'), e['interface'], self.ns.label))
                hits = [e['interface']]
            for name in hits:
                wanted.setdefault(name, {}).update(e['values'])
        return wanted

    def _read(self, names, keys):
        current = {}
        for name in names:
            current[name] = {}
            for key in keys:
                family, section, leaf, kind = SETTINGS[key]
                value = read_int(sysctl_path(family, section, name, leaf))
                current[name][key] = bool(value) if kind is bool else value
        return current

    def _defaults(self, keys):
        result = {}
        for key in keys:
            family, section, leaf, kind = SETTINGS[key]
            try:
                value = read_int(sysctl_path(family, section, 'default', leaf))
            except DataplaneError:
                # outside the initial namespace there is no neigh/default: lo carries the table's defaults
                try:
                    value = read_int(sysctl_path(family, section, 'lo', leaf))
                except DataplaneError:
                    value = KERNEL_DEFAULTS[key]
            result[key] = bool(value) if kind is bool else value
        return result

    def run(self, state, config):
        entries = self.parse(config)
        if state in ('merged', 'overridden'):
            for e in entries:
                for key, value in CALICO_VALUES.items():
                    e['values'].setdefault(key, int(value))
        names = sorted(get_links(self.ns.ipr))
        with self.ns.entered():
            return self._run(state, entries, names)

    def _run(self, state, entries, names):
        wanted = self._matches(entries, names) if entries else {}
        if state == 'gathered':
            if not entries:
                wanted = dict((n, {}) for n in names if is_calico_host_ifname(n))
            keys = sorted(set(IPV4_SETTINGS) | set(k for v in wanted.values() for k in v))
            current = self._read(sorted(wanted), keys)
            return {'changed': False, 'interfaces': [dict(ifname=n, **current[n]) for n in sorted(current)]}
        if state == 'deleted':
            if not entries:
                wanted = dict((n, {}) for n in names if is_calico_host_ifname(n))
            keys = set(IPV4_SETTINGS) | set(k for v in wanted.values() for k in v)
            defaults = self._defaults(keys)
            target = dict((n, dict((k, int(defaults[k])) for k in (set(IPV4_SETTINGS) | set(v))))
                          for n, v in wanted.items())
        else:
            target = wanted
            if state == 'overridden':
                defaults = self._defaults(IPV4_SETTINGS)
                for n in names:
                    if is_calico_host_ifname(n) and n not in target:
                        target[n] = dict((k, int(defaults[k])) for k in IPV4_SETTINGS)
        keys = sorted(set(k for v in target.values() for k in v))
        current = self._read(sorted(target), keys)
        writes = []
        for name in sorted(target):
            for key, value in sorted(target[name].items()):
                if int(current[name][key]) != value:
                    family, section, leaf, kind = SETTINGS[key]
                    writes.append((name, key, sysctl_path(family, section, name, leaf), value, current[name][key]))
        journal = Journal()
        if not self.check_mode:
            try:
                for name, key, path, value, old in writes:
                    write_value(path, value)
                    journal.add(write_value, path, int(old))
            except DataplaneError as exc:
                problems = journal.rollback()
                raise DataplaneError('%s%s' % (exc, '; undoing the earlier writes failed: ' + '; '.join(problems)
                                               if problems else '; the earlier writes of this run were undone'))
        before, after, interfaces = {}, {}, []
        changed_names = set(w[0] for w in writes)
        for name in sorted(target):
            old = current[name]
            new = dict(old)
            for key, value in target[name].items():
                new[key] = bool(value) if SETTINGS[key][3] is bool else value
            interfaces.append({'ifname': name, 'before': old, 'after': new, 'changed': name in changed_names})
            if name in changed_names:
                before[name] = old
                after[name] = new
        return {'changed': bool(writes), 'interfaces': interfaces, 'diff': {'before': before, 'after': after}}
