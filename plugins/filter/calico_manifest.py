# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pre-flight checks of a Calico cluster build, as a pure function over the settings."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.podnet.calico.plugins.module_utils.calico._mtu import mtu_problem
from ansible_collections.podnet.calico.plugins.module_utils.calico._cniconf import (
    CniConfError,
    build_from_settings,
    calico_conflist_template,
)

ENCAP_MODES = ('Always', 'CrossSubnet', 'Never')


def _network(value):
    return ipaddress.ip_network(str(value).strip(), strict=True)


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(',') if part.strip()]
    return [str(part).strip() for part in value if str(part).strip()]


def _as_int(settings, key, errors):
    value = settings.get(key)
    try:
        return int(value)
    except (TypeError, ValueError):
        errors.append('%s must be an integer, got %r' % (key, value))
        return None


def calico_manifest_preflight(settings):
    """Return the list of problems found in a cluster build's settings (empty when all is well).

    settings keys: datastore, pool_cidr, block_size, service_cidr, node_networks (CIDR strings or
    address facts with network and netmask), ipip_mode,
    vxlan_mode, mtu, underlay_mtu, etcd_endpoints, etcd_ca_file, etcd_cert_file, etcd_key_file,
    crds_url, crds_sha256.
    """
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError('calico_manifest_preflight expects a dictionary of settings, got %s'
                                 % type(settings).__name__)
    errors = []
    datastore = settings.get('datastore')
    if datastore not in ('etcd', 'kubernetes'):
        errors.append('datastore must be "etcd" or "kubernetes", got %r' % (datastore,))

    pool = None
    try:
        pool = _network(settings.get('pool_cidr'))
    except ValueError as exc:
        errors.append('pool_cidr %r is not a valid network: %s' % (settings.get('pool_cidr'), exc))
    block_size = _as_int(settings, 'block_size', errors)
    if pool is not None and block_size is not None:
        low = 20 if pool.version == 4 else 116
        high = 32 if pool.version == 4 else 128
        if not low <= block_size <= high:
            errors.append('block_size %d is out of range for IPv%d (%d to %d)' % (block_size, pool.version, low, high))
        elif block_size < pool.prefixlen:
            errors.append('block_size /%d is larger than pool_cidr %s' % (block_size, pool))

    service = None
    if settings.get('service_cidr'):
        try:
            service = _network(settings.get('service_cidr'))
        except ValueError as exc:
            errors.append('service_cidr %r is not a valid network: %s' % (settings.get('service_cidr'), exc))
    if pool is not None and service is not None and pool.version == service.version and pool.overlaps(service):
        errors.append('pool_cidr %s overlaps service_cidr %s' % (pool, service))

    node_networks = settings.get('node_networks') or []
    if isinstance(node_networks, str):
        node_networks = _as_list(node_networks)
    for item in node_networks:
        text = item
        if isinstance(item, Mapping):
            # An address fact such as ansible_facts.default_ipv4 (network and netmask).
            text = '%s/%s' % (item.get('network'), item.get('netmask') or item.get('prefix'))
        try:
            node_net = ipaddress.ip_network(str(text).strip(), strict=False)
        except ValueError as exc:
            errors.append('node network %r is not a valid network: %s' % (text, exc))
            continue
        if pool is not None and pool.version == node_net.version and pool.overlaps(node_net):
            errors.append('pool_cidr %s overlaps the node network %s' % (pool, node_net))
        if service is not None and service.version == node_net.version and service.overlaps(node_net):
            errors.append('service_cidr %s overlaps the node network %s' % (service, node_net))

    modes = {}
    for key in ('ipip_mode', 'vxlan_mode'):
        value = settings.get(key, 'Never')
        if value not in ENCAP_MODES:
            errors.append('%s must be one of %s, got %r' % (key, ', '.join(ENCAP_MODES), value))
        modes[key] = value
    ipip = modes['ipip_mode'] in ('Always', 'CrossSubnet')
    vxlan = modes['vxlan_mode'] in ('Always', 'CrossSubnet')
    if ipip and vxlan:
        errors.append('ipip_mode (%s) and vxlan_mode (%s) are both enabled; a pool uses one encapsulation'
                      % (modes['ipip_mode'], modes['vxlan_mode']))
    encap = 'ipip' if ipip else 'vxlan' if vxlan else 'none'

    mtu = _as_int(settings, 'mtu', errors)
    underlay = _as_int(settings, 'underlay_mtu', errors)
    if mtu is not None and underlay is not None:
        if mtu < 576:
            errors.append('mtu %d is below the IPv4 minimum of 576' % mtu)
        elif mtu_problem(mtu, encap, underlay):
            errors.append(mtu_problem(mtu, encap, underlay).replace('MTU', 'mtu', 1))

    if datastore == 'etcd':
        endpoints = _as_list(settings.get('etcd_endpoints'))
        if not endpoints:
            errors.append('etcd_endpoints is empty; the etcd datastore needs at least one endpoint')
        for endpoint in endpoints:
            if not endpoint.startswith(('http://', 'https://')):
                errors.append('etcd endpoint %r must start with http:// or https://' % endpoint)
        tls = {key: settings.get(key) or '' for key in ('etcd_ca_file', 'etcd_cert_file', 'etcd_key_file')}
        given = sorted(key for key, value in tls.items() if value)
        if given and len(given) != 3:
            missing = sorted(set(tls) - set(given))
            errors.append('etcd TLS files must be given all or none: %s set but %s empty'
                          % (', '.join(given), ', '.join(missing)))
        if given and any(endpoint.startswith('http://') for endpoint in endpoints):
            errors.append('etcd TLS files are set but an etcd endpoint uses http://')
    elif datastore == 'kubernetes':
        if not settings.get('crds_url'):
            errors.append('crds_url is empty; the kubernetes datastore needs the Calico CRDs')
        checksum = str(settings.get('crds_sha256') or '')
        if len(checksum) != 64 or any(char not in '0123456789abcdefABCDEF' for char in checksum):
            errors.append('crds_sha256 must be the 64 hex digit sha256 of the CRD file, got %r' % checksum)
    return errors


_TEMPLATE_KEYS = ('datastore', 'log_level', 'log_file_path', 'ipam', 'portmap', 'bandwidth', 'network_name',
                  'cni_version')


def calico_manifest_cni_network_config(settings):
    """The manifest's cni_network_config text, with install-cni's placeholders."""
    try:
        return build_from_settings('calico_manifest_cni_network_config', calico_conflist_template, settings,
                                   _TEMPLATE_KEYS)
    except CniConfError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    """Filters of the calico_manifest role."""

    def filters(self):
        return {
            'calico_manifest_cni_network_config': calico_manifest_cni_network_config,
            'calico_manifest_preflight': calico_manifest_preflight,
        }
