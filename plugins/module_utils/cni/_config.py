# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The network configuration (Calico's plugin fields) and the runtime's environment.

Private to the podnet.calico collection. Every bad value gives a CNIError that names the field.
"""

import ipaddress
import json
import os
import re
import socket

from ansible_collections.podnet.calico.plugins.module_utils.cni._spec import (
    CNIError, DECODE_FAILURE, INCOMPATIBLE_VERSION, INVALID_CONFIG, INVALID_ENV, SUPPORTED_VERSIONS, version_tuple,
)

COMMANDS = ('ADD', 'DEL', 'CHECK', 'VERSION', 'GC', 'STATUS')
DATASTORE_TYPES = ('etcdv3', 'kubernetes')
LOG_LEVELS = {'debug': 10, 'info': 20, 'warn': 30, 'warning': 30, 'error': 40, 'fatal': 50, 'panic': 50,
              'none': 100}
DEFAULT_LOG_FILE = '/var/log/calico/cni/cni.log'
DEFAULT_NODENAME_FILE = '/var/lib/calico/nodename'
DEFAULT_MTU = 1500
_IFNAME_RE = re.compile(r'^[^/:\s]{1,15}$')
_NAME_RE = re.compile(r'^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$')


def _bad(field, value, why):
    return CNIError(INVALID_CONFIG, 'invalid network config: %s=%r: %s' % (field, value, why))


def _str(conf, field, default=None):
    value = conf.get(field, default)
    if value is not None and not isinstance(value, str):
        raise _bad(field, value, 'must be a string')
    return value


def _file(conf, field):
    path = _str(conf, field)
    if path in (None, ''):
        return None
    if not os.path.isfile(path):
        raise _bad(field, path, 'no such file')
    if not os.access(path, os.R_OK):
        raise _bad(field, path, 'file is not readable')
    return path


class Env(object):
    """CNI_* variables of one call."""

    def __init__(self, environ):
        self.command = environ.get('CNI_COMMAND', '')
        if self.command not in COMMANDS:
            raise CNIError(INVALID_ENV, 'CNI_COMMAND=%r is not one of %s' % (self.command, ', '.join(COMMANDS)))
        self.container_id = environ.get('CNI_CONTAINERID', '')
        self.netns = environ.get('CNI_NETNS', '')
        self.ifname = environ.get('CNI_IFNAME', '')
        self.path = environ.get('CNI_PATH', '')
        self.args = {}
        raw_args = environ.get('CNI_ARGS', '')
        for part in raw_args.split(';') if raw_args else []:
            if not part:
                continue
            if '=' not in part:
                raise CNIError(INVALID_ENV, 'CNI_ARGS=%r: %r is not KEY=VALUE' % (raw_args, part))
            key, value = part.split('=', 1)
            self.args[key] = value
        if self.command in ('ADD', 'DEL', 'CHECK'):
            if not self.container_id:
                raise CNIError(INVALID_ENV, 'CNI_CONTAINERID is required for %s' % self.command)
            if not re.match(r'^[A-Za-z0-9][A-Za-z0-9_.\-]*$', self.container_id):
                raise CNIError(INVALID_ENV, 'CNI_CONTAINERID=%r: only letters, digits, "_", "." and "-" are '
                                            'allowed' % self.container_id)
            if not self.ifname:
                raise CNIError(INVALID_ENV, 'CNI_IFNAME is required for %s' % self.command)
            if not _IFNAME_RE.match(self.ifname) or self.ifname in ('.', '..'):
                raise CNIError(INVALID_ENV, 'CNI_IFNAME=%r is not a Linux interface name' % self.ifname)
        if self.command in ('ADD', 'CHECK') and not self.netns:
            raise CNIError(INVALID_ENV, 'CNI_NETNS is required for %s' % self.command)

    @property
    def k8s_namespace(self):
        return self.args.get('K8S_POD_NAMESPACE') or None

    @property
    def k8s_pod(self):
        return self.args.get('K8S_POD_NAME') or None


def _truthy(field, value, default):
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ('true', 'false'):
        return value.lower() == 'true'
    raise _bad(field, value, 'must be "true" or "false"')


class NetConf(object):
    """One plugin's network configuration as the runtime passes it on stdin."""

    def __init__(self, conf, ipam_only=False):
        self.raw = conf
        self.cni_version = conf.get('cniVersion', '0.1.0')
        self.name = conf.get('name')
        self.type = conf.get('type')
        self.prev_result = conf.get('prevResult')
        self.runtime_config = conf.get('runtimeConfig') or {}
        self.ipam_only = ipam_only

    def check_version(self, command):
        if self.cni_version not in SUPPORTED_VERSIONS:
            raise CNIError(INCOMPATIBLE_VERSION, 'cniVersion %r is not supported (supported: %s)'
                           % (self.cni_version, ', '.join(SUPPORTED_VERSIONS)))
        need = {'CHECK': (0, 4, 0), 'GC': (1, 1, 0), 'STATUS': (1, 1, 0)}.get(command)
        if need and version_tuple(self.cni_version) < need:
            raise CNIError(INCOMPATIBLE_VERSION, 'CNI_COMMAND=%s needs cniVersion %s or later, the config says %s'
                           % (command, '.'.join(str(n) for n in need), self.cni_version))

    def parse(self):
        """Check and normalise the Calico fields; raise CNIError naming the first bad field."""
        conf = self.raw
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise _bad('name', self.name, 'the network name must be letters, digits, "_", "." and "-"')
        self.datastore_type = _str(conf, 'datastore_type', 'etcdv3') or 'etcdv3'
        if self.datastore_type not in DATASTORE_TYPES:
            raise _bad('datastore_type', self.datastore_type, 'must be one of %s' % ', '.join(DATASTORE_TYPES))
        endpoints = conf.get('etcd_endpoints')
        if isinstance(endpoints, list):
            endpoints = ','.join(str(e) for e in endpoints)
        if endpoints is not None and not isinstance(endpoints, str):
            raise _bad('etcd_endpoints', endpoints, 'must be a comma-separated string of URLs')
        self.etcd_endpoints = [e.strip() for e in (endpoints or '').split(',') if e.strip()]
        for url in self.etcd_endpoints:
            if not re.match(r'^https?://[^/\s]+(/.*)?$', url):
                raise _bad('etcd_endpoints', endpoints, '%r is not an http:// or https:// URL' % url)
        if self.datastore_type == 'etcdv3' and not self.etcd_endpoints:
            raise _bad('etcd_endpoints', endpoints, 'is required with datastore_type etcdv3')
        self.etcd_key_file = _file(conf, 'etcd_key_file')
        self.etcd_cert_file = _file(conf, 'etcd_cert_file')
        self.etcd_ca_cert_file = _file(conf, 'etcd_ca_cert_file')
        if bool(self.etcd_key_file) != bool(self.etcd_cert_file):
            field = 'etcd_key_file' if not self.etcd_key_file else 'etcd_cert_file'
            raise _bad(field, conf.get(field), 'etcd_cert_file and etcd_key_file must be given together')
        mtu = conf.get('mtu', DEFAULT_MTU)
        if isinstance(mtu, str) and mtu.isdigit():
            mtu = int(mtu)
        if isinstance(mtu, bool) or not isinstance(mtu, int) or not 68 <= mtu <= 65535:
            raise _bad('mtu', conf.get('mtu'), 'must be an integer between 68 and 65535')
        self.mtu = mtu
        self.nodename = _str(conf, 'nodename')
        if self.nodename is not None and not re.match(r'^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$',
                                                      self.nodename):
            raise _bad('nodename', self.nodename, 'is not a node name (letters, digits, ".", "_", "-")')
        level = _str(conf, 'log_level', 'info') or 'info'
        if level.lower() not in LOG_LEVELS:
            raise _bad('log_level', level, 'must be one of debug, info, warning, error')
        self.log_level = LOG_LEVELS[level.lower()]
        self.log_file_path = _str(conf, 'log_file_path', DEFAULT_LOG_FILE)
        if self.log_file_path is not None and self.log_file_path and not os.path.isabs(self.log_file_path):
            raise _bad('log_file_path', self.log_file_path, 'must be an absolute path')
        ipam = conf.get('ipam') if not self.ipam_only else conf.get('ipam', {})
        if not isinstance(ipam, dict):
            raise _bad('ipam', ipam, 'must be an object')
        self.ipam_type = ipam.get('type')
        if not isinstance(self.ipam_type, str) or not self.ipam_type:
            raise _bad('ipam.type', self.ipam_type, 'is required (calico-ipam or another IPAM plugin)')
        if '/' in self.ipam_type:
            raise _bad('ipam.type', self.ipam_type, 'must be a plugin name, not a path')
        self.assign_ipv4 = _truthy('ipam.assign_ipv4', ipam.get('assign_ipv4'), True)
        if _truthy('ipam.assign_ipv6', ipam.get('assign_ipv6'), False):
            raise _bad('ipam.assign_ipv6', ipam.get('assign_ipv6'), 'IPv6 is not supported by this plugin')
        if self.ipam_type == 'calico-ipam' and not self.assign_ipv4:
            raise _bad('ipam.assign_ipv4', ipam.get('assign_ipv4'), 'with IPv6 unsupported, IPv4 must be assigned')
        pools = ipam.get('ipv4_pools') or []
        if not isinstance(pools, list):
            raise _bad('ipam.ipv4_pools', pools, 'must be a list of CIDRs')
        self.ipv4_pools = []
        for pool in pools:
            try:
                net = ipaddress.IPv4Network(str(pool))
            except ValueError as exc:
                raise _bad('ipam.ipv4_pools', pools, '%r is not an IPv4 CIDR (%s)' % (pool, exc))
            self.ipv4_pools.append(str(net))
        kube = conf.get('kubernetes') or {}
        if not isinstance(kube, dict):
            raise _bad('kubernetes', kube, 'must be an object')
        self.kubeconfig = kube.get('kubeconfig')
        if self.kubeconfig is not None and not isinstance(self.kubeconfig, str):
            raise _bad('kubernetes.kubeconfig', self.kubeconfig, 'must be a path')
        return self

    def node(self):
        """Calico's rule: nodename from the config, else /var/lib/calico/nodename, else the host name."""
        if self.nodename:
            return self.nodename
        path = _str(self.raw, 'nodename_file', DEFAULT_NODENAME_FILE) or DEFAULT_NODENAME_FILE
        try:
            with open(path) as handle:
                name = handle.read().strip()
            if name:
                return name
        except (IOError, OSError):
            pass
        return socket.gethostname()


def read_stdin(stream):
    text = stream.read()
    if not text.strip():
        return {}
    try:
        conf = json.loads(text)
    except ValueError as exc:
        raise CNIError(DECODE_FAILURE, 'the network config on stdin is not JSON: %s' % exc)
    if not isinstance(conf, dict):
        raise CNIError(DECODE_FAILURE, 'the network config on stdin must be a JSON object')
    return conf
