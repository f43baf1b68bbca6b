# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of CNI network configuration lists and plugin VERSION answers; the plugins' install plan."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.podnet.calico.plugins.module_utils.calico._cniconf import (
    CniConfError, build_from_settings, calico_conflist,
)
from ansible_collections.podnet.calico.plugins.module_utils.cluster._cni_versions import version_errors

_NAME_RE = re.compile(r'^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$')
_VERSION_RE = re.compile(r'^\d+\.\d+\.\d+$')


def cni_plugins_conflist_errors(conflist):
    """Return the problems of a CNI network configuration list (JSON text or parsed)."""
    if isinstance(conflist, str):
        try:
            conflist = json.loads(conflist)
        except ValueError as exc:
            return ['not valid JSON: %s' % exc]
    if not isinstance(conflist, Mapping):
        return ['the configuration list must be a JSON object']
    errors = []
    version = conflist.get('cniVersion')
    if not isinstance(version, str) or not _VERSION_RE.match(version):
        errors.append('cniVersion must be a version string like "0.3.1", got %r' % (version,))
    name = conflist.get('name')
    if not isinstance(name, str) or not _NAME_RE.match(name):
        errors.append('name must be a string of letters, digits, "_", "." and "-", got %r' % (name,))
    plugins = conflist.get('plugins')
    if not isinstance(plugins, list) or not plugins:
        errors.append('plugins must be a non-empty list')
        plugins = []
    for index, plugin in enumerate(plugins):
        if not isinstance(plugin, Mapping):
            errors.append('plugins[%d] must be an object' % index)
        elif not isinstance(plugin.get('type'), str) or not plugin.get('type'):
            errors.append('plugins[%d] has no "type"' % index)
    return errors


def cni_plugins_version_errors(answers, cni_version='0.3.1', minimums=None, required=None):
    """Check plugins' answers to CNI_COMMAND=VERSION (module_utils.cluster._cni_versions.version_errors).

    answers maps a plugin name to its stdout. Every plugin must answer with JSON whose
    supportedVersions holds cni_version (only the plugins named in required, when given);
    minimums maps a plugin name to the lowest CNI
    version it must support at least (for example loopback >= 0.2.0).
    """
    if not isinstance(answers, Mapping):
        raise AnsibleFilterError('cni_plugins_version_errors expects a dictionary plugin -> output')
    try:
        return version_errors(dict(answers), cni_version, minimums, required)
    except ValueError as exc:
        raise AnsibleFilterError('cni_plugins_version_errors: %s' % exc) from None


_CONFLIST_KEYS = ('datastore', 'mtu', 'nodename', 'conf_dir', 'etcd_endpoints', 'etcd_tls', 'log_level',
                  'log_file_path', 'ipam', 'portmap', 'bandwidth', 'network_name', 'cni_version', 'kubeconfig_name')


def cni_plugins_calico_conflist(settings):
    """Calico's CNI config list for one node, built by module_utils.calico._cniconf."""
    try:
        return build_from_settings('cni_plugins_calico_conflist', calico_conflist, settings, _CONFLIST_KEYS,
                                   prepare=_booleans)
    except CniConfError as exc:
        raise AnsibleFilterError(str(exc)) from None


def _booleans(kwargs):
    for key in ('etcd_tls', 'portmap', 'bandwidth'):
        if key in kwargs:
            kwargs[key] = _boolean(key, kwargs[key])
    return kwargs


def _boolean(key, value):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ('true', 'yes', 'on', '1'):
        return True
    if text in ('false', 'no', 'off', '0', ''):
        return False
    raise CniConfError('%s must be a boolean, got %r' % (key, value))


_INSTALL_MODES = ('copy', 'link')


def cni_plugins_install_plan(reference, bin_dir, package_dir, mode='copy', podnet=None, expected=None, package=None):
    """The files and links of the cni_plugins install task: {'files': [...], 'links': [...]} for node_files.

    reference: the reference plugins found in package_dir, copied into bin_dir (mode copy) or linked
    there (mode link); podnet: the text of the collection's plugin (the cni_executable lookup), written
    as bin_dir/calico (mode 0755, diff false) with bin_dir/calico-ipam a link to it, or None for none.
    expected: the plugins that must be among reference (an error names those that are not, and package,
    the package that should have put them there), or None for no such check.
    """
    if isinstance(reference, (str, bytes, Mapping)) or not all(isinstance(name, str) for name in reference):
        raise AnsibleFilterError('cni_plugins_install_plan: the input must be a list of plugin names, got %r'
                                 % (reference,))
    for key, value in (('bin_dir', bin_dir), ('package_dir', package_dir)):
        if not isinstance(value, str) or not value:
            raise AnsibleFilterError('cni_plugins_install_plan: %s must be a directory, got %r' % (key, value))
    if mode not in _INSTALL_MODES:
        raise AnsibleFilterError('cni_plugins_install_plan: mode must be one of %s, got %r'
                                 % (', '.join(_INSTALL_MODES), mode))
    if podnet is not None and not isinstance(podnet, str):
        raise AnsibleFilterError('cni_plugins_install_plan: podnet must be the text of the plugin or none, got a %s'
                                 % type(podnet).__name__)
    if expected is not None:
        if isinstance(expected, (str, bytes, Mapping)):
            raise AnsibleFilterError('cni_plugins_install_plan: expected must be a list of plugin names, got %r' % (expected,))
        missing = [name for name in expected if name not in reference]
        if missing:
            raise AnsibleFilterError('%s not found in %s%s.' % (', '.join(missing), package_dir,
                                                                ' (package %s)' % package if package else ''))
    files = []
    links = []
    for name in reference:
        if mode == 'copy':
            files.append({'path': bin_dir + '/' + name, 'src': package_dir + '/' + name, 'mode': '0755'})
        else:
            links.append({'path': bin_dir + '/' + name, 'target': package_dir + '/' + name})
    if podnet is not None:
        files.append({'path': bin_dir + '/calico', 'mode': '0755', 'diff': False, 'content': podnet})
        links.append({'path': bin_dir + '/calico-ipam', 'target': 'calico'})
    return {'files': files, 'links': links}


class FilterModule:
    """Filters of the cni_plugins role."""

    def filters(self):
        return {
            'cni_plugins_calico_conflist': cni_plugins_calico_conflist,
            'cni_plugins_conflist_errors': cni_plugins_conflist_errors,
            'cni_plugins_install_plan': cni_plugins_install_plan,
            'cni_plugins_version_errors': cni_plugins_version_errors,
        }
