# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Calico's CNI network configuration list, built in one place (private to the collection).

Two faces of the same list:

- ``calico_conflist(...)``: the list a node uses, with real values (the cni_plugins role writes it
  where calico-node's install-cni does not run, and our CNI plugin reads these fields);
- ``calico_conflist_template(...)``: the ``cni_network_config`` of the manifest, with the
  placeholders calico/cni's install-cni container replaces on each node.  After install-cni's
  substitutions both give the same list for the same settings.

Facts used (Calico v3.29 install-cni): it replaces ``__KUBERNETES_NODE_NAME__`` (env
KUBERNETES_NODE_NAME), ``__CNI_MTU__`` (env CNI_MTU, as raw text: the placeholder must not be
quoted, the plugin wants a number), ``__KUBECONFIG_FILEPATH__`` (``$CNI_NET_DIR/calico-kubeconfig``),
``__ETCD_ENDPOINTS__`` (env ETCD_ENDPOINTS) and ``__ETCD_CERT_FILE__``, ``__ETCD_KEY_FILE__``,
``__ETCD_CA_CERT_FILE__`` (``$CNI_NET_DIR/calico-tls/etcd-cert`` ... when the Secret holds that file,
else the empty string).  Plain Python: no Ansible import.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

NETWORK_NAME = 'k8s-pod-network'
CNI_VERSION = '0.3.1'
CONFLIST_NAME = '10-calico.conflist'
CONF_DIR = '/etc/cni/net.d'
KUBECONFIG_NAME = 'calico-kubeconfig'
TLS_DIR_NAME = 'calico-tls'
LOG_FILE_PATH = '/var/log/calico/cni/cni.log'
LOG_LEVELS = ('debug', 'info', 'warning', 'error', 'fatal', 'panic')
# Our datastore names -> the CNI plugin's datastore_type.
DATASTORE_TYPES = {'kubernetes': 'kubernetes', 'etcd': 'etcdv3'}
# The etcd TLS files: conflist field -> file name in <conf dir>/calico-tls (install-cni's names).
ETCD_TLS_FILES = (('etcd_cert_file', 'etcd-cert'), ('etcd_key_file', 'etcd-key'), ('etcd_ca_cert_file', 'etcd-ca'))

# install-cni's placeholders.
PLACEHOLDER_NODENAME = '__KUBERNETES_NODE_NAME__'
PLACEHOLDER_MTU = '__CNI_MTU__'
PLACEHOLDER_KUBECONFIG = '__KUBECONFIG_FILEPATH__'
PLACEHOLDER_ETCD_ENDPOINTS = '__ETCD_ENDPOINTS__'
PLACEHOLDER_ETCD = {'etcd_cert_file': '__ETCD_CERT_FILE__', 'etcd_key_file': '__ETCD_KEY_FILE__',
                    'etcd_ca_cert_file': '__ETCD_CA_CERT_FILE__'}

MTU_MIN = 576
MTU_MAX = 65535
_NODENAME_RE = re.compile(r'^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')


class CniConfError(ValueError):
    """A setting of the CNI configuration is invalid; the message names it and its value."""


def build_from_settings(caller, builder, settings, allowed, prepare=None):
    """``builder(**settings)`` for a filter named ``caller``: settings must be a mapping whose keys are
    all in ``allowed``; ``prepare`` may convert the keyword arguments first. Every problem is a
    CniConfError whose message starts with ``caller``."""
    if not isinstance(settings, Mapping):
        raise CniConfError('%s expects a dictionary of settings, got %s' % (caller, type(settings).__name__))
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise CniConfError('%s: unknown settings %s' % (caller, ', '.join(unknown)))
    kwargs = dict(settings)
    try:
        if prepare is not None:
            kwargs = prepare(kwargs)
        return builder(**kwargs)
    except CniConfError as exc:
        raise CniConfError('%s: %s' % (caller, exc))


def _datastore_type(datastore):
    if datastore not in DATASTORE_TYPES:
        raise CniConfError('datastore must be one of %s, got %r' % (', '.join(sorted(DATASTORE_TYPES)), datastore))
    return DATASTORE_TYPES[datastore]


def _mtu(value):
    if isinstance(value, bool):
        raise CniConfError('mtu must be an integer, got %r' % (value,))
    try:
        mtu = int(str(value).strip())
    except (TypeError, ValueError):
        raise CniConfError('mtu must be an integer, got %r' % (value,)) from None
    if not MTU_MIN <= mtu <= MTU_MAX:
        raise CniConfError('mtu must be between %d and %d, got %r' % (MTU_MIN, MTU_MAX, value))
    return mtu


def _nodename(value):
    if not isinstance(value, str) or not value:
        raise CniConfError('nodename must be the Kubernetes node name, got %r' % (value,))
    if len(value) > 253 or not _NODENAME_RE.match(value):
        raise CniConfError('nodename must be a Kubernetes node name (lowercase DNS subdomain), got %r' % (value,))
    return value


def _log_level(value):
    if not isinstance(value, str) or value.lower() not in LOG_LEVELS:
        raise CniConfError('log_level must be one of %s, got %r' % (', '.join(LOG_LEVELS), value))
    return value.lower()


def _endpoints(value):
    if value is None:
        items = []
    elif isinstance(value, str):
        items = [part.strip() for part in value.split(',') if part.strip()]
    else:
        items = [str(part).strip() for part in value if str(part).strip()]
    if not items:
        raise CniConfError('etcd_endpoints must name at least one endpoint for the etcd datastore, got %r' % (value,))
    for item in items:
        if not item.startswith(('http://', 'https://')):
            raise CniConfError('etcd endpoint %r in etcd_endpoints must start with http:// or https://' % item)
    return ','.join(items)


def _ipam(ipam):
    ipam = dict(ipam or {})
    unknown = sorted(set(ipam) - {'type', 'assign_ipv4', 'ipv4_pools'})
    if unknown:
        raise CniConfError('ipam takes type, assign_ipv4 and ipv4_pools, got %s' % ', '.join(unknown))
    out = {'type': ipam.get('type') or 'calico-ipam'}
    if not isinstance(out['type'], str):
        raise CniConfError('ipam.type must be a plugin name, got %r' % (out['type'],))
    if ipam.get('assign_ipv4') is not None:
        value = ipam['assign_ipv4']
        text = str(value).lower()
        if text not in ('true', 'false'):
            raise CniConfError('ipam.assign_ipv4 must be true or false, got %r' % (value,))
        # Calico's IPAM config reads this field as a string.
        out['assign_ipv4'] = text
    if ipam.get('ipv4_pools'):
        pools = ipam['ipv4_pools']
        if isinstance(pools, str) or not all(isinstance(pool, str) and pool for pool in pools):
            raise CniConfError('ipam.ipv4_pools must be a list of pool CIDRs or names, got %r' % (pools,))
        out['ipv4_pools'] = list(pools)
    return out


def _chained(portmap, bandwidth):
    plugins = []
    if portmap:
        plugins.append({'type': 'portmap', 'snat': True, 'capabilities': {'portMappings': True}})
    if bandwidth:
        plugins.append({'type': 'bandwidth', 'capabilities': {'bandwidth': True}})
    return plugins


def chained_plugin_types(portmap=True, bandwidth=True):
    """The plugin types the list calls besides calico and its IPAM plugin."""
    return [plugin['type'] for plugin in _chained(portmap, bandwidth)]


def _wrap(calico, portmap, bandwidth, network_name, cni_version):
    return {'name': network_name, 'cniVersion': cni_version,
            'plugins': [calico] + _chained(portmap, bandwidth)}


def calico_conflist(datastore='kubernetes', mtu=1440, nodename=None, conf_dir=CONF_DIR, etcd_endpoints=None,
                    etcd_tls=False, log_level='info', log_file_path=LOG_FILE_PATH, ipam=None, portmap=True,
                    bandwidth=True, network_name=NETWORK_NAME, cni_version=CNI_VERSION,
                    kubeconfig_name=KUBECONFIG_NAME):
    """Return the conflist a node uses, as a dictionary, with real values.

    The kubeconfig and the etcd TLS files sit in conf_dir as install-cni puts them
    (<conf_dir>/calico-kubeconfig unless kubeconfig_name says otherwise, <conf_dir>/calico-tls/etcd-*);
    without etcd_tls the etcd file
    fields are empty strings, as install-cni leaves them.  The result equals what install-cni writes
    from calico_conflist_template() with the same settings.
    """
    conf_dir = str(conf_dir or '').rstrip('/') or '/'
    if not conf_dir.startswith('/'):
        raise CniConfError('conf_dir must be an absolute path, got %r' % (conf_dir,))
    if not isinstance(kubeconfig_name, str) or not kubeconfig_name or '/' in kubeconfig_name:
        raise CniConfError('kubeconfig_name must be a file name, got %r' % (kubeconfig_name,))
    calico = {
        'type': 'calico',
        'log_level': _log_level(log_level),
        'log_file_path': log_file_path,
        'datastore_type': _datastore_type(datastore),
        'nodename': _nodename(nodename),
        'mtu': _mtu(mtu),
        'ipam': _ipam(ipam),
        'policy': {'type': 'k8s'},
        'kubernetes': {'kubeconfig': '%s/%s' % (conf_dir.rstrip('/'), kubeconfig_name)},
    }
    if calico['datastore_type'] == 'etcdv3':
        calico['etcd_endpoints'] = _endpoints(etcd_endpoints)
        for field, name in ETCD_TLS_FILES:
            calico[field] = '%s/%s/%s' % (conf_dir.rstrip('/'), TLS_DIR_NAME, name) if etcd_tls else ''
    return _wrap(calico, portmap, bandwidth, network_name, cni_version)


def calico_conflist_template(datastore='kubernetes', log_level='info', log_file_path=LOG_FILE_PATH, ipam=None,
                             portmap=True, bandwidth=True, network_name=NETWORK_NAME, cni_version=CNI_VERSION):
    """Return the manifest's cni_network_config: JSON text with install-cni's placeholders.

    The MTU placeholder stands bare (``"mtu": __CNI_MTU__``): install-cni replaces it with the text
    of CNI_MTU, which must give a JSON number.  The text is therefore not JSON before install-cni
    has run.
    """
    calico = {
        'type': 'calico',
        'log_level': _log_level(log_level),
        'log_file_path': log_file_path,
        'datastore_type': _datastore_type(datastore),
        'nodename': PLACEHOLDER_NODENAME,
        'mtu': PLACEHOLDER_MTU,
        'ipam': _ipam(ipam),
        'policy': {'type': 'k8s'},
        'kubernetes': {'kubeconfig': PLACEHOLDER_KUBECONFIG},
    }
    if calico['datastore_type'] == 'etcdv3':
        calico['etcd_endpoints'] = PLACEHOLDER_ETCD_ENDPOINTS
        for field, _name in ETCD_TLS_FILES:
            calico[field] = PLACEHOLDER_ETCD[field]
    text = json.dumps(_wrap(calico, portmap, bandwidth, network_name, cni_version), indent=2)
    quoted = json.dumps(PLACEHOLDER_MTU)
    if text.count(quoted) != 1:
        raise CniConfError('the MTU placeholder %s appears %d times in the CNI config'
                           % (PLACEHOLDER_MTU, text.count(quoted)))
    return text.replace(quoted, PLACEHOLDER_MTU)
