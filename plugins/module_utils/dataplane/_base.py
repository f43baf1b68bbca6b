# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The resource-manager base of the data-plane engines: input checks, undo journal, one result shape.

Private to the podnet.calico collection: not a public API, may change without notice.
Plain Python, no Ansible imports. Keep NETNS_ARGUMENT_SPEC in step with the doc fragment
plugins/doc_fragments/netns.py and FORCE_ARGUMENT_SPEC with plugins/doc_fragments/force.py.

The rules every engine follows (docs/modules.md):

- validate everything before the first change: ``parse`` and ``plan`` read and check, only
  ``apply`` changes the kernel;
- the journal records every change, deletes and attribute repairs included, with the step that
  undoes it; on a failure it undoes them in reverse and the error says exactly what could not be
  undone; a change that cannot be undone (removing a veth) runs last, once everything else worked;
- an object is acted on only with our mark (the cali prefix, our route protocol, our device names)
  unless the user names it and sets ``force``;
- a read-only run (gathered, check mode) writes nothing.

The result of every resource module (calico_veth, calico_route, calico_tunnel, proxy_arp, and
calico_ipam with its own objects):

- ``changed``: whether anything was changed (or would be, in check mode), also when a failure left
  something changed that could not be undone;
- ``before``: list of the objects the task is about (the listed ones and those it removes), as
  they were; ``after``: the same objects after the task (predicted in check mode), absent ones left out;
- ``changes``: one human-readable line per kernel change, in the order they were made (would be
  made, in check mode);
