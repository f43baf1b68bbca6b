# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""CNI specification facts: versions, error codes, result shapes (private to podnet.calico)."""

import json

#: Versions this plugin speaks. GC and STATUS exist from 1.1.0 on, CHECK from 0.4.0 on.
SUPPORTED_VERSIONS = ('0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0')
LATEST = '1.1.0'

# Error codes of the CNI specification (well-known error codes).
INCOMPATIBLE_VERSION = 1
UNSUPPORTED_FIELD = 2
UNKNOWN_CONTAINER = 3
INVALID_ENV = 4
IO_FAILURE = 5
DECODE_FAILURE = 6
INVALID_CONFIG = 7
TRY_AGAIN_LATER = 11
PLUGIN_NOT_AVAILABLE = 50
LIMITED_CONNECTIVITY = 51
# Plugin-specific codes (100 and up).
CHECK_FAILED = 100
DATAPLANE_FAILURE = 101
IPAM_FAILURE = 102


def version_tuple(text):
    try:
        return tuple(int(p) for p in str(text).split('.'))
    except ValueError:
        return (0,)


class CNIError(Exception):
    """An error the plugin reports as a CNI error object on stdout."""

    def __init__(self, code, msg, details=''):
        Exception.__init__(self, msg)
        self.code = code
        self.msg = msg
        self.details = details or ''

    def to_json(self, cni_version):
        return {'cniVersion': cni_version if cni_version in SUPPORTED_VERSIONS else LATEST,
                'code': self.code, 'msg': self.msg, 'details': self.details}


def dumps(obj):
    return json.dumps(obj, indent=2, sort_keys=False)


def ip_entry(cni_version, address, interface=None, gateway=None):
    """One entry of a result's ``ips`` list in the shape of ``cni_version``."""
    entry = {}
    if version_tuple(cni_version) < (1, 0, 0):
        entry['version'] = '4' if ':' not in address else '6'
    entry['address'] = address
    if gateway:
        entry['gateway'] = gateway
    if interface is not None:
        entry['interface'] = interface
    return entry


def version_result(cni_version):
    return {'cniVersion': cni_version or LATEST, 'supportedVersions': list(SUPPORTED_VERSIONS)}
