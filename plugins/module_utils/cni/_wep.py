# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The pod's WorkloadEndpoint in Calico's etcd v3 layout (private to podnet.calico).

Calico's facts: the resource lives at
``/calico/resources/v3/projectcalico.org/workloadendpoints/<namespace>/<name>``; its name joins
node, orchestrator, pod (or container id for the ``cni`` orchestrator) and endpoint with ``-``, each
part's own dashes doubled; the JSON is the v3 resource (kind, apiVersion, metadata, spec).
"""

import json
import time
import uuid

WEP_PREFIX = '/calico/resources/v3/projectcalico.org/workloadendpoints/'


def _escape(value, field):
    if not value:
        raise ValueError('%s is empty' % field)
    if value[0] == '-' or value[-1] == '-':
        raise ValueError('%s %r must not begin or end with "-"' % (field, value))
    return value.replace('-', '--')


def wep_name(node, orchestrator, workload, endpoint):
    """Name of a WorkloadEndpoint: <node>-<orchestrator>-<pod or container id>-<endpoint>."""
    return '-'.join([_escape(node, 'node'), _escape(orchestrator, 'orchestrator'),
                     _escape(workload, 'pod' if orchestrator == 'k8s' else 'containerID'),
                     _escape(endpoint, 'endpoint')])


def wep_key(namespace, name):
    return '%s%s/%s' % (WEP_PREFIX, namespace, name)


def new_wep(namespace, name, node, orchestrator, pod, container_id, endpoint, ifname, mac, ip_networks,
            network_name, service_account='default'):
    """The record Calico's plugin writes for a pod (labels and profiles as without API-server data)."""
    spec = {
        'orchestrator': orchestrator,
        'node': node,
        'containerID': container_id,
        'endpoint': endpoint,
        'ipNetworks': list(ip_networks),
        'interfaceName': ifname,
        'mac': mac,
    }
    labels = {'projectcalico.org/namespace': namespace, 'projectcalico.org/orchestrator': orchestrator}
    if orchestrator == 'k8s':
        spec['pod'] = pod
        spec['serviceAccountName'] = service_account
        spec['profiles'] = ['kns.%s' % namespace, 'ksa.%s.%s' % (namespace, service_account)]
        labels['projectcalico.org/serviceaccount'] = service_account
    else:
        spec['workload'] = container_id
        spec['profiles'] = [network_name]
    return {
        'kind': 'WorkloadEndpoint',
        'apiVersion': 'projectcalico.org/v3',
        'metadata': {
            'name': name,
            'namespace': namespace,
            'uid': str(uuid.uuid4()),
            'creationTimestamp': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
            'labels': labels,
        },
        'spec': spec,
    }


def dumps(record):
    return json.dumps(record, separators=(',', ':'), sort_keys=True)