- ``gathered``: only with state gathered, the objects read;
- ``diff``: ``{before, after}`` dicts of the changed objects keyed by their name (diff mode).
"""

import ipaddress

from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netns import DataplaneError, NamespaceCache
from ansible_collections.podnet.calico.plugins.module_utils.calico._names import NamingError, validate_ifname

STATES = ['merged', 'replaced', 'overridden', 'deleted', 'gathered']

#: The options every data-plane module has (the doc fragment podnet.calico.netns).
NETNS_ARGUMENT_SPEC = {
    'netns': {'type': 'str'},
}

STATE_ARGUMENT_SPEC = {
    'state': {'type': 'str', 'default': 'merged', 'choices': STATES},
}

#: The ownership override (the doc fragment podnet.calico.force).
FORCE_ARGUMENT_SPEC = {
    'force': {'type': 'bool', 'default': False},
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


def unusable_address_reason(ip, gateway):
    """Why ``ip`` cannot be a pod's or tunnel's address, or None when it can."""
    if ip.is_unspecified:
        return 'the unspecified address'
    if ip.is_loopback:
        return 'a loopback address'
    if str(ip) == gateway:
        return "the pods' gateway"
    if ip.is_link_local:
        return 'a link-local address'
    if ip.is_multicast:
        return 'a multicast address'
    if ip.version == 4 and (ip == ipaddress.ip_address('255.255.255.255') or ip.is_reserved):
        return 'the broadcast address or a reserved (240.0.0.0/4) address'
    return None


def check_pod_address(value, option, gateway):
    """check_host_cidr, refusing addresses no workload can have (0.0.0.0, 127/8, the gateway, ...)."""
    cidr = check_host_cidr(value, option)
    reason = unusable_address_reason(ipaddress.ip_interface(cidr).ip, gateway)
    if reason:
        raise InputError('%s: %r is %s, not an address a workload or tunnel can have' % (option, value, reason))
    return cidr


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
    """Every change of a run, in order, each with the step that undoes it.

    ``do(text, action, undo)`` records ``text`` in ``changes`` and, outside check mode, runs
    ``action()`` and then remembers ``undo`` (a callable, or None for a change that cannot be undone).
    ``last(text, action)`` keeps a change that cannot be undone for ``commit()``, after every other
    change worked. ``rollback()`` runs the undo steps in reverse.
    """

    def __init__(self, check_mode=False):
        self.check_mode = check_mode
        self.changes = []
        #: the ``tag`` of each entry of ``changes`` (a journal shared by several engines: their names)
        self.tags = []
        self.tag = None
        self._done = []
        self._last = []

    def _record(self, text, tag):
        self.changes.append(text)
        self.tags.append(tag)

    def do(self, text, action, undo=None):
        if self.check_mode:
            self._record(text, self.tag)
            return None
        result = action()
        self._record(text, self.tag)
        self._done.append((text, undo))
        return result

    def last(self, text, action):
        """A change that cannot be undone: run at commit(), after all the others succeeded."""
        if self.check_mode:
            self._record(text, self.tag)
        else:
            self._last.append((text, action, self.tag))

    def commit(self):
        while self._last:
            text, action, tag = self._last.pop(0)
            self.tag = tag  # a failure here is reported under the tag of the step that failed
            action()
            self._record(text, tag)
            self._done.append((text, None))

    def changes_of(self, tag):
        """The changes recorded under ``tag``, in order."""
        return [text for text, t in zip(self.changes, self.tags) if t == tag]

    @property
    def changed(self):
        return bool(self.changes)

    def rollback(self):
        """Undo everything done, newest first; returns (undone, not_undone) lists of change texts."""
        undone, left = [], []
        self._last = []
        while self._done:
            text, undo = self._done.pop()
            if undo is None:
                left.append('%s (cannot be undone)' % text)
                continue
            try:
                undo()
                undone.append(text)
            except Exception as exc:  # pylint: disable=broad-except
                left.append('%s (undoing it failed: %s)' % (text, exc))
        return undone, left


class RunFailed(DataplaneError):
    """A failure in the middle of a run, after the rollback; ``changed`` says whether anything stayed."""

    def __init__(self, msg, changed, not_undone):
        super(RunFailed, self).__init__(msg)
        self.changed = changed
        self.not_undone = not_undone


def fail_with_rollback(journal, exc):
    """Roll back and raise RunFailed telling what failed and exactly what could not be undone."""
    undone, left = journal.rollback()
    text = str(exc)
    if left:
        text += '; NOT undone: ' + '; '.join(left)
        if undone:
            text += '; undone: %d other change(s)' % len(undone)
    elif undone:
        text += '; every change this run had made was undone (%d)' % len(undone)
    else:
        text += '; nothing had been changed'
    raise RunFailed(text, bool(left), left)


class ResourceManager(object):
    """Base of the data-plane engines: parse -> plan -> apply (with the journal) -> result.

    A subclass implements ``parse(state, config)`` (every check, no change), ``gather(entries)``
    (the objects for state gathered) and ``plan(state, entries)``, which returns a list of
    ``(key, before, predicted_after, steps)`` where a step is ``(text, action, undo)``, or
    ``(text, action, None, 'last')`` for a change that cannot be undone (run after all the others),
    and may implement ``read_after(key, predicted)`` for the object as the kernel has it after the run. All reading happens in parse and plan, so a bad entry
    is found before the first change.
    """

    STATES = STATES

    def __init__(self, netns=None, check_mode=False, cache=None, force=False):
        self.cache = cache if cache is not None else NamespaceCache()
        self.ns = self.cache.get(netns, 'netns')
        self.netns = netns
        self.check_mode = check_mode
        self.force = bool(force)
        self.warnings = []

    # the subclass's part
    def parse(self, state, config):
        raise NotImplementedError

    def gather(self, entries):
        raise NotImplementedError

    def plan(self, state, entries):
        raise NotImplementedError

    def read_after(self, key, predicted):
        return predicted

    # the common part
    def prepare(self, state, config):
        """Check the input and read the kernel: the result of a gathered run, or the plan's items.

        Returns ``(gathered_result, None)`` for state gathered, else ``(None, items)``; changes nothing.
        """
        if state not in self.STATES:
            raise InputError('state: %r is not one of %s' % (state, ', '.join(self.STATES)))
        entries = self.parse(state, config)
        return self.plan_entries(state, entries)

    def plan_entries(self, state, entries):
        """The second half of ``prepare``, for entries ``parse`` already checked."""
        if state == 'gathered':
            gathered = self.gather(entries)
            return {'changed': False, 'before': gathered, 'after': gathered, 'changes': [], 'gathered': gathered,
                    'diff': {'before': {}, 'after': {}}}, None
        return None, self.plan(state, entries)

    @staticmethod
    def queue(items, journal):
        """Hand the plan's steps to ``journal`` (run now, or at commit for those that cannot be undone)."""
        for key, before, after, steps in items:
            for step in steps:
                text, action, undo = step[:3]
                if len(step) > 3 and step[3] == 'last':
                    journal.last(text, action)
                else:
                    journal.do(text, action, undo)

    def report(self, items, changes):
        """The result of a run whose ``changes`` (texts) the journal recorded, once it committed."""
        before_list, after_list, diff_before, diff_after = [], [], {}, {}
        for key, before, after, steps in items:
            if not self.check_mode and steps and after is not None:
                after = self.read_after(key, after)
            if before is not None:
                before_list.append(before)
            if after is not None:
                after_list.append(after)
            if steps:
                diff_before[key] = before
                diff_after[key] = after
        return {'changed': bool(changes), 'before': before_list, 'after': after_list,
                'changes': list(changes), 'diff': {'before': diff_before, 'after': diff_after}}

    def run(self, state, config):
        gathered, items = self.prepare(state, config)
        if gathered is not None:
            return gathered
        journal = Journal(self.check_mode)
        try:
            self.queue(items, journal)
            journal.commit()
        except DataplaneError as exc:
            fail_with_rollback(journal, exc)
        return self.report(items, journal.changes)

    def refuse_unowned(self, option, what):
        """Raise unless force: ``what`` (a phrase) lacks our mark."""
        if not self.force:
            raise InputError('%s: %s does not carry our mark; not touching it (set force: true to act on it '
                             'anyway)' % (option, what))
