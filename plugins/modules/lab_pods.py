#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: lab_pods
short_description: Ask the lab nodes' containerd for pods through CRI, as the kubelet does
version_added: 1.1.0
description:
  - The lab's kubelet stand-in. For each listed pod it asks the containerd of the pod's node, through
    the CRI v1 RuntimeService, for a pod sandbox with the pod's name, namespace and uid
    (C(RunPodSandbox)); containerd runs the CNI plugin that the first file of its CNI conf dir names,
    exactly as on a Kubernetes node. Sandboxes it made and that are no longer listed get
    C(StopPodSandbox) and C(RemovePodSandbox), which give the pod's address and interfaces back.
  - Idempotent. A pod whose sandbox is ready with the same uid is left alone; a sandbox that is no
    longer ready (its pause process died) is replaced. Only sandboxes carrying the label
    C(podnet.calico/managed-by=lab_pods) are ever removed.
  - With O(cni_check=true), also runs CNI C(CHECK) for every pod with the plugins of the cached
    network config and the cached ADD result that containerd's libcni keeps under
    C(/var/lib/cni/results) in the node (containerd 1.6 has no CHECK call of its own), and returns each
    outcome in RV(checks).
  - Runs on the controller (the machine with the lab), with a Python that has grpcio and
    container-runtime-interface-api (C(requirements/controller.txt)); it reaches each node's
    containerd at C(/proc/<pid of the node's sshd>/root/run/containerd/containerd.sock), as recorded
    in C(lab.json) by the C(podnet.calico.lab) module with O(podnet.calico.lab#module:containerd=true).
extends_documentation_fragment:
  - podnet.calico.attributes
  - podnet.calico.attributes.full
  - podnet.calico.attributes.linux
options:
  state_dir:
    description:
      - The lab's state directory (with C(lab.json)).
    type: path
    required: true
  pods:
    description:
      - The pods. With O(state=present) and O(exclusive=true), exactly these (of the sandboxes this
        module made); with O(state=absent), these are removed.
    type: list
    elements: dict
    default: []
    suboptions:
      node:
        description: The lab node whose containerd runs the pod.
        type: str
        required: true
      name:
        description: Pod name (a DNS-1123 label, as Kubernetes wants it).
        type: str
        required: true
      namespace:
        description: Kubernetes namespace of the pod (a DNS-1123 label).
        type: str
        default: default
      uid:
        description:
          - The pod's uid. Default, a uid derived from namespace and name (the same on every run).
        type: str
  state:
    description:
      - V(present) makes the listed pods exist, V(absent) removes them.
    type: str
    choices: [present, absent]
    default: present
  exclusive:
    description:
      - With O(state=present), also remove the sandboxes this module made that are not listed.
    type: bool
    default: true
  cni_check:
    description:
      - Run CNI C(CHECK) for every listed pod (after any change) and return the outcomes in RV(checks).
        Nothing changes; a failed CHECK does not fail the task (read RV(checks)).
    type: bool
    default: false
  cni_bin_dir:
    description:
      - The nodes' CNI plugin directory, where C(CHECK) finds the plugins (containerd's CRI C(bin_dir)).
    type: path
    default: /opt/cni/bin
attributes:
  diff_mode:
    details:
      - The diff lists the pods (C(<node> <namespace>/<name>)) before and after.
notes:
  - Needs root (it enters the nodes' namespaces for C(CHECK) and opens their containerd sockets).
seealso:
  - module: podnet.calico.lab
  - name: The lab, step by step
    description: Both ways the lab makes its pods (docs/lab.md).
    link: https://github.com/podnet/calico/blob/main/docs/lab.md
author:
  - podnet.calico contributors (@podnet)
'''

EXAMPLES = r'''
- name: Two pods on node1, one on node2, through CRI
  podnet.calico.lab_pods:
    state_dir: /tmp/podnet-lab
    pods:
      - {node: node1, name: web-1}
      - {node: node1, name: web-2}
      - {node: node2, name: db-1, namespace: prod}
  register: lab_pods_made

- name: The same pods (no change), each checked with CNI CHECK
  podnet.calico.lab_pods:
    state_dir: /tmp/podnet-lab
    pods:
      - {node: node1, name: web-1}
      - {node: node1, name: web-2}
      - {node: node2, name: db-1, namespace: prod}
    cni_check: true
  register: lab_pods_checked

- name: Remove every pod this module made
  podnet.calico.lab_pods:
    state_dir: /tmp/podnet-lab
    pods: []
'''

RETURN = r'''
pods:
  description: The listed pods as they are now (with O(state=present)); in check mode, what they would be.
  returned: always
  type: list
  elements: dict
  sample:
    - node: node1
      namespace: default
      name: web-1
      uid: 0b7b6b0e-9f4d-5c55-8a28-3c4a4c5f31f1
      sandbox_id: 5a3c9b0e41d2f6...
      netns: cni-6d3f0a3e-2a3c-9b1e-7a3f-0e1c2d3b4a5f
      ip: 10.244.0.130
      host_ifname: cali1a2b3c4d5e6
changes:
  description: What was done (or would be done in check mode), one line each.
  returned: always
  type: list
  elements: str
  sample: ["run pod default/web-1 on node1"]
checks:
  description: With O(cni_check=true), the outcome of CNI C(CHECK) for each pod.
  returned: when O(cni_check=true)
  type: list
  elements: dict
  sample:
    - {node: node1, namespace: default, name: web-1, ok: true, msg: "CHECK of calico passed (k8s-pod-network, cniVersion 0.3.1)"}
msg:
  description: One line for people.
  returned: always
  type: str
  sample: "1 change: run pod default/web-1 on node1"
'''

import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.podnet.calico.plugins.module_utils.lab._cri import cni_check, list_pods, pod_uid, sync_pods
from ansible_collections.podnet.calico.plugins.module_utils.lab._namespaces import LabError, pid_alive
from ansible_collections.podnet.calico.plugins.module_utils.lab._runtime import containerd_socket, node_root

DNS_LABEL = re.compile(r'^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$')


def lab_nodes(state_dir):
    """{node name: sshd pid} of a lab that is up with containerd."""
    path = os.path.join(state_dir, 'lab.json')
    try:
        with open(path) as handle:
            state = json.load(handle)
    except (OSError, ValueError) as exc:
        raise LabError('state_dir: %s has no readable lab.json (%s); bring the lab up first' % (state_dir, exc))
    nodes = {}
    for node in state.get('nodes', []):
        pid = node.get('sshd_pid')
        if not node.get('containerd_pid'):
            raise LabError('state_dir: node %s of the lab in %s runs no containerd; run the podnet.calico.lab '
                           'module with containerd=true (lab.yml does in CRI mode)' % (node.get('name'), state_dir))
        if not pid or not pid_alive(pid):
            raise LabError('state_dir: node %s of the lab in %s is not up (sshd pid %s)' % (node.get('name'), state_dir, pid))
        nodes[node['name']] = pid
    return nodes


#: CHECKs run at once (each is a plugin process in a node; the lab has 2 or more cores)
CHECK_WORKERS = 4


def check_pods(pods, sshd, bin_dir):
    """CNI CHECK of every pod, a few pods at once (each pod's plugins run in order), in the pods' order."""
    def check(pod):
        row = {'node': pod['node'], 'namespace': pod['namespace'], 'name': pod['name']}
        if not pod['sandbox_id']:
            row.update(ok=None, msg='not checked: the pod does not exist yet (check mode)')
            return row
        pid = sshd[pod['node']]

        def runner(argv, env, stdin):
            # nsenter into the node's mount and network namespaces; env sets exactly the CNI variables.
            # subprocess, not run_command: these run in threads at once, and run_command keeps per-call
            # state on the module and fails the module from the calling thread.
            cmd = ['nsenter', '-t', str(pid), '-m', '-n', '--', 'env']
            cmd += ['%s=%s' % item for item in sorted(env.items())] + argv
            try:
                proc = subprocess.run(cmd, input=stdin.encode('utf-8'), stdout=subprocess.PIPE,  # pylint: disable=ansible-bad-function
                                      stderr=subprocess.PIPE, check=False)
            except OSError as exc:
                return 127, '', 'cannot run %s: %s' % (cmd[0], exc)
            return proc.returncode, proc.stdout.decode('utf-8', 'replace'), proc.stderr.decode('utf-8', 'replace')

        ok, msg = cni_check(pod, node_root(pid), bin_dir, runner)
        row.update(ok=ok, msg=msg)
        return row

    with ThreadPoolExecutor(max_workers=CHECK_WORKERS) as pool:
        return list(pool.map(check, pods))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state_dir=dict(type='path', required=True),
            pods=dict(type='list', elements='dict', default=[], options=dict(
                node=dict(type='str', required=True),
                name=dict(type='str', required=True),
                namespace=dict(type='str', default='default'),
                uid=dict(type='str'),
            )),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            exclusive=dict(type='bool', default=True),
            cni_check=dict(type='bool', default=False),
            cni_bin_dir=dict(type='path', default='/opt/cni/bin'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    pods = []
    for index, pod in enumerate(params['pods']):
        for key in ('name', 'namespace'):
            if not DNS_LABEL.match(pod[key]):
                module.fail_json(msg='pods[%d].%s: %r is not a DNS-1123 label (lowercase letters, digits and "-", '
                                     'at most 63, starting and ending with a letter or digit)' % (index, key, pod[key]))
        pods.append(dict(pod, uid=pod['uid'] or pod_uid(pod['namespace'], pod['name'])))
    try:
        sshd = lab_nodes(params['state_dir'])
        sockets = dict((name, containerd_socket(pid)) for name, pid in sshd.items())
        before = None
        if module._diff:
            before = list_pods(sockets)
        result, changes = sync_pods(sockets, pods, params['state'], params['exclusive'], module.check_mode)
        out = {'pods': result if params['state'] == 'present' else [], 'changes': changes, 'changed': bool(changes)}
        if params['cni_check']:
            out['checks'] = check_pods(result, sshd, params['cni_bin_dir'])
    except LabError as exc:
        module.fail_json(msg=str(exc))
    out['msg'] = ('%d change%s: %s' % (len(changes), '' if len(changes) == 1 else 's', '; '.join(changes))
                  if changes else 'pods as listed: no change')
    if module._diff:
        def rows(items):
            return sorted('%s %s/%s' % (p['node'], p['namespace'], p['name']) for p in items)
        if params['state'] == 'present':
            after = rows(result) if params['exclusive'] else sorted(set(rows(before) + rows(result)))
        else:
            gone = set(rows([dict(p) for p in pods]))
            after = [row for row in rows(before) if row not in gone]
        out['diff'] = {'before': {'pods': rows(before)}, 'after': {'pods': after}}
    module.exit_json(**out)


if __name__ == '__main__':
    main()
