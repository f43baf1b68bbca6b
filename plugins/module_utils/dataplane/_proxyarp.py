# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Per-interface proxy-ARP and forwarding sysctls (engine of the proxy_arp module).

Private to the podnet.calico collection: not a public API, may change without notice.
Plain Python, no Ansible imports.

Owned: interfaces named cali*. A pattern matches only those (never lo or the uplink) and an
exact other name is refused, unless ``force`` is set. Every write enters the namespace by itself,
so that the undo writes land in the same namespace.

Only namespaces and /proc: the interface names come from _netns (/proc/thread-self/net/dev read
inside the namespace, if_nametoindex for named interfaces), so this engine never imports pyroute2.
"""

import fnmatch

from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netns import DataplaneError, existing_interfaces, interface_names
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._sysctl import read_int, sysctl_path, write_in
from ansible_collections.podnet.calico.plugins.module_utils.calico._names import is_calico_host_ifname
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._base import InputError, ResourceManager, opt

#: setting -> (family, section, key, kind)
SETTINGS = {
    'proxy_arp': ('ipv4', 'conf', 'proxy_arp', bool),
    'proxy_delay': ('ipv4', 'neigh', 'proxy_delay', int),
    'forwarding': ('ipv4', 'conf', 'forwarding', bool),
    'route_localnet': ('ipv4', 'conf', 'route_localnet', bool),
    'proxy_ndp': ('ipv6', 'conf', 'proxy_ndp', bool),
    'accept_ra': ('ipv6', 'conf', 'accept_ra', int),
}
IPV4_SETTINGS = ('proxy_arp', 'proxy_delay', 'forwarding', 'route_localnet')
#: Linux defaults, used when a namespace shows no default entry to read them from.
KERNEL_DEFAULTS = {'proxy_arp': 0, 'proxy_delay': 80, 'forwarding': 0, 'route_localnet': 0, 'proxy_ndp': 0, 'accept_ra': 1}
RANGES = {'proxy_delay': (0, 2147483647), 'accept_ra': (0, 2)}


def _is_pattern(text):
    return any(c in text for c in '*?[')


class ProxyArpManager(ResourceManager):
    """Computes and applies the difference between listed interface settings and /proc/sys/net."""

    def parse(self, state, config):
        entries = []
        for i, raw in enumerate(config or []):
            raw = raw or {}
            pattern = raw.get('interface')
            if not pattern or not isinstance(pattern, str) or '/' in pattern or len(pattern) > 64:
                raise InputError('%s: %r is not an interface name or pattern' % (opt(i, 'interface'), pattern))
            if not _is_pattern(pattern):
                if len(pattern) > 15:
                    raise InputError('%s: interface name %r is %d characters long, Linux allows at most 15'
                                     % (opt(i, 'interface'), pattern, len(pattern)))
                if not is_calico_host_ifname(pattern) and state != 'gathered':
                    self.refuse_unowned(opt(i, 'interface'), 'interface %r (not named cali*)' % pattern)
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
                hits = [n for n in names if fnmatch.fnmatchcase(n, e['interface'])
                        and (self.force or is_calico_host_ifname(n))]
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
        with self.ns.entered():
            for name in names:
                current[name] = {}
                for key in keys:
                    family, section, leaf, kind = SETTINGS[key]
                    value = read_int(sysctl_path(family, section, name, leaf))
                    current[name][key] = bool(value) if kind is bool else value
        return current

    def _defaults(self, keys):
        result = {}
        with self.ns.entered():
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
                result[key] = int(value)
        return result

    def _names(self, entries=(), every=False):
        """Interface names of the namespace: when the entries name interfaces without a pattern and
        ``every`` is false, only those of them that exist (one lookup each in one visit of the namespace,
        not a read of every link)."""
        if entries and not every and not any(_is_pattern(e['interface']) for e in entries):
            return sorted(set(existing_interfaces(self.ns, sorted(set(e['interface'] for e in entries)))))
        return sorted(set(interface_names(self.ns)))

    def gather(self, entries):
        names = self._names(entries)
        wanted = self._matches(entries, names) if entries else dict((n, {}) for n in names
                                                                    if is_calico_host_ifname(n))
        keys = sorted(set(IPV4_SETTINGS) | set(k for v in wanted.values() for k in v))
        current = self._read(sorted(wanted), keys)
        return [dict(ifname=n, **current[n]) for n in sorted(current)]

    def plan(self, state, entries):
        names = self._names(entries, every=(state == 'overridden'))
        wanted = self._matches(entries, names) if entries else {}
        defaults = self._defaults(SETTINGS)
        if state == 'deleted':
            if not entries:
                wanted = dict((n, {}) for n in names if is_calico_host_ifname(n))
            target = dict((n, dict((k, defaults[k]) for k in (set(IPV4_SETTINGS) | set(v))))
                          for n, v in wanted.items())
        elif state == 'merged':
            target = wanted
        else:
            target = {}
            for n, v in wanted.items():
                target[n] = dict((k, defaults[k]) for k in IPV4_SETTINGS)
                target[n].update(v)
            if state == 'overridden':
                for n in names:
                    if is_calico_host_ifname(n) and n not in target:
                        target[n] = dict((k, defaults[k]) for k in IPV4_SETTINGS)
        keys = sorted(set(IPV4_SETTINGS) | set(k for v in target.values() for k in v))
        current = self._read(sorted(target), keys)
        items = []
        for name in sorted(target):
            old = current[name]
            new = dict(old)
            steps = []
            for key, value in sorted(target[name].items()):
                kind = SETTINGS[key][3]
                new[key] = bool(value) if kind is bool else value
                if int(old[key]) != value:
                    family, section, leaf, kind = SETTINGS[key]
                    path = sysctl_path(family, section, name, leaf)
                    dotted = 'net.%s.%s.%s.%s' % (family, section, name, leaf)
                    where = (' in %s' % self.netns) if self.netns else ''
                    steps.append(('set %s = %d (was %d)%s' % (dotted, value, int(old[key]), where),
                                  self._writer(path, value), self._writer(path, int(old[key]))))
            items.append((name, dict(ifname=name, **old), dict(ifname=name, **new), steps))
        return items

    def _writer(self, path, value):
        return lambda: write_in(self.ns, {path: value})
